#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/cf_buf.h"
#include "common/cf_conf.h"
#include "frontend/fe_cors.h"

static bool is(const char *origin, const char *url)
{
	return fe_cors_origin_is(cf_str_c(origin), url);
}

static void same_origin_matches_with_case_and_default_ports(void **state)
{
	(void)state;
	assert_true(is("http://127.0.0.1:8001", "http://127.0.0.1:8001"));
	assert_true(is("HTTP://127.0.0.1:8001", "http://127.0.0.1:8001"));
	assert_true(is("http://Node1.Example:8001", "http://node1.example:8001"));
	/* a browser leaves out the scheme's default port */
	assert_true(is("http://10.0.0.1", "http://10.0.0.1:80"));
	assert_true(is("http://10.0.0.1:80", "http://10.0.0.1"));
	assert_true(is("https://chat.example", "https://chat.example:443"));
	/* the URL's path is not part of its origin */
	assert_true(is("http://127.0.0.1:8001", "http://127.0.0.1:8001/"));
	assert_true(is("http://127.0.0.1:8001", "http://127.0.0.1:8001/app/"));
	assert_true(is("http://[::1]:8001", "http://[::1]:8001"));
}

static void other_origins_do_not_match(void **state)
{
	static const char *const bad[] = {
		"http://127.0.0.1:8002",     /* another port */
		"http://127.0.0.2:8001",     /* another host */
		"https://127.0.0.1:8001",    /* another scheme */
		"http://127.0.0.1",	     /* port 80, not 8001 */
		"http://127.0.0.1:8001/",    /* an Origin has no path */
		"http://127.0.0.1:8001/x",
		"http://127.0.0.1:08001x",
		"http://127.0.0.1:",
		"http://127.0.0.1:65536",
		"http://127.0.0.1:0",
		"http://u@127.0.0.1:8001",   /* userinfo */
		"http://127.0.0.1:8001.evil.example",
		"http://127.0.0.1.evil.example:8001",
		"ws://127.0.0.1:8001",
		"null",
		"",
		"http://",
		"http://:8001",
		"http://127.0.0.1:8001 ",
		"http://127.0.0.1:8001\r\nX: y",
		"127.0.0.1:8001",
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (is(bad[i], "http://127.0.0.1:8001"))
			fail_msg("'%s' matched", bad[i]);
	}
	assert_false(is("http://127.0.0.1:8001", NULL));
	assert_false(fe_cors_origin_is((struct cf_str){NULL, 0},
				       "http://127.0.0.1:8001"));
}

static void an_origin_over_the_bound_never_matches(void **state)
{
	char big[FE_CORS_ORIGIN_MAX + 32];
	char url[FE_CORS_ORIGIN_MAX + 32];
	size_t n;

	(void)state;
	/* a host name that makes the Origin one byte over the bound */
	memcpy(big, "http://", 7);
	n = FE_CORS_ORIGIN_MAX + 1 - 7;
	memset(big + 7, 'a', n);
	big[7 + n] = '\0';
	assert_int_equal(strlen(big), FE_CORS_ORIGIN_MAX + 1);
	snprintf(url, sizeof url, "%s", big);
	assert_false(is(big, url));
	big[FE_CORS_ORIGIN_MAX] = '\0'; /* at the bound: fine */
	url[FE_CORS_ORIGIN_MAX] = '\0';
	assert_true(is(big, url));
}

static struct cf_cluster three_nodes(void)
{
	struct cf_cluster cl;

	memset(&cl, 0, sizeof cl);
	cl.n_nodes = 3;
	for (unsigned i = 0; i < 3; i++) {
		cl.nodes[i].id = i + 1;
		snprintf(cl.nodes[i].client_url, sizeof cl.nodes[i].client_url,
			 "http://127.0.0.1:%u", 8001 + i);
	}
	return cl;
}

static void the_cluster_origins_are_the_client_urls(void **state)
{
	struct cf_cluster cl = three_nodes();

	(void)state;
	assert_true(fe_cors_cluster_origin(&cl, CF_STR_LIT("http://127.0.0.1:8001")));
	assert_true(fe_cors_cluster_origin(&cl, CF_STR_LIT("http://127.0.0.1:8003")));
	assert_false(fe_cors_cluster_origin(&cl, CF_STR_LIT("http://127.0.0.1:8004")));
	assert_false(fe_cors_cluster_origin(NULL, CF_STR_LIT("http://127.0.0.1:8001")));
}

