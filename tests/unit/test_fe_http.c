#include "config.h"

/*
 * test_fe_http: the HTTP/1.1 request parser and the response writer.
 * Every input is also fed split at every byte boundary and byte by byte
 * (fe_test_feed.h), and must give the same trace as when fed whole; and
 * placed against a guard page, so that a read past its end crashes.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "frontend/fe_http.h"

#include "../lib/fe_test_feed.h"

/* Feed s whole into a fresh parser p. Returns what fe_http_feed returned. */
static int feed_all(struct fe_http_parser *p, const struct fe_http_limits *l,
		    const char *s, size_t len, size_t *consumed)
{
	fe_http_parser_init(p, l);
	return fe_http_feed(p, s, len, consumed);
}

/*
 * The trace of s fed whole must equal the trace of s split at every byte
 * boundary, fed byte by byte, and fed from a guard-page buffer. Returns the
 * whole trace (caller releases).
 */
static struct cf_buf check_splits(const struct fe_http_limits *l,
				  const char *s, size_t len)
{
	struct cf_buf whole = CF_BUF_INIT, other = CF_BUF_INIT;
	size_t k;

	assert_int_equal(fe_test_http_run(l, s, len, len, 0, &whole), 0);
	for (k = 1; k < len; k++) {
		other.len = 0;
		assert_int_equal(fe_test_http_run(l, s, len, k, 0, &other), 0);
		if (other.len != whole.len ||
		    memcmp(other.data, whole.data, whole.len) != 0)
			fail_msg("split at %zu differs:\n%.*s\nvs whole:\n%.*s",
				 k, (int)other.len, other.data,
				 (int)whole.len, whole.data);
	}
	other.len = 0;
	assert_int_equal(fe_test_http_run(l, s, len, 1, 1, &other), 0);
	assert_int_equal(other.len, whole.len);
	assert_memory_equal(other.data, whole.data, whole.len);
	cf_buf_release(&other);
	return whole;
}

#define CHECK_SPLITS(l, lit)                                               \
	do {                                                               \
		struct cf_buf t_ = check_splits((l), (lit), sizeof(lit) - 1); \
		cf_buf_release(&t_);                                       \
	} while (0)

/* One complete request from s; asserts it is exactly all of s. */
static void parse_one(struct fe_http_parser *p, const char *s, int want)
{
	size_t used;
	int rv = feed_all(p, NULL, s, strlen(s), &used);

	assert_int_equal(rv, want);
	assert_int_equal(used, strlen(s));
}

static void assert_str(struct cf_str s, const char *want)
{
	if (want == NULL) {
		assert_null(s.p);
		return;
	}
	assert_non_null(s.p);
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.p, want, s.len);
	assert_int_equal(s.p[s.len], '\0');
}

/* The status an input is refused with (feeding it whole). */
static int refused_with(const struct fe_http_limits *l, const char *s,
			size_t len)
{
	struct fe_http_parser p;
	size_t used, off = 0;
	int rv, status = 0;

	fe_http_parser_init(&p, l);
	for (;;) {
		rv = fe_http_feed(&p, s + off, len - off, &used);
		if (rv < 0) {
			assert_int_equal(used, 0);
			status = p.status;
			break;
		}
		off += used;
		if (rv == FE_HTTP_NEED_MORE || rv == FE_HTTP_UPGRADE ||
		    off == len)
			break;
	}
	fe_http_parser_release(&p);
	return status;
}

#define REFUSED(l, lit) refused_with((l), (lit), sizeof(lit) - 1)

static void get_request_fields_are_parsed(void **state)
{
	static const char req[] =
		"GET /v1/messages?user=alice&x=%41%2bb+c&flag&&e= HTTP/1.1\r\n"
		"Host: node1:8080\r\n"
		"Authorization: Bearer abc.def\r\n"
		"X-Confab-User: bob\r\n"
		"Origin: http://example.org\r\n"
		"Content-Type: text/plain  \r\n"
		"X-Other: ignored\r\n"
		"\r\n";
	struct fe_http_parser p;
	struct cf_str v;

	(void)state;
	parse_one(&p, req, FE_HTTP_REQUEST);
	assert_int_equal(p.req.method, FE_HTTP_GET);
	assert_string_equal(p.req.method_name, "GET");
	assert_int_equal(p.req.http_minor, 1);
	assert_str(p.req.path, "/v1/messages");
	assert_str(p.req.query, "user=alice&x=%41%2bb+c&flag&&e=");
	assert_int_equal(p.req.nparams, 4);
	assert_int_equal(fe_http_query_get(&p.req, "user", &v), 0);
	assert_str(v, "alice");
	assert_int_equal(fe_http_query_get(&p.req, "x", &v), 0);
	assert_str(v, "A+b c");
	assert_int_equal(fe_http_query_get(&p.req, "flag", &v), 0);
	assert_str(v, "");
	assert_int_equal(fe_http_query_get(&p.req, "e", &v), 0);
	assert_str(v, "");
	assert_int_equal(fe_http_query_get(&p.req, "nope", &v), CF_ENOTFOUND);
	assert_str(p.req.h[FE_HTTP_H_HOST], "node1:8080");
	assert_str(p.req.h[FE_HTTP_H_AUTHORIZATION], "Bearer abc.def");
	assert_str(p.req.h[FE_HTTP_H_X_CONFAB_USER], "bob");
	assert_str(p.req.h[FE_HTTP_H_ORIGIN], "http://example.org");
	assert_str(p.req.h[FE_HTTP_H_CONTENT_TYPE], "text/plain");
	assert_str(p.req.h[FE_HTTP_H_UPGRADE], NULL);
	assert_int_equal(p.req.content_length, -1);
	assert_true(p.req.keep_alive);
	assert_false(p.req.upgrade);
	assert_int_equal(p.req.body.len, 0);
	fe_http_parser_release(&p);
	CHECK_SPLITS(NULL, req);
}

