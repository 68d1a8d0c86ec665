#include "config.h"

/*
 * fe_conn_upgrade: a connection's WebSocket upgrade request (GET /v1/ws),
 * answered 101 or refused: route, the node's state, the RFC 6455
 * handshake, the cluster's origins (fe_cors.h), authentication and the
 * device id. The connection's life cycle is in fe_conn.c.
 */

#include "frontend/fe_conn.h"

#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "common/cf_id.h"
#include "common/cf_time.h"
#include "frontend/fe_auth.h"
#include "frontend/fe_conn_int.h"
#include "frontend/fe_cors.h"
#include "frontend/fe_json.h"
#include "frontend/fe_query.h"
#include "frontend/fe_server.h"
#include "frontend/fe_session.h"

/* The upgrade request: answers it (101 or an error). */
void fe__conn_upgrade(struct fe_conn *c, const struct fe_http_req *req)
{
	struct fe_server *s = c->srv;
	struct cf_buf b = CF_BUF_INIT;
	const char *msg = NULL;
	char user[CF_ID_MAX + 1];
	struct cf_str dev;
	size_t ulen;
	char *p;
	size_t n;
	int status = 400;
	int rv;

	/*
	 * A refused upgrade closes the connection: its answer must say so
	 * (Connection: close), or a client reusing it races our FIN.
	 */
	c->http->req.keep_alive = false;
	if (!cf_str_eqc(req->path, "/v1/ws")) {
		fe_respond_error(c, 404, "not_found", "no such route");
		c->close_after_write = true;
		return;
	}
	if ((msg = fe_server_unavailable(s)) != NULL) {
		/* Issue 11: the node opens its store (fe_server.h). */
		fe_respond_error(c, 503, "unavailable", msg);
		c->close_after_write = true;
		return;
	}
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
	if (!fe_cors_ws_allowed(s->cluster, req)) {
		/* issue 12: cross-site WebSocket hijacking (fe_cors.h) */
		fe_respond_error(c, 403, "forbidden",
				 "this origin is not a node of the cluster");
		c->close_after_write = true;
		return;
	}
	rv = fe_auth_request(s->cluster, s->cfg.auth_dev, req, user, &msg);
	if (rv != 0) {
		fe_respond_rc(c, rv, msg);
		c->close_after_write = true;
		return;
	}
	if (fe_query_ws(req, &dev, &msg) != 0) {
		fe_respond_error(c, 400, "bad_request", msg);
		c->close_after_write = true;
		return;
	}
	/* the ids, in one allocation only a WebSocket makes */
	ulen = strlen(user);
	c->user = malloc(ulen + 1 + dev.len + 1);
	if (c->user == NULL || fe_ws_handshake_response(&b, req) != 0) {
		cf_buf_release(&b);
		fe_conn_close(c);
		return;
	}
	memcpy(c->user, user, ulen + 1);
	memcpy(c->user + ulen + 1, dev.p, dev.len);
	c->user[ulen + 1 + dev.len] = '\0';
	c->device = c->user + ulen + 1;
	p = cf_buf_detach(&b, &n);
	fe_conn_write_take(c, p, n);
	c->tk_head = c->tk_next; /* the 101 answered it */
	c->state = FE_CONN_WS;
	fe_ws_parser_init(&c->ws, s->cfg.ws_max_message);
	c->last_active_ms = cf_mono_ms();
	fe_session_opened(c);
}

