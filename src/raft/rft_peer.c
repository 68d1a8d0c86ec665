#include "config.h"

/*
 * Peer links: the manager. It owns the listener, the tick timer (pings,
 * silence and handshake deadlines), the flush prepare handle (one write per
 * link per loop turn) and, for each node with a higher id, the redial timer
 * with its doubling backoff. Connections and the wire protocol are in
 * rft_peer_link.c, which specifies the format.
 */

#include "raft/rft_peer_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"

static void node_dial(struct rft_peer_node *node, struct rft_peer_mgr *mgr);

struct rft_peer_node *rft__peer_node(struct rft_peer_mgr *mgr, unsigned id)
{
	unsigned i;

	for (i = 0; i < mgr->n_nodes; i++)
		if (mgr->nodes[i].id == id)
			return &mgr->nodes[i];
	return NULL;
}

static const struct rft_peer_node *mgr_node_c(const struct rft_peer_mgr *mgr,
					      unsigned id)
{
	return rft__peer_node((struct rft_peer_mgr *)mgr, id);
}

void rft__peer_handle_closed(struct rft_peer_mgr *mgr)
{
	assert(mgr->handles > 0);
	mgr->handles--;
	if (mgr->handles == 0 && mgr->state == MGR_CLOSING &&
	    mgr->close_cb != NULL)
		mgr->close_cb(mgr);
}

static void mgr_handle_close_cb(uv_handle_t *h)
{
	rft__peer_handle_closed(h->data);
}

static void node_retry_close_cb(uv_handle_t *h)
{
	struct rft_peer_node *node = h->data;

	rft__peer_handle_closed(node->mgr);
}

int rft_peer_mgr_init(struct rft_peer_mgr *mgr, uv_loop_t *loop,
		      const struct cf_cluster *c, unsigned self_id,
		      rft_peer_msg_cb on_msg, rft_peer_state_cb on_state,
		      void *data)
{
	const struct cf_node_conf *nc;
	struct rft_peer_node *n;
	char ip[CF_ADDR_SIZE];
	int port;
	unsigned i;

	memset(mgr, 0, sizeof *mgr);
	mgr->loop = loop; /* rft_peer_mgr_close() works even after a failure */
	if (cf_cluster_node(c, self_id) == NULL || c->secret_len == 0 ||
	    c->secret_len > sizeof c->secret)
		return CF_EBADREQ;
	mgr->data = data;
	mgr->loop = loop;
	mgr->cluster = *c;
	mgr->self_id = self_id;
	mgr->on_msg = on_msg;
	mgr->on_state = on_state;
	mgr->timing.ping_ms = 1000;
	mgr->timing.dead_ms = 3000;
	mgr->timing.backoff_min_ms = 50;
	mgr->timing.backoff_max_ms = 1000;
	for (i = 0; i < c->n_nodes; i++) {
		nc = &c->nodes[i];
		if (cf_addr_split(nc->peer_addr, ip, &port) != 0 || port <= 0 ||
		    port > 65535)
			return CF_EBADREQ;
		if (nc->id == self_id)
			continue;
		n = &mgr->nodes[mgr->n_nodes++];
		n->mgr = mgr;
		n->id = nc->id;
		if (uv_ip4_addr(ip, port, &n->addr) != 0)
			return CF_EBADREQ;
		n->dial = self_id < nc->id;
	}
	mgr->state = MGR_INIT;
	return 0;
}

void rft_peer_mgr_set_timing(struct rft_peer_mgr *mgr,
			     const struct rft_peer_timing *t)
{
	assert(mgr->state == MGR_INIT);
	assert(t->ping_ms > 0 && t->dead_ms > 0 && t->backoff_min_ms > 0 &&
	       t->backoff_max_ms >= t->backoff_min_ms);
	mgr->timing = *t;
}

/* --- the flush, once per loop turn --- */

static void mgr_flush_cb(uv_prepare_t *p)
{
	struct rft_peer_mgr *mgr = p->data;
	struct rft_peer_conn *conn;
	int rv;

	for (conn = mgr->conns; conn != NULL; conn = conn->next) {
		if (conn->state == CONN_CLOSING || conn->out.len == 0)
			continue;
		rv = rft__peer_conn_flush(conn);
		if (rv != 0)
			rft__peer_conn_close(conn, CF_DIAG_WARN,
					     uv_strerror(rv));
	}
	uv_prepare_stop(p);
}

