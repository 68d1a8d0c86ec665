#include "config.h"

/*
 * Message edits (issue 13) on one 3-node cluster of real confabd processes
 * (cluster file: edit-window 20s, segment-size 64K):
 *   - an edit through a follower answers once committed; every node's
 *     history (consistent=1) shows the latest content with editedAt and
 *     the mentions of its "@id"s (mentionsMe for the mentioned); a
 *     member's socket on another node gets the `edited` event; a device
 *     past the original message gets an `edited` sync item; a repeated
 *     clientEditId answers the first edit with duplicate=true;
 *   - every error: bad JSON, missing or empty fields, content over the
 *     limit (413), bad seq, no such message, a recalled one, another's
 *     message, a non-member, mentions of a non-member, and the edit window
 *     (403 "edit window passed", after a bounded wait);
 *   - after `confabctl compact`, the original text and the earlier edit are
 *     in no file of any node's data folder (store, raft log, images), the
 *     latest is still read from the cold file, also by a restarted node,
 *     and `confabctl verify --cluster` finds the nodes identical; an edit
 *     of the compacted message then makes the next compaction rewrite the
 *     cold file without the version it held.
 * (A message is edited within 20 s of being sent, compactions included.)
 * The tests run in this order on one cluster.
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_time.h"
#include "log/log_cold.h"

#define START_TIMEOUT_MS 30000
#define EVENT_TIMEOUT_MS 10000
#define WINDOW_MS 20000
#define N_TESTS 3

static struct cf_test_cluster cluster;
static int n_passed;
static char orig_marker[64], edit1_marker[64], edit2_marker[64];
static char orig_mid[32];
static char late_marker[64], late_edit[64];

static int group_setup(void **state)
{
	(void)state;
	setenv("CONFAB_IT_CONF", "segment-size 64K;edit-window 20s", 1);
	return cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0 ? -1
									: 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
}

static void marker(char *out, size_t n, const char *tag)
{
	snprintf(out, n, "%s-%llx-%d", tag, (unsigned long long)cf_mono_ns(),
		 (int)getpid());
}

/* PATCH message seq of conv as user through node; the answer, *status. */
static json_t *patch(unsigned node, const char *user, const char *conv,
		     const char *seq, const char *body, int *status)
{
	char path[256];

	snprintf(path, sizeof path, "/v1/conversations/%s/messages/%s", conv,
		 seq);
	return cf_test_call(&cluster, node, "PATCH", path, user, body, status);
}

static json_t *edit_ok(unsigned node, const char *user, const char *conv,
		       long long seq, const char *cid, const char *content,
		       const char *mentions)
{
	char body[512], s[24];
	json_t *j;
	int st;

	snprintf(s, sizeof s, "%lld", seq);
	snprintf(body, sizeof body,
		 "{\"content\":\"%s\",\"clientEditId\":\"%s\"%s%s}", content,
		 cid, mentions != NULL ? ",\"mentions\":" : "",
		 mentions != NULL ? mentions : "");
	j = patch(node, user, conv, s, body, &st);
	assert_int_equal(st, 200);
	assert_string_equal(cf_test_str(j, "conversationId"), conv);
	assert_int_equal(cf_test_int(j, "seq"), seq);
	assert_true(cf_test_int(j, "editedAt") > 0);
	assert_true(json_is_boolean(json_object_get(j, "duplicate")));
	return j;
}

/* The error answer's code and message must be want_code / contain msg. */
static void expect_error(unsigned node, const char *user, const char *conv,
			 const char *seq, const char *body, int want,
			 const char *want_code, const char *msg)
{
	json_t *j, *e;
	int st;

	j = patch(node, user, conv, seq, body, &st);
	assert_int_equal(st, want);
	e = json_object_get(j, "error");
	assert_non_null(e);
	assert_string_equal(cf_test_str(e, "code"), want_code);
	if (msg != NULL)
		assert_non_null(strstr(cf_test_str(e, "message"), msg));
	json_decref(j);
}

