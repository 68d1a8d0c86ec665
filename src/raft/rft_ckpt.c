#include "config.h"

/*
 * rft_ckpt: the FSM's checkpoint job, the one owner of the store's manifest
 * (issue 11, Settled "One checkpoint job owns the manifest"). Two callers
 * take it, one at a time:
 *
 *   - the node's periodic checkpoint (rft_fsm_checkpoint_start): capture on
 *     the loop (log_ckpt_begin), run in libuv's thread pool (uv_queue_work:
 *     log_ckpt_run), end on the loop (log_ckpt_end), then the caller's cb;
 *   - raft's snapshot, through raft_fsm version 3: snapshot() captures on
 *     the loop and returns the 40-byte snapshot manifest (rft_fsm.c);
 *     snapshot_async(), which raft 0.15 runs in libuv's thread pool, runs
 *     the checkpoint; snapshot_finalize(), on the loop, ends it and frees
 *     the buffer. Raft stores the snapshot (and may then delete the log
 *     entries before it) only after snapshot_async returned 0, so the
 *     snapshot raft keeps always names a manifest that is already durable.
 *
 * Why libuv's thread pool and not the worker thread (rft_worker.h): the
 * worker runs one job at a time in order, and its jobs are long
 * (compactions of up to 256 MiB of input, segment-fetch reads and hashes);
 * a checkpoint queued behind one would hold the manifest (and the
 * unlinking of compacted files, and raft's snapshot) for seconds. A
 * checkpoint is a short burst of fsyncs (12-17 ms measured), the kind of
 * work the pool exists for, and raft 0.15 already runs snapshot_async
 * there; it takes one of the pool's four threads at a time, at most once a
 * second, beside raft's own writes.
 *
 * One at a time: manifests must reach the disk in capture order (an older
 * one renamed over a newer one would take back an appliedIndex that a raft
 * snapshot already relies on). The periodic checkpoint that finds the job
 * busy is retried by the node's next tick; raft's snapshot that finds it
 * busy answers RAFT_BUSY, and raft 0.15 tries again after its next apply.
 * Neither waits on a thread: no pool thread ever blocks on another.
 *
 * raft 0.15 pitfalls (RAFT.md; read in v0.15.0 src/replication.c, uv_work.c):
 *   - snapshot_async runs while the loop keeps applying entries: it touches
 *     only the captured log_ckpt, never the store or the FSM state.
 *   - finalize is called on every path once snapshot() returned 0: after
 *     the put (success or failure), when snapshot_async failed, when the
 *     async work could not be queued (then the job never ran: the store
 *     gets its work back), and when the node is closing (the put is
 *     refused with RAFT_CANCELED after the run). raft_uv's close waits for
 *     the async work, so finalize always precedes raft's close callback.
 *   - snapshot() must clean up itself when it fails: raft calls no
 *     finalize then.
 *   - raft_uv_init() sets io->version = 1 although raft_uv implements
 *     async_work (v0.15.0 src/uv.c:707 and :722), and raft_init() refuses
 *     a version 3 FSM with snapshot_async on an io below version 2 ("async
 *     snapshot requires io->version > 1 and async_work method."): rft_node
 *     raises io.version to 2 after raft_uv_init(). The test fixture's io
 *     is the same; an FSM whose snapshot_async is NULL (an io without
 *     async_work) runs the checkpoint inside snapshot(), on the loop.
 *   - A failed run means a failed fsync: the FSM halts (rft_fsm_halt: no
 *     entry applied after it, no checkpoint recorded) and the node
 *     degrades on a full disk or stops cleanly (rft_node_disk.c), as the
 *     periodic path's caller does.
 */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "raft/rft_fsm_int.h"

bool rft_fsm_checkpoint_busy(const struct rft_fsm *f)
{
	return f->ckpt != NULL;
}

/* Capture a checkpoint at the applied index into f->ckpt. */
static int ckpt_capture(struct rft_fsm *f, bool snap)
{
	int rv;

	if (f->needs_fetch)
		return CF_EUNAVAIL; /* never record an appliedIndex then */
	if (f->failed != 0)
		return f->failed; /* part of an entry may be in memory only */
	if (f->ckpt != NULL)
		return -EBUSY;
	rv = log_ckpt_begin(f->store, f->applied, &f->ckpt);
	if (rv != 0) {
		f->ckpt = NULL;
		return rv;
	}
	f->ckpt_snap = snap;
	f->ckpt_ran = false;
	f->ckpt_status = 0;
	f->ckpt_errmsg[0] = '\0';
	return 0;
}

/* End the job with status (CF_ECANCELED: it never ran). */
static void ckpt_finish(struct rft_fsm *f, int status)
{
	struct log_ckpt *c = f->ckpt;

	f->ckpt = NULL;
	log_ckpt_end(f->store, c, status);
}

int rft_fsm_checkpoint(struct rft_fsm *f, char *errmsg)
{
	int rv;

	errmsg[0] = '\0';
	rv = ckpt_capture(f, false);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "fsm: checkpoint: %s",
				 rv == CF_EUNAVAIL ? "segment fetch pending"
						   : cf_strerror(rv));
		return rv;
	}
	rv = log_ckpt_run(f->ckpt, errmsg);
	ckpt_finish(f, rv);
	return rv;
}

