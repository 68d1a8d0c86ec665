#include "config.h"

/*
 * bench_sendhttp: see bench_sendhttp.h (moved from confab_bench.c).
 *
 * One libuv loop holds --sockets keep-alive HTTP/1.1 connections (default:
 * --concurrency), spread round robin over the --url nodes, with the
 * --concurrency requests in flight shared among them (pipelined, as NATS's
 * client keeps its publishes in flight on one connection, when there are
 * fewer sockets than requests); each connection sends a request again for
 * every answer that completes, the requests owed by one pass over its input
 * in one write. First, connection 0
 * creates --conversations group conversations (dev auth, user "bench"),
 * one after another; then every connection starts. Answers that complete
 * during the first --warmup seconds are not counted; the next --seconds
 * are measured. Output: one JSON line on stdout
 *   {"mode":"send","transport":"http","conc":C,"sockets":C,"nodes":n,
 *    "seconds":X,"ops_s":X,"p50_ms":X,"p99_ms":X,"errors":N,"total":N,
 *    "client_cpu_s":X[,"server_cpu_s":X,"server_cpu_us_per_ack":X]}
 * where total counts every request answered in the window, errors the
 * non-2xx answers and the connection failures, ops_s and the latencies the
 * 2xx answers only, the CPU figures the window (bench_cpu.h; the servers'
 * with --pid); and one human line on stderr. Runs planned longer than 10 s
 * write a progress line on stderr every 5 s.
 *
 * The response reader (bench_http.c) handles what confabd sends: a status
 * line, headers with Content-Length, and that many body bytes. A response
 * without Content-Length (or chunked) counts as an error and drops the
 * connection.
 */

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "bench/bench_lat.h"
#include "bench/bench_sendhttp.h"
#include "common/cf_buf.h"
#include "common/cf_time.h"

#define RECONNECT_MS 100

enum bench_phase { PHASE_SETUP, PHASE_WARMUP, PHASE_MEASURE, PHASE_DONE };

struct shttp {
	const struct bsendhttp_opts *o;
	uv_loop_t *loop;
	char *content;
	enum bench_phase phase;
	unsigned convs_made;
	uint64_t measure_start_ns, measure_end_ns;
	uint64_t ok, errors, total;
	uint64_t acks_all; /* 2xx answers, warm-up included (progress) */
	struct bench_lat lat; /* latencies of 2xx answers in the window */
	uv_timer_t phase_timer, progress_timer;
	struct bench_progress prog;
	struct hconn *conns;
	int failed; /* setup failed */
};

struct hconn {
	struct shttp *b;
	unsigned idx, url;
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	uv_timer_t retry;
	int open;	/* tcp handle initialised and not closing */
	int writing;	/* a write is in flight */
	unsigned depth;	/* requests it keeps in flight */
	unsigned owed;	/* requests to send at the next write */
	unsigned in_flight; /* requests sent, not answered yet */
	unsigned sent_head; /* sent_ns[sent_head]: the oldest in flight */
	uint64_t *sent_ns; /* depth send times, a ring */
	unsigned long n; /* requests sent by this connection */
	struct cf_buf out, in;
};

static void conn_start(struct hconn *c);
static void conn_pump(struct hconn *c);

static void record(struct shttp *b, int ok, uint64_t lat_ns)
{
	if (b->phase != PHASE_MEASURE) {
		b->acks_all += ok;
		return;
	}
	b->total++;
	if (!ok) {
		b->errors++;
		return;
	}
	b->ok++;
	b->acks_all++;
	if (bench_lat_push(&b->lat, lat_ns / 1000) != 0) {
		fprintf(stderr, "confab-bench: out of memory\n");
		exit(1);
	}
}

static void conn_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct hconn *c = h->data;

	if (cf_buf_reserve(&c->in, 16384) != 0) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	buf->base = c->in.data + c->in.len;
	buf->len = c->in.cap - c->in.len;
}

static void conn_retry_cb(uv_timer_t *t)
{
	conn_start(t->data);
}

static void conn_closed_cb(uv_handle_t *h)
{
	struct hconn *c = h->data;

	/* Reconnect later unless the run is over. */
	if (c->b->phase != PHASE_DONE)
		uv_timer_start(&c->retry, conn_retry_cb,
			       RECONNECT_MS, 0);
}

