#include "config.h"

/*
 * fuzz_query: the query strings of the GET routes under arbitrary bytes.
 * The input is what a client puts after '?': it is parsed by fe_http as the
 * request "GET /v1/q?<input> HTTP/1.1" with a loopback Host, and a request
 * fe_http accepts is read by every route's own parser, as the routes read
 * it (src/frontend/fe_query.c, fe_auth.c, fe_json.c). An input with a byte
 * that ends the request target (SP, HT, CR, LF) is skipped: what follows
 * it would be the version and the headers, which fuzz_http covers.
 *
 *   GET /v1/conversations            limit, cursor "a<id>"
 *   GET /v1/conversations/{id}/messages   fromSeq, beforeSeq, aroundSeq,
 *                                    limit
 *   GET /v1/sync                     conversationId, lastSeq, limit (the
 *                                    conversation form); cursor "m<id>",
 *                                    limit, wait (the feed)
 *   GET /v1/admin/conversations/{id}/messages   fromSeq, limit
 *   POST /v1/admin/compact           partition (1 and 16 partitions),
 *                                    segments
 *   GET /v1/presence                 users (a comma list of ids)
 *   GET /v1/ws                       deviceId
 *   every read route                 consistent
 *   fe_auth_request                  token, and user in development mode
 *
 * Checks beyond "no sanitizer report":
 *   - the decoded parameters: at most FE_HTTP_MAX_PARAMS, each
 *     NUL-terminated with no NUL inside, one per non-empty '&' piece of the
 *     raw query and equal to that piece's name and value %-decoded on their
 *     own (the parser's store and offsets); fe_http_query_get gives the
 *     first parameter of a name; a value %-encoded and decoded is itself;
 *   - an accepted limit lies within its route's bounds (1..cap, the default
 *     when absent), seqs within 1..2^53, at most one history seq, a
 *     partition below the count, segments 1..1024, wait 0..60 s;
 *   - presence ids are valid ids, each a comma piece of users, in order;
 *     an accepted device id is valid, "default" when absent;
 *   - a cursor that parses writes back to its own text but for leading
 *     zeros of the number (fe_query.h, sync_feed.h);
 *   - a refusal is CF_EBADREQ with a message (auth: CF_EUNAUTH with a
 *     message, or -ENOMEM); an accepted development identity is a valid id
 *     and the decoded ?user= itself; no identity without a token or dev.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_conf.h"
#include "common/cf_err.h"
#include "common/cf_id.h"
#include "frontend/fe_auth.h"
#include "frontend/fe_http.h"
#include "frontend/fe_json.h"
#include "frontend/fe_query.h"
#include "sync/sync_feed.h"
#include "sync/sync_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_U53 (1ull << 53)

/* The secret of tests/fuzz/corpus/query/token-valid's token. */
static const char secret[] = "fuzz-query-secret";

static void refused(int rv, const char *err)
{
	if (rv != CF_EBADREQ || err == NULL || err[0] == '\0')
		abort();
}

/* The parameter's value if given (as the route sees it). */
static bool param(const struct fe_http_req *req, const char *name,
		  struct cf_str *v)
{
	return fe_http_query_get(req, name, v) == 0;
}

/*
 * text is prefix + digits, and writes back as str (the canonical text of
 * the parsed number) once leading zeros are dropped.
 */
static void canonical(struct cf_str text, char prefix, const char *str)
{
	size_t i = 1;

	if (text.len < 2 || text.p[0] != prefix || str[0] != prefix)
		abort();
	while (i + 1 < text.len && text.p[i] == '0')
		i++;
	if (text.len - i != strlen(str + 1) ||
	    memcmp(text.p + i, str + 1, text.len - i) != 0)
		abort();
}

/* ---- the decoded parameters ---- */

