#include "config.h"

/*
 * Manifest layout. Every integer is little-endian.
 *
 *   offset  size  field
 *        0     8  magic "CFMANIFS"
 *        8     4  version (4; 1 to 3 are still read)
 *       12     4  partitions P
 *       16     8  appliedIndex
 *       24     4  number of segment entries N
 *       28     4  number of cold entries C (version 3 on; zero before)
 *   version 2 and 3:
 *       32     8  segment size (seal_bytes) the store was created with
 *       40     8  seal age in entry-clock ms (0: never)
 *   version 3 and 4:
 *       48     4  number of jobs J
 *       52     4  number of erase entries E
 *   version 4:
 *       56     8  applied index of the state image (log_image.c) the
 *                 node may load instead of reading the records it covers;
 *                 0: none
 *
 *    H  24*N  segment entries (H = 64 in version 4, 56 in 3, 48 in 2, 32
 *             in 1), by
 *             partition then segment number:
 *                   u32 partition (< P), u32 segment number,
 *                   u64 checkpointed length (>= segment header size),
 *                   u32 flags (bit 0: sealed; other bits zero),
 *                   u32 reserved, zero
 *        .  40*C  cold entries, by partition then cold number:
 *                   u32 partition (< P), u32 cold number,
 *                   u32 first and u32 last hot segment number it replaced
 *                   (first <= last), u64 file size, u64 content identity
 *                   (log_cold_write.c), u64 Raft index of the compaction
 *        .     .  J jobs (compactions decided, not switched), in the order
 *                 they were decided:
 *                   u32 partition (< P), u32 cold number, u32 first and
 *                   u32 last hot segment number (first <= last), u64 Raft
 *                   index, u32 input cold number (0: the job compacts hot
 *                   segments; else it rewrites that cold file), u32
 *                   recalls R, u32 list length L, then L bytes:
 *                   R times (u8 id length 1..128, id bytes, u64 seq)
 *        .     4  (E > 0 only) erase list length L, then L bytes: E times
 *                 (u32 partition < P, u8 id length 1..128, id bytes, u64
 *                 seq): recalls of messages compaction had already taken
 *        .     8  XXH3_64bits of every byte before it
 *
 * A manifest is valid if its length is exactly what the counts give, the
 * checksum matches, the magic is right, the version known, the reserved
 * fields zero, the lists well formed, and the segment and cold entries in
 * strictly increasing
 * (partition, number) order with partition < P. A version 1 manifest
 * (written before the store recorded its shape) decodes with seal_bytes =
 * seal_age_ms = 0, "not recorded"; older versions are written back as 4.
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
#include "common/cf_vfs.h"
#include "log/log_segment.h"

#define MAN_MAGIC "CFMANIFS"
#define MAN_VERSION 4
#define MAN_HDR_V1 32
#define MAN_HDR_V2 48
#define MAN_HDR_V3 56
#define MAN_HDR 64
#define MAN_COLD 40
#define MAN_JOB 36
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
	free(m->colds);
	for (size_t i = 0; i < m->njobs; i++)
		free(m->jobs[i].recalls);
	free(m->jobs);
	free(m->erase);
	log_manifest_init(m);
}

int log_manifest_set_erase(struct log_manifest *m, const void *p,
			   uint32_t len, uint32_t n)
{
	uint8_t *v = malloc(len > 0 ? len : 1);

	if (v == NULL)
		return -ENOMEM;
	if (len > 0)
		memcpy(v, p, len);
	free(m->erase);
	m->erase = v;
	m->erase_len = len;
	m->nerase = n;
	return 0;
}

/* Check an encoded erase list of n entries; 0 or CF_ECORRUPT. */
static int man_erase_check(const uint8_t *p, size_t len, uint32_t n,
			   uint32_t partitions)
{
	size_t pos = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (len - pos < 5 || cf_get_u32(p + pos) >= partitions)
			return CF_ECORRUPT;
		pos += 4;
		if (p[pos] == 0 || p[pos] > 128 ||
		    len - pos < 1 + (size_t)p[pos] + 8)
			return CF_ECORRUPT;
		pos += 1 + (size_t)p[pos] + 8;
	}
	return pos == len ? 0 : CF_ECORRUPT;
}

