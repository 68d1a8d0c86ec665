#include "config.h"

/*
 * fe_api_conv: see fe_api_conv.h. Answers:
 *   list      200 {"conversations": [conversation object as user sees it]}
 *             ordered by the messageId of each one's latest item, newest
 *             first (receipts are not items: reading does not reorder)
 *   members   200 the conversation object, once applied on this node
 *   recall    200 {"conversationId", "seq", "recalled": true}
 *   receipts  200 {"deliveredSeq": n} or {"readSeq": n}, the pointer as
 *             committed (a lower upToSeq answers the current one)
 *   ws        errors as `error` frames; with an "id", success is answered
 *             to the caller by a `receipt` frame carrying that id (the
 *             caller's sockets also get the fanned-out `receipt` event)
 */

#include "frontend/fe_api_conv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_id.h"
#include "frontend/fe_api_parse.h"
#include "frontend/fe_api_sync.h"
#include "frontend/fe_json.h"
#include "frontend/fe_query.h"
#include "frontend/fe_server.h"
#include "sync/sync_edit.h"
#include "sync/sync_read.h"

enum conv_kind {
	CONV_LIST = 1,
	CONV_MEMBERS,
	CONV_RECALL,
	CONV_RECEIPT,
};

struct conv_call {
	struct fe_conn *conn;
	enum conv_kind kind;
	bool ws;       /* answer as a WebSocket frame */
	json_t *ws_id; /* the client's "id", echoed */
	struct rft_submit sub;
	struct rft_read rd;
	uint8_t receipt_kind;
	char user[129];
	char conv[129];
	unsigned limit;	 /* list: page size */
	uint64_t before; /* list: only conversations active before (0: all) */
};

static struct conv_call *call_new(struct fe_conn *c, enum conv_kind kind,
				  const char *user, struct cf_str conv)
{
	struct conv_call *k = calloc(1, sizeof *k);

	if (k == NULL)
		return NULL;
	k->conn = c;
	k->kind = kind;
	snprintf(k->user, sizeof k->user, "%s", user);
	if (conv.len > 0 && conv.len < sizeof k->conv)
		memcpy(k->conv, conv.p, conv.len);
	k->sub.data = k;
	k->rd.data = k;
	fe_conn_ref(c);
	return k;
}

static void call_free(struct conv_call *k)
{
	json_decref(k->ws_id);
	fe_conn_unref(k->conn);
	free(k);
}

static void call_fail(struct conv_call *k, int rc, const char *msg)
{
	if (fe_conn_alive(k->conn)) {
		if (k->ws)
			fe_ws_send_error(k->conn, k->ws_id, rc, msg);
		else
			fe_respond_rc(k->conn, rc, msg);
	}
	call_free(k);
}

/* The message for a refusal by the FSM of a command of kind. */
static const char *refusal(enum conv_kind kind, int rc)
{
	if (rc == CF_ENOTFOUND)
		return kind == CONV_RECALL ? "no such conversation or message"
					   : "no such conversation";
	if (rc == CF_EFORBIDDEN) {
		if (kind == CONV_MEMBERS)
			return "only a member may change members: the owner "
			       "adds and removes, others may only leave";
		if (kind == CONV_RECALL)
			return "only the sender within 24 hours, or the "
			       "group's owner, may recall a message";
		return "not a member of this conversation";
	}
	if (rc == CF_EBADREQ && kind == CONV_MEMBERS)
		return "members of a direct conversation cannot change, and "
		       "an id cannot be both added and removed";
	return NULL;
}

/* ---- the conversation object ---- */

