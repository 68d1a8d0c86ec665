#include "config.h"

/*
 * fe_query: the query parameters of the GET routes (fe_query.h) read from
 * requests parsed by fe_http: defaults, caps, refusals and their messages,
 * the cursors (leading zeros read as the canonical text), the sync route's
 * two forms, the admin routes; and fe_auth_request's ?token= and ?user=
 * (the bytes tests/fuzz/fuzz_query.c feeds the same functions).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cf_conf.h"
#include "common/cf_err.h"
#include "frontend/fe_auth.h"
#include "frontend/fe_http.h"
#include "frontend/fe_query.h"
#include "sync/sync_feed.h"

static struct fe_http_parser parser;

/* Parse "GET /v1/q?<query>" (loopback Host) and return the request. */
static const struct fe_http_req *req_of(const char *query)
{
	char buf[2048];
	size_t used;
	int n;

	fe_http_parser_release(&parser);
	fe_http_parser_init(&parser, NULL);
	n = snprintf(buf, sizeof buf,
		     "GET /v1/q?%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", query);
	assert_true(n > 0 && (size_t)n < sizeof buf);
	assert_int_equal(fe_http_feed(&parser, buf, (size_t)n, &used),
			 FE_HTTP_REQUEST);
	return &parser.req;
}

static void conv_list(void **state)
{
	struct fe_query_list ql;
	const char *err = NULL;
	char s[24];

	(void)state;
	assert_int_equal(fe_query_conv_list(req_of(""), &ql, &err), 0);
	assert_int_equal(ql.limit, FE_LIST_LIMIT_DEFAULT);
	assert_int_equal(ql.before, 0);
	assert_int_equal(fe_query_conv_list(req_of("limit=7&cursor=a42"), &ql,
					    &err),
			 0);
	assert_int_equal(ql.limit, 7);
	assert_int_equal(ql.before, 42);
	assert_int_equal(fe_query_conv_list(req_of("limit=100000"), &ql, &err),
			 0);
	assert_int_equal(ql.limit, FE_LIST_LIMIT_MAX);
	assert_int_equal(fe_query_conv_list(req_of("cursor=a0042"), &ql, &err),
			 0);
	fe_query_list_cursor_str(ql.before, s);
	assert_string_equal(s, "a42");
	assert_int_equal(fe_query_conv_list(req_of("limit=0"), &ql, &err),
			 CF_EBADREQ);
	assert_string_equal(err, "'limit' must be a positive integer");
	assert_int_equal(fe_query_conv_list(req_of("cursor=a0"), &ql, &err),
			 CF_EBADREQ);
	assert_string_equal(err, "malformed cursor");
	assert_int_equal(fe_query_conv_list(req_of("cursor=m5"), &ql, &err),
			 CF_EBADREQ);
	assert_int_equal(
		fe_query_conv_list(req_of("cursor=a9007199254740993"), &ql,
				   &err),
		CF_EBADREQ);
}

static void history(void **state)
{
	struct sync_history_query q;
	const char *err = NULL;

	(void)state;
	assert_int_equal(fe_query_history(req_of("consistent=1"), &q, &err), 0);
	assert_int_equal(q.limit, SYNC_LIMIT_DEFAULT);
	assert_int_equal(q.from_seq + q.before_seq + q.around_seq, 0);
	assert_int_equal(fe_query_history(req_of("beforeSeq=9&limit=999"), &q,
					  &err),
			 0);
	assert_int_equal(q.before_seq, 9);
	assert_int_equal(q.limit, SYNC_LIMIT_MAX);
	assert_int_equal(fe_query_history(req_of("aroundSeq=0"), &q, &err),
			 CF_EBADREQ);
	assert_string_equal(err, "'aroundSeq' must be a positive integer");
	assert_int_equal(fe_query_history(req_of("fromSeq=1&aroundSeq=2"), &q,
					  &err),
			 CF_EBADREQ);
	assert_string_equal(err, "give one of fromSeq, beforeSeq, aroundSeq");
	assert_int_equal(fe_query_history(req_of("limit=-1"), &q, &err),
			 CF_EBADREQ);
}

