#include "config.h"

/*
 * bench_idle: see bench_idle.h.
 *
 * Run:
 *  1. Raise the soft RLIMIT_NOFILE to the hard limit; N sockets need N plus
 *     FD_RESERVE descriptors, else the run stops before connecting.
 *  2. GET /metrics on the node (before): process_resident_memory_bytes,
 *     confab_connections, confab_connection_buffer_bytes. The /metrics
 *     connection is kept alive, so it counts in both readings.
 *  3. Open N WebSockets, GET /v1/ws?user=idle<i>&deviceId=d1 (dev auth, as
 *     the fan-out mode does), at most OPEN_WINDOW handshakes in flight at
 *     once so that the node's accept queue never overflows. A socket that
 *     fails (connect error, an answer other than 101, such as the 503 past
 *     --max-connections) is counted and reported; the next one starts. All
 *     must be open within OPEN_MS_BASE + OPEN_MS_PER socket; the rest are
 *     then counted as failed.
 *  4. Wait --seconds (settle) with every socket silent. A socket the node
 *     closes meanwhile is counted in "closed".
 *  5. GET /metrics again (after), print, close every socket.
 *
 * Output (one JSON line on stdout):
 *   {"mode":"idle","sockets":N,"open":K,"failed":F,"closed":C,
 *    "open_s":X,"settle_s":S,"rss_before":B,"rss_after":A,
 *    "rss_per_socket":X,"connections_before":N,"connections_after":N,
 *    "buffer_bytes_before":B,"buffer_bytes_after":A,
 *    "buffer_per_socket":X}
 *   open       sockets open at the second reading
 *   open_s     seconds from the first connect to the last socket open
 *   rss_*      the node's process_resident_memory_bytes (bytes)
 *   rss_per_socket     (rss_after - rss_before) / open
 *   buffer_*   the node's confab_connection_buffer_bytes
 *   buffer_per_socket  (buffer_bytes_after - buffer_bytes_before) / open
 * The per-socket figures include whatever else the node allocated in the
 * meantime; run it against a node with no other traffic.
 *
 * With --procs P, step 3 is done by P forked children (bench_fanmp_child.c,
 * as for --fanout --procs): child i opens sockets [i N / P, (i+1) N / P),
 * user g<run>.<s> and deviceId d0, and reports how many opened; the parent
 * waits for all, settles, reads /metrics, then stops the children and
 * learns from them how many sockets the node closed meanwhile. "procs":P
 * is added to the line.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <sys/mman.h>
#include <unistd.h>

#include "bench/bench_fanmp_int.h"
#include "bench/bench_idle.h"
#include "bench/bench_ws.h"
#include "common/cf_time.h"

#define FD_RESERVE 64	  /* stdio, the loop, /metrics, slack */
#define OPEN_WINDOW 256	  /* handshakes in flight at once */
#define OPEN_MS_BASE 30000
#define OPEN_MS_PER 5	  /* ms per socket on top of the base */
#define FAIL_REPORT_MAX 5 /* failures described on stderr */
#define SNAP_MS 30000	  /* bound of one GET /metrics */

enum iphase { I_SNAP0, I_OPEN, I_SETTLE, I_SNAP1, I_DONE };

struct isnap {
	double rss, conns, buf;
};

struct idle;

struct isock {
	struct bw_sock ws; /* first: container of the callback's socket */
	struct idle *b;
	unsigned idx;
	int started, opened;
};

struct idle {
	const struct bidle_opts *o;
	uv_loop_t loop;
	enum iphase phase;
	int failed; /* a reading failed: no figures */
	struct isock *socks;
	unsigned n_started, n_pending, n_open, n_failed, n_closed;
	uint64_t open_start_ns, open_end_ns;
	struct bh_conn metrics;
	struct isnap snap[2];
	uv_timer_t timer;
	struct fmp_kid *kids; /* with procs */
	struct fmp_shared *sh;
};

static void start_more(struct idle *b);
static void open_in_children(struct idle *b);
static void settle(struct idle *b);
static void timer_cb(uv_timer_t *t);

/* ---- /metrics ---- */

/*
 * The value of the sample `name` (a line that starts with it and a space)
 * in the text body; -1 when absent.
 */
static double gauge(const char *body, size_t len, const char *name)
{
	const char *p = body, *end = body + len, *nl;
	size_t n = strlen(name);

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if ((size_t)(nl - p) > n + 1 && memcmp(p, name, n) == 0 &&
		    p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = nl + 1;
	}
	return -1;
}

static void finish(struct idle *b)
{
	b->phase = I_DONE;
	uv_timer_stop(&b->timer);
	uv_stop(&b->loop);
}

