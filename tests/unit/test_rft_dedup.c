#include "config.h"

/*
 * Unit tests of rft_dedup (the idempotency window) and rft_rec (the bodies
 * of FSM records). The window's read-back goes to a small in-memory world
 * of conversations (tests/lib/rft_dedup_world.h) that plays the store; the
 * window's section of the state image is tested in test_rft_dedup_image.
 */

#include <errno.h>
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

#include "../lib/rft_dedup_world.h"

/* --- hash hooks that force collisions --- */

static uint64_t hash_constant(struct cf_str conv, struct cf_str sender,
			      struct cf_str id)
{
	(void)conv;
	(void)sender;
	(void)id;
	return 0x1234;
}

static uint64_t hash_mod3(struct cf_str conv, struct cf_str sender,
			  struct cf_str id)
{
	return rft_dedup_hash(conv, sender, id) % 3;
}

static void key_parts_are_delimited(void **state)
{
	(void)state;
	assert_true(rft_dedup_hash(CF_STR_LIT("ab"), CF_STR_LIT("c"),
				   CF_STR_LIT("d")) !=
		    rft_dedup_hash(CF_STR_LIT("a"), CF_STR_LIT("bc"),
				   CF_STR_LIT("d")));
	assert_true(rft_dedup_hash(CF_STR_LIT("ab"), CF_STR_LIT("c"),
				   CF_STR_LIT("d")) ==
		    rft_dedup_hash(CF_STR_LIT("ab"), CF_STR_LIT("c"),
				   CF_STR_LIT("d")));
}

static void key_ages_out_after_24_hours_of_clock(void **state)
{
	struct world w;
	struct rft_dedup_val v;
	uint64_t first_id;

	(void)state;
	world_init(&w);
	assert_int_equal(wsend(&w, 0, 1, NULL), 0);
	first_id = w.c[0].v[0].msg_id;
	w.clock = T0 + DAY - 1;
	assert_int_equal(wsend(&w, 0, 1, &v), 1);
	assert_int_equal(v.seq, 1);
	assert_int_equal(v.message_id, first_id);
	assert_int_equal(v.server_ts, T0);
	assert_int_equal(wfind(&w, 0, 2, &v), 0);
	w.clock = T0 + DAY;
	assert_int_equal(wfind(&w, 0, 1, &v), 0);
	/* The word stays until its bucket is out, then a full expiry drops it. */
	assert_int_equal(rft_dedup_count(&w.d), 1);
	rft_dedup_expire(&w.d, w.clock + RFT_DEDUP_BUCKET_MS, SIZE_MAX);
	assert_int_equal(rft_dedup_count(&w.d), 0);
	assert_int_equal(w.d.nb, 0);
	world_release(&w);
}

static void reused_key_answers_with_the_new_message(void **state)
{
	struct world w;
	struct rft_dedup_val v;

	(void)state;
	world_init(&w);
	assert_int_equal(wsend(&w, 0, 1, NULL), 0);
	w.clock = T0 + DAY; /* aged out: the key is new again */
	assert_int_equal(wsend(&w, 0, 1, NULL), 0);
	assert_int_equal(rft_dedup_count(&w.d), 2); /* both words, same hash */
	w.clock += 10;
	assert_int_equal(wsend(&w, 0, 1, &v), 1);
	assert_int_equal(v.seq, 2);
	/* Popping the old word leaves the new answer. */
	w.clock = T0 + DAY + RFT_DEDUP_BUCKET_MS;
	rft_dedup_expire(&w.d, w.clock, SIZE_MAX);
	assert_int_equal(rft_dedup_count(&w.d), 1);
	assert_int_equal(wsend(&w, 0, 1, &v), 1);
	assert_int_equal(v.seq, 2);
	world_release(&w);
}