/* A node that is not the leader. */
static unsigned follower(void)
{
	int leader = cf_test_cluster_leader(&cluster, 20000);

	assert_true(leader > 0);
	return leader == 1 ? 2 : 1;
}

/* Message seq of history h. */
static json_t *hist_at(json_t *h, long long seq)
{
	json_t *m = json_array_get(h, (size_t)seq - 1);

	assert_non_null(m);
	assert_int_equal(cf_test_int(m, "seq"), seq);
	return m;
}

/* bob's sync items on node after cursor (consistent=1), all pages. */
static json_t *sync_items(unsigned node, const char *user, const char *cursor)
{
	json_t *all = json_array(), *j, *it;
	char path[256], cur[32];
	size_t i;

	snprintf(cur, sizeof cur, "%s", cursor);
	for (int page = 0; page < 100; page++) {
		snprintf(path, sizeof path,
			 "/v1/sync?cursor=%s&limit=200&consistent=1", cur);
		j = cf_test_expect(&cluster, node, "GET", path, user, NULL,
				   200);
		json_array_foreach(json_object_get(j, "items"), i, it)
			json_array_append(all, it);
		snprintf(cur, sizeof cur, "%s", cf_test_str(j, "cursor"));
		if (!json_is_true(json_object_get(j, "hasMore"))) {
			json_decref(j);
			return all;
		}
		json_decref(j);
	}
	fail_msg("sync does not end");
	return NULL;
}

