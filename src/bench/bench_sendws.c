#include "config.h"

/*
 * bench_sendws: see bench_sendws.h.
 *
 * Run:
 *  1. Set-up over HTTP on the first node, one request after another: socket
 *     i's user "w<run>.<i>" (dev auth) creates the group "bench-<run>-w<i>"
 *     with member "bench2" (who holds no socket). Each socket sends to its
 *     own conversation, so every message is delivered once, as a `message`
 *     event back to the socket that sent it (the sender's own devices see
 *     what it sent, API.md "sync"): the delivery work a chat client's send
 *     costs the server, and no more. --conversations does not apply.
 *  2. One WebSocket per socket, GET /v1/ws?user=w<run>.<i>&deviceId=bench,
 *     on node i mod n; all must open.
 *  3. Socket i keeps depth_i = conc / sockets sends in flight (the first
 *     conc mod sockets sockets one more): slot j of socket i sends
 *     {"type":"send","id":"j","conversationId":...,"clientMsgId":
 *     "w<run>-<i>-<n>","msgType":"text","content":...} and sends the next
 *     as soon as the `ack` or `error` with "id":"j" comes back.
 *  4. Answers that come during the first --warmup seconds are not counted;
 *     the next --seconds are (the CPU of --pid and of the bench is read at
 *     the window's two ends). A socket the server closes is not reopened:
 *     its sends in flight count as errors, and it in "sockets_lost".
 *
 * Output (one JSON line):
 *   {"mode":"send","transport":"ws","conc":C,"sockets":S,"nodes":n,
 *    "seconds":X,"ops_s":X,"p50_ms":X,"p99_ms":X,"errors":N,"total":N,
 *    "deliveries":N,"sockets_lost":N,"client_cpu_s":X
 *    [,"server_cpu_s":X,"server_cpu_us_per_ack":X]}
 * total: answers in the window (ack or error) plus the sends lost with a
 * socket; errors: the `error` answers and those lost sends; ops_s and the
 * latencies: acks only, from the frame handed to the socket to its ack
 * read; deliveries: `message` events read in the window.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_lat.h"
#include "bench/bench_sendws.h"
#include "bench/bench_ws.h"
#include "common/cf_buf.h"
#include "common/cf_time.h"

enum sphase { S_CREATE, S_CONNECT, S_WARMUP, S_MEASURE, S_DONE };

struct sw;

struct wsock {
	struct bw_sock ws; /* first: container of the callback's socket */
	struct sw *b;
	unsigned idx, depth, busy;
	uint64_t *slot_ns; /* depth entries: when slot j's send was written */
	unsigned long n;   /* sends written */
	int opened;
};

struct sw {
	const struct bsendws_opts *o;
	uv_loop_t loop;
	enum sphase phase;
	int failed;
	struct wsock *socks;
	unsigned n_created, n_open, lost;
	struct bh_conn ctl;
	struct cf_buf body;
	char *content;
	uint64_t start_ns, end_ns;
	uint64_t ok, errors, total, deliveries, acks_all;
	struct bench_lat lat;
	uv_timer_t phase_timer, progress_timer;
	struct bench_progress prog;
};

static void oom(void)
{
	fprintf(stderr, "confab-bench: out of memory\n");
	exit(1);
}

static void fail_setup(struct sw *b, const char *what, int code)
{
	fprintf(stderr, "confab-bench: --ws set-up: %s (%d)\n", what, code);
	b->failed = 1;
	b->phase = S_DONE;
	uv_stop(&b->loop);
}

static void record(struct sw *b, int ok, uint64_t ns)
{
	if (b->phase != S_MEASURE)
		return;
	b->total++;
	if (!ok) {
		b->errors++;
		return;
	}
	b->ok++;
	if (bench_lat_push(&b->lat, ns / 1000) != 0)
		oom();
}

static void send_slot(struct wsock *s, unsigned j)
{
	struct sw *b = s->b;
	int rv;

	cf_buf_truncate(&b->body, 0);
	if (cf_buf_appendf(&b->body,
			   "{\"type\":\"send\",\"id\":\"%u\",\"conversationId\":"
			   "\"bench-%s-w%u\",\"clientMsgId\":\"w%s-%u-%lu\","
			   "\"msgType\":\"text\",\"content\":\"%s\"}",
			   j, b->o->run_id, s->idx, b->o->run_id, s->idx, s->n,
			   b->content) != 0)
		oom();
	s->n++;
	s->slot_ns[j] = cf_mono_ns();
	rv = bw_send_text(&s->ws, b->body.data, b->body.len);
	if (rv != 0) {
		/* the socket closes: ws_close counts what was in flight */
		fprintf(stderr, "confab-bench: ws send: %s\n",
			rv == -ENOMEM ? "out of memory" : uv_strerror(rv));
		return;
	}
	s->busy++;
}

