#include "config.h"

/*
 * Conversations beyond create and send (issue 4), end to end on one 3-node
 * cluster of real confabd processes shared by every test of this program
 * (each test uses its own conversation ids): members (owner rule, leave,
 * direct conversations, the group limit), recall (sender and owner rules,
 * the placeholder in history), receipts (forward only, clamped, read
 * implies delivered), the conversation list and one conversation's
 * receipts, and the WebSocket `receipt`, `recalled` and `conversation`
 * events, with their bad inputs. Requests go through different nodes; reads
 * that must see a write made through another node use consistent=1.
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

static struct cf_test_cluster cluster;
static int n_passed;

static int group_setup(void **state)
{
	(void)state;
	/* A failed start stops what it started. */
	return cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0 ? -1 : 0;
}

#define N_TESTS 8

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
}

/* One request that must answer status; returns its JSON (caller decrefs). */
static json_t *expect(unsigned node, const char *method, const char *path,
		      const char *user, const char *body, int status)
{
	return cf_test_expect(&cluster, node, method, path, user, body,
			      status);
}

/* The same, for an error: checks the API code too. */
static void expect_error(unsigned node, const char *method, const char *path,
			 const char *user, const char *body, int status,
			 const char *code)
{
	json_t *j = expect(node, method, path, user, body, status);
	json_t *e = json_object_get(j, "error");

	assert_non_null(e);
	assert_string_equal(cf_test_str(e, "code"), code);
	assert_true(strlen(cf_test_str(e, "message")) > 0);
	json_decref(j);
}

static void send_ok(unsigned node, const char *user, const char *conv,
		    const char *cmid, const char *content, long long seq)
{
	struct cf_test_ack a;
	int st = cf_test_send(&cluster, node, user, conv, cmid, content, &a);

	assert_int_equal(st, 201);
	assert_int_equal(a.seq, seq);
}

