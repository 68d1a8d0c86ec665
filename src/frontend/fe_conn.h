/*
 * fe_conn: one client connection: HTTP/1.1 requests, answered in order,
 * then possibly a WebSocket after an upgrade.
 *
 * Pipelining (issue 14): a request is dispatched once the answers before it
 * are written, except sends: while every request in flight on the
 * connection is a send (POST /v1/messages, keep-alive, without an Origin
 * header: browsers do not pipeline), the next send is dispatched too, up to
 * FE_CONN_PIPE_MAX in flight, and their answers are written in request
 * order (fe_conn_pipe.c). Any other request waits, parsed, until those
 * before it are answered; so does a malformed one's error. Sends pipelined
 * on one connection are proposed in the order they arrived, like the sends
 * in flight on one WebSocket.
 *
 * States: FE_CONN_HTTP -> FE_CONN_WS -> FE_CONN_CLOSING -> (freed).
 * Requests that wait for Raft hold a reference (fe_conn_ref); the
 * connection's memory is freed only after its handle closed AND the last
 * reference is gone, so a late commit callback never touches freed memory:
 * it checks fe_conn_alive() and drops its answer when the socket is gone.
 * Writes: fe_conn_write_take() takes a malloc'd buffer, fe_conn_write_blob()
 * takes a reference to a shared blob (fan-out: one frame for every socket);
 * bytes written while nothing is queued in libuv are gathered and leave in
 * one write(2) per connection at the end of the loop turn, only a remainder
 * queued with uv_write (fe_conn_write.c).
 * Errors: write functions return 0, or CF_EUNAVAIL when the connection is
 * closing (the buffer or reference is released anyway).
 * Threads: loop thread only.
 *
 * Bounds (issue 11):
 * - At most cfg.max_connections are served; one more is accepted, answered
 *   503 `unavailable` with Retry-After and Connection: close, and closed
 *   without anything it sends being parsed (fe_conn_refuse).
 * - Deadlines, one per connection in the server's timing wheel (fe_wheel):
 *   a request's head must arrive within cfg.header_timeout_ms of its first
 *   byte and then its body within as long again, plus 1 s per 8 KiB of body
 *   received (else 408 and close); a new connection that sends nothing
 *   within cfg.header_timeout_ms is closed; an
 *   HTTP connection with no request in progress and no answer pending is
 *   closed after cfg.idle_timeout_ms without traffic; a WebSocket that sent
 *   nothing for half the idle timeout gets a ping, and one that sent nothing
 *   (not even a pong) for the whole idle timeout is closed with 1001.
 * - Memory: an idle connection holds no input buffer (reads land in the
 *   server's shared read buffer; only the bytes of an incomplete request or
 *   frame are copied out), no HTTP parser (allocated for a request, freed
 *   when it is answered and nothing follows) and no WebSocket message
 *   buffer. A WebSocket keeps sizeof(struct fe_conn) plus its user and
 *   device ids. metrics.conns.buffer_bytes sums what connections hold.
 */
#ifndef FE_CONN_H
#define FE_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "common/cf_blob.h"
#include "common/cf_buf.h"
#include "common/cf_list.h"
#include "frontend/fe_http.h"
#include "frontend/fe_wheel.h"
#include "frontend/fe_ws.h"

/* Sends in flight at once on one HTTP connection (see the top). */
#define FE_CONN_PIPE_MAX 32u

/* Size of a read, and of the server's shared read buffer. */
#define FE_CONN_READ_CHUNK (64u * 1024u)

struct fe_pres_sub;
struct fe_server;
struct fe_ws_sync;

enum fe_conn_state {
	FE_CONN_HTTP = 1,
	FE_CONN_WS = 2,
	FE_CONN_CLOSING = 3,
};

