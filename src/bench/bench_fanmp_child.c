#include "config.h"

/*
 * bench_fanmp_child: one child of confab-bench --fanout N --procs P (see
 * bench_fanmp.h and bench_fanmp_int.h).
 *
 * Run:
 *  1. Raise the soft RLIMIT_NOFILE to the hard limit (its count sockets and
 *     FD_RESERVE more must fit, else it fails).
 *  2. Open its sockets: socket s is GET /v1/ws?user=g<run>.<s mod M>&
 *     deviceId=d<s / M> on node s mod n, at most OPEN_WINDOW handshakes in
 *     flight, all within OPEN_MS_BASE + OPEN_MS_PER per socket (the rest
 *     count as failed). Then it tells the parent (struct fmp_ready).
 *  3. Every `message` event with clientMsgId "q<run>.<k>": latency = now
 *     minus the parent's send time of k (CLOCK_MONOTONIC is one clock for
 *     every process of the machine), kept for measured k, apart for
 *     sockets on the leader and on followers, with the per-message latest.
 *  4. On the parent's stop (struct fmp_stop): wait until every open socket
 *     got every 2xx-acked message (at most DRAIN_MS), then send the result.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/bench_cpu.h"
#include "bench/bench_fanmp_int.h"
#include "bench/bench_lat.h"
#include "bench/bench_ws.h"
#include "common/cf_time.h"

#define FD_RESERVE 64
#define OPEN_WINDOW 256
#define OPEN_MS_BASE 30000
#define OPEN_MS_PER 5
#define DRAIN_MS 5000

enum cphase { C_OPEN, C_RUN, C_DRAIN, C_DONE };

struct kid;

struct ksock {
	struct bw_sock ws; /* first: container of the callback's socket */
	struct kid *k;
	unsigned s;  /* global socket index */
	int side;    /* 0: on the leader, 1: on a follower */
	int started, opened;
};

struct kid {
	const struct fmp_child *c;
	uv_loop_t loop;
	enum cphase phase;
	struct ksock *socks;
	unsigned n_started, n_pending;
	struct fmp_result r;
	uint64_t deliv_all, want_all;
	uint32_t *count;   /* deliveries per message (cap) */
	uint32_t *last[2]; /* latest delivery per message and side, µs */
	struct bench_lat lat[2];
	char prefix[48];
	size_t prefix_len;
	uv_timer_t timer;
	uv_poll_t ctl;
	double cpu0;
};

static void oom(void)
{
	fprintf(stderr, "confab-bench: child: out of memory\n");
	_exit(1);
}

static void lat_push(struct bench_lat *l, uint64_t us)
{
	if (bench_lat_push(l, us) != 0)
		oom();
}

static void start_more(struct kid *k);
static void ready(struct kid *k);

static void finish(struct kid *k)
{
	k->phase = C_DONE;
	uv_timer_stop(&k->timer);
	uv_stop(&k->loop);
}

static void check_drained(struct kid *k)
{
	if (k->phase == C_DRAIN && k->deliv_all >= k->want_all)
		finish(k);
}

static void ws_text(struct bw_sock *ws, const char *p, size_t n)
{
	struct ksock *s = (struct ksock *)ws;
	struct kid *k = s->k;
	const struct fmp_shared *sh = k->c->sh;
	const char *cid;
	uint64_t m, sent, now, us;
	char *e;

	if (memmem(p, n, "\"type\":\"message\"", 16) == NULL)
		return;
	cid = memmem(p, n, k->prefix, k->prefix_len);
	if (cid == NULL) {
		k->r.other++;
		return;
	}
	m = strtoull(cid + k->prefix_len, &e, 10);
	if (*e != '"' || m >= sh->cap) {
		k->r.other++;
		return;
	}
	now = cf_mono_ns();
	sent = __atomic_load_n(&sh->sent_ns[m], __ATOMIC_ACQUIRE);
	k->deliv_all++;
	if (++k->count[m] > k->r.opened) {
		k->r.dup++;
	} else if (m >= __atomic_load_n(&sh->first_measured,
					__ATOMIC_ACQUIRE) &&
		   sent != 0) {
		us = now > sent ? (now - sent) / 1000 : 0;
		if (us > UINT32_MAX - 1)
			us = UINT32_MAX - 1;
		if (us == 0)
			us = 1;
		k->r.deliveries++;
		lat_push(&k->lat[s->side], (uint32_t)us);
		if (us > k->last[s->side][m])
			k->last[s->side][m] = (uint32_t)us;
	}
	check_drained(k);
}

