#include "config.h"

/* fe_json_fast: see fe_json_fast.h. */

#include "frontend/fe_json_fast.h"

#include <stdint.h>
#include <string.h>

#include "common/cf_id.h"

enum { K_CONV, K_CMID, K_TYPE_MSG, K_CONTENT, K_TYPE, K_ID, K_N };

struct scan {
	const uint8_t *p, *end;
	struct cf_buf *scratch;
	size_t len;
	char *dec; /* next free byte of the scratch, NULL until an escape */
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
				 *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/*
 * Length of the UTF-8 sequence at p (at most n bytes), as jansson accepts
 * it: no overlong forms, no surrogates, nothing past U+10FFFF; 0: invalid.
 */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/*
 * A string at s->p (its opening quote): *out points at its text, in the
 * input or, when it has escapes, decoded into the scratch. 0: not one this
 * scanner takes.
 */
static int scan_string(struct scan *s, struct cf_str *out)
{
	const uint8_t *start;
	char *d = NULL;

	if (s->p >= s->end || *s->p != '"')
		return 0;
	start = ++s->p;
	while (s->p < s->end) {
		uint8_t c = *s->p;
		size_t n;

		if (c == '"') {
			if (d == NULL) {
				out->p = (const char *)start;
				out->len = (size_t)(s->p - start);
			} else {
				out->p = s->dec;
				out->len = (size_t)(d - s->dec);
				s->dec = d;
			}
			s->p++;
			return 1;
		}
		if (c < 0x20)
			return 0; /* jansson refuses it: its error */
		if (c == '\\') {
			char e;

			if (s->p + 1 >= s->end)
				return 0;
			switch (s->p[1]) {
			case '"': e = '"'; break;
			case '\\': e = '\\'; break;
			case '/': e = '/'; break;
			case 'b': e = '\b'; break;
			case 'f': e = '\f'; break;
			case 'n': e = '\n'; break;
			case 'r': e = '\r'; break;
			case 't': e = '\t'; break;
			default: return 0; /* \u and errors: jansson */
			}
			if (d == NULL) {
				size_t done = (size_t)(s->p - start);

				/* Reserved once, at the first escape (most
				 * sends have none): decoded strings never
				 * outgrow the input, so they never move. */
				if (s->dec == NULL) {
					if (cf_buf_reserve(s->scratch, s->len) != 0)
						return 0;
					s->dec = s->scratch->data + s->scratch->len;
				}
				memcpy(s->dec, start, done);
				d = s->dec + done;
			}
			*d++ = e;
			s->p += 2;
			continue;
		}
		n = utf8_seq(s->p, (size_t)(s->end - s->p));
		if (n == 0)
			return 0;
		if (d != NULL) {
			memcpy(d, s->p, n);
			d += n;
		}
		s->p += n;
	}
	return 0;
}

static int key_of(struct cf_str k, bool ws)
{
	static const char *const names[K_N] = {
		"conversationId", "clientMsgId", "msgType",
		"content",	  "type",	 "id"};

	for (int i = 0; i < (ws ? K_N : K_TYPE); i++)
		if (strlen(names[i]) == k.len &&
		    memcmp(names[i], k.p, k.len) == 0)
			return i;
	return -1;
}

int fe_send_scan(const char *text, size_t len, bool ws,
		 struct fe_send_scan *out, struct cf_buf *scratch)
{
	struct cf_str v[K_N] = {{0}};
	bool seen[K_N] = {false};
	struct scan s;

	/* Nothing to scan (and no pointer arithmetic on an empty input:
	 * found by fuzz_scan, corpus/scan/crash-empty-body). */
	if (len == 0)
		return 0;
	s.p = (const uint8_t *)text;
	s.end = s.p + len;
	s.scratch = scratch;
	s.len = len;
	s.dec = NULL;
	skip_ws(&s);
	if (s.p >= s.end || *s.p++ != '{')
		return 0;
	skip_ws(&s);
	if (s.p < s.end && *s.p == '}')
		return 0; /* empty: jansson's "is required" */
	for (;;) {
		struct cf_str k;
		int i;

		if (!scan_string(&s, &k)) /* an escaped key matches none */
			return 0;
		i = key_of(k, ws);
		if (i < 0 || seen[i])
			return 0;
		seen[i] = true;
		skip_ws(&s);
		if (s.p >= s.end || *s.p++ != ':')
			return 0;
		skip_ws(&s);
		if (!scan_string(&s, &v[i]))
			return 0;
		skip_ws(&s);
		if (s.p >= s.end)
			return 0;
		if (*s.p == '}')
			break;
		if (*s.p++ != ',')
			return 0;
		skip_ws(&s);
	}
	s.p++;
	skip_ws(&s);
	if (s.p != s.end)
		return 0;
	if (!seen[K_CONV] || !cf_id_valid(v[K_CONV].p, v[K_CONV].len) ||
	    !seen[K_CMID] || !cf_id_valid(v[K_CMID].p, v[K_CMID].len) ||
	    (seen[K_TYPE_MSG] &&
	     !cf_msg_type_valid(v[K_TYPE_MSG].p, v[K_TYPE_MSG].len)) ||
	    !seen[K_CONTENT] ||
	    memchr(v[K_CONTENT].p, '@', v[K_CONTENT].len) != NULL)
		return 0;
	if (ws && (!seen[K_TYPE] || v[K_TYPE].len != 4 ||
		   memcmp(v[K_TYPE].p, "send", 4) != 0))
		return 0;
	out->conv = v[K_CONV];
	out->cmid = v[K_CMID];
	out->msg_type = v[K_TYPE_MSG];
	out->content = v[K_CONTENT];
	out->id = v[K_ID];
	return 1;
}
