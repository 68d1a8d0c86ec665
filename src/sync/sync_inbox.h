/*
 * sync_inbox: the inbox index of every user (DESIGN.md "Sync"): its
 * conversations ordered by the messageId of their latest item, with the
 * messageIds at which the user joined and left each one; and, per
 * conversation, the list of its non-message items (recalls, edits,
 * creation, membership changes) in messageId order. Messages themselves are found
 * through the store's seq index (a conversation's messageIds grow with seq).
 *
 * Fed from the committed records (sync_inbox_on_record for every record:
 * after each apply in commit order, and during the rebuild on open or after
 * a segment fetch partition by partition, each conversation's records in
 * order), so it is the same on every node. Items: messages, recalls, edits, conversation changes;
 * receipts and media are not items. A removed user keeps its entry with
 * `left` set to the messageId of the change that removed it: it sees that
 * change and nothing after. A user added again gets a new `joined` and
 * `left` = 0 (only the latest interval is kept).
 *
 * Memory: per user-conversation pair one entry (about 64 bytes); per
 * non-message item 24 bytes plus, for membership changes, the id lists.
 * Ownership: the inbox owns everything it holds; pointers returned stay valid
 * until the next sync_inbox_on_record.
 * Errors: 0, -ENOMEM, CF_ECORRUPT (undecodable record body).
 * Threads: loop thread only.
 */
#ifndef SYNC_INBOX_H
#define SYNC_INBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"
#include "log/log_record.h"
#include "raft/rft_fsm.h"

struct sync_inbox;

/* A non-message item of a conversation. */
struct sync_item {
	uint64_t message_id;
	uint64_t seq;	/* recall, edit: the message's seq; else 0 */
	uint8_t kind;	/* LOG_REC_RECALL, _EDIT, _CONV, _MEMBERS */
	uint32_t body_len; /* LOG_REC_MEMBERS: the record body (id lists) */
	char *body;
};

/* One conversation of a user. */
struct sync_inbox_entry {
	const char *conv;	/* conversation id (NUL-terminated) */
	uint64_t last;		/* messageId of its latest item the user sees */
	uint64_t joined;	/* messageId of the change that added it */
	uint64_t left;		/* of the change that removed it, 0 if member */
};

int sync_inbox_new(struct sync_inbox **out);
void sync_inbox_free(struct sync_inbox *ix);

/*
 * Take one committed record (conv: the conversation after its entry, as
 * rft_fsm_record_cb gives it). Records must come in commit order.
 */
int sync_inbox_on_record(struct sync_inbox *ix, const struct log_record *rec,
			 const struct rft_conv *conv);
/*
 * The same for a record of a rebuild, which reads the store partition by
 * partition (a conversation's records in order, conversations in any
 * order): entries are not placed by age until sync_inbox_settle(), which
 * must come before any query. sync_inbox_on_record() settles first.
 */
int sync_inbox_on_rebuild_record(struct sync_inbox *ix,
				 const struct log_record *rec,
				 const struct rft_conv *conv);
/* Sort every user's entries once after a rebuild: 0 or -ENOMEM. */
int sync_inbox_settle(struct sync_inbox *ix);

/* The highest messageId of any item seen (0 if none). */
uint64_t sync_inbox_last_id(const struct sync_inbox *ix);

/*
 * user's entries whose `last` is after `after`, newest first: at most max
 * are stored in out; returns how many there are in all (so a result above
 * max means more). Cost: the number of entries visited.
 */
size_t sync_inbox_changed(const struct sync_inbox *ix, struct cf_str user,
			  uint64_t after, const struct sync_inbox_entry **out,
			  size_t max);

/* user's entry for conv, or NULL. */
const struct sync_inbox_entry *sync_inbox_entry(const struct sync_inbox *ix,
						struct cf_str user,
						struct cf_str conv);

/*
 * The non-message items of conv (messageId order), *n set; the index of
 * the first after `after` in *first. NULL (and *n = 0) if none.
 */
const struct sync_item *sync_inbox_items(const struct sync_inbox *ix,
					 struct cf_str conv, uint64_t after,
					 size_t *n, size_t *first);

/*
 * The state image (issue 11; section format at the top of sync_inbox.c).
 * Write: the whole index, as it stands (settled or not), through w's
 * sticky error; it only reads the index and allocates nothing (a forked
 * child of the node may call it).
 */
struct cf_imgw;
struct cf_imgr;
void sync_inbox_image_write(const struct sync_inbox *ix, struct cf_imgw *w);
/*
 * Read a section written by sync_inbox_image_write into ix, a new empty
 * inbox: 0 (ix answers every query as the written one did), CF_ECORRUPT
 * or -ENOMEM (also kept in r->err). On failure ix holds part of the
 * section; sync_inbox_free frees it.
 */
int sync_inbox_image_read(struct sync_inbox *ix, struct cf_imgr *r);

#endif
