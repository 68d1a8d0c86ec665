#include "config.h"

/*
 * CORS between the nodes of a cluster (issue 12, fe_cors.h), end to end on
 * one 3-node cluster of real confabd processes: a preflight from node 2's
 * origin to node 1 answers 204 with the methods, headers and max age,
 * without authentication; requests with node 3's origin get it back in
 * Access-Control-Allow-Origin (answers and errors alike) with Vary: Origin;
 * a foreign Origin gets no Access-Control-* header and its preflight 403
 * `forbidden`; a WebSocket upgrade with a foreign Origin is refused (403)
 * and one with a cluster origin or none accepted; requests without Origin
 * are answered as before; an error answered after a parse error names no
 * origin.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_err.h"
#include "common/cf_time.h"

#define START_TIMEOUT_MS 30000
#define N_TESTS 6
#define EVIL "http://evil.example:8080"

static struct cf_test_cluster cluster;
static int n_passed;

static int group_setup(void **state)
{
	(void)state;
	return cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
}

/*
 * One request to node with Origin origin (none if NULL) and more header
 * lines (or NULL); returns the status, *r holds the answer.
 */
static int req(unsigned node, const char *method, const char *path,
	       const char *origin, const char *more, const char *body,
	       struct cf_http_resp *r)
{
	char h[512];

	snprintf(h, sizeof h, "%s%s%s%s", origin != NULL ? "Origin: " : "",
		 origin != NULL ? origin : "", origin != NULL ? "\r\n" : "",
		 more != NULL ? more : "");
	cf_http_resp_release(r);
	cf_http_resp_init(r);
	assert_int_equal(cf_http_request(&cluster.nodes[node].conn, method,
					 path, h, body,
					 body != NULL ? strlen(body) : 0, r),
			 0);
	return r->status;
}

/* Header name of r, or "" if absent (static buffer). */
static const char *hdr(const struct cf_http_resp *r, const char *name)
{
	static char v[512];

	if (cf_http_resp_header(r, name, v, sizeof v) != 0)
		v[0] = '\0';
	return v;
}

static bool has_hdr(const struct cf_http_resp *r, const char *name)
{
	char v[512];

	return cf_http_resp_header(r, name, v, sizeof v) == 0;
}

/* No Access-Control-* header at all in r. */
static void no_cors(const struct cf_http_resp *r)
{
	static const char *const names[] = {
		"Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
		"Access-Control-Allow-Headers", "Access-Control-Max-Age",
		"Access-Control-Expose-Headers",
		"Access-Control-Allow-Credentials",
	};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (has_hdr(r, names[i]))
			fail_msg("%s in: %s", names[i], r->head.data);
	}
}

static void preflight_from_node_2_to_node_1_is_204(void **state)
{
	static const char *const paths[] = {
		"/v1/messages", "/v1/conversations", "/v1/cluster",
		"/v1/conversations/c_1/messages/3", "/v1/media",
		"/v1/no-such-route",
	};
	const char *o2 = cluster.nodes[2].url;
	struct cf_http_resp r;

	(void)state;
	cf_http_resp_init(&r);
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		/* no credentials: a browser sends none with a preflight */
		assert_int_equal(
			req(1, "OPTIONS", paths[i], o2,
			    "Access-Control-Request-Method: POST\r\n"
			    "Access-Control-Request-Headers: authorization, "
			    "content-type\r\n",
			    NULL, &r),
			204);
		assert_string_equal(hdr(&r, "Access-Control-Allow-Origin"), o2);
		assert_string_equal(hdr(&r, "Vary"), "Origin");
		assert_string_equal(hdr(&r, "Access-Control-Allow-Methods"),
				    "GET, POST, PATCH, DELETE, OPTIONS");
		assert_string_equal(
			hdr(&r, "Access-Control-Allow-Headers"),
			"Authorization, X-Confab-User, Content-Type");
		assert_string_equal(hdr(&r, "Access-Control-Max-Age"), "600");
		assert_int_equal(r.body_len, 0);
	}
	/* the connection goes on serving (keep-alive after a 204) */
	assert_int_equal(req(1, "GET", "/v1/cluster", o2, NULL, NULL, &r), 200);
	cf_http_resp_release(&r);
	n_passed++;
}

