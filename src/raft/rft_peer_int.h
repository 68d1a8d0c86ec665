/*
 * rft_peer_int: what rft_peer.c (the manager) and rft_peer_link.c (one
 * connection and the wire protocol) share. Not for other modules.
 *
 * Ownership: a connection is allocated by rft__peer_conn_new() and freed in
 * its close callback, after rft__peer_conn_close(); the manager counts it
 * among its open handles until then.
 * Errors: 0 or a negative code, as in rft_peer.h. Threads: loop thread only.
 */
#ifndef RFT_PEER_INT_H
#define RFT_PEER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "common/cf_blob.h"
#include "common/cf_buf.h"
#include "raft/rft_peer.h"
#include "raft/rft_peer_frame.h"

enum {
	PEER_T_HELLO = 1,
	PEER_T_PROOF = 2,
	PEER_T_PING = 3,
};

/* Accepted connections in handshake at once; more are closed at once. */
#define RFT_PEER_HANDSHAKES_MAX 8u
#define PEER_PROOF_SIZE	   32u
#define PEER_READ_CHUNK	   (64u * 1024u)
#define PEER_BLOB_COPY_MAX (64u * 1024u)
#define PEER_RBUF_KEEP	   (1024u * 1024u)

enum mgr_state { MGR_INIT, MGR_RUNNING, MGR_FAILED, MGR_CLOSING };

enum conn_state {
	CONN_CONNECTING, /* uv_tcp_connect pending */
	CONN_HELLO,	 /* waiting for the peer's HELLO */
	CONN_PROOF,	 /* waiting for the peer's PROOF */
	CONN_UP,
	CONN_CLOSING,
};

struct rft_peer_conn {
	uv_tcp_t tcp; /* tcp.data = this */
	uv_connect_t connect;
	struct rft_peer_mgr *mgr;
	struct rft_peer_conn *next;
	struct rft_peer_conn *prev;
	enum conn_state state;
	bool outgoing;
	unsigned node_id; /* expected (outgoing) or claimed (incoming) */
	uint8_t nonce[RFT_PEER_NONCE_SIZE];
	uint8_t peer_nonce[RFT_PEER_NONCE_SIZE];
	struct cf_buf rbuf; /* received bytes not yet parsed */
	struct cf_buf out;  /* frames queued this turn */
	uint64_t inflight;  /* bytes in uv_write requests */
	uint64_t born_ms;
	uint64_t last_rx_ms;
};

/* --- rft_peer.c --- */

/* The remote node with this id, or NULL. */
struct rft_peer_node *rft__peer_node(struct rft_peer_mgr *mgr, unsigned id);
/* One of the manager's handles has closed. */
void rft__peer_handle_closed(struct rft_peer_mgr *mgr);
/* Make sure the out buffers are flushed before the next poll. */
void rft__peer_schedule_flush(struct rft_peer_mgr *mgr);
/* Redial node after its backoff (no-op unless running and idle). */
void rft__peer_node_retry(struct rft_peer_node *node, struct rft_peer_mgr *mgr);

/* --- rft_peer_link.c --- */

/* A connection with an initialised TCP handle, linked into mgr. */
struct rft_peer_conn *rft__peer_conn_new(struct rft_peer_mgr *mgr);
/* The TCP connection exists: start reading and send HELLO. */
int rft__peer_conn_begin(struct rft_peer_conn *conn);
/* The single close path: reports a link down, schedules a redial. */
void rft__peer_conn_close(struct rft_peer_conn *conn, int level,
			  const char *why);
/* Append one frame to the out buffer. */
int rft__peer_conn_queue(struct rft_peer_conn *conn, uint8_t type,
			 uint64_t req_id, const void *body, size_t len);
/* Hand the out buffer to one uv_write. */
int rft__peer_conn_flush(struct rft_peer_conn *conn);
/* Write a large blob without copying it; CF_EUNAVAIL closes the link. */
int rft__peer_conn_write_blob(struct rft_peer_conn *conn, uint8_t type,
			      uint64_t req_id, struct cf_blob *blob);

#endif