static void check_params(const struct fe_http_req *req)
{
	struct cf_str q = req->query;
	char *tmp;
	size_t pos = 0;
	unsigned n = 0, i, j;

	if (req->nparams > FE_HTTP_MAX_PARAMS || q.p == NULL)
		abort();
	tmp = malloc(q.len + 1);
	if (tmp == NULL)
		return;
	while (pos < q.len) {
		size_t end = pos, eq, len;
		const struct fe_http_param *pa;

		while (end < q.len && q.p[end] != '&')
			end++;
		if (end == pos) {
			pos++;
			continue;
		}
		if (n >= req->nparams)
			abort();
		pa = &req->params[n++];
		eq = pos;
		while (eq < end && q.p[eq] != '=')
			eq++;
		if (fe_http_pct_decode(q.p + pos, eq - pos, tmp, &len, true) !=
			    0 ||
		    len != pa->name.len || memcmp(tmp, pa->name.p, len) != 0)
			abort();
		len = 0;
		tmp[0] = '\0';
		if (eq < end &&
		    fe_http_pct_decode(q.p + eq + 1, end - eq - 1, tmp, &len,
				       true) != 0)
			abort();
		if (len != pa->value.len || memcmp(tmp, pa->value.p, len) != 0)
			abort();
		pos = end;
	}
	if (n != req->nparams)
		abort();
	free(tmp);
	for (i = 0; i < req->nparams; i++) {
		const struct fe_http_param *pa = &req->params[i];
		struct cf_str v;

		if (pa->name.p == NULL || pa->value.p == NULL ||
		    pa->name.p[pa->name.len] != '\0' ||
		    pa->value.p[pa->value.len] != '\0' ||
		    strlen(pa->name.p) != pa->name.len ||
		    strlen(pa->value.p) != pa->value.len)
			abort();
		if (fe_http_query_get(req, pa->name.p, &v) != 0)
			abort();
		for (j = 0; j < i; j++)
			if (cf_str_eq(req->params[j].name, pa->name))
				break;
		if (v.p != req->params[j].value.p)
			abort();
	}
}

/* Every decoded value, %-encoded, decodes to itself. */
static void check_roundtrip(const struct fe_http_req *req)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned i;

	for (i = 0; i < req->nparams; i++) {
		struct cf_str v = req->params[i].value;
		char *enc = malloc(3 * v.len + 1), *dec = malloc(3 * v.len + 1);
		size_t k = 0, len;

		if (enc == NULL || dec == NULL) {
			free(enc);
			free(dec);
			return;
		}
		for (size_t b = 0; b < v.len; b++) {
			unsigned char c = (unsigned char)v.p[b];

			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			    c == '_' || c == '~') {
				enc[k++] = (char)c;
			} else {
				enc[k++] = '%';
				enc[k++] = hex[c >> 4];
				enc[k++] = hex[c & 15];
			}
		}
		if (fe_http_pct_decode(enc, k, dec, &len, true) != 0 ||
		    len != v.len || memcmp(dec, v.p, len) != 0 ||
		    dec[len] != '\0')
			abort();
		free(enc);
		free(dec);
	}
}

/* ---- the routes ---- */

static void route_list(const struct fe_http_req *req)
{
	struct fe_query_list ql;
	const char *err = NULL;
	struct cf_str v;
	uint64_t n;
	char back[24];
	int rv = fe_query_conv_list(req, &ql, &err);

	if (rv != 0) {
		refused(rv, err);
		return;
	}
	if (ql.limit < 1 || ql.limit > FE_LIST_LIMIT_MAX)
		abort();
	if (!param(req, "limit", &v) && ql.limit != FE_LIST_LIMIT_DEFAULT)
		abort();
	if (param(req, "limit", &v) &&
	    (fe_parse_u64(v, &n) != 0 || n == 0 ||
	     ql.limit != (n > FE_LIST_LIMIT_MAX ? FE_LIST_LIMIT_MAX : n)))
		abort();
	if (!param(req, "cursor", &v)) {
		if (ql.before != 0)
			abort();
		return;
	}
	if (ql.before < 1 || ql.before > MAX_U53)
		abort();
	fe_query_list_cursor_str(ql.before, back);
	canonical(v, 'a', back);
	if (fe_query_list_cursor_parse(cf_str_c(back), &n) != 0 ||
	    n != ql.before)
		abort();
}

