/*
 * log_store: the segment store of one node (DESIGN.md "Segment store").
 *
 * A store is a folder with a manifest and P partition folders; conversation c
 * lives in partition XXH3_64bits(c) % P. Each partition is a sequence of
 * segment files; records are appended to the partition's hot segment in
 * commit order. The store also keeps the per-conversation seq index (seq ->
 * segment and offset, a few bytes per message, O(log n) or better lookups).
 *
 * Write protocol, driven by the FSM once per Raft entry:
 *   log_store_append() ... log_store_append()   stage records in memory
 *   log_store_commit()                          write them (no fsync)
 *   or log_store_abort()                        drop what was staged
 * Durability comes from the Raft log: a checkpoint fsyncs the segments and
 * atomically replaces the manifest (write, fsync, rename, fsync folder),
 * recording appliedIndex; log_ckpt.h splits it so that the disk work runs
 * off the loop (log_store_checkpoint() does it all in one call). On open,
 * everything past the manifest's
 * lengths (an uncheckpointed or torn tail) is cut, and Raft replays it.
 *
 * Ownership: the store owns its files and memory. Records returned by reads
 * borrow from the caller's scratch buffer.
 * Descriptors: only each partition's live hot segment (and a sealed one until
 * the checkpoint that fsyncs it) keeps a descriptor; sealed segments and cold
 * files are opened on demand through one bounded cache (log_files.h,
 * open_files), shared with compaction runs on the worker thread, which hold
 * a cached descriptor while they read it and so never see it closed. The
 * store holds at most log_store_fd_budget() descriptors however many
 * segments it has (log_store_fds.c). Errors: 0, -errno, CF_ECORRUPT,
 * CF_ENOTFOUND, CF_EVERSION, with errmsg filled where one is taken.
 * Threads: loop thread only.
 */
#ifndef LOG_STORE_H
#define LOG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"
#include "common/cf_err.h"
#include "common/cf_img.h"
#include "log/log_record.h"

struct log_store;

struct log_store_opts {
	const char *dir;	 /* created if missing */
	unsigned partitions;	 /* P; must match an existing store */
	uint64_t seal_bytes;	 /* hot segment size limit, default 64 MiB */
	uint64_t seal_age_ms;	 /* by entry clock; 0 = never by age */
	uint64_t compact_input_max; /* 0: LOG_COMPACT_INPUT_MAX (tests only) */
	unsigned open_files;	 /* file cache size, 0: LOG_FILES_DEFAULT (64) */
	/*
	 * May be NULL: where the record an open's scan callback gets lives
	 * (log_store_read_at), written before each call.
	 */
	struct log_loc *scan_loc;
};
/*
 * partitions, seal_bytes and seal_age_ms are the store's shape: recorded in
 * the manifest at creation, and an open with other values fails with
 * CF_EBADREQ (every node must seal at the same record). A store whose
 * manifest predates the record adopts the values given.
 */

/*
 * Where a record lives, for a record that has no seq of its own (an edit):
 * the hot segment it was appended to and its offset there. It stays valid
 * when compaction moves the record: a segno that a cold file replaced
 * leads to that cold file (off is then 0, or ignored), which finds the
 * record by conversation and messageId (log_store_read_at).
 */
struct log_loc {
	uint32_t segno;
	uint32_t off;
};

/* Called for every record found on open, partition by partition, in order. */
typedef int (*log_scan_cb)(void *arg, const struct log_record *rec);

/*
 * Open (or create) the store, cut the tail past the manifest, rebuild the
 * seq index and call scan for each surviving record so that the caller can
 * rebuild its own state. A non-zero return of scan stops and is returned.
 */
int log_store_open(struct log_store **out, const struct log_store_opts *o,
		   log_scan_cb scan, void *arg, char *errmsg);
/*
 * The same, loading the state image the manifest names (log_image.h) if
 * ops is not NULL: scan then gets only the records after the image, and
 * ops->read reads the image's sections that follow the store's (into the
 * state scan would have built from the records it covers). An image that
 * is missing, damaged or does not fit the store is logged and ignored
 * (ops->reset is called if ops->read ran): the open then scans every
 * record, as log_store_open() does.
 */
