#include "config.h"

/*
 * Snapshot install on a real cluster (DESIGN.md "Snapshot by reference"):
 * three confabd processes with a tiny Raft snapshot threshold and trailing
 * log (64/64, in CONFAB_IT_ARGS for every node), so that a follower stopped
 * while the others commit a few thousand entries comes back behind the
 * leader's log and must receive a snapshot install, fetch the segments it
 * lacks from a peer (src/raft/rft_fetch.c) and catch up.
 *
 * Checked after the follower F restarts: /readyz answers 200 within 30 s;
 * the history of every conversation read through F equals the leader's
 * (same records, field for field: seqs, messageIds, senders, contents,
 * recalled placeholders); GET /v1/conversations and the whole of GET
 * /v1/sync for every user are the same on F as on the leader; a member
 * removed during the outage gets 403 on F; a send through F commits and
 * is on all three nodes and reaches a WebSocket opened on F; F's log says
 * "segment fetch done". Before the load ends the test also checks that the
 * leader did write a snapshot far enough past F's last index that its log
 * no longer holds F's next entry (so the install cannot be skipped).
 *
 * Until the fetch is wired into the node, F stays 503 and the test fails
 * at the readiness wait, with F's "ahead of applied" restore line printed.
 */

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_err.h"
#include "common/cf_time.h"

#define START_TIMEOUT_MS 30000
#define READY_TIMEOUT_MS 30000
#define SNAP_THRESHOLD 64
#define SNAP_TRAILING 64
#define LOAD_THREADS 4
#define LOAD_PER_THREAD 600
#define LOAD_DEADLINE_MS 25000
#define EVENT_TIMEOUT_MS 10000
#define FETCH_DONE "segment fetch done"
#define RESTORE_AHEAD "ahead of applied"

/* The conversations, their owners and members at creation. */
static const struct {
	const char *id, *owner, *members;
} convs[] = {
	{"sn-a", "alice", "[\"bob\",\"carol\"]"},
	{"sn-b", "bob", "[\"carol\",\"dave\"]"},
	{"sn-c", "carol", "[\"alice\",\"erin\"]"},
	{"sn-d", "dave", "[\"alice\"]"},
};
#define NCONVS (sizeof convs / sizeof convs[0])
static const char *users[] = {"alice", "bob", "carol", "dave", "erin"};
#define NUSERS (sizeof users / sizeof users[0])

struct fixture {
	struct cf_test_cluster c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char args[128];

	if (f == NULL)
		return -1;
	*state = f;
	snprintf(args, sizeof args,
		 "--snapshot-threshold=%d --snapshot-trailing=%d",
		 SNAP_THRESHOLD, SNAP_TRAILING);
	setenv("CONFAB_IT_ARGS", args, 1);
	if (cf_test_cluster_start(&f->c, 3, START_TIMEOUT_MS) != 0) {
		cf_test_cluster_stop(&f->c);
		free(f);
		*state = NULL;
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rv = 0;

	if (f != NULL) {
		/* A node that crashed or did not exit 0 fails the test. */
		rv = cf_test_cluster_stop(&f->c) == 0 ? 0 : -1;
		free(f);
	}
	return rv;
}

static int other_node(int a, int b)
{
	for (int i = 1; i <= 3; i++) {
		if (i != a && i != b)
			return i;
	}
	return -1;
}

/* A call that must answer want; returns the JSON (caller decrefs). */
static json_t *expect(struct cf_test_cluster *c, unsigned node,
		      const char *method, const char *path, const char *user,
		      const char *body, int want)
{
	int st;
	json_t *j = cf_test_call(c, node, method, path, user, body, &st);

	if (st != want)
		fail_msg("%s %s on n%u as %s: %d, want %d", method, path, node,
			 user, st, want);
	return j;
}

static void send_ok(struct cf_test_cluster *c, unsigned node,
		    const char *user, const char *conv, const char *cmid,
		    const char *content, struct cf_test_ack *a)
{
	int st = cf_test_send(c, node, user, conv, cmid, content, a);

	if (st != 200 && st != 201)
		fail_msg("send %s/%s on n%u: %d", conv, cmid, node, st);
	assert_int_equal(a->duplicate, 0);
}

/* commitIndex (or appliedIndex) of node from /v1/cluster. */
static long long cluster_index(struct cf_test_cluster *c, unsigned node,
			       const char *field)
{
	json_t *j = expect(c, node, "GET", "/v1/cluster", "alice", NULL, 200);
	long long v = cf_test_int(j, field);

	json_decref(j);
	assert_true(v >= 0);
	return v;
}

/*
 * The highest index among the raft snapshots in node's data folder
 * (raft_uv names them snapshot-TERM-INDEX-TIMESTAMP, plus .meta), or 0.
 */
static unsigned long long newest_snapshot(struct cf_test_cluster *c,
					  unsigned node, int *count)
{
	char dir[PATH_MAX + 8];
	unsigned long long term, index, ts, best = 0;
	struct dirent *e;
	DIR *d;

	*count = 0;
	snprintf(dir, sizeof dir, "%s/raft", c->nodes[node].data_dir);
	d = opendir(dir);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (strstr(e->d_name, ".meta") != NULL)
			continue;
		if (sscanf(e->d_name, "snapshot-%llu-%llu-%llu", &term, &index,
			   &ts) != 3)
			continue;
		(*count)++;
		if (index > best)
			best = index;
	}
	closedir(d);
	return best;
}

