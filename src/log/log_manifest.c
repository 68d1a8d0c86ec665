#include "config.h"

/*
 * Manifest layout. Every integer is little-endian.
 *
 *   offset  size  field
 *        0     8  magic "CFMANIFS"
 *        8     4  version (2; 1 is still read)
 *       12     4  partitions P
 *       16     8  appliedIndex
 *       24     4  number of segment entries N
 *       28     4  reserved, zero
 *   version 2 only:
 *       32     8  segment size (seal_bytes) the store was created with
 *       40     8  seal age in entry-clock ms (0: never)
 *
 *    H  24*N  entries (H = 48 in version 2, 32 in version 1), by partition
 *             then segment number:
 *                   u32 partition (< P), u32 segment number,
 *                   u64 checkpointed length (>= segment header size),
 *                   u32 flags (bit 0: sealed; other bits zero),
 *                   u32 reserved, zero
 *  H+24N     8  XXH3_64bits of bytes [0, H + 24N)
 *
 * A manifest is valid if its length is exactly H + 8 + 24N, the checksum
 * matches, the magic is right, the version known, and the entries are in
 * strictly increasing (partition, segno) order with partition < P. A
 * version 1 manifest (written before the store recorded its shape) decodes
 * with seal_bytes = seal_age_ms = 0, "not recorded"; it is written back as
 * version 2.
 *
 * Replacement: write MANIFEST.tmp, fsync it, rename it over MANIFEST, fsync
 * the folder. A crash before the rename leaves the old manifest in force (a
 * stale MANIFEST.tmp is ignored and overwritten next time).
 */

#include "log/log_manifest.h"

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
#include "log/log_segment.h"

#define MAN_MAGIC "CFMANIFS"
#define MAN_VERSION 2
#define MAN_HDR_V1 32
#define MAN_HDR 48
#define MAN_ENTRY 24
#define MAN_SUM 8
/* A sanity bound on the manifest size (millions of segments). */
#define MAN_MAX (256u << 20)

void log_manifest_init(struct log_manifest *m)
{
	memset(m, 0, sizeof(*m));
}

void log_manifest_release(struct log_manifest *m)
{
	free(m->segs);
	log_manifest_init(m);
}

