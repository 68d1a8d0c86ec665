#include "config.h"

/*
 * HTTP pipelining (issue 14; fe_conn.h "Pipelining"), through raw sockets
 * to one 3-node cluster of real confabd processes shared by every test
 * (each test uses its own users and conversation): every request of a
 * pipeline is written in one send(2), the answers read back in order.
 * - 3 x FE_CONN_PIPE_MAX sends to each node: all 201, their seqs
 *   consecutive in request order, in far fewer Raft entries than sends
 *   (they were in flight together), history holds them in that order; the
 *   same again: every one a duplicate of its first;
 * - a history read behind sends waits for them and sees them all; the
 *   sends behind the read go after it; the same written in pieces of 1, 7,
 *   97 and 1000 bytes, 1 ms apart;
 * - a send refused 400 among sends: those before it answered and stored,
 *   the 400 says Connection: close, and the connection closes after it:
 *   nothing behind it is committed;
 * - a malformed request behind sends: they are answered first, then 400
 *   and the close;
 * - a WebSocket upgrade behind sends: 101 after their answers, and the
 *   socket then answers a ping.
 */

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_buf.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "frontend/fe_conn.h"

#define START_TIMEOUT_MS 30000
#define READ_TIMEOUT_MS 20000
#define N_TESTS 6
#define N_SENDS (3 * FE_CONN_PIPE_MAX)

static struct cf_test_cluster cluster;
static int n_passed;

static int group_setup(void **state)
{
	(void)state;
	return cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0 ? -1
									 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
}

/* ---- a raw connection ---- */

static int raw_connect(unsigned node)
{
	int fd = cf_http_connect_blocking(cluster.nodes[node].url);

	assert_true(fd >= 0);
	return fd;
}

