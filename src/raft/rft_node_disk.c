/*
 * rft_node_disk: full disks and storage failures on a node (issue 11; see
 * "Storage failures" in rft_node.h and rft_disk.h).
 *
 * Watermark: the disk watcher measures the data folder; each measurement
 * publishes this node's disk status to its peers (the body of the peer
 * links' pings), and rft__disk_refuse() answers client commands with
 * CF_ENOSPACE while this node leads with a low disk, or a majority of the
 * voters is low or full as this node sees them, or this node is halted.
 * Internal commands (compaction, erasure no-ops, verify markers) pass:
 * they are small, and compaction gives space back.
 *
 * Halt: a storage failure (the FSM's, seen on the tick; raft's own log
 * writes, seen as a failed apply on the leader or as the raft_io error
 * message raft 0.15 leaves when a write fails; the free space below one
 * raft segment) halts the node, at most once per process:
 *
 *   1. the FSM stops (rft_fsm_halt; a failure inside apply already did);
 *      no checkpoint, snapshot or compaction switch follows (compaction
 *      is closed: its jobs stay pending in the store);
 *   2. ENOSPC: the ballast is released (room for raft's writes in flight,
 *      logs, an operator);
 *   3. a leader transfers leadership to a peer whose disk is not low (at
 *      most TRANSFER_MS), then raft's writes are let drain (at most
 *      DRAIN_MS), then raft is closed: raft 0.15 marks its raft_uv
 *      instance errored after a failed write and never writes again, and
 *      may keep entries in memory that are not on disk (RAFT.md §4), so
 *      the only way back is a new raft over what is on disk;
 *   4. the node stays up read-only (halted, raft_down): reads from what it
 *      applied, writes refused (CF_ENOSPACE; CF_EIO after an I/O error),
 *      /readyz 503 with the reason, peers see it as full;
 *   5. ENOSPC: once the watcher sees free >= watermark + ballast,
 *      cfg.on_halt(n, 0): confabd closes everything and re-execs itself,
 *      and raft replays what the last checkpoint lacks. Another error:
 *      cfg.on_halt(n, err) at once: confabd closes and exits 1.
 *
 * Nothing committed is lost: the FSM never checkpoints past the last entry
 * it stored whole, and raft keeps every entry after the last snapshot,
 * which is never taken while halted.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "raft/rft_node.h"
#include "raft/rft_node_int.h"

#define TRANSFER_MS 2000
#define DRAIN_MS 2000
#define MIB (1024.0 * 1024.0)
/* Room assumed for the manifest in the default ballast. */
#define MANIFEST_ALLOWANCE (8ull << 20)

static bool is_space(int err)
{
	return err == -ENOSPC || err == -EDQUOT || err == CF_ENOSPACE;
}

static void disk_publish(struct rft_node *n)
{
	uint8_t body[RFT_DISK_STATUS_SIZE];
	struct rft_disk_status st;

	st.full = n->halt_err != 0;
	st.low = st.full || rft_disk_low(&n->disk);
	st.free = n->disk.free;
	rft_disk_status_encode(&st, body);
	(void)rft_peer_set_status(&n->peers, body, sizeof body);
}

static void disk_on_measure(void *arg)
{
	struct rft_node *n = arg;

	if (!n->closing)
		disk_publish(n);
}

int rft__disk_init(struct rft_node *n, char *errmsg)
{
	struct rft_disk_config dc;
	int rv;

	memset(&dc, 0, sizeof dc);
	dc.dir = n->cfg.data_dir;
	dc.min_free = n->cfg.min_free;
	dc.min_free_pct = n->cfg.min_free_pct;
	dc.floor = n->cfg.raft_segment_size;
	/* The open segment, a pool of two, one being prepared. */
	dc.restart_reserve = 4 * n->cfg.raft_segment_size;
	if (n->cfg.ballast < 0)
		dc.ballast = rft_disk_ballast_default(
			n->cfg.raft_segment_size, MANIFEST_ALLOWANCE,
			n->cfg.compact_segments, n->cfg.cluster->segment_size);
	else
		dc.ballast = (uint64_t)n->cfg.ballast;
	dc.on_measure = disk_on_measure;
	dc.arg = n;
	rv = rft_disk_init(&n->disk, n->loop, &dc);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "disk watch: %s", cf_strerror(rv));
		return rv;
	}
	n->disk_on = true;
	return 0;
}

void rft__disk_start(struct rft_node *n)
{
	rft_disk_start(&n->disk);
}

static void node_disk_closed_cb(struct rft_disk *d)
{
	struct rft_node *n = CF_CONTAINER_OF(d, struct rft_node, disk);
	void (*done)(struct rft_node *) = n->disk_done;

	n->disk_done = NULL;
	if (done != NULL)
		done(n);
}

void rft__disk_close(struct rft_node *n, void (*done)(struct rft_node *n))
{
	n->disk_done = done;
	rft_disk_close(&n->disk, node_disk_closed_cb);
}

