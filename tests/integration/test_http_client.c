#include "config.h"

/*
 * Tests of the test client itself (tests/lib/cf_test_http.c) against a tiny
 * scripted server thread on 127.0.0.1: response framing, keep-alive reuse,
 * timeouts, and the WebSocket handshake and frames.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/cf_test_http.h"
#include "common/cf_err.h"
#include "common/cf_time.h"

struct server;
typedef void (*server_conn_cb)(struct server *s, int fd);

struct server {
	int lfd;
	int port;
	char url[64];
	int accepts;	    /* connections accepted */
	int max_accepts;    /* stop after this many */
	server_conn_cb on_conn;
	pthread_t thread;
	char got[4096]; /* what a handler wants to report back */
	size_t got_len;
	int failed; /* a check inside the server failed */
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct timeval tv = {3, 0};
	int fd;

	while (s->accepts < s->max_accepts) {
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			break;
		s->accepts++;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		s->on_conn(s, fd);
		close(fd);
	}
	return NULL;
}

static void server_start(struct server *s, server_conn_cb cb, int max_accepts)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof sa;

	memset(s, 0, sizeof *s);
	s->on_conn = cb;
	s->max_accepts = max_accepts;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sa, &sl), 0);
	s->port = ntohs(sa.sin_port);
	snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_join(struct server *s)
{
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->lfd);
	assert_false(s->failed);
}

/* Read one request head (and its Content-Length body) into buf. */
static ssize_t read_request(int fd, char *buf, size_t size)
{
	size_t len = 0, cl = 0;
	char *end, *h;
	ssize_t k;

	for (;;) {
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL) {
			h = strcasestr(buf, "content-length:");
			cl = h && h < end ? strtoul(h + 15, NULL, 10) : 0;
			if (len >= (size_t)(end - buf) + 4 + cl)
				return (ssize_t)len;
		}
		if (len + 1 >= size)
			return -1;
		k = recv(fd, buf + len, size - len - 1, 0);
		if (k <= 0)
			return -1;
		len += (size_t)k;
	}
}

static void send_str(int fd, const char *s)
{
	(void)!send(fd, s, strlen(s), MSG_NOSIGNAL);
}

/* ---- HTTP ---- */

static void two_json_answers(struct server *s, int fd)
{
	char buf[4096];

	for (int i = 0; i < 2; i++) {
		if (read_request(fd, buf, sizeof buf) < 0) {
			s->failed = 1;
			return;
		}
		if (i == 1) {
			/* The second request is the POST with a body. */
			s->failed |= strstr(buf, "POST /v1/messages ") != buf;
			s->failed |= strstr(buf, "X-Confab-User: alice\r\n") ==
				     NULL;
			s->failed |= strstr(buf, "\r\n\r\n{\"a\":1}") == NULL;
		}
		send_str(fd, i == 0 ? "HTTP/1.1 200 OK\r\nContent-Length: 11"
				      "\r\n\r\n{\"seq\": 41}"
				    : "HTTP/1.1 201 Created\r\nContent-Type: "
				      "application/json\r\nContent-Length:  "
				      "11 \r\n\r\n{\"seq\": 42}");
	}
}

static void keep_alive_connection_serves_two_requests(void **state)
{
	struct server s;
	struct cf_http_conn c;
	struct cf_http_resp r;
	char ct[64];

	server_start(&s, two_json_answers, 1);
	cf_http_resp_init(&r);
	assert_int_equal(cf_http_conn_init(&c, s.url, 2000), 0);
	assert_int_equal(cf_http_request_json(&c, "GET", "/a", NULL, NULL, &r),
			 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(
				 cf_http_resp_json(&r), "seq")),
			 41);
	assert_int_equal(cf_http_request_json(&c, "POST", "/v1/messages",
					      "alice", "{\"a\":1}", &r),
			 0);
	assert_int_equal(r.status, 201);
	assert_int_equal(json_integer_value(json_object_get(
				 cf_http_resp_json(&r), "seq")),
			 42);
	assert_int_equal(cf_http_resp_header(&r, "content-type", ct, sizeof ct),
			 0);
	assert_string_equal(ct, "application/json");
	assert_int_equal(cf_http_resp_header(&r, "X-None", ct, sizeof ct),
			 CF_ENOTFOUND);
	cf_http_resp_release(&r);
	cf_http_conn_release(&c);
	server_join(&s);
	assert_int_equal(s.accepts, 1);
}

