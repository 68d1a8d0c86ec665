#include "config.h"

/*
 * The rebuild after a segment fetch runs off the loop (issue 11), on a
 * real 3-node cluster with a snapshot threshold and trailing log of 64
 * entries (CONFAB_IT_ARGS). A follower F is stopped, the leader commits
 * OUTAGE_SENDS messages, one entry each, so that its log no longer holds
 * F's next entry; F is started again with confabd's test-only option
 * --test-fetch-hold=FILE: it installs the snapshot, fetches the segments
 * it lacks, and its rebuild waits on the node's worker thread while FILE
 * exists, so the test sees the rebuilding state with no timing assumption.
 *
 * Checked while F's rebuild is held: /healthz 200 {"status":"rebuilding"};
 * /readyz 503 with a reason that says rebuilding; /metrics 200 with
 * confab_rebuilding 1; /v1/cluster answers; a history read, a sync, a
 * send and a WebSocket upgrade answer 503 `unavailable` with Retry-After;
 * the two other nodes keep committing. Once FILE is removed: F is ready,
 * serves the same history as the others (the messages of the outage and
 * of the hold), says confab_rebuilding 0 and logs "segment fetch done".
 * Second test: SIGTERM while the rebuild is held exits 0 (the close waits
 * for the job, which the close ends), and F catches up once started again.
 * Raft may still hold F's next entry when F comes back (its snapshots are
 * taken as the checkpoint job allows): F then catches up without an
 * install, and the outage is repeated (at most OUTAGE_TRIES times).
 *
 * Before this change the rebuild ran on the loop: F never answered
 * /healthz with "rebuilding" (and the option did not exist).
 */

#include <dirent.h>
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
#define SNAP_TRAILING 64
#define OUTAGE_SENDS 200 /* over threshold + trailing entries */
#define OUTAGE_ROUNDS 40 /* of 20 more sends, until the log moved on */
#define OUTAGE_TRIES 8
#define N_TESTS 2
#define CONV "fr-g"

static struct cf_test_cluster cluster;
static int n_passed;
static char hold_path[PATH_MAX + 16];
static int n_sent; /* messages in CONV */

static int group_setup(void **state)
{
	(void)state;
	setenv("CONFAB_IT_ARGS", "--snapshot-threshold=64 "
				 "--snapshot-trailing=64", 1);
	if (cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0)
		return -1;
	snprintf(hold_path, sizeof hold_path, "%s/fetch.hold", cluster.dir);
	cf_test_create_group(&cluster, 1, "alice", CONV, "[\"bob\"]");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(hold_path);
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
}

/* n sends to CONV through node on, one after the other. */
static void sends(unsigned on, const char *prefix, int n)
{
	struct cf_test_ack a;
	char cmid[64];

	for (int i = 0; i < n; i++) {
		int st;

		snprintf(cmid, sizeof cmid, "%s-%d", prefix, i);
		st = cf_test_send(&cluster, on, "alice", CONV, cmid,
				  "hi", &a);
		if (st != 201)
			fail_msg("send %s through n%u: %d", cmid, on, st);
		n_sent++;
	}
}


/*
 * The highest index among the raft snapshots in node's data folder
 * (raft_uv names them snapshot-TERM-INDEX-TIMESTAMP, plus .meta), or 0.
 */
static unsigned long long newest_snapshot(unsigned node)
{
	char dir[PATH_MAX + 8];
	unsigned long long term, index, ts, best = 0;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof dir, "%s/raft", cluster.nodes[node].data_dir);
	d = opendir(dir);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".meta") == NULL &&
		    sscanf(e->d_name, "snapshot-%llu-%llu-%llu", &term, &index,
			   &ts) == 3 &&
		    index > best)
			best = index;
	closedir(d);
	return best;
}

/* appliedIndex of node from its /v1/cluster. */
static long long applied_index(unsigned node)
{
	json_t *j = cf_test_expect(&cluster, node, "GET", "/v1/cluster",
				   "alice", NULL, 200);
	long long v = cf_test_int(j, "appliedIndex");

	json_decref(j);
	assert_true(v > 0);
	return v;
}

/*
 * While follower f is down (or stopped) at f_index: OUTAGE_SENDS sends of
 * through the leader, then more until the leader's newest
 * snapshot is past f_index + the trailing log, so that the leader's log
 * no longer holds f's next entry (raft snapshots as the checkpoint job
 * allows, not at exact counts).
 */
