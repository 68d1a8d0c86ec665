#include "config.h"

/*
 * rft_apply_send: the reply and mentions of a SEND at apply (issue 13).
 *
 * replyTo, when set, names a seq of the same conversation sent before this
 * message: 1 <= replyTo <= lastSeq (this message takes lastSeq + 1), else
 * CF_EBADREQ. mentions must be at most RFT_MENTIONS_MAX valid ids, sorted
 * bytewise without repeats (the frontend sends them so), else CF_EBADREQ;
 * ids that are not members when the command applies are dropped, so that a
 * membership change racing the send never refuses the message: the record
 * holds only ids that were members at its moment.
 */

#include <errno.h>
#include <string.h>

#include "common/cf_err.h"
#include "common/cf_id.h"
#include "raft/rft_fsm_int.h"
#include "raft/rft_rec.h"

int rft__send_meta(const struct rft_cmd *cmd, const struct rft_conv_st *c,
		   struct cf_buf *list, struct rft_rec_meta *meta)
{
	struct cf_str id, prev = {NULL, 0};
	size_t pos = 0, start;
	unsigned n = 0, kept = 0;
	int rv;

	memset(meta, 0, sizeof(*meta));
	if (cmd->reply_to > c->pub.last_seq)
		return CF_EBADREQ;
	while (rft_idlist_next(cmd->mentions, &pos, &id)) {
		if (++n > RFT_MENTIONS_MAX || !cf_id_valid(id.p, id.len) ||
		    (prev.p != NULL && rft__id_cmp(prev, id) >= 0))
			return CF_EBADREQ;
		prev = id;
	}
	if (pos != cmd->mentions.len)
		return CF_EBADREQ; /* decode checked it: never */
	meta->reply_to = cmd->reply_to;
	if (n == 0)
		return 0;
	start = list->len;
	rv = cf_buf_put_u16(list, 0);
	for (pos = 0; rv == 0 && rft_idlist_next(cmd->mentions, &pos, &id);) {
		if (!rft_conv_has_member(&c->pub, id))
			continue;
		rv = cf_buf_put_u16(list, (uint16_t)id.len);
		if (rv == 0)
			rv = cf_buf_append(list, id.p, id.len);
		kept++;
	}
	if (rv != 0)
		return rv;
	cf_put_u16(list->data + start, (uint16_t)kept);
	if (kept > 0) {
		meta->mentions.p = list->data + start;
		meta->mentions.len = list->len - start;
	}
	return 0;
}
