#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "log/log_index.h"

/* A made-up but checkable location for (conversation k, seq). */
static uint32_t where_off(unsigned k, uint64_t seq)
{
	return (uint32_t)(k * 1000003u + seq * 97u);
}

static uint32_t where_seg(uint64_t seq)
{
	return (uint32_t)(1 + seq / 500);
}

static void conv_name(char *buf, unsigned k)
{
	snprintf(buf, 32, "conv-%u", k);
}

static void many_conversations_find_every_message(void **state)
{
	struct log_index ix;
	char name[32];
	const unsigned nconv = 2000;
	const uint64_t nmsg = 40;

	(void)state;
	log_index_init(&ix);
	/* Interleaved, as apply sees them. */
	for (uint64_t seq = 1; seq <= nmsg; seq++) {
		for (unsigned k = 0; k < nconv; k++) {
			conv_name(name, k);
			assert_int_equal(log_index_add(&ix, cf_str_c(name), seq,
						       where_seg(seq * 20),
						       where_off(k, seq), NULL),
					 0);
		}
	}
	assert_int_equal(log_index_count(&ix), nconv);
	assert_true(ix.messages == nconv * nmsg);
	for (unsigned k = 0; k < nconv; k++) {
		conv_name(name, k);
		assert_true(log_index_last_seq(&ix, cf_str_c(name)) == nmsg);
		assert_true(log_index_first_seq(&ix, cf_str_c(name)) == 1);
		for (uint64_t seq = 1; seq <= nmsg; seq++) {
			uint32_t segno;
			uint32_t off;
			assert_int_equal(log_index_find(&ix, cf_str_c(name),
							seq, &segno, &off),
					 0);
			assert_int_equal(segno, where_seg(seq * 20));
			assert_int_equal(off, where_off(k, seq));
		}
	}
	log_index_release(&ix);
}

static void unknown_conversation_and_seq_are_not_found(void **state)
{
	struct log_index ix;
	uint32_t segno;
	uint32_t off;

	(void)state;
	log_index_init(&ix);
	assert_int_equal(log_index_find(&ix, CF_STR_LIT("x"), 1, &segno, &off),
			 CF_ENOTFOUND);
	assert_true(log_index_last_seq(&ix, CF_STR_LIT("x")) == 0);
	assert_int_equal(log_index_add(&ix, CF_STR_LIT("x"), 5, 1, 100, NULL),
			 0);
	assert_int_equal(log_index_find(&ix, CF_STR_LIT("x"), 4, &segno, &off),
			 CF_ENOTFOUND);
	assert_int_equal(log_index_find(&ix, CF_STR_LIT("x"), 6, &segno, &off),
			 CF_ENOTFOUND);
	assert_int_equal(log_index_find(&ix, CF_STR_LIT("x"), 0, &segno, &off),
			 CF_ENOTFOUND);
	assert_int_equal(log_index_find(&ix, CF_STR_LIT("x"), 5, &segno, &off),
			 0);
	assert_int_equal(off, 100);
	log_index_release(&ix);
}

static void seq_must_grow(void **state)
{
	struct log_index ix;

	(void)state;
	log_index_init(&ix);
	assert_int_equal(log_index_add(&ix, CF_STR_LIT("x"), 0, 1, 1, NULL),
			 CF_EBADREQ);
	assert_int_equal(log_index_count(&ix), 0);
	assert_int_equal(log_index_add(&ix, CF_STR_LIT("x"), 3, 1, 1, NULL),
			 0);
	assert_int_equal(log_index_add(&ix, CF_STR_LIT("x"), 3, 1, 2, NULL),
			 CF_EBADREQ);
	assert_int_equal(log_index_add(&ix, CF_STR_LIT("x"), 2, 1, 2, NULL),
			 CF_EBADREQ);
	assert_true(log_index_last_seq(&ix, CF_STR_LIT("x")) == 3);
	assert_true(ix.messages == 1);
	log_index_release(&ix);
}