static void edit_through_a_follower_reaches_every_reader(void **state)
{
	struct cf_ws_client w;
	struct cf_test_ack a;
	char content[128], mid[32], cursor[40];
	long long edited_at;
	json_t *j, *h, *m, *items, *it, *e;
	unsigned f;
	size_t i;
	int found;

	(void)state;
	cf_test_create_group(&cluster, 1, "alice", "ed-a", "[\"bob\"]");
	/* bob's socket on node 3, synced before the edit. */
	json_decref(cf_test_expect(&cluster, 3, "GET",
				   "/v1/conversations/ed-a/messages?consistent=1",
				   "bob", NULL, 200));
	assert_int_equal(cf_ws_connect(&w, cluster.nodes[3].url,
				       "/v1/ws?user=bob&deviceId=b1", 5000),
			 0);
	assert_int_equal(cf_ws_send_text(&w, "{\"type\":\"sync\",\"id\":1}"),
			 0);
	for (int k = 0; k < 100; k++) {
		assert_int_equal(cf_ws_recv_json(&w, EVENT_TIMEOUT_MS, &e), 0);
		found = strcmp(cf_test_str(e, "type"), "synced") == 0;
		json_decref(e);
		if (found)
			break;
	}
	marker(orig_marker, sizeof orig_marker, "ORIG");
	marker(edit1_marker, sizeof edit1_marker, "EDIT-ONE");
	marker(edit2_marker, sizeof edit2_marker, "EDIT-TWO");
	snprintf(content, sizeof content, "first words %s", orig_marker);
	assert_int_equal(cf_test_send(&cluster, 1, "alice", "ed-a", "m1",
				      content, &a),
			 201);
	assert_int_equal(a.seq, 1);
	snprintf(orig_mid, sizeof orig_mid, "%s", a.mid);

	f = follower();
	snprintf(content, sizeof content, "better words %s @bob", edit1_marker);
	/* "@bob" in the new text mentions him (the grammar of sends). */
	j = edit_ok(f, "alice", "ed-a", 1, "ce-1", content, NULL);
	assert_false(json_is_true(json_object_get(j, "duplicate")));
	snprintf(mid, sizeof mid, "%s", cf_test_str(j, "messageId"));
	assert_string_not_equal(mid, orig_mid);
	edited_at = cf_test_int(j, "editedAt");
	json_decref(j);

	/* The `edited` event on a socket of another node. */
	snprintf(cursor, sizeof cursor, "m%s", mid);
	for (found = 0; !found;) {
		assert_int_equal(cf_ws_recv_json(&w, EVENT_TIMEOUT_MS, &e), 0);
		if (strcmp(cf_test_str(e, "type"), "edited") == 0) {
			found = 1;
			assert_string_equal(cf_test_str(e, "conversationId"),
					    "ed-a");
			assert_int_equal(cf_test_int(e, "seq"), 1);
			assert_string_equal(cf_test_str(e, "content"), content);
			assert_int_equal(cf_test_int(e, "editedAt"), edited_at);
			assert_string_equal(cf_test_str(e, "messageId"), mid);
			assert_string_equal(cf_test_str(e, "cursor"), cursor);
			assert_string_equal(
				json_string_value(json_array_get(
					json_object_get(e, "mentions"), 0)),
				"bob");
			assert_true(json_is_true(
				json_object_get(e, "mentionsMe")));
		}
		json_decref(e);
	}
	cf_ws_close(&w);

	/* Every node's history: the latest content, the same messageId. */
	for (unsigned n = 1; n <= 3; n++) {
		h = cf_test_history(&cluster, n, "bob", "ed-a");
		m = hist_at(h, 1);
		assert_string_equal(cf_test_str(m, "content"), content);
		assert_int_equal(cf_test_int(m, "editedAt"), edited_at);
		assert_string_equal(cf_test_str(m, "messageId"), orig_mid);
		assert_string_equal(cf_test_str(m, "clientMsgId"), "m1");
		assert_true(json_is_true(json_object_get(m, "mentionsMe")));
		json_decref(h);
	}
	/* A device past the original message learns of the edit. */
	snprintf(cursor, sizeof cursor, "m%s", orig_mid);
	items = sync_items(2, "bob", cursor);
	found = 0;
	json_array_foreach(items, i, it)
	{
		if (strcmp(cf_test_str(it, "type"), "edited") != 0)
			continue;
		found++;
		assert_int_equal(cf_test_int(it, "seq"), 1);
		assert_string_equal(cf_test_str(it, "content"), content);
		assert_string_equal(cf_test_str(it, "messageId"), mid);
		assert_true(json_is_true(json_object_get(it, "mentionsMe")));
	}
	assert_int_equal(found, 1);
	json_decref(items);
	/* One from the start shows the message's latest version. */
	items = sync_items(3, "bob", "m0");
	found = 0;
	json_array_foreach(items, i, it)
	{
		if (strcmp(cf_test_str(it, "type"), "message") == 0 &&
		    cf_test_int(it, "seq") == 1) {
			found++;
			assert_string_equal(cf_test_str(it, "content"), content);
			assert_int_equal(cf_test_int(it, "editedAt"), edited_at);
		}
	}
	assert_int_equal(found, 1);
	json_decref(items);

	/* The same clientEditId again, through another node: the first. */
	j = edit_ok(3, "alice", "ed-a", 1, "ce-1", "something else", NULL);
	assert_true(json_is_true(json_object_get(j, "duplicate")));
	assert_string_equal(cf_test_str(j, "messageId"), mid);
	assert_int_equal(cf_test_int(j, "editedAt"), edited_at);
	json_decref(j);
	/* A second edit: the latest wins everywhere. */
	snprintf(content, sizeof content, "best words %s", edit2_marker);
	json_decref(edit_ok(2, "alice", "ed-a", 1, "ce-2", content, NULL));
	for (unsigned n = 1; n <= 3; n++) {
		h = cf_test_history(&cluster, n, "alice", "ed-a");
		assert_string_equal(cf_test_str(hist_at(h, 1), "content"),
				    content);
		assert_null(json_object_get(hist_at(h, 1), "mentions"));
		json_decref(h);
	}
	n_passed++;
}