static void chunked_answer(struct server *s, int fd)
{
	char buf[4096];

	if (read_request(fd, buf, sizeof buf) < 0) {
		s->failed = 1;
		return;
	}
	/* Sent in pieces so that the client must join reads. */
	send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "5;ext=1\r\nhello\r\n");
	usleep(20000);
	send_str(fd, "1\r\n \r\n");
	usleep(20000);
	send_str(fd, "A\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n");
}

static void chunked_response_is_decoded(void **state)
{
	struct server s;
	struct cf_http_conn c;
	struct cf_http_resp r;

	server_start(&s, chunked_answer, 1);
	cf_http_resp_init(&r);
	assert_int_equal(cf_http_conn_init(&c, s.url, 2000), 0);
	assert_int_equal(cf_http_request(&c, "GET", "/", NULL, NULL, 0, &r),
			 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 16);
	assert_string_equal(r.body, "hello 0123456789");
	cf_http_resp_release(&r);
	cf_http_conn_release(&c);
	server_join(&s);
}

static void close_answer(struct server *s, int fd)
{
	char buf[4096];

	if (read_request(fd, buf, sizeof buf) < 0) {
		s->failed = 1;
		return;
	}
	/* No Content-Length: the body runs to EOF. */
	send_str(fd, "HTTP/1.1 503 Service Unavailable\r\nConnection: close"
		     "\r\n\r\n{\"error\":{}}");
}

static void connection_close_is_followed_by_reconnect(void **state)
{
	struct server s;
	struct cf_http_conn c;
	struct cf_http_resp r;

	server_start(&s, close_answer, 2);
	cf_http_resp_init(&r);
	assert_int_equal(cf_http_conn_init(&c, s.url, 2000), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
			cf_http_request(&c, "GET", "/", NULL, NULL, 0, &r), 0);
		assert_int_equal(r.status, 503);
		assert_string_equal(r.body, "{\"error\":{}}");
		assert_int_equal(c.fd, -1);
	}
	cf_http_resp_release(&r);
	cf_http_conn_release(&c);
	server_join(&s);
	assert_int_equal(s.accepts, 2);
}

static void silent_answer(struct server *s, int fd)
{
	char buf[4096];

	if (read_request(fd, buf, sizeof buf) < 0)
		s->failed = 1;
	usleep(800000);
}

static void silent_server_times_out_within_deadline(void **state)
{
	struct server s;
	struct cf_http_conn c;
	struct cf_http_resp r;
	uint64_t t0;

	server_start(&s, silent_answer, 1);
	cf_http_resp_init(&r);
	assert_int_equal(cf_http_conn_init(&c, s.url, 200), 0);
	t0 = cf_mono_ms();
	assert_int_equal(cf_http_request(&c, "GET", "/", NULL, NULL, 0, &r),
			 CF_ETIMEDOUT);
	assert_true(cf_mono_ms() - t0 >= 190);
	assert_true(cf_mono_ms() - t0 < 700);
	assert_int_equal(c.fd, -1);
	cf_http_resp_release(&r);
	cf_http_conn_release(&c);
	server_join(&s);
}

static void refused_connection_is_an_error(void **state)
{
	struct server s;
	struct cf_http_conn c;
	struct cf_http_resp r;
	char url[64];

	/* A port that was just free, now closed. */
	server_start(&s, silent_answer, 0);
	snprintf(url, sizeof url, "%s", s.url);
	server_join(&s);
	cf_http_resp_init(&r);
	assert_int_equal(cf_http_conn_init(&c, url, 500), 0);
	assert_int_equal(cf_http_request(&c, "GET", "/", NULL, NULL, 0, &r),
			 -ECONNREFUSED);
	cf_http_resp_release(&r);
	cf_http_conn_release(&c);
}