static void ws_open(struct bw_sock *ws)
{
	struct ksock *s = (struct ksock *)ws;
	struct kid *k = s->k;

	s->opened = 1;
	k->r.opened++;
	if (k->phase == C_OPEN) {
		k->n_pending--;
		start_more(k);
	}
}

static void ws_close(struct bw_sock *ws, int code)
{
	struct ksock *s = (struct ksock *)ws;
	struct kid *k = s->k;

	if (k->phase == C_DONE)
		return;
	if (!s->opened) {
		k->r.failed++;
		if (k->r.failed <= 3)
			fprintf(stderr,
				"confab-bench: socket %u did not open (%d)\n",
				s->s, code);
		if (k->phase == C_OPEN) {
			k->n_pending--;
			start_more(k);
		}
		return;
	}
	k->r.closed++;
	if (k->r.closed <= 3)
		fprintf(stderr, "confab-bench: socket %u closed (%d)\n", s->s,
			code);
}

static const struct bw_ops ws_ops = {ws_open, ws_text, ws_close};

static void start_more(struct kid *k)
{
	const struct fmp_child *c = k->c;
	const struct bh_target *t;
	struct ksock *s;
	unsigned node;
	char path[160];
	int rv;

	while (k->phase == C_OPEN && k->n_pending < OPEN_WINDOW &&
	       k->n_started < c->count) {
		s = &k->socks[k->n_started++];
		s->k = k;
		s->s = c->first + (unsigned)(s - k->socks);
		node = s->s % c->o->n_targets;
		s->side = (int)node == c->leader ? 0 : 1;
		s->started = 1;
		t = &c->o->targets[node];
		snprintf(path, sizeof path,
			 "/v1/ws?user=g%s.%u&deviceId=d%u", c->o->run_id,
			 s->s % c->members, s->s / c->members);
		rv = bw_connect(&s->ws, &k->loop, &t->addr, t->host, path,
				&ws_ops);
		if (rv != 0) {
			s->ws.state = BW_CLOSED;
			k->r.failed++;
			continue;
		}
		k->n_pending++;
	}
	if (k->phase == C_OPEN && k->n_pending == 0 &&
	    k->n_started == c->count)
		ready(k);
}

static void timer_cb(uv_timer_t *t)
{
	struct kid *k = t->data;
	unsigned i;

	if (k->phase == C_DRAIN) {
		fprintf(stderr,
			"confab-bench: child %u: %llu of %llu deliveries "
			"after %d ms\n",
			k->c->idx, (unsigned long long)k->deliv_all,
			(unsigned long long)k->want_all, DRAIN_MS);
		finish(k);
		return;
	}
	if (k->phase != C_OPEN)
		return;
	for (i = 0; i < k->c->count; i++) {
		if (k->socks[i].opened)
			continue;
		if (!k->socks[i].started || k->socks[i].ws.state != BW_CLOSED)
			k->r.failed++;
		if (k->socks[i].started)
			bw_close(&k->socks[i].ws);
	}
	k->n_started = k->c->count;
	ready(k);
}

static void ready(struct kid *k)
{
	struct fmp_ready rd = {k->r.opened, k->r.failed};

	uv_timer_stop(&k->timer);
	k->phase = C_RUN;
	k->cpu0 = bench_cpu_self();
	if (bench_fanmp_write(k->c->res_fd, &rd, sizeof rd) != 0)
		_exit(1);
}

