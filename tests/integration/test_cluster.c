#include "config.h"

/*
 * The spine end to end (issue 3): a 3-node cluster of real confabd
 * processes on 127.0.0.1, driven over HTTP and WebSocket exactly as a client
 * would (API.md). Each test starts its own cluster (tests/lib/
 * cf_test_cluster.h) and stops it in teardown, also when it fails; a failed
 * test keeps the cluster folder and prints the node logs' tails.
 *
 * Content checks compare per-conversation digests (cf_test_digest: XXH3-64
 * over the history records) read through each node with consistent=1.
 */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_err.h"
#include "common/cf_time.h"

#define START_TIMEOUT_MS 30000
#define READY_TIMEOUT_MS 30000

struct fixture {
	struct cf_test_cluster c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	*state = f;
	if (cf_test_cluster_start(&f->c, 3, START_TIMEOUT_MS) != 0) {
		cf_test_cluster_stop(&f->c);
		free(f);
		*state = NULL;
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rv = 0;

	if (f != NULL) {
		/* A node that crashed or did not exit 0 fails the test. */
		rv = cf_test_cluster_stop(&f->c) == 0 ? 0 : -1;
		free(f);
	}
	return rv;
}

static int other_node(int a, int b)
{
	for (int i = 1; i <= 3; i++) {
		if (i != a && i != b)
			return i;
	}
	return -1;
}

/* ---- tests ---- */

static void cluster_of_three_agrees_on_one_leader(void **state)
{
	struct fixture *f = *state;
	struct cf_test_cluster *c = &f->c;
	long long term = -1;
	int leader, leaders = 0, st;
	json_t *j;

	leader = cf_test_cluster_leader(c, 10000);
	assert_true(leader >= 1 && leader <= 3);
	for (unsigned n = 1; n <= 3; n++) {
		j = cf_test_call(c, n, "GET", "/healthz", NULL, NULL, &st);
		json_decref(j);
		assert_int_equal(st, 200);
		j = cf_test_call(c, n, "GET", "/v1/cluster", NULL, NULL, &st);
		assert_int_equal(st, 200);
		assert_non_null(j);
		assert_int_equal(cf_test_int(j, "nodeId"), n);
		assert_int_equal(cf_test_int(j, "leaderId"), leader);
		if (strcmp(cf_test_str(j, "role"), "leader") == 0) {
			leaders++;
			assert_int_equal(n, leader);
		} else {
			assert_string_equal(cf_test_str(j, "role"), "follower");
		}
		if (term < 0)
			term = cf_test_int(j, "term");
		assert_int_equal(cf_test_int(j, "term"), term);
		assert_true(json_is_array(json_object_get(j, "peers")));
		assert_true(cf_test_int(j, "appliedIndex") >= 0);
		json_decref(j);
	}
	assert_int_equal(leaders, 1);
	assert_true(term >= 1);
	cf_test_cluster_pass(c);
}

/* One page of history, checked against the expected seq range. */
static void check_page(struct cf_test_cluster *c, unsigned node,
		       const char *query, long long first, long long last,
		       int has_more, long long last_seq)
{
	char path[256];
	json_t *j, *msgs, *m;
	size_t i;
	int st;

	snprintf(path, sizeof path,
		 "/v1/conversations/it-g1/messages?%s&consistent=1", query);
	j = cf_test_call(c, node, "GET", path, "bob", NULL, &st);
	assert_int_equal(st, 200);
	msgs = json_object_get(j, "messages");
	assert_true(json_is_array(msgs));
	assert_int_equal(json_array_size(msgs),
			 last >= first ? last - first + 1 : 0);
	json_array_foreach(msgs, i, m)
		assert_int_equal(cf_test_int(m, "seq"), first + (long long)i);
	if (has_more >= 0)
		assert_int_equal(json_is_true(json_object_get(j, "hasMore")),
				 has_more);
	assert_int_equal(cf_test_int(j, "lastSeq"), last_seq);
	json_decref(j);
}

static void sends_through_every_node_get_contiguous_seqs(void **state)
{
	static const char *users[] = {"alice", "bob", "carol"};
	struct fixture *f = *state;
	struct cf_test_cluster *c = &f->c;
	struct cf_test_ack a[15];
	char cmid[32], content[64], mid[32];
	json_t *h, *m, *j;
	size_t i;
	int st;

	cf_test_create_group(c, 1, "alice", "it-g1", "[\"bob\",\"carol\"]");
	for (i = 0; i < 15; i++) {
		snprintf(cmid, sizeof cmid, "m-%zu", i);
		snprintf(content, sizeof content, "hello %zu from n%zu", i,
			 1 + i % 3);
		st = cf_test_send(c, 1 + (unsigned)(i % 3), users[i % 3], "it-g1",
			      cmid, content, &a[i]);
		assert_true(st == 200 || st == 201);
		assert_int_equal(a[i].seq, (long long)i + 1);
		assert_false(a[i].duplicate);
	}
	for (unsigned n = 1; n <= 3; n++) {
		h = cf_test_history(c, n, "carol", "it-g1");
		assert_int_equal(json_array_size(h), 15);
		json_array_foreach(h, i, m)
		{
			snprintf(cmid, sizeof cmid, "m-%zu", i);
			snprintf(content, sizeof content, "hello %zu from n%zu",
				 i, 1 + i % 3);
			assert_int_equal(cf_test_int(m, "seq"), a[i].seq);
			assert_string_equal(
				cf_test_id_text(json_object_get(m, "messageId"), mid,
					sizeof mid),
				a[i].mid);
			assert_string_equal(cf_test_str(m, "senderId"),
					    users[i % 3]);
			assert_string_equal(cf_test_str(m, "clientMsgId"), cmid);
			assert_string_equal(cf_test_str(m, "content"), content);
			assert_string_equal(cf_test_str(m, "conversationId"),
					    "it-g1");
		}
		json_decref(h);
		check_page(c, n, "fromSeq=1&limit=5", 1, 5, 1, 15);
		check_page(c, n, "fromSeq=11&limit=10", 11, 15, 0, 15);
		check_page(c, n, "fromSeq=16&limit=10", 1, 0, 0, 15);
		check_page(c, n, "beforeSeq=6&limit=3", 3, 5, -1, 15);
		check_page(c, n, "beforeSeq=3&limit=5", 1, 2, -1, 15);
		check_page(c, n, "limit=4", 12, 15, -1, 15);
	}
	(void)cf_test_assert_same(c, "alice", "it-g1", 15);
	/* messageIds increase in commit order. */
	for (i = 1; i < 15; i++)
		assert_true(strtoull(a[i].mid, NULL, 10) >
			    strtoull(a[i - 1].mid, NULL, 10));
	/* The conversation itself, and a non-member's refusal. */
	j = cf_test_call(c, 1, "GET", "/v1/conversations/it-g1", "alice", NULL, &st);
	assert_int_equal(st, 200);
	assert_int_equal(cf_test_int(j, "lastSeq"), 15);
	assert_int_equal(json_array_size(json_object_get(j, "members")), 3);
	json_decref(j);
	j = cf_test_call(c, 2, "GET", "/v1/conversations/it-g1/messages?consistent=1",
		 "mallory", NULL, &st);
	json_decref(j);
	assert_int_equal(st, 404); /* never a member: no such conversation */
	cf_test_cluster_pass(c);
}

/* Messages of conv from w until n have come (bounded); checks seq order. */
static void expect_ws_messages(struct cf_ws_client *w, const char *conv,
			       int n, const char *const *contents)
{
	uint64_t deadline = cf_mono_ms() + 10000;
	json_t *e;
	int got = 0, rv;

	while (got < n) {
		rv = cf_ws_recv_json(w, (int)(deadline > cf_mono_ms()
						      ? deadline - cf_mono_ms()
						      : 1),
				     &e);
		if (rv != 0)
			fail_msg("socket: %d of %d messages, then %s", got, n,
				 cf_strerror(rv));
		if (strcmp(cf_test_str(e, "type"), "message") == 0 &&
		    strcmp(cf_test_str(e, "conversationId"), conv) == 0) {
			assert_int_equal(cf_test_int(e, "seq"), got + 1);
			assert_string_equal(cf_test_str(e, "content"),
					    contents[got]);
			got++;
		}
		json_decref(e);
	}
}

static void websocket_fanout_reaches_sockets_on_other_nodes(void **state)
{
	static const char *const contents[] = {"h1", "h2", "h3", "w4", "w5"};
	struct fixture *f = *state;
	struct cf_test_cluster *c = &f->c;
	struct cf_ws_client b2, b3, a3;
	char cmid[32], frame[512];
	struct cf_test_ack ack;
	json_t *e;
	int st, acked, frames, i;

	cf_test_create_group(c, 1, "alice", "it-ws", "[\"bob\"]");
	assert_int_equal(cf_ws_connect(&b2, c->nodes[2].url,
				       "/v1/ws?user=bob&deviceId=d2", 5000),
			 0);
	assert_int_equal(cf_ws_connect(&b3, c->nodes[3].url,
				       "/v1/ws?user=bob&deviceId=d3", 5000),
			 0);
	assert_int_equal(cf_ws_connect(&a3, c->nodes[3].url,
				       "/v1/ws?user=alice&deviceId=a3", 5000),
			 0);
	for (i = 0; i < 3; i++) {
		snprintf(cmid, sizeof cmid, "h-%d", i);
		st = cf_test_send(c, 1, "alice", "it-ws", cmid, contents[i], &ack);
		assert_true(st == 200 || st == 201);
		assert_int_equal(ack.seq, i + 1);
	}
	for (i = 3; i < 5; i++) {
		snprintf(frame, sizeof frame,
			 "{\"type\":\"send\",\"id\":\"r%d\",\"conversationId\":"
			 "\"it-ws\",\"clientMsgId\":\"w-%d\",\"msgType\":"
			 "\"text\",\"content\":\"%s\"}",
			 i, i, contents[i]);
		assert_int_equal(cf_ws_send_text(&a3, frame), 0);
		for (acked = 0, frames = 0; !acked; frames++) {
			assert_true(frames < 1000);
			assert_int_equal(cf_ws_recv_json(&a3, 10000, &e), 0);
			if (strcmp(cf_test_str(e, "type"), "error") == 0)
				fail_msg("ws send refused: %s",
					 cf_test_str(e, "code"));
			if (strcmp(cf_test_str(e, "type"), "ack") == 0) {
				snprintf(cmid, sizeof cmid, "r%d", i);
				assert_string_equal(cf_test_str(e, "id"), cmid);
				assert_int_equal(cf_test_int(e, "seq"), i + 1);
				assert_string_equal(cf_test_str(e, "status"),
						    "sent");
				acked = 1;
			}
			json_decref(e);
		}
	}
	expect_ws_messages(&b2, "it-ws", 5, contents);
	expect_ws_messages(&b3, "it-ws", 5, contents);
	cf_ws_close(&b2);
	cf_ws_close(&b3);
	cf_ws_close(&a3);
	(void)cf_test_assert_same(c, "bob", "it-ws", 5);
	cf_test_cluster_pass(c);
}

static void resend_through_other_node_is_a_duplicate(void **state)
{
	struct fixture *f = *state;
	struct cf_test_cluster *c = &f->c;
	struct cf_test_ack first, again, other;
	json_t *h;
	int st;

	cf_test_create_group(c, 1, "alice", "it-dup", "[\"bob\"]");
	st = cf_test_send(c, 1, "alice", "it-dup", "dup-1", "once", &first);
	assert_true(st == 200 || st == 201);
	assert_int_equal(first.seq, 1);
	assert_false(first.duplicate);
	st = cf_test_send(c, 1, "alice", "it-dup", "next-1", "next", &other);
	assert_int_equal(other.seq, 2);
	for (unsigned n = 2; n <= 3; n++) {
		st = cf_test_send(c, n, "alice", "it-dup", "dup-1", "once", &again);
		assert_true(st == 200 || st == 201);
		assert_int_equal(again.seq, first.seq);
		assert_string_equal(again.mid, first.mid);
		assert_true(again.duplicate);
	}
	/* The key includes the sender: bob's "dup-1" is a new message. */
	st = cf_test_send(c, 2, "bob", "it-dup", "dup-1", "bob's", &other);
	assert_true(st == 200 || st == 201);
	assert_int_equal(other.seq, 3);
	assert_false(other.duplicate);
	(void)cf_test_assert_same(c, "alice", "it-dup", 3);
	h = cf_test_history(c, 3, "bob", "it-dup");
	assert_string_equal(cf_test_str(json_array_get(h, 0), "content"),
			    "once");
	json_decref(h);
	cf_test_cluster_pass(c);
}

/* ---- kill -9 under load ---- */

#define LOAD_THREADS 4
#define LOAD_MAX 8000

struct load_ack {
	long long seq;
	char mid[32];
	uint64_t at_ms;
};

struct load {
	struct cf_test_cluster *c;
	int k;
	const char *conv;
	const char *user;
	volatile int *stop;
	uint64_t deadline; /* no retry after this */
	int sent;	   /* messages attempted (0..sent-1) */
	int gave_up;	   /* outcome unknown */
	int refused;	   /* answered 4xx */
	int retries;
	int disorder; /* a later ack with a lower seq in one conversation */
	struct load_ack acks[LOAD_MAX]; /* seq 0: not acknowledged */
};

static void *load_main(void *arg)
{
	struct load *l = arg;
	struct cf_http_conn conns[4];
	struct cf_http_resp r;
	char body[256];
	long long last_seq = 0;
	unsigned node = 1 + (unsigned)(l->k % 3);
	json_t *j;
	int rv;

	for (unsigned n = 1; n <= 3; n++)
		cf_http_conn_init(&conns[n], l->c->nodes[n].url, 3000);
	cf_http_resp_init(&r);
	while (!*l->stop && l->sent < LOAD_MAX) {
		int i = l->sent++;

		snprintf(body, sizeof body,
			 "{\"conversationId\":\"%s\",\"clientMsgId\":\"L%d-%d\","
			 "\"content\":\"load %d %d\"}",
			 l->conv, l->k, i, l->k, i);
		for (;;) {
			rv = cf_http_request_json(&conns[node], "POST",
						  "/v1/messages", l->user, body,
						  &r);
			j = rv == 0 ? cf_http_resp_json(&r) : NULL;
			if (rv == 0 && r.status < 300 && j != NULL &&
			    strcmp(cf_test_str(j, "status"), "sent") == 0) {
				l->acks[i].seq = cf_test_int(j, "seq");
				cf_test_id_text(json_object_get(j, "messageId"),
					l->acks[i].mid, sizeof l->acks[i].mid);
				l->acks[i].at_ms = cf_mono_ms();
				if (l->acks[i].seq <= last_seq)
					l->disorder++;
				last_seq = l->acks[i].seq;
				break;
			}
			if (rv == 0 && r.status >= 400 && r.status < 500 &&
			    r.status != 429) {
				l->refused++;
				break;
			}
			/* Unknown outcome: same key, another node. */
			l->retries++;
			if (cf_mono_ms() > l->deadline) {
				l->gave_up++;
				break;
			}
			node = node % 3 + 1;
			cf_test_sleep_ms(50);
		}
	}
	cf_http_resp_release(&r);
	for (unsigned n = 1; n <= 3; n++)
		cf_http_conn_release(&conns[n]);
	return NULL;
}

/* Every acknowledged message is in conv's history with its seq and id. */
static void check_load_acks(struct cf_test_cluster *c, struct load *loads,
			    const char *conv)
{
	json_t *h, *m;
	char key[64], mid[32];
	size_t i;
	int found;

	h = cf_test_history(c, 1, "alice", conv);
	for (int t = 0; t < LOAD_THREADS; t++) {
		if (strcmp(loads[t].conv, conv) != 0)
			continue;
		for (int k = 0; k < loads[t].sent; k++) {
			if (loads[t].acks[k].seq == 0)
				continue;
			snprintf(key, sizeof key, "L%d-%d", t, k);
			m = json_array_get(h,
					   (size_t)loads[t].acks[k].seq - 1);
			found = m != NULL &&
				strcmp(cf_test_str(m, "clientMsgId"), key) == 0;
			if (!found) {
				json_array_foreach(h, i, m)
				{
					if (strcmp(cf_test_str(m, "clientMsgId"),
						   key) == 0)
						break;
				}
				fail_msg("acked %s (seq %lld) is %s", key,
					 loads[t].acks[k].seq,
					 i < json_array_size(h) ? "misplaced"
								: "lost");
			}
			assert_string_equal(
				cf_test_id_text(json_object_get(m, "messageId"), mid,
					sizeof mid),
				loads[t].acks[k].mid);
			assert_string_equal(cf_test_str(m, "senderId"),
					    loads[t].user);
		}
	}
	json_decref(h);
}

static void acked_messages_survive_leader_kill_under_load(void **state)
{
	static const char *convs[] = {"load-a", "load-b"};
	static const char *users[] = {"alice", "bob"};
	struct fixture *f = *state;
	struct cf_test_cluster *c = &f->c;
	struct load *loads;
	pthread_t th[LOAD_THREADS];
	volatile int stop = 0;
	uint64_t killed_at, restarted_at;
	int leader, acked = 0, before = 0, after = 0, t, k;
	int kill_rv = -1, restart_rv = -1;

	cf_test_create_group(c, 1, "alice", "load-a", "[\"bob\"]");
	cf_test_create_group(c, 2, "alice", "load-b", "[\"bob\"]");
	loads = calloc(LOAD_THREADS, sizeof *loads);
	assert_non_null(loads);
	for (t = 0; t < LOAD_THREADS; t++) {
		loads[t].c = c;
		loads[t].k = t;
		loads[t].conv = convs[t % 2];
		loads[t].user = users[t / 2 % 2];
		loads[t].stop = &stop;
		loads[t].deadline = cf_mono_ms() + 40000;
		assert_int_equal(
			pthread_create(&th[t], NULL, load_main, &loads[t]), 0);
	}
	/* No assert until the threads are joined: they use this frame. */
	cf_test_sleep_ms(1500);
	leader = cf_test_cluster_leader(c, 10000);
	killed_at = cf_mono_ms();
	if (leader > 0) {
		print_message("# killing leader n%d\n", leader);
		kill_rv = cf_test_cluster_kill(c, (unsigned)leader);
		cf_test_sleep_ms(1500);
		restart_rv = cf_test_cluster_restart(c, (unsigned)leader,
						     READY_TIMEOUT_MS);
	}
	restarted_at = cf_mono_ms();
	cf_test_sleep_ms(2000);
	stop = 1;
	for (t = 0; t < LOAD_THREADS; t++)
		pthread_join(th[t], NULL);
	assert_true(leader > 0);
	assert_int_equal(kill_rv, 0);
	assert_int_equal(restart_rv, 0);
	for (t = 0; t < LOAD_THREADS; t++) {
		for (k = 0; k < loads[t].sent; k++) {
			if (loads[t].acks[k].seq == 0)
				continue;
			acked++;
			before += loads[t].acks[k].at_ms < killed_at;
			after += loads[t].acks[k].at_ms > restarted_at;
		}
		print_message("# load thread %d: %d sent, %d retries, %d "
			      "unknown\n",
			      t, loads[t].sent, loads[t].retries,
			      loads[t].gave_up);
		assert_int_equal(loads[t].disorder, 0);
		assert_int_equal(loads[t].gave_up, 0);
		assert_int_equal(loads[t].refused, 0);
	}
	print_message("# %d acked: %d before the kill, %d after restart\n",
		      acked, before, after);
	assert_true(before > 0);
	assert_true(after > 0);
	assert_true(cf_test_cluster_leader(c, 15000) > 0);
	for (t = 0; t < 2; t++) {
		(void)cf_test_assert_same(c, "alice", convs[t], 0);
		check_load_acks(c, loads, convs[t]);
	}
	free(loads);
	cf_test_cluster_pass(c);
}

static void killed_follower_catches_up_after_restart(void **state)
{
	struct fixture *f = *state;
	struct cf_test_cluster *c = &f->c;
	char cmid[32];
	struct cf_test_ack a;
	int leader, follower, other, st, i;

	cf_test_create_group(c, 1, "alice", "it-cu", "[\"bob\"]");
	leader = cf_test_cluster_leader(c, 10000);
	assert_true(leader > 0);
	follower = leader % 3 + 1;
	other = other_node(leader, follower);
	for (i = 0; i < 5; i++) {
		snprintf(cmid, sizeof cmid, "pre-%d", i);
		st = cf_test_send(c, (unsigned)follower, "bob", "it-cu", cmid,
			      "before", &a);
		assert_true(st == 200 || st == 201);
	}
	assert_int_equal(cf_test_cluster_kill(c, (unsigned)follower), 0);
	for (i = 0; i < 20; i++) {
		snprintf(cmid, sizeof cmid, "down-%d", i);
		st = cf_test_send(c, (unsigned)(i % 2 ? leader : other), "alice",
			      "it-cu", cmid, "while down", &a);
		assert_true(st == 200 || st == 201);
		assert_int_equal(a.seq, 6 + i);
	}
	assert_int_equal(cf_test_cluster_restart(c, (unsigned)follower,
						 READY_TIMEOUT_MS),
			 0);
	(void)cf_test_assert_same(c, "bob", "it-cu", 25);
	cf_test_cluster_pass(c);
}

static void sigterm_stops_a_node_with_status_zero(void **state)
{
	struct fixture *f = *state;
	struct cf_test_cluster *c = &f->c;
	struct cf_test_ack a;
	struct cf_ws_client ws;
	int leader, follower, status = -1, st;

	leader = cf_test_cluster_leader(c, 10000);
	assert_true(leader > 0);
	follower = leader % 3 + 1;
	cf_test_create_group(c, (unsigned)leader, "alice", "it-term", "[\"bob\"]");
	/*
	 * With a WebSocket open (issue 14): the close frame written while
	 * the server closes once restarted the closed flush idle handle,
	 * and the loop never ended.
	 */
	assert_int_equal(cf_ws_connect(&ws, c->nodes[follower].url,
				       "/v1/ws?user=bob&deviceId=term", 10000),
			 0);
	assert_int_equal(
		cf_test_cluster_term(c, (unsigned)follower, 10000, &status), 0);
	assert_int_equal(status, 0);
	/* ... and the socket got the close frame (1001, going away). */
	for (int i = 0;; i++) {
		int op = 0, rv;
		char *payload = NULL;
		size_t n = 0;

		rv = cf_ws_recv(&ws, 5000, &op, &payload, &n);
		free(payload);
		if (rv == -ECONNRESET)
			break;
		if (rv != 0 || i == 20)
			fail_msg("no close frame before the connection ended "
				 "(%d)", rv);
	}
	assert_int_equal(ws.close_code, 1001);
	cf_ws_close(&ws);
	/* Two of three still commit. */
	st = cf_test_send(c, (unsigned)leader, "alice", "it-term", "t-1", "x", &a);
	assert_true(st == 200 || st == 201);
	assert_int_equal(a.seq, 1);
	assert_int_equal(cf_test_cluster_restart(c, (unsigned)follower,
						 READY_TIMEOUT_MS),
			 0);
	(void)cf_test_assert_same(c, "alice", "it-term", 1);
	cf_test_cluster_pass(c);
}

/* Wait until the running, unpaused nodes agree on a leader other than old. */
static int new_leader(struct cf_test_cluster *c, int old, int timeout_ms)
{
	uint64_t deadline = cf_mono_ms() + (uint64_t)timeout_ms;
	int l;

	do {
		l = cf_test_cluster_leader(c, 2000);
		if (l > 0 && l != old)
			return l;
		cf_test_sleep_ms(100);
	} while (cf_mono_ms() < deadline);
	return CF_ETIMEDOUT;
}

static void paused_leader_is_replaced_and_catches_up(void **state)
{
	struct fixture *f = *state;
	struct cf_test_cluster *c = &f->c;
	char cmid[32];
	struct cf_test_ack a;
	int old, now = -1, st, i, rv;

	cf_test_create_group(c, 1, "alice", "it-stop", "[\"bob\"]");
	old = cf_test_cluster_leader(c, 10000);
	assert_true(old > 0);
	for (i = 0; i < 3; i++) {
		snprintf(cmid, sizeof cmid, "pre-%d", i);
		st = cf_test_send(c, (unsigned)old, "alice", "it-stop", cmid, "a",
			      &a);
		assert_true(st == 200 || st == 201);
	}
	assert_int_equal(cf_test_cluster_pause(c, (unsigned)old), 0);
	rv = now = new_leader(c, old, 20000);
	for (i = 0; rv > 0 && i < 5; i++) {
		snprintf(cmid, sizeof cmid, "mid-%d", i);
		st = cf_test_send(c, (unsigned)now, "bob", "it-stop", cmid, "b",
			      &a);
		if (st < 200 || st >= 300 || a.seq != 4 + i)
			rv = -1;
	}
	/* Resume before any assert, so that teardown finds it running. */
	assert_int_equal(cf_test_cluster_resume(c, (unsigned)old), 0);
	assert_true(now > 0);
	assert_true(rv > 0);
	assert_true(cf_test_cluster_leader(c, 20000) > 0);
	(void)cf_test_assert_same(c, "alice", "it-stop", 8);
	cf_test_cluster_pass(c);
}

/*
 * Run confab-bench ARGS with --url for each of the three nodes; it must
 * exit 0 with one JSON line first on stdout, returned parsed.
 */
static json_t *bench_run(struct cf_test_cluster *c, const char *args)
{
	const char *bd = getenv("CONFAB_BUILDDIR");
	char cmd[1024], line[4096] = "";
	json_t *j;
	FILE *p;

	snprintf(cmd, sizeof cmd, "%s/confab-bench %s --url %s --url %s --url %s",
		 bd && *bd ? bd : ".", args, c->nodes[1].url, c->nodes[2].url,
		 c->nodes[3].url);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof line, p));
	assert_int_equal(pclose(p), 0);
	j = json_loads(line, 0, NULL);
	assert_non_null(j);
	return j;
}