void rft__peer_schedule_flush(struct rft_peer_mgr *mgr)
{
	if (mgr->state == MGR_RUNNING &&
	    !uv_is_active((uv_handle_t *)&mgr->flush))
		uv_prepare_start(&mgr->flush, mgr_flush_cb);
}

/* --- dialing and accepting --- */

static void node_retry_cb(uv_timer_t *t)
{
	struct rft_peer_node *node = t->data;

	node_dial(node, node->mgr);
}

void rft__peer_node_retry(struct rft_peer_node *node, struct rft_peer_mgr *mgr)
{
	unsigned delay = node->backoff_ms;

	if (mgr->state != MGR_RUNNING || node->link != NULL ||
	    node->dialing != NULL)
		return;
	node->backoff_ms = node->backoff_ms * 2 > mgr->timing.backoff_max_ms
				   ? mgr->timing.backoff_max_ms
				   : node->backoff_ms * 2;
	uv_timer_start(&node->retry, node_retry_cb, delay, 0);
}

static void conn_connect_cb(uv_connect_t *req, int status)
{
	struct rft_peer_conn *conn = req->data;
	int rv;

	if (status == UV_ECANCELED || conn->state == CONN_CLOSING)
		return;
	if (status < 0) {
		rft__peer_conn_close(conn, CF_DIAG_DEBUG, uv_strerror(status));
		return;
	}
	rv = rft__peer_conn_begin(conn);
	if (rv != 0)
		rft__peer_conn_close(conn, CF_DIAG_WARN, cf_strerror(rv));
}

/* Open our connection to a node with a higher id. */
static void node_dial(struct rft_peer_node *node, struct rft_peer_mgr *mgr)
{
	struct rft_peer_conn *conn;
	int rv;

	if (mgr->state != MGR_RUNNING || node->link != NULL ||
	    node->dialing != NULL)
		return;
	conn = rft__peer_conn_new(mgr);
	if (conn == NULL) {
		rft__peer_node_retry(node, mgr);
		return;
	}
	conn->outgoing = true;
	conn->node_id = node->id;
	conn->state = CONN_CONNECTING;
	conn->connect.data = conn;
	node->dialing = conn;
	rv = uv_tcp_connect(&conn->connect, &conn->tcp,
			    (const struct sockaddr *)&node->addr,
			    conn_connect_cb);
	if (rv != 0)
		rft__peer_conn_close(conn, CF_DIAG_WARN, uv_strerror(rv));
}

/* Connections in handshake (not the one just accepted: not begun). */
static unsigned handshakes(const struct rft_peer_mgr *mgr)
{
	unsigned n = 0;

	for (const struct rft_peer_conn *c = mgr->conns; c != NULL;
	     c = c->next)
		if (c->state != CONN_UP && c->state != CONN_CLOSING &&
		    c->state != CONN_CONNECTING)
			n++;
	return n;
}

static void mgr_accept_cb(uv_stream_t *server, int status)
{
	struct rft_peer_mgr *mgr = server->data;
	struct rft_peer_conn *conn;
	int rv;

	if (status < 0) {
		cf_warn("peer listener: %s", uv_strerror(status));
		return;
	}
	conn = rft__peer_conn_new(mgr);
	if (conn == NULL) {
		cf_warn("peer listener: out of memory");
		return;
	}
	rv = uv_accept(server, (uv_stream_t *)&conn->tcp);
	if (rv == 0 && handshakes(mgr) >= RFT_PEER_HANDSHAKES_MAX) {
		/* Unauthenticated connections are few and small: past the
		 * cap, a new one is closed at once (a real peer retries). */
		rft__peer_conn_close(conn, CF_DIAG_WARN,
				     "too many connections in handshake");
		return;
	}
	if (rv == 0)
		rv = rft__peer_conn_begin(conn);
	if (rv != 0)
		rft__peer_conn_close(conn, CF_DIAG_WARN, uv_strerror(rv));
}