static void conn_fail(struct hconn *c, const char *why)
{
	struct shttp *b = c->b;

	if (c->in_flight > 0) {
		for (unsigned i = 0; i < c->in_flight; i++)
			record(b, 0, 0);
	} else if (b->phase == PHASE_MEASURE) {
		b->errors++;
	}
	c->in_flight = 0;
	c->sent_head = 0;
	c->writing = 0;
	c->owed = 0;
	if (b->phase == PHASE_SETUP) {
		fprintf(stderr, "confab-bench: setup: %s\n", why);
		b->failed = 1;
		b->phase = PHASE_DONE;
		uv_stop(b->loop);
	}
	if (c->open) {
		c->open = 0;
		uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
	}
}

/*
 * Length of one complete response at the start of c->in, 0 if more bytes
 * are needed, -1 if it cannot be framed. *status is set when complete.
 */
static long response_length(struct hconn *c, int *status)
{
	size_t body_off;

	return bench_http_response_length(c->in.data, c->in.len, status,
					  &body_off);
}

static void setup_answer(struct hconn *c, int status)
{
	struct shttp *b = c->b;

	if (status != 200 && status != 201) {
		fprintf(stderr,
			"confab-bench: creating a conversation: status %d\n",
			status);
		b->failed = 1;
		b->phase = PHASE_DONE;
		uv_stop(b->loop);
		return;
	}
	b->convs_made++;
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct hconn *c = s->data;
	struct shttp *b = c->b;
	long len;
	int status = 0;

	if (nread < 0) {
		conn_fail(c, uv_strerror((int)nread));
		return;
	}
	c->in.len += (size_t)nread;
	/* Every complete answer; one request owed again for each. */
	while ((len = response_length(c, &status)) != 0) {
		uint64_t sent;
		if (len < 0 || c->in_flight == 0) {
			conn_fail(c, "malformed response");
			return;
		}
		cf_buf_consume(&c->in, (size_t)len);
		sent = c->sent_ns[c->sent_head];
		c->sent_head = (c->sent_head + 1) % c->depth;
		c->in_flight--;
		if (b->phase == PHASE_SETUP)
			setup_answer(c, status);
		else
			record(b, status >= 200 && status < 300,
			       cf_mono_ns() - sent);
		if (b->phase == PHASE_DONE)
			return;
		c->owed++;
	}
	conn_pump(c);
}

static void conn_write_cb(uv_write_t *req, int status)
{
	struct hconn *c = req->data;

	c->writing = 0;
	if (status < 0) {
		if (status != UV_ECANCELED)
			conn_fail(c, uv_strerror(status));
		return;
	}
	conn_pump(c);
}

static void start_load(struct shttp *b);

/* Append c's next request (setup or load) to c->out; 0 or -1. */
static int conn_append_request(struct hconn *c)
{
	struct shttp *b = c->b;
	char body_head[256];
	int rv, n;

	if (b->phase == PHASE_SETUP) {
		n = snprintf(body_head, sizeof body_head,
			     "{\"type\":\"group\",\"members\":[\"bench2\"],"
			     "\"title\":\"bench\",\"conversationId\":"
			     "\"bench-%s-%u\"}",
			     b->o->run_id, b->convs_made);
		rv = cf_buf_appendf(&c->out,
				    "POST /v1/conversations HTTP/1.1\r\n"
				    "Host: %s\r\nX-Confab-User: bench\r\n"
				    "Content-Type: application/json\r\n"
				    "Content-Length: %d\r\n\r\n%s",
				    b->o->targets[c->url].host, n, body_head);
	} else {
		n = snprintf(body_head, sizeof body_head,
			     "{\"conversationId\":\"bench-%s-%lu\","
			     "\"clientMsgId\":\"b%s-%u-%lu\","
			     "\"msgType\":\"text\",\"content\":\"",
			     b->o->run_id,
			     (unsigned long)((c->n * b->o->sockets + c->idx) %
					     b->o->n_convs),
			     b->o->run_id, c->idx, c->n);
		rv = cf_buf_appendf(&c->out,
				    "POST /v1/messages HTTP/1.1\r\n"
				    "Host: %s\r\nX-Confab-User: bench\r\n"
				    "Content-Type: application/json\r\n"
				    "Content-Length: %u\r\n\r\n%s%s\"}",
				    b->o->targets[c->url].host, (unsigned)n + b->o->size + 2,
				    body_head, b->content);
	}
	if (rv != 0)
		return -1;
	c->n++;
	return 0;
}

/*
 * Write the requests c owes in one write, unless one is being written
 * (its callback pumps again). Set-up: one request at a time, until the
 * conversations are made; then the load starts.
 */
