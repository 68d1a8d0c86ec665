#include "config.h"

/*
 * sync_push on a real libuv loop against servers of this test: a 2xx
 * answer counts as sent; a failing webhook is retried with backoff and,
 * once the give-up time passed, the body lands in the dead-letter file and
 * counts as failed; bad URLs are refused.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "common/cf_time.h"
#include "raft/rft_cmd.h"
#include "raft/rft_rec.h"
#include "sync/sync_push.h"

/* A listening socket on 127.0.0.1 (port out). */
static int listen_any(unsigned *port)
{
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* The webhook: a thread answering every connection with status. */
struct srv {
	pthread_t t;
	int fd;
	int status;
	int requests; /* read after the thread ended */
	char last[4096];
	char bodies[8192]; /* every body, one a line (read after the end) */
};

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	char buf[4096];

	for (;;) {
		ssize_t n, got = 0;
		int fd = accept(s->fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		while (got < (ssize_t)sizeof buf - 1 &&
		       (n = read(fd, buf + got,
				 sizeof buf - 1 - (size_t)got)) > 0) {
			got += n;
			buf[got] = '\0';
			if (strstr(buf, "\r\n\r\n") && buf[got - 1] == '}')
				break;
		}
		__atomic_add_fetch(&s->requests, 1, __ATOMIC_SEQ_CST);
		snprintf(s->last, sizeof s->last, "%s", got > 0 ? buf : "");
		if (strstr(buf, "\r\n\r\n") != NULL) {
			size_t l = strlen(s->bodies);

			snprintf(s->bodies + l, sizeof s->bodies - l, "%s\n",
				 strstr(buf, "\r\n\r\n") + 4);
		}
		dprintf(fd, "HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n",
			s->status);
		close(fd);
	}
}

static void srv_start(struct srv *s, unsigned *port)
{
	s->fd = listen_any(port);
	assert_int_equal(pthread_create(&s->t, NULL, srv_main, s), 0);
}

static void srv_stop(struct srv *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->t, NULL);
	close(s->fd);
}

static void closed_cb(struct sync_push *p)
{
	*(int *)p->loop->data = 1;
}

static void run_until(uv_loop_t *loop, int (*done)(void *), void *arg,
		      int ms)
{
	uint64_t end = cf_mono_ms() + (uint64_t)ms;

	while (!done(arg) && cf_mono_ms() < end)
		uv_run(loop, UV_RUN_ONCE);
}

static int sent_one(void *arg)
{
	return ((struct sync_push *)arg)->sent >= 1;
}

static int failed_one(void *arg)
{
	return ((struct sync_push *)arg)->failed >= 1;
}

static int flag_set(void *arg)
{
	return *(int *)arg;
}

static void finish(uv_loop_t *loop, struct sync_push *p, struct srv *s)
{
	int closed = 0;

	loop->data = &closed;
	sync_push_close(p, closed_cb);
	run_until(loop, flag_set, &closed, 7000);
	assert_true(closed);
	uv_run(loop, UV_RUN_DEFAULT);
	srv_stop(s);
	assert_int_equal(uv_loop_close(loop), 0);
}

static void a_2xx_answer_counts_as_sent(void **state)
{
	char dir[] = "/tmp/test_sync_push.XXXXXX", url[64], err[256];
	struct sync_push p;
	struct srv s = {.status = 204};
	uv_loop_t loop;
	unsigned port;

	(void)state;
	assert_non_null(mkdtemp(dir));
	uv_loop_init(&loop);
	srv_start(&s, &port);
	snprintf(url, sizeof url, "http://127.0.0.1:%u/p/q", port);
	assert_int_equal(sync_push_init(&p, &loop, url, dir, err), 0);
	sync_push_enqueue(&p, "{\"userId\":\"u\"}", 14);
	run_until(&loop, sent_one, &p, 5000);
	assert_int_equal(p.sent, 1);
	assert_int_equal(p.failed, 0);
	assert_int_equal(s.requests, 1);
	assert_true(strncmp(s.last, "POST /p/q HTTP/1.1\r\n", 20) == 0);
	assert_non_null(strstr(s.last, "Content-Length: 14\r\n"));
	assert_non_null(strstr(s.last, "\r\n\r\n{\"userId\":\"u\"}"));
	finish(&loop, &p, &s);
	rmdir(dir);
}

static void a_failing_webhook_is_retried_then_dead_lettered(void **state)
{
	char dir[] = "/tmp/test_sync_push.XXXXXX", url[64], err[256];
	char path[128], line[256];
	struct sync_push p;
	struct srv s = {.status = 500};
	uv_loop_t loop;
	unsigned port;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	uv_loop_init(&loop);
	srv_start(&s, &port);
	snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
	assert_int_equal(sync_push_init(&p, &loop, url, dir, err), 0);
	/* Tries at 0, 1 s, 3 s (backoff 1 s, 2 s); the second ends well
	 * inside 2 s even on a loaded machine, the third after it. */
	p.give_up_ms = 2000;
	sync_push_enqueue(&p, "{\"n\":1}", 7);
	run_until(&loop, failed_one, &p, 8000);
	assert_int_equal(p.failed, 1);
	assert_int_equal(p.sent, 0);
	assert_int_equal(s.requests, 3);
	assert_true(strncmp(s.last, "POST / HTTP/1.1\r\n", 17) == 0);
	snprintf(path, sizeof path, "%s/push-dead-letter.jsonl", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof line, f));
	assert_string_equal(line, "{\"n\":1}\n");
	assert_null(fgets(line, sizeof line, f));
	fclose(f);
	unlink(path);
	finish(&loop, &p, &s);
	rmdir(dir);
}

