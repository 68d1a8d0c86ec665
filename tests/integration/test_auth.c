#include "config.h"

/*
 * Authentication (issue 4, API.md "Authentication"), end to end on one
 * 3-node cluster of real confabd processes started with --auth=jwt:
 * tokens minted by `confabctl token` from the cluster file are accepted on
 * HTTP (Authorization: Bearer) and on the WebSocket upgrade (?token=);
 * expired, badly signed, HS384, "none", sub-less and malformed tokens, and
 * the development headers, are refused with 401 and API.md's error body.
 * Also: confabctl token's --ttl and usage errors, and a node that refuses
 * to start with --auth dev on a non-loopback client address.
 * Bad tokens are made here with libjwt (or by hand for "none").
 */

#include <errno.h>
#include <jwt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_err.h"

#define START_TIMEOUT_MS 30000
#define N_TESTS 6

static struct cf_test_cluster cluster;
static int n_passed;
static char secret[256];

static const char *builddir(void)
{
	const char *b = getenv("CONFAB_BUILDDIR");

	return b != NULL ? b : ".";
}

/* Run cmd with sh; its stdout (first line, trimmed) in out; exit status. */
static int run(const char *cmd, char *out, size_t size)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	int st;

	assert_non_null(p);
	out[0] = '\0';
	if (fgets(out, (int)size, p) != NULL) {
		n = strlen(out);
		while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
			out[--n] = '\0';
	}
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int group_setup(void **state)
{
	char path[PATH_MAX + 16];
	FILE *f;
	size_t n;

	(void)state;
	setenv("CONFAB_IT_ARGS", "--auth=jwt", 1);
	if (cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0)
		return -1; /* it stopped what it started */
	snprintf(path, sizeof path, "%s/secret.key", cluster.dir);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(secret, 1, sizeof secret - 1, f);
	fclose(f);
	while (n > 0 && (secret[n - 1] == '\n' || secret[n - 1] == ' '))
		n--;
	secret[n] = '\0';
	return n > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
}

/* A token for user (NULL: no sub) with exp, signed with alg and key. */
static char *make_token(jwt_alg_t alg, const char *key, const char *user,
			long exp)
{
	jwt_t *jwt = NULL;
	char *s;

	assert_int_equal(jwt_new(&jwt), 0);
	if (user != NULL)
		assert_int_equal(jwt_add_grant(jwt, "sub", user), 0);
	assert_int_equal(jwt_add_grant_int(jwt, "exp", exp), 0);
	assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)key,
				     key ? (int)strlen(key) : 0),
			 0);
	s = jwt_encode_str(jwt);
	assert_non_null(s);
	jwt_free(jwt);
	return s;
}

static char *mint(const char *user, const char *ttl)
{
	char cmd[PATH_MAX * 3], out[4096];

	snprintf(cmd, sizeof cmd, "'%s/confabctl' token --cluster '%s' "
		 "--user '%s'%s%s", builddir(), cluster.conf_path, user,
		 ttl ? " --ttl " : "", ttl ? ttl : "");
	assert_int_equal(run(cmd, out, sizeof out), 0);
	assert_true(strlen(out) > 20);
	return strdup(out);
}

/* GET path on node with extra headers; returns the status. */
static int get(unsigned node, const char *path, const char *headers,
	       json_t **body)
{
	struct cf_http_resp r;
	int rv;

	cf_http_resp_init(&r);
	rv = cf_http_request(&cluster.nodes[node].conn, "GET", path, headers,
			     NULL, 0, &r);
	assert_int_equal(rv, 0);
	rv = r.status;
	if (body != NULL) {
		*body = cf_http_resp_json(&r);
		if (*body != NULL)
			json_incref(*body);
	}
	cf_http_resp_release(&r);
	return rv;
}

static void assert_401(unsigned node, const char *path, const char *headers)
{
	json_t *j = NULL, *e;
	int st = get(node, path, headers, &j);

	if (st != 401)
		fail_msg("GET %s [%s]: %d, expected 401", path,
			 headers ? headers : "", st);
	e = json_object_get(j, "error");
	assert_non_null(e);
	assert_string_equal(cf_test_str(e, "code"), "unauthorized");
	assert_true(strlen(cf_test_str(e, "message")) > 0);
	json_decref(j);
}