static void url_parsing_accepts_scheme_and_path(void **state)
{
	char host[64];
	int port;

	assert_int_equal(cf_http_parse_url("http://127.0.0.1:8001", host,
					   &port),
			 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8001);
	assert_int_equal(cf_http_parse_url("localhost:9/x", host, &port), 0);
	assert_string_equal(host, "localhost");
	assert_int_equal(port, 9);
	assert_int_equal(cf_http_parse_url("http://h", host, &port),
			 CF_EBADREQ);
	assert_int_equal(cf_http_parse_url("h:70000", host, &port),
			 CF_EBADREQ);
	assert_int_equal(cf_http_parse_url("h:12a", host, &port), CF_EBADREQ);
}

/* ---- WebSocket ---- */

static void ws_accept_key_matches_rfc6455_example(void **state)
{
	char out[32];

	/* RFC 6455 section 1.3. */
	cf_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

/* Answer the upgrade; accept_ok = 0 sends a wrong accept value. */
static int ws_handshake(struct server *s, int fd, int accept_ok)
{
	char buf[4096], key[64] = "", acc[32], ans[256];
	char *k;

	if (read_request(fd, buf, sizeof buf) < 0)
		return -1;
	k = strcasestr(buf, "Sec-WebSocket-Key: ");
	if (k == NULL || strstr(buf, "GET /v1/ws?user=bob HTTP/1.1\r\n") != buf)
		return -1;
	sscanf(k + 19, "%60[^\r]", key);
	cf_ws_accept_key(accept_ok ? key : "x", acc);
	snprintf(ans, sizeof ans,
		 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		 acc);
	send_str(fd, ans);
	return 0;
}

/* Read one client frame; check it is masked; unmask into out. */
static int ws_read_client_frame(int fd, int *op, char *out, size_t *n)
{
	unsigned char h[14];
	size_t len, hl = 2;

	if (recv(fd, h, 2, MSG_WAITALL) != 2 || !(h[1] & 0x80))
		return -1;
	*op = h[0] & 0x0f;
	len = h[1] & 0x7f;
	if (len == 126) {
		if (recv(fd, h + 2, 2, MSG_WAITALL) != 2)
			return -1;
		len = ((size_t)h[2] << 8) | h[3];
		hl = 4;
	} else if (len == 127) {
		return -1;
	}
	if (recv(fd, h + hl, 4, MSG_WAITALL) != 4 || len > 4000)
		return -1;
	if (len > 0 && recv(fd, out, len, MSG_WAITALL) != (ssize_t)len)
		return -1;
	for (size_t i = 0; i < len; i++)
		out[i] ^= (char)h[hl + (i & 3)];
	*n = len;
	return 0;
}

static void ws_scripted(struct server *s, int fd)
{
	static const unsigned char ping[] = {0x89, 0x01, 'p'};
	static const unsigned char frag1[] = {0x01, 0x03, 'h', 'e', 'l'};
	static const unsigned char frag2[] = {0x80, 0x02, 'l', 'o'};
	static const unsigned char close_[] = {0x88, 0x02, 0x03, 0xe8};
	unsigned char big[4 + 300];
	char buf[4096];
	size_t n;
	int op;

	if (ws_handshake(s, fd, 1) != 0)
		goto fail;
	/* A ping must be answered with a pong carrying the same payload. */
	(void)!send(fd, ping, sizeof ping, 0);
	(void)!send(fd, frag1, sizeof frag1, 0);
	(void)!send(fd, frag2, sizeof frag2, 0);
	if (ws_read_client_frame(fd, &op, buf, &n) != 0 || op != 0xA ||
	    n != 1 || buf[0] != 'p')
		goto fail;
	/* The client's text frame comes back as a 16-bit length frame. */
	if (ws_read_client_frame(fd, &op, buf, &n) != 0 || op != 0x1)
		goto fail;
	memcpy(s->got, buf, n);
	s->got_len = n;
	big[0] = 0x81;
	big[1] = 126;
	big[2] = 300 >> 8;
	big[3] = 300 & 0xff;
	memset(big + 4, 'z', 300);
	(void)!send(fd, big, sizeof big, 0);
	(void)!send(fd, close_, sizeof close_, 0);
	/* The client answers the close. */
	if (ws_read_client_frame(fd, &op, buf, &n) != 0 || op != 0x8)
		goto fail;
	return;
fail:
	s->failed = 1;
}

static void ws_frames_ping_fragments_and_close(void **state)
{
	struct server s;
	struct cf_ws_client w;
	char *data;
	size_t len;
	int op;

	server_start(&s, ws_scripted, 1);
	assert_int_equal(cf_ws_connect(&w, s.url, "/v1/ws?user=bob", 2000),
			 0);
	assert_int_equal(cf_ws_recv(&w, 2000, &op, &data, &len), 0);
	assert_int_equal(op, CF_WS_TEXT);
	assert_int_equal(len, 5);
	assert_string_equal(data, "hello");
	free(data);
	assert_int_equal(cf_ws_send_text(&w, "{\"type\":\"send\"}"), 0);
	assert_int_equal(cf_ws_recv(&w, 2000, &op, &data, &len), 0);
	assert_int_equal(len, 300);
	assert_int_equal(data[0], 'z');
	assert_int_equal(data[299], 'z');
	free(data);
	assert_int_equal(cf_ws_recv(&w, 2000, &op, &data, &len), -ECONNRESET);
	assert_int_equal(w.close_code, 1000);
	cf_ws_close(&w);
	server_join(&s);
	assert_int_equal(s.got_len, 15);
	assert_memory_equal(s.got, "{\"type\":\"send\"}", 15);
}

static void ws_bad_accept(struct server *s, int fd)
{
	if (ws_handshake(s, fd, 0) != 0)
		s->failed = 1;
}

static void ws_connect_refuses_wrong_accept_key(void **state)
{
	struct server s;
	struct cf_ws_client w;

	server_start(&s, ws_bad_accept, 1);
	assert_int_equal(cf_ws_connect(&w, s.url, "/v1/ws?user=bob", 2000),
			 CF_ECORRUPT);
	server_join(&s);
}

static void ws_silent(struct server *s, int fd)
{
	if (ws_handshake(s, fd, 1) != 0)
		s->failed = 1;
	usleep(600000);
}

static void ws_recv_times_out_and_stays_open(void **state)
{
	struct server s;
	struct cf_ws_client w;
	char *data;
	size_t len;
	uint64_t t0;
	int op;

	server_start(&s, ws_silent, 1);
	assert_int_equal(cf_ws_connect(&w, s.url, "/v1/ws?user=bob", 2000),
			 0);
	t0 = cf_mono_ms();
	assert_int_equal(cf_ws_recv(&w, 200, &op, &data, &len), CF_ETIMEDOUT);
	assert_true(cf_mono_ms() - t0 >= 190);
	assert_true(w.conn.fd >= 0);
	/* Then the server closes without a close frame. */
	assert_int_equal(cf_ws_recv(&w, 2000, &op, &data, &len), -ECONNRESET);
	cf_ws_close(&w);
	server_join(&s);
}

static void ws_connect_times_out_when_server_is_silent(void **state)
{
	struct server s;
	struct cf_ws_client w;

	server_start(&s, silent_answer, 1);
	assert_int_equal(cf_ws_connect(&w, s.url, "/v1/ws?user=bob", 200),
			 CF_ETIMEDOUT);
	server_join(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(url_parsing_accepts_scheme_and_path),
		cmocka_unit_test(keep_alive_connection_serves_two_requests),
		cmocka_unit_test(chunked_response_is_decoded),
		cmocka_unit_test(connection_close_is_followed_by_reconnect),
		cmocka_unit_test(silent_server_times_out_within_deadline),
		cmocka_unit_test(refused_connection_is_an_error),
		cmocka_unit_test(ws_accept_key_matches_rfc6455_example),
		cmocka_unit_test(ws_frames_ping_fragments_and_close),
		cmocka_unit_test(ws_connect_refuses_wrong_accept_key),
		cmocka_unit_test(ws_recv_times_out_and_stays_open),
		cmocka_unit_test(ws_connect_times_out_when_server_is_silent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
