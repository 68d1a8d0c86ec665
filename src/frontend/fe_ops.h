/*
 * fe_ops: operational routes that need no user: GET /healthz, /readyz,
 * /metrics (Prometheus text) and /v1/cluster (roles, term, commit and
 * applied index, every node's client URL, reachability and socket count).
 * Threads: loop thread only. Errors: answered to the client.
 */
#ifndef FE_OPS_H
#define FE_OPS_H

#include <stdbool.h>

#include "frontend/fe_conn.h"
#include "frontend/fe_http.h"

/* Answer req if it is an operational route; false if it is not one. */
bool fe_ops_http(struct fe_conn *c, const struct fe_http_req *req);

#endif