static double num(json_t *j, const char *key)
{
	json_t *v = json_object_get(j, key);

	assert_true(json_is_number(v));
	return json_number_value(v);
}

/* "--pid P1 --pid P2 --pid P3" for the three nodes, after args. */
static void with_pids(struct cf_test_cluster *c, const char *args, char *out,
		      size_t cap)
{
	snprintf(out, cap, "%s --pid %ld --pid %ld --pid %ld", args,
		 (long)c->nodes[1].pid, (long)c->nodes[2].pid,
		 (long)c->nodes[3].pid);
}

/* Send mode, then history mode over what it sent. */
static void bench_reports_one_json_line_without_errors(void **state)
{
	struct fixture *f = *state;
	struct cf_test_cluster *c = &f->c;
	const char *bd = getenv("CONFAB_BUILDDIR");
	char cmd[1024], args[512];
	json_t *j, *h;
	int st;

	with_pids(c, "--concurrency 8 --seconds 1 --warmup 0 --size 50 "
		     "--conversations 2", args, sizeof args);
	j = bench_run(c, args);
	assert_string_equal(json_string_value(json_object_get(j, "mode")),
			    "send");
	assert_string_equal(json_string_value(json_object_get(j, "transport")),
			    "http");
	/* --pid: the three nodes' CPU in the window, per ack */
	assert_true(num(j, "server_cpu_s") > 0);
	assert_true(num(j, "server_cpu_us_per_ack") > 0);
	assert_true(num(j, "client_cpu_s") >= 0);
	assert_int_equal(cf_test_int(j, "conc"), 8);
	assert_int_equal(cf_test_int(j, "errors"), 0);
	assert_true(cf_test_int(j, "total") > 0);
	assert_true(json_number_value(json_object_get(j, "ops_s")) > 0);
	assert_true(json_number_value(json_object_get(j, "p99_ms")) >=
		    json_number_value(json_object_get(j, "p50_ms")));
	json_decref(j);
	/* What it sent was committed. */
	h = cf_test_call(c, 1, "GET", "/v1/cluster", NULL, NULL, &st);
	assert_true(cf_test_int(h, "commitIndex") > 3);
	json_decref(h);
	/* --history reads pages of it back from every node. */
	j = bench_run(c, "--history 60 --limit 10 --concurrency 3");
	assert_string_equal(json_string_value(json_object_get(j, "mode")),
			    "history");
	assert_int_equal(cf_test_int(j, "requests"), 60);
	assert_int_equal(cf_test_int(j, "total"), 60);
	assert_true(num(j, "ops_s") > 0);
	assert_int_equal(cf_test_int(j, "conversations"), 2);
	assert_int_equal(cf_test_int(j, "errors"), 0);
	/* at least one message of 50 bytes in each page */
	assert_true(cf_test_int(j, "bytes") > 60 * 50);
	assert_true(json_number_value(json_object_get(j, "p99_ms")) >=
		    json_number_value(json_object_get(j, "p50_ms")));
	json_decref(j);
	/* A user without messages is a set-up failure. */
	snprintf(cmd, sizeof cmd,
		 "%s/confab-bench --history 5 --user nobody --url %s "
		 ">/dev/null 2>&1",
		 bd && *bd ? bd : ".", c->nodes[1].url);
	st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	cf_test_cluster_pass(c);
}

