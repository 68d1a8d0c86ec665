#include "config.h"

/*
 * bench_fanout: see bench_fanout.h.
 *
 * Run:
 *  1. Member 0 ("f<run>.0") creates the group "fan-<run>" with members
 *     f<run>.1 .. f<run>.<N-1> (POST /v1/conversations, dev auth).
 *  2. One WebSocket per member, GET /v1/ws?user=f<run>.<i>&deviceId=d1 on
 *     node i mod n (round robin); once all are open, 300 ms to settle.
 *  3. With --warmup W: W seconds of sends that are not counted, then a
 *     pause until they are answered and delivered (at most 5 s).
 *  4. GET /metrics on every node (before).
 *  5. The window: --seconds S of sends. Message k has clientMsgId
 *     "m<run>.<k>" and is sent by member k mod N over sender connection
 *     (k's sender) to node (sender index mod n). Closed loop (default):
 *     --concurrency C connections, each sends the next on its answer.
 *     With --rate R: a 1 ms timer issues the sends due at R per second on
 *     an idle connection of the C; when none is idle the send waits for
 *     the next answer (counted in "late").
 *  6. Drain: no new sends; wait until every answer and every delivery of
 *     the acked messages came, at most 5 s. Then GET /metrics (after).
 *
 * Counted (messages sent in the window only):
 *   sends       2xx answers; ops_s = sends / window seconds
 *   total       answers (any status) and connection failures
 *   errors      non-2xx answers, connection failures, member sockets
 *               closed by the server during the window or the drain
 *   ack_*       send -> HTTP answer (2xx), from the moment the request is
 *               handed to the connection
 *   deliveries  `message` events received on member sockets; expected =
 *               sends * N; missing = expected - deliveries when positive;
 *               dup = events beyond N for one message
 *   deliv_*     send -> that event read on a member socket (client clock);
 *               deliv_node_p50_ms/p99_ms: the same per node, in --url order;
 *               p50_ms/p99_ms repeat deliv_p50_ms/p99_ms (the keys every
 *               mode shares)
 *   commit_deliv_*   from the nodes' confab_delivery_seconds histogram
 *               (apply on the node to socket write, observed by the node
 *               once per message for all its sockets), bucket counts of
 *               all nodes summed, after minus before, percentile by linear
 *               interpolation inside the bucket; commit_deliv_count is the
 *               number of observations. The node measures in whole ms.
 *   ts_deliv_*  receive wall clock (us) minus the event's serverTs: the
 *               same span seen by the client; serverTs has ms resolution,
 *               so the values read up to 1 ms high.
 *   client_cpu_s, server_cpu_s, server_cpu_us_per_ack (bench_cpu.h):
 *               from the window's start to the end of the drain
 * Percentiles: p50 = value at rank n/2, p99 at rank ceil(0.99 n).
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_fanout.h"
#include "bench/bench_lat.h"
#include "bench/bench_ws.h"
#include "common/cf_buf.h"
#include "common/cf_time.h"

#define SETTLE_MS 300
#define DRAIN_MS 5000
#define HIST_MAX 40

enum fphase {
	F_CREATE,
	F_CONNECT,
	F_SETTLE,
	F_WARMUP,
	F_PAUSE,
	F_SNAP0,
	F_MEASURE,
	F_DRAIN,
	F_SNAP1,
	F_DONE,
};

struct fmsg {
	uint64_t sent_ns;
	uint32_t delivered;
	uint8_t measured;
};

struct fan;

struct fsender {
	struct bh_conn http; /* first: container of the callback's conn */
	struct fan *f;
	size_t k; /* the message in flight */
};

struct fmember {
	struct bw_sock ws;
	struct fan *f;
	unsigned idx;
};

