#include "config.h"

/*
 * fe_conn_write: the output side of a connection (see fe_conn.h).
 *
 * Issue 14: a write is a syscall, and on loopback also the receiver's TCP
 * work; a uv_write request costs a malloc, a callback and, when the
 * callback runs, an epoll_ctl(2) (libuv re-arms the watcher when the write
 * queue drains). So bytes written while the connection has nothing queued
 * in libuv are gathered in c->out_pend, and every connection with gathered
 * bytes is flushed once at the end of the loop turn (the server's check
 * handle, which runs after the I/O callbacks of the turn: acks of one
 * commit batch, or several fan-out frames, to one socket leave in one
 * write(2)). The flush writes what the socket takes at once with
 * uv_try_write and hands only a remainder to uv_write. An idle handle is
 * active while anything is gathered, so that bytes gathered outside the
 * poll phase (timers, prepare, check) never wait for a blocking poll.
 *
 * Bytes go through uv_write directly, after anything gathered, when the
 * connection already has bytes queued in libuv (order), when a `sync`
 * replay paces itself on the write callbacks, when the connection
 * closes after this write, or when the server closes (its check and idle
 * handles are closed: fe_server_close). Gathered bytes count in c->out_bytes like
 * queued ones, so every bound on a connection's output sees them.
 */
#include "frontend/fe_conn.h"
#include "frontend/fe_conn_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "common/cf_time.h"
#include "frontend/fe_api_sync.h"
#include "frontend/fe_server.h"

struct conn_write {
	uv_write_t req;
	struct fe_conn *c;
	struct cf_blob *blob; /* shared frame, or NULL */
	char *owned;	      /* malloc'd bytes, or NULL */
	size_t len;
};

static void conn_write_cb(uv_write_t *req, int status)
{
	struct conn_write *w = req->data;
	struct fe_conn *c = w->c;

	c->out_bytes -= w->len;
	if (w->blob != NULL)
		cf_blob_unref(w->blob);
	free(w->owned);
	free(w);
	if (status != 0) {
		fe_conn_close(c);
	} else if (c->close_after_write && c->out_bytes == 0 &&
		   !c->lingering) {
		fe_conn_close(c);
	} else if (c->state == FE_CONN_HTTP) {
		/* an HTTP client that reads its answers is not idle */
		c->last_active_ms = cf_mono_ms();
		fe_conn_timer_update(c);
	} else if (c->ws_sync != NULL) {
		fe_api_sync_drained(c); /* a paced replay goes on */
	}
	fe_conn_unref(c);
}

/* Queue len bytes at p in libuv; blob or owned (or neither) hold them. */
static int conn_queue(struct fe_conn *c, struct cf_blob *blob, char *owned,
		      const char *p, size_t len, bool counted)
{
	struct conn_write *w;
	uv_buf_t buf;
	int rv;

	w = malloc(sizeof *w);
	if (w == NULL) {
		rv = -ENOMEM;
		goto err;
	}
	w->c = c;
	w->blob = blob;
	w->owned = owned;
	w->len = len;
	w->req.data = w;
	buf = uv_buf_init((char *)p, (unsigned)len);
	rv = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1,
		      conn_write_cb);
	if (rv != 0) {
		free(w);
		goto err;
	}
	if (!counted)
		c->out_bytes += len;
	fe_conn_ref(c);
	return 0;
err:
	if (counted)
		c->out_bytes -= len;
	if (blob != NULL)
		cf_blob_unref(blob);
	free(owned);
	fe_conn_close(c);
	return rv;
}

/*
 * Write what c gathered: what the socket takes now, the rest through
 * uv_write. 0, or a negative code after which c is closing.
 */
