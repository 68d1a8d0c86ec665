#include "config.h"

/*
 * Bad inputs on every route and frame (issue 4), end to end on one 3-node
 * cluster of real confabd processes with the default limits, shared by
 * every test of this program (each test uses its own users and
 * conversation ids): conversation create (direct unique per pair, group
 * ids, titles, the group size), send (fields, ids, msgType, attachments,
 * the body limit), history queries, unknown routes, wrong methods (405
 * with Allow), missing auth, the WebSocket upgrade (401, 426, 400) and
 * WebSocket violations (close codes 1002, 1003, 1007, 1009; error frames
 * that leave the socket usable). Every refusal is checked for its status
 * and API.md's error code, and every bad input is sent through each of the
 * three nodes. Reads that must see a write made elsewhere use consistent=1.
 * This file holds the cluster, the HTTP helpers, the conversation tests
 * and main; test_inputs_msg.c and test_inputs_ws.c hold the others.
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

#define START_TIMEOUT_MS 30000
#define N_TESTS 12

struct cf_test_cluster cluster;
int n_passed;

static int group_setup(void **state)
{
	(void)state;
	/* A failed start stops what it started. */
	return cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
}

/* ---- helpers ---- */

/* s with every ' turned into " (JSON without the escapes), in a ring. */
const char *jq(const char *s)
{
	static char ring[8][4096];
	static unsigned next;
	char *o = ring[next++ % 8];
	size_t i;

	assert_true(strlen(s) < sizeof ring[0]);
	for (i = 0; s[i] != '\0'; i++)
		o[i] = s[i] == '\'' ? '"' : s[i];
	o[i] = '\0';
	return o;
}

/* n copies of c, NUL-terminated, in one of two static buffers. */
const char *rep(char c, size_t n)
{
	static char b[2][512];
	static unsigned k;
	char *o = b[k++ % 2];

	assert_true(n < sizeof b[0]);
	memset(o, c, n);
	o[n] = '\0';
	return o;
}

void call_raw(unsigned node, const char *method, const char *path,
		     const char *headers, const char *body, size_t len,
		     struct ans *a)
{
	struct cf_http_resp r;
	int rv;

	cf_http_resp_init(&r);
	rv = cf_http_request(&cluster.nodes[node].conn, method, path, headers,
			     body, len, &r);
	if (rv != 0)
		fail_msg("%s %s on n%u: %s", method, path, node,
			 cf_strerror(rv));
	a->status = r.status;
	a->json = cf_http_resp_json(&r);
	if (a->json != NULL)
		json_incref(a->json);
	if (cf_http_resp_header(&r, "Allow", a->allow, sizeof a->allow) != 0)
		a->allow[0] = '\0';
	if (cf_http_resp_header(&r, "Sec-WebSocket-Version", a->wsver,
				sizeof a->wsver) != 0)
		a->wsver[0] = '\0';
	cf_http_resp_release(&r);
}

/* With dev auth as user (none if NULL) and a JSON body (or NULL). */
void call(unsigned node, const char *method, const char *path,
		 const char *user, const char *body, struct ans *a)
{
	char h[300] = "";

	if (user != NULL)
		snprintf(h, sizeof h, "X-Confab-User: %s\r\n", user);
	call_raw(node, method, path, h, body, body ? strlen(body) : 0, a);
}

/* Fails unless a is status with API.md's {"error":{code, message}}. */
void check_error(struct ans *a, int status, const char *code,
			const char *what, unsigned node)
{
	json_t *e = json_object_get(a->json, "error");
	char *dump = a->json ? json_dumps(a->json, JSON_COMPACT) : NULL;

	if (a->status != status || e == NULL ||
	    strcmp(cf_test_str(e, "code"), code) != 0 ||
	    strlen(cf_test_str(e, "message")) == 0)
		fail_msg("%.300s on n%u: %d %.300s, expected %d %s", what,
			 node, a->status, dump ? dump : "(no JSON)", status,
			 code);
	free(dump);
	json_decref(a->json);
	a->json = NULL;
}

/* The same request through every node must be refused with status/code. */
void refused(const char *method, const char *path, const char *user,
		    const char *body, int status, const char *code)
{
	char what[512];
	struct ans a;

	snprintf(what, sizeof what, "%s %s as %s [%.200s]", method, path,
		 user ? user : "-", body ? body : "");
	for (unsigned n = 1; n <= 3; n++) {
		call(n, method, path, user, body, &a);
		check_error(&a, status, code, what, n);
	}
}

