#include "config.h"

/*
 * Offline inbox and sync (issue 4), end to end on one 3-node cluster of real
 * confabd processes shared by every test of this program (each test uses
 * its own users and conversations): GET /v1/sync across many conversations
 * written through different nodes (complete, ordered, paged, monotonic
 * cursors, recalls and membership changes, a removed member's view), bad
 * cursors, long polling, the per-conversation form, and the WebSocket
 * `sync` frame racing live sends; and a user who missed 10,000 messages
 * across 500 conversations gets all of them (time and requests printed).
 */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
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
#define EVENT_TIMEOUT_MS 10000

static struct cf_test_cluster cluster;
static int n_passed;
static int n_tests;

static int group_setup(void **state)
{
	(void)state;
	/* A failed start stops what it started. */
	return cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == n_tests);
	return 0;
}

static json_t *expect(unsigned node, const char *method, const char *path,
		      const char *user, const char *body, int status)
{
	return cf_test_expect(&cluster, node, method, path, user, body,
			      status);
}

static void send_ok(unsigned node, const char *user, const char *conv,
		    const char *cmid, long long seq)
{
	struct cf_test_ack a;
	int st = cf_test_send(&cluster, node, user, conv, cmid, cmid, &a);

	assert_int_equal(st, 201);
	if (seq > 0)
		assert_int_equal(a.seq, seq);
}

static uint64_t cursor_val(const char *s)
{
	assert_true(s[0] == 'm');
	return strtoull(s + 1, NULL, 10);
}

/*
 * Every item of user after cursor (NULL: from the start) on node, page by
 * page; asserts cursors strictly increase. Returns the items (new ref),
 * the number of requests in *reqs and the final cursor in out.
 */
static json_t *sync_all(unsigned node, const char *user, const char *cursor,
			unsigned limit, unsigned *reqs, char out[32])
{
	json_t *all = json_array();
	char cur[32] = "";
	uint64_t prev = 0;
	bool more = true;

	if (cursor != NULL)
		snprintf(cur, sizeof cur, "%s", cursor);
	*reqs = 0;
	while (more) {
		char path[128];
		json_t *j, *items, *it;
		size_t i;

		snprintf(path, sizeof path, "/v1/sync?limit=%u%s%s", limit,
			 cur[0] ? "&cursor=" : "", cur);
		j = expect(node, "GET", path, user, NULL, 200);
		(*reqs)++;
		items = json_object_get(j, "items");
		assert_true(json_is_array(items));
		assert_true(json_array_size(items) <= limit);
		json_array_foreach(items, i, it) {
			uint64_t v = cursor_val(cf_test_str(it, "cursor"));

			assert_true(v > prev);
			prev = v;
			json_array_append(all, it);
		}
		more = json_is_true(json_object_get(j, "hasMore"));
		if (json_array_size(items) > 0)
			assert_int_equal(cursor_val(cf_test_str(j, "cursor")),
					 prev);
		snprintf(cur, sizeof cur, "%s", cf_test_str(j, "cursor"));
		json_decref(j);
	}
	snprintf(out, 32, "%s", cur);
	return all;
}

static const char *item_conv(json_t *it)
{
	json_t *c = json_object_get(it, "conversation");

	if (c != NULL)
		return cf_test_str(c, "conversationId");
	return cf_test_str(it, "conversationId");
}

/* ---- many conversations ---- */

static char otto_cursor[32]; /* otto's cursor after the first test */

#define N_CONV 50
#define PER_CONV 11

