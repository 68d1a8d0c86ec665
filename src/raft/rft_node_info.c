#include "config.h"

/*
 * rft_node_info: what a node says of itself (role, leader, readiness,
 * peers), for the frontend and the admin routes. Contract in rft_node.h;
 * the node's life cycle is in rft_node.c.
 */

#include "raft/rft_node.h"

#include <stdio.h>
#include <string.h>

#include "raft/rft_node_int.h"

/* ---- introspection ---- */

const char *rft_node_role(const struct rft_node *n)
{
	switch (raft_state((struct raft *)&n->raft)) {
	case RAFT_LEADER:
		return "leader";
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_CANDIDATE:
		return "candidate";
	default:
		return "unavailable";
	}
}

unsigned rft_node_leader_id(const struct rft_node *n)
{
	return rft__node_leader(n);
}

bool rft_node_is_ready(const struct rft_node *n, const char **why)
{
	const char *w = NULL;

	if (n->disk_on && (w = rft__disk_why(n)) != NULL)
		;
	else if (n->rebuilding)
		w = "rebuilding the state from fetched segments";
	else if (n->fsm != NULL && rft_fsm_needs_fetch(n->fsm))
		w = "a snapshot arrived ahead of the store: fetching segments "
		    "from a peer";
	else if (rft__node_leader(n) == 0)
		w = "no leader known";
	else if (!n->ready)
		w = "catching up with the commit index";
	if (why != NULL)
		*why = w;
	return w == NULL;
}

bool rft_node_peer_up(const struct rft_node *n, unsigned id)
{
	return rft_peer_up((struct rft_peer_mgr *)&n->peers, id);
}

struct rft_fsm *rft_node_fsm(struct rft_node *n)
{
	return n->fsm;
}
