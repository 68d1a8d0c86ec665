#include "config.h"

/*
 * Segment file layout. Every integer is little-endian.
 *
 *   offset  size  field
 *        0     8  magic "CFSEGMNT"
 *        8     2  version (1)
 *       10     2  reserved, zero
 *       12     4  partition
 *       16     4  segment number
 *       20     4  reserved, zero
 *       24     8  XXH3_64bits of bytes [0, 24)
 *       32     .  records (log_record.c), back to back, no padding
 *
 * A header is valid if its checksum matches, the magic and version are
 * known and the partition and number match the file's folder and name.
 * Records are valid by log_record.c's rule; a scan stops at the first
 * invalid one (a torn tail after a crash, or damage).
 */

#include "log/log_segment.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/cf_err.h"
#include "common/cf_io.h"
#include "common/cf_vfs.h"

#define SEG_MAGIC "CFSEGMNT"
#define SEG_VERSION 1
/* Bytes read at a time by a scan; more than one record can take. */
#define SEG_SCAN_CHUNK (4u << 20)
/* Bytes read first by a single record read: a chat message's record fits
 * (a longer one costs a second pread); more would be copied for nothing. */
#define SEG_READ_FIRST 1024u

void log_segment_name(char *name, uint32_t segno)
{
	snprintf(name, LOG_SEG_NAME, "%08u.seg", (unsigned)segno);
}

void log_segment_part_name(char *name, unsigned partition)
{
	snprintf(name, LOG_SEG_NAME, "p%04u", partition);
}

int log_file_parse_name(const char *name, const char *ext, uint32_t *no)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 8; i++) {
		if (name[i] < '0' || name[i] > '9')
			return CF_EBADREQ;
		v = v * 10 + (uint32_t)(name[i] - '0');
	}
	if (strcmp(name + 8, ext) != 0)
		return CF_EBADREQ;
	*no = v;
	return 0;
}

int log_segment_parse_name(const char *name, uint32_t *segno)
{
	return log_file_parse_name(name, ".seg", segno);
}

void log_segment_init(struct log_segment *seg, unsigned partition,
		      uint32_t segno)
{
	memset(seg, 0, sizeof(*seg));
	seg->fd = -1;
	seg->partition = partition;
	seg->segno = segno;
}

static void seg_header(const struct log_segment *seg, uint8_t *h)
{
	memcpy(h, SEG_MAGIC, 8);
	cf_put_u16(h + 8, SEG_VERSION);
	cf_put_u16(h + 10, 0);
	cf_put_u32(h + 12, seg->partition);
	cf_put_u32(h + 16, seg->segno);
	cf_put_u32(h + 20, 0);
	cf_put_u64(h + 24, XXH3_64bits(h, 24));
}