struct log_image_ops {
	int (*read)(void *arg, struct cf_imgr *r);
	void (*reset)(void *arg);
};
int log_store_open_img(struct log_store **out, const struct log_store_opts *o,
		       log_scan_cb scan, void *arg,
		       const struct log_image_ops *ops, char *errmsg);
/* Write nothing more; close files, free memory (no checkpoint). */
void log_store_close(struct log_store *s);

/* appliedIndex of the last checkpoint (0 for a new store). */
uint64_t log_store_applied_index(const struct log_store *s);

/* Stage rec (copied) in its conversation's partition; indexes messages. */
int log_store_append(struct log_store *s, const struct log_record *rec);
/* Write every staged record to its segment (one write per partition). */
int log_store_commit(struct log_store *s);
/*
 * The file a failed log_store_commit() was writing, relative to the
 * store's folder ("p0003/00000012.seg"; the partition's last staged
 * segment), into buf, for the log line that names it.
 */
void log_store_failed_file(const struct log_store *s, char *buf, size_t len);
/* Forget every staged record, as if never appended. */
void log_store_abort(struct log_store *s);
/*
 * fsync what was written, then replace the manifest with appliedIndex, all
 * on the calling thread (log_ckpt.h: the same in steps, the disk work off
 * the loop). -EBUSY while a log_ckpt is in flight.
 */
int log_store_checkpoint(struct log_store *s, uint64_t applied_index,
			 char *errmsg);

/* Highest seq of conv's messages, 0 if none. */
uint64_t log_store_last_seq(const struct log_store *s, struct cf_str conv);
/*
 * Read conv's message seq into rec (strings borrow from scratch). A record
 * staged by log_store_append() and not yet committed is readable too.
 */
int log_store_read_seq(struct log_store *s, struct cf_str conv, uint64_t seq,
		       struct log_record *rec, struct cf_buf *scratch);

/* Where the last record given to log_store_append() went. */
void log_store_last_loc(const struct log_store *s, struct log_loc *loc);
/*
 * Read conv's record message_id at loc (from log_store_last_loc or the
 * open's scan_loc) into rec (strings borrow from scratch); staged records
 * too. In a hot segment one read; in a cold file a walk over conv's
 * non-message records of that file. CF_ENOTFOUND if it is not there.
 */
int log_store_read_at(struct log_store *s, struct cf_str conv,
		      const struct log_loc *loc, uint64_t message_id,
		      struct log_record *rec, struct cf_buf *scratch);

/* One file of the store as it is now (log_store_files). */
struct log_store_file {
	unsigned partition;
	uint32_t segno; /* hot: segment number; cold: cold file number */
	uint64_t size;	/* hot: bytes written (committed), header included;
			   cold: file bytes, 0 while its job is not switched */
	bool sealed;	/* hot only */
	bool cold;
	bool pending;	/* cold: decided by a job not switched yet */
	uint32_t first_segno; /* cold: the hot segments it replaces */
	uint32_t last_segno;
	uint64_t ident; /* cold, switched: content identity */
};
/*
 * The store's files as every node has them at the current applied index,
 * in *out (malloc'd, the caller frees it): per partition, its cold files
 * by number, those of decided jobs included (whether or not this node has
 * switched them yet), then its hot segments not taken by a job, by number.
 * Hot files only grow until sealed, so their prefixes of these sizes stay
 * readable as they are (verify markers); cold files never change.
 */
int log_store_files(const struct log_store *s, struct log_store_file **out,
		    size_t *n);

/* Statistics for /metrics and confabctl. */
struct log_store_stats {
	uint64_t segments;
	uint64_t bytes;
	uint64_t records;
	uint64_t conversations; /* with at least one message */
	uint64_t index_bytes; /* memory held by the seq index */
	uint64_t open_files;  /* descriptors the store holds now */
	uint64_t cached_files; /* of which in the file cache */
};
void log_store_stats(const struct log_store *s, struct log_store_stats *st);
/*
 * The most descriptors a store of partitions with a file cache of
 * open_files (0: the default) holds at a time, compaction included, with
 * a checkpoint at least as often as a partition seals a segment.
 */
