/*
 * sync_search_db: the search index's SQLite database (one file,
 * DATA/search/index.db, WAL mode) and the statements on it.
 *
 * Why SQLite FTS5 and not an inverted index of our own: FTS5 is a
 * well-kept, heavily tested full-text engine (segment merges, prefix
 * queries, deletes, crash safety through SQLite's journal) that Debian
 * ships; an index of our own would have to get all of that right again.
 * What FTS5 on Debian's SQLite 3.40 lacks (accent folding with the trigram
 * tokenizer, 2-character CJK queries) is done in front of it by our
 * normalisation (sync_search_norm.h), so the table is a plain unicode61
 * FTS5 table of our tokens.
 *
 * Schema (version SYNC_SEARCH_DB_VERSION, in meta):
 *   t(body, conv UNINDEXED, seq UNINDEXED)  FTS5, rowid = messageId of
 *        the message (an edit keeps it), body = normalised latest text
 *        and the conversation's token: U+E000 and the 16 hex digits of
 *        XXH3(conv) (private use: never made from text). A query of a
 *        caller in at most SYNC_SEARCH_CONV_TOKENS conversations ANDs the
 *        OR of theirs, so that FTS5 intersects posting lists instead of
 *        scanning every match (a hash collision only costs a scanned
 *        row: the windows are checked on every row).
 *        (columnsize=0: no ranking, so no per-row token counts)
 *   loc(conv, seq) -> mid                   to find a row from a recall
 *                                          or an edit (conv, seq)
 *   mentions(user, mid, conv, seq)          key (user, mid); index on mid
 *   meta(k, v)                              'version', 'position': the
 *        Raft index every record up to which is indexed; written in the
 *        same transaction as the rows it covers
 * Deleted text must leave the files: PRAGMA secure_delete=ON zeroes freed
 * cells and pages, and sync_search_db_optimize() merges FTS5's segments
 * (dropping deleted postings) and truncates the WAL.
 *
 * A writer connection creates and checks the file (quick_check, version);
 * readers are read-only connections of their own (WAL: they read beside
 * the writer). Both use SQLITE_OPEN_NOMUTEX: one thread at a time per
 * connection.
 * Ownership: a connection owns its statements. Errors: 0, CF_ECORRUPT
 * (damaged, or not our schema: delete and rebuild), CF_EIO (another
 * SQLite failure; errmsg or the log says which), -ENOMEM.
 * Threads: any, one thread per connection at a time.
 */
#ifndef SYNC_SEARCH_DB_H
#define SYNC_SEARCH_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"
#include "log/log_record.h"

#define SYNC_SEARCH_DB_VERSION 1
/* SQLite page cache of each connection, KiB. */
#define SYNC_SEARCH_CACHE_KIB 8192
/* Callers in at most this many conversations query by their tokens. */
#define SYNC_SEARCH_CONV_TOKENS 64

struct sync_search_db;

/*
 * Open path (readonly: a reader; else the writer, creating the file and
 * schema if missing and checking it: CF_ECORRUPT if it is damaged or of
 * another version).
 */
int sync_search_db_open(const char *path, bool readonly,
			struct sync_search_db **out, char *errmsg);
void sync_search_db_close(struct sync_search_db *db);

int sync_search_db_begin(struct sync_search_db *db);
int sync_search_db_commit(struct sync_search_db *db);
void sync_search_db_rollback(struct sync_search_db *db);

/* meta 'position' (0 for a new database). */
int sync_search_db_position(struct sync_search_db *db, uint64_t *pos);
int sync_search_db_set_position(struct sync_search_db *db, uint64_t pos);

/*
 * Apply one committed record inside a transaction: a message is indexed
 * (text and mentions), a recall deletes its message's row and mentions,
 * an edit replaces them (rowid kept); other kinds are ignored. *deleted
 * (may be NULL) is set when text was deleted or replaced. scratch is a
 * working buffer.
 */
int sync_search_db_apply(struct sync_search_db *db,
			 const struct log_record *rec, struct cf_buf *scratch,
			 bool *deleted);

/* Remove every row, position 0 (inside a transaction). */
int sync_search_db_wipe(struct sync_search_db *db);

/*
 * FTS5 'optimize' then a WAL checkpoint (TRUNCATE), outside transactions;
 * -EAGAIN if readers kept the checkpoint from finishing (call again).
 */
int sync_search_db_optimize(struct sync_search_db *db);

/* The caller's conversation, visible between two messageIds. */
struct sync_search_window {
	const char *conv; /* NUL-terminated */
	uint64_t joined;  /* messageId of the change that added the caller */
	uint64_t left;	  /* of the one that removed it, 0: still a member */
};

struct sync_search_hit {
	uint64_t mid;
	uint64_t seq;
	char conv[129];
};

/*
 * A query: the rows of match (an FTS5 expression) or, match NULL, user's
 * mentions; newest first (messageId descending), below `before` (0: from
 * the newest); only in windows (sorted by conv, strcmp) and, if conv is
 * set, only that conversation. At most limit hits; scans at most budget
 * rows.
 */
struct sync_search_query {
	const char *match;
	const char *user;
	const char *conv;
	uint64_t before;
	unsigned limit;
	unsigned budget;
	const struct sync_search_window *windows;
	size_t n_windows;
	/* results */
	struct sync_search_hit *hits; /* limit entries, caller's */
	size_t n_hits;
	bool more;	  /* more may match: continue below `next` */
	uint64_t next;
	unsigned scanned;
};

/* True if mid of conv is inside the caller's windows. */
bool sync_search_visible(const struct sync_search_window *w, size_t n,
			 const char *conv, uint64_t mid);

int sync_search_db_query(struct sync_search_db *db,
			 struct sync_search_query *q);

#endif
