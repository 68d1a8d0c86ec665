#include "config.h"

/*
 * A node's start with the store's open off the loop (issue 11: "while
 * starting, /healthz answers and the log shows progress"), on a real
 * 3-node cluster. Node 3 is restarted with confabd's test-only option
 * --test-start-hold=FILE: its store's open (in libuv's thread pool) waits
 * while FILE exists, so the test sees the starting state for as long as it
 * needs, with no timing assumption.
 *
 * Checked while node 3 is held: /healthz 200 {"status":"starting"};
 * /readyz 503 with reason "starting"; a send, a history read, /v1/cluster,
 * an admin route and a WebSocket upgrade answer 503 `unavailable` with
 * Retry-After; /metrics 200 with confab_starting 1; the two other nodes
 * keep committing. Once FILE is removed: node 3 becomes ready, serves the
 * messages sent before and during its start (its indexes were rebuilt in
 * the pool), and says confab_starting 0. Second test: SIGTERM while the
 * open is held exits 0, and the log says it stopped after the open.
 *
 * Before this change confabd opened the store before it listened: the
 * first poll of /healthz never got an answer while the open was held (the
 * option did not exist either).
 */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_err.h"
#include "common/cf_time.h"

#define START_TIMEOUT_MS 30000
#define READY_TIMEOUT_MS 30000
#define POLL_MS 50
#define TERM_TIMEOUT_MS 15000
#define N_TESTS 2
#define NODE 3 /* the node restarted with a hold */

static struct cf_test_cluster cluster;
static int n_passed;
static char hold_path[PATH_MAX + 16];

static int group_setup(void **state)
{
	(void)state;
	if (cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0)
		return -1;
	snprintf(hold_path, sizeof hold_path, "%s/start.hold", cluster.dir);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(hold_path);
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
}

