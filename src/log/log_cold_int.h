/*
 * log_cold_int: layout constants shared by log_cold_write.c (which
 * specifies the format) and log_cold_read.c. Not for other modules.
 * Threads: any; no state.
 */
#ifndef LOG_COLD_INT_H
#define LOG_COLD_INT_H

#include <stddef.h>
#include <string.h>

#include "common/cf_buf.h"

#define COLD_MAGIC "CFCOLDSG"
#define COLD_END_MAGIC "CFCOLDEN"
#define COLD_VERSION 1
#define COLD_HDR 64	   /* file header */
#define COLD_BLOCK_HDR 24  /* block header */
#define COLD_BTAB_ENT 24   /* index: one block */
#define COLD_IDX_HDR 40	   /* index: counts and content identity */
#define COLD_CONV_FIXED 28 /* index: conversation fields after its id */
#define COLD_RUN 20	   /* index: one run */
#define COLD_TRAILER 40	   /* file trailer */
#define COLD_REC_HDR 48	   /* log_record.c header */
#define COLD_REC_MIN 57	   /* smallest valid encoded record */
#define COLD_CONV_MAX 128  /* longest conversation id */

/* Bytewise order of conversation ids (a prefix sorts first). */
static inline int cold_conv_cmp(struct cf_str a, struct cf_str b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n > 0 ? memcmp(a.p, b.p, n) : 0;

	if (c != 0)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

/* A record added to a cold writer (log_cold_write.c). */
struct cw_ent {
	uint64_t off;	/* in w->recs */
	uint32_t len;
	uint8_t kind;
	uint64_t seq;
	uint64_t ridx;
	uint64_t mid;
};

/*
 * Edits among one conversation's records (log_cold_edits.c): each edited
 * seq once with the highest messageId of its LOG_REC_EDIT records, sorted
 * by seq (*out malloc'd, NULL if none); 0 or -ENOMEM. The compare orders
 * by seq, for bsearch.
 */
struct log__cold_edit {
	uint64_t seq;
	uint64_t mid; /* highest messageId of its edits */
};
int log__cold_edits(const struct cw_ent *ents, size_t n,
		    struct log__cold_edit **out, size_t *nout);
int log__cold_edit_cmp(const void *a, const void *b);

#endif
