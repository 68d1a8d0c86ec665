/*
 * rft_rec: the bodies of the segment records that the FSM writes, so that
 * the FSM (on open), sync and the frontend can read them back. The layouts
 * are specified at the top of rft_rec.c.
 *
 *   LOG_REC_CONV     sender = creator; body: type, owner, title, members
 *   LOG_REC_MEMBERS  sender = who changed them; body: added, removed
 *   LOG_REC_MESSAGE  body = content, or (flag RFT_REC_MSG_ATTACH) content
 *                    and attachment JSON, and (flag RFT_REC_MSG_META) the
 *                    replyTo seq and mentions in front: use
 *                    rft_rec_message_split() and rft_rec_message_meta()
 *   LOG_REC_EDIT     seq = edited seq; sender = editor; client_msg_id =
 *                    clientEditId; body and flags as a message's (the
 *                    new content, the new mentions)
 *   LOG_REC_RECALL   seq = recalled seq; sender = who recalled; no body
 *   LOG_REC_RECEIPT  seq = upToSeq as applied; flags = enum
 *                    rft_receipt_kind; body: both pointers after it
 *   LOG_REC_MEDIA    conv = RFT_REC_MEDIA_CONV, client_msg_id = mediaId,
 *                    body = the reference JSON {size, mime, xxh3}
 *
 * Ownership: decoded bodies borrow from the record's bytes. Errors: 0,
 * CF_ECORRUPT, CF_ETOOBIG, -ENOMEM. Threads: any; no shared state.
 */
#ifndef RFT_REC_H
#define RFT_REC_H

#include <stdbool.h>
#include <stdint.h>

#include "common/cf_buf.h"
#include "log/log_record.h"

/* Flag of a LOG_REC_MESSAGE whose body also holds an attachment. */
#define RFT_REC_MSG_ATTACH 0x01u
/* Flag of a LOG_REC_MESSAGE (or _EDIT) whose body starts with its meta. */
#define RFT_REC_MSG_META 0x02u
/* Conversation id of media references (not a valid client id). */
#define RFT_REC_MEDIA_CONV "~media"

/* LOG_REC_CONV: members is an rft_cmd id list (walk: rft_idlist_next). */
struct rft_rec_conv {
	uint8_t type; /* enum rft_conv_type */
	struct cf_str owner;
	struct cf_str title;
	struct cf_str members; /* every member, sorted, owner included */
};
int rft_rec_conv_encode(struct cf_buf *out, uint8_t type, struct cf_str owner,
			struct cf_str title, const struct cf_str *members,
			unsigned n);
int rft_rec_conv_decode(struct cf_str body, struct rft_rec_conv *c);

/* LOG_REC_MEMBERS: the ids whose membership actually changed. */
struct rft_rec_members {
	struct cf_str added;   /* id list */
	struct cf_str removed; /* id list */
};
int rft_rec_members_encode(struct cf_buf *out, const struct cf_str *added,
			   unsigned n_added, const struct cf_str *removed,
			   unsigned n_removed);
int rft_rec_members_decode(struct cf_str body, struct rft_rec_members *m);

/* LOG_REC_RECEIPT: the member's pointers once this receipt applied. */
struct rft_rec_receipt {
	uint64_t delivered;
	uint64_t read;
};
int rft_rec_receipt_encode(struct cf_buf *out, const struct rft_rec_receipt *r);
int rft_rec_receipt_decode(struct cf_str body, struct rft_rec_receipt *r);

/* What a message says besides its text: its reply and its mentions. */
struct rft_rec_meta {
	uint64_t reply_to;     /* seq of the same conversation, 0 = none */
	struct cf_str mentions; /* id list (rft_idlist_next), maybe empty */
};

/*
 * LOG_REC_MESSAGE (and LOG_REC_EDIT): build the body for content,
 * attachment (empty: none) and meta (NULL, or nothing set: none); *flags
 * gets RFT_REC_MSG_ATTACH and RFT_REC_MSG_META for what is folded in.
 */
int rft_rec_message_encode(struct cf_buf *out, struct cf_str content,
			   struct cf_str attachment, uint8_t *flags);
int rft_rec_message_encode2(struct cf_buf *out, struct cf_str content,
			    struct cf_str attachment,
			    const struct rft_rec_meta *meta, uint8_t *flags);
/* Split a message record's body into content and attachment (maybe empty). */
int rft_rec_message_split(const struct log_record *rec, struct cf_str *content,
			  struct cf_str *attachment);
/* A message record's meta (all zero/empty without RFT_REC_MSG_META). */
int rft_rec_message_meta(const struct log_record *rec,
			 struct rft_rec_meta *meta);
/* Whether the encoded id list holds id. */
bool rft_rec_mentions_has(struct cf_str mentions, struct cf_str id);

#endif