struct fan {
	const struct bf_opts *o;
	uv_loop_t loop;
	enum fphase phase;
	int failed;
	char conv[64], prefix[48];
	size_t prefix_len;
	struct fmember *mem;
	unsigned n_open;
	struct fsender *snd;
	unsigned *idle, n_idle;
	struct bh_conn ctl;   /* the group creation */
	struct bh_conn *mconn; /* GET /metrics, one per node */
	unsigned snaps_left;
	int hist_bad;
	double le[HIST_MAX];
	unsigned n_le;
	uint64_t hist[2][HIST_MAX];
	struct fmsg *msgs;
	size_t n_msgs, cap_msgs;
	uint64_t phase_start_ns, issued, backlog, in_flight;
	uint64_t ok_all, deliv_all;
	uint64_t window_start_ns, window_end_ns;
	uint64_t sends, total, errors, deliveries, dup, late, other;
	struct bench_lat ack, deliv, ts;
	struct bench_lat *deliv_node; /* deliv by the node of the member socket */
	uv_timer_t tick, phase_timer, progress_timer;
	struct bench_progress prog; /* acks on stderr, runs over 10 s */
	struct cf_buf body;
	char *content;
};

static void snapshot(struct fan *f, enum fphase which);
static void send_one(struct fan *f, struct fsender *s);

static void oom(void)
{
	fprintf(stderr, "confab-bench: out of memory\n");
	exit(1);
}