static void offline_user_syncs_many_conversations_in_few_pages(void **state)
{
	char id[32], cmid[32], path[128], cur[32];
	unsigned reqs, created = 0, removed = 0, recalled = 0, got = 0;
	long long last_seq[N_CONV];
	json_t *items, *it, *j;
	uint64_t t0;
	size_t i;

	(void)state;
	for (unsigned c = 0; c < N_CONV; c++) {
		snprintf(id, sizeof id, "sy_%u", c);
		cf_test_create_group(&cluster, 1 + c % 3, "ann", id,
				     "[\"otto\",\"bea\"]");
	}
	/* otto is offline: 550 messages through the three nodes. */
	for (unsigned k = 0; k < PER_CONV; k++)
		for (unsigned c = 0; c < N_CONV; c++) {
			snprintf(id, sizeof id, "sy_%u", c);
			snprintf(cmid, sizeof cmid, "m%u_%u", c, k);
			send_ok(1 + (c + k) % 3, k % 2 ? "bea" : "ann", id,
				cmid, k + 1);
		}
	/* A recall, and otto removed from sy_0 then a message he must not see. */
	json_decref(expect(2, "DELETE", "/v1/conversations/sy_3/messages/2",
			   "ann", NULL, 200));
	j = expect(3, "POST", "/v1/conversations/sy_0/members", "ann",
		   "{\"remove\":[\"otto\"]}", 200);
	json_decref(j);
	send_ok(1, "ann", "sy_0", "after_removal", PER_CONV + 1);

	/* Wait until node 2 applied the last write, then sync there. */
	t0 = cf_mono_ms();
	for (;;) {
		j = expect(2, "GET",
			   "/v1/conversations/sy_0/messages?consistent=1&limit=1",
			   "ann", NULL, 200);
		i = (size_t)cf_test_int(j, "lastSeq");
		json_decref(j);
		if (i == PER_CONV + 1)
			break;
		assert_true(cf_mono_ms() - t0 < 10000);
		cf_test_sleep_ms(20);
	}
	items = sync_all(2, "otto", NULL, 500, &reqs, cur);
	assert_true(reqs <= 3);
	for (unsigned c = 0; c < N_CONV; c++)
		last_seq[c] = 0;
	json_array_foreach(items, i, it) {
		const char *type = cf_test_str(it, "type");
		const char *conv = item_conv(it);
		unsigned c;

		assert_true(strncmp(conv, "sy_", 3) == 0);
		c = (unsigned)atoi(conv + 3);
		assert_true(c < N_CONV);
		if (strcmp(type, "message") == 0) {
			long long seq = cf_test_int(it, "seq");

			assert_int_equal(seq, last_seq[c] + 1);
			last_seq[c] = seq;
			got++;
			if (c == 3 && seq == 2)
				assert_true(json_is_true(
					json_object_get(it, "recalled")));
			else
				assert_true(strlen(cf_test_str(it, "content")) >
					    0);
		} else if (strcmp(type, "recalled") == 0) {
			assert_int_equal(c, 3);
			assert_int_equal(cf_test_int(it, "seq"), 2);
			recalled++;
		} else {
			assert_string_equal(type, "conversation");
			if (strcmp(cf_test_str(it, "event"), "created") == 0) {
				created++;
			} else {
				assert_string_equal(cf_test_str(it, "event"),
						    "members_changed");
				assert_int_equal(c, 0);
				removed++;
			}
		}
	}
	assert_int_equal(created, N_CONV);
	assert_int_equal(got, N_CONV * PER_CONV);
	assert_int_equal(recalled, 1);
	assert_int_equal(removed, 1);
	for (unsigned c = 0; c < N_CONV; c++)
		assert_int_equal(last_seq[c], PER_CONV); /* not seq 12 of sy_0 */
	/* The last thing otto sees of sy_0 is its removal. */
	assert_int_equal(json_array_size(items),
			 N_CONV + N_CONV * PER_CONV + 2);
	json_decref(items);

	/* Small pages give the same items; nothing after the end. */
	items = sync_all(1, "otto", NULL, 100, &reqs, path);
	assert_true(reqs >= 6);
	assert_int_equal(json_array_size(items),
			 N_CONV + N_CONV * PER_CONV + 2);
	json_decref(items);
	snprintf(otto_cursor, sizeof otto_cursor, "%s", cur);
	items = sync_all(3, "otto", cur, 100, &reqs, path);
	assert_int_equal(json_array_size(items), 0);
	assert_string_equal(path, cur);
	json_decref(items);
	/* bea still sees sy_0's last message. */
	items = sync_all(2, "bea", cur, 100, &reqs, path);
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(cf_test_str(json_array_get(items, 0), "content"),
			    "after_removal");
	json_decref(items);
	n_passed++;
}

