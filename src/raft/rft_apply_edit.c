#include "config.h"

/*
 * rft_apply_edit: the rule of RFT_CMD_EDIT (issue 13), applied in order by
 * rft_apply.c like the other commands (rft_apply_cmd.c dispatches here).
 *
 * Checks, with the entry clock only: the conversation exists and the
 * editor is a member (CF_ENOTFOUND / CF_EFORBIDDEN as for every command);
 * a repeated clientEditId answers the first edit's result with duplicate
 * set (its own key space: rft_edit.c); 1 <= seq <= lastSeq and the message
 * not recalled (CF_ENOTFOUND); the editor is the message's sender
 * (CF_EFORBIDDEN); clock - message ts <= the cluster's edit window, and
 * the window is not 0 (CF_EFORBIDDEN, result seq2 = RFT_EDIT_LATE); non-
 * empty content; mentions valid ids of current members, at most
 * RFT_MENTIONS_MAX (CF_EBADREQ).
 *
 * It writes a LOG_REC_EDIT: seq = the edited seq, sender = the editor,
 * client_msg_id = clientEditId, its own messageId, ts = the entry clock
 * (editedAt), and a body encoded as a message's (rft_rec_message_encode2):
 * the new content, the message's attachment and replyTo, the new mentions
 * (sorted, unique). It takes no seq; it is an item of the conversation
 * (last_item_id), and the conversation's edit map points at it.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/cf_id.h"
#include "raft/rft_fsm_int.h"
#include "raft/rft_rec.h"

/* The new mentions, sorted, unique, members only: encoded into out. */
static int edit_mentions(struct rft_apply *a, const struct rft_conv_st *c,
			 struct cf_str list, struct cf_buf *out)
{
	struct rft_fsm *f = a->f;
	unsigned n = 0;
	int rv;

	if (list.len == 0)
		return 0;
	rv = rft__ids_take(a, list, &n);
	if (rv != 0)
		return rv;
	n = rft__ids_sort_unique(f->ids, n);
	if (n > RFT_MENTIONS_MAX)
		return CF_EBADREQ;
	for (unsigned k = 0; k < n; k++)
		if (!rft_conv_has_member(&c->pub, f->ids[k]))
			return CF_EBADREQ;
	if (n == 0)
		return 0;
	rv = rft_idlist_encode(out, f->ids, n);
	if (rv != 0)
		rft__fatal(f, a->index, "edit", rv);
	return 0;
}

int rft__apply_edit(struct rft_apply *a, const struct rft_cmd *cmd,
		    struct rft_result *res)
{
	struct rft_fsm *f = a->f;
	struct cf_buf mentions = CF_BUF_INIT;
	struct rft_rec_meta meta;
	struct cf_str content, att;
	struct rft_conv_st *c;
	struct log_record rec, msg;
	struct rft_edit e;
	size_t off;
	int rv;

	rv = rft__member_conv(a, cmd, &c);
	if (rv != 0)
		return rv;
	if (cmd->client_msg_id.len == 0 ||
	    !cf_id_valid(cmd->client_msg_id.p, cmd->client_msg_id.len))
		return CF_EBADREQ;
	if (rft__edit_key_find(f, cmd->conv, cmd->user, cmd->client_msg_id,
			       a->clock, &res->seq, &res->message_id,
			       &res->server_ts) == 1) {
		res->duplicate = true;
		f->stats.dedup_hits++;
		return 0;
	}
	if (cmd->seq == 0 || cmd->seq > c->pub.last_seq ||
	    rft_conv_recalled(&c->pub, cmd->seq))
		return CF_ENOTFOUND;
	rv = log_store_read_seq(f->store, cmd->conv, cmd->seq, &msg,
				&f->read_buf);
	if (rv == CF_ENOTFOUND)
		return rv;
	if (rv != 0)
		rft__fatal(f, a->index, "edit: read", rv);
	if (!cf_str_eq(msg.sender, cmd->user))
		return CF_EFORBIDDEN;
	if (f->edit_window_ms == 0 ||
	    (a->clock > msg.ts && a->clock - msg.ts > f->edit_window_ms)) {
		res->seq2 = RFT_EDIT_LATE;
		return CF_EFORBIDDEN;
	}
	if (cmd->content.len == 0)
		return CF_EBADREQ;
	rv = edit_mentions(a, c, cmd->mentions, &mentions);
	if (rv != 0)
		goto out;
	/* The message's attachment and replyTo stay (its record was checked
	 * when it was written: a body that does not split is kept as is). */
	if (rft_rec_message_split(&msg, &content, &att) != 0)
		att.len = 0;
	if (rft_rec_message_meta(&msg, &meta) != 0)
		meta.reply_to = 0;
	meta.mentions.p = (const char *)mentions.data;
	meta.mentions.len = mentions.len;
	rft__rec_init(a, &rec, LOG_REC_EDIT, c, cmd->user);
	rec.seq = cmd->seq;
	rec.client_msg_id = cmd->client_msg_id;
	off = f->scratch.len;
	rv = rft_rec_message_encode2(&f->scratch, cmd->content, att, &meta,
				     &rec.flags);
	if (rv != 0)
		rft__fatal(f, a->index, "edit", rv);
	rec.body.p = (const char *)f->scratch.data + off;
	rec.body.len = f->scratch.len - off;
	rft__stage(a, &rec, c, off);
	e.message_id = rec.message_id;
	e.ts = rec.ts;
	log_store_last_loc(f->store, &e.loc);
	if (rft__edit_set(c, cmd->seq, &e) != 0)
		rft__fatal(f, a->index, "edit", -ENOMEM);
	rv = rft__edit_key_add(f, cmd->conv, cmd->user, cmd->client_msg_id,
			       cmd->seq, rec.message_id, a->clock, a->clock);
	if (rv != 0)
		rft__fatal(f, a->index, "edit", rv);
	c->pub.last_item_id = rec.message_id;
	res->seq = cmd->seq;
	res->message_id = rec.message_id;
	res->server_ts = a->clock;
out:
	cf_buf_release(&mentions);
	return rv;
}
