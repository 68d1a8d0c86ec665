#include "config.h"

/*
 * Ephemeral state (issue 4), end to end on one 3-node cluster of real
 * confabd processes: `typing` frames reach the other members' sockets on
 * every node and are refused to a non-member; `presence` events reach the
 * users sharing a conversation when a user connects on another node and
 * when its last socket closes; GET /v1/presence answers from any node.
 * Each test uses its own users and conversation ids.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_err.h"
#include "common/cf_time.h"

#define START_TIMEOUT_MS 30000
#define EVENT_TIMEOUT_MS 8000

static struct cf_test_cluster cluster;
static int n_passed;

static int group_setup(void **state)
{
	(void)state;
	/* A failed start stops what it started. */
	return cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0 ? -1 : 0;
}

#define N_TESTS 3

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
}

static void ws_open(struct cf_ws_client *w, unsigned node, const char *user,
		    const char *dev)
{
	char pq[128];

	snprintf(pq, sizeof pq, "/v1/ws?user=%s&deviceId=%s", user, dev);
	assert_int_equal(cf_ws_connect(w, cluster.nodes[node].url, pq, 5000),
			 0);
}

/*
 * The next event of type whose field key equals val (NULL: any), skipping
 * others; fails after EVENT_TIMEOUT_MS. Caller decrefs.
 */
static json_t *wait_for(struct cf_ws_client *w, const char *type,
			const char *key, const char *val)
{
	uint64_t end = cf_mono_ms() + EVENT_TIMEOUT_MS;
	json_t *e = NULL;

	for (;;) {
		uint64_t now = cf_mono_ms();
		int rv;
		if (now >= end)
			break;
		rv = cf_ws_recv_json(w, (int)(end - now), &e);
		if (rv != 0)
			break;
		if (strcmp(cf_test_str(e, "type"), type) == 0 &&
		    (key == NULL || strcmp(cf_test_str(e, key), val) == 0))
			return e;
		json_decref(e);
		e = NULL;
	}
	fail_msg("no %s event with %s=%s", type, key ? key : "-",
		 val ? val : "-");
	return NULL;
}

/* No event of type arrives within ms. */
static void assert_none(struct cf_ws_client *w, const char *type, int ms)
{
	uint64_t end = cf_mono_ms() + (uint64_t)ms;
	json_t *e;

	for (;;) {
		uint64_t now = cf_mono_ms();
		if (now >= end)
			return;
		if (cf_ws_recv_json(w, (int)(end - now), &e) != 0)
			return;
		if (strcmp(cf_test_str(e, "type"), type) == 0)
			fail_msg("unexpected %s event", type);
		json_decref(e);
	}
}

static void typing_reaches_members_on_every_node_not_the_sender(void **state)
{
	struct cf_ws_client a1, b2, c3, x3;
	json_t *e;

	(void)state;
	ws_open(&a1, 1, "ty-a", "d1");
	ws_open(&b2, 2, "ty-b", "d2");
	ws_open(&c3, 3, "ty-c", "d3");
	ws_open(&x3, 3, "ty-x", "d4");
	cf_test_create_group(&cluster, 2, "ty-a", "ty-g",
			     "[\"ty-b\",\"ty-c\"]");
	json_decref(wait_for(&a1, "conversation", NULL, NULL));
	json_decref(wait_for(&b2, "conversation", NULL, NULL));
	json_decref(wait_for(&c3, "conversation", NULL, NULL));

	assert_int_equal(cf_ws_send_text(&a1, "{\"type\":\"typing\","
					      "\"conversationId\":\"ty-g\","
					      "\"state\":\"start\"}"),
			 0);
	e = wait_for(&b2, "typing", "userId", "ty-a");
	assert_string_equal(cf_test_str(e, "conversationId"), "ty-g");
	assert_string_equal(cf_test_str(e, "state"), "start");
	json_decref(e);
	e = wait_for(&c3, "typing", "userId", "ty-a");
	assert_string_equal(cf_test_str(e, "state"), "start");
	json_decref(e);

	assert_int_equal(cf_ws_send_text(&c3, "{\"type\":\"typing\","
					      "\"conversationId\":\"ty-g\","
					      "\"state\":\"stop\"}"),
			 0);
	e = wait_for(&a1, "typing", "userId", "ty-c");
	assert_string_equal(cf_test_str(e, "state"), "stop");
	json_decref(e);
	e = wait_for(&b2, "typing", "userId", "ty-c");
	assert_string_equal(cf_test_str(e, "state"), "stop");
	json_decref(e);
	/* The sender does not get its own indicator; outsiders get none. */
	assert_none(&c3, "typing", 500);
	assert_none(&x3, "typing", 300);
	cf_ws_close(&a1);
	cf_ws_close(&b2);
	cf_ws_close(&c3);
	cf_ws_close(&x3);
	n_passed++;
}

