#include "config.h"
/*
 * sync_search_norm: see sync_search_norm.h. libunistring does the Unicode
 * work (case folding, normalisation, categories); this file only walks
 * code points and groups them.
 */
#include "sync/sync_search_norm.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include "common/cf_err.h"

/*
 * Code points of one CJK run before it is cut (a longer run goes on, the
 * parts overlapping by one character).
 */
#define RUN_MAX 128

static bool is_cjk(ucs4_t c)
{
	return (c >= 0x1100 && c <= 0x11FF) ||	 /* Hangul Jamo */
	       (c >= 0x2E80 && c <= 0x2FDF) ||	 /* CJK radicals */
	       (c >= 0x3005 && c <= 0x3007) ||	 /* 々 〆 〇 */
	       (c >= 0x3021 && c <= 0x3029) ||	 /* Hangzhou numerals */
	       (c >= 0x3040 && c <= 0x30FF) ||	 /* Hiragana, Katakana */
	       (c >= 0x3130 && c <= 0x318F) ||	 /* Hangul compat. Jamo */
	       (c >= 0x31F0 && c <= 0x31FF) ||	 /* Katakana ext. */
	       (c >= 0x3400 && c <= 0x4DBF) ||	 /* Han ext. A */
	       (c >= 0x4E00 && c <= 0x9FFF) ||	 /* Han */
	       (c >= 0xA960 && c <= 0xA97F) ||	 /* Hangul Jamo ext. A */
	       (c >= 0xAC00 && c <= 0xD7FF) ||	 /* Hangul syllables, B */
	       (c >= 0xF900 && c <= 0xFAFF) ||	 /* Han compatibility */
	       (c >= 0xFF66 && c <= 0xFF9F) ||	 /* halfwidth Katakana */
	       (c >= 0x20000 && c <= 0x3FFFF);	 /* Han ext. B.. */
}

static bool is_word(ucs4_t c)
{
	if (c < 0x80) /* letters and digits: the ASCII of L, N (and no M) */
		return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
		       (c >= '0' && c <= '9');
	return uc_is_general_category(c, UC_CATEGORY_L) ||
	       uc_is_general_category(c, UC_CATEGORY_N) ||
	       uc_is_general_category(c, UC_CATEGORY_M);
}

/* s with every invalid sequence (and NUL) replaced by a space: a copy. */
static uint8_t *sanitize(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	uint8_t *o = malloc(len + 1);
	size_t i = 0;

	if (o == NULL)
		return NULL;
	while (i < len) {
		ucs4_t c;
		int n = u8_mbtoucr(&c, p + i, len - i);

		if (n <= 0 || c == 0) {
			o[i++] = ' ';
			continue;
		}
		memcpy(o + i, p + i, (size_t)n);
		i += (size_t)n;
	}
	return o;
}

/*
 * The folded, mark-free, recomposed form of s (malloc'd, *n bytes, no
 * NUL), or NULL with errno.
 */
static uint8_t *fold(const char *s, size_t len, size_t *n)
{
	uint8_t *clean = NULL, *f = NULL, *nf = NULL;
	size_t flen = 0, j = 0;

	*n = 0;
	if (len == 0)
		return calloc(1, 1);
	/*
	 * Issue 14: ASCII text (most chat) needs none of it: its NFKD and
	 * NFC forms are itself, it has no marks, and its case folding is
	 * A-Z to a-z. NUL becomes a space as in sanitize().
	 */
	{
		size_t i = 0;

		while (i < len && (unsigned char)s[i] < 0x80)
			i++;
		if (i == len) {
			f = malloc(len);
			if (f == NULL)
				return NULL;
			for (i = 0; i < len; i++) {
				char c = s[i];

				f[i] = c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32)
				       : c == '\0'	     ? ' '
							     : (uint8_t)c;
			}
			*n = len;
			return f;
		}
	}
	clean = sanitize(s, len);
	if (clean == NULL)
		return NULL;
	f = u8_casefold(clean, len, NULL, UNINORM_NFKD, NULL, &flen);
	free(clean);
	if (f == NULL)
		return NULL;
	/* Drop combining marks in place, kana voicing marks kept. */
	for (size_t i = 0; i < flen;) {
		ucs4_t c;
		int k = u8_mbtouc(&c, f + i, flen - i);

		if (k <= 0)
			k = 1;
		if (!(uc_is_general_category(c, UC_CATEGORY_M) &&
		      c != 0x3099 && c != 0x309A)) {
			memmove(f + j, f + i, (size_t)k);
			j += (size_t)k;
		}
		i += (size_t)k;
	}
	if (j == 0) {
		free(f);
		return calloc(1, 1);
	}
	nf = u8_normalize(UNINORM_NFC, f, j, NULL, n);
	free(f);
	return nf;
}

