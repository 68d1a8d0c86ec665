#include "config.h"

/*
 * Operations (issue 4, API.md "Operations"), end to end on one 3-node
 * cluster of real confabd processes: GET /metrics holds every metric
 * API.md lists in Prometheus text format (HELP and TYPE lines, histograms
 * with cumulative buckets, +Inf = _count), and its counters, gauges and
 * histograms move with sends, duplicates, deliveries and sockets;
 * GET /v1/cluster lists every node's url, role, reachability and socket
 * count, and a socket opened on node 2 shows in node 1's view within ~2 s.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "../lib/cf_test_ports.h"
#include "common/cf_err.h"
#include "common/cf_time.h"

#define START_TIMEOUT_MS 30000
#define N_TESTS 8

static struct cf_test_cluster cluster;
static int n_passed;

static int group_setup(void **state)
{
	(void)state;
	/* A failed start stops what it started. */
	return cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
}

/* GET /metrics of node (malloc'd text). */
static char *metrics(unsigned node)
{
	struct cf_http_resp r;
	char ct[128], *s;

	cf_http_resp_init(&r);
	assert_int_equal(cf_http_request(&cluster.nodes[node].conn, "GET",
					 "/metrics", NULL, NULL, 0, &r),
			 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(cf_http_resp_header(&r, "Content-Type", ct, sizeof ct),
			 0);
	assert_non_null(strstr(ct, "text/plain"));
	s = strdup(r.body);
	assert_non_null(s);
	cf_http_resp_release(&r);
	return s;
}

static void assert_typed(const char *text, const char *name, const char *type)
{
	char line[160];

	snprintf(line, sizeof line, "# TYPE %s %s\n", name, type);
	if (strstr(text, line) == NULL)
		fail_msg("no '# TYPE %s %s'", name, type);
	snprintf(line, sizeof line, "# HELP %s ", name);
	if (strstr(text, line) == NULL)
		fail_msg("no '# HELP %s'", name);
}

/* Histogram name: buckets ascend in le, cumulative, +Inf equals _count. */
static double histogram_count(const char *text, const char *name)
{
	char pre[128], series[160];
	const char *p = text;
	double prev = 0, le_prev = -1, count;
	int buckets = 0;

	assert_typed(text, name, "histogram");
	snprintf(pre, sizeof pre, "%s_bucket{le=\"", name);
	while ((p = strstr(p, pre)) != NULL) {
		const char *q = p + strlen(pre);
		double le, v;

		if (strncmp(q, "+Inf\"}", 6) == 0)
			break;
		le = strtod(q, NULL);
		v = strtod(strchr(q, ' ') + 1, NULL);
		assert_true(le > le_prev);
		assert_true(v >= prev);
		le_prev = le;
		prev = v;
		buckets++;
		p = q;
	}
	assert_true(buckets >= 5);
	snprintf(series, sizeof series, "%s_bucket{le=\"+Inf\"}", name);
	count = cf_test_metric_in(text, series);
	assert_true(count >= prev);
	snprintf(series, sizeof series, "%s_count", name);
	assert_true(cf_test_metric_in(text, series) == count);
	snprintf(series, sizeof series, "%s_sum", name);
	assert_true(cf_test_metric_in(text, series) >= 0);
	return count;
}

static void metrics_lists_every_metric_of_api_md(void **state)
{
	static const struct {
		const char *name, *type, *series;
	} m[] = {
		{"confab_messages_committed_total", "counter", NULL},
		{"confab_dedup_hits_total", "counter", NULL},
		{"confab_ws_connections", "gauge", NULL},
		{"confab_sync_requests_total", "counter", NULL},
		{"confab_apply_lag_entries", "gauge", NULL},
		{"confab_raft_role", "gauge", NULL},
		{"confab_segments", "gauge", "confab_segments{tier=\"hot\"}"},
		{"confab_segments", "gauge", "confab_segments{tier=\"cold\"}"},
		{"confab_segment_bytes", "gauge",
		 "confab_segment_bytes{tier=\"hot\"}"},
		{"confab_segment_bytes", "gauge",
		 "confab_segment_bytes{tier=\"cold\"}"},
		{"confab_push_sent_total", "counter", NULL},
		{"confab_push_failed_total", "counter", NULL},
		{"confab_dedup_keys", "gauge", NULL},
		{"confab_dedup_bytes", "gauge", NULL},
		{"process_resident_memory_bytes", "gauge", NULL},
	};
	int leaders = 0;

	(void)state;
	for (unsigned node = 1; node <= 3; node++) {
		char *t = metrics(node);
		double role;

		for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
			const char *s = m[i].series ? m[i].series : m[i].name;

			assert_typed(t, m[i].name, m[i].type);
			if (cf_test_metric_in(t, s) < 0)
				fail_msg("n%u: no series %s", node, s);
		}
		histogram_count(t, "confab_send_ack_seconds");
		histogram_count(t, "confab_delivery_seconds");
		/* read from /proc/self/statm when rendered (issue 11) */
		assert_true(cf_test_metric_in(t, "process_resident_memory_bytes") >
			    0);
		role = cf_test_metric_in(t, "confab_raft_role");
		assert_true(role == 1 || role == 3);
		leaders += role == 3;
		free(t);
	}
	assert_int_equal(leaders, 1);
	n_passed++;
}