/* Every ping period: ping live links, drop silent ones and slow handshakes. */
static void mgr_tick_cb(uv_timer_t *t)
{
	struct rft_peer_mgr *mgr = t->data;
	struct rft_peer_conn *conn;
	uint64_t now = uv_now(mgr->loop);
	bool stalled;
	int rv;

	/*
	 * Timers run before the poll phase: after a loop stall (a long
	 * callback, a stopped process) the peers' pings may be waiting unread
	 * in the socket. Judge silence only on ticks that came on time.
	 */
	stalled = now - mgr->last_tick_ms > 2u * mgr->timing.ping_ms;
	mgr->last_tick_ms = now;
	for (conn = mgr->conns; conn != NULL; conn = conn->next) {
		if (conn->state == CONN_CLOSING)
			continue;
		if (conn->state != CONN_UP) {
			if (!stalled &&
			    now - conn->born_ms > mgr->timing.dead_ms)
				rft__peer_conn_close(conn, CF_DIAG_INFO,
						     "handshake timed out");
			continue;
		}
		if (!stalled && now - conn->last_rx_ms > mgr->timing.dead_ms) {
			/* tested: test_rft_peer.c silent_peer_is_declared_down
			 */
			rft__peer_conn_close(conn, CF_DIAG_WARN, "peer silent");
			continue;
		}
		rv = rft__peer_conn_queue(conn, PEER_T_PING, 0, mgr->status,
					  mgr->status_len);
		if (rv != 0)
			rft__peer_conn_close(conn, CF_DIAG_WARN,
					     cf_strerror(rv));
	}
}

int rft_peer_mgr_start(struct rft_peer_mgr *mgr)
{
	const struct cf_node_conf *self;
	struct sockaddr_in addr;
	char ip[CF_ADDR_SIZE];
	int port;
	unsigned i;
	int rv;

	assert(mgr->state == MGR_INIT);
	mgr->state = MGR_FAILED;
	uv_timer_init(mgr->loop, &mgr->tick);
	mgr->tick.data = mgr;
	uv_prepare_init(mgr->loop, &mgr->flush);
	mgr->flush.data = mgr;
	uv_tcp_init(mgr->loop, &mgr->listener);
	mgr->listener.data = mgr;
	mgr->handles += 3;
	for (i = 0; i < mgr->n_nodes; i++) {
		struct rft_peer_node *n = &mgr->nodes[i];

		uv_timer_init(mgr->loop, &n->retry);
		n->retry.data = n;
		n->backoff_ms = mgr->timing.backoff_min_ms;
		mgr->handles++;
	}

	self = cf_cluster_node(&mgr->cluster, mgr->self_id);
	rv = cf_addr_split(self->peer_addr, ip, &port);
	if (rv != 0)
		return rv;
	rv = uv_ip4_addr(ip, port, &addr);
	if (rv != 0)
		return rv;
	rv = uv_tcp_bind(&mgr->listener, (const struct sockaddr *)&addr, 0);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&mgr->listener, 16,
			       mgr_accept_cb);
	if (rv != 0) {
		cf_error("peer listener on %s: %s", self->peer_addr,
			 uv_strerror(rv));
		return rv;
	}
	mgr->state = MGR_RUNNING;
	mgr->last_tick_ms = uv_now(mgr->loop);
	uv_timer_start(&mgr->tick, mgr_tick_cb, mgr->timing.ping_ms,
		       mgr->timing.ping_ms);
	for (i = 0; i < mgr->n_nodes; i++)
		if (mgr->nodes[i].dial)
			node_dial(&mgr->nodes[i], mgr);
	return 0;
}

void rft_peer_mgr_close(struct rft_peer_mgr *mgr, rft_peer_close_cb cb)
{
	struct rft_peer_conn *conn;
	unsigned i;

	assert(mgr->state != MGR_CLOSING);
	if (mgr->state == MGR_INIT) {
		/* Never started: no handle to close, but cb must still run
		 * from the loop. One timer handle, closed at once, does it. */
		assert(mgr->loop != NULL);
		mgr->state = MGR_CLOSING;
		mgr->close_cb = cb;
		uv_timer_init(mgr->loop, &mgr->tick);
		mgr->tick.data = mgr;
		mgr->handles = 1;
		uv_close((uv_handle_t *)&mgr->tick, mgr_handle_close_cb);
		return;
	}
	mgr->state = MGR_CLOSING;
	mgr->close_cb = cb;
	for (conn = mgr->conns; conn != NULL; conn = conn->next)
		rft__peer_conn_close(conn, CF_DIAG_DEBUG, "closing");
	for (i = 0; i < mgr->n_nodes; i++) {
		mgr->nodes[i].link = NULL;
		mgr->nodes[i].dialing = NULL;
		uv_close((uv_handle_t *)&mgr->nodes[i].retry,
			 node_retry_close_cb);
	}
	uv_close((uv_handle_t *)&mgr->tick, mgr_handle_close_cb);
	uv_close((uv_handle_t *)&mgr->flush, mgr_handle_close_cb);
	uv_close((uv_handle_t *)&mgr->listener, mgr_handle_close_cb);
}

