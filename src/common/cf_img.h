/*
 * cf_img: the primitives of the state image (issue 11, "Start-up costs
 * O(state)"): a streaming writer that checksums everything it writes, and
 * a bounds-checked reader over a mapped image file.
 *
 * The image is a cache of derived state, written by a forked child of the
 * node (raft/rft_image.c specifies the file and when it is written). Each
 * module that owns derived state writes and reads its own section with
 * these primitives: integers little-endian, strings as u32 length + bytes.
 * A section ends with cf_imgw_end()/cf_imgr_end() (a marker), so that a
 * reader that consumed too much or too little fails there.
 *
 * Errors are sticky: the first failure (a write error, a short or
 * malformed image) is kept in ->err; later calls do nothing (readers return
 * zeros and empty strings), so a section is written or read straight
 * through and its result checked once. Writer: 0 or -errno. Reader:
 * CF_ECORRUPT or -ENOMEM.
 *
 * Ownership: the writer owns its buffer, not the descriptor; the map owns
 * the mapping (cf_img_unmap). Strings a reader returns borrow from the
 * mapping. Threads: one thread at a time per writer or reader. The writer
 * allocates only at cf_imgw_init (a child of fork() may use it).
 */
#ifndef CF_IMG_H
#define CF_IMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"

struct cf_imgw {
	int fd;
	uint8_t *buf;
	size_t len, cap;
	uint64_t bytes;	 /* written so far, buffer included */
	void *xxh;	 /* XXH3 state of every byte */
	int err;
};

/* A writer to fd (positioned at the start of an empty file). */
int cf_imgw_init(struct cf_imgw *w, int fd);
void cf_imgw_release(struct cf_imgw *w);
void cf_imgw_u8(struct cf_imgw *w, uint8_t v);
void cf_imgw_u32(struct cf_imgw *w, uint32_t v);
void cf_imgw_u64(struct cf_imgw *w, uint64_t v);
void cf_imgw_bytes(struct cf_imgw *w, const void *p, size_t n);
/* u32 length, then the bytes (p may be NULL when n is 0). */
void cf_imgw_str(struct cf_imgw *w, const char *p, size_t n);
/* A NUL-terminated string (NULL is written as ""). */
void cf_imgw_cstr(struct cf_imgw *w, const char *s);
/* Start and end a section: a tag, and the end marker. */
void cf_imgw_begin(struct cf_imgw *w, uint32_t tag);
void cf_imgw_end(struct cf_imgw *w, uint32_t tag);
/* Write what is buffered and the checksum of everything: 0 or w->err. */
int cf_imgw_finish(struct cf_imgw *w);

/* A mapped image whose checksum was verified. */
struct cf_img_map {
	const uint8_t *p;
	size_t len; /* bytes before the checksum */
	size_t maplen;
};
/*
 * Map the file fd and verify its trailing checksum: 0, CF_ECORRUPT (short,
 * damaged) or -errno.
 */
int cf_img_map(struct cf_img_map *m, int fd);
void cf_img_unmap(struct cf_img_map *m);

struct cf_imgr {
	const uint8_t *p, *end;
	int err;
};

void cf_imgr_init(struct cf_imgr *r, const struct cf_img_map *m);
uint8_t cf_imgr_u8(struct cf_imgr *r);
uint32_t cf_imgr_u32(struct cf_imgr *r);
uint64_t cf_imgr_u64(struct cf_imgr *r);
/* n bytes in place, or NULL (error set) if fewer remain. */
const void *cf_imgr_bytes(struct cf_imgr *r, size_t n);
/* A string of at most max bytes, in place (err set past max). */
struct cf_str cf_imgr_str(struct cf_imgr *r, size_t max);
/* The same, copied with a NUL (malloc); NULL with err set on failure. */
char *cf_imgr_strdup(struct cf_imgr *r, size_t max);
/*
 * A u32 count of items that take at least min_bytes each: err set (and 0
 * returned) if the rest of the image cannot hold that many, so that a
 * damaged count never makes a reader allocate without bound.
 */
uint32_t cf_imgr_count(struct cf_imgr *r, size_t min_bytes);
/* Bytes left. */
size_t cf_imgr_left(const struct cf_imgr *r);
/* Fail with CF_ECORRUPT (a reader's own check found the data wrong). */
void cf_imgr_fail(struct cf_imgr *r);
/* Expect a section's tag, and its end marker. */
void cf_imgr_begin(struct cf_imgr *r, uint32_t tag);
void cf_imgr_end(struct cf_imgr *r, uint32_t tag);

#endif
