/*
 * fe_admin: the admin routes under /v1/admin/ (DESIGN.md "confabctl").
 *
 *   GET /v1/admin/status   this node as it sees itself: role, leader, term,
 *                          commit and applied index, readiness and why not,
 *                          apply lag, segment fetch, store per tier,
 *                          data folder's free and total bytes
 *   GET /v1/admin/conversations/{id}/messages?fromSeq=&limit=
 *                          a conversation's messages from fromSeq (default
 *                          1), at most limit (200), whoever the members:
 *                          {"messages","lastSeq","hasMore"} as history
 *   GET /v1/admin/inspect  the store: appliedIndex, checkpointIndex,
 *                          partitions, segment size, seal age, records,
 *                          conversations, index bytes, tiers, and every
 *                          segment file {name, bytes, sealed}
 *   POST /v1/admin/verify  commit a verify marker (rft_mark.h); answers
 *                          {"markId","index"} once committed
 *   GET /v1/admin/verify/{markId}
 *                          this node's files at the marker: state unknown
 *                          (not applied here yet), hashing, done (digest,
 *                          files [{name, bytes, xxh3}]) or failed (error)
 *
 * Every admin route takes only an admin token (fe_auth.h): a user token, a
 * query token or a dev identity is 401, and a cluster file without
 * admin-secret makes every admin route 403. Answers are JSON (confab(7)).
 * Threads: loop thread only. Errors: answered to the client.
 */
#ifndef FE_ADMIN_H
#define FE_ADMIN_H

#include <stdbool.h>

#include "frontend/fe_conn.h"
#include "frontend/fe_http.h"

/* Answer req if its path is under /v1/admin/; false if it is not. */
bool fe_admin_http(struct fe_conn *c, const struct fe_http_req *req);

#endif
