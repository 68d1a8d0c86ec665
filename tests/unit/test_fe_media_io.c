#include "config.h"

/*
 * Media blob I/O off the loop (fe_media_io.c, issue 11): while a blob's
 * write (and its fsync) is held in the thread pool by a test hook, the loop
 * keeps running timers; the write then lands durably, a read brings the
 * bytes back through the pool, and a missing blob answers CF_ENOTFOUND.
 */

#define _XOPEN_SOURCE 700
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <uv.h>

#include "common/cf_err.h"
#include "frontend/fe_media_int.h"
#include "frontend/fe_server.h"

#include "../lib/cf_test_dir.h"

#define BLOB (4u << 20)

struct fx {
	char dir[64];
	uv_loop_t loop;
	struct fe_server *srv;
	uv_timer_t timer;
	/* the gate holding the pool's job */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool entered, open, timed_out;
	unsigned ticks;	 /* timer callbacks while the job was held */
	int status;	 /* of the last job */
	char *data;	 /* of the last read */
	size_t len;
	unsigned done;
};

static void hook(void *arg)
{
	struct fx *x = arg;
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20; /* bound: a blocked loop never opens it */
	pthread_mutex_lock(&x->mu);
	x->entered = true;
	while (!x->open && !x->timed_out)
		if (pthread_cond_timedwait(&x->cv, &x->mu, &until) ==
		    ETIMEDOUT)
			x->timed_out = true;
	pthread_mutex_unlock(&x->mu);
}

static void tick_cb(uv_timer_t *t)
{
	struct fx *x = t->data;
	bool entered;

	pthread_mutex_lock(&x->mu);
	entered = x->entered;
	pthread_mutex_unlock(&x->mu);
	if (x->done > 0) {
		uv_close((uv_handle_t *)t, NULL);
		return;
	}
	if (!entered || x->open)
		return;
	if (++x->ticks == 5) {
		pthread_mutex_lock(&x->mu);
		x->open = true;
		pthread_cond_signal(&x->cv);
		pthread_mutex_unlock(&x->mu);
	}
}

static void io_cb(struct fe_media *m, int status, char *data, size_t len,
		  void *arg)
{
	struct fx *x = arg;

	(void)m;
	x->status = status;
	x->data = data;
	x->len = len;
	x->done++;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	cf_test_dir_make(x->dir, sizeof(x->dir), "test_fe_media_io");
	assert_int_equal(uv_loop_init(&x->loop), 0);
	x->srv = calloc(1, sizeof(*x->srv));
	assert_non_null(x->srv);
	x->srv->loop = &x->loop;
	x->srv->cfg.data_dir = x->dir;
	fe_media_init(&x->srv->media, x->srv);
	pthread_mutex_init(&x->mu, NULL);
	pthread_cond_init(&x->cv, NULL);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	fe_media_io_test_hook = NULL;
	fe_media_io_test_arg = NULL;
	fe_media_release(&x->srv->media);
	assert_int_equal(uv_loop_close(&x->loop), 0);
	free(x->srv);
	free(x->data);
	pthread_mutex_destroy(&x->mu);
	pthread_cond_destroy(&x->cv);
	cf_test_dir_remove(x->dir);
	free(x);
	return 0;
}

static void blob_write_runs_off_the_loop(void **state)
{
	struct fx *x = *state;
	struct fe_media *m = &x->srv->media;
	char *blob = malloc(BLOB);

	assert_non_null(blob);
	for (size_t i = 0; i < BLOB; i++)
		blob[i] = (char)(i * 31 + 7);
	fe_media_io_test_arg = x;
	fe_media_io_test_hook = hook;
	/* The copy to compare with: the write takes its buffer. */
	x->data = malloc(BLOB);
	assert_non_null(x->data);
	memcpy(x->data, blob, BLOB);
	assert_int_equal(fe_media_blob_write_async(m, "fblob1", blob, BLOB,
						   io_cb, x),
			 0);
	free(x->data);
	x->data = NULL;
	assert_int_equal(m->io_inflight, 1);
	uv_timer_init(&x->loop, &x->timer);
	x->timer.data = x;
	uv_timer_start(&x->timer, tick_cb, 1, 1);
	uv_run(&x->loop, UV_RUN_DEFAULT);
	/* The loop ran its timer while the write was held. */
	assert_false(x->timed_out);
	assert_true(x->ticks >= 5);
	assert_int_equal(x->done, 1);
	assert_int_equal(x->status, 0);
	assert_null(x->data);
	assert_int_equal(m->io_inflight, 0);

	/* Read it back through the pool (the hook lets it pass now). */
	fe_media_io_test_hook = NULL;
	assert_int_equal(fe_media_blob_read_async(m, "fblob1", io_cb, x), 0);
	uv_run(&x->loop, UV_RUN_DEFAULT);
	assert_int_equal(x->done, 2);
	assert_int_equal(x->status, 0);
	assert_int_equal(x->len, BLOB);
	for (size_t i = 0; i < BLOB; i++)
		if (x->data[i] != (char)(i * 31 + 7))
			fail_msg("byte %zu differs", i);
	free(x->data);
	x->data = NULL;

	/* A blob this node lacks. */
	assert_int_equal(fe_media_blob_read_async(m, "fnone", io_cb, x), 0);
	uv_run(&x->loop, UV_RUN_DEFAULT);
	assert_int_equal(x->done, 3);
	assert_int_equal(x->status, CF_ENOTFOUND);
	assert_null(x->data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(blob_write_runs_off_the_loop,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
