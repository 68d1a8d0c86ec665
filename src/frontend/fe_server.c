#include "config.h"

#include "frontend/fe_server.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/cf_buf.h"
#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "frontend/fe_conn.h"
#include "frontend/fe_session.h"

/* Peer-link message: this node's role and socket count, every second. */
#define FE_MSG_STATUS (RFT_MSG_USER + 0)
#define STATUS_MS 1000

void fe_config_default(struct fe_config *c)
{
	memset(c, 0, sizeof *c);
	c->max_body = 1u << 20;
	c->ws_max_message = 1u << 20;
	c->ws_max_buffer = 4u << 20;
	c->max_group = 500;
	c->max_content_chars = 100000;
}

void fe_server_init(struct fe_server *s, uv_loop_t *loop,
		    const struct cf_cluster *cluster, unsigned self,
		    const struct fe_config *cfg)
{
	memset(s, 0, sizeof *s);
	s->loop = loop;
	s->cluster = cluster;
	s->self = self;
	s->cfg = *cfg;
	cf_list_init(&s->conns);
	cf_map_init(&s->users);
}

void fe_server_attach(struct fe_server *s, struct rft_node *node)
{
	s->node = node;
}

static void server_accept_cb(uv_stream_t *l, int status)
{
	struct fe_server *s = l->data;
	int rv;

	if (status != 0 || s->closing)
		return;
	rv = fe_conn_accept(s, l);
	if (rv != 0)
		cf_warn("accept: %s", cf_strerror(rv));
}

static void server_status_cb(uv_timer_t *t)
{
	struct fe_server *s = t->data;
	uint8_t body[20];
	const char *role = rft_node_role(s->node);

	memset(body, 0, sizeof body);
	cf_put_u32(body, s->n_ws);
	memcpy(body + 4, role, strlen(role) < 15 ? strlen(role) : 15);
	for (unsigned i = 0; i < s->cluster->n_nodes; i++) {
		unsigned id = s->cluster->nodes[i].id;
		if (id != s->self)
			rft_node_send_user(s->node, id, FE_MSG_STATUS, 0, body,
					   sizeof body);
	}
}

void fe_server_on_peer_msg(struct fe_server *s, unsigned from, uint8_t type,
			   const void *body, size_t len)
{
	if (type != FE_MSG_STATUS || len != 20)
		return;
	for (unsigned i = 0; i < s->cluster->n_nodes; i++) {
		struct fe_peer_status *p = &s->peers[i];
		if (s->cluster->nodes[i].id != from)
			continue;
		p->known = true;
		p->ws_count = cf_get_u32(body);
		memcpy(p->role, (const char *)body + 4, 15);
		p->role[15] = '\0';
	}
}

int fe_server_start(struct fe_server *s, char *errmsg)
{
	const struct cf_node_conf *me = cf_cluster_node(s->cluster, s->self);
	struct sockaddr_in addr;
	char ip[16];
	int port;
	int rv;

	if (me == NULL || cf_addr_split(me->client_addr, ip, &port) != 0) {
		cf_errmsg_printf(errmsg, "no client address for node %u",
				 s->self);
		return CF_EBADREQ;
	}
	uv_ip4_addr(ip, port, &addr);
	uv_tcp_init(s->loop, &s->listener);
	s->listener.data = s;
	rv = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&s->listener, 1024,
			       server_accept_cb);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "listen on %s: %s", me->client_addr,
				 uv_strerror(rv));
		uv_close((uv_handle_t *)&s->listener, NULL);
		return rv;
	}
	uv_timer_init(s->loop, &s->status_timer);
	s->status_timer.data = s;
	uv_timer_start(&s->status_timer, server_status_cb, STATUS_MS,
		       STATUS_MS);
	cf_info("serving clients on %s", me->client_url);
	return 0;
}

static void server_handle_closed_cb(uv_handle_t *h)
{
	struct fe_server *s = h->data;

	if (--s->pending_closes == 0 && s->close_cb != NULL)
		s->close_cb(s);
}

void fe_server_close(struct fe_server *s, void (*cb)(struct fe_server *s))
{
	struct cf_list *e;

	s->closing = true;
	s->close_cb = cb;
	/* listener + timer + (connections, counted once) */
	s->pending_closes = 2 + (cf_list_empty(&s->conns) ? 0 : 1);
	uv_close((uv_handle_t *)&s->listener, server_handle_closed_cb);
	uv_close((uv_handle_t *)&s->status_timer, server_handle_closed_cb);
	e = s->conns.next;
	while (e != &s->conns) {
		struct fe_conn *c = CF_CONTAINER_OF(e, struct fe_conn, link);
		e = e->next;
		if (c->state == FE_CONN_WS)
			fe_conn_ws_close(c, 1001, "node shutting down");
		fe_conn_close(c);
	}
}

void fe_server_on_record(void *arg, const struct log_record *rec,
			 const struct rft_conv *conv)
{
	struct fe_server *s = arg;

	if (s->closing)
		return;
	fe_session_fanout(s, rec, conv);
}

void fe_server_release(struct fe_server *s)
{
	fe_session_release(s);
}
