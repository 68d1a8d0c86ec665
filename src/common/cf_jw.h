/*
 * cf_jw: a JSON text writer into a cf_buf, for the answers that are built
 * per message on hot paths (a history page of 50 messages built as jansson
 * objects costs about a thousand allocations; written as text it costs the
 * buffer's growth only). Jansson stays the reader and the builder of every
 * other answer; these helpers write what json_dumps(JSON_COMPACT) would:
 * strings escaped as RFC 8259 requires ('"', '\\' and the controls below
 * U+0020; "\n" style for the common ones, "\u00XX" for the rest), UTF-8
 * passed through, and an invalid UTF-8 byte written as U+FFFD, so that the
 * output is valid JSON for any input bytes (jansson would refuse such a
 * string).
 *
 * Ownership: the caller owns the buffer. Errors: 0 or -ENOMEM; on failure
 * the buffer holds a prefix of the text (callers discard it).
 * Threads: any; no shared state.
 */
#ifndef CF_JW_H
#define CF_JW_H

#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"

/* The string p[0..len) as a JSON string, quotes included. */
int cf_jw_str(struct cf_buf *b, const char *p, size_t len);
/* "key": (the key is written as given: a literal without escapes). */
int cf_jw_key(struct cf_buf *b, const char *key);
/* Unsigned / signed decimal integers. */
int cf_jw_u64(struct cf_buf *b, uint64_t v);
int cf_jw_i64(struct cf_buf *b, int64_t v);
/* Raw text (punctuation, literals, already-encoded JSON). */
static inline int cf_jw_raw(struct cf_buf *b, const char *p, size_t n)
{
	return cf_buf_append(b, p, n);
}
static inline int cf_jw_lit(struct cf_buf *b, const char *s)
{
	return cf_buf_append(b, s, strlen(s));
}

#endif