static void lat_push(struct bench_lat *l, uint64_t us)
{
	if (bench_lat_push(l, us) != 0)
		oom();
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* p50 and p99 in ms; 0 when empty. */
static void lat_pct(struct bench_lat *l, double *p50, double *p99)
{
	size_t i99;

	*p50 = *p99 = 0;
	if (l->n == 0)
		return;
	qsort(l->v, l->n, sizeof *l->v, u32_cmp);
	*p50 = l->v[l->n / 2] / 1000.0;
	i99 = (l->n * 99 + 99) / 100;
	*p99 = l->v[(i99 > 0 ? i99 : 1) - 1] / 1000.0;
}

static void fail_setup(struct fan *f, const char *what, int code)
{
	fprintf(stderr, "confab-bench: fanout set-up: %s (%d)\n", what, code);
	f->failed = 1;
	f->phase = F_DONE;
	uv_stop(&f->loop);
}

static void member_name(const struct fan *f, unsigned i, char *out,
			size_t cap)
{
	snprintf(out, cap, "f%s.%u", f->o->run_id, i);
}

/* ---- drain and phases ---- */

static int drained(const struct fan *f)
{
	return f->in_flight == 0 &&
	       f->deliv_all >= f->ok_all * (uint64_t)f->o->members;
}

static void phase_timer_cb(uv_timer_t *t);

static void check_drained(struct fan *f)
{
	if ((f->phase == F_PAUSE || f->phase == F_DRAIN) && drained(f)) {
		uv_timer_stop(&f->phase_timer);
		snapshot(f, f->phase == F_PAUSE ? F_SNAP0 : F_SNAP1);
	}
}

static void tick_cb(uv_timer_t *t)
{
	struct fan *f = t->data;
	uint64_t due;
	double el = (double)(cf_mono_ns() - f->phase_start_ns) / 1e9;

	due = (uint64_t)(el * f->o->rate);
	while (f->issued < due) {
		f->issued++;
		if (f->n_idle > 0)
			send_one(f, &f->snd[f->idle[--f->n_idle]]);
		else
			f->backlog++;
	}
}

static void start_sending(struct fan *f, enum fphase ph, unsigned secs)
{
	unsigned i;

	f->phase = ph;
	f->phase_start_ns = cf_mono_ns();
	if (ph == F_MEASURE) {
		f->window_start_ns = f->phase_start_ns;
		bench_cpu_begin(f->o->cpu);
	}
	f->issued = 0;
	f->backlog = 0;
	uv_timer_start(&f->phase_timer, phase_timer_cb, (uint64_t)secs * 1000,
		       0);
	if (f->o->rate > 0) {
		uv_timer_start(&f->tick, tick_cb, 1, 1);
		return;
	}
	/* After a drain that timed out, a busy sender goes on at its answer. */
	f->n_idle = 0;
	for (i = 0; i < f->o->conc; i++)
		if (!f->snd[i].http.busy)
			send_one(f, &f->snd[i]);
}

static void phase_timer_cb(uv_timer_t *t)
{
	struct fan *f = t->data;

	switch (f->phase) {
	case F_SETTLE:
		if (f->o->warmup > 0)
			start_sending(f, F_WARMUP, f->o->warmup);
		else
			snapshot(f, F_SNAP0);
		break;
	case F_WARMUP:
	case F_MEASURE:
		uv_timer_stop(&f->tick);
		f->backlog = 0;
		if (f->phase == F_MEASURE)
			f->window_end_ns = cf_mono_ns();
		f->phase = f->phase == F_MEASURE ? F_DRAIN : F_PAUSE;
		uv_timer_start(&f->phase_timer, phase_timer_cb, DRAIN_MS, 0);
		check_drained(f);
		break;
	case F_PAUSE:
	case F_DRAIN:
		fprintf(stderr,
			"confab-bench: drain timed out after %d ms: %llu "
			"requests in flight\n",
			DRAIN_MS, (unsigned long long)f->in_flight);
		snapshot(f, f->phase == F_PAUSE ? F_SNAP0 : F_SNAP1);
		break;
	default:
		break;
	}
}

static void progress_cb(uv_timer_t *t)
{
	struct fan *f = t->data;

	bench_progress_tick(&f->prog, cf_mono_ns(), "acks", f->ok_all);
}

/* ---- sending ---- */

static void send_done(struct bh_conn *c, int status, const char *body,
		      size_t len)
{
	struct fsender *s = (struct fsender *)c;
	struct fan *f = s->f;
	struct fmsg *m = &f->msgs[s->k];
	int ok = status >= 200 && status < 300;

	f->in_flight--;
	if (ok)
		f->ok_all++;
	if (m->measured) {
		f->total++;
		if (ok) {
			f->sends++;
			lat_push(&f->ack, (cf_mono_ns() - m->sent_ns) / 1000);
		} else {
			f->errors++;
		}
	}
	if (!ok && f->errors <= 5)
		fprintf(stderr, "confab-bench: send %zu: status %d %.*s\n",
			s->k, status, (int)(len > 200 ? 200 : len),
			body != NULL ? body : "");
	if (f->phase == F_WARMUP || f->phase == F_MEASURE) {
		if (f->o->rate == 0) {
			send_one(f, s);
			return;
		}
		if (f->backlog > 0) {
			f->backlog--;
			if (f->phase == F_MEASURE)
				f->late++;
			send_one(f, s);
			return;
		}
	}
	f->idle[f->n_idle++] = (unsigned)(s - f->snd);
	check_drained(f);
}

static void send_one(struct fan *f, struct fsender *s)
{
	char user[64];
	struct fmsg *m;
	size_t k;
	int rv;

	if (f->n_msgs == f->cap_msgs) {
		f->cap_msgs = f->cap_msgs ? 2 * f->cap_msgs : 65536;
		m = realloc(f->msgs, f->cap_msgs * sizeof *m);
		if (m == NULL)
			oom();
		f->msgs = m;
	}
	k = f->n_msgs++;
	m = &f->msgs[k];
	memset(m, 0, sizeof *m);
	m->measured = f->phase == F_MEASURE;
	member_name(f, (unsigned)(k % f->o->members), user, sizeof user);
	cf_buf_truncate(&f->body, 0);
	if (cf_buf_appendf(&f->body,
			   "{\"conversationId\":\"%s\",\"clientMsgId\":"
			   "\"%s%zu\",\"msgType\":\"text\",\"content\":\"%s\"}",
			   f->conv, f->prefix, k, f->content) != 0)
		oom();
	s->k = k;
	m->sent_ns = cf_mono_ns();
	f->in_flight++;
	rv = bh_conn_request(&s->http, "POST", "/v1/messages", user,
			     f->body.data, f->body.len, send_done);
	if (rv != 0) {
		/* busy cannot happen: a sender has one request at a time */
		fprintf(stderr, "confab-bench: send: %s\n", strerror(-rv));
		exit(1);
	}
}

/* ---- member sockets ---- */

/*
 * The value after "key": in a compact JSON text, or NULL. A key-shaped
 * string inside a value is escaped (\"key\":), so it never matches.
 */
static const char *json_after(const char *p, size_t n, const char *key)
{
	size_t kl = strlen(key);
	const char *q = memmem(p, n, key, kl);

	return q != NULL ? q + kl : NULL;
}

/*
 * One frame on a member socket. Tens of thousands arrive per second and the
 * bench shares the machine with the nodes, so `message` events are read by
 * scanning the compact JSON confabd writes (jansson, JSON_COMPACT) for the
 * three fields needed, not by a full parse.
 */
static void ws_text(struct bw_sock *ws, const char *p, size_t n)
{
	struct fmember *mb = (struct fmember *)ws;
	struct fan *f = mb->f;
	const char *cid, *tsv, *end = p + n;
	struct fmsg *m;
	struct timespec now;
	char *e;
	unsigned long long k;
	int64_t wall_us, ts;
	uint64_t us;

	cid = json_after(p, n, "\"clientMsgId\":\"");
	if (json_after(p, n, "\"type\":\"message\"") == NULL || cid == NULL ||
	    (size_t)(end - cid) <= f->prefix_len ||
	    memcmp(cid, f->prefix, f->prefix_len) != 0) {
		f->other++;
		return;
	}
	k = strtoull(cid + f->prefix_len, &e, 10);
	if (*e != '"' || k >= f->n_msgs) {
		f->other++;
		return;
	}
	m = &f->msgs[k];
	m->delivered++;
	f->deliv_all++;
	if (m->measured) {
		if (m->delivered > f->o->members) {
			f->dup++;
		} else {
			f->deliveries++;
			us = (cf_mono_ns() - m->sent_ns) / 1000;
			lat_push(&f->deliv, us);
			lat_push(&f->deliv_node[mb->idx % f->o->n_targets], us);
			tsv = json_after(p, n, "\"serverTs\":");
			if (tsv != NULL && tsv < end && *tsv >= '0' &&
			    *tsv <= '9') {
				ts = strtoll(tsv, NULL, 10);
				clock_gettime(CLOCK_REALTIME, &now);
				wall_us = (int64_t)now.tv_sec * 1000000 +
					  now.tv_nsec / 1000 - ts * 1000;
				lat_push(&f->ts, wall_us > 0
							 ? (uint64_t)wall_us
							 : 0);
			}
		}
	}
	check_drained(f);
}

static void ws_open(struct bw_sock *ws)
{
	struct fmember *mb = (struct fmember *)ws;
	struct fan *f = mb->f;

	if (++f->n_open == f->o->members && f->phase == F_CONNECT) {
		f->phase = F_SETTLE;
		uv_timer_start(&f->phase_timer, phase_timer_cb, SETTLE_MS, 0);
	}
}

static void ws_close(struct bw_sock *ws, int code)
{
	struct fmember *mb = (struct fmember *)ws;
	struct fan *f = mb->f;

	if (f->phase == F_DONE)
		return;
	if (f->phase == F_CONNECT) {
		fail_setup(f, "a member WebSocket failed to open", code);
		return;
	}
	fprintf(stderr, "confab-bench: member %u: socket closed (%d)\n",
		mb->idx, code);
	if (f->phase >= F_SNAP0 && f->phase <= F_SNAP1)
		f->errors++;
}

static const struct bw_ops ws_ops = {ws_open, ws_text, ws_close};

static void connect_members(struct fan *f)
{
	const struct bh_target *t;
	char user[64], path[160];
	unsigned i;
	int rv;

	f->phase = F_CONNECT;
	for (i = 0; i < f->o->members; i++) {
		t = &f->o->targets[i % f->o->n_targets];
		member_name(f, i, user, sizeof user);
		snprintf(path, sizeof path, "/v1/ws?user=%s&deviceId=d1", user);
		f->mem[i].f = f;
		f->mem[i].idx = i;
		rv = bw_connect(&f->mem[i].ws, &f->loop, &t->addr, t->host,
				path, &ws_ops);
		if (rv != 0) {
			fail_setup(f, "connecting a member WebSocket", rv);
			return;
		}
	}
}

static void create_done(struct bh_conn *c, int status, const char *body,
			size_t len)
{
	struct fan *f = c->data;

	if (status != 200 && status != 201) {
		if (len > 0)
			fprintf(stderr, "confab-bench: %.*s\n",
				(int)(len > 300 ? 300 : len), body);
		fail_setup(f, "creating the group: status", status);
		return;
	}
	connect_members(f);
}

static void create_group(struct fan *f)
{
	char user[64];
	unsigned i;
	int rv;

	cf_buf_truncate(&f->body, 0);
	rv = cf_buf_appendf(&f->body,
			    "{\"type\":\"group\",\"title\":\"fanout\","
			    "\"conversationId\":\"%s\",\"members\":[",
			    f->conv);
	for (i = 1; rv == 0 && i < f->o->members; i++) {
		member_name(f, i, user, sizeof user);
		rv = cf_buf_appendf(&f->body, "%s\"%s\"", i > 1 ? "," : "",
				    user);
	}
	if (rv == 0)
		rv = cf_buf_append(&f->body, "]}", 2);
	if (rv != 0)
		oom();
	member_name(f, 0, user, sizeof user);
	f->phase = F_CREATE;
	f->ctl.data = f;
	rv = bh_conn_request(&f->ctl, "POST", "/v1/conversations", user,
			     f->body.data, f->body.len, create_done);
	if (rv != 0)
		fail_setup(f, "creating the group", rv);
}

/* ---- /metrics ---- */

/* Add the cumulative confab_delivery_seconds buckets of body to h. */
static int parse_hist(struct fan *f, const char *body, size_t len,
		      uint64_t *h)
{
	static const char key[] = "confab_delivery_seconds_bucket{le=\"";
	const char *p = body, *end = body + len, *nl;
	unsigned i = 0;
	double le;
	char *e;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if ((size_t)(nl - p) > sizeof key &&
		    memcmp(p, key, sizeof key - 1) == 0) {
			le = strtod(p + sizeof key - 1, &e);
			if (*e != '"' || i == HIST_MAX)
				return -1;
			if (f->n_le == i) {
				f->le[f->n_le++] = le;
			} else if (f->le[i] != le) {
				return -1;
			}
			e = memchr(e, ' ', (size_t)(nl - e));
			if (e == NULL)
				return -1;
			h[i++] += strtoull(e + 1, NULL, 10);
		}
		p = nl + 1;
	}
	return i == f->n_le && i > 0 ? 0 : -1;
}