struct fe_conn {
	struct cf_list link;	/* in server->conns */
	struct fe_server *srv;
	uv_tcp_t tcp;
	struct fe_wheel_entry timer; /* the next deadline (srv->wheel) */
	enum fe_conn_state state;
	int refs;		/* 1 for the handle + 1 per pending request */
	/* HTTP: the request being received or answered; NULL while idle */
	struct fe_http_parser *http;
	struct cf_buf in;	/* received bytes not parsed yet */
	uint64_t out_bytes;	/* bytes gathered or handed to uv_write,
				   not yet written */
	struct cf_buf out_pend;	/* gathered this loop turn (fe_conn_write.c) */
	struct cf_list flush_link; /* in srv->flush_list while gathering */
	uint64_t t_req_ns;	/* when the current request arrived */
	uint64_t last_active_ms; /* bytes received (HTTP: or written) */
	uint64_t phase_ms;	/* when the request's head (body) began */
	uint64_t close_by_ms;	/* closing: dropped if not drained by */
	uint32_t held;		/* bytes counted in buffer_bytes */
	uint8_t phase;		/* HTTP request: 0 none, 1 head, 2 body */
	/* HTTP answers owed, in order (fe_conn_pipe.c) */
	uint16_t tk_next;	/* ticket of the next request */
	uint16_t tk_head;	/* oldest ticket not answered yet */
	uint16_t tk_cur;	/* the ticket fe_conn_respond() answers */
	uint16_t held_err;	/* a parse error's status, answered in turn */
	uint32_t piped_bits;	/* bit tk % FE_CONN_PIPE_MAX: a pipelined send */
	struct fe_conn_pipe *pipe; /* answers kept for their turn, or NULL */
	uint8_t waiting;	/* a parsed request waiting for its turn
				   (its fe_http event), or 0 */
	bool piping;		/* every request in flight is a send */
	bool processing;	/* inside conn_process() */
	bool reading;
	bool close_after_write; /* HTTP: Connection: close */
	bool lingering;		/* HTTP error sent: input dropped till EOF */
	bool refused;		/* over max_connections: 503 and close */
	bool in_borrowed;	/* in points into the server's read buffer */
	bool spoke;		/* it sent a byte (else: header timeout) */
	bool flush_queued;	/* on srv->flush_list */
	/* WebSocket */
	bool ws_close_sent;
	bool ping_sent;		/* idle: pinged, closed if still silent */
	bool awaiting_pong;	/* our ping not answered yet */
	struct fe_ws_parser ws;
	char *user;		/* "user\0device\0", one allocation */
	const char *device;	/* points into user's allocation */
	struct cf_list user_link; /* in struct fe_user's socket list */
	uint64_t first_live_id; /* first item fanned out to it (fe_api_sync) */
	uint64_t last_live_id;	/* last item written to it live */
	uint64_t synced_id;	/* cursor of the last `synced` it was sent:
				   fan-out skips items at or before it */
	struct fe_ws_sync *ws_sync; /* a `sync` replay in progress, or NULL */
	struct fe_pres_sub *pres_sub; /* presence_subscribe set, or NULL */
};


/* Accept a new connection from the server's listener. */
int fe_conn_accept(struct fe_server *srv, uv_stream_t *listener);
/* Accept one over the cap: answer 503 and close (see the top). */
int fe_conn_refuse(struct fe_server *srv, uv_stream_t *listener);
/* fe_wheel_fire_fn of srv->wheel: a connection's deadline passed. */
void fe_conn_on_deadline(struct fe_wheel_entry *e, void *arg);

void fe_conn_ref(struct fe_conn *c);
void fe_conn_unref(struct fe_conn *c);
/* False once the connection is closing: answers are dropped. */
bool fe_conn_alive(const struct fe_conn *c);
/* Start closing the connection (idempotent). */
void fe_conn_close(struct fe_conn *c);

int fe_conn_write_take(struct fe_conn *c, char *data, size_t len);
int fe_conn_write_blob(struct fe_conn *c, struct cf_blob *b);
/* Write what c gathered this turn now (before a shutdown); 0, or a negative
 * code after which c is closing. */
int fe_conn_flush(struct fe_conn *c);
/* Forget what c gathered (it closes). */
void fe_conn_write_drop(struct fe_conn *c);

/*
 * HTTP answers. Each one answers the request of ticket c->tk_cur (see the
 * top): the request being dispatched, or the send whose completion sets it
 * back. body may be NULL for an empty body.
 */
void fe_conn_respond(struct fe_conn *c, int status, const char *content_type,
		     const char *body, size_t len, const char *extra_headers);

/* The ticket of the request being dispatched: a request answered later
 * keeps it and names it again (fe_conn_answering) right before its
 * answer. */
static inline uint16_t fe_conn_ticket(const struct fe_conn *c)
{
	return c->tk_cur;
}

static inline void fe_conn_answering(struct fe_conn *c, uint16_t tk)
{
	c->tk_cur = tk;
}

/* WebSocket: send one text message / close with code and reason. */
int fe_conn_ws_send_text(struct fe_conn *c, const char *text, size_t len);
void fe_conn_ws_close(struct fe_conn *c, uint16_t code, const char *reason);

#endif