static void metrics_done(struct bh_conn *c, int status, const char *body,
			 size_t len)
{
	struct idle *b = c->data;
	struct isnap *s = &b->snap[b->phase == I_SNAP0 ? 0 : 1];

	if (status == 200) {
		s->rss = gauge(body, len, "process_resident_memory_bytes");
		s->conns = gauge(body, len, "confab_connections");
		s->buf = gauge(body, len, "confab_connection_buffer_bytes");
	}
	if (status != 200 || s->rss <= 0 || s->conns < 0 || s->buf < 0) {
		fprintf(stderr,
			"confab-bench: GET /metrics on %s: status %d, without "
			"process_resident_memory_bytes, confab_connections or "
			"confab_connection_buffer_bytes\n",
			c->t->host, status);
		b->failed = 1;
		finish(b);
		return;
	}
	if (b->phase == I_SNAP1) {
		finish(b);
		return;
	}
	b->phase = I_OPEN;
	b->open_start_ns = cf_mono_ns();
	if (b->o->procs > 0) {
		open_in_children(b);
		return;
	}
	uv_timer_start(&b->timer, timer_cb,
		       OPEN_MS_BASE + (uint64_t)OPEN_MS_PER * b->o->sockets, 0);
	start_more(b);
}

static void snapshot(struct idle *b, enum iphase which)
{
	b->phase = which;
	b->metrics.data = b;
	uv_timer_start(&b->timer, timer_cb, SNAP_MS, 0);
	if (bh_conn_request(&b->metrics, "GET", "/metrics", NULL, NULL, 0,
			    metrics_done) != 0) {
		fprintf(stderr, "confab-bench: out of memory\n");
		b->failed = 1;
		finish(b);
	}
}

/* ---- sockets ---- */

static void describe_failure(struct idle *b, unsigned idx, int code)
{
	if (b->n_failed > FAIL_REPORT_MAX)
		return;
	if (code < 0)
		fprintf(stderr,
			"confab-bench: idle socket %u did not open: %s%s\n",
			idx, uv_strerror(code),
			code == -EPROTO ? " (the answer was not 101: past "
					  "the node's --max-connections?)"
					: "");
	else
		fprintf(stderr,
			"confab-bench: idle socket %u did not open: closed "
			"with code %d\n",
			idx, code);
	if (b->n_failed == FAIL_REPORT_MAX)
		fprintf(stderr, "confab-bench: (further failures counted, "
				"not described)\n");
}

static void opened_or_failed(struct idle *b)
{
	b->n_pending--;
	if (b->n_started < b->o->sockets) {
		start_more(b);
		return;
	}
	if (b->n_pending == 0)
		settle(b);
}

static void ws_open(struct bw_sock *ws)
{
	struct isock *s = (struct isock *)ws;
	struct idle *b = s->b;

	s->opened = 1;
	b->n_open++;
	if (b->phase == I_OPEN)
		opened_or_failed(b);
}

static void ws_text(struct bw_sock *ws, const char *p, size_t n)
{
	/* An idle socket may be sent a ping (answered by bench_ws) or a
	 * presence frame; nothing here needs them. */
	(void)ws;
	(void)p;
	(void)n;
}

static void ws_close(struct bw_sock *ws, int code)
{
	struct isock *s = (struct isock *)ws;
	struct idle *b = s->b;

	if (!s->opened) {
		b->n_failed++;
		describe_failure(b, s->idx, code);
		if (b->phase == I_OPEN)
			opened_or_failed(b);
		return;
	}
	b->n_open--;
	b->n_closed++;
	if (b->n_closed <= FAIL_REPORT_MAX)
		fprintf(stderr,
			"confab-bench: idle socket %u closed by the node "
			"(%d)\n",
			s->idx, code);
}

static const struct bw_ops ws_ops = {ws_open, ws_text, ws_close};

static void start_more(struct idle *b)
{
	const struct bh_target *t = b->o->target;
	struct isock *s;
	char path[96];
	int rv;

	while (b->phase == I_OPEN && b->n_pending < OPEN_WINDOW &&
	       b->n_started < b->o->sockets) {
		s = &b->socks[b->n_started++];
		s->b = b;
		s->idx = (unsigned)(s - b->socks);
		s->started = 1;
		snprintf(path, sizeof path, "/v1/ws?user=idle%u&deviceId=d1",
			 s->idx);
		rv = bw_connect(&s->ws, &b->loop, &t->addr, t->host, path,
				&ws_ops);
		if (rv != 0) {
			s->ws.state = BW_CLOSED;
			b->n_failed++;
			describe_failure(b, s->idx, rv);
			continue;
		}
		b->n_pending++;
	}
	if (b->phase == I_OPEN && b->n_pending == 0 &&
	    b->n_started == b->o->sockets)
		settle(b);
}

