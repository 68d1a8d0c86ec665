#include "config.h"

/*
 * Replies, mentions and aroundSeq pages (issue 13), end to end on one
 * 3-node cluster of real confabd processes shared by every test of this
 * program (each test uses its own users and conversations): a send with
 * replyTo and mentions through a follower, its message object in history,
 * sync, the conversation's lastMessage, WebSocket events and confabctl
 * dump (mentionsMe only for the mentioned reader), the bad inputs of a
 * send, and the pages of GET .../messages?aroundSeq at both edges.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_err.h"
#include "common/cf_time.h"

#define START_TIMEOUT_MS 30000
#define EVENT_TIMEOUT_MS 10000
#define N_TESTS 4

static struct cf_test_cluster cluster;
static int n_passed;

static int group_setup(void **state)
{
	(void)state;
	return cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0 ? -1
									 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
}

static json_t *expect(unsigned node, const char *method, const char *path,
		      const char *user, const char *body, int status)
{
	return cf_test_expect(&cluster, node, method, path, user, body,
			      status);
}

/* A request that must fail with status and code; its message, if want. */
static void expect_error(unsigned node, const char *method, const char *path,
			 const char *user, const char *body, int status,
			 const char *code, const char *want_msg)
{
	json_t *j = expect(node, method, path, user, body, status);
	json_t *e = json_object_get(j, "error");

	assert_non_null(e);
	assert_string_equal(cf_test_str(e, "code"), code);
	if (want_msg != NULL && strstr(cf_test_str(e, "message"),
				       want_msg) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"",
			 cf_test_str(e, "message"), want_msg);
	json_decref(j);
}

/* A node that is not the leader. */
static unsigned follower(void)
{
	int l = cf_test_cluster_leader(&cluster, 10000);

	assert_true(l >= 1);
	return l == 1 ? 2 : 1;
}

/* POST /v1/messages with body fields extra (",..." or ""). */
static json_t *send_x(unsigned node, const char *user, const char *conv,
		      const char *cmid, const char *content, const char *extra,
		      int status)
{
	char body[2048];

	snprintf(body, sizeof body,
		 "{\"conversationId\":\"%s\",\"clientMsgId\":\"%s\","
		 "\"content\":\"%s\"%s}",
		 conv, cmid, content, extra);
	return expect(node, "POST", "/v1/messages", user, body, status);
}

static void send_plain(unsigned node, const char *user, const char *conv,
		       const char *cmid, long long seq)
{
	json_t *j = send_x(node, user, conv, cmid, "plain", "", 201);

	assert_int_equal(cf_test_int(j, "seq"), seq);
	json_decref(j);
}

/* The ids of a JSON array of strings, comma-separated ("" if absent). */
static const char *ids_text(json_t *a, char *buf, size_t n)
{
	size_t i;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(a, i, v)
	{
		size_t l = strlen(buf);

		snprintf(buf + l, n - l, "%s%s", i > 0 ? "," : "",
			 json_string_value(v));
	}
	return buf;
}

/*
 * m is the message object of seq 2 of rp-g as reader sees it: replyTo 1,
 * mentions ra, rc, rd; mentionsMe only if me.
 */
static void assert_reply(json_t *m, bool me)
{
	char buf[256];

	assert_non_null(m);
	assert_int_equal(cf_test_int(m, "seq"), 2);
	assert_int_equal(cf_test_int(m, "replyTo"), 1);
	assert_string_equal(ids_text(json_object_get(m, "mentions"), buf,
				     sizeof buf),
			    "ra,rc,rd");
	if (me)
		assert_true(json_is_true(json_object_get(m, "mentionsMe")));
	else
		assert_null(json_object_get(m, "mentionsMe"));
}

/* The history page of conv through node (consistent) as user. */
static json_t *history(unsigned node, const char *user, const char *conv,
		       const char *query)
{
	char path[256];

	snprintf(path, sizeof path,
		 "/v1/conversations/%s/messages?consistent=1%s", conv, query);
	return expect(node, "GET", path, user, NULL, 200);
}