static void ws_text(struct bw_sock *ws, const char *p, size_t n)
{
	struct wsock *s = (struct wsock *)ws;
	struct sw *b = s->b;
	const char *id;
	char *e;
	unsigned long j;
	int ok;

	if (memmem(p, n, "\"type\":\"message\"", 16) != NULL) {
		if (b->phase == S_MEASURE)
			b->deliveries++;
		return;
	}
	ok = memmem(p, n, "\"type\":\"ack\"", 12) != NULL;
	if (!ok && memmem(p, n, "\"type\":\"error\"", 14) == NULL)
		return; /* presence, receipts: not ours */
	id = memmem(p, n, "\"id\":\"", 6);
	if (id == NULL || (size_t)(id + 6 - p) >= n)
		return;
	j = strtoul(id + 6, &e, 10);
	if (*e != '"' || j >= s->depth || s->busy == 0)
		return;
	if (!ok && b->errors < 5)
		fprintf(stderr, "confab-bench: ws send: %.*s\n",
			(int)(n > 300 ? 300 : n), p);
	s->busy--;
	if (ok)
		b->acks_all++;
	record(b, ok, cf_mono_ns() - s->slot_ns[j]);
	if (b->phase == S_WARMUP || b->phase == S_MEASURE)
		send_slot(s, (unsigned)j);
}

static void phase_timer_cb(uv_timer_t *t);

static void start_load(struct sw *b)
{
	unsigned i, j;

	b->phase = b->o->warmup > 0 ? S_WARMUP : S_MEASURE;
	b->start_ns = cf_mono_ns();
	if (b->phase == S_MEASURE)
		bench_cpu_begin(b->o->cpu);
	uv_timer_start(&b->phase_timer, phase_timer_cb,
		       (uint64_t)(b->o->warmup > 0 ? b->o->warmup
						   : b->o->seconds) *
			       1000,
		       0);
	for (i = 0; i < b->o->sockets; i++)
		for (j = 0; j < b->socks[i].depth; j++)
			send_slot(&b->socks[i], j);
}

static void phase_timer_cb(uv_timer_t *t)
{
	struct sw *b = t->data;

	if (b->phase == S_WARMUP) {
		b->phase = S_MEASURE;
		b->start_ns = cf_mono_ns();
		bench_cpu_begin(b->o->cpu);
		uv_timer_start(t, phase_timer_cb,
			       (uint64_t)b->o->seconds * 1000, 0);
		return;
	}
	b->end_ns = cf_mono_ns();
	bench_cpu_end(b->o->cpu);
	b->phase = S_DONE;
	uv_stop(&b->loop);
}

static void progress_cb(uv_timer_t *t)
{
	struct sw *b = t->data;

	bench_progress_tick(&b->prog, cf_mono_ns(), "acks", b->acks_all);
}

static void ws_open(struct bw_sock *ws)
{
	struct wsock *s = (struct wsock *)ws;
	struct sw *b = s->b;

	s->opened = 1;
	if (++b->n_open == b->o->sockets && b->phase == S_CONNECT)
		start_load(b);
}

static void ws_close(struct bw_sock *ws, int code)
{
	struct wsock *s = (struct wsock *)ws;
	struct sw *b = s->b;

	if (b->phase == S_DONE)
		return;
	if (!s->opened) {
		fail_setup(b, "a WebSocket failed to open", code);
		return;
	}
	fprintf(stderr, "confab-bench: socket %u closed by the server (%d)\n",
		s->idx, code);
	b->lost++;
	while (s->busy > 0) {
		s->busy--;
		record(b, 0, 0);
	}
}

static const struct bw_ops ws_ops = {ws_open, ws_text, ws_close};

static void connect_all(struct sw *b)
{
	const struct bh_target *t;
	char path[128];
	unsigned i;
	int rv;

	b->phase = S_CONNECT;
	for (i = 0; i < b->o->sockets; i++) {
		t = &b->o->targets[i % b->o->n_targets];
		snprintf(path, sizeof path,
			 "/v1/ws?user=w%s.%u&deviceId=bench", b->o->run_id, i);
		rv = bw_connect(&b->socks[i].ws, &b->loop, &t->addr, t->host,
				path, &ws_ops);
		if (rv != 0) {
			fail_setup(b, "connecting a WebSocket", rv);
			return;
		}
	}
}

static void create_next(struct sw *b);

static void create_done(struct bh_conn *c, int status, const char *body,
			size_t len)
{
	struct sw *b = c->data;

	if (status != 200 && status != 201) {
		if (len > 0)
			fprintf(stderr, "confab-bench: %.*s\n",
				(int)(len > 300 ? 300 : len), body);
		fail_setup(b, "creating a conversation: status", status);
		return;
	}
	if (++b->n_created == b->o->sockets) {
		bh_conn_close(c);
		connect_all(b);
		return;
	}
	create_next(b);
}

