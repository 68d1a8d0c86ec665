#include "config.h"

/*
 * rft_worker: jobs run off the loop thread one at a time in order, done()
 * comes back on the loop thread, the queue bound answers CF_EUNAVAIL, a
 * queued job can be cancelled, and close cancels what waits, finishes what
 * runs and calls every done() before close_cb, never inside close itself.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <cmocka.h>
#include <uv.h>

#include "common/cf_err.h"
#include "raft/rft_worker.h"

#define NJOBS 8

struct fix {
	uv_loop_t loop;
	struct rft_worker w;
	uv_thread_t loop_thread;
	bool closed;
	/* a gate that holds the running job until opened */
	uv_sem_t gate;
	int order[NJOBS];
	int norder;
	unsigned done_calls;
};

struct job {
	struct rft_worker_job j;
	struct fix *f;
	int id;
	bool gated;
	bool ran;
	uv_thread_t ran_on;
	int nice; /* the thread's nice value while the job ran */
	int status;
	bool done;
};

static void run(struct rft_worker_job *jj)
{
	struct job *j = jj->data;

	if (j->gated)
		uv_sem_wait(&j->f->gate);
	j->ran = true;
	j->ran_on = uv_thread_self();
	errno = 0;
	j->nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	if (errno != 0)
		j->nice = -100;
	j->f->order[j->f->norder++] = j->id; /* one job at a time */
}

static void done(struct rft_worker_job *jj, int status)
{
	struct job *j = jj->data;

	j->status = status;
	j->done = true;
	j->f->done_calls++;
}

static void closed(struct rft_worker *w)
{
	struct fix *f = CF_CONTAINER_OF(w, struct fix, w);

	f->closed = true;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof *f);

	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(uv_sem_init(&f->gate, 0), 0);
	assert_int_equal(rft_worker_init(&f->w, &f->loop, 4), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	if (!f->w.closing)
		rft_worker_close(&f->w, closed);
	for (int i = 0; i < 1000 && !f->closed; i++)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_true(f->closed);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	uv_sem_destroy(&f->gate);
	free(f);
	return 0;
}

static void job_init(struct fix *f, struct job *j, int id, bool gated)
{
	memset(j, 0, sizeof *j);
	j->f = f;
	j->id = id;
	j->gated = gated;
	j->j.data = j;
}

/* Run the loop until n done() calls happened (bounded: 5 s). */
static void wait_done(struct fix *f, unsigned n)
{
	uv_timer_t t;
	uint64_t end;

	uv_timer_init(&f->loop, &t);
	uv_update_time(&f->loop);
	end = uv_now(&f->loop) + 5000;
	while (f->done_calls < n && uv_now(&f->loop) < end) {
		uv_timer_start(&t, (uv_timer_cb)(void (*)(void))abort, 5000, 0);
		uv_run(&f->loop, UV_RUN_ONCE);
		uv_timer_stop(&t);
		uv_update_time(&f->loop);
	}
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_true(f->done_calls >= n);
}

static void jobs_run_in_order_off_the_loop_and_come_back(void **state)
{
	struct fix *f = *state;
	struct job j[4];
	uv_thread_t self = uv_thread_self();

	for (int i = 0; i < 4; i++) {
		job_init(f, &j[i], i, false);
		assert_int_equal(rft_worker_submit(&f->w, &j[i].j, run, done),
				 0);
	}
	wait_done(f, 4);
	for (int i = 0; i < 4; i++) {
		assert_true(j[i].ran && j[i].done);
		assert_int_equal(j[i].status, 0);
		assert_false(uv_thread_equal(&j[i].ran_on, &self));
		assert_int_equal(f->order[i], i);
		/* background work: below the loop's priority */
		assert_int_equal(j[i].nice, getpriority(PRIO_PROCESS, 0) + 10 > 19
						    ? 19
						    : getpriority(PRIO_PROCESS, 0) + 10);
	}
	assert_int_equal(f->w.jobs_run, 4);
}

static void a_full_queue_refuses_and_a_queued_job_can_be_cancelled(
	void **state)
{
	struct fix *f = *state;
	struct job j[6];

	/* j0 runs and holds the thread; j1..j4 fill the queue of 4. */
	job_init(f, &j[0], 0, true);
	assert_int_equal(rft_worker_submit(&f->w, &j[0].j, run, done), 0);
	for (int k = 0; k < 200 && rft_worker_queued(&f->w) != 0; k++)
		usleep(1000);
	for (int i = 1; i <= 4; i++) {
		job_init(f, &j[i], i, false);
		assert_int_equal(rft_worker_submit(&f->w, &j[i].j, run, done),
				 0);
	}
	job_init(f, &j[5], 5, false);
	assert_int_equal(rft_worker_submit(&f->w, &j[5].j, run, done),
			 CF_EUNAVAIL);
	assert_int_equal(rft_worker_queued(&f->w), 4);
	assert_true(rft_worker_cancel(&f->w, &j[2].j));
	assert_false(rft_worker_cancel(&f->w, &j[0].j)); /* it runs */
	uv_sem_post(&f->gate);
	wait_done(f, 5);
	assert_int_equal(j[2].status, CF_ECANCELED);
	assert_false(j[2].ran);
	for (int i = 0; i <= 4; i++)
		if (i != 2)
			assert_true(j[i].ran && j[i].status == 0);
	assert_false(j[5].done);
}

static void open_gate_on_stop(void *arg)
{
	struct fix *f = arg;
	bool stop = false;

	for (int i = 0; i < 5000 && !stop; i++) {
		uv_mutex_lock(&f->w.mu);
		stop = f->w.stop;
		uv_mutex_unlock(&f->w.mu);
		if (!stop)
			usleep(1000);
	}
	uv_sem_post(&f->gate);
}

static void close_cancels_waiting_jobs_and_finishes_the_running_one(
	void **state)
{
	struct fix *f = *state;
	struct job j[3];
	uv_thread_t opener;

	job_init(f, &j[0], 0, true);
	assert_int_equal(rft_worker_submit(&f->w, &j[0].j, run, done), 0);
	for (int k = 0; k < 200 && rft_worker_queued(&f->w) != 0; k++)
		usleep(1000);
	job_init(f, &j[1], 1, false);
	job_init(f, &j[2], 2, false);
	assert_int_equal(rft_worker_submit(&f->w, &j[1].j, run, done), 0);
	assert_int_equal(rft_worker_submit(&f->w, &j[2].j, run, done), 0);
	/* The running job finishes only once close has begun (and cancelled
	 * what waits): a helper opens the gate when it sees stop set. */
	assert_int_equal(uv_thread_create(&opener, open_gate_on_stop, f), 0);
	rft_worker_close(&f->w, closed);
	assert_int_equal(uv_thread_join(&opener), 0);
	/* Nothing is delivered inside close; submissions are refused. */
	assert_int_equal(f->done_calls, 0);
	assert_int_equal(rft_worker_submit(&f->w, &j[1].j, run, done),
			 CF_ESHUTDOWN);
	for (int i = 0; i < 1000 && !f->closed; i++)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_true(f->closed);
	assert_int_equal(f->done_calls, 3);
	assert_true(j[0].ran);
	assert_int_equal(j[0].status, 0);
	for (int i = 1; i <= 2; i++) {
		assert_false(j[i].ran);
		assert_int_equal(j[i].status, CF_ECANCELED);
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(jobs_run_in_order_off_the_loop_and_come_back),
		T(a_full_queue_refuses_and_a_queued_job_can_be_cancelled),
		T(close_cancels_waiting_jobs_and_finishes_the_running_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
