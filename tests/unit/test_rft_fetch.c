#include "config.h"

/*
 * rft_fetch over real peer links on a loopback address of its own: two rft_peer managers (nodes
 * 1 and 2) on one uv loop, each with an rft_fetch serving its own store.
 * Stores are filled through the real log_store API with the same
 * deterministic entries, one further than the other, and small segments so
 * that partitions have sealed and hot segments. Every loop run is bounded
 * in turns and time.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "common/cf_buf.h"
#include "common/cf_err.h"
#include "log/log_manifest.h"
#include "log/log_segment.h"
#include "log/log_store.h"
#include "raft/rft_fetch.h"
#include "raft/rft_worker.h"
#include "../lib/cf_test_ports.h"

#define N 2
#define PARTS 4
#define SEAL (48u << 10) /* small segments: several per partition */
#define CHUNK (8u << 10) /* records straddle chunks */
#define AHEAD 1500u	 /* entries of the store ahead */
#define BEHIND 600u	 /* entries of the lagging store */
#define SECRET "fetch test secret"

struct node {
	struct fixture *f;
	struct rft_peer_mgr mgr;
	struct cf_cluster cluster;
	struct rft_fetch *fetch;
	bool running;
	bool closed;
	bool up[N + 1];
};

struct fixture {
	uv_loop_t loop;
	uv_timer_t guard;
	struct rft_worker worker;
	int ports[N + 1];
	struct node nodes[N + 1];
	char base[64];
	char dir[N + 2][96]; /* dir[1], dir[2]: served stores; dir[3]: empty */
	bool done;
	int status;
	uint64_t applied;
	bool fetch_closed;
	/* Raw requests sent by a test (reqIds from RAW_REQ on). */
	uint8_t raw_type;
	int raw_status;
	struct cf_buf raw_body;
	bool raw_done;
	unsigned close_after; /* close node 1's fetch on its nth request */
	unsigned close_serving; /* reads in flight then */
};

#define RAW_REQ (1ull << 40)

static const struct rft_peer_timing fast = {.ping_ms = 50,
					    .dead_ms = 300,
					    .backoff_min_ms = 10,
					    .backoff_max_ms = 100};

/* ------------------------------------------------------------ stores */