/* One request that must answer status; its JSON (caller decrefs). */
json_t *ok(unsigned node, const char *method, const char *path,
		  const char *user, const char *body, int status)
{
	struct ans a;
	char *dump;

	call(node, method, path, user, body, &a);
	if (a.status != status) {
		dump = a.json ? json_dumps(a.json, JSON_COMPACT) : NULL;
		fail_msg("%s %s as %s on n%u: %d %.300s, expected %d", method,
			 path, user ? user : "-", node, a.status,
			 dump ? dump : "", status);
	}
	assert_non_null(a.json);
	return a.json;
}

long long history_len(unsigned node, const char *user,
			     const char *conv)
{
	char path[256];
	json_t *j;
	long long n;

	snprintf(path, sizeof path,
		 "/v1/conversations/%s/messages?consistent=1&limit=200", conv);
	j = ok(node, "GET", path, user, NULL, 200);
	n = (long long)json_array_size(json_object_get(j, "messages"));
	json_decref(j);
	return n;
}
/* ---- POST /v1/conversations ---- */

void direct_conversation_is_unique_per_pair_on_every_node(void **state)
{
	const char *body = jq("{'type':'direct','members':['in-db']}");
	char id[160], path[256];
	long long created;
	json_t *j;

	(void)state;
	j = ok(1, "POST", "/v1/conversations", "in-da", body, 201);
	snprintf(id, sizeof id, "%s", cf_test_str(j, "conversationId"));
	assert_true(strncmp(id, "c_", 2) == 0);
	assert_string_equal(cf_test_str(j, "type"), "direct");
	assert_int_equal(json_array_size(json_object_get(j, "members")), 2);
	assert_int_equal(cf_test_int(j, "lastSeq"), 0);
	created = cf_test_int(j, "createdAt");
	assert_true(created > 0);
	json_decref(j);
	/* Again, by either member, through any node: the same one, 200. */
	j = ok(2, "POST", "/v1/conversations", "in-da", body, 200);
	assert_string_equal(cf_test_str(j, "conversationId"), id);
	assert_int_equal(cf_test_int(j, "createdAt"), created);
	json_decref(j);
	j = ok(3, "POST", "/v1/conversations", "in-db",
	       jq("{'type':'direct','members':['in-da']}"), 200);
	assert_string_equal(cf_test_str(j, "conversationId"), id);
	json_decref(j);
	j = ok(1, "POST", "/v1/conversations", "in-db",
	       jq("{'type':'direct','members':['in-da','in-db']}"), 200);
	assert_string_equal(cf_test_str(j, "conversationId"), id);
	json_decref(j);
	/* Another pair is another conversation. */
	j = ok(2, "POST", "/v1/conversations", "in-da",
	       jq("{'type':'direct','members':['in-dc']}"), 201);
	assert_string_not_equal(cf_test_str(j, "conversationId"), id);
	json_decref(j);
	/* Exactly one in-db's list, the same on every node. */
	for (unsigned n = 1; n <= 3; n++) {
		j = ok(n, "GET", "/v1/conversations?consistent=1", "in-db",
		       NULL, 200);
		assert_int_equal(json_array_size(json_object_get(
					 j, "conversations")),
				 1);
		json_decref(j);
		snprintf(path, sizeof path, "/v1/conversations/%s?consistent=1",
			 id);
		json_decref(ok(n, "GET", path, "in-db", NULL, 200));
	}
	/* Exactly two members, and neither an id nor a title. */
	refused("POST", "/v1/conversations", "in-da",
		jq("{'type':'direct','members':['in-da']}"), 400,
		"bad_request");
	refused("POST", "/v1/conversations", "in-da",
		jq("{'type':'direct','members':[]}"), 400, "bad_request");
	refused("POST", "/v1/conversations", "in-da",
		jq("{'type':'direct','members':['in-db','in-dc']}"), 400,
		"bad_request");
	refused("POST", "/v1/conversations", "in-da",
		jq("{'type':'direct','members':['in-db','in-db']}"), 400,
		"bad_request");
	refused("POST", "/v1/conversations", "in-da",
		jq("{'type':'direct','members':['in-db'],'conversationId':"
		   "'in-d1'}"),
		400, "bad_request");
	refused("POST", "/v1/conversations", "in-da",
		jq("{'type':'direct','members':['in-db'],'title':'t'}"), 400,
		"bad_request");
	n_passed++;
}