static void gaps_and_segment_changes_start_runs(void **state)
{
	struct log_index ix;
	uint64_t seqs[] = {1, 2, 3, 10, 11, 12, 13, 100, 101, 1000};
	uint32_t segs[] = {1, 1, 1, 1, 2, 2, 3, 3, 3, 7};
	uint32_t segno;
	uint32_t off;

	(void)state;
	log_index_init(&ix);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(log_index_add(&ix, CF_STR_LIT("g"), seqs[i],
					       segs[i], (uint32_t)(i * 10),
					       NULL),
				 0);
	for (size_t i = 0; i < 10; i++) {
		assert_int_equal(log_index_find(&ix, CF_STR_LIT("g"), seqs[i],
						&segno, &off),
				 0);
		assert_int_equal(segno, segs[i]);
		assert_int_equal(off, i * 10);
	}
	for (uint64_t s = 1; s <= 1001; s++) {
		int known = 0;
		for (size_t i = 0; i < 10; i++)
			known |= seqs[i] == s;
		assert_int_equal(log_index_find(&ix, CF_STR_LIT("g"), s,
						&segno, &off),
				 known ? 0 : CF_ENOTFOUND);
	}
	log_index_release(&ix);
}

static void pop_undoes_adds_newest_first(void **state)
{
	struct log_index ix;
	struct log_iconv *undo[8];
	uint32_t segno;
	uint32_t off;
	uint64_t bytes_before;

	(void)state;
	log_index_init(&ix);
	assert_int_equal(log_index_add(&ix, CF_STR_LIT("a"), 1, 1, 10, NULL),
			 0);
	bytes_before = ix.bytes;
	assert_int_equal(log_index_add(&ix, CF_STR_LIT("a"), 2, 2, 20, &undo[0]),
			 0);
	assert_int_equal(log_index_add(&ix, CF_STR_LIT("b"), 1, 2, 30, &undo[1]),
			 0);
	assert_int_equal(log_index_add(&ix, CF_STR_LIT("a"), 3, 2, 40, &undo[2]),
			 0);
	assert_int_equal(log_index_count(&ix), 2);
	for (int i = 2; i >= 0; i--)
		log_index_pop(&ix, undo[i]);
	assert_int_equal(log_index_count(&ix), 1);
	assert_true(log_index_last_seq(&ix, CF_STR_LIT("a")) == 1);
	assert_true(log_index_last_seq(&ix, CF_STR_LIT("b")) == 0);
	assert_int_equal(log_index_find(&ix, CF_STR_LIT("a"), 2, &segno, &off),
			 CF_ENOTFOUND);
	assert_int_equal(log_index_find(&ix, CF_STR_LIT("a"), 1, &segno, &off),
			 0);
	assert_true(ix.messages == 1);
	/* Memory held returns to what it was, apart from map slots. */
	assert_true(ix.bytes <= bytes_before + 16 * sizeof(struct cf_map_slot));
	/* And the same seqs go in again. */
	assert_int_equal(log_index_add(&ix, CF_STR_LIT("a"), 2, 2, 21, NULL),
			 0);
	assert_int_equal(log_index_find(&ix, CF_STR_LIT("a"), 2, &segno, &off),
			 0);
	assert_int_equal(off, 21);
	log_index_release(&ix);
}

static void memory_is_a_few_bytes_per_message(void **state)
{
	struct log_index ix;
	char name[32];
	const unsigned nconv = 50;
	const uint64_t nmsg = 20000;
	double per_msg;

	(void)state;
	log_index_init(&ix);
	for (uint64_t seq = 1; seq <= nmsg; seq++) {
		for (unsigned k = 0; k < nconv; k++) {
			conv_name(name, k);
			/* A new segment every 100,000 records overall. */
			assert_int_equal(
				log_index_add(&ix, cf_str_c(name), seq,
					      where_seg(seq / 4),
					      where_off(k, seq), NULL),
				0);
		}
	}
	per_msg = (double)ix.bytes / (double)ix.messages;
	print_message("index: %.2f bytes per message\n", per_msg);
	assert_true(per_msg >= 4.0);
	assert_true(per_msg <= 6.0);
	log_index_release(&ix);
	assert_true(ix.bytes == 0);
}

