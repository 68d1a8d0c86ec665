#include "config.h"

/*
 * test_faults: the fault suite (issue 14): "no acknowledged message is ever
 * lost", checked under process faults on a real 3-node cluster.
 *
 * Every scenario starts its own cluster, creates CONVS groups, starts the
 * checker client (fault_load.h: HTTP and WebSocket senders that retry with
 * the same clientMsgId and record every ack) and, while it runs, does its
 * fault ROUNDS times:
 *   kill_leader     SIGKILL of the leader, restarted at once;
 *   kill_follower   SIGKILL of a follower, restarted at once;
 *   kill_all        SIGKILL of all three nodes at once, all restarted;
 *   stop_leader     SIGSTOP of the leader for 3 election timeouts, SIGCONT;
 *   flood           500 half-sent requests and 8 WebSockets that never
 *                   read against one node at a time for 3 s;
 *   partition       (make check-faults only: root, ip(8)) every node in a
 *                   network namespace of its own (cf_test_netns.h); the
 *                   leader, then a follower, cut off the network for 3
 *                   election timeouts and healed;
 *   disk_full       (make check-faults only: root) data folders on 128 MiB
 *                   tmpfs mounts; a follower's disk filled to the last
 *                   byte and freed, then all three filled and freed.
 * Then it stops the load, waits until every node is ready and checks:
 * every acked message is in the history of every node exactly once, at
 * the seq its ack named; seqs are contiguous; the three histories are
 * identical; `confabctl verify --cluster` says the nodes' files are
 * identical; no node stopped but those the scenario killed. It prints a
 * table row per scenario: rounds, acked, lost, duplicated, the longest
 * time without any ack, the longest recovery (from the fault to the next
 * ack), retries and abandoned sends (never acked, so never owed).
 *
 * ROUNDS is CONFAB_FAULT_ROUNDS (default 2: the short version that `make
 * check` runs; `make check-faults` runs 20 and sets CONFAB_FAULT_FULL=1,
 * which adds the partition scenario). Timing never decides a
 * verdict: the figures are reported, the checks are about messages.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_time.h"
#include "fault_disk.h"
#include "fault_flood.h"
#include "fault_load.h"

#define START_TIMEOUT_MS 30000
#define READY_TIMEOUT_MS 60000
#define LEADER_TIMEOUT_MS 30000
#define ACK_WAIT_MS 30000
#define CONVS 8
#define USER "fa"
#define ELECTION_MS 1000

struct fx {
	struct cf_test_cluster c;
	struct cf_test_netns ns;
	struct fault_disk disk;
	bool disk_ok;
	char token[1024];
	struct fault_load l;
	unsigned rounds;
	uint64_t recover_max_ns;
	const char *name;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned rounds_wanted(void)
{
	const char *e = getenv("CONFAB_FAULT_ROUNDS");
	long v = e != NULL ? strtol(e, NULL, 10) : 0;

	return v >= 1 && v <= 1000 ? (unsigned)v : 2;
}

/* The scenarios of `make check-faults` only (CONFAB_FAULT_FULL=1). */
static bool full_suite(void)
{
	const char *e = getenv("CONFAB_FAULT_FULL");

	return e != NULL && strcmp(e, "1") == 0;
}

static int setup_common(struct fx *f, bool netns)
{
	char id[16];
	unsigned i;
	int rv;

	rv = netns ? cf_test_cluster_start_netns(&f->c, 3, START_TIMEOUT_MS,
						 &f->ns)
		   : cf_test_cluster_start(&f->c, 3, START_TIMEOUT_MS);
	if (rv != 0)
		return -1;
	for (i = 0; i < CONVS; i++) {
		snprintf(id, sizeof id, "fq%u", i);
		cf_test_create_group(&f->c, 1 + i % 3, USER, id, "[\"fb\"]");
	}
	f->rounds = rounds_wanted();
	for (i = 0; i < 3; i++)
		f->l.urls[i] = f->c.nodes[i + 1].url;
	f->l.n_nodes = 3;
	f->l.http_workers = 4;
	f->l.ws_workers = 2;
	f->l.convs = CONVS;
	f->l.prefix = "fq";
	f->l.user = USER;
	f->l.pace_ms = 2;
	if (netns) {
		if (cf_test_cluster_token(&f->c, USER, f->token,
					  sizeof f->token) != 0)
			return -1;
		f->l.token = f->token;
	}
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	*state = f;
	return setup_common(f, false);
}