static void the_index_is_rebuilt_when_a_node_restarts(void **state)
{
	char cur[32];
	unsigned reqs;
	json_t *items;
	int status;

	(void)state;
	assert_true(otto_cursor[0] != '\0');
	assert_int_equal(cf_test_cluster_term(&cluster, 3, 10000, &status), 0);
	assert_int_equal(status, 0);
	assert_int_equal(cf_test_cluster_restart(&cluster, 3, 20000), 0);
	json_decref(expect(3, "GET",
			   "/v1/conversations/sy_0/messages?consistent=1",
			   "ann", NULL, 200));
	items = sync_all(3, "otto", NULL, 500, &reqs, cur);
	assert_int_equal(json_array_size(items),
			 N_CONV + N_CONV * PER_CONV + 2);
	assert_string_equal(cur, otto_cursor);
	json_decref(items);
	/* The start said what it read. */
	assert_true(
		cf_test_cluster_log_has(&cluster, 3, "store: rebuilt from "));
	n_passed++;
}

static void malformed_cursors_are_refused(void **state)
{
	static const char *const bad[] = {"x1", "m", "m12a", "m-3", "1",
					  "m99999999999999999999999"};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char path[96];
		json_t *j;

		snprintf(path, sizeof path, "/v1/sync?cursor=%s", bad[i]);
		j = expect(1, "GET", path, "otto", NULL, 400);
		assert_non_null(json_object_get(j, "error"));
		json_decref(j);
	}
	json_decref(expect(1, "GET", "/v1/sync?limit=x", "otto", NULL, 400));
	json_decref(expect(1, "POST", "/v1/sync", "otto", "{}", 405));
	n_passed++;
}

static void conversation_form_is_history_after_last_seq(void **state)
{
	json_t *j, *m;

	(void)state;
	cf_test_create_group(&cluster, 1, "pia", "sy_pc", "[\"quin\"]");
	for (int k = 1; k <= 5; k++) {
		char cmid[16];

		snprintf(cmid, sizeof cmid, "pc%d", k);
		send_ok(1, "pia", "sy_pc", cmid, k);
	}
	/* Node 1 has applied all five once a consistent read answers. */
	json_decref(expect(1, "GET",
			   "/v1/conversations/sy_pc/messages?consistent=1",
			   "pia", NULL, 200));
	j = expect(1, "GET", "/v1/sync?conversationId=sy_pc&lastSeq=2",
		   "quin", NULL, 200);
	m = json_object_get(j, "messages");
	assert_int_equal(json_array_size(m), 3);
	assert_int_equal(cf_test_int(json_array_get(m, 0), "seq"), 3);
	assert_int_equal(cf_test_int(j, "lastSeq"), 5);
	json_decref(j);
	json_decref(expect(1, "GET", "/v1/sync?conversationId=sy_pc&lastSeq=0",
			   "rex", NULL, 404));
	n_passed++;
}

/*
 * ?consistent=1 on both forms of GET /v1/sync: a follower asked right after
 * an acknowledgement shows the acknowledged message (without it a follower
 * learns the commit about a heartbeat later and misses it nearly always).
 */
static void consistent_sync_shows_what_was_acked_before(void **state)
{
	int leader = cf_test_cluster_leader(&cluster, START_TIMEOUT_MS);
	unsigned f1, f2;

	(void)state;
	assert_true(leader > 0);
	f1 = leader == 1 ? 2 : 1;
	f2 = leader == 3 ? 2 : 3;
	cf_test_create_group(&cluster, (unsigned)leader, "cs_a", "sy_cs",
			     "[\"cs_b\"]");
	for (int k = 1; k <= 10; k++) {
		unsigned f = k % 2 ? f1 : f2;
		char cmid[16], path[128];
		json_t *j, *items, *last;

		snprintf(cmid, sizeof cmid, "cs%d", k);
		send_ok((unsigned)leader, "cs_a", "sy_cs", cmid, k);
		snprintf(path, sizeof path,
			 "/v1/sync?conversationId=sy_cs&lastSeq=%d"
			 "&consistent=1",
			 k - 1);
		j = expect(f, "GET", path, "cs_b", NULL, 200);
		items = json_object_get(j, "messages");
		assert_int_equal(json_array_size(items), 1);
		assert_string_equal(
			cf_test_str(json_array_get(items, 0), "clientMsgId"),
			cmid);
		json_decref(j);
		/* the feed form: the newest item is this message */
		j = expect(f, "GET", "/v1/sync?limit=500&consistent=1", "cs_b",
			   NULL, 200);
		items = json_object_get(j, "items");
		assert_true(json_array_size(items) > 0);
		last = json_array_get(items, json_array_size(items) - 1);
		assert_string_equal(cf_test_str(last, "type"), "message");
		assert_string_equal(cf_test_str(last, "clientMsgId"), cmid);
		json_decref(j);
	}
	n_passed++;
}

