#include "config.h"

/*
 * Admin routes and confabctl's live verbs on one 3-node cluster of real
 * confabd processes (cf_test_cluster writes admin-secret admin.key):
 * `confabctl status` lists every node as it sees itself (text and --json),
 * names a node that does not answer (exit 1), and --node asks one; the
 * admin routes refuse every user credential (dev identities, user tokens,
 * query tokens) and admin tokens without the audience or living longer than
 * 5 minutes; a user route refuses an admin token. Tokens are made here with
 * libjwt and confabctl's own minting.
 */

#include <errno.h>
#include <limits.h>
#include <jwt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_conf.h"
#include "common/cf_err.h"
#include "frontend/fe_auth.h"

#define START_TIMEOUT_MS 30000
#define N_TESTS 6

static struct cf_test_cluster cluster;
static struct cf_cluster conf; /* the cluster file, as confabctl reads it */
static int n_passed;

static int group_setup(void **state)
{
	char errmsg[CF_ERRMSG_SIZE];

	(void)state;
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


/* GET path on node with extra headers; the status, the body's message. */
static int get(unsigned node, const char *path, const char *headers,
	       char *msg, size_t msize)
{
	struct cf_http_resp r;
	json_t *j;
	int rv;

	cf_http_resp_init(&r);
	rv = cf_http_request(&cluster.nodes[node].conn, "GET", path, headers,
			     NULL, 0, &r);
	assert_int_equal(rv, 0);
	rv = r.status;
	j = cf_http_resp_json(&r);
	snprintf(msg, msize, "%s",
		 cf_test_str(json_object_get(j, "error"), "message"));
	cf_http_resp_release(&r);
	return rv;
}

/* An HS256 token over key with sub, aud (or none) and exp = now + ttl. */
static char *token(const char *key, const char *aud, long ttl)
{
	jwt_t *jwt = NULL;
	char *s;

	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(jwt_add_grant(jwt, "sub", "ops"), 0);
	if (aud != NULL)
		assert_int_equal(jwt_add_grant(jwt, "aud", aud), 0);
	assert_int_equal(jwt_add_grant_int(jwt, "exp", (long)time(NULL) + ttl),
			 0);
	assert_int_equal(jwt_set_alg(jwt, JWT_ALG_HS256,
				     (const unsigned char *)key,
				     (int)strlen(key)),
			 0);
	s = jwt_encode_str(jwt);
	assert_non_null(s);
	jwt_free(jwt);
	return s;
}

static void status_lists_every_node_as_it_sees_itself(void **state)
{
	char out[16384], args[1024], pat[64];
	json_t *j, *nodes, *row, *s;
	int leaders = 0;
	size_t i;

	(void)state;
	snprintf(args, sizeof args, "status --cluster '%s'",
		 cluster.conf_path);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	for (unsigned id = 1; id <= 3; id++) {
		snprintf(pat, sizeof pat, "node %u  %s  ", id,
			 cluster.nodes[id].url);
		assert_non_null(strstr(out, pat));
	}
	assert_non_null(strstr(out, " ready"));
	assert_non_null(strstr(out, "free of"));
	snprintf(args, sizeof args, "status --cluster '%s' --json",
		 cluster.conf_path);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	nodes = json_object_get(j, "nodes");
	assert_int_equal(json_array_size(nodes), 3);
	json_array_foreach(nodes, i, row) {
		s = json_object_get(row, "status");
		assert_non_null(s);
		assert_int_equal(cf_test_int(s, "nodeId"),
				 cf_test_int(row, "nodeId"));
		assert_true(cf_test_int(s, "appliedIndex") >= 1);
		assert_true(cf_test_int(s, "commitIndex") >=
			    cf_test_int(s, "appliedIndex"));
		assert_true(cf_test_int(s, "term") >= 1);
		assert_true(json_is_boolean(json_object_get(s, "ready")));
		assert_true(cf_test_int(json_object_get(
						json_object_get(s, "store"),
						"hot"),
					"segments") >= 0);
		assert_true(cf_test_int(json_object_get(s, "disk"),
					"freeBytes") > 0);
		if (strcmp(cf_test_str(s, "role"), "leader") == 0)
			leaders++;
	}
	assert_int_equal(leaders, 1);
	json_decref(j);
	n_passed++;
}

static void admin_routes_take_only_admin_tokens(void **state)
{
	char msg[256], hdr[1024];
	char *user_tok, *no_aud, *too_long, *good;
	const char *path = "/v1/admin/status";

	(void)state;
	/* No credential, dev identities, user tokens: 401. */
	assert_int_equal(get(1, path, NULL, msg, sizeof msg), 401);
	assert_int_equal(get(1, "/v1/admin/status?user=alice", NULL, msg,
			     sizeof msg),
			 401);
	assert_int_equal(get(1, path, "X-Confab-User: alice\r\n", msg,
			     sizeof msg),
			 401);
	assert_int_equal(fe_auth_mint(&conf, "alice", 60, &user_tok), 0);
	snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", user_tok);
	assert_int_equal(get(2, path, hdr, msg, sizeof msg), 401);
	/* An admin token without the audience, or for 10 minutes: 401. */
	no_aud = token(conf.admin_secret, NULL, 60);
	snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", no_aud);
	assert_int_equal(get(2, path, hdr, msg, sizeof msg), 401);
	assert_non_null(strstr(msg, "aud"));
	too_long = token(conf.admin_secret, FE_ADMIN_AUD, 600);
	snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", too_long);
	assert_int_equal(get(3, path, hdr, msg, sizeof msg), 401);
	assert_non_null(strstr(msg, "5 minutes"));
	/* The right token, but in the query string: 401. */
	good = token(conf.admin_secret, FE_ADMIN_AUD, 120);
	snprintf(hdr, sizeof hdr, "/v1/admin/status?token=%s", good);
	assert_int_equal(get(3, hdr, NULL, msg, sizeof msg), 401);
	/* The right token: every node answers; other admin routes 404/405. */
	snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", good);
	for (unsigned n = 1; n <= 3; n++)
		assert_int_equal(get(n, path, hdr, msg, sizeof msg), 200);
	assert_int_equal(get(1, "/v1/admin/nothing", hdr, msg, sizeof msg),
			 404);
	/* A user route refuses the admin token (not signed with secret)... */
	assert_int_equal(get(1, "/v1/conversations", hdr, msg, sizeof msg),
			 401);
	assert_non_null(strstr(msg, "badly signed"));
	free(good);
	/* ...and a token with the admin audience even if it is. */
	good = token(conf.secret, FE_ADMIN_AUD, 120);
	snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", good);
	assert_int_equal(get(1, "/v1/conversations", hdr, msg, sizeof msg),
			 401);
	assert_non_null(strstr(msg, "an admin token is not a user token"));
	assert_int_equal(get(1, path, hdr, msg, sizeof msg), 401);
	free(user_tok);
	free(no_aud);
	free(too_long);
	free(good);
	n_passed++;
}

static void status_names_a_node_that_does_not_answer(void **state)
{
	char out[16384], args[1024], pat[128];

	(void)state;
	assert_int_equal(cf_test_cluster_kill(&cluster, 3), 0);
	snprintf(args, sizeof args, "status --cluster '%s'",
		 cluster.conf_path);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 1);
	snprintf(pat, sizeof pat, "node 3  %s  not answering",
		 cluster.nodes[3].url);
	assert_non_null(strstr(out, pat));
	snprintf(args, sizeof args, "status --cluster '%s' --node %s",
		 cluster.conf_path, cluster.nodes[1].url);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	assert_null(strstr(out, "node 2"));
	snprintf(args, sizeof args, "status --cluster '%s' --node "
				    "http://127.0.0.1:1",
		 cluster.conf_path);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 1);
	assert_non_null(strstr(out, "no node of"));
	assert_int_equal(cf_test_ctl("status", out, sizeof out), 2);
	assert_int_equal(cf_test_cluster_restart(&cluster, 3, 30000), 0);
	n_passed++;
}

