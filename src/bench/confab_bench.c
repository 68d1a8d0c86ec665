#include "config.h"

/*
 * confab-bench: a closed-loop load generator for POST /v1/messages.
 *
 * One libuv loop holds --concurrency keep-alive HTTP/1.1 connections, spread
 * round robin over the --url nodes; each has exactly one request in flight
 * and sends the next as soon as the answer is complete. First, connection 0
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
 * --ws sends over WebSockets instead (bench_sendws.c): --concurrency sends
 * in flight over --sockets sockets (default: as many as --concurrency).
 *
 * The response reader (bench_http.c) handles what confabd sends: a status
 * line, headers with Content-Length, and that many body bytes. A response
 * without Content-Length (or chunked) counts as an error and drops the
 * connection.
 *
 * --fanout N selects the group fan-out mode instead (bench_fanout.c): one
 * group of N members with a WebSocket each, send->ack, send->delivery and
 * commit->delivery; --rate R paces its sends (default: closed loop over
 * --concurrency connections).
 *
 * --history N selects the history read mode instead (bench_history.c): N
 * pages of --limit messages at random places of the --user's
 * conversations, over --concurrency connections (default 1 in this mode).
 *
 * --idle N selects the idle WebSocket mode instead (bench_idle.c): N silent
 * WebSockets on the first --url node, its resident memory and connection
 * buffers read from /metrics before and --seconds (default 3 in this mode)
 * after they are all open, per socket.
 *
 * --search N selects the search mode instead (bench_search.c): N queries
 * of --terms words (default 1) of the synthetic vocabulary that
 * tests/bench/gen_cluster -T writes, as --user, --limit results each
 * (default 20 in this mode), over --concurrency connections (default 1).
 *
 * --sync N selects the catch-up mode instead (bench_sync.c): --user is
 * offline while N messages reach its conversations, then catches up with
 * GET /v1/sync pages of --limit (default 500).
 *
 * --procs P (with --fanout) spreads the member sockets over P forked
 * processes (bench_fanmp.c), for groups of thousands of sockets.
 */

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "bench/bench_cpu.h"
#include "bench/bench_fanmp.h"
#include "bench/bench_fanout.h"
#include "bench/bench_history.h"
#include "bench/bench_lat.h"
#include "bench/bench_search.h"
#include "bench/bench_http.h"
#include "bench/bench_idle.h"
#include "bench/bench_sendws.h"
#include "bench/bench_sync.h"
#include "common/cf_buf.h"
#include "common/cf_time.h"

#define MAX_URLS 16
#define RECONNECT_MS 100

enum bench_phase { PHASE_SETUP, PHASE_WARMUP, PHASE_MEASURE, PHASE_DONE };

struct bench {
	uv_loop_t *loop;
	struct sockaddr_in addrs[MAX_URLS];
	char hosts[MAX_URLS][80]; /* "127.0.0.1:8001", the Host header */
	unsigned n_urls;
	unsigned conc, seconds, warmup, size, n_convs;
	unsigned fanout, rate; /* --fanout mode (bench_fanout.c) */
	unsigned history, limit, seed; /* --history mode (bench_history.c) */
	unsigned idle; /* --idle mode (bench_idle.c) */
	unsigned search, terms, users; /* --search mode (bench_search.c) */
	unsigned ws, sockets; /* --ws send mode (bench_sendws.c) */
	unsigned sync;	      /* --sync mode (bench_sync.c) */
	unsigned procs, group_max; /* --procs fan-out (bench_fanmp.c) */
	struct bench_cpu cpu; /* --pid */
	struct bench_progress prog;
	uv_timer_t progress_timer;
	uint64_t acks_all; /* 2xx answers, warm-up included (progress) */
	int limit_set, user_set;
	const char *user;
	int conc_set, seconds_set;
	char run_id[32];
	char *content;
	enum bench_phase phase;
	unsigned convs_made;
	uint64_t measure_start_ns, measure_end_ns;
	uint64_t ok, errors, total;
	uint32_t *lat_us; /* latencies of 2xx answers in the window */
	size_t n_lat, cap_lat;
	uv_timer_t phase_timer;
	struct bench_conn *conns;
	int failed; /* setup failed */
};

