/*
 * bench_http: the benchmark's minimal HTTP/1.1 client on libuv.
 *
 * Purpose: confab-bench's fan-out mode needs a few keep-alive connections
 * that carry one request at a time (sends, the conversation set-up, GET
 * /metrics). bench_http_response_length() frames one response the way
 * confabd writes it: a status line, headers with Content-Length, and that
 * many body bytes (204/304 without a body); chunked answers are refused.
 *
 * Ownership: a struct bh_conn is owned by the caller and must stay in place
 * from bh_conn_init() until bh_conn_close() and a uv_run that finishes the
 * loop's close callbacks. The body handed to the done
 * callback is borrowed: valid during the call only.
 *
 * Errors: bh_conn_request() returns 0, -EBUSY when a request is already in
 * flight, or -ENOMEM. Connection failures and unframeable answers reach the
 * done callback as a negative status (a libuv code, or -EPROTO); the next
 * request reconnects.
 *
 * Threads: everything runs on the loop thread.
 */
#ifndef CONFAB_BENCH_HTTP_H
#define CONFAB_BENCH_HTTP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/cf_buf.h"

/* One node: its address and its Host header ("127.0.0.1:8001"). */
struct bh_target {
	struct sockaddr_in addr;
	char host[80];
};

/*
 * Length of one complete response at the start of d (len bytes), 0 if more
 * bytes are needed, -1 if it cannot be framed. When complete, *status is
 * the HTTP status and *body_off the offset of the body.
 */
long bench_http_response_length(const char *d, size_t len, int *status,
				size_t *body_off);

struct bh_conn;
/* status: the HTTP status, or a negative code when there is no answer. */
typedef void (*bh_done_cb)(struct bh_conn *c, int status, const char *body,
			   size_t len);

struct bh_conn {
	void *data; /* the caller's */
	uv_loop_t *loop;
	const struct bh_target *t;
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	struct cf_buf out, in;
	bh_done_cb done;
	int open;	/* tcp handle initialised, close not started */
	int closing;	/* uv_close in progress */
	int connected;
	int busy;	/* a request waits for its answer */
	int writing;
	int final;	/* bh_conn_close called: no reconnect */
	uint64_t sent_ns; /* cf_mono_ns() when the request was written */
};

void bh_conn_init(struct bh_conn *c, uv_loop_t *loop,
		  const struct bh_target *t);
/*
 * Send one request (body may be NULL); user, when not NULL, goes in
 * X-Confab-User (dev auth). Connects first if needed.
 */
int bh_conn_request(struct bh_conn *c, const char *method, const char *path,
		    const char *user, const char *body, size_t body_len,
		    bh_done_cb done);
/*
 * Close for good; a pending request is dropped without its callback. The
 * handle is closed once the loop runs its close callbacks.
 */
void bh_conn_close(struct bh_conn *c);
/* Release the buffers once the handle is closed. */
void bh_conn_release(struct bh_conn *c);

#endif
