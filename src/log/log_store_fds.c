#include "config.h"

/*
 * The store's descriptors (issue 11). A store holds, permanently: its
 * folder, a duplicate of it for the file cache, each partition's folder,
 * and each partition's live hot segment (the one open for appends). The
 * newest sealed segment of a partition keeps its descriptor until a
 * checkpoint has fsync'd its last bytes, then gives it back
 * (log__seg_park); older sealed ones give it back at once, synced or not
 * (log__part_trim_sealed). Reads of a parked segment, as of a cold file,
 * get a descriptor from the bounded cache s->files (log_files.h). So a
 * store with any number of segments holds at most 2 + 3P + cache
 * descriptors, whatever the segment size and however rarely it
 * checkpoints, plus a compaction run's (log_store_fd_budget).
 */

#include "log/log_store.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "common/cf_err.h"
#include "log/log_store_int.h"

void log__seg_park(struct log_segment *seg)
{
	/* tested: test_log_files sealed_segments_hold_no_descriptor */
	if (seg->sealed && seg->fd >= 0 && seg->synced == seg->size)
		log_segment_close(seg);
}

void log__part_trim_sealed(struct log_part *part, size_t from)
{
	bool newest = true;

	/*
	 * Before this commit at most the live segment and the newest sealed
	 * one were open, at segs[from - 2] at the lowest (from - 1 when the
	 * entry sealed the live one and went on in a new one, one lower for
	 * a sealed one kept by the last commit); so at most one sealed
	 * segment per partition stays open whatever the segment size
	 * (tested: test_log_files low_descriptor_limit_serves_every_segment).
	 * The bytes of those parked here are still in the page cache; the
	 * checkpoint's run opens them by name and fsyncs them (log_ckpt.c).
	 */
	for (size_t i = part->nsegs; i-- > (from > 1 ? from - 2 : 0);) {
		struct log_segment *seg = &part->segs[i];

		if (!seg->sealed || seg->fd < 0)
			continue;
		if (newest)
			newest = false;
		else
			log_segment_close(seg);
	}
}

int log__seg_read_parked(struct log_store *s, struct log_part *part,
			 struct log_segment *seg, uint64_t off,
			 struct cf_buf *scratch, struct log_record *rec)
{
	struct log_segment view;
	struct log_file *h;
	int rv;

	assert(seg->fd < 0 && seg->sealed);
	rv = log_files_get(s->files, part->id, LOG_FILE_SEG, seg->segno, &h);
	if (rv != 0)
		return rv == -ENOENT ? CF_ECORRUPT : rv;
	/* The store's sizes bound the read, not the file's. */
	view = *seg;
	view.fd = h->fd;
	rv = log_segment_read(&view, off, scratch, rec);
	log_files_put(s->files, h);
	return rv;
}

unsigned log__store_fds(const struct log_store *s)
{
	struct log_files_stats fs;
	unsigned n = 0;

	n += s->dirfd >= 0;
	if (s->files != NULL) {
		log_files_stats(s->files, &fs);
		n += 1 + fs.open; /* its folder, its files */
	}
	for (unsigned i = 0; i < s->nparts; i++) {
		const struct log_part *part = &s->parts[i];

		n += part->dirfd >= 0;
		for (size_t k = 0; k < part->nsegs; k++)
			n += part->segs[k].fd >= 0;
	}
	return n;
}

unsigned log_store_fd_budget(unsigned partitions, unsigned open_files)
{
	if (open_files == 0)
		open_files = LOG_FILES_DEFAULT;
	/*
	 * Folder and the cache's copy; per partition its folder and live
	 * segment; the cache; a sealed segment per partition waiting for its
	 * checkpoint; a compaction run (partition folder, cold file being
	 * written) and the two handles the loop and the worker may hold past
	 * the cache's bound.
	 */
	return 2 + 3 * partitions + open_files + 2 + 2;
}
