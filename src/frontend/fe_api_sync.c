#include "config.h"
/*
 * fe_api_sync: GET /v1/sync (with long polling) and the WebSocket `sync`
 * frame over the inbox index (see fe_api_sync.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_img.h"
#include "common/cf_list.h"
#include "frontend/fe_api_sync.h"
#include "frontend/fe_json.h"
#include "frontend/fe_query.h"
#include "frontend/fe_server.h"
#include "sync/sync_feed.h"
#include "sync/sync_inbox.h"
#include "sync/sync_read.h"

/* A WS replay writes at most this many pages (of SYNC_FEED_LIMIT_MAX items
 * or a quarter of --ws-max-buffer) before `synced` (then "hasMore": the
 * client asks again). */
#define WS_PAGES_MAX 40

struct fe_sync {
	struct sync_inbox *inbox;
	struct cf_list waits; /* struct sync_wait, oldest first */
	uv_timer_t kick;      /* next turn after a record: check waits */
	bool kick_init;
	bool closing;
};

struct sync_wait {
	struct cf_list link;
	struct fe_server *srv;
	struct fe_conn *conn; /* referenced */
	uv_timer_t timer;
	char user[129];
	uint64_t after;
	unsigned limit;
	bool done;
};

static struct fe_sync *sync_state(struct fe_server *s);

uint64_t fe_api_sync_head(struct fe_server *s)
{
	return sync_inbox_last_id(sync_state(s)->inbox);
}

const struct sync_inbox *fe_api_sync_inbox(struct fe_server *s)
{
	return sync_state(s)->inbox;
}

static struct fe_sync *sync_state(struct fe_server *s)
{
	struct fe_sync *st = s->sync;

	if (st != NULL)
		return st;
	st = calloc(1, sizeof(*st));
	if (st == NULL || sync_inbox_new(&st->inbox) != 0) {
		cf_error("sync: out of memory for the inbox index");
		exit(1);
	}
	cf_list_init(&st->waits);
	s->sync = st;
	return st;
}

static void respond_feed(struct fe_conn *c, const char *user, uint64_t after,
			 unsigned limit)
{
	struct fe_server *s = c->srv;
	json_t *o = NULL;
	int rv;

	rv = sync_feed(rft_node_fsm(s->node), sync_state(s)->inbox,
		       cf_str_c(user), after, limit, &o);
	if (rv != 0) {
		fe_respond_rc(c, rv, NULL);
		return;
	}
	fe_respond_json(c, 200, o);
}

/* ---- long polls ---- */

static void wait_closed_cb(uv_handle_t *h)
{
	struct sync_wait *w = h->data;

	fe_conn_unref(w->conn);
	free(w);
}

/* Answer w (items after its cursor, maybe none) and let it go. */
static void wait_finish(struct sync_wait *w)
{
	const char *why = fe_server_unavailable(w->srv);

	if (w->done)
		return;
	w->done = true;
	cf_list_remove(&w->link);
	uv_timer_stop(&w->timer);
	if (fe_conn_alive(w->conn) && why != NULL && !w->srv->closing)
		/* Issue 11: the index is being rebuilt (fe_server.h). */
		fe_respond_error(w->conn, 503, "unavailable", why);
	else if (fe_conn_alive(w->conn) && !w->srv->closing)
		respond_feed(w->conn, w->user, w->after, w->limit);
	else if (fe_conn_alive(w->conn))
		fe_respond_rc(w->conn, CF_EUNAVAIL, "node shutting down");
	uv_close((uv_handle_t *)&w->timer, wait_closed_cb);
}

static void wait_timer_cb(uv_timer_t *t)
{
	wait_finish(t->data);
}

static void kick_cb(uv_timer_t *t)
{
	struct fe_server *s = t->data;
	struct fe_sync *st = s->sync;
	struct cf_list *e = st->waits.next;

	while (e != &st->waits) {
		struct sync_wait *w = CF_CONTAINER_OF(e, struct sync_wait, link);

		e = e->next;
		if (!fe_conn_alive(w->conn) ||
		    fe_server_unavailable(s) != NULL ||
		    sync_inbox_changed(st->inbox, cf_str_c(w->user), w->after,
				       NULL, 0) > 0)
			wait_finish(w);
	}
}

