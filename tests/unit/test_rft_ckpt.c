#include "config.h"

/*
 * The FSM's checkpoint job (rft_ckpt.c, issue 11 "The loop never blocks on
 * disk"): while its fsyncs are slow (a test hook holds them in the thread
 * pool), the loop keeps running timers and applying entries; nothing says
 * the checkpoint is durable before they are done; raft's snapshot takes the
 * same job (version 3: snapshot, snapshot_async, finalize) and the two
 * never run at once; under libraft's fixture, snapshots go through raft's
 * async path and checkpoint the store.
 */

#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/fixture.h>
#include <uv.h>

#include "common/cf_err.h"
#include "log/log_ckpt.h"
#include "log/log_manifest.h"
#include "raft/rft_cmd.h"
#include "raft/rft_fsm.h"

#include "../lib/cf_test_dir.h"

#define T0 1771900000000ull
#define PARTS 4

struct fx {
	char base[64];
	char dir[96];
	struct rft_fsm *f;
	struct cf_buf out, cmd;
	unsigned convs; /* c_1 .. c_convs created */
};

static void fx_open(struct fx *x)
{
	struct rft_fsm_config c;
	char errmsg[CF_ERRMSG_SIZE];

	memset(&c, 0, sizeof(c));
	c.store.dir = x->dir;
	c.store.partitions = PARTS;
	if (rft_fsm_open(&x->f, &c, errmsg) != 0)
		fail_msg("open: %s", errmsg);
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	cf_test_dir_make(x->base, sizeof(x->base), "test_rft_ckpt");
	snprintf(x->dir, sizeof(x->dir), "%s/a", x->base);
	fx_open(x);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	log_ckpt_test_hook = NULL;
	log_ckpt_test_arg = NULL;
	if (x->f != NULL)
		rft_fsm_close(x->f);
	cf_buf_release(&x->out);
	cf_buf_release(&x->cmd);
	cf_test_dir_remove(x->base);
	free(x);
	return 0;
}

/* An entry: a direct conversation for a new pair, and a message in it. */
static void entry(struct fx *x, struct cf_buf *out)
{
	struct rft_batch b;
	struct rft_cmd c;
	struct cf_buf list = CF_BUF_INIT;
	char peer[16];
	struct cf_str id;

	snprintf(peer, sizeof(peer), "u%u", ++x->convs);
	id = cf_str_c(peer);
	assert_int_equal(rft_idlist_encode(&list, &id, 1), 0);
	out->len = 0;
	assert_int_equal(rft_batch_begin(&b, out), 0);
	memset(&c, 0, sizeof(c));
	c.type = RFT_CMD_CREATE;
	c.user = CF_STR_LIT("alice");
	c.conv = CF_STR_LIT("");
	c.conv_type = RFT_CONV_DIRECT;
	c.title = CF_STR_LIT("");
	c.members = (struct cf_str){list.data, list.len};
	x->cmd.len = 0;
	assert_int_equal(rft_cmd_encode(&c, &x->cmd), 0);
	assert_int_equal(rft_batch_add(&b, x->cmd.data, x->cmd.len), 0);
	assert_int_equal(rft_batch_finish(&b, T0 + x->convs), 0);
	cf_buf_release(&list);
}

static void apply(struct fx *x, uint64_t index)
{
	unsigned n;

	entry(x, &x->out);
	rft_fsm_apply_entry(x->f, index, x->out.data, x->out.len);
	rft_fsm_results(x->f, &n, NULL);
	assert_int_equal(n, 1);
}

/* appliedIndex of the MANIFEST on disk. */
static uint64_t disk_applied(struct fx *x)
{
	char errmsg[CF_ERRMSG_SIZE], path[128];
	struct log_manifest m;
	uint64_t v;
	int fd;

	snprintf(path, sizeof(path), "%s", x->dir);
	fd = open(path, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	log_manifest_init(&m);
	assert_int_equal(log_manifest_load(fd, &m, errmsg), 0);
	close(fd);
	v = m.applied_index;
	log_manifest_release(&m);
	return v;
}

/* ---- a gate that holds the checkpoint's run (the "slow disk") ---- */

struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool entered; /* the run reached the hook */
	bool open;
	bool timed_out;
	bool on_loop; /* the hook ran on the loop thread */
	pthread_t loop_thread;
};

static void gate_hook(void *arg)
{
	struct gate *g = arg;
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20; /* bound: a blocked loop never opens it */
	pthread_mutex_lock(&g->mu);
	g->entered = true;
	g->on_loop = pthread_equal(pthread_self(), g->loop_thread);
	while (!g->open && !g->timed_out)
		if (pthread_cond_timedwait(&g->cv, &g->mu, &until) ==
		    ETIMEDOUT)
			g->timed_out = true;
	pthread_mutex_unlock(&g->mu);
}

