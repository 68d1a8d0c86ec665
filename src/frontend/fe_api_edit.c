#include "config.h"

/*
 * fe_api_edit: see fe_api_edit.h. Refusals of the FSM:
 *   CF_ENOTFOUND   404 "no such conversation or message" (never sent, or
 *                  recalled)
 *   CF_EFORBIDDEN  403 "edit window passed" (result seq2 = RFT_EDIT_LATE),
 *                  else "only the sender may edit a message" for a member
 *                  (a former member: "not a member of this conversation")
 *   CF_EBADREQ     400 "mentions must be members of the conversation"
 */

#include "frontend/fe_api_edit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "common/cf_id.h"
#include "common/cf_time.h"
#include "frontend/fe_api_parse.h"
#include "frontend/fe_json.h"
#include "frontend/fe_mention.h"
#include "frontend/fe_rate.h"
#include "frontend/fe_server.h"
#include "raft/rft_cmd.h"
#include "raft/rft_fsm.h"
#include "raft/rft_node.h"
#include "sync/sync_read.h"

struct edit_call {
	struct fe_conn *conn;
	struct rft_submit sub;
	char user[129];
	char conv[129];
};

static void edit_done_cb(struct rft_submit *s, int status,
			 const struct rft_result *r)
{
	struct edit_call *k = s->data;
	struct fe_conn *c = k->conn;
	char id[24];

	if (!fe_conn_alive(c))
		goto out;
	if (status == CF_EFORBIDDEN) {
		const struct rft_conv *cv = rft_fsm_conv(
			rft_node_fsm(c->srv->node), cf_str_c(k->conv));

		fe_respond_rc(c, status,
			      r->seq2 == RFT_EDIT_LATE ? "edit window passed"
			      : cv != NULL && rft_conv_has_member(
						      cv, cf_str_c(k->user))
				      ? "only the sender may edit a message"
				      : "not a member of this conversation");
		goto out;
	}
	if (status != 0) {
		fe_respond_rc(c, status,
			      status == CF_ENOTFOUND
				      ? "no such conversation or message"
			      : status == CF_EBADREQ
				      ? "mentions must be members of the "
					"conversation"
				      : NULL);
		goto out;
	}
	sync_message_id_str(r->message_id, id);
	fe_respond_json(c, 200,
			json_pack("{s:s, s:I, s:s, s:I, s:b}", "conversationId",
				  k->conv, "seq", (json_int_t)r->seq,
				  "messageId", id, "editedAt",
				  (json_int_t)r->server_ts, "duplicate",
				  r->duplicate));
out:
	fe_conn_unref(c);
	free(k);
}

static int edit_start(struct fe_conn *c, const char *user, struct cf_str conv,
		      uint64_t seq, json_t *o, char *err, size_t errlen)
{
	struct fe_server *srv = c->srv;
	struct cf_buf mentions = CF_BUF_INIT;
	struct cf_str content, ceid;
	struct edit_call *k;
	struct rft_cmd cmd;
	unsigned retry_s = 1;
	int rv;

	rv = fe_parse_edit(o, srv->cfg.max_content_chars, &ceid, &content, err,
			   errlen);
	if (rv != 0)
		return rv;
	rv = fe_edit_mentions(o, rft_fsm_conv(rft_node_fsm(srv->node), conv),
			      user, content, &mentions, err, errlen);
	if (rv != 0)
		goto out;
	rv = fe_rate_take(&srv->rate, user, cf_mono_ns(), &retry_s);
	if (rv != 0) {
		snprintf(err, errlen, "over %u sends per second; retry in %u s",
			 srv->cfg.rate_limit, retry_s);
		goto out;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		rv = -ENOMEM;
		goto out;
	}
	k->conn = c;
	k->sub.data = k;
	snprintf(k->user, sizeof k->user, "%s", user);
	memcpy(k->conv, conv.p, conv.len);
	fe_conn_ref(c);
	memset(&cmd, 0, sizeof cmd);
	cmd.type = RFT_CMD_EDIT;
	cmd.user = cf_str_c(user);
	cmd.conv = conv;
	cmd.seq = seq;
	cmd.client_msg_id = ceid;
	cmd.content = content;
	cmd.mentions.p = (const char *)mentions.data;
	cmd.mentions.len = mentions.len;
	/* The node copies the command. */
	rft_node_submit(srv->node, &k->sub, &cmd, edit_done_cb);
out:
	cf_buf_release(&mentions);
	return rv;
}

bool fe_api_edit_http(struct fe_conn *c, const struct fe_http_req *req,
		      const char *user)
{
	static const char pre[] = "/v1/conversations/";
	static const char mid[] = "/messages/";
	struct cf_str p = req->path, id, seq_text;
	const char *m;
	char err[256] = "";
	uint64_t seq = 0;
	json_t *o;
	int rv;

	if (req->method != FE_HTTP_PATCH || p.len <= sizeof pre - 1 ||
	    memcmp(p.p, pre, sizeof pre - 1) != 0)
		return false;
	id.p = p.p + sizeof pre - 1;
	m = memchr(id.p, '/', p.len - (sizeof pre - 1));
	if (m == NULL)
		return false;
	id.len = (size_t)(m - id.p);
	if ((size_t)(p.p + p.len - m) <= sizeof mid - 1 ||
	    memcmp(m, mid, sizeof mid - 1) != 0)
		return false;
	seq_text.p = m + sizeof mid - 1;
	seq_text.len = (size_t)(p.p + p.len - seq_text.p);
	if (memchr(seq_text.p, '/', seq_text.len) != NULL)
		return false;
	if (!cf_id_valid(id.p, id.len)) {
		fe_respond_error(c, 400, "bad_request", "bad conversation id");
		return true;
	}
	if (fe_parse_u64(seq_text, &seq) != 0 || seq == 0) {
		fe_respond_rc(c, CF_EBADREQ,
			      "the seq must be a positive integer");
		return true;
	}
	rv = fe_json_body(req, &o, err, sizeof err);
	if (rv == 0) {
		rv = edit_start(c, user, id, seq, o, err, sizeof err);
		json_decref(o);
	}
	if (rv != 0)
		fe_respond_rc(c, rv, rv == -ENOMEM ? NULL : err);
	return true;
}
