#include "config.h"

/*
 * Search and mentions (issue 13), end to end on one 3-node cluster of real
 * confabd processes shared by every test of this program (each test uses
 * its own conversations and words): sends through other nodes are found
 * on every node with consistent=1 (CJK without spaces, accents, case);
 * non-members and removed members never see results from a conversation
 * (a removed member keeps its window); recalled texts are not found and
 * their bytes leave the index's files; paging newest first with an opaque
 * cursor; the index rebuilt after its database is deleted or damaged; the
 * mentions route's answer; and the bad inputs of both routes.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_err.h"
#include "common/cf_time.h"

#define START_TIMEOUT_MS 30000

static struct cf_test_cluster cluster;
static int n_passed;

static int group_setup(void **state)
{
	(void)state;
	return cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0 ? -1
									  : 0;
}

#define N_TESTS 9

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
}

static json_t *expect(unsigned node, const char *method, const char *path,
		      const char *user, const char *body, int status)
{
	return cf_test_expect(&cluster, node, method, path, user, body,
			      status);
}

static void expect_error(unsigned node, const char *path, const char *user,
			 int status, const char *code)
{
	json_t *j = expect(node, "GET", path, user, NULL, status);
	json_t *e = json_object_get(j, "error");

	assert_non_null(e);
	assert_string_equal(cf_test_str(e, "code"), code);
	assert_true(strlen(cf_test_str(e, "message")) > 0);
	json_decref(j);
}

static void send_ok(unsigned node, const char *user, const char *conv,
		    const char *cmid, const char *content, long long seq)
{
	struct cf_test_ack a;

	assert_int_equal(cf_test_send(&cluster, node, user, conv, cmid,
				      content, &a),
			 201);
	assert_int_equal(a.seq, seq);
}

/* %-encode s into out (every byte but [A-Za-z0-9-_.~]). */
static void url_encode(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; *s != '\0' && n + 4 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~')
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, size - n, "%%%02X", c);
	}
	out[n] = '\0';
}

/*
 * GET /v1/search?q=q[&extra] as user on node, consistent: the answer,
 * asserted well formed (results newest first, one conversation each).
 */
static json_t *search(unsigned node, const char *user, const char *q,
		      const char *extra)
{
	char enc[1024], path[1400];
	json_t *j, *r, *m;
	long long last = -1;
	size_t i;

	url_encode(q, enc, sizeof enc);
	snprintf(path, sizeof path, "/v1/search?q=%s&consistent=1%s%s", enc,
		 extra != NULL ? "&" : "", extra != NULL ? extra : "");
	j = expect(node, "GET", path, user, NULL, 200);
	r = json_object_get(j, "results");
	assert_true(json_is_array(r));
	assert_true(json_is_boolean(json_object_get(j, "hasMore")));
	json_array_foreach(r, i, m) {
		long long id = atoll(cf_test_str(m, "messageId"));

		assert_true(last < 0 || id < last);
		last = id;
		assert_non_null(json_object_get(m, "content"));
		assert_null(json_object_get(m, "recalled"));
	}
	return j;
}

/* The "conv:seq" list of q's results for user on node, in order. */
static void finds(unsigned node, const char *user, const char *q,
		  const char *extra, const char *want)
{
	json_t *j = search(node, user, q, extra);
	json_t *r = json_object_get(j, "results"), *m;
	char got[512] = "";
	size_t i;

	json_array_foreach(r, i, m)
		snprintf(got + strlen(got), sizeof got - strlen(got),
			 "%s%s:%lld", i > 0 ? "," : "",
			 cf_test_str(m, "conversationId"),
			 cf_test_int(m, "seq"));
	if (strcmp(got, want) != 0)
		fail_msg("node %u, %s searching \"%s\": got \"%s\", want "
			 "\"%s\"",
			 node, user, q, got, want);
	json_decref(j);
}

/* ---- found everywhere ---- */

