/*
 * fe_presence_sub: which sockets watch which users' presence (issue 11:
 * presence must not grow with audiences).
 *
 * A WebSocket subscribes with {"type":"presence_subscribe","users":[...]}
 * (at most FE_PRESENCE_SUB_MAX user ids), which replaces its set. The
 * answer is one `presence` frame with the state of every listed user, as
 * GET /v1/presence gives it, each entry with "subscribed": whether changes
 * of that user will be pushed. A socket may watch (fe_presence_may_watch)
 * its own user and users who share a conversation of at most
 * --presence-group-max members with it; a user seen only in bigger groups
 * is given by pull only (GET /v1/presence, or the answer to a subscribe),
 * and anyone else reads as offline. The check is made again before each
 * push, so a member removed from the conversation stops hearing.
 *
 * Cost: an index user -> watching sockets. A change of a user's online
 * state (fe_presence_sub_changed, from the presence tick) queues the user
 * on each watching socket, O(its watchers), nothing for an unwatched user;
 * fe_presence_sub_flush (end of the same tick) then writes each socket one
 * frame {"type":"presence","users":[{"userId","online","lastActiveAt"},...]}
 * with every user queued on it. A socket whose pending output would pass
 * --ws-max-buffer misses the frame (best effort, as all presence); one
 * that subscribes while its pending output is over half --ws-max-buffer
 * is closed with 1008, as a slow socket in fan-out.
 *
 * Ownership: the index belongs to the server's struct fe_presence; a
 * socket's set (allocated on its first subscribe) is freed by
 * fe_presence_sub_drop when it closes.
 * Errors: malformed frames get error frames; out of memory drops a change.
 * Threads: loop thread only.
 */
#ifndef FE_PRESENCE_SUB_H
#define FE_PRESENCE_SUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/cf_list.h"
#include "common/cf_map.h"

/* Users one socket may watch at once. */
#define FE_PRESENCE_SUB_MAX 256

struct fe_conn;
struct fe_presence;

struct fe_presence_subs {
	struct cf_map watched;	/* user id -> struct fe_watched */
	struct cf_list dirty;	/* struct fe_pres_sub with users queued */
	uint64_t frames;	/* presence frames written (tests, metrics) */
};

void fe_presence_subs_init(struct fe_presence_subs *ps);
/* Free the index (every socket's set was dropped before). */
void fe_presence_subs_release(struct fe_presence_subs *ps);

/* The `presence_subscribe` frame of socket c: replace its set, answer. */
void fe_presence_sub_ws(struct fe_conn *c, json_t *o, json_t *id);
/*
 * The `users` of a subscribe: an array of at most FE_PRESENCE_SUB_MAX
 * valid ids. 0, or CF_EBADREQ with err set (tests/fuzz/fuzz_api.c).
 */
int fe_presence_users_check(json_t *users, char *err, size_t errlen);
/* Socket c closes: leave every list (no-op if it never subscribed). */
void fe_presence_sub_drop(struct fe_presence_subs *ps, struct fe_conn *c);
/* User u's online state became online (last: latest activity, 0 never). */
void fe_presence_sub_changed(struct fe_presence *p, const char *u,
			     size_t ulen, bool online, uint64_t last);
/* Write one frame to each socket with users queued. */
void fe_presence_sub_flush(struct fe_presence *p);

#endif