static int rm_cb(const char *p, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void store_opts(struct log_store_opts *o, const char *dir)
{
	memset(o, 0, sizeof(*o));
	o->dir = dir;
	o->partitions = PARTS;
	o->seal_bytes = SEAL;
}

/* Append entries [from, to] (deterministic), checkpoint at to. */
static void fill(const char *dir, unsigned from, unsigned to)
{
	char errmsg[CF_ERRMSG_SIZE];
	struct log_store_opts o;
	struct log_store *s;
	char conv[16];
	char body[600];

	store_opts(&o, dir);
	assert_int_equal(log_store_open(&s, &o, NULL, NULL, errmsg), 0);
	assert_int_equal(log_store_applied_index(s), from - 1);
	for (unsigned i = from; i <= to; i++) {
		for (unsigned k = 0; k < 2; k++) {
			struct log_record r;
			size_t blen = 40 + (i * 37 + k * 101) % 500;

			snprintf(conv, sizeof(conv), "c%u", (i * 7 + k) % 23);
			for (size_t b = 0; b < blen; b++)
				body[b] = (char)('a' + (i + b) % 26);
			memset(&r, 0, sizeof(r));
			r.kind = LOG_REC_MESSAGE;
			r.raft_index = i;
			r.message_id = (uint64_t)i * 65536 + k;
			r.seq = log_store_last_seq(s, cf_str_c(conv)) + 1;
			r.ts = 1000 + i;
			r.conv = cf_str_c(conv);
			r.sender = CF_STR_LIT("alice");
			r.msg_type = CF_STR_LIT("text");
			r.body.p = body;
			r.body.len = blen;
			assert_int_equal(log_store_append(s, &r), 0);
		}
		assert_int_equal(log_store_commit(s), 0);
		if (i % 500 == 0)
			assert_int_equal(log_store_checkpoint(s, i, errmsg), 0);
	}
	assert_int_equal(log_store_checkpoint(s, to, errmsg), 0);
	log_store_close(s);
}

struct summary {
	uint64_t applied;
	uint64_t records;
	uint64_t hash;
};

static int sum_cb(void *arg, const struct log_record *rec)
{
	struct summary *sm = arg;
	uint64_t v[4] = {rec->raft_index, rec->message_id, rec->seq,
			 XXH3_64bits(rec->body.p, rec->body.len)};

	sm->records++;
	sm->hash = XXH3_64bits_withSeed(v, sizeof(v), sm->hash);
	return 0;
}

static void summarize(const char *dir, struct summary *sm)
{
	char errmsg[CF_ERRMSG_SIZE];
	struct log_store_opts o;
	struct log_store *s;

	memset(sm, 0, sizeof(*sm));
	store_opts(&o, dir);
	assert_int_equal(log_store_open(&s, &o, sum_cb, sm, errmsg), 0);
	sm->applied = log_store_applied_index(s);
	log_store_close(s);
}

static void read_file(const char *path, struct cf_buf *out)
{
	char tmp[65536];
	ssize_t r;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	out->len = 0;
	while ((r = read(fd, tmp, sizeof(tmp))) > 0)
		assert_int_equal(cf_buf_append(out, tmp, (size_t)r), 0);
	assert_true(r == 0);
	close(fd);
}

static void seg_path(char *path, size_t n, const char *dir, unsigned part,
		     uint32_t segno)
{
	char pn[LOG_SEG_NAME];
	char sn[LOG_SEG_NAME];

	log_segment_part_name(pn, part);
	log_segment_name(sn, segno);
	snprintf(path, n, "%s/%s/%s", dir, pn, sn);
}

static void load_manifest(const char *dir, struct log_manifest *m)
{
	char errmsg[CF_ERRMSG_SIZE];
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	assert_true(fd >= 0);
	log_manifest_init(m);
	assert_int_equal(log_manifest_load(fd, m, errmsg), 0);
	close(fd);
}

/* Both stores: same MANIFEST bytes, same bytes in every named segment. */
static void assert_identical(const char *a, const char *b)
{
	struct cf_buf x = CF_BUF_INIT;
	struct cf_buf y = CF_BUF_INIT;
	struct log_manifest m;
	char pa[256];
	char pb[256];

	snprintf(pa, sizeof(pa), "%s/%s", a, LOG_MANIFEST_NAME);
	snprintf(pb, sizeof(pb), "%s/%s", b, LOG_MANIFEST_NAME);
	read_file(pa, &x);
	read_file(pb, &y);
	assert_int_equal(x.len, y.len);
	assert_memory_equal(x.data, y.data, x.len);
	load_manifest(a, &m);
	assert_true(m.nsegs > PARTS); /* sealed segments exist */
	for (size_t i = 0; i < m.nsegs; i++) {
		seg_path(pa, sizeof(pa), a, m.segs[i].partition,
			 m.segs[i].segno);
		seg_path(pb, sizeof(pb), b, m.segs[i].partition,
			 m.segs[i].segno);
		read_file(pa, &x);
		read_file(pb, &y);
		assert_int_equal(x.len, m.segs[i].length);
		assert_int_equal(y.len, m.segs[i].length);
		assert_memory_equal(x.data, y.data, x.len);
	}
	log_manifest_release(&m);
	cf_buf_release(&x);
	cf_buf_release(&y);
}

static void assert_same_content(const char *a, const char *b)
{
	struct summary sa;
	struct summary sb;

	summarize(a, &sa);
	summarize(b, &sb);
	assert_int_equal(sa.applied, sb.applied);
	assert_int_equal(sa.records, sb.records);
	assert_true(sa.hash == sb.hash);
}

/* --------------------------------------------------------------- links */

/* The loopback address of this run's ports (tests/lib/cf_test_ports.h). */
static char tip[16];

/* n ports on a loopback address of this test's own, outside the ephemeral
 * range, held until the configuration is made (cf_test_ports.h). */
static void pick_ports(int *ports, int n)
{
	assert_int_equal(cf_test_ports_pick(tip, ports, (unsigned)n), 0);
}

static void fetch_closed_cb(void *arg);

static void on_msg(struct rft_peer_mgr *mgr, unsigned from, uint8_t type,
		   uint64_t req_id, const void *body, size_t len)
{
	struct node *nd = mgr->data;
	struct fixture *f = nd->f;

	if (req_id >= RAW_REQ && type % 2 == 1) {
		assert_true(len >= 4);
		f->raw_type = type;
		f->raw_status = (int32_t)cf_get_u32(body);
		f->raw_body.len = 0;
		assert_int_equal(cf_buf_append(&f->raw_body,
					       (const char *)body + 4, len - 4),
				 0);
		f->raw_done = true;
		return;
	}
	if (nd->fetch == NULL)
		return; /* closed by the test */
	assert_true(rft_fetch_on_msg(nd->fetch, from, type, req_id, body,
				     len));
	if (nd == &f->nodes[1] && f->close_after > 0 &&
	    --f->close_after == 0) {
		struct rft_fetch_stats st;

		rft_fetch_get_stats(nd->fetch, &st);
		f->close_serving = (unsigned)st.serving;
		f->fetch_closed = false;
		rft_fetch_close(nd->fetch, fetch_closed_cb, f);
		assert_false(f->fetch_closed);
		nd->fetch = NULL;
	}
}

static void on_state(struct rft_peer_mgr *mgr, unsigned node, bool up)
{
	struct node *nd = mgr->data;

	nd->up[node] = up;
	if (nd->fetch != NULL)
		rft_fetch_on_peer_state(nd->fetch, node, up);
}

static void on_closed(struct rft_peer_mgr *mgr)
{
	struct node *nd = mgr->data;

	nd->closed = true;
}

static void guard_cb(uv_timer_t *t)
{
	(void)t;
}

typedef bool (*pred_fn)(struct fixture *f);

static bool run_until(struct fixture *f, pred_fn pred, unsigned timeout_ms)
{
	uint64_t end;

	uv_update_time(&f->loop);
	end = uv_now(&f->loop) + timeout_ms;
	uv_timer_start(&f->guard, guard_cb, 5, 5);
	for (unsigned turns = 0; turns < 400000; turns++) {
		if (pred(f))
			break;
		uv_update_time(&f->loop);
		if (uv_now(&f->loop) >= end)
			break;
		uv_run(&f->loop, UV_RUN_ONCE);
	}
	uv_timer_stop(&f->guard);
	return pred(f);
}

static void mgr_start(struct fixture *f, unsigned id)
{
	struct node *nd = &f->nodes[id];
	struct cf_cluster *c = &nd->cluster;

	memset(c, 0, sizeof(*c));
	c->n_nodes = N;
	c->partitions = PARTS;
	for (unsigned i = 0; i < N; i++) {
		c->nodes[i].id = i + 1;
		snprintf(c->nodes[i].peer_addr, CF_ADDR_SIZE, "%s:%d", tip,
			 f->ports[i + 1]);
		snprintf(c->nodes[i].raft_addr, CF_ADDR_SIZE, "127.0.0.1:1");
	}
	c->secret_len = (unsigned)strlen(SECRET);
	memcpy(c->secret, SECRET, c->secret_len);
	nd->closed = false;
	memset(nd->up, 0, sizeof(nd->up));
	assert_int_equal(rft_peer_mgr_init(&nd->mgr, &f->loop, c, id, on_msg,
					   on_state, nd),
			 0);
	rft_peer_mgr_set_timing(&nd->mgr, &fast);
	assert_int_equal(rft_peer_mgr_start(&nd->mgr), 0);
	nd->running = true;
}

static bool node1_closed(struct fixture *f)
{
	return f->nodes[1].closed;
}

static bool node2_closed(struct fixture *f)
{
	return f->nodes[2].closed;
}

static void mgr_stop(struct fixture *f, unsigned id)
{
	struct node *nd = &f->nodes[id];

	rft_peer_mgr_close(&nd->mgr, on_closed);
	nd->running = false;
	assert_true(run_until(f, id == 1 ? node1_closed : node2_closed, 5000));
}

static bool linked(struct fixture *f)
{
	return f->nodes[1].running && f->nodes[2].running &&
	       f->nodes[1].up[2] && f->nodes[2].up[1];
}

/* Both nodes with a fetch serving dir[id], links up. */
static void start_nodes(struct fixture *f)
{
	char errmsg[CF_ERRMSG_SIZE];

	for (unsigned id = 1; id <= N; id++) {
		struct rft_fetch_opts o = {.store_dir = f->dir[id],
					   .worker = &f->worker,
					   .chunk_bytes = CHUNK,
					   .timeout_ms = 2000};
		assert_int_equal(rft_fetch_create(&f->nodes[id].fetch, &f->loop,
						  &f->nodes[id].mgr, &o,
						  errmsg),
				 0);
		mgr_start(f, id);
	}
	assert_true(run_until(f, linked, 5000));
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	for (unsigned id = 1; id <= N; id++)
		f->nodes[id].f = f;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(uv_timer_init(&f->loop, &f->guard), 0);
	/* One worker thread serves both nodes' fetches. */
	assert_int_equal(rft_worker_init(&f->worker, &f->loop, 64), 0);
	pick_ports(f->ports + 1, N);
	strcpy(f->base, "/tmp/test_rft_fetch.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->dir[1], sizeof(f->dir[1]), "%s/ahead", f->base);
	snprintf(f->dir[2], sizeof(f->dir[2]), "%s/behind", f->base);
	snprintf(f->dir[3], sizeof(f->dir[3]), "%s/empty", f->base);
	fill(f->dir[1], 1, AHEAD);
	fill(f->dir[2], 1, BEHIND);
	*state = f;
	return 0;
}

static void fetch_closed_cb(void *arg)
{
	struct fixture *f = arg;

	f->fetch_closed = true;
}

static bool fetch_is_closed(struct fixture *f)
{
	return f->fetch_closed;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (unsigned id = 1; id <= N; id++) {
		if (f->nodes[id].running)
			mgr_stop(f, id);
		if (f->nodes[id].fetch != NULL) {
			f->fetch_closed = false;
			rft_fetch_close(f->nodes[id].fetch, fetch_closed_cb, f);
			assert_false(f->fetch_closed);
			assert_true(run_until(f, fetch_is_closed, 2000));
		}
	}
	rft_worker_close(&f->worker, NULL);
	uv_close((uv_handle_t *)&f->guard, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	nftw(f->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	cf_buf_release(&f->raw_body);
	free(f);
	return 0;
}

/* ------------------------------------------------------------- fetches */

static void fetch_cb(struct rft_fetch *fe, int status, uint64_t applied,
		     void *arg)
{
	struct fixture *f = arg;

	(void)fe;
	assert_false(f->done);
	f->done = true;
	f->status = status;
	f->applied = applied;
}

static bool fetch_done(struct fixture *f)
{
	return f->done;
}

/* Node `by` fetches from the other node into dest; the callback status. */
static int fetch(struct fixture *f, unsigned by, const char *dest,
		 uint64_t min_applied)
{
	f->done = false;
	assert_int_equal(rft_fetch_start(f->nodes[by].fetch, 3 - by, dest,
					 min_applied, fetch_cb, f),
			 0);
	assert_false(f->done); /* never from inside start */
	assert_true(rft_fetch_running(f->nodes[by].fetch));
	assert_true(run_until(f, fetch_done, 10000));
	assert_false(rft_fetch_running(f->nodes[by].fetch));
	return f->status;
}

static void lagging_store_becomes_byte_identical(void **state)
{
	struct fixture *f = *state;
	struct rft_fetch_stats st;

	start_nodes(f);
	assert_int_equal(fetch(f, 2, f->dir[2], AHEAD), 0);
	assert_int_equal(f->applied, AHEAD);
	assert_identical(f->dir[1], f->dir[2]);
	assert_same_content(f->dir[1], f->dir[2]);
	rft_fetch_get_stats(f->nodes[2].fetch, &st);
	assert_int_equal(st.done, 1);
	assert_true(st.bytes > 0);
	/* Nothing is missing any more: a second fetch moves no byte. */
	assert_int_equal(fetch(f, 2, f->dir[2], AHEAD), 0);
	rft_fetch_get_stats(f->nodes[2].fetch, &st);
	assert_int_equal(st.done, 2);
	assert_identical(f->dir[1], f->dir[2]);
}

static void empty_store_gets_everything(void **state)
{
	struct fixture *f = *state;

	start_nodes(f);
	assert_int_equal(fetch(f, 2, f->dir[3], 0), 0);
	assert_identical(f->dir[1], f->dir[3]);
	assert_same_content(f->dir[1], f->dir[3]);
}

static void fetched_store_appends_like_its_source(void **state)
{
	struct fixture *f = *state;

	start_nodes(f);
	assert_int_equal(fetch(f, 2, f->dir[2], 0), 0);
	fill(f->dir[1], AHEAD + 1, AHEAD + 200);
	fill(f->dir[2], AHEAD + 1, AHEAD + 200);
	assert_identical(f->dir[1], f->dir[2]);
}

static void peer_below_min_applied_answers_eagain(void **state)
{
	struct fixture *f = *state;
	struct summary before;
	struct summary after;

	start_nodes(f);
	summarize(f->dir[2], &before);
	assert_int_equal(fetch(f, 2, f->dir[2], AHEAD + 1), -EAGAIN);
	assert_non_null(strstr(rft_fetch_errmsg(f->nodes[2].fetch),
			       "below"));
	/* A peer behind the local checkpoint is refused the same way. */
	assert_int_equal(fetch(f, 1, f->dir[1], 0), -EAGAIN);
	summarize(f->dir[2], &after);
	assert_int_equal(after.applied, BEHIND);
	assert_true(before.hash == after.hash);
}

static bool fetching_started(struct fixture *f)
{
	struct rft_fetch_stats st;

	rft_fetch_get_stats(f->nodes[2].fetch, &st);
	return st.bytes > 0 || f->done;
}

static void peer_lost_mid_fetch_fails_then_a_new_fetch_completes(void **state)
{
	struct fixture *f = *state;
	struct summary sm;

	start_nodes(f);
	f->done = false;
	assert_int_equal(rft_fetch_start(f->nodes[2].fetch, 1, f->dir[2], 0,
					 fetch_cb, f),
			 0);
	assert_true(run_until(f, fetching_started, 5000));
	assert_false(f->done);
	mgr_stop(f, 1);
	assert_true(run_until(f, fetch_done, 5000));
	assert_true(f->status == CF_EUNAVAIL || f->status == CF_ETIMEDOUT);
	/* The old checkpoint is still in force and opens. */
	summarize(f->dir[2], &sm);
	assert_int_equal(sm.applied, BEHIND);
	mgr_start(f, 1);
	assert_true(run_until(f, linked, 5000));
	assert_int_equal(fetch(f, 2, f->dir[2], AHEAD), 0);
	assert_identical(f->dir[1], f->dir[2]);
	assert_same_content(f->dir[1], f->dir[2]);
}

static void start_refuses_a_down_link_and_a_second_fetch(void **state)
{
	struct fixture *f = *state;

	start_nodes(f);
	f->done = false;
	assert_int_equal(rft_fetch_start(f->nodes[2].fetch, 1, f->dir[2], 0,
					 fetch_cb, f),
			 0);
	assert_int_equal(rft_fetch_start(f->nodes[2].fetch, 1, f->dir[3], 0,
					 fetch_cb, f),
			 CF_ECONFLICT);
	assert_true(run_until(f, fetch_done, 10000));
	assert_int_equal(f->status, 0);
	mgr_stop(f, 1);
	assert_int_equal(rft_fetch_start(f->nodes[2].fetch, 1, f->dir[3], 0,
					 fetch_cb, f),
			 CF_EUNAVAIL);
}

/* Flip one byte of the local store's checkpointed prefix. */
static void damage(const char *dir, unsigned part, uint32_t segno,
		   uint64_t off)
{
	char path[256];
	uint8_t b;
	int fd;

	seg_path(path, sizeof(path), dir, part, segno);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x01;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

static void corrupted_local_prefix_is_refused(void **state)
{
	struct fixture *f = *state;
	struct cf_buf before = CF_BUF_INIT;
	struct cf_buf after = CF_BUF_INIT;
	struct log_manifest m;
	char path[256];

	start_nodes(f);
	load_manifest(f->dir[2], &m);
	/* The last segment of partition 1: the hot one, with a tail. */
	for (size_t i = 0; i < m.nsegs; i++)
		if (m.segs[i].partition == 1)
			damage(f->dir[2], 1, m.segs[i].segno,
			       m.segs[i].length / 2);
	log_manifest_release(&m);
	snprintf(path, sizeof(path), "%s/%s", f->dir[2], LOG_MANIFEST_NAME);
	read_file(path, &before);
	assert_int_equal(fetch(f, 2, f->dir[2], 0), CF_ECORRUPT);
	assert_non_null(strstr(rft_fetch_errmsg(f->nodes[2].fetch),
			       "differs"));
	read_file(path, &after);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.data, after.data, before.len);
	cf_buf_release(&before);
	cf_buf_release(&after);
}

static void chunk_corrupted_in_flight_is_refused(void **state)
{
	struct fixture *f = *state;
	struct summary sm;

	start_nodes(f);
	rft_fetch_test_corrupt_ranges(f->nodes[1].fetch, 1);
	assert_int_equal(fetch(f, 2, f->dir[2], 0), CF_ECORRUPT);
	assert_non_null(strstr(rft_fetch_errmsg(f->nodes[2].fetch),
			       "bad record"));
	summarize(f->dir[2], &sm);
	assert_int_equal(sm.applied, BEHIND);
	/* The hook damaged one answer only: a new fetch completes. */
	assert_int_equal(fetch(f, 2, f->dir[2], 0), 0);
	assert_identical(f->dir[1], f->dir[2]);
}

static void segment_gone_on_peer_is_not_found(void **state)
{
	struct fixture *f = *state;
	char errmsg[CF_ERRMSG_SIZE];
	struct log_manifest m;
	struct log_manifest cut;
	int fd;

	/* The peer's manifest no longer names partition 0's first segment,
	 * as after a compaction. */
	load_manifest(f->dir[1], &m);
	log_manifest_init(&cut);
	cut.partitions = m.partitions;
	cut.applied_index = m.applied_index;
	for (size_t i = 0; i < m.nsegs; i++)
		if (m.segs[i].partition != 0 || m.segs[i].segno != 1)
			assert_int_equal(log_manifest_add(&cut,
							  m.segs[i].partition,
							  m.segs[i].segno,
							  m.segs[i].length,
							  m.segs[i].sealed),
					 0);
	assert_int_equal(cut.nsegs + 1, m.nsegs);
	fd = open(f->dir[1], O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(log_manifest_save(fd, &cut, errmsg), 0);
	close(fd);
	log_manifest_release(&m);
	log_manifest_release(&cut);
	start_nodes(f);
	assert_int_equal(fetch(f, 2, f->dir[2], 0), CF_ENOTFOUND);
}

/* The other node's last checkpoint is later than ours, but our own
 * checkpointed segment is longer than its: divergence. */
static void local_segment_longer_than_peer_is_corrupt(void **state)
{
	struct fixture *f = *state;
	char errmsg[CF_ERRMSG_SIZE];
	struct log_manifest m;
	int fd;

	start_nodes(f);
	assert_int_equal(fetch(f, 2, f->dir[2], 0), 0);
	fill(f->dir[2], AHEAD + 1, AHEAD + 40);
	load_manifest(f->dir[2], &m);
	m.applied_index = AHEAD;
	fd = open(f->dir[2], O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(log_manifest_save(fd, &m, errmsg), 0);
	close(fd);
	log_manifest_release(&m);
	assert_int_equal(fetch(f, 2, f->dir[2], 0), CF_ECORRUPT);
	assert_non_null(strstr(rft_fetch_errmsg(f->nodes[2].fetch), "local"));
}

static bool raw_answered(struct fixture *f)
{
	return f->raw_done;
}

/* Node 2 sends one raw request to node 1; the answer's status. */
static int raw(struct fixture *f, uint8_t type, uint32_t part, uint32_t segno,
	       uint64_t off, uint64_t len)
{
	static uint64_t next = RAW_REQ;
	uint8_t b[24];

	cf_put_u32(b, part);
	cf_put_u32(b + 4, segno);
	cf_put_u64(b + 8, off);
	cf_put_u64(b + 16, len);
	f->raw_done = false;
	assert_int_equal(rft_peer_send(&f->nodes[2].mgr, 1, type, next++, b,
				       type == RFT_FETCH_MSG_MANIFEST ? 0
								      : 24),
			 0);
	assert_true(run_until(f, raw_answered, 5000));
	assert_int_equal(f->raw_type, type + 1);
	return f->raw_status;
}

/* Commit records without a checkpoint (the store is a node's, running). */
static void append_uncheckpointed(const char *dir)
{
	char errmsg[CF_ERRMSG_SIZE];
	struct log_store_opts o;
	struct log_store *s;
	struct log_record r;

	store_opts(&o, dir);
	assert_int_equal(log_store_open(&s, &o, NULL, NULL, errmsg), 0);
	for (unsigned i = 0; i < 200; i++) {
		memset(&r, 0, sizeof(r));
		r.kind = LOG_REC_MESSAGE;
		r.raft_index = AHEAD + 1 + i;
		r.message_id = (uint64_t)r.raft_index * 65536;
		r.conv = CF_STR_LIT("c1");
		r.seq = log_store_last_seq(s, r.conv) + 1;
		r.ts = 5000;
		r.body = CF_STR_LIT("not checkpointed yet");
		assert_int_equal(log_store_append(s, &r), 0);
		assert_int_equal(log_store_commit(s), 0);
	}
	log_store_close(s); /* no checkpoint: the tail is not durable */
}

static void server_answers_only_within_its_checkpoint(void **state)
{
	struct fixture *f = *state;
	struct cf_buf file = CF_BUF_INIT;
	struct log_manifest m;
	struct log_manifest got;
	char errmsg[CF_ERRMSG_SIZE];
	const struct log_manifest_seg *last;
	uint32_t part = (uint32_t)(XXH3_64bits("c1", 2) % PARTS);
	char path[256];
	struct stat st;

	load_manifest(f->dir[1], &m);
	append_uncheckpointed(f->dir[1]);
	start_nodes(f);
	assert_int_equal(raw(f, RFT_FETCH_MSG_MANIFEST, 0, 0, 0, 0), 0);
	log_manifest_init(&got);
	assert_int_equal(log_manifest_decode(f->raw_body.data, f->raw_body.len,
					     &got, errmsg),
			 0);
	assert_int_equal(got.applied_index, AHEAD);
	assert_int_equal(got.nsegs, m.nsegs);
	/* The hot segment of c1's partition has bytes past the checkpoint. */
	last = NULL;
	for (size_t i = 0; i < m.nsegs; i++)
		if (m.segs[i].partition == part)
			last = &m.segs[i];
	assert_non_null(last);
	seg_path(path, sizeof(path), f->dir[1], part, last->segno);
	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_size > last->length);
	assert_int_equal(raw(f, RFT_FETCH_MSG_RANGE, part, last->segno,
			     last->length - 100, 101),
			 CF_EBADREQ);
	assert_int_equal(raw(f, RFT_FETCH_MSG_RANGE, part, last->segno,
			     last->length, 1),
			 CF_EBADREQ);
	assert_int_equal(raw(f, RFT_FETCH_MSG_SUM, part, last->segno, 0,
			     last->length + 1),
			 CF_EBADREQ);
	assert_int_equal(raw(f, RFT_FETCH_MSG_RANGE, 0, 1, 0,
			     RFT_FETCH_CHUNK_MAX + 1),
			 CF_EBADREQ);
	assert_int_equal(raw(f, RFT_FETCH_MSG_RANGE, 0, 1, 0, 0), CF_EBADREQ);
	assert_int_equal(raw(f, RFT_FETCH_MSG_RANGE, PARTS, 1, 0, 32),
			 CF_EBADREQ);
	assert_int_equal(raw(f, RFT_FETCH_MSG_RANGE, 0, 9999, 0, 32),
			 CF_ENOTFOUND);
	/* The last 100 checkpointed bytes are the file's. */
	assert_int_equal(raw(f, RFT_FETCH_MSG_RANGE, part, last->segno,
			     last->length - 100, 100),
			 0);
	read_file(path, &file);
	assert_int_equal(f->raw_body.len, 100);
	assert_memory_equal(f->raw_body.data,
			    file.data + last->length - 100, 100);
	assert_int_equal(raw(f, RFT_FETCH_MSG_SUM, part, last->segno, 0,
			     last->length),
			 0);
	assert_int_equal(f->raw_body.len, 8);
	assert_true(cf_get_u64(f->raw_body.data) ==
		    XXH3_64bits(file.data, last->length));
	/* A fetch takes the checkpoint, not the tail. */
	assert_int_equal(fetch(f, 2, f->dir[3], 0), 0);
	assert_int_equal(f->applied, AHEAD);
	seg_path(path, sizeof(path), f->dir[3], part, last->segno);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((uint64_t)st.st_size, last->length);
	log_manifest_release(&got);
	log_manifest_release(&m);
	cf_buf_release(&file);
}

static void close_waits_for_reads_in_flight(void **state)
{
	struct fixture *f = *state;
	uint8_t b[24];

	start_nodes(f);
	cf_put_u32(b, 1);
	cf_put_u32(b + 4, 1);
	cf_put_u64(b + 8, 0);
	cf_put_u64(b + 16, 4096);
	f->close_after = 8;
	for (uint64_t i = 0; i < 8; i++)
		assert_int_equal(rft_peer_send(&f->nodes[2].mgr, 1,
					       RFT_FETCH_MSG_SUM, RAW_REQ + i,
					       b, sizeof(b)),
				 0);
	assert_true(run_until(f, fetch_is_closed, 5000));
	/* Reads were in flight: the memory stayed until they ended. */
	assert_true(f->close_serving > 0);
}

static void close_ends_a_running_fetch_with_shutdown(void **state)
{
	struct fixture *f = *state;
	struct summary sm;

	start_nodes(f);
	f->done = false;
	assert_int_equal(rft_fetch_start(f->nodes[2].fetch, 1, f->dir[2], 0,
					 fetch_cb, f),
			 0);
	assert_true(run_until(f, fetching_started, 5000));
	assert_false(f->done);
	f->fetch_closed = false;
	rft_fetch_close(f->nodes[2].fetch, fetch_closed_cb, f);
	f->nodes[2].fetch = NULL;
	assert_false(f->done); /* never from inside close */
	assert_true(run_until(f, fetch_is_closed, 5000));
	assert_true(f->done);
	assert_int_equal(f->status, CF_ESHUTDOWN);
	summarize(f->dir[2], &sm);
	assert_int_equal(sm.applied, BEHIND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			lagging_store_becomes_byte_identical, setup, teardown),
		cmocka_unit_test_setup_teardown(empty_store_gets_everything,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			fetched_store_appends_like_its_source, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			peer_below_min_applied_answers_eagain, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			peer_lost_mid_fetch_fails_then_a_new_fetch_completes,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			start_refuses_a_down_link_and_a_second_fetch, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			corrupted_local_prefix_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
			chunk_corrupted_in_flight_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
			segment_gone_on_peer_is_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(
			local_segment_longer_than_peer_is_corrupt, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			server_answers_only_within_its_checkpoint, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			close_waits_for_reads_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(
			close_ends_a_running_fetch_with_shutdown, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
