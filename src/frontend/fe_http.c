#include "config.h"

/*
 * fe_http: HTTP/1.1 requests over llhttp 8.1.0, one at a time.
 *
 * Flow of one fe_http_feed():
 *   1. While in a header section, scan the new bytes (state in p->scan,
 *      carried across reads) up to the empty line that ends the section:
 *      a CR not followed by LF, a bare LF, a line that starts with SP or
 *      HTAB (obs-fold, RFC 9112 section 5.2), a header name that is not a
 *      token (llhttp 8.1.0 takes "A B: v" and "Name : v", which RFC 9112
 *      section 5.1 refuses) and control bytes other than HTAB are refused
 *      with 400 before llhttp sees any of it, and a section longer than
 *      max_header_bytes is refused with 431. Empty lines before a request line are allowed, as
 *      llhttp allows them.
 *   2. Hand the scanned bytes (and, once the section is complete, the body
 *      bytes) to llhttp_execute(). Callbacks copy the URL, the tracked header
 *      values and the body into the parser's buffers.
 *   3. on_message_complete pauses llhttp (HPE_PAUSED), so execution stops at
 *      the last byte of the request; for an upgrade request it returns 0 and
 *      llhttp stops with HPE_PAUSED_UPGRADE. Either way llhttp_get_error_pos()
 *      marks the first byte not consumed. The next feed resumes llhttp.
 * Bytes after a request are neither scanned nor parsed by this call: they
 * stay with the caller, who feeds them again.
 */

#include "frontend/fe_http.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cf_err.h"

/* Header section scanner states. */
enum {
	SCAN_START,    /* before the request line; empty lines allowed */
	SCAN_START_CR, /* CR of an empty line before the request line */
	SCAN_METHOD,   /* the method of the request line */
	SCAN_TARGET,   /* the request target (counted for 414) */
	SCAN_LINE,     /* the rest of the request line, or a header value */
	SCAN_NAME,     /* inside a header name, before its colon */
	SCAN_CR,       /* CR ending a line */
	SCAN_LF,       /* first byte of a line */
	SCAN_LF_CR,    /* CR of the empty line ending the section */
	SCAN_BODY,     /* section complete: not scanning */
};

/* Lower-case names of enum fe_http_header, in order. */
static const char *const header_names[FE_HTTP_H_COUNT] = {
	"host",
	"authorization",
	"x-confab-user",
	"content-type",
	"content-length",
	"connection",
	"upgrade",
	"sec-websocket-key",
	"sec-websocket-version",
	"origin",
	"expect",
};

/* Keep a buffer that one large request grew from holding memory forever. */
#define KEEP_BYTES (64u * 1024u)

static int fail(struct fe_http_parser *p, int status, int err)
{
	if (p->err == 0) {
		p->status = status;
		p->err = err;
	}
	return p->err;
}

static void trim_buf(struct cf_buf *b)
{
	if (b->cap > KEEP_BYTES)
		cf_buf_release(b);
	b->len = 0;
}

/* A span's bytes get a NUL after them so that every value is a C string. */
static int store_nul(struct fe_http_parser *p)
{
	return cf_buf_put_u8(&p->store, 0);
}

static struct cf_str span_str(const struct fe_http_parser *p,
			      const struct fe_http__span *s)
{
	struct cf_str r = {NULL, 0};

	if (s->present) {
		r.p = p->store.data + s->off;
		r.len = s->len;
	}
	return r;
}

static int on_message_begin(llhttp_t *ll)
{
	struct fe_http_parser *p = ll->data;

	trim_buf(&p->store);
	trim_buf(&p->body);
	memset(&p->url, 0, sizeof p->url);
	memset(p->hs, 0, sizeof p->hs);
	p->field_len = 0;
	p->cur = -1;
	p->content_length = -1;
	p->url.off = 0;
	p->url.present = true;
	return 0;
}