/* The seqs of the JSON lines in out, and how many of them are recalled. */
static size_t dump_lines(const char *out, uint64_t *seqs, size_t max,
			 size_t *recalled)
{
	size_t n = 0;

	*recalled = 0;
	for (const char *l = out; *l != '\0' && n < max;) {
		const char *e = l + strcspn(l, "\n");
		json_t *j = json_loadb(l, (size_t)(e - l), 0, NULL);

		if (j != NULL) {
			seqs[n++] = (uint64_t)cf_test_int(j, "seq");
			if (json_is_true(json_object_get(j, "recalled"))) {
				(*recalled)++;
				assert_null(json_object_get(j, "content"));
			}
			json_decref(j);
		}
		l = e + (*e != '\0');
	}
	return n;
}

/*
 * confabctl dump through a node (pages of 200 joined) and from a stopped
 * node's data folder give the same lines; a recalled message is a
 * placeholder; a running node's folder is refused.
 */
static void dump_reads_a_conversation_live_and_offline(void **state)
{
	static char out[1 << 20], out2[1 << 20];
	char args[2048];
	uint64_t seqs[400];
	size_t n, rec;
	int st;

	(void)state;
	cf_test_create_group(&cluster, 1, "dumper", "g-dump", "[\"bob\"]");
	for (int i = 1; i <= 230; i++) {
		char cmid[32], content[64];
		struct cf_test_ack a;

		snprintf(cmid, sizeof cmid, "d-%d", i);
		snprintf(content, sizeof content, "dump line %d", i);
		assert_int_equal(cf_test_send(&cluster, 1 + (unsigned)i % 3,
					      "dumper", "g-dump", cmid,
					      content, &a),
				 201);
	}
	json_decref(cf_test_expect(&cluster, 1, "DELETE",
				   "/v1/conversations/g-dump/messages/7",
				   "dumper", NULL, 200));
	/* A follower may apply the recall a heartbeat after the answer. */
	for (unsigned nd = 1; nd <= 2; nd++)
		json_decref(cf_test_expect(&cluster, nd, "GET",
					   "/v1/conversations/g-dump/messages"
					   "?consistent=1&limit=1",
					   "dumper", NULL, 200));
	snprintf(args, sizeof args,
		 "dump --cluster '%s' --node %s --conversation g-dump",
		 cluster.conf_path, cluster.nodes[1].url);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	n = dump_lines(out, seqs, 400, &rec);
	assert_int_equal(n, 230);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(seqs[i], i + 1);
	assert_int_equal(rec, 1);
	assert_non_null(strstr(out, "dump line 230"));
	assert_null(strstr(out, "\"dump line 7\""));
	snprintf(args, sizeof args,
		 "dump --cluster '%s' --node %s --conversation g-dump "
		 "--from 5 --to 9",
		 cluster.conf_path, cluster.nodes[2].url);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	n = dump_lines(out, seqs, 400, &rec);
	assert_int_equal(n, 5);
	assert_int_equal(seqs[0], 5);
	assert_int_equal(seqs[4], 9);
	assert_int_equal(rec, 1);
	/* A running node's folder is refused; a stopped one's is read. */
	snprintf(args, sizeof args, "dump --data '%s' --conversation g-dump",
		 cluster.nodes[1].data_dir);
	assert_int_equal(cf_test_ctl(args, out2, sizeof out2), 1);
	assert_non_null(strstr(out2, "stop the node first"));
	assert_int_equal(cf_test_cluster_leader(&cluster, 10000) > 0, 1);
	/* Node 3 has everything once it answers a consistent read. */
	json_decref(cf_test_expect(&cluster, 3, "GET",
				   "/v1/conversations/g-dump/messages?"
				   "consistent=1&limit=1",
				   "dumper", NULL, 200));
	assert_int_equal(cf_test_cluster_term(&cluster, 3, 15000, &st), 0);
	assert_int_equal(st, 0);
	snprintf(args, sizeof args,
		 "dump --data '%s' --conversation g-dump --from 5 --to 9",
		 cluster.nodes[3].data_dir);
	assert_int_equal(cf_test_ctl(args, out2, sizeof out2), 0);
	assert_string_equal(out2, out);
	snprintf(args, sizeof args, "dump --data '%s' --conversation nope",
		 cluster.nodes[3].data_dir);
	assert_int_equal(cf_test_ctl(args, out2, sizeof out2), 1);
	assert_non_null(strstr(out2, "no conversation nope"));
	assert_int_equal(cf_test_ctl("dump --conversation g-dump", out2, sizeof out2),
			 2);
	assert_int_equal(cf_test_cluster_restart(&cluster, 3, 30000), 0);
	n_passed++;
}

