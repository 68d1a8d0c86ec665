#include "config.h"

/*
 * Ephemeral state (issues 4 and 11), end to end on one 3-node cluster of
 * real confabd processes: `typing` frames reach the other members' sockets
 * on every node, are refused to a non-member and are not relayed in a
 * group over --presence-group-max (default 100); presence is pushed only to
 * sockets that subscribed (`presence_subscribe`) to users sharing a small
 * conversation with them, several changes in one frame, at most 256 users
 * per socket; GET /v1/presence answers from any node, also for members of
 * big groups (pull). Each test uses its own users and conversation ids.
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

#define N_TESTS 8

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

/* Drop the connection as a network failure would (no close handshake). */
static void ws_drop(struct cf_ws_client *w)
{
	cf_http_conn_release(&w->conn);
	cf_buf_release(&w->frag);
}

/* Group id of owner with members prefix1 .. prefix<n-1> (n in all with the
 * owner), created on node. */
static void create_big_group(unsigned node, const char *owner, const char *id,
			     const char *prefix, unsigned n)
{
	struct cf_buf b = CF_BUF_INIT;
	json_t *j;
	int st;

	assert_int_equal(cf_buf_appendf(&b, "{\"type\":\"group\","
					    "\"conversationId\":\"%s\","
					    "\"members\":[",
					 id),
			 0);
	for (unsigned i = 1; i < n; i++)
		assert_int_equal(cf_buf_appendf(&b, "%s\"%s%u\"",
						 i > 1 ? "," : "", prefix, i),
				 0);
	assert_int_equal(cf_buf_append(&b, "]}", 3), 0);
	j = cf_test_call(&cluster, node, "POST", "/v1/conversations", owner,
			 b.data, &st);
	assert_int_equal(st, 201);
	json_decref(j);
	cf_buf_release(&b);
}

/* The entry of user in a presence frame's users, or NULL. */
static json_t *entry_of(json_t *frame, const char *user)
{
	json_t *users = json_object_get(frame, "users");
	size_t i;
	json_t *e;

	assert_true(json_is_array(users));
	json_array_foreach(users, i, e) {
		if (strcmp(cf_test_str(e, "userId"), user) == 0)
			return e;
	}
	return NULL;
}

/*
 * Send presence_subscribe with id and users (a JSON array text); the
 * answer (caller decrefs).
 */
static json_t *subscribe(struct cf_ws_client *w, int id, const char *users)
{
	char f[1024];
	uint64_t end = cf_mono_ms() + EVENT_TIMEOUT_MS;
	json_t *e = NULL;

	snprintf(f, sizeof f,
		 "{\"type\":\"presence_subscribe\",\"id\":%d,\"users\":%s}", id,
		 users);
	assert_int_equal(cf_ws_send_text(w, f), 0);
	for (;;) {
		uint64_t now = cf_mono_ms();
		assert_true(now < end);
		assert_int_equal(cf_ws_recv_json(w, (int)(end - now), &e), 0);
		if (json_is_integer(json_object_get(e, "id")) &&
		    cf_test_int(e, "id") == id)
			return e;
		json_decref(e);
	}
}

/*
 * Presence frames on w until one says user's online is want; fails if
 * a frame names one of never (NULL-terminated, may be NULL) first. Returns
 * the frames read, that one included; *last gets its lastActiveAt (-1:
 * null).
 */
static unsigned wait_presence(struct cf_ws_client *w, const char *user,
			      bool want, const char *const *never,
			      long long *last)
{
	unsigned frames = 0;

	for (;;) {
		json_t *f = wait_for(w, "presence", NULL, NULL);
		json_t *e;
		assert_null(json_object_get(f, "id"));
		frames++;
		for (unsigned k = 0; never != NULL && never[k] != NULL; k++)
			if (entry_of(f, never[k]) != NULL)
				fail_msg("presence of %s pushed", never[k]);
		e = entry_of(f, user);
		if (e != NULL &&
		    json_is_true(json_object_get(e, "online")) == want) {
			if (last != NULL)
				*last = json_is_null(json_object_get(
						e, "lastActiveAt"))
						? -1
						: cf_test_int(e,
							      "lastActiveAt");
			json_decref(f);
			return frames;
		}
		json_decref(f);
	}
}

