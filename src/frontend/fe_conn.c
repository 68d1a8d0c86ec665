/*
 * fe_conn: see fe_conn.h.
 *
 * Input: a read lands in the server's shared read buffer when the
 * connection holds no unparsed bytes (c->in then borrows it while
 * conn_process() runs, and only what stays unparsed is copied into a buffer
 * of the connection's own), else at the end of c->in. conn_process() parses
 * from the start of c->in. While an answer is owed (fe_conn_pipe.c) nothing
 * more is parsed, except sends behind sends (pipelining: fe_conn.h, and
 * fe_conn_pipe.c for the order of the answers); reading stops while more
 * than IN_HIGH bytes wait. After an upgrade the same buffer feeds the
 * WebSocket framer.
 * conn_settle() runs after every pass: it gives back what an idle
 * connection does not need, accounts the bytes held, and sets the deadline.
 */
#include "config.h"

#include "frontend/fe_conn.h"
#include "frontend/fe_conn_int.h"

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
#include "frontend/fe_cors.h"
#include "frontend/fe_json.h"
#include "frontend/fe_server.h"
#include "frontend/fe_session.h"

#define READ_CHUNK FE_CONN_READ_CHUNK
#define IN_HIGH (256u * 1024u)
#define LINGER_MS 2000u
/* Refused connections lingering at once; more are closed after the 503. */
#define REFUSED_LINGER_MAX 256u

/* A WebSocket keeps the struct and its ids: at most 1 KiB (issue 11). */
_Static_assert(sizeof(struct fe_conn) + CF_ID_MAX + 1 + 64 + 1 <= 1024,
	       "an idle WebSocket must hold at most 1 KiB");


static void conn_process(struct fe_conn *c);
static void conn_linger(struct fe_conn *c);
static void conn_read_start(struct fe_conn *c);

void fe_conn_ref(struct fe_conn *c)
{
	c->refs++;
}

static void conn_http_free(struct fe_conn *c)
{
	if (c->http != NULL) {
		fe_http_parser_release(c->http);
		free(c->http);
		c->http = NULL;
	}
}

static void conn_free(struct fe_conn *c)
{
	assert(!c->in_borrowed);
	fe_api_sync_conn_free(c);
	fe__conn_pipe_free(c);
	conn_http_free(c);
	fe_ws_parser_release(&c->ws);
	cf_buf_release(&c->in);
	cf_buf_release(&c->out_pend);
	free(c->user);
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
	s->metrics.conns.buffer_bytes -= c->held;
	c->held = 0;
	if (c->refused)
		s->n_refusing--;
	else
		s->n_conns--;
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
	if (c->out_pend.len > 0) /* best effort: e.g. a close frame */
		uv_try_write((uv_stream_t *)&c->tcp,
			     &(uv_buf_t){.base = c->out_pend.data,
					 .len = c->out_pend.len},
			     1);
	fe_conn_write_drop(c);
	c->state = FE_CONN_CLOSING;
	fe_wheel_cancel(&c->timer);
	uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
}