static void ctl_cb(uv_poll_t *h, int status, int events)
{
	struct kid *k = h->data;
	struct fmp_stop st;

	(void)events;
	uv_poll_stop(h);
	if (status < 0 || bench_fanmp_read(k->c->ctl_fd, &st, sizeof st) != 0) {
		/* the parent is gone */
		finish(k);
		return;
	}
	k->want_all = st.ok_all * k->r.opened;
	k->phase = C_DRAIN;
	uv_timer_start(&k->timer, timer_cb, DRAIN_MS, 0);
	check_drained(k);
}

static int raise_nofile(unsigned n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n + FD_RESERVE) {
		fprintf(stderr,
			"confab-bench: child: %u sockets need %u descriptors, "
			"the limit is %llu: raise ulimit -Hn or use more "
			"--procs\n",
			n, n + FD_RESERVE, (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

int bench_fanmp_child(const struct fmp_child *c)
{
	struct kid *k;
	uint64_t cap = c->sh->cap;
	unsigned i;
	int rv;

	if (raise_nofile(c->count) != 0)
		return 1;
	k = calloc(1, sizeof *k);
	if (k == NULL)
		oom();
	k->c = c;
	k->socks = calloc(c->count ? c->count : 1, sizeof *k->socks);
	k->count = calloc(cap, sizeof *k->count);
	k->last[0] = calloc(cap, sizeof(uint32_t));
	k->last[1] = calloc(cap, sizeof(uint32_t));
	if (k->socks == NULL || k->count == NULL || k->last[0] == NULL ||
	    k->last[1] == NULL)
		oom();
	k->prefix_len = (size_t)snprintf(k->prefix, sizeof k->prefix,
					 "\"clientMsgId\":\"q%s.", c->o->run_id);
	if (uv_loop_init(&k->loop) != 0)
		return 1;
	uv_timer_init(&k->loop, &k->timer);
	k->timer.data = k;
	if (uv_poll_init(&k->loop, &k->ctl, c->ctl_fd) != 0)
		return 1;
	k->ctl.data = k;
	uv_poll_start(&k->ctl, UV_READABLE, ctl_cb);
	k->phase = C_OPEN;
	uv_timer_start(&k->timer, timer_cb,
		       OPEN_MS_BASE + (uint64_t)OPEN_MS_PER * c->count, 0);
	start_more(k);
	uv_run(&k->loop, UV_RUN_DEFAULT);
	k->r.cpu_s = bench_cpu_self() - k->cpu0;
	k->r.n_lat[0] = k->lat[0].n;
	k->r.n_lat[1] = k->lat[1].n;
	k->r.n_msgs = cap;
	rv = bench_fanmp_write(c->res_fd, &k->r, sizeof k->r) ||
	     bench_fanmp_write(c->res_fd, k->lat[0].v,
			       k->lat[0].n * sizeof(uint32_t)) ||
	     bench_fanmp_write(c->res_fd, k->lat[1].v,
			       k->lat[1].n * sizeof(uint32_t)) ||
	     bench_fanmp_write(c->res_fd, k->last[0], cap * sizeof(uint32_t)) ||
	     bench_fanmp_write(c->res_fd, k->last[1], cap * sizeof(uint32_t));
	for (i = 0; i < k->n_started; i++)
		bw_close(&k->socks[i].ws);
	uv_close((uv_handle_t *)&k->timer, NULL);
	uv_close((uv_handle_t *)&k->ctl, NULL);
	uv_run(&k->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&k->loop) != 0)
		rv = 1;
	for (i = 0; i < k->n_started; i++)
		bw_release(&k->socks[i].ws);
	free(k->lat[0].v);
	free(k->lat[1].v);
	free(k->last[0]);
	free(k->last[1]);
	free(k->count);
	free(k->socks);
	free(k);
	return rv != 0 ? 1 : 0;
}

int bench_fanmp_write(int fd, const void *p, size_t n)
{
	const char *q = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, q, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		q += w;
		n -= (size_t)w;
	}
	return 0;
}

int bench_fanmp_read(int fd, void *p, size_t n)
{
	char *q = p;
	ssize_t r;

	while (n > 0) {
		r = read(fd, q, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		q += r;
		n -= (size_t)r;
	}
	return 0;
}
