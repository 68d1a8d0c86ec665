#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "common/cf_err.h"
#include "log/log_record.h"

static struct log_record sample(void)
{
	struct log_record r;

	memset(&r, 0, sizeof(r));
	r.kind = LOG_REC_MESSAGE;
	r.flags = 0xa5;
	r.raft_index = 0x0102030405060708ull;
	r.message_id = 0x1112131415161718ull;
	r.seq = 0x2122232425262728ull;
	r.ts = 1795000000123ull;
	r.conv = CF_STR_LIT("c_42");
	r.sender = CF_STR_LIT("alice");
	r.client_msg_id = CF_STR_LIT("m-1");
	r.msg_type = CF_STR_LIT("text");
	r.body = CF_STR_LIT("hello, world");
	return r;
}

static void assert_same(const struct log_record *a, const struct log_record *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->flags, b->flags);
	assert_true(a->raft_index == b->raft_index);
	assert_true(a->message_id == b->message_id);
	assert_true(a->seq == b->seq);
	assert_true(a->ts == b->ts);
	assert_true(cf_str_eq(a->conv, b->conv));
	assert_true(cf_str_eq(a->sender, b->sender));
	assert_true(cf_str_eq(a->client_msg_id, b->client_msg_id));
	assert_true(cf_str_eq(a->msg_type, b->msg_type));
	assert_true(cf_str_eq(a->body, b->body));
}

static void round_trip_keeps_every_field(void **state)
{
	struct log_record in = sample();
	struct log_record out;
	struct cf_buf b = CF_BUF_INIT;
	size_t used = 0;

	(void)state;
	assert_int_equal(log_record_encode(&in, &b), 0);
	assert_int_equal(b.len, log_record_size(&in));
	memset(&out, 0, sizeof(out));
	assert_int_equal(log_record_decode(b.data, b.len, &out, &used), 0);
	assert_int_equal(used, b.len);
	assert_same(&in, &out);
	/* Strings borrow from the encoded bytes. */
	assert_true(out.body.p >= b.data && out.body.p < b.data + b.len);
	cf_buf_release(&b);
}

static void every_kind_round_trips_and_empty_strings_are_allowed(void **state)
{
	struct cf_buf b = CF_BUF_INIT;

	(void)state;
	for (uint8_t k = LOG_REC_MESSAGE; k <= LOG_REC_EDIT; k++) {
		struct log_record in = sample();
		struct log_record out;
		size_t used;

		in.kind = k;
		in.sender = (struct cf_str){NULL, 0};
		in.client_msg_id = (struct cf_str){NULL, 0};
		in.msg_type = (struct cf_str){NULL, 0};
		in.body = (struct cf_str){NULL, 0};
		b.len = 0;
		assert_int_equal(log_record_encode(&in, &b), 0);
		assert_int_equal(log_record_decode(b.data, b.len, &out, &used),
				 0);
		assert_int_equal(out.kind, k);
		assert_int_equal(out.sender.len, 0);
		assert_int_equal(out.body.len, 0);
		assert_true(cf_str_eq(out.conv, in.conv));
	}
	cf_buf_release(&b);
}

static void records_decode_back_to_back(void **state)
{
	struct cf_buf b = CF_BUF_INIT;
	struct log_record in = sample();
	struct log_record out;
	size_t off = 0;
	size_t used;

	(void)state;
	for (uint64_t i = 1; i <= 10; i++) {
		in.seq = i;
		assert_int_equal(log_record_encode(&in, &b), 0);
	}
	for (uint64_t i = 1; i <= 10; i++) {
		assert_int_equal(
			log_record_decode(b.data + off, b.len - off, &out, &used),
			0);
		assert_true(out.seq == i);
		off += used;
	}
	assert_int_equal(off, b.len);
	cf_buf_release(&b);
}