static void only_newest_100000_seqs_of_a_conversation_answer(void **state)
{
	struct world w;
	struct rft_dedup_val v;
	unsigned i;

	(void)state;
	world_init(&w);
	assert_int_equal(wsend(&w, 1, 0, NULL), 0);
	for (i = 1; i <= RFT_DEDUP_MAX_PER_CONV + 1; i++)
		assert_int_equal(wsend(&w, 0, i, NULL), 0);
	assert_int_equal(wfind(&w, 0, 1, &v), 0);
	assert_int_equal(wfind(&w, 0, 2, &v), 1);
	assert_int_equal(v.seq, 2);
	assert_int_equal(wfind(&w, 0, RFT_DEDUP_MAX_PER_CONV + 1, &v), 1);
	/* Another conversation's key is not pushed out. */
	assert_int_equal(wfind(&w, 1, 0, &v), 1);
	for (i = 2; i <= RFT_DEDUP_MAX_PER_CONV + 1; i += 997) {
		assert_int_equal(wfind(&w, 0, i, &v), 1);
		assert_int_equal(v.seq, i);
	}
	/* Past 2^20 seqs, the seq's low 20 bits still point right. */
	for (i = RFT_DEDUP_MAX_PER_CONV + 2; i <= (1u << 20) + 5; i++)
		assert_int_equal(wsend(&w, 0, i, NULL), 0);
	assert_int_equal(wfind(&w, 0, 3, &v), 0); /* seq 3 = 2^20 + 3 mod */
	assert_int_equal(wfind(&w, 0, (1u << 20) + 3, &v), 1);
	assert_int_equal(v.seq, (1u << 20) + 3);
	world_release(&w);
}

/*
 * Conversations whose keys age out at different times, repeated keys among
 * them: every find agrees with the rule computed by brute force, with the
 * real hash and with hooks that make every key collide.
 */
static void churn_matches_the_rule(rft_dedup_hash_fn hash, unsigned keys)
{
	enum { CONVS = 8 };
	struct world w;
	unsigned i, k;

	world_init(&w);
	if (hash != NULL)
		w.d.hash = hash;
	srand(7);
	for (i = 0; i < keys; i++) {
		unsigned ci = (unsigned)rand() % CONVS;
		unsigned key = (unsigned)rand() % (keys / 2);
		struct rft_dedup_val v;
		uint64_t seq;
		int dup;

		w.clock += (uint64_t)(rand() % 60) * 1000 * 60; /* up to 1 h */
		dup = model_find(&w, ci, key, &seq);
		assert_int_equal(wsend(&w, ci, key, &v), dup);
		if (dup)
			assert_int_equal(v.seq, seq);
		if (i % 5 == 0)
			rft_dedup_expire(&w.d, w.clock, 3);
		if (i % 97 != 0)
			continue;
		for (k = 0; k < keys / 2; k += 3)
			for (ci = 0; ci < CONVS; ci++) {
				dup = model_find(&w, ci, k, &seq);
				assert_int_equal(wfind(&w, ci, k, &v), dup);
				if (dup)
					assert_int_equal(v.seq, seq);
			}
	}
	world_release(&w);
}

static void window_matches_the_rule_under_churn(void **state)
{
	(void)state;
	churn_matches_the_rule(NULL, 6000);
}

static void colliding_hashes_are_never_false_duplicates(void **state)
{
	struct world w;
	struct rft_dedup_val v;
	unsigned reads;

	(void)state;
	churn_matches_the_rule(hash_mod3, 1500);
	churn_matches_the_rule(hash_constant, 600);

	/* Every key hashes alike: a new key reads candidates, is still new. */
	world_init(&w);
	w.d.hash = hash_constant;
	assert_int_equal(wsend(&w, 0, 1, NULL), 0);
	assert_int_equal(wsend(&w, 0, 2, NULL), 0);
	assert_int_equal(wsend(&w, 1, 1, NULL), 0); /* same id, other conv */
	reads = w.reads;
	assert_int_equal(wfind(&w, 0, 3, &v), 0);
	assert_true(w.reads > reads);
	assert_int_equal(wfind(&w, 0, 2, &v), 1);
	assert_int_equal(v.seq, 2);
	assert_int_equal(wfind(&w, 1, 1, &v), 1);
	assert_int_equal(v.seq, 1);
	/* A read error reaches the caller. */
	w.fail_reads = 1;
	{
		struct rft_dedup_key k = wkey(&w, 0, 2);

		assert_int_equal(rft_dedup_find(&w.d, &k, w.c[0].n, w.clock,
						wread, &w, &v),
				 -EIO);
	}
	world_release(&w);
}

