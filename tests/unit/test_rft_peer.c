#include "config.h"

/*
 * rft_peer over real TCP on a loopback address of its own: three managers (three nodes) on one
 * uv loop in this process, plus raw sockets that play a misbehaving or
 * silent peer. Every loop run is bounded in iterations and time.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/cf_buf.h"
#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "raft/rft_peer.h"
#include "raft/rft_peer_int.h"
#include "../lib/cf_test_ports.h"

#define N	3
#define T_MSG	20	   /* a user message type */
#define T_BIG	21	   /* a large message */
#define BIG_LEN (4u << 20) /* 4 MiB */
#define N_SMALL 2000u
#define SECRET	"correct horse battery staple"

struct node {
	struct fixture *f;
	struct rft_peer_mgr mgr;
	struct cf_cluster cluster;
	bool running;
	bool closed;
	bool up[N + 1];
	unsigned ups[N + 1];	  /* up events per peer */
	unsigned downs[N + 1];	  /* down events per peer */
	uint64_t next_req[N + 1]; /* next expected small reqId per sender */
	unsigned bigs[N + 1];
	unsigned bad; /* messages that did not match */
};

struct fixture {
	uv_loop_t loop;
	uv_timer_t guard; /* keeps UV_RUN_ONCE from blocking long */
	int ports[N + 1];
	struct node nodes[N + 1];
};

static const struct rft_peer_timing fast = {.ping_ms = 50,
					    .dead_ms = 300,
					    .backoff_min_ms = 10,
					    .backoff_max_ms = 100};

/* --- helpers --- */

/* The loopback address of this run's ports (tests/lib/cf_test_ports.h). */
static char tip[16];

/* n ports on a loopback address of this test's own, outside the ephemeral
 * range, held until the configuration is made (cf_test_ports.h). */
static void pick_ports(int *ports, int n)
{
	assert_int_equal(cf_test_ports_pick(tip, ports, (unsigned)n), 0);
}

static uint8_t pattern(uint64_t req_id, size_t i)
{
	return (uint8_t)(req_id * 31u + i * 7u + (i >> 8));
}

static void on_msg(struct rft_peer_mgr *mgr, unsigned from, uint8_t type,
		   uint64_t req_id, const void *body, size_t len)
{
	struct node *nd = mgr->data;
	const uint8_t *p = body;
	size_t i;

	if (type == T_BIG) {
		if (len != BIG_LEN)
			nd->bad++;
		for (i = 0; i < len; i += 4093)
			if (p[i] != pattern(req_id, i))
				nd->bad++;
		nd->bigs[from]++;
		return;
	}
	if (type != T_MSG || req_id != nd->next_req[from] ||
	    len != req_id % 300) {
		nd->bad++;
		return;
	}
	for (i = 0; i < len; i++)
		if (p[i] != pattern(req_id, i))
			nd->bad++;
	nd->next_req[from]++;
}

