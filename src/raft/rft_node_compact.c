#include "config.h"

/*
 * rft_node_compact: the node's side of compaction (rft_compact.h runs the
 * jobs): jobs planned by apply go to the worker, a switch makes the node
 * checkpoint, a switch that erased content starts the erase sequence that
 * moves Raft's log past it (rft_node.h), and the leader's compaction rule
 * (--compact-after, --compact-segments).
 */

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "common/cf_diag.h"
#include "common/cf_time.h"
#include "raft/rft_cmd.h"
#include "raft/rft_fsm.h"
#include "raft/rft_node_int.h"

/* How often the leader looks for partitions to compact, ms. */
#define RULE_EVERY_MS 1000

/* FSM: a compaction command planned job (rft_compact.h). */
void rft__node_on_compact(void *arg, struct log_compact *job)
{
	struct rft_node *n = arg;

	if (rft_compact_submit(&n->compact, job) != 0)
		cf_warn("compaction: out of memory; the job waits in the "
			"store until a restart");
}

struct log_store *rft__node_store(void *arg)
{
	return rft_fsm_store(((struct rft_node *)arg)->fsm);
}

/*
 * A compaction switched: the next tick checkpoints (drops the hot files).
 * If it erased content, raft's log still holds the entries that carried
 * it: start the erase sequence (see rft_node.h).
 */
static bool raft_files_hold(const struct rft_node *n, uint64_t index,
			    unsigned long long open_max,
			    unsigned long long *open_seen);

void rft__node_on_switch(void *arg, const struct log_compact_result *r)
{
	struct rft_node *n = arg;
	struct rft_fsm_stats st;

	n->compacted = true;
	if (r->erased == 0 || n->closing)
		return;
	/*
	 * Trailing 1: the entries that carried the content (up to the
	 * switch's applied index at most) are in segment files that the
	 * snapshots' barriers close; raft deletes a closed file once a
	 * snapshot's index minus trailing passes its end. A larger trailing
	 * (to spare followers a little behind a snapshot install) kept a
	 * file holding both old and newer entries, content included.
	 */
	if (r->max_index > n->erase_index)
		n->erase_index = r->max_index;
	/* Open segments now may hold the entries until they are closed. */
	(void)raft_files_hold(n, 0, 0, &n->erase_open);
	rft_fsm_stats(n->fsm, &st);
	n->erase_left = 2;
	n->erase_snaps = st.snapshots;
	n->erase_next_ms = 0;
	raft_set_snapshot_threshold(&n->raft, 1);
	raft_set_snapshot_trailing(&n->raft, 1);
}

/*
 * Whether a file of raft's log may hold entry index or older: a closed
 * segment starting at or below it, or an open segment numbered open_max or
 * below. *open_seen (may be NULL) gets the highest open segment number.
 */
static bool raft_files_hold(const struct rft_node *n, uint64_t index,
			    unsigned long long open_max,
			    unsigned long long *open_seen)
{
	char path[4200];
	struct dirent *e;
	bool hold = false;
	DIR *d;

	if (open_seen != NULL)
		*open_seen = 0;
	snprintf(path, sizeof path, "%s/raft", n->cfg.data_dir);
	d = opendir(path);
	if (d == NULL)
		return false;
	while ((e = readdir(d)) != NULL) {
		unsigned long long first, last, k;
		char tail;

		if (strlen(e->d_name) == 33 &&
		    sscanf(e->d_name, "%16llu-%16llu%c", &first, &last,
			   &tail) == 2 &&
		    first <= index)
			hold = true;
		if (sscanf(e->d_name, "open-%llu%c", &k, &tail) == 1) {
			if (k <= open_max)
				hold = true;
			if (open_seen != NULL && k > *open_seen)
				*open_seen = k;
		}
	}
	closedir(d);
	return hold;
}

static void node_erase_cb(struct rft_submit *s, int status,
			  const struct rft_result *res)
{
	struct rft_node *n = s->data;

	(void)status;
	(void)res;
	n->erase_inflight = false;
}

