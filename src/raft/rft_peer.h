/*
 * rft_peer: the persistent internal peer links between Confab nodes
 * (DESIGN.md "Cluster configuration and internal links").
 *
 * Each node listens on its peer= address. Each pair of nodes keeps one TCP
 * link (TCP_NODELAY): the node with the lower id connects to the one with the
 * higher id, and retries with a doubling backoff while the peer is down. A
 * link opens with a handshake that proves the cluster secret (HMAC-SHA256),
 * then carries length-framed messages [u32 len][u8 type][u64 reqId][body].
 * Both sides ping every second and drop a link silent for three seconds. The
 * wire format is specified at the top of rft_peer_link.c.
 *
 * Message types 0..RFT_PEER_TYPE_USER-1 belong to this module (handshake,
 * ping); users define their own types from RFT_PEER_TYPE_USER on.
 *
 * Ownership: the caller owns struct rft_peer_mgr. Once rft_peer_mgr_start()
 * was called (whatever it returned), the memory may be freed only in the
 * callback of rft_peer_mgr_close(); before that it may simply be dropped.
 * The cluster is copied.
 * rft_peer_send() copies the body; rft_peer_send_blob() takes its own
 * reference to the blob. The body passed to rft_peer_msg_cb is valid during
 * the call only.
 * Errors: 0 or a negative code: -errno/UV_E* from libuv, CF_EUNAVAIL (link
 * not up), CF_ETOOBIG (body too large), CF_EBADREQ (bad configuration),
 * -EINVAL (reserved type), -ENOMEM.
 * Threads: loop thread only. Callbacks run on the loop thread, never from
 * inside rft_peer_send*(), and never after rft_peer_mgr_close() was called.
 */
#ifndef RFT_PEER_H
#define RFT_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/cf_blob.h"
#include "common/cf_conf.h"

/* First message type free for users of the module. */
#define RFT_PEER_TYPE_USER 16
/* Largest body accepted; a longer frame closes the link. */
#define RFT_PEER_MAX_BODY (16u * 1024u * 1024u)
/* Bytes of [u32 len][u8 type][u64 reqId]. */
#define RFT_PEER_HDR_SIZE   13u
#define RFT_PEER_NONCE_SIZE 16u
/* Largest status a node attaches to its pings (rft_peer_set_status). */
#define RFT_PEER_STATUS_MAX 32u

struct rft_peer_mgr;
struct rft_peer_conn;

/* A message arrived on the link from node `from`. */
typedef void (*rft_peer_msg_cb)(struct rft_peer_mgr *mgr, unsigned from,
				uint8_t type, uint64_t req_id, const void *body,
				size_t len);
/* The link to node `node` came up (up = true) or went down. */
typedef void (*rft_peer_state_cb)(struct rft_peer_mgr *mgr, unsigned node,
				  bool up);
/* The manager has released every handle; its memory may now be freed. */
typedef void (*rft_peer_close_cb)(struct rft_peer_mgr *mgr);

/* Tunables, in milliseconds. Defaults: 1000, 3000, 50, 1000. */
struct rft_peer_timing {
	unsigned ping_ms;	 /* ping period, also the check period */
	unsigned dead_ms;	 /* silence after which a link is dropped */
	unsigned backoff_min_ms; /* first reconnect delay */
	unsigned backoff_max_ms; /* the delay doubles up to this */
};

/* Per-remote-node state (private). */
struct rft_peer_node {
	struct rft_peer_mgr *mgr;
	unsigned id;
	struct sockaddr_in addr;
	struct rft_peer_conn *link;    /* the link that is up, or NULL */
	struct rft_peer_conn *dialing; /* our outgoing attempt, or NULL */
	uv_timer_t retry;	       /* reconnect timer (we dial this one) */
	bool dial;		       /* true if self_id < id */
	unsigned backoff_ms;
	uint64_t up_count; /* times the link came up */
	/* The status the peer last attached to a ping on the link that is
	 * up (status_len 0: none yet, or the link is down). */
	uint8_t status[RFT_PEER_STATUS_MAX];
	uint8_t status_len;
};