static void outage_sends(unsigned leader, long long f_index,
			 const char *prefix)
{
	char p[64];
	int k;

	sends(leader, prefix, OUTAGE_SENDS);
	for (k = 0; k < OUTAGE_ROUNDS &&
		    newest_snapshot(leader) <=
			    (unsigned long long)f_index + SNAP_TRAILING + 1;
	     k++) {
		snprintf(p, sizeof p, "%s-more%d", prefix, k);
		sends(leader, p, 20);
	}
	print_message("# n%u: newest snapshot %llu after %d more rounds, "
		      "follower at %lld\n",
		      leader, newest_snapshot(leader), k, f_index);
	if (k == OUTAGE_ROUNDS)
		fail_msg("n%u: newest snapshot %llu, follower at %lld", leader,
			 newest_snapshot(leader), f_index);
}

/* A follower of the current leader; *leader set. */
static unsigned pick_follower(unsigned *leader)
{
	int l = cf_test_cluster_leader(&cluster, START_TIMEOUT_MS);

	assert_true(l > 0);
	*leader = (unsigned)l;
	return (unsigned)l % 3 + 1;
}

static void hold_create(void)
{
	int fd = open(hold_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	close(fd);
}

/* Spawn node f with --test-fetch-hold (the file decides). */
static void spawn_with_hold_option(unsigned f)
{
	const char *old = getenv("CONFAB_IT_ARGS");
	char *saved = old != NULL ? strdup(old) : NULL;
	char args[PATH_MAX + 128];

	snprintf(args, sizeof args, "%s%s--test-fetch-hold=%s",
		 saved != NULL ? saved : "", saved != NULL ? " " : "",
		 hold_path);
	setenv("CONFAB_IT_ARGS", args, 1);
	assert_int_equal(cf_test_cluster_node_spawn(&cluster, f), 0);
	if (saved != NULL)
		setenv("CONFAB_IT_ARGS", saved, 1);
	free(saved);
}

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
	uint64_t deadline = cf_mono_ms() + 2 * READY_TIMEOUT_MS;
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
		if (cf_mono_ms() >= deadline) {
			cf_test_cluster_dump_logs(&cluster, 30);
			fail_msg("node %u: /healthz never said \"%s\" (last "
				 "\"%s\")",
				 id, want, got);
		}
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

static bool log_has(unsigned id, const char *needle)
{
	FILE *f = fopen(cluster.nodes[id].log_path, "r");
	char line[4096];
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof line, f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/*
 * Whether node id, started or resumed after an outage, begins its rebuild
 * (/healthz "rebuilding": true) or caught up without a snapshot install
 * (/readyz 200: false; raft may still hold its next entry, see
 * outage_sends). Bounded.
 */
static bool became_rebuilding(unsigned id)
{
	uint64_t deadline = cf_mono_ms() + 2 * READY_TIMEOUT_MS;
	struct cf_http_resp r;
	bool rebuilding = false;

	cf_http_resp_init(&r);
	for (;;) {
		if (request(id, "GET", "/healthz", NULL, NULL, &r) == 0 &&
		    r.status == 200 && cf_http_resp_json(&r) != NULL &&
		    strcmp(cf_test_str(cf_http_resp_json(&r), "status"),
			   "rebuilding") == 0) {
			rebuilding = true;
			break;
		}
		if (request(id, "GET", "/readyz", NULL, NULL, &r) == 0 &&
		    r.status == 200)
			break;
		assert_true(cf_test_cluster_alive(&cluster, id));
		if (cf_mono_ms() >= deadline) {
			cf_test_cluster_dump_logs(&cluster, 30);
			fail_msg("node %u: neither rebuilding nor ready", id);
		}
		cf_test_sleep_ms(POLL_MS);
	}
	cf_http_resp_release(&r);
	if (!rebuilding)
		print_message("# n%u caught up without an install: again\n",
			      id);
	return rebuilding;
}

/*
 * Stop follower f, commit an outage through the leader, start f again
 * with the hold, until its rebuild after the fetch waits (at most
 * OUTAGE_TRIES times).
 */
static void outage_then_held_start(unsigned f, unsigned leader,
				   const char *prefix)
{
	char p[64];
	int st = -1;

	for (int k = 0; k < OUTAGE_TRIES; k++) {
		long long f_index;

		assert_int_equal(cf_test_cluster_wait_ready(&cluster, f,
							    READY_TIMEOUT_MS),
				 0);
		f_index = applied_index(f);
		assert_int_equal(cf_test_cluster_term(&cluster, f,
						      TERM_TIMEOUT_MS, &st),
				 0);
		assert_int_equal(st, 0);
		snprintf(p, sizeof p, "%s-%d", prefix, k);
		outage_sends(leader, f_index, p);
		/*
		 * The leader's snapshot file can be on disk before raft has
		 * dropped the entries it covers from its log; a follower back
		 * at once then catches up from the log (seen 4 times in a row
		 * in one CI run): give the truncation a moment.
		 */
		cf_test_sleep_ms(500);
		hold_create();
		spawn_with_hold_option(f);
		if (became_rebuilding(f))
			return;
	}
	fail_msg("n%u: no snapshot install after %d outages", f,
		 OUTAGE_TRIES);
}

static void rebuilding_node_serves_healthz_and_refuses_reads(void **state)
{
	static const char ws_headers[] =
		"Upgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		"Sec-WebSocket-Version: 13\r\nX-Confab-User: bob\r\n";
	struct cf_http_resp r;
	unsigned leader, f;
	const char *why;
	json_t *j;

	(void)state;
	cf_http_resp_init(&r);
	f = pick_follower(&leader);
	sends(leader, "before", 2);
	outage_then_held_start(f, leader, "outage");

	/* Rebuilding: /healthz answers, /readyz says why not ready. */
	assert_int_equal(request(f, "GET", "/readyz", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 503);
	assert_non_null(cf_http_resp_json(&r));
	why = cf_test_str(cf_http_resp_json(&r), "reason");
	if (strstr(why, "rebuilding") == NULL)
		fail_msg("/readyz reason: %s", why);
	assert_int_equal(request(f, "GET", "/metrics", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\nconfab_rebuilding 1\n"));
	assert_int_equal(request(f, "GET", "/v1/cluster", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);

	/* Reads, writes and upgrades: 503 unavailable, Retry-After. */
	assert_int_equal(request(f, "GET", "/v1/conversations/" CONV
				 "/messages", "X-Confab-User: bob\r\n", NULL,
				 &r),
			 0);
	assert_unavailable(&r, "history");
	assert_int_equal(request(f, "GET", "/v1/sync?wait=5",
				 "X-Confab-User: bob\r\n", NULL, &r),
			 0);
	assert_unavailable(&r, "sync");
	assert_int_equal(request(f, "POST", "/v1/messages",
				 "X-Confab-User: alice\r\n",
				 "{\"conversationId\":\"" CONV "\","
				 "\"clientMsgId\":\"fr-x\",\"content\":\"x\"}",
				 &r),
			 0);
	assert_unavailable(&r, "send");
	assert_int_equal(request(f, "GET", "/v1/ws?deviceId=d1", ws_headers,
				 NULL, &r),
			 0);
	assert_unavailable(&r, "WebSocket upgrade");
	assert_true(log_has(f, "test hold"));

	/* The two others commit meanwhile; the hold, not time, decides. */
	sends(leader, "held", 3);
	wait_health(f, "rebuilding");

	/* Released: ready, with the same history as the others. */
	assert_int_equal(unlink(hold_path), 0);
	assert_int_equal(cf_test_cluster_wait_ready(&cluster, f,
						    READY_TIMEOUT_MS),
			 0);
	wait_health(f, "ok");
	cf_test_assert_same(&cluster, "bob", CONV, (size_t)n_sent);
	j = cf_test_expect(&cluster, f, "GET", "/v1/sync?consistent=1", "bob",
			   NULL, 200);
	assert_true(json_array_size(json_object_get(j, "items")) >= 3);
	json_decref(j);
	assert_int_equal(request(f, "GET", "/metrics", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\nconfab_rebuilding 0\n"));
	assert_true(log_has(f, "segment fetch done"));
	cf_http_resp_release(&r);
	n_passed++;
}

static void sigterm_while_rebuilding_exits_0_and_catches_up_later(
	void **state)
{
	unsigned leader, f;
	int st = -1;

	(void)state;
	f = pick_follower(&leader);
	outage_then_held_start(f, leader, "outage2");
	assert_int_equal(cf_test_cluster_term(&cluster, f, TERM_TIMEOUT_MS,
					      &st),
			 0);
	assert_int_equal(st, 0);
	assert_true(log_has(f, "closing once the rebuild after the segment "
			       "fetch has ended"));
	/* The hold is still there: the close ended the wait. */
	assert_int_equal(access(hold_path, F_OK), 0);
	assert_int_equal(unlink(hold_path), 0);
	sends(leader, "down", 2);
	assert_int_equal(cf_test_cluster_restart(&cluster, f,
						 READY_TIMEOUT_MS),
			 0);
	cf_test_assert_same(&cluster, "bob", CONV, (size_t)n_sent);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			rebuilding_node_serves_healthz_and_refuses_reads),
		cmocka_unit_test(
			sigterm_while_rebuilding_exits_0_and_catches_up_later),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
