/*
 * fe_test_feed: scripted feeding of the sans-I/O parsers fe_http and fe_ws,
 * in the manner of wslay's scripted_data_feed, for unit tests and fuzz
 * targets.
 *
 * A run delivers the input in chunks (a first chunk of `first` bytes, then
 * chunks of `step` bytes, step 0 meaning "all the rest"), drives the parser
 * the way a read callback does (unconsumed bytes are kept and fed again) and
 * writes everything the parser reported into a byte trace. Two runs of the
 * same input with different chunkings must give identical traces.
 * Ownership: the caller owns the trace buffer (cf_buf_release).
 * Errors: the run functions return 0, or -ENOMEM from the trace buffer.
 * Threads: any; no shared state.
 */
#ifndef FE_TEST_FEED_H
#define FE_TEST_FEED_H

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_buf.h"
#include "frontend/fe_http.h"
#include "frontend/fe_ws.h"

static inline void fe_test__str(struct cf_buf *t, const char *tag,
				struct cf_str s)
{
	if (s.p == NULL) {
		cf_buf_appendf(t, " %s=-", tag);
		return;
	}
	/* the parser promises a NUL after every string */
	assert(s.p[s.len] == '\0');
	cf_buf_appendf(t, " %s=%zu:", tag, s.len);
	cf_buf_append(t, s.p, s.len);
}

/* Append a description of every field of r to t. */
static inline void fe_test_trace_req(struct cf_buf *t,
				     const struct fe_http_req *r, int ev)
{
	struct cf_str v;
	unsigned i;

	cf_buf_appendf(t, "%s %s/1.%d", ev == FE_HTTP_UPGRADE ? "UPG" : "REQ",
		       r->method_name, r->http_minor);
	cf_buf_appendf(t, " m=%d", (int)r->method);
	fe_test__str(t, "target", r->target);
	fe_test__str(t, "path", r->path);
	fe_test__str(t, "query", r->query);
	for (i = 0; i < r->nparams; i++) {
		fe_test__str(t, "pn", r->params[i].name);
		fe_test__str(t, "pv", r->params[i].value);
		/* lookup finds the first parameter of that name */
		assert(fe_http_query_get(r, r->params[i].name.p, &v) == 0);
	}
	for (i = 0; i < FE_HTTP_H_COUNT; i++)
		fe_test__str(t, "h", r->h[i]);
	cf_buf_appendf(t, " cl=%lld chunked=%d ka=%d up=%d",
		       (long long)r->content_length, r->chunked, r->keep_alive,
		       r->upgrade);
	assert(r->body.p != NULL);
	fe_test__str(t, "body", r->body);
	cf_buf_append(t, "\n", 1);
}

/*
 * Run data[0..len) through a fresh fe_http parser with the given chunking
 * and write the trace: one line per request, then "UPGRADE rest" (the bytes
 * left for the WebSocket), "ERR status" or "END in_request".
 */
static inline int fe_test_http_run(const struct fe_http_limits *lim,
				   const char *data, size_t len, size_t first,
				   size_t step, struct cf_buf *trace)
{
	struct fe_http_parser p;
	struct cf_buf pend = CF_BUF_INIT;
	size_t off = 0, used;
	int rv = 0;

	fe_http_parser_init(&p, lim);
	while (off < len || pend.len > 0) {
		size_t n = off == 0 ? first : step;
		if (n == 0 || n > len - off)
			n = len - off;
		if (n > 0 && cf_buf_append(&pend, data + off, n) != 0) {
			rv = -ENOMEM;
			goto out;
		}
		off += n;
		for (;;) {
			rv = fe_http_feed(&p, pend.data, pend.len, &used);
			if (rv < 0) {
				assert(used == 0);
				assert(p.status >= 400);
				cf_buf_appendf(trace, "ERR %d\n", p.status);
				rv = 0;
				goto out;
			}
			assert(used <= pend.len);
			cf_buf_consume(&pend, used);
			if (rv == FE_HTTP_NEED_MORE) {
				assert(pend.len == 0);
				break;
			}
			if (rv == FE_HTTP_CONTINUE) {
				cf_buf_appendf(trace, "CONTINUE\n");
				continue;
			}
			fe_test_trace_req(trace, &p.req, rv);
			if (rv == FE_HTTP_UPGRADE) {
				cf_buf_appendf(trace, "UPGRADE %zu:",
					       pend.len + len - off);
				cf_buf_append(trace, pend.data, pend.len);
				cf_buf_append(trace, data + off, len - off);
				cf_buf_append(trace, "\n", 1);
				rv = 0;
				goto out;
			}
			if (pend.len == 0)
				break;
		}
	}
	cf_buf_appendf(trace, "END %d\n", fe_http_in_request(&p));
	rv = 0;
out:
	cf_buf_release(&pend);
	fe_http_parser_release(&p);
	return rv;
}

/*
 * The same for fe_ws: one line per event ("TEXT n:bytes", "PING ...",
 * "CLOSE code n:reason"), then "ERR close_code" or "END".
 */
static inline int fe_test_ws_run(size_t max_message, const void *data,
				 size_t len, size_t first, size_t step,
				 struct cf_buf *trace)
{
	static const char *const names[] = {"NONE", "TEXT", "BINARY",
					    "PING", "PONG", "CLOSE"};
	const char *d = data;
	struct fe_ws_parser p;
	struct fe_ws_event ev;
	struct cf_buf pend = CF_BUF_INIT;
	size_t off = 0, used;
	int rv = 0;

	fe_ws_parser_init(&p, max_message);
	while (off < len || pend.len > 0) {
		size_t n = off == 0 ? first : step;
		if (n == 0 || n > len - off)
			n = len - off;
		if (n > 0 && cf_buf_append(&pend, d + off, n) != 0) {
			rv = -ENOMEM;
			goto out;
		}
		off += n;
		for (;;) {
			rv = fe_ws_feed(&p, pend.data, pend.len, &used, &ev);
			if (rv < 0) {
				assert(used == 0);
				cf_buf_appendf(trace, "ERR %u\n", p.close_code);
				rv = 0;
				goto out;
			}
			assert(used <= pend.len);
			cf_buf_consume(&pend, used);
			if (rv == FE_WS_NEED_MORE) {
				assert(pend.len == 0);
				break;
			}
			assert(rv == (int)ev.kind);
			if (ev.kind == FE_WS_TEXT) {
				assert(fe_ws_utf8_valid(ev.data, ev.len));
				assert(ev.data[ev.len] == '\0');
			}
			cf_buf_appendf(trace, "%s", names[ev.kind]);
			if (ev.kind == FE_WS_CLOSE)
				cf_buf_appendf(trace, " %u", ev.code);
			cf_buf_appendf(trace, " %zu:", ev.len);
			if (ev.len > 0)
				cf_buf_append(trace, ev.data, ev.len);
			cf_buf_append(trace, "\n", 1);
			if (pend.len == 0)
				break;
		}
	}
	cf_buf_appendf(trace, "END\n");
	rv = 0;
out:
	cf_buf_release(&pend);
	fe_ws_parser_release(&p);
	return rv;
}

#endif
