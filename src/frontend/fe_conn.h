/*
 * fe_conn: one client connection: HTTP/1.1 requests, answered one at a time
 * in order (pipelined requests wait in the input buffer while an answer is
 * pending), then possibly a WebSocket after an upgrade.
 *
 * States: FE_CONN_HTTP -> FE_CONN_WS -> FE_CONN_CLOSING -> (freed).
 * Requests that wait for Raft hold a reference (fe_conn_ref); the
 * connection's memory is freed only after its handle closed AND the last
 * reference is gone, so a late commit callback never touches freed memory:
 * it checks fe_conn_alive() and drops its answer when the socket is gone.
 * Writes: fe_conn_write_take() takes a malloc'd buffer, fe_conn_write_blob()
 * takes a reference to a shared blob (fan-out: one frame for every socket).
 * Errors: write functions return 0, or CF_EUNAVAIL when the connection is
 * closing (the buffer or reference is released anyway).
 * Threads: loop thread only.
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
#include "frontend/fe_ws.h"

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
	enum fe_conn_state state;
	int refs;		/* 1 for the handle + 1 per pending request */
	struct fe_http_parser http;
	struct cf_buf in;	/* received bytes not parsed yet */
	bool busy;		/* an HTTP answer is pending */
	bool processing;	/* inside conn_process() */
	bool reading;
	bool close_after_write; /* HTTP: Connection: close */
	uint64_t out_bytes;	/* bytes handed to uv_write, not yet done */
	uint64_t t_req_ns;	/* when the current request arrived */
	/* WebSocket */
	struct fe_ws_parser ws;
	char user[129];
	char device[65];
	struct cf_list user_link; /* in struct fe_user's socket list */
	uint64_t last_active_ms;
	bool ws_close_sent;
	uint64_t first_live_id; /* first item fanned out to it (fe_api_sync) */
	uint64_t last_live_id;	/* last item written to it live */
	struct fe_ws_sync *ws_sync; /* a `sync` replay in progress, or NULL */
	uint64_t close_by_ms;	/* slow socket: dropped if not drained by */
	bool lingering;		/* HTTP error sent: input dropped till EOF */
};

/* Accept a new connection from the server's listener. */
int fe_conn_accept(struct fe_server *srv, uv_stream_t *listener);

void fe_conn_ref(struct fe_conn *c);
void fe_conn_unref(struct fe_conn *c);
/* False once the connection is closing: answers are dropped. */
bool fe_conn_alive(const struct fe_conn *c);
/* Start closing the connection (idempotent). */
void fe_conn_close(struct fe_conn *c);

int fe_conn_write_take(struct fe_conn *c, char *data, size_t len);
int fe_conn_write_blob(struct fe_conn *c, struct cf_blob *b);

/*
 * HTTP answers. Each one ends the current request: the next pipelined one
 * is parsed after it. body may be NULL for an empty body.
 */
void fe_conn_respond(struct fe_conn *c, int status, const char *content_type,
		     const char *body, size_t len, const char *extra_headers);

/* WebSocket: send one text message / close with code and reason. */
int fe_conn_ws_send_text(struct fe_conn *c, const char *text, size_t len);
void fe_conn_ws_close(struct fe_conn *c, uint16_t code, const char *reason);

#endif
