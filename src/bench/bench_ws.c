#include "config.h"

/*
 * bench_ws: see bench_ws.h (and there why it is written by hand).
 *
 * Handshake: "GET path HTTP/1.1" with Host, Upgrade: websocket,
 * Connection: Upgrade, Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key of
 * 16 random bytes in base64. The answer must be 101 and carry
 * Sec-WebSocket-Accept = base64(SHA-1(key + RFC 6455 GUID)); bytes after
 * its blank line are already frames.
 *
 * Server frames (RFC 6455 section 5.2): byte 0 is FIN (0x80) and the
 * opcode (low 4 bits); byte 1 is MASK (0x80, must be clear from a server)
 * and a 7-bit length, where 126 means a 16-bit and 127 a 64-bit big-endian
 * length follows. Text (1) and continuation (0) data go to on_text once the
 * FIN frame completes the message; binary (2) is not expected and closes;
 * ping (9) is answered with a pong carrying its payload; pong (10) is
 * ignored; close (8) reports its 16-bit code (0 without one) and closes.
 *
 * Client frames are masked with a 4-byte key (MASK bit set). Control frames
 * (close, pong; payload <= 125 bytes) take a random key and go with
 * uv_try_write: they are tiny and a socket the bench drops needs no
 * guarantee that the frame left. Text frames (bw_send_text) take their key
 * from a xorshift32 seeded at random per socket (cheap: the bench sends tens
 * of thousands a second; the key only has to vary, RFC 6455 section 10.3
 * guards against proxies the bench never crosses) and go with uv_write from
 * a heap copy freed in the write callback.
 */

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench/bench_ws.h"

#define WS_HEAD_MAX 16384
#define WS_FRAME_MAX (64u << 20)

static void sock_finish(struct bw_sock *s, int code)
{
	int was_open = s->state != BW_CLOSED;

	s->state = BW_CLOSED;
	if (s->handle_open) {
		s->handle_open = 0;
		uv_close((uv_handle_t *)&s->tcp, NULL);
	}
	if (was_open && s->ops->on_close != NULL)
		s->ops->on_close(s, code);
}

/* Send one masked control frame (payload at most 125 bytes). */
static void send_control(struct bw_sock *s, unsigned opcode,
			 const unsigned char *p, size_t n)
{
	unsigned char f[2 + 4 + 125], *mask = f + 2;
	uv_buf_t b;
	size_t i;

	if (n > 125)
		n = 125;
	f[0] = (unsigned char)(0x80 | opcode);
	f[1] = (unsigned char)(0x80 | n);
	if (RAND_bytes(mask, 4) != 1)
		memset(mask, 0x5a, 4);
	for (i = 0; i < n; i++)
		f[6 + i] = p[i] ^ mask[i % 4];
	b = uv_buf_init((char *)f, (unsigned)(6 + n));
	(void)uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
}

/* Handle one complete frame; returns 0, or 1 when the socket is done. */
static int on_frame(struct bw_sock *s, unsigned fin, unsigned op,
		    const unsigned char *p, size_t n)
{
	int code;

	switch (op) {
	case 0x0:
	case 0x1:
		if (op == 0x1 && s->msg.len > 0) {
			sock_finish(s, -EPROTO);
			return 1;
		}
		if (fin && s->msg.len == 0) {
			s->ops->on_text(s, (const char *)p, n);
			return s->state == BW_CLOSED;
		}
		if (cf_buf_append(&s->msg, p, n) != 0) {
			sock_finish(s, -ENOMEM);
			return 1;
		}
		if (fin) {
			s->ops->on_text(s, s->msg.data, s->msg.len);
			cf_buf_truncate(&s->msg, 0);
		}
		return s->state == BW_CLOSED;
	case 0x8:
		code = n >= 2 ? (p[0] << 8) | p[1] : 0;
		send_control(s, 0x8, p, n >= 2 ? 2 : 0);
		sock_finish(s, code);
		return 1;
	case 0x9:
		send_control(s, 0xA, p, n);
		return 0;
	case 0xA:
		return 0;
	default:
		sock_finish(s, -EPROTO);
		return 1;
	}
}

