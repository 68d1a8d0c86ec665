#include "config.h"

/*
 * The segment store. Folder layout:
 *
 *   DIR/MANIFEST            the last checkpoint (log_manifest.c)
 *   DIR/p0000/00000001.seg  segments of partition 0 (log_segment.c)
 *   ...
 *   DIR/p%04u/%08u.seg      partition P-1
 *
 * Segment numbers start at 1 and grow by one per partition. The last
 * segment of a partition is its hot segment unless it is sealed; the next
 * record then opens a new one.
 *
 * Staging: log_store_append() encodes a record into the staging buffer of
 * the segment it goes to (struct log_stage; the buffers are kept and reused,
 * so the append path allocates nothing in the steady state) and indexes it
 * at its future offset. A segment needed by sealing is only reserved
 * (fd -1) until commit creates it. log_store_commit() writes each staging
 * buffer with one pwrite; log_store_abort() pops the index entries (undo
 * list, newest first) and restores every touched partition.
 *
 * Sealing is decided on append from the record stream alone (size of the
 * hot segment, ts of its first record vs the record's ts, the entry clock),
 * so that every node seals at the same record.
 */

#include "log/log_store.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/cf_diag.h"
#include "common/cf_time.h"
#include "common/cf_vfs.h"
#include "log/log_index.h"
#include "log/log_manifest.h"
#include "log/log_segment.h"
#include "log/log_store_int.h"


unsigned log_partition_of(struct cf_str conv, unsigned nparts)
{
	return (unsigned)(XXH3_64bits(conv.p, conv.len) % nparts);
}

unsigned log__part_of(const struct log_store *s, struct cf_str conv)
{
	return log_partition_of(conv, s->nparts);
}

static void part_release(struct log_part *part)
{
	for (size_t i = 0; i < part->nsegs; i++)
		log_segment_close(&part->segs[i]);
	free(part->segs);
	for (size_t i = 0; i < part->stagecap; i++)
		cf_buf_release(&part->stages[i].buf);
	free(part->stages);
	log__cold_part_release(part);
	if (part->dirfd >= 0)
		cf_vfs_close(part->dirfd);
	part->dirfd = -1;
}

void log_store_close(struct log_store *s)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < s->nparts && s->parts != NULL; i++)
		part_release(&s->parts[i]);
	free(s->parts);
	free(s->touched);
	free(s->undo);
	log__cold_release(s);
	log_files_destroy(s->files);
	log_index_release(&s->ix);
	cf_buf_release(&s->scan_buf);
	if (s->dirfd >= 0)
		cf_vfs_close(s->dirfd);
	free(s);
}