/* The first line of node's log containing needle, into out; 1 if found. */
static int log_line(struct cf_test_cluster *c, unsigned node,
		    const char *needle, char *out, size_t size)
{
	FILE *fp = fopen(c->nodes[node].log_path, "r");
	char line[1024];
	int found = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof line, fp) != NULL) {
		if (strstr(line, needle) != NULL) {
			snprintf(out, size, "%s", line);
			found = 1;
			break;
		}
	}
	fclose(fp);
	return found;
}

/* ---- the load: sequential sends on own connections, one conv each ---- */

struct load {
	const char *url, *user, *conv;
	int k, want;
	uint64_t deadline;
	int sent, failed;
	long long first_seq, last_seq;
	int disorder;
};

static void *load_main(void *arg)
{
	struct load *l = arg;
	struct cf_http_conn conn;
	struct cf_http_resp r;
	char body[256];
	json_t *j;
	long long seq;

	cf_http_resp_init(&r);
	if (cf_http_conn_init(&conn, l->url, 5000) != 0) {
		l->failed++;
		return NULL;
	}
	while (l->sent < l->want && cf_mono_ms() < l->deadline) {
		snprintf(body, sizeof body,
			 "{\"conversationId\":\"%s\",\"clientMsgId\":"
			 "\"L%d-%d\",\"msgType\":\"text\",\"content\":"
			 "\"load %d of thread %d\"}",
			 l->conv, l->k, l->sent, l->sent, l->k);
		if (cf_http_request_json(&conn, "POST", "/v1/messages", l->user,
					 body, &r) != 0 ||
		    (r.status != 200 && r.status != 201) ||
		    (j = cf_http_resp_json(&r)) == NULL) {
			/* A retry of the same clientMsgId is safe. */
			l->failed++;
			if (l->failed > 20)
				break;
			cf_test_sleep_ms(50);
			continue;
		}
		seq = cf_test_int(j, "seq");
		if (l->first_seq == 0)
			l->first_seq = seq;
		else if (seq != l->last_seq + 1)
			l->disorder++;
		l->last_seq = seq;
		l->sent++;
	}
	cf_http_resp_release(&r);
	cf_http_conn_release(&conn);
	return NULL;
}

/* ---- comparisons between F and the leader ---- */