static void wait_start(struct fe_conn *c, const char *user, uint64_t after,
		       unsigned limit, uint64_t secs)
{
	struct fe_server *s = c->srv;
	struct fe_sync *st = sync_state(s);
	struct sync_wait *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		fe_respond_rc(c, -ENOMEM, NULL);
		return;
	}
	if (!st->kick_init) {
		uv_timer_init(s->loop, &st->kick);
		st->kick.data = s;
		st->kick_init = true;
	}
	w->srv = s;
	w->conn = c;
	fe_conn_ref(c);
	snprintf(w->user, sizeof w->user, "%s", user);
	w->after = after;
	w->limit = limit;
	uv_timer_init(s->loop, &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, wait_timer_cb, secs * 1000, 0);
	cf_list_push(&st->waits, &w->link);
}

/* ---- HTTP ---- */

/* The conversation form: history after lastSeq (limit messages). */
static void conv_form_answer(struct fe_conn *c, const char *user,
			     struct cf_str conv, uint64_t last, unsigned limit)
{
	struct sync_history_query q;
	struct cf_buf b = CF_BUF_INIT;
	int rv;

	memset(&q, 0, sizeof q);
	q.from_seq = last + 1;
	q.limit = limit; /* 1..SYNC_LIMIT_MAX (fe_query_sync) */
	rv = sync_history_write(rft_node_fsm(c->srv->node), cf_str_c(user),
				conv, &q, &b);
	if (rv == 0)
		fe_conn_respond(c, 200, "application/json", b.data, b.len,
				NULL);
	cf_buf_release(&b);
	if (rv != 0)
		fe_respond_rc(c, rv,
			      rv == CF_EFORBIDDEN
				      ? "not a member of this conversation"
			      : rv == CF_ENOTFOUND ? "no such conversation"
						   : NULL);
}

/* The feed form: items after the cursor, now or by long poll. */
static void feed_answer(struct fe_conn *c, const char *user, uint64_t after,
			uint64_t limit, uint64_t wait)
{
	struct fe_server *s = c->srv;

	if (wait > 0 && !s->closing &&
	    sync_inbox_changed(sync_state(s)->inbox, cf_str_c(user), after,
			       NULL, 0) == 0) {
		wait_start(c, user, after, (unsigned)limit, wait);
		return;
	}
	respond_feed(c, user, after, (unsigned)limit);
}

/*
 * ?consistent=1: the request, parsed, waits for a read index (the leader's
 * commit index as of now, applied here) and is answered after it, so that
 * a follower shows what was acknowledged before the request.
 */
struct sync_consistent {
	struct rft_read rd;
	struct fe_conn *conn; /* referenced */
	char user[129];
	bool form;	      /* conversation form */
	char conv[129];
	uint64_t after, limit, wait, last;
};

static void consistent_cb(struct rft_read *r, int status)
{
	struct sync_consistent *k = r->data;
	struct fe_conn *c = k->conn;

	if (!fe_conn_alive(c))
		;
	else if (status != 0)
		fe_respond_rc(c, status,
			      "could not reach the leader for a consistent "
			      "read");
	else if (k->form)
		conv_form_answer(c, k->user, cf_str_c(k->conv), k->last,
				 (unsigned)k->limit);
	else
		feed_answer(c, k->user, k->after, k->limit, k->wait);
	fe_conn_unref(c);
	free(k);
}

/* Start a consistent read for the parsed request in proto (copied). */
static void consistent_start(struct fe_conn *c,
			     const struct sync_consistent *proto)
{
	struct sync_consistent *k = malloc(sizeof(*k));

	if (k == NULL) {
		fe_respond_rc(c, -ENOMEM, NULL);
		return;
	}
	*k = *proto;
	k->rd.data = k;
	k->conn = c;
	fe_conn_ref(c);
	rft_node_read_index(c->srv->node, &k->rd, consistent_cb);
}

