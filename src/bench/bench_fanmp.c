#include "config.h"

/*
 * bench_fanmp: see bench_fanmp.h; the children in bench_fanmp_child.c.
 *
 * Run (M = min(N, --group-max) members, D = ceil(N / M) devices each):
 *  1. GET /v1/cluster on every node: which --url is the leader ("role").
 *  2. Member 0 ("g<run>.0") creates the group "fmp-<run>" with members
 *     g<run>.1 .. g<run>.<M-1>: one group, whatever N.
 *  3. Fork P children; child i holds sockets [i N / P, (i+1) N / P), socket
 *     s being member s mod M, device s / M, on node s mod n. The parent
 *     waits until every child reports its sockets open, then 300 ms.
 *  4. The parent sends at --rate R messages/s (a 1 ms timer; up to
 *     SENDERS HTTP connections to the leader, or the first node when none
 *     is known; a send due while all are busy waits, counted in "late"):
 *     message k, clientMsgId "q<run>.<k>", from member 0, its send time
 *     written to a shared mapping before the request. --warmup W seconds
 *     first (not measured), then --seconds S (measured: the CPU of --pid
 *     and of the parent is read from its start to the end of the drain).
 *  5. When every send is answered (at most 5 s), the parent tells the
 *     children how many were acked; each waits for their deliveries on its
 *     open sockets (at most 5 s), then sends its latencies; the parent
 *     reads them, reaps the children and prints.
 *
 * Output (one JSON line):
 *   {"mode":"fanout","procs":P,"sockets":N,"open":K,"failed":F,"closed":C,
 *    "members":M,"devices":D,"groups":1,"nodes":n,"leader":L,"rate":R,
 *    "seconds":X,"sends":N,"ops_s":X,"ack_p50_ms":X,"ack_p99_ms":X,
 *    "deliveries":N,"expected":N,"missing":N,"dup":N,"deliv_s":X,
 *    "p50_ms":X,"p99_ms":X,"last_ms":X,"last_max_ms":X,
 *    "leader_sockets":N,"leader_p50_ms":X,"leader_p99_ms":X,
 *    "leader_last_ms":X,"follower_p50_ms":X,"follower_p99_ms":X,
 *    "follower_last_ms":X,"late":N,"errors":N,"total":N,
 *    "client_cpu_s":X,"children_cpu_s":X
 *    [,"server_cpu_s":X,"server_cpu_us_per_ack":X,
 *     "server_cpu_us_per_delivery":X]}
 *   leader      index (0-based, --url order) of the leader, -1 unknown
 *   sends       2xx answers to measured sends; total: measured answers
 *               and failures; errors: non-2xx or failed sends
 *   deliveries  `message` events of measured messages on open sockets;
 *               expected = sends * open; missing = expected - deliveries
 *   p50/p99_ms  send -> delivery over every delivery (client clock)
 *   last_ms     per measured message, send -> its last delivery on any
 *               socket; the median over the messages (last_max_ms: the
 *               largest)
 *   leader_* / follower_*  the same for sockets on the leader / followers
 *   client_cpu_s  the parent's CPU in the window plus children_cpu_s (the
 *               children's, from their sockets open to their end)
 */

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_fanmp_int.h"
#include "bench/bench_lat.h"
#include "common/cf_buf.h"
#include "common/cf_time.h"

#define SENDERS 8
#define SETTLE_MS 300
#define DRAIN_MS 5000
#define MAX_PROCS 64

enum mphase { M_ROLES, M_CREATE, M_WARMUP, M_MEASURE, M_DRAIN, M_DONE };

struct msnd {
	struct bh_conn http; /* first: container of the callback's conn */
	uint64_t k;
};

