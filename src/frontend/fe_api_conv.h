/*
 * fe_api_conv: the conversation routes of API.md beyond create and
 * history: the caller's conversation list, members, recall and receipts,
 * over HTTP and (receipts) WebSocket frames.
 *
 *   GET    /v1/conversations                       list, latest first
 *   POST   /v1/conversations/{id}/members          {"add":[],"remove":[]}
 *   DELETE /v1/conversations/{id}/messages/{seq}   recall
 *   POST   /v1/conversations/{id}/delivered|read   {"upToSeq":N}
 *   WebSocket frames `delivered` / `read`          {conversationId,upToSeq}
 *
 * The frontend validates shapes (JSON, types, ids, --max-group); every rule
 * that depends on state (membership, owner, 24 h sender rule, direct
 * conversations, monotonic pointers) is decided by the FSM when the command
 * is applied, so every node answers the same.
 * Ownership: requests waiting for Raft hold a connection reference; returned
 * json_t objects carry one reference for the caller.
 * Errors: answered to the client with API.md's codes.
 * Threads: loop thread only.
 */
#ifndef FE_API_CONV_H
#define FE_API_CONV_H

#include <stdbool.h>

#include <jansson.h>

#include "frontend/fe_conn.h"
#include "frontend/fe_http.h"
#include "raft/rft_fsm.h"

/*
 * Answer req (authenticated as user) if it is one of the routes above and
 * return true; false leaves it to the caller (other routes, and other
 * methods on /v1/conversations and /v1/conversations/{id}/messages).
 */
bool fe_api_conv_http(struct fe_conn *c, const struct fe_http_req *req,
		      const char *user);

/*
 * Handle WebSocket frame o of this type (`delivered`, `read`) and return
 * true; false for other types. id is the client's "id" (may be NULL).
 */
bool fe_api_conv_ws(struct fe_conn *c, const char *type, json_t *o,
		    json_t *id);

/*
 * The conversation object as user sees it: sync_conv_json's fields plus
 * readSeq, deliveredSeq, unread and lastMessage (null if none), and with
 * receipts, "receipts": {member: {deliveredSeq, readSeq}} for every member.
 * 0, or CF_ECORRUPT / -errno reading the last message, -ENOMEM.
 */
int fe_api_conv_json(struct rft_fsm *f, const struct rft_conv *cv,
		     const char *user, bool receipts, json_t **out);

#endif
