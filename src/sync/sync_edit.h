/*
 * sync_edit: what reads show of edited messages (issue 13).
 *
 * A message that was edited (and not recalled) shows its latest version:
 * the content, attachment and meta (replyTo, mentions) of its latest
 * LOG_REC_EDIT, with "editedAt" (ms, that edit's entry clock). The FSM
 * says which messages were edited and where their latest edit lives
 * (rft_conv_edit, rft_edit.c), so a message never edited costs one map
 * probe more (none while its conversation has no edit).
 *
 * An edit is also an item of its own: the event and sync item `edited`
 *   {"type":"edited","cursor":"m<edit messageId>","conversationId","seq",
 *    "messageId" (the edit's),"content","editedAt","mentions"? }
 * A live event shows the edit's own record; a sync item read later shows
 * the message's latest version (an older edit's text may be erased by
 * then), and for a message recalled since, no content but "recalled":
 * true.
 *
 * Ownership: records borrow from the caller's buffers; json_t objects carry
 * one reference for the caller. Errors: 0, CF_ECORRUPT or -errno from the
 * store, -ENOMEM. Threads: loop thread only.
 */
#ifndef SYNC_EDIT_H
#define SYNC_EDIT_H

#include <stdint.h>

#include <jansson.h>

#include "common/cf_buf.h"
#include "log/log_record.h"
#include "raft/rft_fsm.h"

/*
 * rec is message seq of c as read from the store. If it was edited and
 * not recalled, its body and flags become those of its latest edit (read
 * into escratch, which must not be rec's own buffer) and *edited_at that
 * edit's ts; else rec is left alone and *edited_at is 0.
 */
int sync_edit_latest(struct rft_fsm *f, const struct rft_conv *c,
		     struct log_record *rec, struct cf_buf *escratch,
		     uint64_t *edited_at);
/*
 * After sync_message_write() wrote a message object at the end of b: put
 * "editedAt" in it (a no-op for 0). 0 or -ENOMEM.
 */
int sync_edit_write_at(struct cf_buf *b, uint64_t edited_at);
/*
 * The `edited` event of a LOG_REC_EDIT record, from the record itself
 * (fan-out gives the mentioned their own frame with "mentionsMe").
 */
json_t *sync_edited_json(const struct log_record *rec);
/*
 * The `edited` sync item of c's edit item (message_id: the edit's; seq:
 * the edited message's), showing the message's latest version, for user
 * ("mentionsMe" if it mentions user). NULL with *rv set on error.
 */
json_t *sync_edited_item(struct rft_fsm *f, const struct rft_conv *c,
			 uint64_t message_id, uint64_t seq, struct cf_str user,
			 struct cf_buf *scratch, int *rv);

#endif