static void timer_cb(uv_timer_t *t)
{
	struct idle *b = t->data;
	unsigned i, late = 0;

	if (b->phase == I_SETTLE) {
		snapshot(b, I_SNAP1);
		return;
	}
	if (b->phase == I_SNAP0 || b->phase == I_SNAP1) {
		fprintf(stderr,
			"confab-bench: GET /metrics on %s: no answer in %d ms\n",
			b->o->target->host, SNAP_MS);
		b->failed = 1;
		finish(b);
		return;
	}
	if (b->phase != I_OPEN)
		return;
	/* The open bound passed: what has not opened has failed. */
	for (i = 0; i < b->o->sockets; i++) {
		if (b->socks[i].opened)
			continue;
		if (!b->socks[i].started || b->socks[i].ws.state != BW_CLOSED)
			late++;
		if (b->socks[i].started)
			bw_close(&b->socks[i].ws);
	}
	b->n_failed += late;
	b->n_pending = 0;
	fprintf(stderr,
		"confab-bench: %u idle sockets not open after %u ms: counted "
		"as failed\n",
		late, OPEN_MS_BASE + OPEN_MS_PER * b->o->sockets);
	settle(b);
}

static void settle(struct idle *b)
{
	b->open_end_ns = cf_mono_ns();
	b->phase = I_SETTLE;
	uv_timer_start(&b->timer, timer_cb, (uint64_t)b->o->settle * 1000, 0);
}

/* ---- --procs: the sockets in children ---- */

/* Fork the children and wait (blocking) until each has its sockets open. */
static void open_in_children(struct idle *b)
{
	struct bfmp_opts fo;
	unsigned i;

	memset(&fo, 0, sizeof fo);
	fo.targets = b->o->target;
	fo.n_targets = 1;
	fo.sockets = b->o->sockets;
	fo.procs = b->o->procs;
	fo.run_id = b->o->run_id;
	b->kids = calloc(b->o->procs, sizeof *b->kids);
	b->sh = mmap(NULL, sizeof *b->sh + sizeof(uint64_t),
		     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b->kids == NULL || b->sh == MAP_FAILED) {
		fprintf(stderr, "confab-bench: out of memory\n");
		exit(1);
	}
	b->sh->cap = 1;
	b->sh->first_measured = UINT64_MAX;
	if (bench_fanmp_fork(&fo, b->o->sockets, -1, b->sh, b->kids) != 0)
		goto fail;
	for (i = 0; i < b->o->procs; i++) {
		if (bench_fanmp_read(b->kids[i].res_fd, &b->kids[i].rd,
				     sizeof b->kids[i].rd) != 0) {
			fprintf(stderr, "confab-bench: child %u failed\n", i);
			goto fail;
		}
		b->n_open += b->kids[i].rd.opened;
		b->n_failed += b->kids[i].rd.failed;
	}
	settle(b);
	return;
fail:
	b->failed = 1;
	finish(b);
}

/* Stop the children, count what the node closed, reap them. */
static int stop_children(struct idle *b)
{
	struct fmp_stop st = {0, 0};
	unsigned i, closed = 0;
	char sink[4096];
	int rv = 0;

	for (i = 0; i < b->o->procs && b->kids[i].pid > 0; i++) {
		if (bench_fanmp_write(b->kids[i].ctl_fd, &st, sizeof st) != 0 ||
		    bench_fanmp_read(b->kids[i].res_fd, &b->kids[i].r,
				     sizeof b->kids[i].r) != 0) {
			rv = -1;
			continue;
		}
		closed += b->kids[i].r.closed;
		/* the rest (per-message arrays of a fan-out) is not needed */
		while (read(b->kids[i].res_fd, sink, sizeof sink) > 0)
			;
	}
	if (bench_fanmp_reap(b->kids, b->o->procs) != 0)
		rv = -1;
	b->n_closed = closed;
	b->n_open -= closed < b->n_open ? closed : b->n_open;
	return rv;
}

/* ---- run ---- */

/* Soft RLIMIT_NOFILE to the hard limit; -1 when N does not fit. */
static int raise_nofile(unsigned n)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)n + FD_RESERVE, was;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		fprintf(stderr, "confab-bench: getrlimit: %s\n",
			strerror(errno));
		return -1;
	}
	was = rl.rlim_cur;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		fprintf(stderr,
			"confab-bench: --idle %u needs %llu descriptors, but "
			"the hard RLIMIT_NOFILE is %llu: raise it (ulimit "
			"-Hn, as root) or open fewer sockets\n",
			n, (unsigned long long)need,
			(unsigned long long)rl.rlim_max);
		return -1;
	}
	if (rl.rlim_cur == rl.rlim_max)
		return 0;
	/* RLIM_INFINITY is refused for RLIMIT_NOFILE on Linux: ask for need. */
	if (rl.rlim_max != RLIM_INFINITY)
		rl.rlim_cur = rl.rlim_max;
	else if (rl.rlim_cur < need)
		rl.rlim_cur = need;
	else
		return 0;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		fprintf(stderr,
			"confab-bench: raising the soft RLIMIT_NOFILE to %llu: "
			"%s\n",
			(unsigned long long)rl.rlim_cur, strerror(errno));
		return was != RLIM_INFINITY && was < need ? -1 : 0;
	}
	fprintf(stderr,
		"confab-bench: descriptors: soft limit raised from %llu to "
		"%llu (the hard limit)\n",
		(unsigned long long)was, (unsigned long long)rl.rlim_cur);
	return 0;
}