static void metrics_move_with_sends_duplicates_and_deliveries(void **state)
{
	struct cf_test_ack a;
	struct cf_ws_client w;
	char *t0, *t1, *t2;
	json_t *ev = NULL;
	uint64_t deadline;

	(void)state;
	cf_test_create_group(&cluster, 1, "mo1", "ops-g1", "[\"mo2\"]");
	assert_int_equal(cf_ws_connect(&w, cluster.nodes[2].url,
				       "/v1/ws?user=mo2&deviceId=d1", 5000),
			 0);
	t0 = metrics(1);
	t2 = metrics(2);
	assert_true(cf_test_metric_in(t2, "confab_ws_connections") >= 1);
	/* One send through node 1, delivered on node 2's socket. */
	assert_int_equal(cf_test_send(&cluster, 1, "mo1", "ops-g1", "c1",
				      "hello", &a),
			 201);
	for (;;) {
		assert_int_equal(cf_ws_recv_json(&w, 10000, &ev), 0);
		if (strcmp(cf_test_str(ev, "type"), "message") == 0)
			break;
		json_decref(ev);
	}
	assert_string_equal(cf_test_str(ev, "content"), "hello");
	json_decref(ev);
	/* The same send again: a duplicate. */
	assert_int_equal(cf_test_send(&cluster, 1, "mo1", "ops-g1", "c1",
				      "hello", &a),
			 200);
	assert_true(a.duplicate);
	/*
	 * Node 1 may be a follower: it applies the duplicate (and counts it)
	 * when it learns the commit index, possibly after the leader's answer.
	 */
	deadline = cf_mono_ms() + 5000;
	for (;;) {
		t1 = metrics(1);
		if (cf_test_metric_in(t1, "confab_dedup_hits_total") >=
		    cf_test_metric_in(t0, "confab_dedup_hits_total") + 1)
			break;
		free(t1);
		assert_true(cf_mono_ms() < deadline);
		cf_test_sleep_ms(50);
	}
	assert_true(cf_test_metric_in(t1, "confab_messages_committed_total") >=
		    cf_test_metric_in(t0, "confab_messages_committed_total") +
			    1);
	assert_true(cf_test_metric_in(t1, "confab_dedup_hits_total") >=
		    cf_test_metric_in(t0, "confab_dedup_hits_total") + 1);
	assert_true(histogram_count(t1, "confab_send_ack_seconds") >=
		    histogram_count(t0, "confab_send_ack_seconds") + 2);
	assert_true(cf_test_metric_in(t1, "confab_send_ack_seconds_sum") >
		    cf_test_metric_in(t0, "confab_send_ack_seconds_sum"));
	assert_true(cf_test_metric_in(t1, "confab_apply_lag_entries") >= 0);
	assert_true(cf_test_metric_in(t1, "confab_segments{tier=\"hot\"}") >= 1);
	assert_true(cf_test_metric_in(t1,
				      "confab_segment_bytes{tier=\"hot\"}") > 0);
	/* Node 2 wrote the event to a socket: its delivery histogram moved. */
	{
		char *t3 = metrics(2);

		assert_true(histogram_count(t3, "confab_delivery_seconds") >=
			    histogram_count(t2, "confab_delivery_seconds") + 1);
		free(t3);
	}
	free(t0);
	free(t1);
	free(t2);
	/* Closing the socket lowers the gauge again. */
	t0 = metrics(2);
	cf_ws_close(&w);
	deadline = cf_mono_ms() + 5000;
	for (;;) {
		t1 = metrics(2);
		if (cf_test_metric_in(t1, "confab_ws_connections") ==
		    cf_test_metric_in(t0, "confab_ws_connections") - 1)
			break;
		free(t1);
		assert_true(cf_mono_ms() < deadline);
		cf_test_sleep_ms(50);
	}
	free(t0);
	free(t1);
	n_passed++;
}

