/*
 * fe_media_int: what fe_media.c, fe_media_index.c, fe_media_io.c and
 * fe_media_image.c share: the reference index's entries, chunked peer
 * messages (send, reassembly) and the blob files. Not for other modules.
 * Ownership: a completed transfer is the caller's for the duration of
 * fe_media_complete() only. Errors: 0 or a negative code.
 * Threads: loop thread only, except the blob jobs (libuv's thread pool),
 * which touch only their own bytes and files.
 */
#ifndef FE_MEDIA_INT_H
#define FE_MEDIA_INT_H

#include <jansson.h>

#include "common/cf_buf.h"
#include "common/cf_list.h"
#include "frontend/fe_media.h"

/* A mediaId's entry in the index of committed references (m->index). */
struct fe_media_meta {
	bool committed;
	char user[129];
	char mime[128];
	uint64_t size;
	uint64_t xxh3;
	char **convs; /* conversations whose messages reference it */
	unsigned n_convs;
	unsigned live; /* messages referencing it, not recalled */
	bool erased;   /* every reference recalled: the file is gone */
	bool unref;    /* rebuild: a recall dropped its last reference so far */
};

/*
 * The index entry of mediaId id (fe_media_index.c): NULL if there is none
 * and !create, or if creating it failed (memory).
 */
struct fe_media_meta *fe__media_meta_get(struct fe_media *m, const char *id,
					 size_t len, bool create);
/* Free both maps of the index and their entries (left released). */
void fe__media_index_clear(struct fe_media *m);

/* An incoming chunked transfer. */
struct fe_media_xfer {
	struct cf_list link;
	unsigned from;
	uint8_t type;
	uint64_t req;
	json_t *hdr;
	struct cf_buf data;
	uint64_t t_ms;
};

/* --max-media (or the default). */
size_t fe_media_max(const struct fe_media *m);
/* Send hdr (may be NULL) and data to node to as one chunked message. */
int fe_media_send(struct fe_media *m, unsigned to, uint8_t type, uint64_t req,
		  json_t *hdr, const void *data, size_t len);
/* Send {"status": status}. */
int fe_media_send_status(struct fe_media *m, unsigned to, uint8_t type,
			 uint64_t req, int status);
/* Write DIR/media/id durably (tmp, fsync, rename, fsync dir). Any thread. */
int fe_media_blob_write(struct fe_media *m, const char *id, const void *data,
			size_t len);
/* Remove the blob's file (erasure); 0 if it was not there. */
int fe_media_blob_unlink(struct fe_media *m, const char *id);
/* Read DIR/media/id into *out (malloc'd); CF_ENOTFOUND if absent. Any thread. */
int fe_media_blob_read(struct fe_media *m, const char *id, char **out,
		       size_t *len);
/*
 * The same in libuv's thread pool, so that the loop never waits for the
 * disk: cb(m, status, data, len, arg) follows on the loop. A write takes
 * data (malloc'd) and frees it; cb gets no data. A read's cb gets the
 * bytes on success and owns them (free). On a non-zero return nothing is
 * queued (the data is freed) and cb never runs. While queued, m (and its
 * server) stay valid: the loop does not end before cb has run.
 */
typedef void (*fe_media_io_cb)(struct fe_media *m, int status, char *data,
			       size_t len, void *arg);
int fe_media_blob_write_async(struct fe_media *m, const char *id, char *data,
			      size_t len, fe_media_io_cb cb, void *arg);
int fe_media_blob_read_async(struct fe_media *m, const char *id,
			     fe_media_io_cb cb, void *arg);
/* Take a transfer's bytes (malloc'd; NULL if empty). */
char *fe_media_xfer_take(struct fe_media_xfer *x, size_t *len);
/*
 * A peer's PUT (put: write the transfer's bytes as blob id) or GET (read
 * blob id): the disk work in the thread pool, then the answer (PUT_R with
 * the status; GET_R with the status and the bytes) to the asking node.
 */
void fe_media_peer_blob_io(struct fe_media *m, struct fe_media_xfer *x,
			   const char *id, bool put);
/* Tests only: called in the pool before each blob job (a slow disk). */
extern void (*fe_media_io_test_hook)(void *arg);
extern void *fe_media_io_test_arg;
/* Drop transfers idle since before now - 30 s (UINT64_MAX: all). */
void fe_media_xfers_expire(struct fe_media *m, uint64_t now);
/* fe_media.c: act on a complete transfer. */
void fe_media_complete(struct fe_media *m, struct fe_media_xfer *x);

#endif