static void assert_bearer_401(unsigned node, const char *tok)
{
	char h[8192], path[8192];
	struct cf_ws_client w;

	snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", tok);
	assert_401(node, "/v1/conversations", h);
	snprintf(path, sizeof path, "/v1/conversations?token=%s", tok);
	assert_401(node, path, NULL);
	snprintf(path, sizeof path, "/v1/ws?token=%s&deviceId=d1", tok);
	assert_int_not_equal(
		cf_ws_connect(&w, cluster.nodes[node].url, path, 5000), 0);
}

static void confabctl_token_is_accepted_on_http_and_websocket(void **state)
{
	char *tok = mint("alice", NULL);
	char h[4096], path[4096], *data = NULL;
	struct cf_ws_client w;
	json_t *j = NULL;
	int op;
	size_t len;

	(void)state;
	snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", tok);
	for (unsigned n = 1; n <= 3; n++) {
		assert_int_equal(get(n, "/v1/conversations", h, &j), 200);
		assert_non_null(j);
		json_decref(j);
		j = NULL;
	}
	snprintf(path, sizeof path, "/v1/ws?token=%s&deviceId=d1", tok);
	assert_int_equal(cf_ws_connect(&w, cluster.nodes[2].url, path, 5000),
			 0);
	/* The socket is live: a ping frame is answered, nothing else came. */
	assert_int_equal(cf_ws_send(&w, CF_WS_PING, "x", 1), 0);
	assert_int_equal(cf_ws_recv(&w, 300, &op, &data, &len), CF_ETIMEDOUT);
	assert_int_equal(w.closed, 0);
	cf_ws_close(&w);
	free(tok);
	n_passed++;
}

static void bad_tokens_are_refused_with_401(void **state)
{
	long now = (long)time(NULL);
	char *t;

	(void)state;
	/* A good one made the same way is accepted (the helpers are sound). */
	t = make_token(JWT_ALG_HS256, secret, "bob", now + 600);
	{
		char h[4096];

		snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", t);
		assert_int_equal(get(1, "/v1/conversations", h, NULL), 200);
	}
	free(t);

	t = make_token(JWT_ALG_HS256, secret, "bob", now - 10); /* expired */
	assert_bearer_401(1, t);
	free(t);
	t = make_token(JWT_ALG_HS256, "another-secret-key-0123456789", "bob",
		       now + 600); /* badly signed */
	assert_bearer_401(2, t);
	free(t);
	t = make_token(JWT_ALG_HS384, secret, "bob", now + 600);
	assert_bearer_401(3, t);
	free(t);
	t = make_token(JWT_ALG_HS256, secret, NULL, now + 600); /* no sub */
	assert_bearer_401(1, t);
	free(t);
	t = make_token(JWT_ALG_HS256, secret, "bad user!", now + 600);
	assert_bearer_401(2, t);
	free(t);
	/* alg "none": {"alg":"none","typ":"JWT"}.{"sub":"bob","exp":4e9}. */
	assert_bearer_401(3, "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
			     "eyJzdWIiOiJib2IiLCJleHAiOjQwMDAwMDAwMDB9.");
	assert_bearer_401(1, "not-a-token");
	assert_bearer_401(1, "a.b.c");
	/* Missing, or not a Bearer. */
	assert_401(2, "/v1/conversations", NULL);
	assert_401(2, "/v1/conversations", "Authorization: Basic Ym9iOng=\r\n");
	n_passed++;
}

static void dev_identity_is_refused_under_jwt(void **state)
{
	struct cf_ws_client w;

	(void)state;
	assert_401(1, "/v1/conversations", "X-Confab-User: bob\r\n");
	assert_401(2, "/v1/conversations?user=bob", NULL);
	assert_int_not_equal(cf_ws_connect(&w, cluster.nodes[3].url,
					   "/v1/ws?user=bob&deviceId=d1",
					   5000),
			     0);
	n_passed++;
}