void group_ids_titles_and_conflicts(void **state)
{
	const char *b1 = jq("{'type':'group','members':['in-gb','in-gc'],"
			    "'title':'Trip','conversationId':'in-g1'}");
	char body[1024], id[160];
	long long created;
	json_t *j;

	(void)state;
	j = ok(1, "POST", "/v1/conversations", "in-ga", b1, 201);
	assert_string_equal(cf_test_str(j, "conversationId"), "in-g1");
	assert_string_equal(cf_test_str(j, "type"), "group");
	assert_string_equal(cf_test_str(j, "title"), "Trip");
	assert_string_equal(cf_test_str(j, "owner"), "in-ga");
	assert_int_equal(json_array_size(json_object_get(j, "members")), 3);
	assert_int_equal(cf_test_int(j, "lastSeq"), 0);
	created = cf_test_int(j, "createdAt");
	json_decref(j);
	/* The owner again with the same members: a 200 no-op. */
	j = ok(2, "POST", "/v1/conversations", "in-ga",
	       jq("{'type':'group','members':['in-gc','in-ga','in-gb'],"
		  "'title':'Trip','conversationId':'in-g1'}"),
	       200);
	assert_int_equal(cf_test_int(j, "createdAt"), created);
	json_decref(j);
	/* Other members, another owner, a stranger: 409 conflict. */
	refused("POST", "/v1/conversations", "in-ga",
		jq("{'type':'group','members':['in-gb'],'conversationId':"
		   "'in-g1'}"),
		409, "conflict");
	refused("POST", "/v1/conversations", "in-gb",
		jq("{'type':'group','members':['in-ga','in-gc'],"
		   "'conversationId':'in-g1'}"),
		409, "conflict");
	refused("POST", "/v1/conversations", "in-gx",
		jq("{'type':'group','members':['in-gb'],'conversationId':"
		   "'in-g1'}"),
		409, "conflict");
	/* Generated ids start with c_ and differ; c_ is refused to callers. */
	j = ok(3, "POST", "/v1/conversations", "in-ga",
	       jq("{'type':'group','members':['in-gb']}"), 201);
	snprintf(id, sizeof id, "%s", cf_test_str(j, "conversationId"));
	assert_true(strncmp(id, "c_", 2) == 0);
	json_decref(j);
	j = ok(2, "POST", "/v1/conversations", "in-ga",
	       jq("{'type':'group','members':['in-gb']}"), 201);
	assert_true(strncmp(cf_test_str(j, "conversationId"), "c_", 2) == 0);
	assert_string_not_equal(cf_test_str(j, "conversationId"), id);
	json_decref(j);
	refused("POST", "/v1/conversations", "in-ga",
		jq("{'type':'group','members':['in-gb'],'conversationId':"
		   "'c_in1'}"),
		400, "bad_request");
	/* Alone is allowed; an id of 128 bytes is allowed. */
	j = ok(1, "POST", "/v1/conversations", "in-ga",
	       jq("{'type':'group','members':[]}"), 201);
	assert_int_equal(json_array_size(json_object_get(j, "members")), 1);
	json_decref(j);
	snprintf(body, sizeof body,
		 "{\"type\":\"group\",\"members\":[\"%s\"],"
		 "\"conversationId\":\"%s\"}",
		 rep('m', 128), rep('g', 128));
	json_decref(ok(2, "POST", "/v1/conversations", "in-ga", body, 201));
	/* Titles: a string of at most 256 bytes. */
	snprintf(body, sizeof body,
		 "{\"type\":\"group\",\"members\":[],\"title\":\"%s\"}",
		 rep('t', 256));
	j = ok(3, "POST", "/v1/conversations", "in-ga", body, 201);
	assert_string_equal(cf_test_str(j, "title"), rep('t', 256));
	json_decref(j);
	snprintf(body, sizeof body,
		 "{\"type\":\"group\",\"members\":[],\"title\":\"%s\"}",
		 rep('t', 257));
	refused("POST", "/v1/conversations", "in-ga", body, 400,
		"bad_request");
	refused("POST", "/v1/conversations", "in-ga",
		jq("{'type':'group','members':[],'title':5}"), 400,
		"bad_request");
	refused("POST", "/v1/conversations", "in-ga",
		jq("{'type':'group','members':[],'title':['t']}"), 400,
		"bad_request");
	n_passed++;
}

/* {"type":"group","members":[...]} with n ids (self first if self). */
static char *members_body(unsigned n, const char *self, const char *id)
{
	size_t cap = 64 + (size_t)n * 16 + 256;
	char *b = malloc(cap);
	size_t off;

	assert_non_null(b);
	off = (size_t)snprintf(b, cap, "{\"type\":\"group\",\"members\":[");
	for (unsigned i = 0; i < n; i++) {
		if (i == 0 && self != NULL)
			off += (size_t)snprintf(b + off, cap - off, "\"%s\"",
						self);
		else
			off += (size_t)snprintf(b + off, cap - off,
						"%s\"in-m%u\"", i ? "," : "",
						i);
	}
	snprintf(b + off, cap - off, "],\"conversationId\":\"%s\"}", id);
	return b;
}

