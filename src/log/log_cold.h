/*
 * log_cold: cold segment files, the compacted form of sealed hot segments.
 *
 * A cold segment holds the records of one partition regrouped by
 * conversation (bytewise order) and, inside a conversation, messages by seq
 * followed by the conversation's other records (creation, membership,
 * recalls, receipts, media references) in Raft order. Records keep the
 * log_record.c encoding (same decoder, same checksum) and are packed into
 * LZ4 blocks of about LOG_COLD_BLOCK uncompressed bytes; a footer index maps
 * each conversation's seq ranges to a block and offset, so a read by seq
 * decompresses one block. The content of recalled messages is dropped when
 * the file is written: the message stays (seq, ids, sender, type) with an
 * empty body and flag LOG_REC_MSG_RECALLED. The byte layout is specified at
 * the top of log_cold_write.c; reading and verification live in
 * log_cold_read.c.
 *
 * Writing: log_cold_writer_open(), log_cold_writer_add() for every record in
 * any order, then log_cold_writer_finish(), which sorts, writes NAME.tmp,
 * fsyncs it, renames it to NAME and fsyncs the folder (a crash never leaves
 * a partial file under NAME). Output depends only on the set of records
 * added (and the liblz4 build): every node produces the same bytes. The
 * writer copies what it is given and buffers it all until finish: memory is
 * about the total encoded size of the input (one 64 MiB hot segment, or a
 * few, per cold file).
 *
 * Reading: log_cold_open() checks the header, trailer and index checksums
 * and the index's consistency (not the blocks: log_cold_verify() does, plus
 * every record and the whole-file checksum). A reader caches the last
 * decompressed block.
 *
 * Ownership: a writer or reader owns its fd and memory; finish/abort/close
 * free them (a reader of log_cold_open_fd() borrows its fd). Records
 * returned by log_cold_read_seq() borrow from the caller's scratch buffer;
 * records passed to scan callbacks borrow from the scan's buffer and live
 * until the callback returns (do not use the same reader from inside a
 * callback). Conversation ids returned by the listing
 * functions borrow from the reader and live until log_cold_close().
 * Errors: 0, -errno, -ENOMEM, CF_ECORRUPT (any damage, truncation included),
 * CF_EVERSION (valid header of an unknown version), CF_ENOTFOUND (no such
 * conversation or seq), CF_EBADREQ (an invalid record or two messages with
 * the same conversation and seq given to a writer), CF_ETOOBIG.
 * Threads: one thread per writer or reader; no shared state.
 */
#ifndef LOG_COLD_H
#define LOG_COLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"
#include "log/log_record.h"

/* Target uncompressed size of a block (a bigger record gets its own). */
#define LOG_COLD_BLOCK (64u * 1024)
/* Size of a name buffer for log_cold_name(). */
#define LOG_COLD_NAME 24

/* "%08u.cold" of coldno into name[LOG_COLD_NAME]. */
void log_cold_name(char *name, uint32_t coldno);
/* Parse a cold segment file name; 0 and *coldno, or CF_EBADREQ. */
int log_cold_parse_name(const char *name, uint32_t *coldno);

/* What a finished writer produced, or an open reader found. */
struct log_cold_info {
	unsigned partition;
	uint32_t coldno;
	uint64_t file_size;
	uint64_t file_xxh3;	/* whole-file checksum (the trailer's) */
	uint64_t content_xxh3;	/* identity: XXH3 of the decoded records */
	uint64_t records;	/* all records */
	uint64_t messages;	/* LOG_REC_MESSAGE records */
	uint64_t recalled;	/* of which recalled (body dropped) */
	/*
	 * Writer only: earlier versions of edited messages (messages and
	 * LOG_REC_EDIT records) and edits of recalled messages written
	 * without content (LOG_REC_MSG_EDITED, _RECALLED); not in the file.
	 */
	uint64_t versions_erased;
	uint64_t blocks;
	uint64_t conversations;
	uint64_t min_index;	/* lowest raft_index, 0 if no record */
	uint64_t max_index;	/* highest raft_index, 0 if no record */
};

/* ---- writer ---- */

struct log_cold_writer;

/*
 * Edits (issue 13): a message with a LOG_REC_EDIT of the same conversation
 * and seq among the records is written without content (flag
 * LOG_REC_MSG_EDITED: its latest edit holds the text), and so is every
 * such edit but the one with the highest messageId; the edits of a
 * recalled message are written without content too (flag
 * LOG_REC_MSG_RECALLED). If the recalled callback answers true for (conv,
 * seq | LOG_RECALL_EDITED) (log_store.h), a later version exists outside
 * the records: every version of seq among them is written without content.
 */
/* True if conv's message seq was recalled: its body is dropped. */
typedef bool (*log_cold_recalled_fn)(void *arg, struct cf_str conv,
				     uint64_t seq);

/*
 * Start a cold file NAME (and its NAME.tmp, replaced if left by a crash) in
 * the folder dirfd (AT_FDCWD for a path) for partition and coldno.
 */