static int conn_flush(struct fe_conn *c)
{
	size_t len = c->out_pend.len, done = 0;
	char *p;
	int n;

	if (c->flush_queued) {
		cf_list_remove(&c->flush_link);
		c->flush_queued = false;
	}
	if (len == 0)
		return 0;
	n = uv_try_write((uv_stream_t *)&c->tcp,
			 &(uv_buf_t){.base = c->out_pend.data, .len = len}, 1);
	if (n > 0) {
		done = (size_t)n;
	} else if (n != UV_EAGAIN && n != UV_ENOSYS) {
		c->out_bytes -= len;
		cf_buf_release(&c->out_pend);
		fe_conn_close(c);
		return n;
	}
	c->out_bytes -= done;
	if (done == len) {
		cf_buf_release(&c->out_pend);
		if (c->state == FE_CONN_HTTP) {
			/* an HTTP client that reads its answers is not idle */
			c->last_active_ms = cf_mono_ms();
			fe_conn_timer_update(c);
		}
		return 0;
	}
	if (done == 0) {
		size_t m;
		p = cf_buf_detach(&c->out_pend, &m);
		return conn_queue(c, NULL, p, p, len, true);
	}
	p = malloc(len - done);
	if (p == NULL) {
		c->out_bytes -= len - done;
		cf_buf_release(&c->out_pend);
		fe_conn_close(c);
		return -ENOMEM;
	}
	memcpy(p, c->out_pend.data + done, len - done);
	cf_buf_release(&c->out_pend);
	return conn_queue(c, NULL, p, p, len - done, true);
}

int fe_conn_flush(struct fe_conn *c)
{
	return conn_flush(c);
}

void fe_conn_write_drop(struct fe_conn *c)
{
	if (c->flush_queued) {
		cf_list_remove(&c->flush_link);
		c->flush_queued = false;
	}
	c->out_bytes -= c->out_pend.len;
	cf_buf_release(&c->out_pend);
}

static int conn_gather(struct fe_conn *c, struct cf_blob *blob, char *owned,
		       const char *p, size_t len)
{
	struct fe_server *s = c->srv;
	int rv = 0;

	if (c->out_pend.len == 0 && owned != NULL && p == owned) {
		/* adopt the caller's buffer: no copy */
		cf_buf_release(&c->out_pend);
		c->out_pend.data = owned;
		c->out_pend.len = len;
		c->out_pend.cap = len;
		owned = NULL;
	} else if (cf_buf_append(&c->out_pend, p, len) != 0) {
		rv = -ENOMEM;
	}
	if (blob != NULL)
		cf_blob_unref(blob);
	free(owned);
	if (rv != 0) {
		fe_conn_close(c);
		return rv;
	}
	c->out_bytes += len;
	if (!c->flush_queued) {
		cf_list_push(&s->flush_list, &c->flush_link);
		c->flush_queued = true;
		uv_idle_start(&s->flush_idle, fe_server_flush_idle_cb);
	}
	return 0;
}

static int conn_write(struct fe_conn *c, struct cf_blob *blob, char *owned,
		      const char *p, size_t len)
{
	int rv;

	if (c->state == FE_CONN_CLOSING) {
		rv = CF_EUNAVAIL;
		goto err;
	}
	/* Not once the server closes: its flush handles are closed (a
	 * closed idle handle started again would keep the loop alive). */
	if (c->ws_sync == NULL && !c->close_after_write && !c->srv->closing &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0)
		return conn_gather(c, blob, owned, p, len);
	rv = conn_flush(c); /* what was gathered goes first */
	if (rv != 0)
		goto err;
	return conn_queue(c, blob, owned, p, len, false);
err:
	if (blob != NULL)
		cf_blob_unref(blob);
	free(owned);
	return rv;
}

int fe_conn_write_take(struct fe_conn *c, char *data, size_t len)
{
	return conn_write(c, NULL, data, data, len);
}

int fe_conn_write_blob(struct fe_conn *c, struct cf_blob *b)
{
	return conn_write(c, cf_blob_ref(b), NULL, b->data, b->len);
}

/* The end of a loop turn: flush every connection that gathered bytes. */
void fe_server_flush_check_cb(uv_check_t *h)
{
	struct fe_server *s = h->data;

	while (!cf_list_empty(&s->flush_list)) {
		struct fe_conn *c = CF_CONTAINER_OF(s->flush_list.next,
						    struct fe_conn, flush_link);
		conn_flush(c); /* takes c off the list */
		/*
		 * A paced `sync` replay goes on from write callbacks; bytes
		 * gathered before it began may have held it back and just
		 * left without one.
		 */
		if (c->ws_sync != NULL)
			fe_api_sync_drained(c);
	}
	uv_idle_stop(&s->flush_idle);
}

/* Active while bytes are gathered: the poll of this turn does not block. */
void fe_server_flush_idle_cb(uv_idle_t *h)
{
	(void)h;
}
