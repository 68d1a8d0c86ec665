/*
 * fe_api_search: the search and mentions routes (issue 13) over this
 * node's search index (sync/sync_search.h):
 *
 *   GET /v1/search?q=Q[&conversationId=C][&cursor=K][&limit=L][&consistent=1]
 *       -> {"results": [message objects, newest first], "hasMore",
 *           "cursor"? (when hasMore)}
 *   GET /v1/mentions[?cursor=K][&limit=L][&consistent=1]
 *       -> {"mentions": [message objects with "mentionsMe": true],
 *           "hasMore", "cursor"?}
 *
 * Only the caller's conversations, only messages inside its membership
 * windows (joined..left, from the inbox index), never recalled ones (the
 * hits are rendered from the store on the loop, so the content is the
 * current one). A query scans at most FE_SEARCH_BUDGET index rows: a page
 * may then hold fewer than limit results with "hasMore": true and a
 * cursor to continue from. With --search=off both routes answer 404
 * not_found ("search is off on this node").
 *
 * Ownership: a request in flight references its connection.
 * Errors: answered to the client (400, 404, 503...).
 * Threads: loop thread only.
 */
#ifndef FE_API_SEARCH_H
#define FE_API_SEARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "common/cf_buf.h"

struct fe_conn;
struct fe_http_req;
struct fe_server;

#define FE_SEARCH_Q_MAX 256	  /* bytes of q after trimming */
#define FE_SEARCH_LIMIT_DEFAULT 20
#define FE_SEARCH_LIMIT_MAX 100
#define FE_SEARCH_BUDGET 20000	  /* index rows scanned per request */
#define FE_SEARCH_WAIT_MS 10000	  /* consistent=1: index catch-up */

/* The routes above: true if the path was one of them (answered). */
bool fe_api_search_http(struct fe_conn *c, const struct fe_http_req *req,
			const char *user);

/*
 * The parts of a request read without the node (tests/fuzz/fuzz_api.c):
 * the cursor ("s" and a messageId in base 36: 0 or CF_EBADREQ; str writes
 * it back), and q (blanks trimmed, 1 to FE_SEARCH_Q_MAX bytes) into the
 * FTS5 expression *match (0, or CF_EBADREQ with *err set, or -ENOMEM).
 */
int fe_search_cursor_parse(struct cf_str s, uint64_t *out);
void fe_search_cursor_str(uint64_t v, char out[16]);
int fe_search_query(struct cf_str q, struct cf_buf *match, const char **err);

/* The confab_search_* metrics, appended to b. */
int fe_api_search_metrics(struct fe_server *s, struct cf_buf *b);

#endif
