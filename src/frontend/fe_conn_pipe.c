#include "config.h"

/*
 * fe_conn_pipe: HTTP answers in request order while several sends of one
 * connection are in flight (see fe_conn.h, "Pipelining").
 *
 * Every request dispatched on a connection (and every error answer of the
 * connection itself) takes a ticket, c->tk_next++; c->tk_head is the oldest
 * ticket whose answer is not written yet, so tk_next - tk_head answers are
 * owed (at most FE_CONN_PIPE_MAX). fe_conn_respond() answers ticket
 * c->tk_cur: the request being dispatched, or, from a send's completion,
 * the ticket the call kept (fe_api.c sets c->tk_cur back to it). An answer
 * for the head is written at once, followed by every later one already
 * kept; an answer for a later ticket is kept in a ring of
 * FE_CONN_PIPE_MAX slots, allocated while one waits and freed when the
 * ring is empty (an idle connection holds none).
 *
 * An answer that closes the connection (Connection: close: a 400, a 5xx)
 * stops the queue: nothing more is dispatched, it is written after those
 * before it, and every later answer is dropped (the client sees the
 * connection close after it and sends those requests again: a send is
 * idempotent by clientMsgId).
 *
 * Errors: none returned: without memory for a slot the connection closes
 * (its pending sends still complete; their answers are dropped).
 * Threads: loop thread only.
 */
#include "frontend/fe_conn.h"
#include "frontend/fe_conn_int.h"

#include <assert.h>
#include <stdlib.h>

struct fe_conn_pipe {
	struct {
		char *data; /* malloc'd answer, NULL while not given */
		size_t len;
		bool keep; /* the connection stays open after it */
	} slot[FE_CONN_PIPE_MAX];
};

void fe__conn_pipe_free(struct fe_conn *c)
{
	if (c->pipe == NULL)
		return;
	for (unsigned i = 0; i < FE_CONN_PIPE_MAX; i++)
		free(c->pipe->slot[i].data);
	free(c->pipe);
	c->pipe = NULL;
}

uint16_t fe__conn_owed(const struct fe_conn *c)
{
	return (uint16_t)(c->tk_next - c->tk_head);
}

uint16_t fe__conn_ticket(struct fe_conn *c, bool piped)
{
	uint16_t tk = c->tk_next++;
	uint32_t bit = 1u << (tk % FE_CONN_PIPE_MAX);

	assert(fe__conn_owed(c) <= FE_CONN_PIPE_MAX);
	if (piped)
		c->piped_bits |= bit;
	else
		c->piped_bits &= ~bit;
	c->tk_cur = tk;
	return tk;
}

bool fe__conn_ticket_piped(const struct fe_conn *c, uint16_t tk)
{
	return (c->piped_bits >> (tk % FE_CONN_PIPE_MAX)) & 1u;
}

/* Write the head's answer; false once the connection closes after it. */
static bool pipe_write_head(struct fe_conn *c, char *data, size_t len,
			    bool keep)
{
	c->tk_head++;
	if (!keep)
		c->close_after_write = true;
	fe_conn_write_take(c, data, len);
	return keep && c->state == FE_CONN_HTTP;
}

void fe__conn_answer(struct fe_conn *c, char *data, size_t len, bool keep)
{
	uint16_t off = (uint16_t)(c->tk_cur - c->tk_head);
	bool go;

	if (off >= fe__conn_owed(c) || c->close_after_write ||
	    c->state != FE_CONN_HTTP) {
		/* not owed (answered before, or after a closing answer) */
		free(data);
		return;
	}
	if (off > 0) {
		unsigned i = c->tk_cur % FE_CONN_PIPE_MAX;
		if (c->pipe == NULL) {
			c->pipe = calloc(1, sizeof *c->pipe);
			if (c->pipe == NULL) {
				free(data);
				fe_conn_close(c);
				return;
			}
		}
		assert(c->pipe->slot[i].data == NULL);
		c->pipe->slot[i].data = data;
		c->pipe->slot[i].len = len;
		c->pipe->slot[i].keep = keep;
		if (!keep)
			c->piping = false; /* nothing more is dispatched */
		return;
	}
	go = pipe_write_head(c, data, len, keep);
	while (go && c->pipe != NULL && fe__conn_owed(c) > 0) {
		unsigned i = c->tk_head % FE_CONN_PIPE_MAX;
		char *d = c->pipe->slot[i].data;
		if (d == NULL)
			break; /* the next one is still on its way */
		c->pipe->slot[i].data = NULL;
		go = pipe_write_head(c, d, c->pipe->slot[i].len,
				     c->pipe->slot[i].keep);
	}
	if (!go || fe__conn_owed(c) == 0)
		fe__conn_pipe_free(c);
}