/*
 * --ws: 6 sends in flight over 2 WebSockets (3 each, matched to their acks
 * by id), each socket on its own conversation; then --sync: a fresh user
 * offline for 300 messages catches up in pages of 50.
 */
static void bench_ws_and_sync_modes_count_every_message(void **state)
{
	struct fixture *f = *state;
	struct cf_test_cluster *c = &f->c;
	char args[512];
	json_t *j;
	int total;

	with_pids(c, "--ws --concurrency 6 --sockets 2 --seconds 1 --warmup 0 "
		     "--size 50", args, sizeof args);
	j = bench_run(c, args);
	assert_string_equal(json_string_value(json_object_get(j, "mode")),
			    "send");
	assert_string_equal(json_string_value(json_object_get(j, "transport")),
			    "ws");
	assert_int_equal(cf_test_int(j, "conc"), 6);
	assert_int_equal(cf_test_int(j, "sockets"), 2);
	assert_int_equal(cf_test_int(j, "errors"), 0);
	assert_int_equal(cf_test_int(j, "sockets_lost"), 0);
	total = cf_test_int(j, "total");
	assert_true(total > 0);
	assert_true(num(j, "ops_s") > 0);
	assert_true(num(j, "p99_ms") >= num(j, "p50_ms"));
	assert_true(num(j, "server_cpu_us_per_ack") > 0);
	/* every send echoed once to its own socket: at most the sends of
	 * the window and the 6 before it */
	assert_in_range(cf_test_int(j, "deliveries"), 1, total + 6);
	json_decref(j);

	with_pids(c, "--sync 300 --limit 50 --conversations 3 --size 40 "
		     "--concurrency 4", args, sizeof args);
	j = bench_run(c, args);
	assert_string_equal(json_string_value(json_object_get(j, "mode")),
			    "sync");
	assert_int_equal(cf_test_int(j, "expected"), 300);
	assert_int_equal(cf_test_int(j, "messages"), 300);
	assert_int_equal(cf_test_int(j, "missing"), 0);
	assert_int_equal(cf_test_int(j, "errors"), 0);
	/* 300 messages in pages of at most 50, plus any long polls */
	assert_true(cf_test_int(j, "pages") >= 6);
	assert_int_equal(cf_test_int(j, "total"), cf_test_int(j, "pages"));
	assert_true(cf_test_int(j, "items") >= 300);
	assert_true(cf_test_int(j, "bytes") > 300 * 40);
	assert_true(num(j, "catchup_ms") > 0);
	assert_true(num(j, "server_cpu_s") >= 0);
	json_decref(j);
	cf_test_cluster_pass(c);
}

