/*
 * fe_conn: see fe_conn.h.
 *
 * Input: every read lands at the end of c->in; conn_process() parses from
 * its start. HTTP requests are answered one at a time: while an answer is
 * pending (c->busy) nothing more is parsed, so pipelined requests are
 * answered in order; reading stops while more than IN_HIGH bytes wait.
 * After an upgrade the same buffer feeds the WebSocket framer.
 */
#include "config.h"

#include "frontend/fe_conn.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_id.h"
#include "common/cf_time.h"
#include "frontend/fe_api.h"
#include "frontend/fe_api_sync.h"
#include "frontend/fe_auth.h"
#include "frontend/fe_json.h"
#include "frontend/fe_server.h"
#include "frontend/fe_session.h"

#define READ_CHUNK (64u * 1024u)
#define IN_HIGH (256u * 1024u)
#define LINGER_MS 2000u

struct conn_write {
	uv_write_t req;
	struct fe_conn *c;
	struct cf_blob *blob; /* shared frame, or NULL */
	char *owned;	      /* malloc'd bytes, or NULL */
	size_t len;
};

static void conn_process(struct fe_conn *c);
static void conn_read_start(struct fe_conn *c);

void fe_conn_ref(struct fe_conn *c)
{
	c->refs++;
}

static void conn_free(struct fe_conn *c)
{
	fe_api_sync_conn_free(c);
	fe_http_parser_release(&c->http);
	fe_ws_parser_release(&c->ws);
	cf_buf_release(&c->in);
	free(c);
}

void fe_conn_unref(struct fe_conn *c)
{
	assert(c->refs > 0);
	if (--c->refs == 0)
		conn_free(c);
}

bool fe_conn_alive(const struct fe_conn *c)
{
	return c->state != FE_CONN_CLOSING;
}

static void conn_closed_cb(uv_handle_t *h)
{
	struct fe_conn *c = h->data;
	struct fe_server *s = c->srv;

	cf_list_remove(&c->link);
	if (s->closing && cf_list_empty(&s->conns) &&
	    --s->pending_closes == 0 && s->close_cb != NULL)
		s->close_cb(s);
	fe_conn_unref(c);
}

void fe_conn_close(struct fe_conn *c)
{
	if (c->state == FE_CONN_CLOSING)
		return;
	if (c->state == FE_CONN_WS)
		fe_session_closed(c);
	c->state = FE_CONN_CLOSING;
	uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
}

static void conn_write_cb(uv_write_t *req, int status)
{
	struct conn_write *w = req->data;
	struct fe_conn *c = w->c;

	c->out_bytes -= w->len;
	if (w->blob != NULL)
		cf_blob_unref(w->blob);
	free(w->owned);
	free(w);
	if (status != 0) {
		fe_conn_close(c);
	} else if (c->close_after_write && c->out_bytes == 0 &&
		   !c->lingering) {
		fe_conn_close(c);
	} else if (c->ws_sync != NULL) {
		fe_api_sync_drained(c); /* a paced replay goes on */
	}
	fe_conn_unref(c);
}

static int conn_write(struct fe_conn *c, struct cf_blob *blob, char *owned,
		      const char *p, size_t len)
{
	struct conn_write *w;
	uv_buf_t buf;
	int rv;

	if (c->state == FE_CONN_CLOSING) {
		rv = CF_EUNAVAIL;
		goto err;
	}
	w = malloc(sizeof *w);
	if (w == NULL) {
		rv = -ENOMEM;
		goto err;
	}
	w->c = c;
	w->blob = blob;
	w->owned = owned;
	w->len = len;
	w->req.data = w;
	buf = uv_buf_init((char *)p, (unsigned)len);
	rv = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1,
		      conn_write_cb);
	if (rv != 0) {
		free(w);
		fe_conn_close(c);
		goto err;
	}
	c->out_bytes += len;
	fe_conn_ref(c);
	return 0;