/* --- sending --- */

static struct rft_peer_conn *mgr_link(struct rft_peer_mgr *mgr,
				      unsigned node_id)
{
	struct rft_peer_node *node = rft__peer_node(mgr, node_id);

	if (mgr->state != MGR_RUNNING || node == NULL || node->link == NULL)
		return NULL;
	assert(node->link->state == CONN_UP);
	return node->link;
}

int rft_peer_send(struct rft_peer_mgr *mgr, unsigned node_id, uint8_t type,
		  uint64_t req_id, const void *body, size_t len)
{
	struct rft_peer_conn *conn;

	if (type < RFT_PEER_TYPE_USER)
		return -EINVAL;
	if (len > RFT_PEER_MAX_BODY)
		return CF_ETOOBIG;
	conn = mgr_link(mgr, node_id);
	if (conn == NULL)
		return CF_EUNAVAIL;
	return rft__peer_conn_queue(conn, type, req_id, body, len);
}
int rft_peer_send_blob(struct rft_peer_mgr *mgr, unsigned node_id, uint8_t type,
		       uint64_t req_id, struct cf_blob *blob)
{
	struct rft_peer_conn *conn;

	if (blob->len <= PEER_BLOB_COPY_MAX)
		return rft_peer_send(mgr, node_id, type, req_id, blob->data,
				     blob->len);
	if (type < RFT_PEER_TYPE_USER)
		return -EINVAL;
	if (blob->len > RFT_PEER_MAX_BODY)
		return CF_ETOOBIG;
	conn = mgr_link(mgr, node_id);
	if (conn == NULL)
		return CF_EUNAVAIL;
	return rft__peer_conn_write_blob(conn, type, req_id, blob);
}

bool rft_peer_up(const struct rft_peer_mgr *mgr, unsigned node_id)
{
	const struct rft_peer_node *node = mgr_node_c(mgr, node_id);

	return mgr->state == MGR_RUNNING && node != NULL && node->link != NULL;
}

uint64_t rft_peer_queued(const struct rft_peer_mgr *mgr, unsigned node_id)
{
	const struct rft_peer_node *node = mgr_node_c(mgr, node_id);

	if (mgr->state != MGR_RUNNING || node == NULL || node->link == NULL)
		return 0;
	return node->link->out.len + node->link->inflight;
}

int rft_peer_set_status(struct rft_peer_mgr *mgr, const void *body,
			size_t len)
{
	struct rft_peer_conn *conn;

	if (len > RFT_PEER_STATUS_MAX)
		return -EINVAL;
	if (len == mgr->status_len && memcmp(mgr->status, body, len) == 0)
		return 0;
	memcpy(mgr->status, body, len);
	mgr->status_len = (uint8_t)len;
	if (mgr->state != MGR_RUNNING)
		return 0;
	/* Tell the peers now rather than at the next ping. */
	for (conn = mgr->conns; conn != NULL; conn = conn->next)
		if (conn->state == CONN_UP &&
		    rft__peer_conn_queue(conn, PEER_T_PING, 0, mgr->status,
					 mgr->status_len) != 0)
			rft__peer_conn_close(conn, CF_DIAG_WARN,
					     "out of memory");
	return 0;
}

size_t rft_peer_status(const struct rft_peer_mgr *mgr, unsigned node_id,
		       void *buf, size_t cap)
{
	const struct rft_peer_node *node = mgr_node_c(mgr, node_id);
	size_t n;

	if (mgr->state != MGR_RUNNING || node == NULL || node->link == NULL)
		return 0;
	n = node->status_len < cap ? node->status_len : cap;
	memcpy(buf, node->status, n);
	return n;
}

uint64_t rft_peer_up_count(const struct rft_peer_mgr *mgr, unsigned node_id)
{
	const struct rft_peer_node *node = mgr_node_c(mgr, node_id);

	return node != NULL ? node->up_count : 0;
}