static void finish(struct fan *f)
{
	f->phase = F_DONE;
	uv_timer_stop(&f->phase_timer);
	uv_timer_stop(&f->tick);
	uv_timer_stop(&f->progress_timer);
	uv_stop(&f->loop);
}

static void metrics_done(struct bh_conn *c, int status, const char *body,
			 size_t len)
{
	struct fan *f = c->data;
	int which = f->phase == F_SNAP0 ? 0 : 1;

	if (status != 200 || parse_hist(f, body, len, f->hist[which]) != 0) {
		fprintf(stderr,
			"confab-bench: GET /metrics on %s: status %d, no "
			"confab_delivery_seconds histogram\n",
			c->t->host, status);
		f->hist_bad = 1;
	}
	if (--f->snaps_left > 0)
		return;
	if (which == 1)
		bench_cpu_end(f->o->cpu);
	if (which == 0)
		start_sending(f, F_MEASURE, f->o->seconds);
	else
		finish(f);
}

static void snapshot(struct fan *f, enum fphase which)
{
	unsigned i;

	f->phase = which;
	f->snaps_left = f->o->n_targets;
	for (i = 0; i < f->o->n_targets; i++) {
		f->mconn[i].data = f;
		if (bh_conn_request(&f->mconn[i], "GET", "/metrics", NULL, NULL,
				    0, metrics_done) != 0)
			oom();
	}
}