struct bench_conn {
	struct bench *b;
	unsigned idx, url;
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	uv_timer_t retry;
	int open;	/* tcp handle initialised and not closing */
	int writing;	/* a write is in flight */
	int want_next;	/* the answer came before the write callback */
	int in_flight;	/* a request awaits its answer */
	uint64_t sent_ns;
	unsigned long n; /* requests sent by this connection */
	struct cf_buf out, in;
};

static void conn_start(struct bench_conn *c);
static void conn_send_next(struct bench_conn *c);

static void usage(FILE *f)
{
	fprintf(f, "usage: confab-bench [--url URL ...] [--concurrency C] "
		   "[--seconds S] [--warmup W]\n"
		   "                    [--size BYTES] [--conversations K]\n"
		   "                    [--ws [--sockets S]] [--pid PID ...]\n"
		   "       confab-bench --fanout N [--url URL ...] [--rate R | "
		   "--concurrency C]\n"
		   "                    [--seconds S] [--warmup W] "
		   "[--size BYTES]\n"
		   "                    [--procs P [--group-max M]] "
		   "[--pid PID ...]\n"
		   "       confab-bench --sync N [--url URL ...] [--user ID] "
		   "[--limit L]\n"
		   "                    [--size BYTES] [--pid PID ...]\n"
		   "       confab-bench --history N [--url URL ...] "
		   "[--concurrency C] [--limit L]\n"
		   "                    [--user ID] [--seed S]\n"
		   "       confab-bench --idle N [--url URL] [--seconds S]\n"
		   "       confab-bench --search N [--url URL ...] [--terms K] "
		   "[--concurrency C]\n"
		   "                    [--limit L] [--user ID | --users U] "
		   "[--seed S]\n");
}

static void record(struct bench *b, int ok, uint64_t lat_ns)
{
	uint32_t *p;

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
	if (b->n_lat == b->cap_lat) {
		b->cap_lat = b->cap_lat ? 2 * b->cap_lat : 65536;
		p = realloc(b->lat_us, b->cap_lat * sizeof *p);
		if (p == NULL) {
			fprintf(stderr, "confab-bench: out of memory\n");
			exit(1);
		}
		b->lat_us = p;
	}
	b->lat_us[b->n_lat++] = (uint32_t)(lat_ns / 1000);
}

static void conn_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct bench_conn *c = h->data;

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
	struct bench_conn *c = h->data;

	/* Reconnect later unless the run is over. */
	if (c->b->phase != PHASE_DONE)
		uv_timer_start(&c->retry, conn_retry_cb,
			       RECONNECT_MS, 0);
}