static void raw_send(int fd, const struct cf_buf *b)
{
	const char *p = b->data;
	size_t n = b->len;

	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* Append one POST /v1/messages by user to conv. */
static void add_send(struct cf_buf *b, const char *user, const char *conv,
		     const char *cmid, const char *content)
{
	char body[512];
	int n = snprintf(body, sizeof body,
			 "{\"conversationId\":\"%s\",\"clientMsgId\":\"%s\","
			 "\"content\":\"%s\"}",
			 conv, cmid, content);

	assert_true(n > 0 && (size_t)n < sizeof body);
	assert_int_equal(cf_buf_appendf(b,
					"POST /v1/messages HTTP/1.1\r\n"
					"Host: 127.0.0.1\r\nX-Confab-User: %s\r\n"
					"Content-Type: application/json\r\n"
					"Content-Length: %d\r\n\r\n%s",
					user, n, body),
			 0);
}

static void add_get(struct cf_buf *b, const char *user, const char *path)
{
	assert_int_equal(cf_buf_appendf(b,
					"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
					"X-Confab-User: %s\r\n\r\n",
					path, user),
			 0);
}

/* One answer read back. */
struct raw_ans {
	int status;
	bool close;   /* Connection: close */
	json_t *json; /* the body, or NULL */
};

/*
 * Read answers off fd into a[0..n) (each with a Content-Length body, or
 * a 101 without). Returns how many complete ones came before the peer
 * closed (n when all did); *eof tells whether it closed.
 */
static unsigned read_answers(int fd, struct raw_ans *a, unsigned n,
			     bool *eof)
{
	struct cf_buf in = CF_BUF_INIT;
	uint64_t end = cf_mono_ms() + READ_TIMEOUT_MS;
	unsigned got = 0;

	*eof = false;
	while (got < n || !*eof) {
		char *hend;
		size_t head, clen = 0;
		const char *p;

		/* every complete answer in the buffer */
		while (got < n && in.len > 0 &&
		       (hend = memmem(in.data, in.len, "\r\n\r\n", 4)) !=
			       NULL) {
			head = (size_t)(hend - in.data) + 4;
			p = memmem(in.data, head, "Content-Length:", 15);
			if (p == NULL)
				p = memmem(in.data, head, "content-length:",
					   15);
			if (p != NULL)
				clen = strtoul(p + 15, NULL, 10);
			if (in.len < head + clen)
				break;
			memset(&a[got], 0, sizeof a[got]);
			assert_int_equal(sscanf(in.data, "HTTP/1.1 %d",
						&a[got].status),
					 1);
			a[got].close = memmem(in.data, head,
					      "Connection: close", 17) != NULL;
			if (clen > 0)
				a[got].json = json_loadb(in.data + head, clen,
							 0, NULL);
			cf_buf_consume(&in, head + clen);
			got++;
			if (a[got - 1].status == 101)
				break; /* the rest is WebSocket */
		}
		if (got == n && (got == 0 || a[got - 1].status == 101 ||
				 !a[got - 1].close))
			break; /* no close expected */
		{
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			char buf[16384];
			ssize_t r;
			int64_t left = (int64_t)(end - cf_mono_ms());

			assert_true(left > 0);
			if (poll(&pfd, 1, (int)left) <= 0)
				continue;
			r = recv(fd, buf, sizeof buf, 0);
			if (r <= 0) {
				*eof = true;
				break;
			}
			assert_int_equal(cf_buf_append(&in, buf, (size_t)r), 0);
		}
	}
	cf_buf_release(&in);
	return got;
}

static void release(struct raw_ans *a, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		json_decref(a[i].json);
}

static long long seq_of(const struct raw_ans *a)
{
	assert_non_null(a->json);
	return cf_test_int(a->json, "seq");
}

/* b in one write to node, then up to n answers (how many came). */
static unsigned exchange(unsigned node, struct cf_buf *b, struct raw_ans *a,
			 unsigned n, bool *eof)
{
	int fd = raw_connect(node);
	unsigned got;

	raw_send(fd, b);
	cf_buf_release(b);
	got = read_answers(fd, a, n, eof);
	close(fd);
	return got;
}

/* n sends by user to conv (cmids prefix0..), in one write to node. */
static void pipeline_sends(unsigned node, const char *user, const char *conv,
			   const char *prefix, unsigned n, struct raw_ans *a)
{
	struct cf_buf b = CF_BUF_INIT;
	char cmid[64];
	bool eof;

	for (unsigned i = 0; i < n; i++) {
		snprintf(cmid, sizeof cmid, "%s%u", prefix, i);
		add_send(&b, user, conv, cmid, cmid);
	}
	assert_int_equal(exchange(node, &b, a, n, &eof), n);
}

/* ---- tests ---- */

static void sends_are_answered_and_committed_in_order(void **state)
{
	struct raw_ans a[N_SENDS];
	json_t *hist;
	char cmid[64];

	(void)state;
	cf_test_create_group(&cluster, 1, "pa", "p-a", "[\"pb\"]");
	for (unsigned node = 1; node <= 3; node++) {
		char prefix[16];
		double e0, e1;
		snprintf(prefix, sizeof prefix, "n%u-", node);
		e0 = cf_test_metric(&cluster, node,
				    "confab_raft_entries_applied_total");
		assert_true(e0 >= 0);
		pipeline_sends(node, "pa", "p-a", prefix, N_SENDS, a);
		/*
		 * In flight together, they share entries; one at a time, each
		 * would have been an entry of its own.
		 */
		e1 = cf_test_metric(&cluster, node,
				    "confab_raft_entries_applied_total");
		assert_true(e1 - e0 <= N_SENDS / 4);
		for (unsigned i = 0; i < N_SENDS; i++) {
			assert_int_equal(a[i].status, 201);
			assert_false(a[i].close);
			if (i > 0)
				assert_int_equal(seq_of(&a[i]),
						 seq_of(&a[i - 1]) + 1);
		}
		assert_int_equal(seq_of(&a[0]), 1 + (node - 1) * N_SENDS);
		release(a, N_SENDS);
	}
	hist = cf_test_history(&cluster, 2, "pb", "p-a");
	assert_int_equal(json_array_size(hist), 3 * N_SENDS);
	for (unsigned node = 1; node <= 3; node++) {
		for (unsigned i = 0; i < N_SENDS; i++) {
			json_t *m = json_array_get(
				hist, (node - 1) * N_SENDS + i);
			snprintf(cmid, sizeof cmid, "n%u-%u", node, i);
			assert_string_equal(cf_test_str(m, "content"), cmid);
		}
	}
	json_decref(hist);
	/* The same pipeline again: every send a duplicate of its first. */
	pipeline_sends(2, "pa", "p-a", "n2-", N_SENDS, a);
	for (unsigned i = 0; i < N_SENDS; i++) {
		assert_int_equal(a[i].status, 200);
		assert_int_equal(seq_of(&a[i]), 1 + N_SENDS + i);
	}
	release(a, N_SENDS);
	n_passed++;
}

/* b's bytes in pieces of piece bytes, 1 ms apart (each its own segment). */
static void raw_send_pieces(int fd, const struct cf_buf *b, size_t piece)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	for (size_t off = 0; off < b->len; off += piece) {
		size_t n = b->len - off < piece ? b->len - off : piece;
		assert_int_equal(send(fd, b->data + off, n, MSG_NOSIGNAL),
				 (ssize_t)n);
		cf_test_sleep_ms(1);
	}
}