static void every_error_is_answered(void **state)
{
	static char big[100010 + 64];
	struct cf_test_ack a;
	char body[256];
	json_t *j;
	uint64_t t0;
	int st = 0;

	(void)state;
	cf_test_create_group(&cluster, 2, "alice", "ed-b", "[\"bob\"]");
	assert_int_equal(cf_test_send(&cluster, 1, "alice", "ed-b", "b1",
				      "alice one", &a),
			 201);
	assert_int_equal(cf_test_send(&cluster, 1, "alice", "ed-b", "b2",
				      "alice two", &a),
			 201);
	/* First what apply decides after the window check. */
	expect_error(1, "alice", "ed-b", "1",
		     "{\"content\":\"x\",\"clientEditId\":\"k\","
		     "\"mentions\":[\"zed\"]}",
		     400, "bad_request", "members");
	expect_error(1, "alice", "ed-b", "1", "{not json", 400, "bad_request",
		     NULL);
	expect_error(1, "alice", "ed-b", "1", "{\"content\":\"x\"}", 400,
		     "bad_request", "clientEditId");
	expect_error(1, "alice", "ed-b", "1", "{\"clientEditId\":\"k\"}", 400,
		     "bad_request", "content");
	expect_error(1, "alice", "ed-b", "1",
		     "{\"content\":\"\",\"clientEditId\":\"k\"}", 400,
		     "bad_request", "empty");
	snprintf(big, sizeof big, "{\"clientEditId\":\"k\",\"content\":\"");
	memset(big + strlen(big), 'x', 100001);
	strcat(big, "\"}");
	expect_error(2, "alice", "ed-b", "1", big, 413, "payload_too_large",
		     NULL);
	expect_error(1, "alice", "ed-b", "zero",
		     "{\"content\":\"x\",\"clientEditId\":\"k\"}", 400,
		     "bad_request", "seq");
	expect_error(1, "alice", "ed-b", "9",
		     "{\"content\":\"x\",\"clientEditId\":\"k\"}", 404,
		     "not_found", NULL);
	expect_error(3, "bob", "ed-b", "1",
		     "{\"content\":\"x\",\"clientEditId\":\"k\"}", 403,
		     "forbidden", "only the sender");
	expect_error(3, "carol", "ed-b", "1",
		     "{\"content\":\"x\",\"clientEditId\":\"k\"}", 404,
		     "not_found", NULL);
	expect_error(1, "alice", "ed-b", "1",
		     "{\"content\":\"x\",\"clientEditId\":\"k\","
		     "\"mentions\":\"bob\"}",
		     400, "bad_request", "mentions");
	/* A recalled message is not found. */
	json_decref(cf_test_expect(&cluster, 2, "DELETE",
				   "/v1/conversations/ed-b/messages/2",
				   "alice", NULL, 200));
	expect_error(2, "alice", "ed-b", "2",
		     "{\"content\":\"x\",\"clientEditId\":\"k\"}", 404,
		     "not_found", NULL);
	/* Another method on the message. */
	j = cf_test_call(&cluster, 1, "PUT", "/v1/conversations/ed-b/messages/1",
			 "alice", "{}", &st);
	assert_int_equal(st, 405);
	json_decref(j);
	/* The window (20 s of entry time): a bounded wait past it. */
	t0 = cf_mono_ms();
	cf_test_sleep_ms(WINDOW_MS);
	for (int k = 0;; k++) {
		snprintf(body, sizeof body,
			 "{\"content\":\"late %d\",\"clientEditId\":\"late-%d\"}",
			 k, k);
		j = patch(1 + (unsigned)k % 3, "alice", "ed-b", "1", body, &st);
		if (st == 403) {
			assert_string_equal(
				cf_test_str(json_object_get(j, "error"),
					    "message"),
				"edit window passed");
			json_decref(j);
			break;
		}
		assert_int_equal(st, 200);
		json_decref(j);
		assert_true(cf_mono_ms() - t0 < 6 * WINDOW_MS);
		cf_test_sleep_ms(500);
	}
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

static bool cold_holds(const char *path)
{
	struct log_cold *r;
	int rv;

	if (log_cold_open(&r, AT_FDCWD, path) != 0)
		return false;
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
	if (fp == NULL) {
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

/* A file of node's data folder holding needle (raw, or decoded cold). */
static const char *holder(unsigned node, const char *needle)
{
	scan_needle = needle;
	scan_hit[0] = '\0';
	assert_int_equal(nftw(cluster.nodes[node].data_dir, scan_cb, 16,
			      FTW_PHYS),
			 0);
	return scan_hit[0] != '\0' ? scan_hit : NULL;
}

static void ctl_ok(const char *cmd, const char *want)
{
	static char out[1 << 16];
	char args[1024];

	snprintf(args, sizeof args, "%s --cluster '%s'%s", cmd,
		 cluster.conf_path,
		 strcmp(cmd, "compact") == 0 ? " --wait 120" : "");
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	assert_non_null(strstr(out, want));
}

static void earlier_versions_leave_every_file_after_compaction(void **state)
{
	json_t *h, *m;

	(void)state;
	/* A message that will be edited once it is compacted. */
	marker(late_marker, sizeof late_marker, "COMPACTED-THEN-EDITED");
	snprintf(late_edit, sizeof late_edit, "edited after compaction");
	{
		char content[128];
		struct cf_test_ack a;

		snprintf(content, sizeof content, "words %s", late_marker);
		assert_int_equal(cf_test_send(&cluster, 2, "alice", "ed-a",
					      "m2", content, &a),
				 201);
		assert_int_equal(a.seq, 2);
	}
	/* Every node wrote every version before. */
	for (unsigned n = 1; n <= 3; n++) {
		assert_non_null(holder(n, orig_marker));
		assert_non_null(holder(n, edit1_marker));
	}
	ctl_ok("compact", "compaction committed at index");
	/* Edited within the window, once compacted (checked below). */
	json_decref(edit_ok(1, "alice", "ed-a", 2, "ce-4", late_edit, NULL));
	for (unsigned n = 1; n <= 3; n++) {
		const char *f = holder(n, orig_marker);

		if (f != NULL)
			fail_msg("node %u still holds the original text in %s",
				 n, f);
		f = holder(n, edit1_marker);
		if (f != NULL)
			fail_msg("node %u still holds the first edit in %s", n,
				 f);
		assert_non_null(holder(n, edit2_marker));
		h = cf_test_history(&cluster, n, "bob", "ed-a");
		m = hist_at(h, 1);
		assert_non_null(strstr(cf_test_str(m, "content"),
				       edit2_marker));
		assert_string_equal(cf_test_str(m, "messageId"), orig_mid);
		assert_true(cf_test_int(m, "editedAt") > 0);
		json_decref(h);
	}
	/* A restarted node reads the latest version from its cold file. */
	assert_int_equal(cf_test_cluster_term(&cluster, 2, 20000, &(int){0}),
			 0);
	assert_int_equal(cf_test_cluster_restart(&cluster, 2, START_TIMEOUT_MS),
			 0);
	h = cf_test_history(&cluster, 2, "alice", "ed-a");
	assert_non_null(strstr(cf_test_str(hist_at(h, 1), "content"),
			       edit2_marker));
	json_decref(h);
	ctl_ok("verify", "identical: 3 nodes");

	/* The message edited after its compaction (above): its cold file
	 * is rewritten without the original text. */
	ctl_ok("compact", "compaction committed at index");
	for (unsigned n = 1; n <= 3; n++) {
		const char *f = holder(n, late_marker);

		if (f != NULL)
			fail_msg("node %u still holds the text of an edited "
				 "message compacted before the edit in %s",
				 n, f);
		h = cf_test_history(&cluster, n, "bob", "ed-a");
		assert_string_equal(cf_test_str(hist_at(h, 2), "content"),
				    late_edit);
		json_decref(h);
	}
	ctl_ok("verify", "identical: 3 nodes");
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(edit_through_a_follower_reaches_every_reader),
		cmocka_unit_test(every_error_is_answered),
		cmocka_unit_test(
			earlier_versions_leave_every_file_after_compaction),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