static void conn_pump(struct hconn *c)
{
	struct shttp *b = c->b;
	unsigned k = 0;
	uint64_t now;
	uv_buf_t buf;
	int rv;

	if (b->phase == PHASE_DONE || !c->open || c->writing || c->owed == 0)
		return;
	if (b->phase == PHASE_SETUP) {
		if (b->convs_made == b->o->n_convs) {
			c->owed = 0;
			start_load(b);
			return;
		}
		if (c->in_flight > 0)
			return;
		c->owed = 1;
	}
	assert(c->in_flight + c->owed <= c->depth);
	cf_buf_truncate(&c->out, 0);
	for (; k < c->owed; k++) {
		if (conn_append_request(c) != 0) {
			conn_fail(c, "out of memory");
			return;
		}
	}
	buf = uv_buf_init(c->out.data, (unsigned)c->out.len);
	c->wreq.data = c;
	rv = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1,
		      conn_write_cb);
	if (rv != 0) {
		conn_fail(c, uv_strerror(rv));
		return;
	}
	c->writing = 1;
	now = cf_mono_ns();
	for (; c->owed > 0; c->owed--) {
		c->sent_ns[(c->sent_head + c->in_flight) % c->depth] = now;
		c->in_flight++;
	}
}

static void conn_connect_cb(uv_connect_t *req, int status)
{
	struct hconn *c = req->data;
	int rv;

	if (status < 0) {
		if (status != UV_ECANCELED)
			conn_fail(c, uv_strerror(status));
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	rv = uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb,
			   conn_read_cb);
	if (rv != 0) {
		conn_fail(c, uv_strerror(rv));
		return;
	}
	c->owed = c->b->phase == PHASE_SETUP ? 1 : c->depth;
	conn_pump(c);
}

static void conn_start(struct hconn *c)
{
	struct shttp *b = c->b;
	int rv;

	if (b->phase == PHASE_DONE || c->open)
		return;
	cf_buf_truncate(&c->in, 0);
	rv = uv_tcp_init(b->loop, &c->tcp);
	if (rv != 0) {
		fprintf(stderr, "confab-bench: %s\n", uv_strerror(rv));
		exit(1);
	}
	c->tcp.data = c;
	c->creq.data = c;
	c->open = 1;
	rv = uv_tcp_connect(&c->creq, &c->tcp,
			    (const struct sockaddr *)&b->o->targets[c->url].addr,
			    conn_connect_cb);
	if (rv != 0)
		conn_fail(c, uv_strerror(rv));
}

static void phase_timer_cb(uv_timer_t *t)
{
	struct shttp *b = t->data;
	unsigned i;

	if (b->phase == PHASE_WARMUP) {
		b->phase = PHASE_MEASURE;
		b->measure_start_ns = cf_mono_ns();
		bench_cpu_begin(b->o->cpu);
		uv_timer_start(t, phase_timer_cb, (uint64_t)b->o->seconds * 1000,
			       0);
		return;
	}
	b->measure_end_ns = cf_mono_ns();
	bench_cpu_end(b->o->cpu);
	b->phase = PHASE_DONE;
	uv_timer_stop(&b->progress_timer);
	for (i = 0; i < b->o->sockets; i++) {
		uv_timer_stop(&b->conns[i].retry);
		if (b->conns[i].open) {
			b->conns[i].open = 0;
			uv_close((uv_handle_t *)&b->conns[i].tcp, NULL);
		}
	}
}

static void start_load(struct shttp *b)
{
	unsigned i;

	b->phase = b->o->warmup > 0 ? PHASE_WARMUP : PHASE_MEASURE;
	b->measure_start_ns = cf_mono_ns();
	if (b->phase == PHASE_MEASURE)
		bench_cpu_begin(b->o->cpu);
	uv_timer_start(&b->phase_timer, phase_timer_cb,
		       (uint64_t)(b->o->warmup > 0 ? b->o->warmup : b->o->seconds) *
			       1000,
		       0);
	for (i = 0; i < b->o->sockets; i++) {
		struct hconn *c = &b->conns[i];
		if (c->open) {
			c->owed = c->depth - c->in_flight;
			conn_pump(c);
		} else {
			conn_start(c);
		}
	}
}

static void progress_cb(uv_timer_t *t)
{
	struct shttp *b = t->data;

	bench_progress_tick(&b->prog, cf_mono_ns(), "acks", b->acks_all);
}