/* GET /v1/cluster of node. */
static json_t *cluster_view(unsigned node)
{
	int st;
	json_t *j = cf_test_call(&cluster, node, "GET", "/v1/cluster", NULL,
				 NULL, &st);

	assert_int_equal(st, 200);
	assert_non_null(j);
	return j;
}

static json_t *peer_of(json_t *view, unsigned id)
{
	json_t *peers = json_object_get(view, "peers"), *p;
	size_t i;

	json_array_foreach(peers, i, p)
		if (cf_test_int(p, "nodeId") == (long long)id)
			return p;
	fail_msg("node %u not in peers", id);
	return NULL;
}

/*
 * True if v lists the three nodes with their URLs, a settled role (leader
 * or follower) and a reachable link; a loaded machine may show a candidate
 * or a link that is reconnecting for a moment.
 */
static bool view_settled(json_t *v, unsigned node)
{
	if (cf_test_int(v, "nodeId") != node ||
	    cf_test_int(v, "leaderId") < 1 || cf_test_int(v, "term") < 1 ||
	    cf_test_int(v, "commitIndex") < 1 ||
	    cf_test_int(v, "appliedIndex") < 1 ||
	    json_array_size(json_object_get(v, "peers")) != 3)
		return false;
	for (unsigned id = 1; id <= 3; id++) {
		json_t *p = peer_of(v, id);
		const char *role = cf_test_str(p, "role");

		if (strcmp(cf_test_str(p, "url"), cluster.nodes[id].url) != 0 ||
		    (strcmp(role, "leader") != 0 &&
		     strcmp(role, "follower") != 0) ||
		    !json_is_true(json_object_get(p, "reachable")) ||
		    !json_is_integer(json_object_get(p, "wsConnections")))
			return false;
	}
	return true;
}

static void cluster_lists_every_node_with_url_role_and_sockets(void **state)
{
	(void)state;
	for (unsigned node = 1; node <= 3; node++) {
		uint64_t deadline = cf_mono_ms() + 15000;
		bool ok = false;

		while (!ok && cf_mono_ms() < deadline) {
			json_t *v = cluster_view(node);

			ok = view_settled(v, node);
			if (!ok) {
				char *d = json_dumps(v, JSON_COMPACT);

				print_message("# n%u not settled yet: %.300s\n",
					      node, d != NULL ? d : "?");
				free(d);
				cf_test_sleep_ms(200);
			}
			json_decref(v);
		}
		assert_true(ok);
	}
	n_passed++;
}

/* Node 2's socket count as node `from` sees it (its own if from == 2). */
static long long ws_count_of_2(unsigned from)
{
	json_t *v = cluster_view(from);
	long long n = cf_test_int(peer_of(v, 2), "wsConnections");

	json_decref(v);
	return n;
}

/*
 * Wait (bounded) until node 1's view of node 2's sockets equals node 2's own
 * count, which node 2 announces every second; *n is that count. Sockets of
 * earlier tests may still be closing, so "before" is only known once the two
 * agree, and stay so for longer than one announcement period.
 */
