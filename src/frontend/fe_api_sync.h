/*
 * fe_api_sync: the sync routes of API.md "Offline inbox and sync" and the
 * WebSocket `sync` frame, over this node's inbox index (sync_inbox), which
 * it keeps from the committed-record tail (live and rebuilt).
 *
 *   GET /v1/sync?cursor=C&limit=L[&wait=S]    items after C (long poll)
 *   GET /v1/sync?conversationId=c&lastSeq=N   = messages?fromSeq=N+1
 *   WebSocket frame {"type":"sync","cursor"?}  replay, then `synced`
 *
 * The WS replay is paced by the socket: pages are written while its
 * pending output is under half of --ws-max-buffer and again as writes
 * complete. Live events for the socket meanwhile are held (counted against
 * the same limit, past which the socket is closed as too slow) and follow
 * `synced`, none at or before its cursor; the cursor never moves back
 * behind an item the socket already got.
 * A long poll holds a connection reference and a timer until an item for
 * its user is committed (checked on the next loop turn after the record, so
 * the whole entry is indexed) or its deadline passes.
 * Ownership: the state hangs off the server (fe_server.sync) and is freed by
 * fe_api_sync_release after fe_api_sync_close and the loop ran out.
 * Errors: answered to clients; an inbox that cannot take a record (-ENOMEM)
 * stops the process (better down than a node with a divergent index).
 * Threads: loop thread only.
 */
#ifndef FE_API_SYNC_H
#define FE_API_SYNC_H

#include <stdbool.h>

#include <jansson.h>

#include "common/cf_blob.h"
#include "frontend/fe_conn.h"
#include "frontend/fe_http.h"
#include "log/log_record.h"
#include "raft/rft_fsm.h"

struct fe_server;

/* Answer req if it is GET /v1/sync and return true; else false. */
bool fe_api_sync_http(struct fe_conn *c, const struct fe_http_req *req,
		      const char *user);
/* Handle a `sync` frame and return true; false for other types. */
bool fe_api_sync_ws(struct fe_conn *c, const char *type, json_t *o,
		    json_t *id);
/*
 * While a replay runs on c: take a reference to frame (an event of item id,
 * 0 for one without a cursor) to write after `synced`, and return true;
 * false when no replay runs (write it now).
 */
bool fe_api_sync_hold(struct fe_conn *c, struct cf_blob *frame, uint64_t id);
/* Bytes held by c's replay (0 if none). */
size_t fe_api_sync_held_bytes(const struct fe_conn *c);
/* c's writes completed down to under half the limit: go on replaying. */
void fe_api_sync_drained(struct fe_conn *c);
/* Free c's replay state, if any (the connection is being freed). */
void fe_api_sync_conn_free(struct fe_conn *c);
/* Index a committed record; live: wake long polls (false on rebuild). */
void fe_api_sync_on_record(struct fe_server *s, const struct log_record *rec,
			   const struct rft_conv *conv, bool live);
/* A rebuild read every record: put the inbox index in order. */
void fe_api_sync_rebuilt(struct fe_server *s);
/*
 * The highest messageId of any item the node has applied (0: none): a
 * `sync` from it returns what comes after (the first page of the
 * conversation list carries it as syncCursor, issue 12).
 */
uint64_t fe_api_sync_head(struct fe_server *s);
/* The inbox index (membership windows for search, fe_api_search.c). */
struct sync_inbox;
const struct sync_inbox *fe_api_sync_inbox(struct fe_server *s);
/*
 * Forget the inbox index (the state is about to be rebuilt from a fetched
 * store, on the node's worker: no long poll is left then, see
 * fe_api_sync_unavailable).
 */
void fe_api_sync_reset(struct fe_server *s);
/*
 * The state image (issue 11): write the inbox index's section (an empty
 * one before any record; a forked child may call it), and read it back on
 * open in place of the records it covers. Read: 0, CF_ECORRUPT or -ENOMEM;
 * on failure the index is left as it was (empty on open).
 */
struct cf_imgw;
struct cf_imgr;
void fe_api_sync_image_write(struct fe_server *s, struct cf_imgw *w);
int fe_api_sync_image_read(struct fe_server *s, struct cf_imgr *r);
/*
 * The node began rebuilding its state (fe_server_on_rebuilding): answer
 * pending long polls 503 now (fe_server_unavailable says why).
 */
void fe_api_sync_unavailable(struct fe_server *s);
/* Answer pending long polls (empty) and close their timers. */
void fe_api_sync_close(struct fe_server *s);
/* Free the index, once the loop has run out. */
void fe_api_sync_release(struct fe_server *s);

#endif