static void http_conv_form(struct fe_conn *c, const struct fe_http_req *req,
			   const char *user, const struct fe_query_sync *qs)
{
	struct sync_consistent k;

	if (!fe_wants_consistent(req))
		return conv_form_answer(c, user, qs->conv, qs->last, qs->limit);
	if (qs->conv.len >= sizeof k.conv)
		return fe_respond_rc(c, CF_ENOTFOUND, "no such conversation");
	memset(&k, 0, sizeof k);
	snprintf(k.user, sizeof k.user, "%s", user);
	k.form = true;
	memcpy(k.conv, qs->conv.p, qs->conv.len);
	k.last = qs->last;
	k.limit = qs->limit;
	consistent_start(c, &k);
}

bool fe_api_sync_http(struct fe_conn *c, const struct fe_http_req *req,
		      const char *user)
{
	struct fe_server *s = c->srv;
	struct fe_query_sync qs;
	const char *err = NULL;
	int rv;

	if (!cf_str_eqc(req->path, "/v1/sync"))
		return false;
	s->metrics.sync_requests++;
	if (req->method != FE_HTTP_GET) {
		fe_respond_405(c, "GET");
		return true;
	}
	rv = fe_query_sync(req, &qs, &err);
	if (rv != 0) {
		fe_respond_rc(c, rv, err);
		return true;
	}
	if (qs.form) {
		http_conv_form(c, req, user, &qs);
		return true;
	}
	if (fe_wants_consistent(req)) {
		struct sync_consistent k;

		memset(&k, 0, sizeof k);
		snprintf(k.user, sizeof k.user, "%s", user);
		k.after = qs.after;
		k.limit = qs.limit;
		k.wait = qs.wait;
		consistent_start(c, &k);
		return true;
	}
	feed_answer(c, user, qs.after, qs.limit, qs.wait);
	return true;
}

/* ---- WebSocket ---- */

/*
 * A `sync` replay in progress on a socket. Pages are read and written while
 * the socket's pending output is under half of --ws-max-buffer, and again
 * each time a write completes: a replay never holds the loop for more than
 * a page, and never buffers more than the limit. Live events for the socket
 * meanwhile are held (counted against the limit too) and follow `synced`:
 * those the replay already wrote (at or before the synced cursor) are
 * dropped, so that on one socket a conversation's items arrive in order,
 * once.
 */
struct fe_ws_held {
	struct fe_ws_held *next;
	struct cf_blob *frame;
	uint64_t id;	 /* the item's cursor; 0 for a receipt (none) */
};

struct fe_ws_sync {
	json_t *id;	 /* the frame's id, echoed by `synced`, or NULL */
	uint64_t after;	 /* replayed up to this item */
	uint64_t upto;	 /* last item to replay (0: no bound) */
	bool more;
	unsigned pages;
	struct fe_ws_held *head, **tail;
	size_t held_bytes;
};

static void ws_sync_free(struct fe_ws_sync *st)
{
	while (st->head != NULL) {
		struct fe_ws_held *h = st->head;

		st->head = h->next;
		cf_blob_unref(h->frame);
		free(h);
	}
	json_decref(st->id);
	free(st);
}

void fe_api_sync_conn_free(struct fe_conn *c)
{
	if (c->ws_sync != NULL)
		ws_sync_free(c->ws_sync);
	c->ws_sync = NULL;
}

size_t fe_api_sync_held_bytes(const struct fe_conn *c)
{
	return c->ws_sync != NULL ? c->ws_sync->held_bytes : 0;
}

bool fe_api_sync_hold(struct fe_conn *c, struct cf_blob *frame, uint64_t id)
{
	struct fe_ws_sync *st = c->ws_sync;
	struct fe_ws_held *h;

	if (st == NULL)
		return false;
	h = malloc(sizeof(*h));
	if (h == NULL)
		return false; /* written now: out of order beats lost */
	h->next = NULL;
	h->frame = cf_blob_ref(frame);
	h->id = id;
	*st->tail = h;
	st->tail = &h->next;
	st->held_bytes += frame->len;
	return true;
}

