#include "config.h"

/*
 * cf_test_http: blocking HTTP/1.1 + WebSocket client for tests and tools.
 *
 * Response framing (RFC 9112 6.3), in this order: 1xx, 204 and 304 have no
 * body; "Transfer-Encoding: chunked" is decoded (chunk extensions and
 * trailers skipped); else "Content-Length: N"; else the body runs to EOF and
 * the connection is closed afterwards. The header section is capped at
 * 64 KiB and a body at 64 MiB.
 *
 * WebSocket frames (RFC 6455 5.2): client frames are always masked with 4
 * random bytes; server frames must not be. Lengths use the 7-bit, 16-bit and
 * 64-bit forms; a frame over 64 MiB is refused (CF_ECORRUPT).
 */

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cf_test_http.h"
#include "common/cf_err.h"
#include "common/cf_time.h"

#define HEAD_MAX (64 * 1024)
#define BODY_MAX (64u * 1024 * 1024)

int cf_http_parse_url(const char *url, char *host, int *port)
{
	const char *p = url, *colon, *end;
	size_t hl;
	long v;
	char *e;

	if (strncmp(p, "http://", 7) == 0)
		p += 7;
	end = p + strcspn(p, "/?");
	colon = memchr(p, ':', (size_t)(end - p));
	if (colon == NULL || colon == p)
		return CF_EBADREQ;
	hl = (size_t)(colon - p);
	if (hl >= 64)
		return CF_EBADREQ;
	v = strtol(colon + 1, &e, 10);
	if (e != end || v <= 0 || v > 65535)
		return CF_EBADREQ;
	memcpy(host, p, hl);
	host[hl] = '\0';
	*port = (int)v;
	return 0;
}

int cf_http_connect_blocking(const char *url)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char host[64];
	int port, fd;

	if (cf_http_parse_url(url, host, &port) != 0 ||
	    inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return CF_EBADREQ;
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		int rv = -errno;
		close(fd);
		return rv;
	}
	return fd;
}

int cf_http_conn_init(struct cf_http_conn *c, const char *url, int timeout_ms)
{
	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	cf_buf_init(&c->in);
	return cf_http_parse_url(url, c->host, &c->port);
}

void cf_http_conn_drop(struct cf_http_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	cf_buf_truncate(&c->in, 0);
}

void cf_http_conn_release(struct cf_http_conn *c)
{
	cf_http_conn_drop(c);
	cf_buf_release(&c->in);
}

