#include "config.h"

/*
 * Unit tests of rft_dedup (the idempotency window) and rft_rec (the bodies
 * of FSM records).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "raft/rft_cmd.h"
#include "raft/rft_dedup.h"
#include "raft/rft_rec.h"

#define T0 1771900000000ull

static struct rft_dedup_key key_n(const char *conv, unsigned n)
{
	char id[24];

	snprintf(id, sizeof(id), "k%u", n);
	return rft_dedup_key(cf_str_c(conv), CF_STR_LIT("alice"),
			     cf_str_c(id));
}

static struct rft_dedup_val val(uint64_t seq, uint64_t ts)
{
	struct rft_dedup_val v = {seq, seq * 65536, ts};

	return v;
}

static void key_parts_are_delimited(void **state)
{
	struct rft_dedup_key a, b;

	(void)state;
	a = rft_dedup_key(CF_STR_LIT("ab"), CF_STR_LIT("c"), CF_STR_LIT("d"));
	b = rft_dedup_key(CF_STR_LIT("a"), CF_STR_LIT("bc"), CF_STR_LIT("d"));
	assert_false(a.h1 == b.h1 && a.h2 == b.h2);
	b = rft_dedup_key(CF_STR_LIT("ab"), CF_STR_LIT("c"), CF_STR_LIT("d"));
	assert_true(a.h1 == b.h1 && a.h2 == b.h2);
}

static void key_ages_out_after_24_hours_of_clock(void **state)
{
	struct rft_dedup d;
	struct rft_dedup_fifo q = {0};
	struct rft_dedup_val v = val(1, T0);
	const struct rft_dedup_val *hit;

	(void)state;
	rft_dedup_init(&d);
	assert_int_equal(rft_dedup_add(&d, &q, key_n("c", 1), &v), 0);
	hit = rft_dedup_find(&d, &q, key_n("c", 1), T0 + RFT_DEDUP_WINDOW_MS - 1);
	assert_non_null(hit);
	assert_int_equal(hit->seq, 1);
	assert_int_equal(hit->message_id, 65536);
	assert_int_equal(hit->server_ts, T0);
	assert_null(rft_dedup_find(&d, &q, key_n("c", 2), T0));
	assert_null(rft_dedup_find(&d, &q, key_n("c", 1),
				   T0 + RFT_DEDUP_WINDOW_MS));
	/* The find dropped it from memory too. */
	assert_int_equal(rft_dedup_count(&d), 0);
	assert_int_equal(q.n, 0);
	rft_dedup_fifo_release(&q);
	rft_dedup_release(&d);
}

static void reused_key_is_not_dropped_with_its_old_twin(void **state)
{
	struct rft_dedup d;
	struct rft_dedup_fifo q = {0};
	struct rft_dedup_val v1 = val(1, T0), v2 = val(2, T0 + 10);
	const struct rft_dedup_val *hit;

	(void)state;
	rft_dedup_init(&d);
	assert_int_equal(rft_dedup_add(&d, &q, key_n("c", 1), &v1), 0);
	/* Not yet purged (no find), then added again after aging out. */
	assert_int_equal(rft_dedup_add(&d, &q, key_n("c", 1), &v2), 0);
	assert_int_equal(rft_dedup_count(&d), 1);
	assert_int_equal(q.n, 2);
	/* Purging the old twin must leave the new answer. */
	hit = rft_dedup_find(&d, &q, key_n("c", 1), T0 + RFT_DEDUP_WINDOW_MS);
	assert_non_null(hit);
	assert_int_equal(hit->seq, 2);
	assert_int_equal(q.n, 1);
	rft_dedup_fifo_release(&q);
	rft_dedup_release(&d);
}

static void only_newest_100000_keys_of_a_conversation_stay(void **state)
{
	struct rft_dedup d;
	struct rft_dedup_fifo q = {0}, other = {0};
	struct rft_dedup_val v;
	unsigned i;

	(void)state;
	rft_dedup_init(&d);
	v = val(1, T0);
	assert_int_equal(rft_dedup_add(&d, &other, key_n("o", 0), &v), 0);
	for (i = 1; i <= RFT_DEDUP_MAX_PER_CONV + 1; i++) {
		v = val(i, T0);
		assert_int_equal(rft_dedup_add(&d, &q, key_n("c", i), &v), 0);
	}
	assert_int_equal(q.n, RFT_DEDUP_MAX_PER_CONV);
	assert_null(rft_dedup_find(&d, &q, key_n("c", 1), T0));
	assert_non_null(rft_dedup_find(&d, &q, key_n("c", 2), T0));
	assert_non_null(rft_dedup_find(&d, &q,
				       key_n("c", RFT_DEDUP_MAX_PER_CONV + 1),
				       T0));
	/* Another conversation's key is not pushed out. */
	assert_non_null(rft_dedup_find(&d, &other, key_n("o", 0), T0));
	assert_int_equal(rft_dedup_count(&d), RFT_DEDUP_MAX_PER_CONV + 1);
	for (i = 2; i <= RFT_DEDUP_MAX_PER_CONV + 1; i += 997)
		assert_int_equal(
			rft_dedup_find(&d, &q, key_n("c", i), T0)->seq, i);
	rft_dedup_fifo_release(&q);
	rft_dedup_fifo_release(&other);
	rft_dedup_release(&d);
}

/*
 * Many conversations whose keys age out at different times: every find
 * agrees with a plain model (a key is in iff its ts is within the window),
 * which exercises deletion from the middle of probe clusters.
 */
