/*
 * fe_server: the client-facing side of a node: the HTTP/WebSocket listener,
 * its connections, the routes of API.md, and fan-out of committed records to
 * this node's own sockets.
 *
 * The server does not own the Raft node; confabd builds both, pointing the
 * node's committed-record hook at fe_server_on_record().
 * Ownership: struct fe_server is the caller's; free it only after the close
 * callback. Errors: 0 or a negative code. Threads: loop thread only, except
 * the rebuild hooks (fe_server_on_rebuild, _on_rebuilt, _on_reset), which
 * rft_node_open calls on a thread of libuv's pool while the server is
 * starting (see starting below), and the node's worker thread after a
 * segment fetch while it is rebuilding (see rebuilding below).
 */
#ifndef FE_SERVER_H
#define FE_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "common/cf_conf.h"
#include "common/cf_list.h"
#include "common/cf_map.h"
#include "frontend/fe_fanout.h"
#include "frontend/fe_metrics.h"
#include "frontend/fe_media.h"
#include "frontend/fe_presence.h"
#include "frontend/fe_rate.h"
#include "frontend/fe_wheel.h"
#include "log/log_record.h"
#include "raft/rft_fsm.h"
#include "raft/rft_node.h"
#include "sync/sync_push.h"

struct fe_config {
	bool auth_dev;		/* accept ?user= / X-Confab-User */
	size_t max_body;	/* HTTP body limit: fe_config_send_bytes() */
	size_t ws_max_message;	/* the same */
	size_t ws_max_buffer;	/* pending output per socket, default 4 MiB */
	unsigned max_group;	/* default 500 */
	unsigned max_content_chars; /* default 100,000 */
	size_t max_media;	/* POST /v1/media body, default 16 MiB */
	const char *push_webhook; /* http:// URL, NULL: no push */
	unsigned rate_limit;	/* sends per second per user, default 100 */
	unsigned rate_burst;	/* default 200 */
	const char *web_dir;	/* the page's files (fe_static), NULL: default */
	const char *data_dir;	/* the node's data folder (media, dead letters) */
	/* client connections (fe_conn.h) */
	unsigned max_connections;   /* served at once, default 10,000 */
	uint64_t header_timeout_ms; /* head, then body; default 10 s */
	uint64_t idle_timeout_ms;   /* keep-alive / WebSocket; default 120 s */
	/* larger groups: presence by pull only, no typing (fe_presence.h) */
	unsigned presence_group_max; /* default 100 */
	/* records queued for fan-out at most (fe_fanout.h) */
	unsigned fanout_queue;	/* default FE_FANOUT_QUEUE_MAX */
	/* issue 13: no search index, /v1/search and /v1/mentions 404 */
	bool search_off;
};

/*
 * The largest body of a legal send with content of max_chars characters:
 * JSON may escape each one as a surrogate pair ("\ud83d\ude00", 12
 * bytes), plus FE_SEND_ENVELOPE bytes for the other fields (ids of at most
 * 128 bytes, themselves escaped, the attachment). The default of max_body
 * and ws_max_message.
 */
#define FE_SEND_ENVELOPE (64u * 1024u)
size_t fe_config_send_bytes(unsigned max_chars);

/* What a peer last told us about itself. */
struct fe_peer_status {
	bool known;
	char role[16];
	uint32_t ws_count;
};

struct fe_server {
	uv_loop_t *loop;
	struct rft_node *node;
	const struct cf_cluster *cluster;
	unsigned self;
	struct fe_config cfg;
	uv_tcp_t listener;
	uv_timer_t status_timer;
	struct cf_list conns;	/* every struct fe_conn */
	unsigned n_conns;	/* served (not refused) connections in conns */
	unsigned n_refusing;	/* refused ones still closing */
	struct fe_wheel wheel;	/* the connections' deadlines */
	uv_timer_t wheel_timer; /* advances it every FE_WHEEL_TICK_MS */
	struct cf_list flush_list; /* connections that gathered output */
	uv_check_t flush_check;	/* flushes them at the end of a turn */
	uv_idle_t flush_idle;	/* active while flush_list is not empty */
	char *read_buf;		/* shared by every read (fe_conn.c) */
	bool read_buf_lent;	/* between a read's alloc and its callback */
	unsigned n_ws;		/* open WebSockets */
	struct cf_map users;	/* user id -> struct fe_user (sockets) */
	struct fe_peer_status peers[CF_MAX_NODES];
	struct fe_metrics metrics;
	struct fe_sync *sync;	/* inbox index + long polls (fe_api_sync) */
	struct sync_search *search; /* search index, NULL: --search=off */
	struct fe_fanout fanout; /* committed records on their way to sockets */
	struct fe_presence presence; /* online state, typing */
	struct fe_media media;	     /* blobs, their references */
	struct sync_push push;	     /* when cfg.push_webhook */
	bool push_on;
	/*
	 * Recalls met by the rebuild at start (before push starts; a node
	 * attached later): erased from the dead letter file once push starts,
	 * if there is one (a crash may have come between a recall's apply
	 * and that erasure). Held only until then.
	 */
	struct cf_buf push_recalls;  /* u8 id length, id, u64 seq */
	struct fe_rate rate;	     /* per-user send rate */
	/*
	 * Listening, node not open yet (issue 11): the store's open writes
	 * the indexes above (sync, media, push_recalls) from the thread
	 * pool, so nothing reads them and node is not used: /healthz,
	 * /readyz and a short /metrics answer, other API routes 503.
	 */
	bool starting;
	/*
	 * The node rebuilds its state after a segment fetch (issue 11;
	 * fe_server_on_rebuilding, rft_node_rebuilding): its worker writes
	 * the same indexes and the FSM, so the same routes answer 503, long
	 * polls and WebSockets are ended when it begins, and typing and media
	 * peer messages are dropped. Written on the loop only.
	 */
	bool rebuilding;
	bool listening; /* fe_server_listen done */
	bool started;	/* fe_server_start done */
	bool closing;
	int pending_closes;
	void (*close_cb)(struct fe_server *s);
};

