#include "config.h"

/*
 * The rebuild after a segment fetch runs off the loop (issue 11). Three
 * nodes (rft_node_init, raft_uv, the peer links) on one uv loop in this
 * process, with a snapshot threshold and trailing log of 8 entries: a
 * follower is closed, the leader commits enough entries that its log no
 * longer holds the follower's next one, and the follower, started again,
 * gets a snapshot install, fetches the segments it lacks and rebuilds its
 * state on its worker thread, held there by cfg.test_fetch_hold.
 *
 * Checked while the rebuild is held: rft_node_rebuilding(), the node is
 * not ready and says why, on_rebuilding(true) came (once, on the loop),
 * the FSM's getters read nothing (store NULL, no conversation), a read
 * index does not complete, and the two other nodes commit. After the hold:
 * on_reset and on_rebuild ran, on another thread than the loop's, and saw
 * the conversation (again if a newer snapshot came during the hold: the
 * node fetched and rebuilt again); on_rebuilding(false) came on the loop
 * as often as (true); the follower is
 * ready with the leader's seqs and the read completes. A close while the
 * rebuild is held ends the hold, waits, replays nothing, and the node
 * started again fetches, rebuilds and catches up.
 *
 * Without the rebuild on the worker (rft_fsm_fetch_done on the loop) the
 * rebuild hooks run on the loop thread and the hold is never seen.
 * Every loop run is bounded in turns and time.
 */

#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_buf.h"
#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "raft/rft_node.h"
#include "../lib/cf_test_ports.h"

#define N	   3
#define SECRET	   "correct horse battery staple"
#define SNAP	   8  /* snapshot threshold and trailing entries */
#define OUTAGE_SENDS 60 /* entries committed while the follower is down */

struct node {
	struct fixture *f;
	struct rft_node node;
	char dir[128];
	bool running;
	bool closed;
	/* the rebuild hooks (loop-read only once the rebuild ended) */
	unsigned resets, rebuilt_records;
	bool hook_on_loop, saw_g1;
	/* on_rebuilding, on the loop */
	unsigned rebuilding_on, rebuilding_off;
	bool notify_off_loop;
};

struct fixture {
	uv_loop_t loop;
	uv_timer_t guard; /* keeps UV_RUN_ONCE from blocking long */
	pthread_t loop_thread;
	int ports[2 * N];
	char dir[64];
	char hold[96];
	struct cf_cluster cluster;
	struct node nodes[N + 1];
};

struct req {
	struct rft_submit s;
	struct rft_read r;
	bool done;
	int status;
	struct rft_result res;
};

typedef bool (*pred_fn)(struct fixture *f, void *arg);

static char tip[16];

static void guard_cb(uv_timer_t *h)
{
	(void)h;
}

static bool run_until(struct fixture *f, pred_fn pred, void *arg,
		      unsigned timeout_ms)
{
	uint64_t end;

	uv_update_time(&f->loop);
	end = uv_now(&f->loop) + timeout_ms;
	uv_timer_start(&f->guard, guard_cb, 5, 5);
	for (unsigned turns = 0; turns < 1000000 && !pred(f, arg); turns++) {
		uv_update_time(&f->loop);
		if (uv_now(&f->loop) >= end)
			break;
		uv_run(&f->loop, UV_RUN_ONCE);
	}
	uv_timer_stop(&f->guard);
	return pred(f, arg);
}

static bool never(struct fixture *f, void *arg)
{
	(void)f;
	(void)arg;
	return false;
}

