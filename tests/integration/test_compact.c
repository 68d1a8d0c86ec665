#include "config.h"

/*
 * Hot/cold compaction on one 3-node cluster of real confabd processes with
 * 64 KiB segments (cluster file: segment-size 64K), driven through
 * confabctl and the admin routes:
 *   - `confabctl compact` while another client sends: nothing is lost,
 *     seqs stay contiguous, history and the conversation list answer as
 *     before, and `confabctl verify --cluster` finds the three nodes'
 *     files identical;
 *   - a recalled message's content is in no file of any node's data folder
 *     once `confabctl compact` returns (store, raft log, everything), also
 *     when the message was in a cold file already (the file is rewritten);
 *   - a node whose data folder was wiped rejoins through a snapshot install
 *     and a segment fetch that carries the cold files, and verifies
 *     identical;
 *   - a node killed (SIGKILL) right after a compaction was committed
 *     restarts, finishes the job and verifies identical;
 *   - the leader's rule (--compact-after 1) compacts a partition with a
 *     sealed segment without being asked;
 *   - with erase-within 2s in the cluster file, a recalled message's
 *     content leaves every file of every node within seconds, unasked.
 * The tests run in this order on one cluster (each builds on the last).
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_conf.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "log/log_cold.h"
#include "frontend/fe_auth.h"

#define START_TIMEOUT_MS 30000
#define N_TESTS 6
#define NCONV 4

static struct cf_test_cluster cluster;
static struct cf_cluster conf;
static int n_passed;
static const char *convs[NCONV] = {"cp-a", "cp-b", "cp-c", "cp-d"};
static uint64_t digest_before[NCONV];

static int group_setup(void **state)
{
	char errmsg[CF_ERRMSG_SIZE];

	(void)state;
	setenv("CONFAB_IT_CONF", "segment-size 64K;erase-within 2s", 1);
	setenv("CONFAB_IT_ARGS", "--compact-after 1 --compact-segments 8", 1);
	if (cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0)
		return -1;
	return cf_cluster_load(&conf, cluster.conf_path, errmsg) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
}


static void compact_all(void)
{
	static char out[1 << 16];
	char args[1024];

	snprintf(args, sizeof args, "compact --cluster '%s' --wait 120",
		 cluster.conf_path);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	assert_non_null(strstr(out, "compaction committed at index"));
}

static void verify_identical(void)
{
	static char out[1 << 16];
	char args[1024];

	snprintf(args, sizeof args, "verify --cluster '%s'", cluster.conf_path);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	assert_non_null(strstr(out, "identical: 3 nodes"));
}

/* An integer of node id's admin status: status.obj.key. */
static long long status_int(unsigned id, const char *obj, const char *key)
{
	static char out[1 << 16];
	char args[1024];
	json_t *j, *s;
	long long n;

	snprintf(args, sizeof args, "status --cluster '%s' --node %s --json",
		 cluster.conf_path, cluster.nodes[id].url);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	s = json_object_get(json_array_get(json_object_get(j, "nodes"), 0),
			    "status");
	if (strcmp(obj, "cold") == 0)
		s = json_object_get(s, "store");
	n = cf_test_int(json_object_get(s, obj), key);
	json_decref(j);
	return n;
}

/* Cold files node id holds. */
static long long cold_files(unsigned id)
{
	return status_int(id, "cold", "segments");
}

static void send_many(const char *conv, int from, int to, const char *tag)
{
	for (int i = from; i <= to; i++) {
		char cmid[64], content[300];
		struct cf_test_ack a;
		int st;

		snprintf(cmid, sizeof cmid, "%s-%d", tag, i);
		snprintf(content, sizeof content,
			 "%s message %d of %s, long enough to fill 64 KiB "
			 "segments in a few hundred sends ....................",
			 tag, i, conv);
		st = cf_test_send(&cluster, 1 + (unsigned)i % 3, "alice", conv,
				  cmid, content, &a);
		assert_true(st == 200 || st == 201);
	}
}

/* ---- a second client sending while compaction runs ---- */

struct load {
	const char *url;
	int want, sent, failed;
	long long last_seq;
	int disorder;
};

