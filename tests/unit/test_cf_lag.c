#include "config.h"

/*
 * cf_lag: a callback of known length lands in the right bucket (fake
 * clock, exact), a callback that blocks (sleeps, as an fsync does) is
 * counted at least as long as it blocked (real clock: a CPU clock would not
 * see it), time the loop waits for events is not counted, and /metrics
 * renders the histogram and the max gauge (issue 11, "Loop lag").
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <uv.h>

#include "common/cf_buf.h"
#include "common/cf_lag.h"
#include "frontend/fe_metrics.h"

#define MS 1000000ull

struct fix {
	uv_loop_t loop;
	struct cf_lag lag;
	uv_timer_t timer;
	uint64_t fake_now;   /* fake clock, ns */
	uint64_t block_ns;   /* what the timer callback takes */
	bool real_sleep;     /* sleep for real instead of moving the clock */
	uint64_t timeout_ms; /* of the timer, once armed */
	unsigned fired;
};

static uint64_t fake_now(struct cf_lag *l)
{
	return ((struct fix *)l->clock_arg)->fake_now;
}

static uint64_t fake_idle(struct cf_lag *l)
{
	(void)l;
	return 0;
}

static void timer_cb(uv_timer_t *t)
{
	struct fix *f = t->data;

	f->fired++;
	if (f->real_sleep) {
		struct timespec ts = {(time_t)(f->block_ns / 1000000000ull),
				      (long)(f->block_ns % 1000000000ull)};
		while (nanosleep(&ts, &ts) != 0)
			;
	} else {
		f->fake_now += f->block_ns;
	}
	uv_close((uv_handle_t *)t, NULL);
}

/*
 * The timer is armed from a first callback (which runs before the probe's
 * first prepare): so it fires in a later iteration, once the probe has a
 * starting point.
 */
static void arm_cb(uv_timer_t *t)
{
	struct fix *f = t->data;

	uv_timer_start(&f->timer, timer_cb, f->timeout_ms, 0);
}

/* Run the loop until the timer fired and closed (bounded), then close. */
static void run(struct fix *f, uint64_t timeout_ms)
{
	uv_timer_init(&f->loop, &f->timer);
	f->timer.data = f;
	f->timeout_ms = timeout_ms;
	uv_timer_start(&f->timer, arm_cb, 0, 0);
	/* The timer keeps the loop alive; the probe's handles do not. */
	uv_run(&f->loop, UV_RUN_DEFAULT);
	/* The prepare after the callback, in the same turn, observed it. */
	assert_int_equal(f->fired, 1);
	cf_lag_close(&f->lag, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static unsigned bucket_of(const struct cf_lag *l, uint64_t *count)
{
	for (unsigned i = 0; i <= CF_LAG_BUCKETS; i++)
		if (l->counts[i] != 0 && i > 0) {
			*count = l->counts[i];
			return i;
		}
	*count = 0;
	return 0;
}

static void blocking_callback_lands_in_its_bucket(void **state)
{
	struct fix *f = calloc(1, sizeof *f);
	uint64_t count;

	(void)state;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->lag.now_ns = fake_now;
	f->lag.idle_ns = fake_idle;
	f->lag.clock_arg = f;
	f->fake_now = 1000 * MS;
	f->block_ns = 12 * MS; /* (10 ms, 20 ms]: bucket le=0.02 */
	assert_int_equal(cf_lag_start(&f->lag, &f->loop), 0);
	run(f, 1);
	/* Every other stretch took no (fake) time: bucket le=0.00025. */
	assert_true(f->lag.n >= 1);
	assert_int_equal(bucket_of(&f->lag, &count), 6);
	assert_true(cf_lag_bounds[6] == 0.02);
	assert_int_equal(count, 1);
	assert_int_equal(f->lag.counts[0], f->lag.n - 1);
	assert_int_equal(f->lag.max_ns, 12 * MS);
	assert_int_equal(f->lag.sum_ns, 12 * MS);
	free(f);
}

static void sleeping_callback_is_counted_and_waiting_is_not(void **state)
{
	struct fix *f = calloc(1, sizeof *f);
	uint64_t above = 0;

	(void)state;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(cf_lag_start(&f->lag, &f->loop), 0);
	f->real_sleep = true;
	f->block_ns = 30 * MS; /* blocked, not on the CPU: like an fsync */
	/* The loop waits about a second for the timer: idle, not lag. */
	run(f, 1000);
	assert_true(f->lag.max_ns >= 30 * MS);
	for (unsigned i = 7; i <= CF_LAG_BUCKETS; i++) /* above 20 ms */
		above += f->lag.counts[i];
	assert_true(above >= 1);
	/* The second of waiting is excluded (generous bound: a loaded box). */
	assert_true(f->lag.max_ns < 900 * MS);
	free(f);
}

static void metrics_render_the_histogram_and_max(void **state)
{
	struct cf_lag l;
	struct cf_buf b = CF_BUF_INIT;

	(void)state;
	memset(&l, 0, sizeof l);
	cf_lag_observe(&l, 100000);  /* 0.1 ms */
	cf_lag_observe(&l, 3 * MS);  /* 3 ms: le=0.005 */
	cf_lag_observe(&l, 300 * MS); /* 300 ms: +Inf */
	assert_int_equal(fe_metrics_render_loop_lag(&l, &b), 0);
	assert_int_equal(fe_metrics_render_loop_lag(NULL, &b), 0);
	assert_int_equal(cf_buf_append(&b, "", 1), 0);
	assert_non_null(strstr(b.data, "# TYPE confab_loop_lag_seconds "
				       "histogram\n"));
	assert_non_null(
		strstr(b.data, "confab_loop_lag_seconds_bucket{le=\"0.00025\"} 1\n"));
	assert_non_null(
		strstr(b.data, "confab_loop_lag_seconds_bucket{le=\"0.002\"} 1\n"));
	assert_non_null(
		strstr(b.data, "confab_loop_lag_seconds_bucket{le=\"0.005\"} 2\n"));
	assert_non_null(
		strstr(b.data, "confab_loop_lag_seconds_bucket{le=\"0.25\"} 2\n"));
	assert_non_null(
		strstr(b.data, "confab_loop_lag_seconds_bucket{le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(b.data, "confab_loop_lag_seconds_count 3\n"));
	assert_non_null(strstr(b.data, "confab_loop_lag_seconds_sum 0.303100\n"));
	assert_non_null(strstr(b.data, "confab_loop_lag_max_seconds 0.300000\n"));
	cf_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(blocking_callback_lands_in_its_bucket),
		cmocka_unit_test(sleeping_callback_is_counted_and_waiting_is_not),
		cmocka_unit_test(metrics_render_the_histogram_and_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