static void sends_through_other_nodes_are_found_on_every_node(void **state)
{
	(void)state;
	cf_test_create_group(&cluster, 1, "alice", "sa-g",
			     "[\"bob\",\"carol\"]");
	send_ok(1, "alice", "sa-g", "a1", "Grüße aus Zürich, Straße 5", 1);
	send_ok(2, "bob", "sa-g", "b2", "我们明天在北京见面", 2);
	send_ok(3, "carol", "sa-g", "c3", "東京都に住んでいます", 3);
	send_ok(1, "bob", "sa-g", "b4", "한국어를 공부하고 있어요", 4);
	send_ok(2, "carol", "sa-g", "c5", "ＦＵＬＬＷＩＤＴＨ Café crème", 5);
	for (unsigned n = 1; n <= 3; n++) {
		finds(n, "alice", "zurich", NULL, "sa-g:1");
		finds(n, "bob", "GRUSSE strasse", NULL, "sa-g:1");
		finds(n, "carol", "北京", NULL, "sa-g:2");
		finds(n, "carol", "见面", NULL, "sa-g:2");
		finds(n, "alice", "京都", NULL, "sa-g:3");
		finds(n, "alice", "공부", NULL, "sa-g:4");
		finds(n, "bob", "fullwidth CAFE", NULL, "sa-g:5");
		finds(n, "bob", "creme", "conversationId=sa-g", "sa-g:5");
		finds(n, "bob", "zurich nowhere", NULL, "");
	}
	n_passed++;
}

/* ---- membership windows ---- */

static void only_members_and_only_their_windows(void **state)
{
	const char *mp = "/v1/conversations/sb-g/members";

	(void)state;
	cf_test_create_group(&cluster, 1, "alice", "sb-g", "[\"bob\"]");
	send_ok(2, "alice", "sb-g", "a1", "pineapple before carol", 1);
	json_decref(expect(3, "POST", mp, "alice", "{\"add\":[\"carol\"]}",
			   200));
	send_ok(1, "bob", "sb-g", "b2", "pineapple while carol", 2);
	json_decref(expect(2, "POST", mp, "alice", "{\"remove\":[\"carol\"]}",
			   200));
	send_ok(3, "alice", "sb-g", "a3", "pineapple after carol", 3);
	for (unsigned n = 1; n <= 3; n++) {
		finds(n, "bob", "pineapple", NULL, "sb-g:3,sb-g:2,sb-g:1");
		/* Carol sees only what came while she was a member. */
		finds(n, "carol", "pineapple", NULL, "sb-g:2");
		finds(n, "carol", "pineapple", "conversationId=sb-g",
		      "sb-g:2");
		/* Dave never was one. */
		finds(n, "dave", "pineapple", NULL, "");
		expect_error(n, "/v1/search?q=pineapple&conversationId=sb-g",
			     "dave", 404, "not_found");
	}
	n_passed++;
}

/* ---- recalls ---- */

/* True if some file under dir holds needle. */
static bool dir_has(const char *dir, const char *needle)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	assert_non_null(d);
	while (!found && (e = readdir(d)) != NULL) {
		char path[4200];
		FILE *f;
		char *buf;
		long n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		f = fopen(path, "rb");
		if (f == NULL)
			continue;
		buf = malloc(64u << 20);
		assert_non_null(buf);
		n = (long)fread(buf, 1, 64u << 20, f);
		fclose(f);
		found = memmem(buf, (size_t)(n > 0 ? n : 0), needle,
			       strlen(needle)) != NULL;
		free(buf);
	}
	closedir(d);
	return found;
}

static void recalled_texts_are_not_found_and_leave_the_files(void **state)
{
	char dir[4200];

	(void)state;
	cf_test_create_group(&cluster, 2, "alice", "sc-g", "[\"bob\"]");
	send_ok(1, "bob", "sc-g", "b1", "zebracorn secret plan", 1);
	send_ok(2, "bob", "sc-g", "b2", "zebracorn public plan", 2);
	for (unsigned n = 1; n <= 3; n++)
		finds(n, "alice", "zebracorn", NULL, "sc-g:2,sc-g:1");
	json_decref(expect(3, "DELETE", "/v1/conversations/sc-g/messages/1",
			   "bob", NULL, 200));
	for (unsigned n = 1; n <= 3; n++) {
		finds(n, "alice", "zebracorn", NULL, "sc-g:2");
		finds(n, "alice", "secret", NULL, "");
	}
	/* Optimized and checkpointed once idle: "secret" leaves the index's
	 * files (normalised text is lower case, as sent). */
	for (unsigned n = 1; n <= 3; n++) {
		int i;

		snprintf(dir, sizeof dir, "%s/search",
			 cluster.nodes[n].data_dir);
		for (i = 0; i < 200 && (cf_test_metric(&cluster, n,
						       "confab_search_pending_"
						       "erasures") != 0 ||
					 dir_has(dir, "secret"));
		     i++)
			cf_test_sleep_ms(50);
		assert_true(i < 200);
		assert_true(dir_has(dir, "public"));
	}
	n_passed++;
}

/* ---- paging ---- */