static void report(struct shttp *b)
{
	double secs = (double)(b->measure_end_ns - b->measure_start_ns) / 1e9;
	double ops = secs > 0 ? (double)b->ok / secs : 0;
	double p50 = 0, p99 = 0;
	size_t i99;

	if (b->lat.n > 0) {
		bench_lat_sort(b->lat.v, b->lat.n);
		p50 = b->lat.v[b->lat.n / 2] / 1000.0;
		i99 = (b->lat.n * 99 + 99) / 100;
		p99 = b->lat.v[(i99 > 0 ? i99 : 1) - 1] / 1000.0;
	}
	printf("{\"mode\":\"send\",\"transport\":\"http\",\"conc\":%u,"
	       "\"sockets\":%u,\"nodes\":%u,\"seconds\":%.3f,"
	       "\"ops_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
	       "\"errors\":%llu,\"total\":%llu,",
	       b->o->conc, b->o->sockets, b->o->n_targets, secs, ops, p50, p99,
	       (unsigned long long)b->errors, (unsigned long long)b->total);
	bench_cpu_json(b->o->cpu, stdout, b->ok, 0);
	printf("}\n");
	fflush(stdout);
	fprintf(stderr,
		"confab-bench: c=%u over %u node(s): %.0f msg/s, p50 %.2f ms, "
		"p99 %.2f ms, %llu errors, %llu answered in %.1f s\n",
		b->o->conc, b->o->n_targets, ops, p50, p99,
		(unsigned long long)b->errors, (unsigned long long)b->total,
		secs);
}


int bench_sendhttp_run(const struct bsendhttp_opts *o)
{
	struct shttp sb, *b = &sb;
	uv_loop_t loop;
	unsigned i;
	int rv;

	memset(b, 0, sizeof *b);
	b->o = o;
	b->content = malloc(b->o->size + 1);
	b->conns = calloc(b->o->sockets, sizeof *b->conns);
	if (b->content == NULL || b->conns == NULL) {
		fprintf(stderr, "confab-bench: out of memory\n");
		return 1;
	}
	for (i = 0; i < b->o->sockets; i++) {
		/* the sends in flight, shared out */
		struct hconn *c = &b->conns[i];
		c->depth = b->o->conc / b->o->sockets +
			   (i < b->o->conc % b->o->sockets);
		c->sent_ns = calloc(c->depth, sizeof *c->sent_ns);
		if (c->sent_ns == NULL) {
			fprintf(stderr, "confab-bench: out of memory\n");
			return 1;
		}
	}
	for (i = 0; i < b->o->size; i++)
		b->content[i] = (char)('a' + i % 26);
	b->content[b->o->size] = '\0';
	rv = uv_loop_init(&loop);
	assert(rv == 0);
	b->loop = &loop;
	uv_timer_init(&loop, &b->phase_timer);
	b->phase_timer.data = b;
	uv_timer_init(&loop, &b->progress_timer);
	b->progress_timer.data = b;
	bench_progress_init(&b->prog, cf_mono_ns(),
			    (double)b->o->warmup + b->o->seconds);
	uv_timer_start(&b->progress_timer, progress_cb, 1000, 1000);
	for (i = 0; i < b->o->sockets; i++) {
		b->conns[i].b = b;
		b->conns[i].idx = i;
		b->conns[i].url = i % b->o->n_targets;
		cf_buf_init(&b->conns[i].out);
		cf_buf_init(&b->conns[i].in);
		uv_timer_init(&loop, &b->conns[i].retry);
		b->conns[i].retry.data = &b->conns[i];
	}
	b->phase = PHASE_SETUP;
	conn_start(&b->conns[0]);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (b->failed) {
		fprintf(stderr, "confab-bench: could not set up the run\n");
		return 1;
	}
	report(b);
	/* Close what is left and let the loop finish its close callbacks. */
	for (i = 0; i < b->o->sockets; i++) {
		if (b->conns[i].open) {
			b->conns[i].open = 0;
			uv_close((uv_handle_t *)&b->conns[i].tcp, NULL);
		}
		uv_close((uv_handle_t *)&b->conns[i].retry, NULL);
	}
	uv_close((uv_handle_t *)&b->phase_timer, NULL);
	uv_close((uv_handle_t *)&b->progress_timer, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	rv = uv_loop_close(&loop);
	for (i = 0; i < b->o->sockets; i++) {
		cf_buf_release(&b->conns[i].out);
		cf_buf_release(&b->conns[i].in);
		free(b->conns[i].sent_ns);
	}
	free(b->conns);
	free(b->content);
	free(b->lat.v);
	return rv == 0 ? 0 : 1;
}