struct mp {
	const struct bfmp_opts *o;
	uv_loop_t loop;
	enum mphase phase;
	int failed;
	unsigned members, devices;
	int leader;
	unsigned roles_left;
	struct bh_conn *probe; /* one per node */
	struct bh_conn ctl;
	struct msnd snd[SENDERS];
	unsigned idle[SENDERS], n_idle;
	struct cf_buf body;
	char *content;
	struct fmp_shared *sh;
	size_t sh_len;
	uint64_t issued, in_flight, ok_all, late;
	int64_t due_base; /* sends owed at the phase's start, less skipped */
	uint64_t sends, total, errors, failures;
	uint64_t phase_ns, t0, t1;
	struct { uint32_t *v; size_t n, cap; } ack;
	uint8_t *measured;
	uv_timer_t tick, phase_timer, progress_timer;
	struct bench_progress prog;
};

static void oom(void)
{
	fprintf(stderr, "confab-bench: out of memory\n");
	exit(1);
}

static void fail(struct mp *m, const char *what, int status)
{
	fprintf(stderr, "confab-bench: fanout set-up: %s (%d)\n", what, status);
	m->failed = 1;
	m->phase = M_DONE;
	uv_stop(&m->loop);
}

/* ---- set-up: roles and the group ---- */

static void create_done(struct bh_conn *c, int status, const char *body,
			size_t len)
{
	struct mp *m = c->data;

	if (status != 200 && status != 201) {
		if (len > 0)
			fprintf(stderr, "confab-bench: %.*s\n",
				(int)(len > 300 ? 300 : len), body);
		fail(m, "creating the group: status", status);
		return;
	}
	m->phase = M_DONE;
	uv_stop(&m->loop);
}

static void create_group(struct mp *m)
{
	unsigned i;
	int rv;

	cf_buf_truncate(&m->body, 0);
	rv = cf_buf_appendf(&m->body,
			    "{\"type\":\"group\",\"title\":\"fanout\","
			    "\"conversationId\":\"fmp-%s\",\"members\":[",
			    m->o->run_id);
	for (i = 1; rv == 0 && i < m->members; i++)
		rv = cf_buf_appendf(&m->body, "%s\"g%s.%u\"", i > 1 ? "," : "",
				    m->o->run_id, i);
	if (rv != 0 || cf_buf_append(&m->body, "]}", 2) != 0)
		oom();
	char user[48];

	snprintf(user, sizeof user, "g%s.0", m->o->run_id);
	m->phase = M_CREATE;
	m->ctl.data = m;
	if (bh_conn_request(&m->ctl, "POST", "/v1/conversations", user,
			    m->body.data, m->body.len, create_done) != 0)
		oom();
}

static void role_done(struct bh_conn *c, int status, const char *body,
		      size_t len)
{
	struct mp *m = c->data;
	json_t *j = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
	const char *role = json_string_value(json_object_get(j, "role"));

	if (role != NULL && strcmp(role, "leader") == 0)
		m->leader = (int)(c - m->probe);
	json_decref(j);
	if (--m->roles_left == 0)
		create_group(m);
}

/* ---- sending ---- */

static void send_one(struct mp *m, struct msnd *s);

static void send_done(struct bh_conn *c, int status, const char *body,
		      size_t len)
{
	struct msnd *s = (struct msnd *)c;
	struct mp *m = c->data;
	int ok = status >= 200 && status < 300;
	uint32_t *p;

	m->in_flight--;
	m->ok_all += ok;
	if (m->measured[s->k]) {
		m->total++;
		if (ok) {
			m->sends++;
			if (m->ack.n == m->ack.cap) {
				m->ack.cap = m->ack.cap ? 2 * m->ack.cap : 4096;
				p = realloc(m->ack.v, m->ack.cap * sizeof *p);
				if (p == NULL)
					oom();
				m->ack.v = p;
			}
			m->ack.v[m->ack.n++] = (uint32_t)(
				(cf_mono_ns() - m->sh->sent_ns[s->k]) / 1000);
		} else {
			m->errors++;
		}
	}
	if (!ok && ++m->failures <= 5)
		fprintf(stderr, "confab-bench: send %llu: status %d %.*s\n",
			(unsigned long long)s->k, status,
			(int)(len > 200 ? 200 : len), body != NULL ? body : "");
	m->idle[m->n_idle++] = (unsigned)(s - m->snd);
	if (m->phase == M_DRAIN && m->in_flight == 0) {
		m->phase = M_DONE;
		uv_stop(&m->loop);
	}
}