/* The body limit of the request being parsed (big_body_path: see .h). */
static size_t body_limit(const struct fe_http_parser *p)
{
	const char *bp = p->limits.big_body_path;
	const char *u = (const char *)p->store.data + p->url.off;
	size_t n = p->url.len;

	if (bp == NULL || p->limits.big_body_bytes <= p->limits.max_body_bytes ||
	    p->ll.method != HTTP_POST || !p->url.present)
		return p->limits.max_body_bytes;
	if (memchr(u, '?', n) != NULL)
		n = (size_t)((const char *)memchr(u, '?', n) - u);
	if (n == strlen(bp) && memcmp(u, bp, n) == 0)
		return p->limits.big_body_bytes;
	return p->limits.max_body_bytes;
}

static int on_url(llhttp_t *ll, const char *at, size_t n)
{
	struct fe_http_parser *p = ll->data;

	/* the scanner keeps the target within max_url_bytes (414) */
	if (cf_buf_append(&p->store, at, n) != 0) {
		fail(p, 500, -ENOMEM);
		return -1;
	}
	p->url.len += (uint32_t)n;
	return 0;
}

static int on_url_complete(llhttp_t *ll)
{
	struct fe_http_parser *p = ll->data;

	if (store_nul(p) != 0) {
		fail(p, 500, -ENOMEM);
		return -1;
	}
	return 0;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t n)
{
	struct fe_http_parser *p = ll->data;
	size_t i;

	for (i = 0; i < n; i++) {
		if (p->field_len < sizeof p->field - 1) {
			char c = at[i];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			p->field[p->field_len] = c;
		}
		if (p->field_len < sizeof p->field)
			p->field_len++;
	}
	return 0;
}

static int on_header_field_complete(llhttp_t *ll)
{
	struct fe_http_parser *p = ll->data;
	struct fe_http__span *s;
	int i;

	p->cur = -1;
	if (p->field_len < sizeof p->field) {
		p->field[p->field_len] = '\0';
		for (i = 0; i < FE_HTTP_H_COUNT; i++)
			if (strcmp(p->field, header_names[i]) == 0)
				p->cur = i;
	}
	p->field_len = 0;
	if (p->cur < 0)
		return 0;
	s = &p->hs[p->cur];
	if (!s->present) {
		s->present = true;
		s->off = (uint32_t)p->store.len;
		return 0;
	}
	/*
	 * A repeated tracked header: list-valued ones are joined (RFC 9110
	 * section 5.3); any other repeat is ambiguous (two Hosts, two
	 * Authorizations) and refused. The earlier value is the last thing
	 * in the store only if nothing was stored since: move it to the end.
	 */
	if (p->cur != FE_HTTP_H_CONNECTION && p->cur != FE_HTTP_H_UPGRADE) {
		fail(p, 400, CF_EBADREQ);
		return -1;
	}
	if (s->off + s->len + 1 != p->store.len) {
		size_t off = p->store.len;
		if (cf_buf_reserve(&p->store, s->len) != 0) {
			fail(p, 500, -ENOMEM);
			return -1;
		}
		memcpy(p->store.data + off, p->store.data + s->off, s->len);
		p->store.len += s->len;
		s->off = (uint32_t)off;
	} else {
		p->store.len--; /* drop the NUL */
	}
	if (cf_buf_append(&p->store, ", ", 2) != 0) {
		fail(p, 500, -ENOMEM);
		return -1;
	}
	s->len += 2;
	return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t n)
{
	struct fe_http_parser *p = ll->data;

	if (p->cur < 0)
		return 0;
	if (cf_buf_append(&p->store, at, n) != 0) {
		fail(p, 500, -ENOMEM);
		return -1;
	}
	p->hs[p->cur].len += (uint32_t)n;
	return 0;
}