static void window_matches_a_model_under_churn(void **state)
{
	enum { CONVS = 8, KEYS = 6000 };
	struct rft_dedup d;
	struct rft_dedup_fifo q[CONVS];
	uint64_t ts[KEYS];
	uint64_t clock = T0;
	unsigned i, k;
	char conv[8];

	(void)state;
	rft_dedup_init(&d);
	memset(q, 0, sizeof(q));
	srand(7);
	for (i = 0; i < KEYS; i++) {
		struct rft_dedup_val v;

		clock += (uint64_t)(rand() % 60) * 1000 * 60; /* up to 1 h */
		ts[i] = clock;
		v = val(i + 1, clock);
		snprintf(conv, sizeof(conv), "c%u", i % CONVS);
		assert_null(rft_dedup_find(&d, &q[i % CONVS], key_n(conv, i),
					   clock));
		assert_int_equal(
			rft_dedup_add(&d, &q[i % CONVS], key_n(conv, i), &v),
			0);
		if (i % 97 != 0)
			continue;
		for (k = 0; k <= i; k++) {
			const struct rft_dedup_val *hit;

			snprintf(conv, sizeof(conv), "c%u", k % CONVS);
			hit = rft_dedup_find(&d, &q[k % CONVS], key_n(conv, k),
					     clock);
			if (clock - ts[k] < RFT_DEDUP_WINDOW_MS) {
				assert_non_null(hit);
				assert_int_equal(hit->seq, k + 1);
			} else {
				assert_null(hit);
			}
		}
	}
	for (i = 0; i < CONVS; i++)
		rft_dedup_fifo_release(&q[i]);
	rft_dedup_release(&d);
}

static void record_bodies_round_trip(void **state)
{
	struct cf_buf b = CF_BUF_INIT;
	struct cf_str ids[3] = {CF_STR_LIT("alice"), CF_STR_LIT("bob"),
				CF_STR_LIT("carol")};
	struct rft_rec_conv c;
	struct rft_rec_members m;
	struct rft_rec_receipt r = {9, 4}, r2;
	struct log_record rec;
	struct cf_str content, att, id;
	size_t pos = 0;
	uint8_t flags;

	(void)state;
	assert_int_equal(rft_rec_conv_encode(&b, RFT_CONV_GROUP, ids[0],
					     CF_STR_LIT("Trip"), ids, 3),
			 0);
	assert_int_equal(
		rft_rec_conv_decode((struct cf_str){b.data, b.len}, &c), 0);
	assert_int_equal(c.type, RFT_CONV_GROUP);
	assert_true(cf_str_eqc(c.owner, "alice"));
	assert_true(cf_str_eqc(c.title, "Trip"));
	assert_int_equal(rft_idlist_count(c.members), 3);
	assert_true(rft_idlist_next(c.members, &pos, &id));
	assert_true(cf_str_eqc(id, "alice"));
	assert_int_equal(
		rft_rec_conv_decode((struct cf_str){b.data, b.len - 1}, &c),
		CF_ECORRUPT);

	b.len = 0;
	assert_int_equal(rft_rec_members_encode(&b, ids + 2, 1, ids, 2), 0);
	assert_int_equal(
		rft_rec_members_decode((struct cf_str){b.data, b.len}, &m), 0);
	assert_int_equal(rft_idlist_count(m.added), 1);
	assert_int_equal(rft_idlist_count(m.removed), 2);

	b.len = 0;
	assert_int_equal(rft_rec_receipt_encode(&b, &r), 0);
	assert_int_equal(
		rft_rec_receipt_decode((struct cf_str){b.data, b.len}, &r2), 0);
	assert_int_equal(r2.delivered, 9);
	assert_int_equal(r2.read, 4);

	/* A message with and without an attachment. */
	b.len = 0;
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(rft_rec_message_encode(&b, CF_STR_LIT("a cat"),
						CF_STR_LIT("{\"mediaId\":1}"),
						&flags),
			 0);
	assert_int_equal(flags, RFT_REC_MSG_ATTACH);
	rec.flags = flags;
	rec.body = (struct cf_str){b.data, b.len};
	assert_int_equal(rft_rec_message_split(&rec, &content, &att), 0);
	assert_true(cf_str_eqc(content, "a cat"));
	assert_true(cf_str_eqc(att, "{\"mediaId\":1}"));
	b.len = 0;
	assert_int_equal(rft_rec_message_encode(&b, CF_STR_LIT("plain"),
						CF_STR_LIT(""), &flags),
			 0);
	assert_int_equal(flags, 0);
	rec.flags = flags;
	rec.body = (struct cf_str){b.data, b.len};
	assert_int_equal(rft_rec_message_split(&rec, &content, &att), 0);
	assert_true(cf_str_eqc(content, "plain"));
	assert_int_equal(att.len, 0);
	rec.flags = RFT_REC_MSG_ATTACH; /* "plain" read as a length: too long */
	assert_int_equal(rft_rec_message_split(&rec, &content, &att),
			 CF_ECORRUPT);
	cf_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(key_parts_are_delimited),
		cmocka_unit_test(key_ages_out_after_24_hours_of_clock),
		cmocka_unit_test(reused_key_is_not_dropped_with_its_old_twin),
		cmocka_unit_test(only_newest_100000_keys_of_a_conversation_stay),
		cmocka_unit_test(window_matches_a_model_under_churn),
		cmocka_unit_test(record_bodies_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