err:
	if (blob != NULL)
		cf_blob_unref(blob);
	free(owned);
	return rv;
}

int fe_conn_write_take(struct fe_conn *c, char *data, size_t len)
{
	return conn_write(c, NULL, data, data, len);
}

int fe_conn_write_blob(struct fe_conn *c, struct cf_blob *b)
{
	return conn_write(c, cf_blob_ref(b), NULL, b->data, b->len);
}

void fe_conn_respond(struct fe_conn *c, int status, const char *content_type,
		     const char *body, size_t len, const char *extra_headers)
{
	struct cf_buf b = CF_BUF_INIT;
	bool keep = c->http.req.keep_alive && status < 500 && status != 400 &&
		    !c->srv->closing;
	char *p;
	size_t n;

	if (c->state != FE_CONN_HTTP)
		return;
	if (fe_http_response_begin(&b, status, content_type, len, keep,
				   extra_headers) != 0 ||
	    cf_buf_append(&b, body, len) != 0) {
		cf_buf_release(&b);
		fe_conn_close(c);
		return;
	}
	if (!keep)
		c->close_after_write = true;
	p = cf_buf_detach(&b, &n);
	fe_conn_write_take(c, p, n);
	c->busy = false;
	if (!c->close_after_write)
		conn_process(c);
}

int fe_conn_ws_send_text(struct fe_conn *c, const char *text, size_t len)
{
	struct cf_buf b = CF_BUF_INIT;
	char *p;
	size_t n;

	if (c->state != FE_CONN_WS || c->ws_close_sent)
		return CF_EUNAVAIL;
	if (fe_ws_frame_append(&b, FE_WS_OP_TEXT, text, len) != 0) {
		cf_buf_release(&b);
		return -ENOMEM;
	}
	p = cf_buf_detach(&b, &n);
	return fe_conn_write_take(c, p, n);
}

void fe_conn_ws_close(struct fe_conn *c, uint16_t code, const char *reason)
{
	struct cf_buf b = CF_BUF_INIT;
	char *p;
	size_t n;

	if (c->state != FE_CONN_WS)
		return;
	if (!c->ws_close_sent &&
	    fe_ws_close_append(&b, code, reason != NULL ? reason : "") == 0) {
		p = cf_buf_detach(&b, &n);
		c->ws_close_sent = true;
		fe_conn_write_take(c, p, n);
	}
	cf_buf_release(&b);
	c->close_after_write = true;
	if (c->out_bytes == 0)
		fe_conn_close(c);
}

/* ---- HTTP side ---- */

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
	struct fe_conn *c = req->data;

	(void)status;
	free(req);
	fe_conn_unref(c);
}

/*
 * Lingering close after an error answer to a request whose body may still
 * be on its way (e.g. 413): closing at once with unread input would send
 * a reset that can destroy the answer before the client reads it. Instead
 * send FIN once the answer is written, drop whatever still arrives, and
 * close on the peer's EOF or after LINGER_MS (server_reap_slow).
 */
static void conn_linger(struct fe_conn *c)
{
	uv_shutdown_t *req = malloc(sizeof *req);

	if (req == NULL) {
		fe_conn_close(c);
		return;
	}
	req->data = c;
	if (uv_shutdown(req, (uv_stream_t *)&c->tcp, conn_shutdown_cb) != 0) {
		free(req);
		fe_conn_close(c);
		return;
	}
	fe_conn_ref(c);
	c->lingering = true;
	c->close_by_ms = cf_mono_ms() + LINGER_MS;
}

static void conn_http_error(struct fe_conn *c, int status)
{
	const char *code = status == 413 ? "payload_too_large" : "bad_request";
	char msg[64];

	snprintf(msg, sizeof msg, "malformed request (%d %s)", status,
		 fe_http_status_text(status));
	c->busy = true;
	c->http.req.keep_alive = false;
	fe_respond_error(c, status, code, msg);
	c->close_after_write = true;
	if (c->state == FE_CONN_HTTP)
		conn_linger(c);
}

