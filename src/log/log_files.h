/*
 * log_files: the store's bounded cache of open read-only descriptors.
 *
 * Only a partition's live hot segment (the one open for appends) keeps a
 * descriptor of its own (struct log_segment.fd). Every other file of the
 * store, sealed hot segments and cold files, is opened on demand through
 * this cache, keyed by (partition, kind, number) and opened as
 * "p%04u/NAME" under the store folder. At most `cap` descriptors stay open;
 * when a file must be opened and the cache is full, the least recently used
 * file that nobody holds is closed.
 *
 * Ownership: log_files_get() returns a held handle (a reference); its fd is
 * valid until the holder gives it back with log_files_put(), and a held
 * handle is never closed, whatever thread evicts or forgets it. The cache
 * owns the descriptors: holders never close them. A handle may carry one
 * attachment (decoded state of the file, e.g. a cold reader) that the
 * cache frees when it closes the file; the attachment belongs to whoever
 * set it and is used by the loop thread only. Descriptors held at a time
 * are at most cap plus the handles held beyond it (each reader holds one
 * file at a time: the loop one, the worker one).
 * Errors: 0, -errno (the open's), -ENOMEM.
 * Threads: any; one mutex guards the table (never held during I/O other
 * than open and close).
 */
#ifndef LOG_FILES_H
#define LOG_FILES_H

#include <stdint.h>

/* Descriptors the store's cache keeps open by default. */
#define LOG_FILES_DEFAULT 64
/* Upper bound of the cache size (lookups scan the table). */
#define LOG_FILES_MAX 4096

enum log_file_kind {
	LOG_FILE_SEG,  /* a hot segment, "%08u.seg" */
	LOG_FILE_COLD, /* a cold file, "%08u.cold" */
};

struct log_files;

/* One open file; fd and the attachment fields are the caller's to use. */
struct log_file {
	int fd;
	void *attach;		     /* NULL until the holder sets it */
	void (*attach_free)(void *); /* called at close with attach */
};

/*
 * A cache over the store folder rootfd (duplicated: the caller keeps its
 * own) keeping at most cap (1..LOG_FILES_MAX) descriptors open.
 */
int log_files_create(struct log_files **out, int rootfd, unsigned cap);
/* Close every file and free the cache; no handle may be held. */
void log_files_destroy(struct log_files *fc);

/*
 * Hold file no of kind in partition, opening it if needed: *out's fd is
 * readable until log_files_put(). -ENOENT if the file is missing.
 */
int log_files_get(struct log_files *fc, unsigned partition,
		  enum log_file_kind kind, uint32_t no, struct log_file **out);
/* Give back a handle from log_files_get(). */
void log_files_put(struct log_files *fc, struct log_file *f);
/*
 * The file was replaced or is about to be unlinked: drop it from the cache
 * (closed now, or at the last put if held) so that the next get opens the
 * file again and no descriptor keeps removed bytes on disk.
 */
void log_files_forget(struct log_files *fc, unsigned partition,
		      enum log_file_kind kind, uint32_t no);

/*
 * A new descriptor of partition's folder (the caller closes it), for a
 * writer that creates files there; not cached. -errno on failure.
 */
int log_files_open_part(struct log_files *fc, unsigned partition);

struct log_files_stats {
	unsigned open;	 /* descriptors open now, held or not */
	unsigned cold;	 /* of which cold files */
	unsigned held;	 /* handles held now */
	unsigned cap;
	uint64_t opens;	 /* files opened since create */
	uint64_t hits;	 /* gets served by an open file */
};
void log_files_stats(struct log_files *fc, struct log_files_stats *st);

#endif
