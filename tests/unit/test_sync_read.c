#include "config.h"
/*
 * test_sync_read: the JSON text writers of the history routes (cf_jw and
 * sync_message_write) against jansson: for every byte value, for strings
 * that are not UTF-8, and for message records (plain, with an attachment,
 * recalled) the text is valid JSON equal to what json_dumps makes of the
 * objects the other routes build.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/cf_jw.h"
#include "raft/rft_rec.h"
#include "sync/sync_read.h"

/* b's text, NUL-terminated (the buffer keeps its length). */
static const char *text(struct cf_buf *b)
{
	assert_int_equal(cf_buf_reserve(b, 1), 0);
	b->data[b->len] = '\0';
	return b->data;
}

/* Every single byte below 0x80, alone and amid text: same as jansson. */
static void test_str_ascii(void **state)
{
	(void)state;
	for (unsigned c = 0; c < 0x80; c++) {
		char in[5] = {'a', (char)c, 'b', (char)c, '\0'};
		struct cf_buf b = CF_BUF_INIT;
		json_t *j = json_stringn(in, 4);
		char *want;

		assert_non_null(j);
		want = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
		assert_int_equal(cf_jw_str(&b, in, 4), 0);
		assert_string_equal(text(&b), want);
		free(want);
		json_decref(j);
		cf_buf_release(&b);
	}
}

/* Valid UTF-8 passes through; each invalid byte becomes U+FFFD and the
 * result parses back. */
