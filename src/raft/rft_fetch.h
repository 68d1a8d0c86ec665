/*
 * rft_fetch: segment fetch between nodes over the peer links (DESIGN.md
 * "Snapshot by reference"): the protocol, the server side and a client
 * that brings a store folder up to a peer's last checkpoint. rft_node runs
 * it when rft_fsm_needs_fetch() (rft_fsm_fetch.c rebuilds afterwards).
 *
 * Every node writes byte-identical segment files, and what a checkpoint
 * (the MANIFEST) names is fsync'd and never rewritten. So a node that lacks
 * data asks a peer for its MANIFEST, checks that its own checkpointed
 * prefix of every segment is a prefix of the peer's (xxh3), fetches the
 * missing tails in chunks, verifies every record (log_record_decode) and
 * that each segment ends exactly at the peer's checkpointed length, fsyncs
 * files and folders, then installs the peer's manifest atomically. A crash
 * or failure midway leaves the old MANIFEST in force; the bytes appended
 * past it are cut by log_store_open() or by the next fetch.
 *
 * Server: answers FETCH_MANIFEST / FETCH_SUM / FETCH_RANGE from the files of
 * the store folder it serves, only within the lengths of the MANIFEST on
 * disk (which names only fsync'd bytes). Protocol at the top of
 * rft_fetch.c. Segment reads and hashes run on the node's worker thread
 * (rft_worker.h); the manifest is checked on the loop thread.
 *
 * Client: one fetch at a time per struct rft_fetch, into a folder that no
 * open log_store uses (the caller closes its store first and reopens it
 * after a successful fetch). The xxh3 of local prefixes, the fdatasyncs
 * and the manifest install run on the worker thread; verifying and appending
 * each chunk (<= 1 MiB, a pwrite) runs on the loop thread.
 *
 * Ownership: rft_fetch_create() allocates; rft_fetch_close() frees once its
 * timer handle is closed and no server read is in flight (cb then); after
 * rft_fetch_close() the caller routes no more messages to it. The peer
 * manager is borrowed: it must outlive the struct (nothing is sent after
 * rft_fetch_close()), and the caller routes peer messages and link state
 * to rft_fetch_on_msg() / rft_fetch_on_peer_state().
 * Errors: 0 or a negative code. The fetch callback gets 0, -EAGAIN (the
 * peer's checkpoint is below min_applied or below the local one: retry
 * later), CF_ECORRUPT (local prefix differs from the peer's, local segment
 * longer than the peer's, or fetched bytes fail verification),
 * CF_ENOTFOUND (the peer no longer has a segment the local store has, or a
 * segment vanished on the peer: compaction), CF_EUNAVAIL (link down),
 * CF_ETIMEDOUT (no answer in time), CF_EBADREQ (partition count differs,
 * or the peer refused a request), CF_ESHUTDOWN (closed), -errno (local I/O).
 * rft_fetch_errmsg() says more.
 * Threads: loop thread only. The callback never runs from inside
 * rft_fetch_start().
 */
#ifndef RFT_FETCH_H
#define RFT_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "raft/rft_peer.h"

/*
 * Peer-link message types. They sit in the range rft_node keeps for the
 * Raft side (16..31, below RFT_MSG_USER = 32; rft_node uses 16..19), so
 * that rft_node dispatches them and the frontend's RFT_MSG_USER+N types
 * never collide with them.
 */
enum rft_fetch_msg {
	RFT_FETCH_MSG_MANIFEST = 24,   /* ask for the last checkpoint */
	RFT_FETCH_MSG_MANIFEST_R = 25, /* i32 status, manifest bytes */
	RFT_FETCH_MSG_SUM = 26,	       /* xxh3 of a checkpointed range */
	RFT_FETCH_MSG_SUM_R = 27,      /* i32 status, u64 xxh3 */
	RFT_FETCH_MSG_RANGE = 28,      /* bytes of a checkpointed range */
	RFT_FETCH_MSG_RANGE_R = 29,    /* i32 status, bytes */
	RFT_FETCH_MSG_CRANGE = 30,     /* bytes of a cold file */
	RFT_FETCH_MSG_CRANGE_R = 31,   /* i32 status, bytes */
};

/* Largest FETCH_RANGE answer body (bytes of the segment). */
#define RFT_FETCH_CHUNK_MAX (1u << 20)

struct rft_fetch;

struct rft_fetch_opts {
	const char *store_dir; /* the store folder this node serves */
	struct rft_worker *worker; /* runs the reads, hashes and fsyncs */
	unsigned chunk_bytes;  /* bytes per FETCH_RANGE, default and max 1 MiB */
	unsigned timeout_ms;   /* per request, default 10000 */
};

/*
 * A fetch ended. applied_index is the installed manifest's appliedIndex
 * (status 0), else 0. The callback may start another fetch.
 */
typedef void (*rft_fetch_cb)(struct rft_fetch *f, int status,
			     uint64_t applied_index, void *arg);

struct rft_fetch_stats {
	uint64_t started;
	uint64_t done;	     /* completed with status 0 */
	uint64_t failed;
	uint64_t bytes;	     /* segment bytes fetched and written */
	uint64_t requests;   /* requests sent by the client */
	uint64_t served;     /* requests answered by the server */
	uint64_t served_bytes;
	uint64_t serving;    /* server reads on the worker now */
};

int rft_fetch_create(struct rft_fetch **out, uv_loop_t *loop,
		     struct rft_peer_mgr *peers,
		     const struct rft_fetch_opts *o, char *errmsg);
/*
 * Fail a running fetch with CF_ESHUTDOWN (its callback runs after this
 * call returns), close the timer and free f; cb(arg) last (may be NULL).
 */
void rft_fetch_close(struct rft_fetch *f, void (*cb)(void *arg), void *arg);

/*
 * Handle a peer message: true if type is a fetch type (consumed, whether
 * valid or not), false otherwise (the caller dispatches it elsewhere).
 */
bool rft_fetch_on_msg(struct rft_fetch *f, unsigned from, uint8_t type,
		      uint64_t req_id, const void *body, size_t len);
/* Link state: a running fetch from node fails with CF_EUNAVAIL if down. */
void rft_fetch_on_peer_state(struct rft_fetch *f, unsigned node, bool up);

/*
 * Bring the store folder dest_dir (created if missing; no log_store may
 * have it open) up to peer's last checkpoint, whose appliedIndex must be
 * at least min_applied and at least dest's own. Returns 0 (cb runs later,
 * exactly once), CF_ECONFLICT if a fetch is running, CF_EUNAVAIL if the
 * link to peer is down, or a local error (cb does not run).
 */
int rft_fetch_start(struct rft_fetch *f, unsigned peer, const char *dest_dir,
		    uint64_t min_applied, rft_fetch_cb cb, void *arg);
bool rft_fetch_running(const struct rft_fetch *f);
/* Why the last fetch failed ("" if it did not). */
const char *rft_fetch_errmsg(const struct rft_fetch *f);
void rft_fetch_get_stats(const struct rft_fetch *f, struct rft_fetch_stats *st);

/* Test hook: the server flips one byte in each of its next n RANGE answers. */
void rft_fetch_test_corrupt_ranges(struct rft_fetch *f, unsigned n);

#endif
