#include "config.h"

#include "common/cf_jw.h"

/* Length of the valid UTF-8 sequence at p[0..n), or 0 if it is not one
 * (overlongs, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t need;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		need = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((need == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (need == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return need;
}

int cf_jw_str(struct cf_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	size_t run = 0; /* start of the bytes not written yet */
	size_t i = 0;
	int rv;

	/* Most strings need no escape: reserve for that case once. */
	rv = cf_buf_reserve(b, len + 2);
	if (rv != 0)
		return rv;
	b->data[b->len++] = '"';
	while (i < len) {
		char esc[8];
		size_t elen = 0;
		size_t k;

		if (p[i] >= 0x20 && p[i] != '"' && p[i] != '\\' &&
		    p[i] < 0x80) {
			i++;
			continue;
		}
		if (p[i] >= 0x80) {
			k = utf8_len(p + i, len - i);
			if (k > 0) {
				i += k;
				continue;
			}
			memcpy(esc, "\xEF\xBF\xBD", 3); /* U+FFFD */
			elen = 3;
		} else {
			esc[0] = '\\';
			elen = 2;
			switch (p[i]) {
			case '"': esc[1] = '"'; break;
			case '\\': esc[1] = '\\'; break;
			case '\b': esc[1] = 'b'; break;
			case '\f': esc[1] = 'f'; break;
			case '\n': esc[1] = 'n'; break;
			case '\r': esc[1] = 'r'; break;
			case '\t': esc[1] = 't'; break;
			default:
				memcpy(esc + 1, "u00", 3);
				esc[4] = hex[p[i] >> 4];
				esc[5] = hex[p[i] & 15];
				elen = 6;
			}
		}
		if ((rv = cf_buf_append(b, s + run, i - run)) != 0 ||
		    (rv = cf_buf_append(b, esc, elen)) != 0)
			return rv;
		i++;
		run = i;
	}
	if ((rv = cf_buf_append(b, s + run, i - run)) != 0)
		return rv;
	return cf_buf_append(b, "\"", 1);
}

int cf_jw_key(struct cf_buf *b, const char *key)
{
	size_t n = strlen(key);
	int rv = cf_buf_reserve(b, n + 3);

	if (rv != 0)
		return rv;
	b->data[b->len++] = '"';
	memcpy(b->data + b->len, key, n);
	b->len += n;
	b->data[b->len++] = '"';
	b->data[b->len++] = ':';
	return 0;
}

int cf_jw_u64(struct cf_buf *b, uint64_t v)
{
	char tmp[24];
	size_t n = 0;

	do {
		tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return cf_buf_append(b, tmp + sizeof tmp - n, n);
}

int cf_jw_i64(struct cf_buf *b, int64_t v)
{
	int rv;

	if (v >= 0)
		return cf_jw_u64(b, (uint64_t)v);
	rv = cf_buf_append(b, "-", 1);
	if (rv != 0)
		return rv;
	return cf_jw_u64(b, (uint64_t)0 - (uint64_t)v);
}