static int on_header_value_complete(llhttp_t *ll)
{
	struct fe_http_parser *p = ll->data;
	struct fe_http__span *s;

	if (p->cur < 0)
		return 0;
	s = &p->hs[p->cur];
	/* Trailing optional whitespace is not part of the value. */
	while (s->len > 0 && (p->store.data[s->off + s->len - 1] == ' ' ||
			      p->store.data[s->off + s->len - 1] == '\t')) {
		s->len--;
		p->store.len--;
	}
	p->cur = -1;
	if (store_nul(p) != 0) {
		fail(p, 500, -ENOMEM);
		return -1;
	}
	return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
	struct fe_http_parser *p = ll->data;

	if (ll->http_major != 1 || ll->http_minor > 1) {
		fail(p, 505, CF_EBADREQ);
		return -1;
	}
	if (ll->method == HTTP_CONNECT) {
		fail(p, 501, CF_EBADREQ);
		return -1;
	}
	if (ll->flags & F_CONTENT_LENGTH) {
		if (ll->content_length > body_limit(p)) {
			fail(p, 413, CF_ETOOBIG);
			return -1;
		}
		p->content_length = (int64_t)ll->content_length;
	}
	/* RFC 9110 section 10.1.1: only a request with a body waits */
	if (p->limits.report_continue && p->hs[FE_HTTP_H_EXPECT].present &&
	    ll->http_minor == 1 &&
	    ((ll->flags & F_CHUNKED) || p->content_length > 0)) {
		struct cf_str v = span_str(p, &p->hs[FE_HTTP_H_EXPECT]);
		if (v.len == 12 && strncasecmp(v.p, "100-continue", 12) == 0) {
			p->continue_ev = true;
			return HPE_PAUSED;
		}
	}
	return 0;
}

/*
 * A chunk's size line is complete: a chunk that would take the body over
 * its limit is refused now, not after the limit's worth of bytes arrived
 * (issue 11: "FFFFFFFFFFFFFFFF" held the connection until 1 MiB came).
 * tested: test_fe_http.c huge_chunk_size_is_413_at_once
 */
static int on_chunk_header(llhttp_t *ll)
{
	struct fe_http_parser *p = ll->data;
	size_t lim = body_limit(p);

	if (ll->content_length > lim || p->body.len > lim - ll->content_length) {
		fail(p, 413, CF_ETOOBIG);
		return -1;
	}
	return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t n)
{
	struct fe_http_parser *p = ll->data;

	/* tested: test_fe_http.c chunked_body_over_limit_is_413 */
	if (p->body.len + n > body_limit(p)) {
		fail(p, 413, CF_ETOOBIG);
		return -1;
	}
	if (cf_buf_append(&p->body, at, n) != 0) {
		fail(p, 500, -ENOMEM);
		return -1;
	}
	return 0;
}

static enum fe_http_method method_of(uint8_t m)
{
	switch (m) {
	case HTTP_GET:
		return FE_HTTP_GET;
	case HTTP_HEAD:
		return FE_HTTP_HEAD;
	case HTTP_POST:
		return FE_HTTP_POST;
	case HTTP_PUT:
		return FE_HTTP_PUT;
	case HTTP_DELETE:
		return FE_HTTP_DELETE;
	case HTTP_PATCH:
		return FE_HTTP_PATCH;
	case HTTP_OPTIONS:
		return FE_HTTP_OPTIONS;
	default:
		return FE_HTTP_OTHER;
	}
}

/*
 * Split the query into decoded parameters, appended to the store. Offsets
 * are kept first and turned into pointers at the end, since the store may
 * move while it grows: nothing may be appended to the store after this.
 */
