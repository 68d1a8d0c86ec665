#include "config.h"

/*
 * rft_node through its real path: three nodes (raft_uv over the TCP_NODELAY
 * transport, the FSM over a segment store, the peer links) on one uv loop in
 * this process, on a loopback address of its own with free ports and a temp data dir each.
 * Every loop run is bounded in turns and time.
 */

#define _XOPEN_SOURCE 700
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_buf.h"
#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "raft/rft_node.h"
#include "raft/rft_node_int.h"
#include "../lib/cf_test_ports.h"

#define N	   3
#define SECRET	   "correct horse battery staple"
#define TIMEOUT_MS 6000 /* request_timeout_ms: a 1-2 s election under load fits */

struct node {
	struct fixture *f;
	struct rft_node node;
	char dir[128];
	bool running;
	bool closed;
};

struct fixture {
	uv_loop_t loop;
	uv_timer_t guard; /* keeps UV_RUN_ONCE from blocking long */
	int ports[2 * N];
	char dir[64];
	struct cf_cluster cluster;
	struct cf_cluster wrong_secret; /* the same nodes, another secret */
	unsigned snap_threshold, snap_trailing; /* 0: the defaults */
	struct node nodes[N + 1];
};

/* One request and its answer. */
struct req {
	struct rft_submit s;
	struct rft_read r;
	bool done;
	int status;
	struct rft_result res;
	uint64_t done_ms;
};

typedef bool (*pred_fn)(struct fixture *f, void *arg);

/* --- helpers --- */

/* The loopback address of this run's ports (tests/lib/cf_test_ports.h). */
static char tip[16];

/* n ports on a loopback address of this test's own, outside the ephemeral
 * range, held until the configuration is made (cf_test_ports.h). */
static void pick_ports(int *ports, int n)
{
	assert_int_equal(cf_test_ports_pick(tip, ports, (unsigned)n), 0);
}

static void guard_cb(uv_timer_t *h)
{
	(void)h;
}