/* Flip one byte of the first segment file of node id over 64 bytes long
 * (the middle one); its path in path. */
static void flip_segment_byte(unsigned id, char *path, size_t n)
{
	char cmd[PATH_MAX + 128];
	FILE *p, *f;
	long size;
	int c;

	snprintf(cmd, sizeof cmd,
		 "find '%s/store' -name '*.seg' -size +64c | sort | head -n 1",
		 cluster.nodes[id].data_dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(path, (int)n, p));
	pclose(p);
	path[strcspn(path, "\n")] = '\0';
	f = fopen(path, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_int_equal(fseek(f, size / 2, SEEK_SET), 0);
	c = fgetc(f);
	assert_int_equal(fseek(f, size / 2, SEEK_SET), 0);
	fputc(c ^ 0x01, f);
	fclose(f);
}

/*
 * verify --cluster: a committed marker makes every node hash its segment
 * files as of the marker's index; the three agree; a byte changed behind
 * node 3's back is named (file, kind of difference) and exits 1.
 */
static void verify_cluster_compares_every_node_at_a_marker(void **state)
{
	static char out[1 << 16];
	char args[1024], path[PATH_MAX], want[PATH_MAX + 64];
	const char *rel;
	json_t *j;

	(void)state;
	for (int i = 1; i <= 20; i++) {
		char cmid[32];
		struct cf_test_ack a;

		snprintf(cmid, sizeof cmid, "v-%d", i);
		assert_int_equal(cf_test_send(&cluster, 1 + (unsigned)i % 3,
					      "dumper", "g-dump", cmid,
					      "to verify", &a),
				 201);
	}
	snprintf(args, sizeof args, "verify --cluster '%s'",
		 cluster.conf_path);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	assert_non_null(strstr(out, "identical: 3 nodes at index"));
	snprintf(args, sizeof args, "verify --cluster '%s' --json",
		 cluster.conf_path);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "identical")));
	assert_int_equal(json_array_size(json_object_get(j, "nodes")), 3);
	json_decref(j);
	/* A byte changed on node 3's disk (not by node 3): named. */
	flip_segment_byte(3, path, sizeof path);
	rel = strstr(path, "/store/") + strlen("/store/");
	snprintf(args, sizeof args, "verify --cluster '%s'",
		 cluster.conf_path);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 1);
	snprintf(want, sizeof want,
		 "node 3 differs from node 1: %s: same length, other bytes",
		 rel);
	assert_non_null(strstr(out, want));
	flip_segment_byte(3, path, sizeof path); /* and back */
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	n_passed++;
}

