/*
 * rft_cmd: commands, the batch (one Raft entry) that carries them, and the
 * per-command results that answer them. The byte layout is specified at the
 * top of rft_cmd.c.
 *
 * An entry is a batch of the commands the leader gathered during one loop
 * turn: a header {magic, u16 version, u32 true length, u32 count, u64
 * serverTs, xxh3 of the body}, then each command {u8 type, u32 len, u16
 * origin node, u64 origin reqId, fields}, zero-padded to a multiple of 8 bytes
 * (raft 0.15 corrupts entries that are not). An entry is capped at
 * RFT_ENTRY_MAX bytes and RFT_ENTRY_MAX_CMDS commands.
 *
 * The same command encoding travels on the peer link when a follower
 * forwards a client command to the leader, and results travel back.
 *
 * Ownership: decoded commands borrow their strings from the input bytes.
 * Errors: 0, CF_ECORRUPT (bad bytes), CF_EVERSION (unknown version; the
 * caller aborts the node), -ENOMEM. Threads: any; no shared state.
 */
#ifndef RFT_CMD_H
#define RFT_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"

#define RFT_ENTRY_MAX (512u * 1024u)
#define RFT_ENTRY_MAX_CMDS 65535u
#define RFT_ENTRY_VERSION 1

enum rft_cmd_type {
	RFT_CMD_CREATE = 1,  /* create a conversation */
	RFT_CMD_MEMBERS = 2, /* add/remove members */
	RFT_CMD_SEND = 3,    /* send a message */
	RFT_CMD_RECALL = 4,  /* recall message seq */
	RFT_CMD_RECEIPT = 5, /* move a delivered/read pointer */
	RFT_CMD_MEDIA = 6,   /* commit a media reference */
	RFT_CMD_MARK = 7,    /* verify marker: every node records its files */
	RFT_CMD_COMPACT = 8, /* compact sealed hot segments to cold files */
	RFT_CMD_NOOP = 9,    /* nothing: an entry for raft to snapshot past */
	RFT_CMD_EDIT = 10,   /* edit message seq: new content and mentions */
};

/* SEND, EDIT: the most ids a message mentions. */
#define RFT_MENTIONS_MAX 50u

/* COMPACT: seq for every partition; flags: seal the hot segments first. */
#define RFT_COMPACT_ALL UINT64_MAX
#define RFT_COMPACT_SEAL 1u
/* COMPACT: count, the most hot segments one cold file may take. */
#define RFT_COMPACT_COUNT_MAX 1024u

enum rft_conv_type {
	RFT_CONV_DIRECT = 1,
	RFT_CONV_GROUP = 2,
};

enum rft_receipt_kind {
	RFT_RECEIPT_DELIVERED = 1,
	RFT_RECEIPT_READ = 2,
};

/*
 * One command. Which fields a type uses:
 *   CREATE:  user (owner), conv (may be empty: server assigns c_<n>),
 *            conv_type, title, members (the others; the caller is implied)
 *   MEMBERS: user, conv, members (add), removed (remove)
 *   SEND:    user, conv, client_msg_id, msg_type, content, attachment (JSON
 *            text or empty), reply_to (seq or 0), mentions (id list)
 *   RECALL:  user, conv, seq
 *   RECEIPT: user, conv, seq (upToSeq), receipt_kind
 *   MEDIA:   user, media_id, content (JSON {size, mime, xxh3})
 *   MARK:    user (the admin), seq (the marker id)
 *   COMPACT: user (the admin or the leader's rule), seq (partition, or
 *            RFT_COMPACT_ALL), count (most hot segments per cold file),
 *            flags (RFT_COMPACT_SEAL)
 *   NOOP:    user (the node that asks: "node-<id>")
 *   EDIT:    user, conv, seq (the edited message), client_msg_id (the
 *            clientEditId), content, mentions (id list)
 * A list of ids (members, removed, mentions) is encoded as a u16 count then u16-length
 * strings; decode leaves it as that raw span: walk it with rft_idlist_next().
 */