/* GET /v1/presence?users=u on node as pr-b (caller decrefs the whole). */
static json_t *presence_of(unsigned node, const char *users, int *status)
{
	char path[160];

	snprintf(path, sizeof path, "/v1/presence?users=%s", users);
	return cf_test_call(&cluster, node, "GET", path, "pr-b", NULL, status);
}

/*
 * GET /v1/presence of user on node, asked by as, until its "online" is
 * want (each node learns it from the socket's node on its own link: it may
 * trail the event another node already delivered). The last answer, 200.
 */
static json_t *presence_until(unsigned node, const char *as, const char *user,
			      bool want)
{
	uint64_t deadline = cf_mono_ms() + EVENT_TIMEOUT_MS;
	char path[160];
	json_t *r;
	int st;

	snprintf(path, sizeof path, "/v1/presence?users=%s", user);
	for (;;) {
		r = cf_test_call(&cluster, node, "GET", path, as, NULL, &st);
		assert_int_equal(st, 200);
		if (json_is_true(json_object_get(json_object_get(r, user),
						 "online")) == want)
			return r;
		json_decref(r);
		assert_true(cf_mono_ms() < deadline);
		cf_test_sleep_ms(20);
	}
}

/* Wait until node applied conversation conv (read as user). */
static void conv_applied(unsigned node, const char *user, const char *conv)
{
	char path[160];

	snprintf(path, sizeof path, "/v1/conversations/%s?consistent=1",
		 conv);
	json_decref(cf_test_expect(&cluster, node, "GET", path, user, NULL,
				   200));
}

/* Typing in a group over --presence-group-max (100) reaches nobody. */
static void typing_in_a_big_group_is_not_relayed(void **state)
{
	struct cf_ws_client a1, b1;
	json_t *e;

	(void)state;
	/* tb-0 owns both; tb-1 is in both. */
	create_big_group(1, "tb-0", "tb-big", "tb-", 101);
	cf_test_create_group(&cluster, 1, "tb-0", "tb-small", "[\"tb-1\"]");
	conv_applied(1, "tb-0", "tb-small");
	ws_open(&a1, 1, "tb-0", "d1");
	ws_open(&b1, 1, "tb-1", "d1");
	assert_int_equal(cf_ws_send_text(&a1, "{\"type\":\"typing\","
					      "\"conversationId\":\"tb-big\","
					      "\"state\":\"start\"}"),
			 0);
	assert_int_equal(cf_ws_send_text(&a1, "{\"type\":\"typing\","
					      "\"conversationId\":\"tb-small\","
					      "\"state\":\"start\"}"),
			 0);
	/* The first typing event tb-1 gets is the small group's: the big
	 * one, sent before on the same path, was not relayed. */
	e = wait_for(&b1, "typing", NULL, NULL);
	assert_string_equal(cf_test_str(e, "conversationId"), "tb-small");
	json_decref(e);
	cf_ws_close(&a1);
	cf_ws_close(&b1);
	n_passed++;
}