unsigned log_store_fd_budget(unsigned partitions, unsigned open_files);

/*
 * ---- The cold tier (log_store_cold.c) ----
 *
 * Compaction turns sealed hot segments of a partition into one cold file
 * (log_cold.h) and drops the content of recalled messages. It is decided
 * in the replicated log so that every node writes the same content:
 *
 *   log_store_compact_plan()    loop, at a Raft index, after commit: picks
 *                               the partition's oldest sealed hot segments
 *                               not taken by another job and records a job
 *                               (in the manifest from the next checkpoint)
 *   log_compact_run()           any thread: writes the cold file (reads the
 *                               input files through the store's file cache,
 *                               holding one at a time)
 *   log_store_compact_switch()  loop: reads go to the cold file, the hot
 *                               segments leave the store; the next
 *                               checkpoint's manifest names the cold file
 *                               and not them, then they are unlinked
 *
 * A crash at any point leaves a store that reopens into the old state with
 * the job pending (log_store_jobs(): run and switch them again), or the new
 * one; stray cold files and temporaries are removed on open.
 */
struct log_compact;

/*
 * A recalled message: its content is dropped by compaction. Or (issue 13)
 * an edited one, latest_segno != 0: the segment its latest edit was
 * appended to; a job whose input ends before that segment drops the
 * content of every version of the message it takes (the message, its
 * edits: flag LOG_REC_MSG_EDITED). In a job's list such an entry is
 * (conv, seq | LOG_RECALL_EDITED).
 */
struct log_recall {
	struct cf_str conv;
	uint64_t seq;
	uint32_t latest_segno;
};
#define LOG_RECALL_EDITED (1ull << 63)

/* What a compaction job is, and once run, what it did. */
struct log_compact_result {
	unsigned partition;
	uint32_t coldno;
	uint32_t first_segno;	/* hot segments [first_segno, last_segno] */
	uint32_t last_segno;
	uint64_t index;		/* Raft index that decided it */
	uint32_t input_coldno;	/* a rewrite of this cold file, or 0 */
	uint64_t segments;	/* hot segments in (0 for a rewrite) */
	uint64_t bytes_in;	/* their bytes */
	/* After a successful run: */
	uint64_t bytes_out;	/* cold file bytes */
	uint64_t records;
	uint64_t messages;
	uint64_t erased;	/* recalled messages written without content,
				   and earlier versions of edited ones */
	uint64_t ident;		/* content identity of the cold file */
	uint64_t max_index;	/* highest Raft index of a record in it */
};

/*
 * A job's input bound: the cold writer sorts a job's records in memory, so
 * a job takes sealed segments only while their bytes stay within this (one
 * segment at least, however large). Part of the apply rule: every node
 * decides the same jobs, so it never changes without a new command type.
 */
#define LOG_COMPACT_INPUT_MAX (256ull << 20)

/*
 * Decide a job for partition at Raft index: at most max_segs (>= 1) of the
 * partition's sealed hot segments, oldest first, not taken by a pending
 * job, and no more than LOG_COMPACT_INPUT_MAX bytes of them (beyond the
 * first; compact_input_max of the options if set). recalls (any partition; only messages in the input count) is the
 * recall state at index. The store owns the job; *out stays valid until
 * the job is switched or the store closed. CF_ENOTFOUND: nothing sealed to
 * compact (no job). CF_EBADREQ: bad partition. Nothing may be staged.
 */
int log_store_compact_plan(struct log_store *s, unsigned partition,
			   uint64_t index, unsigned max_segs,
			   const struct log_recall *recalls, size_t nrecalls,
			   struct log_compact **out);
/*
 * A recall was committed (after the entry's records): if compaction has
 * already taken conv's message seq (a cold file, or a decided job, holds
 * it), remember it so that the next compaction of its partition rewrites
 * that cold file without the content. Nothing may be staged.
 */
