#include "config.h"

/*
 * cf_img: see cf_img.h. The writer keeps a 1 MiB buffer and an XXH3
 * streaming state over every byte it hands to write(2); finish appends the
 * 64-bit digest (little-endian) of everything before it. A section is
 * framed as u32 tag, payload, u32 (tag ^ CF_IMG_END_XOR), so that a reader
 * out of step fails at the section's end at the latest.
 */

#include "common/cf_img.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/cf_err.h"
#include "common/cf_vfs.h"

#define IMGW_BUF (1u << 20)
#define CF_IMG_END_XOR 0x454e4421u /* "!DNE" */

int cf_imgw_init(struct cf_imgw *w, int fd)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->buf = malloc(IMGW_BUF);
	w->xxh = XXH3_createState();
	if (w->buf == NULL || w->xxh == NULL) {
		cf_imgw_release(w);
		return -ENOMEM;
	}
	w->cap = IMGW_BUF;
	XXH3_64bits_reset(w->xxh);
	return 0;
}

void cf_imgw_release(struct cf_imgw *w)
{
	free(w->buf);
	if (w->xxh != NULL)
		XXH3_freeState(w->xxh);
	w->buf = NULL;
	w->xxh = NULL;
	w->cap = w->len = 0;
}

static void imgw_flush(struct cf_imgw *w)
{
	size_t done = 0;

	if (w->err != 0 || w->len == 0)
		return;
	XXH3_64bits_update(w->xxh, w->buf, w->len);
	while (done < w->len) {
		ssize_t n = cf_vfs_write(w->fd, w->buf + done, w->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			w->err = n < 0 ? -errno : -EIO;
			return;
		}
		done += (size_t)n;
	}
	w->len = 0;
}

void cf_imgw_bytes(struct cf_imgw *w, const void *p, size_t n)
{
	const uint8_t *q = p;

	while (n > 0 && w->err == 0) {
		size_t k = w->cap - w->len;

		if (k == 0) {
			imgw_flush(w);
			continue;
		}
		if (k > n)
			k = n;
		memcpy(w->buf + w->len, q, k);
		w->len += k;
		w->bytes += k;
		q += k;
		n -= k;
	}
}

void cf_imgw_u8(struct cf_imgw *w, uint8_t v)
{
	cf_imgw_bytes(w, &v, 1);
}

void cf_imgw_u32(struct cf_imgw *w, uint32_t v)
{
	uint8_t b[4];

	cf_put_u32(b, v);
	cf_imgw_bytes(w, b, 4);
}

void cf_imgw_u64(struct cf_imgw *w, uint64_t v)
{
	uint8_t b[8];

	cf_put_u64(b, v);
	cf_imgw_bytes(w, b, 8);
}

void cf_imgw_str(struct cf_imgw *w, const char *p, size_t n)
{
	if (n > UINT32_MAX) {
		if (w->err == 0)
			w->err = -EOVERFLOW;
		return;
	}
	cf_imgw_u32(w, (uint32_t)n);
	if (n > 0)
		cf_imgw_bytes(w, p, n);
}

void cf_imgw_cstr(struct cf_imgw *w, const char *s)
{
	cf_imgw_str(w, s, s != NULL ? strlen(s) : 0);
}

void cf_imgw_begin(struct cf_imgw *w, uint32_t tag)
{
	cf_imgw_u32(w, tag);
}

void cf_imgw_end(struct cf_imgw *w, uint32_t tag)
{
	cf_imgw_u32(w, tag ^ CF_IMG_END_XOR);
}

int cf_imgw_finish(struct cf_imgw *w)
{
	uint8_t b[8];
	ssize_t n;

	imgw_flush(w);
	if (w->err != 0)
		return w->err;
	cf_put_u64(b, XXH3_64bits_digest(w->xxh));
	do
		n = cf_vfs_write(w->fd, b, sizeof(b));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(b))
		w->err = n < 0 ? -errno : -EIO;
	else
		w->bytes += sizeof(b);
	return w->err;
}

