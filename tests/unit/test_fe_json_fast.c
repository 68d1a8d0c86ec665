#include "config.h"
/*
 * test_fe_json_fast: the plain-send scanner (fe_json_fast.h) takes the
 * shapes it is for, with the strings jansson would give, and says "not
 * mine" for everything else; and on random mutations of real bodies,
 * whatever it takes jansson parses (JSON_REJECT_DUPLICATES, as
 * fe_json_body) to an object with exactly the same keys and strings.
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

#include "frontend/fe_json_fast.h"

static int scan(const char *t, bool ws, struct fe_send_scan *f,
		struct cf_buf *scratch)
{
	memset(f, 0, sizeof *f);
	return fe_send_scan(t, strlen(t), ws, f, scratch);
}

static void str_eq(struct cf_str s, const char *want)
{
	assert_non_null(s.p);
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.p, want, s.len);
}

static void test_takes_plain_sends(void **state)
{
	struct cf_buf scratch = CF_BUF_INIT;
	struct fe_send_scan f;

	(void)state;
	assert_int_equal(scan("{\"conversationId\":\"c1\",\"clientMsgId\":"
			      "\"k1\",\"content\":\"hello\"}",
			      false, &f, &scratch),
			 1);
	str_eq(f.conv, "c1");
	str_eq(f.cmid, "k1");
	str_eq(f.content, "hello");
	assert_null(f.msg_type.p);
	assert_null(f.id.p);
	cf_buf_release(&scratch);

	assert_int_equal(
		scan(" {\n \"content\" : \"a\\\"b\\\\c\\/d\\n\\t\xc3\xa9\xe6\x97\xa5"
		     "\xf0\x9f\x98\x80\", \"msgType\":\"text\",\r\n"
		     "\"clientMsgId\":\"k.2:x@y-z\",\"conversationId\":\"g_1\"} ",
		     false, &f, &scratch),
		1);
	str_eq(f.content, "a\"b\\c/d\n\t\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80");
	str_eq(f.msg_type, "text");
	str_eq(f.cmid, "k.2:x@y-z");
	str_eq(f.conv, "g_1");
	cf_buf_release(&scratch);

	assert_int_equal(scan("{\"type\":\"send\",\"id\":\"r7\",\"conversationId\""
			      ":\"c\",\"clientMsgId\":\"k\",\"content\":\"\"}",
			      true, &f, &scratch),
			 1);
	str_eq(f.id, "r7");
	str_eq(f.content, "");
	cf_buf_release(&scratch);
}

static void test_leaves_the_rest_to_jansson(void **state)
{
	static const char *const http[] = {
		"",
		"{}",
		"[]",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\"}",
		"{\"conversationId\":\"c\",\"content\":\"x\"}",
		"{\"clientMsgId\":\"k\",\"content\":\"x\"}",
		/* another key, a duplicate, a value not a string */
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"x\","
		"\"replyTo\":3}",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"x\","
		"\"content\":\"y\"}",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":null}",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"x\","
		"\"attachment\":{\"mediaId\":\"m\"}}",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"x\","
		"\"type\":\"send\"}",
		/* escapes, control characters, UTF-8 */
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"\\u0041\"}",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"\\x\"}",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"a\nb\"}",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"\xc0\xaf\"}",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"\xed\xa0\x80\"}",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"\xf4\x90\x80\x80\"}",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"\xe6\x97\"}",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"\xff\"}",
		/* ids, msgType, mentions */
		"{\"conversationId\":\"c c\",\"clientMsgId\":\"k\",\"content\":\"x\"}",
		"{\"conversationId\":\"\",\"clientMsgId\":\"k\",\"content\":\"x\"}",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"x\","
		"\"msgType\":\"Text\"}",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"hi @bob\"}",
		/* syntax */
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"x\"",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"x\",}",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"x\"}x",
		"{\"conversationId\":\"c\",\"clientMsgId\":\"k\",\"content\":\"x}",
		"{\"conversationId\" \"c\",\"clientMsgId\":\"k\",\"content\":\"x\"}",
		"{'conversationId':\"c\",\"clientMsgId\":\"k\",\"content\":\"x\"}",
	};
	static const char *const ws[] = {
		"{\"id\":\"1\",\"conversationId\":\"c\",\"clientMsgId\":\"k\","
		"\"content\":\"x\"}",
		"{\"type\":\"sync\",\"conversationId\":\"c\",\"clientMsgId\":\"k\","
		"\"content\":\"x\"}",
		"{\"type\":\"send\",\"id\":7,\"conversationId\":\"c\","
		"\"clientMsgId\":\"k\",\"content\":\"x\"}",
	};
	struct cf_buf scratch = CF_BUF_INIT;
	struct fe_send_scan f;

	(void)state;
	for (size_t i = 0; i < sizeof http / sizeof http[0]; i++) {
		if (scan(http[i], false, &f, &scratch) != 0)
			fail_msg("took %s", http[i]);
		cf_buf_release(&scratch);
	}
	for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
		if (scan(ws[i], true, &f, &scratch) != 0)
			fail_msg("took %s", ws[i]);
		cf_buf_release(&scratch);
	}
}

