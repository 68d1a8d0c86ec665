/*
 * sync_read: reads of committed history for clients: a conversation's
 * messages by seq range (fromSeq, beforeSeq, latest page), and the JSON
 * objects of API.md that describe a message, a conversation and the events
 * of committed records. A recalled message keeps its seq in history, as a
 * placeholder without content.
 *
 * Reads come from this node's own applied state (its segment store through
 * the seq index); read-your-writes on a follower is the caller's job (wait
 * for a read index first, DESIGN.md "consistent=1").
 * Ownership: returned json_t objects carry one reference for the caller.
 * Errors: 0, CF_ENOTFOUND (no such conversation), CF_EFORBIDDEN (not a
 * member), CF_ECORRUPT or -errno from the store, -ENOMEM.
 * Threads: loop thread only.
 */
#ifndef SYNC_READ_H
#define SYNC_READ_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/cf_buf.h"
#include "log/log_record.h"
#include "raft/rft_fsm.h"

#define SYNC_LIMIT_DEFAULT 50
#define SYNC_LIMIT_MAX 200

struct sync_history_query {
	uint64_t from_seq;   /* 0 if absent */
	uint64_t before_seq; /* 0 if absent */
	unsigned limit;	     /* 1..SYNC_LIMIT_MAX */
	uint64_t around_seq; /* 0 if absent; else from_seq, before_seq are 0 */
};

/*
 * {"messages": [...], "lastSeq": n, "hasMore": b} for user in conv; user.p
 * NULL reads as an admin, without the membership check (fe_admin.c).
 * With around_seq S (issue 13): the page of limit messages centred on S
 * (limit/2 before it, S, the rest after, shifted when one side runs out;
 * S past lastSeq: the latest page), and "hasMoreBefore", "hasMoreAfter"
 * ("hasMore" is either).
 */
int sync_history(struct rft_fsm *f, struct cf_str user, struct cf_str conv,
		 const struct sync_history_query *q, json_t **out);

/*
 * The same answer as sync_history(), written as JSON text at the end of out
 * (what json_dumps(JSON_COMPACT) makes of sync_history's object, without
 * building it: the history routes' hot path). On error out holds a prefix.
 */
int sync_history_write(struct rft_fsm *f, struct cf_str user,
		       struct cf_str conv, const struct sync_history_query *q,
		       struct cf_buf *out);
/*
 * sync_message_json(rec) (recalled: sync_recalled_json(rec)) as JSON text
 * at the end of b. 0 or -ENOMEM.
 */
int sync_message_write(struct cf_buf *b, const struct log_record *rec,
		       bool recalled);

/*
 * The same for reader (sync_meta.h: "mentionsMe" when reader is mentioned;
 * reader.p NULL: nobody).
 */
int sync_message_write_for(struct cf_buf *b, const struct log_record *rec,
			   bool recalled, struct cf_str reader);

/*
 * The message object of API.md for a LOG_REC_MESSAGE record, with its
 * "replyTo" and "mentions" (sync_meta.h) but no per-reader field.
 */
json_t *sync_message_json(const struct log_record *rec);
/*
 * The message object as reader sees it: sync_message_json() with
 * "mentionsMe", or if recalled, sync_recalled_json(). The one renderer of a
 * message by its record for a given reader (history, search, mentions).
 */
json_t *sync_message_json_for(const struct log_record *rec, bool recalled,
			      struct cf_str reader);
/*
 * The placeholder of a recalled message: the message object without its
 * content (or attachment), with "recalled": true.
 */
json_t *sync_recalled_json(const struct log_record *rec);
/* The conversation object of API.md (without per-user fields). */
json_t *sync_conv_json(const struct rft_conv *c);

/*
 * The event of a committed record, as API.md's WebSocket server frames
 * (and sync items): `message`, `recalled`, `conversation` (created,
 * members_changed) and `receipt`, with its "type". Every event but
 * `receipt` carries the cursor of its item. conv is the record's
 * conversation as rft_fsm_record_cb gives it (members as of the record);
 * a members_changed also lists the ids "added" and "removed". NULL on
 * -ENOMEM, or for a kind clients never see (media).
 */
json_t *sync_event_json(const struct log_record *rec,
			const struct rft_conv *conv);
/*
 * sync_event_json(rec, conv) as JSON text at the end of b, with
 * "mentionsMe": true if mentions_me; a message is written straight as text
 * (the fan-out's hot path: one frame per committed message), other kinds
 * through sync_event_json(). 0, CF_ENOTFOUND (no event for rec), or -ENOMEM;
 * on error b holds a prefix.
 */
int sync_event_write(struct cf_buf *b, const struct log_record *rec,
		     const struct rft_conv *conv, bool mentions_me);
/* The cursor of an item: "m" and its messageId in decimal. */
void sync_cursor_str(uint64_t message_id, char out[24]);

/* A messageId as the decimal string clients see. */
void sync_message_id_str(uint64_t id, char out[24]);

#endif