/* Room for one more element of size sz in *v (count n, capacity *cap). */
static int man_grow(void **v, size_t n, size_t *cap, size_t sz)
{
	void *p;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap == 0 ? 8 : *cap * 2;
	p = realloc(*v, c * sz);
	if (p == NULL)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

int log_manifest_add_cold(struct log_manifest *m,
			  const struct log_manifest_cold *c)
{
	int rv = man_grow((void **)&m->colds, m->ncolds, &m->coldcap,
			  sizeof(*c));

	if (rv != 0)
		return rv;
	m->colds[m->ncolds++] = *c;
	return 0;
}

int log_manifest_add_job(struct log_manifest *m,
			 const struct log_manifest_job *j)
{
	struct log_manifest_job *d;
	int rv = man_grow((void **)&m->jobs, m->njobs, &m->jobcap, sizeof(*j));

	if (rv != 0)
		return rv;
	d = &m->jobs[m->njobs];
	*d = *j;
	d->recalls = malloc(j->recalls_len > 0 ? j->recalls_len : 1);
	if (d->recalls == NULL)
		return -ENOMEM;
	if (j->recalls_len > 0)
		memcpy(d->recalls, j->recalls, j->recalls_len);
	m->njobs++;
	return 0;
}

const struct log_manifest_cold *
log_manifest_find_cold(const struct log_manifest *m, uint32_t partition,
		       uint32_t coldno)
{
	for (size_t i = 0; i < m->ncolds; i++)
		if (m->colds[i].partition == partition &&
		    m->colds[i].coldno == coldno)
			return &m->colds[i];
	return NULL;
}

int log_manifest_recalls_check(const uint8_t *p, size_t len, uint32_t n)
{
	size_t pos = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (pos >= len || p[pos] == 0 || p[pos] > 128 ||
		    len - pos - 1 < (size_t)p[pos] + 8)
			return CF_ECORRUPT;
		pos += 1 + (size_t)p[pos] + 8;
	}
	return pos == len ? 0 : CF_ECORRUPT;
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
	size_t n = MAN_HDR + MAN_ENTRY * m->nsegs + MAN_COLD * m->ncolds +
		   MAN_SUM;
	uint8_t *start;
	uint8_t *p;
	int rv;

	for (size_t i = 0; i < m->njobs; i++)
		n += MAN_JOB + m->jobs[i].recalls_len;
	if (m->nerase > 0)
		n += 4 + m->erase_len;
	rv = cf_buf_reserve(out, n);
	if (rv != 0)
		return rv;
	start = p = (uint8_t *)out->data + out->len;
	memcpy(p, MAN_MAGIC, 8);
	cf_put_u32(p + 8, MAN_VERSION);
	cf_put_u32(p + 12, m->partitions);
	cf_put_u64(p + 16, m->applied_index);
	cf_put_u32(p + 24, (uint32_t)m->nsegs);
	cf_put_u32(p + 28, (uint32_t)m->ncolds);
	cf_put_u64(p + 32, m->seal_bytes);
	cf_put_u64(p + 40, m->seal_age_ms);
	cf_put_u32(p + 48, (uint32_t)m->njobs);
	cf_put_u32(p + 52, m->nerase);
	cf_put_u64(p + 56, m->image_index);
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
	for (size_t i = 0; i < m->ncolds; i++) {
		const struct log_manifest_cold *c = &m->colds[i];
		cf_put_u32(p, c->partition);
		cf_put_u32(p + 4, c->coldno);
		cf_put_u32(p + 8, c->first_segno);
		cf_put_u32(p + 12, c->last_segno);
		cf_put_u64(p + 16, c->size);
		cf_put_u64(p + 24, c->ident);
		cf_put_u64(p + 32, c->index);
		p += MAN_COLD;
	}
	for (size_t i = 0; i < m->njobs; i++) {
		const struct log_manifest_job *j = &m->jobs[i];
		cf_put_u32(p, j->partition);
		cf_put_u32(p + 4, j->coldno);
		cf_put_u32(p + 8, j->first_segno);
		cf_put_u32(p + 12, j->last_segno);
		cf_put_u64(p + 16, j->index);
		cf_put_u32(p + 24, j->input_coldno);
		cf_put_u32(p + 28, j->nrecalls);
		cf_put_u32(p + 32, j->recalls_len);
		if (j->recalls_len > 0)
			memcpy(p + MAN_JOB, j->recalls, j->recalls_len);
		p += MAN_JOB + j->recalls_len;
	}
	if (m->nerase > 0) {
		cf_put_u32(p, m->erase_len);
		memcpy(p + 4, m->erase, m->erase_len);
		p += 4 + m->erase_len;
	}
	cf_put_u64(p, XXH3_64bits(start, n - MAN_SUM));
	out->len += n;
	return 0;
}