static int decode_params(struct fe_http_parser *p, size_t qoff, size_t qlen)
{
	struct fe_http__span names[FE_HTTP_MAX_PARAMS];
	struct fe_http__span values[FE_HTTP_MAX_PARAMS];
	unsigned n = 0, i;
	size_t pos = 0;

	while (pos < qlen) {
		const char *q = p->store.data + qoff;
		size_t end = pos, eq, out;
		int rv;

		while (end < qlen && q[end] != '&')
			end++;
		if (end == pos) {
			pos++;
			continue;
		}
		if (n == FE_HTTP_MAX_PARAMS)
			return CF_EBADREQ;
		eq = pos;
		while (eq < end && q[eq] != '=')
			eq++;
		/* room for both decoded halves and their NULs */
		if (cf_buf_reserve(&p->store, end - pos + 2) != 0)
			return -ENOMEM;
		q = p->store.data + qoff;
		names[n].off = (uint32_t)p->store.len;
		rv = fe_http_pct_decode(q + pos, eq - pos,
					p->store.data + p->store.len, &out,
					true);
		if (rv != 0)
			return rv;
		names[n].len = (uint32_t)out;
		p->store.len += out + 1;
		values[n].off = (uint32_t)p->store.len;
		if (eq < end) {
			rv = fe_http_pct_decode(q + eq + 1, end - eq - 1,
						p->store.data + p->store.len,
						&out, true);
			if (rv != 0)
				return rv;
		} else {
			out = 0;
			p->store.data[p->store.len] = '\0';
		}
		values[n].len = (uint32_t)out;
		p->store.len += out + 1;
		n++;
		pos = end;
	}
	for (i = 0; i < n; i++) {
		p->req.params[i].name.p = p->store.data + names[i].off;
		p->req.params[i].name.len = names[i].len;
		p->req.params[i].value.p = p->store.data + values[i].off;
		p->req.params[i].value.len = values[i].len;
	}
	p->req.nparams = n;
	return 0;
}

/* Fill p->req from the finished message. */
static int finish_request(struct fe_http_parser *p)
{
	struct fe_http_req *r = &p->req;
	char *u;
	size_t ulen, start = 0, qs, qe, poff, qoff;
	int i, rv;

	memset(r, 0, sizeof *r);
	if (cf_buf_put_u8(&p->body, 0) != 0)
		return fail(p, 500, -ENOMEM);
	p->body.len--; /* the NUL stays after the bytes, uncounted */
	u = p->store.data;
	ulen = p->url.len;
	/* absolute-form (RFC 9112 section 3.2.2): keep only the path */
	if (ulen > 0 && u[0] != '/') {
		const char *s = memchr(u, ':', ulen);
		if (ulen == 1 && u[0] == '*' && p->ll.method == HTTP_OPTIONS) {
			start = 0;
		} else if (s != NULL && s + 2 < u + ulen && s[1] == '/' &&
			   s[2] == '/') {
			const char *slash =
				memchr(s + 3, '/', (size_t)(u + ulen - s - 3));
			if (slash == NULL)
				return fail(p, 400, CF_EBADREQ);
			start = (size_t)(slash - u);
		} else {
			return fail(p, 400, CF_EBADREQ);
		}
	}
	qs = start;
	while (qs < ulen && u[qs] != '?' && u[qs] != '#')
		qs++;
	qe = qs;
	if (qs < ulen && u[qs] == '?') {
		qe = qs + 1;
		while (qe < ulen && u[qe] != '#')
			qe++;
	}
	/* path and query get copies of their own, to be NUL-terminated */
	if (cf_buf_reserve(&p->store, ulen + 2) != 0)
		return fail(p, 500, -ENOMEM);
	u = p->store.data;
	poff = p->store.len;
	memcpy(u + poff, u + start, qs - start);
	u[poff + qs - start] = '\0';
	p->store.len += qs - start + 1;
	qoff = p->store.len;
	if (qe > qs) {
		memcpy(u + qoff, u + qs + 1, qe - qs - 1);
		u[qoff + qe - qs - 1] = '\0';
		p->store.len += qe - qs;
	}
	rv = decode_params(p, qs + 1, qe > qs ? qe - qs - 1 : 0);
	if (rv != 0)
		return fail(p, rv == -ENOMEM ? 500 : 400, rv);
	/* the store no longer moves: pointers from here on */
	u = p->store.data;
	r->target.p = u;
	r->target.len = ulen;
	r->path.p = u + poff;
	r->path.len = qs - start;
	if (qe > qs) {
		r->query.p = u + qoff;
		r->query.len = qe - qs - 1;
	}
	for (i = 0; i < FE_HTTP_H_COUNT; i++)
		r->h[i] = span_str(p, &p->hs[i]);
	r->method = method_of(p->ll.method);
	r->method_name = llhttp_method_name((llhttp_method_t)p->ll.method);
	r->http_minor = p->ll.http_minor;
	r->content_length = p->content_length;
	r->chunked = (p->ll.flags & F_CHUNKED) != 0;
	r->keep_alive = llhttp_should_keep_alive(&p->ll) != 0;
	r->upgrade = p->ll.upgrade != 0;
	r->body.p = p->body.data;
	r->body.len = p->body.len;
	return 0;
}

