/*
 * rft_worker: one thread of its own for long jobs off the loop thread
 * (DESIGN.md "Processes and threads": segment-fetch hashing and reads now;
 * compaction, verification digests and rebuilds next), kept out of libuv's
 * thread pool, whose four threads raft 0.15 uses for its durable writes: a
 * long job there would delay every commit.
 *
 * Jobs run one at a time, in submission order. A job's run() executes on
 * the worker thread and must touch only what the job owns; its done() is
 * called later on the loop thread with 0, or CF_ECANCELED if the job never
 * ran (cancelled, or queued when the worker closed). The queue is bounded
 * (cap jobs waiting): a submission past it fails with CF_EUNAVAIL and the
 * caller decides (retry later, answer busy), so memory stays bounded too.
 *
 * Close: jobs still queued complete with CF_ECANCELED, the running one is
 * waited for (jobs are expected to be bounded steps), the thread is joined;
 * on a later loop turn (never inside rft_worker_close) every remaining
 * done() is called, then close_cb.
 *
 * Ownership: the caller owns each job (embed struct rft_worker_job) until its
 * done() returns. Errors: 0, CF_EUNAVAIL (queue full), CF_ESHUTDOWN
 * (closing), or a libuv code from init. Threads: every function on the loop
 * thread; run() on the worker thread.
 */
#ifndef RFT_WORKER_H
#define RFT_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "common/cf_list.h"

struct rft_worker_job;
typedef void (*rft_worker_run_fn)(struct rft_worker_job *j);
typedef void (*rft_worker_done_fn)(struct rft_worker_job *j, int status);

struct rft_worker_job {
	void *data; /* the caller's */
	/* private */
	rft_worker_run_fn run;
	rft_worker_done_fn done;
	int status;
	struct cf_list link;
};

struct rft_worker {
	uv_loop_t *loop;
	unsigned cap;
	/* guarded by mu */
	uv_mutex_t mu;
	uv_cond_t cv;
	struct cf_list queued;	 /* waiting to run */
	struct cf_list finished; /* run (or cancelled), done() not yet called */
	unsigned nqueued;
	bool stop;		 /* the thread must exit */
	struct rft_worker_job *running;
	/* loop thread only */
	uv_thread_t thread;
	uv_async_t async;
	bool closing;
	bool joined; /* the thread has exited */
	unsigned pending; /* submitted, done() not yet called */
	void (*close_cb)(struct rft_worker *w);
	uint64_t jobs_run; /* statistics */
};

/* Start the thread; at most cap jobs wait at a time. */
int rft_worker_init(struct rft_worker *w, uv_loop_t *loop, unsigned cap);
/* Queue j: run(j) on the worker, then done(j, status) on the loop. */
int rft_worker_submit(struct rft_worker *w, struct rft_worker_job *j,
		      rft_worker_run_fn run, rft_worker_done_fn done);
/* If j is still queued, it will not run: done(j, CF_ECANCELED) follows.
 * False if it runs or ran already (done follows with its own status). */
bool rft_worker_cancel(struct rft_worker *w, struct rft_worker_job *j);
/* Jobs waiting to run (for tests and metrics). */
unsigned rft_worker_queued(struct rft_worker *w);
/* Cancel what waits, finish what runs, join, then cb (see above). */
void rft_worker_close(struct rft_worker *w, void (*cb)(struct rft_worker *w));

#endif