/* Whole histories equal, record for record, field for field. */
static size_t assert_history_equal(struct cf_test_cluster *c, unsigned f,
				   unsigned leader, const char *user,
				   const char *conv)
{
	json_t *hl = cf_test_history(c, leader, user, conv);
	json_t *hf = cf_test_history(c, f, user, conv);
	size_t i, n = json_array_size(hl);
	json_t *ml;

	cf_test_assert_history(hl);
	cf_test_assert_history(hf);
	print_message("# %s: %zu messages on leader n%u, %zu on F n%u\n", conv,
		      n, leader, json_array_size(hf), f);
	for (i = 0; i < n || i < json_array_size(hf); i++) {
		json_t *mf = json_array_get(hf, i);

		ml = json_array_get(hl, i);
		if (ml == NULL || mf == NULL || !json_equal(ml, mf)) {
			char *a = ml ? json_dumps(ml, JSON_COMPACT |
							      JSON_SORT_KEYS)
				     : NULL;
			char *b = mf ? json_dumps(mf, JSON_COMPACT |
							      JSON_SORT_KEYS)
				     : NULL;

			fail_msg("%s record %zu differs:\n# leader %s\n"
				 "# F      %s",
				 conv, i, a ? a : "(none)", b ? b : "(none)");
		}
	}
	assert_int_equal(cf_test_digest(hl), cf_test_digest(hf));
	json_decref(hl);
	json_decref(hf);
	return n;
}

/* The caller's conversation list on F matches the leader's. */
static void assert_convs_equal(struct cf_test_cluster *c, unsigned f,
			       unsigned leader, const char *user)
{
	json_t *jl = expect(c, leader, "GET", "/v1/conversations", user, NULL,
			    200);
	json_t *jf = expect(c, f, "GET", "/v1/conversations", user, NULL, 200);
	json_t *al = json_object_get(jl, "conversations");
	json_t *af = json_object_get(jf, "conversations");
	static const char *fields[] = {"lastSeq", "readSeq", "deliveredSeq",
				       "unread"};
	json_t *cl, *cfv;
	size_t i;

	assert_true(json_is_array(al));
	assert_true(json_is_array(af));
	assert_int_equal(json_array_size(af), json_array_size(al));
	json_array_foreach(al, i, cl)
	{
		cfv = json_array_get(af, i);
		assert_string_equal(cf_test_str(cfv, "conversationId"),
				    cf_test_str(cl, "conversationId"));
		for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
			if (cf_test_int(cfv, fields[k]) !=
			    cf_test_int(cl, fields[k]))
				fail_msg("%s: %s %s is %lld on F, %lld on "
					 "leader", user,
					 cf_test_str(cl, "conversationId"),
					 fields[k], cf_test_int(cfv, fields[k]),
					 cf_test_int(cl, fields[k]));
		}
		assert_true(cf_test_int(cl, "lastSeq") > 0);
		assert_true(json_equal(json_object_get(cfv, "members"),
				       json_object_get(cl, "members")));
		assert_true(json_equal(json_object_get(cfv, "lastMessage"),
				       json_object_get(cl, "lastMessage")));
	}
	json_decref(jl);
	json_decref(jf);
}

/* Every sync item of user from the beginning, paged (new reference). */
static json_t *sync_all(struct cf_test_cluster *c, unsigned node,
			const char *user)
{
	json_t *all = json_array(), *j, *items, *it;
	char path[256], cursor[64] = "";
	size_t i;

	for (int page = 0; page < 100; page++) {
		if (cursor[0] != '\0')
			snprintf(path, sizeof path,
				 "/v1/sync?limit=500&cursor=%s", cursor);
		else
			snprintf(path, sizeof path, "/v1/sync?limit=500");
		j = expect(c, node, "GET", path, user, NULL, 200);
		items = json_object_get(j, "items");
		assert_true(json_is_array(items));
		json_array_foreach(items, i, it)
			json_array_append(all, it);
		snprintf(cursor, sizeof cursor, "%s", cf_test_str(j, "cursor"));
		if (!json_is_true(json_object_get(j, "hasMore"))) {
			json_decref(j);
			return all;
		}
		assert_true(json_array_size(items) > 0);
		json_decref(j);
	}
	fail_msg("sync of %s on n%u does not end", user, node);
	return NULL;
}