static void same_host_compares_with_the_host_header(void **state)
{
	(void)state;
	assert_true(fe_cors_same_host(CF_STR_LIT("http://localhost:8001"),
				      CF_STR_LIT("localhost:8001")));
	assert_true(fe_cors_same_host(CF_STR_LIT("http://LocalHost:8001"),
				      CF_STR_LIT("localhost:8001")));
	assert_true(fe_cors_same_host(CF_STR_LIT("http://chat.example"),
				      CF_STR_LIT("chat.example:80")));
	assert_true(fe_cors_same_host(CF_STR_LIT("https://chat.example"),
				      CF_STR_LIT("chat.example")));
	assert_false(fe_cors_same_host(CF_STR_LIT("https://chat.example"),
				       CF_STR_LIT("chat.example:80")));
	assert_false(fe_cors_same_host(CF_STR_LIT("http://evil.example:8001"),
				       CF_STR_LIT("localhost:8001")));
	assert_false(fe_cors_same_host(CF_STR_LIT("http://localhost:8001"),
				       CF_STR_LIT("localhost:8001/x")));
	assert_false(fe_cors_same_host(CF_STR_LIT("http://localhost:8001"),
				       (struct cf_str){NULL, 0}));
}

static struct fe_http_req request(const char *path, const char *origin,
				  const char *host)
{
	struct fe_http_req r;

	memset(&r, 0, sizeof r);
	r.method = FE_HTTP_GET;
	r.path = cf_str_c(path);
	if (origin != NULL)
		r.h[FE_HTTP_H_ORIGIN] = cf_str_c(origin);
	if (host != NULL)
		r.h[FE_HTTP_H_HOST] = cf_str_c(host);
	return r;
}

static void ws_origin_must_be_the_cluster_or_the_host(void **state)
{
	struct cf_cluster cl = three_nodes();
	struct fe_http_req r;

	(void)state;
	r = request("/v1/ws", NULL, "127.0.0.1:8001");
	assert_true(fe_cors_ws_allowed(&cl, &r)); /* not a browser */
	r = request("/v1/ws", "http://127.0.0.1:8002", "127.0.0.1:8001");
	assert_true(fe_cors_ws_allowed(&cl, &r));
	r = request("/v1/ws", "http://localhost:8001", "localhost:8001");
	assert_true(fe_cors_ws_allowed(&cl, &r)); /* its own page */
	r = request("/v1/ws", "http://evil.example", "127.0.0.1:8001");
	assert_false(fe_cors_ws_allowed(&cl, &r));
	r = request("/v1/ws", "null", "127.0.0.1:8001");
	assert_false(fe_cors_ws_allowed(&cl, &r));
}

static void headers_name_the_origin_only_when_it_is_a_node(void **state)
{
	struct cf_cluster cl = three_nodes();
	struct cf_buf b = CF_BUF_INIT;
	struct fe_http_req r;

	(void)state;
	r = request("/v1/sync", "http://127.0.0.1:8003", NULL);
	assert_int_equal(fe_cors_append(&b, &cl, &r), 0);
	assert_int_equal(cf_buf_append(&b, "", 1), 0);
	assert_string_equal(b.data,
			    "Vary: Origin\r\n"
			    "Access-Control-Allow-Origin: http://127.0.0.1:8003\r\n"
			    "Access-Control-Expose-Headers: Retry-After\r\n");
	cf_buf_truncate(&b, 0);

	r = request("/v1/sync", "http://evil.example", NULL);
	assert_int_equal(fe_cors_append(&b, &cl, &r), 0);
	assert_int_equal(cf_buf_append(&b, "", 1), 0);
	assert_string_equal(b.data, "Vary: Origin\r\n");
	cf_buf_truncate(&b, 0);

	r = request("/v1/sync", NULL, NULL);
	assert_int_equal(fe_cors_append(&b, &cl, &r), 0);
	assert_int_equal(cf_buf_append(&b, "", 1), 0);
	assert_string_equal(b.data, "Vary: Origin\r\n");
	cf_buf_truncate(&b, 0);

	/* outside /v1/ nothing is added */
	r = request("/metrics", "http://127.0.0.1:8003", NULL);
	assert_int_equal(fe_cors_append(&b, &cl, &r), 0);
	assert_int_equal(b.len, 0);
	cf_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_origin_matches_with_case_and_default_ports),
		cmocka_unit_test(other_origins_do_not_match),
		cmocka_unit_test(an_origin_over_the_bound_never_matches),
		cmocka_unit_test(the_cluster_origins_are_the_client_urls),
		cmocka_unit_test(same_host_compares_with_the_host_header),
		cmocka_unit_test(ws_origin_must_be_the_cluster_or_the_host),
		cmocka_unit_test(headers_name_the_origin_only_when_it_is_a_node),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
