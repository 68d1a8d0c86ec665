/*
 * fe_api: the routes of API.md over HTTP, and the client frames of a
 * WebSocket. Validation happens here (ids, types, sizes); rules that depend
 * on state (membership, idempotency, conflicts) are decided by the FSM when
 * the command is applied, so every node answers the same.
 * Ownership: requests that wait for Raft hold a connection reference.
 * Errors: answered to the client with API.md's codes. Threads: loop only.
 */
#ifndef FE_API_H
#define FE_API_H

#include <stddef.h>

#include "frontend/fe_conn.h"
#include "frontend/fe_http.h"

/* Answer one complete HTTP request (it may complete later). */
void fe_api_http(struct fe_conn *c, const struct fe_http_req *req);
/* Handle one WebSocket text message from an authenticated socket. */
void fe_api_ws_message(struct fe_conn *c, const char *text, size_t len);

#endif