static void assert_sync_equal(struct cf_test_cluster *c, unsigned f,
			      unsigned leader, const char *user)
{
	json_t *sl = sync_all(c, leader, user), *sf = sync_all(c, f, user);
	size_t nl = json_array_size(sl), nf = json_array_size(sf), i;
	size_t msgs = 0, changes = 0;
	json_t *it;

	print_message("# sync of %s: %zu items on leader, %zu on F\n", user,
		      nl, nf);
	for (i = 0; i < nl || i < nf; i++) {
		json_t *il = json_array_get(sl, i), *iff = json_array_get(sf, i);

		if (il == NULL || iff == NULL || !json_equal(il, iff)) {
			char *a = il ? json_dumps(il, JSON_COMPACT |
							      JSON_SORT_KEYS)
				     : NULL;
			char *b = iff ? json_dumps(iff, JSON_COMPACT |
								JSON_SORT_KEYS)
				      : NULL;

			fail_msg("sync of %s (%zu items on leader, %zu on F), "
				 "item %zu differs:\n# leader %s\n# F      %s",
				 user, nl, nf, i, a ? a : "(none)",
				 b ? b : "(none)");
		}
	}
	json_array_foreach(sl, i, it)
	{
		msgs += strcmp(cf_test_str(it, "type"), "message") == 0;
		changes += strcmp(cf_test_str(it, "type"), "conversation") == 0;
	}
	assert_true(msgs > 0);
	assert_true(changes > 0);
	json_decref(sl);
	json_decref(sf);
}

/* ---- tests ---- */