static void pages_newest_first_with_a_cursor(void **state)
{
	char extra[128];
	json_t *j;
	const char *cur;

	(void)state;
	cf_test_create_group(&cluster, 3, "alice", "sd-g", "[\"bob\"]");
	for (int i = 1; i <= 5; i++) {
		char cmid[8], text[32];

		snprintf(cmid, sizeof cmid, "k%d", i);
		snprintf(text, sizeof text, "kiwifruit number %d", i);
		send_ok((unsigned)(i % 3) + 1, "alice", "sd-g", cmid, text, i);
	}
	finds(1, "bob", "kiwi", "limit=2", "sd-g:5,sd-g:4");
	j = search(1, "bob", "kiwi", "limit=2");
	assert_true(json_is_true(json_object_get(j, "hasMore")));
	cur = cf_test_str(j, "cursor");
	snprintf(extra, sizeof extra, "limit=2&cursor=%s", cur);
	json_decref(j);
	finds(2, "bob", "kiwi", extra, "sd-g:3,sd-g:2");
	j = search(2, "bob", "kiwi", extra);
	cur = cf_test_str(j, "cursor");
	snprintf(extra, sizeof extra, "limit=2&cursor=%s", cur);
	json_decref(j);
	j = search(3, "bob", "kiwi", extra);
	assert_int_equal(json_array_size(json_object_get(j, "results")), 1);
	assert_true(json_is_false(json_object_get(j, "hasMore")));
	assert_null(json_object_get(j, "cursor"));
	json_decref(j);
	/* The default limit takes them all. */
	finds(3, "alice", "kiwifruit", NULL,
	      "sd-g:5,sd-g:4,sd-g:3,sd-g:2,sd-g:1");
	n_passed++;
}

/* ---- mentions ---- */

static void mentions_answer_a_page(void **state)
{
	json_t *j;

	(void)state;
	for (unsigned n = 1; n <= 3; n++) {
		j = expect(n, "GET", "/v1/mentions?consistent=1&limit=5",
			   "alice", NULL, 200);
		assert_true(json_is_array(json_object_get(j, "mentions")));
		assert_true(json_is_boolean(json_object_get(j, "hasMore")));
		json_decref(j);
	}
	expect_error(1, "/v1/mentions?limit=0", "alice", 400, "bad_request");
	expect_error(2, "/v1/mentions?limit=101", "alice", 400,
		     "bad_request");
	expect_error(3, "/v1/mentions?cursor=m12", "alice", 400,
		     "bad_request");
	n_passed++;
}

/* The seqs of user's /v1/mentions on node (consistent), "s1,s2,...". */
static void mentions_are(unsigned node, const char *user, const char *want)
{
	json_t *j = expect(node, "GET", "/v1/mentions?consistent=1", user,
			   NULL, 200);
	json_t *arr = json_object_get(j, "mentions"), *m;
	char got[256] = "";
	size_t i;

	json_array_foreach(arr, i, m) {
		assert_true(json_is_true(json_object_get(m, "mentionsMe")));
		snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld",
			 i > 0 ? "," : "", cf_test_int(m, "seq"));
	}
	if (strcmp(got, want) != 0)
		fail_msg("node %u, %s's mentions: got \"%s\", want \"%s\"",
			 node, user, got, want);
	json_decref(j);
}

static void edit_ok(unsigned node, const char *user, const char *conv,
		    long long seq, const char *key, const char *content)
{
	char path[128], body[256];

	snprintf(path, sizeof path, "/v1/conversations/%s/messages/%lld", conv,
		 seq);
	snprintf(body, sizeof body, "{\"clientEditId\":\"%s\",\"content\":"
				    "\"%s\"}",
		 key, content);
	json_decref(expect(node, "PATCH", path, user, body, 200));
}

/*
 * @mentions end to end: sends through every node, /v1/mentions newest
 * first on every node; a recall and an edit that drops the mention take it
 * off the list, an edit that adds one puts it on; search finds an edited
 * message by its latest text only and shows that text with editedAt.
 */