static bool views_agree(long long *n, int timeout_ms)
{
	uint64_t deadline = cf_mono_ms() + (uint64_t)timeout_ms;
	long long own, seen;

	do {
		own = ws_count_of_2(2);
		seen = ws_count_of_2(1);
		if (own == seen) {
			/* Still so after more than one announcement period. */
			cf_test_sleep_ms(1300);
			if (ws_count_of_2(2) == own && ws_count_of_2(1) == own) {
				*n = own;
				return true;
			}
		}
		cf_test_sleep_ms(100);
	} while (cf_mono_ms() < deadline);
	print_message("# node 2 says %lld sockets, node 1 sees %lld\n", own,
		      seen);
	return false;
}

static void socket_on_node_2_shows_in_node_1_view(void **state)
{
	struct cf_ws_client w;
	long long before, now = -1;

	(void)state;
	assert_true(views_agree(&before, 15000));
	assert_int_equal(cf_ws_connect(&w, cluster.nodes[2].url,
				       "/v1/ws?user=ops-w&deviceId=d1", 5000),
			 0);
	assert_true(views_agree(&now, 15000));
	assert_int_equal(now, before + 1);
	cf_ws_close(&w);
	n_passed++;
}

/*
 * A second confabd on a running node's data folder (the operator's slip:
 * the same --data twice) must not open it: it exits 1 and says which
 * process holds the folder; the running node keeps serving.
 */
static void a_second_process_on_a_data_folder_is_refused(void **state)
{
	struct cf_test_node *nd = &cluster.nodes[1];
	char cmd[3 * PATH_MAX], log[PATH_MAX + 16], want[64], line[512];
	struct cf_http_resp r;
	FILE *f;
	int st, found = 0;

	(void)state;
	snprintf(log, sizeof log, "%s/second.log", cluster.dir);
	snprintf(cmd, sizeof cmd,
		 "timeout 20 '%s' --cluster '%s' --id 1 --data '%s' "
		 "--auth dev >'%s' 2>&1",
		 cluster.confabd, cluster.conf_path, nd->data_dir, log);
	st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	snprintf(want, sizeof want, "in use by another process (pid %d)",
		 (int)nd->pid);
	f = fopen(log, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, want) != NULL)
			found = 1;
	fclose(f);
	assert_true(found);
	cf_http_resp_init(&r);
	assert_int_equal(cf_test_cluster_http(&cluster, 1, "GET", "/readyz",
					      NULL, NULL, &r),
			 0);
	assert_int_equal(r.status, 200);
	cf_http_resp_release(&r);
	n_passed++;
}

/*
 * segment-size and seal-age are fixed when a store is made: a node whose
 * cluster file says otherwise refuses to start and says why; with the
 * cluster's file it starts again and catches up.
 */
static void a_store_of_another_shape_refuses_to_start(void **state)
{
	struct cf_test_node *nd = &cluster.nodes[3];
	char cmd[4 * PATH_MAX], conf[PATH_MAX + 16], log[PATH_MAX + 16];
	char line[512];
	FILE *f;
	int st, found = 0;

	(void)state;
	assert_int_equal(cf_test_cluster_term(&cluster, 3, 15000, &st), 0);
	assert_int_equal(st, 0);
	snprintf(conf, sizeof conf, "%s/other.conf", cluster.dir);
	snprintf(log, sizeof log, "%s/other.log", cluster.dir);
	snprintf(cmd, sizeof cmd,
		 "(cat '%s'; echo 'segment-size 1M') > '%s' && "
		 "timeout 20 '%s' --cluster '%s' --id 3 --data '%s' "
		 "--auth dev >'%s' 2>&1",
		 cluster.conf_path, conf, cluster.confabd, conf, nd->data_dir,
		 log);
	st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	f = fopen(log, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, "store was created with segment size "
				 "67108864 and seal age 86400000 ms, not "
				 "1048576") != NULL)
			found = 1;
	fclose(f);
	assert_true(found);
	assert_int_equal(cf_test_cluster_restart(&cluster, 3, 30000), 0);
	n_passed++;
}