static void conn_fail(struct bench_conn *c, const char *why)
{
	struct bench *b = c->b;

	if (c->in_flight)
		record(b, 0, 0);
	else if (b->phase == PHASE_MEASURE)
		b->errors++;
	c->in_flight = 0;
	c->writing = 0;
	c->want_next = 0;
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
static long response_length(struct bench_conn *c, int *status)
{
	size_t body_off;

	return bench_http_response_length(c->in.data, c->in.len, status,
					  &body_off);
}

static void setup_answer(struct bench_conn *c, int status)
{
	struct bench *b = c->b;

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
	struct bench_conn *c = s->data;
	struct bench *b = c->b;
	long len;
	int status = 0;

	if (nread < 0) {
		conn_fail(c, uv_strerror((int)nread));
		return;
	}
	c->in.len += (size_t)nread;
	len = response_length(c, &status);
	if (len == 0)
		return;
	if (len < 0 || !c->in_flight) {
		conn_fail(c, "malformed response");
		return;
	}
	cf_buf_consume(&c->in, (size_t)len);
	c->in_flight = 0;
	if (b->phase == PHASE_SETUP)
		setup_answer(c, status);
	else
		record(b, status >= 200 && status < 300,
		       cf_mono_ns() - c->sent_ns);
	if (b->phase == PHASE_DONE)
		return;
	if (c->writing)
		c->want_next = 1;
	else
		conn_send_next(c);
}

static void conn_write_cb(uv_write_t *req, int status)
{
	struct bench_conn *c = req->data;

	c->writing = 0;
	if (status < 0) {
		if (status != UV_ECANCELED)
			conn_fail(c, uv_strerror(status));
		return;
	}
	if (c->want_next) {
		c->want_next = 0;
		conn_send_next(c);
	}
}

static void start_load(struct bench *b);

/* Build and write the next request of c (setup or load). */
static void conn_send_next(struct bench_conn *c)
{
	struct bench *b = c->b;
	char body_head[256];
	uv_buf_t buf;
	int rv, n;

	if (b->phase == PHASE_DONE || !c->open)
		return;
	if (b->phase == PHASE_SETUP && b->convs_made == b->n_convs) {
		start_load(b);
		return;
	}
	cf_buf_truncate(&c->out, 0);
	if (b->phase == PHASE_SETUP) {
		n = snprintf(body_head, sizeof body_head,
			     "{\"type\":\"group\",\"members\":[\"bench2\"],"
			     "\"title\":\"bench\",\"conversationId\":"
			     "\"bench-%s-%u\"}",
			     b->run_id, b->convs_made);
		rv = cf_buf_appendf(&c->out,
				    "POST /v1/conversations HTTP/1.1\r\n"
				    "Host: %s\r\nX-Confab-User: bench\r\n"
				    "Content-Type: application/json\r\n"
				    "Content-Length: %d\r\n\r\n%s",
				    b->hosts[c->url], n, body_head);
	} else {
		n = snprintf(body_head, sizeof body_head,
			     "{\"conversationId\":\"bench-%s-%lu\","
			     "\"clientMsgId\":\"b%s-%u-%lu\","
			     "\"msgType\":\"text\",\"content\":\"",
			     b->run_id,
			     (unsigned long)((c->n * b->conc + c->idx) %
					     b->n_convs),
			     b->run_id, c->idx, c->n);
		rv = cf_buf_appendf(&c->out,
				    "POST /v1/messages HTTP/1.1\r\n"
				    "Host: %s\r\nX-Confab-User: bench\r\n"
				    "Content-Type: application/json\r\n"
				    "Content-Length: %u\r\n\r\n%s%s\"}",
				    b->hosts[c->url], (unsigned)n + b->size + 2,
				    body_head, b->content);
	}
	if (rv != 0) {
		conn_fail(c, "out of memory");
		return;
	}
	c->n++;
	buf = uv_buf_init(c->out.data, (unsigned)c->out.len);
	c->wreq.data = c;
	rv = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1,
		      conn_write_cb);
	if (rv != 0) {
		conn_fail(c, uv_strerror(rv));
		return;
	}
	c->writing = 1;
	c->in_flight = 1;
	c->sent_ns = cf_mono_ns();
}

static void conn_connect_cb(uv_connect_t *req, int status)
{
	struct bench_conn *c = req->data;
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
	conn_send_next(c);
}

static void conn_start(struct bench_conn *c)
{
	struct bench *b = c->b;
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
			    (const struct sockaddr *)&b->addrs[c->url],
			    conn_connect_cb);
	if (rv != 0)
		conn_fail(c, uv_strerror(rv));
}

static void phase_timer_cb(uv_timer_t *t)
{
	struct bench *b = t->data;
	unsigned i;

	if (b->phase == PHASE_WARMUP) {
		b->phase = PHASE_MEASURE;
		b->measure_start_ns = cf_mono_ns();
		bench_cpu_begin(&b->cpu);
		uv_timer_start(t, phase_timer_cb, (uint64_t)b->seconds * 1000,
			       0);
		return;
	}
	b->measure_end_ns = cf_mono_ns();
	bench_cpu_end(&b->cpu);
	b->phase = PHASE_DONE;
	uv_timer_stop(&b->progress_timer);
	for (i = 0; i < b->conc; i++) {
		uv_timer_stop(&b->conns[i].retry);
		if (b->conns[i].open) {
			b->conns[i].open = 0;
			uv_close((uv_handle_t *)&b->conns[i].tcp, NULL);
		}
	}
}