static void sync_forms(void **state)
{
	struct fe_query_sync qs;
	const char *err = NULL;

	(void)state;
	assert_int_equal(fe_query_sync(req_of(""), &qs, &err), 0);
	assert_false(qs.form);
	assert_int_equal(qs.after, 0);
	assert_int_equal(qs.limit, SYNC_FEED_LIMIT_DEFAULT);
	assert_int_equal(qs.wait, 0);
	assert_int_equal(fe_query_sync(req_of("cursor=m0090&limit=7&wait=600"),
				       &qs, &err),
			 0);
	assert_int_equal(qs.after, 90);
	assert_int_equal(qs.limit, 7);
	assert_int_equal(qs.wait, FE_SYNC_WAIT_MAX_S);
	/* limit 0 is refused, as on every other route */
	assert_int_equal(fe_query_sync(req_of("cursor=m0090&limit=0"), &qs,
				       &err),
			 CF_EBADREQ);
	assert_string_equal(err, "'limit' must be a positive integer");
	assert_int_equal(fe_query_sync(req_of("conversationId=c&limit=0"),
				       &qs, &err),
			 CF_EBADREQ);
	assert_int_equal(fe_query_sync(req_of("cursor=a1"), &qs, &err),
			 CF_EBADREQ);
	assert_string_equal(err, "malformed cursor");
	assert_int_equal(fe_query_sync(req_of("wait=x"), &qs, &err),
			 CF_EBADREQ);
	assert_string_equal(err, "'wait' is an integer");
	/* the conversation form ignores cursor and wait */
	assert_int_equal(fe_query_sync(req_of("conversationId=c%5F1&lastSeq=0&"
					      "limit=9999&cursor=bad"),
				       &qs, &err),
			 0);
	assert_true(qs.form);
	assert_true(cf_str_eqc(qs.conv, "c_1"));
	assert_int_equal(qs.last, 0);
	assert_int_equal(qs.limit, SYNC_LIMIT_MAX);
	assert_int_equal(fe_query_sync(req_of("conversationId=c&lastSeq=-1"),
				       &qs, &err),
			 CF_EBADREQ);
	assert_string_equal(err, "'lastSeq' is an integer");
}

static void presence_and_ws(void **state)
{
	struct cf_str ids[FE_QUERY_PRESENCE_MAX], dev;
	const char *err = NULL;
	char many[FE_QUERY_PRESENCE_MAX * 4 + 16];
	size_t off = 6;
	unsigned n;

	(void)state;
	assert_int_equal(fe_query_presence(req_of("users=a,,b%2Cc,"), ids, &n,
					   &err),
			 0);
	assert_int_equal(n, 3);
	assert_true(cf_str_eqc(ids[0], "a"));
	assert_true(cf_str_eqc(ids[1], "b"));
	assert_true(cf_str_eqc(ids[2], "c"));
	assert_int_equal(fe_query_presence(req_of("users=,,"), ids, &n, &err),
			 0);
	assert_int_equal(n, 0);
	assert_int_equal(fe_query_presence(req_of("users="), ids, &n, &err),
			 CF_EBADREQ);
	assert_string_equal(err, "'users' is required");
	assert_int_equal(fe_query_presence(req_of("x=1"), ids, &n, &err),
			 CF_EBADREQ);
	assert_int_equal(fe_query_presence(req_of("users=a,b*d"), ids, &n,
					   &err),
			 CF_EBADREQ);
	assert_string_equal(err, "bad user id list");
	/* FE_QUERY_PRESENCE_MAX ids, then one more */
	memcpy(many, "users=", 6);
	for (unsigned i = 0; i < FE_QUERY_PRESENCE_MAX; i++)
		off += (size_t)snprintf(many + off, sizeof many - off, "%s%u",
					i > 0 ? "," : "", i % 10);
	assert_int_equal(fe_query_presence(req_of(many), ids, &n, &err), 0);
	assert_int_equal(n, FE_QUERY_PRESENCE_MAX);
	snprintf(many + off, sizeof many - off, ",z");
	assert_int_equal(fe_query_presence(req_of(many), ids, &n, &err),
			 CF_EBADREQ);
	assert_int_equal(fe_query_ws(req_of(""), &dev, &err), 0);
	assert_true(cf_str_eqc(dev, "default"));
	assert_int_equal(fe_query_ws(req_of("deviceId=phone.1"), &dev, &err),
			 0);
	assert_true(cf_str_eqc(dev, "phone.1"));
	assert_int_equal(fe_query_ws(req_of("deviceId="), &dev, &err),
			 CF_EBADREQ);
	assert_int_equal(fe_query_ws(req_of("deviceId=a%20b"), &dev, &err),
			 CF_EBADREQ);
	assert_non_null(strstr(err, "deviceId"));
}

