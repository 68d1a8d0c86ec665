/*
 * fe_fanout: the queue between apply and the sockets (issue 11: a sender's
 * ack must not wait for a large group's fan-out).
 *
 * Apply hands every committed record to fe_fanout_record() (through
 * fe_server_on_record, after the inbox index took it: that stays in
 * apply). The record's event frame is built there, once, and queued with
 * the conversation's members as of the record (a snapshot shared by the
 * queued records of that conversation until its membership changes) and,
 * for a members_changed record, the members it removed. Nothing is written
 * to a socket in apply: the acks that Raft's apply callback produces in the
 * same callback go out first. A uv_check handle (right after the poll
 * phase that applied) then writes queued events to the local sockets of
 * their recipients in slices of at most FE_FANOUT_SLICE_FRAMES frames (plus
 * the other sockets of the last user reached) and about FE_FANOUT_SLICE_NS
 * of loop time, one slice per loop iteration; a uv_idle handle keeps the
 * poll from blocking while the queue is not empty, so that I/O (acks, Raft
 * heartbeats, peer links) runs between slices of a 3,000-member fan-out.
 *
 * A message that mentions members (issue 13) gets a second frame, with
 * "mentionsMe": true, written to the mentioned members only; every other
 * recipient gets the common frame, so a message without mentions costs
 * what it did.
 *
 * Order: records leave the queue in commit order, and each one reaches all
 * of its recipients before the next one starts, so on one socket events
 * keep commit order. A socket in a `sync` replay gets its events held as
 * before (fe_api_sync_hold); a socket whose replay already sent `synced`
 * with a cursor at or past a queued event (the replay read it from the
 * store) does not get that event again (fe_conn.synced_id). Backpressure
 * is --ws-max-buffer at the time of the write, as before.
 *
 * Bounds: at most --fanout-queue records (cfg.fanout_queue, default
 * FE_FANOUT_QUEUE_MAX) or FE_FANOUT_QUEUE_BYTES of frames are queued. A record that finds the queue full first writes the
 * oldest queued records to all their recipients, in apply, until it fits:
 * nothing is dropped, a full queue only makes apply take a larger slice.
 * If memory for a queue entry runs out, the queue is written out and the
 * record fanned out in apply as well (the apply path never fails).
 *
 * Ownership: struct fe_fanout lives in struct fe_server (s->fanout).
 * Errors: none reported (fan-out is best effort per socket).
 * Threads: loop thread only.
 */
#ifndef FE_FANOUT_H
#define FE_FANOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/cf_buf.h"
#include "common/cf_map.h"
#include "log/log_record.h"
#include "raft/rft_fsm.h"

/* One slice: frames written at most (plus the rest of one user's sockets). */
#define FE_FANOUT_SLICE_FRAMES 128
/* One slice: loop time, checked every FE_FANOUT_SLICE_CHECK recipients. */
#define FE_FANOUT_SLICE_NS (500u * 1000u)
#define FE_FANOUT_SLICE_CHECK 32
/* The queue's bounds: records (the default), and bytes of their frames. */
#define FE_FANOUT_QUEUE_MAX 4096
#define FE_FANOUT_QUEUE_BYTES (64u << 20)

struct fe_server;
struct fanout_item;

struct fe_fanout {
	struct fe_server *srv;
	uv_check_t check;	/* writes one slice after each poll */
	uv_idle_t idle;		/* poll without blocking while queued */
	bool started;		/* handles initialised (fe_fanout_start) */
	bool closing;
	unsigned pending_closes;
	void (*close_cb)(struct fe_fanout *q);
	struct fanout_item *head, **tail;
	unsigned n;		/* records queued */
	size_t bytes;		/* bytes of their frames */
	struct cf_map snaps;	/* conversation id -> current member snapshot */
	/* counters for /metrics */
	uint64_t records;	/* records queued */
	uint64_t frames;	/* event frames written (or held) to sockets */
	uint64_t slices;	/* check callbacks that wrote a slice */
	uint64_t in_apply;	/* records written out in apply: queue full or
				   no memory */
	unsigned max_depth;	/* most records queued at once */
};

void fe_fanout_init(struct fe_fanout *q, struct fe_server *srv);
/* Initialise the handles (the server starts listening). */
void fe_fanout_start(struct fe_fanout *q, uv_loop_t *loop);
/*
 * A record was committed (conv as of the record, may be NULL): queue its
 * event for the local sockets of the members (see the top).
 */
void fe_fanout_record(struct fe_fanout *q, const struct log_record *rec,
		      const struct rft_conv *conv);
/* The FSM state is about to be rebuilt: forget cached member snapshots. */
void fe_fanout_reset(struct fe_fanout *q);
/*
 * The node starts rebuilding its state after a segment fetch and has
 * closed every WebSocket: drop what is queued and every cached snapshot
 * (on the loop, before the rebuild's worker job runs on_reset: the queue
 * and its snapshots belong to the loop). The handles stay.
 */
void fe_fanout_drop(struct fe_fanout *q);
/*
 * Drop what is queued (the server closes every socket) and close the
 * handles; cb once they closed. Returns false (and cb is never called) if
 * the handles were never started.
 */
bool fe_fanout_close(struct fe_fanout *q, void (*cb)(struct fe_fanout *q));
/* Free what is left (after the close callback, or if never started). */
void fe_fanout_release(struct fe_fanout *q);
/* Append the confab_fanout_* metrics to b; 0 or -ENOMEM. */
int fe_fanout_metrics_render(const struct fe_fanout *q, struct cf_buf *b);

#endif
