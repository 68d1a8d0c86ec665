#include "config.h"

/*
 * Client connections bounded under abuse (issue 11), through real sockets
 * to two real one-node clusters:
 * - cap_c (--max-connections 4, default timeouts): a connection past
 *   the cap gets 503 `unavailable` with Retry-After and Connection: close and
 *   is closed, whatever it sends (it is not parsed); WebSockets count; the
 *   metrics count it. A chunk size line over the body limit is answered 413
 *   at once. A legal 100,000-character send with every character escaped as
 *   a surrogate pair (1.2 MB of JSON) is accepted over HTTP and WebSocket.
 *   After a large frame a WebSocket gives its buffers back, and an idle one
 *   holds at most 1 KiB (metric confab_connection_buffer_bytes).
 * - to_c (--header-timeout 1 --idle-timeout 3): a head or a body
 *   not complete in time gets 408 (trickling bytes does not help), a body
 *   arriving at over 8 KiB/s may take longer; an idle
 *   keep-alive connection is closed, but not one waiting for a long poll;
 *   a silent WebSocket is pinged and then closed with 1001, one that answers
 *   pings stays open.
 * Connections of the test's own helpers are dropped before each use, so
 * that the cap and the idle timeout never race with them.
 */

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "frontend/fe_conn.h"

#define START_TIMEOUT_MS 30000
#define CAP 4
#define MAX_CHARS 100000
#define N_TESTS 10

/* the cluster of the running test: cap_c or to_c */
static struct cf_test_cluster cap_c, to_c;
static struct cf_test_cluster *cl;
static int n_passed;

/* ---- helpers ---- */

/* A blocking TCP connection to node 1's client port. */
static int raw_connect(void)
{
	int fd = cf_http_connect_blocking(cl->nodes[1].url);

	assert_true(fd >= 0);
	return fd;
}

static void raw_send(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		c += w;
		n -= (size_t)w;
	}
}

/*
 * Read into buf (NUL-terminated) until EOF, a reset, until stop appears
 * (when not NULL), or timeout_ms. Returns 1 on EOF or reset, 0 otherwise.
 */
static int raw_read(int fd, char *buf, size_t cap, size_t *len,
		    const char *stop, int timeout_ms)
{
	uint64_t deadline = cf_mono_ms() + (uint64_t)timeout_ms;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = cf_mono_ms();
		ssize_t r;

		buf[*len] = '\0';
		if (stop != NULL && strstr(buf, stop) != NULL)
			return 0;
		if (now >= deadline)
			return 0;
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		if (*len + 1 >= cap)
			return 0;
		r = recv(fd, buf + *len, cap - 1 - *len, 0);
		if (r <= 0)
			return 1;
		*len += (size_t)r;
	}
}

/* The value of metric line "name" (with its labels) from node 1. */
static long long metric(const char *name)
{
	struct cf_http_resp r;
	char key[160];
	const char *p;
	long long v = -1;

	/* 503 only while a connection the test closed is not gone yet */
	for (int i = 0; i < 100; i++) {
		cf_http_conn_drop(&cl->nodes[1].conn);
		cf_http_resp_init(&r);
		assert_int_equal(cf_http_request(&cl->nodes[1].conn, "GET",
						 "/metrics", NULL, NULL, 0, &r),
				 0);
		if (r.status != 503)
			break;
		cf_http_resp_release(&r);
		cf_test_sleep_ms(50);
	}
	assert_int_equal(r.status, 200);
	snprintf(key, sizeof key, "\n%s ", name);
	p = strstr(r.body, key);
	if (p != NULL)
		v = atoll(p + strlen(key));
	cf_http_resp_release(&r);
	cf_http_conn_drop(&cl->nodes[1].conn);
	print_message("# %s %lld\n", name, v);
	return v;
}

/* Wait until node 1 serves n connections (the metrics one included). */
static void wait_conns(long long n)
{
	for (int i = 0; i < 100; i++) {
		if (metric("confab_connections") == n)
			return;
		cf_test_sleep_ms(50);
	}
	fail_msg("not %lld connections", n);
}

