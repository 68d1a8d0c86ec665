#include "config.h"

/*
 * The TCP_NODELAY transport wrapper. raft_uv calls our iface; each call goes
 * to the inner raft_uv_tcp transport with our own callbacks, which set
 * TCP_NODELAY and then call raft's callbacks with our iface.
 *
 * A connect is wrapped in a heap request because the inner transport stores
 * its callback in the caller's request (req->cb) and always fires it exactly
 * once: on success, on failure, and with RAFT_CANCELED from close. The
 * cancel path may run after the transport was released, so the wrapper
 * request carries everything its callback needs.
 */

#include "raft/rft_transport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_diag.h"

struct tr_connect {
	struct raft_uv_connect inner; /* handed to the inner transport */
	struct raft_uv_connect *req;  /* raft's request */
	struct rft_transport *t;      /* valid only on success */
};

static void tr_nodelay(struct rft_transport *t, struct uv_stream_s *stream)
{
	int rv;

	if (stream == NULL || stream->type != UV_TCP)
		return;
	rv = uv_tcp_nodelay((uv_tcp_t *)stream, 1);
	if (rv != 0)
		cf_warn("raft transport: TCP_NODELAY: %s", uv_strerror(rv));
	else
		t->nodelay_set++;
}

static void tr_copy_errmsg(struct rft_transport *t)
{
	memcpy(t->iface.errmsg, t->inner.errmsg, sizeof t->iface.errmsg);
}

static int tr_init(struct raft_uv_transport *iface, raft_id id,
		   const char *address)
{
	struct rft_transport *t = iface->impl;
	int rv;

	rv = t->inner.init(&t->inner, id, address);
	if (rv != 0)
		tr_copy_errmsg(t);
	return rv;
}

static void tr_accept_cb(struct raft_uv_transport *inner, raft_id id,
			 const char *address, struct uv_stream_s *stream)
{
	struct rft_transport *t = inner->data;

	tr_nodelay(t, stream);
	t->accept_cb(&t->iface, id, address, stream);
}

static int tr_listen(struct raft_uv_transport *iface, raft_uv_accept_cb cb)
{
	struct rft_transport *t = iface->impl;
	int rv;

	t->accept_cb = cb;
	rv = t->inner.listen(&t->inner, tr_accept_cb);
	if (rv != 0)
		tr_copy_errmsg(t);
	return rv;
}

static void tr_connect_cb(struct raft_uv_connect *inner,
			  struct uv_stream_s *stream, int status)
{
	struct tr_connect *c = (struct tr_connect *)inner;
	struct raft_uv_connect *req = c->req;

	if (status == 0)
		tr_nodelay(c->t, stream);
	free(c);
	req->cb(req, stream, status);
}

static int tr_connect(struct raft_uv_transport *iface,
		      struct raft_uv_connect *req, raft_id id,
		      const char *address, raft_uv_connect_cb cb)
{
	struct rft_transport *t = iface->impl;
	struct tr_connect *c;
	int rv;

	c = calloc(1, sizeof *c);
	if (c == NULL)
		return RAFT_NOMEM;
	c->req = req;
	c->t = t;
	req->cb = cb;
	rv = t->inner.connect(&t->inner, &c->inner, id, address, tr_connect_cb);
	if (rv != 0) {
		tr_copy_errmsg(t);
		free(c);
	}
	return rv;
}

static void tr_close_cb(struct raft_uv_transport *inner)
{
	struct rft_transport *t = inner->data;

	if (t->close_cb != NULL)
		t->close_cb(&t->iface);
}

static void tr_close(struct raft_uv_transport *iface,
		     raft_uv_transport_close_cb cb)
{
	struct rft_transport *t = iface->impl;

	t->close_cb = cb;
	t->inner.close(&t->inner, tr_close_cb);
}

int rft_transport_init(struct rft_transport *t, uv_loop_t *loop)
{
	int rv;

	memset(t, 0, sizeof *t);
	rv = raft_uv_tcp_init(&t->inner, loop);
	if (rv != 0)
		return -ENOMEM;
	t->inner.data = t;
	t->iface.impl = t;
	t->iface.init = tr_init;
	t->iface.listen = tr_listen;
	t->iface.connect = tr_connect;
	t->iface.close = tr_close;
	return 0;
}

int rft_transport_set_bind_address(struct rft_transport *t, const char *address)
{
	return raft_uv_tcp_set_bind_address(&t->inner, address) == 0 ? 0
								     : -EINVAL;
}

void rft_transport_close(struct rft_transport *t)
{
	raft_uv_tcp_close(&t->inner);
}