/*
 * A Raft address in use (node 2's, taken by node 2): the log names it. The
 * second process gets a client address of its own: since issue 11 a node
 * listens for clients before raft starts, so a taken client port would be
 * met (and named) first.
 */
static void a_raft_address_in_use_is_named(void **state)
{
	char cmd[4 * PATH_MAX], log[PATH_MAX + 16], conf[PATH_MAX + 16];
	char want[128], line[512], ip[16];
	FILE *f;
	int st, found = 0, port;

	(void)state;
	assert_int_equal(cf_test_ports_pick(ip, &port, 1), 0);
	snprintf(log, sizeof log, "%s/busy.log", cluster.dir);
	snprintf(conf, sizeof conf, "%s/busy.conf", cluster.dir);
	snprintf(cmd, sizeof cmd,
		 "sed 's|client=%s$|client=http://%s:%d|' '%s' > '%s' && "
		 "timeout 20 '%s' --cluster '%s' --id 2 --data '%s/busy' "
		 "--auth dev >'%s' 2>&1",
		 cluster.nodes[2].url, ip, port, cluster.conf_path, conf,
		 cluster.confabd, conf, cluster.dir, log);
	st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	snprintf(want, sizeof want, "raft_start on %s:%d: ", cluster.ip,
		 cluster.nodes[2].raft_port);
	f = fopen(log, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, want) != NULL &&
		    strstr(line, "is the address in use") != NULL)
			found = 1;
	fclose(f);
	assert_true(found);
	n_passed++;
}

/* confabd's exit status and whether its output holds want. */
static int confabd_says(const char *args, const char *want, int *found)
{
	char cmd[2 * PATH_MAX], log[PATH_MAX + 16], line[512];
	FILE *f;
	int st;

	snprintf(log, sizeof log, "%s/flags.log", cluster.dir);
	snprintf(cmd, sizeof cmd, "timeout 20 '%s' %s >'%s' 2>&1",
		 cluster.confabd, args, log);
	st = system(cmd);
	assert_true(WIFEXITED(st));
	*found = 0;
	f = fopen(log, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, want) != NULL)
			*found = 1;
	fclose(f);
	return WEXITSTATUS(st);
}

/*
 * Flags are checked before anything starts: --compact-after 0 (the rule
 * off) is a value, a negative or non-numeric one is a usage error (2).
 */
static void flags_out_of_range_are_usage_errors(void **state)
{
	int found;

	(void)state;
	/* 0 passes; --compact-segments 2000 is the first error. */
	assert_int_equal(confabd_says("--compact-after 0 "
				      "--compact-segments 2000",
				      "--compact-segments 1 to 1024", &found),
			 2);
	assert_true(found);
	assert_int_equal(confabd_says("--compact-after -1",
				      "bad number '-1'", &found),
			 2);
	assert_true(found);
	assert_int_equal(confabd_says("--rate-limit 0", "bad number '0'",
				      &found),
			 2);
	assert_true(found);
	assert_int_equal(confabd_says("--max-group 99999999999999999999",
				      "bad number", &found),
			 2);
	assert_true(found);
	assert_int_equal(confabd_says("--fanout-queue 0",
				      "--fanout-queue is 1 to 1000000",
				      &found),
			 2);
	assert_true(found);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(metrics_lists_every_metric_of_api_md),
		cmocka_unit_test(
			metrics_move_with_sends_duplicates_and_deliveries),
		cmocka_unit_test(
			cluster_lists_every_node_with_url_role_and_sockets),
		cmocka_unit_test(socket_on_node_2_shows_in_node_1_view),
		cmocka_unit_test(a_second_process_on_a_data_folder_is_refused),
		cmocka_unit_test(a_store_of_another_shape_refuses_to_start),
		cmocka_unit_test(a_raft_address_in_use_is_named),
		cmocka_unit_test(flags_out_of_range_are_usage_errors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