/* The upgrade request: answers it (101 or an error). */
static void conn_upgrade(struct fe_conn *c, const struct fe_http_req *req)
{
	struct fe_server *s = c->srv;
	struct cf_buf b = CF_BUF_INIT;
	const char *msg = NULL;
	struct cf_str dev;
	char *p;
	size_t n;
	int status = 400;
	int rv;

	/*
	 * A refused upgrade closes the connection: its answer must say so
	 * (Connection: close), or a client reusing it races our FIN.
	 */
	c->http.req.keep_alive = false;
	if (!cf_str_eqc(req->path, "/v1/ws")) {
		c->busy = true;
		fe_respond_error(c, 404, "not_found", "no such route");
		c->close_after_write = true;
		return;
	}
	c->busy = true;
	rv = fe_ws_handshake_check(req, &status);
	if (rv != 0) {
		/* RFC 6455 4.4: a 426 names the version we speak */
		fe_respond_error_hdr(c, status, "bad_request",
				     "bad WebSocket handshake",
				     status == 426 ? FE_WS_VERSION_HEADER
						   : NULL);
		c->close_after_write = true;
		return;
	}
	rv = fe_auth_request(s->cluster, s->cfg.auth_dev, req, c->user, &msg);
	if (rv != 0) {
		fe_respond_rc(c, rv, msg);
		c->close_after_write = true;
		return;
	}
	if (fe_http_query_get(req, "deviceId", &dev) != 0)
		dev = CF_STR_LIT("default");
	if (!cf_device_id_valid(dev.p, dev.len)) {
		fe_respond_error(c, 400, "bad_request",
				 "deviceId must be 1 to 64 bytes of "
				 "[A-Za-z0-9._:@-]");
		c->close_after_write = true;
		return;
	}
	memcpy(c->device, dev.p, dev.len);
	c->device[dev.len] = '\0';
	if (fe_ws_handshake_response(&b, req) != 0) {
		cf_buf_release(&b);
		fe_conn_close(c);
		return;
	}
	p = cf_buf_detach(&b, &n);
	fe_conn_write_take(c, p, n);
	c->busy = false;
	c->state = FE_CONN_WS;
	fe_ws_parser_init(&c->ws, s->cfg.ws_max_message);
	c->last_active_ms = cf_mono_ms();
	fe_session_opened(c);
}

static bool conn_process_http(struct fe_conn *c)
{
	size_t used = 0;
	int ev;

	if (c->busy || c->close_after_write || c->in.len == 0)
		return false;
	ev = fe_http_feed(&c->http, c->in.data, c->in.len, &used);
	if (ev < 0) {
		cf_buf_truncate(&c->in, 0);
		conn_http_error(c, c->http.status != 0 ? c->http.status : 400);
		return false;
	}
	cf_buf_consume(&c->in, used);
	if (ev == FE_HTTP_NEED_MORE)
		return false;
	c->t_req_ns = cf_mono_ns();
	if (ev == FE_HTTP_UPGRADE) {
		conn_upgrade(c, &c->http.req);
		return c->state == FE_CONN_WS;
	}
	c->busy = true;
	fe_api_http(c, &c->http.req);
	return !c->busy;
}

/* ---- WebSocket side ---- */

