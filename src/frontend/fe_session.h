/*
 * fe_session: the WebSocket sessions of this node and fan-out to them.
 *
 * Every open, authenticated WebSocket is listed under its user. A committed
 * record (message, recall, receipt, conversation created or members
 * changed; frames of sync_read.h's sync_event_json) is fanned out to the
 * sockets of the conversation's members once its entry applied (the
 * sender's own sockets included), and a members_changed also to the members
 * it removed, on this node only (every node fans out to its own sockets, so
 * nothing crosses the cluster twice). The frame is built once, as a shared
 * blob, and the same blob is written to every socket. A socket whose
 * pending output would pass --ws-max-buffer is closed with 1008; its client
 * syncs from its cursor.
 * Ownership: sessions are the connections themselves (struct fe_conn).
 * Errors: none reported (fan-out is best effort per socket).
 * Threads: loop thread only.
 */
#ifndef FE_SESSION_H
#define FE_SESSION_H

#include "common/cf_blob.h"
#include "frontend/fe_conn.h"
#include "log/log_record.h"
#include "raft/rft_fsm.h"

/* How long a socket closed with 1008 (too slow) may take to drain. */
#define FE_SLOW_DRAIN_MS 5000

struct fe_server;

void fe_session_opened(struct fe_conn *c);
void fe_session_closed(struct fe_conn *c);
/* The socket spoke (for presence). */
void fe_session_touch(struct fe_conn *c);
/* Fan a committed record out to local sockets of conv's members. */
void fe_session_fanout(struct fe_server *s, const struct log_record *rec,
		       const struct rft_conv *conv);
/* Write frame to every open local socket of user (len bytes). */
void fe_session_send_user(struct fe_server *s, const char *user, size_t len,
			  struct cf_blob *frame);
/* Free the user table (server close, after every socket closed). */
void fe_session_release(struct fe_server *s);

#endif
