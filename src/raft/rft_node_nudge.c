#include "config.h"

/*
 * rft_node_nudge: followers learn a commit soon after a burst ends.
 *
 * A follower learns the leader's commit index from the next AppendEntries
 * (RAFT.md): while entries flow every one carries it, but after the last
 * entry of a burst (or the one message of a quiet conversation) the
 * followers apply it only at the next heartbeat, up to heartbeat_ms later,
 * and their WebSockets deliver it that much later than the leader's. So
 * when the leader has applied everything it appended (nothing in flight
 * would carry the new commit index) and nothing new is proposed within
 * NUDGE_MS, it appends a barrier: its AppendEntries carries the commit
 * index at once. The barrier's own commit needs no nudge (raft does not
 * apply a barrier to the FSM, so it re-arms nothing). Under a steady load
 * the next proposal cancels the timer: no extra entry.
 *
 * Threads: loop thread only.
 */

#include "raft/rft_node_int.h"

#define NUDGE_MS 1

static void nudge_barrier_cb(struct raft_barrier *req, int status)
{
	struct rft_node *n = req->data;

	(void)status; /* a lost barrier only leaves it to the heartbeat */
	n->nudge_pending = false;
}

/* applied: the last entry applied (raft counts it applied only once its
 * callback returned). */
static bool nudge_wanted(struct rft_node *n, raft_index applied)
{
	return !n->closing && !n->raft_closing && n->halt_err == 0 &&
	       !n->nudge_pending && raft_state(&n->raft) == RAFT_LEADER &&
	       raft_last_index(&n->raft) == applied;
}

static void nudge_timer_cb(uv_timer_t *t)
{
	struct rft_node *n = t->data;

	if (!nudge_wanted(n, raft_last_applied(&n->raft)))
		return;
	n->nudge_barrier.data = n;
	if (raft_barrier(&n->raft, &n->nudge_barrier, nudge_barrier_cb) == 0) {
		n->nudge_pending = true;
		n->stats.nudges++;
	}
}

void rft__nudge_init(struct rft_node *n, uv_loop_t *loop)
{
	uv_timer_init(loop, &n->nudge);
	n->nudge.data = n;
}

void rft__nudge_arm(struct rft_node *n, uint64_t applied)
{
	if (nudge_wanted(n, applied))
		uv_timer_start(&n->nudge, nudge_timer_cb, NUDGE_MS, 0);
}

void rft__nudge_cancel(struct rft_node *n)
{
	uv_timer_stop(&n->nudge);
}