static void send_one(struct mp *m, struct msnd *s)
{
	char user[48];
	uint64_t k = m->issued++;

	cf_buf_truncate(&m->body, 0);
	if (cf_buf_appendf(&m->body,
			   "{\"conversationId\":\"fmp-%s\",\"clientMsgId\":"
			   "\"q%s.%llu\",\"msgType\":\"text\",\"content\":"
			   "\"%s\"}",
			   m->o->run_id, m->o->run_id, (unsigned long long)k,
			   m->content) != 0)
		oom();
	snprintf(user, sizeof user, "g%s.0", m->o->run_id);
	m->measured[k] = m->phase == M_MEASURE;
	s->k = k;
	s->http.data = m;
	__atomic_store_n(&m->sh->sent_ns[k], cf_mono_ns(), __ATOMIC_RELEASE);
	m->in_flight++;
	if (bh_conn_request(&s->http, "POST", "/v1/messages", user,
			    m->body.data, m->body.len, send_done) != 0)
		oom();
}

static void tick_cb(uv_timer_t *t)
{
	struct mp *m = t->data;
	double el = (double)(cf_mono_ns() - m->phase_ns) / 1e9;
	int64_t due = m->due_base + (int64_t)(el * m->o->rate);

	if (due > (int64_t)m->sh->cap)
		due = (int64_t)m->sh->cap;
	while ((int64_t)m->issued < due && m->n_idle > 0)
		send_one(m, &m->snd[m->idle[--m->n_idle]]);
	if ((int64_t)m->issued < due) {
		/* every sender busy: what is due is skipped, not owed */
		if (m->phase == M_MEASURE)
			m->late += (uint64_t)(due - (int64_t)m->issued);
		m->due_base -= due - (int64_t)m->issued;
	}
}

static void progress_cb(uv_timer_t *t)
{
	struct mp *m = t->data;

	bench_progress_tick(&m->prog, cf_mono_ns(), "acks", m->ok_all);
}

static void phase_timer_cb(uv_timer_t *t);

/* Start the warm-up or the measured window. */
static void start_phase(struct mp *m, enum mphase ph)
{
	m->phase = ph;
	m->due_base = (int64_t)m->issued;
	m->phase_ns = cf_mono_ns();
	if (ph == M_MEASURE) {
		__atomic_store_n(&m->sh->first_measured, m->issued,
				 __ATOMIC_RELEASE);
		bench_cpu_begin(m->o->cpu);
		m->t0 = m->phase_ns;
	}
	uv_timer_start(&m->phase_timer, phase_timer_cb,
		       (uint64_t)(ph == M_MEASURE ? m->o->seconds
						  : m->o->warmup) *
			       1000,
		       0);
	if (!uv_is_active((uv_handle_t *)&m->tick))
		uv_timer_start(&m->tick, tick_cb, 1, 1);
}

static void phase_timer_cb(uv_timer_t *t)
{
	struct mp *m = t->data;

	if (m->phase == M_WARMUP) {
		start_phase(m, M_MEASURE);
		return;
	}
	if (m->phase == M_MEASURE) {
		m->t1 = cf_mono_ns();
		uv_timer_stop(&m->tick);
		m->phase = M_DRAIN;
		if (m->in_flight == 0) {
			m->phase = M_DONE;
			uv_stop(&m->loop);
			return;
		}
		uv_timer_start(t, phase_timer_cb, DRAIN_MS, 0);
		return;
	}
	fprintf(stderr, "confab-bench: %llu sends unanswered after %d ms\n",
		(unsigned long long)m->in_flight, DRAIN_MS);
	m->phase = M_DONE;
	uv_stop(&m->loop);
}

/* ---- children ---- */

