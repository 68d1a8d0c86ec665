#include "config.h"

/*
 * Peer links: wire format and protocol.
 *
 * FRAME. Every message on a link, handshake included, is one frame, all
 * integers little-endian (parsed by rft_peer_frame.c):
 *
 *   offset size  field
 *   0      4     len     bytes after this field: 9 + body length
 *   4      1     type    0..15 reserved for this module, 16.. for users
 *   5      8     reqId   chosen by the sender, echoed by replies
 *   13     len-9 body
 *
 * A receiver closes the link on len < 9, on len > 9 + RFT_PEER_MAX_BODY (or,
 * before the link is up, on a frame larger than the handshake's:
 * RFT_PEER_HANDSHAKE_BODY_MAX, so that an unauthenticated connection holds
 * a few bytes, never a 16 MiB frame), on an unknown reserved type, and on
 * any frame that does not fit the link's state.
 *
 * HANDSHAKE. The node with the lower id dials the one with the higher id.
 * As soon as the TCP connection exists, each side sends
 *
 *   HELLO (type 1, reqId 0): u16 version (1), u16 sender id, u16 receiver
 *          id (the id it expects at the other end), 16 random bytes nonce
 *
 * On the peer's HELLO (checked: version, the ids match the cluster file and
 * the dialing rule), each side sends
 *
 *   PROOF (type 2, reqId 0): HMAC-SHA256(secret, "confab-peer" ||
 *          dialer nonce || acceptor nonce || u16 sender id), 32 bytes
 *
 * and a side considers the link up once it has checked the peer's PROOF. A
 * side sends its PROOF before it can see the peer's, so every user frame
 * follows both proofs in the stream. A wrong proof closes the link and is
 * logged; the dialer retries with its backoff.
 *
 * KEEPALIVE. Every ping period each side sends PING (type 3) on every link
 * that is up. Its body is the sender's status (rft_peer_set_status(), at
 * most RFT_PEER_STATUS_MAX bytes, empty from nodes that predate it), also
 * sent when the link comes up and when it changes; a longer body is
 * ignored. A link on which nothing arrived for the dead time
 * is closed (a stopped or partitioned peer), as is a connection whose
 * handshake has not finished within the dead time.
 *
 * WRITES. Frames are appended to the link's out buffer; a prepare handle
 * (run once per loop turn, right before polling) turns each non-empty out
 * buffer into one uv_write, so that the messages of one turn leave together.
 * Large blobs go out as their own write, without a copy, after the out
 * buffer was flushed (order is kept: libuv writes in queue order).
 */

#include "raft/rft_peer_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"

struct peer_wreq {
	uv_write_t req; /* first: the callback casts back */
	struct rft_peer_conn *conn;
	char *data; /* owned bytes, or NULL */
	struct cf_blob *blob;
	size_t len; /* bytes counted in conn->inflight */
	uint8_t hdr[RFT_PEER_HDR_SIZE];
};

/* --- writing --- */

static void conn_write_cb(uv_write_t *req, int status)
{
	struct peer_wreq *w = (struct peer_wreq *)req;
	struct rft_peer_conn *conn = w->conn;

	assert(conn->inflight >= w->len);
	conn->inflight -= w->len;
	free(w->data);
	if (w->blob != NULL)
		cf_blob_unref(w->blob);
	free(w);
	if (status < 0 && status != UV_ECANCELED)
		rft__peer_conn_close(conn, CF_DIAG_INFO, uv_strerror(status));
}

/* Hand the out buffer to one uv_write. */
int rft__peer_conn_flush(struct rft_peer_conn *conn)
{
	struct peer_wreq *w;
	uv_buf_t buf;
	int rv;

	if (conn->out.len == 0)
		return 0;
	w = calloc(1, sizeof *w);
	if (w == NULL)
		return -ENOMEM;
	w->conn = conn;
	w->data = cf_buf_detach(&conn->out, &w->len);
	buf = uv_buf_init(w->data, (unsigned)w->len);
	rv = uv_write(&w->req, (uv_stream_t *)&conn->tcp, &buf, 1,
		      conn_write_cb);
	if (rv != 0) {
		free(w->data);
		free(w);
		return rv;
	}
	conn->inflight += w->len;
	return 0;
}

static void put_hdr(uint8_t *p, uint8_t type, uint64_t req_id, size_t len)
{
	cf_put_u32(p, (uint32_t)(len + RFT_PEER_HDR_SIZE - 4));
	p[4] = type;
	cf_put_u64(p + 5, req_id);
}