/* ---- long polling ---- */

struct later_send {
	const char *url, *user, *conv, *prefix;
	int delay_ms, n;
	int failed;
};

static void *later_send_main(void *arg)
{
	struct later_send *ls = arg;
	struct cf_http_conn hc;

	cf_http_conn_init(&hc, ls->url, 10000);
	cf_test_sleep_ms(ls->delay_ms);
	for (int k = 0; k < ls->n; k++) {
		struct cf_http_resp r;
		char body[256];

		snprintf(body, sizeof body,
			 "{\"conversationId\":\"%s\",\"clientMsgId\":\"%s%d\","
			 "\"msgType\":\"text\",\"content\":\"%s%d\"}",
			 ls->conv, ls->prefix, k, ls->prefix, k);
		cf_http_resp_init(&r);
		if (cf_http_request_json(&hc, "POST", "/v1/messages", ls->user,
					 body, &r) != 0 ||
		    r.status != 201)
			ls->failed++;
		cf_http_resp_release(&r);
	}
	cf_http_conn_release(&hc);
	return NULL;
}

static void long_poll_answers_on_a_new_item_or_times_out(void **state)
{
	struct later_send ls = {NULL, "lu", "sy_lp", "lp", 400, 1, 0};
	char path[128], cur[32];
	unsigned reqs;
	pthread_t th;
	uint64_t t0, dt;
	json_t *j, *items;

	(void)state;
	cf_test_create_group(&cluster, 2, "lu", "sy_lp", "[\"lena\"]");
	/* Wait until node 3 shows the creation to lena. */
	t0 = cf_mono_ms();
	do {
		items = sync_all(3, "lena", NULL, 100, &reqs, cur);
		reqs = (unsigned)json_array_size(items);
		json_decref(items);
		assert_true(cf_mono_ms() - t0 < 10000);
	} while (reqs == 0);

	/* Nothing new: the same cursor after about 1 s. */
	snprintf(path, sizeof path, "/v1/sync?cursor=%s&wait=1", cur);
	t0 = cf_mono_ms();
	j = expect(3, "GET", path, "lena", NULL, 200);
	dt = cf_mono_ms() - t0;
	assert_true(dt >= 900 && dt < 5000);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
	assert_string_equal(cf_test_str(j, "cursor"), cur);
	assert_false(json_is_true(json_object_get(j, "hasMore")));
	json_decref(j);

	/* A message sent through node 1 meanwhile wakes it early. */
	ls.url = cluster.nodes[1].url;
	assert_int_equal(pthread_create(&th, NULL, later_send_main, &ls), 0);
	snprintf(path, sizeof path, "/v1/sync?cursor=%s&wait=20", cur);
	t0 = cf_mono_ms();
	j = expect(3, "GET", path, "lena", NULL, 200);
	dt = cf_mono_ms() - t0;
	pthread_join(th, NULL);
	assert_int_equal(ls.failed, 0);
	assert_true(dt >= 300 && dt < 10000);
	items = json_object_get(j, "items");
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(cf_test_str(json_array_get(items, 0), "content"),
			    "lp0");
	assert_true(cursor_val(cf_test_str(j, "cursor")) > cursor_val(cur));
	json_decref(j);
	n_passed++;
}

/* ---- WebSocket ---- */

#define WS_BEFORE 20
#define WS_DURING 40