int log_segment_create(struct log_segment *seg, int dirfd)
{
	char name[LOG_SEG_NAME];
	uint8_t h[LOG_SEG_HDR];
	int rv;

	assert(seg->fd < 0);
	log_segment_name(name, seg->segno);
	seg->fd = cf_vfs_openat(dirfd, name,
				O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (seg->fd < 0)
		return -errno;
	seg_header(seg, h);
	rv = cf_pwrite_all(seg->fd, h, sizeof(h), 0);
	if (rv != 0)
		goto err_unlink;
	seg->size = LOG_SEG_HDR;
	seg->synced = 0;
	return 0;

err_unlink:
	cf_vfs_close(seg->fd);
	seg->fd = -1;
	cf_vfs_unlinkat(dirfd, name, 0);
	assert(rv != 0);
	return rv;
}

int log_segment_open(struct log_segment *seg, int dirfd, bool rdonly)
{
	char name[LOG_SEG_NAME];
	struct stat st;
	int rv;

	assert(seg->fd < 0);
	log_segment_name(name, seg->segno);
	seg->fd = cf_vfs_openat(dirfd, name,
				(rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
	if (seg->fd < 0)
		return -errno;
	if (cf_vfs_fstat(seg->fd, &st) != 0) {
		rv = -errno;
		goto err_close;
	}
	seg->size = (uint64_t)st.st_size;
	seg->synced = seg->size;
	return 0;

err_close:
	cf_vfs_close(seg->fd);
	seg->fd = -1;
	assert(rv != 0);
	return rv;
}

void log_segment_close(struct log_segment *seg)
{
	if (seg->fd >= 0)
		cf_vfs_close(seg->fd);
	seg->fd = -1;
}

int log_segment_borrow_fd(struct log_segment *seg, int fd)
{
	struct stat st;

	assert(seg->fd < 0);
	if (cf_vfs_fstat(fd, &st) != 0)
		return -errno;
	seg->fd = fd;
	seg->size = (uint64_t)st.st_size;
	seg->synced = seg->size;
	return 0;
}

int log_segment_write(struct log_segment *seg, const void *p, size_t n)
{
	int rv;

	assert(seg->fd >= 0);
	rv = cf_pwrite_all(seg->fd, p, n, seg->size);
	if (rv != 0) {
		/* Cut what a partial write left (best effort: the store
		 * truncates again, and a scan would stop there anyway). */
		if (cf_vfs_ftruncate(seg->fd, (off_t)seg->size) != 0) {
			/* keep rv: the write's error is the one to report */
		}
		return rv;
	}
	seg->size += n;
	return 0;
}

int log_segment_truncate(struct log_segment *seg, uint64_t size)
{
	assert(seg->fd >= 0);
	if (cf_vfs_ftruncate(seg->fd, (off_t)size) != 0)
		return -errno;
	seg->size = size;
	if (seg->synced > size)
		seg->synced = size;
	return 0;
}

int log_segment_sync(struct log_segment *seg)
{
	/* A closed segment has nothing unsynced (log__seg_park). */
	assert(seg->fd >= 0 || seg->synced == seg->size);
	if (seg->fd < 0 || seg->synced == seg->size)
		return 0;
	if (cf_vfs_fdatasync(seg->fd) != 0)
		return -errno;
	seg->synced = seg->size;
	return 0;
}

int log_segment_read(struct log_segment *seg, uint64_t off,
		     struct cf_buf *scratch, struct log_record *rec)
{
	size_t want;
	size_t got;
	uint32_t total;
	int rv;

	assert(seg->fd >= 0);
	if (off < LOG_SEG_HDR || off >= seg->size)
		return CF_ECORRUPT;
	want = SEG_READ_FIRST;
	if (want > seg->size - off)
		want = (size_t)(seg->size - off);
	scratch->len = 0;
	rv = cf_buf_reserve(scratch, want);
	if (rv != 0)
		return rv;
	rv = cf_pread_all(seg->fd, scratch->data, want, off, &got);
	if (rv != 0)
		return rv;
	scratch->len = got;
	if (got >= 4) {
		total = cf_get_u32(scratch->data);
		if (total > got && total <= LOG_RECORD_MAX &&
		    off + total <= seg->size) {
			rv = cf_buf_reserve(scratch, total - got);
			if (rv != 0)
				return rv;
			rv = cf_pread_all(seg->fd, scratch->data + got,
				       total - got, off + got, &got);
			if (rv != 0)
				return rv;
			scratch->len += got;
		}
	}
	return log_record_decode(scratch->data, scratch->len, rec, NULL);
}

static int seg_check_header(const struct log_segment *seg, const uint8_t *h)
{
	uint8_t want[LOG_SEG_HDR];

	seg_header(seg, want);
	if (cf_get_u64(h + 24) != XXH3_64bits(h, 24))
		return CF_ECORRUPT;
	if (memcmp(h, SEG_MAGIC, 8) != 0)
		return CF_ECORRUPT;
	if (cf_get_u16(h + 8) != SEG_VERSION)
		return CF_EVERSION;
	if (memcmp(h, want, LOG_SEG_HDR) != 0)
		return CF_ECORRUPT;
	return 0;
}

int log_segment_scan(struct log_segment *seg, uint64_t limit,
		     struct cf_buf *buf, log_segment_scan_cb cb, void *arg,
		     uint64_t *valid_end)
{
	return log_segment_scan_from(seg, LOG_SEG_HDR, limit, buf, cb, arg,
				     valid_end);
}

int log_segment_scan_from(struct log_segment *seg, uint64_t from,
			  uint64_t limit, struct cf_buf *buf,
			  log_segment_scan_cb cb, void *arg,
			  uint64_t *valid_end)
{
	uint8_t h[LOG_SEG_HDR];
	struct log_record rec;
	uint64_t base;
	uint64_t off;
	size_t got;
	size_t used;
	int rv;

	assert(seg->fd >= 0);
	*valid_end = 0;
	if (limit > seg->size)
		limit = seg->size;
	rv = cf_pread_all(seg->fd, h, sizeof(h), 0, &got);
	if (rv != 0)
		return rv;
	if (got < LOG_SEG_HDR)
		/*
		 * tested: test_log_segment
		 * cut_at_every_offset_scans_an_exact_prefix
		 */
		return CF_ECORRUPT;
	rv = seg_check_header(seg, h);
	if (rv != 0)
		return rv;
	if (from < LOG_SEG_HDR)
		from = LOG_SEG_HDR;
	*valid_end = from;
	base = off = from;
	buf->len = 0;
	rv = cf_buf_reserve(buf, SEG_READ_FIRST);
	if (rv != 0)
		return rv;
	while (off < limit) {
		size_t have = (size_t)(base + buf->len - off);
		size_t avail = have;

		if (off + avail > limit)
			avail = (size_t)(limit - off);
		rv = log_record_decode(buf->data + (off - base), avail, &rec,
				       &used);
		if (rv == 0) {
			if (cb != NULL) {
				rv = cb(arg, off, &rec);
				if (rv != 0)
					return rv;
			}
			off += used;
			*valid_end = off;
			continue;
		}
		if (base + buf->len < limit && have < SEG_SCAN_CHUNK) {
			/* Not enough bytes in memory: slide and refill. */
			size_t want;

			cf_buf_consume(buf, (size_t)(off - base));
			base = off;
			want = SEG_SCAN_CHUNK;
			if (want > limit - base)
				want = (size_t)(limit - base);
			rv = cf_buf_reserve(buf, want - buf->len);
			if (rv != 0)
				return rv;
			rv = cf_pread_all(seg->fd, buf->data + buf->len,
				       want - buf->len, base + buf->len, &got);
			if (rv != 0)
				return rv;
			if (got == 0)
				limit = base + buf->len; /* file shrank */
			buf->len += got;
			continue;
		}
		/*
		 * tested: test_log_segment
		 * cut_at_every_offset_scans_an_exact_prefix
		 */
		return CF_ECORRUPT;
	}
	return 0;
}