static void admin(void **state)
{
	struct sync_history_query q;
	const char *err = NULL;
	uint64_t part;
	uint32_t segs;
	bool all;

	(void)state;
	assert_int_equal(fe_query_admin_messages(req_of(""), &q, &err), 0);
	assert_int_equal(q.from_seq, 1);
	assert_int_equal(q.limit, SYNC_LIMIT_MAX);
	assert_int_equal(fe_query_admin_messages(req_of("fromSeq=0"), &q, &err),
			 CF_EBADREQ);
	assert_string_equal(err, "fromSeq must be a positive integer");
	assert_int_equal(fe_query_admin_compact(req_of(""), 16, &all, &part,
						&segs, &err),
			 0);
	assert_true(all);
	assert_int_equal(segs, FE_COMPACT_SEGMENTS_DEFAULT);
	assert_int_equal(fe_query_admin_compact(req_of("partition=0&"
						       "segments=1024"),
						1, &all, &part, &segs, &err),
			 0);
	assert_false(all);
	assert_int_equal(part, 0);
	assert_int_equal(segs, 1024);
	assert_int_equal(fe_query_admin_compact(req_of("partition=1"), 1, &all,
						&part, &segs, &err),
			 CF_EBADREQ);
	assert_int_equal(fe_query_admin_compact(req_of("segments=0"), 1, &all,
						&part, &segs, &err),
			 CF_EBADREQ);
	assert_string_equal(err, "segments must be 1..1024");
}

static void auth_params(void **state)
{
	struct cf_cluster cl;
	const char *msg = NULL;
	char user[129];

	(void)state;
	memset(&cl, 0, sizeof cl);
	memcpy(cl.secret, "s", 1);
	cl.secret_len = 1;
	assert_int_equal(fe_auth_request(&cl, true, req_of("user=al%69ce"),
					 user, &msg),
			 0);
	assert_string_equal(user, "alice");
	assert_int_equal(fe_auth_request(&cl, false, req_of("user=alice"), user,
					 &msg),
			 CF_EUNAUTH);
	assert_int_equal(fe_auth_request(&cl, true, req_of("user=a+b"), user,
					 &msg),
			 CF_EUNAUTH);
	assert_non_null(msg);
	assert_int_equal(fe_auth_request(&cl, true, req_of("token=x.y.z&"
							   "user=alice"),
					 user, &msg),
			 CF_EUNAUTH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conv_list),   cmocka_unit_test(history),
		cmocka_unit_test(sync_forms),  cmocka_unit_test(admin),
		cmocka_unit_test(auth_params), cmocka_unit_test(presence_and_ws),
	};
	int rv;

	fe_http_parser_init(&parser, NULL);
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	fe_http_parser_release(&parser);
	return rv;
}