static void ws_sync_replays_then_synced_then_held_live_events(void **state)
{
	struct later_send ls = {NULL, "wil", "sy_ws", "live", 0, WS_DURING, 0};
	struct cf_ws_client w;
	pthread_t th;
	long long next_seq = 1;
	uint64_t prev = 0, synced = 0, t0;
	int seen_synced = 0, created = 0;

	(void)state;
	cf_test_create_group(&cluster, 1, "wil", "sy_ws", "[\"wes\"]");
	for (int k = 0; k < WS_BEFORE; k++) {
		char cmid[16];

		snprintf(cmid, sizeof cmid, "pre%d", k);
		send_ok(1 + k % 3, "wil", "sy_ws", cmid, k + 1);
	}
	/*
	 * Node 2 has applied the earlier sends before the socket opens (else
	 * they would reach it live, before the sync request); the live sends
	 * start right after the request, racing its replay.
	 */
	json_decref(expect(2, "GET",
			   "/v1/conversations/sy_ws/messages?consistent=1",
			   "wes", NULL, 200));
	assert_int_equal(cf_ws_connect(&w, cluster.nodes[2].url,
				       "/v1/ws?user=wes&deviceId=w1", 5000),
			 0);
	assert_int_equal(cf_ws_send_text(&w, "{\"type\":\"sync\",\"id\":\"s1\"}"),
			 0);
	ls.url = cluster.nodes[3].url;
	assert_int_equal(pthread_create(&th, NULL, later_send_main, &ls), 0);
	t0 = cf_mono_ms();
	while (next_seq <= WS_BEFORE + WS_DURING || !seen_synced) {
		json_t *e;
		const char *type;

		assert_true(cf_mono_ms() - t0 < EVENT_TIMEOUT_MS);
		assert_int_equal(cf_ws_recv_json(&w, EVENT_TIMEOUT_MS, &e), 0);
		type = cf_test_str(e, "type");
		if (strcmp(type, "synced") == 0) {
			assert_int_equal(seen_synced, 0);
			seen_synced = 1;
			assert_string_equal(cf_test_str(e, "id"), "s1");
			synced = cursor_val(cf_test_str(e, "cursor"));
			assert_int_equal(synced, prev); /* the last replayed */
			assert_true(next_seq > WS_BEFORE);
		} else if (strcmp(type, "message") == 0) {
			uint64_t v = cursor_val(cf_test_str(e, "cursor"));

			/* Exactly once, in order, across replay and live. */
			assert_int_equal(cf_test_int(e, "seq"), next_seq);
			next_seq++;
			assert_true(v > prev);
			assert_true(!seen_synced || v > synced);
			prev = v;
		} else if (strcmp(type, "conversation") == 0) {
			created++;
			prev = cursor_val(cf_test_str(e, "cursor"));
		}
		json_decref(e);
	}
	pthread_join(th, NULL);
	assert_int_equal(ls.failed, 0);
	assert_true(created <= 1);
	assert_int_equal(next_seq, WS_BEFORE + WS_DURING + 1);
	cf_ws_close(&w);
	n_passed++;
}

/*
 * A socket that got live items and then asks to sync from an older cursor:
 * the replay covers what came before the live items, and `synced` never
 * names a cursor behind an item the socket already got.
 */
static void ws_synced_cursor_never_moves_back(void **state)
{
	struct cf_ws_client w;
	uint64_t last_live = 0, t0;
	int replayed = 0;
	json_t *e;

	(void)state;
	cf_test_create_group(&cluster, 1, "wmo", "sy_mo", "[\"wmp\"]");
	json_decref(expect(2, "GET",
			   "/v1/conversations/sy_mo?consistent=1", "wmp",
			   NULL, 200));
	assert_int_equal(cf_ws_connect(&w, cluster.nodes[2].url,
				       "/v1/ws?user=wmp&deviceId=m1", 5000),
			 0);
	for (int k = 1; k <= 3; k++) {
		char cmid[16];

		snprintf(cmid, sizeof cmid, "mo%d", k);
		send_ok(1, "wmo", "sy_mo", cmid, k);
	}
	t0 = cf_mono_ms();
	while (last_live == 0) {
		assert_true(cf_mono_ms() - t0 < EVENT_TIMEOUT_MS);
		assert_int_equal(cf_ws_recv_json(&w, EVENT_TIMEOUT_MS, &e), 0);
		if (strcmp(cf_test_str(e, "type"), "message") == 0 &&
		    cf_test_int(e, "seq") == 3)
			last_live = cursor_val(cf_test_str(e, "cursor"));
		json_decref(e);
	}
	/* sync from the start: only the creation is replayed */
	assert_int_equal(cf_ws_send_text(&w, "{\"type\":\"sync\",\"id\":7}"),
			 0);
	for (;;) {
		assert_true(cf_mono_ms() - t0 < 2 * EVENT_TIMEOUT_MS);
		assert_int_equal(cf_ws_recv_json(&w, EVENT_TIMEOUT_MS, &e), 0);
		if (strcmp(cf_test_str(e, "type"), "synced") == 0) {
			assert_true(cursor_val(cf_test_str(e, "cursor")) >=
				    last_live);
			json_decref(e);
			break;
		}
		if (strcmp(cf_test_str(e, "type"), "message") == 0)
			fail_msg("message seq %lld replayed twice",
				 cf_test_int(e, "seq"));
		replayed++;
		json_decref(e);
	}
	assert_int_equal(replayed, 1); /* the conversation's creation */
	cf_ws_close(&w);
	n_passed++;
}