/* Append one frame to the out buffer and make sure it is flushed. */
int rft__peer_conn_queue(struct rft_peer_conn *conn, uint8_t type,
			 uint64_t req_id, const void *body, size_t len)
{
	int rv;

	rv = cf_buf_reserve(&conn->out, RFT_PEER_HDR_SIZE + len);
	if (rv != 0)
		return rv;
	put_hdr((uint8_t *)conn->out.data + conn->out.len, type, req_id, len);
	conn->out.len += RFT_PEER_HDR_SIZE;
	if (len > 0)
		memcpy(conn->out.data + conn->out.len, body, len);
	conn->out.len += len;
	rft__peer_schedule_flush(conn->mgr);
	return 0;
}

/*
 * Write [header][blob] as its own uv_write, after flushing the out buffer so
 * that order is kept. On failure the link is closed: CF_EUNAVAIL.
 */
int rft__peer_conn_write_blob(struct rft_peer_conn *conn, uint8_t type,
			      uint64_t req_id, struct cf_blob *blob)
{
	struct peer_wreq *w;
	uv_buf_t bufs[2];
	int rv;

	/* What was queued before goes first. */
	rv = rft__peer_conn_flush(conn);
	if (rv != 0)
		goto err_close;
	w = calloc(1, sizeof *w);
	if (w == NULL)
		return -ENOMEM;
	w->conn = conn;
	w->blob = cf_blob_ref(blob);
	w->len = RFT_PEER_HDR_SIZE + blob->len;
	put_hdr(w->hdr, type, req_id, blob->len);
	bufs[0] = uv_buf_init((char *)w->hdr, RFT_PEER_HDR_SIZE);
	bufs[1] = uv_buf_init(blob->data, (unsigned)blob->len);
	rv = uv_write(&w->req, (uv_stream_t *)&conn->tcp, bufs, 2,
		      conn_write_cb);
	if (rv != 0) {
		cf_blob_unref(blob);
		free(w);
		goto err_close;
	}
	conn->inflight += w->len;
	return 0;

err_close:
	/* The out buffer may be lost: the link cannot keep its order. */
	rft__peer_conn_close(conn, CF_DIAG_WARN, uv_strerror(rv));
	return CF_EUNAVAIL;
}

/* --- connection lifecycle --- */

static void conn_close_cb(uv_handle_t *h)
{
	struct rft_peer_conn *conn = h->data;
	struct rft_peer_mgr *mgr = conn->mgr;

	if (conn->prev != NULL)
		conn->prev->next = conn->next;
	else
		mgr->conns = conn->next;
	if (conn->next != NULL)
		conn->next->prev = conn->prev;
	assert(conn->inflight == 0);
	cf_buf_release(&conn->rbuf);
	cf_buf_release(&conn->out);
	free(conn);
	rft__peer_handle_closed(mgr);
}

/*
 * The single close path of a connection. Reports the link down if it was up
 * and schedules a redial if it was ours. Idempotent.
 */
void rft__peer_conn_close(struct rft_peer_conn *conn, int level,
			  const char *why)
{
	struct rft_peer_mgr *mgr = conn->mgr;
	struct rft_peer_node *node;
	bool was_up = false;

	if (conn->state == CONN_CLOSING)
		return;
	conn->state = CONN_CLOSING;
	node = conn->node_id != 0 ? rft__peer_node(mgr, conn->node_id) : NULL;
	if (node != NULL && node->link == conn) {
		node->link = NULL;
		node->status_len = 0;
		was_up = true;
	}
	if (node != NULL && node->dialing == conn)
		node->dialing = NULL;
	uv_close((uv_handle_t *)&conn->tcp, conn_close_cb);
	if (mgr->state != MGR_RUNNING)
		return;
	if (was_up)
		cf_diag(level > CF_DIAG_INFO ? level : CF_DIAG_INFO,
			"peer link to node %u down: %s", conn->node_id, why);
	else
		cf_diag((enum cf_diag_level)level,
			"peer connection %s node %u closed: %s",
			conn->outgoing ? "to" : "from", conn->node_id, why);
	if (conn->outgoing && node != NULL)
		rft__peer_node_retry(node, mgr);
	if (was_up && mgr->on_state != NULL)
		mgr->on_state(mgr, conn->node_id, false);
}

struct rft_peer_conn *rft__peer_conn_new(struct rft_peer_mgr *mgr)
{
	struct rft_peer_conn *conn;

	conn = calloc(1, sizeof *conn);
	if (conn == NULL)
		return NULL;
	if (uv_tcp_init(mgr->loop, &conn->tcp) != 0) {
		free(conn);
		return NULL;
	}
	conn->tcp.data = conn;
	conn->mgr = mgr;
	cf_buf_init(&conn->rbuf);
	cf_buf_init(&conn->out);
	conn->born_ms = uv_now(mgr->loop);
	conn->last_rx_ms = conn->born_ms;
	conn->next = mgr->conns;
	if (mgr->conns != NULL)
		mgr->conns->prev = conn;
	mgr->conns = conn;
	mgr->handles++;
	return conn;
}