/*
 * Nodes in network namespaces (cf_test_netns.h): the full suite only
 * (root, ip(8)); without them the test fails saying so.
 */
static int setup_netns(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	*state = f;
	if (!cf_test_netns_available())
		return 0; /* the test fails, saying why */
	if (cf_test_netns_create(&f->ns, 3) != 0)
		return -1;
	return setup_common(f, true);
}

/*
 * Data folders on small tmpfs mounts (fault_disk.h): the full suite only
 * (root); without it the test fails saying so. A short --min-free and a
 * small ballast, as test_disk has them.
 */
static int setup_disk(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	*state = f;
	if (fault_disk_mount(&f->disk) != 0)
		return 0; /* the test fails, saying why */
	f->disk_ok = true;
	setenv("CONFAB_IT_ARGS", "--min-free 40M --ballast 4M", 1);
	if (setup_common(f, false) != 0)
		return -1;
	unsetenv("CONFAB_IT_ARGS");
	for (unsigned id = 1; id <= 3; id++)
		if (fault_disk_move(&f->disk, &f->c, id, READY_TIMEOUT_MS) != 0)
			return -1;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int rv = f->c.n > 0 ? cf_test_cluster_stop(&f->c) : 0;

	fault_disk_unmount(&f->disk);
	cf_test_netns_destroy(&f->ns);
	fault_load_release(&f->l);
	free(f);
	return rv;
}

/* Wait until the load has more than n acks; the time it took. */
static uint64_t wait_acks_past(struct fx *f, size_t n)
{
	uint64_t t0 = mono_ns();

	while (fault_load_acked(&f->l) <= n) {
		if (mono_ns() - t0 > (uint64_t)ACK_WAIT_MS * 1000000ull)
			fail_msg("%s: no ack for %d ms", f->name, ACK_WAIT_MS);
		cf_test_sleep_ms(5);
	}
	return mono_ns() - t0;
}

static void note_recovery(struct fx *f, uint64_t fault_ns, size_t acked)
{
	uint64_t d;

	wait_acks_past(f, acked);
	d = mono_ns() - fault_ns;
	if (d > f->recover_max_ns)
		f->recover_max_ns = d;
}

static void ready_all(struct fx *f)
{
	for (unsigned id = 1; id <= 3; id++)
		assert_int_equal(
			cf_test_cluster_wait_ready(&f->c, id, READY_TIMEOUT_MS),
			0);
	assert_true(cf_test_cluster_leader(&f->c, LEADER_TIMEOUT_MS) > 0);
}

/* seq of clientMsgId "w<w>-<k>" in one history, by worker and k. */
struct seqmap {
	long long *seq[FL_MAX_WORKERS];
	uint32_t n[FL_MAX_WORKERS];
};

static void seqmap_put(struct seqmap *m, unsigned w, uint32_t k,
		       long long seq, unsigned *dups)
{
	if (k >= m->n[w]) {
		uint32_t n = k + 1024;
		long long *p = realloc(m->seq[w], n * sizeof *p);

		assert_non_null(p);
		for (uint32_t i = m->n[w]; i < n; i++)
			p[i] = 0;
		m->seq[w] = p;
		m->n[w] = n;
	}
	if (m->seq[w][k] != 0)
		(*dups)++;
	m->seq[w][k] = seq;
}

static void seqmap_free(struct seqmap *m)
{
	for (unsigned w = 0; w < FL_MAX_WORKERS; w++)
		free(m->seq[w]);
}