static void requests_from_node_3_get_its_origin_back(void **state)
{
	const char *o3 = cluster.nodes[3].url;
	char upper[80];
	struct cf_http_resp r;

	(void)state;
	cf_http_resp_init(&r);
	assert_int_equal(req(1, "GET", "/v1/conversations", o3,
			     "X-Confab-User: cors-alice\r\n", NULL, &r),
			 200);
	assert_string_equal(hdr(&r, "Access-Control-Allow-Origin"), o3);
	assert_string_equal(hdr(&r, "Vary"), "Origin");
	assert_string_equal(hdr(&r, "Access-Control-Expose-Headers"),
			    "Retry-After");
	assert_false(has_hdr(&r, "Access-Control-Allow-Methods"));

	assert_int_equal(req(1, "POST", "/v1/conversations", o3,
			     "X-Confab-User: cors-alice\r\n"
			     "Content-Type: application/json\r\n",
			     "{\"type\":\"direct\",\"members\":[\"cors-bob\"]}",
			     &r),
			 201);
	assert_string_equal(hdr(&r, "Access-Control-Allow-Origin"), o3);
	assert_string_equal(hdr(&r, "Vary"), "Origin");

	/* an error is readable by the page too */
	assert_int_equal(req(1, "GET", "/v1/conversations", o3, NULL, NULL, &r),
			 401);
	assert_string_equal(hdr(&r, "Access-Control-Allow-Origin"), o3);

	/* scheme and host compare case-insensitively; echoed verbatim */
	snprintf(upper, sizeof upper, "HTTP://%s",
		 cluster.nodes[3].url + strlen("http://"));
	assert_int_equal(req(1, "GET", "/v1/cluster", upper, NULL, NULL, &r),
			 200);
	assert_string_equal(hdr(&r, "Access-Control-Allow-Origin"), upper);
	/* its own origin too */
	assert_int_equal(req(1, "GET", "/v1/cluster", cluster.nodes[1].url,
			     NULL, NULL, &r),
			 200);
	assert_string_equal(hdr(&r, "Access-Control-Allow-Origin"),
			    cluster.nodes[1].url);
	cf_http_resp_release(&r);
	n_passed++;
}

static void a_foreign_origin_gets_no_cors_and_its_preflight_403(void **state)
{
	char slash[80], port[80];
	const char *foreign[3];
	struct cf_http_resp r;
	json_t *j;

	(void)state;
	snprintf(slash, sizeof slash, "%s/", cluster.nodes[2].url);
	/* another port on the cluster's address */
	snprintf(port, sizeof port, "http://%s:1", cluster.ip);
	foreign[0] = EVIL;
	foreign[1] = slash;
	foreign[2] = port;
	cf_http_resp_init(&r);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(req(1, "GET", "/v1/conversations", foreign[i],
				     "X-Confab-User: cors-alice\r\n", NULL,
				     &r),
				 200);
		no_cors(&r);
		assert_string_equal(hdr(&r, "Vary"), "Origin");
		assert_int_equal(req(1, "OPTIONS", "/v1/messages", foreign[i],
				     "Access-Control-Request-Method: POST\r\n",
				     NULL, &r),
				 403);
		no_cors(&r);
		j = cf_http_resp_json(&r);
		assert_non_null(j);
		assert_string_equal(
			json_string_value(json_object_get(
				json_object_get(j, "error"), "code")),
			"forbidden");
	}
	assert_int_equal(req(2, "OPTIONS", "/v1/cluster", "null", NULL, NULL,
			     &r),
			 403);
	no_cors(&r);
	cf_http_resp_release(&r);
	n_passed++;
}

/* A WebSocket upgrade of user on node with Origin origin (or none). */
static int upgrade(unsigned node, const char *origin, const char *user)
{
	struct cf_http_conn c;
	struct cf_http_resp r;
	char h[256], path[128];
	int status;

	snprintf(h, sizeof h,
		 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		 "Sec-WebSocket-Version: 13\r\n%s%s%s",
		 origin != NULL ? "Origin: " : "",
		 origin != NULL ? origin : "", origin != NULL ? "\r\n" : "");
	snprintf(path, sizeof path, "/v1/ws?user=%s&deviceId=cors", user);
	cf_http_resp_init(&r);
	assert_int_equal(cf_http_conn_init(&c, cluster.nodes[node].url, 10000),
			 0);
	assert_int_equal(cf_http_request(&c, "GET", path, h, NULL, 0, &r), 0);
	status = r.status;
	if (status == 403) {
		json_t *j = cf_http_resp_json(&r);

		assert_non_null(j);
		assert_string_equal(
			json_string_value(json_object_get(
				json_object_get(j, "error"), "code")),
			"forbidden");
	}
	cf_http_resp_release(&r);
	cf_http_conn_release(&c);
	return status;
}