static void create_next(struct sw *b)
{
	char user[64];
	unsigned i = b->n_created;

	cf_buf_truncate(&b->body, 0);
	if (cf_buf_appendf(&b->body,
			   "{\"type\":\"group\",\"members\":[\"bench2\"],"
			   "\"title\":\"bench\",\"conversationId\":"
			   "\"bench-%s-w%u\"}",
			   b->o->run_id, i) != 0)
		oom();
	snprintf(user, sizeof user, "w%s.%u", b->o->run_id, i);
	b->ctl.data = b;
	if (bh_conn_request(&b->ctl, "POST", "/v1/conversations", user,
			    b->body.data, b->body.len, create_done) != 0)
		oom();
}

static void report(struct sw *b)
{
	double secs = (double)(b->end_ns - b->start_ns) / 1e9;
	double ops = secs > 0 ? (double)b->ok / secs : 0;
	double p50, p99;

	bench_lat_sort(b->lat.v, b->lat.n);
	p50 = bench_lat_pct(b->lat.v, b->lat.n, 50);
	p99 = bench_lat_pct(b->lat.v, b->lat.n, 99);
	printf("{\"mode\":\"send\",\"transport\":\"ws\",\"conc\":%u,"
	       "\"sockets\":%u,\"nodes\":%u,\"seconds\":%.3f,\"ops_s\":%.1f,"
	       "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"errors\":%llu,"
	       "\"total\":%llu,\"deliveries\":%llu,\"sockets_lost\":%u,",
	       b->o->conc, b->o->sockets, b->o->n_targets, secs, ops, p50, p99,
	       (unsigned long long)b->errors, (unsigned long long)b->total,
	       (unsigned long long)b->deliveries, b->lost);
	bench_cpu_json(b->o->cpu, stdout, b->ok, 0);
	printf("}\n");
	fflush(stdout);
	fprintf(stderr,
		"confab-bench: ws c=%u over %u socket(s) on %u node(s): %.0f "
		"msg/s, p50 %.2f ms, p99 %.2f ms, %llu errors, %llu answered "
		"in %.1f s\n",
		b->o->conc, b->o->sockets, b->o->n_targets, ops, p50, p99,
		(unsigned long long)b->errors, (unsigned long long)b->total,
		secs);
}

int bench_sendws_run(const struct bsendws_opts *o)
{
	struct sw *b;
	unsigned i;
	int rv;

	if (o->sockets == 0 || o->conc < o->sockets) {
		fprintf(stderr, "confab-bench: --ws needs --sockets between 1 "
				"and --concurrency\n");
		return 2;
	}
	b = calloc(1, sizeof *b);
	if (b == NULL)
		oom();
	b->o = o;
	b->socks = calloc(o->sockets, sizeof *b->socks);
	b->content = malloc(o->size + 1);
	if (b->socks == NULL || b->content == NULL)
		oom();
	for (i = 0; i < o->size; i++)
		b->content[i] = (char)('a' + i % 26);
	b->content[o->size] = '\0';
	for (i = 0; i < o->sockets; i++) {
		b->socks[i].b = b;
		b->socks[i].idx = i;
		b->socks[i].depth =
			o->conc / o->sockets + (i < o->conc % o->sockets);
		b->socks[i].slot_ns =
			calloc(b->socks[i].depth, sizeof(uint64_t));
		if (b->socks[i].slot_ns == NULL)
			oom();
	}
	cf_buf_init(&b->body);
	rv = uv_loop_init(&b->loop);
	if (rv != 0) {
		fprintf(stderr, "confab-bench: %s\n", uv_strerror(rv));
		return 1;
	}
	uv_timer_init(&b->loop, &b->phase_timer);
	uv_timer_init(&b->loop, &b->progress_timer);
	b->phase_timer.data = b;
	b->progress_timer.data = b;
	bench_progress_init(&b->prog, cf_mono_ns(),
			    (double)o->warmup + o->seconds);
	uv_timer_start(&b->progress_timer, progress_cb, 1000, 1000);
	bh_conn_init(&b->ctl, &b->loop, &o->targets[0]);
	b->phase = S_CREATE;
	create_next(b);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	if (!b->failed)
		report(b);
	b->phase = S_DONE;
	for (i = 0; i < o->sockets; i++)
		bw_close(&b->socks[i].ws);
	bh_conn_close(&b->ctl);
	uv_close((uv_handle_t *)&b->phase_timer, NULL);
	uv_close((uv_handle_t *)&b->progress_timer, NULL);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	rv = uv_loop_close(&b->loop);
	if (rv != 0)
		fprintf(stderr, "confab-bench: loop close: %s\n",
			uv_strerror(rv));
	rv = b->failed ? 1 : 0;
	for (i = 0; i < o->sockets; i++) {
		bw_release(&b->socks[i].ws);
		free(b->socks[i].slot_ns);
	}
	bh_conn_release(&b->ctl);
	cf_buf_release(&b->body);
	free(b->lat.v);
	free(b->socks);
	free(b->content);
	free(b);
	return rv;
}
