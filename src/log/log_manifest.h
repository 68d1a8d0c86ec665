/*
 * log_manifest: the store's manifest, the record of its last checkpoint.
 *
 * The manifest names every segment of every partition with the length that
 * was fsync'd at the checkpoint and whether it is sealed, every cold file
 * with the hot segments it replaced and its identity, the compactions
 * decided but not switched yet (jobs), plus the partition
 * count P, the segment size and seal age the store was created with, and
 * the appliedIndex of the checkpoint. It is replaced atomically
 * (MANIFEST.tmp, fsync, rename to MANIFEST, fsync the folder), so a crash
 * leaves either the old or the new one. Layout at the top of log_manifest.c.
 *
 * Ownership: a struct log_manifest owns its arrays and the jobs' recall
 * lists;
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

/* A cold file (log_cold.h) that replaced hot segments. */
struct log_manifest_cold {
	uint32_t partition;
	uint32_t coldno;
	uint32_t first_segno; /* the hot segments it replaced: */
	uint32_t last_segno;  /* [first_segno, last_segno] */
	uint64_t size;	      /* file bytes */
	uint64_t ident;	      /* content identity (log_cold_info) */
	uint64_t index;	      /* Raft index of the compaction command */
};

/*
 * A compaction decided and not switched yet: the cold file coldno of
 * partition will replace hot segments [first_segno, last_segno], or, for
 * a rewrite (input_coldno != 0), the cold file input_coldno that holds
 * them. recalls (owned, recalls_len bytes) lists the messages whose
 * content it drops, nrecalls entries of: u8 conversation id length
 * (1..128), the id, u64 seq.
 */
struct log_manifest_job {
	uint32_t partition;
	uint32_t coldno;
	uint32_t first_segno;
	uint32_t last_segno;
	uint64_t index;
	uint32_t input_coldno;
	uint32_t nrecalls;
	uint32_t recalls_len;
	uint8_t *recalls;
};

struct log_manifest {
	uint32_t partitions;
	uint64_t applied_index;
	/* The store's shape (log_store_opts); 0 and 0: not recorded (v1). */
	uint64_t seal_bytes;
	uint64_t seal_age_ms;
	/* The state image named (log_image.h), 0 if none (version 4). */
	uint64_t image_index;
	struct log_manifest_seg *segs; /* by partition, then segno */
	size_t nsegs;
	size_t cap;
	struct log_manifest_cold *colds; /* by partition, then coldno */
	size_t ncolds;
	size_t coldcap;
	struct log_manifest_job *jobs; /* in the order decided */
	size_t njobs;
	size_t jobcap;
	/*
	 * Recalls of messages that compaction had already taken when they
	 * were committed: the next compaction rewrites their cold files.
	 * nerase entries of: u32 partition, u8 id length, the id, u64 seq.
	 */
	uint8_t *erase;
	uint32_t erase_len;
	uint32_t nerase;
};

void log_manifest_init(struct log_manifest *m);
void log_manifest_release(struct log_manifest *m);
/* Append a segment entry (kept in the order given). */
int log_manifest_add(struct log_manifest *m, uint32_t partition,
		     uint32_t segno, uint64_t length, bool sealed);
/* Append a cold file entry (kept in the order given). */
int log_manifest_add_cold(struct log_manifest *m,
			  const struct log_manifest_cold *c);
/* Append a job, copying its recall list. */
int log_manifest_add_job(struct log_manifest *m,
			 const struct log_manifest_job *j);
/* The cold entry of (partition, coldno), or NULL. */
const struct log_manifest_cold *
log_manifest_find_cold(const struct log_manifest *m, uint32_t partition,
		       uint32_t coldno);
/* Replace m's erase list with a copy of p[0..len) (n entries). */
int log_manifest_set_erase(struct log_manifest *m, const void *p,
			   uint32_t len, uint32_t n);
/* Check an encoded recall list of n entries; 0 or CF_ECORRUPT. */
int log_manifest_recalls_check(const uint8_t *p, size_t len, uint32_t n);
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
