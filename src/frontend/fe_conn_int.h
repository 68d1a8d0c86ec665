/*
 * fe_conn_int: what fe_conn.c, fe_conn_timer.c, fe_conn_upgrade.c and
 * fe_conn_pipe.c share. Not for other
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
/* fe_conn_pipe.c: a new ticket (now c->tk_cur); the answers owed (while
 * any is, the connection is busy: only a send behind sends is dispatched);
 * whether ticket tk is a pipelined send; give the answer of c->tk_cur
 * (data malloc'd, taken; keep: the connection stays open after it),
 * written in its turn; free what c kept. */
uint16_t fe__conn_ticket(struct fe_conn *c, bool piped);
uint16_t fe__conn_owed(const struct fe_conn *c);
bool fe__conn_ticket_piped(const struct fe_conn *c, uint16_t tk);
void fe__conn_answer(struct fe_conn *c, char *data, size_t len, bool keep);
void fe__conn_pipe_free(struct fe_conn *c);
/* Answer the upgrade request req: 101 or an error (fe_conn_upgrade.c). */
void fe__conn_upgrade(struct fe_conn *c, const struct fe_http_req *req);

#endif