/* inspect through a node: the shape, its segment files, the counts. */
static void inspect_live_lists_the_store_of_a_node(void **state)
{
	static char out[1 << 16];
	char args[1024];
	json_t *j, *seg;
	long long sum = 0;
	size_t i;

	(void)state;
	/* Node 1 has applied everything the earlier tests wrote. */
	json_decref(cf_test_expect(&cluster, 1, "GET",
				   "/v1/conversations/g-dump/messages?"
				   "consistent=1&limit=1",
				   "dumper", NULL, 200));
	snprintf(args, sizeof args, "inspect --cluster '%s' --node %s",
		 cluster.conf_path, cluster.nodes[1].url);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	assert_non_null(strstr(out, "\npartitions 16\n"));
	assert_non_null(strstr(out, "\nsegment-size 67108864\n"));
	assert_non_null(strstr(out, "\nsegment p"));
	assert_non_null(strstr(out, " hot\n"));
	snprintf(args, sizeof args, "inspect --cluster '%s' --node %s --json",
		 cluster.conf_path, cluster.nodes[1].url);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	assert_true(cf_test_int(j, "records") >= 250);
	assert_true(cf_test_int(j, "conversations") >= 1);
	assert_true(cf_test_int(j, "appliedIndex") >=
		    cf_test_int(j, "checkpointIndex"));
	json_array_foreach(json_object_get(j, "segments"), i, seg)
		sum += cf_test_int(seg, "bytes");
	assert_true(sum > 0);
	assert_int_equal(sum, cf_test_int(json_object_get(json_object_get(
							  j, "tiers"),
						  "hot"),
					  "bytes"));
	json_decref(j);
	snprintf(args, sizeof args, "inspect --cluster '%s'",
		 cluster.conf_path);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 2);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(status_lists_every_node_as_it_sees_itself),
		cmocka_unit_test(admin_routes_take_only_admin_tokens),
		cmocka_unit_test(status_names_a_node_that_does_not_answer),
		cmocka_unit_test(dump_reads_a_conversation_live_and_offline),
		cmocka_unit_test(
			verify_cluster_compares_every_node_at_a_marker),
		cmocka_unit_test(inspect_live_lists_the_store_of_a_node),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