/* Voters known low or full, this node included. */
static unsigned disk_n_low(const struct rft_node *n)
{
	const struct cf_cluster *cl = n->cfg.cluster;
	unsigned k = n->halt_err != 0 || rft_disk_low(&n->disk) ? 1 : 0;

	for (unsigned i = 0; i < cl->n_nodes; i++) {
		unsigned id = cl->nodes[i].id;
		struct rft_disk_status st;
		uint8_t body[RFT_PEER_STATUS_MAX];
		size_t len;

		if (id == n->cfg.self)
			continue;
		len = rft_peer_status(&n->peers, id, body, sizeof body);
		if (rft_disk_status_decode(body, len, &st) == 0 &&
		    (st.low || st.full))
			k++;
	}
	return k;
}

int rft__disk_refuse(const struct rft_node *n, uint8_t cmd_type)
{
	bool leader;

	if (cmd_type == RFT_CMD_COMPACT || cmd_type == RFT_CMD_NOOP ||
	    cmd_type == RFT_CMD_MARK)
		return 0;
	if (n->halt_err != 0)
		return is_space(n->halt_err) ? CF_ENOSPACE : CF_EIO;
	leader = raft_state((struct raft *)&n->raft) == RAFT_LEADER;
	if (rft_disk_refuse(leader, rft_disk_low(&n->disk), false,
			    n->cfg.cluster->n_nodes, disk_n_low(n)))
		return CF_ENOSPACE;
	return 0;
}

const char *rft__disk_why(const struct rft_node *n)
{
	struct rft_node *m = (struct rft_node *)n;

	if (n->halt_err != 0 && is_space(n->halt_err))
		snprintf(m->disk_why, sizeof m->disk_why,
			 "disk full: read-only until %.0f MiB are free "
			 "(%.0f MiB now): %s",
			 (double)rft_disk_recover_bytes(&n->disk) / MIB,
			 (double)n->disk.free / MIB, n->halt_msg);
	else if (n->halt_err != 0)
		snprintf(m->disk_why, sizeof m->disk_why,
			 "storage failure, stopping: %s", n->halt_msg);
	else if (rft_disk_low(&n->disk))
		snprintf(m->disk_why, sizeof m->disk_why,
			 "disk below --min-free: %.0f MiB free, %.0f MiB "
			 "required",
			 (double)n->disk.free / MIB,
			 (double)n->disk.watermark / MIB);
	else
		return NULL;
	return m->disk_why;
}

/* A voter whose link is up and whose disk is not low, or 0. */
static unsigned disk_transfer_target(struct rft_node *n)
{
	const struct cf_cluster *cl = n->cfg.cluster;

	for (unsigned i = 0; i < cl->n_nodes; i++) {
		unsigned id = cl->nodes[i].id;
		struct rft_disk_status st;
		uint8_t body[RFT_PEER_STATUS_MAX];
		size_t len;

		if (id == n->cfg.self || !rft_peer_up(&n->peers, id))
			continue;
		len = rft_peer_status(&n->peers, id, body, sizeof body);
		if (rft_disk_status_decode(body, len, &st) == 0 &&
		    (st.low || st.full))
			continue;
		return id;
	}
	return 0;
}

static void disk_transfer_cb(struct raft_transfer *req)
{
	struct rft_node *n = req->data;

	n->transfer_pending = false;
	cf_info("leadership transfer %s",
		raft_state(&n->raft) == RAFT_LEADER ? "did not happen"
						    : "done");
}

void rft__storage_failed(struct rft_node *n, int err, const char *msg)
{
	unsigned target;

	if (n->halt_err != 0 || n->closing)
		return;
	if (err == CF_ENOSPACE) {
		/*
		 * Raft says "no space" (RAFT_NOSPACE also means a short
		 * write): a full disk only if the disk says so now.
		 */
		if (rft_disk_measure_now(&n->disk) != 0 ||
		    !rft_disk_low(&n->disk)) {
			cf_warn("%s, but %.0f MiB are free: an I/O error",
				msg, (double)n->disk.free / MIB);
			err = -EIO;
		} else {
			err = -ENOSPC;
		}
	}
	n->halt_err = err != 0 ? err : CF_EIO;
	snprintf(n->halt_msg, sizeof n->halt_msg, "%s", msg);
	if (rft_fsm_failed(n->fsm, NULL) == 0)
		rft_fsm_halt(n->fsm, n->halt_err, msg);
	if (is_space(n->halt_err)) {
		rft_disk_release(&n->disk);
		cf_error("disk full: %s; read-only: reads are served, writes "
			 "refused, raft stops until %.0f MiB are free in %s",
			 msg, (double)rft_disk_recover_bytes(&n->disk) / MIB,
			 n->cfg.data_dir);
	} else {
		cf_error("storage failure: %s; stopping", msg);
		if (n->io.errmsg[0] != '\0') {
			/*
			 * Raft's own log write failed (not for space): raft
			 * 0.15 is not fit to be closed then (seen under ASan:
			 * a SEGV inside libraft from its next callback). Stop
			 * at once: what was acknowledged is on a majority, the
			 * store records nothing past its last checkpoint, and
			 * the restarted node replays the rest.
			 */
			cf_error("storage failure in raft's own log: stopping "
				 "now, exit status 1");
			fflush(stdout);
			fflush(stderr);
			_exit(1);
		}
	}
	/* No compaction switches the store any more (jobs stay pending in
	 * the store: the restarted node runs them again). */
	rft_compact_close(&n->compact);
	/* Commands that will not be proposed here: their origins retry. */
	rft__drop_queued(n, CF_ELEADERSHIP);
	rft__fail_waiting(n, CF_EUNAVAIL);
	disk_publish(n);
	n->halt_deadline = cf_mono_ms() + TRANSFER_MS;
	if (raft_state(&n->raft) != RAFT_LEADER)
		return;
	/* Raft's own log write failed for space: no transfer either (raft
	 * 0.15 after a failed write of its own); the others elect. */
	if (n->io.errmsg[0] != '\0')
		return;
	target = disk_transfer_target(n);
	n->transfer.data = n;
	if (target != 0 &&
	    raft_transfer(&n->raft, &n->transfer, target, disk_transfer_cb) ==
		    0) {
		n->transfer_pending = true;
		cf_info("transferring leadership to node %u", target);
	}
}

