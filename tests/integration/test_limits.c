#include "config.h"

/*
 * Limits (issue 4, API.md "Conventions" and "Errors"), end to end on one
 * 3-node cluster of real confabd processes started with a low send rate
 * (--rate-limit 5 --rate-burst 10) and a small --ws-max-buffer (64 KiB):
 * the per-user rate on HTTP and WebSocket sends (429 rate_limited with
 * Retry-After, per user, refilled over time; the buckets are kept by the
 * node that takes the send, so these tests send through one node), content over 100,000
 * characters (413), a WebSocket client that stops reading (closed with
 * 1008, nothing committed lost), typing frames counted in the send rate
 * and a presence subscriber that does not read closed with 1008 (issue
 * 11), and 503 with Retry-After once two nodes
 * are gone (run last: it stops the cluster's majority).
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_err.h"
#include "common/cf_time.h"

#define START_TIMEOUT_MS 30000
#define N_TESTS 7
#define RATE 5
#define BURST 10

static struct cf_test_cluster cluster;
static int n_passed;

static int group_setup(void **state)
{
	(void)state;
	setenv("CONFAB_IT_ARGS",
	       "--rate-limit 5 --rate-burst 10 --ws-max-buffer 65536", 1);
	/* A failed start stops what it started. */
	return cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
}

/* POST a send as user; returns the status, the Retry-After in *retry. */
static int post_send(unsigned node, const char *user, const char *conv,
		     const char *cmid, const char *content, int *retry,
		     char *code, size_t code_size)
{
	struct cf_http_resp r;
	char ra[32];
	json_t *o = json_pack("{s:s,s:s,s:s}", "conversationId", conv,
			      "clientMsgId", cmid, "content", content);
	char *body = json_dumps(o, JSON_COMPACT);
	int st;

	json_decref(o);
	assert_non_null(body);
	cf_http_resp_init(&r);
	assert_int_equal(cf_http_request_json(&cluster.nodes[node].conn,
					      "POST", "/v1/messages", user, body,
					      &r),
			 0);
	free(body);
	st = r.status;
	*retry = -1;
	if (cf_http_resp_header(&r, "Retry-After", ra, sizeof ra) == 0)
		*retry = atoi(ra);
	if (code != NULL) {
		json_t *e = json_object_get(cf_http_resp_json(&r), "error");
		snprintf(code, code_size, "%s",
			 e != NULL ? cf_test_str(e, "code") : "");
	}
	cf_http_resp_release(&r);
	return st;
}

static void http_sends_over_the_rate_get_429_with_retry_after(void **state)
{
	char cmid[32], code[64];
	int ok = 0, st = 0, retry, retry2, i;

	(void)state;
	cf_test_create_group(&cluster, 1, "rl1", "lim-rate", "[\"rl2\"]");
	for (i = 0; i < 40; i++) {
		snprintf(cmid, sizeof cmid, "m%d", i);
		st = post_send(1, "rl1", "lim-rate", cmid, "hi", &retry,
			       code, sizeof code);
		if (st != 201)
			break;
		ok++;
	}
	/* The burst passes; the rate stops the sender well before 40. */
	assert_true(ok >= BURST);
	assert_true(ok < 40);
	assert_int_equal(st, 429);
	assert_string_equal(code, "rate_limited");
	assert_true(retry >= 1 && retry <= 2);
	/* Another user is not limited by rl1's sends. */
	assert_int_equal(post_send(1, "rl2", "lim-rate", "x1", "hi", &retry2,
				   NULL, 0),
			 201);
	/* After Retry-After, rl1 may send again (the refused one too). */
	cf_test_sleep_ms(1000 * retry + 100);
	assert_int_equal(post_send(1, "rl1", "lim-rate", cmid, "hi", &retry2,
				   NULL, 0),
			 201);
	/* Nothing refused was committed: ok + 1 from rl1, 1 from rl2. */
	{
		json_t *h = cf_test_history(&cluster, 1, "rl1", "lim-rate");
		assert_int_equal(json_array_size(h), (size_t)ok + 2);
		json_decref(h);
	}
	n_passed++;
}