int fe_api_conv_json(struct rft_fsm *f, const struct rft_conv *cv,
		     const char *user, bool receipts, json_t **out)
{
	struct cf_buf scratch = CF_BUF_INIT;
	struct log_record rec;
	uint64_t d, r;
	json_t *o, *last = NULL, *rc;
	int rv = -ENOMEM;

	o = sync_conv_json(cv);
	if (o == NULL)
		return -ENOMEM;
	rft_conv_receipt(cv, cf_str_c(user), &d, &r);
	if (cv->last_seq > 0) {
		struct cf_buf escratch = CF_BUF_INIT;
		uint64_t edited_at = 0;

		rv = log_store_read_seq(rft_fsm_store(f), cf_str_c(cv->id),
					cv->last_seq, &rec, &scratch);
		if (rv == 0) /* its latest version (sync_edit.h) */
			rv = sync_edit_latest(f, cv, &rec, &escratch,
					      &edited_at);
		if (rv != 0) {
			cf_buf_release(&escratch);
			goto err;
		}
		last = sync_message_json_for(&rec,
					     rft_conv_recalled(cv, cv->last_seq),
					     cf_str_c(user));
		cf_buf_release(&escratch);
		if (last != NULL && edited_at != 0 &&
		    json_object_set_new(last, "editedAt",
					json_integer((json_int_t)edited_at))) {
			json_decref(last);
			last = NULL;
		}
		rv = -ENOMEM;
		if (last == NULL)
			goto err;
	}
	if (json_object_set_new(o, "readSeq", json_integer((json_int_t)r)) ||
	    json_object_set_new(o, "deliveredSeq",
				json_integer((json_int_t)d)) ||
	    json_object_set_new(o, "unread",
				json_integer((json_int_t)(cv->last_seq > r
							  ? cv->last_seq - r
							  : 0))) ||
	    json_object_set_new(o, "lastMessage",
				last != NULL ? last : json_null()))
		goto err_last;
	last = NULL;
	if (receipts) {
		rc = json_object();
		if (rc == NULL || json_object_set_new(o, "receipts", rc) != 0)
			goto err_last;
		for (unsigned i = 0; i < cv->n_members; i++) {
			rft_conv_receipt(cv, cf_str_c(cv->members[i]), &d, &r);
			if (json_object_set_new(
				    rc, cv->members[i],
				    json_pack("{s:I, s:I}", "deliveredSeq",
					      (json_int_t)d, "readSeq",
					      (json_int_t)r)) != 0)
				goto err_last;
		}
	}
	cf_buf_release(&scratch);
	*out = o;
	return 0;
err_last:
	rv = -ENOMEM;
err:
	json_decref(last);
	cf_buf_release(&scratch);
	json_decref(o);
	return rv;
}

/* ---- GET /v1/conversations ---- */

static int by_activity(const void *a, const void *b)
{
	const struct rft_conv *x = *(const struct rft_conv *const *)a;
	const struct rft_conv *y = *(const struct rft_conv *const *)b;

	if (x->last_item_id != y->last_item_id)
		return x->last_item_id > y->last_item_id ? -1 : 1;
	return strcmp(x->id, y->id);
}

/*
 * A page of the caller's conversations, most recently active first: those
 * whose latest item is before k->before (the cursor: the latest item of the
 * previous page's last one), at most k->limit. Costs O(the caller's
 * conversations) to select plus the page's reads, never O(store). A
 * conversation active after the first page was taken moves to the front
 * (and into sync) rather than into a later page.
 */
static void list_now(struct conv_call *k)
{
	struct rft_fsm *f = rft_node_fsm(k->conn->srv->node);
	const struct rft_conv *const *v;
	const struct rft_conv **sorted = NULL;
	json_t *arr = NULL, *o, *page;
	unsigned n, m = 0, take;
	char cursor[24];
	int rv = -ENOMEM;

	if (!fe_conn_alive(k->conn)) {
		call_free(k);
		return;
	}
	v = rft_fsm_user_convs(f, cf_str_c(k->user), &n);
	arr = json_array();
	if (arr == NULL)
		goto fail;
	if (n > 0) {
		sorted = malloc(n * sizeof *sorted);
		if (sorted == NULL)
			goto fail;
		for (unsigned i = 0; i < n; i++)
			if (k->before == 0 || v[i]->last_item_id < k->before)
				sorted[m++] = v[i];
		qsort(sorted, m, sizeof *sorted, by_activity);
	}
	take = m < k->limit ? m : k->limit;
	for (unsigned i = 0; i < take; i++) {
		rv = fe_api_conv_json(f, sorted[i], k->user, false, &o);
		if (rv != 0)
			goto fail;
		if (json_array_append_new(arr, o) != 0) {
			rv = -ENOMEM;
			goto fail;
		}
	}
	page = json_pack("{s:o, s:b}", "conversations", arr, "hasMore",
			 m > take);
	arr = NULL;
	if (page != NULL && k->before == 0) {
		/*
		 * The first page: the sync cursor of this moment, so that a
		 * client that starts from the list (not from a replay) syncs
		 * from here after a drop (issue 12).
		 */
		char sc[24];

		sync_cursor_str(fe_api_sync_head(k->conn->srv), sc);
		json_object_set_new(page, "syncCursor", json_string(sc));
	}
	if (page != NULL && m > take) {
		fe_query_list_cursor_str(sorted[take - 1]->last_item_id,
					 cursor);
		json_object_set_new(page, "cursor", json_string(cursor));
	}
	free(sorted);
	fe_respond_json(k->conn, 200, page);
	call_free(k);
	return;
fail:
	cf_warn("conversations of %s: %s", k->user, cf_strerror(rv));
	free(sorted);
	json_decref(arr);
	call_fail(k, rv == -ENOMEM ? rv : -EIO, NULL);
}