static void *load_main(void *arg)
{
	struct load *l = arg;
	struct cf_http_conn conn;
	struct cf_http_resp r;
	char body[256];
	json_t *j;

	cf_http_resp_init(&r);
	if (cf_http_conn_init(&conn, l->url, 10000) != 0) {
		l->failed++;
		return NULL;
	}
	while (l->sent < l->want && l->failed <= 20) {
		snprintf(body, sizeof body,
			 "{\"conversationId\":\"cp-e\",\"clientMsgId\":"
			 "\"L-%d\",\"msgType\":\"text\",\"content\":"
			 "\"load %d while compacting\"}",
			 l->sent, l->sent);
		if (cf_http_request_json(&conn, "POST", "/v1/messages", "bob",
					 body, &r) != 0 ||
		    (r.status != 200 && r.status != 201) ||
		    (j = cf_http_resp_json(&r)) == NULL) {
			l->failed++; /* a retry of the same clientMsgId is safe */
			cf_test_sleep_ms(50);
			continue;
		}
		if (cf_test_int(j, "seq") != l->last_seq + 1)
			l->disorder++;
		l->last_seq = cf_test_int(j, "seq");
		l->sent++;
	}
	cf_http_resp_release(&r);
	cf_http_conn_release(&conn);
	return NULL;
}

/* lastMessage seq and content of each of convs[] in alice's list on node. */
static void list_last(unsigned node, long long *seq, char (*content)[300])
{
	json_t *j = cf_test_expect(&cluster, node, "GET",
				   "/v1/conversations?limit=100&consistent=1",
				   "alice", NULL, 200);
	json_t *c;
	size_t i;

	for (int k = 0; k < NCONV; k++)
		seq[k] = -1;
	json_array_foreach(json_object_get(j, "conversations"), i, c)
	{
		for (int k = 0; k < NCONV; k++) {
			json_t *m = json_object_get(c, "lastMessage");

			if (strcmp(cf_test_str(c, "conversationId"),
				   convs[k]) != 0)
				continue;
			seq[k] = cf_test_int(m, "seq");
			snprintf(content[k], 300, "%s",
				 cf_test_str(m, "content"));
		}
	}
	json_decref(j);
}

static void compaction_under_load_loses_nothing_and_reads_match(void **state)
{
	struct load l = {cluster.nodes[3].url, 150, 0, 0, 0, 0};
	long long seq0[NCONV], seq1[NCONV];
	char last0[NCONV][300], last1[NCONV][300];
	pthread_t t;

	(void)state;
	for (int k = 0; k < NCONV; k++)
		cf_test_create_group(&cluster, 1, "alice", convs[k],
				     "[\"bob\",\"carol\"]");
	cf_test_create_group(&cluster, 1, "bob", "cp-e", "[\"alice\"]");
	for (int k = 0; k < NCONV; k++)
		send_many(convs[k], 1, 120, convs[k]);
	for (int k = 0; k < NCONV; k++)
		digest_before[k] =
			cf_test_assert_same(&cluster, "alice", convs[k], 120);
	list_last(2, seq0, last0);
	assert_int_equal(pthread_create(&t, NULL, load_main, &l), 0);
	compact_all();
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(l.sent, 150);
	assert_int_equal(l.disorder, 0);
	/* Read back from the cold tier: the same answers. */
	for (int k = 0; k < NCONV; k++)
		assert_true(cf_test_assert_same(&cluster, "alice", convs[k],
						120) == digest_before[k]);
	(void)cf_test_assert_same(&cluster, "bob", "cp-e", 150);
	list_last(2, seq1, last1);
	for (int k = 0; k < NCONV; k++) {
		assert_int_equal(seq1[k], seq0[k]);
		assert_string_equal(last1[k], last0[k]);
	}
	for (unsigned n = 1; n <= 3; n++)
		assert_true(cold_files(n) > 0);
	verify_identical();
	n_passed++;
}

/* ---- erasure ---- */

static const char *scan_needle;
static char scan_hit[PATH_MAX];

static int cold_rec_cb(void *arg, const struct log_record *rec)
{
	(void)arg;
	return rec->body.len > 0 && memmem(rec->body.p, rec->body.len,
					   scan_needle,
					   strlen(scan_needle)) != NULL;
}

/* Does the cold file at path hold needle in a decoded record? */
static bool cold_holds(const char *path)
{
	struct log_cold *r;
	int rv;

	if (log_cold_open(&r, AT_FDCWD, path) != 0)
		return false; /* a temporary, or removed meanwhile */
	rv = log_cold_scan(r, cold_rec_cb, NULL);
	log_cold_close(r);
	return rv == 1;
}

static int scan_cb(const char *p, const struct stat *st, int flag,
		   struct FTW *ftw)
{
	FILE *fp;
	char *buf;
	size_t n;