/* The sync item of conv's message seq for user (new reference). */
static json_t *sync_item(unsigned node, const char *user, const char *conv,
			 long long seq)
{
	json_t *j = expect(node, "GET", "/v1/sync?limit=500&consistent=1",
			   user, NULL, 200);
	json_t *items = json_object_get(j, "items"), *it, *found = NULL;
	size_t i;

	json_array_foreach(items, i, it)
	{
		const char *c = cf_test_str(it, "conversationId");

		if (strcmp(cf_test_str(it, "type"), "message") == 0 &&
		    c != NULL && strcmp(c, conv) == 0 &&
		    cf_test_int(it, "seq") == seq)
			found = json_incref(it);
	}
	json_decref(j);
	assert_non_null(found);
	return found;
}

static void reply_with_mentions_reads_back_everywhere(void **state)
{
	unsigned f = follower();
	char args[1024];
	static char out[1 << 16];
	json_t *j, *m;

	(void)state;
	cf_test_create_group(&cluster, 1, "ra", "rp-g",
			     "[\"rb\",\"rc\",\"rd\"]");
	send_plain(1, "ra", "rp-g", "p1", 1);
	/* Explicit rd; @ra and @rc from the text ("@rc." ends a sentence);
	 * "x@rd" is e-mail-like and @zed is no member: plain text. */
	j = send_x(f, "rb", "rp-g", "p2", "hi @ra and @rc. cc x@rd @zed",
		   ",\"replyTo\":1,\"mentions\":[\"rd\"]", 201);
	assert_int_equal(cf_test_int(j, "seq"), 2);
	json_decref(j);
	/* History on every node, per reader. */
	for (unsigned n = 1; n <= 3; n++) {
		j = history(n, "rc", "rp-g", "");
		m = json_array_get(json_object_get(j, "messages"), 0);
		assert_null(json_object_get(m, "replyTo"));
		assert_null(json_object_get(m, "mentions"));
		assert_null(json_object_get(m, "mentionsMe"));
		assert_reply(json_array_get(json_object_get(j, "messages"), 1),
			     true);
		json_decref(j);
		j = history(n, "rb", "rp-g", "");
		assert_reply(json_array_get(json_object_get(j, "messages"), 1),
			     false);
		json_decref(j);
	}
	/* Sync items. */
	m = sync_item(3, "rd", "rp-g", 2);
	assert_reply(m, true);
	json_decref(m);
	m = sync_item(2, "rb", "rp-g", 2);
	assert_reply(m, false);
	json_decref(m);
	/* The conversation's lastMessage. */
	j = expect(3, "GET", "/v1/conversations/rp-g?consistent=1", "ra",
		   NULL, 200);
	assert_reply(json_object_get(j, "lastMessage"), true);
	json_decref(j);
	/* A repeat answers the first send. */
	j = send_x(3, "rb", "rp-g", "p2", "other", ",\"replyTo\":2", 200);
	assert_true(json_is_true(json_object_get(j, "duplicate")));
	assert_int_equal(cf_test_int(j, "seq"), 2);
	json_decref(j);
	/* A send through a follower right after the create through another
	 * node: its mentions hold even if that follower lags. */
	cf_test_create_group(&cluster, 1, "ra", "rp-h", "[\"rb\"]");
	json_decref(send_x(f, "ra", "rp-h", "h1", "hey @rb", "", 201));
	j = history(3, "rb", "rp-h", "");
	m = json_array_get(json_object_get(j, "messages"), 0);
	assert_true(json_is_true(json_object_get(m, "mentionsMe")));
	json_decref(j);
	/* confabctl dump shows them. */
	snprintf(args, sizeof args,
		 "dump --cluster '%s' --node %s --conversation rp-g",
		 cluster.conf_path, cluster.nodes[1].url);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	assert_non_null(strstr(out, "\"replyTo\":1"));
	assert_non_null(strstr(out, "\"mentions\":[\"ra\",\"rc\",\"rd\"]"));
	assert_null(strstr(out, "mentionsMe"));
	n_passed++;
}