/* --- reading and the protocol --- */

static void conn_proof(const struct rft_peer_conn *conn, unsigned sender,
		       uint8_t out[PEER_PROOF_SIZE])
{
	const struct cf_cluster *c = &conn->mgr->cluster;
	uint8_t msg[11 + 2 * RFT_PEER_NONCE_SIZE + 2];
	unsigned int n = PEER_PROOF_SIZE;
	const uint8_t *dialer = conn->outgoing ? conn->nonce : conn->peer_nonce;
	const uint8_t *acceptor =
		conn->outgoing ? conn->peer_nonce : conn->nonce;

	memcpy(msg, "confab-peer", 11);
	memcpy(msg + 11, dialer, RFT_PEER_NONCE_SIZE);
	memcpy(msg + 11 + RFT_PEER_NONCE_SIZE, acceptor, RFT_PEER_NONCE_SIZE);
	cf_put_u16(msg + 11 + 2 * RFT_PEER_NONCE_SIZE, (uint16_t)sender);
	if (HMAC(EVP_sha256(), c->secret, (int)c->secret_len, msg, sizeof msg,
		 out, &n) == NULL ||
	    n != PEER_PROOF_SIZE)
		memset(out, 0, PEER_PROOF_SIZE); /* never matches a real one */
}

static int conn_on_hello(struct rft_peer_conn *conn, const uint8_t *body,
			 size_t len)
{
	struct rft_peer_mgr *mgr = conn->mgr;
	uint8_t proof[PEER_PROOF_SIZE];
	struct rft_peer_hello h;
	unsigned from, to;
	int rv;

	if (conn->state != CONN_HELLO)
		return CF_ECORRUPT;
	rv = rft_peer_hello_decode(body, len, &h);
	if (rv != 0)
		return rv;
	from = h.from;
	to = h.to;
	if (rft__peer_node(mgr, from) == NULL)
		return CF_EBADREQ;
	if (to != mgr->self_id && !(conn->outgoing && to == 0))
		return CF_EBADREQ;
	if (conn->outgoing ? from != conn->node_id : from > mgr->self_id)
		return CF_EBADREQ;
	conn->node_id = from;
	memcpy(conn->peer_nonce, h.nonce, RFT_PEER_NONCE_SIZE);
	conn_proof(conn, mgr->self_id, proof);
	conn->state = CONN_PROOF;
	return rft__peer_conn_queue(conn, PEER_T_PROOF, 0, proof, sizeof proof);
}

static void conn_up(struct rft_peer_conn *conn)
{
	struct rft_peer_mgr *mgr = conn->mgr;
	struct rft_peer_node *node = rft__peer_node(mgr, conn->node_id);

	assert(node != NULL);
	/* An older link to the same node (a restarted peer): this one wins. */
	if (node->link != NULL)
		rft__peer_conn_close(node->link, CF_DIAG_INFO,
				     "replaced by a new link");
	if (node->dialing == conn)
		node->dialing = NULL;
	node->link = conn;
	node->backoff_ms = mgr->timing.backoff_min_ms;
	node->up_count++;
	conn->state = CONN_UP;
	node->status_len = 0; /* until this link brings one */
	if (mgr->status_len > 0 &&
	    rft__peer_conn_queue(conn, PEER_T_PING, 0, mgr->status,
				 mgr->status_len) != 0)
		cf_warn("peer link to node %u: status not sent", node->id);
	cf_info("peer link to node %u up", node->id);
	if (mgr->on_state != NULL)
		mgr->on_state(mgr, node->id, true);
}

static int conn_on_proof(struct rft_peer_conn *conn, const uint8_t *body,
			 size_t len)
{
	uint8_t want[PEER_PROOF_SIZE];

	if (conn->state != CONN_PROOF || len != PEER_PROOF_SIZE)
		return CF_ECORRUPT;
	conn_proof(conn, conn->node_id, want);
	if (CRYPTO_memcmp(want, body, PEER_PROOF_SIZE) != 0)
		return CF_EUNAUTH;
	conn_up(conn);
	return 0;
}

/* A ping's body: the peer's status, kept for rft_peer_status(). */
static void conn_on_status(struct rft_peer_conn *conn, const uint8_t *body,
			   size_t len)
{
	struct rft_peer_node *node = rft__peer_node(conn->mgr, conn->node_id);

	if (node == NULL || node->link != conn || len > RFT_PEER_STATUS_MAX)
		return;
	memcpy(node->status, body, len);
	node->status_len = (uint8_t)len;
}

