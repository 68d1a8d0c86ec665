#include "config.h"

/*
 * A 3-node cluster of real confabd processes started on data folders that
 * tests/bench/gen_cluster wrote (issue 11, "Figures for the closing note";
 * scripts/bench-start.sh does the same with 10 M messages):
 *   - the cluster is started once (for its ports and cluster file), every
 *     node stopped and its data folder removed; gen_cluster writes node 1's
 *     folder with 20,000 messages in 1,000 groups of 3 among 100 users,
 *     copied to nodes 2 and 3; the nodes start on it, each loads the state
 *     image (its log says so, at the applied index the generator's entries
 *     give), and a leader is elected;
 *   - every generated conversation checked holds its 20 messages with the
 *     same digest on every node; a send through each node goes on at the
 *     next seq; a generated key sent again answers "duplicate" with its
 *     seq (the idempotency window came through the image); the
 *     conversation list, rebuilt by the frontend from the image, shows it.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"

#define START_TIMEOUT_MS 30000
#define N_TESTS 2
#define MSGS 20000u
#define CONVS 1000u
#define USERS 100u
#define PER_ENTRY 256u /* gen_cluster's commands per entry */

static struct cf_test_cluster cluster;
static int n_passed;

static int group_setup(void **state)
{
	(void)state;
	return cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS);
}

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
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

static int run(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX + 256];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	print_message("# %s\n", cmd);
	st = system(cmd);
	return st == -1 ? -1 : WEXITSTATUS(st);
}

static void cluster_starts_on_generated_folders(void **state)
{
	const char *bd = getenv("CONFAB_BUILDDIR");
	uint64_t applied = 1 + (CONVS + PER_ENTRY - 1) / PER_ENTRY +
			   (MSGS + PER_ENTRY - 1) / PER_ENTRY;
	char needle[96];
	int st = -1;

	(void)state;
	for (unsigned id = 1; id <= 3; id++) {
		assert_int_equal(cf_test_cluster_term(&cluster, id, 20000, &st),
				 0);
		assert_int_equal(st, 0);
		assert_int_equal(run("rm -rf '%s'", cluster.nodes[id].data_dir),
				 0);
	}
	assert_int_equal(run("'%s/tests/bench/gen_cluster' -c '%s' -d '%s' "
			     "-n %u -C %u -u %u > '%s/gen.out' 2>&1",
			     bd && *bd ? bd : ".", cluster.conf_path,
			     cluster.nodes[1].data_dir, MSGS, CONVS, USERS,
			     cluster.dir),
			 0);
	for (unsigned id = 2; id <= 3; id++)
		assert_int_equal(run("cp -a '%s' '%s'", cluster.nodes[1].data_dir,
				     cluster.nodes[id].data_dir),
				 0);
	for (unsigned id = 1; id <= 3; id++)
		assert_int_equal(cf_test_cluster_node_spawn(&cluster, id), 0);
	for (unsigned id = 1; id <= 3; id++)
		assert_int_equal(cf_test_cluster_wait_ready(&cluster, id,
							    START_TIMEOUT_MS),
				 0);
	assert_true(cf_test_cluster_leader(&cluster, START_TIMEOUT_MS) > 0);
	for (unsigned id = 1; id <= 3; id++) {
		snprintf(needle, sizeof needle,
			 "store: state image at %llu loaded",
			 (unsigned long long)applied);
		assert_true(log_has(id, needle));
		assert_false(log_has(id, "not used"));
		/* raft restored the generated snapshot: its log starts there */
		snprintf(needle, sizeof needle, "raft started: last index %llu",
			 (unsigned long long)applied);
		assert_true(log_has(id, needle));
	}
	n_passed++;
	cf_test_cluster_pass(&cluster);
}

/* gen_cluster's owner of group c: u(3c mod USERS). */
static void owner_of(unsigned c, char *buf, size_t len)
{
	snprintf(buf, len, "u%u", c * 3 % USERS);
}

static void history_and_sends_go_on(void **state)
{
	static const unsigned convs[] = {0, 1, CONVS / 2, CONVS - 1};
	char conv[16], user[16], key[32], path[64];
	struct cf_test_ack a;
	json_t *o, *list;
	bool seen = false;

	(void)state;
	for (size_t k = 0; k < sizeof convs / sizeof convs[0]; k++) {
		snprintf(conv, sizeof conv, "g%u", convs[k]);
		owner_of(convs[k], user, sizeof user);
		cf_test_assert_same(&cluster, user, conv, MSGS / CONVS);
		for (unsigned id = 1; id <= 3; id++) {
			snprintf(key, sizeof key, "new-%u", id);
			assert_int_equal(cf_test_send(&cluster, id, user, conv,
						      key, "after the start",
						      &a),
					 201);
			assert_int_equal(a.seq, MSGS / CONVS + id);
		}
		cf_test_assert_same(&cluster, user, conv, MSGS / CONVS + 3);
	}
	/* Message 0 ("m0") went to g0 from its owner, as seq 1. */
	for (unsigned id = 1; id <= 3; id++) {
		assert_int_equal(cf_test_send(&cluster, id, "u0", "g0", "m0",
					      "again", &a),
				 200);
		assert_true(a.duplicate);
		assert_int_equal(a.seq, 1);
	}
	/* u1 is a member of g0: its list (the inbox index) shows it. */
	snprintf(path, sizeof path, "/v1/conversations?limit=200");
	o = cf_test_expect(&cluster, 2, "GET", path, "u1", NULL, 200);
	list = json_object_get(o, "conversations");
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *c = json_array_get(list, i);

		if (strcmp(cf_test_str(c, "conversationId"), "g0") == 0) {
			assert_int_equal(cf_test_int(c, "lastSeq"),
					 MSGS / CONVS + 3);
			seen = true;
		}
	}
	json_decref(o);
	assert_true(seen);
	n_passed++;
	cf_test_cluster_pass(&cluster);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cluster_starts_on_generated_folders),
		cmocka_unit_test(history_and_sends_go_on),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