	(void)ftw;
	if (flag != FTW_F || st->st_size == 0)
		return 0;
	buf = malloc((size_t)st->st_size);
	assert_non_null(buf);
	fp = fopen(p, "rb");
	if (fp == NULL) { /* removed meanwhile (a rolled raft segment) */
		free(buf);
		return 0;
	}
	n = fread(buf, 1, (size_t)st->st_size, fp);
	fclose(fp);
	if (memmem(buf, n, scan_needle, strlen(scan_needle)) != NULL ||
	    (strlen(p) > 5 && strcmp(p + strlen(p) - 5, ".cold") == 0 &&
	     cold_holds(p)))
		snprintf(scan_hit, sizeof scan_hit, "%s", p);
	free(buf);
	return 0;
}

/*
 * A file under node's data folder that holds needle, or NULL: its bytes,
 * and for a cold file (LZ4) its decoded records too.
 */
static const char *holder(unsigned node, const char *needle)
{
	scan_needle = needle;
	scan_hit[0] = '\0';
	assert_int_equal(nftw(cluster.nodes[node].data_dir, scan_cb, 16,
			      FTW_PHYS),
			 0);
	return scan_hit[0] != '\0' ? scan_hit : NULL;
}

/* Send a message holding a fresh marker (in marker) to conv; its seq. */
static long long send_marked(unsigned node, const char *conv,
			     const char *cmid, const char *tag, char *marker,
			     size_t msize)
{
	char body[256];
	struct cf_test_ack a;
	int st;

	snprintf(marker, msize, "%s-%llx-%d", tag,
		 (unsigned long long)cf_mono_ns(), (int)getpid());
	snprintf(body, sizeof body, "this must go: %s", marker);
	st = cf_test_send(&cluster, node, "alice", conv, cmid, body, &a);
	assert_true(st == 200 || st == 201);
	return (long long)a.seq;
}

/* Recall alice's message seq of conv through node. */
static void recall(unsigned node, const char *conv, long long seq)
{
	char path[128];

	snprintf(path, sizeof path, "/v1/conversations/%s/messages/%lld", conv,
		 seq);
	json_decref(cf_test_expect(&cluster, node, "DELETE", path, "alice",
				   NULL, 200));
}

static void recalled_content_is_erased_from_every_file_of_every_node(
	void **state)
{
	char marker[64];
	long long seq;
	json_t *h;

	(void)state;
	seq = send_marked(2, "cp-a", "secret-1", "ERASE-ME", marker,
			  sizeof marker);
	send_many("cp-a", 121, 130, "cp-a");
	recall(1, "cp-a", seq);
	/*
	 * Every node wrote it (store and raft log) before the compaction: a
	 * consistent read on each first, since a majority commit may leave
	 * one node behind (the sanitizer build's slower nodes did).
	 */
	for (unsigned n = 1; n <= 3; n++) {
		h = cf_test_history(&cluster, n, "alice", "cp-a");
		json_decref(h);
		assert_non_null(holder(n, marker));
	}
	compact_all();
	for (unsigned n = 1; n <= 3; n++) {
		const char *f = holder(n, marker);

		if (f != NULL)
			fail_msg("node %u still holds the recalled content in "
				 "%s",
				 n, f);
		h = cf_test_history(&cluster, n, "alice", "cp-a");
		assert_int_equal(json_array_size(h), 131);
		assert_true(json_is_true(json_object_get(
			json_array_get(h, (size_t)seq - 1), "recalled")));
		json_decref(h);
	}
	/*
	 * A recall of a message already compacted (cp-b seq 5, in a cold file
	 * since the first test): the cold file is rewritten without it.
	 */
	snprintf(marker, sizeof marker, "cp-b message 5 of cp-b,");
	for (unsigned n = 1; n <= 3; n++)
		assert_non_null(holder(n, marker));
	recall(3, "cp-b", 5);
	compact_all();
	for (unsigned n = 1; n <= 3; n++) {
		const char *f = holder(n, marker);

		if (f != NULL)
			fail_msg("node %u still holds the recalled content in "
				 "%s",
				 n, f);
	}
	h = cf_test_history(&cluster, 2, "alice", "cp-b");
	assert_true(json_is_true(
		json_object_get(json_array_get(h, 4), "recalled")));
	json_decref(h);
	digest_before[1] = cf_test_assert_same(&cluster, "alice", "cp-b", 120);
	verify_identical();
	n_passed++;
}

/* ---- a wiped node ---- */

static int rm_entry(const char *p, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	return ftw->level == 0 ? 0 : remove(p);
}