static int ms_left(uint64_t deadline)
{
	uint64_t now = cf_mono_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Wait for events on fd until deadline: 0, CF_ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	int n;

	for (;;) {
		n = poll(&p, 1, ms_left(deadline));
		if (n > 0)
			return 0;
		if (n == 0)
			return CF_ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int conn_open(struct cf_http_conn *c, uint64_t deadline)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct addrinfo hints = {.ai_family = AF_INET,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	int fd, rv, err = 0, one = 1;
	socklen_t el = sizeof err;

	sa.sin_port = htons((uint16_t)c->port);
	if (inet_pton(AF_INET, c->host, &sa.sin_addr) != 1) {
		if (getaddrinfo(c->host, NULL, &hints, &ai) != 0 || !ai)
			return CF_EBADREQ;
		sa.sin_addr = ((struct sockaddr_in *)ai->ai_addr)->sin_addr;
		freeaddrinfo(ai);
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		if (errno != EINPROGRESS) {
			rv = -errno;
			goto err_close;
		}
		rv = wait_fd(fd, POLLOUT, deadline);
		if (rv != 0)
			goto err_close;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
			err = errno;
		if (err != 0) {
			rv = -err;
			goto err_close;
		}
	}
	c->fd = fd;
	cf_buf_truncate(&c->in, 0);
	return 0;
err_close:
	close(fd);
	assert(rv != 0);
	return rv;
}

/* A kept-alive socket the server closed meanwhile reads EOF: drop it. */
static void conn_check_stale(struct cf_http_conn *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	char b;

	if (c->fd < 0 || c->in.len > 0)
		return;
	if (poll(&p, 1, 0) == 1 &&
	    recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
		cf_http_conn_drop(c);
}

static int send_all(struct cf_http_conn *c, const void *p, size_t n,
		    uint64_t deadline)
{
	const char *s = p;
	ssize_t k;
	int rv;

	while (n > 0) {
		k = send(c->fd, s, n, MSG_NOSIGNAL);
		if (k > 0) {
			s += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno != EAGAIN)
			return -errno;
		rv = wait_fd(c->fd, POLLOUT, deadline);
		if (rv != 0)
			return rv;
	}
	return 0;
}

/* Read more bytes into c->in: 0, -ECONNRESET on EOF, CF_ETIMEDOUT, -errno. */
static int read_more(struct cf_http_conn *c, uint64_t deadline)
{
	ssize_t k;
	int rv;

	rv = cf_buf_reserve(&c->in, 16384);
	if (rv != 0)
		return rv;
	for (;;) {
		k = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len,
			 0);
		if (k > 0) {
			c->in.len += (size_t)k;
			return 0;
		}
		if (k == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		rv = wait_fd(c->fd, POLLIN, deadline);
		if (rv != 0)
			return rv;
	}
}

/* Make sure c->in holds n bytes. */
static int need(struct cf_http_conn *c, size_t n, uint64_t deadline)
{
	int rv;

	while (c->in.len < n) {
		rv = read_more(c, deadline);
		if (rv != 0)
			return rv;
	}
	return 0;
}

/* Index just after the first CRLF at or after from, reading as needed. */
static int read_line(struct cf_http_conn *c, size_t from, size_t *end,
		     uint64_t deadline)
{
	char *hit;
	int rv;

	for (;;) {
		hit = c->in.len > from
			      ? memmem(c->in.data + from, c->in.len - from,
				       "\r\n", 2)
			      : NULL;
		if (hit != NULL) {
			*end = (size_t)(hit - c->in.data) + 2;
			return 0;
		}
		if (c->in.len - from > HEAD_MAX)
			return CF_ECORRUPT;
		rv = read_more(c, deadline);
		if (rv != 0)
			return rv;
	}
}

void cf_http_resp_init(struct cf_http_resp *r)
{
	memset(r, 0, sizeof *r);
	cf_buf_init(&r->head);
}

void cf_http_resp_release(struct cf_http_resp *r)
{
	cf_buf_release(&r->head);
	free(r->body);
	if (r->json)
		json_decref(r->json);
	cf_http_resp_init(r);
}

json_t *cf_http_resp_json(struct cf_http_resp *r)
{
	if (r->json == NULL && r->body != NULL && r->body_len > 0)
		r->json = json_loadb(r->body, r->body_len, 0, NULL);
	return r->json;
}

int cf_http_resp_header(const struct cf_http_resp *r, const char *name,
			char *out, size_t size)
{
	size_t nl = strlen(name), vl;
	const char *p = r->head.data, *eol, *v;

	if (p == NULL)
		return CF_ENOTFOUND;
	p = strstr(p, "\r\n"); /* skip the status line */
	while (p != NULL && p[0] == '\r' && p[1] == '\n' && p[2] != '\r') {
		p += 2;
		eol = strstr(p, "\r\n");
		if (eol == NULL)
			break;
		if ((size_t)(eol - p) > nl && p[nl] == ':' &&
		    strncasecmp(p, name, nl) == 0) {
			v = p + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			vl = (size_t)(eol - v);
			while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			if (vl >= size)
				vl = size - 1;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return 0;
		}
		p = eol;
	}
	return CF_ENOTFOUND;
}

static int body_append(struct cf_buf *body, struct cf_http_conn *c, size_t n,
		       uint64_t deadline)
{
	int rv;

	if (body->len + n > BODY_MAX)
		return CF_ECORRUPT;
	rv = need(c, n, deadline);
	if (rv == 0)
		rv = cf_buf_append(body, c->in.data, n);
	if (rv == 0)
		cf_buf_consume(&c->in, n);
	return rv;
}

static int read_chunked(struct cf_http_conn *c, struct cf_buf *body,
			uint64_t deadline)
{
	size_t end;
	unsigned long n;
	char *e;
	int rv;

	for (;;) {
		rv = read_line(c, 0, &end, deadline);
		if (rv != 0)
			return rv;
		errno = 0;
		n = strtoul(c->in.data, &e, 16);
		if (e == c->in.data || errno != 0 || n > BODY_MAX)
			return CF_ECORRUPT;
		cf_buf_consume(&c->in, end);
		if (n == 0)
			break;
		rv = body_append(body, c, n, deadline);
		if (rv == 0)
			rv = need(c, 2, deadline);
		if (rv != 0)
			return rv;
		if (memcmp(c->in.data, "\r\n", 2) != 0)
			return CF_ECORRUPT;
		cf_buf_consume(&c->in, 2);
	}
	/* Trailer section: lines until an empty one. */
	for (;;) {
		rv = read_line(c, 0, &end, deadline);
		if (rv != 0)
			return rv;
		cf_buf_consume(&c->in, end);
		if (end == 2)
			return 0;
	}
}

/* Read the status line and headers into r->head; consume them. */
static int read_head(struct cf_http_conn *c, struct cf_http_resp *r,
		     uint64_t deadline)
{
	char *hit;
	size_t hl;
	int rv;

	for (;;) {
		hit = c->in.len >= 4 ? memmem(c->in.data, c->in.len,
					      "\r\n\r\n", 4)
				     : NULL;
		if (hit != NULL)
			break;
		if (c->in.len > HEAD_MAX)
			return CF_ECORRUPT;
		rv = read_more(c, deadline);
		if (rv != 0)
			return rv;
	}
	hl = (size_t)(hit - c->in.data) + 4;
	cf_buf_truncate(&r->head, 0);
	rv = cf_buf_append(&r->head, c->in.data, hl);
	if (rv == 0)
		rv = cf_buf_append(&r->head, "", 1);
	if (rv != 0)
		return rv;
	r->head.len--; /* keep the NUL out of len */
	cf_buf_consume(&c->in, hl);
	if (strncmp(r->head.data, "HTTP/1.", 7) != 0 ||
	    !isdigit((unsigned char)r->head.data[9]))
		return CF_ECORRUPT;
	r->status = atoi(r->head.data + 9);
	if (r->status < 100 || r->status > 599)
		return CF_ECORRUPT;
	return 0;
}

static int read_response(struct cf_http_conn *c, struct cf_http_resp *r,
			 int head_only, uint64_t deadline)
{
	struct cf_buf body = CF_BUF_INIT;
	char v[64];
	char *e;
	unsigned long long cl;
	int rv, to_eof = 0;

	do {
		rv = read_head(c, r, deadline);
		if (rv != 0)
			goto out;
	} while (r->status >= 100 && r->status < 200 && r->status != 101);
	if (head_only || r->status == 101 || r->status == 204 ||
	    r->status == 304) {
		/* no body */
	} else if (cf_http_resp_header(r, "Transfer-Encoding", v, sizeof v) ==
			   0 &&
		   strcasestr(v, "chunked") != NULL) {
		rv = read_chunked(c, &body, deadline);
	} else if (cf_http_resp_header(r, "Content-Length", v, sizeof v) ==
		   0) {
		errno = 0;
		cl = strtoull(v, &e, 10);
		if (e == v || *e != '\0' || errno != 0 || cl > BODY_MAX)
			rv = CF_ECORRUPT;
		else
			rv = body_append(&body, c, (size_t)cl, deadline);
	} else {
		to_eof = 1;
		for (;;) {
			rv = read_more(c, deadline);
			if (rv == -ECONNRESET) {
				rv = body_append(&body, c, c->in.len,
						 deadline);
				break;
			}
			if (rv != 0)
				break;
		}
	}
	if (rv == 0)
		rv = cf_buf_append(&body, "", 1);
	if (rv != 0)
		goto out;
	r->body_len = body.len - 1;
	r->body = cf_buf_detach(&body, NULL);
	if (to_eof || (cf_http_resp_header(r, "Connection", v, sizeof v) == 0 &&
		       strcasecmp(v, "close") == 0))
		cf_http_conn_drop(c);
out:
	cf_buf_release(&body);
	return rv;
}

int cf_http_request(struct cf_http_conn *c, const char *method,
		    const char *path, const char *headers, const void *body,
		    size_t body_len, struct cf_http_resp *r)
{
	uint64_t deadline = cf_mono_ms() + (uint64_t)c->timeout_ms;
	struct cf_buf req = CF_BUF_INIT;
	int rv, has_ct;

	cf_http_resp_release(r);
	conn_check_stale(c);
	if (c->fd < 0) {
		rv = conn_open(c, deadline);
		if (rv != 0)
			return rv;
	}
	has_ct = headers != NULL && strcasestr(headers, "content-type:");
	rv = cf_buf_appendf(&req, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%s%s",
			    method, path, c->host, c->port,
			    headers ? headers : "",
			    body && !has_ct ? "Content-Type: application/json\r\n"
					    : "");
	if (rv == 0 && (body != NULL || strcmp(method, "POST") == 0 ||
			strcmp(method, "PUT") == 0))
		rv = cf_buf_appendf(&req, "Content-Length: %zu\r\n", body_len);
	if (rv == 0)
		rv = cf_buf_append(&req, "\r\n", 2);
	if (rv == 0 && body_len > 0)
		rv = cf_buf_append(&req, body, body_len);
	if (rv == 0)
		rv = send_all(c, req.data, req.len, deadline);
	if (rv == 0)
		rv = read_response(c, r, strcmp(method, "HEAD") == 0,
				   deadline);
	if (rv != 0)
		cf_http_conn_drop(c);
	cf_buf_release(&req);
	return rv;
}

int cf_http_request_json(struct cf_http_conn *c, const char *method,
			 const char *path, const char *user, const char *json,
			 struct cf_http_resp *r)
{
	char hdr[200] = "";

	if (user != NULL)
		snprintf(hdr, sizeof hdr, "X-Confab-User: %s\r\n", user);
	return cf_http_request(c, method, path, hdr, json,
			       json ? strlen(json) : 0, r);
}

/* ---- WebSocket ---- */

void cf_ws_accept_key(const char *key, char out[32])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char sha[SHA_DIGEST_LENGTH];
	char cat[128];
	int n;

	n = snprintf(cat, sizeof cat, "%s%s", key, guid);
	SHA1((const unsigned char *)cat, (size_t)n, sha);
	EVP_EncodeBlock((unsigned char *)out, sha, SHA_DIGEST_LENGTH);
}

static void random_bytes(void *p, size_t n)
{
	ssize_t k = getrandom(p, n, 0);

	if (k != (ssize_t)n) {
		for (size_t i = 0; i < n; i++)
			((unsigned char *)p)[i] = (unsigned char)rand();
	}
}

int cf_ws_connect(struct cf_ws_client *w, const char *url,
		  const char *path_query, int timeout_ms)
{
	struct cf_http_resp r;
	unsigned char raw[16];
	char key[32], want[32], got[64], hdr[256];
	int rv;

	memset(w, 0, sizeof *w);
	cf_buf_init(&w->frag);
	cf_http_resp_init(&r);
	rv = cf_http_conn_init(&w->conn, url, timeout_ms);
	if (rv != 0)
		goto out;
	random_bytes(raw, sizeof raw);
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
	snprintf(hdr, sizeof hdr,
		 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
		 key);
	rv = cf_http_request(&w->conn, "GET", path_query, hdr, NULL, 0, &r);
	if (rv != 0)
		goto out;
	cf_ws_accept_key(key, want);
	if (r.status != 101 ||
	    cf_http_resp_header(&r, "Sec-WebSocket-Accept", got, sizeof got) !=
		    0 ||
	    strcmp(got, want) != 0) {
		rv = CF_ECORRUPT;
		goto out;
	}
out:
	cf_http_resp_release(&r);
	if (rv != 0) {
		cf_http_conn_release(&w->conn);
		cf_buf_release(&w->frag);
	}
	return rv;
}

int cf_ws_send_raw(struct cf_ws_client *w, unsigned first, int masked,
		   uint64_t declared_len, const void *p, size_t n)
{
	uint64_t deadline = cf_mono_ms() + (uint64_t)w->conn.timeout_ms;
	uint64_t dl = declared_len;
	struct cf_buf f = CF_BUF_INIT;
	unsigned char h[14], mask[4] = {0, 0, 0, 0};
	unsigned char mbit = masked ? 0x80 : 0;
	size_t hl = 2;
	int rv;

	if (w->conn.fd < 0)
		return -ENOTCONN;
	h[0] = (unsigned char)first;
	if (dl < 126) {
		h[1] = (unsigned char)(mbit | dl);
	} else if (dl <= 0xffff) {
		h[1] = mbit | 126;
		h[2] = (unsigned char)(dl >> 8);
		h[3] = (unsigned char)dl;
		hl = 4;
	} else {
		h[1] = mbit | 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)(dl >> (56 - 8 * i));
		hl = 10;
	}
	if (masked) {
		random_bytes(mask, 4);
		memcpy(h + hl, mask, 4);
		hl += 4;
	}
	rv = cf_buf_reserve(&f, hl + n);
	if (rv != 0)
		return rv;
	memcpy(f.data, h, hl);
	for (size_t i = 0; i < n; i++)
		f.data[hl + i] = (char)(((const unsigned char *)p)[i] ^
					mask[i & 3]);
	f.len = hl + n;
	rv = send_all(&w->conn, f.data, f.len, deadline);
	cf_buf_release(&f);
	return rv;
}

int cf_ws_send(struct cf_ws_client *w, int opcode, const void *p, size_t n)
{
	return cf_ws_send_raw(w, 0x80u | ((unsigned)opcode & 0x0fu), 1, n, p,
			      n);
}

/* Read one frame; *payload points into w->conn.in, consumed by the caller. */
static int read_frame(struct cf_ws_client *w, uint64_t deadline, int *fin,
		      int *op, size_t *hl, size_t *pl)
{
	struct cf_http_conn *c = &w->conn;
	const unsigned char *b;
	uint64_t len;
	size_t h = 2;
	int rv;

	rv = need(c, 2, deadline);
	if (rv != 0)
		return rv;
	b = (const unsigned char *)c->in.data;
	if ((b[0] & 0x70) != 0 || (b[1] & 0x80) != 0)
		return CF_ECORRUPT; /* RSV bits, or a masked server frame */
	len = b[1] & 0x7f;
	if (len == 126)
		h = 4;
	else if (len == 127)
		h = 10;
	rv = need(c, h, deadline);
	if (rv != 0)
		return rv;
	b = (const unsigned char *)c->in.data;
	if (len == 126) {
		len = ((uint64_t)b[2] << 8) | b[3];
	} else if (len == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = (len << 8) | b[2 + i];
	}
	if (len > BODY_MAX)
		return CF_ECORRUPT;
	rv = need(c, h + (size_t)len, deadline);
	if (rv != 0)
		return rv;
	b = (const unsigned char *)c->in.data;
	*fin = (b[0] & 0x80) != 0;
	*op = b[0] & 0x0f;
	*hl = h;
	*pl = (size_t)len;
	return 0;
}

int cf_ws_recv(struct cf_ws_client *w, int timeout_ms, int *opcode,
	       char **data, size_t *len)
{
	uint64_t deadline = cf_mono_ms() + (uint64_t)timeout_ms;
	size_t hl, pl;
	const char *p;
	int fin, op, rv;

	if (w->conn.fd < 0)
		return w->closed ? -ECONNRESET : -ENOTCONN;
	for (;;) {
		rv = read_frame(w, deadline, &fin, &op, &hl, &pl);
		if (rv != 0)
			break;
		p = w->conn.in.data + hl;
		if (op == CF_WS_PING) {
			rv = cf_ws_send(w, CF_WS_PONG, p, pl);
		} else if (op == CF_WS_CLOSE) {
			w->close_code =
				pl >= 2 ? ((unsigned)(unsigned char)p[0] << 8) |
						  (unsigned char)p[1]
					: 1005;
			if (!w->closed)
				cf_ws_send(w, CF_WS_CLOSE, p, pl >= 2 ? 2 : 0);
			w->closed = 1;
			cf_http_conn_drop(&w->conn);
			return -ECONNRESET;
		} else if (op == CF_WS_TEXT || op == CF_WS_BINARY ||
			   op == CF_WS_CONT) {
			if (op != CF_WS_CONT)
				w->frag_op = op;
			rv = cf_buf_append(&w->frag, p, pl);
		} else if (op != CF_WS_PONG) {
			rv = CF_ECORRUPT;
		}
		cf_buf_consume(&w->conn.in, hl + pl);
		if (rv != 0)
			break;
		if (fin && (op == CF_WS_TEXT || op == CF_WS_BINARY ||
			    op == CF_WS_CONT)) {
			rv = cf_buf_append(&w->frag, "", 1);
			if (rv != 0)
				break;
			*opcode = w->frag_op;
			*data = cf_buf_detach(&w->frag, len);
			(*len)--;
			return 0;
		}
	}
	if (rv != CF_ETIMEDOUT) {
		if (rv == -ECONNRESET)
			w->closed = 1;
		cf_http_conn_drop(&w->conn);
	}
	return rv;
}

int cf_ws_recv_json(struct cf_ws_client *w, int timeout_ms, json_t **out)
{
	uint64_t deadline = cf_mono_ms() + (uint64_t)timeout_ms;
	char *data;
	size_t len;
	int op, rv;

	*out = NULL;
	for (;;) {
		rv = cf_ws_recv(w, ms_left(deadline), &op, &data, &len);
		if (rv != 0)
			return rv;
		if (op == CF_WS_TEXT)
			*out = json_loadb(data, len, 0, NULL);
		free(data);
		if (*out != NULL && json_is_object(*out))
			return 0;
		if (*out != NULL)
			json_decref(*out);
		return CF_ECORRUPT;
	}
}

void cf_ws_close(struct cf_ws_client *w)
{
	static const unsigned char normal[2] = {0x03, 0xe8}; /* 1000 */
	char *data;
	size_t len;
	int op, i;

	if (w->conn.fd >= 0 && !w->closed) {
		if (cf_ws_send(w, CF_WS_CLOSE, normal, 2) == 0) {
			w->closed = 1;
			/* Drain until the close answer, bounded. */
			for (i = 0; i < 100; i++) {
				if (cf_ws_recv(w, 500, &op, &data, &len) != 0)
					break;
				free(data);
			}
		}
	}
	cf_http_conn_release(&w->conn);
	cf_buf_release(&w->frag);
}
