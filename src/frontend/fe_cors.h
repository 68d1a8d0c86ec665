/*
 * fe_cors: cross-origin requests between the nodes of one cluster (issue 12).
 *
 * Each node is its own origin (scheme://host:port of its client= URL in the
 * cluster file), and the page fails over from one node to another, so a node
 * answers CORS for exactly the origins of the cluster's client URLs:
 * - a request whose Origin is one of them gets Access-Control-Allow-Origin
 *   (that Origin, verbatim) and Access-Control-Expose-Headers: Retry-After;
 *   every response to a /v1/ path says Vary: Origin (a cached answer made
 *   for one origin is never reused for another);
 * - OPTIONS with an Origin on a /v1/ path is a preflight, answered before
 *   authentication: 204 with the methods, request headers and max age below
 *   for a cluster origin, 403 `forbidden` for any other;
 * - any other Origin gets no Access-Control-* header at all (the browser
 *   then withholds the answer from the page);
 * - a WebSocket upgrade (GET /v1/ws) whose Origin is neither a cluster
 *   origin nor the request's own Host is refused with 403 (cross-site
 *   WebSocket hijacking). Requests without Origin (non-browser clients) are
 *   served as before.
 * Matching: scheme (http or https) and host compare ASCII case-insensitive,
 * an absent port is the scheme's default (80, 443); an Origin is exactly
 * scheme://host[:port] (a path, even "/", userinfo or "null" never match);
 * origins longer than FE_CORS_ORIGIN_MAX never match. Nothing is copied
 * beyond that bound.
 * Ownership: nothing is allocated but the bytes appended to a cf_buf.
 * Errors: fe_cors_append returns 0 or -ENOMEM. Threads: any (pure), except
 * fe_cors_preflight (loop thread, answers on the connection).
 */
#ifndef FE_CORS_H
#define FE_CORS_H

#include <stdbool.h>

#include "common/cf_buf.h"
#include "common/cf_conf.h"
#include "frontend/fe_http.h"

struct fe_conn;

/* An Origin header longer than this never matches. */
#define FE_CORS_ORIGIN_MAX 256
#define FE_CORS_ALLOW_METHODS "GET, POST, PATCH, DELETE, OPTIONS"
#define FE_CORS_ALLOW_HEADERS "Authorization, X-Confab-User, Content-Type"
#define FE_CORS_EXPOSE_HEADERS "Retry-After"
#define FE_CORS_MAX_AGE "600" /* seconds */

/*
 * True when origin (an Origin header value) is the origin of url (a client
 * URL "http://host:port[/path]").
 */
bool fe_cors_origin_is(struct cf_str origin, const char *url);
/* True when origin is the origin of one of cl's client URLs. */
bool fe_cors_cluster_origin(const struct cf_cluster *cl, struct cf_str origin);
/*
 * True when origin names host (a Host header value, "host[:port]"), with
 * the default port of origin's scheme when either omits it.
 */
bool fe_cors_same_host(struct cf_str origin, struct cf_str host);
/*
 * True when a WebSocket upgrade with this request's headers may go on: no
 * Origin, a cluster origin, or the request's own Host.
 */
bool fe_cors_ws_allowed(const struct cf_cluster *cl,
			const struct fe_http_req *req);
/*
 * Append the CORS header lines of the answer to req to b (nothing when req
 * is not a /v1/ request; Vary alone when its Origin is absent or foreign).
 * 0 or -ENOMEM (b unchanged on failure).
 */
int fe_cors_append(struct cf_buf *b, const struct cf_cluster *cl,
		   const struct fe_http_req *req);
/*
 * If req is a preflight (OPTIONS with an Origin on a /v1/ path), answer it
 * (204 or 403, see the top) and return true; else return false.
 */
bool fe_cors_preflight(struct fe_conn *c, const struct fe_http_req *req);

#endif