/*
 * 10 sends, a consistent read, a send, by user to conv on node 3; written
 * at once (piece 0) or in pieces.
 */
static void read_behind_sends(const char *user, const char *conv,
			      size_t piece)
{
	struct cf_buf b = CF_BUF_INIT;
	struct raw_ans a[12];
	char cmid[32], path[128];
	json_t *msgs;
	bool eof;
	int fd;

	for (unsigned i = 0; i < 10; i++) {
		snprintf(cmid, sizeof cmid, "q%u", i);
		add_send(&b, user, conv, cmid, cmid);
	}
	/* consistent: the read index of when it is dispatched */
	snprintf(path, sizeof path, "/v1/conversations/%s/messages?consistent=1",
		 conv);
	add_get(&b, user, path);
	add_send(&b, user, conv, "q-after", "after");
	fd = raw_connect(3);
	if (piece == 0)
		raw_send(fd, &b);
	else
		raw_send_pieces(fd, &b, piece);
	cf_buf_release(&b);
	assert_int_equal(read_answers(fd, a, 12, &eof), 12);
	close(fd);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(a[i].status, 201);
	assert_int_equal(a[10].status, 200);
	msgs = json_object_get(a[10].json, "messages");
	assert_int_equal(json_array_size(msgs), 10);
	assert_int_equal(a[11].status, 201);
	assert_int_equal(seq_of(&a[11]), 11);
	release(a, 12);
}

static void a_read_behind_sends_sees_them(void **state)
{
	(void)state;
	cf_test_create_group(&cluster, 1, "qa", "p-q", "[\"qb\"]");
	read_behind_sends("qa", "p-q", 0);
	n_passed++;
}

/* The same pipeline arriving in pieces: requests split at every place,
 * some parsed while the sends before them are in flight. */
static void a_pipeline_in_pieces_is_the_same(void **state)
{
	static const size_t pieces[] = {1, 7, 97, 1000};
	char conv[32];

	(void)state;
	for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
		snprintf(conv, sizeof conv, "p-k%zu", i);
		cf_test_create_group(&cluster, 1, "ka", conv, "[\"kb\"]");
		read_behind_sends("ka", conv, pieces[i]);
	}
	n_passed++;
}

static void a_refused_send_closes_after_those_before_it(void **state)
{
	struct cf_buf b = CF_BUF_INIT;
	struct raw_ans a[8];
	json_t *hist;
	bool eof;
	unsigned got;

	(void)state;
	cf_test_create_group(&cluster, 1, "ra", "p-r", "[\"rb\"]");
	add_send(&b, "ra", "p-r", "r0", "r0");
	add_send(&b, "ra", "p-r", "r1", "r1");
	add_send(&b, "ra", "bad*id", "r2", "r2"); /* a bad id: 400 */
	add_send(&b, "ra", "p-r", "r3", "r3");
	add_send(&b, "ra", "p-r", "r4", "r4");
	got = exchange(2, &b, a, 5, &eof);
	assert_int_equal(got, 3);
	assert_true(eof);
	assert_int_equal(a[0].status, 201);
	assert_int_equal(a[1].status, 201);
	assert_int_equal(a[2].status, 400);
	assert_true(a[2].close);
	assert_string_equal(
		cf_test_str(json_object_get(a[2].json, "error"), "code"),
		"bad_request");
	release(a, got);
	/* nothing behind the refused one went in */
	hist = cf_test_history(&cluster, 1, "rb", "p-r");
	assert_int_equal(json_array_size(hist), 2);
	json_decref(hist);
	n_passed++;
}