void fe_conn_respond(struct fe_conn *c, int status, const char *content_type,
		     const char *body, size_t len, const char *extra_headers)
{
	struct cf_buf b = CF_BUF_INIT;
	/* A pipelined send's request may be gone from the parser; it had
	 * keep-alive and no Origin (conn_pipelinable). */
	bool piped = fe__conn_ticket_piped(c, c->tk_cur);
	bool keep = (piped || (c->http != NULL && c->http->req.keep_alive)) &&
		    !c->close_after_write && status < 500 && status != 400 &&
		    !c->srv->closing;
	size_t extra_len = extra_headers != NULL ? strlen(extra_headers) : 0;
	int rv;
	char *p;
	size_t n;

	if (c->state != FE_CONN_HTTP)
		return;
	/* One buffer, sized once: the head, the extra and CORS lines, the body. */
	rv = cf_buf_reserve(&b, 256 + extra_len + len);
	if (rv == 0)
		rv = fe_http_response_head(&b, status, content_type, len, keep);
	if (rv == 0 && extra_len > 0)
		rv = cf_buf_append(&b, extra_headers, extra_len);
	/*
	 * Issue 12: the CORS lines of the cluster's origins (fe_cors), for
	 * the complete request being answered only: after a parse error or
	 * a timeout (fe_conn_http_error) c->http->req is a previous one,
	 * whose pointers the parser has reused.
	 */
	if (rv == 0 && !piped && c->http != NULL && c->http->err == 0 &&
	    !fe_http_in_request(c->http))
		rv = fe_cors_append(&b, c->srv->cluster, &c->http->req);
	if (rv == 0)
		rv = cf_buf_append(&b, "\r\n", 2);
	if (rv == 0)
		rv = cf_buf_append(&b, body, len);
	if (rv != 0) {
		cf_buf_release(&b);
		fe_conn_close(c);
		return;
	}
	p = cf_buf_detach(&b, &n);
	fe__conn_answer(c, p, n, keep); /* in its turn (fe_conn_pipe.c) */
	if (!c->close_after_write && c->state == FE_CONN_HTTP)
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
	uint64_t deadline;
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
	if (c->lingering || c->state != FE_CONN_WS)
		return;
	/*
	 * FIN once the frames are written, and whatever the peer still sends
	 * dropped until its EOF: closing with unread input would reset the
	 * connection, which can destroy our close frame (and the frames
	 * before it) before the peer reads them. A peer that does not read
	 * them within FE_SLOW_DRAIN_MS is dropped.
	 */
	deadline = c->close_by_ms != 0 ? c->close_by_ms
				       : cf_mono_ms() + FE_SLOW_DRAIN_MS;
	cf_buf_truncate(&c->in, 0);
	conn_linger(c);
	if (c->state == FE_CONN_CLOSING)
		return;
	if (c->close_by_ms < deadline)
		c->close_by_ms = deadline;
	fe_conn_timer_update(c);
	if (!c->reading)
		conn_read_start(c);
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
	if (fe_conn_flush(c) != 0) { /* FIN after what was gathered */
		free(req);
		return; /* c is closing */
	}
	if (uv_shutdown(req, (uv_stream_t *)&c->tcp, conn_shutdown_cb) != 0) {
		free(req);
		fe_conn_close(c);
		return;
	}
	fe_conn_ref(c);
	c->lingering = true;
	c->close_by_ms = cf_mono_ms() + LINGER_MS;
	fe_conn_timer_update(c);
}

void fe_conn_http_error(struct fe_conn *c, int status)
{
	const char *code = status == 413 ? "payload_too_large" : "bad_request";
	char msg[96];

	if (status == 408)
		snprintf(msg, sizeof msg,
			 "request not complete within %u s (408 %s)",
			 (unsigned)(c->srv->cfg.header_timeout_ms / 1000),
			 fe_http_status_text(status));
	else
		snprintf(msg, sizeof msg, "malformed request (%d %s)", status,
			 fe_http_status_text(status));
	fe__conn_ticket(c, false); /* an answer of its own, after the rest */
	if (c->http != NULL) /* the answer says Connection: close */
		c->http->req.keep_alive = false;
	fe_respond_error(c, status, code, msg);
	c->close_after_write = true;
	if (c->state == FE_CONN_HTTP)
		conn_linger(c);
}

/* A parser for the next request (freed again once it is answered). */
static int conn_http_parser(struct fe_conn *c)
{
	struct fe_server *s = c->srv;
	struct fe_http_limits lim;

	if (c->http != NULL)
		return 0;
	c->http = malloc(sizeof *c->http);
	if (c->http == NULL)
		return -ENOMEM;
	fe_http_limits_default(&lim);
	lim.max_body_bytes = s->cfg.max_body;
	lim.big_body_path = "/v1/media";
	lim.big_body_bytes = s->cfg.max_media;
	fe_http_parser_init(c->http, &lim);
	return 0;
}

/* The head or body of a request began: its deadline starts now. */
static void conn_phase(struct fe_conn *c)
{
	uint8_t ph = FE_CONN_PHASE_NONE;

	if (c->http != NULL && fe_http_in_request(c->http))
		ph = fe_http_in_body(c->http) ? FE_CONN_PHASE_BODY : FE_CONN_PHASE_HEAD;
	if (ph != c->phase) {
		c->phase = ph;
		c->phase_ms = cf_mono_ms();
	}
}

/* A send that may go while other sends are in flight (fe_conn.h). */
static bool conn_pipelinable(const struct fe_http_req *req)
{
	return req->method == FE_HTTP_POST && req->keep_alive &&
	       !req->upgrade && req->h[FE_HTTP_H_ORIGIN].p == NULL &&
	       cf_str_eqc(req->path, "/v1/messages");
}

/* Parse the next request into c->http: its fe_http event, or 0 when none
 * is ready (more bytes needed, or an error answered or held). */
