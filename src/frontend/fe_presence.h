/*
 * fe_presence: ephemeral state (DESIGN.md "Ephemeral state"): who is online,
 * and typing indicators. Nothing here is written to the log.
 *
 * Presence: a user is online while at least one of its sockets is open and
 * one of them sent anything (a frame, a ping, a pong) in the last 30 s, on
 * any node. Every node reports its users (socket count, last activity) to
 * its peers over the peer links (FE_MSG_PRESENCE) every second, and at the
 * next 250 ms tick after a socket opened or closed; a peer's report older
 * than 3.5 s counts as no sockets there. Each node decides transitions
 * from the same exchanged state and hands each change to fe_presence_sub,
 * which pushes it only to the local sockets that subscribed to the user
 * (fe_presence_sub.h: cost O(those sockets), one batched frame per socket
 * per tick); transitions are coalesced per user, at most one change per
 * second, so a flapping client cannot flood the cluster. The tick is
 * TICK_MS (250 ms); reports cost O(users with a socket on the node) per
 * second (per tick while sockets open or close), whatever the audiences.
 * GET /v1/presence?users=a,b answers from this node's table.
 *
 * Typing: a `typing` frame {conversationId, state: start|stop} from a member
 * becomes a `typing` event {conversationId, userId, state} on the local
 * sockets of the other members and, best effort, on every peer
 * (FE_MSG_TYPING carries the event's JSON). A non-member gets a forbidden
 * (former member) or not_found error frame. Bounds (issue 11): in a
 * conversation of more than --presence-group-max members typing is
 * accepted but relayed to nobody, and each relayed frame takes a token of
 * the sender's --rate-limit bucket (over it: a rate_limited error frame).
 *
 * Ownership: the table belongs to the server (fe_presence_init/close).
 * Errors: none reported to peers; clients get API.md error frames.
 * Threads: loop thread only.
 */
#ifndef FE_PRESENCE_H
#define FE_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "common/cf_map.h"
#include "frontend/fe_conn.h"
#include "frontend/fe_http.h"
#include "frontend/fe_presence_sub.h"
#include "raft/rft_node.h"

#define FE_MSG_PRESENCE (RFT_MSG_USER + 1)
#define FE_MSG_TYPING (RFT_MSG_USER + 2)

struct fe_server;

struct fe_presence {
	struct fe_server *srv;
	uv_timer_t timer;
	struct cf_map users;	/* user id -> struct fe_pres_user */
	uint32_t gen[CF_MAX_NODES];	    /* report generation per node */
	uint64_t report_at[CF_MAX_NODES];   /* mono ms of the last report */
	unsigned ticks;
	bool dirty;		/* local sockets changed: report soon */
	bool started;
	struct fe_presence_subs subs; /* who watches whom */
};

void fe_presence_init(struct fe_presence *p, struct fe_server *srv);
/* Start the tick timer (after the server listens). */
void fe_presence_start(struct fe_presence *p);
/* Close the timer (counted in the server's pending closes by the caller). */
void fe_presence_close(struct fe_presence *p, uv_close_cb cb);
void fe_presence_release(struct fe_presence *p);

/* Local socket events of user (from fe_session). */
void fe_presence_opened(struct fe_presence *p, const char *user);
void fe_presence_closed(struct fe_presence *p, const char *user);
void fe_presence_touch(struct fe_presence *p, const char *user);

/* Peer-link messages FE_MSG_PRESENCE / FE_MSG_TYPING; false if not ours. */
bool fe_presence_peer_msg(struct fe_presence *p, unsigned from, uint8_t type,
			  const void *body, size_t len);

/* True if user currently has an open socket on some node (push targets). */
bool fe_presence_has_socket(struct fe_presence *p, const char *user,
			    size_t len);

/*
 * Whether user may see other's presence: the same user, or one sharing a
 * conversation of at most max_members members (UINT_MAX: any size, as GET
 * /v1/presence). O(the smaller one's conversations x log members).
 */
bool fe_presence_may_watch(struct fe_server *s, const char *user,
			   struct cf_str other, unsigned max_members);
/* user's online state now; *last: latest activity (0: never, unknown). */
bool fe_presence_state(struct fe_presence *p, const char *user, size_t len,
		       uint64_t *last);

/* GET /v1/presence; false if req is another route. */
bool fe_presence_http(struct fe_conn *c, const struct fe_http_req *req,
		      const char *user);
/* The `typing` and `presence_subscribe` WebSocket frames; false for
 * other types. */
bool fe_presence_ws(struct fe_conn *c, const char *type, json_t *o,
		    json_t *id);

#endif