int bench_fanmp_fork(const struct bfmp_opts *o, unsigned members,
		     int leader, struct fmp_shared *sh, struct fmp_kid *kr)
{
	struct fmp_child c;
	int res[2], ctl[2];
	unsigned i, j;
	pid_t pid;

	for (i = 0; i < o->procs; i++) {
		if (pipe(res) != 0 || pipe(ctl) != 0) {
			fprintf(stderr, "confab-bench: pipe: %s\n",
				strerror(errno));
			return -1;
		}
		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			fprintf(stderr, "confab-bench: fork: %s\n",
				strerror(errno));
			return -1;
		}
		if (pid == 0) {
			close(res[0]);
			close(ctl[1]);
			for (j = 0; j < i; j++) {
				close(kr[j].res_fd);
				close(kr[j].ctl_fd);
			}
			memset(&c, 0, sizeof c);
			c.o = o;
			c.idx = i;
			c.first = (unsigned)((uint64_t)i * o->sockets / o->procs);
			c.count = (unsigned)((uint64_t)(i + 1) * o->sockets /
					     o->procs) -
				  c.first;
			c.members = members;
			c.leader = leader;
			c.sh = sh;
			c.res_fd = res[1];
			c.ctl_fd = ctl[0];
			_exit(bench_fanmp_child(&c));
		}
		close(res[1]);
		close(ctl[0]);
		kr[i].pid = pid;
		kr[i].res_fd = res[0];
		kr[i].ctl_fd = ctl[1];
	}
	return 0;
}

int bench_fanmp_reap(struct fmp_kid *kr, unsigned n)
{
	unsigned i;
	int st, rv = 0;

	for (i = 0; i < n; i++) {
		if (kr[i].pid <= 0)
			continue;
		close(kr[i].res_fd);
		close(kr[i].ctl_fd);
		while (waitpid(kr[i].pid, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "confab-bench: child %u failed\n", i);
			rv = -1;
		}
	}
	return rv;
}

/* ---- results ---- */

struct agg {
	uint32_t *lat[2];
	size_t n_lat[2];
	uint32_t *last[2]; /* per message: max over children */
	uint64_t deliveries, dup;
	uint32_t opened, failed, closed;
	double cpu_s;
};

static int read_results(struct mp *m, struct fmp_kid *kr, struct agg *a)
{
	uint64_t cap = m->sh->cap, q;
	uint32_t *tmp = malloc(cap * sizeof *tmp);
	unsigned i, s;
	uint32_t *p;

	if (tmp == NULL)
		oom();
	for (i = 0; i < m->o->procs; i++) {
		struct fmp_result *r = &kr[i].r;

		if (bench_fanmp_read(kr[i].res_fd, r, sizeof *r) != 0 ||
		    r->n_msgs != cap) {
			fprintf(stderr, "confab-bench: child %u sent no result\n",
				i);
			free(tmp);
			return -1;
		}
		for (s = 0; s < 2; s++) {
			p = realloc(a->lat[s],
				    (a->n_lat[s] + r->n_lat[s] + 1) * sizeof *p);
			if (p == NULL)
				oom();
			a->lat[s] = p;
			if (bench_fanmp_read(kr[i].res_fd, p + a->n_lat[s],
					     r->n_lat[s] * sizeof *p) != 0) {
				free(tmp);
				return -1;
			}
			a->n_lat[s] += r->n_lat[s];
		}
		for (s = 0; s < 2; s++) {
			if (bench_fanmp_read(kr[i].res_fd, tmp,
					     cap * sizeof *tmp) != 0) {
				free(tmp);
				return -1;
			}
			for (q = 0; q < cap; q++)
				if (tmp[q] > a->last[s][q])
					a->last[s][q] = tmp[q];
		}
		a->deliveries += r->deliveries;
		a->dup += r->dup;
		a->opened += r->opened;
		a->failed += r->failed;
		a->closed += r->closed;
		a->cpu_s += r->cpu_s;
	}
	free(tmp);
	return 0;
}