/* Decode the cold entries and jobs of a version 3 manifest at p[0..n). */
static int man_decode_v3(const uint8_t *p, size_t n, uint32_t ncolds,
			 uint32_t njobs, uint32_t nerase,
			 struct log_manifest *m, char *errmsg)
{
	size_t pos = 0;
	int rv;

	if ((uint64_t)ncolds * MAN_COLD > n)
		goto bad;
	for (uint32_t i = 0; i < ncolds; i++, pos += MAN_COLD) {
		struct log_manifest_cold c = {
			cf_get_u32(p + pos),	  cf_get_u32(p + pos + 4),
			cf_get_u32(p + pos + 8),  cf_get_u32(p + pos + 12),
			cf_get_u64(p + pos + 16), cf_get_u64(p + pos + 24),
			cf_get_u64(p + pos + 32)};
		const struct log_manifest_cold *prev =
			m->ncolds > 0 ? &m->colds[m->ncolds - 1] : NULL;

		if (c.partition >= m->partitions ||
		    c.first_segno > c.last_segno ||
		    (prev != NULL &&
		     (prev->partition > c.partition ||
		      (prev->partition == c.partition &&
		       prev->coldno >= c.coldno)))) {
			cf_errmsg_printf(errmsg, "manifest: bad cold entry %u",
					 (unsigned)i);
			return CF_ECORRUPT;
		}
		rv = log_manifest_add_cold(m, &c);
		if (rv != 0)
			return rv;
	}
	for (uint32_t i = 0; i < njobs; i++) {
		struct log_manifest_job j;

		if (n - pos < MAN_JOB)
			goto bad;
		j.partition = cf_get_u32(p + pos);
		j.coldno = cf_get_u32(p + pos + 4);
		j.first_segno = cf_get_u32(p + pos + 8);
		j.last_segno = cf_get_u32(p + pos + 12);
		j.index = cf_get_u64(p + pos + 16);
		j.input_coldno = cf_get_u32(p + pos + 24);
		j.nrecalls = cf_get_u32(p + pos + 28);
		j.recalls_len = cf_get_u32(p + pos + 32);
		j.recalls = (uint8_t *)p + pos + MAN_JOB;
		pos += MAN_JOB;
		if (n - pos < j.recalls_len || j.partition >= m->partitions ||
		    j.first_segno > j.last_segno ||
		    log_manifest_recalls_check(j.recalls, j.recalls_len,
					       j.nrecalls) != 0) {
			cf_errmsg_printf(errmsg, "manifest: bad job %u",
					 (unsigned)i);
			return CF_ECORRUPT;
		}
		pos += j.recalls_len;
		rv = log_manifest_add_job(m, &j);
		if (rv != 0)
			return rv;
	}
	if (nerase > 0) {
		uint32_t len;

		if (n - pos < 4)
			goto bad;
		len = cf_get_u32(p + pos);
		pos += 4;
		if (n - pos < len ||
		    man_erase_check(p + pos, len, nerase, m->partitions) != 0) {
			cf_errmsg_printf(errmsg, "manifest: bad erase list");
			return CF_ECORRUPT;
		}
		rv = log_manifest_set_erase(m, p + pos, len, nerase);
		if (rv != 0)
			return rv;
		pos += len;
	}
	if (pos == n)
		return 0;
bad:
	cf_errmsg_printf(errmsg, "manifest: %zu bytes for %u cold files and "
				 "%u jobs",
			 n, (unsigned)ncolds, (unsigned)njobs);
	return CF_ECORRUPT;
}