static void typing_from_a_non_member_or_malformed_is_refused(void **state)
{
	struct cf_ws_client a1, x2;
	json_t *e;
	int st;

	(void)state;
	ws_open(&a1, 1, "tn-a", "d1");
	ws_open(&x2, 2, "tn-x", "d2");
	cf_test_create_group(&cluster, 1, "tn-a", "tn-g", "[\"tn-b\"]");
	json_decref(wait_for(&a1, "conversation", NULL, NULL));
	/* Let node 2 apply the creation too. */
	json_decref(cf_test_call(&cluster, 2, "GET",
				 "/v1/conversations/tn-g?consistent=1", "tn-a",
				 NULL, &st));
	assert_int_equal(st, 200);

	assert_int_equal(cf_ws_send_text(&x2, "{\"type\":\"typing\",\"id\":7,"
					      "\"conversationId\":\"tn-g\","
					      "\"state\":\"start\"}"),
			 0);
	e = wait_for(&x2, "error", NULL, NULL);
	/* never a member: as if the conversation did not exist */
	assert_string_equal(cf_test_str(e, "code"), "not_found");
	assert_int_equal(cf_test_int(e, "id"), 7);
	json_decref(e);
	assert_none(&a1, "typing", 500);

	assert_int_equal(cf_ws_send_text(&a1, "{\"type\":\"typing\","
					      "\"conversationId\":\"tn-g\","
					      "\"state\":\"maybe\"}"),
			 0);
	e = wait_for(&a1, "error", NULL, NULL);
	assert_string_equal(cf_test_str(e, "code"), "bad_request");
	json_decref(e);
	assert_int_equal(cf_ws_send_text(&a1, "{\"type\":\"typing\","
					      "\"state\":\"start\"}"),
			 0);
	e = wait_for(&a1, "error", NULL, NULL);
	assert_string_equal(cf_test_str(e, "code"), "bad_request");
	json_decref(e);
	cf_ws_close(&a1);
	cf_ws_close(&x2);
	n_passed++;
}

/* GET /v1/presence?users=u on node: u's entry (caller decrefs the whole). */
static json_t *presence_of(unsigned node, const char *users, int *status)
{
	char path[160];

	snprintf(path, sizeof path, "/v1/presence?users=%s", users);
	return cf_test_call(&cluster, node, "GET", path, "pr-b", NULL, status);
}

/*
 * GET /v1/presence of user on node until its "online" is want (each node
 * learns it from the socket's node on its own link: it may trail the
 * event another node already delivered). The last answer, 200.
 */
static json_t *presence_until(unsigned node, const char *user, bool want)
{
	uint64_t deadline = cf_mono_ms() + 3000;
	json_t *r;
	int st;

	for (;;) {
		r = presence_of(node, user, &st);
		assert_int_equal(st, 200);
		if (json_is_true(json_object_get(json_object_get(r, user),
						 "online")) == want)
			return r;
		json_decref(r);
		assert_true(cf_mono_ms() < deadline);
		cf_test_sleep_ms(20);
	}
}

static void presence_events_follow_connects_and_disconnects(void **state)
{
	struct cf_ws_client b3, a1;
	uint64_t t0 = cf_wall_ms();
	json_t *e, *r, *u;
	int st;

	(void)state;
	ws_open(&b3, 3, "pr-b", "d3");
	cf_test_create_group(&cluster, 1, "pr-b", "pr-g", "[\"pr-a\"]");
	json_decref(wait_for(&b3, "conversation", NULL, NULL));
	json_decref(cf_test_call(&cluster, 1, "GET",
				 "/v1/conversations/pr-g?consistent=1", "pr-b",
				 NULL, &st));
	assert_int_equal(st, 200);

	r = presence_of(2, "pr-a,pr-nobody", &st);
	assert_int_equal(st, 200);
	u = json_object_get(r, "pr-a");
	assert_true(json_is_false(json_object_get(u, "online")));
	assert_true(json_is_null(json_object_get(u, "lastActiveAt")));
	assert_true(json_is_false(
		json_object_get(json_object_get(r, "pr-nobody"), "online")));
	json_decref(r);

	/* pr-a comes online on node 1: pr-b hears it on node 3. */
	ws_open(&a1, 1, "pr-a", "d1");
	e = wait_for(&b3, "presence", "userId", "pr-a");
	assert_true(json_is_true(json_object_get(e, "online")));
	assert_true(cf_test_int(e, "lastActiveAt") >= (long long)t0);
	json_decref(e);
	r = presence_until(2, "pr-a", true);
	u = json_object_get(r, "pr-a");
	assert_true(json_is_true(json_object_get(u, "online")));
	assert_true(cf_test_int(u, "lastActiveAt") >= (long long)t0);
	json_decref(r);
	/* A user who shares no conversation with pr-a learns nothing. */
	r = cf_test_call(&cluster, 2, "GET", "/v1/presence?users=pr-a,pr-x",
			 "pr-x", NULL, &st);
	assert_int_equal(st, 200);
	u = json_object_get(r, "pr-a");
	assert_true(json_is_false(json_object_get(u, "online")));
	assert_true(json_is_null(json_object_get(u, "lastActiveAt")));
	json_decref(r);
	/* Activity while online announces nothing new. */
	assert_int_equal(cf_ws_send_text(&a1, "{\"type\":\"ping\"}"), 0);
	assert_none(&b3, "presence", 1500);

	/* Its last socket closes: offline everywhere. */
	cf_ws_close(&a1);
	e = wait_for(&b3, "presence", "userId", "pr-a");
	assert_true(json_is_false(json_object_get(e, "online")));
	assert_true(cf_test_int(e, "lastActiveAt") >= (long long)t0);
	json_decref(e);
	for (unsigned n = 1; n <= 3; n++)
		json_decref(presence_until(n, "pr-a", false));
	/* Bad queries. */
	r = presence_of(1, "bad%20id", &st);
	assert_int_equal(st, 400);
	json_decref(r);
	json_decref(cf_test_call(&cluster, 1, "GET", "/v1/presence", "pr-b",
				 NULL, &st));
	assert_int_equal(st, 400);
	cf_ws_close(&b3);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			typing_reaches_members_on_every_node_not_the_sender),
		cmocka_unit_test(
			typing_from_a_non_member_or_malformed_is_refused),
		cmocka_unit_test(
			presence_events_follow_connects_and_disconnects),
	};

	assert_int_equal(sizeof tests / sizeof tests[0], N_TESTS);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