/* The first cold file under node's store; its path in path. */
static void first_cold(unsigned node, char *path, size_t n)
{
	char dir[PATH_MAX];

	for (unsigned p = 0; p < 16; p++) {
		for (unsigned k = 1; k < 64; k++) {
			snprintf(dir, sizeof dir, "%s/store/p%04u/%08u.cold",
				 cluster.nodes[node].data_dir, p, k);
			if (access(dir, F_OK) == 0) {
				snprintf(path, n, "%s", dir);
				return;
			}
		}
	}
	fail_msg("no cold file on node %u", node);
}

/*
 * A digest of every file under node's data folder (name, size, mtime) but
 * the lock, which an offline command takes as the node does.
 */
static void store_listing(unsigned node, char *out, size_t n)
{
	char cmd[PATH_MAX + 128];
	FILE *p;

	snprintf(cmd, sizeof cmd,
		 "cd '%s' && find . -type f ! -name LOCK "
		 "-printf '%%P %%s %%T@\\n' | sort | md5sum",
		 cluster.nodes[node].data_dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, (int)n, p));
	assert_int_equal(pclose(p), 0);
}

static void wiped_node_rejoins_through_cold_files(void **state)
{
	static char out[1 << 20];
	char args[PATH_MAX + 64], path[PATH_MAX];
	FILE *fp;
	int st;

	(void)state;
	assert_int_equal(cf_test_cluster_term(&cluster, 3, 15000, &st), 0);
	assert_int_equal(st, 0);
	/* Offline, the stopped node's cold files inspect and verify. */
	snprintf(args, sizeof args, "inspect --data '%s'",
		 cluster.nodes[3].data_dir);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	assert_non_null(strstr(out, "\ncold p"));
	snprintf(args, sizeof args, "verify --data '%s'",
		 cluster.nodes[3].data_dir);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	assert_non_null(strstr(out, ".cold: "));
	assert_non_null(strstr(out, "\n0 problems"));
	/*
	 * Offline dump reads both tiers (cp-b's seq 5 was recalled after its
	 * cold file was written) as the live route does, and changes nothing.
	 */
	{
		static char live[1 << 18];
		char before[64], after[64];

		store_listing(3, before, sizeof before);
		snprintf(args, sizeof args,
			 "dump --cluster '%s' --node %s --conversation cp-b",
			 cluster.conf_path, cluster.nodes[1].url);
		assert_int_equal(cf_test_ctl(args, live, sizeof live), 0);
		snprintf(args, sizeof args,
			 "dump --data '%s' --conversation cp-b",
			 cluster.nodes[3].data_dir);
		assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
		assert_string_equal(out, live);
		assert_non_null(strstr(out, "\"seq\":5,"));
		assert_non_null(strstr(out, "\"recalled\":true"));
		assert_null(strstr(out, "cp-b message 5 of cp-b,"));
		store_listing(3, after, sizeof after);
		assert_string_equal(before, after);
	}
	/* A byte flipped in a cold file: verify names it. */
	snprintf(args, sizeof args, "verify --data '%s'",
		 cluster.nodes[3].data_dir);
	first_cold(3, path, sizeof path);
	fp = fopen(path, "r+b");
	assert_non_null(fp);
	{
		int c;

		assert_int_equal(fseek(fp, 70, SEEK_SET), 0);
		c = fgetc(fp);
		assert_true(c != EOF);
		assert_int_equal(fseek(fp, 70, SEEK_SET), 0);
		assert_true(fputc(c ^ 0x11, fp) != EOF);
	}
	fclose(fp);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 1);
	assert_non_null(strstr(out, "problem: p"));
	assert_non_null(strstr(out, ".cold: "));
	assert_int_equal(nftw(cluster.nodes[3].data_dir, rm_entry, 16,
			      FTW_DEPTH | FTW_PHYS),
			 0);
	assert_int_equal(cf_test_cluster_restart(&cluster, 3, 60000), 0);
	/* Raft's log was cut by the erasure: a snapshot and a fetch. */
	assert_true(cf_test_cluster_log_has(&cluster, 3, "segment fetch done"));
	assert_true(cold_files(3) > 0);
	for (int k = 1; k < NCONV; k++)
		assert_true(cf_test_assert_same(&cluster, "alice", convs[k],
						120) == digest_before[k]);
	(void)cf_test_assert_same(&cluster, "alice", "cp-a", 131);
	/* Its inbox, rebuilt from cold files, lists as the others do. */
	{
		json_t *l1 = cf_test_expect(&cluster, 1, "GET",
					    "/v1/conversations?limit=100&"
					    "consistent=1",
					    "alice", NULL, 200);
		json_t *l3 = cf_test_expect(&cluster, 3, "GET",
					    "/v1/conversations?limit=100&"
					    "consistent=1",
					    "alice", NULL, 200);
		char *a = json_dumps(l1, JSON_SORT_KEYS | JSON_COMPACT);
		char *b = json_dumps(l3, JSON_SORT_KEYS | JSON_COMPACT);

		assert_non_null(a);
		assert_non_null(b);
		assert_string_equal(a, b);
		free(a);
		free(b);
		json_decref(l1);
		json_decref(l3);
	}
	verify_identical();
	n_passed++;
}