static void post_with_content_length_keeps_body(void **state)
{
	static const char req[] = "POST /v1/conversations/c_1/messages HTTP/1.1\r\n"
				  "Host: a\r\nContent-Type: application/json\r\n"
				  "Content-Length: 13\r\n\r\n"
				  "{\"content\":1}";
	struct fe_http_parser p;

	(void)state;
	parse_one(&p, req, FE_HTTP_REQUEST);
	assert_int_equal(p.req.method, FE_HTTP_POST);
	assert_str(p.req.path, "/v1/conversations/c_1/messages");
	assert_str(p.req.query, NULL);
	assert_int_equal(p.req.nparams, 0);
	assert_int_equal(p.req.content_length, 13);
	assert_false(p.req.chunked);
	assert_str(p.req.h[FE_HTTP_H_CONTENT_LENGTH], "13");
	assert_str(p.req.body, "{\"content\":1}");
	fe_http_parser_release(&p);
	CHECK_SPLITS(NULL, req);
}

static void chunked_body_is_joined(void **state)
{
	static const char req[] = "POST /x HTTP/1.1\r\nHost: a\r\n"
				  "Transfer-Encoding: chunked\r\n\r\n"
				  "5;ext=1\r\nhello\r\n"
				  "7\r\n, world\r\n"
				  "0\r\nX-Trailer: t\r\n\r\n";
	struct fe_http_parser p;

	(void)state;
	parse_one(&p, req, FE_HTTP_REQUEST);
	assert_true(p.req.chunked);
	assert_int_equal(p.req.content_length, -1);
	assert_str(p.req.body, "hello, world");
	fe_http_parser_release(&p);
	CHECK_SPLITS(NULL, req);
}

static void pipelined_requests_come_one_at_a_time(void **state)
{
	static const char reqs[] =
		"GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
		"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
		"GET /c?q=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
		"GET /d";
	static const char *paths[] = {"/a", "/b", "/c"};
	struct fe_http_parser p;
	size_t off = 0, used;
	int i, rv;

	(void)state;
	fe_http_parser_init(&p, NULL);
	for (i = 0; i < 3; i++) {
		rv = fe_http_feed(&p, reqs + off, sizeof reqs - 1 - off, &used);
		assert_int_equal(rv, FE_HTTP_REQUEST);
		assert_str(p.req.path, paths[i]);
		assert_false(fe_http_in_request(&p));
		off += used;
	}
	assert_str(p.req.query, "q=1");
	assert_false(p.req.keep_alive);
	/* The first request ended exactly where the second began. */
	assert_memory_equal(reqs + off, "GET /d", 6);
	rv = fe_http_feed(&p, reqs + off, sizeof reqs - 1 - off, &used);
	assert_int_equal(rv, FE_HTTP_NEED_MORE);
	assert_int_equal(used, 6);
	assert_true(fe_http_in_request(&p));
	fe_http_parser_release(&p);
	CHECK_SPLITS(NULL, reqs);
}

static void keep_alive_follows_version_and_connection(void **state)
{
	static const struct {
		const char *req;
		bool ka;
	} cases[] = {
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		 false},
		{"GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
		 false},
		{"GET / HTTP/1.0\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
	};
	struct fe_http_parser p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		parse_one(&p, cases[i].req, FE_HTTP_REQUEST);
		assert_int_equal(p.req.keep_alive, cases[i].ka);
		fe_http_parser_release(&p);
	}
}