/* A send that must be refused with 400 bad_request (message has want). */
static void send_refused(unsigned node, const char *user, const char *conv,
			 const char *extra, const char *want)
{
	char body[2048];

	snprintf(body, sizeof body,
		 "{\"conversationId\":\"%s\",\"clientMsgId\":\"bad\","
		 "\"content\":\"x @bb\"%s}",
		 conv, extra);
	expect_error(node, "POST", "/v1/messages", user, body, 400,
		     "bad_request", want);
}

static void bad_replies_and_mentions_are_refused(void **state)
{
	static const char *const bad[] = {
		",\"replyTo\":0",
		",\"replyTo\":-1",
		",\"replyTo\":\"1\"",
		",\"replyTo\":1.5",
		",\"replyTo\":true",
		",\"mentions\":[\"ra\"]", /* a member of another group */
		",\"mentions\":[\"bb\",\"zed\"]",
		",\"mentions\":\"bb\"",
		",\"mentions\":[1]",
		",\"mentions\":[\"bad id\"]",
		",\"mentions\":{}",
	};
	char many[1024] = ",\"mentions\":[";
	struct cf_ws_client w;
	unsigned f = follower();
	json_t *j, *e;

	(void)state;
	cf_test_create_group(&cluster, 1, "ba", "rb-g", "[\"bb\"]");
	cf_test_create_group(&cluster, 1, "ba", "rb-o", "[\"bb\"]");
	for (int i = 1; i <= 6; i++) {
		char cmid[16];

		snprintf(cmid, sizeof cmid, "o%d", i);
		send_plain(1 + (unsigned)i % 3, "ba", "rb-o", cmid, i);
	}
	send_plain(1, "ba", "rb-g", "g1", 1);
	send_plain(2, "bb", "rb-g", "g2", 2);
	json_decref(history(f, "ba", "rb-g", ""));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		send_refused(f, "ba", "rb-g", bad[i], NULL);
	/* Past lastSeq 2, or in the range of another conversation only. */
	send_refused(f, "ba", "rb-g", ",\"replyTo\":3", "replyTo out of range");
	send_refused(f, "ba", "rb-g", ",\"replyTo\":5", "replyTo out of range");
	send_refused(f, "ba", "rb-g", ",\"mentions\":[\"zed\"]",
		     "not a member");
	for (int i = 0; i < 51; i++) {
		size_t l = strlen(many);

		snprintf(many + l, sizeof many - l, "%s\"bb\"",
			 i > 0 ? "," : "");
	}
	strcat(many, "]");
	send_refused(f, "ba", "rb-g", many, "at most 50");
	/* Nothing of it was stored. */
	j = history(3, "bb", "rb-g", "");
	assert_int_equal(cf_test_int(j, "lastSeq"), 2);
	json_decref(j);
	/* A parsed non-member is plain text; replyTo = lastSeq is fine. */
	j = send_x(f, "ba", "rb-g", "g3", "hi @zed", ",\"replyTo\":2", 201);
	assert_int_equal(cf_test_int(j, "seq"), 3);
	json_decref(j);
	j = history(3, "bb", "rb-g", "&fromSeq=3");
	e = json_array_get(json_object_get(j, "messages"), 0);
	assert_int_equal(cf_test_int(e, "replyTo"), 2);
	assert_null(json_object_get(e, "mentions"));
	json_decref(j);
	/* The WebSocket send answers the same errors. */
	assert_int_equal(cf_ws_connect(&w, cluster.nodes[f].url,
				       "/v1/ws?user=ba&deviceId=d1", 5000),
			 0);
	assert_int_equal(
		cf_ws_send_text(&w, "{\"type\":\"send\",\"id\":\"s1\","
				    "\"conversationId\":\"rb-g\","
				    "\"clientMsgId\":\"w1\",\"content\":\"x\","
				    "\"replyTo\":9}"),
		0);
	for (;;) {
		assert_int_equal(cf_ws_recv_json(&w, EVENT_TIMEOUT_MS, &e), 0);
		if (strcmp(cf_test_str(e, "type"), "error") == 0)
			break;
		json_decref(e);
	}
	assert_string_equal(cf_test_str(e, "code"), "bad_request");
	assert_string_equal(cf_test_str(e, "id"), "s1");
	json_decref(e);
	cf_ws_close(&w);
	n_passed++;
}