static void lagging_follower_installs_snapshot_fetches_segments_and_catches_up(
	void **state)
{
	struct fixture *f = *state;
	struct cf_test_cluster *c = &f->c;
	struct load loads[LOAD_THREADS];
	pthread_t th[LOAD_THREADS];
	struct cf_test_ack a;
	struct cf_ws_client w;
	char cmid[32], line[1024], path[256];
	unsigned long long snap;
	long long f_index, commit, last_a, applied;
	int leader, fo, other, t, nsnap, load_total = 0;
	uint64_t t0;
	json_t *j, *m;
	size_t n;

	/* 1. Conversations and messages while all three nodes run. */
	leader = cf_test_cluster_leader(c, 10000);
	assert_true(leader > 0);
	fo = leader % 3 + 1;
	other = other_node(leader, fo);
	print_message("# leader n%d, follower to stop n%d, other n%d\n", leader,
		      fo, other);
	for (size_t k = 0; k < NCONVS; k++)
		cf_test_create_group(c, (unsigned)(k % 3 + 1), convs[k].owner,
				     convs[k].id, convs[k].members);
	for (int i = 0; i < 6; i++) {
		for (size_t k = 0; k < NCONVS; k++) {
			snprintf(cmid, sizeof cmid, "pre-%d", i);
			send_ok(c, (unsigned)((i + (int)k) % 3 + 1),
				convs[k].owner, convs[k].id, cmid, "before", &a);
			assert_int_equal(a.seq, i + 1);
		}
	}
	/* Receipts: bob read sn-a up to 3, carol delivered sn-b up to 4. */
	json_decref(expect(c, (unsigned)fo, "POST",
			   "/v1/conversations/sn-a/read", "bob",
			   "{\"upToSeq\":3}", 200));
	json_decref(expect(c, (unsigned)leader, "POST",
			   "/v1/conversations/sn-b/delivered", "carol",
			   "{\"upToSeq\":4}", 200));
	/* F holds everything so far. */
	json_decref(cf_test_history(c, (unsigned)fo, "alice", "sn-a"));
	f_index = cluster_index(c, (unsigned)fo, "appliedIndex");
	print_message("# F n%d applied %lld before the stop\n", fo, f_index);

	/* 2. Stop F and load the other two. */
	assert_int_equal(cf_test_cluster_kill(c, (unsigned)fo), 0);
	t0 = cf_mono_ms();
	for (t = 0; t < LOAD_THREADS; t++) {
		loads[t] = (struct load){
			.url = c->nodes[t % 2 ? leader : other].url,
			.user = convs[t % NCONVS].owner,
			.conv = convs[t % NCONVS].id,
			.k = t,
			.want = LOAD_PER_THREAD,
			.deadline = t0 + LOAD_DEADLINE_MS,
		};
		assert_int_equal(
			pthread_create(&th[t], NULL, load_main, &loads[t]), 0);
	}
	/*
	 * Meanwhile (on this thread's own connections): a recall by a
	 * sender, a recall by an owner, a membership change (dave leaves sn-b,
	 * erin joins it), a read receipt.
	 */
	cf_test_sleep_ms(300);
	json_decref(expect(c, (unsigned)other, "DELETE",
			   "/v1/conversations/sn-a/messages/2", "alice", NULL,
			   200));
	json_decref(expect(c, (unsigned)leader, "DELETE",
			   "/v1/conversations/sn-c/messages/5", "carol", NULL,
			   200));
	json_decref(expect(c, (unsigned)leader, "POST",
			   "/v1/conversations/sn-b/members", "bob",
			   "{\"add\":[\"erin\"],\"remove\":[\"dave\"]}", 200));
	json_decref(expect(c, (unsigned)other, "POST",
			   "/v1/conversations/sn-c/read", "erin",
			   "{\"upToSeq\":4}", 200));
	for (t = 0; t < LOAD_THREADS; t++)
		pthread_join(th[t], NULL);
	for (t = 0; t < LOAD_THREADS; t++) {
		print_message("# load %d on %s: %d sent (seqs %lld..%lld), %d "
			      "failed tries\n",
			      t, loads[t].conv, loads[t].sent,
			      loads[t].first_seq, loads[t].last_seq,
			      loads[t].failed);
		assert_int_equal(loads[t].sent, LOAD_PER_THREAD);
		assert_int_equal(loads[t].disorder, 0);
		load_total += loads[t].sent;
	}
	/* A message recalled after the load, by its sender (thread 0). */
	snprintf(path, sizeof path, "/v1/conversations/%s/messages/%lld",
		 loads[0].conv, loads[0].first_seq + 10);
	json_decref(expect(c, (unsigned)leader, "DELETE", path,
			   loads[0].user, NULL, 200));
	send_ok(c, (unsigned)other, "erin", "sn-b", "erin-1", "erin joined", &a);
	commit = cluster_index(c, (unsigned)leader, "commitIndex");
	snap = newest_snapshot(c, (unsigned)leader, &nsnap);
	print_message("# %d messages in %llu ms; leader commit %lld, %d "
		      "snapshot files, newest at %llu (F applied %lld)\n",
		      load_total, (unsigned long long)(cf_mono_ms() - t0),
		      commit, nsnap, snap, f_index);
	/*
	 * The leader's log starts after its newest snapshot minus the
	 * trailing entries: F's next entry must be gone from it.
	 */
	assert_true(nsnap > 0);
	assert_true(snap > (unsigned long long)f_index + SNAP_TRAILING + 1);

	/* 3. Restart F: it must install, fetch, apply and turn ready. */
	assert_int_equal(cf_test_cluster_node_spawn(c, (unsigned)fo), 0);
	t0 = cf_mono_ms();
	/*
	 * F may answer /readyz 200 for a moment right after the restart,
	 * before the leader's install reaches it (it is ready against the
	 * commit index it knew at start): first wait for the install
	 * (the restore line of rft_fsm.c), then for readiness.
	 */
	while (!log_line(c, (unsigned)fo, RESTORE_AHEAD, line, sizeof line)) {
		if (cf_mono_ms() - t0 > READY_TIMEOUT_MS)
			fail_msg("F n%d got no snapshot install in %d ms", fo,
				 READY_TIMEOUT_MS);
		assert_true(cf_test_cluster_alive(c, (unsigned)fo));
		cf_test_sleep_ms(50);
	}
	print_message("# F: %s", line);
	if (cf_test_cluster_wait_ready(
		    c, (unsigned)fo,
		    READY_TIMEOUT_MS - (int)(cf_mono_ms() - t0)) != 0)
		fail_msg("F n%d not ready %d ms after restart (it got the "
			 "install: %s)",
			 fo, READY_TIMEOUT_MS, line);
	applied = cluster_index(c, (unsigned)fo, "appliedIndex");
	print_message("# F n%d ready %llu ms after restart, applied %lld of "
		      "%lld\n",
		      fo, (unsigned long long)(cf_mono_ms() - t0), applied,
		      commit);
	assert_true(cf_test_cluster_alive(c, (unsigned)fo));

	/* 4. F holds what the leader holds. */
	for (size_t k = 0; k < NCONVS; k++) {
		n = assert_history_equal(c, (unsigned)fo, (unsigned)leader,
					 convs[k].owner, convs[k].id);
		for (t = 0; t < LOAD_THREADS; t++) {
			if (strcmp(loads[t].conv, convs[k].id) == 0)
				assert_true((long long)n >= loads[t].last_seq);
		}
	}
	/* The recalled placeholders, read through F. */
	j = cf_test_history(c, (unsigned)fo, "bob", "sn-a");
	m = json_array_get(j, 1);
	assert_true(json_is_true(json_object_get(m, "recalled")));
	assert_null(json_object_get(m, "content"));
	m = json_array_get(j, (size_t)loads[0].first_seq + 9);
	assert_int_equal(cf_test_int(m, "seq"), loads[0].first_seq + 10);
	assert_true(json_is_true(json_object_get(m, "recalled")));
	assert_null(json_object_get(m, "content"));
	m = json_array_get(j, 2);
	assert_string_equal(cf_test_str(m, "content"), "before");
	last_a = cf_test_int(json_array_get(j, json_array_size(j) - 1), "seq");
	json_decref(j);
	j = cf_test_history(c, (unsigned)fo, "alice", "sn-c");
	assert_true(json_is_true(
		json_object_get(json_array_get(j, 4), "recalled")));
	json_decref(j);
	/* The membership change, seen through F. */
	json_decref(expect(c, (unsigned)fo, "GET",
			   "/v1/conversations/sn-b/messages?consistent=1",
			   "dave", NULL, 403));
	json_decref(expect(c, (unsigned)fo, "GET",
			   "/v1/conversations/sn-b/messages?consistent=1",
			   "erin", NULL, 200));
	for (size_t u = 0; u < NUSERS; u++) {
		assert_convs_equal(c, (unsigned)fo, (unsigned)leader, users[u]);
		assert_sync_equal(c, (unsigned)fo, (unsigned)leader, users[u]);
	}

	/* 5. F serves writes again: a send through F, on every node and F's socket. */
	memset(&w, 0, sizeof w);
	assert_int_equal(cf_ws_connect(&w, c->nodes[fo].url,
				       "/v1/ws?user=carol&deviceId=sn1", 5000),
			 0);
	send_ok(c, (unsigned)fo, "bob", "sn-a", "after-1", "after restart", &a);
	assert_int_equal(a.seq, last_a + 1);
	t0 = cf_mono_ms();
	for (;;) {
		json_t *e = NULL;

		assert_true(cf_mono_ms() - t0 < EVENT_TIMEOUT_MS);
		assert_int_equal(cf_ws_recv_json(&w, EVENT_TIMEOUT_MS, &e), 0);
		if (strcmp(cf_test_str(e, "type"), "message") == 0 &&
		    strcmp(cf_test_str(e, "conversationId"), "sn-a") == 0 &&
		    cf_test_int(e, "seq") == a.seq) {
			assert_string_equal(cf_test_str(e, "content"),
					    "after restart");
			json_decref(e);
			break;
		}
		json_decref(e);
	}
	cf_ws_close(&w);
	(void)cf_test_assert_same(c, "bob", "sn-a", (size_t)a.seq);

	/* 6. And F did it by fetching segments. */
	if (!log_line(c, (unsigned)fo, FETCH_DONE, line, sizeof line))
		fail_msg("F n%d's log has no \"%s\" line", fo, FETCH_DONE);
	print_message("# F: %s", line);
	cf_test_cluster_pass(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			lagging_follower_installs_snapshot_fetches_segments_and_catches_up,
			setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