static void query_escapes_are_decoded_or_refused(void **state)
{
	struct fe_http_parser p;
	struct cf_str v;

	(void)state;
	parse_one(&p, "GET /?a%3Db=%E2%82%AC&%61=second&a=third HTTP/1.1\r\n\r\n",
		  FE_HTTP_REQUEST);
	assert_int_equal(fe_http_query_get(&p.req, "a=b", &v), 0);
	assert_str(v, "\xe2\x82\xac");
	/* the first of two same names wins */
	assert_int_equal(fe_http_query_get(&p.req, "a", &v), 0);
	assert_str(v, "second");
	fe_http_parser_release(&p);

	assert_int_equal(REFUSED(NULL, "GET /?a=%zz HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(REFUSED(NULL, "GET /?a=%4 HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(REFUSED(NULL, "GET /?a=%00 HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(REFUSED(NULL, "GET /?a=% HTTP/1.1\r\n\r\n"), 400);
}

static void too_many_query_params_is_400(void **state)
{
	char req[512];
	size_t n = 0;
	int i;

	(void)state;
	n += (size_t)snprintf(req, sizeof req, "GET /?");
	for (i = 0; i <= FE_HTTP_MAX_PARAMS; i++)
		n += (size_t)snprintf(req + n, sizeof req - n, "p%d=1&", i);
	n += (size_t)snprintf(req + n, sizeof req - n, " HTTP/1.1\r\n\r\n");
	assert_int_equal(refused_with(NULL, req, n), 400);
}

static void pct_decode_handles_plus_and_errors(void **state)
{
	char out[16];
	size_t n;

	(void)state;
	assert_int_equal(fe_http_pct_decode("a+b%20c", 7, out, &n, false), 0);
	assert_string_equal(out, "a+b c");
	assert_int_equal(n, 5);
	assert_int_equal(fe_http_pct_decode("a+b", 3, out, &n, true), 0);
	assert_string_equal(out, "a b");
	assert_int_equal(fe_http_pct_decode("%2", 2, out, &n, true),
			 CF_EBADREQ);
	assert_int_equal(fe_http_pct_decode("%g0", 3, out, &n, true),
			 CF_EBADREQ);
}

static void header_section_over_limit_is_431(void **state)
{
	struct fe_http_limits l;
	char req[400];
	int n;

	(void)state;
	fe_http_limits_default(&l);
	l.max_header_bytes = 100;
	n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nX-A: %080d\r\n\r\n",
		     0);
	assert_int_equal(refused_with(&l, req, (size_t)n), 431);
	/* exactly at the limit passes: the section is 100 bytes */
	n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nX-A: %075d\r\n\r\n",
		     0);
	assert_int_equal(n, 100);
	assert_int_equal(refused_with(&l, req, (size_t)n), 0);
	/* default: 16 KiB */
	{
		size_t big = FE_HTTP_MAX_HEADER_BYTES + 100;
		char *s = malloc(big);
		assert_non_null(s);
		memset(s, 'a', big);
		memcpy(s, "GET / HTTP/1.1\r\nX-A: ", 21);
		memcpy(s + big - 4, "\r\n\r\n", 4);
		assert_int_equal(refused_with(NULL, s, big), 431);
		free(s);
	}
	/* empty lines before a request count too */
	memset(req, 0, sizeof req);
	for (n = 0; n < 120; n += 2)
		memcpy(req + n, "\r\n", 2);
	assert_int_equal(refused_with(&l, req, 120), 431);
}

static void body_over_limit_is_413(void **state)
{
	struct fe_http_limits l;

	(void)state;
	fe_http_limits_default(&l);
	l.max_body_bytes = 4;
	assert_int_equal(REFUSED(&l, "POST / HTTP/1.1\r\nContent-Length: 5"
				     "\r\n\r\n"),
			 413);
	assert_int_equal(REFUSED(&l, "POST / HTTP/1.1\r\nContent-Length: 4"
				     "\r\n\r\nabcd"),
			 0);
	assert_int_equal(REFUSED(NULL, "POST / HTTP/1.1\r\n"
				       "Content-Length: 1048577\r\n\r\n"),
			 413);
	CHECK_SPLITS(&l, "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde");
}

static void big_body_path_alone_may_carry_more(void **state)
{
	struct fe_http_limits l;

	(void)state;
	fe_http_limits_default(&l);
	l.max_body_bytes = 4;
	l.big_body_path = "/up";
	l.big_body_bytes = 8;
	assert_int_equal(REFUSED(&l, "POST /up?x=1 HTTP/1.1\r\n"
				     "Content-Length: 8\r\n\r\nabcdefgh"),
			 0);
	assert_int_equal(REFUSED(&l, "POST /up HTTP/1.1\r\n"
				     "Content-Length: 9\r\n\r\n"),
			 413);
	assert_int_equal(REFUSED(&l, "POST /upx HTTP/1.1\r\n"
				     "Content-Length: 5\r\n\r\n"),
			 413);
	assert_int_equal(REFUSED(&l, "PUT /up HTTP/1.1\r\n"
				     "Content-Length: 5\r\n\r\n"),
			 413);
}

static void chunked_body_over_limit_is_413(void **state)
{
	static const char req[] = "POST / HTTP/1.1\r\n"
				  "Transfer-Encoding: chunked\r\n\r\n"
				  "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
	struct fe_http_limits l;

	(void)state;
	fe_http_limits_default(&l);
	l.max_body_bytes = 4;
	assert_int_equal(REFUSED(&l, req), 413);
	l.max_body_bytes = 5;
	assert_int_equal(REFUSED(&l, req), 0);
	l.max_body_bytes = 4;
	CHECK_SPLITS(&l, req);
}

/*
 * Issue 11: a chunk size line above the body limit ("FFFFFFFFFFFFFFFF", the
 * largest size llhttp takes) is answered 413 as soon as the line is
 * complete, not after a body limit's worth of bytes.
 */
static void huge_chunk_size_is_413_at_once(void **state)
{
	static const char head[] = "POST / HTTP/1.1\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n";
	static const char *const lines[] = {"FFFFFFFFFFFFFFFF\r\n",
					    "ffffffffffffffff;x=y\r\n",
					    "5\r\n", "3\r\nabc\r\n3\r\n"};
	static const int want[] = {413, 413, 413, 413};
	struct fe_http_limits l;
	char req[256];

	(void)state;
	fe_http_limits_default(&l);
	l.max_body_bytes = 4;
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		struct fe_http_parser p;
		size_t used = 0;
		int rv;

		snprintf(req, sizeof req, "%s%s", head, lines[i]);
		fe_http_parser_init(&p, &l);
		rv = fe_http_feed(&p, req, strlen(req), &used);
		assert_int_equal(rv, CF_ETOOBIG);
		assert_int_equal(p.status, want[i]);
		fe_http_parser_release(&p);
	}
	/* a chunk that fits is not refused on its size line */
	{
		struct fe_http_parser p;
		size_t used = 0;

		snprintf(req, sizeof req, "%s4\r\n", head);
		fe_http_parser_init(&p, &l);
		assert_int_equal(fe_http_feed(&p, req, strlen(req), &used),
				 FE_HTTP_NEED_MORE);
		assert_int_equal(used, strlen(req));
		fe_http_parser_release(&p);
	}
}

static void url_over_limit_is_414(void **state)
{
	struct fe_http_limits l;

	(void)state;
	fe_http_limits_default(&l);
	l.max_url_bytes = 8;
	assert_int_equal(REFUSED(&l, "GET /12345678 HTTP/1.1\r\n\r\n"), 414);
	assert_int_equal(REFUSED(&l, "GET /1234567 HTTP/1.1\r\n\r\n"), 0);
	CHECK_SPLITS(&l, "GET /12345678 HTTP/1.1\r\n\r\n");
}

/*
 * llhttp 8.1.0 takes a bare CR in a header value as a line end, so this
 * smuggles a Transfer-Encoding header (CVE-2023-30589, STYLE.md section 3).
 */
static void bare_cr_in_header_value_is_400(void **state)
{
	static const char req[] = "POST / HTTP/1.1\r\nHost: a\r\nX-Abc: \rx"
				  "Transfer-Encoding: chunked\r\n\r\n"
				  "1\r\nA\r\n0\r\n\r\n";

	(void)state;
	assert_int_equal(REFUSED(NULL, req), 400);
	CHECK_SPLITS(NULL, req);
	assert_int_equal(REFUSED(NULL, "GET / HTTP/1.1\rHost: a\r\n\r\n"),
			 400);
	assert_int_equal(REFUSED(NULL, "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n"),
			 400);
	assert_int_equal(REFUSED(NULL, "\rGET / HTTP/1.1\r\n\r\n"), 400);
}

/*
 * llhttp 8.1.0 folds a line that starts with SP or HTAB into the previous
 * value (obs-fold), so " Content-Length: 5" hides in X's value
 * (CVE-2024-27982 half; RFC 9112 section 5.2 allows the 400).
 */
static void obs_fold_is_400(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n"
				  " Content-Length: 5\r\n\r\nhello";

	(void)state;
	assert_int_equal(REFUSED(NULL, req), 400);
	CHECK_SPLITS(NULL, req);
	assert_int_equal(REFUSED(NULL, "GET / HTTP/1.1\r\nX-A: b\r\n\tc\r\n\r\n"),
			 400);
}

static void bad_requests_are_refused(void **state)
{
	(void)state;
	assert_int_equal(REFUSED(NULL, "\x16\x03\x01\x02\x00\x01\x00"), 400);
	assert_int_equal(REFUSED(NULL, "GET / HTTP/1.1\nHost: a\n\n"), 400);
	assert_int_equal(REFUSED(NULL, "GET / HTTP/1.1\r\nHost: a\r\n"
				       "Host: b\r\n\r\n"),
			 400);
	assert_int_equal(REFUSED(NULL, "GET / HTTP/1.1\r\nAuthorization: a\r\n"
				       "authorization: b\r\n\r\n"),
			 400);
	assert_int_equal(REFUSED(NULL, "GET / HTTP/1.1\r\nBad Name: a\r\n\r\n"),
			 400);
	/* llhttp 8.1.0 takes these two; RFC 9112 section 5.1 refuses */
	assert_int_equal(REFUSED(NULL, "GET / HTTP/1.1\r\nName : a\r\n\r\n"),
			 400);
	assert_int_equal(REFUSED(NULL, "GET / HTTP/1.1\r\nA\x01: a\r\n\r\n"),
			 400);
	assert_int_equal(REFUSED(NULL, "GET / HTTP/1.1\r\nNoColon\r\n\r\n"),
			 400);
	assert_int_equal(REFUSED(NULL, "GET / HTTP/1.1\r\n: a\r\n\r\n"),
			 400);
	assert_int_equal(refused_with(NULL, "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n",
				      26),
			 400);
	assert_int_equal(REFUSED(NULL, "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n"),
			 400);
	assert_int_equal(REFUSED(NULL, "GET / HTTP/1.1\r\nX: a\tb\xff\r\n\r\n"),
			 0);
	assert_int_equal(REFUSED(NULL, "POST / HTTP/1.1\r\nContent-Length: 1\r\n"
				       "Content-Length: 2\r\n\r\nab"),
			 400);
	assert_int_equal(REFUSED(NULL, "POST / HTTP/1.1\r\nContent-Length: 3\r\n"
				       "Transfer-Encoding: chunked\r\n\r\n"
				       "0\r\n\r\n"),
			 400);
	assert_int_equal(REFUSED(NULL, "POST / HTTP/1.1\r\nContent-Length: x\r\n"
				       "\r\n"),
			 400);
	assert_int_equal(REFUSED(NULL, "GET nopath HTTP/1.1\r\n\r\n"), 400);
	assert_int_equal(REFUSED(NULL, "GET / HTTP/2.0\r\n\r\n"), 505);
	assert_int_equal(REFUSED(NULL, "CONNECT a:443 HTTP/1.1\r\n\r\n"), 501);
	CHECK_SPLITS(NULL, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
	CHECK_SPLITS(NULL, "GET / HTTP/2.0\r\n\r\n");
}

/*
 * Found by fuzz_http: the scanner and llhttp refuse different bytes, and
 * the answer must not depend on where the reads split the stream. The
 * first refused byte decides.
 */
static void first_bad_byte_decides_however_split(void **state)
{
	struct fe_http_limits l;

	(void)state;
	/* llhttp refuses the 'G' (505) before the scanner's bare CR */
	assert_int_equal(REFUSED(NULL, "GET /a HTTP/1.1G\r\rE\nT\n"), 505);
	CHECK_SPLITS(NULL, "GET /a HTTP/1.1G\r\rE\nT\n /b HTTP/1.1\r\n\r\n");
	/* the scanner's bare CR comes before llhttp's bad version */
	assert_int_equal(REFUSED(NULL, "GET /a HTTP/1.1\r\rG"), 400);
	fe_http_limits_default(&l);
	l.max_url_bytes = 4;
	l.max_header_bytes = 40;
	/* a target over the limit, then a byte llhttp refuses */
	assert_int_equal(REFUSED(&l, "GET /abcd\x01 HTTP/1.1\r\n\r\n"), 414);
	CHECK_SPLITS(&l, "GET /abcd\x01 HTTP/1.1\r\n\r\n");
	assert_int_equal(REFUSED(&l, "GET /a\x01" "cdef HTTP/1.1\r\n\r\n"), 400);
	CHECK_SPLITS(&l, "GET /a\x01" "cdef HTTP/1.1\r\n\r\n");
	/* a section over the limit, after a header llhttp refuses */
	assert_int_equal(REFUSED(&l, "GET / HTTP/1.1\r\nA: b\r\nContent-Length"
				     ": zz\r\n\r\n"),
			 400);
	CHECK_SPLITS(&l, "GET / HTTP/1.1\r\nA: b\r\nContent-Length: zz\r\n\r\n");
	assert_int_equal(REFUSED(&l, "GET / HTTP/1.1\r\nA: b\r\nX-Long: "
				     "zzzzzzzzzzzzzzz\r\n\r\n"),
			 431);
}

static void error_is_sticky(void **state)
{
	struct fe_http_parser p;
	size_t used;

	(void)state;
	assert_int_equal(feed_all(&p, NULL, "GET / HTTP/1.1\r\n\rx", 18, &used),
			 CF_EBADREQ);
	assert_int_equal(p.status, 400);
	assert_int_equal(fe_http_feed(&p, "GET / HTTP/1.1\r\n\r\n", 18, &used),
			 CF_EBADREQ);
	assert_int_equal(used, 0);
	fe_http_parser_release(&p);
}

static void upgrade_stops_before_websocket_bytes(void **state)
{
	static const char req[] = "GET /v1/ws?token=t&deviceId=d1 HTTP/1.1\r\n"
				  "Host: a\r\nUpgrade: websocket\r\n"
				  "Connection: keep-alive\r\nConnection: Upgrade\r\n"
				  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				  "Sec-WebSocket-Version: 13\r\n\r\n"
				  "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
	struct fe_http_parser p;
	struct cf_str v;
	size_t used;

	(void)state;
	assert_int_equal(feed_all(&p, NULL, req, sizeof req - 1, &used),
			 FE_HTTP_UPGRADE);
	assert_int_equal(sizeof req - 1 - used, 11);
	assert_memory_equal(req + used, "\x81\x85", 2);
	assert_true(p.req.upgrade);
	assert_str(p.req.path, "/v1/ws");
	assert_int_equal(fe_http_query_get(&p.req, "deviceId", &v), 0);
	assert_str(v, "d1");
	assert_str(p.req.h[FE_HTTP_H_CONNECTION], "keep-alive, Upgrade");
	assert_true(fe_http_list_has(p.req.h[FE_HTTP_H_CONNECTION], "upgrade"));
	assert_str(p.req.h[FE_HTTP_H_SEC_WEBSOCKET_KEY],
		   "dGhlIHNhbXBsZSBub25jZQ==");
	assert_str(p.req.h[FE_HTTP_H_SEC_WEBSOCKET_VERSION], "13");
	/* the parser is finished after an upgrade */
	assert_int_equal(fe_http_feed(&p, req + used, 2, &used), CF_EBADREQ);
	fe_http_parser_release(&p);
	CHECK_SPLITS(NULL, req);
}

static void request_without_upgrade_token_is_not_an_upgrade(void **state)
{
	struct fe_http_parser p;

	(void)state;
	parse_one(&p, "GET /v1/ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
		  FE_HTTP_REQUEST);
	assert_false(p.req.upgrade);
	assert_str(p.req.h[FE_HTTP_H_UPGRADE], "websocket");
	fe_http_parser_release(&p);
}

static void targets_in_other_forms(void **state)
{
	struct fe_http_parser p;

	(void)state;
	parse_one(&p, "GET http://h:1/p/q?x=1 HTTP/1.1\r\n\r\n", FE_HTTP_REQUEST);
	assert_str(p.req.path, "/p/q");
	assert_str(p.req.query, "x=1");
	assert_str(p.req.target, "http://h:1/p/q?x=1");
	fe_http_parser_release(&p);
	parse_one(&p, "OPTIONS * HTTP/1.1\r\n\r\n", FE_HTTP_REQUEST);
	assert_int_equal(p.req.method, FE_HTTP_OPTIONS);
	assert_str(p.req.path, "*");
	fe_http_parser_release(&p);
	parse_one(&p, "\r\n\r\nDELETE /x#frag HTTP/1.1\r\nX-Confab-User:\r\n\r\n",
		  FE_HTTP_REQUEST);
	assert_int_equal(p.req.method, FE_HTTP_DELETE);
	assert_str(p.req.path, "/x");
	assert_str(p.req.h[FE_HTTP_H_X_CONFAB_USER], "");
	fe_http_parser_release(&p);
	CHECK_SPLITS(NULL, "\r\n\r\nDELETE /x#frag HTTP/1.1\r\nX-Confab-User:"
			   "\r\n\r\n");
}

/*
 * Feed s in reads of `step` bytes where every read, and every re-feed of
 * unconsumed bytes, is copied to end right before a PROT_NONE page: a read
 * past the end of what was handed over faults. Returns the last event.
 */
static int guarded_feed(char *guard, const char *s, size_t len, size_t step)
{
	struct fe_http_parser p;
	size_t pos = 0, end = 0, used, n;
	int rv = FE_HTTP_NEED_MORE;

	fe_http_parser_init(&p, NULL);
	while (pos < len) {
		if (pos == end)
			end = end + step < len ? end + step : len;
		n = end - pos;
		memcpy(guard - n, s + pos, n);
		rv = fe_http_feed(&p, guard - n, n, &used);
		if (rv < 0 || rv == FE_HTTP_UPGRADE)
			break;
		pos += used;
	}
	fe_http_parser_release(&p);
	return rv;
}

static void guarded_run(const char *s, size_t len, int want_last)
{
	static const size_t steps[] = {1, 2, 3, 7, 4096};
	long pg = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;

	assert_true(map != MAP_FAILED);
	assert_true(len <= (size_t)pg);
	assert_int_equal(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
	for (i = 0; i < sizeof steps / sizeof steps[0]; i++)
		assert_int_equal(guarded_feed(map + pg, s, len, steps[i]),
				 want_last);
	munmap(map, (size_t)pg * 2);
}

static void inputs_at_a_guard_page_are_not_overread(void **state)
{
	static const char get[] = "GET /a?b=%41 HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char chunked[] = "POST / HTTP/1.1\r\nTransfer-Encoding: "
				      "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
	static const char partial[] = "GET /a HTTP/1.1\r\nHost: x\r";
	static const char bad[] = "GET / HTTP/1.1\r\nX: \rx";

	(void)state;
	guarded_run(get, sizeof get - 1, FE_HTTP_REQUEST);
	guarded_run(chunked, sizeof chunked - 1, FE_HTTP_REQUEST);
	guarded_run(partial, sizeof partial - 1, FE_HTTP_NEED_MORE);
	guarded_run(bad, sizeof bad - 1, CF_EBADREQ);
}

static void response_head_is_formatted(void **state)
{
	struct cf_buf b = CF_BUF_INIT;

	(void)state;
	assert_int_equal(fe_http_response_begin(&b, 200, "application/json", 2,
						true, NULL),
			 0);
	assert_int_equal(cf_buf_append(&b, "", 1), 0);
	assert_string_equal(b.data, "HTTP/1.1 200 OK\r\n"
				    "Content-Type: application/json\r\n"
				    "Content-Length: 2\r\n"
				    "Connection: keep-alive\r\n\r\n");
	b.len = 0;
	assert_int_equal(fe_http_response_begin(&b, 503, NULL, 0, false,
						"Retry-After: 1\r\n"),
			 0);
	assert_int_equal(cf_buf_append(&b, "", 1), 0);
	assert_string_equal(b.data, "HTTP/1.1 503 Service Unavailable\r\n"
				    "Content-Length: 0\r\n"
				    "Connection: close\r\n"
				    "Retry-After: 1\r\n\r\n");
	b.len = 0;
	assert_int_equal(fe_http_response_begin(&b, 204, "text/plain", 0, true,
						NULL),
			 0);
	assert_int_equal(cf_buf_append(&b, "", 1), 0);
	assert_string_equal(b.data, "HTTP/1.1 204 No Content\r\n"
				    "Connection: keep-alive\r\n\r\n");
	cf_buf_release(&b);
	assert_string_equal(fe_http_status_text(431),
			    "Request Header Fields Too Large");
	assert_string_equal(fe_http_status_text(413), "Content Too Large");
	assert_string_equal(fe_http_status_text(799), "Unknown");
}

static void list_has_matches_whole_tokens(void **state)
{
	(void)state;
	assert_true(fe_http_list_has(CF_STR_LIT("keep-alive, Upgrade"),
				     "upgrade"));
	assert_true(fe_http_list_has(CF_STR_LIT(" upgrade ,"), "upgrade"));
	assert_false(fe_http_list_has(CF_STR_LIT("upgrades"), "upgrade"));
	assert_false(fe_http_list_has(CF_STR_LIT("x-upgrade"), "upgrade"));
	assert_false(fe_http_list_has(CF_STR_LIT(""), "upgrade"));
}

static void storage_is_reused_across_requests(void **state)
{
	static const char req[] = "POST /m?a=1 HTTP/1.1\r\nHost: a\r\n"
				  "Content-Length: 3\r\n\r\nabc";
	struct fe_http_parser p;
	char *store, *body;
	size_t used;
	int i;

	(void)state;
	fe_http_parser_init(&p, NULL);
	assert_int_equal(fe_http_feed(&p, req, sizeof req - 1, &used),
			 FE_HTTP_REQUEST);
	store = p.store.data;
	body = p.body.data;
	for (i = 0; i < 100; i++) {
		assert_int_equal(fe_http_feed(&p, req, sizeof req - 1, &used),
				 FE_HTTP_REQUEST);
		assert_int_equal(used, sizeof req - 1);
		assert_str(p.req.body, "abc");
	}
	assert_ptr_equal(p.store.data, store);
	assert_ptr_equal(p.body.data, body);
	fe_http_parser_release(&p);
}

static void expect_continue_pauses_before_body(void **state)
{
	static const char req[] = "POST /m HTTP/1.1\r\nHost: a\r\n"
				  "Expect: 100-Continue\r\n"
				  "Content-Length: 3\r\n\r\nabc"
				  "GET /n HTTP/1.1\r\nExpect: 100-continue\r\n\r\n";
	struct fe_http_parser p;
	struct fe_http_limits l;
	size_t used, off;

	(void)state;
	/* off by default: the request just completes */
	assert_int_equal(feed_all(&p, NULL, req, sizeof req - 1, &used),
			 FE_HTTP_REQUEST);
	assert_str(p.req.body, "abc");
	fe_http_parser_release(&p);
	fe_http_limits_default(&l);
	l.report_continue = true;
	assert_int_equal(feed_all(&p, &l, req, sizeof req - 1, &used),
			 FE_HTTP_CONTINUE);
	off = used;
	assert_memory_equal(req + off, "abcGET", 6);
	assert_true(fe_http_in_request(&p));
	assert_int_equal(fe_http_feed(&p, req + off, sizeof req - 1 - off,
				      &used),
			 FE_HTTP_REQUEST);
	assert_str(p.req.body, "abc");
	assert_str(p.req.h[FE_HTTP_H_EXPECT], "100-Continue");
	off += used;
	/* no body: nothing to wait for */
	assert_int_equal(fe_http_feed(&p, req + off, sizeof req - 1 - off,
				      &used),
			 FE_HTTP_REQUEST);
	assert_str(p.req.path, "/n");
	assert_int_equal(off + used, sizeof req - 1);
	fe_http_parser_release(&p);
	CHECK_SPLITS(&l, req);
	/* a body over the limit is refused instead of invited */
	l.max_body_bytes = 2;
	assert_int_equal(feed_all(&p, &l, req, sizeof req - 1, &used),
			 CF_ETOOBIG);
	assert_int_equal(p.status, 413);
	fe_http_parser_release(&p);
	/* HTTP/1.0 has no 100 Continue */
	l.max_body_bytes = 10;
	assert_int_equal(feed_all(&p, &l, "POST / HTTP/1.0\r\nExpect: "
				  "100-continue\r\nContent-Length: 1\r\n\r\nx",
				  61, &used),
			 FE_HTTP_REQUEST);
	assert_int_equal(used, 61);
	fe_http_parser_release(&p);
}

/* Pointers into the store must be taken after its last growth. */
static void long_query_after_short_request_keeps_params(void **state)
{
	struct fe_http_parser p;
	struct cf_buf req = CF_BUF_INIT;
	struct cf_str v;
	size_t used;
	char name[16];
	int i;

	(void)state;
	fe_http_parser_init(&p, NULL);
	assert_int_equal(fe_http_feed(&p, "GET /?a=1 HTTP/1.1\r\n\r\n", 22,
				      &used),
			 FE_HTTP_REQUEST);
	cf_buf_appendf(&req, "GET /%0600d?", 0);
	for (i = 0; i < FE_HTTP_MAX_PARAMS; i++)
		cf_buf_appendf(&req, "n%d=%%41%090d&", i, i);
	cf_buf_appendf(&req, " HTTP/1.1\r\n\r\n");
	assert_int_equal(fe_http_feed(&p, req.data, req.len, &used),
			 FE_HTTP_REQUEST);
	assert_int_equal(p.req.nparams, FE_HTTP_MAX_PARAMS);
	for (i = 0; i < FE_HTTP_MAX_PARAMS; i++) {
		snprintf(name, sizeof name, "n%d", i);
		assert_int_equal(fe_http_query_get(&p.req, name, &v), 0);
		assert_int_equal(v.len, 91);
		assert_int_equal(v.p[0], 'A');
		assert_int_equal(atoi(v.p + 1), i);
		assert_int_equal(v.p[91], '\0');
	}
	assert_int_equal(p.req.path.len, 601);
	assert_int_equal(p.req.path.p[601], '\0');
	fe_http_parser_release(&p);
	cf_buf_release(&req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(get_request_fields_are_parsed),
		cmocka_unit_test(post_with_content_length_keeps_body),
		cmocka_unit_test(chunked_body_is_joined),
		cmocka_unit_test(pipelined_requests_come_one_at_a_time),
		cmocka_unit_test(keep_alive_follows_version_and_connection),
		cmocka_unit_test(query_escapes_are_decoded_or_refused),
		cmocka_unit_test(too_many_query_params_is_400),
		cmocka_unit_test(pct_decode_handles_plus_and_errors),
		cmocka_unit_test(header_section_over_limit_is_431),
		cmocka_unit_test(body_over_limit_is_413),
		cmocka_unit_test(chunked_body_over_limit_is_413),
		cmocka_unit_test(huge_chunk_size_is_413_at_once),
		cmocka_unit_test(big_body_path_alone_may_carry_more),
		cmocka_unit_test(url_over_limit_is_414),
		cmocka_unit_test(bare_cr_in_header_value_is_400),
		cmocka_unit_test(obs_fold_is_400),
		cmocka_unit_test(bad_requests_are_refused),
		cmocka_unit_test(first_bad_byte_decides_however_split),
		cmocka_unit_test(error_is_sticky),
		cmocka_unit_test(upgrade_stops_before_websocket_bytes),
		cmocka_unit_test(request_without_upgrade_token_is_not_an_upgrade),
		cmocka_unit_test(targets_in_other_forms),
		cmocka_unit_test(inputs_at_a_guard_page_are_not_overread),
		cmocka_unit_test(response_head_is_formatted),
		cmocka_unit_test(list_has_matches_whole_tokens),
		cmocka_unit_test(storage_is_reused_across_requests),
		cmocka_unit_test(expect_continue_pauses_before_body),
		cmocka_unit_test(long_query_after_short_request_keeps_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
