#include "config.h"

/*
 * rft_worker: see rft_worker.h. The thread sleeps on cv until a job is
 * queued or stop is set; each finished job moves to `finished` and wakes the
 * loop through the async handle, whose callback calls done() outside the
 * lock (a done() may submit again).
 */

#include "raft/rft_worker.h"

#include <assert.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cf_err.h"

/*
 * The worker's jobs are background work (compaction, digests, serving a
 * fetch): on a busy machine they must yield the CPU to the loop, which
 * answers clients and keeps Raft's heartbeats. Linux applies a nice value
 * per thread; +10 (above the process's own) weighs about a tenth of a normal thread, so jobs still
 * progress under a sustained load (erasure has a deadline) but take only
 * idle CPU when there is some. Failure (a sandbox forbidding it) is
 * harmless: the jobs run at normal priority.
 */
#define WORKER_NICE 10

static void worker_main(void *arg)
{
	struct rft_worker *w = arg;
	struct cf_list *e;
	struct rft_worker_job *j;

#ifdef SYS_gettid
	{
		id_t tid = (id_t)syscall(SYS_gettid);
		int nice = getpriority(PRIO_PROCESS, tid) + WORKER_NICE;

		(void)setpriority(PRIO_PROCESS, tid, nice > 19 ? 19 : nice);
	}
#endif
	uv_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stop && cf_list_empty(&w->queued))
			uv_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		e = cf_list_head(&w->queued);
		cf_list_remove(e);
		w->nqueued--;
		j = CF_CONTAINER_OF(e, struct rft_worker_job, link);
		w->running = j;
		uv_mutex_unlock(&w->mu);
		j->run(j);
		uv_mutex_lock(&w->mu);
		w->running = NULL;
		j->status = 0;
		cf_list_push(&w->finished, &j->link);
		uv_async_send(&w->async);
	}
	uv_mutex_unlock(&w->mu);
}

/* Loop thread: call done() of every finished job, outside the lock. */
static void worker_deliver(struct rft_worker *w)
{
	struct cf_list ready, *e;
	struct rft_worker_job *j;

	cf_list_init(&ready);
	uv_mutex_lock(&w->mu);
	cf_list_move(&ready, &w->finished);
	uv_mutex_unlock(&w->mu);
	while ((e = cf_list_head(&ready)) != NULL) {
		cf_list_remove(e);
		j = CF_CONTAINER_OF(e, struct rft_worker_job, link);
		assert(w->pending > 0);
		w->pending--;
		w->jobs_run += j->status == 0;
		j->done(j, j->status);
	}
}

static void worker_closed_cb(uv_handle_t *h);

static void worker_async_cb(uv_async_t *h)
{
	struct rft_worker *w = h->data;

	worker_deliver(w);
	if (w->joined && !uv_is_closing((uv_handle_t *)h)) {
		/* Every job is delivered: nothing can finish any more. */
		assert(w->pending == 0);
		uv_close((uv_handle_t *)h, worker_closed_cb);
	}
}

int rft_worker_init(struct rft_worker *w, uv_loop_t *loop, unsigned cap)
{
	int rv;

	assert(cap > 0);
	w->loop = loop;
	w->cap = cap;
	cf_list_init(&w->queued);
	cf_list_init(&w->finished);
	w->nqueued = 0;
	w->stop = false;
	w->running = NULL;
	w->closing = false;
	w->joined = false;
	w->pending = 0;
	w->close_cb = NULL;
	w->jobs_run = 0;
	rv = uv_mutex_init(&w->mu);
	if (rv != 0)
		return rv;
	rv = uv_cond_init(&w->cv);
	if (rv != 0)
		goto err_mu;
	rv = uv_async_init(loop, &w->async, worker_async_cb);
	if (rv != 0)
		goto err_cv;
	w->async.data = w;
	rv = uv_thread_create(&w->thread, worker_main, w);
	if (rv != 0)
		goto err_async;
	return 0;

err_async:
	/* Not yet running anything: closing the handle needs a loop turn,
	 * which the caller's loop gives; nothing points at w afterwards. */
	uv_close((uv_handle_t *)&w->async, NULL);
err_cv:
	uv_cond_destroy(&w->cv);
err_mu:
	uv_mutex_destroy(&w->mu);
	return rv;
}

int rft_worker_submit(struct rft_worker *w, struct rft_worker_job *j,
		      rft_worker_run_fn run, rft_worker_done_fn done)
{
	int rv = 0;

	if (w->closing)
		return CF_ESHUTDOWN;
	j->run = run;
	j->done = done;
	j->status = 0;
	uv_mutex_lock(&w->mu);
	if (w->nqueued >= w->cap) {
		rv = CF_EUNAVAIL;
	} else {
		cf_list_push(&w->queued, &j->link);
		w->nqueued++;
		w->pending++;
		uv_cond_signal(&w->cv);
	}
	uv_mutex_unlock(&w->mu);
	return rv;
}

bool rft_worker_cancel(struct rft_worker *w, struct rft_worker_job *j)
{
	bool found = false;
	struct cf_list *e;

	uv_mutex_lock(&w->mu);
	cf_list_foreach(e, &w->queued) {
		if (e == &j->link) {
			found = true;
			break;
		}
	}
	if (found) {
		cf_list_remove(&j->link);
		w->nqueued--;
		j->status = CF_ECANCELED;
		cf_list_push(&w->finished, &j->link);
		uv_async_send(&w->async);
	}
	uv_mutex_unlock(&w->mu);
	return found;
}

unsigned rft_worker_queued(struct rft_worker *w)
{
	unsigned n;

	uv_mutex_lock(&w->mu);
	n = w->nqueued;
	uv_mutex_unlock(&w->mu);
	return n;
}

static void worker_closed_cb(uv_handle_t *h)
{
	struct rft_worker *w = h->data;

	uv_cond_destroy(&w->cv);
	uv_mutex_destroy(&w->mu);
	if (w->close_cb != NULL)
		w->close_cb(w);
}

void rft_worker_close(struct rft_worker *w, void (*cb)(struct rft_worker *w))
{
	struct cf_list *e;
	struct rft_worker_job *j;

	assert(!w->closing);
	w->closing = true;
	w->close_cb = cb;
	uv_mutex_lock(&w->mu);
	while ((e = cf_list_head(&w->queued)) != NULL) {
		cf_list_remove(e);
		j = CF_CONTAINER_OF(e, struct rft_worker_job, link);
		j->status = CF_ECANCELED;
		cf_list_push(&w->finished, &j->link);
	}
	w->nqueued = 0;
	w->stop = true;
	uv_cond_signal(&w->cv);
	uv_mutex_unlock(&w->mu);
	/* The running job, if any, finishes first: jobs are bounded steps. */
	uv_thread_join(&w->thread);
	w->joined = true;
	/* done() calls happen on a later loop turn, never inside close. */
	uv_async_send(&w->async);
}