/* All fields are private; read them through the functions below. */
struct rft_peer_mgr {
	void *data; /* user data, free for the caller */
	uv_loop_t *loop;
	struct cf_cluster cluster;
	unsigned self_id;
	rft_peer_msg_cb on_msg;
	rft_peer_state_cb on_state;
	rft_peer_close_cb close_cb;
	struct rft_peer_timing timing;
	struct rft_peer_node nodes[CF_MAX_NODES];
	unsigned n_nodes;
	struct rft_peer_conn *conns; /* every open connection */
	uv_tcp_t listener;
	uv_timer_t tick;
	uv_prepare_t flush;
	uint64_t last_tick_ms; /* loop time of the previous tick */
	unsigned handles;      /* open handles, for the close callback */
	int state;	       /* enum in rft_peer_int.h */
	uint8_t status[RFT_PEER_STATUS_MAX]; /* ours, sent with every ping */
	uint8_t status_len;
};

/*
 * Prepare a manager for node self_id of cluster c. Nothing is opened yet;
 * until rft_peer_mgr_start() succeeds the memory may simply be dropped.
 * CF_EBADREQ if self_id is not in c, an address does not parse, or the
 * secret is empty.
 */
int rft_peer_mgr_init(struct rft_peer_mgr *mgr, uv_loop_t *loop,
		      const struct cf_cluster *c, unsigned self_id,
		      rft_peer_msg_cb on_msg, rft_peer_state_cb on_state,
		      void *data);
/* Change the timing (before start; tests use short ones). */
void rft_peer_mgr_set_timing(struct rft_peer_mgr *mgr,
			     const struct rft_peer_timing *t);
/*
 * Listen on our peer= address and start dialing the nodes with higher ids.
 * Whatever it returns, the manager then holds handles: release them with
 * rft_peer_mgr_close().
 */
int rft_peer_mgr_start(struct rft_peer_mgr *mgr);
/*
 * Close the listener, timers and every link (queued messages are dropped).
 * cb runs once every handle is closed, never from inside this call; no
 * other callback runs after this call. Call it once, after
 * rft_peer_mgr_init() (whatever it or rft_peer_mgr_start() returned, or if
 * start was never called).
 */
void rft_peer_mgr_close(struct rft_peer_mgr *mgr, rft_peer_close_cb cb);

/*
 * Queue one message to node_id: 0, or CF_EUNAVAIL if the link is not up,
 * CF_ETOOBIG if len > RFT_PEER_MAX_BODY, -EINVAL for a reserved type. Never
 * blocks. The body is copied; messages queued in one loop turn leave in one
 * write, in the order they were queued. Nothing bounds the queue: callers
 * that may produce faster than the link drains check rft_peer_queued().
 * A 0 return does not mean delivery: if the link drops, what it held is
 * lost (replies are matched by reqId and time out above this module).
 */
int rft_peer_send(struct rft_peer_mgr *mgr, unsigned node_id, uint8_t type,
		  uint64_t req_id, const void *body, size_t len);
/*
 * The same with the blob's bytes as body: the link takes its own reference
 * (large blobs are written without a copy), the caller keeps its own.
 */
int rft_peer_send_blob(struct rft_peer_mgr *mgr, unsigned node_id, uint8_t type,
		       uint64_t req_id, struct cf_blob *blob);
/* True if the link to node_id is up (handshake done). */
bool rft_peer_up(const struct rft_peer_mgr *mgr, unsigned node_id);
/* Bytes queued or being written on the link to node_id (0 if down). */
uint64_t rft_peer_queued(const struct rft_peer_mgr *mgr, unsigned node_id);
/*
 * Status: a few bytes of the user's (at most RFT_PEER_STATUS_MAX, e.g. the
 * node's free disk space) that travel as the body of every PING, and at
 * once on every link that is up when they change. Nodes that predate it
 * send empty pings and ignore ping bodies, so it is compatible both ways.
 * rft_peer_set_status() copies; -EINVAL if len is over the maximum.
 * rft_peer_status() copies what node_id last sent into buf (cap bytes at
 * most) and returns its length: 0 if none came on the link that is up.
 */
int rft_peer_set_status(struct rft_peer_mgr *mgr, const void *body,
			size_t len);
size_t rft_peer_status(const struct rft_peer_mgr *mgr, unsigned node_id,
		       void *buf, size_t cap);
/* How many times the link to node_id has come up. */
uint64_t rft_peer_up_count(const struct rft_peer_mgr *mgr, unsigned node_id);

#endif
