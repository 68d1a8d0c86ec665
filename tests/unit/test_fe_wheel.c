#include "config.h"

/*
 * fe_wheel (issue 11): deadlines fire once, never early and at most one tick
 * late; moving one later costs no list operation and still fires at the new
 * time; moving one earlier, cancelling, deadlines beyond the wheel's span,
 * and a loop that stalled for longer than a turn.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "frontend/fe_wheel.h"

#define T FE_WHEEL_TICK_MS
#define BASE 1000000u /* any start time */

struct probe {
	struct fe_wheel_entry e;
	uint64_t fired_at; /* 0: not fired */
	unsigned fires;
};

static uint64_t now_ms;

static void on_fire(struct fe_wheel_entry *e, void *arg)
{
	struct probe *p = CF_CONTAINER_OF(e, struct probe, e);

	(void)arg;
	assert_false(fe_wheel_armed(e));
	p->fired_at = now_ms;
	p->fires++;
}

/* Advance in steps of step_ms up to until_ms. */
static void run(struct fe_wheel *w, uint64_t until_ms, uint64_t step_ms)
{
	while (now_ms < until_ms) {
		now_ms += step_ms;
		fe_wheel_advance(w, now_ms, on_fire, NULL);
	}
}

static void probe_init(struct probe *p)
{
	fe_wheel_entry_init(&p->e);
	p->fired_at = 0;
	p->fires = 0;
}

static void fires_once_not_early_at_most_a_tick_late(void **state)
{
	struct fe_wheel w;
	struct probe p[5];
	const uint64_t due[5] = {1, 999, 1000, 12345, 120000};

	(void)state;
	now_ms = BASE;
	fe_wheel_init(&w, now_ms);
	for (int i = 0; i < 5; i++) {
		probe_init(&p[i]);
		fe_wheel_set(&w, &p[i].e, BASE + due[i]);
	}
	run(&w, BASE + 130000, 10);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(p[i].fires, 1);
		assert_true(p[i].fired_at >= BASE + due[i]);
		assert_true(p[i].fired_at <= BASE + due[i] + T + 10);
	}
}

static void moved_later_fires_at_the_new_time(void **state)
{
	struct fe_wheel w;
	struct probe p;

	(void)state;
	now_ms = BASE;
	fe_wheel_init(&w, now_ms);
	probe_init(&p);
	fe_wheel_set(&w, &p.e, BASE + 1000);
	run(&w, BASE + 900, 10);
	fe_wheel_set(&w, &p.e, BASE + 5000); /* activity */
	run(&w, BASE + 4990, 10);
	assert_int_equal(p.fires, 0);
	run(&w, BASE + 6000, 10);
	assert_int_equal(p.fires, 1);
	assert_true(p.fired_at >= BASE + 5000 && p.fired_at <= BASE + 5000 + T + 10);
}

static void moved_earlier_and_cancelled(void **state)
{
	struct fe_wheel w;
	struct probe a, b;

	(void)state;
	now_ms = BASE;
	fe_wheel_init(&w, now_ms);
	probe_init(&a);
	probe_init(&b);
	fe_wheel_set(&w, &a.e, BASE + 100000);
	fe_wheel_set(&w, &a.e, BASE + 2000);
	fe_wheel_set(&w, &b.e, BASE + 1000);
	fe_wheel_cancel(&b.e);
	assert_false(fe_wheel_armed(&b.e));
	run(&w, BASE + 3000, 10);
	assert_int_equal(a.fires, 1);
	assert_true(a.fired_at >= BASE + 2000 && a.fired_at <= BASE + 2000 + T + 10);
	assert_int_equal(b.fires, 0);
	/* a past deadline fires at the next advance */
	fe_wheel_set(&w, &b.e, now_ms - 500);
	run(&w, now_ms + T, T);
	assert_int_equal(b.fires, 1);
}

static void beyond_the_span_and_after_a_stall(void **state)
{
	struct fe_wheel w;
	struct probe far, near;
	uint64_t span = (uint64_t)FE_WHEEL_SLOTS * T;

	(void)state;
	now_ms = BASE;
	fe_wheel_init(&w, now_ms);
	probe_init(&far);
	probe_init(&near);
	fe_wheel_set(&w, &far.e, BASE + 3 * span + 777);
	fe_wheel_set(&w, &near.e, BASE + 500);
	/* the loop stalls for more than a turn: one advance catches up */
	now_ms = BASE + span + 5 * T;
	fe_wheel_advance(&w, now_ms, on_fire, NULL);
	assert_int_equal(near.fires, 1);
	assert_int_equal(far.fires, 0);
	run(&w, BASE + 3 * span + 700, 50);
	assert_int_equal(far.fires, 0);
	run(&w, BASE + 3 * span + 2000, 50);
	assert_int_equal(far.fires, 1);
	assert_true(far.fired_at >= BASE + 3 * span + 777);
	assert_true(far.fired_at <= BASE + 3 * span + 777 + T + 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fires_once_not_early_at_most_a_tick_late),
		cmocka_unit_test(moved_later_fires_at_the_new_time),
		cmocka_unit_test(moved_earlier_and_cancelled),
		cmocka_unit_test(beyond_the_span_and_after_a_stall),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