/*
 * Cold runs (issue 11): messages of a cold file cost a run per
 * conversation, not 4 bytes each; finds name the cold file's segno with
 * offset 0; a hot message after them starts a run of its own; pops undo.
 */
static void cold_runs_hold_no_offsets(void **state)
{
	struct log_index ix;
	struct log_iconv *c;
	uint32_t segno, off;
	uint64_t bytes;

	(void)state;
	log_index_init(&ix);
	assert_int_equal(log_index_add_cold(&ix, CF_STR_LIT("a"), 1, 7), 0);
	bytes = ix.bytes;
	for (uint64_t seq = 2; seq <= 100000; seq++)
		assert_int_equal(
			log_index_add_cold(&ix, CF_STR_LIT("a"), seq, 7), 0);
	assert_int_equal(ix.bytes, bytes); /* not a byte per message */
	assert_int_equal(ix.messages, 100000);
	/* A second cold file, then hot segments. */
	assert_int_equal(log_index_add_cold(&ix, CF_STR_LIT("a"), 100001, 9),
			 0);
	assert_int_equal(log_index_add(&ix, CF_STR_LIT("a"), 100002, 10, 64,
				       NULL),
			 0);
	assert_int_equal(log_index_add(&ix, CF_STR_LIT("a"), 100003, 10, 128,
				       &c),
			 0);
	assert_int_equal(log_index_find(&ix, CF_STR_LIT("a"), 5, &segno, &off),
			 0);
	assert_int_equal(segno, 7);
	assert_int_equal(off, 0);
	assert_int_equal(log_index_find(&ix, CF_STR_LIT("a"), 100001, &segno,
					&off),
			 0);
	assert_int_equal(segno, 9);
	assert_int_equal(log_index_find(&ix, CF_STR_LIT("a"), 100003, &segno,
					&off),
			 0);
	assert_int_equal(segno, 10);
	assert_int_equal(off, 128);
	assert_int_equal(log_index_first_seq(&ix, CF_STR_LIT("a")), 1);
	assert_int_equal(log_index_last_seq(&ix, CF_STR_LIT("a")), 100003);
	/* Pops go back through the hot run into the cold one. */
	log_index_pop(&ix, c);
	log_index_pop(&ix, c);
	log_index_pop(&ix, c);
	assert_int_equal(log_index_last_seq(&ix, CF_STR_LIT("a")), 100000);
	assert_int_equal(log_index_find(&ix, CF_STR_LIT("a"), 100001, &segno,
					&off),
			 CF_ENOTFOUND);
	/* A cold message does not continue a hot run of the same segno. */
	assert_int_equal(log_index_add(&ix, CF_STR_LIT("b"), 1, 3, 8, NULL), 0);
	assert_int_equal(log_index_add_cold(&ix, CF_STR_LIT("b"), 2, 3), 0);
	assert_int_equal(log_index_find(&ix, CF_STR_LIT("b"), 1, &segno, &off),
			 0);
	assert_int_equal(off, 8);
	assert_int_equal(log_index_find(&ix, CF_STR_LIT("b"), 2, &segno, &off),
			 0);
	assert_int_equal(off, 0);
	log_index_release(&ix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(many_conversations_find_every_message),
		cmocka_unit_test(unknown_conversation_and_seq_are_not_found),
		cmocka_unit_test(seq_must_grow),
		cmocka_unit_test(gaps_and_segment_changes_start_runs),
		cmocka_unit_test(pop_undoes_adds_newest_first),
		cmocka_unit_test(memory_is_a_few_bytes_per_message),
		cmocka_unit_test(cold_runs_hold_no_offsets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
