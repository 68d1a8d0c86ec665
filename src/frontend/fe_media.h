/*
 * fe_media: media blobs (API.md "Media", DESIGN.md "Media blobs").
 *
 *   POST /v1/media        raw body + Content-Type, at most --max-media
 *   GET  /v1/media/{id}   the bytes, with their Content-Type
 *
 * Upload: the node that takes the request forwards the blob to the leader
 * over the peer links (or is the leader). The leader names it, writes it
 * (fsync) under DIR/media/, pushes it to every follower, and once a
 * majority (itself included) holds it commits RFT_CMD_MEDIA with
 * {size, mime, xxh3} before answering {"mediaId","size","mime"}.
 * Download: allowed to the uploader and to members of a conversation
 * whose message's attachment names the mediaId (an index built from the
 * committed records: those read while the store opens, then each applied
 * one; a reference or member not known yet is checked again after a
 * read-index, so a reader is never refused for lag). A node without
 * the blob fetches it from its peers, checks its xxh3, stores it, answers.
 * Blob files are written (fsync included) and read in libuv's thread pool,
 * never on the loop (fe_media_io.c).
 * Erasure: when every message that references a blob has been recalled,
 * its file is unlinked at the recall's apply, on every node, and reads
 * answer 404.
 *
 * Ownership: the state belongs to the server (fe_media_init/release);
 * waiting requests hold a connection reference.
 * Errors: answered to the client with API.md's codes (413 over the limit,
 * 403, 404, 503 when no leader or no majority answers in time).
 * Threads: loop thread only.
 */
#ifndef FE_MEDIA_H
#define FE_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cf_list.h"
#include "common/cf_map.h"
#include "frontend/fe_conn.h"
#include "frontend/fe_http.h"
#include "log/log_record.h"
#include "raft/rft_fsm.h"
#include "raft/rft_node.h"

#define FE_MSG_MEDIA_UP (RFT_MSG_USER + 3)    /* upload, to the leader */
#define FE_MSG_MEDIA_UP_R (RFT_MSG_USER + 4)  /* its answer */
#define FE_MSG_MEDIA_PUT (RFT_MSG_USER + 5)   /* leader -> follower blob */
#define FE_MSG_MEDIA_PUT_R (RFT_MSG_USER + 6) /* stored (status) */
#define FE_MSG_MEDIA_GET (RFT_MSG_USER + 7)   /* fetch a blob */
#define FE_MSG_MEDIA_GET_R (RFT_MSG_USER + 8) /* the blob, or a status */

#define FE_MEDIA_MAX_DEFAULT (16u << 20)

struct fe_server;

struct fe_media {
	struct fe_server *srv;
	struct cf_map index;	 /* mediaId -> struct fe_media_meta */
	struct cf_map by_msg;	 /* "conv\x1fseq" of an attachment -> mediaId */
	struct cf_list xfers;	 /* incoming chunked transfers */
	struct cf_list uploads;	 /* leader: blobs waiting for a majority */
	struct cf_list waits;	 /* local requests waiting for a peer */
	uint64_t next_req;
	unsigned io_inflight;	 /* blob reads and writes in the pool */
};

void fe_media_init(struct fe_media *m, struct fe_server *srv);
void fe_media_release(struct fe_media *m);
/* Forget the reference index (rebuilt from a fetched store next). */
void fe_media_reset_index(struct fe_media *m);
/* Time out waiting requests (called about every 250 ms). */
void fe_media_tick(struct fe_media *m);
/*
 * Committed records: media references and message attachments. live: in
 * Raft order as applied (a blob whose last reference is recalled is erased
 * at once); false while a rebuild reads the store partition by partition,
 * where a reference from another partition may come later: erasure then
 * waits for fe_media_rebuilt().
 */
void fe_media_on_record(struct fe_media *m, const struct log_record *rec,
			const struct rft_conv *conv, bool live);
/* A rebuild read every record: erase the blobs no message references. */
void fe_media_rebuilt(struct fe_media *m);
/*
 * The state image (issue 11; section format in fe_media_image.c). Write:
 * the reference index as it stands, through w's sticky error, allocating
 * nothing (a forked child of the node may call it). Read, on open, into
 * the empty index, in place of the records the image covers: 0,
 * CF_ECORRUPT or -ENOMEM (then the index is empty again).
 */
struct cf_imgw;
struct cf_imgr;
void fe_media_image_write(const struct fe_media *m, struct cf_imgw *w);
int fe_media_image_read(struct fe_media *m, struct cf_imgr *r);
/* Peer messages FE_MSG_MEDIA_*; false if not ours. */
bool fe_media_peer_msg(struct fe_media *m, unsigned from, uint8_t type,
		       const void *body, size_t len);
/* POST /v1/media, GET /v1/media/{id}; false for other routes. */
bool fe_media_http(struct fe_conn *c, const struct fe_http_req *req,
		   const char *user);

#endif