static void on_state(struct rft_peer_mgr *mgr, unsigned node, bool up)
{
	struct node *nd = mgr->data;

	assert_true(node >= 1 && node <= N);
	assert_true(nd->up[node] != up);
	nd->up[node] = up;
	if (up)
		nd->ups[node]++;
	else
		nd->downs[node]++;
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

typedef bool (*pred_fn)(struct fixture *f, void *arg);

/* Run the loop until pred holds; false after timeout_ms or 200k turns. */
static bool run_until(struct fixture *f, pred_fn pred, void *arg,
		      unsigned timeout_ms)
{
	uint64_t end;
	unsigned turns;

	uv_update_time(&f->loop);
	end = uv_now(&f->loop) + timeout_ms;
	uv_timer_start(&f->guard, guard_cb, 5, 5);
	for (turns = 0; turns < 200000; turns++) {
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

static bool never(struct fixture *f, void *arg)
{
	(void)f;
	(void)arg;
	return false;
}

static void make_cluster(struct fixture *f, struct cf_cluster *c,
			 const char *secret)
{
	unsigned i;

	memset(c, 0, sizeof *c);
	c->n_nodes = N;
	c->partitions = 16;
	for (i = 0; i < N; i++) {
		c->nodes[i].id = i + 1;
		snprintf(c->nodes[i].peer_addr, CF_ADDR_SIZE, "%s:%d", tip,
			 f->ports[i + 1]);
		snprintf(c->nodes[i].raft_addr, CF_ADDR_SIZE, "127.0.0.1:1");
	}
	c->secret_len = (unsigned)strlen(secret);
	memcpy(c->secret, secret, c->secret_len);
}

/* The next node_start's timing (back to fast after it). */
static const struct rft_peer_timing *start_timing = &fast;

static void node_start(struct fixture *f, unsigned id, const char *secret)
{
	struct node *nd = &f->nodes[id];

	memset(nd, 0, sizeof *nd);
	nd->f = f;
	make_cluster(f, &nd->cluster, secret);
	assert_int_equal(rft_peer_mgr_init(&nd->mgr, &f->loop, &nd->cluster, id,
					   on_msg, on_state, nd),
			 0);
	rft_peer_mgr_set_timing(&nd->mgr, start_timing);
	start_timing = &fast;
	assert_int_equal(rft_peer_mgr_start(&nd->mgr), 0);
	nd->running = true;
}

static bool node_closed(struct fixture *f, void *arg)
{
	return f->nodes[(uintptr_t)arg].closed;
}

static void node_stop(struct fixture *f, unsigned id)
{
	struct node *nd = &f->nodes[id];

	assert_true(nd->running);
	rft_peer_mgr_close(&nd->mgr, on_closed);
	assert_false(nd->closed); /* never from inside the call */
	nd->running = false;
	assert_true(run_until(f, node_closed, (void *)(uintptr_t)id, 5000));
}

static bool all_up(struct fixture *f, void *arg)
{
	unsigned a, b;

	(void)arg;
	for (a = 1; a <= N; a++)
		for (b = 1; b <= N; b++)
			if (a != b &&
			    !(f->nodes[a].running && f->nodes[a].up[b]))
				return false;
	return true;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(uv_timer_init(&f->loop, &f->guard), 0);
	pick_ports(f->ports + 1, N);
	*state = f;
	return 0;
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
	unsigned i;

	for (i = 1; i <= N; i++)
		if (f->nodes[i].running)
			node_stop(f, i);
	uv_close((uv_handle_t *)&f->guard, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_walk(&f->loop, walk_cb, NULL);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

static void start_all(struct fixture *f)
{
	unsigned i;

	for (i = 1; i <= N; i++)
		node_start(f, i, SECRET);
	assert_true(run_until(f, all_up, NULL, 5000));
}

/* --- raw sockets playing a peer --- */

static int raw_connect(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, tip, &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

struct raw {
	int fd;
	struct cf_buf in;
	bool eof;
	size_t want;
};

static bool raw_pump(struct fixture *f, void *arg)
{
	struct raw *r = arg;
	char buf[4096];
	ssize_t n;

	(void)f;
	for (;;) {
		n = recv(r->fd, buf, sizeof buf, 0);
		if (n > 0) {
			assert_int_equal(cf_buf_append(&r->in, buf, (size_t)n),
					 0);
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			r->eof = true;
		break;
	}
	return r->eof || r->in.len >= r->want;
}

static bool raw_eof(struct fixture *f, void *arg)
{
	struct raw *r = arg;

	raw_pump(f, arg);
	return r->eof;
}

static void raw_send(int fd, const void *p, size_t n)
{
	assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void frame(uint8_t *out, uint8_t type, const void *body, size_t len)
{
	cf_put_u32(out, (uint32_t)(9 + len));
	out[4] = type;
	cf_put_u64(out + 5, 0);
	memcpy(out + 13, body, len);
}

static void proof(const uint8_t *dialer, const uint8_t *acceptor, unsigned id,
		  uint8_t out[32])
{
	uint8_t msg[11 + 32 + 2];
	unsigned int n = 32;

	memcpy(msg, "confab-peer", 11);
	memcpy(msg + 11, dialer, 16);
	memcpy(msg + 27, acceptor, 16);
	cf_put_u16(msg + 43, (uint16_t)id);
	assert_non_null(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), msg,
			     sizeof msg, out, &n));
}

/*
 * Dial node 2 as node 1 and complete the handshake by hand, checking the
 * manager's HELLO and PROOF against the format in rft_peer_link.c.
 */
static void raw_handshake(struct fixture *f, struct raw *r)
{
	uint8_t hello[22], nonce[16], buf[64], want[32];
	const uint8_t *peer_hello;

	r->fd = raw_connect(f->ports[2]);
	assert_int_equal(RAND_bytes(nonce, 16), 1);
	cf_put_u16(hello, 1);
	cf_put_u16(hello + 2, 1);
	cf_put_u16(hello + 4, 2);
	memcpy(hello + 6, nonce, 16);
	frame(buf, 1, hello, sizeof hello);
	raw_send(r->fd, buf, 13 + sizeof hello);
	r->want = 13 + 22 + 13 + 32; /* its HELLO then its PROOF */
	assert_true(run_until(f, raw_pump, r, 15000));
	assert_false(r->eof);
	peer_hello = (const uint8_t *)r->in.data;
	assert_int_equal(cf_get_u32(peer_hello), 9 + 22);
	assert_int_equal(peer_hello[4], 1);
	assert_int_equal(cf_get_u16(peer_hello + 13), 1);
	assert_int_equal(cf_get_u16(peer_hello + 15), 2);
	proof(nonce, peer_hello + 19, 2, want);
	assert_int_equal(peer_hello[35 + 4], 2);
	assert_memory_equal(peer_hello + 35 + 13, want, 32);
	proof(nonce, peer_hello + 19, 1, want);
	frame(buf, 2, want, 32);
	raw_send(r->fd, buf, 13 + 32);
	cf_buf_consume(&r->in, r->in.len);
}

static bool node2_sees_1_up(struct fixture *f, void *arg)
{
	(void)arg;
	return f->nodes[2].up[1];
}

static bool node2_sees_1_down(struct fixture *f, void *arg)
{
	(void)arg;
	return f->nodes[2].downs[1] > 0;
}

/* --- tests --- */

static void links_come_up_between_all_pairs(void **state)
{
	struct fixture *f = *state;
	unsigned a, b;

	start_all(f);
	for (a = 1; a <= N; a++)
		for (b = 1; b <= N; b++) {
			if (a == b)
				continue;
			assert_true(rft_peer_up(&f->nodes[a].mgr, b));
			assert_int_equal(rft_peer_up_count(&f->nodes[a].mgr, b),
					 1);
			assert_int_equal(f->nodes[a].ups[b], 1);
		}
	/* Pings keep them up: no flapping over several dead periods. */
	run_until(f, never, NULL, 3 * fast.dead_ms);
	for (a = 1; a <= N; a++)
		for (b = 1; b <= N; b++)
			if (a != b)
				assert_int_equal(f->nodes[a].downs[b], 0);
}

struct expect {
	unsigned node;
	unsigned from;
	uint64_t small;
	unsigned bigs;
};

static bool got_all(struct fixture *f, void *arg)
{
	const struct expect *e = arg;

	for (; e->node != 0; e++)
		if (f->nodes[e->node].next_req[e->from] < e->small ||
		    f->nodes[e->node].bigs[e->from] < e->bigs)
			return false;
	return true;
}

static void send_small(struct fixture *f, unsigned from, unsigned to,
		       uint64_t req_id)
{
	uint8_t body[300];
	size_t len = req_id % 300, i;

	for (i = 0; i < len; i++)
		body[i] = pattern(req_id, i);
	assert_int_equal(rft_peer_send(&f->nodes[from].mgr, to, T_MSG, req_id,
				       body, len),
			 0);
}

static bool link_12_drained(struct fixture *f, void *arg)
{
	(void)arg;
	return rft_peer_queued(&f->nodes[1].mgr, 2) == 0;
}

static void messages_arrive_in_order_and_intact(void **state)
{
	struct fixture *f = *state;
	struct expect e[] = {{2, 1, N_SMALL, 1},
			     {2, 3, N_SMALL, 0},
			     {1, 2, N_SMALL, 1},
			     {0, 0, 0, 0}};
	uint8_t *big;
	uint64_t i;
	size_t k;

	start_all(f);
	big = malloc(BIG_LEN);
	assert_non_null(big);
	for (k = 0; k < BIG_LEN; k++)
		big[k] = pattern(7, k);
	for (i = 0; i < N_SMALL; i++) {
		send_small(f, 1, 2, i);
		send_small(f, 3, 2, i);
		send_small(f, 2, 1, i);
		if (i == N_SMALL / 2) {
			assert_int_equal(rft_peer_send(&f->nodes[1].mgr, 2,
						       T_BIG, 7, big, BIG_LEN),
					 0);
			assert_true(rft_peer_queued(&f->nodes[1].mgr, 2) >
				    BIG_LEN);
		}
	}
	/* The same 4 MiB as a shared blob, between small messages. */
	struct cf_blob *blob = cf_blob_copy(big, BIG_LEN);
	assert_non_null(blob);
	free(big);
	assert_int_equal(
		rft_peer_send_blob(&f->nodes[2].mgr, 1, T_BIG, 7, blob), 0);
	cf_blob_unref(blob); /* the link holds its own reference */
	for (i = N_SMALL; i < N_SMALL + 10; i++)
		send_small(f, 2, 1, i);
	e[2].small = N_SMALL + 10;
	/* 8 MiB and the small ones, checked byte by byte: slow under ASan on
	 * a loaded machine (10 s failed once in 12 such runs). */
	assert_true(run_until(f, got_all, e, 60000));
	assert_int_equal(f->nodes[1].bad + f->nodes[2].bad + f->nodes[3].bad,
			 0);
	assert_int_equal(f->nodes[2].bigs[1], 1);
	assert_int_equal(f->nodes[1].bigs[2], 1);
	assert_int_equal(f->nodes[3].next_req[1], 0);
	/* Everything drains (a ping may be on its way at any moment). */
	assert_true(run_until(f, link_12_drained, NULL, 2000));
}

static void send_checks_type_size_and_link(void **state)
{
	struct fixture *f = *state;
	struct rft_peer_mgr *m;

	node_start(f, 1, SECRET);
	m = &f->nodes[1].mgr;
	assert_int_equal(rft_peer_send(m, 2, T_MSG, 1, "x", 1), CF_EUNAVAIL);
	assert_int_equal(rft_peer_send(m, 9, T_MSG, 1, "x", 1), CF_EUNAVAIL);
	assert_int_equal(rft_peer_send(m, 2, 3, 1, "x", 1), -EINVAL);
	assert_int_equal(
		rft_peer_send(m, 2, T_MSG, 1, "x", RFT_PEER_MAX_BODY + 1),
		CF_ETOOBIG);
	assert_false(rft_peer_up(m, 2));
	assert_int_equal(rft_peer_queued(m, 2), 0);
}

static void init_rejects_bad_config(void **state)
{
	struct fixture *f = *state;
	struct rft_peer_mgr m;
	struct cf_cluster c;

	make_cluster(f, &c, SECRET);
	assert_int_equal(
		rft_peer_mgr_init(&m, &f->loop, &c, 9, on_msg, on_state, NULL),
		CF_EBADREQ);
	c.secret_len = 0;
	assert_int_equal(
		rft_peer_mgr_init(&m, &f->loop, &c, 1, on_msg, on_state, NULL),
		CF_EBADREQ);
	make_cluster(f, &c, SECRET);
	snprintf(c.nodes[1].peer_addr, CF_ADDR_SIZE, "localhost:1");
	assert_int_equal(
		rft_peer_mgr_init(&m, &f->loop, &c, 1, on_msg, on_state, NULL),
		CF_EBADREQ);
}

static void close_without_start_calls_back_from_loop(void **state)
{
	struct fixture *f = *state;
	struct node *nd = &f->nodes[1];

	make_cluster(f, &nd->cluster, SECRET);
	assert_int_equal(rft_peer_mgr_init(&nd->mgr, &f->loop, &nd->cluster, 1,
					   on_msg, on_state, nd),
			 0);
	rft_peer_mgr_close(&nd->mgr, on_closed);
	assert_false(nd->closed);
	assert_true(run_until(f, node_closed, (void *)(uintptr_t)1, 1000));
}

static void start_on_busy_port_fails_and_closes(void **state)
{
	struct fixture *f = *state;
	struct node *nd = &f->nodes[1];
	struct sockaddr_in a;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)f->ports[1]);
	inet_pton(AF_INET, tip, &a.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 1), 0);
	make_cluster(f, &nd->cluster, SECRET);
	assert_int_equal(rft_peer_mgr_init(&nd->mgr, &f->loop, &nd->cluster, 1,
					   on_msg, on_state, nd),
			 0);
	assert_int_equal(rft_peer_mgr_start(&nd->mgr), UV_EADDRINUSE);
	assert_false(rft_peer_up(&nd->mgr, 2));
	assert_int_equal(rft_peer_send(&nd->mgr, 2, T_MSG, 0, "", 0),
			 CF_EUNAVAIL);
	rft_peer_mgr_close(&nd->mgr, on_closed);
	assert_true(run_until(f, node_closed, (void *)(uintptr_t)1, 1000));
	close(fd);
}

static bool pair_12_up(struct fixture *f, void *arg)
{
	(void)arg;
	return f->nodes[1].up[2] && f->nodes[2].up[1];
}

static void wrong_secret_link_never_comes_up(void **state)
{
	struct fixture *f = *state;
	unsigned i;

	node_start(f, 1, SECRET);
	node_start(f, 2, SECRET);
	node_start(f, 3, "not the secret");
	assert_true(run_until(f, pair_12_up, NULL, 5000));
	/* Long enough for several redials of 1->3 and 2->3. */
	run_until(f, never, NULL, 1000);
	for (i = 1; i <= 2; i++) {
		assert_int_equal(f->nodes[i].ups[3], 0);
		assert_int_equal(f->nodes[3].ups[i], 0);
		assert_int_equal(rft_peer_up_count(&f->nodes[i].mgr, 3), 0);
	}
	assert_true(rft_peer_up(&f->nodes[1].mgr, 2));
	assert_int_equal(rft_peer_send(&f->nodes[1].mgr, 3, T_MSG, 0, "", 0),
			 CF_EUNAVAIL);
}

static bool others_see_2_down(struct fixture *f, void *arg)
{
	(void)arg;
	return !f->nodes[1].up[2] && !f->nodes[3].up[2];
}

static void closed_node_is_seen_down_and_reconnects(void **state)
{
	struct fixture *f = *state;

	start_all(f);
	node_stop(f, 2);
	/* A clean close is an EOF: seen long before the dead time. */
	assert_true(run_until(f, others_see_2_down, NULL, fast.dead_ms / 2));
	assert_int_equal(f->nodes[1].downs[2], 1);
	assert_int_equal(f->nodes[3].downs[2], 1);
	assert_true(f->nodes[1].up[3]);
	assert_int_equal(rft_peer_send(&f->nodes[1].mgr, 2, T_MSG, 0, "", 0),
			 CF_EUNAVAIL);
	run_until(f, never, NULL, 200); /* node 1 redials a closed port */
	node_start(f, 2, SECRET);
	assert_true(run_until(f, all_up, NULL, 5000));
	assert_int_equal(rft_peer_up_count(&f->nodes[1].mgr, 2), 2);
	assert_int_equal(rft_peer_up_count(&f->nodes[3].mgr, 2), 2);
	send_small(f, 1, 2, 0);
	send_small(f, 3, 2, 0);
	struct expect e[] = {{2, 1, 1, 0}, {2, 3, 1, 0}, {0, 0, 0, 0}};
	assert_true(run_until(f, got_all, e, 15000));
}

/* Node 3 holds status want (len bytes) from node 1. */
static bool status_31_is(struct fixture *f, void *arg)
{
	const char *want = arg;
	uint8_t got[RFT_PEER_STATUS_MAX];
	size_t n = rft_peer_status(&f->nodes[3].mgr, 1, got, sizeof got);

	return n == strlen(want) && memcmp(got, want, n) == 0;
}

/* Issue 11: a node's status (its disk) travels on the pings. */
static void status_travels_on_pings_and_is_forgotten_when_down(void **state)
{
	struct fixture *f = *state;
	uint8_t big[RFT_PEER_STATUS_MAX + 1] = {0};

	start_all(f);
	/* Nothing set yet: empty pings, as from a node that predates it. */
	assert_true(status_31_is(f, ""));
	assert_int_equal(rft_peer_set_status(&f->nodes[1].mgr, big,
					     sizeof big),
			 -EINVAL);
	assert_int_equal(rft_peer_set_status(&f->nodes[1].mgr, "low", 3), 0);
	/* Sent at once, not at the next ping. */
	assert_true(run_until(f, status_31_is, "low", fast.ping_ms / 2));
	assert_int_equal(rft_peer_set_status(&f->nodes[1].mgr, "ok!", 3), 0);
	assert_true(run_until(f, status_31_is, "ok!", fast.ping_ms / 2));
	/* Still sent by later pings; gone with the link. */
	run_until(f, never, NULL, 3 * fast.ping_ms);
	assert_true(status_31_is(f, "ok!"));
	node_stop(f, 1);
	assert_true(run_until(f, status_31_is, "", fast.dead_ms * 2));
	/* A new link brings it again, from its first ping. */
	node_start(f, 1, SECRET);
	assert_int_equal(rft_peer_set_status(&f->nodes[1].mgr, "new", 3), 0);
	assert_true(run_until(f, status_31_is, "new", 5000));
}

static void silent_peer_is_declared_down(void **state)
{
	struct fixture *f = *state;
	struct raw r = {.fd = -1, .in = CF_BUF_INIT};
	uint64_t t0;

	node_start(f, 2, SECRET);
	raw_handshake(f, &r);
	assert_true(run_until(f, node2_sees_1_up, NULL, 3000));
	assert_int_equal(rft_peer_send(&f->nodes[2].mgr, 1, T_MSG, 5, "hi", 2),
			 0);
	uv_update_time(&f->loop);
	t0 = uv_now(&f->loop);
	/* The raw peer says nothing from now on (a stopped process). */
	assert_true(run_until(f, node2_sees_1_down, NULL, 5 * fast.dead_ms));
	uv_update_time(&f->loop);
	assert_true(uv_now(&f->loop) - t0 >= fast.dead_ms - fast.ping_ms);
	raw_pump(f, &r);
	assert_true(r.in.len >= 13 + 2); /* the message, then pings */
	assert_int_equal(((uint8_t *)r.in.data)[4], T_MSG);
	close(r.fd);
	cf_buf_release(&r.in);
}

static void garbage_closes_link(void **state)
{
	struct fixture *f = *state;
	struct raw r = {.fd = -1, .in = CF_BUF_INIT, .want = SIZE_MAX};
	uint8_t junk[64];

	start_all(f);
	r.fd = raw_connect(f->ports[2]);
	memset(junk, 0xA5, sizeof junk);
	cf_put_u32(junk, 20); /* a frame of an unknown reserved type */
	junk[4] = 9;
	raw_send(r.fd, junk, sizeof junk);
	assert_true(run_until(f, raw_eof, &r, 15000));
	close(r.fd);
	cf_buf_release(&r.in);
	/* The real links did not notice. */
	assert_true(all_up(f, NULL));
	send_small(f, 1, 2, 0);
	struct expect e[] = {{2, 1, 1, 0}, {0, 0, 0, 0}};
	assert_true(run_until(f, got_all, e, 15000));
}

static void oversize_length_closes_link(void **state)
{
	struct fixture *f = *state;
	struct raw r = {.fd = -1, .in = CF_BUF_INIT, .want = SIZE_MAX};
	uint8_t hdr[13];

	node_start(f, 2, SECRET);
	r.fd = raw_connect(f->ports[2]);
	memset(hdr, 0, sizeof hdr);
	cf_put_u32(hdr, 9 + RFT_PEER_MAX_BODY + 1);
	hdr[4] = T_MSG;
	raw_send(r.fd, hdr, sizeof hdr);
	assert_true(run_until(f, raw_eof, &r, 15000));
	close(r.fd);
	cf_buf_release(&r.in);
}

/*
 * Before authentication a frame larger than the handshake's is refused as
 * soon as its length is read, and handshakes at once are capped: an
 * unauthenticated client makes the node hold a few bytes, never a 16 MiB
 * frame (the handshake deadline is set far away, so only these rules can
 * close the connections within the test's bound).
 */
static const struct rft_peer_timing slow_handshake = {
	.ping_ms = 50, .dead_ms = 600000, .backoff_min_ms = 50,
	.backoff_max_ms = 200};

static struct raw *crowd_v;

static bool crowd_two_closed(struct fixture *f, void *arg)
{
	unsigned n = 0;

	(void)arg;
	for (unsigned i = 0; i < RFT_PEER_HANDSHAKES_MAX + 2; i++) {
		raw_pump(f, &crowd_v[i]);
		n += crowd_v[i].eof ? 1 : 0;
	}
	return n >= 2;
}

static void large_frame_or_crowd_before_auth_is_closed(void **state)
{
	struct fixture *f = *state;
	struct raw r = {.fd = -1, .in = CF_BUF_INIT, .want = SIZE_MAX};
	struct raw crowd[RFT_PEER_HANDSHAKES_MAX + 2];
	uint8_t hdr[13];
	unsigned closed = 0;

	start_timing = &slow_handshake;
	node_start(f, 2, SECRET);
	r.fd = raw_connect(f->ports[2]);
	memset(hdr, 0, sizeof hdr);
	cf_put_u32(hdr, 9 + 1024 * 1024); /* legal once up, not before */
	hdr[4] = T_MSG;
	raw_send(r.fd, hdr, sizeof hdr);
	assert_true(run_until(f, raw_eof, &r, 15000));
	close(r.fd);
	cf_buf_release(&r.in);

	/* Mute connections: the ones past the cap are closed at once. */
	for (unsigned i = 0; i < RFT_PEER_HANDSHAKES_MAX + 2; i++) {
		crowd[i] = (struct raw){.fd = -1, .in = CF_BUF_INIT,
					.want = SIZE_MAX};
		crowd[i].fd = raw_connect(f->ports[2]);
	}
	crowd_v = crowd;
	assert_true(run_until(f, crowd_two_closed, NULL, 15000));
	run_until(f, never, NULL, 300);
	for (unsigned i = 0; i < RFT_PEER_HANDSHAKES_MAX + 2; i++)
		closed += crowd[i].eof ? 1 : 0;
	assert_int_equal(closed, 2);
	for (unsigned i = 0; i < RFT_PEER_HANDSHAKES_MAX + 2; i++) {
		close(crowd[i].fd);
		cf_buf_release(&crowd[i].in);
	}
}

static void user_frame_before_handshake_closes_link(void **state)
{
	struct fixture *f = *state;
	struct raw r = {.fd = -1, .in = CF_BUF_INIT, .want = SIZE_MAX};
	uint8_t buf[13 + 4];

	node_start(f, 2, SECRET);
	r.fd = raw_connect(f->ports[2]);
	frame(buf, T_MSG, "evil", 4);
	raw_send(r.fd, buf, sizeof buf);
	assert_true(run_until(f, raw_eof, &r, 15000));
	assert_int_equal(f->nodes[2].next_req[1], 0);
	assert_int_equal(f->nodes[2].bad, 0);
	close(r.fd);
	cf_buf_release(&r.in);
}

static void handshake_timeout_closes_mute_connection(void **state)
{
	struct fixture *f = *state;
	struct raw r = {.fd = -1, .in = CF_BUF_INIT, .want = SIZE_MAX};

	node_start(f, 2, SECRET);
	r.fd = raw_connect(f->ports[2]);
	assert_true(run_until(f, raw_eof, &r, 5 * fast.dead_ms));
	assert_true(r.in.len >= 13 + 22); /* it did say HELLO */
	close(r.fd);
	cf_buf_release(&r.in);
}

static void loop_stall_does_not_drop_links(void **state)
{
	struct fixture *f = *state;
	unsigned a, b;

	start_all(f);
	/* The whole process stalls (a long callback, SIGSTOP): every peer's
	 * pings wait unread while the dead time passes. */
	usleep(3 * fast.dead_ms * 1000);
	run_until(f, never, NULL, 2 * fast.dead_ms);
	for (a = 1; a <= N; a++)
		for (b = 1; b <= N; b++)
			if (a != b)
				assert_int_equal(f->nodes[a].downs[b], 0);
}

static bool node2_sees_1_up_twice(struct fixture *f, void *arg)
{
	(void)arg;
	return f->nodes[2].ups[1] == 2 && f->nodes[2].up[1];
}

static void new_link_from_same_node_replaces_old(void **state)
{
	struct fixture *f = *state;
	struct raw r1 = {.fd = -1, .in = CF_BUF_INIT};
	struct raw r2 = {.fd = -1, .in = CF_BUF_INIT};

	node_start(f, 2, SECRET);
	raw_handshake(f, &r1);
	assert_true(run_until(f, node2_sees_1_up, NULL, 3000));
	/* Node 1 restarted without node 2 noticing: it dials again. */
	raw_handshake(f, &r2);
	assert_true(run_until(f, node2_sees_1_up_twice, NULL, 3000));
	assert_int_equal(f->nodes[2].downs[1], 1);
	assert_int_equal(rft_peer_up_count(&f->nodes[2].mgr, 1), 2);
	r1.want = SIZE_MAX;
	assert_true(run_until(f, raw_eof, &r1, 3000));
	/* Messages now go to the new link. */
	assert_int_equal(rft_peer_send(&f->nodes[2].mgr, 1, T_MSG, 9, "new", 3),
			 0);
	r2.want = 13 + 3;
	assert_true(run_until(f, raw_pump, &r2, 3000));
	assert_false(r2.eof);
	assert_int_equal(((uint8_t *)r2.in.data)[4], T_MSG);
	assert_int_equal(cf_get_u64(r2.in.data + 5), 9);
	close(r1.fd);
	close(r2.fd);
	cf_buf_release(&r1.in);
	cf_buf_release(&r2.in);
}

static void close_with_pending_writes_frees_everything(void **state)
{
	struct fixture *f = *state;
	struct cf_blob *blob;
	uint8_t *big;
	unsigned i;

	start_all(f);
	big = calloc(1, BIG_LEN);
	assert_non_null(big);
	blob = cf_blob_new(BIG_LEN);
	assert_non_null(blob);
	memset(blob->data, 1, BIG_LEN);
	for (i = 0; i < 6; i++) {
		assert_int_equal(rft_peer_send(&f->nodes[1].mgr, 2, T_BIG, i,
					       big, BIG_LEN),
				 0);
		assert_int_equal(
			rft_peer_send_blob(&f->nodes[1].mgr, 3, T_BIG, i, blob),
			0);
		send_small(f, 2, 3, i);
	}
	free(big);
	/* One turn: the out buffers become writes, mostly still pending. */
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_true(rft_peer_queued(&f->nodes[1].mgr, 2) > 0);
	assert_true(rft_peer_queued(&f->nodes[1].mgr, 3) > 0);
	rft_peer_mgr_close(&f->nodes[1].mgr, on_closed);
	f->nodes[1].running = false;
	assert_int_equal(blob->refs > 1, 1); /* still held by writes */
	assert_true(run_until(f, node_closed, (void *)(uintptr_t)1, 5000));
	assert_int_equal(blob->refs, 1);
	cf_blob_unref(blob);
	/* Teardown checks that the loop closes with no handle left. */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(links_come_up_between_all_pairs),
		T(messages_arrive_in_order_and_intact),
		T(send_checks_type_size_and_link),
		T(init_rejects_bad_config),
		T(close_without_start_calls_back_from_loop),
		T(start_on_busy_port_fails_and_closes),
		T(wrong_secret_link_never_comes_up),
		T(closed_node_is_seen_down_and_reconnects),
		T(status_travels_on_pings_and_is_forgotten_when_down),
	T(silent_peer_is_declared_down),
		T(garbage_closes_link),
		T(oversize_length_closes_link),
		T(user_frame_before_handshake_closes_link),
		T(large_frame_or_crowd_before_auth_is_closed),
		T(handshake_timeout_closes_mute_connection),
		T(loop_stall_does_not_drop_links),
		T(new_link_from_same_node_replaces_old),
		T(close_with_pending_writes_frees_everything),
#undef T
	};

	cf_diag_setup("test", CF_DIAG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