/* Frame and handle what s->in holds; stops at an incomplete frame. */
static void read_frames(struct bw_sock *s)
{
	const unsigned char *d;
	size_t off = 0, hl, avail;
	uint64_t n;
	unsigned i;

	while (s->state == BW_OPEN) {
		d = (const unsigned char *)s->in.data + off;
		avail = s->in.len - off;
		if (avail < 2)
			break;
		if (d[1] & 0x80) { /* a server never masks */
			sock_finish(s, -EPROTO);
			return;
		}
		n = d[1] & 0x7f;
		hl = 2;
		if (n == 126) {
			if (avail < 4)
				break;
			n = ((uint64_t)d[2] << 8) | d[3];
			hl = 4;
		} else if (n == 127) {
			if (avail < 10)
				break;
			for (n = 0, i = 0; i < 8; i++)
				n = (n << 8) | d[2 + i];
			hl = 10;
		}
		if (n > WS_FRAME_MAX) {
			sock_finish(s, -EMSGSIZE);
			return;
		}
		if (avail < hl + n)
			break;
		off += hl + (size_t)n;
		if (on_frame(s, d[0] & 0x80, d[0] & 0x0f, d + hl, (size_t)n))
			return;
	}
	if (s->state == BW_OPEN)
		cf_buf_consume(&s->in, off);
}

/* Check the 101 answer; 1 when complete and good, 0 for more, -1 bad. */
static int read_handshake(struct bw_sock *s)
{
	const char *d = s->in.data, *end, *p, *v;
	size_t hl;

	end = memmem(d, s->in.len, "\r\n\r\n", 4);
	if (end == NULL)
		return s->in.len > WS_HEAD_MAX ? -1 : 0;
	if (s->in.len < 12 || strncmp(d, "HTTP/1.1 101", 12) != 0)
		return -1;
	hl = (size_t)(end - d) + 4;
	for (p = d; p != NULL && p < end;
	     p = memmem(p, (size_t)(end - p), "\r\n", 2)) {
		p += 2;
		if (strncasecmp(p, "sec-websocket-accept:", 21) != 0)
			continue;
		v = p + 21;
		while (*v == ' ')
			v++;
		if (strncmp(v, s->accept, strlen(s->accept)) != 0)
			return -1;
		cf_buf_consume(&s->in, hl);
		return 1;
	}
	return -1;
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct bw_sock *s = h->data;

	(void)hint;
	if (cf_buf_reserve(&s->in, 65536) != 0) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	buf->base = s->in.data + s->in.len;
	buf->len = s->in.cap - s->in.len;
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct bw_sock *s = st->data;
	int rv;

	(void)buf;
	if (nread == 0)
		return;
	if (nread < 0) {
		sock_finish(s, nread == UV_EOF ? 0 : (int)nread);
		return;
	}
	s->in.len += (size_t)nread;
	if (s->state == BW_HANDSHAKE) {
		rv = read_handshake(s);
		if (rv == 0)
			return;
		if (rv < 0) {
			sock_finish(s, -EPROTO);
			return;
		}
		s->state = BW_OPEN;
		if (s->ops->on_open != NULL)
			s->ops->on_open(s);
	}
	read_frames(s);
}

static void write_cb(uv_write_t *req, int status)
{
	struct bw_sock *s = req->data;

	if (status < 0 && status != UV_ECANCELED && s->state != BW_CLOSED)
		sock_finish(s, status);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct bw_sock *s = req->data;
	uv_buf_t b;
	int rv;

	if (s->state == BW_CLOSED)
		return;
	if (status < 0) {
		sock_finish(s, status);
		return;
	}
	uv_tcp_nodelay(&s->tcp, 1);
	s->state = BW_HANDSHAKE;
	rv = uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb);
	if (rv == 0) {
		b = uv_buf_init(s->hs, (unsigned)strlen(s->hs));
		s->wreq.data = s;
		rv = uv_write(&s->wreq, (uv_stream_t *)&s->tcp, &b, 1,
			      write_cb);
	}
	if (rv != 0)
		sock_finish(s, rv);
}