/*
 * The message event of conv's seq on w, skipping others (a socket that
 * opened on a node before it applied an earlier message gets that first).
 */
static json_t *wait_message(struct cf_ws_client *w, const char *who,
			    const char *conv, long long seq)
{
	uint64_t deadline = cf_mono_ms() + EVENT_TIMEOUT_MS;
	json_t *e;

	for (;;) {
		uint64_t now = cf_mono_ms();
		int rv = cf_ws_recv_json(w,
					 now < deadline ? (int)(deadline - now)
							: 1,
					 &e);

		if (rv != 0)
			fail_msg("%s: no message about %s: %s", who, conv,
				 cf_strerror(rv));
		if (strcmp(cf_test_str(e, "type"), "message") == 0 &&
		    strcmp(cf_test_str(e, "conversationId"), conv) == 0 &&
		    cf_test_int(e, "seq") == seq)
			return e;
		json_decref(e);
	}
}

static void events_say_mentions_me_to_the_mentioned_only(void **state)
{
	struct cf_ws_client a1, b2, b3, c3;
	struct cf_ws_client *all[] = {&a1, &b2, &b3, &c3};
	const char *names[] = {"wa@n1", "wb@n2", "wb@n3", "wc@n3"};
	const bool me[] = {false, true, true, false};
	char buf[128];
	json_t *e;

	(void)state;
	cf_test_create_group(&cluster, 1, "wa", "rw-g", "[\"wb\",\"wc\"]");
	send_plain(1, "wa", "rw-g", "e1", 1);
	assert_int_equal(cf_ws_connect(&a1, cluster.nodes[1].url,
				       "/v1/ws?user=wa&deviceId=a1", 5000),
			 0);
	assert_int_equal(cf_ws_connect(&b2, cluster.nodes[2].url,
				       "/v1/ws?user=wb&deviceId=b2", 5000),
			 0);
	assert_int_equal(cf_ws_connect(&b3, cluster.nodes[3].url,
				       "/v1/ws?user=wb&deviceId=b3", 5000),
			 0);
	assert_int_equal(cf_ws_connect(&c3, cluster.nodes[3].url,
				       "/v1/ws?user=wc&deviceId=c3", 5000),
			 0);
	/* A WebSocket send with replyTo and an explicit mention. */
	assert_int_equal(
		cf_ws_send_text(&a1, "{\"type\":\"send\",\"id\":\"s2\","
				     "\"conversationId\":\"rw-g\","
				     "\"clientMsgId\":\"e2\","
				     "\"content\":\"look\",\"replyTo\":1,"
				     "\"mentions\":[\"wb\"]}"),
		0);
	for (int i = 0; i < 4; i++) {
		e = wait_message(all[i], names[i], "rw-g", 2);
		assert_int_equal(cf_test_int(e, "replyTo"), 1);
		assert_string_equal(ids_text(json_object_get(e, "mentions"),
					     buf, sizeof buf),
				    "wb");
		if (me[i])
			assert_true(json_is_true(
				json_object_get(e, "mentionsMe")));
		else
			assert_null(json_object_get(e, "mentionsMe"));
		json_decref(e);
	}
	/* A plain message: one frame for everyone, no meta. */
	send_plain(2, "wc", "rw-g", "e3", 3);
	for (int i = 0; i < 4; i++) {
		e = wait_message(all[i], names[i], "rw-g", 3);
		assert_null(json_object_get(e, "replyTo"));
		assert_null(json_object_get(e, "mentions"));
		assert_null(json_object_get(e, "mentionsMe"));
		json_decref(e);
	}
	/* @mentions parsed from the text of a send through node 3. */
	json_decref(send_x(3, "wb", "rw-g", "e4", "@wa @wc ok", "", 201));
	for (int i = 0; i < 4; i++) {
		e = wait_message(all[i], names[i], "rw-g", 4);
		assert_string_equal(ids_text(json_object_get(e, "mentions"),
					     buf, sizeof buf),
				    "wa,wc");
		assert_int_equal(json_is_true(json_object_get(e, "mentionsMe")),
				 i == 0 || i == 3);
		json_decref(e);
	}
	for (int i = 0; i < 4; i++)
		cf_ws_close(all[i]);
	n_passed++;
}

