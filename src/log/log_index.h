/*
 * log_index: the per-conversation seq index of the segment store.
 *
 * Maps conversation id -> where each of its messages lives (segment number
 * and byte offset), plus the conversation's last seq. A conversation keeps
 * a sorted list of runs {first seq, segment, u32 offsets[]}: a new run
 * starts when the segment changes or seqs skip, so memory is about 4 bytes
 * per message plus a little per run and per conversation, and a lookup is a
 * hash probe plus a binary search over the runs.
 *
 * Ownership: the index owns its memory; log_index_release() frees it.
 * Conversation handles (struct log_iconv) stay valid until the conversation
 * loses its last message (log_index_pop) or the index is released.
 * Errors: 0, -ENOMEM, CF_EBADREQ (seq not above the last one), CF_ENOTFOUND.
 * Threads: one thread at a time.
 */
#ifndef LOG_INDEX_H
#define LOG_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"
#include "common/cf_img.h"
#include "common/cf_map.h"

struct log_iconv;

struct log_index {
	struct cf_map convs; /* conversation id -> struct log_iconv */
	uint64_t messages;   /* locations held */
	uint64_t bytes;	     /* heap bytes held, map slots included */
};

void log_index_init(struct log_index *ix);
void log_index_release(struct log_index *ix);

/*
 * Record that conv's message seq is at (segno, off). seq must be above the
 * conversation's last seq (CF_EBADREQ otherwise, nothing changed). If c is
 * not NULL it receives the conversation's handle (for log_index_pop).
 */
int log_index_add(struct log_index *ix, struct cf_str conv, uint64_t seq,
		  uint32_t segno, uint32_t off, struct log_iconv **c);
/*
 * Record that conv's message seq is in the cold file that replaced
 * segment segno (the cold file finds it itself): no offset is kept, so a
 * conversation's messages in one cold file cost one run, not 4 bytes
 * each. log_index_find then gives offset 0.
 */
int log_index_add_cold(struct log_index *ix, struct cf_str conv,
		       uint64_t seq, uint32_t segno);
/*
 * Forget the last location added to c (undo of log_index_add, newest
 * first). A conversation left without messages is removed and c freed.
 */
void log_index_pop(struct log_index *ix, struct log_iconv *c);

/* Location of conv's message seq, or CF_ENOTFOUND. */
int log_index_find(const struct log_index *ix, struct cf_str conv,
		   uint64_t seq, uint32_t *segno, uint32_t *off);
/* Last seq of conv, 0 if it has no message. */
uint64_t log_index_last_seq(const struct log_index *ix, struct cf_str conv);
/* First seq of conv, 0 if it has no message. */
uint64_t log_index_first_seq(const struct log_index *ix, struct cf_str conv);
/* Conversations with at least one message. */
size_t log_index_count(const struct log_index *ix);

/*
 * The index's section of a state image (log_image.h): write it (no
 * allocation, no lock: a forked child writes images), and read it into an
 * empty index: 0, CF_ECORRUPT or -ENOMEM (r->err), the index then empty.
 */
typedef uint32_t (*log_index_cold_fn)(void *arg, struct cf_str conv,
				      uint32_t segno);
/*
 * cold_of (may be NULL) says, for a segment of conv's messages, the segno
 * of the cold file that replaced it (its index name), or 0: those runs are
 * written as cold runs, without offsets.
 */
void log_index_image_write(const struct log_index *ix, struct cf_imgw *w,
			   log_index_cold_fn cold_of, void *arg);
int log_index_image_read(struct log_index *ix, struct cf_imgr *r);

#endif