/* Per measured message, the latest delivery on side s (2: either). */
static void lasts(struct mp *m, const struct agg *a, int s, double *p50,
		  double *max)
{
	uint32_t *v = malloc((m->issued + 1) * sizeof *v), x;
	size_t n = 0;
	uint64_t k;

	if (v == NULL)
		oom();
	for (k = 0; k < m->issued; k++) {
		if (!m->measured[k])
			continue;
		x = s == 2 ? (a->last[0][k] > a->last[1][k] ? a->last[0][k]
							     : a->last[1][k])
			   : a->last[s][k];
		if (x > 0)
			v[n++] = x;
	}
	bench_lat_sort(v, n);
	*p50 = bench_lat_pct(v, n, 50);
	*max = bench_lat_pct(v, n, 100);
	free(v);
}

static void report(struct mp *m, struct agg *a)
{
	double secs = (double)(m->t1 - m->t0) / 1e9;
	double d50, d99, l50, l99, f50, f99, a50, a99, last, lmax, ll, lx,
		fl, fx, srv;
	uint64_t expected = m->sends * a->opened, nd;
	uint32_t *all;
	unsigned leader_sockets = 0, s;

	if (secs <= 0)
		secs = 1e-9;
	for (s = 0; s < m->o->sockets; s++)
		leader_sockets += (int)(s % m->o->n_targets) == m->leader;
	nd = a->n_lat[0] + a->n_lat[1];
	all = malloc((nd + 1) * sizeof *all);
	if (all == NULL)
		oom();
	memcpy(all, a->lat[0], a->n_lat[0] * sizeof *all);
	memcpy(all + a->n_lat[0], a->lat[1], a->n_lat[1] * sizeof *all);
	bench_lat_sort(all, nd);
	bench_lat_sort(a->lat[0], a->n_lat[0]);
	bench_lat_sort(a->lat[1], a->n_lat[1]);
	bench_lat_sort(m->ack.v, m->ack.n);
	d50 = bench_lat_pct(all, nd, 50);
	d99 = bench_lat_pct(all, nd, 99);
	l50 = bench_lat_pct(a->lat[0], a->n_lat[0], 50);
	l99 = bench_lat_pct(a->lat[0], a->n_lat[0], 99);
	f50 = bench_lat_pct(a->lat[1], a->n_lat[1], 50);
	f99 = bench_lat_pct(a->lat[1], a->n_lat[1], 99);
	a50 = bench_lat_pct(m->ack.v, m->ack.n, 50);
	a99 = bench_lat_pct(m->ack.v, m->ack.n, 99);
	lasts(m, a, 2, &last, &lmax);
	lasts(m, a, 0, &ll, &lx);
	lasts(m, a, 1, &fl, &fx);
	free(all);
	printf("{\"mode\":\"fanout\",\"procs\":%u,\"sockets\":%u,\"open\":%u,"
	       "\"failed\":%u,\"closed\":%u,\"members\":%u,\"devices\":%u,"
	       "\"groups\":1,\"nodes\":%u,\"leader\":%d,\"rate\":%u,"
	       "\"seconds\":%.3f,\"sends\":%llu,\"ops_s\":%.1f,"
	       "\"ack_p50_ms\":%.3f,\"ack_p99_ms\":%.3f,\"deliveries\":%llu,"
	       "\"expected\":%llu,\"missing\":%llu,\"dup\":%llu,"
	       "\"deliv_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
	       "\"last_ms\":%.3f,\"last_max_ms\":%.3f,\"leader_sockets\":%u,"
	       "\"leader_p50_ms\":%.3f,\"leader_p99_ms\":%.3f,"
	       "\"leader_last_ms\":%.3f,\"follower_p50_ms\":%.3f,"
	       "\"follower_p99_ms\":%.3f,\"follower_last_ms\":%.3f,"
	       "\"late\":%llu,\"errors\":%llu,\"total\":%llu,"
	       "\"children_cpu_s\":%.3f,",
	       m->o->procs, m->o->sockets, a->opened, a->failed, a->closed,
	       m->members, m->devices, m->o->n_targets, m->leader, m->o->rate,
	       secs, (unsigned long long)m->sends, (double)m->sends / secs,
	       a50, a99, (unsigned long long)a->deliveries,
	       (unsigned long long)expected,
	       (unsigned long long)(expected > a->deliveries
					    ? expected - a->deliveries
					    : 0),
	       (unsigned long long)a->dup, (double)a->deliveries / secs, d50,
	       d99, last, lmax, leader_sockets, l50, l99, ll, f50, f99, fl,
	       (unsigned long long)m->late, (unsigned long long)m->errors,
	       (unsigned long long)m->total, a->cpu_s);
	bench_cpu_json(m->o->cpu, stdout, m->sends, a->cpu_s);
	srv = bench_cpu_server_s(m->o->cpu);
	if (srv >= 0)
		printf(",\"server_cpu_us_per_delivery\":%.3f",
		       a->deliveries > 0 ? srv * 1e6 / (double)a->deliveries
					 : 0);
	printf("}\n");
	fflush(stdout);
	fprintf(stderr,
		"confab-bench: fanout to %u sockets (%u members x %u devices, "
		"one group) over %u node(s) and %u processes: %llu messages, "
		"send->delivery p50 %.2f p99 %.2f ms, last delivery p50 %.2f "
		"ms (max %.2f); leader sockets p50 %.2f last %.2f ms, "
		"follower sockets p50 %.2f last %.2f ms; %llu/%llu delivered; "
		"client CPU %.2f s in the children\n",
		a->opened, m->members, m->devices, m->o->n_targets,
		m->o->procs, (unsigned long long)m->sends, d50, d99, last, lmax,
		l50, ll, f50, fl, (unsigned long long)a->deliveries,
		(unsigned long long)expected, a->cpu_s);
}

