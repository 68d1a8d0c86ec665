/*
 * log_store_int: the store's structures, shared by log_store.c (hot
 * segments: open, append, commit, reads), log_ckpt.c (the checkpoint) and
 * log_store_cold.c (the cold tier: cold files, compaction jobs and their
 * switch). Not for
 * other modules. Threads: loop thread only, except struct log_compact's
 * run fields (see log_store_cold.c).
 */
#ifndef LOG_STORE_INT_H
#define LOG_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"
#include "log/log_cold.h"
#include "log/log_files.h"
#include "log/log_index.h"
#include "log/log_manifest.h"
#include "log/log_segment.h"
#include "log/log_store.h"

struct log_stage {
	size_t seg;	  /* index in the partition's segs */
	uint64_t base;	  /* the segment's end when the stage began */
	struct cf_buf buf; /* encoded records, kept across entries */
};

/*
 * A cold file of a partition. It holds no descriptor: reads get it from
 * s->files, whose handle carries the file's reader (attachment).
 */
struct log_coldf {
	struct log_manifest_cold m;
	uint64_t records;   /* in the file */
	uint64_t erased;    /* recalled messages held without content */
};

struct log_part {
	unsigned id;
	int dirfd;
	struct log_segment *segs; /* hot segments by segno */
	size_t nsegs;
	size_t cap;
	size_t ncommitted; /* segs[ncommitted..nsegs) are reserved only */
	struct log_stage *stages;
	size_t nstages;
	size_t stagecap;
	bool touched;	  /* something staged since the last commit/abort */
	bool last_sealed; /* sealed flag of the hot segment before staging */
	bool dir_dirty;	  /* files created or removed, folder not synced */
	struct log_coldf *colds; /* by first_segno */
	size_t ncolds;
	size_t coldcap;
	uint32_t cold_segno; /* highest hot segno ever compacted, 0 if none */
	uint32_t next_coldno; /* number of the next cold file */
	/*
	 * Files switched out, unlinked after the next checkpoint: hot segment
	 * numbers, and cold numbers | LOG_DOOMED_COLD (rewritten cold files).
	 */
	uint32_t *doomed;
	size_t ndoomed;
	size_t doomcap;
	/*
	 * Recalls of messages compaction had taken when they were committed
	 * (log_store_note_recall): entries u8 id length, id, u64 seq. The
	 * next compaction of the partition rewrites their cold files.
	 */
	struct cf_buf erase;
	uint32_t nerase;
	/*
	 * Recalls of messages still in hot segments (compaction drops them
	 * when it takes those): how many, and the entry time of the first.
	 */
	uint32_t hot_recalls;
	uint64_t hot_recall_ts;
};

#define LOG_DOOMED_COLD (1u << 31)

#define STORE_SEAL_DEFAULT (64ull << 20)
/* Offsets in the index are u32: keep segments well under 4 GiB. */
#define STORE_SEAL_MAX (1ull << 30)
#define STORE_PARTS_MAX 9999u

/* Room for one more segment and one more stage (log_store.c). */
int log__part_reserve(struct log_part *part);

struct log_store {
	int dirfd;
	unsigned nparts;
	uint64_t seal_bytes;
	uint64_t seal_age_ms;
	uint64_t compact_input_max; /* a job's input bytes (plan) */
	uint64_t applied_index;
	struct log_part *parts;
	unsigned *touched; /* partitions with staged records */
	unsigned ntouched;
	struct log_iconv **undo; /* index entries staged, oldest first */
	size_t nundo;
	size_t undocap;
	struct log_index ix;
	struct cf_buf scan_buf;
	struct log_compact **jobs; /* decided, not switched; in that order */
	size_t njobs;
	size_t jobcap;
	struct log_store_cold_stats cold; /* counters of the cold tier */
	/*
	 * Descriptors of sealed hot segments and cold files (log_files.h).
	 * A cold file's handle carries its reader (log_cold, with its last
	 * decoded block, about 64 KiB), so the cache bounds those too.
	 */
	struct log_files *files;
	/* The hot segment of the last failed commit (log_store_failed_file). */
	unsigned fail_part;
	uint32_t fail_segno; /* 0: no commit failed */
	bool ckpt_busy;	     /* a checkpoint is captured, not ended (log_ckpt) */
	/*
	 * State images (log_image.c): the one the last durable manifest
	 * names (0: none), and one written since, which the next
	 * checkpoint names (0: none); the checkpoint that names a new one
	 * unlinks the old one once its manifest is durable.
	 */
	uint64_t image_index;
	uint64_t image_next;
	struct log_loc last_loc; /* of the last append (log_store_last_loc) */
	struct log_loc *scan_loc; /* the open's option */
};

/* What a state image says of one partition (log_image.c). */
struct log__image_seg {
	uint32_t segno;
	bool sealed;
	uint64_t size; /* bytes the image covers, header included */
	uint64_t records;
	uint64_t first_ts;
};