static void presence_subscribe_answers_state_and_pushes_changes(void **state)
{
	struct cf_ws_client b3, a1, c2, x2;
	uint64_t t0 = cf_wall_ms();
	long long last;
	json_t *r, *e;

	(void)state;
	ws_open(&b3, 3, "pr-b", "d3");
	cf_test_create_group(&cluster, 1, "pr-b", "pr-g",
			     "[\"pr-a\",\"pr-c\"]");
	json_decref(wait_for(&b3, "conversation", NULL, NULL));
	conv_applied(3, "pr-b", "pr-g");

	/* One answer: every listed user, with whether it is pushed. */
	r = subscribe(&b3, 9, "[\"pr-a\",\"pr-x\",\"pr-b\",\"pr-a\"]");
	assert_string_equal(cf_test_str(r, "type"), "presence");
	assert_int_equal(json_array_size(json_object_get(r, "users")), 3);
	e = entry_of(r, "pr-a");
	assert_true(json_is_false(json_object_get(e, "online")));
	assert_true(json_is_null(json_object_get(e, "lastActiveAt")));
	assert_true(json_is_true(json_object_get(e, "subscribed")));
	e = entry_of(r, "pr-x"); /* shares nothing with pr-b */
	assert_true(json_is_false(json_object_get(e, "online")));
	assert_true(json_is_false(json_object_get(e, "subscribed")));
	e = entry_of(r, "pr-b"); /* itself */
	assert_true(json_is_true(json_object_get(e, "online")));
	assert_true(json_is_true(json_object_get(e, "subscribed")));
	json_decref(r);

	/* pr-x comes online (not pushed: it shares nothing), then pr-c (not
	 * subscribed), then pr-a: no frame up to the one with pr-a names the
	 * others (same node, so their changes would come first). pr-b's own
	 * change may come too, if its socket's first tick follows the
	 * subscribe. */
	ws_open(&x2, 1, "pr-x", "d1");
	ws_open(&c2, 1, "pr-c", "d1");
	cf_test_sleep_ms(300);
	ws_open(&a1, 1, "pr-a", "d1");
	wait_presence(&b3, "pr-a", true,
		      (const char *[]){"pr-c", "pr-x", NULL}, &last);
	assert_true(last >= (long long)t0);

	/* pr-x cannot watch pr-a: answered offline like GET. */
	r = subscribe(&x2, 3, "[\"pr-a\"]");
	e = entry_of(r, "pr-a");
	assert_true(json_is_false(json_object_get(e, "online")));
	assert_true(json_is_null(json_object_get(e, "lastActiveAt")));
	assert_true(json_is_false(json_object_get(e, "subscribed")));
	json_decref(r);
	r = cf_test_expect(&cluster, 2, "GET", "/v1/presence?users=pr-a",
			   "pr-x", NULL, 200);
	e = json_object_get(r, "pr-a");
	assert_true(json_is_false(json_object_get(e, "online")));
	assert_true(json_is_null(json_object_get(e, "lastActiveAt")));
	json_decref(r);

	/* A new set replaces the old one: pr-c now, pr-a no longer. */
	r = subscribe(&b3, 10, "[\"pr-c\"]");
	e = entry_of(r, "pr-c");
	assert_true(json_is_true(json_object_get(e, "online")));
	assert_true(json_is_true(json_object_get(e, "subscribed")));
	assert_null(entry_of(r, "pr-a"));
	json_decref(r);
	/* Activity while online announces nothing; pr-a leaving is not
	 * pushed any more, pr-c leaving is (it left after pr-a). */
	assert_int_equal(cf_ws_send_text(&a1, "{\"type\":\"ping\"}"), 0);
	cf_test_sleep_ms(1100); /* past the one-change-per-second limit */
	ws_drop(&a1);
	json_decref(presence_until(3, "pr-b", "pr-a", false));
	cf_ws_close(&c2);
	wait_presence(&b3, "pr-c", false, (const char *[]){"pr-a", NULL},
		      &last);
	assert_true(last >= (long long)t0);
	/* pr-x heard nothing at all. */
	assert_none(&x2, "presence", 300);
	cf_ws_close(&x2);
	cf_ws_close(&b3);
	n_passed++;
}

#define N_BATCH 5