static void node_rule_cb(struct rft_submit *s, int status,
			 const struct rft_result *res)
{
	struct rft_node *n = s->data;

	(void)res;
	n->rule_inflight = false;
	if (status != 0)
		n->rule_next_ms = cf_mono_ms() + RULE_EVERY_MS * 5;
}

/*
 * The compaction rule, on the leader: propose a compaction of the first
 * partition (round robin) whose sealed hot segments not yet taken reach
 * compact_after (0: never by size), or that holds recalls waiting for a
 * rewrite of their cold file, or recalls of hot messages for half of the
 * cluster's erase-within (then sealing first and taking every sealed
 * segment, so that the content is erased within the deadline). Decided from this node's applied state; every node then
 * plans the same job at the command's index.
 */
void rft__node_rule_tick(struct rft_node *n)
{
	uint64_t erase_within = n->cfg.cluster->erase_within_ms;
	struct log_store *store;
	unsigned parts;
	struct rft_cmd cmd;
	char user[32];

	if (n->rule_inflight ||
	    raft_state(&n->raft) != RAFT_LEADER || !n->ready ||
	    rft_fsm_needs_fetch(n->fsm) || cf_mono_ms() < n->rule_next_ms)
		return;
	n->rule_next_ms = cf_mono_ms() + RULE_EVERY_MS;
	store = rft_fsm_store(n->fsm);
	parts = log_store_partitions(store);
	for (unsigned k = 0; k < parts; k++) {
		unsigned p = (n->rule_next_part + k) % parts;
		uint64_t since = 0;
		bool erase = log_store_hot_recalls(store, p, &since) > 0 &&
			     cf_wall_ms() >= since + erase_within / 2;

		if ((n->cfg.compact_after <= 0 ||
		     log_store_sealed_free(store, p) <
			     (unsigned)n->cfg.compact_after) &&
		    log_store_erase_pending(store, p) == 0 && !erase)
			continue;
		n->rule_next_part = (p + 1) % parts;
		snprintf(user, sizeof user, "node-%u", n->cfg.self);
		memset(&cmd, 0, sizeof cmd);
		cmd.type = RFT_CMD_COMPACT;
		cmd.user = cf_str_c(user);
		cmd.seq = p;
		cmd.count = n->cfg.compact_segments;
		if (erase) {
			/* Seal and take every hot segment: the deadline. */
			cmd.count = RFT_COMPACT_COUNT_MAX;
			cmd.flags = RFT_COMPACT_SEAL;
		}
		n->rule_sub.data = n;
		n->rule_inflight = true;
		rft_node_submit(n, &n->rule_sub, &cmd, node_rule_cb);
		return;
	}
}

/* Drive the erase sequence: count snapshots, ask for entries. */
void rft__node_erase_tick(struct rft_node *n)
{
	struct rft_fsm_stats st;
	struct rft_cmd cmd;
	char user[32];

	if (n->erase_left == 0)
		return;
	rft_fsm_stats(n->fsm, &st);
	if (st.snapshots > n->erase_snaps) {
		n->erase_snaps = st.snapshots;
		n->erase_next_ms = 0;
		if (n->erase_left == 1 &&
		    raft_files_hold(n, n->erase_index, n->erase_open,
				    NULL)) {
			/* the file is closed, a later snapshot deletes it */
		} else if (--n->erase_left == 0) {
			n->erase_index = 0;
			n->erase_open = 0;
			raft_set_snapshot_threshold(&n->raft, n->cur_threshold);
			raft_set_snapshot_trailing(&n->raft, n->cur_trailing);
			cf_info("erasure: raft's log is past the entries of the "
				"compacted content");
			return;
		}
	}
	if (n->erase_inflight || cf_mono_ms() < n->erase_next_ms)
		return;
	n->erase_next_ms = cf_mono_ms() + 1000;
	snprintf(user, sizeof user, "node-%u", n->cfg.self);
	memset(&cmd, 0, sizeof cmd);
	cmd.type = RFT_CMD_NOOP;
	cmd.user = cf_str_c(user);
	n->erase_sub.data = n;
	n->erase_inflight = true;
	rft_node_submit(n, &n->erase_sub, &cmd, node_erase_cb);
}

