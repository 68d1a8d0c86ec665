#include "config.h"

/* fe_mention: see fe_mention.h. */

#include "frontend/fe_mention.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_id.h"

static bool id_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
	       c == '@' || c == '-';
}

/* A letter of an alphabet written with spaces (see the top). */
static bool word_letter(uint32_t cp)
{
	if (cp >= 0xC0 && cp <= 0x24F)
		return cp != 0xD7 && cp != 0xF7;
	return (cp >= 0x370 && cp <= 0x3FF) || (cp >= 0x400 && cp <= 0x4FF);
}

/*
 * The code point that ends just before text[at] (at > 0), decoded leniently:
 * a broken sequence reads as U+FFFD, which starts a word.
 */
static uint32_t cp_before(struct cf_str text, size_t at)
{
	const unsigned char *s = (const unsigned char *)text.p;
	size_t i = at - 1, n;
	uint32_t cp;

	if (s[i] < 0x80)
		return s[i];
	while (i > 0 && at - i < 4 && (s[i] & 0xC0) == 0x80)
		i--;
	n = at - i;
	if (n == 2 && (s[i] & 0xE0) == 0xC0)
		cp = s[i] & 0x1F;
	else if (n == 3 && (s[i] & 0xF0) == 0xE0)
		cp = s[i] & 0x0F;
	else if (n == 4 && (s[i] & 0xF8) == 0xF0)
		cp = s[i] & 0x07;
	else
		return 0xFFFD;
	for (size_t k = i + 1; k < at; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0xFFFD;
		cp = cp << 6 | (s[k] & 0x3F);
	}
	return cp;
}

static bool starts_word(struct cf_str text, size_t at)
{
	uint32_t cp;

	if (at == 0)
		return true;
	cp = cp_before(text, at);
	if (cp < 0x80)
		return !id_byte((unsigned char)cp);
	return !word_letter(cp);
}

bool fe_mention_next(struct cf_str text, size_t *pos, struct cf_str *run)
{
	size_t i = *pos;

	while (i < text.len) {
		const char *at = memchr(text.p + i, '@', text.len - i);
		size_t a, e;

		if (at == NULL)
			break;
		a = (size_t)(at - text.p);
		e = a + 1;
		while (e < text.len && id_byte((unsigned char)text.p[e]))
			e++;
		i = e > a + 1 ? e : a + 1;
		if (e == a + 1 || !starts_word(text, a))
			continue; /* a lone '@', or inside a word */
		run->p = text.p + a + 1;
		run->len = e - a - 1;
		*pos = i;
		return true;
	}
	*pos = text.len;
	return false;
}

static bool trailing(char c)
{
	return c == '.' || c == ':' || c == '-' || c == '_' || c == '@';
}

bool fe_mention_resolve(struct cf_str run, fe_mention_member_fn is_member,
			void *arg, struct cf_str *id)
{
	struct cf_str c = run;

	while (c.len > 0) {
		if (c.len <= CF_ID_MAX && cf_id_valid(c.p, c.len) &&
		    is_member(arg, c)) {
			*id = c;
			return true;
		}
		if (!trailing(c.p[c.len - 1]))
			break;
		c.len--;
	}
	return false;
}

static int id_cmp(const void *pa, const void *pb)
{
	const struct cf_str *a = pa, *b = pb;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n > 0 ? memcmp(a->p, b->p, n) : 0;

	if (c != 0)
		return c;
	return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

static bool has(const struct cf_str *v, unsigned n, struct cf_str id)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i].len == id.len && memcmp(v[i].p, id.p, id.len) == 0)
			return true;
	return false;
}

unsigned fe_mention_list(struct cf_str text, const struct cf_str *explicit,
			 unsigned n_explicit, fe_mention_member_fn is_member,
			 void *arg, struct cf_str *out, unsigned max)
{
	struct cf_str run, id;
	size_t pos = 0;
	unsigned n = 0;

	for (unsigned i = 0; i < n_explicit && n < max; i++)
		if (!has(out, n, explicit[i]))
			out[n++] = explicit[i];
	while (n < max && fe_mention_next(text, &pos, &run))
		if (fe_mention_resolve(run, is_member, arg, &id) &&
		    !has(out, n, id))
			out[n++] = id;
	if (n > 1)
		qsort(out, n, sizeof *out, id_cmp);
	return n;
}