int log_manifest_add(struct log_manifest *m, uint32_t partition,
		     uint32_t segno, uint64_t length, bool sealed)
{
	struct log_manifest_seg *s;

	if (m->nsegs == m->cap) {
		size_t cap = m->cap == 0 ? 16 : m->cap * 2;
		s = realloc(m->segs, cap * sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
		m->segs = s;
		m->cap = cap;
	}
	s = &m->segs[m->nsegs++];
	s->partition = partition;
	s->segno = segno;
	s->length = length;
	s->sealed = sealed;
	return 0;
}

const struct log_manifest_seg *log_manifest_find(const struct log_manifest *m,
						 uint32_t partition,
						 uint32_t segno)
{
	size_t lo = 0;
	size_t hi = m->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct log_manifest_seg *s = &m->segs[mid];
		if (s->partition == partition && s->segno == segno)
			return s;
		if (s->partition < partition ||
		    (s->partition == partition && s->segno < segno))
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int log_manifest_encode(const struct log_manifest *m, struct cf_buf *out)
{
	size_t n = MAN_HDR + MAN_ENTRY * m->nsegs + MAN_SUM;
	uint8_t *start;
	uint8_t *p;
	int rv;

	rv = cf_buf_reserve(out, n);
	if (rv != 0)
		return rv;
	start = p = (uint8_t *)out->data + out->len;
	memcpy(p, MAN_MAGIC, 8);
	cf_put_u32(p + 8, MAN_VERSION);
	cf_put_u32(p + 12, m->partitions);
	cf_put_u64(p + 16, m->applied_index);
	cf_put_u32(p + 24, (uint32_t)m->nsegs);
	cf_put_u32(p + 28, 0);
	cf_put_u64(p + 32, m->seal_bytes);
	cf_put_u64(p + 40, m->seal_age_ms);
	p += MAN_HDR;
	for (size_t i = 0; i < m->nsegs; i++) {
		const struct log_manifest_seg *s = &m->segs[i];
		cf_put_u32(p, s->partition);
		cf_put_u32(p + 4, s->segno);
		cf_put_u64(p + 8, s->length);
		cf_put_u32(p + 16, s->sealed ? 1 : 0);
		cf_put_u32(p + 20, 0);
		p += MAN_ENTRY;
	}
	cf_put_u64(p, XXH3_64bits(start, n - MAN_SUM));
	out->len += n;
	return 0;
}

int log_manifest_decode(const void *buf, size_t n, struct log_manifest *m,
			char *errmsg)
{
	const uint8_t *p = buf;
	uint32_t count;
	uint32_t version;
	int rv;

	size_t hdr;

	log_manifest_release(m);
	if (n < MAN_HDR_V1 + MAN_SUM) {
		cf_errmsg_printf(errmsg, "manifest: short (%zu bytes)", n);
		return CF_ECORRUPT;
	}
	if (XXH3_64bits(p, n - MAN_SUM) != cf_get_u64(p + n - MAN_SUM)) {
		cf_errmsg_printf(errmsg, "manifest: checksum mismatch");
		/* tested: test_log_store corrupt_manifest_is_refused */
		return CF_ECORRUPT;
	}
	if (memcmp(p, MAN_MAGIC, 8) != 0 || cf_get_u32(p + 28) != 0) {
		cf_errmsg_printf(errmsg, "manifest: bad magic");
		return CF_ECORRUPT;
	}
	version = cf_get_u32(p + 8);
	if (version != 1 && version != MAN_VERSION) {
		cf_errmsg_printf(errmsg, "manifest: unknown version %u",
				 (unsigned)version);
		return CF_EVERSION;
	}
	hdr = version == 1 ? MAN_HDR_V1 : MAN_HDR;
	count = cf_get_u32(p + 24);
	if ((uint64_t)hdr + (uint64_t)count * MAN_ENTRY + MAN_SUM != n) {
		cf_errmsg_printf(errmsg, "manifest: %zu bytes for %u segments",
				 n, (unsigned)count);
		return CF_ECORRUPT;
	}
	m->partitions = cf_get_u32(p + 12);
	m->applied_index = cf_get_u64(p + 16);
	if (version >= 2) {
		m->seal_bytes = cf_get_u64(p + 32);
		m->seal_age_ms = cf_get_u64(p + 40);
	}
	p += hdr;
	for (uint32_t i = 0; i < count; i++, p += MAN_ENTRY) {
		uint32_t part = cf_get_u32(p);
		uint32_t segno = cf_get_u32(p + 4);
		uint64_t len = cf_get_u64(p + 8);
		uint32_t flags = cf_get_u32(p + 16);
		const struct log_manifest_seg *prev =
			m->nsegs > 0 ? &m->segs[m->nsegs - 1] : NULL;

		if (part >= m->partitions || len < LOG_SEG_HDR ||
		    (flags & ~1u) != 0 || cf_get_u32(p + 20) != 0 ||
		    (prev != NULL &&
		     (prev->partition > part ||
		      (prev->partition == part && prev->segno >= segno)))) {
			cf_errmsg_printf(errmsg, "manifest: bad entry %u",
					 (unsigned)i);
			rv = CF_ECORRUPT;
			goto err_release;
		}
		rv = log_manifest_add(m, part, segno, len, flags & 1u);
		if (rv != 0)
			goto err_release;
	}
	return 0;

err_release:
	log_manifest_release(m);
	assert(rv != 0);
	return rv;
}

int log_manifest_load(int dirfd, struct log_manifest *m, char *errmsg)
{
	struct cf_buf buf = CF_BUF_INIT;
	struct stat st;
	size_t done = 0;
	int fd;
	int rv;

	fd = openat(dirfd, LOG_MANIFEST_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return CF_ENOTFOUND;
		rv = -errno;
		cf_errmsg_printf(errmsg, "manifest: open: %s", cf_strerror(rv));
		return rv;
	}
	if (fstat(fd, &st) != 0) {
		rv = -errno;
		cf_errmsg_printf(errmsg, "manifest: stat: %s", cf_strerror(rv));
		goto err_close;
	}
	if ((uint64_t)st.st_size > MAN_MAX) {
		cf_errmsg_printf(errmsg, "manifest: too large");
		rv = CF_ECORRUPT;
		goto err_close;
	}
	rv = cf_buf_reserve(&buf, (size_t)st.st_size + 1);
	if (rv != 0)
		goto err_close;
	rv = cf_read_all(fd, buf.data, (size_t)st.st_size, &done);
	if (rv == 0 && done != (size_t)st.st_size)
		rv = CF_ECORRUPT;
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "manifest: read: %s",
				 cf_strerror(rv));
		goto err_free;
	}
	rv = log_manifest_decode(buf.data, done, m, errmsg);
	if (rv != 0)
		goto err_free;
	cf_buf_release(&buf);
	close(fd);
	return 0;

err_free:
	cf_buf_release(&buf);
err_close:
	close(fd);
	assert(rv != 0);
	return rv;
}

int log_manifest_save(int dirfd, const struct log_manifest *m, char *errmsg)
{
	struct cf_buf buf = CF_BUF_INIT;
	const char *step;
	int fd;
	int rv;

	rv = log_manifest_encode(m, &buf);
	if (rv != 0) {
		step = "encode";
		goto err;
	}
	step = "create " LOG_MANIFEST_TMP;
	fd = openat(dirfd, LOG_MANIFEST_TMP,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rv = -errno;
		goto err_free;
	}
	step = "write " LOG_MANIFEST_TMP;
	rv = cf_write_all(fd, buf.data, buf.len);
	if (rv != 0)
		goto err_close;
	step = "fsync " LOG_MANIFEST_TMP;
	if (fsync(fd) != 0) {
		rv = -errno;
		goto err_close;
	}
	close(fd);
	step = "rename";
	if (renameat(dirfd, LOG_MANIFEST_TMP, dirfd, LOG_MANIFEST_NAME) != 0) {
		rv = -errno;
		goto err_free;
	}
	step = "fsync folder";
	if (fsync(dirfd) != 0) {
		rv = -errno;
		goto err_free;
	}
	cf_buf_release(&buf);
	return 0;

err_close:
	close(fd);
err_free:
	cf_buf_release(&buf);
err:
	cf_errmsg_printf(errmsg, "manifest: %s: %s", step, cf_strerror(rv));
	assert(rv != 0);
	return rv;
}