static bool conn_process_ws(struct fe_conn *c)
{
	struct fe_ws_event ev;
	size_t used = 0;
	int rv;

	if (c->in.len == 0 || c->ws_close_sent)
		return false;
	rv = fe_ws_feed(&c->ws, c->in.data, c->in.len, &used, &ev);
	if (rv < 0) {
		cf_buf_truncate(&c->in, 0);
		fe_conn_ws_close(c, c->ws.close_code, "protocol violation");
		return false;
	}
	c->last_active_ms = cf_mono_ms();
	switch (rv) {
	case FE_WS_NEED_MORE:
		cf_buf_consume(&c->in, used);
		return false;
	case FE_WS_TEXT:
		fe_session_touch(c);
		fe_api_ws_message(c, (const char *)ev.data, ev.len);
		break;
	case FE_WS_BINARY:
		fe_conn_ws_close(c, FE_WS_CLOSE_UNSUPPORTED,
				 "binary frames are not used");
		break;
	case FE_WS_PING: {
		struct cf_buf b = CF_BUF_INIT;
		char *p;
		size_t n;
		fe_session_touch(c);
		if (fe_ws_pong_append(&b, ev.data, ev.len) == 0) {
			p = cf_buf_detach(&b, &n);
			fe_conn_write_take(c, p, n);
		}
		cf_buf_release(&b);
		break;
	}
	case FE_WS_PONG:
		fe_session_touch(c);
		break;
	case FE_WS_CLOSE:
		fe_conn_ws_close(c,
				 ev.code == FE_WS_CLOSE_NO_STATUS
					 ? FE_WS_CLOSE_NORMAL
					 : ev.code,
				 "");
		break;
	default:
		break;
	}
	/* Consume only now: the event's bytes live in the parser. */
	cf_buf_consume(&c->in, used);
	return c->state == FE_CONN_WS;
}

static void conn_process(struct fe_conn *c)
{
	bool more = true;

	/* Answers given synchronously call back in here: keep it flat. */
	if (c->processing)
		return;
	c->processing = true;
	while (more) {
		switch (c->state) {
		case FE_CONN_HTTP:
			more = conn_process_http(c);
			break;
		case FE_CONN_WS:
			more = conn_process_ws(c);
			break;
		default:
			more = false;
			break;
		}
	}
	c->processing = false;
	if (c->state != FE_CONN_CLOSING) {
		bool want = c->in.len < IN_HIGH;
		if (want && !c->reading) {
			conn_read_start(c);
		} else if (!want && c->reading) {
			uv_read_stop((uv_stream_t *)&c->tcp);
			c->reading = false;
		}
	}
}

static void conn_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct fe_conn *c = h->data;

	(void)hint;
	if (cf_buf_reserve(&c->in, READ_CHUNK) != 0) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	buf->base = c->in.data + c->in.len;
	buf->len = c->in.cap - c->in.len;
}

static void conn_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct fe_conn *c = st->data;

	(void)buf;
	if (nread < 0) {
		fe_conn_close(c);
		return;
	}
	if (nread == 0 || c->state == FE_CONN_CLOSING || c->lingering)
		return; /* lingering: the bytes are dropped */
	c->in.len += (size_t)nread;
	conn_process(c);
}

static void conn_read_start(struct fe_conn *c)
{
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb,
			  conn_read_cb) == 0)
		c->reading = true;
}

int fe_conn_accept(struct fe_server *srv, uv_stream_t *listener)
{
	struct fe_http_limits lim;
	struct fe_conn *c = calloc(1, sizeof *c);
	int rv;

	if (c == NULL)
		return -ENOMEM;
	c->srv = srv;
	c->refs = 1;
	c->state = FE_CONN_HTTP;
	cf_list_init(&c->user_link);
	fe_http_limits_default(&lim);
	lim.max_body_bytes = srv->cfg.max_body;
	lim.big_body_path = "/v1/media";
	lim.big_body_bytes = srv->cfg.max_media;
	fe_http_parser_init(&c->http, &lim);
	fe_ws_parser_init(&c->ws, srv->cfg.ws_max_message);
	uv_tcp_init(srv->loop, &c->tcp);
	c->tcp.data = c;
	cf_list_push(&srv->conns, &c->link);
	rv = uv_accept(listener, (uv_stream_t *)&c->tcp);
	if (rv != 0) {
		fe_conn_close(c);
		return rv;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	conn_read_start(c);
	return 0;
}