/*
 * The checks of the header comment; prints the scenario's row. Lost and
 * duplicated counts are asserted to be 0 after the row is printed.
 */
static void verify(struct fx *f)
{
	struct seqmap maps[CONVS + 1][4];
	unsigned lost = 0, dups = 0, wrong = 0, i, n;
	uint64_t digest[4];
	char conv[16], out[4096], args[600];
	size_t a;

	memset(maps, 0, sizeof maps);
	for (i = 0; i < CONVS; i++) {
		snprintf(conv, sizeof conv, "fq%u", i);
		for (n = 1; n <= 3; n++) {
			json_t *h = cf_test_history(&f->c, n, USER, conv), *m;
			size_t k;

			json_array_foreach(h, k, m) {
				const char *cmid = cf_test_str(m, "clientMsgId");
				unsigned w;
				uint32_t kk;

				/* seqs 1..N in order */
				assert_int_equal(cf_test_int(m, "seq"),
						 (long long)k + 1);
				if (sscanf(cmid, "w%u-%u", &w, &kk) != 2 ||
				    w >= FL_MAX_WORKERS)
					continue;
				seqmap_put(&maps[i][n], w, kk,
					   cf_test_int(m, "seq"), &dups);
			}
			digest[n] = cf_test_digest(h);
			json_decref(h);
		}
		assert_true(digest[1] == digest[2]);
		assert_true(digest[1] == digest[3]);
	}
	for (a = 0; a < f->l.n_acks; a++) {
		const struct fl_ack *ack = &f->l.acks[a];

		for (n = 1; n <= 3; n++) {
			const struct seqmap *m = &maps[ack->conv][n];
			long long s = ack->k < m->n[ack->worker]
					      ? m->seq[ack->worker][ack->k]
					      : 0;

			if (s == 0) {
				char cmid[32];

				fault_load_cmid(ack, cmid);
				print_message("# LOST fq%u %s (seq %lld) on "
					      "n%u\n",
					      ack->conv, cmid, ack->seq, n);
				lost++;
			} else if (s != ack->seq) {
				wrong++;
			}
		}
	}
	print_message("# %-14s rounds %3u  acked %6zu (ws %llu)  lost %u  "
		      "duplicated %u  wrong-seq %u  longest-without-ack %6.0f "
		      "ms  recovery-max %6.0f ms  retries %llu  abandoned "
		      "%llu\n",
		      f->name, f->rounds, f->l.n_acks,
		      (unsigned long long)f->l.acked_ws, lost, dups, wrong,
		      (double)f->l.max_gap_ns / 1e6,
		      (double)f->recover_max_ns / 1e6,
		      (unsigned long long)f->l.retries,
		      (unsigned long long)f->l.abandoned);
	for (i = 0; i < CONVS; i++)
		for (n = 1; n <= 3; n++)
			seqmap_free(&maps[i][n]);
	assert_int_equal(lost, 0);
	assert_int_equal(dups, 0);
	assert_int_equal(wrong, 0);
	assert_int_equal(f->l.refused, 0);
	assert_true(f->l.n_acks > 0);
	assert_true(f->l.acked_ws > 0);
	snprintf(args, sizeof args, "verify --cluster '%s'", f->c.conf_path);
	assert_int_equal(cf_test_ctl(args, out, sizeof out), 0);
	assert_non_null(strstr(out, "identical: 3 nodes"));
}

static void start_load(struct fx *f, const char *name)
{
	f->name = name;
	assert_int_equal(fault_load_start(&f->l), 0);
	wait_acks_past(f, 50);
}

static void finish(struct fx *f)
{
	wait_acks_past(f, fault_load_acked(&f->l) + 20);
	fault_load_stop(&f->l);
	ready_all(f);
	verify(f);
	cf_test_cluster_pass(&f->c);
}

