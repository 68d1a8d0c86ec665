#include "config.h"

/*
 * test_inputs (see test_inputs.c): POST /v1/messages (fields, ids,
 * msgType, attachments, the body limit), history queries, unknown routes,
 * wrong methods and missing authentication.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "common/cf_time.h"
#include "test_inputs.h"

/* ---- POST /v1/messages ---- */

void send_bad_inputs_are_refused_and_store_nothing(void **state)
{
	static const struct {
		const char *body;
		int status;
		const char *code;
	} cases[] = {
		{"{'conversationId':'in-s'", 400, "bad_request"},
		{"", 400, "bad_request"},
		{"[1]", 400, "bad_request"},
		{"'hi'", 400, "bad_request"},
		{"42", 400, "bad_request"},
		{"{}", 400, "bad_request"},
		{"{'clientMsgId':'a','content':'x'}", 400, "bad_request"},
		{"{'conversationId':'in-s','content':'x'}", 400, "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'a'}", 400,
		 "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'a','msgType':'text'}",
		 400, "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'a','content':null}",
		 400, "bad_request"},
		{"{'conversationId':5,'clientMsgId':'a','content':'x'}", 400,
		 "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':5,'content':'x'}", 400,
		 "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'a','content':5}", 400,
		 "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'a','content':{}}",
		 400, "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'a','content':'x',"
		 "'msgType':5}",
		 400, "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'bad id',"
		 "'content':'x'}",
		 400, "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'','content':'x'}",
		 400, "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'\xc3\xa9','content':"
		 "'x'}",
		 400, "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'a*b','content':'x'}",
		 400, "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'a','content':'x',"
		 "'msgType':'Text'}",
		 400, "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'a','content':'x',"
		 "'msgType':'a-b'}",
		 400, "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'a','content':'x',"
		 "'msgType':''}",
		 400, "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'a','content':'x',"
		 "'msgType':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}",
		 400, "bad_request"},
		{"{'conversationId':'bad*id','clientMsgId':'a','content':'x'}",
		 400, "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'a','content':'x',"
		 "'content':'y'}",
		 400, "bad_request"},
		{"{'conversationId':'in-s','clientMsgId':'a','content':'\xff'}",
		 400, "bad_request"},
		{"{'conversationId':'in-none','clientMsgId':'a','content':'x'}",
		 404, "not_found"},
	};
	char body[512];
	json_t *j, *h;

	(void)state;
	cf_test_create_group(&cluster, 1, "in-sa", "in-s", "[\"in-sb\"]");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		refused("POST", "/v1/messages", "in-sa", jq(cases[i].body),
			cases[i].status, cases[i].code);
	snprintf(body, sizeof body,
		 "{\"conversationId\":\"in-s\",\"clientMsgId\":\"%s\","
		 "\"content\":\"x\"}",
		 rep('c', 129));
	refused("POST", "/v1/messages", "in-sa", body, 400, "bad_request");
	refused("POST", "/v1/messages", "in-sx",
		jq("{'conversationId':'in-s','clientMsgId':'a','content':'x'}"),
		404, "not_found"); /* never a member: as if it did not exist */
	refused("POST", "/v1/messages", NULL,
		jq("{'conversationId':'in-s','clientMsgId':'a','content':'x'}"),
		401, "unauthorized");
	/* The limits themselves pass: 128-byte clientMsgId, 32-char type. */
	snprintf(body, sizeof body,
		 "{\"conversationId\":\"in-s\",\"clientMsgId\":\"%s\","
		 "\"content\":\"x\"}",
		 rep('c', 128));
	json_decref(ok(2, "POST", "/v1/messages", "in-sa", body, 201));
	snprintf(body, sizeof body,
		 "{\"conversationId\":\"in-s\",\"clientMsgId\":\"t32\","
		 "\"content\":\"x\",\"msgType\":\"%s\"}",
		 rep('q', 32));
	json_decref(ok(3, "POST", "/v1/messages", "in-sb", body, 201));
	/* Only those two were stored, on every node. */
	for (unsigned n = 1; n <= 3; n++)
		assert_int_equal(history_len(n, "in-sb", "in-s"), 2);
	h = cf_test_history(&cluster, 1, "in-sa", "in-s");
	j = json_array_get(h, 1);
	assert_string_equal(cf_test_str(j, "msgType"), rep('q', 32));
	json_decref(h);
	n_passed++;
}