/* jansson's string for key in o equals s (p NULL: key absent). */
static void same(json_t *o, const char *key, struct cf_str s, size_t *keys)
{
	json_t *v = json_object_get(o, key);

	if (s.p == NULL) {
		assert_null(v);
		return;
	}
	(*keys)++;
	assert_true(json_is_string(v));
	assert_int_equal(json_string_length(v), s.len);
	assert_memory_equal(json_string_value(v), s.p, s.len);
}

static void test_random_mutations_agree_with_jansson(void **state)
{
	static const char *const seeds[] = {
		"{\"conversationId\":\"c1\",\"clientMsgId\":\"k1\",\"content\":"
		"\"h\\u00e9llo \\\" \\\\ \\n \xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80\","
		"\"msgType\":\"text\"}",
		"{\"type\":\"send\",\"id\":\"r1\",\"conversationId\":\"g\","
		"\"clientMsgId\":\"m-2\",\"content\":\"a\\tb\\/c\"}",
	};
	unsigned long x = 88172645463325252UL; /* xorshift, fixed seed */
	unsigned took = 0;

	(void)state;
	for (unsigned n = 0; n < 200000; n++) {
		const char *seed = seeds[n % 2];
		bool ws = n % 2 == 1;
		char buf[512];
		size_t len = strlen(seed);
		struct cf_buf scratch = CF_BUF_INIT;
		struct fe_send_scan f;
		unsigned edits;

		memcpy(buf, seed, len);
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		edits = 1 + (unsigned)(x % 3);
		for (unsigned e = 0; e < edits; e++) {
			size_t at;

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			at = (size_t)(x >> 8) % len;
			switch (x % 4) {
			case 0: /* a byte changed: often one of JSON's own */
				buf[at] = "\"\\{}:,u@ \x01\x80\xc3\xed"[(x >> 40) %
									 14];
				break;
			case 1:
				buf[at] = (char)(x >> 32);
				break;
			case 2: /* a byte removed */
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
				break;
			default: /* a byte inserted */
				if (len + 1 < sizeof buf) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = (char)(x >> 24);
					len++;
				}
			}
		}
		memset(&f, 0, sizeof f);
		if (fe_send_scan(buf, len, ws, &f, &scratch)) {
			json_error_t je;
			json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES,
					       &je);
			size_t keys = 0;

			if (o == NULL || !json_is_object(o))
				fail_msg("scanned, but jansson: %s", je.text);
			same(o, "conversationId", f.conv, &keys);
			same(o, "clientMsgId", f.cmid, &keys);
			same(o, "msgType", f.msg_type, &keys);
			same(o, "content", f.content, &keys);
			if (ws) {
				same(o, "id", f.id, &keys);
				keys++; /* "type" */
			}
			assert_int_equal(json_object_size(o), keys);
			json_decref(o);
			took++;
		}
		cf_buf_release(&scratch);
	}
	/* the test means something only if many mutants were taken */
	assert_true(took > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_takes_plain_sends),
		cmocka_unit_test(test_leaves_the_rest_to_jansson),
		cmocka_unit_test(test_random_mutations_agree_with_jansson),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