static void encode_refuses_bad_kind_and_lengths(void **state)
{
	struct cf_buf b = CF_BUF_INIT;
	struct log_record r = sample();
	char big[200];
	char *huge;

	(void)state;
	memset(big, 'x', sizeof(big));
	r.kind = 0;
	assert_int_equal(log_record_encode(&r, &b), CF_EBADREQ);
	r.kind = LOG_REC_EDIT + 1;
	assert_int_equal(log_record_encode(&r, &b), CF_EBADREQ);
	r = sample();
	r.conv = (struct cf_str){NULL, 0};
	assert_int_equal(log_record_encode(&r, &b), CF_EBADREQ);
	r = sample();
	r.conv = (struct cf_str){big, 129};
	assert_int_equal(log_record_encode(&r, &b), CF_EBADREQ);
	r = sample();
	r.msg_type = (struct cf_str){big, 33};
	assert_int_equal(log_record_encode(&r, &b), CF_EBADREQ);
	r = sample();
	huge = calloc(1, LOG_RECORD_MAX);
	assert_non_null(huge);
	r.body = (struct cf_str){huge, LOG_RECORD_MAX - 60};
	assert_int_equal(log_record_encode(&r, &b), CF_ETOOBIG);
	assert_int_equal(b.len, 0);
	/* The largest body that fits is accepted. */
	r.body.len = LOG_RECORD_MAX - log_record_size(&(struct log_record){
					      .conv = r.conv,
					      .sender = r.sender,
					      .client_msg_id = r.client_msg_id,
					      .msg_type = r.msg_type});
	assert_int_equal(log_record_encode(&r, &b), 0);
	assert_int_equal(b.len, LOG_RECORD_MAX);
	free(huge);
	cf_buf_release(&b);
}

static void decode_refuses_unknown_kind_even_with_good_checksum(void **state)
{
	struct cf_buf b = CF_BUF_INIT;
	struct log_record r = sample();
	struct log_record out;
	size_t used;
	uint64_t sum;

	(void)state;
	assert_int_equal(log_record_encode(&r, &b), 0);
	b.data[4] = 9;
	/* Recompute the checksum so that only the kind is wrong. */
	sum = XXH3_64bits(b.data, b.len - 8);
	cf_put_u64(b.data + b.len - 8, sum);
	assert_int_equal(log_record_decode(b.data, b.len, &out, &used),
			 CF_ECORRUPT);
	cf_buf_release(&b);
}

static void corrupt_byte_at_every_position_is_detected(void **state)
{
	struct cf_buf b = CF_BUF_INIT;
	struct log_record r = sample();
	struct log_record out;
	size_t used;

	(void)state;
	assert_int_equal(log_record_encode(&r, &b), 0);
	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			b.data[i] ^= (char)(1 << bit);
			assert_int_equal(
				log_record_decode(b.data, b.len, &out, &used),
				CF_ECORRUPT);
			b.data[i] ^= (char)(1 << bit);
		}
	}
	assert_int_equal(log_record_decode(b.data, b.len, &out, &used), 0);
	cf_buf_release(&b);
}

static void short_input_is_refused_without_reading_past_len(void **state)
{
	struct cf_buf b = CF_BUF_INIT;
	struct log_record r = sample();
	struct log_record out;
	size_t used;

	(void)state;
	assert_int_equal(log_record_encode(&r, &b), 0);
	for (size_t n = 0; n < b.len; n++) {
		/* A copy of exactly n bytes: ASan catches any overread. */
		char *p = malloc(n > 0 ? n : 1);
		assert_non_null(p);
		memcpy(p, b.data, n);
		assert_int_equal(log_record_decode(p, n, &out, &used),
				 CF_ECORRUPT);
		free(p);
	}
	cf_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_keeps_every_field),
		cmocka_unit_test(
			every_kind_round_trips_and_empty_strings_are_allowed),
		cmocka_unit_test(records_decode_back_to_back),
		cmocka_unit_test(encode_refuses_bad_kind_and_lengths),
		cmocka_unit_test(
			decode_refuses_unknown_kind_even_with_good_checksum),
		cmocka_unit_test(corrupt_byte_at_every_position_is_detected),
		cmocka_unit_test(short_input_is_refused_without_reading_past_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