struct log__image_part {
	uint32_t *colds; /* cold numbers, ascending */
	uint32_t ncolds;
	uint32_t hot_recalls;
	uint64_t hot_recall_ts;
	struct log__image_seg *segs; /* by segno */
	uint32_t nsegs;
};

struct log__image {
	uint64_t index;
	struct log__image_part *parts; /* nparts of the store */
	unsigned nparts;
};

/*
 * Open: load the state image m names into s->ix and *out (what it says of
 * each partition), after checking that it fits m's files; then ops->read
 * reads the sections of the layers above. Any failure leaves s->ix empty,
 * calls ops->reset if ops->read ran, and returns the error with errmsg.
 */
int log__image_load(struct log_store *s, const struct log_manifest *m,
		    const struct log_image_ops *ops, void *arg,
		    struct log__image **out, char *errmsg);
void log__image_free(struct log__image *img);
/* Unlink the store folder's image files but the one of index keep. */
void log__image_drop_others(struct log_store *s, uint64_t keep);

/* A compaction job (log_store_cold.c). */
struct log_compact {
	struct log_manifest_job j; /* owns j.recalls */
	struct log_files *files;   /* the store's (inputs are read from it) */
	uint64_t *lengths;	   /* checkpointed length of each input */
	bool running;		   /* handed to log_compact_run, not back */
	bool done;		   /* the cold file is written */
	struct log_compact_result res;
};

unsigned log__part_of(const struct log_store *s, struct cf_str conv);

/* ---- log_store_cold.c, called by log_store.c ---- */

/*
 * Open: cold files and jobs of part from m; scan records (rebuild), unless
 * indexed (a state image holds what they give: log_image.c).
 */
int log__cold_open_part(struct log_store *s, struct log_part *part,
			const struct log_manifest *m, log_scan_cb cb,
			void *arg, bool indexed, char *errmsg);
/* Open: take m's jobs (after every partition is open). */
int log__cold_open_jobs(struct log_store *s, const struct log_manifest *m);
/* Checkpoint: add the cold entries and jobs to m. */
int log__cold_to_manifest(const struct log_store *s, struct log_manifest *m);
/* Read conv's message seq from the cold file covering segno. */
int log__cold_read(struct log_store *s, struct log_part *part, uint32_t segno,
		   struct cf_str conv, uint64_t seq, struct log_record *rec,
		   struct cf_buf *scratch);
/* Read conv's non-message record message_id from the cold file of segno. */
int log__cold_read_other(struct log_store *s, struct log_part *part,
			 uint32_t segno, struct cf_str conv,
			 uint64_t message_id, struct log_record *rec,
			 struct cf_buf *scratch);
/* The cold file whose range holds segno, or NULL. */
struct log_coldf *log__part_find_cold(struct log_part *part, uint32_t segno);
/* Add a cold file to the partition (segment order kept). */
int log__part_add_cold(struct log_part *part, const struct log_coldf *c);

/* ---- log_compact.c (log_compact_run.c runs and switches jobs) ---- */

/* Make a job of mj (recalls copied) and append it to s->jobs. */
int log__job_new(struct log_store *s, const struct log_manifest_job *mj,
		 struct log_compact **out);
void log__job_free(struct log_compact *c);
/* Count a recall (entry time ts) of a message in a hot segment of part. */
void log__note_hot_recall(struct log_part *part, uint64_t ts);
/* Highest hot segment number taken by a pending job of the partition. */
uint32_t log__part_taken(const struct log_store *s, unsigned partition);

/*
 * Descriptors (issue 11, log_store_fds.c): a hot segment keeps seg->fd
 * while it is the partition's live segment, and the newest sealed one
 * until a checkpoint has fsync'd it; every other segment is "parked"
 * (fd -1): reads, and the checkpoint's fdatasync of bytes an older sealed
 * one still has unsynced, get a descriptor from s->files.
 */
/* Park seg if sealed and synced (whoever marks a segment synced calls it). */
void log__seg_park(struct log_segment *seg);
/*
 * After a commit that staged into segs[from..]: park every sealed segment
 * of part from segs[from - 2] on but the newest, synced or not.
 */
void log__part_trim_sealed(struct log_part *part, size_t from);
/* Read the record at off of seg, a parked segment of part (log_files). */
int log__seg_read_parked(struct log_store *s, struct log_part *part,
			 struct log_segment *seg, uint64_t off,
			 struct cf_buf *scratch, struct log_record *rec);
/* Descriptors the store holds now (s->files included). */
unsigned log__store_fds(const struct log_store *s);
/* Free the partition's cold state. */
void log__cold_part_release(struct log_part *part);
/* Free every job. */
void log__cold_release(struct log_store *s);

#endif