int log_store_note_recall(struct log_store *s, struct cf_str conv,
			  uint64_t seq, uint64_t ts);
/*
 * An edit of conv's message seq was committed (after the entry's
 * records): if compaction has already taken the message (a cold file, or a
 * decided job, holds it), remember it so that the next compaction of its
 * partition rewrites that cold file without the content of any version of
 * the message it holds. Not covered: an earlier edit in another cold file
 * than the message's. Nothing may be staged.
 */
int log_store_note_edit(struct log_store *s, struct cf_str conv,
			uint64_t seq);
/* Recalls waiting for a rewrite in partition (see above). */
unsigned log_store_erase_pending(const struct log_store *s,
				 unsigned partition);
/*
 * Recalls (entry time ts) of messages still in partition's hot segments
 * since its last compaction that took them all, and the entry time of the
 * first (*since): a compaction that seals first erases them. Counted by
 * log_store_note_recall() and, on open, from the hot segments' records.
 */
unsigned log_store_hot_recalls(const struct log_store *s, unsigned partition,
			       uint64_t *since);
/*
 * Decide a rewrite at Raft index: the cold file (switched or decided)
 * holding the first waiting recall of partition is written again, as a
 * new cold file, without the content of every waiting recall it holds;
 * those leave the waiting list. Call until CF_ENOTFOUND (nothing waits).
 * Ownership and *out as for log_store_compact_plan().
 */
int log_store_rewrite_plan(struct log_store *s, unsigned partition,
			   uint64_t index, struct log_compact **out);
/* Jobs decided and not switched, in order (after open: to run again). */
size_t log_store_jobs(const struct log_store *s, struct log_compact ***out);
/*
 * Write the job's cold file (NAME.tmp, fsync, rename, fsync folder). Any
 * thread; touches only the job; at most one run of a job at a time and
 * none across log_store_close(). On failure the job stays pending and may
 * be run again. CF_ECORRUPT if an input segment is damaged.
 */
int log_compact_run(struct log_compact *c, char *errmsg);
/*
 * After a successful run, on the loop, nothing staged: switch the job's
 * hot segments (or, for a rewrite, its input cold file) to its cold file
 * (see above) and free the job. CF_EBADREQ if the job was not run
 * successfully; -EAGAIN if a rewrite's input has not switched yet (try
 * again after it).
 */
int log_store_compact_switch(struct log_store *s, struct log_compact *c,
			     char *errmsg);
const struct log_compact_result *log_compact_get(const struct log_compact *c);

/* Number of partitions P. */
unsigned log_store_partitions(const struct log_store *s);
/* The partition of conversation conv. */
unsigned log_store_part_of(const struct log_store *s, struct cf_str conv);
/* The same rule without a store: conv's partition among nparts (>= 1). */
unsigned log_partition_of(struct cf_str conv, unsigned nparts);
/*
 * Seal partition's hot segment now if it holds a record (the next record
 * opens a new one), so that a compaction can take it. Nothing may be
 * staged; recorded by the next checkpoint.
 */
void log_store_seal(struct log_store *s, unsigned partition);
/* Sealed hot segments of partition that no job has taken yet. */
unsigned log_store_sealed_free(const struct log_store *s, unsigned partition);

/* The cold tier, for /metrics and confabctl. */
struct log_store_cold_stats {
	uint64_t files;
	uint64_t bytes;
	uint64_t records;
	uint64_t erased;	 /* recalled messages held without content */
	uint64_t jobs;		 /* decided, not switched */
	uint64_t compactions;	 /* switched since open */
	uint64_t bytes_read;	 /* by compactions since open (hot input) */
	uint64_t bytes_written;	 /* by compactions since open */
	uint64_t records_erased; /* by compactions since open */
	uint64_t block_reads;	 /* cold blocks read by reads since open */
	uint64_t open_readers;	 /* cold files open now (bounded) */
};
void log_store_cold_stats(const struct log_store *s,
			  struct log_store_cold_stats *st);
/* Compactions switched since open (cold stats' field, without the walk). */
uint64_t log_store_compactions(const struct log_store *s);

#endif