void fe_config_default(struct fe_config *c);
/* Prepare; node may be attached later with fe_server_attach(). */
void fe_server_init(struct fe_server *s, uv_loop_t *loop,
		    const struct cf_cluster *cluster, unsigned self,
		    const struct fe_config *cfg);
void fe_server_attach(struct fe_server *s, struct rft_node *node);
/*
 * Listen on this node's client address while the node still opens its
 * store (issue 11): starting is set; the connections and their timers run,
 * and routes that need the node or the indexes answer 503 (see starting).
 */
int fe_server_listen(struct fe_server *s, char *errmsg);
/*
 * Once the node is attached and open: listen if not done yet, start the
 * status, presence and push side, and serve every route.
 */
int fe_server_start(struct fe_server *s, char *errmsg);
/*
 * Why routes that need the node or the indexes answer 503 `unavailable`
 * now (a message for the client), or NULL: the node is starting, or
 * rebuilding its state after a segment fetch.
 */
const char *fe_server_unavailable(const struct fe_server *s);
/*
 * rft_node on_rebuilding (on the loop): the node's worker begins (on) or
 * ended (!on) the rebuild after a segment fetch. On: long polls answer
 * 503 and WebSockets close with 1013. Off: recalls met by the rebuild go
 * to push's dead-letter erasure.
 */
void fe_server_on_rebuilding(void *arg, bool on);
/*
 * Stop listening, close every connection; cb once all handles closed. Not
 * while the node's open may still write the indexes (see starting).
 */
void fe_server_close(struct fe_server *s, void (*cb)(struct fe_server *s));
/* The output flush at the end of each loop turn (fe_conn_write.c). */
void fe_server_flush_check_cb(uv_check_t *h);
void fe_server_flush_idle_cb(uv_idle_t *h);

/* Free what the server still holds, once its close callback ran. */
void fe_server_release(struct fe_server *s);

/*
 * rft_fsm_record_cb: index a committed record (inbox, media, push) and
 * queue it for fan-out to local sockets (fe_fanout).
 */
void fe_server_on_record(void *arg, const struct log_record *rec,
			 const struct rft_conv *conv);
/* rft_fsm on_rebuild: index a record read while the store opens. */
void fe_server_on_rebuild(void *arg, const struct log_record *rec,
			  const struct rft_conv *conv);
/* rft_fsm on_rebuilt: every record was read (media erasures settle). */
void fe_server_on_rebuilt(void *arg);
/* rft_fsm on_reset: forget record indexes before a rebuild after a fetch. */
void fe_server_on_reset(void *arg);
/*
 * rft_fsm on_image_write: the frontend's sections of the state image, in
 * order: the inbox index (fe_api_sync), the media reference index
 * (fe_media). Runs in a forked child of the node: reads, allocates, takes
 * no lock and touches no loop or descriptor but through w.
 */
struct cf_imgw;
struct cf_imgr;
void fe_server_image_write(void *arg, struct cf_imgw *w);
/*
 * rft_fsm on_image_read: read those sections back on open, before any
 * record after the image: 0, CF_ECORRUPT or -ENOMEM. On failure the
 * indexes are left empty (and on_reset runs before the full rebuild).
 */
int fe_server_image_read(void *arg, struct cf_imgr *r);
/* rft_node_user_msg_cb target: peer status messages. */
void fe_server_on_peer_msg(struct fe_server *s, unsigned from, uint8_t type,
			   const void *body, size_t len);

#endif
