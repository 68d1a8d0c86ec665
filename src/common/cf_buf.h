/*
 * cf_buf: a growable byte buffer, plus little-endian put/get helpers.
 *
 * Ownership: a cf_buf owns its data. cf_buf_release() frees it and leaves an
 * empty buffer; cf_buf_detach() hands the bytes to the caller (free()).
 * Errors: functions that grow return 0 or -ENOMEM and leave the buffer
 * unchanged on failure. Threads: a buffer belongs to one thread at a time.
 */
#ifndef CF_BUF_H
#define CF_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cf_buf {
	char *data; /* NULL while cap == 0 */
	size_t len; /* bytes used */
	size_t cap; /* bytes allocated */
};

#define CF_BUF_INIT {NULL, 0, 0}

void cf_buf_init(struct cf_buf *b);
void cf_buf_release(struct cf_buf *b);
/* Make room for at least n more bytes. */
int cf_buf_reserve(struct cf_buf *b, size_t n);
int cf_buf_append(struct cf_buf *b, const void *p, size_t n);
int cf_buf_appendf(struct cf_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append n zero bytes. */
int cf_buf_zero(struct cf_buf *b, size_t n);
int cf_buf_put_u8(struct cf_buf *b, uint8_t v);
int cf_buf_put_u16(struct cf_buf *b, uint16_t v);
int cf_buf_put_u32(struct cf_buf *b, uint32_t v);
int cf_buf_put_u64(struct cf_buf *b, uint64_t v);
/* Drop everything from byte n on (n <= len). */
static inline void cf_buf_truncate(struct cf_buf *b, size_t n)
{
	if (n < b->len)
		b->len = n;
}
/* Remove the first n bytes, keeping the rest. */
void cf_buf_consume(struct cf_buf *b, size_t n);
/* Hand the bytes to the caller, who frees them; the buffer becomes empty. */
char *cf_buf_detach(struct cf_buf *b, size_t *len);

/* Little-endian accessors over raw memory (no alignment needed). */
static inline void cf_put_u16(void *p, uint16_t v)
{
	uint8_t *q = p;
	q[0] = (uint8_t)v;
	q[1] = (uint8_t)(v >> 8);
}
static inline void cf_put_u32(void *p, uint32_t v)
{
	uint8_t *q = p;
	for (int i = 0; i < 4; i++)
		q[i] = (uint8_t)(v >> (8 * i));
}
static inline void cf_put_u64(void *p, uint64_t v)
{
	uint8_t *q = p;
	for (int i = 0; i < 8; i++)
		q[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t cf_get_u16(const void *p)
{
	const uint8_t *q = p;
	return (uint16_t)(q[0] | (q[1] << 8));
}
static inline uint32_t cf_get_u32(const void *p)
{
	const uint8_t *q = p;
	return (uint32_t)q[0] | ((uint32_t)q[1] << 8) |
	       ((uint32_t)q[2] << 16) | ((uint32_t)q[3] << 24);
}
static inline uint64_t cf_get_u64(const void *p)
{
	const uint8_t *q = p;
	return (uint64_t)cf_get_u32(q) | ((uint64_t)cf_get_u32(q + 4) << 32);
}

/*
 * A bounded reader over bytes that came from disk or the network: every get
 * checks the remaining length, and once one fails the reader stays failed, so
 * a decoder checks `r.err` once at the end.
 */
struct cf_rd {
	const uint8_t *p;
	size_t left;
	int err; /* 0, or CF_ECORRUPT once a read ran past the end */
};

static inline void cf_rd_init(struct cf_rd *r, const void *p, size_t n)
{
	r->p = p;
	r->left = n;
	r->err = 0;
}
static inline const uint8_t *cf_rd_take(struct cf_rd *r, size_t n)
{
	const uint8_t *p;
	if (r->err != 0 || r->left < n) {
		r->err = -5001; /* CF_ECORRUPT */
		return NULL;
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}
static inline uint8_t cf_rd_u8(struct cf_rd *r)
{
	const uint8_t *p = cf_rd_take(r, 1);
	return p != NULL ? p[0] : 0;
}
static inline uint16_t cf_rd_u16(struct cf_rd *r)
{
	const uint8_t *p = cf_rd_take(r, 2);
	return p != NULL ? cf_get_u16(p) : 0;
}
static inline uint32_t cf_rd_u32(struct cf_rd *r)
{
	const uint8_t *p = cf_rd_take(r, 4);
	return p != NULL ? cf_get_u32(p) : 0;
}
static inline uint64_t cf_rd_u64(struct cf_rd *r)
{
	const uint8_t *p = cf_rd_take(r, 8);
	return p != NULL ? cf_get_u64(p) : 0;
}

/* A borrowed, length-delimited string (not NUL-terminated). */
struct cf_str {
	const char *p;
	size_t len;
};

#define CF_STR_LIT(s) ((struct cf_str){(s), sizeof(s) - 1})

static inline struct cf_str cf_str_c(const char *s)
{
	struct cf_str r = {s, s != NULL ? strlen(s) : 0};
	return r;
}
static inline int cf_str_eq(struct cf_str a, struct cf_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}
static inline int cf_str_eqc(struct cf_str a, const char *c)
{
	return cf_str_eq(a, cf_str_c(c));
}

#endif