static int rm_cb(const char *p, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

static bool on_loop(struct node *nd)
{
	return pthread_equal(pthread_self(), nd->f->loop_thread) != 0;
}

static void on_reset(void *arg)
{
	struct node *nd = arg;

	nd->resets++;
	if (on_loop(nd))
		nd->hook_on_loop = true;
}

static void on_rebuild(void *arg, const struct log_record *rec,
		       const struct rft_conv *conv)
{
	struct node *nd = arg;

	(void)rec;
	nd->rebuilt_records++;
	if (on_loop(nd))
		nd->hook_on_loop = true;
	if (conv != NULL && strcmp(conv->id, "g1") == 0)
		nd->saw_g1 = true;
}

static void on_rebuilding(void *arg, bool on)
{
	struct node *nd = arg;

	if (!on_loop(nd))
		nd->notify_off_loop = true;
	if (on)
		nd->rebuilding_on++;
	else
		nd->rebuilding_off++;
}

static void on_closed(struct rft_node *n)
{
	struct node *nd = n->data;

	nd->closed = true;
}

static void node_start(struct fixture *f, unsigned id, const char *hold)
{
	struct node *nd = &f->nodes[id];
	struct rft_node_config c;
	char errmsg[CF_ERRMSG_SIZE] = "";

	nd->f = f;
	snprintf(nd->dir, sizeof nd->dir, "%s/n%u", f->dir, id);
	memset(&c, 0, sizeof c);
	c.cluster = &f->cluster;
	c.snapshot_threshold = SNAP;
	c.snapshot_trailing = SNAP;
	c.self = id;
	c.data_dir = nd->dir;
	c.heartbeat_ms = 100;
	c.election_ms = 1000;
	c.request_timeout_ms = 6000;
	c.on_record_arg = nd;
	c.on_reset = on_reset;
	c.on_rebuild = on_rebuild;
	c.on_rebuilding = on_rebuilding;
	c.test_fetch_hold = hold;
	c.data = nd;
	assert_int_equal(rft_node_init(&nd->node, &f->loop, &c, errmsg), 0);
	/* What the open's rebuild counted is not the fetch's. */
	nd->resets = nd->rebuilt_records = 0;
	nd->hook_on_loop = nd->saw_g1 = false;
	assert_int_equal(rft_node_start(&nd->node, errmsg), 0);
	nd->running = true;
	nd->closed = false;
}

static bool node_closed(struct fixture *f, void *arg)
{
	return f->nodes[(uintptr_t)arg].closed;
}

static void node_stop(struct fixture *f, unsigned id)
{
	struct node *nd = &f->nodes[id];

	nd->running = false;
	rft_node_close(&nd->node, on_closed);
	assert_true(run_until(f, node_closed, (void *)(uintptr_t)id, 20000));
}

static unsigned usable_leader(struct fixture *f)
{
	for (unsigned i = 1; i <= N; i++) {
		struct node *nd = &f->nodes[i];
		if (nd->running &&
		    strcmp(rft_node_role(&nd->node), "leader") == 0 &&
		    nd->node.barrier_done)
			return i;
	}
	return 0;
}

static bool all_ready(struct fixture *f, void *arg)
{
	unsigned leader = usable_leader(f);

	(void)arg;
	if (leader == 0)
		return false;
	for (unsigned i = 1; i <= N; i++)
		if (f->nodes[i].running &&
		    !rft_node_is_ready(&f->nodes[i].node, NULL))
			return false;
	return true;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(uv_timer_init(&f->loop, &f->guard), 0);
	f->loop_thread = pthread_self();
	assert_int_equal(cf_test_ports_pick(tip, f->ports, 2 * N), 0);
	strcpy(f->dir, "/tmp/test_rft_node_fetch.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->hold, sizeof f->hold, "%s/hold", f->dir);
	f->cluster.n_nodes = N;
	f->cluster.partitions = 4;
	for (unsigned i = 0; i < N; i++) {
		struct cf_node_conf *nc = &f->cluster.nodes[i];
		nc->id = i + 1;
		snprintf(nc->raft_addr, CF_ADDR_SIZE, "%s:%d", tip,
			 f->ports[i]);
		snprintf(nc->peer_addr, CF_ADDR_SIZE, "%s:%d", tip,
			 f->ports[N + i]);
	}
	f->cluster.secret_len = (unsigned)strlen(SECRET);
	memcpy(f->cluster.secret, SECRET, f->cluster.secret_len);
	for (unsigned i = 1; i <= N; i++)
		node_start(f, i, NULL);
	assert_true(run_until(f, all_ready, NULL, 30000));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->hold);
	for (unsigned i = 1; i <= N; i++)
		if (f->nodes[i].running)
			node_stop(f, i);
	uv_close((uv_handle_t *)&f->guard, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void submit_cb(struct rft_submit *s, int status,
		      const struct rft_result *res)
{
	struct req *q = s->data;

	q->done = true;
	q->status = status;
	q->res = *res;
}

static void read_cb(struct rft_read *r, int status)
{
	struct req *q = r->data;

	q->done = true;
	q->status = status;
}

static bool req_done(struct fixture *f, void *arg)
{
	(void)f;
	return ((struct req *)arg)->done;
}

/* One command on node on, waited for: its status. */
static int submit(struct fixture *f, unsigned on, const struct rft_cmd *c,
		  struct req *q)
{
	memset(q, 0, sizeof *q);
	q->s.data = q;
	rft_node_submit(&f->nodes[on].node, &q->s, c, submit_cb);
	assert_true(run_until(f, req_done, q, 10000));
	return q->status;
}

static void create_g1(struct fixture *f, unsigned on)
{
	struct cf_buf list = CF_BUF_INIT;
	struct cf_str bob = CF_STR_LIT("bob");
	struct rft_cmd c;
	struct req q;

	memset(&c, 0, sizeof c);
	assert_int_equal(rft_idlist_encode(&list, &bob, 1), 0);
	c.type = RFT_CMD_CREATE;
	c.user = CF_STR_LIT("alice");
	c.conv = CF_STR_LIT("g1");
	c.conv_type = RFT_CONV_GROUP;
	c.title = CF_STR_LIT("t");
	c.members = (struct cf_str){list.data, list.len};
	assert_int_equal(submit(f, on, &c, &q), 0);
	cf_buf_release(&list);
}

/* n sends to g1 on node on, one entry each. */
static void sends(struct fixture *f, unsigned on, const char *prefix,
		  unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char key[32];
		struct rft_cmd c;
		struct req q;

		snprintf(key, sizeof key, "%s%u", prefix, i);
		memset(&c, 0, sizeof c);
		c.type = RFT_CMD_SEND;
		c.user = CF_STR_LIT("alice");
		c.conv = CF_STR_LIT("g1");
		c.client_msg_id = cf_str_c(key);
		c.msg_type = CF_STR_LIT("text");
		c.content = CF_STR_LIT("hello");
		assert_int_equal(submit(f, on, &c, &q), 0);
	}
}

static uint64_t last_seq(struct fixture *f, unsigned on)
{
	const struct rft_conv *c = rft_fsm_conv(
		rft_node_fsm(&f->nodes[on].node), CF_STR_LIT("g1"));

	return c != NULL ? c->last_seq : 0;
}

static bool is_rebuilding(struct fixture *f, void *arg)
{
	return rft_node_rebuilding(&f->nodes[(uintptr_t)arg].node);
}

static bool caught_up(struct fixture *f, void *arg)
{
	unsigned a = (unsigned)(uintptr_t)arg, l = usable_leader(f);

	return l != 0 && rft_node_is_ready(&f->nodes[a].node, NULL) &&
	       last_seq(f, a) == last_seq(f, l);
}

static void hold_on(struct fixture *f)
{
	int fd = open(f->hold, O_WRONLY | O_CREAT, 0644);

	assert_true(fd >= 0);
	close(fd);
}

/*
 * Close follower a, commit OUTAGE_SENDS entries without it, start it
 * again held: it installs the leader's snapshot, fetches and begins the
 * rebuild, which the hold keeps waiting on its worker.
 */
static unsigned follower_held_in_its_rebuild(struct fixture *f)
{
	unsigned l = usable_leader(f), a = l % N + 1;

	create_g1(f, l);
	sends(f, l, "before", 3);
	assert_true(run_until(f, caught_up, (void *)(uintptr_t)a, 10000));
	node_stop(f, a);
	sends(f, l, "outage", OUTAGE_SENDS);
	hold_on(f);
	node_start(f, a, f->hold);
	assert_true(run_until(f, is_rebuilding, (void *)(uintptr_t)a, 30000));
	return a;
}

static void rebuild_after_fetch_runs_off_the_loop_while_others_commit(
	void **state)
{
	struct fixture *f = *state;
	struct node *nd;
	const char *why = NULL;
	struct req rd;
	unsigned a, l;

	a = follower_held_in_its_rebuild(f);
	nd = &f->nodes[a];
	l = usable_leader(f);
	assert_true(l != 0 && l != a);
	/* Held: the loop turns, the rebuild waits on the worker. */
	assert_false(run_until(f, never, NULL, 300));
	assert_true(rft_node_rebuilding(&nd->node));
	assert_int_equal(nd->rebuilding_on, 1);
	assert_int_equal(nd->rebuilding_off, 0);
	assert_false(rft_node_is_ready(&nd->node, &why));
	assert_non_null(why);
	assert_non_null(strstr(why, "rebuilding"));
	/* The state is the worker's: the getters read none of it. */
	assert_null(rft_fsm_store(rft_node_fsm(&nd->node)));
	assert_null(rft_fsm_conv(rft_node_fsm(&nd->node), CF_STR_LIT("g1")));
	/* A read index through it waits; the others commit. */
	memset(&rd, 0, sizeof rd);
	rd.r.data = &rd;
	rft_node_read_index(&nd->node, &rd.r, read_cb);
	sends(f, l, "held", 5);
	assert_false(rd.done);
	assert_true(rft_node_rebuilding(&nd->node));
	assert_int_equal(nd->resets, 0); /* not begun: the hold */

	unlink(f->hold);
	assert_true(run_until(f, caught_up, (void *)(uintptr_t)a, 30000));
	assert_false(rft_node_rebuilding(&nd->node));
	/*
	 * A newer snapshot may come while the rebuild is held: the store
	 * then fetched is below it, so the node fetches and rebuilds again.
	 */
	assert_true(nd->rebuilding_on >= 1);
	assert_int_equal(nd->rebuilding_off, nd->rebuilding_on);
	assert_false(nd->notify_off_loop);
	/* The rebuild hooks ran, on the worker, over the fetched store. */
	assert_int_equal(nd->resets, nd->rebuilding_on);
	assert_true(nd->rebuilt_records > 0);
	assert_true(nd->saw_g1);
	assert_false(nd->hook_on_loop);
	assert_int_equal(last_seq(f, a), 3 + OUTAGE_SENDS + 5);
	assert_true(run_until(f, req_done, &rd, 10000));
	assert_int_equal(rd.status, 0);
	/* It applies what comes next as any follower. */
	sends(f, l, "after", 2);
	assert_true(run_until(f, caught_up, (void *)(uintptr_t)a, 10000));
}

static void close_while_the_rebuild_is_held_waits_and_replays_nothing(
	void **state)
{
	struct fixture *f = *state;
	struct node *nd;
	unsigned a, l;

	a = follower_held_in_its_rebuild(f);
	nd = &f->nodes[a];
	/* The hold file stays: only the close ends the wait. */
	node_stop(f, a);
	assert_int_equal(access(f->hold, F_OK), 0);
	assert_int_equal(nd->rebuilding_on, 1);
	assert_int_equal(nd->rebuilding_off, 1);
	assert_int_equal(nd->resets, 0); /* the rebuild never began */
	assert_false(nd->notify_off_loop);
	l = usable_leader(f);
	assert_true(l != 0);
	sends(f, l, "down", 3);
	/* Started again without a hold: fetch, rebuild, catch up. */
	unlink(f->hold);
	node_start(f, a, NULL);
	assert_true(run_until(f, caught_up, (void *)(uintptr_t)a, 30000));
	assert_int_equal(last_seq(f, a), 3 + OUTAGE_SENDS + 3);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(rebuild_after_fetch_runs_off_the_loop_while_others_commit),
		T(close_while_the_rebuild_is_held_waits_and_replays_nothing),
	};

	signal(SIGPIPE, SIG_IGN);
	cf_diag_setup("test", CF_DIAG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