static void mentions_and_edits_follow_the_log(void **state)
{
	json_t *j, *m;

	(void)state;
	cf_test_create_group(&cluster, 1, "alice", "mn-g",
			     "[\"bob\",\"carol\"]");
	send_ok(2, "alice", "mn-g", "mn1", "hello @bob", 1);
	send_ok(3, "carol", "mn-g", "mn2", "@bob @alice look", 2);
	send_ok(1, "alice", "mn-g", "mn3", "nothing quoted here", 3);
	send_ok(2, "carol", "mn-g", "mn4", "again @bob.", 4);
	for (unsigned n = 1; n <= 3; n++) {
		mentions_are(n, "bob", "4,2,1");
		mentions_are(n, "alice", "2");
		mentions_are(n, "carol", "");
	}
	/* carol recalls hers: off bob's list */
	json_decref(expect(3, "DELETE", "/v1/conversations/mn-g/messages/4",
			   "carol", NULL, 200));
	/* alice's edit drops @bob; another adds @carol */
	edit_ok(1, "alice", "mn-g", 1, "mn1-e", "greetings everyone");
	edit_ok(2, "alice", "mn-g", 3, "mn3-e", "now quoted for @carol");
	for (unsigned n = 1; n <= 3; n++) {
		mentions_are(n, "bob", "2");
		mentions_are(n, "carol", "3");
		/* the latest text only, shown with editedAt */
		finds(n, "bob", "everyone", NULL, "mn-g:1");
		finds(n, "bob", "hello", NULL, "");
		finds(n, "carol", "nothing", NULL, "");
		finds(n, "carol", "quoted", NULL, "mn-g:3");
		finds(n, "bob", "again", NULL, "");
	}
	j = search(3, "bob", "everyone", NULL);
	m = json_array_get(json_object_get(j, "results"), 0);
	assert_string_equal(cf_test_str(m, "content"), "greetings everyone");
	assert_true(cf_test_int(m, "editedAt") > 0);
	assert_null(json_object_get(m, "mentionsMe"));
	json_decref(j);
	j = expect(2, "GET", "/v1/mentions?consistent=1", "carol", NULL, 200);
	m = json_array_get(json_object_get(j, "mentions"), 0);
	assert_string_equal(cf_test_str(m, "content"), "now quoted for @carol");
	assert_true(cf_test_int(m, "editedAt") > 0);
	json_decref(j);
	n_passed++;
}

/* ---- bad inputs ---- */

static void bad_inputs_are_refused(void **state)
{
	char path[600], big[300];
	json_t *j;
	int st;

	(void)state;
	cf_test_create_group(&cluster, 1, "alice", "se-g", "[\"bob\"]");
	expect_error(1, "/v1/search", "alice", 400, "bad_request");
	expect_error(2, "/v1/search?q=", "alice", 400, "bad_request");
	expect_error(3, "/v1/search?q=%20%20%20", "alice", 400,
		     "bad_request");
	expect_error(1, "/v1/search?q=%21%3F%2A", "alice", 400,
		     "bad_request");
	memset(big, 'a', 257);
	big[257] = '\0';
	snprintf(path, sizeof path, "/v1/search?q=%s", big);
	expect_error(2, path, "alice", 400, "bad_request");
	big[256] = '\0'; /* 256 bytes is allowed */
	snprintf(path, sizeof path, "/v1/search?q=%s", big);
	json_decref(expect(2, "GET", path, "alice", NULL, 200));
	expect_error(3, "/v1/search?q=x&cursor=m1", "alice", 400,
		     "bad_request");
	expect_error(3, "/v1/search?q=x&cursor=s", "alice", 400,
		     "bad_request");
	expect_error(3, "/v1/search?q=x&cursor=s%21", "alice", 400,
		     "bad_request");
	expect_error(3, "/v1/search?q=x&cursor=szzzzzzzzzzzzz", "alice", 400,
		     "bad_request");
	expect_error(1, "/v1/search?q=x&limit=0", "alice", 400,
		     "bad_request");
	expect_error(1, "/v1/search?q=x&limit=101", "alice", 400,
		     "bad_request");
	expect_error(1, "/v1/search?q=x&limit=ten", "alice", 400,
		     "bad_request");
	expect_error(2, "/v1/search?q=x&conversationId=se-g", "carol", 404,
		     "not_found");
	expect_error(2, "/v1/search?q=x&conversationId=nope-g", "alice", 404,
		     "not_found");
	expect_error(2, "/v1/search?q=x&conversationId=a%20b", "alice", 400,
		     "bad_request");
	j = cf_test_call(&cluster, 3, "POST", "/v1/search?q=x", "alice", "{}",
			 &st);
	assert_int_equal(st, 405);
	json_decref(j);
	j = cf_test_call(&cluster, 3, "GET", "/v1/search?q=x", NULL, NULL,
			 &st);
	assert_int_equal(st, 401);
	json_decref(j);
	n_passed++;
}

/* ---- rebuilt from the segments ---- */

