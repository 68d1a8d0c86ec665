#include "config.h"

/* fe_rate: per-user token buckets, driven with explicit times. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "frontend/fe_rate.h"

#define S 1000000000ull

static void burst_passes_then_the_rate_refuses(void **state)
{
	struct fe_rate r;
	unsigned retry = 0;

	(void)state;
	fe_rate_init(&r, 5, 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(fe_rate_take(&r, "alice", 1 * S, &retry), 0);
	assert_int_equal(fe_rate_take(&r, "alice", 1 * S, &retry), CF_ERATE);
	assert_int_equal(retry, 1);
	fe_rate_release(&r);
}

static void tokens_refill_at_the_rate_up_to_the_burst(void **state)
{
	struct fe_rate r;
	unsigned retry;
	int ok = 0;

	(void)state;
	fe_rate_init(&r, 5, 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(fe_rate_take(&r, "alice", 1 * S, &retry), 0);
	/* 0.4 s later: 2 tokens. */
	while (fe_rate_take(&r, "alice", 1 * S + 4 * S / 10, &retry) == 0)
		ok++;
	assert_int_equal(ok, 2);
	/* An hour later: only the burst. */
	ok = 0;
	while (fe_rate_take(&r, "alice", 3601 * S, &retry) == 0)
		ok++;
	assert_int_equal(ok, 10);
	fe_rate_release(&r);
}

static void users_have_their_own_buckets(void **state)
{
	struct fe_rate r;
	unsigned retry;

	(void)state;
	fe_rate_init(&r, 1, 1);
	assert_int_equal(fe_rate_take(&r, "alice", S, &retry), 0);
	assert_int_equal(fe_rate_take(&r, "alice", S, &retry), CF_ERATE);
	assert_int_equal(fe_rate_take(&r, "bob", S, &retry), 0);
	fe_rate_release(&r);
}

static void full_buckets_are_swept_when_the_table_grows(void **state)
{
	struct fe_rate r;
	unsigned retry;
	char user[32];

	(void)state;
	fe_rate_init(&r, 1, 2);
	for (int i = 0; i < FE_RATE_SWEEP; i++) {
		snprintf(user, sizeof user, "u%d", i);
		assert_int_equal(fe_rate_take(&r, user, S, &retry), 0);
	}
	/* A busy user keeps its state across the sweep. */
	assert_int_equal(fe_rate_take(&r, "u0", S, &retry), 0);
	assert_int_equal(fe_rate_take(&r, "u0", S, &retry), CF_ERATE);
	assert_int_equal(r.users.n, FE_RATE_SWEEP);
	/* 10 s later every bucket is full again: all are dropped. */
	assert_int_equal(fe_rate_take(&r, "new", 11 * S, &retry), 0);
	assert_int_equal(r.users.n, 1);
	fe_rate_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(burst_passes_then_the_rate_refuses),
		cmocka_unit_test(tokens_refill_at_the_rate_up_to_the_burst),
		cmocka_unit_test(users_have_their_own_buckets),
		cmocka_unit_test(full_buckets_are_swept_when_the_table_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