static int conn_parse(struct fe_conn *c)
{
	size_t used = 0;
	int ev, status;

	if (c->in.len == 0)
		return 0;
	if (conn_http_parser(c) != 0) {
		fe_conn_close(c);
		return 0;
	}
	ev = fe_http_feed(c->http, c->in.data, c->in.len, &used);
	if (ev < 0) {
		cf_buf_truncate(&c->in, 0);
		c->phase = FE_CONN_PHASE_NONE;
		status = c->http->status != 0 ? c->http->status : 400;
		if (fe__conn_owed(c) > 0)
			c->held_err = (uint16_t)status; /* after the others */
		else
			fe_conn_http_error(c, status);
		return 0;
	}
	cf_buf_consume(&c->in, used);
	if (ev == FE_HTTP_NEED_MORE) {
		conn_phase(c);
		return 0;
	}
	c->phase = FE_CONN_PHASE_NONE;
	c->t_req_ns = cf_mono_ns();
	return ev;
}

static bool conn_process_http(struct fe_conn *c)
{
	uint16_t owed = fe__conn_owed(c);
	bool piped;
	int ev;

	if (c->close_after_write)
		return false;
	if (owed > 0 && (c->waiting != 0 || c->held_err != 0 || !c->piping ||
			 owed >= FE_CONN_PIPE_MAX))
		return false; /* it waits for the answers before it */
	if (c->held_err != 0) {
		int status = c->held_err;
		c->held_err = 0;
		fe_conn_http_error(c, status);
		return false;
	}
	if (c->waiting != 0) {
		ev = c->waiting;
		c->waiting = 0;
	} else {
		ev = conn_parse(c);
		if (ev == 0)
			return false;
	}
	piped = ev == FE_HTTP_REQUEST && conn_pipelinable(&c->http->req);
	if (owed > 0 && !piped) {
		/* dispatched once those before it are answered */
		c->waiting = (uint8_t)ev;
		return false;
	}
	c->piping = piped;
	fe__conn_ticket(c, piped);
	if (ev == FE_HTTP_UPGRADE) {
		fe__conn_upgrade(c, &c->http->req);
		if (c->state != FE_CONN_WS)
			return false;
		conn_http_free(c); /* HTTP is over on this connection */
		return true;
	}
	fe_api_http(c, &c->http->req);
	return c->state == FE_CONN_HTTP;
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
	c->ping_sent = false; /* it spoke: not idle */
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
		/* the answer to our idle ping says nothing about the user */
		if (c->awaiting_pong)
			c->awaiting_pong = false;
		else
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

/* Bytes the connection holds beyond its struct. */
static size_t conn_held(const struct fe_conn *c)
{
	size_t n = c->in_borrowed ? 0 : c->in.cap;

	if (c->http != NULL)
		n += sizeof *c->http + c->http->store.cap + c->http->body.cap;
	if (c->user != NULL)
		n += strlen(c->user) + strlen(c->device) + 2;
	return n + c->ws.msg.cap;
}

/*
 * After a pass over the input: give back what an idle connection does not
 * need, start or stop reading, account the bytes held, set the deadline.
 */
static void conn_settle(struct fe_conn *c)
{
	struct fe_metrics *m = &c->srv->metrics;
	size_t held;

	assert(!c->in_borrowed);
	if (c->state != FE_CONN_CLOSING) {
		bool want;
		if (c->in.len == 0)
			cf_buf_release(&c->in);
		if (c->state == FE_CONN_HTTP && fe__conn_owed(c) == 0 && c->in.len == 0 &&
		    c->http != NULL && !fe_http_in_request(c->http))
			conn_http_free(c);
		if (c->state == FE_CONN_WS)
			fe_ws_parser_trim(&c->ws);
		want = c->in.len < IN_HIGH;
		if (want && !c->reading) {
			conn_read_start(c);
		} else if (!want && c->reading) {
			uv_read_stop((uv_stream_t *)&c->tcp);
			c->reading = false;
		}
	}
	if (c->state == FE_CONN_CLOSING)
		return; /* conn_closed_cb takes back c->held */
	held = conn_held(c);
	m->conns.buffer_bytes += held;
	m->conns.buffer_bytes -= c->held;
	c->held = (uint32_t)held;
	fe_conn_timer_update(c);
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
	if (!c->in_borrowed)
		conn_settle(c); /* conn_read_cb settles a borrowed pass */
}

static void conn_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct fe_conn *c = h->data;
	struct fe_server *s = c->srv;

	(void)hint;
	/* Nothing waits (or what comes is dropped): the shared buffer. */
	if ((c->in.len == 0 || c->lingering) && !s->read_buf_lent) {
		s->read_buf_lent = true;
		buf->base = s->read_buf;
		buf->len = READ_CHUNK;
		return;
	}
	if (cf_buf_reserve(&c->in, READ_CHUNK) != 0) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	buf->base = c->in.data + c->in.len;
	buf->len = c->in.cap - c->in.len;
}