/*
 * --fanout --procs: 30 sockets in 3 child processes, a group of at most 10
 * members with 3 devices each; every acked message reaches every socket
 * once, and the latencies come back split by leader and follower sockets.
 * Then --idle --procs holds its sockets in children the same way.
 */
static void bench_fanout_over_processes_reaches_every_socket(void **state)
{
	struct fixture *f = *state;
	struct cf_test_cluster *c = &f->c;
	char args[512];
	json_t *j;
	int sends, leader;

	with_pids(c, "--fanout 30 --procs 3 --group-max 10 --rate 20 "
		     "--seconds 2 --warmup 0 --size 50", args, sizeof args);
	j = bench_run(c, args);
	assert_string_equal(json_string_value(json_object_get(j, "mode")),
			    "fanout");
	assert_int_equal(cf_test_int(j, "procs"), 3);
	assert_int_equal(cf_test_int(j, "sockets"), 30);
	assert_int_equal(cf_test_int(j, "open"), 30);
	assert_int_equal(cf_test_int(j, "members"), 10);
	assert_int_equal(cf_test_int(j, "devices"), 3);
	assert_int_equal(cf_test_int(j, "groups"), 1);
	assert_int_equal(cf_test_int(j, "errors"), 0);
	sends = cf_test_int(j, "sends");
	assert_in_range(sends, 1, 48);
	assert_int_equal(cf_test_int(j, "deliveries"), sends * 30);
	assert_int_equal(cf_test_int(j, "missing"), 0);
	assert_int_equal(cf_test_int(j, "dup"), 0);
	leader = cf_test_int(j, "leader");
	assert_in_range(leader, 0, 2);
	/* socket s is on node s mod 3 */
	assert_int_equal(cf_test_int(j, "leader_sockets"), 10);
	assert_true(num(j, "p99_ms") >= num(j, "p50_ms"));
	assert_true(num(j, "last_max_ms") >= num(j, "last_ms"));
	assert_true(num(j, "last_ms") >= num(j, "leader_last_ms"));
	assert_true(num(j, "last_ms") >= num(j, "follower_last_ms"));
	assert_true(num(j, "leader_last_ms") > 0);
	assert_true(num(j, "follower_last_ms") > 0);
	assert_true(num(j, "children_cpu_s") >= 0);
	assert_true(num(j, "client_cpu_s") >= num(j, "children_cpu_s"));
	assert_true(num(j, "server_cpu_us_per_delivery") >= 0);
	json_decref(j);
	/* --idle --procs: 40 silent sockets on the first node, from 2
	 * children */
	j = bench_run(c, "--idle 40 --procs 2 --seconds 1");
	assert_string_equal(json_string_value(json_object_get(j, "mode")),
			    "idle");
	assert_int_equal(cf_test_int(j, "procs"), 2);
	assert_int_equal(cf_test_int(j, "open"), 40);
	assert_int_equal(cf_test_int(j, "failed"), 0);
	assert_true(num(j, "connections_after") >= 40);
	json_decref(j);
	cf_test_cluster_pass(c);
}