static void a_websocket_from_a_foreign_origin_is_refused(void **state)
{
	char port[80];

	(void)state;
	snprintf(port, sizeof port, "http://%s:1", cluster.ip);
	assert_int_equal(upgrade(1, EVIL, "cors-ws"), 403);
	assert_int_equal(upgrade(1, port, "cors-ws"), 403);
	assert_int_equal(upgrade(1, "null", "cors-ws"), 403);
	assert_int_equal(upgrade(1, cluster.nodes[2].url, "cors-ws"), 101);
	assert_int_equal(upgrade(1, cluster.nodes[1].url, "cors-ws"), 101);
	assert_int_equal(upgrade(3, cluster.nodes[1].url, "cors-ws"), 101);
	assert_int_equal(upgrade(1, NULL, "cors-ws"), 101); /* not a browser */
	n_passed++;
}

static void requests_without_origin_are_unchanged(void **state)
{
	struct cf_http_resp r;

	(void)state;
	cf_http_resp_init(&r);
	assert_int_equal(req(2, "GET", "/v1/conversations", NULL,
			     "X-Confab-User: cors-alice\r\n", NULL, &r),
			 200);
	no_cors(&r);
	assert_int_equal(req(2, "GET", "/v1/conversations", NULL, NULL, NULL,
			     &r),
			 401);
	no_cors(&r);
	/* OPTIONS without Origin is no preflight: routed as before */
	assert_int_equal(req(2, "OPTIONS", "/v1/messages", NULL,
			     "X-Confab-User: cors-alice\r\n", NULL, &r),
			 405);
	assert_string_equal(hdr(&r, "Allow"), "POST");
	no_cors(&r);
	/* outside /v1/ nothing changes, even with a cluster Origin */
	assert_int_equal(req(2, "GET", "/healthz", cluster.nodes[1].url, NULL,
			     NULL, &r),
			 200);
	no_cors(&r);
	assert_false(has_hdr(&r, "Vary"));
	cf_http_resp_release(&r);
	n_passed++;
}

/*
 * Send text to node on a new connection and read what comes back until
 * the node closes it (at most 10 s) into out (NUL-terminated).
 */
static void raw_exchange(unsigned node, const char *text, char *out,
			 size_t size)
{
	uint64_t deadline = cf_mono_ms() + 10000;
	struct sockaddr_in a;
	size_t got = 0;
	ssize_t n;
	int fd;

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)cluster.nodes[node].client_port);
	assert_int_equal(inet_pton(AF_INET, cluster.ip, &a.sin_addr), 1);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	while (got + 1 < size) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = cf_mono_ms();

		assert_true(now < deadline);
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		n = read(fd, out + got, size - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	out[got] = '\0';
	close(fd);
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s += strlen(what);
	}
	return n;
}

/*
 * A malformed request after a good one on the same connection: its 400
 * names no origin (the parser's previous request is not the one answered).
 */
static void a_parse_error_after_a_request_gets_no_cors(void **state)
{
	char req1[512], both[1200], out[8192];

	(void)state;
	snprintf(req1, sizeof req1,
		 "GET /v1/cluster HTTP/1.1\r\nHost: %s:%d\r\n"
		 "Origin: %s\r\n",
		 cluster.ip, cluster.nodes[1].client_port,
		 cluster.nodes[2].url);
	/* the second one is laid out like the first up to its bare CR */
	snprintf(both, sizeof both, "%s\r\n%sX: a\rb\r\n\r\n", req1, req1);
	raw_exchange(1, both, out, sizeof out);
	assert_int_equal(strncmp(out, "HTTP/1.1 200 ", 13), 0);
	assert_non_null(strstr(out, "HTTP/1.1 400 "));
	assert_int_equal(count(out, "Access-Control-Allow-Origin:"), 1);
	assert_true(strstr(out, "Access-Control-Allow-Origin:") <
		    strstr(out, "HTTP/1.1 400 "));
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(preflight_from_node_2_to_node_1_is_204),
		cmocka_unit_test(requests_from_node_3_get_its_origin_back),
		cmocka_unit_test(
			a_foreign_origin_gets_no_cors_and_its_preflight_403),
		cmocka_unit_test(a_websocket_from_a_foreign_origin_is_refused),
		cmocka_unit_test(requests_without_origin_are_unchanged),
		cmocka_unit_test(a_parse_error_after_a_request_gets_no_cors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