/* A pass over bytes read into the shared buffer; keep what is left. */
static void conn_process_borrowed(struct fe_conn *c, char *data, size_t n)
{
	struct cf_buf left;

	assert(c->in.len == 0);
	cf_buf_release(&c->in);
	c->in.data = data;
	c->in.len = n;
	c->in.cap = READ_CHUNK;
	c->in_borrowed = true;
	conn_process(c);
	left = c->in;
	c->in_borrowed = false;
	cf_buf_init(&c->in);
	if (left.len > 0 && c->state != FE_CONN_CLOSING &&
	    cf_buf_append(&c->in, left.data, left.len) != 0)
		fe_conn_close(c);
	conn_settle(c);
}

static void conn_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct fe_conn *c = st->data;
	struct fe_server *s = c->srv;
	bool shared = buf->base != NULL && buf->base == s->read_buf;

	if (shared)
		s->read_buf_lent = false; /* used within this callback only */
	if (nread < 0) {
		fe_conn_close(c);
		return;
	}
	if (nread == 0 || c->state == FE_CONN_CLOSING || c->lingering)
		return; /* lingering: the bytes are dropped */
	c->last_active_ms = cf_mono_ms();
	c->spoke = true;
	if (shared) {
		conn_process_borrowed(c, buf->base, (size_t)nread);
		return;
	}
	c->in.len += (size_t)nread;
	conn_process(c);
}

static void conn_read_start(struct fe_conn *c)
{
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb,
			  conn_read_cb) == 0)
		c->reading = true;
}

/* A new connection; *out is in srv->conns (closed on failure). */
static int conn_new(struct fe_server *srv, uv_stream_t *listener,
		    bool refused, struct fe_conn **out)
{
	struct fe_conn *c = calloc(1, sizeof *c);
	int rv;

	*out = NULL;
	if (c == NULL)
		return -ENOMEM;
	c->srv = srv;
	c->refs = 1;
	c->state = FE_CONN_HTTP;
	c->refused = refused;
	c->last_active_ms = cf_mono_ms();
	cf_list_init(&c->user_link);
	fe_wheel_entry_init(&c->timer);
	uv_tcp_init(srv->loop, &c->tcp);
	c->tcp.data = c;
	cf_list_push(&srv->conns, &c->link);
	if (refused)
		srv->n_refusing++;
	else
		srv->n_conns++;
	rv = uv_accept(listener, (uv_stream_t *)&c->tcp);
	if (rv != 0) {
		fe_conn_close(c);
		return rv;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	*out = c;
	return 0;
}

int fe_conn_accept(struct fe_server *srv, uv_stream_t *listener)
{
	struct fe_conn *c;
	int rv = conn_new(srv, listener, false, &c);

	if (rv != 0)
		return rv;
	conn_read_start(c);
	fe_conn_timer_update(c);
	return 0;
}

/*
 * Past the cap: the 503 goes out at once; then FIN, and whatever the
 * client sends is read into the shared buffer and dropped (a close with
 * unread input would reset the connection and could destroy the answer)
 * until its EOF or LINGER_MS. Past REFUSED_LINGER_MAX such connections, the
 * next ones are closed as soon as the answer is written.
 */
int fe_conn_refuse(struct fe_server *srv, uv_stream_t *listener)
{
	static const char body[] =
		"{\"error\":{\"code\":\"unavailable\",\"message\":"
		"\"too many connections: retry later\"}}";
	struct cf_buf b = CF_BUF_INIT;
	struct fe_conn *c;
	char *p;
	size_t n;
	int rv;

	srv->metrics.conns.refused++;
	rv = conn_new(srv, listener, true, &c);
	if (rv != 0)
		return rv;
	if (fe_http_response_begin(&b, 503, "application/json",
				   sizeof body - 1, false,
				   "Retry-After: 1\r\n") != 0 ||
	    cf_buf_append(&b, body, sizeof body - 1) != 0) {
		cf_buf_release(&b);
		fe_conn_close(c);
		return -ENOMEM;
	}
	p = cf_buf_detach(&b, &n);
	c->close_after_write = true;
	rv = fe_conn_write_take(c, p, n);
	if (rv != 0 || c->state == FE_CONN_CLOSING)
		return rv;
	if (srv->n_refusing > REFUSED_LINGER_MAX) {
		/* closed once written, or dropped after LINGER_MS */
		c->close_by_ms = cf_mono_ms() + LINGER_MS;
		fe_conn_timer_update(c);
		return 0;
	}
	conn_linger(c);
	if (c->state != FE_CONN_CLOSING)
		conn_read_start(c);
	return 0;
}