/* {"conversationId":conv,"clientMsgId":cmid,"content":"<n x unit>"}. */
static char *big_send(const char *conv, const char *cmid, const char *unit,
		      size_t n, size_t *len)
{
	size_t u = strlen(unit), cap = n * u + 256, off;
	char *b = malloc(cap);

	assert_non_null(b);
	off = (size_t)snprintf(b, cap,
			       "{\"conversationId\":\"%s\",\"clientMsgId\":"
			       "\"%s\",\"content\":\"",
			       conv, cmid);
	for (size_t i = 0; i < n; i++, off += u)
		memcpy(b + off, unit, u);
	off += (size_t)snprintf(b + off, cap - off, "\"}");
	*len = off;
	return b;
}

void body_over_max_body_is_413(void **state)
{
	static const char hdr[] = "X-Confab-User: in-ba\r\n";
	/* 12 bytes of JSON escape per character (a surrogate pair). */
	static const char emoji[] = "\\ud83d\\ude00";
	struct ans a;
	size_t len;
	char *b;

	(void)state;
	cf_test_create_group(&cluster, 2, "in-ba", "in-b", "[]");
	/*
	 * 100,000 characters in 1,200,000+ bytes: the largest legal send fits
	 * the default body limit (issue 11: it was refused over 1 MiB).
	 */
	b = big_send("in-b", "under", emoji, 100000, &len);
	assert_true(len > (1u << 20) && len < MAX_BODY);
	call_raw(1, "POST", "/v1/messages", hdr, b, len, &a);
	assert_int_equal(a.status, 201);
	json_decref(a.json);
	free(b);
	/* a body over the limit: 413 before its content is looked at */
	b = big_send("in-b", "over", emoji, 106000, &len);
	assert_true(len > MAX_BODY);
	for (unsigned n = 1; n <= 3; n++) {
		call_raw(n, "POST", "/v1/messages", hdr, b, len, &a);
		check_error(&a, 413, "payload_too_large", "body over the limit",
			    n);
	}
	free(b);
	/*
	 * Far over: the answer is read in full, not lost to a reset, while
	 * the rest of the body is still being sent (lingering close).
	 */
	b = big_send("in-b", "over2", "a", 8 * MAX_BODY, &len);
	for (unsigned n = 1; n <= 3; n++) {
		call_raw(n, "POST", "/v1/messages", hdr, b, len, &a);
		check_error(&a, 413, "payload_too_large", "body of 8 MiB", n);
	}
	free(b);
	for (unsigned n = 1; n <= 3; n++)
		assert_int_equal(history_len(n, "in-ba", "in-b"), 1);
	n_passed++;
}

void image_and_file_need_a_valid_attachment(void **state)
{
	static const char *const bad[] = {
		"{'msgType':'image'}",
		"{'msgType':'file','content':'doc'}",
		"{'msgType':'image','attachment':null}",
		"{'msgType':'image','attachment':'x'}",
		"{'msgType':'image','attachment':[]}",
		"{'msgType':'image','attachment':{}}",
		"{'msgType':'image','attachment':{'mediaId':5}}",
		"{'msgType':'image','attachment':{'mediaId':'bad id'}}",
		"{'msgType':'image','attachment':{'mediaId':''}}",
		"{'msgType':'image','attachment':{'mediaId':'m1','mime':5}}",
		"{'msgType':'image','attachment':{'mediaId':'m1','name':5}}",
		"{'msgType':'image','attachment':{'mediaId':'m1','size':'12'}}",
		"{'msgType':'image','attachment':{'mediaId':'m1','size':-1}}",
		"{'msgType':'image','attachment':{'mediaId':'m1','size':1.5}}",
		"{'msgType':'text','content':'x','attachment':{'size':1}}",
	};
	static const char png[] = "\x89PNG\r\n\x1a\nnot really";
	char body[1024], mid[160];
	struct ans a;
	json_t *h, *att;

	(void)state;
	cf_test_create_group(&cluster, 3, "in-aa", "in-a", "[\"in-ab\"]");
	call_raw(2, "POST", "/v1/media",
		 "X-Confab-User: in-aa\r\nContent-Type: image/png\r\n", png,
		 sizeof png - 1, &a);
	assert_int_equal(a.status, 200);
	snprintf(mid, sizeof mid, "%s", cf_test_str(a.json, "mediaId"));
	assert_true(strlen(mid) > 0);
	json_decref(a.json);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		/* bad[i] without its braces, after the common fields */
		const char *f = jq(bad[i]);

		snprintf(body, sizeof body,
			 "{\"conversationId\":\"in-a\",\"clientMsgId\":"
			 "\"a%zu\",%.*s}",
			 i, (int)strlen(f) - 2, f + 1);
		refused("POST", "/v1/messages", "in-aa", body, 400,
			"bad_request");
	}
	snprintf(body, sizeof body,
		 "{\"conversationId\":\"in-a\",\"clientMsgId\":\"ok1\","
		 "\"msgType\":\"image\",\"attachment\":{\"mediaId\":\"%s\","
		 "\"mime\":\"image/png\",\"size\":%zu,\"name\":\"x.png\"}}",
		 mid, sizeof png - 1);
	json_decref(ok(1, "POST", "/v1/messages", "in-aa", body, 201));
	snprintf(body, sizeof body,
		 "{\"conversationId\":\"in-a\",\"clientMsgId\":\"ok2\","
		 "\"msgType\":\"file\",\"content\":\"doc\",\"attachment\":"
		 "{\"mediaId\":\"%s\",\"name\":\"x.bin\"}}",
		 mid);
	json_decref(ok(3, "POST", "/v1/messages", "in-ab", body, 201));
	h = cf_test_history(&cluster, 2, "in-ab", "in-a");
	assert_int_equal(json_array_size(h), 2);
	att = json_object_get(json_array_get(h, 0), "attachment");
	assert_string_equal(cf_test_str(att, "mediaId"), mid);
	assert_int_equal(cf_test_int(att, "size"), (long long)sizeof png - 1);
	assert_string_equal(cf_test_str(json_array_get(h, 1), "msgType"),
			    "file");
	json_decref(h);
	n_passed++;
}
/* ---- GET /v1/conversations/{id}/messages ---- */