/* Users leaving together reach a watcher in one frame, not one each. */
static void presence_changes_are_batched_in_one_frame(void **state)
{
	struct cf_ws_client w3, u[N_BATCH];
	char members[256], users[256];
	unsigned frames = 0, seen = 0;
	size_t pos = 0;

	(void)state;
	for (unsigned i = 0; i < N_BATCH; i++)
		pos += (size_t)snprintf(members + pos, sizeof members - pos,
					"%s\"pb-%u\"", i ? "," : "[", i);
	snprintf(members + pos, sizeof members - pos, "]");
	memcpy(users, members, sizeof users);
	cf_test_create_group(&cluster, 1, "pb-w", "pb-g", members);
	conv_applied(3, "pb-w", "pb-g");
	ws_open(&w3, 3, "pb-w", "d3");
	json_decref(subscribe(&w3, 1, users));
	for (unsigned i = 0; i < N_BATCH; i++) {
		char name[16];
		snprintf(name, sizeof name, "pb-%u", i);
		ws_open(&u[i], 1, name, "d1");
	}
	for (unsigned i = 0; i < N_BATCH; i++) {
		char name[16];
		snprintf(name, sizeof name, "pb-%u", i);
		json_decref(presence_until(3, "pb-w", name, true));
	}
	/* Past the one-change-per-second limit of every user. */
	cf_test_sleep_ms(1500);
	/* Drain what came online meanwhile. */
	for (;;) {
		json_t *f;
		if (cf_ws_recv_json(&w3, 300, &f) != 0)
			break;
		json_decref(f);
	}
	for (unsigned i = 0; i < N_BATCH; i++)
		ws_drop(&u[i]);
	while (seen < N_BATCH) {
		json_t *f = wait_for(&w3, "presence", NULL, NULL);
		json_t *e;
		size_t k;
		frames++;
		json_array_foreach(json_object_get(f, "users"), k, e) {
			assert_true(json_is_false(json_object_get(e, "online")));
			seen++;
		}
		json_decref(f);
	}
	assert_int_equal(seen, N_BATCH);
	/* One frame per change would be N_BATCH frames. */
	assert_true(frames < N_BATCH);
	cf_ws_close(&w3);
	n_passed++;
}

static void presence_subscribe_is_capped_per_socket(void **state)
{
	struct cf_ws_client w2, a1;
	struct cf_buf b = CF_BUF_INIT;
	json_t *r, *e;

	(void)state;
	cf_test_create_group(&cluster, 2, "pc-w", "pc-g", "[\"pc-a\"]");
	conv_applied(2, "pc-w", "pc-g");
	ws_open(&w2, 2, "pc-w", "d2");
	json_decref(subscribe(&w2, 1, "[\"pc-a\"]"));

	/* 257 users: refused, the set unchanged. */
	assert_int_equal(cf_buf_appendf(&b, "{\"type\":\"presence_subscribe\","
					    "\"id\":2,\"users\":["),
			 0);
	for (unsigned i = 0; i < 257; i++)
		assert_int_equal(cf_buf_appendf(&b, "%s\"pc-%u\"",
						 i ? "," : "", i),
				 0);
	assert_int_equal(cf_buf_append(&b, "]}", 3), 0);
	assert_int_equal(cf_ws_send_text(&w2, b.data), 0);
	e = wait_for(&w2, "error", NULL, NULL);
	assert_string_equal(cf_test_str(e, "code"), "bad_request");
	assert_int_equal(cf_test_int(e, "id"), 2);
	json_decref(e);
	/* Malformed lists too. */
	assert_int_equal(cf_ws_send_text(&w2, "{\"type\":\"presence_subscribe\""
					      ",\"id\":3,\"users\":\"pc-a\"}"),
			 0);
	e = wait_for(&w2, "error", NULL, NULL);
	assert_string_equal(cf_test_str(e, "code"), "bad_request");
	json_decref(e);
	assert_int_equal(cf_ws_send_text(&w2, "{\"type\":\"presence_subscribe\""
					      ",\"id\":4,\"users\":[\"a b\"]}"),
			 0);
	e = wait_for(&w2, "error", NULL, NULL);
	assert_string_equal(cf_test_str(e, "code"), "bad_request");
	json_decref(e);
	/* The first set still holds. */
	ws_open(&a1, 1, "pc-a", "d1");
	wait_presence(&w2, "pc-a", true, NULL, NULL);

	/* 256 users: accepted, one entry each. */
	cf_buf_truncate(&b, 0);
	assert_int_equal(cf_buf_appendf(&b, "{\"type\":\"presence_subscribe\","
					    "\"id\":5,\"users\":["),
			 0);
	for (unsigned i = 0; i < 256; i++)
		assert_int_equal(cf_buf_appendf(&b, "%s\"pc-%u\"",
						 i ? "," : "", i),
				 0);
	assert_int_equal(cf_buf_append(&b, "]}", 3), 0);
	assert_int_equal(cf_ws_send_text(&w2, b.data), 0);
	r = wait_for(&w2, "presence", NULL, NULL);
	while (!json_is_integer(json_object_get(r, "id"))) {
		json_decref(r);
		r = wait_for(&w2, "presence", NULL, NULL);
	}
	assert_int_equal(cf_test_int(r, "id"), 5);
	assert_int_equal(json_array_size(json_object_get(r, "users")), 256);
	json_decref(r);
	cf_buf_release(&b);
	cf_ws_close(&a1);
	cf_ws_close(&w2);
	n_passed++;
}