static int on_message_complete(llhttp_t *ll)
{
	struct fe_http_parser *p = ll->data;

	if (finish_request(p) != 0)
		return -1;
	p->scan = SCAN_START;
	p->header_bytes = 0;
	/* An upgrade makes llhttp stop with HPE_PAUSED_UPGRADE by itself. */
	return ll->upgrade ? 0 : HPE_PAUSED;
}

static const llhttp_settings_t settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_url_complete = on_url_complete,
	.on_header_field = on_header_field,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value = on_header_value,
	.on_header_value_complete = on_header_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_chunk_header = on_chunk_header,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void fe_http_limits_default(struct fe_http_limits *l)
{
	l->max_header_bytes = FE_HTTP_MAX_HEADER_BYTES;
	l->max_body_bytes = FE_HTTP_MAX_BODY_BYTES;
	l->max_url_bytes = FE_HTTP_MAX_URL_BYTES;
	l->report_continue = false;
	l->big_body_path = NULL;
	l->big_body_bytes = 0;
}

void fe_http_parser_init(struct fe_http_parser *p,
			 const struct fe_http_limits *limits)
{
	memset(p, 0, sizeof *p);
	if (limits != NULL)
		p->limits = *limits;
	else
		fe_http_limits_default(&p->limits);
	/* offsets in the store are 32-bit */
	assert(p->limits.max_url_bytes < UINT32_MAX / 4);
	assert(p->limits.max_header_bytes < UINT32_MAX / 4);
	llhttp_init(&p->ll, HTTP_REQUEST, &settings);
	p->ll.data = p;
	cf_buf_init(&p->store);
	cf_buf_init(&p->body);
	p->scan = SCAN_START;
	p->cur = -1;
	p->content_length = -1;
}

void fe_http_parser_release(struct fe_http_parser *p)
{
	cf_buf_release(&p->store);
	cf_buf_release(&p->body);
}

bool fe_http_in_request(const struct fe_http_parser *p)
{
	return p->scan != SCAN_START || p->header_bytes > 0;
}

bool fe_http_in_body(const struct fe_http_parser *p)
{
	return p->scan == SCAN_BODY;
}

/* RFC 9110 section 5.6.2: the characters of a token (a field name). */
static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * Scan data[0..len) of a header section. Returns how many bytes are fine
 * and belong to the section (all of them, or up to and including the LF of
 * the empty line). If the byte after them is refused, *bad is the status
 * (400, 414 or 431), else 0. The caller first hands the fine bytes to llhttp
 * and reports the refusal only if llhttp found nothing wrong in them: that
 * way the first bad byte decides, however the stream was split into reads.
 */
