#include "config.h"

#include "frontend/fe_server.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cf_buf.h"
#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "frontend/fe_api_sync.h"
#include "sync/sync_search.h"
#include "frontend/fe_conn.h"
#include "frontend/fe_session.h"

/* Peer-link message: this node's role and socket count, every second. */
#define FE_MSG_STATUS (RFT_MSG_USER + 0)
#define STATUS_MS 1000

size_t fe_config_send_bytes(unsigned max_chars)
{
	return (size_t)max_chars * 12u + FE_SEND_ENVELOPE;
}

void fe_config_default(struct fe_config *c)
{
	memset(c, 0, sizeof *c);
	c->max_content_chars = 100000;
	/* issue 11: the largest legal send fits (1,265,536 bytes) */
	c->max_body = fe_config_send_bytes(c->max_content_chars);
	c->ws_max_message = fe_config_send_bytes(c->max_content_chars);
	c->ws_max_buffer = 4u << 20;
	c->max_group = 500;
	c->max_connections = 10000;
	c->header_timeout_ms = 10000;
	c->idle_timeout_ms = 120000;
	c->presence_group_max = 100;
	c->fanout_queue = FE_FANOUT_QUEUE_MAX;
	c->max_media = FE_MEDIA_MAX_DEFAULT;
	c->rate_limit = 100;
	c->rate_burst = 200;
}

void fe_server_init(struct fe_server *s, uv_loop_t *loop,
		    const struct cf_cluster *cluster, unsigned self,
		    const struct fe_config *cfg)
{
	assert(cfg->data_dir != NULL);
	memset(s, 0, sizeof *s);
	s->loop = loop;
	s->cluster = cluster;
	s->self = self;
	s->cfg = *cfg;
	cf_list_init(&s->conns);
	cf_list_init(&s->flush_list);
	fe_wheel_init(&s->wheel, cf_mono_ms());
	cf_map_init(&s->users);
	cf_buf_init(&s->push_recalls);
	fe_presence_init(&s->presence, s);
	fe_fanout_init(&s->fanout, s);
	fe_media_init(&s->media, s);
	fe_rate_init(&s->rate, cfg->rate_limit, cfg->rate_burst);
	if (!cfg->search_off && sync_search_new(&s->search) != 0) {
		cf_error("search: out of memory");
		exit(1);
	}
}

void fe_server_attach(struct fe_server *s, struct rft_node *node)
{
	s->node = node;
}

/* Recalls held by fe_server_on_rebuild(), to push's erasure. */
static void push_replay_recalls(struct fe_server *s)
{
	const uint8_t *p = (const uint8_t *)s->push_recalls.data;
	size_t pos = 0, n = s->push_recalls.len;
	char path[4200];

	snprintf(path, sizeof path, "%s/push-dead-letter.jsonl",
		 s->cfg.data_dir);
	if (access(path, F_OK) != 0)
		n = 0; /* no dead letters to erase */
	while (pos < n) {
		struct cf_str conv = {(const char *)p + pos + 1, p[pos]};

		sync_push_recall(&s->push, conv, cf_get_u64(p + pos + 1 + p[pos]));
		pos += 1 + (size_t)p[pos] + 8;
	}
	cf_buf_release(&s->push_recalls);
}

/*
 * A recall record met by a rebuild (at start, or after a fetch): both run
 * off the loop, so the recall is held for push until the loop has the
 * server again (fe_server_start, fe_server_on_rebuilding).
 */
static void push_rebuilt_recall(struct fe_server *s,
				const struct log_record *rec)
{
	uint8_t len = (uint8_t)rec->conv.len;

	if (s->push_on && !s->rebuilding) {
		sync_push_recall(&s->push, rec->conv, rec->seq);
		return;
	}
	if (cf_buf_append(&s->push_recalls, &len, 1) != 0 ||
	    cf_buf_append(&s->push_recalls, rec->conv.p, rec->conv.len) != 0 ||
	    cf_buf_put_u64(&s->push_recalls, rec->seq) != 0)
		cf_warn("push: no memory to hold a recall for erasure");
}