static void a_malformed_request_behind_sends_is_answered_last(void **state)
{
	static const char bad[] = "GET /v1/cluster HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Content-Length: x\r\n\r\n";
	struct cf_buf b = CF_BUF_INIT;
	struct raw_ans a[6];
	bool eof;
	unsigned got;

	(void)state;
	cf_test_create_group(&cluster, 1, "ma", "p-m", "[\"mb\"]");
	for (unsigned i = 0; i < 4; i++) {
		char cmid[16];
		snprintf(cmid, sizeof cmid, "m%u", i);
		add_send(&b, "ma", "p-m", cmid, cmid);
	}
	assert_int_equal(cf_buf_append(&b, bad, sizeof bad - 1), 0);
	got = exchange(1, &b, a, 5, &eof);
	assert_int_equal(got, 5);
	assert_true(eof);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(a[i].status, 201);
		assert_int_equal(seq_of(&a[i]), 1 + i);
	}
	assert_int_equal(a[4].status, 400);
	assert_true(a[4].close);
	release(a, got);
	n_passed++;
}

static void an_upgrade_behind_sends_waits_for_them(void **state)
{
	struct cf_buf b = CF_BUF_INIT;
	struct raw_ans a[4];
	bool eof;
	int fd;
	/* a masked ping with no payload */
	static const char ping[] = {(char)0x89, (char)0x80, 1, 2, 3, 4};
	unsigned char frame[2];

	(void)state;
	cf_test_create_group(&cluster, 1, "ua", "p-u", "[\"ub\"]");
	add_send(&b, "ua", "p-u", "u0", "u0");
	add_send(&b, "ua", "p-u", "u1", "u1");
	add_send(&b, "ua", "p-u", "u2", "u2");
	assert_int_equal(cf_buf_appendf(&b,
					"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\n"
					"X-Confab-User: ua\r\n"
					"Upgrade: websocket\r\n"
					"Connection: Upgrade\r\n"
					"Sec-WebSocket-Key: "
					"dGhlIHNhbXBsZSBub25jZQ==\r\n"
					"Sec-WebSocket-Version: 13\r\n\r\n"),
			 0);
	fd = raw_connect(2);
	raw_send(fd, &b);
	cf_buf_release(&b);
	assert_int_equal(read_answers(fd, a, 4, &eof), 4);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(a[i].status, 201);
	assert_int_equal(a[3].status, 101);
	release(a, 4);
	/* the socket speaks WebSocket now: a ping gets its pong */
	assert_int_equal(send(fd, ping, sizeof ping, MSG_NOSIGNAL),
			 (ssize_t)sizeof ping);
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		size_t len;
		assert_int_equal(poll(&pfd, 1, READ_TIMEOUT_MS), 1);
		assert_int_equal(recv(fd, frame, 2, MSG_WAITALL), 2);
		len = frame[1] & 0x7f;
		assert_true(len < 126); /* small frames only here */
		if ((frame[0] & 0x0f) == 0xA)
			break; /* the pong */
		/* another frame (an event): skip its payload */
		while (len > 0) {
			char skip[128];
			ssize_t r = recv(fd, skip, len, 0);
			assert_true(r > 0);
			len -= (size_t)r;
		}
	}
	assert_int_equal(frame[0], 0x8A);
	close(fd);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sends_are_answered_and_committed_in_order),
		cmocka_unit_test(a_read_behind_sends_sees_them),
		cmocka_unit_test(a_pipeline_in_pieces_is_the_same),
		cmocka_unit_test(a_refused_send_closes_after_those_before_it),
		cmocka_unit_test(
			a_malformed_request_behind_sends_is_answered_last),
		cmocka_unit_test(an_upgrade_behind_sends_waits_for_them),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
