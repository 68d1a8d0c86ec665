/*
 * log_record: one record of the segment log, and its encoding on disk.
 *
 * Every thing that happens in a conversation is a record: a message, the
 * creation of a conversation, a membership change, a recall, a receipt, a
 * media reference, an edit. All state of a node can be rebuilt from records alone.
 * The byte layout, checksum and validity rule are specified at the top of
 * log_record.c.
 *
 * Ownership: a decoded record borrows its strings from the bytes it was
 * decoded from (struct cf_str spans); keep those bytes alive while using it.
 * Errors: 0, CF_ECORRUPT (bad checksum, bad lengths, unknown kind), or
 * -ENOMEM. Threads: any; no shared state.
 */
#ifndef LOG_RECORD_H
#define LOG_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"

enum log_rec_kind {
	LOG_REC_MESSAGE = 1, /* a message; takes the conversation's next seq */
	LOG_REC_CONV = 2,    /* conversation created; body: rft_fsm encoding */
	LOG_REC_MEMBERS = 3, /* members changed; body: rft_fsm encoding */
	LOG_REC_RECALL = 4,  /* seq = the recalled message's seq */
	LOG_REC_RECEIPT = 5, /* seq = upToSeq; body: rft_fsm encoding */
	LOG_REC_MEDIA = 6,   /* media reference; body: rft_fsm encoding */
	LOG_REC_EDIT = 7,    /* seq = the edited message's seq; body: the new
				version, encoded like a message body */
};

/*
 * Flag of a LOG_REC_MESSAGE whose content was erased by compaction after a
 * recall (log_cold): the body is empty and no other flag is set.
 */
#define LOG_REC_MSG_RECALLED 0x80u
/*
 * Flag of a LOG_REC_MESSAGE or LOG_REC_EDIT whose content compaction
 * erased because a later version of the message exists (an edit: the
 * message's latest LOG_REC_EDIT holds the text): the body is empty and no
 * other flag is set. A LOG_REC_EDIT of a recalled message is erased with
 * LOG_REC_MSG_RECALLED the same way.
 */
#define LOG_REC_MSG_EDITED 0x40u

/* Largest encoded record, header and checksum included. */
#define LOG_RECORD_MAX (1u << 20)

struct log_record {
	uint8_t kind;	     /* enum log_rec_kind */
	uint8_t flags;	     /* kind-specific, 0 if unused */
	uint64_t raft_index; /* index of the Raft entry that produced it */
	uint64_t message_id; /* index * 65536 + position in the entry */
	uint64_t seq;	     /* message seq; target seq for recall/receipt */
	uint64_t ts;	     /* entry clock, ms since the epoch */
	struct cf_str conv;  /* conversation id, 1..128 bytes */
	struct cf_str sender; /* user who caused it, 0..128 bytes */
	struct cf_str client_msg_id; /* idempotency key part, 0..128 bytes */
	struct cf_str msg_type;	     /* 0..32 bytes */
	struct cf_str body;	     /* content or kind-specific payload */
};

/* Bytes log_record_encode() will append for rec. */
size_t log_record_size(const struct log_record *rec);
/* Append the encoded record (checksum included) to out. */
int log_record_encode(const struct log_record *rec, struct cf_buf *out);
/*
 * Decode one record from the start of p[0..len). On success *used is its
 * encoded size. Returns CF_ECORRUPT for a short, torn or damaged record
 * (a recovery scan cuts the segment there), never reads past len.
 */
int log_record_decode(const void *p, size_t len, struct log_record *rec,
		      size_t *used);

#endif