/* `synced`, then the held events after its cursor; the replay ends. */
static void ws_sync_finish(struct fe_conn *c)
{
	struct fe_ws_sync *st = c->ws_sync;
	uint64_t cursor = st->after;
	char cs[24];
	json_t *r;

	/* Live items written before the sync began are after the replay's
	 * bound: the cursor never moves back behind them. */
	if (c->last_live_id > cursor)
		cursor = c->last_live_id;
	sync_cursor_str(cursor, cs);
	r = json_pack("{s:s, s:s}", "type", "synced", "cursor", cs);
	if (r != NULL && st->more)
		json_object_set_new(r, "hasMore", json_true());
	if (r != NULL && st->id != NULL)
		json_object_set(r, "id", st->id);
	fe_ws_send_json(c, r);
	c->ws_sync = NULL;
	/*
	 * The replay read the store, which may be ahead of fan-out (fe_fanout
	 * queues applied records): events still queued for this socket at or
	 * before the cursor were just sent.
	 */
	if (cursor > c->synced_id)
		c->synced_id = cursor;
	for (struct fe_ws_held *h = st->head; h != NULL; h = h->next) {
		if (h->id != 0 && h->id <= cursor)
			continue; /* the replay wrote it */
		if (fe_conn_write_blob(c, h->frame) == 0)
			c->srv->metrics.delivered_frames++;
		if (h->id > c->last_live_id)
			c->last_live_id = h->id;
	}
	ws_sync_free(st);
}

static void ws_sync_pump(struct fe_conn *c)
{
	struct fe_server *s = c->srv;
	struct fe_ws_sync *st = c->ws_sync;
	struct rft_fsm *f = rft_node_fsm(s->node);
	int rv = 0;

	if (fe_server_unavailable(s) != NULL)
		return; /* rebuilding: the socket closes (fe_server.h) */
	while (st->more && st->pages < WS_PAGES_MAX &&
	       fe_conn_alive(c) &&
	       c->out_bytes + st->held_bytes < s->cfg.ws_max_buffer / 2) {
		json_t *items = json_array();
		size_t i;
		json_t *it;

		if (items == NULL) {
			rv = -ENOMEM;
			break;
		}
		rv = sync_feed_read(f, sync_state(s)->inbox,
				    cf_str_c(c->user), st->after, st->upto,
				    SYNC_FEED_LIMIT_MAX, s->cfg.ws_max_buffer / 4,
				    items, &st->after, &st->more);
		json_array_foreach(items, i, it)
			fe_ws_send_json(c, json_incref(it));
		json_decref(items);
		st->pages++;
		if (rv != 0)
			break;
	}
	if (!fe_conn_alive(c))
		return; /* freed with the connection */
	if (rv != 0) {
		json_t *id = st->id != NULL ? json_incref(st->id) : NULL;

		/* The held events go out: the client syncs again. */
		st->more = false;
		ws_sync_finish(c);
		fe_ws_send_error(c, id, rv, "sync failed");
		json_decref(id);
		return;
	}
	if (!st->more || st->pages >= WS_PAGES_MAX)
		ws_sync_finish(c);
}

void fe_api_sync_drained(struct fe_conn *c)
{
	if (c->ws_sync != NULL && fe_conn_alive(c) &&
	    c->out_bytes + c->ws_sync->held_bytes <
		    c->srv->cfg.ws_max_buffer / 2)
		ws_sync_pump(c);
}

bool fe_api_sync_ws(struct fe_conn *c, const char *type, json_t *o,
		    json_t *id)
{
	struct fe_server *s = c->srv;
	struct fe_ws_sync *st;
	const char *cur;
	uint64_t after = 0;

	if (strcmp(type, "sync") != 0)
		return false;
	if (fe_server_unavailable(s) != NULL ||
	    rft_fsm_needs_fetch(rft_node_fsm(s->node))) {
		fe_ws_send_error(c, id, CF_EUNAVAIL,
				 "this node is fetching segments after a "
				 "snapshot; sync again later or elsewhere");
		return true;
	}
	if (c->ws_sync != NULL) {
		fe_ws_send_error(c, id, CF_EBADREQ,
				 "a sync is already running on this socket");
		return true;
	}
	s->metrics.sync_requests++;
	cur = json_string_value(json_object_get(o, "cursor"));
	if (json_object_get(o, "cursor") != NULL &&
	    !json_is_null(json_object_get(o, "cursor")) &&
	    (cur == NULL || sync_cursor_parse(cf_str_c(cur), &after) != 0)) {
		fe_ws_send_error(c, id, CF_EBADREQ, "malformed cursor");
		return true;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		fe_ws_send_error(c, id, -ENOMEM, "sync failed");
		return true;
	}
	st->id = id != NULL ? json_incref(id) : NULL;
	st->after = after;
	st->tail = &st->head;
	/*
	 * Items from the first one fanned out live to this socket on were
	 * sent already, in order: replay only those before it.
	 */
	st->upto = c->first_live_id != 0 ? c->first_live_id - 1 : 0;
	st->more = !(st->upto != 0 && st->upto <= after);
	c->ws_sync = st;
	ws_sync_pump(c);
	return true;
}