static void server_accept_cb(uv_stream_t *l, int status)
{
	struct fe_server *s = l->data;
	int rv;

	if (status != 0 || s->closing)
		return;
	/* WebSockets count: every open client connection does */
	if (s->n_conns >= s->cfg.max_connections)
		rv = fe_conn_refuse(s, l);
	else
		rv = fe_conn_accept(s, l);
	if (rv != 0)
		cf_warn("accept: %s", cf_strerror(rv));
}

/* Connection deadlines: timeouts, lingering closes, undrained closes. */
static void server_wheel_cb(uv_timer_t *t)
{
	struct fe_server *s = t->data;

	fe_wheel_advance(&s->wheel, cf_mono_ms(), fe_conn_on_deadline, s);
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
	/* Typing reads the FSM and media the index: dropped while they are
	 * rebuilt (fe_presence.c, fe_media_io.c); presence reports pass. */
	if (fe_presence_peer_msg(&s->presence, from, type, body, len) ||
	    fe_media_peer_msg(&s->media, from, type, body, len))
		return;
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

int fe_server_listen(struct fe_server *s, char *errmsg)
{
	const struct cf_node_conf *me = cf_cluster_node(s->cluster, s->self);
	struct sockaddr_in addr;
	char ip[16];
	int port;
	int rv;

	assert(!s->listening);
	if (me == NULL || cf_addr_split(me->client_addr, ip, &port) != 0) {
		cf_errmsg_printf(errmsg, "no client address for node %u",
				 s->self);
		return CF_EBADREQ;
	}
	s->read_buf = malloc(FE_CONN_READ_CHUNK);
	if (s->read_buf == NULL) {
		cf_errmsg_printf(errmsg, "no memory for the read buffer");
		return -ENOMEM;
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
	uv_timer_init(s->loop, &s->wheel_timer);
	s->wheel_timer.data = s;
	uv_timer_start(&s->wheel_timer, server_wheel_cb, FE_WHEEL_TICK_MS,
		       FE_WHEEL_TICK_MS);
	/*
	 * Started before the fan-out queue's check handle, which libuv
	 * starts on demand at the head of the list: its frames are then
	 * gathered before this flush of the same turn.
	 */
	uv_check_init(s->loop, &s->flush_check);
	s->flush_check.data = s;
	uv_check_start(&s->flush_check, fe_server_flush_check_cb);
	uv_idle_init(s->loop, &s->flush_idle);
	s->flush_idle.data = s;
	s->listening = true;
	s->starting = true;
	cf_info("serving clients on %s (starting)", me->client_url);
	return 0;
}

int fe_server_start(struct fe_server *s, char *errmsg)
{
	int rv;

	assert(s->node != NULL && !s->started);
	if (!s->listening) {
		rv = fe_server_listen(s, errmsg);
		if (rv != 0)
			return rv;
	}
	uv_timer_init(s->loop, &s->status_timer);
	s->status_timer.data = s;
	uv_timer_start(&s->status_timer, server_status_cb, STATUS_MS,
		       STATUS_MS);
	s->started = true;
	fe_presence_start(&s->presence);
	fe_fanout_start(&s->fanout, s->loop);
	if (s->cfg.push_webhook != NULL) {
		rv = sync_push_init(&s->push, s->loop, s->cfg.push_webhook,
				    s->cfg.data_dir, errmsg);
		if (rv != 0)
			return rv;
		s->push_on = true;
		push_replay_recalls(s);
	}
	if (s->search != NULL) {
		rv = sync_search_start(s->search, s->loop, s->cfg.data_dir,
				       rft_fsm_store_dir(rft_node_fsm(s->node)),
				       errmsg);
		if (rv != 0)
			return rv;
	}
	s->starting = false;
	cf_info("serving every route");
	return 0;
}

const char *fe_server_unavailable(const struct fe_server *s)
{
	if (s->starting)
		return "this node is starting (it opens its store); retry "
		       "shortly or use another node";
	if (s->node != NULL && rft_node_rebuilding(s->node))
		return "this node is rebuilding its state from fetched "
		       "segments; retry shortly or use another node";
	return NULL;
}

void fe_server_on_rebuilding(void *arg, bool on)
{
	struct fe_server *s = arg;
	struct cf_list *e;
	unsigned n_ws = 0;

	s->rebuilding = on;
	if (!on) {
		cf_info("rebuild ended: serving every route");
		if (s->push_on)
			push_replay_recalls(s);
		return;
	}
	/*
	 * From now until (false) the worker writes the indexes: long polls
	 * answer 503 now, and WebSockets close with 1013 (try again later):
	 * their frames, sync replays and live items read what it writes.
	 * Their clients reconnect (to another node, or here once ready) and
	 * sync from their cursors.
	 */
	fe_api_sync_unavailable(s);
	for (e = s->conns.next; e != &s->conns; e = e->next) {
		struct fe_conn *c = CF_CONTAINER_OF(e, struct fe_conn, link);

		if (c->state == FE_CONN_WS) {
			fe_conn_ws_close(c, 1013, "node rebuilding its state");
			n_ws++;
		}
	}
	/* Nobody left to fan out to; snapshots would outlive the state. */
	fe_fanout_drop(&s->fanout);
	cf_info("rebuilding the state from fetched segments: %u WebSockets "
		"closed, API routes answer 503 meanwhile", n_ws);
}

static void server_handle_closed_cb(uv_handle_t *h)
{
	struct fe_server *s = h->data;

	if (--s->pending_closes == 0 && s->close_cb != NULL)
		s->close_cb(s);
}

static void server_search_closed_cb(void *arg)
{
	struct fe_server *s = arg;

	if (--s->pending_closes == 0 && s->close_cb != NULL)
		s->close_cb(s);
}

static void server_fanout_closed_cb(struct fe_fanout *q)
{
	struct fe_server *s = q->srv;

	if (--s->pending_closes == 0 && s->close_cb != NULL)
		s->close_cb(s);
}

static void server_push_closed_cb(struct sync_push *p)
{
	struct fe_server *s = CF_CONTAINER_OF(p, struct fe_server, push);

	if (--s->pending_closes == 0 && s->close_cb != NULL)
		s->close_cb(s);
}

void fe_server_close(struct fe_server *s, void (*cb)(struct fe_server *s))
{
	struct cf_list *e;

	s->closing = true;
	s->close_cb = cb;
	fe_api_sync_close(s);
	/* listener + wheel + flush check and idle + status timer + presence
	 * timer + (connections, once); a server still starting has no status
	 * or presence timer. */
	assert(s->listening);
	s->pending_closes = 4 + (s->started ? 1 : 0) +
			    (s->presence.started ? 1 : 0) +
			    (cf_list_empty(&s->conns) ? 0 : 1);
	s->presence.timer.data = s;
	fe_presence_close(&s->presence, server_handle_closed_cb);
	if (s->push_on) {
		s->pending_closes++;
		sync_push_close(&s->push, server_push_closed_cb);
	}
	if (s->fanout.started)
		s->pending_closes++;
	fe_fanout_close(&s->fanout, server_fanout_closed_cb);
	if (s->search != NULL) {
		s->pending_closes++;
		sync_search_close(s->search, server_search_closed_cb, s);
	}
	uv_close((uv_handle_t *)&s->listener, server_handle_closed_cb);
	uv_close((uv_handle_t *)&s->wheel_timer, server_handle_closed_cb);
	uv_close((uv_handle_t *)&s->flush_check, server_handle_closed_cb);
	uv_close((uv_handle_t *)&s->flush_idle, server_handle_closed_cb);
	if (s->started)
		uv_close((uv_handle_t *)&s->status_timer,
			 server_handle_closed_cb);
	e = s->conns.next;
	while (e != &s->conns) {
		struct fe_conn *c = CF_CONTAINER_OF(e, struct fe_conn, link);
		e = e->next;
		if (c->state == FE_CONN_WS)
			fe_conn_ws_close(c, 1001, "node shutting down");
		fe_conn_close(c);
	}
}

/* sync_push_online_fn: an open socket on any node (fe_presence's view). */
static bool server_online(void *arg, const char *user, size_t len)
{
	struct fe_server *s = arg;

	return fe_presence_has_socket(&s->presence, user, len);
}

void fe_server_on_record(void *arg, const struct log_record *rec,
			 const struct rft_conv *conv)
{
	struct fe_server *s = arg;

	fe_api_sync_on_record(s, rec, conv, true);
	fe_media_on_record(&s->media, rec, conv, true);
	if (s->search != NULL)
		sync_search_on_record(s->search, rec);
	if (s->closing)
		return;
	if (s->push_on && rec->kind == LOG_REC_MESSAGE &&
	    strcmp(rft_node_role(s->node), "leader") == 0)
		sync_push_record(&s->push, rec, conv, server_online, s);
	/* Any node may hold dead letters from a time it led: erase there. */
	if (s->push_on && rec->kind == LOG_REC_RECALL)
		sync_push_recall(&s->push, rec->conv, rec->seq);
	fe_fanout_record(&s->fanout, rec, conv);
}

void fe_server_on_rebuild(void *arg, const struct log_record *rec,
			  const struct rft_conv *conv)
{
	struct fe_server *s = arg;

	fe_api_sync_on_record(s, rec, conv, false);
	fe_media_on_record(&s->media, rec, conv, false);
	if (s->cfg.push_webhook != NULL && rec->kind == LOG_REC_RECALL)
		push_rebuilt_recall(s, rec);
}

void fe_server_on_rebuilt(void *arg)
{
	struct fe_server *s = arg;

	fe_api_sync_rebuilt(s);
	fe_media_rebuilt(&s->media);
}

void fe_server_on_reset(void *arg)
{
	struct fe_server *s = arg;

	fe_api_sync_reset(s);
	fe_media_reset_index(&s->media);
	if (s->search != NULL)
		sync_search_reset(s->search); /* indexed again from the files */
	/*
	 * Not the fan-out queue: on_reset runs on the rebuild's worker
	 * thread while the loop owns the queue; fe_server_on_rebuilding
	 * empties it on the loop first (and at the start it is empty).
	 */
}

/*
 * Not in the image: the recalls held for push's dead-letter erasure
 * (push_recalls). A recall the image covers was applied before the image
 * was written, and its erasure was handled then (sync_push_recall in
 * fe_server_on_record); the recalls after the image are read again by the
 * rebuild, and on_rebuild holds those as before. Two cases the full
 * rebuild covered and the image does not: a crash while such an erasure
 * was still being written (the image taken meanwhile), and recalls applied
 * while the node ran without a push webhook, if it had dead letters from
 * an earlier run with one. The inbox index keeps every recall (conv, seq)
 * among its items, should those need replaying.
 */
void fe_server_image_write(void *arg, struct cf_imgw *w)
{
	struct fe_server *s = arg;

	fe_api_sync_image_write(s, w);
	fe_media_image_write(&s->media, w);
}

int fe_server_image_read(void *arg, struct cf_imgr *r)
{
	struct fe_server *s = arg;
	int rv;

	rv = fe_api_sync_image_read(s, r);
	if (rv == 0)
		rv = fe_media_image_read(&s->media, r);
	if (rv != 0)
		fe_api_sync_reset(s);
	return rv;
}

void fe_server_release(struct fe_server *s)
{
	free(s->read_buf);
	s->read_buf = NULL;
	cf_buf_release(&s->push_recalls);
	fe_fanout_release(&s->fanout);
	fe_session_release(s);
	fe_api_sync_release(s);
	sync_search_free(s->search);
	s->search = NULL;
	fe_presence_release(&s->presence);
	fe_media_release(&s->media);
	fe_rate_release(&s->rate);
}