static void list_read_cb(struct rft_read *r, int status)
{
	struct conv_call *k = r->data;

	if (status != 0) {
		call_fail(k, status,
			  "could not reach the leader for a consistent read");
		return;
	}
	list_now(k);
}

static void http_list(struct fe_conn *c, const struct fe_http_req *req,
		      const char *user)
{
	struct conv_call *k;
	struct fe_query_list ql;
	const char *err = NULL;
	int rv;

	rv = fe_query_conv_list(req, &ql, &err);
	if (rv != 0) {
		fe_respond_rc(c, rv, err);
		return;
	}
	k = call_new(c, CONV_LIST, user, CF_STR_LIT(""));
	if (k == NULL) {
		fe_respond_rc(c, -ENOMEM, NULL);
		return;
	}
	k->limit = ql.limit;
	k->before = ql.before;
	if (fe_wants_consistent(req)) {
		rft_node_read_index(c->srv->node, &k->rd, list_read_cb);
		return;
	}
	list_now(k);
}

/* ---- members ---- */

static void members_applied_cb(struct rft_read *r, int status)
{
	struct conv_call *k = r->data;
	struct rft_fsm *f = rft_node_fsm(k->conn->srv->node);
	const struct rft_conv *cv;
	json_t *o;
	int rv;

	if (status != 0) {
		call_fail(k, status, NULL);
		return;
	}
	cv = rft_fsm_conv(f, cf_str_c(k->conv));
	if (cv == NULL) {
		call_fail(k, -EIO, "conversation committed but not found");
		return;
	}
	rv = fe_api_conv_json(f, cv, k->user, false, &o);
	if (rv != 0) {
		call_fail(k, rv, NULL);
		return;
	}
	if (fe_conn_alive(k->conn))
		fe_respond_json(k->conn, 200, o);
	else
		json_decref(o);
	call_free(k);
}

static void members_done_cb(struct rft_submit *s, int status,
			    const struct rft_result *r)
{
	struct conv_call *k = s->data;

	if (status != 0) {
		call_fail(k, status, refusal(k->kind, status));
		return;
	}
	/* Answer from this node's own state once it applied the entry. */
	rft_node_wait_applied(k->conn->srv->node, &k->rd, r->index,
			      members_applied_cb);
}

static void http_members(struct fe_conn *c, const struct fe_http_req *req,
			 const char *user, struct cf_str conv)
{
	struct fe_server *srv = c->srv;
	struct cf_buf add = CF_BUF_INIT, rem = CF_BUF_INIT;
	unsigned cap = srv->cfg.max_group + 1, na = 0, n = 0;
	struct cf_str *ids = NULL;
	struct conv_call *k;
	struct rft_cmd cmd;
	char err[256];
	json_t *o = NULL;
	int rv;

	rv = fe_json_body(req, &o, err, sizeof err);
	if (rv != 0)
		goto fail;
	rv = -ENOMEM;
	ids = calloc(2u * cap, sizeof *ids);
	if (ids == NULL)
		goto fail;
	rv = fe_parse_members(o, srv->cfg.max_group, ids, &na, &n, err,
			      sizeof err);
	if (rv != 0)
		goto fail;
	rv = fe_members_limit(rft_fsm_conv(rft_node_fsm(srv->node), conv),
			      srv->cfg.max_group, ids, na, n, err,
			      sizeof err);
	if (rv != 0)
		goto fail;
	if ((rv = rft_idlist_encode(&add, ids, na)) != 0 ||
	    (rv = rft_idlist_encode(&rem, ids + na, n - na)) != 0)
		goto fail;
	k = call_new(c, CONV_MEMBERS, user, conv);
	rv = -ENOMEM;
	if (k == NULL)
		goto fail;
	memset(&cmd, 0, sizeof cmd);
	cmd.type = RFT_CMD_MEMBERS;
	cmd.user = cf_str_c(user);
	cmd.conv = conv;
	cmd.members.p = add.data;
	cmd.members.len = add.len;
	cmd.removed.p = rem.data;
	cmd.removed.len = rem.len;
	rft_node_submit(srv->node, &k->sub, &cmd, members_done_cb);
	rv = 0;
fail:
	cf_buf_release(&add);
	cf_buf_release(&rem);
	free(ids);
	json_decref(o);
	if (rv != 0)
		fe_respond_rc(c, rv, rv == -ENOMEM ? NULL : err);
}

