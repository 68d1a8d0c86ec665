/*
 * fe_session: the WebSocket sessions of this node and fan-out to them.
 *
 * Every open, authenticated WebSocket is listed under its user. Committed
 * records reach them through fe_fanout (the queue between apply and the
 * sockets), which calls fe_session_event() for each recipient: the event's
 * frame is built once, as a shared blob, and the same blob is written to
 * every socket of the user on this node (every node fans out to its own
 * sockets, so nothing crosses the cluster twice). A socket whose pending
 * output would pass --ws-max-buffer is closed with 1008; its client syncs
 * from its cursor.
 * Ownership: sessions are the connections themselves (struct fe_conn).
 * Errors: none reported (fan-out is best effort per socket).
 * Threads: loop thread only.
 */
#ifndef FE_SESSION_H
#define FE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cf_blob.h"
#include "frontend/fe_conn.h"

/* How long a socket closed with 1008 (too slow) may take to drain. */
#define FE_SLOW_DRAIN_MS 5000

struct fe_server;

void fe_session_opened(struct fe_conn *c);
void fe_session_closed(struct fe_conn *c);
/* The socket spoke (for presence). */
void fe_session_touch(struct fe_conn *c);
/*
 * Write (or hold, during a `sync` replay) the event frame of item id (0: a
 * receipt, no cursor) to every open local socket of user m (len bytes),
 * except those whose replay already covered id; a socket over
 * --ws-max-buffer is closed instead. Returns the frames written or held.
 */
unsigned fe_session_event(struct fe_server *s, const char *m, size_t len,
			  struct cf_blob *frame, uint64_t id);
/* True if user m (len bytes) has a WebSocket on this node. */
bool fe_session_has_user(const struct fe_server *s, const char *m,
			 size_t len);
/* Write frame to every open local socket of user (len bytes). */
void fe_session_send_user(struct fe_server *s, const char *user, size_t len,
			  struct cf_blob *frame);
/* Free the user table (server close, after every socket closed). */
void fe_session_release(struct fe_server *s);

#endif