/* ---- the record tail ---- */

void fe_api_sync_on_record(struct fe_server *s, const struct log_record *rec,
			   const struct rft_conv *conv, bool live)
{
	struct fe_sync *st = sync_state(s);
	int rv = live ? sync_inbox_on_record(st->inbox, rec, conv)
		      : sync_inbox_on_rebuild_record(st->inbox, rec, conv);

	if (rv != 0) {
		cf_error("sync: inbox index: %s", cf_strerror(rv));
		exit(1);
	}
	if (live && st->kick_init && !cf_list_empty(&st->waits) &&
	    !uv_is_active((uv_handle_t *)&st->kick))
		uv_timer_start(&st->kick, kick_cb, 0, 0);
}

void fe_api_sync_rebuilt(struct fe_server *s)
{
	int rv = sync_inbox_settle(sync_state(s)->inbox);

	if (rv != 0) {
		cf_error("sync: inbox index: %s", cf_strerror(rv));
		exit(1);
	}
}

void fe_api_sync_close(struct fe_server *s)
{
	struct fe_sync *st = s->sync;

	if (st == NULL || st->closing)
		return;
	st->closing = true;
	while (!cf_list_empty(&st->waits))
		wait_finish(CF_CONTAINER_OF(st->waits.next, struct sync_wait,
					    link));
	if (st->kick_init)
		uv_close((uv_handle_t *)&st->kick, NULL);
}

void fe_api_sync_unavailable(struct fe_server *s)
{
	struct fe_sync *st = s->sync;

	if (st == NULL)
		return;
	while (!cf_list_empty(&st->waits))
		wait_finish(CF_CONTAINER_OF(st->waits.next, struct sync_wait,
					    link));
}

void fe_api_sync_reset(struct fe_server *s)
{
	struct fe_sync *st = s->sync;
	struct sync_inbox *ix;

	if (st == NULL)
		return;
	if (sync_inbox_new(&ix) != 0) {
		cf_error("sync: out of memory for the inbox index");
		exit(1);
	}
	sync_inbox_free(st->inbox);
	st->inbox = ix;
}

void fe_api_sync_image_write(struct fe_server *s, struct cf_imgw *w)
{
	struct sync_inbox *empty;

	if (s->sync != NULL) {
		sync_inbox_image_write(s->sync->inbox, w);
		return;
	}
	/* No record yet: an empty index (a forked child may allocate). */
	if (sync_inbox_new(&empty) != 0) {
		if (w->err == 0)
			w->err = -ENOMEM;
		return;
	}
	sync_inbox_image_write(empty, w);
	sync_inbox_free(empty);
}

int fe_api_sync_image_read(struct fe_server *s, struct cf_imgr *r)
{
	struct fe_sync *st = sync_state(s);
	struct sync_inbox *ix;
	int rv;

	if (sync_inbox_new(&ix) != 0)
		return -ENOMEM;
	rv = sync_inbox_image_read(ix, r);
	if (rv != 0) {
		sync_inbox_free(ix);
		return rv;
	}
	sync_inbox_free(st->inbox);
	st->inbox = ix;
	return 0;
}

void fe_api_sync_release(struct fe_server *s)
{
	struct fe_sync *st = s->sync;

	if (st == NULL)
		return;
	sync_inbox_free(st->inbox);
	free(st);
	s->sync = NULL;
}