int log_manifest_decode(const void *buf, size_t n, struct log_manifest *m,
			char *errmsg)
{
	const uint8_t *p = buf;
	uint32_t count, ncolds = 0, njobs = 0, nerase = 0;
	uint32_t version;
	size_t hdr, fixed;
	int rv;

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
	if (memcmp(p, MAN_MAGIC, 8) != 0) {
		cf_errmsg_printf(errmsg, "manifest: bad magic");
		return CF_ECORRUPT;
	}
	version = cf_get_u32(p + 8);
	if (version < 1 || version > MAN_VERSION) {
		cf_errmsg_printf(errmsg, "manifest: unknown version %u",
				 (unsigned)version);
		return CF_EVERSION;
	}
	hdr = version == 1   ? MAN_HDR_V1
	      : version == 2 ? MAN_HDR_V2
	      : version == 3 ? MAN_HDR_V3
			     : MAN_HDR;
	count = cf_get_u32(p + 24);
	if (n < hdr + MAN_SUM) {
		cf_errmsg_printf(errmsg, "manifest: short (%zu bytes)", n);
		return CF_ECORRUPT;
	}
	if (version >= 3) {
		ncolds = cf_get_u32(p + 28);
		njobs = cf_get_u32(p + 48);
		nerase = cf_get_u32(p + 52);
	} else if (cf_get_u32(p + 28) != 0) {
		cf_errmsg_printf(errmsg, "manifest: bad header");
		return CF_ECORRUPT;
	}
	fixed = hdr + (size_t)count * MAN_ENTRY + MAN_SUM;
	if ((uint64_t)hdr + (uint64_t)count * MAN_ENTRY + MAN_SUM > n ||
	    (version < 3 && fixed != n)) {
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
	if (version >= 4)
		m->image_index = cf_get_u64(p + 56);
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
	if (version >= 3) {
		rv = man_decode_v3(p, n - fixed, ncolds, njobs, nerase, m,
				   errmsg);
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

	fd = cf_vfs_openat(dirfd, LOG_MANIFEST_NAME, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		if (errno == ENOENT)
			return CF_ENOTFOUND;
		rv = -errno;
		cf_errmsg_printf(errmsg, "manifest: open: %s", cf_strerror(rv));
		return rv;
	}
	if (cf_vfs_fstat(fd, &st) != 0) {
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
	cf_vfs_close(fd);
	return 0;

err_free:
	cf_buf_release(&buf);
err_close:
	cf_vfs_close(fd);
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
	fd = cf_vfs_openat(dirfd, LOG_MANIFEST_TMP,
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
	if (cf_vfs_fsync(fd) != 0) {
		rv = -errno;
		goto err_close;
	}
	cf_vfs_close(fd);
	step = "rename";
	if (cf_vfs_renameat(dirfd, LOG_MANIFEST_TMP, dirfd,
			    LOG_MANIFEST_NAME) != 0) {
		rv = -errno;
		goto err_free;
	}
	step = "fsync folder";
	if (cf_vfs_fsync(dirfd) != 0) {
		rv = -errno;
		goto err_free;
	}
	cf_buf_release(&buf);
	return 0;

err_close:
	cf_vfs_close(fd);
err_free:
	cf_buf_release(&buf);
err:
	cf_errmsg_printf(errmsg, "manifest: %s: %s", step, cf_strerror(rv));
	assert(rv != 0);
	return rv;
}