static void start_load(struct bench *b)
{
	unsigned i;

	b->phase = b->warmup > 0 ? PHASE_WARMUP : PHASE_MEASURE;
	b->measure_start_ns = cf_mono_ns();
	if (b->phase == PHASE_MEASURE)
		bench_cpu_begin(&b->cpu);
	uv_timer_start(&b->phase_timer, phase_timer_cb,
		       (uint64_t)(b->warmup > 0 ? b->warmup : b->seconds) *
			       1000,
		       0);
	for (i = 0; i < b->conc; i++) {
		if (b->conns[i].open)
			conn_send_next(&b->conns[i]);
		else
			conn_start(&b->conns[i]);
	}
}

static int add_url(struct bench *b, const char *url)
{
	const char *p = url, *colon;
	char ip[64];
	size_t hl;
	int port;

	if (b->n_urls == MAX_URLS)
		return -1;
	if (strncmp(p, "http://", 7) == 0)
		p += 7;
	colon = strchr(p, ':');
	if (colon == NULL || (hl = (size_t)(colon - p)) >= sizeof ip)
		return -1;
	memcpy(ip, p, hl);
	ip[hl] = '\0';
	port = atoi(colon + 1);
	if (port <= 0 || port > 65535 ||
	    uv_ip4_addr(ip, port, &b->addrs[b->n_urls]) != 0)
		return -1;
	snprintf(b->hosts[b->n_urls], sizeof b->hosts[0], "%s:%d", ip, port);
	b->n_urls++;
	return 0;
}

