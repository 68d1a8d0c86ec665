/*
 * cf_blob: refcounted, immutable bytes shared by many readers.
 *
 * Fan-out builds the WebSocket frame of a committed message once and hands the
 * same blob to every member socket's uv_write; each write callback drops one
 * reference. A blob is mutable only until it is first shared (refs == 1).
 * Ownership: cf_blob_new() returns one reference; cf_blob_unref() frees on the
 * last. Errors: cf_blob_new() returns NULL on out-of-memory.
 * Threads: the refcount is not atomic: loop thread only.
 */
#ifndef CF_BLOB_H
#define CF_BLOB_H

#include <stddef.h>

struct cf_blob {
	unsigned refs;
	size_t len;
	char data[];
};

/* A blob of len bytes, uninitialised, with one reference. */
struct cf_blob *cf_blob_new(size_t len);
/* A blob holding a copy of p[0..len). */
struct cf_blob *cf_blob_copy(const void *p, size_t len);
struct cf_blob *cf_blob_ref(struct cf_blob *b);
void cf_blob_unref(struct cf_blob *b);

#endif