/* ---- 10,000 missed messages (time and requests printed) ---- */

#define B_CONV 500
#define B_MSGS 10000

struct bench_sender {
	unsigned node, from, to; /* conversations [from, to) */
	int failed;
};

static void *bench_sender_main(void *arg)
{
	struct bench_sender *b = arg;
	struct cf_http_conn hc;

	cf_http_conn_init(&hc, cluster.nodes[b->node].url, 10000);
	for (unsigned k = 0; k < B_MSGS / B_CONV; k++)
		for (unsigned c = b->from; c < b->to; c++) {
			struct cf_http_resp r;
			char body[256], user[16];

			snprintf(body, sizeof body,
				 "{\"conversationId\":\"sb_%u\",\"clientMsgId\":"
				 "\"b%u\",\"msgType\":\"text\",\"content\":"
				 "\"bench message %u of %u\"}",
				 c, k, k, c);
			/* One sender per conversation: under the rate limit. */
			snprintf(user, sizeof user, "bo%u", c);
			cf_http_resp_init(&r);
			if (cf_http_request_json(&hc, "POST", "/v1/messages",
						 user, body, &r) != 0 ||
			    r.status != 201) {
				if (b->failed++ == 0)
					print_message("# bench send: %d %s\n",
						      r.status,
						      r.body ? r.body : "");
			}
			cf_http_resp_release(&r);
		}
	cf_http_conn_release(&hc);
	return NULL;
}

