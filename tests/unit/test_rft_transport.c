#include "config.h"

/*
 * rft_transport under libraft's real uv io: three raft instances on one uv
 * loop over a loopback address of its own, each with its own temp dir, elect a leader and apply
 * a few entries; then every raft TCP stream on the loop is checked for
 * TCP_NODELAY with getsockopt. The same run over the stock transport shows
 * that the check tells the two apart.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/uv.h>

#include "common/cf_buf.h"
#include "common/cf_diag.h"
#include "raft/rft_transport.h"
#include "../lib/cf_test_ports.h"
#include "../lib/cf_test_dir.h"

#define N	  3
#define N_ENTRIES 5
#define ENTRY_LEN 24 /* a multiple of 8 (RAFT.md §0) */

struct rnode {
	struct fixture *f;
	unsigned id;
	char dir[64];
	char addr[32];
	struct raft raft;
	struct raft_io io;
	struct raft_fsm fsm;
	struct rft_transport tr;	/* with_wrapper */
	struct raft_uv_transport stock; /* !with_wrapper */
	unsigned applied;
	uint64_t sum;
	unsigned bad;
	bool started;
	bool closed;
};

struct fixture {
	uv_loop_t loop;
	uv_timer_t guard;
	bool with_wrapper;
	int ports[N];
	struct rnode nodes[N];
	unsigned apply_done;
	unsigned apply_failed;
	unsigned apply_ok;
	unsigned apply_seen;
};

struct nodelay_count {
	int ports[N];
	unsigned accepted_on; /* streams whose local port is a raft port */
	unsigned connected_on;
	unsigned accepted_off;
	unsigned connected_off;
};

/* The loopback address of this run's ports (tests/lib/cf_test_ports.h). */
static char tip[16];

/* n ports on a loopback address of this test's own, outside the ephemeral
 * range, held until the configuration is made (cf_test_ports.h). */
static void pick_ports(int *ports, int n)
{
	assert_int_equal(cf_test_ports_pick(tip, ports, (unsigned)n), 0);
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
		     void **result)
{
	struct rnode *nd = fsm->data;

	if (buf->len != ENTRY_LEN)
		nd->bad++;
	else
		nd->sum += cf_get_u64(buf->base);
	nd->applied++;
	*result = NULL;
	return 0;
}

static void guard_cb(uv_timer_t *t)
{
	(void)t;
}

typedef bool (*pred_fn)(struct fixture *f);

static bool run_until(struct fixture *f, pred_fn pred, unsigned timeout_ms)
{
	uint64_t end;
	unsigned turns;

	uv_update_time(&f->loop);
	end = uv_now(&f->loop) + timeout_ms;
	uv_timer_start(&f->guard, guard_cb, 5, 5);
	for (turns = 0; turns < 200000 && !pred(f); turns++) {
		uv_update_time(&f->loop);
		if (uv_now(&f->loop) >= end)
			break;
		uv_run(&f->loop, UV_RUN_ONCE);
	}
	uv_timer_stop(&f->guard);
	return pred(f);
}

static void node_start(struct fixture *f, unsigned i)
{
	struct rnode *nd = &f->nodes[i];
	struct raft_uv_transport *tr;
	struct raft_configuration conf;
	unsigned j;
	int rv;

	nd->f = f;
	nd->id = i + 1;
	snprintf(nd->dir, sizeof nd->dir, "/tmp/confab-tr-XXXXXX");
	assert_non_null(mkdtemp(nd->dir));
	snprintf(nd->addr, sizeof nd->addr, "%s:%d", tip, f->ports[i]);
	if (f->with_wrapper) {
		assert_int_equal(rft_transport_init(&nd->tr, &f->loop), 0);
		tr = rft_transport_iface(&nd->tr);
	} else {
		assert_int_equal(raft_uv_tcp_init(&nd->stock, &f->loop), 0);
		tr = &nd->stock;
	}
	assert_int_equal(raft_uv_init(&nd->io, &f->loop, nd->dir, tr), 0);
	nd->fsm.version = 1;
	nd->fsm.data = nd;
	nd->fsm.apply = fsm_apply;
	assert_int_equal(
		raft_init(&nd->raft, &nd->io, &nd->fsm, nd->id, nd->addr), 0);
	/* Wide enough that a loaded machine does not depose the leader;
	 * run_cluster retries an entry that fails anyway. */
	raft_set_heartbeat_timeout(&nd->raft, 50);
	raft_set_election_timeout(&nd->raft, 600 + 200 * i);
	raft_configuration_init(&conf);
	for (j = 0; j < N; j++) {
		char addr[32];

		snprintf(addr, sizeof addr, "%s:%d", tip, f->ports[j]);
		assert_int_equal(
			raft_configuration_add(&conf, j + 1, addr, RAFT_VOTER),
			0);
	}
	rv = raft_bootstrap(&nd->raft, &conf);
	raft_configuration_close(&conf);
	assert_int_equal(rv, 0);
	assert_int_equal(raft_start(&nd->raft), 0);
	nd->started = true;
}

static void raft_closed_cb(struct raft *r)
{
	struct rnode *nd = r->data;

	raft_uv_close(&nd->io);
	if (nd->f->with_wrapper)
		rft_transport_close(&nd->tr);
	else
		raft_uv_tcp_close(&nd->stock);
	nd->closed = true;
}