static void websocket_sends_over_the_rate_get_a_rate_limited_error(
	void **state)
{
	struct cf_ws_client w;
	char frame[256];
	json_t *ev;
	int acks = 0, limited = 0;

	(void)state;
	cf_test_create_group(&cluster, 2, "wl1", "lim-wsrate", "[]");
	assert_int_equal(cf_ws_connect(&w, cluster.nodes[2].url,
				       "/v1/ws?user=wl1&deviceId=d1", 5000),
			 0);
	for (int i = 0; i < 30; i++) {
		snprintf(frame, sizeof frame,
			 "{\"type\":\"send\",\"id\":\"r%d\",\"conversationId\":"
			 "\"lim-wsrate\",\"clientMsgId\":\"w%d\",\"content\":"
			 "\"x\"}",
			 i, i);
		assert_int_equal(cf_ws_send_text(&w, frame), 0);
	}
	/* Every request is answered: acks (and message events), or errors. */
	while (acks + limited < 30) {
		const char *t;

		assert_int_equal(cf_ws_recv_json(&w, 10000, &ev), 0);
		t = cf_test_str(ev, "type");
		if (strcmp(t, "ack") == 0) {
			acks++;
		} else if (strcmp(t, "error") == 0) {
			assert_string_equal(cf_test_str(ev, "code"),
					    "rate_limited");
			limited++;
		}
		json_decref(ev);
	}
	assert_true(acks >= BURST);
	assert_true(limited > 0);
	cf_ws_close(&w);
	n_passed++;
}

/*
 * typing frames take tokens of the same bucket (issue 11: a typing flood is
 * bounded): 30 at once give rate_limited errors past the burst.
 */
static void typing_over_the_rate_gets_a_rate_limited_error(void **state)
{
	struct cf_ws_client w;
	json_t *ev;
	int limited = 0;

	(void)state;
	cf_test_create_group(&cluster, 3, "tl1", "lim-typing", "[\"tl2\"]");
	assert_int_equal(cf_ws_connect(&w, cluster.nodes[3].url,
				       "/v1/ws?user=tl1&deviceId=d1", 5000),
			 0);
	for (int i = 0; i < 30; i++)
		assert_int_equal(
			cf_ws_send_text(&w, "{\"type\":\"typing\","
					    "\"conversationId\":\"lim-typing\","
					    "\"state\":\"start\"}"),
			0);
	/* Then a ping: every error comes before its pong. */
	assert_int_equal(cf_ws_send_text(&w, "{\"type\":\"ping\"}"), 0);
	for (;;) {
		const char *t;

		assert_int_equal(cf_ws_recv_json(&w, 10000, &ev), 0);
		t = cf_test_str(ev, "type");
		if (strcmp(t, "pong") == 0) {
			json_decref(ev);
			break;
		}
		if (strcmp(t, "error") == 0) {
			assert_string_equal(cf_test_str(ev, "code"),
					    "rate_limited");
			limited++;
		}
		json_decref(ev);
	}
	assert_true(limited > 0);
	assert_true(limited <= 30 - BURST);
	cf_ws_close(&w);
	n_passed++;
}

/*
 * A socket that sends presence_subscribe frames without reading the
 * answers (up to ~20 KB each for 256 users) is closed with 1008 once its
 * pending output passes half of --ws-max-buffer (issue 11), instead of
 * holding every answer.
 */
static void subscriber_that_does_not_read_is_closed_with_1008(void **state)
{
	struct cf_ws_client w;
	struct cf_buf b = CF_BUF_INIT;
	int rcvbuf = 4096, op, rv = 0, i;
	char *data;
	size_t len;

	(void)state;
	assert_int_equal(cf_ws_connect(&w, cluster.nodes[2].url,
				       "/v1/ws?user=sub1&deviceId=d1", 5000),
			 0);
	setsockopt(w.conn.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	assert_int_equal(cf_buf_appendf(&b, "{\"type\":\"presence_subscribe\","
					    "\"users\":["),
			 0);
	for (i = 0; i < 256; i++)
		assert_int_equal(cf_buf_appendf(&b, "%s\"u%d\"",
						 i ? "," : "", i),
				 0);
	assert_int_equal(cf_buf_append(&b, "]}", 3), 0);
	/* 400 answers of ~19 KB (7.6 MB): more than the kernel's socket
	 * buffers hold (4 MB at most here); the 400 requests (600 KB) fit
	 * in ours even if the server stops reading. */
	for (i = 0; i < 400; i++)
		assert_int_equal(cf_ws_send_text(&w, b.data), 0);
	cf_buf_release(&b);
	for (i = 0; i < 100000; i++) {
		rv = cf_ws_recv(&w, 10000, &op, &data, &len);
		if (rv != 0)
			break;
		free(data);
	}
	assert_int_equal(rv, -ECONNRESET);
	assert_int_equal(w.close_code, 1008);
	cf_ws_close(&w);
	n_passed++;
}

/* n copies of the UTF-8 character ch, NUL-terminated. */
static char *repeat(const char *ch, size_t n)
{
	size_t k = strlen(ch);
	char *s = malloc(n * k + 1);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * k, ch, k);
	s[n * k] = '\0';
	return s;
}