static void confabctl_token_ttl_sets_exp(void **state)
{
	static const struct {
		const char *ttl;
		long secs;
	} cases[] = {
		{NULL, 86400}, {"3600", 3600}, {"30m", 1800},
		{"24h", 86400}, {"7d", 7 * 86400},
	};
	char cmd[PATH_MAX * 3], out[4096];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *t = mint("carol", cases[i].ttl);
		jwt_t *jwt = NULL;
		long now = (long)time(NULL), exp;

		assert_int_equal(jwt_decode(&jwt, t,
					    (const unsigned char *)secret,
					    (int)strlen(secret)),
				 0);
		assert_int_equal(jwt_get_alg(jwt), JWT_ALG_HS256);
		assert_string_equal(jwt_get_grant(jwt, "sub"), "carol");
		exp = jwt_get_grant_int(jwt, "exp");
		assert_true(exp >= now + cases[i].secs - 5 &&
			    exp <= now + cases[i].secs + 5);
		jwt_free(jwt);
		free(t);
	}
	/* Usage errors: exit 2 and nothing on stdout. */
	snprintf(cmd, sizeof cmd,
		 "'%s/confabctl' token --cluster '%s' --user carol --ttl 5x "
		 "2>/dev/null",
		 builddir(), cluster.conf_path);
	assert_int_equal(run(cmd, out, sizeof out), 2);
	assert_string_equal(out, "");
	snprintf(cmd, sizeof cmd,
		 "'%s/confabctl' token --cluster '%s' 2>/dev/null", builddir(),
		 cluster.conf_path);
	assert_int_equal(run(cmd, out, sizeof out), 2);
	snprintf(cmd, sizeof cmd,
		 "'%s/confabctl' token --cluster '%s' --user 'a b' "
		 "2>/dev/null",
		 builddir(), cluster.conf_path);
	assert_int_equal(run(cmd, out, sizeof out), 2);
	snprintf(cmd, sizeof cmd,
		 "'%s/confabctl' token --cluster /nonexistent/c.conf "
		 "--user carol 2>/dev/null",
		 builddir());
	assert_int_equal(run(cmd, out, sizeof out), 1);
	n_passed++;
}

static void token_works_for_writes_through_any_node(void **state)
{
	char *tok = mint("dave", "1h");
	char h[4096];
	struct cf_http_resp r;
	const char *body = "{\"type\":\"group\",\"id\":\"auth-g1\","
			   "\"title\":\"t\",\"members\":[\"erin\"]}";

	(void)state;
	snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", tok);
	cf_http_resp_init(&r);
	assert_int_equal(cf_http_request(&cluster.nodes[3].conn, "POST",
					 "/v1/conversations", h, body,
					 strlen(body), &r),
			 0);
	assert_int_equal(r.status, 201);
	assert_string_equal(cf_test_str(cf_http_resp_json(&r), "owner"),
			    "dave");
	cf_http_resp_release(&r);
	free(tok);
	n_passed++;
}

static void dev_auth_is_refused_on_a_non_loopback_address(void **state)
{
	char dir[] = "/tmp/confab-auth-XXXXXX", path[64], cmd[PATH_MAX * 2],
		log[128], line[512];
	FILE *f;
	int st, found = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/secret.key", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("0123456789abcdef0123456789abcdef\n", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/cluster.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("partitions 16\nsecret secret.key\n"
	      "node 1 raft=127.0.0.1:1 peer=127.0.0.1:2 "
	      "client=http://10.1.2.3:8001\n",
	      f);
	fclose(f);
	snprintf(log, sizeof log, "%s/out.log", dir);
	snprintf(cmd, sizeof cmd,
		 "timeout 10 '%s/confabd' --cluster '%s' --id 1 --data '%s/n1' "
		 "--auth dev >'%s' 2>&1",
		 builddir(), path, dir, log);
	st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	f = fopen(log, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, "--auth dev") != NULL &&
		    strstr(line, "loopback") != NULL)
			found = 1;
	fclose(f);
	assert_true(found);
	/* It failed before creating anything in its data folder. */
	snprintf(cmd, sizeof cmd, "test ! -e '%s/n1/raft'", dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			confabctl_token_is_accepted_on_http_and_websocket),
		cmocka_unit_test(bad_tokens_are_refused_with_401),
		cmocka_unit_test(dev_identity_is_refused_under_jwt),
		cmocka_unit_test(confabctl_token_ttl_sets_exp),
		cmocka_unit_test(token_works_for_writes_through_any_node),
		cmocka_unit_test(dev_auth_is_refused_on_a_non_loopback_address),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