static double per(double delta, unsigned n)
{
	return n > 0 ? delta / n : 0;
}

static void report(const struct idle *b)
{
	const struct isnap *s0 = &b->snap[0], *s1 = &b->snap[1];
	double open_s = (double)(b->open_end_ns - b->open_start_ns) / 1e9;
	double rss_per = per(s1->rss - s0->rss, b->n_open);
	double buf_per = per(s1->buf - s0->buf, b->n_open);

	printf("{\"mode\":\"idle\",\"sockets\":%u,\"open\":%u,\"failed\":%u,"
	       "\"closed\":%u,\"open_s\":%.3f,\"settle_s\":%u,"
	       "\"rss_before\":%.0f,\"rss_after\":%.0f,"
	       "\"rss_per_socket\":%.1f,\"connections_before\":%.0f,"
	       "\"connections_after\":%.0f,\"buffer_bytes_before\":%.0f,"
	       "\"buffer_bytes_after\":%.0f,\"buffer_per_socket\":%.1f,"
	       "\"procs\":%u}\n",
	       b->o->sockets, b->n_open, b->n_failed, b->n_closed, open_s,
	       b->o->settle, s0->rss, s1->rss, rss_per, s0->conns, s1->conns,
	       s0->buf, s1->buf, buf_per, b->o->procs > 0 ? b->o->procs : 1);
	fflush(stdout);
	fprintf(stderr,
		"confab-bench: idle: %u of %u WebSockets open on %s (%u "
		"failed, %u closed while idle; opened in %.1f s, then %u s "
		"idle); RSS %.1f -> %.1f MiB: %.0f B per idle socket; "
		"connection buffers %.0f -> %.0f B: %.1f B per socket; "
		"connections %.0f -> %.0f\n",
		b->n_open, b->o->sockets, b->o->target->host, b->n_failed,
		b->n_closed, open_s, b->o->settle, s0->rss / 1048576.0,
		s1->rss / 1048576.0, rss_per, s0->buf, s1->buf, buf_per,
		s0->conns, s1->conns);
}

static void cleanup(struct idle *b)
{
	unsigned i;

	for (i = 0; i < b->n_started; i++)
		bw_close(&b->socks[i].ws);
	bh_conn_close(&b->metrics);
	uv_close((uv_handle_t *)&b->timer, NULL);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	for (i = 0; i < b->n_started; i++)
		bw_release(&b->socks[i].ws);
	bh_conn_release(&b->metrics);
}

int bench_idle_run(const struct bidle_opts *o)
{
	struct idle *b;
	int rv, status;

	if (o->procs == 0 && raise_nofile(o->sockets) != 0)
		return 1;
	b = calloc(1, sizeof *b);
	if (b == NULL || (b->socks = calloc(o->sockets, sizeof *b->socks)) ==
				 NULL) {
		fprintf(stderr, "confab-bench: out of memory\n");
		free(b);
		return 1;
	}
	b->o = o;
	rv = uv_loop_init(&b->loop);
	if (rv != 0) {
		fprintf(stderr, "confab-bench: %s\n", uv_strerror(rv));
		free(b->socks);
		free(b);
		return 1;
	}
	uv_timer_init(&b->loop, &b->timer);
	b->timer.data = b;
	bh_conn_init(&b->metrics, &b->loop, o->target);
	snapshot(b, I_SNAP0);
	if (!b->failed)
		uv_run(&b->loop, UV_RUN_DEFAULT);
	if (b->kids != NULL && stop_children(b) != 0)
		b->failed = 1;
	if (!b->failed)
		report(b);
	status = b->failed || b->n_failed > 0 || b->n_open == 0 ? 1 : 0;
	cleanup(b);
	rv = uv_loop_close(&b->loop);
	if (rv != 0)
		fprintf(stderr, "confab-bench: loop close: %s\n",
			uv_strerror(rv));
	if (b->sh != NULL && b->sh != MAP_FAILED)
		munmap(b->sh, sizeof *b->sh + sizeof(uint64_t));
	free(b->kids);
	free(b->socks);
	free(b);
	return status;
}
