/*
 * log_inspect: offline walks over a stopped node's segment store, for
 * confabctl inspect and verify.
 *
 * Unlike log_store_open(), nothing here changes the store: files are opened
 * read-only, nothing is cut, removed or rewritten, and every record of every
 * segment file is decoded (past the checkpointed length too), so that a
 * walk can report what a start would keep, cut or refuse.
 *
 * Ownership: the walk owns everything it opens; records passed to callbacks
 * borrow from the walk's buffer and live until the callback returns.
 * Errors: 0, -errno, -ENOMEM, CF_ECORRUPT / CF_EVERSION / CF_ENOTFOUND from
 * the manifest (errmsg says which), or a callback's non-zero return.
 * Threads: any; no shared state.
 */
#ifndef LOG_INSPECT_H
#define LOG_INSPECT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "log/log_manifest.h"
#include "log/log_record.h"

/* One segment file (or manifest entry) as found by a walk. */
struct log_walk_seg {
	unsigned partition;
	uint32_t segno;	       /* cold: the cold file number */
	bool cold;	       /* a cold file (log_walk_ops.cold) */
	bool on_disk;	       /* the file exists */
	bool in_manifest;      /* the manifest names it */
	bool sealed;	       /* per the manifest */
	uint64_t file_size;    /* bytes in the file */
	uint64_t checkpointed; /* manifest length, 0 if not in the manifest */
	/* Filled by the scan, final when the segment callback runs: */
	int status;	       /* 0, or the scan's error (CF_ECORRUPT...) */
	uint64_t valid_end;    /* end of the last valid record */
	uint64_t records;      /* valid records */
	uint64_t records_checkpointed; /* of which end within checkpointed */
};

struct log_walk_ops {
	/* The manifest, once loaded, before any segment (may be NULL). */
	int (*manifest)(void *arg, const struct log_manifest *m);
	/* Each valid record, in file order (may be NULL). */
	int (*record)(void *arg, const struct log_walk_seg *seg, uint64_t off,
		      const struct log_record *rec);
	/* Each segment, after its records (may be NULL). */
	int (*segment)(void *arg, const struct log_walk_seg *seg);
	/*
	 * Each cold file the manifest names, before the partition's hot
	 * segments, in segment order (may be NULL); pdirfd is the partition
	 * folder, -1 if it is missing.
	 */
	int (*cold)(void *arg, int pdirfd, const struct log_manifest_cold *mc);
	/* Whether to walk partition p at all (may be NULL: every one). */
	bool (*want)(void *arg, unsigned partition);
};

/*
 * Load dir's manifest into m (initialised by the caller; release it after),
 * then walk partitions 0..P-1 and in each, segments by number: the files
 * on disk and the manifest entries missing from disk (on_disk false).
 */
int log_walk(const char *dir, struct log_manifest *m,
	     const struct log_walk_ops *ops, void *arg, char *errmsg);

/*
 * confabctl inspect: print the manifest, partitions, segments (size,
 * checkpointed length, records) and conversations (seq ranges) to out.
 */
int log_inspect_print(const char *dir, FILE *out, char *errmsg);

/*
 * confabctl verify: check the manifest's checksum and every record's, and
 * that the files hold what the manifest says. Prints each problem (and
 * notes on what a start would cut) to out; *problems receives the count.
 * Returns 0 when the walk ran (whatever it found), or an error when the
 * store could not be read at all (errmsg says why; a bad manifest is
 * reported this way, with *problems 1).
 */
int log_inspect_verify(const char *dir, FILE *out, unsigned *problems,
		       char *errmsg);

#endif