static void gate_init(struct gate *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->loop_thread = pthread_self();
	log_ckpt_test_arg = g;
	log_ckpt_test_hook = gate_hook;
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static bool gate_entered(struct gate *g)
{
	bool v;

	pthread_mutex_lock(&g->mu);
	v = g->entered;
	pthread_mutex_unlock(&g->mu);
	return v;
}

/* ---- the periodic checkpoint ---- */

struct run {
	struct fx *x;
	struct gate g;
	uv_timer_t timer;
	unsigned ticks;	     /* timer callbacks while the run is held */
	uint64_t next_index; /* applied while the run is held */
	bool done;
	int status;
	uint64_t index;
};

static void ckpt_cb(void *arg, uint64_t index, int status, const char *errmsg)
{
	struct run *r = arg;

	(void)errmsg;
	r->done = true;
	r->status = status;
	r->index = index;
}

static void tick_cb(uv_timer_t *t)
{
	struct run *r = t->data;
	struct fx *x = r->x;

	if (r->done) {
		uv_close((uv_handle_t *)t, NULL);
		return;
	}
	if (!gate_entered(&r->g) || r->ticks >= 5)
		return; /* not held yet, or let go: wait for the end */
	/* The fsyncs are held: the loop still runs, and applies. */
	r->ticks++;
	assert_true(rft_fsm_checkpoint_busy(x->f));
	if (r->ticks <= 3)
		apply(x, r->next_index++);
	/* Nobody may see the checkpoint as durable yet. */
	assert_true(log_store_applied_index(rft_fsm_store(x->f)) == 2);
	assert_true(disk_applied(x) == 2);
	if (r->ticks == 5)
		gate_open(&r->g);
}

static void loop_runs_while_a_checkpoint_fsyncs(void **state)
{
	struct fx *x = *state;
	struct run *r = calloc(1, sizeof(*r));
	char errmsg[CF_ERRMSG_SIZE];
	uv_loop_t loop;

	assert_non_null(r);
	r->x = x;
	apply(x, 2);
	assert_int_equal(rft_fsm_checkpoint(x->f, errmsg), 0);
	apply(x, 3);
	apply(x, 4);
	assert_int_equal(uv_loop_init(&loop), 0);
	gate_init(&r->g);
	r->next_index = 5;
	assert_int_equal(rft_fsm_checkpoint_start(x->f, &loop, ckpt_cb, r), 0);
	/* One job at a time: the periodic and the snapshot alike. */
	assert_int_equal(rft_fsm_checkpoint_start(x->f, &loop, ckpt_cb, r),
			 -EBUSY);
	assert_int_equal(rft_fsm_checkpoint(x->f, errmsg), -EBUSY);
	uv_timer_init(&loop, &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, tick_cb, 1, 1);
	/* Bounded: the gate opens after 5 ticks, or times out at 20 s. */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_false(r->g.timed_out);
	assert_false(r->g.on_loop);
	assert_true(r->ticks >= 5);
	assert_true(r->done);
	assert_int_equal(r->status, 0);
	/* The capture's index: entries applied meanwhile are the next one's. */
	assert_true(r->index == 4);
	assert_false(rft_fsm_checkpoint_busy(x->f));
	assert_true(log_store_applied_index(rft_fsm_store(x->f)) == 4);
	assert_true(disk_applied(x) == 4);
	/* A crash now: the store reopens at 4 (raft replays 5 to 7). */
	rft_fsm_close(x->f);
	fx_open(x);
	assert_true(rft_fsm_applied(x->f) == 4);
	assert_int_equal(rft_fsm_conv_count(x->f), 3);
	pthread_mutex_destroy(&r->g.mu);
	pthread_cond_destroy(&r->g.cv);
	free(r);
}

/* ---- raft's snapshot (raft_fsm version 3) ---- */

static void snapshot_takes_the_same_job(void **state)
{
	struct fx *x = *state;
	struct raft_fsm *rf = rft_fsm_raft(x->f);
	struct raft_buffer *bufs = NULL, *other = NULL;
	struct rft_fsm_stats st;
	unsigned n = 0, m = 0;
	uv_loop_t loop;

	apply(x, 2);
	assert_int_equal(rf->version, 3);
	assert_non_null(rf->snapshot_async);
	assert_non_null(rf->snapshot_finalize);
	assert_int_equal(rf->snapshot(rf, &bufs, &n), 0);
	assert_int_equal(n, 1);
	/* Busy: a second snapshot waits, as does the periodic checkpoint. */
	assert_int_equal(rf->snapshot(rf, &other, &m), RAFT_BUSY);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(rft_fsm_checkpoint_start(x->f, &loop, NULL, NULL),
			 -EBUSY);
	assert_int_equal(uv_loop_close(&loop), 0);
	/* Captured, not durable: only snapshot_async makes it so. */
	assert_true(disk_applied(x) == 0);
	assert_int_equal(rf->snapshot_async(rf, &bufs, &n), 0);
	assert_true(disk_applied(x) == 2);
	assert_true(log_store_applied_index(rft_fsm_store(x->f)) == 0);
	assert_int_equal(rf->snapshot_finalize(rf, &bufs, &n), 0);
	assert_null(bufs);
	assert_true(log_store_applied_index(rft_fsm_store(x->f)) == 2);
	rft_fsm_stats(x->f, &st);
	assert_true(st.snapshots == 1);
	/* A snapshot whose async work never ran: nothing recorded. */
	apply(x, 3);
	assert_int_equal(rf->snapshot(rf, &bufs, &n), 0);
	assert_int_equal(rf->snapshot_finalize(rf, &bufs, &n), 0);
	assert_false(rft_fsm_checkpoint_busy(x->f));
	assert_true(log_store_applied_index(rft_fsm_store(x->f)) == 2);
	rft_fsm_stats(x->f, &st);
	assert_true(st.snapshots == 1);
}

/* ---- under libraft's fixture: raft's own async path ---- */

struct req {
	struct raft_apply a;
	bool done;
	int status;
};

static void apply_cb(struct raft_apply *a, int status, void *result)
{
	struct req *q = a->data;

	(void)result;
	q->done = true;
	q->status = status;
}

static bool req_done(struct raft_fixture *f, void *arg)
{
	(void)f;
	return ((struct req *)arg)->done;
}

/* No snapshot in flight (raft's pending one, and our job). */
static bool snap_idle(struct raft_fixture *f, void *arg)
{
	struct fx *x = arg;

	return raft_fixture_get(f, 0)->snapshot.pending.term == 0 &&
	       !rft_fsm_checkpoint_busy(x->f);
}

static void fixture_snapshots_checkpoint_through_async_work(void **state)
{
	struct fx *x = *state;
	/* On the heap, as test_rft_fsm's: the fixture is large (16 servers
	 * inline), and the sanitizer build's stack frames are larger still. */
	struct raft_fixture *rfp = calloc(1, sizeof(*rfp));
	struct raft_configuration conf;
	struct raft_fsm *fsm = rft_fsm_raft(x->f);
	int (*async)(struct raft_fsm *, struct raft_buffer **, unsigned *);
	struct rft_fsm_stats st;
	struct raft *r;

	assert_non_null(rfp);
	assert_int_equal(raft_fixture_initialize(rfp), 0);
	/* raft_init refuses snapshot_async on an io of version 1 (rft_ckpt.c). */
	async = fsm->snapshot_async;
	fsm->snapshot_async = NULL;
	assert_int_equal(raft_fixture_grow(rfp, fsm), 0);
	fsm->snapshot_async = async;
	r = raft_fixture_get(rfp, 0);
	r->io->version = 2;
	rft_fsm_set_raft(x->f, r);
	raft_set_snapshot_threshold(r, 4);
	raft_set_snapshot_trailing(r, 2);
	assert_int_equal(raft_fixture_configuration(rfp, 1, &conf), 0);
	assert_int_equal(raft_fixture_bootstrap(rfp, &conf), 0);
	raft_configuration_close(&conf);
	assert_int_equal(raft_fixture_start(rfp), 0);
	assert_true(raft_fixture_step_until_has_leader(rfp, 10000));
	for (unsigned i = 0; i < 12; i++) {
		struct req q = {0};
		struct raft_buffer buf;

		entry(x, &x->out);
		buf.len = x->out.len;
		buf.base = raft_malloc(buf.len);
		assert_non_null(buf.base);
		memcpy(buf.base, x->out.data, buf.len);
		q.a.data = &q;
		assert_int_equal(raft_apply(r, &q.a, &buf, 1, apply_cb), 0);
		assert_true(raft_fixture_step_until(rfp, req_done, &q, 5000));
		assert_int_equal(q.status, 0);
		assert_true(raft_fixture_step_until(rfp, snap_idle, x, 5000));
	}
	rft_fsm_stats(x->f, &st);
	assert_true(st.snapshots >= 2);
	assert_false(rft_fsm_checkpoint_busy(x->f));
	/* Each snapshot was a durable checkpoint before raft stored it. */
	assert_true(r->log.snapshot.last_index > 0);
	assert_true(log_store_applied_index(rft_fsm_store(x->f)) >=
		    r->log.snapshot.last_index - 1);
	assert_true(disk_applied(x) ==
		    log_store_applied_index(rft_fsm_store(x->f)));
	raft_fixture_close(rfp);
	free(rfp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			loop_runs_while_a_checkpoint_fsyncs, setup, teardown),
		cmocka_unit_test_setup_teardown(snapshot_takes_the_same_job,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			fixture_snapshots_checkpoint_through_async_work, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