/* A send's JSON with content of n characters, each written as unit. */
static char *send_json(const char *type, const char *conv, const char *cmid,
		       const char *unit, size_t n, size_t *len)
{
	size_t u = strlen(unit), cap = n * u + 512, off;
	char *b = malloc(cap);

	assert_non_null(b);
	off = (size_t)snprintf(b, cap,
			       "{%s%s%s\"conversationId\":\"%s\","
			       "\"clientMsgId\":\"%s\",\"content\":\"",
			       type != NULL ? "\"type\":\"" : "",
			       type != NULL ? type : "",
			       type != NULL ? "\"," : "", conv, cmid);
	for (size_t i = 0; i < n; i++, off += u)
		memcpy(b + off, unit, u);
	off += (size_t)snprintf(b + off, cap - off, "\"}");
	*len = off;
	return b;
}

/* Wait for the WebSocket's next message of the given type. */
static json_t *ws_wait(struct cf_ws_client *w, const char *type)
{
	for (int i = 0; i < 50; i++) {
		json_t *ev = NULL;

		assert_int_equal(cf_ws_recv_json(w, 20000, &ev), 0);
		if (strcmp(cf_test_str(ev, "type"), type) == 0)
			return ev;
		if (strcmp(cf_test_str(ev, "type"), "error") == 0)
			fail_msg("error: %s", json_dumps(ev, JSON_COMPACT));
		json_decref(ev);
	}
	fail_msg("no %s", type);
	return NULL;
}

static void ws_open(struct cf_ws_client *w, const char *user)
{
	char path[128];

	snprintf(path, sizeof path, "/v1/ws?user=%s&deviceId=d-%s", user,
		 user);
	/* refused (CF_ECORRUPT) only while a closed one is not gone yet */
	for (int i = 0; i < 100; i++) {
		int rv = cf_ws_connect(w, cl->nodes[1].url, path, 10000);
		if (rv == 0)
			return;
		assert_int_equal(rv, CF_ECORRUPT);
		cf_test_sleep_ms(50);
	}
	fail_msg("no WebSocket");
}

/* A round trip on the socket: everything sent before was processed. */
static void ws_roundtrip(struct cf_ws_client *w)
{
	assert_int_equal(cf_ws_send_text(w, "{\"type\":\"ping\"}"), 0);
	json_decref(ws_wait(w, "pong"));
}

/* ---- group "cap" ---- */

static int group_setup(void **state)
{
	(void)state;
	/* two one-node clusters, each on a loopback address of its own */
	setenv("CONFAB_IT_ARGS", "--max-connections 4", 1);
	if (cf_test_cluster_start(&cap_c, 1, START_TIMEOUT_MS) != 0)
		return -1;
	setenv("CONFAB_IT_ARGS", "--header-timeout 1 --idle-timeout 3", 1);
	if (cf_test_cluster_start(&to_c, 1, START_TIMEOUT_MS) != 0) {
		cf_test_cluster_end(&cap_c, false);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cap_c, n_passed == N_TESTS);
	cf_test_cluster_end(&to_c, n_passed == N_TESTS);
	return 0;
}

/*
 * Open a served connection into *c: a refusal can only come while a
 * connection closed by the test is not yet gone on the server side.
 */
static void open_served(struct cf_http_conn *c)
{
	struct cf_http_resp r;

	for (int i = 0; i < 100; i++) {
		cf_http_resp_init(&r);
		assert_int_equal(cf_http_conn_init(c, cl->nodes[1].url,
						   10000),
				 0);
		assert_int_equal(cf_http_request(c, "GET", "/healthz", NULL,
						 NULL, 0, &r),
				 0);
		if (r.status == 200) {
			cf_http_resp_release(&r);
			return;
		}
		assert_int_equal(r.status, 503);
		cf_http_resp_release(&r);
		cf_http_conn_release(c);
		cf_test_sleep_ms(50);
	}
	fail_msg("no connection served");
}