/* ---- run ---- */

static int run_loop_setup(struct mp *m)
{
	unsigned i;

	m->probe = calloc(m->o->n_targets, sizeof *m->probe);
	if (m->probe == NULL)
		oom();
	bh_conn_init(&m->ctl, &m->loop, &m->o->targets[0]);
	m->phase = M_ROLES;
	m->roles_left = m->o->n_targets;
	for (i = 0; i < m->o->n_targets; i++) {
		bh_conn_init(&m->probe[i], &m->loop, &m->o->targets[i]);
		m->probe[i].data = m;
		if (bh_conn_request(&m->probe[i], "GET", "/v1/cluster", NULL,
				    NULL, 0, role_done) != 0)
			oom();
	}
	uv_run(&m->loop, UV_RUN_DEFAULT);
	for (i = 0; i < m->o->n_targets; i++)
		bh_conn_close(&m->probe[i]);
	bh_conn_close(&m->ctl);
	uv_run(&m->loop, UV_RUN_DEFAULT);
	for (i = 0; i < m->o->n_targets; i++)
		bh_conn_release(&m->probe[i]);
	bh_conn_release(&m->ctl);
	free(m->probe);
	return m->failed ? -1 : 0;
}

static void run_loop_send(struct mp *m)
{
	const struct bh_target *t =
		&m->o->targets[m->leader >= 0 ? m->leader : 0];
	unsigned i;

	uv_timer_init(&m->loop, &m->tick);
	uv_timer_init(&m->loop, &m->phase_timer);
	uv_timer_init(&m->loop, &m->progress_timer);
	m->tick.data = m->phase_timer.data = m->progress_timer.data = m;
	for (i = 0; i < SENDERS; i++) {
		bh_conn_init(&m->snd[i].http, &m->loop, t);
		m->idle[m->n_idle++] = SENDERS - 1 - i;
	}
	bench_progress_init(&m->prog, cf_mono_ns(),
			    (double)m->o->warmup + m->o->seconds);
	uv_timer_start(&m->progress_timer, progress_cb, 1000, 1000);
	start_phase(m, m->o->warmup > 0 ? M_WARMUP : M_MEASURE);
	uv_run(&m->loop, UV_RUN_DEFAULT);
	for (i = 0; i < SENDERS; i++)
		bh_conn_close(&m->snd[i].http);
	uv_close((uv_handle_t *)&m->tick, NULL);
	uv_close((uv_handle_t *)&m->phase_timer, NULL);
	uv_close((uv_handle_t *)&m->progress_timer, NULL);
	uv_run(&m->loop, UV_RUN_DEFAULT);
	for (i = 0; i < SENDERS; i++)
		bh_conn_release(&m->snd[i].http);
}

