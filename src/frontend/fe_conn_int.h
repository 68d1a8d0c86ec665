/*
 * fe_conn_int: what fe_conn.c, fe_conn_timer.c and fe_conn_upgrade.c share. Not for other
 * modules. Errors: none. Threads: loop thread only.
 */
#ifndef FE_CONN_INT_H
#define FE_CONN_INT_H

#include "frontend/fe_conn.h"

/* The phases of an HTTP request (c->phase). */
enum { FE_CONN_PHASE_NONE = 0, FE_CONN_PHASE_HEAD = 1, FE_CONN_PHASE_BODY = 2 };

/* Set, move or cancel c's deadline after a change of its state. */
void fe_conn_timer_update(struct fe_conn *c);
/* Answer an HTTP error (status) and close after a lingering FIN. */
void fe_conn_http_error(struct fe_conn *c, int status);
/* Answer the upgrade request req: 101 or an error (fe_conn_upgrade.c). */
void fe__conn_upgrade(struct fe_conn *c, const struct fe_http_req *req);

#endif