static void test_str_utf8(void **state)
{
	static const struct {
		const char *in;
		const char *out; /* inside the quotes */
	} cases[] = {
		{"h\xc3\xa9llo \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80",
		 "h\xc3\xa9llo \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80"},
		{"\xff", "\xef\xbf\xbd"},
		{"a\xc3", "a\xef\xbf\xbd"},		   /* truncated */
		{"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},  /* overlong */
		{"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
		{"\xf4\x90\x80\x80x",
		 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx"},
		{"\xe2\x82\"", "\xef\xbf\xbd\xef\xbf\xbd\\\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct cf_buf b = CF_BUF_INIT;
		char want[64];
		json_t *j;

		snprintf(want, sizeof want, "\"%s\"", cases[i].out);
		assert_int_equal(
			cf_jw_str(&b, cases[i].in, strlen(cases[i].in)), 0);
		assert_string_equal(text(&b), want);
		j = json_loads(text(&b), JSON_DECODE_ANY, NULL);
		assert_non_null(j);
		json_decref(j);
		cf_buf_release(&b);
	}
}

static void test_ints(void **state)
{
	static const int64_t v[] = {0, 1, -1, 9, 10, 1234567890123LL,
				    INT64_MAX, INT64_MIN};
	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct cf_buf b = CF_BUF_INIT;
		char want[32];

		snprintf(want, sizeof want, "%lld", (long long)v[i]);
		assert_int_equal(cf_jw_i64(&b, v[i]), 0);
		assert_string_equal(text(&b), want);
		cf_buf_release(&b);
	}
	{
		struct cf_buf b = CF_BUF_INIT;
		assert_int_equal(cf_jw_u64(&b, UINT64_MAX), 0);
		assert_string_equal(text(&b), "18446744073709551615");
		cf_buf_release(&b);
	}
}

/*
 * Issue 14: the fan-out's frame, sync_event_write(rec, mentions_me), is
 * json_dumps of sync_event_json(rec) (with "mentionsMe": true added).
 */
static void check_event(const struct log_record *rec)
{
	for (int me = 0; me < 2; me++) {
		struct cf_buf b = CF_BUF_INIT;
		json_t *o = sync_event_json(rec, NULL);
		char *want;

		assert_non_null(o);
		if (me)
			assert_int_equal(json_object_set_new(o, "mentionsMe",
							     json_true()),
					 0);
		want = json_dumps(o, JSON_COMPACT);
		assert_int_equal(sync_event_write(&b, rec, NULL, me != 0), 0);
		assert_string_equal(text(&b), want);
		free(want);
		json_decref(o);
		cf_buf_release(&b);
	}
}

/* sync_message_write(rec) is json_dumps(sync_message_json(rec)). */
static void check_message(const char *content, const char *attachment,
			  const char *client_msg_id)
{
	struct cf_buf body = CF_BUF_INIT;
	struct log_record rec;
	uint8_t flags = 0;

	assert_int_equal(
		rft_rec_message_encode(&body, cf_str_c(content),
				       cf_str_c(attachment != NULL ? attachment
								   : ""),
				       &flags),
		0);
	memset(&rec, 0, sizeof rec);
	rec.kind = LOG_REC_MESSAGE;
	rec.flags = flags;
	rec.raft_index = 77;
	rec.message_id = 77 * 65536 + 3;
	rec.seq = 12;
	rec.ts = 1733300000123ULL;
	rec.conv = cf_str_c("c:\"quoted\"\\conv");
	rec.sender = cf_str_c("al\xc3\xaf" "ce");
	rec.client_msg_id = cf_str_c(client_msg_id);
	rec.msg_type = cf_str_c("text");
	rec.body = (struct cf_str){body.data, body.len};
	for (int recalled = 0; recalled < 2; recalled++) {
		struct cf_buf b = CF_BUF_INIT;
		json_t *o = recalled ? sync_recalled_json(&rec)
				     : sync_message_json(&rec);
		char *want;

		assert_non_null(o);
		want = json_dumps(o, JSON_COMPACT);
		assert_int_equal(sync_message_write(&b, &rec, recalled), 0);
		assert_string_equal(text(&b), want);
		free(want);
		json_decref(o);
		cf_buf_release(&b);
	}
	check_event(&rec);
	cf_buf_release(&body);
}

/*
 * A message with a meta block: sync_message_write_for(reader) is
 * json_dumps(sync_message_json_for(reader)), replyTo and mentions are
 * shown, mentionsMe only for a mentioned reader, none of them recalled.
 */
static void check_meta(uint64_t reply_to, const char *attachment,
		       const char *want_tail_bob, const char *want_tail_other)
{
	struct cf_str ids[2] = {CF_STR_LIT("bob"), CF_STR_LIT("carol")};
	struct cf_buf body = CF_BUF_INIT, list = CF_BUF_INIT;
	struct rft_rec_meta meta;
	struct log_record rec;
	const char *readers[] = {NULL, "bob", "carol", "zed", "bo"};
	uint8_t flags = 0;

	assert_int_equal(rft_idlist_encode(&list, ids, 2), 0);
	meta.reply_to = reply_to;
	meta.mentions = (struct cf_str){list.data, list.len};
	assert_int_equal(rft_rec_message_encode2(
				 &body, CF_STR_LIT("hi @bob @carol"),
				 cf_str_c(attachment), &meta, &flags),
			 0);
	memset(&rec, 0, sizeof rec);
	rec.kind = LOG_REC_MESSAGE;
	rec.flags = flags;
	rec.message_id = 9 * 65536;
	rec.seq = 4;
	rec.ts = 1733300000123ULL;
	rec.conv = cf_str_c("g");
	rec.sender = cf_str_c("alice");
	rec.client_msg_id = cf_str_c("k");
	rec.msg_type = cf_str_c("text");
	rec.body = (struct cf_str){body.data, body.len};
	for (unsigned i = 0; i < sizeof readers / sizeof readers[0]; i++) {
		for (int recalled = 0; recalled < 2; recalled++) {
			struct cf_str reader = cf_str_c(readers[i]);
			struct cf_buf b = CF_BUF_INIT;
			json_t *o = sync_message_json_for(&rec, recalled,
							  reader);
			const char *t, *tail;
			char *want;

			assert_non_null(o);
			want = json_dumps(o, JSON_COMPACT);
			assert_int_equal(sync_message_write_for(&b, &rec,
								recalled,
								reader),
					 0);
			t = text(&b);
			assert_string_equal(t, want);
			tail = strstr(t, "\"serverTs\":1733300000123");
			assert_non_null(tail);
			tail += strlen("\"serverTs\":1733300000123");
			if (recalled)
				assert_string_equal(tail, ",\"recalled\":true}");
			else if (i == 1 || i == 2)
				assert_string_equal(tail, want_tail_bob);
			else
				assert_string_equal(tail, want_tail_other);
			assert_true(recalled || strstr(t, "hi @bob") != NULL);
			free(want);
			json_decref(o);
			cf_buf_release(&b);
		}
	}
	check_event(&rec);
	cf_buf_release(&body);
	cf_buf_release(&list);
}

static void test_message_meta(void **state)
{
	(void)state;
	check_meta(3, "",
		   ",\"replyTo\":3,\"mentions\":[\"bob\",\"carol\"],"
		   "\"mentionsMe\":true}",
		   ",\"replyTo\":3,\"mentions\":[\"bob\",\"carol\"]}");
	check_meta(0, "{\"mediaId\":\"m1\"}",
		   ",\"mentions\":[\"bob\",\"carol\"],\"mentionsMe\":true}",
		   ",\"mentions\":[\"bob\",\"carol\"]}");
}

static void test_message(void **state)
{
	(void)state;
	check_message("hello", NULL, "k1");
	check_message("", NULL, "");
	check_message("line\nbreak\ttab \x01 \"q\" \\ \xe6\x97\xa5\xe6\x9c\xac",
		      NULL, "k\n2");
	check_message("see picture",
		      "{\"mediaId\":\"m1\",\"mime\":\"image/png\",\"size\":3,"
		      "\"name\":\"a \\\"b\\\".png\"}",
		      "k3");
	check_message("", "[1,2,{\"x\":null}]", "k4");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_str_ascii),
		cmocka_unit_test(test_str_utf8),
		cmocka_unit_test(test_ints),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_message_meta),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
