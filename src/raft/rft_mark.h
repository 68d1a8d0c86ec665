/*
 * rft_mark: verify markers (confabctl verify --cluster). A marker is a
 * committed command (RFT_CMD_MARK) with an id; when a node applies it, the
 * sizes of its segment files at that index are the state every node must
 * have there (records, sealing and segment boundaries are decided in apply),
 * so each node hashes those prefixes on its worker thread, one file per
 * job, and keeps the result: per file (partition, segment, size, XXH3) and a
 * digest over that list. Equal digests across nodes mean byte-identical
 * stores at the marker's index; the file lists name the first difference.
 *
 * Cold files (those of compactions decided by then, switched or not: the
 * worker runs the compaction before the marker's jobs, as it takes jobs in
 * order) are checked in full (log_cold_verify) and stand for their content
 * identity, which does not depend on the LZ4 build.
 *
 * Digest: XXH3_64bits over, for every file in log_store_files() order, the
 * 24 little-endian bytes u32 partition, u32 segno, u64 size, u64 xxh3 of
 * bytes [0, size) for a hot segment, and u32 partition, u32 cold number |
 * 2^31, u32 first and u32 last segment it replaced, u64 identity for a
 * cold file.
 *
 * The node keeps the last RFT_MARKS_KEEP markers in memory (a restart forgets
 * them: ask again). Ownership: rft_marks owns its markers; returned pointers
 * live until the next rft_marks_on_apply() or rft_marks_release().
 * Errors: a marker's status is 0 or the -errno / CF_ECANCELED that stopped
 * its hashing. Threads: loop thread; the hashing on the worker thread.
 */
#ifndef RFT_MARK_H
#define RFT_MARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/log_store.h"
#include "raft/rft_worker.h"

#define RFT_MARKS_KEEP 8

enum rft_mark_state {
	RFT_MARK_HASHING = 1,
	RFT_MARK_DONE = 2,
	RFT_MARK_FAILED = 3,
};

struct rft_mark_file {
	unsigned partition;
	uint32_t segno;	 /* cold: the cold file number */
	uint64_t size;	 /* cold: the file's size (not in the digest) */
	uint64_t xxh3;	 /* hot: of bytes [0, size); cold: its identity */
	bool cold;
	uint32_t first_segno, last_segno; /* cold: segments it replaced */
};

struct rft_mark {
	uint64_t id;
	uint64_t index; /* the Raft index it was applied at */
	int state;	/* enum rft_mark_state */
	int status;	/* RFT_MARK_FAILED: why */
	uint64_t digest;
	struct rft_mark_file *files;
	size_t nfiles;
	/* private */
	size_t next;	  /* next file to hash */
	bool dropped;	  /* evicted while a job runs: freed by the job */
	int dirfd;	  /* the store folder, for the worker */
	struct rft_worker *worker;
	struct rft_worker_job job;
};

struct rft_marks {
	struct rft_worker *worker;
	int dirfd; /* the store folder (owned) */
	struct rft_mark *slot[RFT_MARKS_KEEP];
	unsigned next;
};

/* 0 or -errno (opening store_dir). */
int rft_marks_init(struct rft_marks *m, struct rft_worker *w,
		   const char *store_dir);
/* Free every marker and close the folder: after the worker has closed. */
void rft_marks_release(struct rft_marks *m);
/* Apply of marker id at index: record store's files, start hashing. */
void rft_marks_on_apply(struct rft_marks *m, struct log_store *store,
			uint64_t index, uint64_t id);
/* The marker id, or NULL if this node has not applied it (or forgot). */
const struct rft_mark *rft_marks_find(const struct rft_marks *m, uint64_t id);

#endif
