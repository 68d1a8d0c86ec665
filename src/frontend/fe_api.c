/*
 * fe_api: see fe_api.h. Routes:
 *   GET  /healthz, /readyz, /metrics, /v1/cluster      (fe_ops.c)
 *   /v1/admin/...  admin token only                     (fe_admin.c)
 *   POST /v1/conversations, GET /v1/conversations/{id}
 *   POST /v1/messages, GET /v1/conversations/{id}/messages
 *   GET  /v1/ws                                         (upgrade, fe_conn.c)
 * A request that needs Raft becomes a struct fe_call holding a reference
 * on its connection; the answer goes out from the commit (or read-index)
 * callback if the connection is still there.
 */
#include "config.h"

#include "frontend/fe_api.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_id.h"
#include "common/cf_time.h"
#include "frontend/fe_admin.h"
#include "frontend/fe_api_conv.h"
#include "frontend/fe_api_search.h"
#include "frontend/fe_api_edit.h"
#include "frontend/fe_api_parse.h"
#include "frontend/fe_api_sync.h"
#include "frontend/fe_auth.h"
#include "frontend/fe_cors.h"
#include "frontend/fe_json.h"
#include "frontend/fe_json_fast.h"
#include "frontend/fe_ops.h"
#include "frontend/fe_query.h"
#include "frontend/fe_send_meta.h"
#include "frontend/fe_server.h"
#include "sync/sync_read.h"

enum call_kind {
	CALL_SEND = 1,
	CALL_CREATE,
	CALL_GET_CONV,
	CALL_HISTORY,
};

struct fe_call {
	struct fe_conn *conn;
	enum call_kind kind;
	uint16_t tk;	   /* HTTP: the request's ticket (fe_conn.h) */
	bool ws;	   /* answer as a WebSocket frame */
	json_t *ws_id;	   /* the client's "id", echoed */
	struct rft_submit sub;
	struct rft_read rd;
	uint64_t t0_ns;
	char user[129];
	char conv[129];
	char client_msg_id[129];
	bool attachment;   /* a send with an attachment */
	struct sync_history_query q;
	json_t *body;	   /* a send checked again after a read index */
};

static struct fe_call *call_new(struct fe_conn *c, enum call_kind kind,
				const char *user)
{
	struct fe_call *k = calloc(1, sizeof *k);

	if (k == NULL)
		return NULL;
	k->conn = c;
	k->kind = kind;
	k->tk = fe_conn_ticket(c);
	k->t0_ns = c->t_req_ns != 0 ? c->t_req_ns : cf_mono_ns();
	snprintf(k->user, sizeof k->user, "%s", user);
	k->sub.data = k;
	k->rd.data = k;
	fe_conn_ref(c);
	return k;
}

static void call_free(struct fe_call *k)
{
	json_decref(k->ws_id);
	json_decref(k->body);
	fe_conn_unref(k->conn);
	free(k);
}

static void call_fail(struct fe_call *k, int rc, const char *msg)
{
	if (fe_conn_alive(k->conn)) {
		if (k->ws) {
			fe_ws_send_error(k->conn, k->ws_id, rc, msg);
		} else {
			fe_conn_answering(k->conn, k->tk);
			fe_respond_rc(k->conn, rc, msg);
		}
	}
	call_free(k);
}

/* ---- send ---- */

/* Append decimal v to *p. */
static char *put_u64(char *p, uint64_t v)
{
	char t[20];
	int n = 0;

	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = t[--n];
	return p;
}