/* ---- recall ---- */

static void recall_done_cb(struct rft_submit *s, int status,
			   const struct rft_result *r)
{
	struct conv_call *k = s->data;

	if (status != 0) {
		call_fail(k, status, refusal(k->kind, status));
		return;
	}
	if (fe_conn_alive(k->conn))
		fe_respond_json(k->conn, 200,
				json_pack("{s:s, s:I, s:b}", "conversationId",
					  k->conv, "seq", (json_int_t)r->seq,
					  "recalled", 1));
	call_free(k);
}

static void http_recall(struct fe_conn *c, const char *user,
			struct cf_str conv, struct cf_str seq_text)
{
	struct conv_call *k;
	struct rft_cmd cmd;
	uint64_t seq = 0;

	if (fe_parse_u64(seq_text, &seq) != 0 || seq == 0) {
		fe_respond_rc(c, CF_EBADREQ,
			      "the seq must be a positive integer");
		return;
	}
	k = call_new(c, CONV_RECALL, user, conv);
	if (k == NULL) {
		fe_respond_rc(c, -ENOMEM, NULL);
		return;
	}
	memset(&cmd, 0, sizeof cmd);
	cmd.type = RFT_CMD_RECALL;
	cmd.user = cf_str_c(user);
	cmd.conv = conv;
	cmd.seq = seq;
	rft_node_submit(c->srv->node, &k->sub, &cmd, recall_done_cb);
}

/* ---- receipts ---- */

/* A WebSocket caller with an "id": its own receipt, from local state. */
static void receipt_applied_cb(struct rft_read *r, int status)
{
	struct conv_call *k = r->data;
	const struct rft_conv *cv;
	uint64_t d = 0, rd = 0;
	json_t *o;

	if (status != 0) {
		call_fail(k, status, NULL);
		return;
	}
	cv = rft_fsm_conv(rft_node_fsm(k->conn->srv->node), cf_str_c(k->conv));
	if (cv != NULL)
		rft_conv_receipt(cv, cf_str_c(k->user), &d, &rd);
	if (fe_conn_alive(k->conn)) {
		o = json_pack("{s:s, s:O, s:s, s:s, s:I, s:I}", "type",
			      "receipt", "id", k->ws_id, "conversationId",
			      k->conv, "userId", k->user, "deliveredSeq",
			      (json_int_t)d, "readSeq", (json_int_t)rd);
		fe_ws_send_json(k->conn, o);
	}
	call_free(k);
}

static void receipt_done_cb(struct rft_submit *s, int status,
			    const struct rft_result *r)
{
	struct conv_call *k = s->data;
	bool read = k->receipt_kind == RFT_RECEIPT_READ;

	if (status != 0) {
		call_fail(k, status, refusal(k->kind, status));
		return;
	}
	if (k->ws) {
		if (k->ws_id == NULL) {
			call_free(k); /* the fanned-out event tells it */
			return;
		}
		rft_node_wait_applied(k->conn->srv->node, &k->rd, r->index,
				      receipt_applied_cb);
		return;
	}
	if (fe_conn_alive(k->conn))
		fe_respond_json(k->conn, 200,
				json_pack("{s:I}",
					  read ? "readSeq" : "deliveredSeq",
					  (json_int_t)r->seq));
	call_free(k);
}

