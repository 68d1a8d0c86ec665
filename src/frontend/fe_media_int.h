/*
 * fe_media_int: what fe_media.c and fe_media_io.c share: chunked peer
 * messages (send, reassembly) and the blob files. Not for other modules.
 * Ownership: a completed transfer is the caller's for the duration of
 * fe_media_complete() only. Errors: 0 or a negative code.
 * Threads: loop thread only.
 */
#ifndef FE_MEDIA_INT_H
#define FE_MEDIA_INT_H

#include <jansson.h>

#include "common/cf_buf.h"
#include "common/cf_list.h"
#include "frontend/fe_media.h"

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
/* Write DIR/media/id durably (tmp, fsync, rename, fsync dir). */
int fe_media_blob_write(struct fe_media *m, const char *id, const void *data,
			size_t len);
/* Read DIR/media/id into *out (malloc'd); CF_ENOTFOUND if absent. */
/* Remove the blob's file (erasure); 0 if it was not there. */
int fe_media_blob_unlink(struct fe_media *m, const char *id);
int fe_media_blob_read(struct fe_media *m, const char *id, char **out,
		       size_t *len);
/* Drop transfers idle since before now - 30 s (UINT64_MAX: all). */
void fe_media_xfers_expire(struct fe_media *m, uint64_t now);
/* fe_media.c: act on a complete transfer. */
void fe_media_complete(struct fe_media *m, struct fe_media_xfer *x);

#endif
