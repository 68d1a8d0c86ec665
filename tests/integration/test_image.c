#include "config.h"

/*
 * State images on one 3-node cluster of real confabd processes
 * (--image-records 300, 64 KiB segments), issue 11 "Start-up costs
 * O(state)":
 *   - every node writes an image once 300 records were applied, and its
 *     manifest names it (confab_state_image_index);
 *   - a node stopped and started again loads the image and reads only the
 *     records after it (its log says so), then serves the same history,
 *     conversation list and sync answers as the others, and a send goes on
 *     at the next seq;
 *   - all three nodes killed with SIGKILL while a client sends come back
 *     from their images and the records after them: nothing acked is lost,
 *     and a retried send of a key acked before the image answers
 *     "duplicate" with its original seq (the idempotency window came back
 *     from the image);
 *   - a damaged image is not used: the node logs why, reads every record
 *     and serves the same history;
 *   - a compaction (confabctl compact) is followed by a new image, which a
 *     restart then uses (an image from before the switch would not fit).
 * The tests run in this order on one cluster.
 */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"

#define START_TIMEOUT_MS 30000
#define N_TESTS 5
#define CONV "img-g"

static struct cf_test_cluster cluster;
static int n_passed;
static unsigned sent; /* messages acked so far, seqs 1..sent */
static struct cf_test_ack first_ack;

static int group_setup(void **state)
{
	(void)state;
	setenv("CONFAB_IT_CONF", "segment-size 64K", 1);
	setenv("CONFAB_IT_ARGS", "--image-records 300 --image-interval 1", 1);
	return cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS);
}

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
	return 0;
}

/* Lines of node id's log holding needle. */
static unsigned log_count(unsigned id, const char *needle)
{
	FILE *f = fopen(cluster.nodes[id].log_path, "r");
	char line[4096];
	unsigned n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* Send count messages as alice through node 1 (any node forwards). */
static void send_some(unsigned count)
{
	char key[32], text[64];
	struct cf_test_ack a;

	for (unsigned i = 0; i < count; i++) {
		int st;

		snprintf(key, sizeof key, "k%u", sent + 1);
		snprintf(text, sizeof text, "message %u with some words", sent + 1);
		st = cf_test_send(&cluster, 1 + sent % 3, "alice", CONV, key,
				  text, &a);
		assert_int_equal(st, 201);
		assert_int_equal(a.seq, sent + 1);
		if (sent == 0)
			first_ack = a;
		sent++;
	}
}

/* Wait (bounded) until node id's manifest names an image. */
static double wait_named_image(unsigned id)
{
	double v = 0;

	for (int i = 0; i < 600; i++) {
		v = cf_test_metric(&cluster, id, "confab_state_image_index");
		if (v > 0)
			break;
		cf_test_sleep_ms(100);
	}
	return v;
}

static void every_node_writes_an_image(void **state)
{
	(void)state;
	cf_test_create_group(&cluster, 1, "alice", CONV, "[\"bob\",\"carol\"]");
	send_some(700);
	for (unsigned id = 1; id <= 3; id++) {
		assert_true(wait_named_image(id) > 0);
		assert_true(cf_test_metric(&cluster, id,
					   "confab_state_images_total") >= 1);
		assert_int_equal(
			cf_test_metric(&cluster, id,
				       "confab_state_image_failures_total"),
			0);
		assert_true(cf_test_cluster_log_has(&cluster, id,
						    "fsm: state image at"));
	}
	cf_test_cluster_pass(&cluster);
	n_passed++;
}

/* Node id answers like node 1 for history, list and sync. */
static void assert_same_answers(unsigned id)
{
	json_t *a, *b;
	char *text;

	cf_test_assert_same(&cluster, "bob", CONV, sent);
	a = cf_test_expect(&cluster, 1, "GET", "/v1/conversations", "carol",
			   NULL, 200);
	b = cf_test_expect(&cluster, id, "GET",
			   "/v1/conversations?consistent=1", "carol", NULL,
			   200);
	assert_int_equal(json_array_size(json_object_get(a, "conversations")),
			 json_array_size(json_object_get(b, "conversations")));
	json_decref(a);
	json_decref(b);
	b = cf_test_expect(&cluster, id, "GET", "/v1/sync?consistent=1", "bob",
			   NULL, 200);
	text = json_dumps(b, JSON_COMPACT);
	assert_non_null(text);
	assert_non_null(strstr(text, CONV));
	free(text);
	json_decref(b);
}

static void a_restart_loads_the_image_and_reads_the_rest(void **state)
{
	int status;

	(void)state;
	send_some(40);
	assert_int_equal(cf_test_cluster_term(&cluster, 3, 20000, &status), 0);
	assert_int_equal(status, 0);
	assert_int_equal(cf_test_cluster_restart(&cluster, 3, START_TIMEOUT_MS),
			 0);
	assert_true(cf_test_cluster_log_has(&cluster, 3, "loaded in"));
	assert_true(cf_test_cluster_log_has(&cluster, 3,
					    "after the state image"));
	assert_false(cf_test_cluster_log_has(&cluster, 3, "not used"));
	assert_same_answers(3);
	send_some(5); /* next seqs, through every node */
	assert_same_answers(3);
	cf_test_cluster_pass(&cluster);
	n_passed++;
}

static void three_killed_nodes_come_back_from_their_images(void **state)
{
	struct cf_test_ack a;
	int leader;

	(void)state;
	for (unsigned id = 1; id <= 3; id++)
		assert_true(wait_named_image(id) > 0);
	send_some(30);
	for (unsigned id = 1; id <= 3; id++)
		assert_int_equal(cf_test_cluster_kill(&cluster, id), 0);
	for (unsigned id = 1; id <= 3; id++)
		assert_int_equal(cf_test_cluster_node_spawn(&cluster, id), 0);
	for (unsigned id = 1; id <= 3; id++)
		assert_int_equal(
			cf_test_cluster_wait_ready(&cluster, id, START_TIMEOUT_MS),
			0);
	leader = cf_test_cluster_leader(&cluster, START_TIMEOUT_MS);
	assert_true(leader > 0);
	assert_true(cf_test_cluster_log_has(&cluster, (unsigned)leader,
					    "loaded in"));
	/* The first key was acked long before the image: a duplicate. */
	assert_int_equal(cf_test_send(&cluster, (unsigned)leader, "alice", CONV,
				      "k1", "message 1 with some words", &a),
			 200);
	assert_true(a.duplicate);
	assert_int_equal(a.seq, first_ack.seq);
	assert_string_equal(a.mid, first_ack.mid);
	for (unsigned id = 1; id <= 3; id++)
		assert_same_answers(id);
	send_some(3);
	cf_test_cluster_pass(&cluster);
	n_passed++;
}

/* The image file of node id's store, into path; false if none. */
static bool image_path(unsigned id, char *path, size_t n)
{
	char dir[4200];
	struct dirent *e;
	DIR *d;
	bool found = false;

	snprintf(dir, sizeof dir, "%s/store", cluster.nodes[id].data_dir);
	d = opendir(dir);
	if (d == NULL)
		return false;
	while (!found && (e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "image-", 6) == 0) {
			snprintf(path, n, "%s/%s", dir, e->d_name);
			found = true;
		}
	closedir(d);
	return found;
}

static void a_damaged_image_is_not_used(void **state)
{
	char path[4400];
	int status, fd;

	(void)state;
	assert_int_equal(cf_test_cluster_term(&cluster, 2, 20000, &status), 0);
	assert_int_equal(status, 0);
	assert_true(image_path(2, path, sizeof path));
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "XXXX", 4, 100), 4);
	close(fd);
	assert_int_equal(cf_test_cluster_restart(&cluster, 2, START_TIMEOUT_MS),
			 0);
	assert_true(cf_test_cluster_log_has(&cluster, 2, "not used"));
	assert_same_answers(2);
	cf_test_cluster_pass(&cluster);
	n_passed++;
}