/* Percentile q of the bucket deltas, in ms; -1 when there is none. */
static double hist_pct(const struct fan *f, double q, uint64_t *count)
{
	uint64_t d[HIST_MAX], total, prev;
	double rank, lo;
	unsigned i;

	*count = 0;
	if (f->hist_bad || f->n_le == 0)
		return -1;
	for (i = 0; i < f->n_le; i++)
		d[i] = f->hist[1][i] - f->hist[0][i];
	total = d[f->n_le - 1];
	*count = total;
	if (total == 0)
		return -1;
	rank = q * (double)total;
	for (i = 0; i < f->n_le; i++) {
		if ((double)d[i] < rank || d[i] == 0)
			continue;
		prev = i > 0 ? d[i - 1] : 0;
		lo = i > 0 ? f->le[i - 1] : 0;
		if (isinf(f->le[i]))
			return lo * 1000; /* beyond the last bound */
		if (d[i] == prev)
			return f->le[i] * 1000;
		return (lo + (f->le[i] - lo) * (rank - (double)prev) /
				     (double)(d[i] - prev)) *
		       1000;
	}
	return -1;
}

static void report(struct fan *f)
{
	double secs =
		(double)(f->window_end_ns - f->window_start_ns) / 1e9;
	double a50, a99, d50, d99, t50, t99, c50, c99;
	uint64_t expected = f->sends * f->o->members, n_hist;
	double n50[BH_MAX_TARGETS], n99[BH_MAX_TARGETS];
	unsigned i;

	lat_pct(&f->ack, &a50, &a99);
	lat_pct(&f->deliv, &d50, &d99);
	lat_pct(&f->ts, &t50, &t99);
	c50 = hist_pct(f, 0.5, &n_hist);
	c99 = hist_pct(f, 0.99, &n_hist);
	if (secs <= 0)
		secs = 1e-9;
	printf("{\"mode\":\"fanout\",\"members\":%u,\"nodes\":%u,\"rate\":%u,"
	       "\"conc\":%u,\"seconds\":%.3f,\"sends\":%llu,\"ops_s\":%.1f,"
	       "\"ack_p50_ms\":%.3f,\"ack_p99_ms\":%.3f,"
	       "\"deliveries\":%llu,\"expected\":%llu,\"missing\":%llu,"
	       "\"dup\":%llu,\"deliv_s\":%.1f,"
	       "\"deliv_p50_ms\":%.3f,\"deliv_p99_ms\":%.3f,"
	       "\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
	       "\"commit_deliv_p50_ms\":%.3f,\"commit_deliv_p99_ms\":%.3f,"
	       "\"commit_deliv_count\":%llu,"
	       "\"ts_deliv_p50_ms\":%.3f,\"ts_deliv_p99_ms\":%.3f,"
	       "\"late\":%llu,\"errors\":%llu,\"total\":%llu,"
	       "\"procs\":1,",
	       f->o->members, f->o->n_targets, f->o->rate, f->o->conc, secs,
	       (unsigned long long)f->sends, (double)f->sends / secs, a50, a99,
	       (unsigned long long)f->deliveries,
	       (unsigned long long)expected,
	       (unsigned long long)(expected > f->deliveries
					    ? expected - f->deliveries
					    : 0),
	       (unsigned long long)f->dup, (double)f->deliveries / secs, d50,
	       d99, d50, d99, c50, c99, (unsigned long long)n_hist, t50, t99,
	       (unsigned long long)f->late, (unsigned long long)f->errors,
	       (unsigned long long)f->total);
	for (i = 0; i < f->o->n_targets; i++) {
		lat_pct(&f->deliv_node[i], &n50[i], &n99[i]);
		printf("%s%.3f", i ? "," : "\"deliv_node_p50_ms\":[", n50[i]);
	}
	for (i = 0; i < f->o->n_targets; i++)
		printf("%s%.3f", i ? "," : "],\"deliv_node_p99_ms\":[", n99[i]);
	printf("],");
	bench_cpu_json(f->o->cpu, stdout, f->sends, 0);
	printf("}\n");
	fflush(stdout);
	fprintf(stderr,
		"confab-bench: fanout %u members over %u node(s), %s: "
		"%.0f msg/s, %.0f deliveries/s; send->ack p50 %.2f p99 %.2f "
		"ms; send->delivery p50 %.2f p99 %.2f ms; commit->delivery "
		"(server histogram) p50 %.2f p99 %.2f ms; recv-serverTs p50 "
		"%.2f p99 %.2f ms; %llu/%llu delivered, %llu errors\n",
		f->o->members, f->o->n_targets,
		f->o->rate ? "steady rate" : "closed loop",
		(double)f->sends / secs, (double)f->deliveries / secs, a50, a99,
		d50, d99, c50, c99, t50, t99,
		(unsigned long long)f->deliveries,
		(unsigned long long)expected, (unsigned long long)f->errors);
}