static void connections_past_the_cap_get_503_and_are_closed(void **state)
{
	struct cf_http_conn held[CAP - 1];
	struct cf_ws_client ws;
	char buf[4096];
	size_t len = 0;
	long long refused0;
	int fd;

	(void)state;
	cl = &cap_c;
	refused0 = metric("confab_connections_refused_total");
	assert_true(refused0 >= 0);
	/* CAP served: three HTTP keep-alive connections and a WebSocket */
	for (int i = 0; i < CAP - 1; i++)
		open_served(&held[i]);
	ws_open(&ws, "cap1");
	ws_roundtrip(&ws);
	/* one more: 503, whatever it sends (garbage would be a 400) */
	fd = raw_connect();
	raw_send(fd, "GARBAGE\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n", 37);
	assert_int_equal(raw_read(fd, buf, sizeof buf, &len, NULL, 10000), 1);
	print_message("# refused: %s\n", buf);
	assert_true(strncmp(buf, "HTTP/1.1 503 ", 13) == 0);
	assert_non_null(strstr(buf, "\r\nConnection: close\r\n"));
	assert_non_null(strstr(buf, "\r\nRetry-After: "));
	assert_non_null(strstr(buf, "\"code\":\"unavailable\""));
	assert_null(strstr(buf, "HTTP/1.1 400"));
	close(fd);
	/* the served ones still work */
	for (int i = 0; i < CAP - 1; i++) {
		struct cf_http_resp r;
		cf_http_resp_init(&r);
		assert_int_equal(cf_http_request(&held[i], "GET", "/healthz",
						 NULL, NULL, 0, &r),
				 0);
		assert_int_equal(r.status, 200);
		cf_http_resp_release(&r);
	}
	ws_roundtrip(&ws);
	/* one closed: a metrics request is served, and counted */
	cf_http_conn_release(&held[0]);
	assert_true(metric("confab_connections_refused_total") >=
		    refused0 + 1);
	/* two HTTP held, the WebSocket, and the metrics request's own */
	assert_int_equal(metric("confab_connections"), CAP);
	for (int i = 1; i < CAP - 1; i++)
		cf_http_conn_release(&held[i]);
	cf_ws_close(&ws);
	wait_conns(1);
	n_passed++;
}

/* A chunk size line over the body limit: 413 at once (the header
 * timeout is 10 s, more than this test waits). */
static void chunk_size_over_the_limit_is_413_at_once(void **state)
{
	static const char head[] =
		"POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
		"X-Confab-User: ck1\r\nContent-Type: application/json\r\n"
		"Transfer-Encoding: chunked\r\n\r\n";
	static const char *const sizes[] = {"FFFFFFFFFFFFFFFF\r\n",
					    "135000\r\n"};
	char buf[4096];

	(void)state;
	cl = &cap_c;
	for (size_t i = 0; i < 2; i++) {
		size_t len = 0;
		int fd = raw_connect();

		raw_send(fd, head, strlen(head));
		raw_send(fd, sizes[i], strlen(sizes[i]));
		raw_read(fd, buf, sizeof buf, &len, "}}", 5000);
		print_message("# chunk %s: %s\n", sizes[i], buf);
		assert_true(strncmp(buf, "HTTP/1.1 413 ", 13) == 0);
		assert_non_null(strstr(buf, "\"payload_too_large\""));
		close(fd);
	}
	n_passed++;
}

/*
 * 100,000 characters, each escaped as a surrogate pair: 1,200,000 bytes of
 * content in the JSON, the largest legal send (was 413 under the old 1 MiB
 * body limit). One more character is over the content limit.
 */
