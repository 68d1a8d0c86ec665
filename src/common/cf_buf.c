#include "config.h"

#include "common/cf_buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void cf_buf_init(struct cf_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void cf_buf_release(struct cf_buf *b)
{
	free(b->data);
	cf_buf_init(b);
}

int cf_buf_reserve(struct cf_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->cap - b->len >= n)
		return 0;
	if (n > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	cap = b->cap != 0 ? b->cap : 64;
	while (cap - b->len < n)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int cf_buf_append(struct cf_buf *b, const void *p, size_t n)
{
	int rv;

	if (n == 0)
		return 0;
	rv = cf_buf_reserve(b, n);
	if (rv != 0)
		return rv;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int cf_buf_appendf(struct cf_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	int rv;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	rv = cf_buf_reserve(b, (size_t)n + 1);
	if (rv != 0)
		return rv;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int cf_buf_zero(struct cf_buf *b, size_t n)
{
	int rv;

	if (n == 0)
		return 0;
	rv = cf_buf_reserve(b, n);
	if (rv != 0)
		return rv;
	memset(b->data + b->len, 0, n);
	b->len += n;
	return 0;
}

int cf_buf_put_u8(struct cf_buf *b, uint8_t v)
{
	return cf_buf_append(b, &v, 1);
}

int cf_buf_put_u16(struct cf_buf *b, uint16_t v)
{
	uint8_t q[2];

	cf_put_u16(q, v);
	return cf_buf_append(b, q, sizeof q);
}

int cf_buf_put_u32(struct cf_buf *b, uint32_t v)
{
	uint8_t q[4];

	cf_put_u32(q, v);
	return cf_buf_append(b, q, sizeof q);
}

int cf_buf_put_u64(struct cf_buf *b, uint64_t v)
{
	uint8_t q[8];

	cf_put_u64(q, v);
	return cf_buf_append(b, q, sizeof q);
}

void cf_buf_consume(struct cf_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

char *cf_buf_detach(struct cf_buf *b, size_t *len)
{
	char *p = b->data;

	if (len != NULL)
		*len = b->len;
	cf_buf_init(b);
	return p;
}