static int rewrite_done(void *arg)
{
	const struct sync_push *p = arg;

	return p->rewrite == NULL && p->n_erase == 0;
}

static void recalled_messages_leave_the_dead_letter_file(void **state)
{
	char dir[] = "/tmp/test_sync_push.XXXXXX", url[64], err[256];
	char path[128], line[256];
	struct sync_push p;
	struct srv s = {.status = 500};
	uv_loop_t loop;
	unsigned port;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	uv_loop_init(&loop);
	srv_start(&s, &port);
	snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
	assert_int_equal(sync_push_init(&p, &loop, url, dir, err), 0);
	snprintf(path, sizeof path, "%s/push-dead-letter.jsonl", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"conversationId\":\"c1\",\"seq\":3,\"preview\":\"secret\"}\n"
	      "{\"conversationId\":\"c1\",\"seq\":4,\"preview\":\"b\"}\n"
	      "{\"conversationId\":\"c2\",\"seq\":3,\"preview\":\"c\"}\n",
	      f);
	fclose(f);
	sync_push_recall(&p, CF_STR_LIT("c1"), 3);
	sync_push_recall(&p, CF_STR_LIT("c9"), 1); /* nothing of it */
	run_until(&loop, rewrite_done, &p, 5000);
	assert_true(rewrite_done(&p));
	assert_int_equal(p.erased, 1);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof line, f));
	assert_non_null(strstr(line, "\"seq\":4"));
	assert_non_null(fgets(line, sizeof line, f));
	assert_non_null(strstr(line, "\"c2\""));
	assert_null(fgets(line, sizeof line, f));
	fclose(f);
	/* No file at all is not an error. */
	unlink(path);
	sync_push_recall(&p, CF_STR_LIT("c2"), 3);
	run_until(&loop, rewrite_done, &p, 5000);
	assert_true(rewrite_done(&p));
	assert_int_equal(access(path, F_OK), -1);
	finish(&loop, &p, &s);
	rmdir(dir);
}

static bool nobody_online(void *arg, const char *user, size_t len)
{
	(void)arg;
	(void)user;
	(void)len;
	return false;
}

static int sent_two(void *arg)
{
	return ((struct sync_push *)arg)->sent >= 2;
}

/* The line of bodies whose userId is user (copied to out). */
static void body_of(const char *bodies, const char *user, char *out,
		    size_t n)
{
	char key[64];
	const char *p, *end;

	snprintf(key, sizeof key, "\"userId\":\"%s\"", user);
	p = strstr(bodies, key);
	assert_non_null(p);
	while (p > bodies && p[-1] != '\n')
		p--;
	end = strchr(p, '\n');
	assert_non_null(end);
	snprintf(out, n, "%.*s", (int)(end - p), p);
}

static void a_mentioned_member_is_told_so(void **state)
{
	char dir[] = "/tmp/test_sync_push.XXXXXX", url[64], err[256];
	char *members[] = {"alice", "bob", "carol"}, line[512];
	struct cf_str ment = CF_STR_LIT("bob");
	struct cf_buf body = CF_BUF_INIT, list = CF_BUF_INIT;
	struct rft_rec_meta meta = {0};
	struct srv s = {.status = 204};
	struct rft_conv conv;
	struct log_record rec;
	struct sync_push p;
	uv_loop_t loop;
	unsigned port;

	(void)state;
	assert_int_equal(rft_idlist_encode(&list, &ment, 1), 0);
	meta.mentions = (struct cf_str){list.data, list.len};
	memset(&rec, 0, sizeof rec);
	rec.kind = LOG_REC_MESSAGE;
	rec.conv = CF_STR_LIT("g");
	rec.seq = 2;
	rec.message_id = 65536;
	rec.sender = CF_STR_LIT("alice");
	assert_int_equal(rft_rec_message_encode2(&body, CF_STR_LIT("hi @bob"),
						 CF_STR_LIT(""), &meta,
						 &rec.flags),
			 0);
	rec.body = (struct cf_str){body.data, body.len};
	memset(&conv, 0, sizeof conv);
	conv.id = "g";
	conv.members = members;
	conv.n_members = 3;

	assert_non_null(mkdtemp(dir));
	uv_loop_init(&loop);
	srv_start(&s, &port);
	snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
	assert_int_equal(sync_push_init(&p, &loop, url, dir, err), 0);
	sync_push_record(&p, &rec, &conv, nobody_online, NULL);
	run_until(&loop, sent_two, &p, 5000);
	assert_int_equal(p.sent, 2);
	finish(&loop, &p, &s);
	assert_int_equal(s.requests, 2); /* not the sender */
	body_of(s.bodies, "bob", line, sizeof line);
	assert_non_null(strstr(line, "\"mention\":true"));
	assert_non_null(strstr(line, "\"preview\":\"hi @bob\""));
	body_of(s.bodies, "carol", line, sizeof line);
	assert_null(strstr(line, "mention"));
	rmdir(dir);
	cf_buf_release(&body);
	cf_buf_release(&list);
}

static void only_http_urls_are_accepted(void **state)
{
	struct sync_push p;
	uv_loop_t loop;
	char err[256];

	(void)state;
	uv_loop_init(&loop);
	assert_int_equal(sync_push_init(&p, &loop, "https://x/", "/tmp", err),
			 CF_EBADREQ);
	assert_int_equal(sync_push_init(&p, &loop, "http:///a", "/tmp", err),
			 CF_EBADREQ);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_2xx_answer_counts_as_sent),
		cmocka_unit_test(a_failing_webhook_is_retried_then_dead_lettered),
		cmocka_unit_test(a_mentioned_member_is_told_so),
		cmocka_unit_test(recalled_messages_leave_the_dead_letter_file),
		cmocka_unit_test(only_http_urls_are_accepted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