/* Run the loop until pred holds; false after timeout_ms or 500k turns. */
static bool run_until(struct fixture *f, pred_fn pred, void *arg,
		      unsigned timeout_ms)
{
	uint64_t end;
	unsigned turns;

	uv_update_time(&f->loop);
	end = uv_now(&f->loop) + timeout_ms;
	uv_timer_start(&f->guard, guard_cb, 5, 5);
	for (turns = 0; turns < 500000; turns++) {
		if (pred(f, arg))
			break;
		uv_update_time(&f->loop);
		if (uv_now(&f->loop) >= end)
			break;
		uv_run(&f->loop, UV_RUN_ONCE);
	}
	uv_timer_stop(&f->guard);
	return pred(f, arg);
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

static void on_closed(struct rft_node *n)
{
	struct node *nd = n->data;

	nd->closed = true;
}

static void node_start_with(struct fixture *f, unsigned id,
			    struct cf_cluster *cluster)
{
	struct node *nd = &f->nodes[id];
	struct rft_node_config c;
	char errmsg[CF_ERRMSG_SIZE] = "";

	nd->f = f;
	snprintf(nd->dir, sizeof nd->dir, "%s/n%u", f->dir, id);
	memset(&c, 0, sizeof c);
	c.cluster = cluster;
	c.snapshot_threshold = f->snap_threshold;
	c.snapshot_trailing = f->snap_trailing;
	c.self = id;
	c.data_dir = nd->dir;
	/*
	 * Three nodes share this loop: a stall of it (a loaded machine, a
	 * slow fsync) delays all of them at once. 1 s elections keep a
	 * leader through stalls of several hundred ms.
	 */
	c.heartbeat_ms = 100;
	c.election_ms = 1000;
	c.request_timeout_ms = TIMEOUT_MS;
	c.data = nd;
	assert_int_equal(rft_node_init(&nd->node, &f->loop, &c, errmsg), 0);
	assert_int_equal(rft_node_start(&nd->node, errmsg), 0);
	nd->running = true;
	nd->closed = false;
}

static void node_start(struct fixture *f, unsigned id)
{
	node_start_with(f, id, &f->cluster);
}

static bool node_closed(struct fixture *f, void *arg)
{
	return f->nodes[(uintptr_t)arg].closed;
}

/* Start closing node id (the caller runs the loop). */
static void node_close_begin(struct fixture *f, unsigned id)
{
	struct node *nd = &f->nodes[id];

	assert_true(nd->running);
	nd->running = false;
	rft_node_close(&nd->node, on_closed);
	assert_false(nd->closed); /* never from inside the call */
}

static void node_stop(struct fixture *f, unsigned id)
{
	node_close_begin(f, id);
	assert_true(run_until(f, node_closed, (void *)(uintptr_t)id, 5000));
}

/* The node that leads with its barrier applied, 0 if none. */
static unsigned usable_leader(struct fixture *f)
{
	for (unsigned i = 1; i <= N; i++) {
		struct node *nd = &f->nodes[i];
		if (nd->running && strcmp(rft_node_role(&nd->node),
					  "leader") == 0 &&
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
	for (unsigned i = 1; i <= N; i++) {
		struct node *nd = &f->nodes[i];
		if (!nd->running)
			continue;
		if (!rft_node_is_ready(&nd->node, NULL) ||
		    rft_node_leader_id(&nd->node) != leader)
			return false;
		for (unsigned j = 1; j <= N; j++)
			if (j != i && f->nodes[j].running &&
			    !rft_node_peer_up(&nd->node, j))
				return false;
	}
	return true;
}

/* What all_ready() is waiting for, on stderr (a setup that timed out). */
static void print_state(struct fixture *f)
{
	for (unsigned i = 1; i <= N; i++) {
		struct node *nd = &f->nodes[i];
		const char *why = NULL;
		bool ready;

		if (!nd->running)
			continue;
		ready = rft_node_is_ready(&nd->node, &why);
		fprintf(stderr,
			"# node %u: %s, leader %u, barrier %d, ready %d (%s), "
			"peers up:",
			i, rft_node_role(&nd->node),
			(unsigned)rft_node_leader_id(&nd->node),
			(int)nd->node.barrier_done, (int)ready,
			why != NULL ? why : "");
		for (unsigned j = 1; j <= N; j++)
			if (j != i)
				fprintf(stderr, " %u:%d", j,
					(int)rft_node_peer_up(&nd->node, j));
		fprintf(stderr, "\n");
	}
}

static int setup_snap(void **state, unsigned threshold, unsigned trailing)
{
	struct fixture *f = calloc(1, sizeof *f);

	assert_non_null(f);
	f->snap_threshold = threshold;
	f->snap_trailing = trailing;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(uv_timer_init(&f->loop, &f->guard), 0);
	pick_ports(f->ports, 2 * N);
	strcpy(f->dir, "/tmp/test_rft_node.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
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
	f->wrong_secret = f->cluster;
	f->wrong_secret.secret[0] ^= 1;
	for (unsigned i = 1; i <= N; i++)
		node_start(f, i);
	if (!run_until(f, all_ready, NULL, 30000))
		print_state(f);
	assert_true(all_ready(f, NULL));
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_snap(state, 0, 0);
}

static void walk_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		fprintf(stderr, "# leaked handle type %s\n",
			uv_handle_type_name(h->type));
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (unsigned i = 1; i <= N; i++)
		if (f->nodes[i].running)
			node_stop(f, i);
	uv_close((uv_handle_t *)&f->guard, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_walk(&f->loop, walk_cb, NULL);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void submit_cb(struct rft_submit *s, int status,
		      const struct rft_result *res)
{
	struct req *q = s->data;

	assert_false(q->done);
	q->done = true;
	q->status = status;
	q->res = *res;
	q->done_ms = cf_mono_ms();
}

static void read_cb(struct rft_read *r, int status)
{
	struct req *q = r->data;

	assert_false(q->done);
	q->done = true;
	q->status = status;
	q->done_ms = cf_mono_ms();
}

struct reqs {
	struct req *q;
	unsigned n;
};

static bool reqs_done(struct fixture *f, void *arg)
{
	struct reqs *r = arg;

	(void)f;
	for (unsigned i = 0; i < r->n; i++)
		if (!r->q[i].done)
			return false;
	return true;
}

static void wait_done(struct fixture *f, struct req *q, unsigned n)
{
	struct reqs r = {q, n};

	assert_true(run_until(f, reqs_done, &r, 8000));
}

/* CREATE group "g1" of alice and bob. */
static void submit_create(struct fixture *f, unsigned on, struct req *q)
{
	struct cf_buf list = CF_BUF_INIT;
	struct cf_str bob = CF_STR_LIT("bob");
	struct rft_cmd c;

	memset(&c, 0, sizeof c);
	memset(q, 0, sizeof *q);
	assert_int_equal(rft_idlist_encode(&list, &bob, 1), 0);
	c.type = RFT_CMD_CREATE;
	c.user = CF_STR_LIT("alice");
	c.conv = CF_STR_LIT("g1");
	c.conv_type = RFT_CONV_GROUP;
	c.title = CF_STR_LIT("t");
	c.members = (struct cf_str){list.data, list.len};
	q->s.data = q;
	rft_node_submit(&f->nodes[on].node, &q->s, &c, submit_cb);
	cf_buf_release(&list); /* the node copies the command */
	assert_false(q->done);
}

/* SEND by alice to g1 with idempotency key key, answered to cb. */
static void submit_send_cb(struct fixture *f, unsigned on, struct req *q,
			   const char *key, rft_submit_cb cb)
{
	struct rft_cmd c;

	memset(&c, 0, sizeof c);
	memset(q, 0, sizeof *q);
	c.type = RFT_CMD_SEND;
	c.user = CF_STR_LIT("alice");
	c.conv = CF_STR_LIT("g1");
	c.client_msg_id = cf_str_c(key);
	c.msg_type = CF_STR_LIT("text");
	c.content = CF_STR_LIT("hello");
	q->s.data = q;
	rft_node_submit(&f->nodes[on].node, &q->s, &c, cb);
	assert_false(q->done);
}

static void submit_send(struct fixture *f, unsigned on, struct req *q,
			const char *key)
{
	submit_send_cb(f, on, q, key, submit_cb);
}

static void read_index(struct fixture *f, unsigned on, struct req *q)
{
	memset(q, 0, sizeof *q);
	q->r.data = q;
	rft_node_read_index(&f->nodes[on].node, &q->r, read_cb);
	assert_false(q->done);
}

static uint64_t last_seq(struct fixture *f, unsigned on)
{
	const struct rft_conv *c = rft_fsm_conv(
		rft_node_fsm(&f->nodes[on].node), CF_STR_LIT("g1"));

	return c != NULL ? c->last_seq : 0;
}

/* Two followers of leader l. */
static void followers(struct fixture *f, unsigned l, unsigned *a, unsigned *b)
{
	*a = l % N + 1;
	*b = *a % N + 1;
	(void)f;
}

static void create_g1(struct fixture *f, unsigned on)
{
	struct req q;

	submit_create(f, on, &q);
	wait_done(f, &q, 1);
	assert_int_equal(q.status, 0);
	assert_true(q.res.created);
	assert_string_equal(q.res.conv, "g1");
}

/* --- tests --- */

static void submits_on_leader_and_followers_get_contiguous_seqs(void **state)
{
	struct fixture *f = *state;
	unsigned l = usable_leader(f), a, b;
	struct req q[4], rd;
	uint64_t fwd0;

	followers(f, l, &a, &b);
	fwd0 = f->nodes[a].node.stats.forwarded;
	/* A create forwarded from a follower, then repeated on the leader. */
	create_g1(f, a);
	assert_true(f->nodes[a].node.stats.forwarded > fwd0);
	submit_create(f, l, &q[0]);
	wait_done(f, q, 1);
	assert_int_equal(q[0].status, 0);
	assert_false(q[0].res.created);
	/* One send at a time from each node: seqs 1, 2, 3. */
	submit_send(f, l, &q[0], "k1");
	wait_done(f, q, 1);
	submit_send(f, a, &q[1], "k2");
	wait_done(f, q + 1, 1);
	submit_send(f, b, &q[2], "k3");
	wait_done(f, q + 2, 1);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(q[i].status, 0);
		assert_false(q[i].res.duplicate);
		assert_int_equal(q[i].res.seq, i + 1);
		assert_true(q[i].res.index > 0);
		if (i > 0)
			assert_true(q[i].res.index > q[i - 1].res.index);
	}
	/* Every node has applied the same log. */
	for (unsigned i = 1; i <= N; i++) {
		read_index(f, i, &rd);
		wait_done(f, &rd, 1);
		assert_int_equal(rd.status, 0);
		assert_int_equal(last_seq(f, i), 3);
	}
}

static void duplicate_key_returns_original_seq_from_any_node(void **state)
{
	struct fixture *f = *state;
	unsigned l = usable_leader(f), a, b;
	struct req q[3];

	followers(f, l, &a, &b);
	create_g1(f, l);
	submit_send(f, a, &q[0], "dup");
	wait_done(f, q, 1);
	assert_int_equal(q[0].status, 0);
	assert_false(q[0].res.duplicate);
	submit_send(f, l, &q[1], "dup");
	submit_send(f, b, &q[2], "dup");
	wait_done(f, q + 1, 2);
	for (unsigned i = 1; i < 3; i++) {
		assert_int_equal(q[i].status, 0);
		assert_true(q[i].res.duplicate);
		assert_int_equal(q[i].res.seq, q[0].res.seq);
		assert_int_equal(q[i].res.message_id, q[0].res.message_id);
	}
	assert_int_equal(last_seq(f, l), 1);
}

static void many_submits_in_one_turn_are_batched_into_few_entries(
	void **state)
{
	struct fixture *f = *state;
	unsigned l = usable_leader(f), a, b;
	enum { NL = 300, NF = 100 };
	struct req *q = calloc(NL + NF, sizeof *q);
	uint64_t e0, c0;
	char key[32];
	bool seen[NL + NF + 1];

	assert_non_null(q);
	followers(f, l, &a, &b);
	create_g1(f, l);
	e0 = f->nodes[l].node.stats.entries_proposed;
	c0 = f->nodes[l].node.stats.commands_proposed;
	for (unsigned i = 0; i < NL + NF; i++) {
		snprintf(key, sizeof key, "b%u", i);
		submit_send(f, i < NL ? l : a, &q[i], key);
	}
	wait_done(f, q, NL + NF);
	memset(seen, 0, sizeof seen);
	for (unsigned i = 0; i < NL + NF; i++) {
		assert_int_equal(q[i].status, 0);
		assert_false(q[i].res.duplicate);
		assert_true(q[i].res.seq >= 1 && q[i].res.seq <= NL + NF);
		assert_false(seen[q[i].res.seq]);
		seen[q[i].res.seq] = true;
	}
	assert_int_equal(f->nodes[l].node.stats.commands_proposed - c0,
			 NL + NF);
	/* The leader's 300 go in one entry; forwarded ones in a few. */
	assert_true(f->nodes[l].node.stats.entries_proposed - e0 <= 5);
	assert_int_equal(last_seq(f, l), NL + NF);
	free(q);
}

static void read_index_on_follower_sees_the_leaders_write(void **state)
{
	struct fixture *f = *state;
	unsigned l = usable_leader(f), a, b;
	struct req q, rd;

	followers(f, l, &a, &b);
	create_g1(f, l);
	submit_send(f, l, &q, "r1");
	wait_done(f, &q, 1);
	assert_int_equal(q.status, 0);
	/* The leader answers on apply; the follower may lag until it asks. */
	read_index(f, b, &rd);
	wait_done(f, &rd, 1);
	assert_int_equal(rd.status, 0);
	assert_int_equal(last_seq(f, b), q.res.seq);
	assert_true(raft_last_applied(&f->nodes[b].node.raft) >=
		    q.res.index);
	/* Waiting for an index already applied completes from the loop. */
	memset(&rd, 0, sizeof rd);
	rd.r.data = &rd;
	rft_node_wait_applied(&f->nodes[a].node, &rd.r, q.res.index, read_cb);
	assert_false(rd.done);
	wait_done(f, &rd, 1);
	assert_int_equal(rd.status, 0);
	assert_true(raft_last_applied(&f->nodes[a].node.raft) >=
		    q.res.index);
}

static bool new_leader(struct fixture *f, void *arg)
{
	unsigned old = (unsigned)(uintptr_t)arg;
	unsigned l = usable_leader(f);

	return l != 0 && l != old;
}

static void leader_close_elects_new_leader_and_resubmit_is_idempotent(
	void **state)
{
	struct fixture *f = *state;
	unsigned l = usable_leader(f), a, b, nl;
	struct req q[6], rd;

	followers(f, l, &a, &b);
	create_g1(f, l);
	submit_send(f, l, &q[0], "x1");
	wait_done(f, q, 1);
	assert_int_equal(q[0].status, 0);
	/* In flight while the leader closes: x2 on the leader, x3 forwarded. */
	submit_send(f, l, &q[1], "x2");
	submit_send(f, a, &q[2], "x3");
	node_close_begin(f, l);
	assert_true(run_until(f, node_closed, (void *)(uintptr_t)l, 5000));
	assert_true(q[1].done);
	assert_int_equal(q[1].status, CF_ESHUTDOWN);
	/* Asked before a new leader exists: answered once one does. */
	read_index(f, b, &rd);
	assert_true(run_until(f, new_leader, (void *)(uintptr_t)l, 8000));
	nl = usable_leader(f);
	assert_true(nl == a || nl == b);
	wait_done(f, q + 2, 1);
	assert_int_equal(q[2].status, 0);
	wait_done(f, &rd, 1);
	assert_int_equal(rd.status, 0);
	assert_true(last_seq(f, b) >= q[0].res.seq);
	/* Resubmitted by a client with the same keys. */
	submit_send(f, a, &q[3], "x1");
	submit_send(f, b, &q[4], "x2");
	submit_send(f, nl, &q[5], "x3");
	wait_done(f, q + 3, 3);
	assert_int_equal(q[3].status, 0);
	assert_true(q[3].res.duplicate);
	assert_int_equal(q[3].res.seq, q[0].res.seq);
	assert_int_equal(q[4].status, 0);
	assert_int_equal(q[5].status, 0);
	assert_true(q[5].res.duplicate);
	assert_int_equal(q[5].res.seq, q[2].res.seq);
	/* x1, x2, x3 each exactly once. */
	assert_int_equal(last_seq(f, nl), 3);
	assert_true(q[4].res.seq >= 1 && q[4].res.seq <= 3);
	assert_true(q[4].res.seq != q[0].res.seq &&
		    q[4].res.seq != q[2].res.seq);
}

static void submit_without_quorum_fails_unavailable_after_deadline(
	void **state)
{
	struct fixture *f = *state;
	unsigned l = usable_leader(f), a, b;
	struct req q[2];
	uint64_t t0;

	followers(f, l, &a, &b);
	create_g1(f, l);
	node_stop(f, l);
	node_stop(f, a);
	t0 = cf_mono_ms();
	submit_send(f, b, &q[0], "nq");
	read_index(f, b, &q[1]);
	wait_done(f, q, 2);
	assert_int_equal(q[0].status, CF_EUNAVAIL);
	assert_int_equal(q[1].status, CF_EUNAVAIL);
	assert_true(q[0].done_ms - t0 >= TIMEOUT_MS);
	assert_true(q[0].done_ms - t0 < TIMEOUT_MS + 2000);
	assert_int_equal(last_seq(f, b), 0);
}

struct proposed {
	struct rft_node *n;
	uint64_t entries;
};

static bool entry_proposed(struct fixture *f, void *arg)
{
	struct proposed *p = arg;

	(void)f;
	return p->n->stats.entries_proposed > p->entries;
}

static void close_with_pending_requests_completes_them_with_shutdown(
	void **state)
{
	struct fixture *f = *state;
	unsigned l = usable_leader(f), a, b;
	struct req q[5];
	struct proposed p;

	followers(f, l, &a, &b);
	create_g1(f, l);
	/* Proposed (raft_apply called), not yet committed. */
	p.n = &f->nodes[l].node;
	p.entries = p.n->stats.entries_proposed;
	submit_send(f, l, &q[4], "s0");
	assert_true(run_until(f, entry_proposed, &p, 2000));
	assert_false(q[4].done);
	submit_send(f, l, &q[0], "s1");  /* queued on the leader */
	read_index(f, l, &q[1]);
	submit_send(f, a, &q[2], "s2");  /* forwarded */
	read_index(f, a, &q[3]);
	for (unsigned i = 0; i < 4; i++)
		assert_false(q[i].done);
	node_close_begin(f, l);
	node_close_begin(f, a);
	wait_done(f, q, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(q[i].status, CF_ESHUTDOWN);
	/* The proposed one: either committed first, or shut down. */
	wait_done(f, q + 4, 1);
	assert_true(q[4].status == 0 || q[4].status == CF_ESHUTDOWN);
	assert_true(run_until(f, node_closed, (void *)(uintptr_t)l, 5000));
	assert_true(run_until(f, node_closed, (void *)(uintptr_t)a, 5000));
	/*
	 * Nothing shut down was applied: b holds at most the proposed s0
	 * (committed, or in an unknown outcome that a loaded machine may
	 * have committed before its leader closed), never s1 or s2.
	 */
	assert_true(last_seq(f, b) <= 1);
	if (q[4].status == CF_ESHUTDOWN && last_seq(f, b) == 1)
		print_message("# s0 committed although its answer was "
			      "shutdown (outcome unknown, as documented)\n");
}

static bool never(struct fixture *f, void *arg)
{
	(void)f;
	(void)arg;
	return false;
}

/*
 * Group commit (rft_submit.c): while an entry is in flight, sends queue
 * up for the next one instead of each becoming an entry at its own loop
 * turn. With both followers stopped the first entry cannot commit; twenty
 * sends, one every few turns, must all wait in the queue.
 */
static void sends_gather_behind_the_entry_in_flight(void **state)
{
	struct fixture *f = *state;
	unsigned l = usable_leader(f), a, b;
	enum { K = 20 };
	struct req q[K + 1];
	struct proposed p;
	char key[16];
	uint64_t e1;

	followers(f, l, &a, &b);
	create_g1(f, l);
	node_stop(f, a);
	node_stop(f, b);
	p.n = &f->nodes[l].node;
	p.entries = p.n->stats.entries_proposed;
	submit_send(f, l, &q[0], "w0");
	assert_true(run_until(f, entry_proposed, &p, 2000));
	e1 = p.n->stats.entries_proposed;
	for (unsigned i = 1; i <= K; i++) {
		snprintf(key, sizeof key, "w%u", i);
		submit_send(f, l, &q[i], key);
		run_until(f, never, NULL, 3); /* a few turns: prepare ran */
	}
	assert_int_equal(p.n->stats.entries_proposed, e1);
	assert_int_equal(p.n->n_queued, K);
	assert_true(p.n->queued_bytes > 0);
	for (unsigned i = 0; i <= K; i++)
		assert_false(q[i].done);
	/* Closing answers them all (the queued ones with shutdown). */
	node_close_begin(f, l);
	wait_done(f, q, K + 1);
	for (unsigned i = 1; i <= K; i++)
		assert_int_equal(q[i].status, CF_ESHUTDOWN);
	assert_true(run_until(f, node_closed, (void *)(uintptr_t)l, 5000));
	assert_int_equal(p.n->n_queued, 0);
	assert_int_equal(p.n->queued_bytes, 0);
}

/* A send whose answer looks at the leader's queue at that moment. */
struct look {
	struct req q; /* first: submit_cb takes s->data as a struct req */
	struct rft_node *n;
	uint64_t proposed; /* entries proposed when it was answered */
	unsigned queued;   /* commands still queued then */
};

static void look_cb(struct rft_submit *s, int status,
		    const struct rft_result *res)
{
	struct look *lk = s->data;

	lk->proposed = lk->n->stats.entries_proposed;
	lk->queued = lk->n->n_queued;
	submit_cb(s, status, res);
}

/*
 * The entry that gathered behind the one in flight is proposed from that
 * one's apply callback, before its answers, not at a later turn.
 */
static void the_entry_behind_goes_before_the_answers(void **state)
{
	struct fixture *f = *state;
	unsigned l = usable_leader(f);
	enum { K = 10 };
	struct req q[K];
	struct look lk;
	struct proposed p;
	char key[16];
	uint64_t e1;

	create_g1(f, l);
	p.n = &f->nodes[l].node;
	p.entries = p.n->stats.entries_proposed;
	memset(&lk, 0, sizeof lk);
	lk.n = p.n;
	submit_send_cb(f, l, &lk.q, "first", look_cb);
	assert_true(run_until(f, entry_proposed, &p, 2000));
	e1 = p.n->stats.entries_proposed;
	/*
	 * No turn runs between here and the last submit: the first entry
	 * cannot be committed yet (that takes a follower's write and its
	 * answer, several polls later), so these K wait behind it.
	 */
	for (unsigned i = 0; i < K; i++) {
		snprintf(key, sizeof key, "behind%u", i);
		submit_send(f, l, &q[i], key);
	}
	assert_false(lk.q.done);
	assert_int_equal(p.n->n_queued, K);
	wait_done(f, &lk.q, 1);
	assert_int_equal(lk.q.status, 0);
	assert_int_equal(lk.proposed, e1 + 1);
	assert_int_equal(lk.queued, 0);
	wait_done(f, q, K);
	for (unsigned i = 0; i < K; i++) {
		assert_int_equal(q[i].status, 0);
		assert_int_equal(q[i].res.seq, lk.q.res.seq + 1 + i);
	}
	assert_int_equal(p.n->stats.entries_proposed, e1 + 1);
}

static void command_over_entry_cap_completes_toobig_on_any_node(void **state)
{
	struct fixture *f = *state;
	unsigned l = usable_leader(f), a, b;
	size_t big = RFT_ENTRY_MAX + 1;
	char *content = malloc(big);
	struct req q[3];
	struct rft_cmd c;

	assert_non_null(content);
	memset(content, 'x', big);
	followers(f, l, &a, &b);
	create_g1(f, l);
	for (unsigned i = 0; i < 3; i++) {
		memset(&c, 0, sizeof c);
		memset(&q[i], 0, sizeof q[i]);
		c.type = RFT_CMD_SEND;
		c.user = CF_STR_LIT("alice");
		c.conv = CF_STR_LIT("g1");
		c.client_msg_id = CF_STR_LIT("big");
		c.msg_type = CF_STR_LIT("text");
		c.content = (struct cf_str){content, big};
		q[i].s.data = &q[i];
		rft_node_submit(&f->nodes[i == 0 ? l : i == 1 ? a : b].node,
				&q[i].s, &c, submit_cb);
		assert_false(q[i].done);
	}
	free(content);
	wait_done(f, q, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(q[i].status, CF_ETOOBIG);
	assert_int_equal(last_seq(f, l), 0);
}

static void submit_after_close_began_completes_with_shutdown(void **state)
{
	struct fixture *f = *state;
	unsigned l = usable_leader(f), a, b;
	struct req q[2];

	followers(f, l, &a, &b);
	node_close_begin(f, a);
	submit_send(f, a, &q[0], "late");
	read_index(f, a, &q[1]);
	wait_done(f, q, 2);
	assert_int_equal(q[0].status, CF_ESHUTDOWN);
	assert_int_equal(q[1].status, CF_ESHUTDOWN);
	assert_true(run_until(f, node_closed, (void *)(uintptr_t)a, 5000));
}

/*
 * A request tried again after an unknown outcome meets its own first try as
 * a duplicate (or an existing group): that is answered as the first try's
 * result, not as a duplicate; an original from before the first try stays
 * a duplicate, and a request never retried is answered as it is.
 */
static void a_retry_that_meets_its_own_first_try_is_not_a_duplicate(
	void **state)
{
	struct rft_submit s;
	struct rft_result r, out;

	(void)state;
	memset(&s, 0, sizeof s);
	memset(&r, 0, sizeof r);
	s.first_index = 100; /* log's last index was 99 at the first try */
	r.duplicate = true;
	r.message_id = (uint64_t)100 << 16 | 3; /* committed at 100 */
	rft__retry_result(&s, &r, &out);
	assert_true(out.duplicate); /* never retried: as answered */
	s.resent = true;
	rft__retry_result(&s, &r, &out);
	assert_false(out.duplicate); /* its own first try */
	r.message_id = (uint64_t)99 << 16; /* from before the first try */
	rft__retry_result(&s, &r, &out);
	assert_true(out.duplicate);
	/* a keyed create met again */
	memset(&r, 0, sizeof r);
	snprintf(r.conv, sizeof r.conv, "c_k0123");
	r.message_id = (uint64_t)120 << 16;
	rft__retry_result(&s, &r, &out);
	assert_true(out.created);
	r.message_id = (uint64_t)50 << 16;
	rft__retry_result(&s, &r, &out);
	assert_false(out.created);
	/* a refusal is never changed */
	r.status = CF_EFORBIDDEN;
	r.message_id = (uint64_t)120 << 16;
	rft__retry_result(&s, &r, &out);
	assert_false(out.created);
	assert_int_equal(out.status, CF_EFORBIDDEN);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(submits_on_leader_and_followers_get_contiguous_seqs),
		T(duplicate_key_returns_original_seq_from_any_node),
		T(many_submits_in_one_turn_are_batched_into_few_entries),
		T(read_index_on_follower_sees_the_leaders_write),
		T(leader_close_elects_new_leader_and_resubmit_is_idempotent),
		T(submit_without_quorum_fails_unavailable_after_deadline),
		T(close_with_pending_requests_completes_them_with_shutdown),
		T(sends_gather_behind_the_entry_in_flight),
		T(the_entry_behind_goes_before_the_answers),
		T(command_over_entry_cap_completes_toobig_on_any_node),
		T(submit_after_close_began_completes_with_shutdown),
		cmocka_unit_test(
			a_retry_that_meets_its_own_first_try_is_not_a_duplicate),
	};

	signal(SIGPIPE, SIG_IGN); /* as confabd: a peer may close first */
	cf_diag_setup("test", CF_DIAG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