void rft__disk_raft_down(struct rft_node *n)
{
	cf_warn("raft stopped after the storage failure; %s",
		is_space(n->halt_err) ? "waiting for free space"
				      : "closing the node");
	disk_publish(n);
}

/* Raft's own writes failed: what raft 0.15 leaves in its io errmsg. */
static void disk_check_raft(struct rft_node *n)
{
	char msg[CF_ERRMSG_SIZE];
	int err;

	if (n->io.errmsg[0] == '\0' &&
	    raft_state(&n->raft) != RAFT_UNAVAILABLE)
		return;
	err = strstr(n->io.errmsg, "space") != NULL ||
			      rft_disk_below_floor(&n->disk)
		      ? CF_ENOSPACE /* checked by rft__storage_failed */
		      : -EIO;
	snprintf(msg, sizeof msg, "raft log in %s/raft: %s", n->cfg.data_dir,
		 n->io.errmsg[0] ? n->io.errmsg : "raft stopped");
	rft__storage_failed(n, err, msg);
}

void rft__disk_tick(struct rft_node *n)
{
	const char *why;
	int err;

	if (n->closing)
		return;
	if (n->halt_err == 0) {
		err = rft_fsm_failed(n->fsm, &why);
		if (err != 0) {
			rft__storage_failed(n, err, why);
		} else if (rft_disk_below_floor(&n->disk)) {
			char msg[CF_ERRMSG_SIZE];

			snprintf(msg, sizeof msg,
				 "%.1f MiB free in %s, less than a raft "
				 "segment",
				 (double)n->disk.free / MIB, n->cfg.data_dir);
			rft__storage_failed(n, -ENOSPC, msg);
		} else {
			disk_check_raft(n);
		}
		if (n->halt_err == 0)
			return;
	}
	if (!n->raft_closing) {
		uint64_t now = cf_mono_ms();

		if (n->transfer_pending && now < n->halt_deadline)
			return;
		if (!rft__node_drained(n) &&
		    now < n->halt_deadline + DRAIN_MS)
			return;
		rft__node_raft_close(n);
		return;
	}
	if (!n->raft_down || n->halt_reported || n->cfg.on_halt == NULL)
		return;
	if (is_space(n->halt_err) && !rft_disk_recovered(&n->disk))
		return;
	n->halt_reported = true;
	if (is_space(n->halt_err))
		cf_warn("disk %s: %.0f MiB free again: restarting the node",
			n->cfg.data_dir, (double)n->disk.free / MIB);
	n->cfg.on_halt(n, is_space(n->halt_err) ? 0 : n->halt_err);
}

void rft_node_disk_info(const struct rft_node *n,
			struct rft_node_disk_info *out)
{
	memset(out, 0, sizeof *out);
	if (!n->disk_on)
		return;
	out->measured = n->disk.measured;
	out->free = n->disk.free;
	out->total = n->disk.total;
	out->watermark = n->disk.watermark;
	out->low = rft_disk_low(&n->disk);
	out->degraded = n->halt_err != 0;
	out->refusing = rft__disk_refuse(n, RFT_CMD_SEND) != 0;
	if (!out->refusing) {
		/* A follower forwards: its leader's disk answers. */
		unsigned leader = rft__node_leader(n);
		uint8_t body[RFT_PEER_STATUS_MAX];
		struct rft_disk_status st;
		size_t len;

		if (leader != 0 && leader != n->cfg.self) {
			len = rft_peer_status(&n->peers, leader, body,
					      sizeof body);
			out->refusing = rft_disk_status_decode(body, len,
							       &st) == 0 &&
					(st.low || st.full);
		}
	}
	out->ballast = n->disk.ballast == RFT_BALLAST_HELD;
}