/* True if the JSON array of strings a holds s. */
static int has_str(json_t *a, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

static void assert_members(json_t *conv, const char *const *want, size_t n)
{
	json_t *m = json_object_get(conv, "members");

	assert_true(json_is_array(m));
	assert_int_equal(json_array_size(m), n);
	for (size_t i = 0; i < n; i++)
		assert_true(has_str(m, want[i]));
}

/* ---- members ---- */

static void members_owner_adds_and_removes_any_member_leaves(void **state)
{
	static const char *const four[] = {"alice", "bob", "carol", "dave"};
	static const char *const three[] = {"alice", "bob", "dave"};
	static const char *const two[] = {"alice", "dave"};
	const char *p = "/v1/conversations/cm-g/members";
	json_t *j;

	(void)state;
	cf_test_create_group(&cluster, 1, "alice", "cm-g", "[\"bob\"]");
	j = expect(2, "POST", p, "alice", "{\"add\":[\"carol\",\"dave\"]}",
		   200);
	assert_string_equal(cf_test_str(j, "conversationId"), "cm-g");
	assert_members(j, four, 4);
	json_decref(j);
	/* Adding a member again changes nothing. */
	j = expect(3, "POST", p, "alice", "{\"add\":[\"dave\"],\"remove\":[]}",
		   200);
	assert_members(j, four, 4);
	json_decref(j);
	/* Others may only leave. */
	expect_error(3, "POST", p, "bob", "{\"add\":[\"eve\"]}", 403,
		     "forbidden");
	expect_error(2, "POST", p, "bob", "{\"remove\":[\"carol\"]}", 403,
		     "forbidden");
	j = expect(3, "POST", p, "carol", "{\"remove\":[\"carol\"]}", 200);
	assert_members(j, three, 3);
	json_decref(j);
	/* A former member gets 403 from then on, on any node. */
	for (unsigned n = 1; n <= 3; n++) {
		expect_error(n, "GET",
			     "/v1/conversations/cm-g/messages?consistent=1",
			     "carol", NULL, 403, "forbidden");
		expect_error(n, "GET", "/v1/conversations/cm-g?consistent=1",
			     "carol", NULL, 403, "forbidden");
	}
	expect_error(1, "POST", p, "carol", "{\"remove\":[\"carol\"]}", 403,
		     "forbidden");
	/* The owner removes anyone. */
	j = expect(1, "POST", p, "alice", "{\"remove\":[\"bob\"]}", 200);
	assert_members(j, two, 2);
	json_decref(j);
	j = expect(2, "GET", "/v1/conversations/cm-g?consistent=1", "dave",
		   NULL, 200);
	assert_members(j, two, 2);
	json_decref(j);
	n_passed++;
}

/*
 * A group create without conversationId but with a clientMsgId is
 * idempotent: the retry (through any node, even after the members
 * changed) answers 200 with the first one's id; another key or another
 * user makes another group; a client cannot name such an id itself.
 */
static void keyed_group_create_is_made_once(void **state)
{
	const char *body = "{\"type\":\"group\",\"members\":[\"bob\"],"
			   "\"title\":\"k\",\"clientMsgId\":\"create-1\"}";
	char id[64], path[160];
	json_t *j;

	(void)state;
	j = expect(1, "POST", "/v1/conversations", "kalice", body, 201);
	snprintf(id, sizeof id, "%s", cf_test_str(j, "conversationId"));
	assert_true(strncmp(id, "c_k", 3) == 0);
	json_decref(j);
	j = expect(2, "POST", "/v1/conversations", "kalice", body, 200);
	assert_string_equal(cf_test_str(j, "conversationId"), id);
	json_decref(j);
	snprintf(path, sizeof path, "/v1/conversations/%s/members", id);
	json_decref(expect(3, "POST", path, "kalice",
			   "{\"add\":[\"carol\"]}", 200));
	j = expect(3, "POST", "/v1/conversations", "kalice", body, 200);
	assert_string_equal(cf_test_str(j, "conversationId"), id);
	assert_int_equal(json_array_size(json_object_get(j, "members")), 3);
	json_decref(j);
	/* another key, another user: other groups */
	j = expect(1, "POST", "/v1/conversations", "kalice",
		   "{\"type\":\"group\",\"members\":[\"bob\"],"
		   "\"clientMsgId\":\"create-2\"}",
		   201);
	assert_string_not_equal(cf_test_str(j, "conversationId"), id);
	json_decref(j);
	j = expect(1, "POST", "/v1/conversations", "kbob",
		   "{\"type\":\"group\",\"members\":[\"kalice\"],"
		   "\"clientMsgId\":\"create-1\"}",
		   201);
	assert_string_not_equal(cf_test_str(j, "conversationId"), id);
	json_decref(j);
	/* the derived id is not a name a client may give */
	snprintf(path, sizeof path,
		 "{\"type\":\"group\",\"members\":[\"bob\"],"
		 "\"conversationId\":\"%s\"}",
		 id);
	expect_error(1, "POST", "/v1/conversations", "kalice", path, 400,
		     "bad_request");
	expect_error(1, "POST", "/v1/conversations", "kalice",
		     "{\"type\":\"group\",\"members\":[],"
		     "\"clientMsgId\":\"bad key\"}",
		     400, "bad_request");
	n_passed++;
}

static void members_bad_inputs_are_refused(void **state)
{
	const char *p = "/v1/conversations/cm-b/members";
	char big[16384];
	size_t off;
	json_t *j;

	(void)state;
	cf_test_create_group(&cluster, 2, "alice", "cm-b", "[\"bob\"]");
	expect_error(1, "POST", p, "alice", "{\"add\":[\"x\"", 400,
		     "bad_request");
	expect_error(1, "POST", p, "alice", "[\"x\"]", 400, "bad_request");
	expect_error(2, "POST", p, "alice", "{}", 400, "bad_request");
	expect_error(2, "POST", p, "alice", "{\"add\":\"carol\"}", 400,
		     "bad_request");
	expect_error(3, "POST", p, "alice", "{\"add\":[42]}", 400,
		     "bad_request");
	expect_error(3, "POST", p, "alice", "{\"remove\":[\"bad id\"]}", 400,
		     "bad_request");
	expect_error(1, "POST", p, "alice",
		     "{\"add\":[\"carol\"],\"remove\":[\"carol\"]}", 400,
		     "bad_request");
	expect_error(1, "POST", "/v1/conversations/bad*id/members", "alice",
		     "{\"add\":[\"carol\"]}", 400, "bad_request");
	expect_error(2, "POST", "/v1/conversations/cm-none/members", "alice",
		     "{\"add\":[\"carol\"]}", 404, "not_found");
	expect_error(3, "POST", p, "mallory", "{\"remove\":[\"mallory\"]}",
		     404, "not_found");
	j = expect(1, "GET", p, "alice", NULL, 405);
	json_decref(j);
	expect_error(1, "POST", p, NULL, "{\"add\":[\"carol\"]}", 401,
		     "unauthorized");
	/* Over --max-group (500 by default). */
	off = (size_t)snprintf(big, sizeof big, "{\"add\":[");
	for (int i = 0; i < 500; i++)
		off += (size_t)snprintf(big + off, sizeof big - off,
					"%s\"u%d\"", i ? "," : "", i);
	snprintf(big + off, sizeof big - off, "]}");
	expect_error(2, "POST", p, "alice", big, 400, "bad_request");
	/* Direct conversations have fixed members. */
	j = expect(1, "POST", "/v1/conversations", "alice",
		   "{\"type\":\"direct\",\"members\":[\"bob\"]}", 201);
	snprintf(big, sizeof big, "/v1/conversations/%s/members",
		 cf_test_str(j, "conversationId"));
	json_decref(j);
	expect_error(2, "POST", big, "alice", "{\"add\":[\"carol\"]}", 400,
		     "bad_request");
	expect_error(3, "POST", big, "bob", "{\"remove\":[\"bob\"]}", 400,
		     "bad_request");
	n_passed++;
}

/* ---- recall ---- */

static void recall_keeps_the_seq_without_content(void **state)
{
	const char *base = "/v1/conversations/cr-g/messages";
	json_t *j, *h, *m;
	char dpath[256];

	(void)state;
	cf_test_create_group(&cluster, 1, "alice", "cr-g",
			     "[\"bob\",\"carol\"]");
	send_ok(2, "bob", "cr-g", "b1", "one", 1);
	send_ok(3, "carol", "cr-g", "c2", "two", 2);
	send_ok(1, "bob", "cr-g", "b3", "three", 3);
	/* Not the sender, not the owner. */
	expect_error(3, "DELETE", "/v1/conversations/cr-g/messages/1", "carol",
		     NULL, 403, "forbidden");
	/* The sender. */
	j = expect(2, "DELETE", "/v1/conversations/cr-g/messages/1", "bob",
		   NULL, 200);
	assert_string_equal(cf_test_str(j, "conversationId"), "cr-g");
	assert_int_equal(cf_test_int(j, "seq"), 1);
	assert_true(json_is_true(json_object_get(j, "recalled")));
	json_decref(j);
	/* The owner, any message; again is a no-op. */
	j = expect(3, "DELETE", "/v1/conversations/cr-g/messages/2", "alice",
		   NULL, 200);
	json_decref(j);
	j = expect(1, "DELETE", "/v1/conversations/cr-g/messages/2", "alice",
		   NULL, 200);
	json_decref(j);
	for (unsigned n = 1; n <= 3; n++) {
		h = cf_test_history(&cluster, n, "carol", "cr-g");
		assert_int_equal(json_array_size(h), 3);
		cf_test_assert_history(h);
		for (size_t i = 0; i < 2; i++) {
			m = json_array_get(h, i);
			assert_int_equal(cf_test_int(m, "seq"), (long long)i + 1);
			assert_true(json_is_true(json_object_get(m, "recalled")));
			assert_null(json_object_get(m, "content"));
			assert_true(strlen(cf_test_str(m, "messageId")) > 0);
		}
		m = json_array_get(h, 2);
		assert_string_equal(cf_test_str(m, "content"), "three");
		assert_null(json_object_get(m, "recalled"));
		json_decref(h);
	}
	/* Bad inputs. */
	snprintf(dpath, sizeof dpath, "%s/99", base);
	expect_error(2, "DELETE", dpath, "bob", NULL, 404, "not_found");
	snprintf(dpath, sizeof dpath, "%s/0", base);
	expect_error(2, "DELETE", dpath, "bob", NULL, 400, "bad_request");
	snprintf(dpath, sizeof dpath, "%s/abc", base);
	expect_error(3, "DELETE", dpath, "bob", NULL, 400, "bad_request");
	snprintf(dpath, sizeof dpath, "%s/-1", base);
	expect_error(3, "DELETE", dpath, "bob", NULL, 400, "bad_request");
	expect_error(1, "DELETE", "/v1/conversations/cr-none/messages/1",
		     "bob", NULL, 404, "not_found");
	expect_error(1, "DELETE", "/v1/conversations/bad*id/messages/1",
		     "bob", NULL, 400, "bad_request");
	expect_error(2, "DELETE", "/v1/conversations/cr-g/messages/3",
		     "mallory", NULL, 404, "not_found");
	j = expect(2, "POST", "/v1/conversations/cr-g/messages/3", "bob", "{}",
		   405);
	json_decref(j);
	/* In a direct conversation nobody may recall the other's message. */
	j = expect(3, "POST", "/v1/conversations", "alice",
		   "{\"type\":\"direct\",\"members\":[\"carol\"]}", 201);
	snprintf(dpath, sizeof dpath, "/v1/conversations/%s/messages/1",
		 cf_test_str(j, "conversationId"));
	send_ok(1, "carol", cf_test_str(j, "conversationId"), "dc1", "hi", 1);
	json_decref(j);
	expect_error(2, "DELETE", dpath, "alice", NULL, 403, "forbidden");
	n_passed++;
}

/* ---- receipts ---- */

/* POST .../{conv}/{kind} {"upToSeq": up}; returns the pointer answered. */
static long long receipt_call(unsigned node, const char *conv,
			      const char *kind, const char *user, long long up)
{
	char path[128], body[64];
	long long v;
	json_t *j;

	snprintf(path, sizeof path, "/v1/conversations/%s/%s", conv, kind);
	snprintf(body, sizeof body, "{\"upToSeq\":%lld}", up);
	j = expect(node, "POST", path, user, body, 200);
	v = cf_test_int(j, strcmp(kind, "read") == 0 ? "readSeq"
						     : "deliveredSeq");
	assert_int_equal(json_object_size(j), 1);
	json_decref(j);
	return v;
}

static void receipts_move_forward_clamped_and_read_implies_delivered(
	void **state)
{
	const char *p = "/v1/conversations/cv-r/read";
	json_t *j, *r, *b;
	char cmid[16];

	(void)state;
	cf_test_create_group(&cluster, 3, "alice", "cv-r",
			     "[\"bob\",\"carol\"]");
	for (int i = 1; i <= 5; i++) {
		snprintf(cmid, sizeof cmid, "r%d", i);
		send_ok((unsigned)(i % 3) + 1, "alice", "cv-r", cmid, "m", i);
	}
	assert_int_equal(receipt_call(2, "cv-r", "delivered", "bob", 3), 3);
	assert_int_equal(receipt_call(3, "cv-r", "read", "bob", 2), 2);
	assert_int_equal(receipt_call(1, "cv-r", "delivered", "bob", 1), 3);
	assert_int_equal(receipt_call(1, "cv-r", "read", "bob", 1), 2);
	assert_int_equal(receipt_call(2, "cv-r", "read", "bob", 100), 5);
	assert_int_equal(receipt_call(3, "cv-r", "delivered", "bob", 0), 5);
	assert_int_equal(receipt_call(1, "cv-r", "read", "carol", 4), 4);
	for (unsigned n = 1; n <= 3; n++) {
		j = expect(n, "GET", "/v1/conversations/cv-r?consistent=1",
			   "alice", NULL, 200);
		r = json_object_get(j, "receipts");
		assert_true(json_is_object(r));
		assert_int_equal(json_object_size(r), 3);
		b = json_object_get(r, "bob");
		assert_int_equal(cf_test_int(b, "deliveredSeq"), 5);
		assert_int_equal(cf_test_int(b, "readSeq"), 5);
		b = json_object_get(r, "carol");
		assert_int_equal(cf_test_int(b, "deliveredSeq"), 4);
		assert_int_equal(cf_test_int(b, "readSeq"), 4);
		b = json_object_get(r, "alice");
		assert_int_equal(cf_test_int(b, "deliveredSeq"), 0);
		assert_int_equal(cf_test_int(b, "readSeq"), 0);
		assert_int_equal(cf_test_int(j, "lastSeq"), 5);
		assert_int_equal(cf_test_int(j, "unread"), 5);
		json_decref(j);
	}
	/* Bad inputs. */
	expect_error(1, "POST", p, "bob", "{\"upToSeq\":", 400, "bad_request");
	expect_error(1, "POST", p, "bob", "{}", 400, "bad_request");
	expect_error(2, "POST", p, "bob", "{\"upToSeq\":\"3\"}", 400,
		     "bad_request");
	expect_error(2, "POST", p, "bob", "{\"upToSeq\":-1}", 400,
		     "bad_request");
	expect_error(3, "POST", p, "bob", "{\"upToSeq\":1.5}", 400,
		     "bad_request");
	expect_error(3, "POST", p, "bob", "", 400, "bad_request");
	expect_error(1, "POST", p, "mallory", "{\"upToSeq\":1}", 404,
		     "not_found");
	expect_error(2, "POST", "/v1/conversations/cv-none/delivered", "bob",
		     "{\"upToSeq\":1}", 404, "not_found");
	expect_error(3, "POST", "/v1/conversations/bad*id/read", "bob",
		     "{\"upToSeq\":1}", 400, "bad_request");
	j = expect(3, "GET", p, "bob", NULL, 405);
	json_decref(j);
	n_passed++;
}

/* ---- the list ---- */

static json_t *list_of(unsigned node, const char *user)
{
	json_t *j = expect(node, "GET", "/v1/conversations?consistent=1", user,
			   NULL, 200);
	json_t *a = json_incref(json_object_get(j, "conversations"));

	json_decref(j);
	assert_true(json_is_array(a));
	return a;
}

static void list_is_latest_first_with_unread_and_last_message(void **state)
{
	static const char *const order[] = {"cl-b", "cl-c", "cl-a"};
	json_t *a, *e, *lm;
	size_t i;

	(void)state;
	a = list_of(1, "lonely");
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
	cf_test_create_group(&cluster, 1, "lu", "cl-a", "[\"lv\"]");
	cf_test_create_group(&cluster, 2, "lu", "cl-b", "[\"lv\"]");
	cf_test_create_group(&cluster, 3, "lv", "cl-c", "[\"lu\"]");
	send_ok(1, "lv", "cl-a", "a1", "first a", 1);
	send_ok(2, "lv", "cl-a", "a2", "second a", 2);
	send_ok(3, "lv", "cl-c", "c1", "only c", 1);
	send_ok(1, "lu", "cl-b", "b1", "one b", 1);
	send_ok(2, "lv", "cl-b", "b2", "two b", 2);
	send_ok(3, "lv", "cl-b", "b3", "three b", 3);
	assert_int_equal(receipt_call(3, "cl-b", "read", "lu", 1), 1);
	for (unsigned n = 1; n <= 3; n++) {
		a = list_of(n, "lu");
		assert_int_equal(json_array_size(a), 3);
		json_array_foreach(a, i, e)
			assert_string_equal(cf_test_str(e, "conversationId"),
					    order[i]);
		e = json_array_get(a, 0);
		assert_int_equal(cf_test_int(e, "lastSeq"), 3);
		assert_int_equal(cf_test_int(e, "readSeq"), 1);
		assert_int_equal(cf_test_int(e, "deliveredSeq"), 1);
		assert_int_equal(cf_test_int(e, "unread"), 2);
		assert_string_equal(cf_test_str(e, "type"), "group");
		assert_true(json_is_array(json_object_get(e, "members")));
		assert_null(json_object_get(e, "receipts"));
		lm = json_object_get(e, "lastMessage");
		assert_int_equal(cf_test_int(lm, "seq"), 3);
		assert_string_equal(cf_test_str(lm, "senderId"), "lv");
		assert_string_equal(cf_test_str(lm, "content"), "three b");
		assert_string_equal(cf_test_str(lm, "msgType"), "text");
		assert_true(cf_test_int(lm, "serverTs") > 0);
		e = json_array_get(a, 1);
		assert_int_equal(cf_test_int(e, "unread"), 1);
		assert_string_equal(
			cf_test_str(json_object_get(e, "lastMessage"), "content"),
			"only c");
		e = json_array_get(a, 2);
		assert_int_equal(cf_test_int(e, "unread"), 2);
		assert_int_equal(cf_test_int(e, "readSeq"), 0);
		json_decref(a);
	}
	/* Paged: limit and an opaque cursor walk the same order. */
	{
		char path[128] = "/v1/conversations?limit=2";
		unsigned seen = 0;

		for (int page = 0; page < 3; page++) {
			json_t *j = expect(2, "GET", path, "lu", NULL, 200);
			json_t *cs = json_object_get(j, "conversations");
			bool more = json_is_true(json_object_get(j, "hasMore"));

			json_array_foreach(cs, i, e)
				assert_string_equal(
					cf_test_str(e, "conversationId"),
					order[seen++]);
			assert_int_equal(json_array_size(cs), page == 0 ? 2 : 1);
			if (!more) {
				assert_null(json_object_get(j, "cursor"));
				json_decref(j);
				break;
			}
			snprintf(path, sizeof path,
				 "/v1/conversations?limit=2&cursor=%s",
				 cf_test_str(j, "cursor"));
			json_decref(j);
		}
		assert_int_equal(seen, 3);
		expect_error(1, "GET", "/v1/conversations?cursor=zz", "lu",
			     NULL, 400, "bad_request");
		expect_error(1, "GET", "/v1/conversations?limit=0", "lu", NULL,
			     400, "bad_request");
		expect_error(1, "GET", "/v1/conversations?limit=x", "lu", NULL,
			     400, "bad_request");
	}
	/* A recall is an item: it moves its conversation to the top. */
	json_decref(expect(2, "DELETE", "/v1/conversations/cl-a/messages/2",
			   "lv", NULL, 200));
	/* A removed member no longer lists the conversation. */
	json_decref(expect(1, "POST", "/v1/conversations/cl-c/members", "lv",
			   "{\"remove\":[\"lu\"]}", 200));
	a = list_of(3, "lu");
	assert_int_equal(json_array_size(a), 2);
	e = json_array_get(a, 0);
	assert_string_equal(cf_test_str(e, "conversationId"), "cl-a");
	lm = json_object_get(e, "lastMessage");
	assert_int_equal(cf_test_int(lm, "seq"), 2);
	assert_true(json_is_true(json_object_get(lm, "recalled")));
	assert_null(json_object_get(lm, "content"));
	assert_string_equal(cf_test_str(json_array_get(a, 1),
					"conversationId"),
			    "cl-b");
	json_decref(a);
	a = list_of(2, "lv");
	assert_int_equal(json_array_size(a), 3);
	json_decref(a);
	expect_error(1, "GET", "/v1/conversations", NULL, NULL, 401,
		     "unauthorized");
	json_decref(expect(2, "DELETE", "/v1/conversations", "lu", NULL, 405));
	n_passed++;
}

/* ---- WebSocket events ---- */

/* The conversation id an event is about. */
static const char *event_conv(json_t *e)
{
	json_t *cv = json_object_get(e, "conversation");

	return cv != NULL ? cf_test_str(cv, "conversationId")
			  : cf_test_str(e, "conversationId");
}

/*
 * The next event of type about conv (and with that "id", if id is not
 * NULL) on w, skipping others; fails after EVENT_TIMEOUT_MS.
 */
static json_t *wait_event(struct cf_ws_client *w, const char *who,
			  const char *type, const char *conv, const char *id)
{
	uint64_t deadline = cf_mono_ms() + EVENT_TIMEOUT_MS;
	json_t *e;
	int rv;

	for (;;) {
		uint64_t now = cf_mono_ms();

		rv = cf_ws_recv_json(w, now < deadline ? (int)(deadline - now)
						       : 1,
				     &e);
		if (rv != 0)
			fail_msg("%s: no %s event about %s: %s", who, type,
				 conv, cf_strerror(rv));
		if (strcmp(cf_test_str(e, "type"), type) == 0 &&
		    strcmp(event_conv(e), conv) == 0 &&
		    (id == NULL || strcmp(cf_test_str(e, "id"), id) == 0))
			return e;
		json_decref(e);
	}
}

/* Fails if an event of type about conv arrives on w within ms. */
static void expect_no_event(struct cf_ws_client *w, const char *who,
			    const char *type, const char *conv, int ms)
{
	uint64_t deadline = cf_mono_ms() + (uint64_t)ms;
	json_t *e;

	for (uint64_t now = cf_mono_ms(); now < deadline; now = cf_mono_ms()) {
		if (cf_ws_recv_json(w, (int)(deadline - now), &e) != 0)
			return;
		if (strcmp(cf_test_str(e, "type"), type) == 0 &&
		    strcmp(event_conv(e), conv) == 0)
			fail_msg("%s got a %s event about %s", who, type, conv);
		json_decref(e);
	}
}

static void expect_conv_event(struct cf_ws_client *w, const char *who,
			      const char *event, const char *changed,
			      const char *user)
{
	json_t *e = wait_event(w, who, "conversation", "cw-g", NULL);

	assert_string_equal(cf_test_str(e, "event"), event);
	assert_true(cf_test_str(e, "cursor")[0] == 'm');
	assert_string_equal(
		cf_test_str(json_object_get(e, "conversation"), "owner"),
		"alice");
	if (changed != NULL)
		assert_true(has_str(json_object_get(e, changed), user));
	json_decref(e);
}

static void expect_receipt(struct cf_ws_client *w, const char *who,
			   const char *id, long long delivered, long long read)
{
	json_t *e = wait_event(w, who, "receipt", "cw-g", id);

	assert_string_equal(cf_test_str(e, "userId"), "bob");
	assert_int_equal(cf_test_int(e, "deliveredSeq"), delivered);
	assert_int_equal(cf_test_int(e, "readSeq"), read);
	json_decref(e);
}

static void expect_ws_error(struct cf_ws_client *w, const char *frame,
			    const char *id, const char *code)
{
	uint64_t deadline = cf_mono_ms() + EVENT_TIMEOUT_MS;
	json_t *e;

	assert_int_equal(cf_ws_send_text(w, frame), 0);
	for (;;) {
		uint64_t now = cf_mono_ms();

		assert_int_equal(cf_ws_recv_json(w,
						 now < deadline
							 ? (int)(deadline - now)
							 : 1,
						 &e),
				 0);
		if (strcmp(cf_test_str(e, "type"), "error") == 0 &&
		    strcmp(cf_test_str(e, "id"), id) == 0)
			break;
		json_decref(e);
	}
	assert_string_equal(cf_test_str(e, "code"), code);
	json_decref(e);
}

static void websocket_receipt_recalled_and_conversation_events(void **state)
{
	struct cf_ws_client b2, b3, a1, c3;
	struct cf_ws_client *all[] = {&b2, &b3, &a1, &c3};
	const char *names[] = {"bob@n2", "bob@n3", "alice@n1", "carol@n3"};
	char cursor[40];
	json_t *e;

	(void)state;
	assert_int_equal(cf_ws_connect(&b2, cluster.nodes[2].url,
				       "/v1/ws?user=bob&deviceId=b2", 5000),
			 0);
	assert_int_equal(cf_ws_connect(&b3, cluster.nodes[3].url,
				       "/v1/ws?user=bob&deviceId=b3", 5000),
			 0);
	assert_int_equal(cf_ws_connect(&a1, cluster.nodes[1].url,
				       "/v1/ws?user=alice&deviceId=a1", 5000),
			 0);
	assert_int_equal(cf_ws_connect(&c3, cluster.nodes[3].url,
				       "/v1/ws?user=carol&deviceId=c3", 5000),
			 0);
	cf_test_create_group(&cluster, 1, "alice", "cw-g", "[\"bob\"]");
	for (int i = 0; i < 3; i++)
		expect_conv_event(all[i], names[i], "created", NULL, NULL);
	json_decref(expect(2, "POST", "/v1/conversations/cw-g/members",
			   "alice", "{\"add\":[\"carol\"]}", 200));
	for (int i = 0; i < 4; i++)
		expect_conv_event(all[i], names[i], "members_changed", "added",
				  "carol");
	send_ok(1, "alice", "cw-g", "w1", "hello", 1);
	for (int i = 0; i < 4; i++) {
		e = wait_event(all[i], names[i], "message", "cw-g", NULL);
		assert_int_equal(cf_test_int(e, "seq"), 1);
		snprintf(cursor, sizeof cursor, "m%s",
			 cf_test_str(e, "messageId"));
		assert_string_equal(cf_test_str(e, "cursor"), cursor);
		json_decref(e);
	}
	/* A read on one device reaches the user's other devices too. */
	assert_int_equal(cf_ws_send_text(&b2, "{\"type\":\"read\",\"id\":\"q1\","
					      "\"conversationId\":\"cw-g\","
					      "\"upToSeq\":1}"),
			 0);
	expect_receipt(&b2, "bob@n2", "q1", 1, 1);
	for (int i = 1; i < 4; i++)
		expect_receipt(all[i], names[i], NULL, 1, 1);
	/* Recall. */
	json_decref(expect(3, "DELETE", "/v1/conversations/cw-g/messages/1",
			   "alice", NULL, 200));
	for (int i = 0; i < 4; i++) {
		e = wait_event(all[i], names[i], "recalled", "cw-g", NULL);
		assert_int_equal(cf_test_int(e, "seq"), 1);
		assert_true(cf_test_str(e, "cursor")[0] == 'm');
		json_decref(e);
	}
	/* The removed member sees its removal, then nothing. */
	json_decref(expect(1, "POST", "/v1/conversations/cw-g/members",
			   "alice", "{\"remove\":[\"carol\"]}", 200));
	for (int i = 0; i < 4; i++)
		expect_conv_event(all[i], names[i], "members_changed",
				  "removed", "carol");
	send_ok(2, "alice", "cw-g", "w2", "after", 2);
	e = wait_event(&b3, "bob@n3", "message", "cw-g", NULL);
	assert_int_equal(cf_test_int(e, "seq"), 2);
	json_decref(e);
	assert_int_equal(cf_ws_send_text(&b3, "{\"type\":\"delivered\","
					      "\"conversationId\":\"cw-g\","
					      "\"upToSeq\":2}"),
			 0);
	expect_receipt(&b2, "bob@n2", NULL, 2, 1);
	expect_receipt(&b3, "bob@n3", NULL, 2, 1);
	expect_no_event(&c3, "carol@n3", "message", "cw-g", 300);
	expect_no_event(&c3, "carol@n3", "receipt", "cw-g", 300);
	/* Bad frames. */
	expect_ws_error(&b2, "{\"type\":\"read\",\"id\":\"e1\",\"upToSeq\":1}",
			"e1", "bad_request");
	expect_ws_error(&b2,
			"{\"type\":\"delivered\",\"id\":\"e2\",\"conversation"
			"Id\":\"cw-g\",\"upToSeq\":\"x\"}",
			"e2", "bad_request");
	expect_ws_error(&b3,
			"{\"type\":\"read\",\"id\":\"e3\",\"conversationId\":"
			"\"cw-none\",\"upToSeq\":1}",
			"e3", "not_found");
	expect_ws_error(&c3,
			"{\"type\":\"read\",\"id\":\"e4\",\"conversationId\":"
			"\"cw-g\",\"upToSeq\":1}",
			"e4", "forbidden");
	expect_ws_error(&a1,
			"{\"type\":\"read\",\"id\":\"e5\",\"conversationId\":"
			"\"bad*id\",\"upToSeq\":1}",
			"e5", "bad_request");
	expect_ws_error(&a1,
			"{\"type\":\"delivered\",\"id\":\"e6\",\"conversation"
			"Id\":\"cw-g\"}",
			"e6", "bad_request");
	for (int i = 0; i < 4; i++)
		cf_ws_close(all[i]);
	n_passed++;
}

/* A node restarted from its store rebuilds receipts and recalls. */
static void receipts_and_recalls_survive_a_restart(void **state)
{
	json_t *j, *h, *b;

	(void)state;
	cf_test_create_group(&cluster, 1, "alice", "cs-g", "[\"bob\"]");
	send_ok(1, "bob", "cs-g", "s1", "gone", 1);
	send_ok(2, "bob", "cs-g", "s2", "kept", 2);
	json_decref(expect(3, "DELETE", "/v1/conversations/cs-g/messages/1",
			   "bob", NULL, 200));
	json_decref(expect(1, "POST", "/v1/conversations/cs-g/read", "alice",
			   "{\"upToSeq\":2}", 200));
	(void)cf_test_assert_same(&cluster, "alice", "cs-g", 2);
	assert_int_equal(cf_test_cluster_term(&cluster, 3, 10000, NULL), 0);
	assert_int_equal(cf_test_cluster_restart(&cluster, 3, 30000), 0);
	j = expect(3, "GET", "/v1/conversations/cs-g?consistent=1", "bob",
		   NULL, 200);
	b = json_object_get(json_object_get(j, "receipts"), "alice");
	assert_int_equal(cf_test_int(b, "readSeq"), 2);
	assert_int_equal(cf_test_int(b, "deliveredSeq"), 2);
	json_decref(j);
	h = cf_test_history(&cluster, 3, "bob", "cs-g");
	assert_true(json_is_true(json_object_get(json_array_get(h, 0),
						 "recalled")));
	assert_null(json_object_get(json_array_get(h, 0), "content"));
	assert_string_equal(cf_test_str(json_array_get(h, 1), "content"),
			    "kept");
	json_decref(h);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			members_owner_adds_and_removes_any_member_leaves),
		cmocka_unit_test(members_bad_inputs_are_refused),
		cmocka_unit_test(keyed_group_create_is_made_once),
		cmocka_unit_test(recall_keeps_the_seq_without_content),
		cmocka_unit_test(
			receipts_move_forward_clamped_and_read_implies_delivered),
		cmocka_unit_test(
			list_is_latest_first_with_unread_and_last_message),
		cmocka_unit_test(
			websocket_receipt_recalled_and_conversation_events),
		cmocka_unit_test(receipts_and_recalls_survive_a_restart),
	};

	assert_int_equal(sizeof tests / sizeof tests[0], N_TESTS);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