static void hold_create(void)
{
	int fd = open(hold_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	close(fd);
}

/* Stop node id (SIGTERM, exit 0), then spawn it with the hold option. */
static void respawn_held(unsigned id)
{
	const char *old = getenv("CONFAB_IT_ARGS");
	char *saved = old != NULL ? strdup(old) : NULL;
	char args[PATH_MAX + 64];
	int st = -1;

	assert_int_equal(cf_test_cluster_term(&cluster, id, TERM_TIMEOUT_MS,
					      &st),
			 0);
	assert_int_equal(st, 0);
	hold_create();
	snprintf(args, sizeof args, "%s%s--test-start-hold=%s",
		 saved != NULL ? saved : "", saved != NULL ? " " : "",
		 hold_path);
	setenv("CONFAB_IT_ARGS", args, 1);
	assert_int_equal(cf_test_cluster_node_spawn(&cluster, id), 0);
	if (saved != NULL)
		setenv("CONFAB_IT_ARGS", saved, 1);
	else
		unsetenv("CONFAB_IT_ARGS");
	free(saved);
}

/* One request to node id; r is the caller's (released first). */
static int request(unsigned id, const char *method, const char *path,
		   const char *headers, const char *body,
		   struct cf_http_resp *r)
{
	cf_http_resp_release(r);
	cf_http_resp_init(r);
	return cf_http_request(&cluster.nodes[id].conn, method, path, headers,
			       body, body != NULL ? strlen(body) : 0, r);
}

/* Poll /healthz of id until it answers 200 with status want (bounded). */
static void wait_health(unsigned id, const char *want)
{
	uint64_t deadline = cf_mono_ms() + READY_TIMEOUT_MS;
	struct cf_http_resp r;
	const char *got = "";

	cf_http_resp_init(&r);
	for (;;) {
		if (request(id, "GET", "/healthz", NULL, NULL, &r) == 0 &&
		    r.status == 200 && cf_http_resp_json(&r) != NULL) {
			got = cf_test_str(cf_http_resp_json(&r), "status");
			if (strcmp(got, want) == 0)
				break;
		}
		assert_true(cf_test_cluster_alive(&cluster, id));
		if (cf_mono_ms() >= deadline)
			fail_msg("node %u: /healthz never said \"%s\" (last "
				 "\"%s\")",
				 id, want, got);
		cf_test_sleep_ms(POLL_MS);
	}
	cf_http_resp_release(&r);
}

/* r is a 503 `unavailable` with Retry-After. */
static void assert_unavailable(struct cf_http_resp *r, const char *what)
{
	char ra[16];
	json_t *e;

	if (r->status != 503)
		fail_msg("%s: status %d, body %s", what, r->status,
			 r->body != NULL ? r->body : "");
	e = cf_http_resp_json(r) != NULL
		    ? json_object_get(cf_http_resp_json(r), "error")
		    : NULL;
	assert_non_null(e);
	assert_string_equal(cf_test_str(e, "code"), "unavailable");
	assert_int_equal(cf_http_resp_header(r, "Retry-After", ra, sizeof ra),
			 0);
}

static void starting_node_serves_healthz_and_refuses_the_rest(void **state)
{
	static const char ws_headers[] =
		"Upgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		"Sec-WebSocket-Version: 13\r\nX-Confab-User: bob\r\n";
	struct cf_http_resp r;
	struct cf_test_ack a;
	json_t *j, *hist;

	(void)state;
	cf_http_resp_init(&r);
	cf_test_create_group(&cluster, 1, "alice", "st-g", "[\"bob\"]");
	assert_int_equal(cf_test_send(&cluster, 1, "alice", "st-g", "st-1",
				      "before the restart", &a),
			 201);
	respawn_held(NODE);

	/* Starting: /healthz answers, /readyz says why not ready. */
	wait_health(NODE, "starting");
	assert_int_equal(request(NODE, "GET", "/readyz", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 503);
	assert_non_null(cf_http_resp_json(&r));
	assert_string_equal(cf_test_str(cf_http_resp_json(&r), "reason"),
			    "starting");
	assert_int_equal(request(NODE, "GET", "/metrics", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\nconfab_starting 1\n"));

	/* Every other API route: 503 unavailable, Retry-After. */
	assert_int_equal(request(NODE, "POST", "/v1/messages",
				 "X-Confab-User: alice\r\n",
				 "{\"conversationId\":\"st-g\","
				 "\"clientMsgId\":\"st-x\",\"content\":\"x\"}",
				 &r),
			 0);
	assert_unavailable(&r, "send");
	assert_int_equal(request(NODE, "GET", "/v1/conversations/st-g/messages",
				 "X-Confab-User: bob\r\n", NULL, &r),
			 0);
	assert_unavailable(&r, "history");
	assert_int_equal(request(NODE, "GET", "/v1/cluster", NULL, NULL, &r),
			 0);
	assert_unavailable(&r, "/v1/cluster");
	assert_int_equal(request(NODE, "GET", "/v1/admin/segments", NULL, NULL,
				 &r),
			 0);
	assert_unavailable(&r, "admin");
	assert_int_equal(request(NODE, "GET", "/v1/ws?deviceId=d1", ws_headers,
				 NULL, &r),
			 0);
	assert_unavailable(&r, "WebSocket upgrade");
	assert_true(cf_test_cluster_log_has(&cluster, NODE, "store: opening"));
	assert_true(cf_test_cluster_log_has(&cluster, NODE, "test hold"));

	/* The two others commit meanwhile. */
	assert_int_equal(cf_test_send(&cluster, 1, "alice", "st-g", "st-2",
				      "while node 3 starts", &a),
			 201);
	/* Still held: still starting (the hold, not time, decides). */
	wait_health(NODE, "starting");

	/* Released: ready, with everything sent before and meanwhile. */
	assert_int_equal(unlink(hold_path), 0);
	assert_int_equal(cf_test_cluster_wait_ready(&cluster, NODE,
						    READY_TIMEOUT_MS),
			 0);
	wait_health(NODE, "ok");
	hist = cf_test_history(&cluster, NODE, "bob", "st-g");
	assert_non_null(hist);
	assert_int_equal(json_array_size(hist), 2);
	cf_test_assert_history(hist);
	json_decref(hist);
	/* The inbox index was rebuilt in the pool: sync sees the items. */
	j = cf_test_expect(&cluster, NODE, "GET", "/v1/sync?consistent=1",
			   "bob", NULL, 200);
	assert_true(json_array_size(json_object_get(j, "items")) >= 3);
	json_decref(j);
	assert_int_equal(request(NODE, "GET", "/metrics", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\nconfab_starting 0\n"));
	assert_true(cf_test_cluster_log_has(&cluster, NODE, "store: open in"));
	cf_http_resp_release(&r);
	n_passed++;
}

static void sigterm_while_starting_exits_0(void **state)
{
	int st = -1;

	(void)state;
	respawn_held(NODE);
	wait_health(NODE, "starting");
	assert_int_equal(cf_test_cluster_term(&cluster, NODE, TERM_TIMEOUT_MS,
					      &st),
			 0);
	assert_int_equal(st, 0);
	assert_true(cf_test_cluster_log_has(
		&cluster, NODE, "stopping once the store's open has ended"));
	/* Back for the teardown's clean stop. */
	assert_int_equal(unlink(hold_path), 0);
	assert_int_equal(cf_test_cluster_restart(&cluster, NODE,
						 READY_TIMEOUT_MS),
			 0);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			starting_node_serves_healthz_and_refuses_the_rest),
		cmocka_unit_test(sigterm_while_starting_exits_0),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