static int conn_dispatch(struct rft_peer_conn *conn, uint8_t type,
			 uint64_t req_id, const uint8_t *body, size_t len)
{
	struct rft_peer_mgr *mgr = conn->mgr;

	switch (type) {
	case PEER_T_HELLO:
		return conn_on_hello(conn, body, len);
	case PEER_T_PROOF:
		return conn_on_proof(conn, body, len);
	case PEER_T_PING:
		if (conn->state != CONN_UP)
			return CF_ECORRUPT;
		conn_on_status(conn, body, len);
		return 0;
	default:
		break;
	}
	if (type < RFT_PEER_TYPE_USER || conn->state != CONN_UP)
		return CF_ECORRUPT;
	if (mgr->on_msg != NULL)
		mgr->on_msg(mgr, conn->node_id, type, req_id, body, len);
	return 0;
}

/* Dispatch every complete frame in rbuf (rft_peer_frame_next()). */
static void conn_parse(struct rft_peer_conn *conn)
{
	struct rft_peer_frame f;
	size_t pos = 0;
	int rv;

	while (conn->state != CONN_CLOSING) {
		rv = rft_peer_frame_next((const uint8_t *)conn->rbuf.data + pos,
					 conn->rbuf.len - pos,
					 conn->state == CONN_UP, &f);
		if (rv == 0)
			break;
		if (rv == CF_ETOOBIG) {
			rft__peer_conn_close(conn, CF_DIAG_WARN,
					     "frame too large before "
					     "authentication");
			return;
		}
		if (rv < 0) {
			/* tested: test_rft_peer.c oversize_length_closes_link
			 */
			rft__peer_conn_close(conn, CF_DIAG_WARN,
					     "bad frame length");
			return;
		}
		pos += f.size;
		rv = conn_dispatch(conn, f.type, f.req_id, f.body, f.len);
		if (rv != 0) {
			/* tested: test_rft_peer.c
			 * wrong_secret_link_never_comes_up */
			rft__peer_conn_close(conn, CF_DIAG_WARN,
					     rv == CF_EUNAUTH
						     ? "bad secret proof"
						     : cf_strerror(rv));
			return;
		}
	}
	if (conn->state == CONN_CLOSING)
		return;
	cf_buf_consume(&conn->rbuf, pos);
	if (conn->rbuf.len == 0 && conn->rbuf.cap > PEER_RBUF_KEEP)
		cf_buf_release(&conn->rbuf);
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct rft_peer_conn *conn = h->data;

	(void)suggested;
	if (cf_buf_reserve(&conn->rbuf, PEER_READ_CHUNK) != 0) {
		*buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
		return;
	}
	*buf = uv_buf_init(conn->rbuf.data + conn->rbuf.len,
			   (unsigned)(conn->rbuf.cap - conn->rbuf.len));
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct rft_peer_conn *conn = s->data;

	(void)buf;
	if (nread == 0)
		return;
	if (nread < 0) {
		rft__peer_conn_close(conn, CF_DIAG_INFO,
				     nread == UV_EOF ? "closed by peer"
						     : uv_strerror((int)nread));
		return;
	}
	conn->rbuf.len += (size_t)nread;
	conn->last_rx_ms = uv_now(conn->mgr->loop);
	conn_parse(conn);
}

/* The TCP connection exists: read, and say HELLO. */
int rft__peer_conn_begin(struct rft_peer_conn *conn)
{
	struct rft_peer_mgr *mgr = conn->mgr;
	uint8_t hello[RFT_PEER_HELLO_SIZE];
	int rv;

	uv_tcp_nodelay(&conn->tcp, 1);
	if (RAND_bytes(conn->nonce, sizeof conn->nonce) != 1)
		return -EIO;
	rv = uv_read_start((uv_stream_t *)&conn->tcp, conn_alloc_cb,
			   conn_read_cb);
	if (rv != 0)
		return rv;
	cf_put_u16(hello, RFT_PEER_VERSION);
	cf_put_u16(hello + 2, (uint16_t)mgr->self_id);
	/* The acceptor learns who dialed from the dialer's HELLO only: it
	 * names the receiver 0 and checks the dialer's claim itself. */
	cf_put_u16(hello + 4, (uint16_t)(conn->outgoing ? conn->node_id : 0));
	memcpy(hello + 6, conn->nonce, sizeof conn->nonce);
	conn->state = CONN_HELLO;
	return rft__peer_conn_queue(conn, PEER_T_HELLO, 0, hello, sizeof hello);
}
