/*
 * log_manifest: the store's manifest, the record of its last checkpoint.
 *
 * The manifest names every segment of every partition with the length that
 * was fsync'd at the checkpoint and whether it is sealed, plus the partition
 * count P, the segment size and seal age the store was created with, and
 * the appliedIndex of the checkpoint. It is replaced atomically
 * (MANIFEST.tmp, fsync, rename to MANIFEST, fsync the folder), so a crash
 * leaves either the old or the new one. Layout at the top of log_manifest.c.
 *
 * Ownership: a struct log_manifest owns its segment array;
 * log_manifest_release() frees it. Errors: 0, -errno, -ENOMEM, CF_ECORRUPT
 * (bad checksum or layout), CF_EVERSION (unknown version), CF_ENOTFOUND (no
 * MANIFEST); errmsg says which. Threads: any; no shared state.
 */
#ifndef LOG_MANIFEST_H
#define LOG_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"

#define LOG_MANIFEST_NAME "MANIFEST"
#define LOG_MANIFEST_TMP "MANIFEST.tmp"

struct log_manifest_seg {
	uint32_t partition;
	uint32_t segno;
	uint64_t length; /* bytes checkpointed (fsync'd), header included */
	bool sealed;
};

struct log_manifest {
	uint32_t partitions;
	uint64_t applied_index;
	/* The store's shape (log_store_opts); 0 and 0: not recorded (v1). */
	uint64_t seal_bytes;
	uint64_t seal_age_ms;
	struct log_manifest_seg *segs; /* by partition, then segno */
	size_t nsegs;
	size_t cap;
};

void log_manifest_init(struct log_manifest *m);
void log_manifest_release(struct log_manifest *m);
/* Append a segment entry (kept in the order given). */
int log_manifest_add(struct log_manifest *m, uint32_t partition,
		     uint32_t segno, uint64_t length, bool sealed);
/* The entry of (partition, segno), or NULL. */
const struct log_manifest_seg *log_manifest_find(const struct log_manifest *m,
						 uint32_t partition,
						 uint32_t segno);

/* Encode m into out (appended). */
int log_manifest_encode(const struct log_manifest *m, struct cf_buf *out);
/* Decode p[0..n) into m (initialised by the caller, replaced). */
int log_manifest_decode(const void *p, size_t n, struct log_manifest *m,
			char *errmsg);

/* Read dir/MANIFEST into m; CF_ENOTFOUND if there is none. */
int log_manifest_load(int dirfd, struct log_manifest *m, char *errmsg);
/* Atomically replace dir/MANIFEST with m (tmp, fsync, rename, fsync). */
int log_manifest_save(int dirfd, const struct log_manifest *m, char *errmsg);

#endif