static void route_history(const struct fe_http_req *req)
{
	struct sync_history_query q;
	const char *err = NULL;
	struct cf_str v;
	int rv = fe_query_history(req, &q, &err);

	if (rv != 0) {
		refused(rv, err);
		return;
	}
	if (q.limit < 1 || q.limit > SYNC_LIMIT_MAX ||
	    (!param(req, "limit", &v) && q.limit != SYNC_LIMIT_DEFAULT))
		abort();
	if ((q.from_seq != 0) + (q.before_seq != 0) + (q.around_seq != 0) > 1)
		abort();
	if (q.from_seq > MAX_U53 || q.before_seq > MAX_U53 ||
	    q.around_seq > MAX_U53)
		abort();
	if ((q.from_seq != 0) != param(req, "fromSeq", &v) ||
	    (q.before_seq != 0) != param(req, "beforeSeq", &v) ||
	    (q.around_seq != 0) != param(req, "aroundSeq", &v))
		abort();
}

static void route_sync(const struct fe_http_req *req)
{
	struct fe_query_sync qs;
	const char *err = NULL;
	struct cf_str v;
	char back[24];
	uint64_t n;
	int rv = fe_query_sync(req, &qs, &err);

	if (rv != 0) {
		refused(rv, err);
		return;
	}
	if (qs.form != param(req, "conversationId", &v))
		abort();
	if (qs.form) {
		if (qs.conv.p != v.p || qs.conv.len != v.len ||
		    qs.last > MAX_U53 || qs.limit < 1 ||
		    qs.limit > SYNC_LIMIT_MAX || qs.after != 0 || qs.wait != 0)
			abort();
		return;
	}
	if (qs.limit < 1 || qs.limit > SYNC_FEED_LIMIT_MAX ||
	    qs.wait > FE_SYNC_WAIT_MAX_S || qs.last != 0)
		abort();
	if (!param(req, "limit", &v) && qs.limit != SYNC_FEED_LIMIT_DEFAULT)
		abort();
	if (!param(req, "cursor", &v)) {
		if (qs.after != 0)
			abort();
		return;
	}
	sync_cursor_str(qs.after, back);
	canonical(v, 'm', back);
	if (sync_cursor_parse(cf_str_c(back), &n) != 0 || n != qs.after)
		abort();
}

static void route_admin(const struct fe_http_req *req)
{
	static const unsigned parts[2] = {1, 16};
	struct sync_history_query q;
	const char *err = NULL;
	struct cf_str v;
	int rv = fe_query_admin_messages(req, &q, &err);

	if (rv != 0) {
		refused(rv, err);
	} else if (q.from_seq < 1 || q.from_seq > MAX_U53 || q.limit < 1 ||
		   q.limit > SYNC_LIMIT_MAX || q.before_seq != 0 ||
		   q.around_seq != 0 ||
		   (!param(req, "fromSeq", &v) && q.from_seq != 1) ||
		   (!param(req, "limit", &v) && q.limit != SYNC_LIMIT_MAX)) {
		abort();
	}
	for (unsigned i = 0; i < 2; i++) {
		uint64_t part;
		uint32_t segs;
		bool all;

		err = NULL;
		rv = fe_query_admin_compact(req, parts[i], &all, &part, &segs,
					    &err);
		if (rv != 0) {
			refused(rv, err);
			continue;
		}
		if (all != !param(req, "partition", &v) ||
		    (!all && part >= parts[i]) || segs < 1 ||
		    segs > FE_COMPACT_SEGMENTS_MAX ||
		    (!param(req, "segments", &v) &&
		     segs != FE_COMPACT_SEGMENTS_DEFAULT))
			abort();
	}
}

/* presence: every id valid, each a piece of users between commas, in
 * order; refused only when absent, empty, a bad id or too many. */
