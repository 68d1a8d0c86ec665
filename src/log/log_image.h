/*
 * log_image: the state image of a node (issue 11, "Start-up costs
 * O(state)"). Everything a node derives from its records (the store's seq
 * index and per-partition counters, the FSM's conversations, idempotency
 * window and media, the frontend's inbox and media indexes) is a function
 * of the records up to an applied index. An image is that state written
 * down at an index A, so that opening the store loads it and reads only
 * the records after A instead of every record of the store.
 *
 * An image is a cache, never the truth: the segments are. It is named by a
 * manifest (log_manifest.h, version 4) only once it is complete and
 * durable, it is checked (checksum, header, and that it fits the
 * manifest's files) before use, and any doubt makes the open ignore it
 * and read every record. It is written whole, by a forked child of the
 * node (raft/rft_image.c decides when), from the memory of the parent at
 * the moment of the fork, between two entries: the loop pays only the
 * fork.
 *
 * Files, in the store's folder: "image-%020llu" (A), written as image.tmp
 * then renamed. The checkpoint that names a new image unlinks the one it
 * replaces after its manifest is durable; an open unlinks every image file
 * the manifest does not name.
 *
 * Ownership: log_image_write touches only what it reads and its own file.
 * Errors: 0, -errno, CF_ECORRUPT. Threads: log_image_write may run in a
 * child of fork() (no lock taken, allocation only for its buffer).
 */
#ifndef LOG_IMAGE_H
#define LOG_IMAGE_H

#include <stdint.h>

#include "common/cf_img.h"
#include "log/log_store.h"

#define LOG_IMAGE_TMP "image.tmp"
#define LOG_IMAGE_NAME 32

/* "image-%020llu" of index into name[LOG_IMAGE_NAME]. */
void log_image_name(char *name, uint64_t index);

/* Writes the sections of the layers above the store's. */
typedef void (*log_image_write_cb)(void *arg, struct cf_imgw *w);

/*
 * Write the image of s at applied index `index` (every entry up to it
 * applied and committed to s, nothing staged): header, the store's
 * section, then upper's sections; fsync it, rename it into place, fsync
 * the folder. The store does not name it until log_store_image_ready().
 */
int log_image_write(const struct log_store *s, uint64_t index,
		    log_image_write_cb upper, void *arg, char *errmsg);

/*
 * The image of index was written: the next checkpoint names it (and
 * then unlinks the one it replaces).
 */
void log_store_image_ready(struct log_store *s, uint64_t index);
/* The image the last durable manifest names (0: none). */
uint64_t log_store_image_index(const struct log_store *s);

#endif