void group_size_is_bounded_by_max_group(void **state)
{
	char *b;
	json_t *j;

	(void)state;
	/* 499 others and the caller: 500, the limit. */
	b = members_body(MAX_GROUP - 1, NULL, "in-big1");
	json_decref(ok(1, "POST", "/v1/conversations", "in-mo", b, 201));
	free(b);
	j = ok(3, "GET", "/v1/conversations/in-big1?consistent=1", "in-m7",
	       NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "members")),
			 MAX_GROUP);
	json_decref(j);
	/* 500 listed, the caller among them: 500 too. */
	b = members_body(MAX_GROUP, "in-mo", "in-big2");
	json_decref(ok(2, "POST", "/v1/conversations", "in-mo", b, 201));
	free(b);
	/* 500 others and the caller: 501. */
	b = members_body(MAX_GROUP, NULL, "in-big3");
	refused("POST", "/v1/conversations", "in-mo", b, 400, "bad_request");
	free(b);
	b = members_body(MAX_GROUP + 1, "in-mo", "in-big4");
	refused("POST", "/v1/conversations", "in-mo", b, 400, "bad_request");
	free(b);
	refused("GET", "/v1/conversations/in-big3?consistent=1", "in-mo",
		NULL, 404, "not_found");
	n_passed++;
}

void create_bad_inputs_are_400(void **state)
{
	static const char *const bodies[] = {
		"{'type':'group'", "", "[]", "'group'", "null", "42", "{}",
		"{'members':['x']}", "{'type':'group'}",
		"{'type':5,'members':['x']}",
		"{'type':'group','members':'x'}",
		"{'type':'group','members':[1]}",
		"{'type':'group','members':[null]}",
		"{'type':'group','members':{'x':1}}",
		"{'type':'channel','members':['x']}",
		"{'type':'GROUP','members':['x']}",
		"{'type':'groupgroupgroupgroupgroup','members':['x']}",
		"{'type':'group','members':['bad id']}",
		"{'type':'group','members':['']}",
		"{'type':'group','members':['\xc3\xa9t\xc3\xa9']}",
		"{'type':'group','members':['a/b']}",
		"{'type':'group','members':['x'],'conversationId':'bad id'}",
		"{'type':'group','members':['x'],'conversationId':''}",
		"{'type':'group','members':['x'],'conversationId':'\xc3\xa9'}",
		"{'type':'group','members':['x'],'conversationId':5}",
		"{'type':'group','members':['x'],'type':'group'}",
		"{'type':'group','members':['\xff']}",
	};
	char body[512];
	json_t *j;

	(void)state;
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
		refused("POST", "/v1/conversations", "in-cb", jq(bodies[i]),
			400, "bad_request");
	snprintf(body, sizeof body, "{\"type\":\"group\",\"members\":[\"%s\"]}",
		 rep('a', 129));
	refused("POST", "/v1/conversations", "in-cb", body, 400,
		"bad_request");
	snprintf(body, sizeof body,
		 "{\"type\":\"group\",\"members\":[],"
		 "\"conversationId\":\"%s\"}",
		 rep('a', 129));
	refused("POST", "/v1/conversations", "in-cb", body, 400,
		"bad_request");
	refused("POST", "/v1/conversations", NULL,
		jq("{'type':'group','members':[]}"), 401, "unauthorized");
	/* Nothing was created. */
	j = ok(2, "GET", "/v1/conversations?consistent=1", "in-cb", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "conversations")),
			 0);
	json_decref(j);
	n_passed++;
}
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			direct_conversation_is_unique_per_pair_on_every_node),
		cmocka_unit_test(group_ids_titles_and_conflicts),
		cmocka_unit_test(group_size_is_bounded_by_max_group),
		cmocka_unit_test(create_bad_inputs_are_400),
		cmocka_unit_test(
			send_bad_inputs_are_refused_and_store_nothing),
		cmocka_unit_test(body_over_max_body_is_413),
		cmocka_unit_test(image_and_file_need_a_valid_attachment),
		cmocka_unit_test(
			history_queries_are_checked_and_limit_capped),
		cmocka_unit_test(
			unknown_routes_wrong_methods_and_missing_auth),
		cmocka_unit_test(
			websocket_protocol_violations_close_with_rfc_codes),
		cmocka_unit_test(websocket_bad_frames_get_error_frames),
		cmocka_unit_test(websocket_upgrade_refusals),
	};

	assert_int_equal(sizeof tests / sizeof tests[0], N_TESTS);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

