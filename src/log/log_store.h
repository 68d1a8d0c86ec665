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
 * Durability comes from the Raft log: log_store_checkpoint() fsyncs the
 * segments and atomically replaces the manifest (write, fsync, rename, fsync
 * folder), recording appliedIndex. On open, everything past the manifest's
 * lengths (an uncheckpointed or torn tail) is cut, and Raft replays it.
 *
 * Ownership: the store owns its files and memory. Records returned by reads
 * borrow from the caller's scratch buffer. Errors: 0, -errno, CF_ECORRUPT,
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
#include "log/log_record.h"

struct log_store;

struct log_store_opts {
	const char *dir;	 /* created if missing */
	unsigned partitions;	 /* P; must match an existing store */
	uint64_t seal_bytes;	 /* hot segment size limit, default 64 MiB */
	uint64_t seal_age_ms;	 /* by entry clock; 0 = never by age */
};
/*
 * partitions, seal_bytes and seal_age_ms are the store's shape: recorded in
 * the manifest at creation, and an open with other values fails with
 * CF_EBADREQ (every node must seal at the same record). A store whose
 * manifest predates the record adopts the values given.
 */

/* Called for every record found on open, partition by partition, in order. */
typedef int (*log_scan_cb)(void *arg, const struct log_record *rec);

/*
 * Open (or create) the store, cut the tail past the manifest, rebuild the
 * seq index and call scan for each surviving record so that the caller can
 * rebuild its own state. A non-zero return of scan stops and is returned.
 */
int log_store_open(struct log_store **out, const struct log_store_opts *o,
		   log_scan_cb scan, void *arg, char *errmsg);
/* Write nothing more; close files, free memory (no checkpoint). */
void log_store_close(struct log_store *s);

/* appliedIndex of the last checkpoint (0 for a new store). */
uint64_t log_store_applied_index(const struct log_store *s);

/* Stage rec (copied) in its conversation's partition; indexes messages. */
int log_store_append(struct log_store *s, const struct log_record *rec);
/* Write every staged record to its segment (one write per partition). */
int log_store_commit(struct log_store *s);
/* Forget every staged record, as if never appended. */
void log_store_abort(struct log_store *s);
/* fsync what was written, then replace the manifest with appliedIndex. */
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

/* One segment file as it is now (log_store_files). */
struct log_store_file {
	unsigned partition;
	uint32_t segno;
	uint64_t size; /* bytes written (committed), header included */
	bool sealed;
};
/*
 * Every segment file with its size now, by partition then segment number,
 * in *out (malloc'd, the caller frees it). Files only grow until sealed, so
 * their prefixes of these sizes stay readable as they are (verify markers).
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
};
void log_store_stats(const struct log_store *s, struct log_store_stats *st);

#endif
