/*
 * log_segment: one append-only segment file of a partition.
 *
 * A segment is named "%08u.seg" (its number) inside its partition folder
 * "p%04u"; it starts with a small header (log_segment.c gives the layout)
 * and holds encoded records (log_record.c) back to back. The store decides
 * what to write and when; this module only does the file work: create, open,
 * positioned writes of whole staged batches, reads of one record, scans,
 * truncation and fdatasync.
 *
 * Ownership: a segment owns its fd; log_segment_close() closes it (one set
 * by log_segment_borrow_fd() belongs to the caller: see there). Writes
 * copy nothing (the caller's buffer is written as is). Records returned by
 * reads borrow from the caller's scratch buffer; records passed to a scan
 * callback borrow from the scan's buffer and live until the callback returns.
 * Errors: 0, -errno, CF_ECORRUPT. Threads: one thread per segment.
 */
#ifndef LOG_SEGMENT_H
#define LOG_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"
#include "log/log_record.h"

/* Bytes of the segment file header; the first record starts here. */
#define LOG_SEG_HDR 32
/* Size of a name buffer for log_segment_name() / log_segment_part_name(). */
#define LOG_SEG_NAME 24

struct log_segment {
	int fd;		     /* -1 while the file is not created yet */
	unsigned partition;
	uint32_t segno;
	uint64_t size;	     /* bytes in the file (written) */
	uint64_t synced;     /* bytes known to be on disk (fdatasync'd) */
	/* Fields the store keeps about the segment (not file state). */
	uint64_t end;	     /* size + bytes staged for it */
	uint64_t records;    /* records, staged ones included */
	uint64_t records_done; /* records written */
	uint64_t first_ts;   /* ts of the first record, 0 if none */
	bool sealed;
};

/* "%08u.seg" of segno into name[LOG_SEG_NAME]. */
void log_segment_name(char *name, uint32_t segno);
/* "p%04u" of partition into name[LOG_SEG_NAME]. */
void log_segment_part_name(char *name, unsigned partition);
/* Parse a segment file name; 0 and *segno, or CF_EBADREQ if not one. */
int log_segment_parse_name(const char *name, uint32_t *segno);
/* "%08u" followed by exactly ext (".seg", ".cold"): *no; else CF_EBADREQ. */
int log_file_parse_name(const char *name, const char *ext, uint32_t *no);

/* A segment that is not created yet (fd -1, sizes 0). */
void log_segment_init(struct log_segment *seg, unsigned partition,
		      uint32_t segno);
/*
 * Create the file in the partition folder dirfd (it must not exist) and
 * write its header: afterwards size == LOG_SEG_HDR.
 */
int log_segment_create(struct log_segment *seg, int dirfd);
/*
 * Open an existing segment file (read-write unless rdonly); size is the
 * file size. The header is not checked here: log_segment_scan() does.
 */
int log_segment_open(struct log_segment *seg, int dirfd, bool rdonly);
void log_segment_close(struct log_segment *seg);
/*
 * Read through fd, a descriptor of the segment's file that the caller owns
 * (log_files.h): size is the file size. Give it back with seg->fd = -1,
 * never log_segment_close(). Reads and scans only.
 */
int log_segment_borrow_fd(struct log_segment *seg, int fd);

/* Write p[0..n) at offset size (one pwrite, retried if partial). */
int log_segment_write(struct log_segment *seg, const void *p, size_t n);
/* Cut the file to size bytes. */
int log_segment_truncate(struct log_segment *seg, uint64_t size);
/* fdatasync if anything was written since the last sync. */
int log_segment_sync(struct log_segment *seg);

/* Read the record at off (strings borrow from scratch). */
int log_segment_read(struct log_segment *seg, uint64_t off,
		     struct cf_buf *scratch, struct log_record *rec);

/* Called for each valid record of a scan with its offset. */
typedef int (*log_segment_scan_cb)(void *arg, uint64_t off,
				   const struct log_record *rec);
/*
 * Check the header, then decode records from LOG_SEG_HDR up to limit bytes
 * (or the file size, if smaller), stopping at the first invalid record.
 * *valid_end receives the end of the last valid record (0 if the header is
 * bad, LOG_SEG_HDR if there is no record). Returns 0 if everything up to
 * the limit is valid, CF_ECORRUPT if the scan stopped early, -errno on a
 * read error, or the callback's non-zero return. buf is the scan's working
 * buffer (reused across calls).
 */
int log_segment_scan(struct log_segment *seg, uint64_t limit,
		     struct cf_buf *buf, log_segment_scan_cb cb, void *arg,
		     uint64_t *valid_end);
/*
 * The same from offset from on (a record boundary, at least LOG_SEG_HDR):
 * the header is checked, the records before from are not read.
 */
int log_segment_scan_from(struct log_segment *seg, uint64_t from,
			  uint64_t limit, struct cf_buf *buf,
			  log_segment_scan_cb cb, void *arg,
			  uint64_t *valid_end);

#endif