static void a_compaction_is_followed_by_an_image_that_fits(void **state)
{
	static char out[1 << 16];
	char args[1024];
	double images;
	unsigned loaded, unused;
	int status;

	(void)state;
	images = cf_test_metric(&cluster, 1, "confab_state_images_total");
	snprintf(args, sizeof args, "compact --cluster '%s' --wait 120",
		 cluster.conf_path);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	assert_non_null(strstr(out, "compaction committed at index"));
	send_some(3); /* records after the switch: an image is due */
	for (int i = 0; i < 600 && cf_test_metric(&cluster, 1,
						  "confab_state_images_total") <=
					   images;
	     i++)
		cf_test_sleep_ms(100);
	assert_true(cf_test_metric(&cluster, 1, "confab_state_images_total") >
		    images);
	/* Its checkpoint names it within a second or so. */
	cf_test_sleep_ms(1500);
	send_some(2);
	loaded = log_count(1, "loaded in");
	unused = log_count(1, "not used");
	assert_int_equal(cf_test_cluster_term(&cluster, 1, 20000, &status), 0);
	assert_int_equal(status, 0);
	assert_int_equal(cf_test_cluster_restart(&cluster, 1, START_TIMEOUT_MS),
			 0);
	assert_int_equal(log_count(1, "loaded in"), loaded + 1);
	assert_int_equal(log_count(1, "not used"), unused);
	assert_same_answers(1);
	cf_test_cluster_pass(&cluster);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_node_writes_an_image),
		cmocka_unit_test(a_restart_loads_the_image_and_reads_the_rest),
		cmocka_unit_test(three_killed_nodes_come_back_from_their_images),
		cmocka_unit_test(a_damaged_image_is_not_used),
		cmocka_unit_test(a_compaction_is_followed_by_an_image_that_fits),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