/* Without a collision, a miss reads nothing (the usual send). */
static void a_new_key_reads_nothing(void **state)
{
	struct world w;
	struct rft_dedup_val v;
	unsigned i;

	(void)state;
	world_init(&w);
	for (i = 0; i < 50000; i++)
		assert_int_equal(wsend(&w, i % WCONVS, i, NULL), 0);
	assert_int_equal(w.reads, 0);
	assert_int_equal(wsend(&w, 5, 5, &v), 1);
	assert_int_equal(w.reads, 1);
	world_release(&w);
}

static int pair_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Sorted (bucket, word) pairs of a window. */
static uint64_t *words_of(const struct rft_dedup *d, size_t *n)
{
	struct rft_dedup_it it = {0};
	uint64_t *v = malloc((2 * rft_dedup_count(d) + 2) * sizeof(*v));
	uint64_t word, bucket;
	size_t i = 0;

	assert_non_null(v);
	while (rft_dedup_next(d, &it, &word, &bucket)) {
		assert_true(i < 2 * rft_dedup_count(d));
		v[i++] = bucket;
		v[i++] = word;
	}
	assert_int_equal(i, 2 * rft_dedup_count(d));
	qsort(v, i / 2, 2 * sizeof(*v), pair_cmp);
	*n = i;
	return v;
}

/*
 * The window rebuilt from the records, read conversation by conversation
 * (as cold files group them), holds the same words as the live one once
 * both expired at the same clock, and answers alike.
 */
static void rebuild_in_any_order_equals_live(void **state)
{
	struct world w;
	struct rft_dedup rb;
	uint64_t *a, *b, clock = 0;
	size_t na, nb;
	unsigned i, ci;

	(void)state;
	world_init(&w);
	srand(3);
	for (i = 0; i < 40000; i++) {
		w.clock += (uint64_t)(rand() % 12) * 1000; /* 2 days in all */
		wsend(&w, (unsigned)rand() % WCONVS,
		      (unsigned)rand() % 30000, NULL);
		if (i % 10 == 0)
			rft_dedup_expire(&w.d, w.clock, 64);
	}
	rft_dedup_init(&rb);
	for (ci = 0; ci < WCONVS; ci++) {
		struct wconv *c = &w.c[(ci * 7) % WCONVS];

		for (i = 0; i < c->n; i++) {
			struct rft_dedup_key k;
			char id[16];

			snprintf(id, sizeof(id), "k%u", c->v[i].key);
			k = wkey(&w, (ci * 7) % WCONVS, c->v[i].key);
			if (c->v[i].ts > clock)
				clock = c->v[i].ts;
			assert_int_equal(
				rft_dedup_add(&rb, &k, i + 1, c->v[i].ts, clock),
				0);
		}
	}
	assert_int_equal(clock, w.clock);
	rft_dedup_expire(&rb, clock, SIZE_MAX);
	rft_dedup_expire(&w.d, clock, SIZE_MAX);
	assert_true(rft_dedup_count(&w.d) > 10000);
	assert_int_equal(rft_dedup_count(&rb), rft_dedup_count(&w.d));
	a = words_of(&w.d, &na);
	b = words_of(&rb, &nb);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na * sizeof(*a));
	free(a);
	free(b);
	/* And the rebuilt one answers as the live one does. */
	for (i = 0; i < 30000; i += 11)
		for (ci = 0; ci < WCONVS; ci += 5) {
			struct rft_dedup_val v1, v2;
			struct rft_dedup_key k = wkey(&w, ci, i);
			int r1 = rft_dedup_find(&w.d, &k, w.c[ci].n, clock,
						wread, &w, &v1);
			int r2 = rft_dedup_find(&rb, &k, w.c[ci].n, clock,
						wread, &w, &v2);

			assert_int_equal(r1, r2);
			if (r1 == 1)
				assert_memory_equal(&v1, &v2, sizeof(v1));
		}
	rft_dedup_release(&rb);
	world_release(&w);
}

