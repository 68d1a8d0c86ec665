/*
 * rft_transport: raft's stock TCP transport with TCP_NODELAY set on every
 * connection (RAFT.md §2 config C: without it p99 sits near 40 ms, Nagle
 * plus delayed ACK).
 *
 * It wraps raft_uv_tcp_init()'s transport and forwards init, listen, connect
 * and close, calling uv_tcp_nodelay() on each accepted and connected stream
 * before raft sees it. Hand rft_transport_iface(t) to raft_uv_init().
 *
 * Ownership: the caller owns struct rft_transport. raft_uv uses it until its
 * io is closed; then call rft_transport_close() (in raft_close's callback,
 * after raft_uv_close(), where raft_uv_tcp_close() would go).
 * Errors: rft_transport_init returns 0 or a raft code translated to -ENOMEM.
 * Threads: loop thread only.
 */
#ifndef RFT_TRANSPORT_H
#define RFT_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

struct rft_transport {
	struct raft_uv_transport iface; /* what raft_uv uses; first member */
	struct raft_uv_transport inner; /* raft_uv_tcp's transport */
	raft_uv_accept_cb accept_cb;	/* raft's, from listen */
	raft_uv_transport_close_cb close_cb;
	unsigned nodelay_set; /* streams given TCP_NODELAY */
};

/* Build the wrapped transport on loop. */
int rft_transport_init(struct rft_transport *t, uv_loop_t *loop);
/* Bind address for the listener ("0.0.0.0:PORT"), before raft_init(). */
int rft_transport_set_bind_address(struct rft_transport *t,
				   const char *address);
/* The raft_uv_transport to pass to raft_uv_init(). */
static inline struct raft_uv_transport *
rft_transport_iface(struct rft_transport *t)
{
	return &t->iface;
}
/* Release the inner transport (after raft_uv_close). */
void rft_transport_close(struct rft_transport *t);

#endif