static void sync_of_10000_missed_messages_is_measured(void **state)
{
	struct bench_sender bs[3];
	pthread_t th[3];
	char id[32], cur[32], cur0[32];
	unsigned reqs;
	uint64_t t0, t1;
	json_t *items;

	(void)state;
	for (unsigned c = 0; c < B_CONV; c++) {
		char owner[16];

		snprintf(id, sizeof id, "sb_%u", c);
		snprintf(owner, sizeof owner, "bo%u", c);
		cf_test_create_group(&cluster, 1 + c % 3, owner, id,
				     "[\"mo\"]");
	}
	/* Node 1 has applied every creation once a consistent read answers. */
	json_decref(expect(1, "GET", "/v1/conversations/sb_499?consistent=1",
			   "mo", NULL, 200));
	items = sync_all(1, "mo", NULL, 500, &reqs, cur0);
	assert_int_equal(json_array_size(items), B_CONV);
	json_decref(items);
	t0 = cf_mono_ms();
	for (unsigned i = 0; i < 3; i++) {
		bs[i].node = i + 1;
		bs[i].from = i * B_CONV / 3;
		bs[i].to = (i + 1) * B_CONV / 3;
		bs[i].failed = 0;
		assert_int_equal(pthread_create(&th[i], NULL,
						bench_sender_main, &bs[i]),
				 0);
	}
	for (unsigned i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(bs[i].failed, 0);
	t1 = cf_mono_ms();
	print_message("# bench: %u messages over %u conversations sent in "
		      "%" PRIu64 " ms\n",
		      B_MSGS, B_CONV, t1 - t0);
	for (unsigned c = 0; c < B_CONV; c += B_CONV / 3 + 1) {
		char path[96];

		snprintf(path, sizeof path,
			 "/v1/conversations/sb_%u?consistent=1", c);
		json_decref(expect(1, "GET", path, "mo", NULL, 200));
	}
	t0 = cf_mono_ms();
	items = sync_all(1, "mo", cur0, 500, &reqs, cur);
	t1 = cf_mono_ms();
	print_message("# bench: sync of %zu items: %u requests, %" PRIu64
		      " ms\n",
		      json_array_size(items), reqs, t1 - t0);
	assert_int_equal(json_array_size(items), B_MSGS);
	json_decref(items);
	/* The same over a WebSocket: a replay of many pages, each written
	 * as the socket drains; every message once, in cursor order. */
	{
		struct cf_ws_client w;
		char frame[96];
		uint64_t prev = cursor_val(cur0);
		unsigned got = 0;

		assert_int_equal(cf_ws_connect(&w, cluster.nodes[1].url,
					       "/v1/ws?user=mo&deviceId=b1",
					       5000),
				 0);
		snprintf(frame, sizeof frame,
			 "{\"type\":\"sync\",\"cursor\":\"%s\"}", cur0);
		assert_int_equal(cf_ws_send_text(&w, frame), 0);
		t0 = cf_mono_ms();
		for (;;) {
			json_t *e;
			uint64_t v;

			assert_true(cf_mono_ms() - t0 < 6 * EVENT_TIMEOUT_MS);
			assert_int_equal(
				cf_ws_recv_json(&w, EVENT_TIMEOUT_MS, &e), 0);
			if (strcmp(cf_test_str(e, "type"), "synced") == 0) {
				assert_int_equal(
					cursor_val(cf_test_str(e, "cursor")),
					cursor_val(cur));
				json_decref(e);
				break;
			}
			assert_string_equal(cf_test_str(e, "type"), "message");
			v = cursor_val(cf_test_str(e, "cursor"));
			assert_true(v > prev);
			prev = v;
			got++;
			json_decref(e);
		}
		print_message("# bench: WebSocket sync of %u items: %" PRIu64
			      " ms\n",
			      got, cf_mono_ms() - t0);
		assert_int_equal(got, B_MSGS);
		cf_ws_close(&w);
	}
	n_passed++;
}

/*
 * The first page of the conversation list carries the sync cursor of its
 * moment (issue 12: a page that starts from the list, not from a replay,
 * syncs from it after a drop): a sync from it returns exactly what came
 * after; later pages carry none.
 */
static void first_list_page_carries_a_sync_cursor(void **state)
{
	json_t *j, *items;
	char path[96];
	const char *sc;

	(void)state;
	cf_test_create_group(&cluster, 1, "sam", "sy_sc", "[\"tia\"]");
	send_ok(1, "sam", "sy_sc", "sc1", 1);
	j = expect(1, "GET", "/v1/conversations?consistent=1&limit=1", "tia",
		   NULL, 200);
	sc = cf_test_str(j, "syncCursor");
	assert_true(sc[0] == 'm' && cursor_val(sc) > 0);
	snprintf(path, sizeof path, "/v1/sync?consistent=1&cursor=%s", sc);
	json_decref(j);
	send_ok(2, "sam", "sy_sc", "sc2", 2);
	j = expect(1, "GET", path, "tia", NULL, 200);
	items = json_object_get(j, "items");
	assert_int_equal(json_array_size(items), 1);
	assert_int_equal(cf_test_int(json_array_get(items, 0), "seq"), 2);
	json_decref(j);
	/* A later page (a cursor given) carries none. */
	j = expect(1, "GET", "/v1/conversations?limit=1&cursor=a1", "tia",
		   NULL, 200);
	assert_null(json_object_get(j, "syncCursor"));
	json_decref(j);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			offline_user_syncs_many_conversations_in_few_pages),
		cmocka_unit_test(the_index_is_rebuilt_when_a_node_restarts),
		cmocka_unit_test(malformed_cursors_are_refused),
		cmocka_unit_test(conversation_form_is_history_after_last_seq),
		cmocka_unit_test(consistent_sync_shows_what_was_acked_before),
		cmocka_unit_test(long_poll_answers_on_a_new_item_or_times_out),
		cmocka_unit_test(
			ws_sync_replays_then_synced_then_held_live_events),
		cmocka_unit_test(ws_synced_cursor_never_moves_back),
		cmocka_unit_test(first_list_page_carries_a_sync_cursor),
		cmocka_unit_test(sync_of_10000_missed_messages_is_measured),
	};

	n_tests = (int)(sizeof tests / sizeof tests[0]);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
