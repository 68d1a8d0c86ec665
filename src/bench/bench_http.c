#include "config.h"

/*
 * bench_http: see bench_http.h. A request is formatted whole into c->out
 * ("METHOD PATH HTTP/1.1", Host, X-Confab-User, Content-Type and
 * Content-Length when there is a body), then written once the TCP
 * connection is up. Reading accumulates into c->in until
 * bench_http_response_length() frames one answer; bytes after it (there
 * are none with one request in flight) are an error. EOF or a read error
 * while idle just closes; while busy it fails the request. A closed
 * connection reconnects on the next request, or at once when one is
 * pending at the moment the close completes.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench/bench_http.h"
#include "common/cf_time.h"

#define HEAD_MAX 65536

long bench_http_response_length(const char *d, size_t len, int *status,
				size_t *body_off)
{
	const char *end, *p;
	size_t hl, cl;

	if (len < 12)
		return 0;
	end = memmem(d, len, "\r\n\r\n", 4);
	if (end == NULL)
		return len > HEAD_MAX ? -1 : 0;
	if (strncmp(d, "HTTP/1.", 7) != 0)
		return -1;
	*status = atoi(d + 9);
	hl = (size_t)(end - d) + 4;
	*body_off = hl;
	for (p = d; p != NULL && p < end;
	     p = memmem(p, (size_t)(end - p), "\r\n", 2)) {
		p += 2;
		if (strncasecmp(p, "content-length:", 15) == 0) {
			cl = strtoul(p + 15, NULL, 10);
			return len >= hl + cl ? (long)(hl + cl) : 0;
		}
	}
	return *status == 204 || *status == 304 ? (long)hl : -1;
}

static void conn_connect(struct bh_conn *c);

void bh_conn_init(struct bh_conn *c, uv_loop_t *loop,
		  const struct bh_target *t)
{
	void *data = c->data;

	memset(c, 0, sizeof *c);
	c->data = data;
	c->loop = loop;
	c->t = t;
	cf_buf_init(&c->out);
	cf_buf_init(&c->in);
}

void bh_conn_release(struct bh_conn *c)
{
	cf_buf_release(&c->out);
	cf_buf_release(&c->in);
}

static void conn_closed_cb(uv_handle_t *h)
{
	struct bh_conn *c = h->data;

	c->closing = 0;
	if (!c->final && c->busy)
		conn_connect(c);
}

static void conn_drop(struct bh_conn *c)
{
	if (!c->open)
		return;
	c->open = 0;
	c->connected = 0;
	c->writing = 0;
	c->closing = 1;
	uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
}

/* Fail the request in flight (if any) and drop the connection. */
static void conn_fail(struct bh_conn *c, int code)
{
	int busy = c->busy;

	c->busy = 0;
	conn_drop(c);
	if (busy && c->done != NULL)
		c->done(c, code, NULL, 0);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct bh_conn *c = h->data;

	(void)hint;
	if (cf_buf_reserve(&c->in, 16384) != 0) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	buf->base = c->in.data + c->in.len;
	buf->len = c->in.cap - c->in.len;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct bh_conn *c = s->data;
	size_t off = 0;
	int status = 0;
	long len;

	(void)buf;
	if (nread == 0)
		return;
	if (nread < 0) {
		conn_fail(c, (int)nread);
		return;
	}
	c->in.len += (size_t)nread;
	len = bench_http_response_length(c->in.data, c->in.len, &status, &off);
	if (len == 0)
		return;
	if (len < 0 || !c->busy || (size_t)len != c->in.len) {
		conn_fail(c, -EPROTO);
		return;
	}
	c->busy = 0;
	/*
	 * The callback may issue the next request: that only resets c->in's
	 * length, and nothing is read before it returns.
	 */
	c->done(c, status, c->in.data + off, (size_t)len - off);
	cf_buf_truncate(&c->in, 0);
}

static void write_cb(uv_write_t *req, int status)
{
	struct bh_conn *c = req->data;

	c->writing = 0;
	if (status < 0 && status != UV_ECANCELED && c->open)
		conn_fail(c, status);
}

static void conn_write(struct bh_conn *c)
{
	uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
	int rv;

	c->wreq.data = c;
	c->sent_ns = cf_mono_ns();
	rv = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
	if (rv != 0) {
		conn_fail(c, rv);
		return;
	}
	c->writing = 1;
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct bh_conn *c = req->data;
	int rv;

	if (status < 0) {
		if (status != UV_ECANCELED && c->open)
			conn_fail(c, status);
		return;
	}
	c->connected = 1;
	uv_tcp_nodelay(&c->tcp, 1);
	rv = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	if (rv != 0) {
		conn_fail(c, rv);
		return;
	}
	if (c->busy)
		conn_write(c);
}

static void conn_connect(struct bh_conn *c)
{
	int rv;

	cf_buf_truncate(&c->in, 0);
	rv = uv_tcp_init(c->loop, &c->tcp);
	if (rv != 0) {
		c->busy = 0;
		c->done(c, rv, NULL, 0);
		return;
	}
	c->tcp.data = c;
	c->creq.data = c;
	c->open = 1;
	rv = uv_tcp_connect(&c->creq, &c->tcp,
			    (const struct sockaddr *)&c->t->addr, connect_cb);
	if (rv != 0)
		conn_fail(c, rv);
}

int bh_conn_request(struct bh_conn *c, const char *method, const char *path,
		    const char *user, const char *body, size_t body_len,
		    bh_done_cb done)
{
	int rv;

	if (c->busy || c->final)
		return -EBUSY;
	cf_buf_truncate(&c->out, 0);
	rv = cf_buf_appendf(&c->out, "%s %s HTTP/1.1\r\nHost: %s\r\n", method,
			    path, c->t->host);
	if (rv == 0 && user != NULL)
		rv = cf_buf_appendf(&c->out, "X-Confab-User: %s\r\n", user);
	if (rv == 0 && body != NULL)
		rv = cf_buf_appendf(&c->out,
				    "Content-Type: application/json\r\n"
				    "Content-Length: %zu\r\n",
				    body_len);
	if (rv == 0)
		rv = cf_buf_append(&c->out, "\r\n", 2);
	if (rv == 0 && body != NULL)
		rv = cf_buf_append(&c->out, body, body_len);
	if (rv != 0)
		return -ENOMEM;
	c->done = done;
	c->busy = 1;
	if (c->connected)
		conn_write(c);
	else if (!c->open && !c->closing)
		conn_connect(c);
	/* else: connecting, or closing (conn_closed_cb reconnects) */
	return 0;
}

void bh_conn_close(struct bh_conn *c)
{
	c->final = 1;
	c->busy = 0;
	conn_drop(c);
}