struct rft_cmd {
	uint8_t type;	 /* enum rft_cmd_type */
	uint16_t origin; /* node that took the client request */
	uint64_t req_id; /* origin's request id, echoed in the result */
	struct cf_str user;
	struct cf_str conv;
	struct cf_str client_msg_id;
	struct cf_str msg_type;
	struct cf_str content;
	struct cf_str attachment;
	struct cf_str title;
	struct cf_str media_id;
	uint8_t conv_type;    /* enum rft_conv_type */
	uint8_t receipt_kind; /* enum rft_receipt_kind */
	uint64_t seq;
	uint32_t count;
	uint8_t flags;
	struct cf_str members; /* encoded id list (see above) */
	struct cf_str removed; /* encoded id list */
	struct cf_str mentions; /* encoded id list (SEND, EDIT) */
	uint64_t reply_to;	/* SEND: seq replied to, 0 = none */
};

/*
 * The id of the group that user creates with idempotency key `key` and no
 * conversationId of its own: "c_k" and 32 hex digits of the XXH3-128 of
 * (user, NUL, key). A retried create names the same id, so the create's
 * "existing group of the same owner" rule answers the first one: a retry
 * never makes a second group. Clients cannot name "c_" ids themselves.
 */
#define RFT_KEYED_CONV_LEN 35
void rft_keyed_conv_id(struct cf_str user, struct cf_str key,
		       char out[RFT_KEYED_CONV_LEN + 1]);
/* Whether id has the shape of rft_keyed_conv_id()'s ids. */
bool rft_keyed_conv_id_valid(struct cf_str id);

/* Append an id list (count + strings) for cmd->members / cmd->removed. */
int rft_idlist_encode(struct cf_buf *out, const struct cf_str *ids,
		      unsigned n);
/* Number of ids in an encoded list (0 for an empty span). */
unsigned rft_idlist_count(struct cf_str list);
/* Iterate: struct cf_str id; size_t pos = 0; while (rft_idlist_next(l, &pos, &id)) */
bool rft_idlist_next(struct cf_str list, size_t *pos, struct cf_str *id);

/* Encode one command (no padding) / decode exactly p[0..len). */
int rft_cmd_encode(const struct rft_cmd *cmd, struct cf_buf *out);
int rft_cmd_decode(const void *p, size_t len, struct rft_cmd *cmd);
size_t rft_cmd_size(const struct rft_cmd *cmd);

/*
 * Batch building. rft_batch_begin() reserves the header in out;
 * rft_batch_add() appends an encoded command (from rft_cmd_encode, e.g. as
 * received on the peer link) and fails with CF_ETOOBIG if it would pass
 * RFT_ENTRY_MAX or RFT_ENTRY_MAX_CMDS (the caller then closes the entry and
 * starts another); rft_batch_finish() writes the header (serverTs, count,
 * true length, checksum) and pads to 8 bytes.
 */
struct rft_batch {
	struct cf_buf *out;
	size_t start;
	uint32_t count;
};
int rft_batch_begin(struct rft_batch *b, struct cf_buf *out);
int rft_batch_add(struct rft_batch *b, const void *cmd, size_t len);
int rft_batch_finish(struct rft_batch *b, uint64_t server_ts);

/* A decoded entry: header fields and an iterator over its commands. */
struct rft_entry {
	uint16_t version;
	uint32_t count;
	uint64_t server_ts;
	const uint8_t *body; /* first command */
	size_t body_len;
};
/* Check magic, version, lengths and checksum of a padded entry. */
int rft_entry_decode(const void *p, size_t len, struct rft_entry *e);
/* Next command: 1 and *cmd set, 0 at the end, or CF_ECORRUPT. */
int rft_entry_next(const struct rft_entry *e, size_t *pos,
		   struct rft_cmd *cmd);

/* The answer to one command. */
struct rft_result {
	int status;	   /* 0, or CF_E* (refused; nothing changed) */
	bool duplicate;	   /* SEND: the key was already committed */
	bool created;	   /* CREATE: new (201) rather than existing (200) */
	uint64_t index;	   /* Raft index of the entry */
	uint64_t seq;	   /* SEND: seq; RECEIPT: the pointer now */
	uint64_t message_id;
	uint64_t server_ts;
	uint64_t seq2;	   /* RECEIPT: the other pointer (delivered) */
	char conv[129];	   /* CREATE: conversation id (assigned or found) */
};

int rft_result_encode(const struct rft_result *r, struct cf_buf *out);
int rft_result_decode(const void *p, size_t len, struct rft_result *r);

#endif