static size_t scan_header(struct fe_http_parser *p, const char *data,
			  size_t len, int *bad)
{
	size_t i, room;
	int s = p->scan;

	assert(p->header_bytes <= p->limits.max_header_bytes);
	room = p->limits.max_header_bytes - p->header_bytes;
	*bad = 0;
	for (i = 0; i < len && s != SCAN_BODY; i++) {
		char c = data[i];
		bool ctl = ((unsigned char)c < 0x20 && c != '\t') || c == 0x7f;

		/* tested: test_fe_http.c header_section_over_limit_is_431 */
		if (i == room) {
			*bad = 431;
			break;
		}
		switch (s) {
		case SCAN_START:
			if (c == '\r')
				s = SCAN_START_CR;
			else if (ctl)
				goto bad;
			else
				s = SCAN_METHOD;
			break;
		case SCAN_START_CR:
			if (c != '\n')
				goto bad;
			s = SCAN_START;
			break;
		case SCAN_METHOD:
		case SCAN_TARGET:
			if (c == '\r') {
				s = SCAN_CR;
			} else if (ctl) {
				goto bad;
			} else if (c == ' ') {
				s = s == SCAN_METHOD ? SCAN_TARGET : SCAN_LINE;
				p->target_bytes = 0;
			} else if (s == SCAN_TARGET &&
				   ++p->target_bytes > p->limits.max_url_bytes) {
				/* tested: test_fe_http.c url_over_limit_is_414 */
				*bad = 414;
				goto out;
			}
			break;
		case SCAN_LINE:
			if (c == '\r')
				s = SCAN_CR;
			else if (ctl)
				goto bad; /* bare LF, NUL, other controls */
			break;
		case SCAN_NAME:
			if (c == ':')
				s = SCAN_LINE;
			else if (!is_tchar(c))
				goto bad; /* "Name : v", "A B: v", no colon */
			break;
		case SCAN_CR:
			if (c != '\n')
				goto bad; /* bare CR: CVE-2023-30589 */
			s = SCAN_LF;
			break;
		case SCAN_LF:
			if (c == ' ' || c == '\t')
				goto bad; /* obs-fold */
			if (c == '\r')
				s = SCAN_LF_CR;
			else if (is_tchar(c))
				s = SCAN_NAME;
			else
				goto bad; /* empty name, controls */
			break;
		case SCAN_LF_CR:
			if (c != '\n')
				goto bad;
			s = SCAN_BODY;
			break;
		default:
			assert(0);
		}
		continue;
bad:
		*bad = 400;
		break;
	}
out:
	p->header_bytes += i;
	p->scan = s;
	return i;
}

static int map_llhttp(struct fe_http_parser *p, llhttp_errno_t e)
{
	switch (e) {
	case HPE_INVALID_VERSION:
		return fail(p, 505, CF_EBADREQ);
	case HPE_INVALID_TRANSFER_ENCODING:
		return fail(p, 501, CF_EBADREQ);
	default:
		return fail(p, 400, CF_EBADREQ);
	}
}

/*
 * Run llhttp over data[0..len). Returns 1 when a message completed (paused,
 * *used up to its end), 2 for an upgrade, 3 for a 100-continue pause after
 * the headers, 0 when all was used, or an error.
 */
static int execute(struct fe_http_parser *p, const char *data, size_t len,
		   size_t *used)
{
	llhttp_errno_t e;

	*used = 0;
	if (len == 0)
		return 0;
	e = llhttp_execute(&p->ll, data, len);
	if (e == HPE_OK) {
		*used = len;
		return 0;
	}
	if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
		const char *pos = llhttp_get_error_pos(&p->ll);
		assert(pos >= data && pos <= data + len);
		*used = (size_t)(pos - data);
		if (e == HPE_PAUSED) {
			p->paused = true;
			if (p->continue_ev) {
				p->continue_ev = false;
				return 3;
			}
			return 1;
		}
		p->done = true;
		return 2;
	}
	if (p->err != 0)
		return p->err;
	return map_llhttp(p, e);
}

int fe_http_feed(struct fe_http_parser *p, const char *data, size_t len,
		 size_t *consumed)
{
	size_t used = 0, n, hdr;
	int rv, bad;

	*consumed = 0;
	if (p->err != 0)
		return p->err;
	if (p->done)
		return fail(p, 400, CF_EBADREQ);
	if (p->paused) {
		llhttp_resume(&p->ll);
		p->paused = false;
	}
	if (p->scan != SCAN_BODY) {
		hdr = scan_header(p, data, len, &bad);
		rv = execute(p, data, hdr, &n);
		used = n;
		if (rv != 0)
			goto out;
		if (bad != 0)
			return fail(p, bad, bad == 400 ? CF_EBADREQ : CF_ETOOBIG);
		if (p->scan != SCAN_BODY) {
			assert(used == len);
			*consumed = len;
			return FE_HTTP_NEED_MORE;
		}
	}
	rv = execute(p, data + used, len - used, &n);
	used += n;
out:
	if (rv < 0)
		return rv;
	*consumed = used;
	switch (rv) {
	case 0:
		return FE_HTTP_NEED_MORE;
	case 1:
		return FE_HTTP_REQUEST;
	case 2:
		return FE_HTTP_UPGRADE;
	default:
		return FE_HTTP_CONTINUE;
	}
}