static void largest_legal_send_is_accepted(void **state)
{
	static const char emoji[] = "\\ud83d\\ude00";
	struct cf_ws_client ws;
	struct cf_http_resp r;
	json_t *ev, *h, *m;
	size_t len;
	char *b;

	(void)state;
	cl = &cap_c;
	cf_http_conn_drop(&cl->nodes[1].conn);
	cf_test_create_group(cl, 1, "esc1", "conn-esc", "[]");
	cf_http_conn_drop(&cl->nodes[1].conn);
	b = send_json(NULL, "conn-esc", "http1", emoji, MAX_CHARS, &len);
	assert_true(len > MAX_CHARS * 12);
	cf_http_resp_init(&r);
	assert_int_equal(cf_http_request(&cl->nodes[1].conn, "POST",
					 "/v1/messages",
					 "X-Confab-User: esc1\r\n", b, len, &r),
			 0);
	assert_int_equal(r.status, 201);
	cf_http_resp_release(&r);
	free(b);
	b = send_json(NULL, "conn-esc", "http2", emoji, MAX_CHARS + 1, &len);
	cf_http_resp_init(&r);
	assert_int_equal(cf_http_request(&cl->nodes[1].conn, "POST",
					 "/v1/messages",
					 "X-Confab-User: esc1\r\n", b, len, &r),
			 0);
	assert_int_equal(r.status, 413);
	cf_http_resp_release(&r);
	free(b);
	cf_http_conn_drop(&cl->nodes[1].conn);
	/* the same over a WebSocket */
	ws_open(&ws, "esc1");
	b = send_json("send", "conn-esc", "ws1", emoji, MAX_CHARS, &len);
	assert_int_equal(cf_ws_send(&ws, CF_WS_TEXT, b, len), 0);
	free(b);
	ev = ws_wait(&ws, "ack");
	assert_int_equal(cf_test_int(ev, "seq"), 2);
	json_decref(ev);
	cf_ws_close(&ws);
	/* stored whole: 100,000 characters of 4 UTF-8 bytes */
	h = cf_test_history(cl, 1, "esc1", "conn-esc");
	cf_http_conn_drop(&cl->nodes[1].conn);
	assert_int_equal(json_array_size(h), 2);
	m = json_array_get(h, 0);
	assert_int_equal(strlen(cf_test_str(m, "content")), MAX_CHARS * 4);
	json_decref(h);
	wait_conns(1);
	n_passed++;
}

/*
 * After a 200 KB frame the socket keeps no buffer: the input buffer and
 * the message buffer are freed once the frame is processed (they used to
 * stay at their largest size for the socket's life).
 */
static void websocket_gives_back_its_buffers_after_a_large_frame(
	void **state)
{
	static const char e_acute[] = "\xc3\xa9";
	struct cf_ws_client ws;
	json_t *ev;
	size_t len;
	char *b;
	long long held;

	(void)state;
	cl = &cap_c;
	cf_http_conn_drop(&cl->nodes[1].conn);
	cf_test_create_group(cl, 1, "big1", "conn-big", "[]");
	cf_http_conn_drop(&cl->nodes[1].conn);
	ws_open(&ws, "big1");
	b = send_json("send", "conn-big", "big-1", e_acute, MAX_CHARS, &len);
	assert_true(len > 200000);
	assert_int_equal(cf_ws_send(&ws, CF_WS_TEXT, b, len), 0);
	free(b);
	ev = ws_wait(&ws, "ack");
	json_decref(ev);
	ws_roundtrip(&ws);
	/* its ids only (the metrics request holds nothing yet) */
	held = metric("confab_connection_buffer_bytes");
	assert_true(held >= 0);
	assert_true(held < 256);
	/* and it still works */
	b = send_json("send", "conn-big", "big-2", "x", 10, &len);
	assert_int_equal(cf_ws_send(&ws, CF_WS_TEXT, b, len), 0);
	free(b);
	json_decref(ws_wait(&ws, "ack"));
	cf_ws_close(&ws);
	wait_conns(1);
	n_passed++;
}

/* User-space bytes per idle WebSocket: the struct plus what it holds. */
static void idle_websocket_holds_at_most_1_kib(void **state)
{
	struct cf_ws_client ws[CAP - 1];
	char user[32];
	long long held;
	double per;

	(void)state;
	cl = &cap_c;
	for (int i = 0; i < CAP - 1; i++) {
		snprintf(user, sizeof user, "idle-user-%d", i);
		ws_open(&ws[i], user);
		ws_roundtrip(&ws[i]);
	}
	held = metric("confab_connection_buffer_bytes");
	per = (double)sizeof(struct fe_conn) + (double)held / (CAP - 1);
	print_message("# sizeof(struct fe_conn) %zu, held %lld for %d "
		      "sockets: %.0f bytes per idle WebSocket\n",
		      sizeof(struct fe_conn), held, CAP - 1, per);
	assert_true(held > 0); /* the ids are counted */
	assert_true(per <= 1024.0);
	for (int i = 0; i < CAP - 1; i++)
		cf_ws_close(&ws[i]);
	n_passed++;
}