static char *put_str(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUT_LIT(p, lit) put_str(p, lit, sizeof(lit) - 1)

/*
 * The answer to a committed send, written straight into text (issue 14:
 * one of the hottest paths; a jansson object, its dump and their
 * allocations cost more than the rest of the answer). Every string in it
 * is an API id ([A-Za-z0-9._:@-], cf_id_valid) or a literal: nothing to
 * escape. A WebSocket ack adds type, clientMsgId and the request's id (any
 * JSON value the client chose, dumped by jansson). Returns the length, or
 * 0 without memory.
 */
#define SEND_ANSWER_MAX (200 + 2 * CF_ID_MAX)

static size_t send_answer(const struct fe_call *k, const struct rft_result *r,
			  char *out)
{
	char *p = out;

	p = PUT_LIT(p, "{\"messageId\":\"");
	sync_message_id_str(r->message_id, p);
	p += strlen(p);
	p = PUT_LIT(p, "\",\"conversationId\":\"");
	p = put_str(p, k->conv, strlen(k->conv));
	p = PUT_LIT(p, "\",\"seq\":");
	p = put_u64(p, r->seq);
	p = PUT_LIT(p, ",\"serverTs\":");
	p = put_u64(p, (uint64_t)r->server_ts);
	p = PUT_LIT(p, ",\"status\":\"sent\",\"duplicate\":");
	p = r->duplicate ? PUT_LIT(p, "true") : PUT_LIT(p, "false");
	if (k->ws) {
		p = PUT_LIT(p, ",\"type\":\"ack\",\"clientMsgId\":\"");
		p = put_str(p, k->client_msg_id, strlen(k->client_msg_id));
		*p++ = '"';
	}
	assert((size_t)(p - out) < SEND_ANSWER_MAX - 1);
	return (size_t)(p - out);
}

static void send_done_cb(struct rft_submit *s, int status,
			 const struct rft_result *r)
{
	struct fe_call *k = s->data;
	struct fe_server *srv = k->conn->srv;
	char text[SEND_ANSWER_MAX];
	struct cf_buf b = CF_BUF_INIT;
	size_t n;

	if (status != 0) {
		const struct rft_conv *cv =
			rft_fsm_conv(rft_node_fsm(srv->node), cf_str_c(k->conv));

		/* A member refused: the attachment's blob is not its own
		 * nor shared in one of its conversations (rft_media.c). */
		call_fail(k, status,
			  status == CF_EFORBIDDEN && k->attachment &&
					  cv != NULL &&
					  rft_conv_has_member(
						  cv, cf_str_c(k->user))
				  ? "this mediaId may be attached only by its "
				    "uploader or by a member of a conversation "
				    "that has it"
				  : NULL);
		return;
	}
	fe_hist_observe(&srv->metrics.send_ack,
			(double)(cf_mono_ns() - k->t0_ns) / 1e9);
	if (!fe_conn_alive(k->conn)) {
		call_free(k);
		return;
	}
	n = send_answer(k, r, text);
	if (!k->ws) {
		text[n++] = '}';
		fe_conn_answering(k->conn, k->tk); /* pipelined: in turn */
		fe_conn_respond(k->conn, r->duplicate ? 200 : 201,
				"application/json", text, n, NULL);
		call_free(k);
		return;
	}
	if (cf_buf_append(&b, text, n) == 0 && k->ws_id != NULL) {
		char *id = json_dumps(k->ws_id, JSON_COMPACT | JSON_ENCODE_ANY);
		if (id == NULL || cf_buf_append(&b, ",\"id\":", 6) != 0 ||
		    cf_buf_append(&b, id, strlen(id)) != 0)
			cf_buf_release(&b);
		free(id);
	}
	if (b.data != NULL && cf_buf_append(&b, "}", 1) == 0)
		fe_conn_ws_send_text(k->conn, b.data, b.len);
	cf_buf_release(&b);
	call_free(k);
}

static int send_start(struct fe_conn *c, const char *user, json_t *o,
		      json_t *ws_id, bool ws, bool again, char *err,
		      size_t errlen);

/*
 * A send's replyTo or mentions failed against this node's state, which may
 * lag (fe_send_meta.h): once the read index is applied here, check it
 * again, and answer its error only then.
 */
static void send_recheck_cb(struct rft_read *r, int status)
{
	struct fe_call *k = r->data;
	char err[256];
	int rv;

	if (status != 0) {
		call_fail(k, status,
			  "could not reach the leader to check replyTo and "
			  "mentions");
		return;
	}
	if (!fe_conn_alive(k->conn)) {
		call_free(k);
		return;
	}
	if (!k->ws)
		fe_conn_answering(k->conn, k->tk); /* the next call keeps it */
	rv = send_start(k->conn, k->user, k->body, k->ws_id, k->ws, true, err,
			sizeof err);
	if (rv != 0)
		call_fail(k, rv, err);
	else
		call_free(k);
}

static int send_recheck(struct fe_conn *c, const char *user, json_t *o,
			json_t *ws_id, bool ws)
{
	struct fe_call *k = call_new(c, CALL_SEND, user);

	if (k == NULL)
		return -ENOMEM;
	k->ws = ws;
	k->ws_id = json_incref(ws_id);
	k->body = json_incref(o);
	rft_node_read_index(c->srv->node, &k->rd, send_recheck_cb);
	return 0;
}

static int send_go(struct fe_conn *c, const char *user,
		   const struct fe_send_fields *sf, json_t *o, json_t *ws_id,
		   bool ws, bool again, char *err, size_t errlen);

/*
 * Validate a send from a JSON object and submit it. On a validation error
 * returns it (with err set) and submits nothing. again: this is the check
 * after a read index (send_recheck).
 */
static int send_start(struct fe_conn *c, const char *user, json_t *o,
		      json_t *ws_id, bool ws, bool again, char *err,
		      size_t errlen)
{
	struct fe_send_fields sf;
	int rv;

	rv = fe_parse_send(o, c->srv->cfg.max_content_chars, &sf, err,
			   errlen);
	if (rv != 0)
		return rv;
	return send_go(c, user, &sf, o, ws_id, ws, again, err, errlen);
}

/*
 * A plain send read by fe_send_scan (fe_json_fast.h), through the same
 * checks as fe_parse_send's after the strings; 0, or an error (err set).
 */
static int send_scanned(struct fe_conn *c, const char *user,
			const struct fe_send_scan *f, json_t *ws_id, bool ws,
			char *err, size_t errlen)
{
	struct fe_send_fields sf = {
		.conv = f->conv,
		.cmid = f->cmid,
		.type = f->msg_type,
		.content = f->content,
	};
	int rv;

	rv = fe_parse_send_rest(&sf, NULL, c->srv->cfg.max_content_chars, err,
				errlen);
	if (rv != 0)
		return rv;
	return send_go(c, user, &sf, NULL, ws_id, ws, false, err, errlen);
}

/*
 * Submit a checked send: sf from the parsed body o, or from fe_send_scan
 * (o NULL: a plain send, without attachment, replyTo or mentions, whose
 * content has no '@').
 */
static int send_go(struct fe_conn *c, const char *user,
		   const struct fe_send_fields *sf, json_t *o, json_t *ws_id,
		   bool ws, bool again, char *err, size_t errlen)
{
	struct fe_server *srv = c->srv;
	struct rft_cmd cmd;
	struct fe_call *k;
	struct cf_buf mentions = CF_BUF_INIT;
	uint64_t reply_to = 0;
	bool stale = false;
	json_t *att;
	char *att_text = NULL;
	unsigned retry_s = 1;
	int rv;

	att = sf->attachment;
	rv = fe_send_meta(rft_fsm_conv(rft_node_fsm(srv->node), sf->conv),
			  cf_str_c(user), sf->content, o, again, &reply_to,
			  &mentions, &stale, err, errlen);
	if (rv == CF_EBADREQ && stale && !again) {
		/* stale needs mentions or an '@': never a scanned send */
		assert(o != NULL);
		cf_buf_release(&mentions);
		return send_recheck(c, user, o, ws_id, ws);
	}
	if (rv != 0)
		goto fail;
	rv = fe_rate_take(&srv->rate, user, cf_mono_ns(), &retry_s);
	if (rv != 0) {
		snprintf(err, errlen, "over %u sends per second; retry in %u s",
			 srv->cfg.rate_limit, retry_s);
		goto fail;
	}
	if (att != NULL) {
		att_text = json_dumps(att, JSON_COMPACT | JSON_SORT_KEYS);
		rv = -ENOMEM;
		if (att_text == NULL)
			goto fail;
	}
	k = call_new(c, CALL_SEND, user);
	if (k == NULL) {
		free(att_text);
		rv = -ENOMEM;
		goto fail;
	}
	k->ws = ws;
	k->ws_id = json_incref(ws_id);
	k->attachment = att_text != NULL;
	memcpy(k->conv, sf->conv.p, sf->conv.len);
	memcpy(k->client_msg_id, sf->cmid.p, sf->cmid.len);
	memset(&cmd, 0, sizeof cmd);
	cmd.type = RFT_CMD_SEND;
	cmd.user = cf_str_c(user);
	cmd.conv = sf->conv;
	cmd.client_msg_id = sf->cmid;
	cmd.msg_type = sf->type;
	cmd.content = sf->content;
	cmd.attachment = cf_str_c(att_text);
	cmd.reply_to = reply_to;
	cmd.mentions.p = mentions.data;
	cmd.mentions.len = mentions.len;
	srv->metrics.sends++;
	rft_node_submit(srv->node, &k->sub, &cmd, send_done_cb);
	free(att_text);
	cf_buf_release(&mentions);
	return 0;
fail:
	cf_buf_release(&mentions);
	return rv;
}

static void http_send(struct fe_conn *c, const struct fe_http_req *req,
		      const char *user)
{
	char err[256];
	json_t *o;
	int rv;

	struct cf_buf scratch = CF_BUF_INIT;
	struct fe_send_scan f;

	if (fe_send_scan(req->body.p, req->body.len, false, &f, &scratch)) {
		/* the plain send, without jansson (fe_json_fast.h) */
		rv = send_scanned(c, user, &f, NULL, false, err, sizeof err);
		cf_buf_release(&scratch);
		if (rv != 0)
			fe_respond_rc(c, rv, err);
		return;
	}
	cf_buf_release(&scratch);
	rv = fe_json_body(req, &o, err, sizeof err);
	if (rv == 0) {
		rv = send_start(c, user, o, NULL, false, false, err,
				sizeof err);
		json_decref(o);
	}
	if (rv != 0)
		fe_respond_rc(c, rv, err);
}

/* ---- conversations ---- */

static json_t *conv_json_for(const struct rft_conv *cv)
{
	return sync_conv_json(cv);
}

static void create_applied_cb(struct rft_read *r, int status)
{
	struct fe_call *k = r->data;
	const struct rft_conv *cv;

	if (status != 0) {
		call_fail(k, status, NULL);
		return;
	}
	cv = rft_fsm_conv(rft_node_fsm(k->conn->srv->node), cf_str_c(k->conv));
	if (cv == NULL) {
		call_fail(k, -EIO, "conversation committed but not found");
		return;
	}
	if (fe_conn_alive(k->conn))
		fe_respond_json(k->conn, k->q.limit != 0 ? 201 : 200,
				conv_json_for(cv));
	call_free(k);
}

static void create_done_cb(struct rft_submit *s, int status,
			   const struct rft_result *r)
{
	struct fe_call *k = s->data;

	if (status != 0) {
		call_fail(k, status,
			  status == CF_ECONFLICT
				  ? "the conversation exists with another "
				    "owner or other members"
				  : NULL);
		return;
	}
	snprintf(k->conv, sizeof k->conv, "%s", r->conv);
	k->q.limit = r->created ? 1 : 0; /* remembers 201 vs 200 */
	/* Answer from this node's own state once it applied the entry. */
	rft_node_wait_applied(k->conn->srv->node, &k->rd, r->index,
			      create_applied_cb);
}

static void http_create(struct fe_conn *c, const struct fe_http_req *req,
			const char *user)
{
	struct fe_server *srv = c->srv;
	struct fe_create_fields cf = {0};
	struct cf_buf list = CF_BUF_INIT;
	struct rft_cmd cmd;
	struct fe_call *k;
	char err[256];
	json_t *o = NULL;
	int rv;

	rv = fe_json_body(req, &o, err, sizeof err);
	if (rv != 0)
		goto fail;
	rv = fe_parse_create(o, user, srv->cfg.max_group, &cf, err,
			     sizeof err);
	if (rv != 0)
		goto fail;
	rv = rft_idlist_encode(&list, cf.ids, cf.n);
	if (rv != 0)
		goto fail;
	k = call_new(c, CALL_CREATE, user);
	if (k == NULL) {
		rv = -ENOMEM;
		goto fail;
	}
	memset(&cmd, 0, sizeof cmd);
	cmd.type = RFT_CMD_CREATE;
	cmd.user = cf_str_c(user);
	cmd.conv = cf.conv;
	cmd.conv_type = cf.direct ? RFT_CONV_DIRECT : RFT_CONV_GROUP;
	cmd.title = cf.title;
	cmd.members.p = list.data;
	cmd.members.len = list.len;
	rft_node_submit(srv->node, &k->sub, &cmd, create_done_cb);
	free(cf.ids);
	cf_buf_release(&list);
	json_decref(o);
	return;
fail:
	free(cf.ids);
	cf_buf_release(&list);
	json_decref(o);
	fe_respond_rc(c, rv, err);
}

/* ---- reads (optionally after a read index: consistent=1) ---- */

static void read_now(struct fe_call *k)
{
	struct rft_fsm *f = rft_node_fsm(k->conn->srv->node);
	json_t *o = NULL;
	int rv = 0;

	if (!fe_conn_alive(k->conn)) {
		call_free(k);
		return;
	}
	if (k->kind == CALL_GET_CONV) {
		const struct rft_conv *cv = rft_fsm_conv(f, cf_str_c(k->conv));
		if (cv == NULL)
			rv = CF_ENOTFOUND;
		else if (!rft_conv_has_member(cv, cf_str_c(k->user)))
			rv = rft_conv_was_member(cv, cf_str_c(k->user))
				     ? CF_EFORBIDDEN
				     : CF_ENOTFOUND;
		else
			rv = fe_api_conv_json(f, cv, k->user, true, &o);
	} else {
		struct cf_buf b = CF_BUF_INIT;

		rv = sync_history_write(f, cf_str_c(k->user),
					cf_str_c(k->conv), &k->q, &b);
		if (rv == 0)
			fe_conn_respond(k->conn, 200, "application/json",
					b.data, b.len, NULL);
		cf_buf_release(&b);
		if (rv == 0) {
			call_free(k);
			return;
		}
	}
	if (rv != 0) {
		call_fail(k, rv,
			  rv == CF_EFORBIDDEN
				  ? "not a member of this conversation"
				  : rv == CF_ENOTFOUND ? "no such conversation"
						       : NULL);
		return;
	}
	fe_respond_json(k->conn, 200, o);
	call_free(k);
}

static void read_index_cb(struct rft_read *r, int status)
{
	struct fe_call *k = r->data;

	if (status != 0) {
		call_fail(k, status,
			  "could not reach the leader for a consistent read");
		return;
	}
	read_now(k);
}

static void start_read(struct fe_conn *c, const struct fe_http_req *req,
		       struct fe_call *k)
{
	if (fe_wants_consistent(req)) {
		rft_node_read_index(c->srv->node, &k->rd, read_index_cb);
		return;
	}
	read_now(k);
}

static void http_get_conv(struct fe_conn *c, const struct fe_http_req *req,
			  const char *user, struct cf_str id)
{
	struct fe_call *k = call_new(c, CALL_GET_CONV, user);

	if (k == NULL) {
		fe_respond_rc(c, -ENOMEM, NULL);
		return;
	}
	memcpy(k->conv, id.p, id.len);
	start_read(c, req, k);
}

static void http_history(struct fe_conn *c, const struct fe_http_req *req,
			 const char *user, struct cf_str id)
{
	struct sync_history_query q;
	struct fe_call *k;
	const char *err = NULL;
	int rv;

	rv = fe_query_history(req, &q, &err);
	if (rv != 0) {
		fe_respond_rc(c, rv, err);
		return;
	}
	k = call_new(c, CALL_HISTORY, user);
	if (k == NULL) {
		fe_respond_rc(c, -ENOMEM, NULL);
		return;
	}
	memcpy(k->conv, id.p, id.len);
	k->q = q;
	start_read(c, req, k);
}

/* ---- routing ---- */

static bool path_is(struct cf_str p, const char *s)
{
	return cf_str_eqc(p, s);
}

/* Match "/v1/conversations/{id}" + suffix; id out. */
static bool path_conv(struct cf_str p, const char *suffix, struct cf_str *id)
{
	static const char pre[] = "/v1/conversations/";
	size_t sl = strlen(suffix);
	const char *s;
	size_t n;

	if (p.len <= sizeof pre - 1 + sl ||
	    memcmp(p.p, pre, sizeof pre - 1) != 0 ||
	    memcmp(p.p + p.len - sl, suffix, sl) != 0)
		return false;
	s = p.p + sizeof pre - 1;
	n = p.len - (sizeof pre - 1) - sl;
	if (memchr(s, '/', n) != NULL)
		return false;
	id->p = s;
	id->len = n;
	return true;
}


void fe_api_http(struct fe_conn *c, const struct fe_http_req *req)
{
	struct fe_server *srv = c->srv;
	struct cf_str p = req->path;
	struct cf_str id;
	const char *msg = NULL;
	const char *why;
	char user[129];
	int rv;

	srv->metrics.http_requests++;
	if (fe_cors_preflight(c, req)) /* before auth (fe_cors.h) */
		return;
	if (fe_ops_http(c, req))
		return;
	if ((why = fe_server_unavailable(srv)) != NULL &&
	    p.len >= 4 && memcmp(p.p, "/v1/", 4) == 0) {
		/* Issue 11: the node opens its store (fe_server.h). */
		fe_respond_error(c, 503, "unavailable", why);
		return;
	}
	if (fe_admin_http(c, req))
		return;
	if (p.len < 4 || memcmp(p.p, "/v1/", 4) != 0) {
		fe_respond_error(c, 404, "not_found", "no such route");
		return;
	}
	if (path_is(p, "/v1/ws")) {
		/* the WebSocket route without an upgrade (RFC 6455 4.4) */
		fe_respond_error_hdr(c, 426, "bad_request",
				     "this route needs a WebSocket upgrade",
				     FE_WS_VERSION_HEADER);
		return;
	}
	rv = fe_auth_request(srv->cluster, srv->cfg.auth_dev, req, user, &msg);
	if (rv != 0) {
		fe_respond_rc(c, rv, msg);
		return;
	}
	if (req->method == FE_HTTP_GET &&
	    rft_fsm_needs_fetch(rft_node_fsm(srv->node))) {
		/* The state lacks segments (DESIGN.md): reads go elsewhere;
		 * writes still go to the leader. */
		fe_respond_rc(c, CF_EUNAVAIL,
			      "this node is fetching segments after a snapshot; "
			      "read through another node");
		return;
	}
	if (fe_api_edit_http(c, req, user) || fe_api_conv_http(c, req, user) ||
	    fe_api_sync_http(c, req, user))
		return;
	if (fe_presence_http(c, req, user) || fe_media_http(c, req, user))
		return;
	if (fe_api_search_http(c, req, user)) /* issue 13 */
		return;
	if (path_is(p, "/v1/messages")) {
		if (req->method != FE_HTTP_POST)
			return fe_respond_405(c, "POST");
		http_send(c, req, user);
	} else if (path_is(p, "/v1/conversations")) {
		if (req->method != FE_HTTP_POST)
			return fe_respond_405(c, "GET, POST");
		http_create(c, req, user);
	} else if (path_conv(p, "/messages", &id)) {
		if (!cf_id_valid(id.p, id.len))
			return fe_respond_error(c, 400, "bad_request",
						"bad conversation id");
		if (req->method != FE_HTTP_GET)
			return fe_respond_405(c, "GET");
		http_history(c, req, user, id);
	} else if (path_conv(p, "", &id)) {
		if (!cf_id_valid(id.p, id.len))
			return fe_respond_error(c, 400, "bad_request",
						"bad conversation id");
		if (req->method != FE_HTTP_GET)
			return fe_respond_405(c, "GET");
		http_get_conv(c, req, user, id);
	} else {
		fe_respond_error(c, 404, "not_found", "no such route");
	}
}

/* ---- WebSocket frames ---- */

void fe_api_ws_message(struct fe_conn *c, const char *text, size_t len)
{
	char err[256];
	json_error_t je;
	json_t *o;
	json_t *id;
	const char *type;
	const char *why;
	struct cf_buf scratch = CF_BUF_INIT;
	struct fe_send_scan f;
	int rv;

	if (fe_server_unavailable(c->srv) == NULL &&
	    fe_send_scan(text, len, true, &f, &scratch)) {
		/* the plain send, without jansson (fe_json_fast.h) */
		id = f.id.p != NULL ? json_stringn(f.id.p, f.id.len) : NULL;
		if (f.id.p != NULL && id == NULL) {
			fe_ws_send_error(c, NULL, -ENOMEM, NULL);
		} else {
			rv = send_scanned(c, c->user, &f, id, true, err,
					  sizeof err);
			if (rv != 0)
				fe_ws_send_error(c, id, rv, err);
		}
		json_decref(id);
		cf_buf_release(&scratch);
		return;
	}
	cf_buf_release(&scratch);
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		fe_ws_send_error(c, NULL, CF_EBADREQ,
			      "frames are JSON objects with a type");
		return;
	}
	id = json_object_get(o, "id");
	type = json_string_value(json_object_get(o, "type"));
	if ((why = fe_server_unavailable(c->srv)) != NULL) {
		/* Issue 11: frames read the FSM (fe_server.h: rebuilding;
		 * the socket is being closed). */
		fe_ws_send_error(c, id, CF_EUNAVAIL, why);
	} else if (type == NULL) {
		fe_ws_send_error(c, id, CF_EBADREQ, "'type' is required");
	} else if (strcmp(type, "send") == 0) {
		rv = send_start(c, c->user, o, id, true, false, err,
				sizeof err);
		if (rv != 0)
			fe_ws_send_error(c, id, rv, err);
	} else if (fe_api_conv_ws(c, type, o, id)) {
		/* delivered, read: fe_api_conv.c */
	} else if (fe_api_sync_ws(c, type, o, id)) {
		/* sync: fe_api_sync.c */
	} else if (fe_presence_ws(c, type, o, id)) {
		/* typing: fe_presence.c */
	} else if (strcmp(type, "ping") == 0) {
		json_t *r = json_pack("{s:s}", "type", "pong");
		if (r != NULL && id != NULL)
			json_object_set(r, "id", id);
		fe_ws_send_json(c, r);
	} else {
		fe_ws_send_error(c, id, CF_EBADREQ, "unknown frame type");
	}
	json_decref(o);
}