int log_cold_writer_open(struct log_cold_writer **out, int dirfd,
			 const char *name, unsigned partition,
			 uint32_t coldno);
/*
 * Messages for which fn answers true are written recalled. A message whose
 * LOG_REC_RECALL record is among the added records is recalled anyway. fn
 * runs inside log_cold_writer_finish() (on the finishing thread). For every
 * node to write the same bytes, fn must answer from recall state as of one
 * Raft index that all nodes agree on (for instance the highest index of
 * the compacted input), never from whatever a node has applied by now.
 */
void log_cold_writer_set_recalled(struct log_cold_writer *w,
				  log_cold_recalled_fn fn, void *arg);
/* Copy rec into the writer (any order). CF_EBADREQ if rec is invalid. */
int log_cold_writer_add(struct log_cold_writer *w,
			const struct log_record *rec);
/*
 * Add every record of the sealed hot segment segno of the writer's
 * partition, in its partition folder part_dirfd, up to limit bytes (the
 * manifest's checkpointed length; UINT64_MAX for the whole file). The
 * segment's header must name the same partition and number. CF_ECORRUPT if
 * a record before limit is invalid (nothing is skipped silently; records
 * added before the damage stay added: abort the writer).
 */
int log_cold_writer_add_segment(struct log_cold_writer *w, int part_dirfd,
				uint32_t segno, uint64_t limit);
/* The same from fd, a descriptor of the segment the caller keeps open. */
int log_cold_writer_add_segment_fd(struct log_cold_writer *w, int fd,
				   uint32_t segno, uint64_t limit);
/*
 * Sort, write, fsync, rename, fsync the folder; then free w, also on
 * failure. A failure before the rename removes NAME.tmp and leaves NAME
 * untouched; only a failed fsync of the folder returns an error with NAME
 * in place (complete, but its name may not survive a crash). info (may be
 * NULL) receives what was written. CF_EBADREQ if two messages share a
 * conversation and seq.
 */
int log_cold_writer_finish(struct log_cold_writer *w,
			   struct log_cold_info *info);
/* Give up: remove NAME.tmp and free w. */
void log_cold_writer_abort(struct log_cold_writer *w);

/* ---- reader ---- */

struct log_cold;

/* One conversation of a cold file. */
struct log_cold_conv {
	struct cf_str conv;   /* borrowed from the reader */
	uint64_t first_seq;   /* 0 if no message */
	uint64_t last_seq;    /* 0 if no message */
	uint64_t messages;
	uint64_t others;      /* non-message records */
};

/* Work done by a reader, for tests and metrics. */
struct log_cold_stats {
	uint64_t block_reads;	 /* blocks read and decompressed */
	uint64_t block_hits;	 /* reads served by the cached block */
	uint64_t bytes_read;	 /* file bytes read by block reads */
};

/* Open and check NAME in dirfd (see above). */
int log_cold_open(struct log_cold **out, int dirfd, const char *name);
/*
 * The same on a descriptor the caller keeps (log_files.h): the reader
 * borrows fd, which must stay open until log_cold_close(). Its reads are
 * preads, so other readers may share the descriptor.
 */
int log_cold_open_fd(struct log_cold **out, int fd);
void log_cold_close(struct log_cold *r);
const struct log_cold_info *log_cold_get_info(const struct log_cold *r);
const struct log_cold_stats *log_cold_get_stats(const struct log_cold *r);

/* Conversations, in file (bytewise) order: i < info.conversations. */
void log_cold_conv_at(const struct log_cold *r, size_t i,
		      struct log_cold_conv *c);
/* The entry of conv, or CF_ENOTFOUND. */
int log_cold_conv_find(const struct log_cold *r, struct cf_str conv,
		       struct log_cold_conv *c);

/* Read conv's message seq into rec (strings borrow from scratch). */
int log_cold_read_seq(struct log_cold *r, struct cf_str conv, uint64_t seq,
		      struct log_record *rec, struct cf_buf *scratch);

/* Called for each record of a scan; non-zero stops the scan. */
typedef int (*log_cold_scan_cb)(void *arg, const struct log_record *rec);
/* Every record in file order. */
int log_cold_scan(struct log_cold *r, log_cold_scan_cb cb, void *arg);
/*
 * conv's records in file order: messages with seq >= from_seq by seq, then
 * (if others) its non-message records in Raft order. Reads only the blocks
 * that hold them. CF_ENOTFOUND if conv is not in the file.
 */
int log_cold_scan_conv(struct log_cold *r, struct cf_str conv,
		       uint64_t from_seq, bool others, log_cold_scan_cb cb,
		       void *arg);

/*
 * Full check for confabctl verify: the whole-file checksum, every block
 * (header, checksum, decompression), every record (log_record.c's rule)
 * and that the records are where and in the order the index says.
 * CF_ECORRUPT with errmsg (CF_ERRMSG_SIZE) saying where.
 */
int log_cold_verify(struct log_cold *r, char *errmsg);

#endif