/* ---- run ---- */

static void cleanup(struct fan *f)
{
	unsigned i;

	for (i = 0; i < f->o->members; i++)
		bw_close(&f->mem[i].ws);
	for (i = 0; i < f->o->conc; i++)
		bh_conn_close(&f->snd[i].http);
	for (i = 0; i < f->o->n_targets; i++)
		bh_conn_close(&f->mconn[i]);
	bh_conn_close(&f->ctl);
	uv_close((uv_handle_t *)&f->tick, NULL);
	uv_close((uv_handle_t *)&f->phase_timer, NULL);
	uv_close((uv_handle_t *)&f->progress_timer, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	for (i = 0; i < f->o->members; i++)
		bw_release(&f->mem[i].ws);
	for (i = 0; i < f->o->conc; i++)
		bh_conn_release(&f->snd[i].http);
	for (i = 0; i < f->o->n_targets; i++)
		bh_conn_release(&f->mconn[i]);
	bh_conn_release(&f->ctl);
}

int bench_fanout_run(const struct bf_opts *o)
{
	struct fan *f = calloc(1, sizeof *f);
	unsigned i;
	int rv;

	if (f == NULL)
		oom();
	f->o = o;
	snprintf(f->conv, sizeof f->conv, "fan-%s", o->run_id);
	f->prefix_len = (size_t)snprintf(f->prefix, sizeof f->prefix, "m%s.",
					 o->run_id);
	f->mem = calloc(o->members, sizeof *f->mem);
	f->snd = calloc(o->conc, sizeof *f->snd);
	f->idle = calloc(o->conc, sizeof *f->idle);
	f->mconn = calloc(o->n_targets, sizeof *f->mconn);
	f->deliv_node = calloc(o->n_targets, sizeof *f->deliv_node);
	f->content = malloc(o->size + 1);
	if (f->mem == NULL || f->snd == NULL || f->idle == NULL ||
	    f->mconn == NULL || f->deliv_node == NULL || f->content == NULL)
		oom();
	for (i = 0; i < o->size; i++)
		f->content[i] = (char)('a' + i % 26);
	f->content[o->size] = '\0';
	cf_buf_init(&f->body);
	rv = uv_loop_init(&f->loop);
	if (rv != 0) {
		fprintf(stderr, "confab-bench: %s\n", uv_strerror(rv));
		return 1;
	}
	uv_timer_init(&f->loop, &f->tick);
	uv_timer_init(&f->loop, &f->phase_timer);
	uv_timer_init(&f->loop, &f->progress_timer);
	f->tick.data = f;
	f->phase_timer.data = f;
	f->progress_timer.data = f;
	bench_progress_init(&f->prog, cf_mono_ns(),
			    (double)o->warmup + o->seconds);
	uv_timer_start(&f->progress_timer, progress_cb, 1000, 1000);
	bh_conn_init(&f->ctl, &f->loop, &o->targets[0]);
	for (i = 0; i < o->n_targets; i++)
		bh_conn_init(&f->mconn[i], &f->loop, &o->targets[i]);
	for (i = 0; i < o->conc; i++) {
		bh_conn_init(&f->snd[i].http, &f->loop,
			     &o->targets[i % o->n_targets]);
		f->snd[i].f = f;
		f->idle[f->n_idle++] = o->conc - 1 - i;
	}
	create_group(f);
	if (!f->failed)
		uv_run(&f->loop, UV_RUN_DEFAULT);
	if (!f->failed)
		report(f);
	cleanup(f);
	rv = uv_loop_close(&f->loop);
	if (rv != 0)
		fprintf(stderr, "confab-bench: loop close: %s\n",
			uv_strerror(rv));
	rv = f->failed ? 1 : 0;
	cf_buf_release(&f->body);
	free(f->ack.v);
	free(f->deliv.v);
	free(f->ts.v);
	for (i = 0; i < o->n_targets; i++)
		free(f->deliv_node[i].v);
	free(f->deliv_node);
	free(f->msgs);
	free(f->mem);
	free(f->snd);
	free(f->idle);
	free(f->mconn);
	free(f->content);
	free(f);
	return rv;
}