/* The seqs of a history answer must be first..last. */
static void check_page(json_t *j, long long first, long long last,
		       int has_more)
{
	json_t *m = json_object_get(j, "messages");

	assert_int_equal(json_array_size(m), (size_t)(last - first + 1));
	assert_int_equal(cf_test_int(json_array_get(m, 0), "seq"), first);
	assert_int_equal(
		cf_test_int(json_array_get(m, json_array_size(m) - 1), "seq"),
		last);
	assert_int_equal(cf_test_int(j, "lastSeq"), 201);
	assert_int_equal(json_is_true(json_object_get(j, "hasMore")),
			 has_more);
}

void history_queries_are_checked_and_limit_capped(void **state)
{
	static const char *const bad[] = {
		"fromSeq=0", "fromSeq=-1", "fromSeq=abc", "fromSeq=",
		"fromSeq=1.5", "fromSeq=1e3", "fromSeq=99999999999999999999",
		"beforeSeq=0", "beforeSeq=-3", "beforeSeq=x", "limit=0",
		"limit=-1", "limit=x", "limit=", "limit=2.5",
		"fromSeq=1&beforeSeq=5",
	};
	const char *base = "/v1/conversations/in-h/messages?consistent=1&";
	struct cf_ws_client w;
	char path[256], frame[256];
	json_t *j;

	(void)state;
	cf_test_create_group(&cluster, 1, "in-ha", "in-h", "[\"in-hb\"]");
	/* 201 messages, pipelined on one socket. */
	ws_open(&w, 2, "in-ha");
	for (int i = 0; i < 201; i++) {
		snprintf(frame, sizeof frame,
			 "{\"type\":\"send\",\"id\":\"s%d\",\"conversationId\":"
			 "\"in-h\",\"clientMsgId\":\"h%d\",\"content\":\"%d\"}",
			 i, i, i);
		assert_int_equal(cf_ws_send_text(&w, frame), 0);
	}
	json_decref(ws_wait(&w, "ack", "s200"));
	cf_ws_close(&w);
	for (unsigned n = 1; n <= 3; n++) {
		snprintf(path, sizeof path, "%slimit=1000", base);
		j = ok(n, "GET", path, "in-hb", NULL, 200);
		check_page(j, 2, 201, 1);
		json_decref(j);
	}
	snprintf(path, sizeof path, "%sfromSeq=1&limit=500", base);
	j = ok(3, "GET", path, "in-hb", NULL, 200);
	check_page(j, 1, 200, 1);
	json_decref(j);
	snprintf(path, sizeof path, "%sfromSeq=2&limit=201", base);
	j = ok(2, "GET", path, "in-hb", NULL, 200);
	check_page(j, 2, 201, 0);
	json_decref(j);
	snprintf(path, sizeof path, "%sbeforeSeq=202&limit=300", base);
	j = ok(1, "GET", path, "in-ha", NULL, 200);
	check_page(j, 2, 201, 1);
	json_decref(j);
	j = ok(1, "GET", base, "in-ha", NULL, 200); /* default 50 */
	check_page(j, 152, 201, 1);
	json_decref(j);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(path, sizeof path, "%s%s", base, bad[i]);
		refused("GET", path, "in-ha", NULL, 400, "bad_request");
	}
	refused("GET", "/v1/conversations/in-hnone/messages?consistent=1",
		"in-ha", NULL, 404, "not_found");
	refused("GET", "/v1/conversations/in-h/messages?consistent=1",
		"in-hx", NULL, 404, "not_found");
	refused("GET", "/v1/conversations/bad*id/messages", "in-ha", NULL,
		400, "bad_request");
	refused("GET", "/v1/conversations/in-h/messages", NULL, NULL, 401,
		"unauthorized");
	n_passed++;
}