static void route_presence(const struct fe_http_req *req)
{
	struct cf_str ids[FE_QUERY_PRESENCE_MAX], v;
	const char *err = NULL;
	unsigned n = 0;
	size_t pos = 0;
	int rv = fe_query_presence(req, ids, &n, &err);

	if (rv != 0) {
		refused(rv, err);
		return;
	}
	if (!param(req, "users", &v) || v.len == 0 ||
	    n > FE_QUERY_PRESENCE_MAX)
		abort();
	for (unsigned i = 0; i < n; i++) {
		if (!cf_id_valid(ids[i].p, ids[i].len) || ids[i].p < v.p + pos ||
		    ids[i].p + ids[i].len > v.p + v.len)
			abort();
		if (ids[i].p + ids[i].len < v.p + v.len &&
		    ids[i].p[ids[i].len] != ',')
			abort();
		pos = (size_t)(ids[i].p - v.p) + ids[i].len;
	}
}

/* the WebSocket's device id: valid, "default" when absent */
static void route_ws(const struct fe_http_req *req)
{
	struct cf_str dev, v;
	const char *err = NULL;
	int rv = fe_query_ws(req, &dev, &err);

	if (rv != 0) {
		refused(rv, err);
		if (!param(req, "deviceId", &v))
			abort(); /* the default is always valid */
		return;
	}
	if (!cf_device_id_valid(dev.p, dev.len))
		abort();
	if (!param(req, "deviceId", &v) && !cf_str_eqc(dev, "default"))
		abort();
}

static void route_consistent(const struct fe_http_req *req)
{
	struct cf_str v;
	bool want = fe_wants_consistent(req);

	if (want && (!param(req, "consistent", &v) ||
		     !(cf_str_eqc(v, "1") || cf_str_eqc(v, "true"))))
		abort();
}

static void route_auth(const struct fe_http_req *req)
{
	static struct cf_cluster cl;
	bool plain = req->h[FE_HTTP_H_AUTHORIZATION].p == NULL &&
		     req->h[FE_HTTP_H_X_CONFAB_USER].p == NULL;
	struct cf_str tok, u;
	bool has_tok = param(req, "token", &tok);

	if (cl.secret_len == 0) {
		memcpy(cl.secret, secret, sizeof secret - 1);
		cl.secret_len = sizeof secret - 1;
	}
	for (int dev = 0; dev < 2; dev++) {
		char user[129];
		const char *msg = NULL;
		int rv;

		memset(user, 0, sizeof user);
		rv = fe_auth_request(&cl, dev, req, user, &msg);
		if (rv != 0) {
			if (rv != -ENOMEM &&
			    (rv != CF_EUNAUTH || msg == NULL || msg[0] == '\0'))
				abort();
			continue;
		}
		if (!cf_id_valid(user, strlen(user)))
			abort();
		if (!plain)
			continue;
		if (!has_tok && !dev)
			abort(); /* an identity from nothing */
		if (!has_tok && (!param(req, "user", &u) ||
				 !cf_str_eqc(u, user)))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char head[] = "GET /v1/q?";
	static const char tail[] = " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	struct fe_http_parser p;
	size_t n = sizeof head - 1 + size + sizeof tail - 1, used;
	char *buf;
	int rv;

	if (size > FE_HTTP_MAX_URL_BYTES)
		return 0;
	for (used = 0; used < size; used++)
		if (data[used] == ' ' || data[used] == '\t' ||
		    data[used] == '\r' || data[used] == '\n')
			return 0;
	buf = malloc(n);
	if (buf == NULL)
		return 0;
	memcpy(buf, head, sizeof head - 1);
	if (size > 0)
		memcpy(buf + sizeof head - 1, data, size);
	memcpy(buf + sizeof head - 1 + size, tail, sizeof tail - 1);
	fe_http_parser_init(&p, NULL);
	rv = fe_http_feed(&p, buf, n, &used);
	if (rv == FE_HTTP_REQUEST) {
		const struct fe_http_req *req = &p.req;

		check_params(req);
		check_roundtrip(req);
		route_list(req);
		route_history(req);
		route_sync(req);
		route_admin(req);
		route_presence(req);
		route_ws(req);
		route_consistent(req);
		route_auth(req);
	} else if (rv < 0 && p.status == 0) {
		abort();
	}
	fe_http_parser_release(&p);
	free(buf);
	return 0;
}