static int parse_uint(const char *s, unsigned min, unsigned max,
		      unsigned *out)
{
	char *e;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &e, 10);
	if (*s == '\0' || *e != '\0' || errno != 0 || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_args(struct bench *b, int argc, char **argv)
{
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},
		{"concurrency", required_argument, NULL, 'c'},
		{"seconds", required_argument, NULL, 's'},
		{"warmup", required_argument, NULL, 'w'},
		{"size", required_argument, NULL, 'z'},
		{"conversations", required_argument, NULL, 'k'},
		{"fanout", required_argument, NULL, 'f'},
		{"rate", required_argument, NULL, 'r'},
		{"history", required_argument, NULL, 'H'},
		{"limit", required_argument, NULL, 'l'},
		{"user", required_argument, NULL, 'U'},
		{"seed", required_argument, NULL, 'S'},
		{"idle", required_argument, NULL, 'I'},
		{"search", required_argument, NULL, 'Q'},
		{"terms", required_argument, NULL, 'T'},
		{"users", required_argument, NULL, 'N'},
		{"ws", no_argument, NULL, 'W'},
		{"sockets", required_argument, NULL, 'K'},
		{"pid", required_argument, NULL, 'P'},
		{"sync", required_argument, NULL, 'Y'},
		{"procs", required_argument, NULL, 'p'},
		{"group-max", required_argument, NULL, 'G'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch, rv = 0;

	while (rv == 0 &&
	       (ch = getopt_long(argc, argv, "u:c:s:w:z:k:f:r:H:l:U:S:I:Q:T:N:WK:P:Y:p:G:h", opts,
				 NULL)) != -1) {
		switch (ch) {
		case 'u':
			rv = add_url(b, optarg);
			break;
		case 'c':
			rv = parse_uint(optarg, 1, 100000, &b->conc);
			b->conc_set = 1;
			break;
		case 's':
			rv = parse_uint(optarg, 1, 86400, &b->seconds);
			b->seconds_set = 1;
			break;
		case 'w':
			rv = parse_uint(optarg, 0, 3600, &b->warmup);
			break;
		case 'z':
			rv = parse_uint(optarg, 0, 100000, &b->size);
			break;
		case 'k':
			rv = parse_uint(optarg, 1, 100000, &b->n_convs);
			break;
		case 'f':
			rv = parse_uint(optarg, 2, 100000, &b->fanout);
			break;
		case 'r':
			rv = parse_uint(optarg, 1, 1000000, &b->rate);
			break;
		case 'H':
			rv = parse_uint(optarg, 1, 10000000, &b->history);
			break;
		case 'l':
			rv = parse_uint(optarg, 1, 200, &b->limit);
			b->limit_set = 1;
			break;
		case 'Q':
			rv = parse_uint(optarg, 1, 10000000, &b->search);
			break;
		case 'T':
			rv = parse_uint(optarg, 1, 4, &b->terms);
			break;
		case 'N':
			rv = parse_uint(optarg, 1, 10000000, &b->users);
			break;
		case 'U':
			rv = strlen(optarg) >= 1 && strlen(optarg) <= 128 &&
					     strspn(optarg,
						    "abcdefghijklmnopqrstuvwxyz"
						    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
						    "0123456789._:@-") ==
						     strlen(optarg)
				     ? 0
				     : -1;
			b->user = optarg;
			b->user_set = 1;
			break;
		case 'S':
			rv = parse_uint(optarg, 0, 0xffffffffu, &b->seed);
			break;
		case 'I':
			rv = parse_uint(optarg, 1, 1000000, &b->idle);
			break;
		case 'W':
			b->ws = 1;
			break;
		case 'K':
			rv = parse_uint(optarg, 1, 100000, &b->sockets);
			break;
		case 'P': {
			unsigned pid;

			rv = parse_uint(optarg, 1, 0x7fffffff, &pid);
			if (rv == 0)
				rv = bench_cpu_add_pid(&b->cpu, (long)pid);
			break;
		}
		case 'Y':
			rv = parse_uint(optarg, 1, 10000000, &b->sync);
			break;
		case 'p':
			rv = parse_uint(optarg, 1, 64, &b->procs);
			break;
		case 'G':
			rv = parse_uint(optarg, 2, 100000, &b->group_max);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			rv = -1;
		}
		if (rv != 0 && ch != '?')
			fprintf(stderr, "confab-bench: bad value for -%c: %s\n",
				ch, optarg);
	}
	if (rv == 0 && optind != argc)
		rv = -1;
	if (rv == 0 && b->n_urls == 0)
		rv = add_url(b, "http://127.0.0.1:8001");
	return rv;
}

static void report(struct bench *b)
{
	double secs = (double)(b->measure_end_ns - b->measure_start_ns) / 1e9;
	double ops = secs > 0 ? (double)b->ok / secs : 0;
	double p50 = 0, p99 = 0;
	size_t i99;

	if (b->n_lat > 0) {
		bench_lat_sort(b->lat_us, b->n_lat);
		p50 = b->lat_us[b->n_lat / 2] / 1000.0;
		i99 = (b->n_lat * 99 + 99) / 100;
		p99 = b->lat_us[(i99 > 0 ? i99 : 1) - 1] / 1000.0;
	}
	printf("{\"mode\":\"send\",\"transport\":\"http\",\"conc\":%u,"
	       "\"sockets\":%u,\"nodes\":%u,\"seconds\":%.3f,"
	       "\"ops_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
	       "\"errors\":%llu,\"total\":%llu,",
	       b->conc, b->conc, b->n_urls, secs, ops, p50, p99,
	       (unsigned long long)b->errors, (unsigned long long)b->total);
	bench_cpu_json(&b->cpu, stdout, b->ok, 0);
	printf("}\n");
	fflush(stdout);
	fprintf(stderr,
		"confab-bench: c=%u over %u node(s): %.0f msg/s, p50 %.2f ms, "
		"p99 %.2f ms, %llu errors, %llu answered in %.1f s\n",
		b->conc, b->n_urls, ops, p50, p99,
		(unsigned long long)b->errors, (unsigned long long)b->total,
		secs);
}

/* The --url nodes as the other modes take them (t: MAX_URLS). */
static void targets_of(const struct bench *b, struct bh_target *t)
{
	for (unsigned i = 0; i < b->n_urls; i++) {
		t[i].addr = b->addrs[i];
		snprintf(t[i].host, sizeof t[i].host, "%s", b->hosts[i]);
	}
}

/* --fanout --procs: hand the parsed options to bench_fanmp.c. */
static int run_fanmp(struct bench *b)
{
	struct bh_target t[MAX_URLS];
	struct bfmp_opts o;

	targets_of(b, t);
	memset(&o, 0, sizeof o);
	o.targets = t;
	o.n_targets = b->n_urls;
	o.sockets = b->fanout;
	o.procs = b->procs;
	o.group_max = b->group_max > 0 ? b->group_max : 500;
	o.seconds = b->seconds;
	o.warmup = b->warmup;
	o.size = b->size;
	o.rate = b->rate > 0 ? b->rate : 10;
	o.run_id = b->run_id;
	o.cpu = &b->cpu;
	return bench_fanmp_run(&o);
}

/* --fanout: hand the parsed options to bench_fanout.c. */
static int run_fanout(struct bench *b)
{
	struct bh_target t[MAX_URLS];
	struct bf_opts o;

	_Static_assert(MAX_URLS <= BH_MAX_TARGETS, "bench_fanout's node cap");
	if (b->fanout == 0) {
		fprintf(stderr, "confab-bench: --rate needs --fanout\n");
		return 2;
	}
	if (b->procs > 0)
		return run_fanmp(b);
	targets_of(b, t);
	memset(&o, 0, sizeof o);
	o.targets = t;
	o.n_targets = b->n_urls;
	o.members = b->fanout;
	o.seconds = b->seconds;
	o.warmup = b->warmup;
	o.size = b->size;
	o.rate = b->rate;
	o.conc = b->conc;
	o.run_id = b->run_id;
	return bench_fanout_run(&o);
}

/* --history: hand the parsed options to bench_history.c. */
static int run_history(const struct bench *b)
{
	struct bh_target t[MAX_URLS];
	struct bhist_opts o;

	targets_of(b, t);
	memset(&o, 0, sizeof o);
	o.targets = t;
	o.n_targets = b->n_urls;
	o.requests = b->history;
	o.warmup = b->history < 200 ? b->history : 200;
	o.conc = b->conc_set ? b->conc : 1;
	o.limit = b->limit;
	o.seed = b->seed;
	o.user = b->user;
	return bench_history_run(&o);
}

/* --ws: hand the parsed options to bench_sendws.c. */
static int run_ws(struct bench *b)
{
	struct bh_target t[MAX_URLS];
	struct bsendws_opts o;

	targets_of(b, t);
	memset(&o, 0, sizeof o);
	o.targets = t;
	o.n_targets = b->n_urls;
	o.conc = b->conc;
	o.sockets = b->sockets > 0 ? b->sockets : b->conc;
	o.seconds = b->seconds;
	o.warmup = b->warmup;
	o.size = b->size;
	o.run_id = b->run_id;
	o.cpu = &b->cpu;
	return bench_sendws_run(&o);
}

/* --sync: hand the parsed options to bench_sync.c. */
static int run_sync(struct bench *b)
{
	struct bh_target t[MAX_URLS];
	struct bsync_opts o;

	targets_of(b, t);
	memset(&o, 0, sizeof o);
	o.targets = t;
	o.n_targets = b->n_urls;
	o.messages = b->sync;
	o.limit = b->limit_set ? b->limit : 500;
	o.size = b->size;
	o.conc = b->conc_set ? b->conc : 16;
	o.convs = b->n_convs;
	o.user = b->user_set ? b->user : NULL;
	o.run_id = b->run_id;
	o.cpu = &b->cpu;
	return bench_sync_run(&o);
}

static void progress_cb(uv_timer_t *t)
{
	struct bench *b = t->data;

	bench_progress_tick(&b->prog, cf_mono_ns(), "acks", b->acks_all);
}

/* --search: hand the parsed options to bench_search.c. */
static int run_search(const struct bench *b)
{
	struct bh_target t[MAX_URLS];
	struct bsearch_opts o;

	targets_of(b, t);
	memset(&o, 0, sizeof o);
	o.targets = t;
	o.n_targets = b->n_urls;
	o.requests = b->search;
	o.warmup = b->search < 100 ? b->search : 100;
	o.conc = b->conc_set ? b->conc : 1;
	o.limit = b->limit_set ? b->limit : 20;
	o.terms = b->terms > 0 ? b->terms : 1;
	o.rank_lo = 20;	  /* past the commonest words, */
	o.rank_hi = 2000; /* among those that many texts hold */
	o.seed = b->seed;
	o.user = b->user;
	o.users = b->users;
	return bench_search_run(&o);
}

/* --idle: hand the parsed options to bench_idle.c (the first --url). */
static int run_idle(const struct bench *b)
{
	struct bh_target t[MAX_URLS];
	struct bidle_opts o;

	targets_of(b, t);
	memset(&o, 0, sizeof o);
	o.target = &t[0];
	o.sockets = b->idle;
	o.settle = b->seconds_set ? b->seconds : 3;
	return bench_idle_run(&o);
}

int main(int argc, char **argv)
{
	struct bench b;
	uv_loop_t loop;
	unsigned i;
	int rv;

	memset(&b, 0, sizeof b);
	b.conc = 16;
	b.seconds = 8;
	b.warmup = 1;
	b.size = 200;
	b.n_convs = 16;
	b.limit = 50;
	b.user = "bench";
	if (parse_args(&b, argc, argv) != 0) {
		usage(stderr);
		return 2;
	}
	snprintf(b.run_id, sizeof b.run_id, "%llx%x",
		 (unsigned long long)(cf_wall_ms() % 0xffffffffu),
		 (unsigned)getpid());
	if ((b.history > 0) + (b.fanout > 0 || b.rate > 0) + (b.idle > 0) +
		    (b.search > 0) + (b.ws > 0) + (b.sync > 0) >
	    1) {
		fprintf(stderr, "confab-bench: --history, --fanout, --idle, "
				"--search, --ws and --sync are separate modes\n");
		return 2;
	}
	if ((b.sockets > 0 && !b.ws) || (b.procs > 0 && b.fanout == 0) ||
	    (b.group_max > 0 && b.procs == 0)) {
		fprintf(stderr, "confab-bench: --sockets goes with --ws, --procs "
				"with --fanout, --group-max with --procs\n");
		return 2;
	}
	if (b.ws)
		return run_ws(&b);
	if (b.sync > 0)
		return run_sync(&b);
	if (b.search > 0)
		return run_search(&b);
	if (b.idle > 0)
		return run_idle(&b);
	if (b.history > 0)
		return run_history(&b);
	if (b.fanout > 0 || b.rate > 0)
		return run_fanout(&b);
	b.content = malloc(b.size + 1);
	b.conns = calloc(b.conc, sizeof *b.conns);
	if (b.content == NULL || b.conns == NULL) {
		fprintf(stderr, "confab-bench: out of memory\n");
		return 1;
	}
	for (i = 0; i < b.size; i++)
		b.content[i] = (char)('a' + i % 26);
	b.content[b.size] = '\0';
	rv = uv_loop_init(&loop);
	assert(rv == 0);
	b.loop = &loop;
	uv_timer_init(&loop, &b.phase_timer);
	b.phase_timer.data = &b;
	uv_timer_init(&loop, &b.progress_timer);
	b.progress_timer.data = &b;
	bench_progress_init(&b.prog, cf_mono_ns(),
			    (double)b.warmup + b.seconds);
	uv_timer_start(&b.progress_timer, progress_cb, 1000, 1000);
	for (i = 0; i < b.conc; i++) {
		b.conns[i].b = &b;
		b.conns[i].idx = i;
		b.conns[i].url = i % b.n_urls;
		cf_buf_init(&b.conns[i].out);
		cf_buf_init(&b.conns[i].in);
		uv_timer_init(&loop, &b.conns[i].retry);
		b.conns[i].retry.data = &b.conns[i];
	}
	b.phase = PHASE_SETUP;
	conn_start(&b.conns[0]);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (b.failed) {
		fprintf(stderr, "confab-bench: could not set up the run\n");
		return 1;
	}
	report(&b);
	/* Close what is left and let the loop finish its close callbacks. */
	for (i = 0; i < b.conc; i++) {
		if (b.conns[i].open) {
			b.conns[i].open = 0;
			uv_close((uv_handle_t *)&b.conns[i].tcp, NULL);
		}
		uv_close((uv_handle_t *)&b.conns[i].retry, NULL);
	}
	uv_close((uv_handle_t *)&b.phase_timer, NULL);
	uv_close((uv_handle_t *)&b.progress_timer, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	rv = uv_loop_close(&loop);
	for (i = 0; i < b.conc; i++) {
		cf_buf_release(&b.conns[i].out);
		cf_buf_release(&b.conns[i].in);
	}
	free(b.conns);
	free(b.content);
	free(b.lat_us);
	return rv == 0 ? 0 : 1;
}