int bw_connect(struct bw_sock *s, uv_loop_t *loop,
	       const struct sockaddr_in *addr, const char *host,
	       const char *path, const struct bw_ops *ops)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char raw[16], md[SHA_DIGEST_LENGTH];
	char key[32], in[96];
	int rv, n;

	s->ops = ops;
	cf_buf_init(&s->in);
	cf_buf_init(&s->msg);
	if (RAND_bytes(raw, sizeof raw) != 1 ||
	    RAND_bytes((unsigned char *)&s->mask_state,
		       sizeof s->mask_state) != 1)
		return UV_EIO;
	s->mask_state |= 1; /* xorshift32 must not start at 0 */
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
	n = snprintf(in, sizeof in, "%s%s", key, guid);
	SHA1((const unsigned char *)in, (size_t)n, md);
	EVP_EncodeBlock((unsigned char *)s->accept, md, SHA_DIGEST_LENGTH);
	n = snprintf(s->hs, sizeof s->hs,
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n\r\n",
		     path, host, key);
	if (n < 0 || (size_t)n >= sizeof s->hs)
		return UV_EINVAL;
	rv = uv_tcp_init(loop, &s->tcp);
	if (rv != 0)
		return rv;
	s->tcp.data = s;
	s->creq.data = s;
	s->handle_open = 1;
	s->state = BW_CONNECTING;
	rv = uv_tcp_connect(&s->creq, &s->tcp, (const struct sockaddr *)addr,
			    connect_cb);
	if (rv != 0) {
		s->state = BW_CLOSED;
		s->handle_open = 0;
		uv_close((uv_handle_t *)&s->tcp, NULL);
	}
	return rv;
}

struct wframe {
	uv_write_t req;
	struct bw_sock *s;
	char data[];
};

static void text_write_cb(uv_write_t *req, int status)
{
	struct wframe *w = (struct wframe *)req;
	struct bw_sock *s = w->s;

	free(w);
	if (status < 0 && status != UV_ECANCELED && s->state == BW_OPEN)
		sock_finish(s, status);
}

int bw_send_text(struct bw_sock *s, const char *p, size_t n)
{
	struct wframe *w;
	unsigned char *f, mask[4];
	uint32_t x;
	size_t hl, i;
	uv_buf_t b;
	int rv;

	if (s->state != BW_OPEN)
		return -ENOTCONN;
	hl = n < 126 ? 2 : n <= 0xffff ? 4 : 10;
	w = malloc(sizeof *w + hl + 4 + n);
	if (w == NULL)
		return -ENOMEM;
	w->s = s;
	f = (unsigned char *)w->data;
	f[0] = 0x81; /* FIN, text */
	if (hl == 2) {
		f[1] = (unsigned char)(0x80 | n);
	} else if (hl == 4) {
		f[1] = 0x80 | 126;
		f[2] = (unsigned char)(n >> 8);
		f[3] = (unsigned char)n;
	} else {
		f[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			f[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
	}
	x = s->mask_state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	s->mask_state = x;
	memcpy(mask, &x, 4);
	memcpy(f + hl, mask, 4);
	for (i = 0; i < n; i++)
		f[hl + 4 + i] = (unsigned char)p[i] ^ mask[i % 4];
	b = uv_buf_init(w->data, (unsigned)(hl + 4 + n));
	rv = uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, text_write_cb);
	if (rv != 0)
		free(w);
	return rv;
}

void bw_close(struct bw_sock *s)
{
	static const unsigned char normal[2] = {0x03, 0xe8}; /* 1000 */

	if (s->state == BW_OPEN)
		send_control(s, 0x8, normal, sizeof normal);
	s->state = BW_CLOSED;
	if (s->handle_open) {
		s->handle_open = 0;
		uv_close((uv_handle_t *)&s->tcp, NULL);
	}
}

void bw_release(struct bw_sock *s)
{
	cf_buf_release(&s->in);
	cf_buf_release(&s->msg);
}