/* ---- routes, methods, authentication ---- */

void unknown_routes_wrong_methods_and_missing_auth(void **state)
{
	static const char *const unknown[] = {
		"/v1/nope", "/v1/", "/v1/conversations/in-r/nope",
		"/v1/conversations/in-r/messages/1/x", "/nope",
		"/v1/conversations/",
	};
	static const struct {
		const char *method, *path, *allow;
	} wrong[] = {
		{"DELETE", "/v1/conversations", "GET, POST"},
		{"PUT", "/v1/messages", "POST"},
		{"GET", "/v1/messages", "POST"},
		{"DELETE", "/v1/conversations/in-r", "GET"},
		{"POST", "/v1/conversations/in-r", "GET"},
		{"POST", "/v1/conversations/in-r/messages", "GET"},
		{"GET", "/v1/conversations/in-r/members", "POST"},
		{"GET", "/v1/conversations/in-r/read", "POST"},
		{"DELETE", "/v1/conversations/in-r/delivered", "POST"},
		{"GET", "/v1/conversations/in-r/messages/1", "DELETE, PATCH"},
		{"POST", "/v1/search", "GET"},
		{"DELETE", "/v1/mentions", "GET"},
		{"POST", "/v1/sync", "GET"},
		{"DELETE", "/v1/presence", "GET"},
		{"GET", "/v1/media", "POST"},
		{"DELETE", "/v1/media/m1", "GET"},
	};
	static const struct {
		const char *method, *path, *body;
	} authed[] = {
		{"POST", "/v1/conversations", "{}"},
		{"GET", "/v1/conversations", NULL},
		{"GET", "/v1/conversations/in-r", NULL},
		{"POST", "/v1/messages", "{}"},
		{"GET", "/v1/conversations/in-r/messages", NULL},
		{"POST", "/v1/conversations/in-r/members", "{}"},
		{"POST", "/v1/conversations/in-r/delivered", "{}"},
		{"POST", "/v1/conversations/in-r/read", "{}"},
		{"DELETE", "/v1/conversations/in-r/messages/1", NULL},
		{"PATCH", "/v1/conversations/in-r/messages/1", "{}"},
		{"GET", "/v1/search?q=x", NULL},
		{"GET", "/v1/mentions", NULL},
		{"GET", "/v1/sync", NULL},
		{"GET", "/v1/presence?users=in-ra", NULL},
		{"POST", "/v1/media", "x"},
		{"GET", "/v1/media/m1", NULL},
		{"GET", "/v1/nope", NULL},
	};
	char what[256];
	struct ans a;

	(void)state;
	cf_test_create_group(&cluster, 1, "in-ra", "in-r", "[]");
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
		refused("GET", unknown[i], "in-ra", NULL, 404, "not_found");
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		snprintf(what, sizeof what, "%s %s", wrong[i].method,
			 wrong[i].path);
		for (unsigned n = 1; n <= 3; n++) {
			call(n, wrong[i].method, wrong[i].path, "in-ra", NULL,
			     &a);
			if (strcmp(a.allow, wrong[i].allow) != 0)
				fail_msg("%s on n%u: Allow '%s', expected '%s'",
					 what, n, a.allow, wrong[i].allow);
			check_error(&a, 405, "bad_request", what, n);
		}
	}
	for (size_t i = 0; i < sizeof authed / sizeof authed[0]; i++) {
		refused(authed[i].method, authed[i].path, NULL, authed[i].body,
			401, "unauthorized");
		refused(authed[i].method, authed[i].path, "bad*user",
			authed[i].body, 401, "unauthorized");
	}
	n_passed++;
}