static void kill_restart(struct fx *f, bool leader)
{
	for (unsigned r = 0; r < f->rounds; r++) {
		int lead = cf_test_cluster_leader(&f->c, LEADER_TIMEOUT_MS);
		unsigned victim;
		size_t acked;
		uint64_t t;

		assert_true(lead > 0);
		victim = leader ? (unsigned)lead
				: 1 + ((unsigned)lead + r % 2) % 3;
		wait_acks_past(f, fault_load_acked(&f->l) + 20);
		acked = fault_load_acked(&f->l);
		t = mono_ns();
		assert_int_equal(cf_test_cluster_kill(&f->c, victim), 0);
		/* the others carry on: an ack while the victim is down */
		note_recovery(f, t, acked);
		assert_int_equal(cf_test_cluster_restart(&f->c, victim,
							 READY_TIMEOUT_MS),
				 0);
	}
}

static void kill_leader(void **state)
{
	struct fx *f = *state;

	start_load(f, "kill_leader");
	kill_restart(f, true);
	finish(f);
}

static void kill_follower(void **state)
{
	struct fx *f = *state;

	start_load(f, "kill_follower");
	kill_restart(f, false);
	finish(f);
}

static void kill_all(void **state)
{
	struct fx *f = *state;

	start_load(f, "kill_all");
	for (unsigned r = 0; r < f->rounds; r++) {
		size_t acked;
		uint64_t t;

		wait_acks_past(f, fault_load_acked(&f->l) + 20);
		acked = fault_load_acked(&f->l);
		t = mono_ns();
		for (unsigned id = 1; id <= 3; id++)
			assert_int_equal(cf_test_cluster_kill(&f->c, id), 0);
		for (unsigned id = 1; id <= 3; id++)
			assert_int_equal(cf_test_cluster_node_spawn(&f->c, id),
					 0);
		ready_all(f);
		note_recovery(f, t, acked);
	}
	finish(f);
}

static void stop_leader(void **state)
{
	struct fx *f = *state;

	start_load(f, "stop_leader");
	for (unsigned r = 0; r < f->rounds; r++) {
		int lead = cf_test_cluster_leader(&f->c, LEADER_TIMEOUT_MS);
		size_t acked;
		uint64_t t;

		assert_true(lead > 0);
		wait_acks_past(f, fault_load_acked(&f->l) + 20);
		acked = fault_load_acked(&f->l);
		t = mono_ns();
		assert_int_equal(cf_test_cluster_pause(&f->c, (unsigned)lead),
				 0);
		/* the two others elect a leader and go on meanwhile */
		note_recovery(f, t, acked);
		cf_test_sleep_ms(3 * ELECTION_MS);
		assert_int_equal(
			cf_test_cluster_resume(&f->c, (unsigned)lead), 0);
		ready_all(f);
	}
	finish(f);
}

/*
 * A node cut off the network (its bridge port down) for 3 election
 * timeouts and healed: the leader, then a follower, in turn. Clients of the
 * cut node time out and move on; what it acked before is kept, what it
 * took meanwhile is either acked after the heal or retried elsewhere.
 */
static void partition(void **state)
{
	struct fx *f = *state;

	if (!f->ns.made)
		fail_msg("partition needs root and ip(8) (iproute2)");
	start_load(f, "partition");
	for (unsigned r = 0; r < f->rounds; r++) {
		int lead = cf_test_cluster_leader(&f->c, LEADER_TIMEOUT_MS);
		unsigned victim;
		size_t acked;
		uint64_t t;

		assert_true(lead > 0);
		victim = r % 2 == 0 ? (unsigned)lead : 1 + (unsigned)lead % 3;
		wait_acks_past(f, fault_load_acked(&f->l) + 20);
		acked = fault_load_acked(&f->l);
		t = mono_ns();
		assert_int_equal(cf_test_netns_cut(&f->ns, victim, true), 0);
		note_recovery(f, t, acked);
		cf_test_sleep_ms(3 * ELECTION_MS);
		assert_int_equal(cf_test_netns_cut(&f->ns, victim, false), 0);
		ready_all(f);
	}
	finish(f);
}