static void rm_search_dir(unsigned n)
{
	char cmd[4300];

	snprintf(cmd, sizeof cmd, "rm -f %s/search/index.db*",
		 cluster.nodes[n].data_dir);
	assert_int_equal(system(cmd), 0);
}

/* Overwrite the start of node n's index.db (its header) with garbage. */
static void damage(unsigned n)
{
	char path[4200], junk[4096];
	int fd;
	off_t size;

	snprintf(path, sizeof path, "%s/search/index.db",
		 cluster.nodes[n].data_dir);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	size = lseek(fd, 0, SEEK_END);
	assert_true(size > 0);
	memset(junk, 0xA5, sizeof junk);
	assert_int_equal(pwrite(fd, junk, sizeof junk, 0),
			 (ssize_t)sizeof junk);
	close(fd);
}

static void index_rebuilt_when_deleted_or_damaged(void **state)
{
	(void)state;
	cf_test_create_group(&cluster, 1, "alice", "sf-g", "[\"bob\"]");
	send_ok(1, "alice", "sf-g", "a1", "rebuild mangosteen one", 1);
	send_ok(2, "bob", "sf-g", "b2", "rebuild mangosteen two", 2);
	finds(3, "alice", "mangosteen", NULL, "sf-g:2,sf-g:1");
	/* Deleted while stopped. */
	assert_int_equal(cf_test_cluster_term(&cluster, 3, 10000, NULL), 0);
	rm_search_dir(3);
	send_ok(1, "bob", "sf-g", "b3", "rebuild mangosteen three", 3);
	assert_int_equal(cf_test_cluster_restart(&cluster, 3, 30000), 0);
	finds(3, "alice", "mangosteen", NULL, "sf-g:3,sf-g:2,sf-g:1");
	finds(3, "alice", "zurich", NULL, "sa-g:1");
	/* Damaged while stopped. */
	assert_int_equal(cf_test_cluster_term(&cluster, 3, 10000, NULL), 0);
	damage(3);
	assert_int_equal(cf_test_cluster_restart(&cluster, 3, 30000), 0);
	send_ok(2, "alice", "sf-g", "a4", "rebuild mangosteen four", 4);
	finds(3, "bob", "mangosteen", NULL,
	      "sf-g:4,sf-g:3,sf-g:2,sf-g:1");
	finds(3, "alice", "zebracorn", NULL, "sc-g:2");
	n_passed++;
}

/* ---- --search=off ---- */

static void restart_with(unsigned n, const char *args)
{
	if (args != NULL)
		assert_int_equal(setenv("CONFAB_IT_ARGS", args, 1), 0);
	else
		assert_int_equal(unsetenv("CONFAB_IT_ARGS"), 0);
	assert_int_equal(cf_test_cluster_term(&cluster, n, 10000, NULL), 0);
	assert_int_equal(cf_test_cluster_restart(&cluster, n, 30000), 0);
}

static void search_off_answers_404_and_catches_up_when_on(void **state)
{
	const char *before = getenv("CONFAB_IT_ARGS");
	char *saved = before != NULL ? strdup(before) : NULL;
	char args[600];

	(void)state;
	snprintf(args, sizeof args, "%s%s--search=off",
		 saved != NULL ? saved : "", saved != NULL ? " " : "");
	restart_with(2, args);
	expect_error(2, "/v1/search?q=guava", "alice", 404, "not_found");
	expect_error(2, "/v1/mentions", "alice", 404, "not_found");
	assert_true(cf_test_metric(&cluster, 2, "confab_search_enabled") == 0);
	assert_true(cf_test_metric(&cluster, 1, "confab_search_enabled") == 1);
	cf_test_create_group(&cluster, 1, "alice", "sg-g", "[\"bob\"]");
	send_ok(2, "bob", "sg-g", "b1", "guava while off", 1);
	finds(1, "alice", "guava", NULL, "sg-g:1");
	restart_with(2, saved);
	finds(2, "alice", "guava", NULL, "sg-g:1");
	free(saved);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			sends_through_other_nodes_are_found_on_every_node),
		cmocka_unit_test(only_members_and_only_their_windows),
		cmocka_unit_test(
			recalled_texts_are_not_found_and_leave_the_files),
		cmocka_unit_test(pages_newest_first_with_a_cursor),
		cmocka_unit_test(mentions_answer_a_page),
		cmocka_unit_test(mentions_and_edits_follow_the_log),
		cmocka_unit_test(bad_inputs_are_refused),
		cmocka_unit_test(index_rebuilt_when_deleted_or_damaged),
		cmocka_unit_test(
			search_off_answers_404_and_catches_up_when_on),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