/* ---- kill -9 during a compaction ---- */

static void node_killed_during_compaction_restarts_into_the_same_state(
	void **state)
{
	struct cf_http_resp r;
	char hdr[1024], *tok = NULL;
	unsigned victim;
	int leader;

	(void)state;
	for (int k = 1; k < NCONV; k++)
		send_many(convs[k], 121, 250, convs[k]);
	leader = cf_test_cluster_leader(&cluster, 10000);
	assert_true(leader > 0);
	victim = leader == 2 ? 3 : 2;
	assert_int_equal(fe_auth_admin_mint(&conf, "test", 60, &tok), 0);
	snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", tok);
	free(tok);
	cf_http_resp_init(&r);
	assert_int_equal(cf_http_request(&cluster.nodes[leader].conn, "POST",
					 "/v1/admin/compact", hdr, NULL, 0,
					 &r),
			 0);
	assert_int_equal(r.status, 200);
	cf_http_resp_release(&r);
	/* The follower applies it about now: its job runs or is queued. */
	assert_int_equal(cf_test_cluster_kill(&cluster, victim), 0);
	cf_http_conn_drop(&cluster.nodes[victim].conn);
	assert_int_equal(cf_test_cluster_restart(&cluster, victim, 60000), 0);
	compact_all(); /* waits for every node's jobs, then nothing left */
	for (int k = 1; k < NCONV; k++)
		(void)cf_test_assert_same(&cluster, "alice", convs[k], 250);
	verify_identical();
	n_passed++;
}

/* ---- the leader's rule ---- */

/* Compaction jobs node id switched since it started. */
static long long runs(unsigned id)
{
	return status_int(id, "compaction", "runs");
}

static void leader_rule_compacts_sealed_segments_unasked(void **state)
{
	long long before[4];
	uint64_t deadline;
	bool all = false;

	(void)state;
	for (unsigned n = 1; n <= 3; n++)
		before[n] = runs(n);
	cf_test_create_group(&cluster, 1, "alice", "cp-rule", "[\"bob\"]");
	/* More than one 64 KiB segment of one partition: one is sealed. */
	send_many("cp-rule", 1, 480, "rule");
	deadline = cf_mono_ms() + 30000;
	while (!all && cf_mono_ms() < deadline) {
		all = true;
		for (unsigned n = 1; n <= 3; n++)
			all = all && runs(n) > before[n];
		if (!all)
			cf_test_sleep_ms(200);
	}
	assert_true(all);
	(void)cf_test_assert_same(&cluster, "alice", "cp-rule", 480);
	compact_all(); /* settles every node */
	verify_identical();
	n_passed++;
}

static void erase_within_deadline_holds_unasked(void **state)
{
	char marker[64];
	uint64_t deadline;
	unsigned left = 3;

	(void)state;
	recall(2, "cp-c",
	       send_marked(1, "cp-c", "deadline-1", "DEADLINE", marker,
			   sizeof marker));
	/* No confabctl: the leader's rule seals, compacts and erases. */
	deadline = cf_mono_ms() + 30000;
	while (left > 0 && cf_mono_ms() < deadline) {
		left = 0;
		for (unsigned n = 1; n <= 3; n++)
			left += holder(n, marker) != NULL;
		if (left > 0)
			cf_test_sleep_ms(250);
	}
	for (unsigned n = 1; n <= 3; n++) {
		const char *f = holder(n, marker);

		if (f != NULL)
			fail_msg("node %u still holds it after 30 s: %s", n,
				 f);
	}
	compact_all();
	verify_identical();
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			compaction_under_load_loses_nothing_and_reads_match),
		cmocka_unit_test(
			recalled_content_is_erased_from_every_file_of_every_node),
		cmocka_unit_test(wiped_node_rejoins_through_cold_files),
		cmocka_unit_test(
			node_killed_during_compaction_restarts_into_the_same_state),
		cmocka_unit_test(leader_rule_compacts_sealed_segments_unasked),
		cmocka_unit_test(erase_within_deadline_holds_unasked),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
