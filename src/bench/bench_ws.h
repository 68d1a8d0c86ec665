/*
 * bench_ws: the benchmark's minimal client-side WebSocket (RFC 6455) on
 * libuv.
 *
 * Purpose: confab-bench's fan-out mode holds one socket per group member
 * and times the `message` events they receive. Written by hand because no
 * packaged C WebSocket client library is available to the build (the
 * server side lives in src/frontend, which the bench does not reuse: the
 * bench speaks the protocol from the outside and checks the server's
 * handshake answer, Sec-WebSocket-Accept included). It does only what the
 * bench needs: the upgrade handshake, reading unmasked server frames (text,
 * fragmented or not, ping answered with pong, close), and sending masked
 * control frames (close, pong); it never sends data frames.
 *
 * Ownership: a struct bw_sock is owned by the caller and must stay in place
 * from bw_connect() until bw_close() and a uv_run that finishes the loop's
 * close callbacks. The payload passed to on_text is borrowed for the call.
 *
 * Errors: bw_connect() returns 0 or a negative libuv code. Later failures
 * (connect, handshake refused or bad accept key, malformed frame, EOF,
 * close frame) call on_close once with the close code received, or 0
 * without one, and a negative code for local errors; then the socket is
 * closed and done.
 *
 * Threads: everything runs on the loop thread.
 */
#ifndef CONFAB_BENCH_WS_H
#define CONFAB_BENCH_WS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/cf_buf.h"

enum bw_state { BW_IDLE, BW_CONNECTING, BW_HANDSHAKE, BW_OPEN, BW_CLOSED };

struct bw_sock;
struct bw_ops {
	void (*on_open)(struct bw_sock *s);
	void (*on_text)(struct bw_sock *s, const char *p, size_t n);
	void (*on_close)(struct bw_sock *s, int code);
};

struct bw_sock {
	void *data; /* the caller's */
	const struct bw_ops *ops;
	enum bw_state state;
	int handle_open; /* tcp handle initialised, close not started */
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	char hs[640];       /* the upgrade request, alive until written */
	struct cf_buf in;   /* bytes read, not yet framed */
	struct cf_buf msg;  /* a fragmented text message being assembled */
	char accept[32];    /* the Sec-WebSocket-Accept expected */
	uint32_t mask_state; /* xorshift32 of the data frames' mask keys */
};

/* Connect to addr and upgrade GET path (Host: host). */
int bw_connect(struct bw_sock *s, uv_loop_t *loop,
	       const struct sockaddr_in *addr, const char *host,
	       const char *path, const struct bw_ops *ops);
/*
 * Queue one masked text frame of n bytes (any length); the bytes are copied.
 * Returns 0, -ENOTCONN when the socket is not open, -ENOMEM, or a libuv
 * code; a failed write later closes the socket through on_close.
 */
int bw_send_text(struct bw_sock *s, const char *p, size_t n);
/* Send a close frame (1000) and close; no callback follows. */
void bw_close(struct bw_sock *s);
/* Release the buffers once the handle is closed. */
void bw_release(struct bw_sock *s);

#endif