/* The seqs of a page, "lo-hi" (or "" if empty); checks they are contiguous. */
static void page_check(json_t *j, const char *want, bool before, bool after)
{
	json_t *msgs = json_object_get(j, "messages");
	size_t n = json_array_size(msgs);
	char got[32] = "";

	for (size_t i = 0; i + 1 < n; i++)
		assert_int_equal(cf_test_int(json_array_get(msgs, i + 1), "seq"),
				 cf_test_int(json_array_get(msgs, i), "seq") + 1);
	if (n > 0)
		snprintf(got, sizeof got, "%lld-%lld",
			 cf_test_int(json_array_get(msgs, 0), "seq"),
			 cf_test_int(json_array_get(msgs, n - 1), "seq"));
	assert_string_equal(got, want);
	assert_int_equal(json_is_true(json_object_get(j, "hasMoreBefore")),
			 before);
	assert_int_equal(json_is_true(json_object_get(j, "hasMoreAfter")),
			 after);
	assert_true(json_is_boolean(json_object_get(j, "hasMoreBefore")));
	assert_true(json_is_boolean(json_object_get(j, "hasMoreAfter")));
	assert_int_equal(json_is_true(json_object_get(j, "hasMore")),
			 before || after);
}

static void around_seq_pages(void **state)
{
	static const struct {
		const char *q;
		const char *want;
		bool before, after;
	} pages[] = {
		{"&aroundSeq=5&limit=4", "3-6", true, true},
		{"&aroundSeq=5&limit=5", "3-7", true, true},
		{"&aroundSeq=5&limit=1", "5-5", true, true},
		{"&aroundSeq=1&limit=4", "1-4", false, true},
		{"&aroundSeq=2&limit=4", "1-4", false, true},
		{"&aroundSeq=10&limit=4", "7-10", true, false},
		{"&aroundSeq=9&limit=4", "7-10", true, false},
		{"&aroundSeq=99&limit=3", "8-10", true, false},
		{"&aroundSeq=4&limit=10", "1-10", false, false},
		{"&aroundSeq=4&limit=200", "1-10", false, false},
		{"&aroundSeq=4", "1-10", false, false},
	};
	static const char *const bad[] = {
		"aroundSeq=0",		 "aroundSeq=-1",
		"aroundSeq=x",		 "aroundSeq=",
		"aroundSeq=5&fromSeq=1", "aroundSeq=5&beforeSeq=9",
		"aroundSeq=1.5",
	};
	char path[128];
	json_t *j;

	(void)state;
	cf_test_create_group(&cluster, 1, "aa", "ra-g", "[\"ab\"]");
	cf_test_create_group(&cluster, 1, "aa", "ra-e", "[\"ab\"]");
	for (int i = 1; i <= 10; i++) {
		char cmid[16];

		snprintf(cmid, sizeof cmid, "a%d", i);
		send_plain(1 + (unsigned)i % 3, "aa", "ra-g", cmid, i);
	}
	for (unsigned n = 1; n <= 3; n++) {
		for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
			j = history(n, "ab", "ra-g", pages[i].q);
			page_check(j, pages[i].want, pages[i].before,
				   pages[i].after);
			assert_int_equal(cf_test_int(j, "lastSeq"), 10);
			json_decref(j);
		}
	}
	j = history(2, "ab", "ra-e", "&aroundSeq=3");
	page_check(j, "", false, false);
	json_decref(j);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(path, sizeof path, "/v1/conversations/ra-g/messages?%s",
			 bad[i]);
		expect_error(3, "GET", path, "ab", NULL, 400, "bad_request",
			     NULL);
	}
	expect_error(3, "GET", "/v1/conversations/ra-g/messages?aroundSeq=2",
		     "zz", NULL, 404, "not_found", NULL);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reply_with_mentions_reads_back_everywhere),
		cmocka_unit_test(bad_replies_and_mentions_are_refused),
		cmocka_unit_test(events_say_mentions_me_to_the_mentioned_only),
		cmocka_unit_test(around_seq_pages),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