/* Validate and submit a receipt; an error is returned with err set. */
static int receipt_start(struct fe_conn *c, const char *user,
			 struct cf_str conv, uint8_t kind, json_t *o,
			 json_t *ws_id, bool ws, char *err, size_t errlen)
{
	struct conv_call *k;
	struct rft_cmd cmd;
	uint64_t seq;
	int rv;

	rv = fe_parse_receipt(o, &seq, err, errlen);
	if (rv != 0)
		return rv;
	k = call_new(c, CONV_RECEIPT, user, conv);
	if (k == NULL)
		return -ENOMEM;
	k->ws = ws;
	k->ws_id = json_incref(ws_id);
	k->receipt_kind = kind;
	memset(&cmd, 0, sizeof cmd);
	cmd.type = RFT_CMD_RECEIPT;
	cmd.user = cf_str_c(user);
	cmd.conv = conv;
	cmd.seq = seq;
	cmd.receipt_kind = kind;
	rft_node_submit(c->srv->node, &k->sub, &cmd, receipt_done_cb);
	return 0;
}

static void http_receipt(struct fe_conn *c, const struct fe_http_req *req,
			 const char *user, struct cf_str conv, uint8_t kind)
{
	char err[256];
	json_t *o;
	int rv;

	rv = fe_json_body(req, &o, err, sizeof err);
	if (rv == 0) {
		rv = receipt_start(c, user, conv, kind, o, NULL, false, err,
				   sizeof err);
		json_decref(o);
	}
	if (rv != 0)
		fe_respond_rc(c, rv, rv == -ENOMEM ? NULL : err);
}

bool fe_api_conv_ws(struct fe_conn *c, const char *type, json_t *o,
		    json_t *id)
{
	struct cf_str conv;
	char err[256];
	uint8_t kind;
	int rv;

	if (strcmp(type, "delivered") == 0)
		kind = RFT_RECEIPT_DELIVERED;
	else if (strcmp(type, "read") == 0)
		kind = RFT_RECEIPT_READ;
	else
		return false;
	rv = fe_json_str(o, "conversationId", true, FE_STR_ID, 0, &conv, err,
			 sizeof err);
	if (rv == 0)
		rv = receipt_start(c, c->user, conv, kind, o, id, true, err,
				   sizeof err);
	if (rv != 0)
		fe_ws_send_error(c, id, rv, rv == -ENOMEM ? NULL : err);
	return true;
}

/* ---- routing ---- */

bool fe_api_conv_http(struct fe_conn *c, const struct fe_http_req *req,
		      const char *user)
{
	static const char pre[] = "/v1/conversations/";
	struct cf_str p = req->path, id, tail;
	const char *slash;

	if (cf_str_eqc(p, "/v1/conversations")) {
		if (req->method != FE_HTTP_GET)
			return false; /* create: fe_api.c */
		http_list(c, req, user);
		return true;
	}
	if (p.len <= sizeof pre - 1 || memcmp(p.p, pre, sizeof pre - 1) != 0)
		return false;
	id.p = p.p + sizeof pre - 1;
	id.len = p.len - (sizeof pre - 1);
	slash = memchr(id.p, '/', id.len);
	if (slash == NULL)
		return false; /* GET /v1/conversations/{id}: fe_api.c */
	tail.p = slash + 1;
	tail.len = id.len - (size_t)(slash + 1 - id.p);
	id.len = (size_t)(slash - id.p);
	if (cf_str_eqc(tail, "members") || cf_str_eqc(tail, "delivered") ||
	    cf_str_eqc(tail, "read")) {
		if (req->method != FE_HTTP_POST) {
			fe_respond_405(c, "POST");
			return true;
		}
	} else if (tail.len > 9 && memcmp(tail.p, "messages/", 9) == 0 &&
		   memchr(tail.p + 9, '/', tail.len - 9) == NULL) {
		if (req->method != FE_HTTP_DELETE) {
			fe_respond_405(c, "DELETE, PATCH"); /* fe_api_edit */
			return true;
		}
	} else {
		return false;
	}
	if (!cf_id_valid(id.p, id.len)) {
		fe_respond_error(c, 400, "bad_request", "bad conversation id");
		return true;
	}
	if (cf_str_eqc(tail, "members"))
		http_members(c, req, user, id);
	else if (cf_str_eqc(tail, "delivered"))
		http_receipt(c, req, user, id, RFT_RECEIPT_DELIVERED);
	else if (cf_str_eqc(tail, "read"))
		http_receipt(c, req, user, id, RFT_RECEIPT_READ);
	else
		http_recall(c, user, id,
			    (struct cf_str){tail.p + 9, tail.len - 9});
	return true;
}