/* ---- group "timeouts" ---- */

static void slow_head_or_body_gets_408(void **state)
{
	static const char *const partial[] = {
		"GET /healthz HTTP/1.1\r\nHost: x\r\n",
		"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Confab-User: s1\r\n"
		"Content-Length: 10\r\n\r\n{\"a\"",
	};
	char buf[4096], pad[256];
	long long t0;
	size_t len;
	int fd, eof = 0;

	(void)state;
	cl = &to_c;
	t0 = metric("confab_connections_timed_out_total{reason=\"header\"}");
	for (size_t i = 0; i < 2; i++) {
		len = 0;
		fd = raw_connect();
		raw_send(fd, partial[i], strlen(partial[i]));
		assert_int_equal(raw_read(fd, buf, sizeof buf, &len, NULL,
					  15000),
				 1);
		print_message("# partial %zu: %s\n", i, buf);
		assert_true(strncmp(buf, "HTTP/1.1 408 ", 13) == 0);
		assert_non_null(strstr(buf, "\r\nConnection: close\r\n"));
		close(fd);
	}
	/*
	 * Trickling does not reset the deadline: a head sent one byte every
	 * 50 ms would take 10 s; it is cut long before its end.
	 */
	memset(pad, 'p', sizeof pad);
	fd = raw_connect();
	raw_send(fd, "GET /healthz HTTP/1.1\r\nX-Pad: ", 30);
	len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < 200 && !eof && len == 0; i++) {
		if (send(fd, pad + i, 1, MSG_NOSIGNAL) != 1)
			break;
		eof = raw_read(fd, buf, sizeof buf, &len, NULL, 50);
	}
	if (!eof)
		raw_read(fd, buf, sizeof buf, &len, NULL, 5000);
	print_message("# trickled: %s\n", buf);
	assert_true(strncmp(buf, "HTTP/1.1 408 ", 13) == 0);
	close(fd);
	/* a connection that never sends a byte is closed, by the header
	 * timeout and not the longer idle one (the metric tells which) */
	fd = raw_connect();
	len = 0;
	assert_int_equal(raw_read(fd, buf, sizeof buf, &len, NULL, 15000), 1);
	assert_int_equal(len, 0);
	close(fd);
	assert_true(metric("confab_connections_timed_out_total{reason="
			   "\"header\"}") >= t0 + 4);
	n_passed++;
}

/*
 * A body that keeps coming at 16 KiB/s (over the minimum of 8 KiB/s) takes
 * three times the header timeout and is answered, not cut with 408.
 */
static void steady_body_outlives_the_header_timeout(void **state)
{
	static const char head[] = "POST /v1/no-such-route HTTP/1.1\r\n"
				   "Host: 127.0.0.1\r\nX-Confab-User: s2\r\n"
				   "Content-Length: 49152\r\n\r\n";
	static char piece[4096];
	char buf[4096];
	size_t len = 0;
	int fd;

	(void)state;
	cl = &to_c;
	memset(piece, 'b', sizeof piece);
	fd = raw_connect();
	raw_send(fd, head, sizeof head - 1);
	for (int i = 0; i < 12; i++) {
		cf_test_sleep_ms(250);
		raw_send(fd, piece, sizeof piece);
	}
	raw_read(fd, buf, sizeof buf, &len, "}}", 10000);
	print_message("# steady body: %s\n", buf);
	assert_true(strncmp(buf, "HTTP/1.1 404 ", 13) == 0);
	close(fd);
	n_passed++;
}