/*
 * --fanout: a group of 10 members with sockets on all three nodes; every
 * acked message reaches every member socket once, and each node's
 * confab_delivery_seconds histogram counted each message once.
 */
static void bench_fanout_delivers_every_message_to_every_member(void **state)
{
	struct fixture *f = *state;
	struct cf_test_cluster *c = &f->c;
	json_t *j;
	int sends;

	j = bench_run(c, "--fanout 10 --rate 40 --concurrency 4 --seconds 2 "
			 "--warmup 0 --size 50");
	assert_string_equal(json_string_value(json_object_get(j, "mode")),
			    "fanout");
	assert_int_equal(cf_test_int(j, "members"), 10);
	assert_int_equal(cf_test_int(j, "errors"), 0);
	sends = cf_test_int(j, "sends");
	/*
	 * 40/s for 2 s is about a ceiling: a loaded machine may fall behind
	 * it, or (a late timer catching up at the window's end) pass it by a
	 * tick or two (82 seen once in 12 loaded runs); neither is what this
	 * test is about: every send must reach every member once.
	 */
	assert_in_range(sends, 1, 88);
	assert_int_equal(cf_test_int(j, "total"), sends);
	assert_int_equal(cf_test_int(j, "deliveries"), sends * 10);
	assert_int_equal(cf_test_int(j, "missing"), 0);
	assert_int_equal(cf_test_int(j, "dup"), 0);
	/* 10 members round robin: every node holds sockets */
	assert_int_equal(cf_test_int(j, "commit_deliv_count"), sends * 3);
	assert_true(json_number_value(json_object_get(j, "deliv_p99_ms")) >=
		    json_number_value(json_object_get(j, "deliv_p50_ms")));
	assert_true(json_number_value(json_object_get(j, "ack_p50_ms")) > 0);
	assert_true(json_number_value(
			    json_object_get(j, "commit_deliv_p50_ms")) >= 0);
	assert_int_equal(json_array_size(json_object_get(j, "deliv_node_p50_ms")),
			 3);
	json_decref(j);
	cf_test_cluster_pass(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			cluster_of_three_agrees_on_one_leader, setup, teardown),
		cmocka_unit_test_setup_teardown(
			sends_through_every_node_get_contiguous_seqs, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			websocket_fanout_reaches_sockets_on_other_nodes, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			resend_through_other_node_is_a_duplicate, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			acked_messages_survive_leader_kill_under_load, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			killed_follower_catches_up_after_restart, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			paused_leader_is_replaced_and_catches_up, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			sigterm_stops_a_node_with_status_zero, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			bench_reports_one_json_line_without_errors, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			bench_fanout_delivers_every_message_to_every_member,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			bench_ws_and_sync_modes_count_every_message, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			bench_fanout_over_processes_reaches_every_socket,
			setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