/* Room for one more segment and one more stage. */
int log__part_reserve(struct log_part *part)
{
	if (part->nsegs == part->cap) {
		size_t cap = part->cap == 0 ? 4 : part->cap * 2;
		struct log_segment *p = realloc(part->segs, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		part->segs = p;
		part->cap = cap;
	}
	if (part->nstages == part->stagecap) {
		size_t cap = part->stagecap == 0 ? 2 : part->stagecap * 2;
		struct log_stage *p = realloc(part->stages, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		for (size_t i = part->stagecap; i < cap; i++)
			cf_buf_init(&p[i].buf);
		part->stages = p;
		part->stagecap = cap;
	}
	return 0;
}

static struct log_segment *part_find_seg(struct log_part *part, uint32_t segno)
{
	size_t lo = 0;
	size_t hi = part->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (part->segs[mid].segno == segno)
			return &part->segs[mid];
		if (part->segs[mid].segno < segno)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* -------------------------------------------------------------- append */

/* Number of the next segment: past the hot one and every compacted one. */
static uint32_t part_next_segno(const struct log_part *part,
				const struct log_segment *hot)
{
	return (hot != NULL ? hot->segno : part->cold_segno) + 1;
}

int log_store_append(struct log_store *s, const struct log_record *rec)
{
	struct log_part *part;
	struct log_segment *hot;
	struct log_segment *seg;
	struct log_stage *st;
	struct log_iconv *c = NULL;
	size_t n = log_record_size(rec);
	size_t ti;
	size_t si;
	size_t oldlen;
	uint64_t off;
	bool seal = false;
	bool fresh;
	int rv;

	if (rec->conv.len == 0)
		return CF_EBADREQ;
	part = &s->parts[log__part_of(s, rec->conv)];
	rv = log__part_reserve(part);
	if (rv != 0)
		return rv;
	if (rec->kind == LOG_REC_MESSAGE && s->nundo == s->undocap) {
		size_t cap = s->undocap == 0 ? 64 : s->undocap * 2;
		struct log_iconv **p = realloc(s->undo, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		s->undo = p;
		s->undocap = cap;
	}
	/* Which segment: the hot one, unless sealed now or already. */
	hot = part->nsegs > 0 ? &part->segs[part->nsegs - 1] : NULL;
	fresh = hot == NULL || hot->sealed;
	if (!fresh && hot->records > 0 &&
	    (hot->end + n > s->seal_bytes ||
	     (s->seal_age_ms != 0 &&
	      rec->ts >= hot->first_ts + s->seal_age_ms))) {
		/*
		 * tested: test_log_store seal_by_size_opens_new_segments,
		 * seal_by_entry_age
		 */
		seal = true;
		fresh = true;
	}
	ti = fresh ? part->nsegs : part->nsegs - 1;
	off = fresh ? LOG_SEG_HDR : hot->end;
	if (part->nstages > 0 && part->stages[part->nstages - 1].seg == ti) {
		si = part->nstages - 1;
	} else {
		si = part->nstages;
		part->stages[si].buf.len = 0;
	}
	st = &part->stages[si];
	oldlen = st->buf.len;
	rv = log_record_encode(rec, &st->buf);
	if (rv != 0)
		return rv;
	if (rec->kind == LOG_REC_MESSAGE) {
		uint32_t segno = fresh ? part_next_segno(part, hot)
				       : hot->segno;
		rv = log_index_add(&s->ix, rec->conv, rec->seq, segno,
				   (uint32_t)off, &c);
		if (rv != 0) {
			cf_buf_truncate(&st->buf, oldlen);
			return rv;
		}
		s->undo[s->nundo++] = c;
	}
	/* Nothing can fail from here on: apply. */
	s->last_loc.segno = fresh ? part_next_segno(part, hot) : hot->segno;
	s->last_loc.off = (uint32_t)off;
	if (!part->touched) {
		part->touched = true;
		part->last_sealed = hot != NULL && hot->sealed;
		s->touched[s->ntouched++] = part->id;
	}
	if (seal)
		hot->sealed = true;
	if (fresh) {
		seg = &part->segs[part->nsegs++];
		log_segment_init(seg, part->id, part_next_segno(part, hot));
		seg->end = LOG_SEG_HDR;
	}
	seg = &part->segs[ti];
	if (si == part->nstages) {
		st->seg = ti;
		st->base = seg->end;
		part->nstages++;
	}
	if (seg->records == 0)
		seg->first_ts = rec->ts;
	seg->records++;
	seg->end += n;
	return 0;
}

/* Restore a touched partition's segments to their written state. */
static void part_unstage(struct log_part *part)
{
	part->nsegs = part->ncommitted;
	for (size_t i = 0; i < part->nstages; i++) {
		struct log_segment *seg;
		if (part->stages[i].seg >= part->nsegs)
			continue;
		seg = &part->segs[part->stages[i].seg];
		seg->end = seg->size;
		seg->records = seg->records_done;
		if (seg->records == 0)
			seg->first_ts = 0;
	}
	if (part->nsegs > 0)
		part->segs[part->nsegs - 1].sealed = part->last_sealed;
	part->nstages = 0;
	part->touched = false;
}

void log_store_abort(struct log_store *s)
{
	while (s->nundo > 0)
		log_index_pop(&s->ix, s->undo[--s->nundo]);
	for (unsigned i = 0; i < s->ntouched; i++)
		part_unstage(&s->parts[s->touched[i]]);
	s->ntouched = 0;
}

/* Undo the file side of a failed commit: cut back, remove new files. */
static void part_unwrite(struct log_part *part)
{
	char name[LOG_SEG_NAME];

	for (size_t i = 0; i < part->nstages; i++) {
		struct log_stage *st = &part->stages[i];
		struct log_segment *seg = &part->segs[st->seg];
		if (st->seg >= part->ncommitted) {
			if (seg->fd >= 0) {
				log_segment_close(seg);
				log_segment_name(name, seg->segno);
				cf_vfs_unlinkat(part->dirfd, name, 0);
			}
			continue;
		}
		/*
		 * Always: a partial write may have left bytes past size.
		 * tested: test_log_store
		 * failed_commit_leaves_the_store_as_before
		 */
		if (log_segment_truncate(seg, st->base) != 0) {
			/*
			 * The file keeps the bytes, the store does not: the
			 * next write overwrites them, a checkpoint names no
			 * more than base, an open cuts the rest. Keeping the
			 * size made a later checkpoint name the aborted
			 * records (issue 11; tested: test_log_vfs
			 * commit_fails_cleanly_at_every_call, sticky).
			 */
			seg->size = st->base;
			if (seg->synced > st->base)
				seg->synced = st->base;
		}
	}
}

/*
 * A new segment's name is taken: by a file a failed commit created and
 * could not remove (its unlink failed too). Its number is past every
 * segment and cold file of the partition, so it holds nothing the store
 * names (an open would remove it): remove it and create the segment.
 * Without this every later commit failed with EEXIST (issue 11; tested:
 * test_log_vfs commit_fails_cleanly_at_every_call, sticky).
 */
static int part_recreate(struct log_part *part, struct log_segment *seg)
{
	char name[LOG_SEG_NAME];

	log_segment_name(name, seg->segno);
	if (cf_vfs_unlinkat(part->dirfd, name, 0) != 0)
		return -errno;
	return log_segment_create(seg, part->dirfd);
}

static int part_write(struct log_part *part)
{
	for (size_t i = 0; i < part->nstages; i++) {
		struct log_stage *st = &part->stages[i];
		struct log_segment *seg = &part->segs[st->seg];
		int rv;

		if (seg->fd < 0) {
			rv = log_segment_create(seg, part->dirfd);
			if (rv == -EEXIST)
				rv = part_recreate(part, seg);
			if (rv != 0)
				return rv;
			part->dir_dirty = true;
		}
		assert(seg->size == st->base);
		rv = log_segment_write(seg, st->buf.data, st->buf.len);
		if (rv != 0)
			return rv;
	}
	return 0;
}

int log_store_commit(struct log_store *s)
{
	unsigned i;
	int rv = 0;

	for (i = 0; i < s->ntouched; i++) {
		rv = part_write(&s->parts[s->touched[i]]);
		if (rv != 0)
			break;
	}
	if (rv != 0) {
		struct log_part *fp = &s->parts[s->touched[i]];

		s->fail_part = fp->id;
		s->fail_segno = fp->nstages > 0
					? fp->segs[fp->stages[fp->nstages - 1].seg]
						  .segno
					: 0;
		for (unsigned j = 0; j <= i && j < s->ntouched; j++)
			part_unwrite(&s->parts[s->touched[j]]);
		log_store_abort(s);
		return rv;
	}
	for (i = 0; i < s->ntouched; i++) {
		struct log_part *part = &s->parts[s->touched[i]];
		for (size_t k = 0; k < part->nstages; k++) {
			struct log_segment *seg =
				&part->segs[part->stages[k].seg];
			assert(seg->size == seg->end);
			seg->records_done = seg->records;
		}
		if (part->nstages > 0)
			log__part_trim_sealed(part, part->stages[0].seg);
		part->ncommitted = part->nsegs;
		part->nstages = 0;
		part->touched = false;
	}
	s->ntouched = 0;
	s->nundo = 0;
	return 0;
}

void log_store_failed_file(const struct log_store *s, char *buf, size_t len)
{
	char part[LOG_SEG_NAME], seg[LOG_SEG_NAME];

	if (s->fail_segno == 0) {
		snprintf(buf, len, "(a segment)");
		return;
	}
	log_segment_part_name(part, s->fail_part);
	log_segment_name(seg, s->fail_segno);
	snprintf(buf, len, "%s/%s", part, seg);
}

/* The checkpoint is log_ckpt.c (its disk work runs off the loop). */

/* --------------------------------------------------------------- reads */

uint64_t log_store_last_seq(const struct log_store *s, struct cf_str conv)
{
	return log_index_last_seq(&s->ix, conv);
}

/* The record at off of hot segment seg of part (staged ones too). */
static int read_hot(struct log_store *s, struct log_part *part,
		    struct log_segment *seg, uint32_t off,
		    struct log_record *rec, struct cf_buf *scratch)
{
	int rv;

	if (off >= seg->size) {
		/* Staged, not written yet: read it from its stage. */
		for (size_t i = 0; i < part->nstages; i++) {
			struct log_stage *st = &part->stages[i];
			if (&part->segs[st->seg] != seg)
				continue;
			size_t at = (size_t)(off - st->base);
			size_t n = st->buf.len - at;

			assert(off >= st->base && at + 4 <= st->buf.len);
			if (n > cf_get_u32(st->buf.data + at))
				n = cf_get_u32(st->buf.data + at);
			scratch->len = 0;
			rv = cf_buf_append(scratch, st->buf.data + at, n);
			if (rv != 0)
				return rv;
			return log_record_decode(scratch->data, scratch->len,
						 rec, NULL);
		}
		return CF_ECORRUPT;
	}
	if (seg->fd < 0) /* parked (sealed): through the file cache */
		return log__seg_read_parked(s, part, seg, off, scratch, rec);
	return log_segment_read(seg, off, scratch, rec);
}

int log_store_read_seq(struct log_store *s, struct cf_str conv, uint64_t seq,
		       struct log_record *rec, struct cf_buf *scratch)
{
	struct log_part *part;
	struct log_segment *seg;
	uint32_t segno;
	uint32_t off;
	int rv;

	rv = log_index_find(&s->ix, conv, seq, &segno, &off);
	if (rv != 0)
		return rv;
	part = &s->parts[log__part_of(s, conv)];
	seg = part_find_seg(part, segno);
	if (seg == NULL) /* compacted */
		return log__cold_read(s, part, segno, conv, seq, rec, scratch);
	return read_hot(s, part, seg, off, rec, scratch);
}

void log_store_last_loc(const struct log_store *s, struct log_loc *loc)
{
	*loc = s->last_loc;
}

int log_store_read_at(struct log_store *s, struct cf_str conv,
		      const struct log_loc *loc, uint64_t message_id,
		      struct log_record *rec, struct cf_buf *scratch)
{
	struct log_part *part;
	struct log_segment *seg;
	int rv;

	if (conv.len == 0)
		return CF_ENOTFOUND;
	part = &s->parts[log__part_of(s, conv)];
	seg = part_find_seg(part, loc->segno);
	if (seg == NULL) /* compacted */
		return log__cold_read_other(s, part, loc->segno, conv,
					    message_id, rec, scratch);
	rv = read_hot(s, part, seg, loc->off, rec, scratch);
	if (rv == 0 && (rec->message_id != message_id ||
			!cf_str_eq(rec->conv, conv)))
		return CF_ECORRUPT; /* a location that names another record */
	return rv;
}

void log_store_stats(const struct log_store *s, struct log_store_stats *st)
{
	struct log_files_stats fs;

	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < s->nparts; i++) {
		const struct log_part *part = &s->parts[i];
		for (size_t k = 0; k < part->ncommitted; k++) {
			st->segments++;
			st->bytes += part->segs[k].size;
			st->records += part->segs[k].records_done;
		}
	}
	st->conversations = log_index_count(&s->ix);
	st->index_bytes = s->ix.bytes;
	st->open_files = log__store_fds(s);
	log_files_stats(s->files, &fs);
	st->cached_files = fs.open;
}