int bench_fanmp_run(const struct bfmp_opts *o)
{
	struct fmp_kid kr[MAX_PROCS];
	struct fmp_stop st;
	struct agg a;
	struct mp *m;
	uint64_t cap;
	unsigned i;
	int rv = 1, ok = 0;

	if (o->procs == 0 || o->procs > MAX_PROCS || o->procs > o->sockets ||
	    o->rate == 0 || o->group_max < 2) {
		fprintf(stderr, "confab-bench: --procs must be 1..%d and at "
				"most --fanout\n",
			MAX_PROCS);
		return 2;
	}
	m = calloc(1, sizeof *m);
	if (m == NULL)
		oom();
	memset(kr, 0, sizeof kr);
	memset(&a, 0, sizeof a);
	m->o = o;
	m->leader = -1;
	m->members = o->sockets < o->group_max ? o->sockets : o->group_max;
	m->devices = (o->sockets + m->members - 1) / m->members;
	cap = (uint64_t)o->rate * (o->warmup + o->seconds + 1) + 64;
	m->sh_len = sizeof *m->sh + cap * sizeof(uint64_t);
	m->sh = mmap(NULL, m->sh_len, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	m->measured = calloc(cap, 1);
	a.last[0] = calloc(cap, sizeof(uint32_t));
	a.last[1] = calloc(cap, sizeof(uint32_t));
	m->content = malloc(o->size + 1);
	if (m->sh == MAP_FAILED || m->measured == NULL || a.last[0] == NULL ||
	    a.last[1] == NULL || m->content == NULL)
		oom();
	m->sh->cap = cap;
	m->sh->first_measured = UINT64_MAX; /* until the window opens */
	for (i = 0; i < o->size; i++)
		m->content[i] = (char)('a' + i % 26);
	m->content[o->size] = '\0';
	cf_buf_init(&m->body);
	/* One loop for the set-up, closed before the fork; one after. */
	if (uv_loop_init(&m->loop) != 0)
		goto out;
	i = run_loop_setup(m) != 0;
	if (uv_loop_close(&m->loop) != 0 || i)
		goto out;
	if (bench_fanmp_fork(o, m->members, m->leader, m->sh, kr) != 0)
		goto out;
	for (i = 0; i < o->procs; i++)
		if (bench_fanmp_read(kr[i].res_fd, &kr[i].rd,
				     sizeof kr[i].rd) != 0) {
			fprintf(stderr, "confab-bench: child %u failed to "
					"start\n", i);
			goto out;
		}
	usleep(SETTLE_MS * 1000);
	if (uv_loop_init(&m->loop) != 0)
		goto out;
	run_loop_send(m);
	uv_loop_close(&m->loop);
	st.ok_all = m->ok_all;
	st.n_msgs = m->issued;
	for (i = 0; i < o->procs; i++)
		if (bench_fanmp_write(kr[i].ctl_fd, &st, sizeof st) != 0)
			goto out;
	if (read_results(m, kr, &a) != 0)
		goto out;
	bench_cpu_end(o->cpu);
	ok = 1;
out:
	if (bench_fanmp_reap(kr, o->procs) != 0)
		ok = 0;
	if (ok && a.opened > 0) {
		report(m, &a);
		rv = 0;
	} else if (ok) {
		fprintf(stderr, "confab-bench: no socket opened\n");
	}
	munmap(m->sh, m->sh_len);
	cf_buf_release(&m->body);
	free(a.lat[0]);
	free(a.lat[1]);
	free(a.last[0]);
	free(a.last[1]);
	free(m->ack.v);
	free(m->measured);
	free(m->content);
	free(m);
	return rv;
}