/* ---------------------------------------------------------------- read */

int cf_img_map(struct cf_img_map *m, int fd)
{
	struct stat st;
	void *p;

	memset(m, 0, sizeof(*m));
	if (fstat(fd, &st) != 0)
		return -errno;
	if (st.st_size < 8 || (uint64_t)st.st_size > SIZE_MAX)
		return CF_ECORRUPT;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	(void)madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
	m->p = p;
	m->maplen = (size_t)st.st_size;
	m->len = m->maplen - 8;
	if (XXH3_64bits(m->p, m->len) != cf_get_u64(m->p + m->len)) {
		cf_img_unmap(m);
		return CF_ECORRUPT;
	}
	return 0;
}

void cf_img_unmap(struct cf_img_map *m)
{
	if (m->p != NULL)
		munmap((void *)m->p, m->maplen);
	memset(m, 0, sizeof(*m));
}

void cf_imgr_init(struct cf_imgr *r, const struct cf_img_map *m)
{
	r->p = m->p;
	r->end = m->p + m->len;
	r->err = 0;
}

void cf_imgr_fail(struct cf_imgr *r)
{
	if (r->err == 0)
		r->err = CF_ECORRUPT;
}

size_t cf_imgr_left(const struct cf_imgr *r)
{
	return r->err != 0 ? 0 : (size_t)(r->end - r->p);
}

const void *cf_imgr_bytes(struct cf_imgr *r, size_t n)
{
	const uint8_t *p;

	if (r->err != 0)
		return NULL;
	if ((size_t)(r->end - r->p) < n) {
		cf_imgr_fail(r);
		return NULL;
	}
	p = r->p;
	r->p += n;
	return p;
}

uint8_t cf_imgr_u8(struct cf_imgr *r)
{
	const uint8_t *p = cf_imgr_bytes(r, 1);

	return p != NULL ? p[0] : 0;
}

uint32_t cf_imgr_u32(struct cf_imgr *r)
{
	const uint8_t *p = cf_imgr_bytes(r, 4);

	return p != NULL ? cf_get_u32(p) : 0;
}

uint64_t cf_imgr_u64(struct cf_imgr *r)
{
	const uint8_t *p = cf_imgr_bytes(r, 8);

	return p != NULL ? cf_get_u64(p) : 0;
}

struct cf_str cf_imgr_str(struct cf_imgr *r, size_t max)
{
	struct cf_str s = {"", 0};
	uint32_t n = cf_imgr_u32(r);
	const char *p;

	if (n > max) {
		cf_imgr_fail(r);
		return s;
	}
	p = cf_imgr_bytes(r, n);
	if (p != NULL) {
		s.p = p;
		s.len = n;
	}
	return s;
}

char *cf_imgr_strdup(struct cf_imgr *r, size_t max)
{
	struct cf_str s = cf_imgr_str(r, max);
	char *d;

	if (r->err != 0)
		return NULL;
	d = malloc(s.len + 1);
	if (d == NULL) {
		r->err = -ENOMEM;
		return NULL;
	}
	memcpy(d, s.p, s.len);
	d[s.len] = '\0';
	return d;
}

uint32_t cf_imgr_count(struct cf_imgr *r, size_t min_bytes)
{
	uint32_t n = cf_imgr_u32(r);

	if (min_bytes == 0)
		min_bytes = 1;
	if (r->err == 0 && (uint64_t)n > cf_imgr_left(r) / min_bytes) {
		cf_imgr_fail(r);
		return 0;
	}
	return n;
}

void cf_imgr_begin(struct cf_imgr *r, uint32_t tag)
{
	if (cf_imgr_u32(r) != tag)
		cf_imgr_fail(r);
}

void cf_imgr_end(struct cf_imgr *r, uint32_t tag)
{
	if (cf_imgr_u32(r) != (tag ^ CF_IMG_END_XOR))
		cf_imgr_fail(r);
}