/*
 * Members sharing only a group over --presence-group-max get no pushes of
 * each other; they still read each other's presence with GET.
 */
static void big_group_members_get_presence_by_pull_only(void **state)
{
	struct cf_ws_client w3, m1, s1;
	json_t *r, *e;

	(void)state;
	/* gb-0 owns gb-big (gb-0..gb-100) and a small group with gb-s. */
	create_big_group(1, "gb-0", "gb-big", "gb-", 101);
	cf_test_create_group(&cluster, 1, "gb-0", "gb-small", "[\"gb-s\"]");
	conv_applied(3, "gb-0", "gb-small");
	ws_open(&w3, 3, "gb-0", "d3");
	r = subscribe(&w3, 1, "[\"gb-1\",\"gb-s\"]");
	e = entry_of(r, "gb-1");
	assert_true(json_is_false(json_object_get(e, "subscribed")));
	e = entry_of(r, "gb-s");
	assert_true(json_is_true(json_object_get(e, "subscribed")));
	json_decref(r);
	/* gb-1 comes online first, then gb-s, on the same node: the frame
	 * with gb-s is the first presence frame and does not name gb-1. */
	ws_open(&m1, 1, "gb-1", "d1");
	cf_test_sleep_ms(300);
	ws_open(&s1, 1, "gb-s", "d1");
	assert_int_equal(wait_presence(&w3, "gb-s", true,
				       (const char *[]){"gb-1", NULL}, NULL),
			 1);
	/* Pull still tells. */
	json_decref(presence_until(3, "gb-0", "gb-1", true));
	/* And a subscribe's answer gives the state it pulls. */
	r = subscribe(&w3, 2, "[\"gb-1\"]");
	e = entry_of(r, "gb-1");
	assert_true(json_is_true(json_object_get(e, "online")));
	assert_true(json_is_false(json_object_get(e, "subscribed")));
	json_decref(r);
	cf_ws_close(&m1);
	cf_ws_close(&s1);
	cf_ws_close(&w3);
	n_passed++;
}

static void presence_http_answers_and_refuses_bad_lists(void **state)
{
	json_t *r, *u;
	int st;

	(void)state;
	/* pr-b and pr-a share pr-g (an earlier test): pr-a is offline. */
	r = presence_of(2, "pr-a,pr-nobody", &st);
	assert_int_equal(st, 200);
	u = json_object_get(r, "pr-a");
	assert_true(json_is_false(json_object_get(u, "online")));
	assert_true(cf_test_int(u, "lastActiveAt") > 0);
	u = json_object_get(r, "pr-nobody");
	assert_true(json_is_false(json_object_get(u, "online")));
	assert_true(json_is_null(json_object_get(u, "lastActiveAt")));
	json_decref(r);
	r = presence_of(1, "bad%20id", &st);
	assert_int_equal(st, 400);
	json_decref(r);
	json_decref(cf_test_call(&cluster, 1, "GET", "/v1/presence", "pr-b",
				 NULL, &st));
	assert_int_equal(st, 400);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			typing_reaches_members_on_every_node_not_the_sender),
		cmocka_unit_test(
			typing_from_a_non_member_or_malformed_is_refused),
		cmocka_unit_test(typing_in_a_big_group_is_not_relayed),
		cmocka_unit_test(
			presence_subscribe_answers_state_and_pushes_changes),
		cmocka_unit_test(presence_changes_are_batched_in_one_frame),
		cmocka_unit_test(presence_subscribe_is_capped_per_socket),
		cmocka_unit_test(big_group_members_get_presence_by_pull_only),
		cmocka_unit_test(presence_http_answers_and_refuses_bad_lists),
	};

	assert_int_equal(sizeof tests / sizeof tests[0], N_TESTS);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
