/*
 * rft_node_int: internal interface between the two halves of rft_node:
 * rft_node.c (setup, leadership tracking, loop hooks, checkpoint, close,
 * introspection) and rft_submit.c (request life cycle, peer messages, read
 * index, expiry), and their helpers rft_node_compact.c (compaction and
 * erasure), rft_node_disk.c (full disks and storage failures) and
 * rft_node_fetch.c (segment fetch, the rebuild after it). Not for
 * use outside src/raft/rft_node*.c and rft_submit.c.
 *
 * Ownership: as in rft_node.h; every function works on the node's lists.
 * Errors: none returned; requests complete through their callbacks.
 * Threads: loop thread only.
 */
#ifndef RFT_NODE_INT_H
#define RFT_NODE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "raft/rft_node.h"

/* struct rft_submit.state */
enum { SUB_WAITING = 1, SUB_QUEUED, SUB_PROPOSED, SUB_FORWARDED, SUB_DONE };
/* struct rft_read.state (READ_RETRY: refused, ask again from the next tick) */
enum { READ_ASK = 1, READ_ASKED, READ_RETRY, READ_WAIT, READ_DONE };

/* rft_node.c */
/*
 * The steps of a start: rft__node_begin (defaults, folders, the lock, the
 * disk watch; fills fc and store_dir, RFT_NODE_DIR_MAX bytes, for the
 * store's open), then rft_fsm_open into n->fsm, then rft__node_finish
 * (raft, worker, compaction, fetch, peer links; on failure it releases
 * everything, n->fsm and the lock too). rft_node_init runs them in a row,
 * rft_node_open (rft_node_open.c) opens the store in the thread pool.
 * rft__node_unbegin undoes begin when the open failed or is dropped.
 */
#define RFT_NODE_DIR_MAX 1024
int rft__node_begin(struct rft_node *n, uv_loop_t *loop,
		    const struct rft_node_config *cfg,
		    struct rft_fsm_config *fc, char *store_dir, char *errmsg);
void rft__node_unbegin(struct rft_node *n);
int rft__node_finish(struct rft_node *n, char *errmsg);
/* Current leader id, 0 if none known. */
unsigned rft__node_leader(const struct rft_node *n);
/* We lead, the barrier of this term is applied and we are not closing. */
bool rft__can_propose(const struct rft_node *n);

/* rft_node_fetch.c: the segment fetch and the rebuild after it. */
void rft__node_fetch_tick(struct rft_node *n);
/*
 * Closing: true if a rebuild job is in flight; it is cancelled if it has
 * not begun (a test hold ends) and its end calls rft__node_worker_close.
 */
bool rft__node_rebuild_close(struct rft_node *n);
/* Close the worker, then the store and the peer links (rft_node.c). */
void rft__node_worker_close(struct rft_node *n);

/* rft_submit.c */
/* Move waiting requests forward (queue on the leader, or forward). */
void rft__dispatch_waiting(struct rft_node *n);
/* Empty the leader's queue: local requests wait again, forwarded ones are
 * answered with status (local ones fail with CF_ESHUTDOWN when closing). */
void rft__drop_queued(struct rft_node *n, int status);
/*
 * The answer to give for res, the result of s: a request tried again after
 * an unknown outcome (a lost leader, a dropped link) may meet its own first
 * try, committed meanwhile, as a duplicate (or, for a keyed create, as an
 * existing group). When that original was committed at or after the first
 * try (its index, from its messageId, is at least s->first_index), it is
 * this request's own: the answer is the first try's (not duplicate;
 * created). An original from before the first try stays a duplicate.
 */
void rft__retry_result(const struct rft_submit *s,
		       const struct rft_result *res, struct rft_result *out);
/* Pack queued items into entries, one raft_apply each. */
void rft__propose(struct rft_node *n);
/*
 * Another node leads now: requests forwarded to the old leader are sent
 * again (to the new one), as when the link to it drops; a leader that was
 * only paused keeps its link up and would hold them till their deadline.
 */
void rft__leader_changed(struct rft_node *n, unsigned old);
/* rft_node_nudge.c: the commit index reaches followers after a burst. */
void rft__nudge_init(struct rft_node *n, uv_loop_t *loop);
void rft__nudge_arm(struct rft_node *n, uint64_t applied);
void rft__nudge_cancel(struct rft_node *n);

/* rft_node_compact.c: compaction and erasure on the node. */
void rft__node_on_compact(void *arg, struct log_compact *job);
struct log_store *rft__node_store(void *arg);
void rft__node_on_switch(void *arg, const struct log_compact_result *r);
void rft__node_erase_tick(struct rft_node *n);
void rft__node_rule_tick(struct rft_node *n);
/* State images: start one when the rule says so (rft_node_image.c). */
void rft__node_image_tick(struct rft_node *n);
/* rft_node_disk.c: full disks and storage failures (issue 11). */
int rft__disk_init(struct rft_node *n, char *errmsg);
void rft__disk_start(struct rft_node *n);
/* Every tick, halted or not. */
void rft__disk_tick(struct rft_node *n);
/*
 * A storage failure (err: -ENOSPC, -EIO, ...; CF_ENOSPACE: raft reported
 * no space, which it also says of a short write: a full disk only if a
 * statvfs now finds the disk below the watermark): halt the node.
 */
void rft__storage_failed(struct rft_node *n, int err, const char *msg);
/* 0, or the status to refuse a command of this type with. */
int rft__disk_refuse(const struct rft_node *n, uint8_t cmd_type);
/* Readiness: why the disk keeps this node from being ready, or NULL. */
const char *rft__disk_why(const struct rft_node *n);
/* Close the watcher; done() once it has (pending_closes). */
void rft__disk_close(struct rft_node *n, void (*done)(struct rft_node *n));
/* The raft side closed by a halt (node_raft_closed_cb when not closing). */
void rft__disk_raft_down(struct rft_node *n);
/* Close raft now (rft_node.c), for the halt. */
void rft__node_raft_close(struct rft_node *n);
/* All of raft's and our writes are done (rft_node.c). */
bool rft__node_drained(struct rft_node *n);
/* Advance read-index requests. */
void rft__reads(struct rft_node *n);
/* Complete requests past their deadline with CF_EUNAVAIL. */
void rft__expire(struct rft_node *n);
/* Complete the requests waiting for a leader with status (a halt). */
void rft__fail_waiting(struct rft_node *n, int status);
/* Complete every pending request with CF_ESHUTDOWN (close). */
void rft__fail_all(struct rft_node *n);
/* rft_peer callbacks. */
void rft__peer_msg_cb(struct rft_peer_mgr *m, unsigned from, uint8_t type,
		      uint64_t req_id, const void *body, size_t len);
void rft__peer_state_cb(struct rft_peer_mgr *m, unsigned id, bool up);

#endif