/* ---- the periodic checkpoint ---- */

static void ckpt_work_cb(uv_work_t *w)
{
	struct rft_fsm *f = w->data;

	f->ckpt_status = log_ckpt_run(f->ckpt, f->ckpt_errmsg);
}

static void ckpt_after_cb(uv_work_t *w, int status)
{
	struct rft_fsm *f = w->data;
	uint64_t index = log_ckpt_index(f->ckpt);
	rft_fsm_ckpt_cb cb = f->ckpt_cb;

	if (status == 0)
		status = f->ckpt_status;
	else
		cf_errmsg_printf(f->ckpt_errmsg, "checkpoint: %s",
				 uv_strerror(status));
	ckpt_finish(f, status == UV_ECANCELED ? CF_ECANCELED : status);
	f->ckpt_cb = NULL;
	if (cb != NULL)
		cb(f->ckpt_arg, index, status, f->ckpt_errmsg);
}

int rft_fsm_checkpoint_start(struct rft_fsm *f, uv_loop_t *loop,
			     rft_fsm_ckpt_cb cb, void *arg)
{
	int rv;

	rv = ckpt_capture(f, false);
	if (rv != 0)
		return rv;
	f->ckpt_cb = cb;
	f->ckpt_arg = arg;
	f->ckpt_work.data = f;
	rv = uv_queue_work(loop, &f->ckpt_work, ckpt_work_cb, ckpt_after_cb);
	if (rv != 0) {
		ckpt_finish(f, CF_ECANCELED);
		f->ckpt_cb = NULL;
		return rv;
	}
	return 0;
}

/* ---- raft's snapshot (raft_fsm version 3) ---- */

int rft__fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
		      unsigned *n_bufs)
{
	struct rft_fsm *f = fsm->data;
	struct raft_buffer *b;
	int rv;

	rv = ckpt_capture(f, true);
	if (rv == CF_EUNAVAIL || rv == -EBUSY || f->failed != 0)
		return RAFT_BUSY; /* raft tries again after a later apply */
	if (rv != 0) {
		cf_warn("fsm: snapshot at %llu: %s; later",
			(unsigned long long)f->applied, cf_strerror(rv));
		return RAFT_BUSY;
	}
	b = raft_malloc(sizeof(*b));
	if (b != NULL) {
		b->len = RFT_SNAP_SIZE;
		b->base = raft_malloc(RFT_SNAP_SIZE);
		if (b->base == NULL) {
			raft_free(b);
			b = NULL;
		}
	}
	if (b == NULL) {
		/* raft calls no finalize after a failed snapshot(). */
		ckpt_finish(f, CF_ECANCELED);
		return RAFT_NOMEM;
	}
	rft__snap_encode(f, b->base);
	*bufs = b;
	*n_bufs = 1;
	if (fsm->snapshot_async == NULL) {
		/* No async_work in this io: durable before raft stores it. */
		f->ckpt_status = log_ckpt_run(f->ckpt, f->ckpt_errmsg);
		f->ckpt_ran = true;
		if (f->ckpt_status != 0) {
			/* The node degrades (full disk) or stops cleanly. */
			cf_error("fsm: snapshot: %s; applying nothing more",
				 f->ckpt_errmsg);
			rft_fsm_halt(f, f->ckpt_status, f->ckpt_errmsg);
			raft_free(b->base);
			raft_free(b);
			*bufs = NULL;
			*n_bufs = 0;
			ckpt_finish(f, f->ckpt_status);
			return RAFT_BUSY;
		}
	}
	return 0;
}

int rft__fsm_snapshot_async(struct raft_fsm *fsm, struct raft_buffer *bufs[],
			    unsigned *n_bufs)
{
	struct rft_fsm *f = fsm->data;

	(void)bufs;
	(void)n_bufs;
	assert(f->ckpt != NULL && f->ckpt_snap);
	f->ckpt_status = log_ckpt_run(f->ckpt, f->ckpt_errmsg);
	f->ckpt_ran = true;
	return f->ckpt_status != 0 ? RAFT_IOERR : 0;
}

int rft__fsm_snapshot_finalize(struct raft_fsm *fsm,
			       struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct rft_fsm *f = fsm->data;

	if (*bufs != NULL) {
		raft_free((*bufs)[0].base);
		raft_free(*bufs);
	}
	*bufs = NULL;
	*n_bufs = 0;
	assert(f->ckpt != NULL && f->ckpt_snap);
	if (!f->ckpt_ran) {
		/* The async work was never queued: nothing was written. */
		ckpt_finish(f, CF_ECANCELED);
		return 0;
	}
	if (f->ckpt_status != 0) {
		/*
		 * fsync failed: the pages may be gone (DESIGN.md). Nothing is
		 * recorded, no entry is applied after this, and the node
		 * degrades (full disk) or stops cleanly (rft_node_disk.c).
		 */
		cf_error("fsm: snapshot: %s; applying nothing more",
			 f->ckpt_errmsg);
		rft_fsm_halt(f, f->ckpt_status, f->ckpt_errmsg);
		ckpt_finish(f, f->ckpt_status);
		return 0;
	}
	ckpt_finish(f, 0);
	f->stats.snapshots++;
	return 0;
}