static void content_over_100000_characters_is_413(void **state)
{
	char *s, code[64];
	int retry;

	(void)state;
	cf_test_create_group(&cluster, 3, "big1", "lim-big", "[]");
	/* 100,000 two-byte characters: 200,000 bytes, still allowed. */
	s = repeat("\xc3\xa9", 100000);
	assert_int_equal(post_send(3, "big1", "lim-big", "b1", s, &retry, code,
				   sizeof code),
			 201);
	free(s);
	s = repeat("a", 100001);
	assert_int_equal(post_send(1, "big1", "lim-big", "b2", s, &retry, code,
				   sizeof code),
			 413);
	assert_string_equal(code, "payload_too_large");
	free(s);
	{
		json_t *h = cf_test_history(&cluster, 2, "big1", "lim-big");
		assert_int_equal(json_array_size(h), 1);
		json_decref(h);
	}
	n_passed++;
}

static void slow_websocket_is_closed_with_1008_and_loses_nothing(void **state)
{
	static const char *const senders[] = {"sa", "sb", "sc"};
	struct cf_ws_client w;
	char cmid[32], *big, *data;
	int retry, rcvbuf = 4096, op, rv, sent = 0;
	size_t len;
	json_t *h;

	(void)state;
	cf_test_create_group(&cluster, 1, "slow", "lim-slow",
			     "[\"sa\",\"sb\",\"sc\"]");
	assert_int_equal(cf_ws_connect(&w, cluster.nodes[1].url,
				       "/v1/ws?user=slow&deviceId=d1", 5000),
			 0);
	/* Stop reading: a small receive buffer fills up at once. */
	setsockopt(w.conn.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	/* 100,000 four-byte characters: 400 KB per message. */
	big = repeat("\xf0\x9f\x98\x80", 100000);
	/*
	 * 3 senders x 10 (their burst) x 400 KB = 12 MB: more than the
	 * kernel's socket buffers (4 MB at most here) and --ws-max-buffer.
	 */
	for (int r = 0; r < BURST; r++) {
		for (size_t s = 0; s < 3; s++) {
			snprintf(cmid, sizeof cmid, "s%d", r);
			assert_int_equal(post_send(1, senders[s],
						   "lim-slow", cmid, big,
						   &retry, NULL, 0),
					 201);
			sent++;
		}
	}
	free(big);
	/* Now read: message events, then the close with 1008. */
	for (;;) {
		data = NULL;
		rv = cf_ws_recv(&w, 10000, &op, &data, &len);
		free(data);
		if (rv != 0)
			break;
	}
	assert_int_equal(rv, -ECONNRESET);
	assert_int_equal(w.close_code, 1008);
	cf_ws_close(&w);
	/* Everything acknowledged is in the history, on every node. */
	cf_test_assert_same(&cluster, "slow", "lim-slow", (size_t)sent);
	h = cf_test_history(&cluster, 1, "slow", "lim-slow");
	cf_test_assert_history(h);
	json_decref(h);
	/* A new socket for the same user works. */
	assert_int_equal(cf_ws_connect(&w, cluster.nodes[1].url,
				       "/v1/ws?user=slow&deviceId=d1", 5000),
			 0);
	cf_ws_close(&w);
	n_passed++;
}

static void no_leader_reachable_gives_503_with_retry_after(void **state)
{
	struct cf_http_resp r;
	const char *body = "{\"conversationId\":\"lim-unavail\","
			   "\"clientMsgId\":\"u1\",\"content\":\"hi\"}";
	char ra[32];
	uint64_t t0;
	json_t *e;

	(void)state;
	cf_test_create_group(&cluster, 1, "un1", "lim-unavail", "[]");
	assert_int_equal(cf_test_cluster_kill(&cluster, 2), 0);
	assert_int_equal(cf_test_cluster_kill(&cluster, 3), 0);
	cluster.nodes[1].conn.timeout_ms = 30000;
	t0 = cf_mono_ms();
	cf_http_resp_init(&r);
	assert_int_equal(cf_http_request_json(&cluster.nodes[1].conn, "POST",
					      "/v1/messages",
					      "un1", body, &r),
			 0);
	assert_int_equal(r.status, 503);
	assert_true(cf_mono_ms() - t0 < 30000);
	assert_int_equal(cf_http_resp_header(&r, "Retry-After", ra, sizeof ra),
			 0);
	assert_true(atoi(ra) >= 1);
	e = json_object_get(cf_http_resp_json(&r), "error");
	assert_string_equal(cf_test_str(e, "code"), "unavailable");
	assert_non_null(strstr(cf_test_str(e, "message"), "unknown"));
	cf_http_resp_release(&r);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			http_sends_over_the_rate_get_429_with_retry_after),
		cmocka_unit_test(
			websocket_sends_over_the_rate_get_a_rate_limited_error),
		cmocka_unit_test(
			typing_over_the_rate_gets_a_rate_limited_error),
		cmocka_unit_test(
			subscriber_that_does_not_read_is_closed_with_1008),
		cmocka_unit_test(content_over_100000_characters_is_413),
		cmocka_unit_test(
			slow_websocket_is_closed_with_1008_and_loses_nothing),
		cmocka_unit_test(no_leader_reachable_gives_503_with_retry_after),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