/*
 * A follower's disk filled to the last byte and freed (the other two go
 * on), then all three filled (writes refused: 507, retried by the load)
 * and freed: the halted nodes run again and the load resumes.
 */
static void disk_full(void **state)
{
	struct fx *f = *state;

	if (!f->disk_ok)
		fail_msg("disk_full needs root (mount(2) of tmpfs)");
	start_load(f, "disk_full");
	for (unsigned r = 0; r < f->rounds; r++) {
		int lead = cf_test_cluster_leader(&f->c, LEADER_TIMEOUT_MS);
		unsigned victim;
		size_t acked;
		uint64_t t;

		assert_true(lead > 0);
		victim = 1 + (unsigned)lead % 3; /* a follower */
		wait_acks_past(f, fault_load_acked(&f->l) + 20);
		assert_int_equal(fault_disk_fill(&f->disk, victim), 0);
		/* the two others commit meanwhile */
		wait_acks_past(f, fault_load_acked(&f->l) + 50);
		assert_int_equal(fault_disk_free(&f->disk, victim), 0);
		ready_all(f);
		/* then all three */
		acked = fault_load_acked(&f->l);
		t = mono_ns();
		for (unsigned id = 1; id <= 3; id++)
			assert_int_equal(fault_disk_fill(&f->disk, id), 0);
		cf_test_sleep_ms(2000);
		for (unsigned id = 1; id <= 3; id++)
			assert_int_equal(fault_disk_free(&f->disk, id), 0);
		ready_all(f);
		note_recovery(f, t, acked);
	}
	finish(f);
}

/*
 * One node at a time gets 500 half-sent requests (slowloris) and 8
 * WebSockets of the load's user that never read, for 3 s under the load;
 * then they go away. The node must neither stop nor stop serving the
 * load's other clients.
 */
static void flood(void **state)
{
	struct fx *f = *state;
	struct fault_flood *fl = calloc(1, sizeof *fl);
	char q[128];

	assert_non_null(fl);
	start_load(f, "flood");
	snprintf(q, sizeof q, "/v1/ws?user=%s&deviceId=slow", USER);
	for (unsigned r = 0; r < f->rounds; r++) {
		unsigned victim = 1 + r % 3;
		size_t acked;
		uint64_t t;

		wait_acks_past(f, fault_load_acked(&f->l) + 20);
		acked = fault_load_acked(&f->l);
		t = mono_ns();
		assert_int_equal(fault_flood_open(fl, f->c.nodes[victim].url,
						  500, 8, q),
				 0);
		print_message("# flood n%u: %u connections, %u slow sockets, "
			      "%u refused\n",
			      victim, fl->n, fl->n_ws, fl->refused);
		note_recovery(f, t, acked);
		cf_test_sleep_ms(3000);
		fault_flood_close(fl);
		assert_int_equal(cf_test_cluster_alive(&f->c, victim), 1);
	}
	free(fl);
	finish(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(kill_leader, setup, teardown),
		cmocka_unit_test_setup_teardown(kill_follower, setup,
						teardown),
		cmocka_unit_test_setup_teardown(kill_all, setup, teardown),
		cmocka_unit_test_setup_teardown(stop_leader, setup, teardown),
		cmocka_unit_test_setup_teardown(flood, setup, teardown),
		/* the full suite's (make check-faults) from here on */
		cmocka_unit_test_setup_teardown(partition, setup_netns,
						teardown),
		cmocka_unit_test_setup_teardown(disk_full, setup_disk,
						teardown),
	};
	size_t n = sizeof tests / sizeof tests[0];

	/* One scenario (or a glob of them): CONFAB_FAULT_ONLY=disk_full. */
	if (getenv("CONFAB_FAULT_ONLY") != NULL)
		cmocka_set_test_filter(getenv("CONFAB_FAULT_ONLY"));
	/* make check runs the short version without the full suite's. */
	return _cmocka_run_group_tests("test_faults", tests,
				       full_suite() ? n : n - 2, NULL, NULL);
}