static void idle_keep_alive_is_closed_but_not_a_long_poll(void **state)
{
	static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char poll_req[] =
		"GET /v1/sync?wait=5 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		"X-Confab-User: lp-nobody\r\n\r\n";
	char buf[8192];
	size_t len = 0;
	long long t0;
	int fd;

	(void)state;
	cl = &to_c;
	t0 = metric("confab_connections_timed_out_total{reason=\"idle\"}");
	fd = raw_connect();
	raw_send(fd, get, sizeof get - 1);
	assert_int_equal(raw_read(fd, buf, sizeof buf, &len, "}", 10000), 0);
	assert_true(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
	assert_non_null(strstr(buf, "Connection: keep-alive"));
	/* then nothing: closed after the idle timeout, without a word */
	len = 0;
	assert_int_equal(raw_read(fd, buf, sizeof buf, &len, NULL, 20000), 1);
	assert_int_equal(len, 0);
	close(fd);
	/* a long poll of 5 s outlives the idle timeout of 3 s */
	fd = raw_connect();
	raw_send(fd, poll_req, sizeof poll_req - 1);
	len = 0;
	assert_int_equal(raw_read(fd, buf, sizeof buf, &len, "}", 20000), 0);
	print_message("# long poll: %s\n", buf);
	assert_true(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
	assert_non_null(strstr(buf, "\"items\""));
	close(fd);
	assert_true(metric("confab_connections_timed_out_total{reason="
			   "\"idle\"}") >= t0 + 1);
	n_passed++;
}

/* A silent WebSocket gets a ping, then a close 1001, then EOF. */
static void silent_websocket_is_pinged_then_closed(void **state)
{
	struct cf_ws_client w;
	unsigned char buf[512];
	size_t len = 0;
	int fd, eof;
	int saw_ping = 0, saw_close = 0;

	(void)state;
	cl = &to_c;
	ws_open(&w, "silent1");
	fd = w.conn.fd;
	assert_int_equal(w.conn.in.len, 0);
	eof = raw_read(fd, (char *)buf, sizeof buf, &len, NULL, 20000);
	assert_int_equal(eof, 1);
	/* server frames: ping (0x89, empty), close (0x88, code 1001) */
	for (size_t i = 0; i + 1 < len;) {
		unsigned op = buf[i] & 0x0f, n = buf[i + 1] & 0x7f;
		if (op == 0x9)
			saw_ping = 1;
		if (op == 0x8 && n >= 2 && i + 3 < len &&
		    buf[i + 2] * 256 + buf[i + 3] == 1001)
			saw_close = 1;
		i += 2 + n;
	}
	assert_true(saw_ping);
	assert_true(saw_close);
	cf_ws_close(&w);
	n_passed++;
}

/* One that answers the pings (as browsers do) stays open. */
static void websocket_answering_pings_stays_open(void **state)
{
	struct cf_ws_client w;
	int op;
	char *data = NULL;
	size_t n;

	(void)state;
	cl = &to_c;
	ws_open(&w, "awake1");
	/* 7 s > the idle timeout: pings are answered inside cf_ws_recv */
	assert_int_equal(cf_ws_recv(&w, 7000, &op, &data, &n), CF_ETIMEDOUT);
	free(data);
	ws_roundtrip(&w);
	cf_ws_close(&w);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* on cap_c: --max-connections 4 */
		cmocka_unit_test(connections_past_the_cap_get_503_and_are_closed),
		cmocka_unit_test(chunk_size_over_the_limit_is_413_at_once),
		cmocka_unit_test(largest_legal_send_is_accepted),
		cmocka_unit_test(
			websocket_gives_back_its_buffers_after_a_large_frame),
		cmocka_unit_test(idle_websocket_holds_at_most_1_kib),
		/* on to_c: --header-timeout 1 --idle-timeout 3 */
		cmocka_unit_test(slow_head_or_body_gets_408),
		cmocka_unit_test(steady_body_outlives_the_header_timeout),
		cmocka_unit_test(idle_keep_alive_is_closed_but_not_a_long_poll),
		cmocka_unit_test(silent_websocket_is_pinged_then_closed),
		cmocka_unit_test(websocket_answering_pings_stays_open),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
