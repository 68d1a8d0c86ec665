/*
 * fe_api_edit: message edits over HTTP (issue 13, API.md):
 *
 *   PATCH /v1/conversations/{id}/messages/{seq}
 *         {"content": "...", "clientEditId": "...", "mentions"?: [ids]}
 *   200   {"conversationId", "seq", "messageId" (the edit's), "editedAt",
 *          "duplicate"} once the edit is committed
 *
 * The frontend checks shapes: JSON, a clientEditId that is an id, non-empty
 * content within the send limit (413 payload_too_large past it), mentions
 * an array of at most 50 ids. Everything that depends on state (member,
 * sender, recalled, the edit window, mentions being members, a repeated
 * clientEditId) is decided by the FSM when the EDIT command is applied
 * (rft_apply_edit.c), on the leader, so every node answers the same; a
 * follower forwards the command like a send. The mentions are the
 * explicit list and the members the new content names with '@' (the
 * grammar of sends: fe_mention.h).
 * Ownership: a request waiting for Raft holds a connection reference.
 * Errors: answered with API.md's codes. Threads: loop thread only.
 */
#ifndef FE_API_EDIT_H
#define FE_API_EDIT_H

#include <stdbool.h>

#include "frontend/fe_conn.h"
#include "frontend/fe_http.h"

/*
 * Answer req (authenticated as user) if it is a PATCH of a message and
 * return true; false leaves it to the caller.
 */
bool fe_api_edit_http(struct fe_conn *c, const struct fe_http_req *req,
		      const char *user);

#endif