static bool all_closed(struct fixture *f)
{
	unsigned i;

	for (i = 0; i < N; i++)
		if (f->nodes[i].started && !f->nodes[i].closed)
			return false;
	return true;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(uv_timer_init(&f->loop, &f->guard), 0);
	pick_ports(f->ports, N);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	unsigned i;

	for (i = 0; i < N; i++) {
		if (!f->nodes[i].started)
			continue;
		f->nodes[i].raft.data = &f->nodes[i];
		raft_close(&f->nodes[i].raft, raft_closed_cb);
	}
	assert_true(run_until(f, all_closed, 5000));
	uv_close((uv_handle_t *)&f->guard, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	for (i = 0; i < N; i++)
		if (f->nodes[i].started)
			assert_int_equal(cf_test_dir_remove(f->nodes[i].dir),
					 0);
	free(f);
	return 0;
}

static struct rnode *leader(struct fixture *f)
{
	unsigned i;

	for (i = 0; i < N; i++)
		if (raft_state(&f->nodes[i].raft) == RAFT_LEADER)
			return &f->nodes[i];
	return NULL;
}

static bool has_leader(struct fixture *f)
{
	return leader(f) != NULL;
}

static bool all_applied(struct fixture *f)
{
	unsigned i;

	if (f->apply_ok < N_ENTRIES)
		return false;
	for (i = 0; i < N; i++)
		if (f->nodes[i].sum != f->nodes[0].sum ||
		    f->nodes[i].applied < N_ENTRIES)
			return false;
	return true;
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct fixture *f = req->data;

	(void)result;
	if (status != 0)
		f->apply_failed++;
	else
		f->apply_ok++;
	f->apply_done++;
	free(req);
}

static bool one_more_done(struct fixture *f)
{
	return f->apply_done > f->apply_seen;
}

static bool port_in(const int *ports, int port)
{
	unsigned i;

	for (i = 0; i < N; i++)
		if (ports[i] == port)
			return true;
	return false;
}

static void walk_cb(uv_handle_t *h, void *arg)
{
	struct nodelay_count *c = arg;
	struct sockaddr_in local, peer;
	socklen_t len;
	uv_os_fd_t fd;
	int on = 0;
	socklen_t olen = sizeof on;

	if (h->type != UV_TCP || uv_is_closing(h) || uv_fileno(h, &fd) != 0)
		return;
	len = sizeof peer;
	if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0)
		return; /* a listener */
	len = sizeof local;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&local, &len), 0);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &olen),
			 0);
	if (port_in(c->ports, ntohs(local.sin_port)))
		on ? c->accepted_on++ : c->accepted_off++;
	else if (port_in(c->ports, ntohs(peer.sin_port)))
		on ? c->connected_on++ : c->connected_off++;
}

/* Elect, apply N_ENTRIES on the leader, wait until every node applied. */
static void run_cluster(struct fixture *f, struct nodelay_count *c)
{
	struct raft_buffer buf;
	struct raft_apply *req;
	struct rnode *l;
	unsigned i, tries, ok_before;

	for (i = 0; i < N; i++)
		node_start(f, i);
	/*
	 * One entry at a time; an entry whose leader is deposed meanwhile
	 * (a loaded machine) is tried again on the next leader, so it may be
	 * in the log twice: the nodes must agree, whatever the count.
	 */
	for (i = 0, tries = 0; i < N_ENTRIES; tries++) {
		assert_true(tries < 100);
		assert_true(run_until(f, has_leader, 10000));
		l = leader(f);
		buf.len = ENTRY_LEN;
		buf.base = raft_malloc(buf.len);
		assert_non_null(buf.base);
		memset(buf.base, 0, buf.len);
		cf_put_u64(buf.base, 1000u + i);
		req = calloc(1, sizeof *req);
		assert_non_null(req);
		req->data = f;
		f->apply_seen = f->apply_done;
		ok_before = f->apply_ok;
		if (raft_apply(&l->raft, req, &buf, 1, apply_cb) != 0) {
			raft_free(buf.base);
			free(req);
			continue; /* not the leader any more */
		}
		assert_true(run_until(f, one_more_done, 10000));
		if (f->apply_ok > ok_before)
			i++;
	}
	assert_true(run_until(f, all_applied, 10000));
	for (i = 0; i < N; i++) {
		assert_int_equal(f->nodes[i].bad, 0);
		assert_true(f->nodes[i].sum >=
			    N_ENTRIES * 1000u + N_ENTRIES * (N_ENTRIES - 1) / 2);
	}
	memset(c, 0, sizeof *c);
	memcpy(c->ports, f->ports, sizeof c->ports);
	uv_walk(&f->loop, walk_cb, c);
}

static void wrapped_transport_elects_applies_and_sets_nodelay(void **state)
{
	struct fixture *f = *state;
	struct nodelay_count c;
	unsigned i, set = 0;

	f->with_wrapper = true;
	run_cluster(f, &c);
	/* The leader has sent to both followers: 2 connections at least,
	 * each seen from both ends. */
	assert_true(c.connected_on >= 2);
	assert_true(c.accepted_on >= 2);
	assert_int_equal(c.connected_off, 0);
	assert_int_equal(c.accepted_off, 0);
	for (i = 0; i < N; i++)
		set += f->nodes[i].tr.nodelay_set;
	assert_true(set >= c.connected_on + c.accepted_on);
}

static void stock_transport_leaves_nagle_on(void **state)
{
	struct fixture *f = *state;
	struct nodelay_count c;

	f->with_wrapper = false;
	run_cluster(f, &c);
	assert_true(c.connected_off >= 2);
	assert_true(c.accepted_off >= 2);
	assert_int_equal(c.connected_on + c.accepted_on, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			wrapped_transport_elects_applies_and_sets_nodelay,
			setup, teardown),
		cmocka_unit_test_setup_teardown(stock_transport_leaves_nagle_on,
						setup, teardown),
	};

	cf_diag_setup("test", CF_DIAG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