/*
 * Memory per key (issue 11: it was 117-146 bytes): 8 bytes of word plus
 * the table's 5-byte slots (reference and tag), about 18 bytes between
 * resizes and at most 28 while both tables are held. Every byte is in
 * rft_dedup_bytes.
 */
static void memory_per_key_is_a_few_bytes(void **state)
{
	enum { N = 1000000 };
	struct world w;
	double worst = 0, sum = 0;
	unsigned i, samples = 0;

	(void)state;
	world_init(&w);
	for (i = 0; i < N; i++) {
		struct rft_dedup_key k = wkey(&w, 0, i);

		if (i % 1000 == 0)
			w.clock += 1000; /* 1000 keys a second */
		assert_int_equal(
			rft_dedup_add(&w.d, &k, i + 1, w.clock, w.clock), 0);
		if (i >= 100000 && i % 97 == 0) {
			double per = (double)rft_dedup_bytes(&w.d) /
				     (double)rft_dedup_count(&w.d);

			if (per > worst)
				worst = per;
			sum += per;
			samples++;
		}
	}
	print_message("dedup: %.1f bytes per key on average, %.1f at worst\n",
		      sum / samples, worst);
	assert_true(sum / samples <= 22.0);
	assert_true(worst <= 30.0);
	/* The accounting covers the chunks: 8 bytes a word at least. */
	assert_true(rft_dedup_bytes(&w.d) >= (size_t)N * 8 + w.d.cap * 5);
	/* After the window, everything leaves, a bounded amount per call. */
	w.clock += DAY + RFT_DEDUP_BUCKET_MS;
	rft_dedup_expire(&w.d, w.clock, 1000);
	assert_int_equal(rft_dedup_count(&w.d), N - 1000);
	rft_dedup_expire(&w.d, w.clock, SIZE_MAX);
	assert_int_equal(rft_dedup_count(&w.d), 0);
	assert_true(rft_dedup_bytes(&w.d) <= w.d.cap * 5 + 64 * 1024);
	world_release(&w);
}

/* The add that passes 3/4 starts a resize instead of rehashing (issue 11). */
static void table_grows_by_bounded_steps(void **state)
{
	struct world w;
	unsigned i, resizes = 0, checked = 0;

	(void)state;
	world_init(&w);
	for (i = 0; i < 300000; i++) {
		int was = w.d.old != NULL;
		size_t done = w.d.old_done, old_cap = w.d.old_cap;

		assert_int_equal(wsend(&w, i % WCONVS, i, NULL), 0);
		if (w.d.old != NULL && !was) {
			size_t j, moved = 0;

			resizes++;
			for (j = 0; j < w.d.cap; j++)
				moved += w.d.slots[j] != 0;
			assert_true(moved <= 1 + RFT_DEDUP_STEP);
		} else if (w.d.old != NULL && w.d.old_cap == old_cap) {
			assert_true(w.d.old_done - done <= RFT_DEDUP_STEP);
		}
		/* Mid-resize, every key is found in one table or the other. */
		if (w.d.old != NULL && i % 101 == 0) {
			struct rft_dedup_val v;
			unsigned j;

			checked++;
			for (j = 0; j <= i; j += 13) {
				assert_int_equal(wfind(&w, j % WCONVS, j, &v), 1);
				assert_int_equal(v.seq, j / WCONVS + 1);
			}
		}
	}
	assert_true(resizes >= 10);
	assert_true(checked > 0);
	world_release(&w);
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
		cmocka_unit_test(reused_key_answers_with_the_new_message),
		cmocka_unit_test(only_newest_100000_seqs_of_a_conversation_answer),
		cmocka_unit_test(window_matches_the_rule_under_churn),
		cmocka_unit_test(colliding_hashes_are_never_false_duplicates),
		cmocka_unit_test(a_new_key_reads_nothing),
		cmocka_unit_test(rebuild_in_any_order_equals_live),
		cmocka_unit_test(memory_per_key_is_a_few_bytes),
		cmocka_unit_test(table_grows_by_bounded_steps),
		cmocka_unit_test(record_bodies_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