/* Where the tokens go: the buffer, and whether they form a query. */
struct out {
	struct cf_buf *b;
	bool query;
	unsigned terms;
	int rv;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (o->rv == 0)
		o->rv = cf_buf_append(o->b, p, n);
}

static void sep(struct out *o)
{
	if (o->b->len > 0 && o->rv == 0 &&
	    o->b->data[o->b->len - 1] != ' ')
		put(o, " ", 1);
}

static bool term_room(struct out *o)
{
	if (!o->query)
		return true;
	if (o->terms >= SYNC_SEARCH_TERMS_MAX)
		return false;
	o->terms++;
	return true;
}

static void emit_word(struct out *o, const uint8_t *p, size_t n,
		      size_t chars)
{
	if (!term_room(o))
		return;
	sep(o);
	if (o->query)
		put(o, "\"", 1);
	put(o, p, n);
	if (o->query)
		put(o, chars >= 3 ? "\"*" : "\"", chars >= 3 ? 2 : 1);
}

/*
 * A CJK run: offsets of its code points in p, count n (1..RUN_MAX); cut:
 * the run goes on (its last character starts the next part), so no final
 * unigram comes between the bigrams and a phrase across the cut matches.
 */
static void emit_run(struct out *o, const uint8_t *p, const size_t *at,
		     size_t n, size_t end, bool cut)
{
	if (!term_room(o))
		return;
	sep(o);
	if (n == 1) {
		if (o->query)
			put(o, "\"", 1);
		put(o, p + at[0], end - at[0]);
		if (o->query)
			put(o, "\"*", 2);
		return;
	}
	if (o->query)
		put(o, "\"", 1);
	for (size_t i = 0; i + 1 < n; i++) {
		size_t e = i + 2 < n ? at[i + 2] : end;

		if (i > 0)
			put(o, " ", 1);
		put(o, p + at[i], e - at[i]);
	}
	if (o->query) {
		/* A cut query run: phrases of its parts, all required. */
		put(o, "\"", 1);
		return;
	}
	if (cut)
		return;
	put(o, " ", 1);
	put(o, p + at[n - 1], end - at[n - 1]);
}

static int tokens(const char *s, size_t len, struct out *o)
{
	size_t n = 0, i = 0;
	uint8_t *p = fold(s, len, &n);
	size_t at[RUN_MAX];
	size_t run = 0;		/* CJK code points in at[] */
	size_t w0 = 0, wchars = 0; /* current word: start, characters */
	bool in_word = false;

	if (p == NULL)
		return errno == ENOMEM ? -ENOMEM : CF_EBADREQ;
	while (i <= n) {
		ucs4_t c = 0;
		int k = 1;

		if (i < n) {
			k = u8_mbtouc(&c, p + i, n - i);
			if (k <= 0)
				k = 1;
		}
		bool cjk = i < n && is_cjk(c);
		bool word = i < n && !cjk && is_word(c);

		if (run > 0 && (!cjk || run == RUN_MAX)) {
			emit_run(o, p, at, run, i, cjk);
			/* A cut long run overlaps by one character. */
			if (cjk) {
				at[0] = at[run - 1];
				run = 1;
			} else {
				run = 0;
			}
		}
		if (in_word && !word) {
			emit_word(o, p + w0, i - w0, wchars);
			in_word = false;
		}
		if (cjk)
			at[run++] = i;
		else if (word && !in_word) {
			in_word = true;
			w0 = i;
			wchars = 0;
		}
		if (word)
			wchars++;
		i += (size_t)k;
	}
	free(p);
	if (o->rv == 0)
		o->rv = cf_buf_reserve(o->b, 1);
	if (o->rv == 0)
		o->b->data[o->b->len] = '\0';
	return o->rv;
}

int sync_search_norm_text(const char *s, size_t len, struct cf_buf *out)
{
	struct out o = {out, false, 0, 0};

	return tokens(s, len, &o);
}

int sync_search_norm_query(const char *s, size_t len, struct cf_buf *out,
			   unsigned *terms)
{
	struct out o = {out, true, 0, 0};
	size_t start = out->len;
	int rv = tokens(s, len, &o);

	if (terms != NULL)
		*terms = o.terms;
	if (rv == 0 && o.terms == 0) {
		cf_buf_truncate(out, start);
		return CF_EBADREQ;
	}
	return rv;
}
