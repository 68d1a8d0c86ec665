#include "config.h"

/*
 * Cold segment file layout. Every integer is little-endian.
 *
 *   file = header | block* | index | trailer
 *
 * Header (64 bytes, offset 0):
 *        0     8  magic "CFCOLDSG"
 *        8     2  version (1)
 *       10     2  reserved, zero
 *       12     4  partition
 *       16     4  cold segment number
 *       20     4  reserved, zero
 *       24     8  records in the file
 *       32     8  lowest raft index of a record (0 if none)
 *       40     8  highest raft index of a record (0 if none)
 *       48     8  reserved, zero
 *       56     8  XXH3_64bits of bytes [0, 56)
 *
 * Block (the first at offset 64, then back to back up to the index):
 *        0     4  compressed length c (>= 1, <= LZ4_compressBound(u))
 *        4     4  uncompressed length u (1 .. LOG_RECORD_MAX)
 *        8     4  records in the block (>= 1)
 *       12     4  reserved, zero
 *       16     8  XXH3_64bits of the c compressed bytes
 *       24     c  LZ4 block (LZ4_compress_default) of u bytes: whole records
 *                 encoded as log_record.c does, back to back
 *   A block takes records while its uncompressed size stays within
 *   LOG_COLD_BLOCK (64 KiB); a record is never split, so a record larger
 *   than that gets a block of its own.
 *
 * Record order: conversations in bytewise order of their id (shorter first
 * on a common prefix); inside a conversation its messages by seq, then its
 * other records (CONV, MEMBERS, RECALL, RECEIPT, MEDIA: media references
 * live under their pseudo conversation) by (raft index, messageId). Records
 * of several conversations share blocks. Ties left (the same key twice) are
 * broken by the encoded bytes, so the order, and the file, depend only on
 * the set of records: every node writes identical files. Two messages with
 * the same conversation and seq are refused.
 *
 * Recalled messages (a LOG_REC_RECALL of the same conversation and seq among
 * the records, or the writer's callback says so) are written with an empty
 * body and flags LOG_REC_MSG_RECALLED only; their content never reaches
 * the file, nor does that of their edits (LOG_REC_EDIT, same flag).
 * Edited messages (a LOG_REC_EDIT of the same conversation and seq among
 * the records) are written with an empty body and flags LOG_REC_MSG_EDITED
 * only, and so are their edits but the one of the highest messageId (the
 * latest version of the file's records).
 *
 * Index (right after the last block):
 *        0     4  blocks B
 *        4     4  conversations C
 *        8     8  records (== header)
 *       16     8  messages
 *       24     8  recalled messages
 *       32     8  content identity: XXH3_64bits of the decoded record
 *                 stream (the uncompressed bytes of every block, in order).
 *                 Unlike the file checksum it does not depend on the
 *                 liblz4 build: fetch and verify compare files by it.
 *       40  24*B  per block: u64 file offset, u32 c, u32 u, u32 records,
 *                 u32 reserved zero (equal to the block's own header)
 *        .     .  per conversation, in file order:
 *                   u8 id length (1..128), id bytes,
 *                   u64 messages, u64 other records, u32 runs R,
 *                   u32 block, u32 offset (in the uncompressed block) of
 *                   its first other record (0, 0 if none),
 *                   R runs of 20 bytes: u64 first seq, u32 count,
 *                   u32 block, u32 offset of the run's first record.
 *   A run is a stretch of consecutive seqs stored back to back in one
 *   block: a new run starts when the seq skips or the block changes. A read
 *   by seq is a binary search over conversations, one over its runs, one
 *   block decompressed and a walk over at most one block's records.
 *
 * Trailer (40 bytes, the end of the file):
 *        0     8  index offset
 *        8     8  index length
 *       16     8  XXH3_64bits of the index
 *       24     8  XXH3_64bits of the whole file before the trailer
 *       32     8  magic "CFCOLDEN"
 *
 * Validity: log_cold_open() requires a header with a matching checksum,
 * magic and zero reserved fields (CF_EVERSION for another version), a
 * trailer with its magic whose index ends where the trailer starts, the
 * index checksum, blocks that tile [64, index offset), conversations in
 * strictly increasing order with runs of increasing seqs inside known
 * blocks, and counts that add up. A block is checked when read (header
 * equal to its index entry, checksum, exact decompressed length) and each
 * record by log_record.c's rule. log_cold_verify() reads everything and
 * also checks the whole-file checksum and that every record sits where the
 * index says.
 */

#include "log/log_cold.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/cf_err.h"
#include "common/cf_io.h"
#include "common/cf_vfs.h"
#include "log/log_cold_int.h"
#include "log/log_segment.h"
#include "log/log_store.h"

/* Bytes buffered before a write(2). */
#define COLD_WRITE_CHUNK (1u << 20)
/*
 * Write-behind: writeback of each chunk starts as soon as it is written,
 * and the writer waits for the chunk this far behind to reach the disk. A
 * cold file is tens of MiB; left dirty until the final fsync it would be
 * flushed in one burst that the journal makes every other fsync of the
 * disk (Raft's, the hot segments') wait for, stalling acknowledgements
 * (RocksDB's bytes_per_sync, for the same reason).
 */
#define COLD_WRITE_BEHIND (4u << 20)


struct log_cold_writer {
	int dirfd;
	char *name;
	char *tmp;
	int fd;
	unsigned partition;
	uint32_t coldno;
	log_cold_recalled_fn recalled;
	void *recalled_arg;
	struct cf_buf recs;	/* every record added, encoded */
	struct cw_ent *ents;
	size_t n, cap;
	uint64_t min_index, max_index;
	/* Output state of finish. */
	XXH3_state_t *xs;
	XXH3_state_t *cs;	/* content identity */
	struct cf_buf out;	/* file bytes not written yet */
	uint64_t written;	/* file bytes handed to out so far */
	uint64_t on_file;	/* file bytes write(2) took so far */
	uint64_t wb_waited;	/* file bytes known to be on disk */
	struct cf_buf block;	/* uncompressed block being filled */
	uint32_t block_recs;
	struct cf_buf zbuf;	/* compression output */
	struct cf_buf btab;	/* index: block entries */
	struct cf_buf ctab;	/* index: conversation entries */
	struct cf_buf runs;	/* runs of the current conversation */
	struct cf_buf rec;	/* a re-encoded (recalled) record */
	uint32_t nblocks;
	struct log_cold_info info;
};

void log_cold_name(char *name, uint32_t coldno)
{
	snprintf(name, LOG_COLD_NAME, "%08u.cold", (unsigned)coldno);
}

int log_cold_parse_name(const char *name, uint32_t *coldno)
{
	return log_file_parse_name(name, ".cold", coldno);
}

static void cw_free(struct log_cold_writer *w)
{
	if (w->fd >= 0)
		cf_vfs_close(w->fd);
	if (w->xs != NULL)
		XXH3_freeState(w->xs);
	if (w->cs != NULL)
		XXH3_freeState(w->cs);
	cf_buf_release(&w->recs);
	cf_buf_release(&w->out);
	cf_buf_release(&w->block);
	cf_buf_release(&w->zbuf);
	cf_buf_release(&w->btab);
	cf_buf_release(&w->ctab);
	cf_buf_release(&w->runs);
	cf_buf_release(&w->rec);
	free(w->ents);
	free(w->name);
	free(w->tmp);
	free(w);
}

int log_cold_writer_open(struct log_cold_writer **out, int dirfd,
			 const char *name, unsigned partition,
			 uint32_t coldno)
{
	struct log_cold_writer *w;
	size_t n = strlen(name);
	int rv;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->fd = -1;
	w->dirfd = dirfd;
	w->partition = partition;
	w->coldno = coldno;
	w->name = strdup(name);
	w->tmp = malloc(n + 5);
	w->xs = XXH3_createState();
	w->cs = XXH3_createState();
	if (w->name == NULL || w->tmp == NULL || w->xs == NULL ||
	    w->cs == NULL) {
		rv = -ENOMEM;
		goto err;
	}
	memcpy(w->tmp, name, n);
	memcpy(w->tmp + n, ".tmp", 5);
	w->fd = cf_vfs_openat(dirfd, w->tmp,
			      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		rv = -errno;
		goto err;
	}
	*out = w;
	return 0;
err:
	cw_free(w);
	return rv;
}

void log_cold_writer_set_recalled(struct log_cold_writer *w,
				  log_cold_recalled_fn fn, void *arg)
{
	w->recalled = fn;
	w->recalled_arg = arg;
}

int log_cold_writer_add(struct log_cold_writer *w,
			const struct log_record *rec)
{
	size_t off = w->recs.len;
	struct cw_ent *e;
	int rv;

	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 1024;
		struct cw_ent *p = realloc(w->ents, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		w->ents = p;
		w->cap = cap;
	}
	rv = log_record_encode(rec, &w->recs);
	if (rv != 0)
		return rv;
	e = &w->ents[w->n++];
	e->off = off;
	e->len = (uint32_t)(w->recs.len - off);
	e->kind = rec->kind;
	e->seq = rec->seq;
	e->ridx = rec->raft_index;
	e->mid = rec->message_id;
	if (w->n == 1 || rec->raft_index < w->min_index)
		w->min_index = rec->raft_index;
	if (rec->raft_index > w->max_index)
		w->max_index = rec->raft_index;
	return 0;
}

static int cw_segment_cb(void *arg, uint64_t off,
			 const struct log_record *rec)
{
	(void)off;
	return log_cold_writer_add(arg, rec);
}

int log_cold_writer_add_segment_fd(struct log_cold_writer *w, int fd,
				   uint32_t segno, uint64_t limit)
{
	struct log_segment seg;
	struct cf_buf buf = CF_BUF_INIT;
	uint64_t end = 0;
	int rv;

	log_segment_init(&seg, w->partition, segno);
	rv = log_segment_borrow_fd(&seg, fd);
	if (rv != 0)
		return rv;
	rv = log_segment_scan(&seg, limit, &buf, cw_segment_cb, w, &end);
	if (rv == 0 && limit != UINT64_MAX && end != limit)
		rv = CF_ECORRUPT; /* shorter than the manifest says */
	cf_buf_release(&buf);
	seg.fd = -1; /* the caller's */
	return rv;
}

int log_cold_writer_add_segment(struct log_cold_writer *w, int part_dirfd,
				uint32_t segno, uint64_t limit)
{
	struct log_segment seg;
	int rv;

	log_segment_init(&seg, w->partition, segno);
	rv = log_segment_open(&seg, part_dirfd, true);
	if (rv != 0)
		return rv;
	rv = log_cold_writer_add_segment_fd(w, seg.fd, segno, limit);
	log_segment_close(&seg);
	return rv;
}

static struct cf_str cw_conv(const struct log_cold_writer *w,
			     const struct cw_ent *e)
{
	const uint8_t *p = (const uint8_t *)w->recs.data + e->off;
	struct cf_str s = {(const char *)p + COLD_REC_HDR, p[6]};

	return s;
}

static int cw_cmp(const void *a, const void *b, void *arg)
{
	const struct log_cold_writer *w = arg;
	const struct cw_ent *x = a;
	const struct cw_ent *y = b;
	int c = cold_conv_cmp(cw_conv(w, x), cw_conv(w, y));
	int xo = x->kind != LOG_REC_MESSAGE;
	int yo = y->kind != LOG_REC_MESSAGE;
	size_t n;

	if (c != 0)
		return c;
	if (xo != yo)
		return xo - yo;
	if (!xo && x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	if (xo && x->ridx != y->ridx)
		return x->ridx < y->ridx ? -1 : 1;
	if (xo && x->mid != y->mid)
		return x->mid < y->mid ? -1 : 1;
	n = x->len < y->len ? x->len : y->len;
	c = memcmp(w->recs.data + x->off, w->recs.data + y->off, n);
	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* write(2) all of out, empty it, and keep writeback going behind it. */
static int cw_drain(struct log_cold_writer *w)
{
	uint64_t from = w->on_file;
	int rv = cf_write_all(w->fd, w->out.data, w->out.len);

	if (rv != 0)
		return rv;
	w->on_file += w->out.len;
	cf_buf_truncate(&w->out, 0);
#ifdef SYNC_FILE_RANGE_WRITE
	/* Advice only: errors show at the final fsync, which decides. */
	(void)cf_vfs_sync_file_range(w->fd, (off_t)from, (off_t)(w->on_file - from),
			      SYNC_FILE_RANGE_WRITE);
	if (w->on_file - w->wb_waited > 2 * COLD_WRITE_BEHIND) {
		uint64_t to = w->on_file - COLD_WRITE_BEHIND;

		(void)cf_vfs_sync_file_range(w->fd, (off_t)w->wb_waited,
				      (off_t)(to - w->wb_waited),
				      SYNC_FILE_RANGE_WAIT_BEFORE |
					      SYNC_FILE_RANGE_WRITE |
					      SYNC_FILE_RANGE_WAIT_AFTER);
		w->wb_waited = to;
	}
#else
	(void)from;
#endif
	return 0;
}

/* Hand p[0..n) to the file (hashed, buffered, written in chunks). */
static int cw_emit(struct log_cold_writer *w, const void *p, size_t n)
{
	int rv;

	if (XXH3_64bits_update(w->xs, p, n) != XXH_OK)
		return -ENOMEM;
	rv = cf_buf_append(&w->out, p, n);
	if (rv != 0)
		return rv;
	w->written += n;
	if (w->out.len >= COLD_WRITE_CHUNK)
		return cw_drain(w);
	return 0;
}

static int cw_flush_block(struct log_cold_writer *w)
{
	uint8_t h[COLD_BLOCK_HDR];
	uint8_t e[COLD_BTAB_ENT];
	int bound;
	int c;
	int rv;

	if (w->block.len == 0)
		return 0;
	bound = LZ4_compressBound((int)w->block.len);
	cf_buf_truncate(&w->zbuf, 0);
	rv = cf_buf_reserve(&w->zbuf, (size_t)bound);
	if (rv != 0)
		return rv;
	if (XXH3_64bits_update(w->cs, w->block.data, w->block.len) != XXH_OK)
		return -ENOMEM;
	c = LZ4_compress_default(w->block.data, w->zbuf.data,
				 (int)w->block.len, bound);
	if (c <= 0)
		return CF_EIO;
	cf_put_u32(h, (uint32_t)c);
	cf_put_u32(h + 4, (uint32_t)w->block.len);
	cf_put_u32(h + 8, w->block_recs);
	cf_put_u32(h + 12, 0);
	cf_put_u64(h + 16, XXH3_64bits(w->zbuf.data, (size_t)c));
	cf_put_u64(e, w->written);
	memcpy(e + 8, h, 12);
	cf_put_u32(e + 20, 0);
	rv = cf_buf_append(&w->btab, e, sizeof(e));
	if (rv == 0)
		rv = cw_emit(w, h, sizeof(h));
	if (rv == 0)
		rv = cw_emit(w, w->zbuf.data, (size_t)c);
	if (rv != 0)
		return rv;
	w->nblocks++;
	cf_buf_truncate(&w->block, 0);
	w->block_recs = 0;
	return 0;
}

/* Place p[0..n) in the current block (or a new one): *blk, *off. */
static int cw_place(struct log_cold_writer *w, const void *p, size_t n,
		    uint32_t *blk, uint32_t *off)
{
	int rv;

	if (w->block.len > 0 && w->block.len + n > LOG_COLD_BLOCK) {
		rv = cw_flush_block(w);
		if (rv != 0)
			return rv;
	}
	*blk = w->nblocks;
	*off = (uint32_t)w->block.len;
	w->block_recs++;
	return cf_buf_append(&w->block, p, n);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a;
	uint64_t y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The bytes to write for message or edit e: as added, or re-encoded
 * without its content (flags: erase) if its message was recalled
 * (*recalled set) or, edited, an earlier version (*erased set).
 */
static int cw_message(struct log_cold_writer *w, const struct cw_ent *e,
		      const uint64_t *recalls, size_t nrecalls,
		      const struct log__cold_edit *edits, size_t nedits,
		      const void **p, size_t *n, bool *recalled, bool *erased)
{
	const void *src = w->recs.data + e->off;
	struct log__cold_edit key = {e->seq, 0};
	const struct log__cold_edit *ed;
	struct log_record rec;
	uint8_t flags;
	int rv;

	*p = src;
	*n = e->len;
	*erased = false;
	*recalled = (nrecalls > 0 &&
		     bsearch(&e->seq, recalls, nrecalls, sizeof(*recalls),
			     u64_cmp) != NULL) ||
		    (w->recalled != NULL &&
		     w->recalled(w->recalled_arg, cw_conv(w, e), e->seq));
	flags = LOG_REC_MSG_RECALLED;
	if (!*recalled) {
		ed = nedits > 0 ? bsearch(&key, edits, nedits, sizeof(*edits),
					  log__cold_edit_cmp)
				: NULL;
		/* The callback's (conv, seq | LOG_RECALL_EDITED): a later
		 * version than any here exists (log_store.h). */
		if (!(w->recalled != NULL && e->seq < LOG_RECALL_EDITED &&
		      w->recalled(w->recalled_arg, cw_conv(w, e),
				  e->seq | LOG_RECALL_EDITED)) &&
		    (ed == NULL ||
		     (e->kind == LOG_REC_EDIT && e->mid >= ed->mid)))
			return 0; /* never edited, or the latest version */
		flags = LOG_REC_MSG_EDITED;
	}
	rv = log_record_decode(src, e->len, &rec, NULL);
	if (rv != 0)
		return rv;
	if (rec.flags == flags && rec.body.len == 0) {
		*recalled = *recalled && e->kind == LOG_REC_MESSAGE;
		return 0; /* erased already (a rewrite) */
	}
	*erased = e->kind == LOG_REC_EDIT || flags == LOG_REC_MSG_EDITED;
	*recalled = *recalled && e->kind == LOG_REC_MESSAGE;
	rec.flags = flags;
	rec.body.p = NULL;
	rec.body.len = 0;
	cf_buf_truncate(&w->rec, 0);
	rv = log_record_encode(&rec, &w->rec);
	if (rv != 0)
		return rv;
	*p = w->rec.data;
	*n = w->rec.len;
	return 0;
}

/* Write the records of one conversation, ents[0..n), and its index entry. */
static int cw_conv_group(struct log_cold_writer *w, const struct cw_ent *ents,
			 size_t n)
{
	struct cf_str conv = cw_conv(w, &ents[0]);
	uint64_t *recalls = NULL;
	size_t nrecalls = 0;
	struct log__cold_edit *edits = NULL;
	size_t nedits = 0;
	uint64_t msgs = 0, others = 0;
	uint32_t oblk = 0, ooff = 0, nruns = 0;
	uint64_t run_first = 0, run_next = 0;
	uint32_t run_blk = 0;
	size_t run_at = 0;
	uint8_t h[COLD_CONV_FIXED];
	size_t i;
	int rv = 0;

	for (i = 0; i < n; i++)
		if (ents[i].kind == LOG_REC_RECALL)
			nrecalls++;
	if (nrecalls > 0) {
		recalls = malloc(nrecalls * sizeof(*recalls));
		if (recalls == NULL)
			return -ENOMEM;
		nrecalls = 0;
		for (i = 0; i < n; i++)
			if (ents[i].kind == LOG_REC_RECALL)
				recalls[nrecalls++] = ents[i].seq;
		qsort(recalls, nrecalls, sizeof(*recalls), u64_cmp);
	}
	rv = log__cold_edits(ents, n, &edits, &nedits);
	if (rv != 0)
		goto out;
	cf_buf_truncate(&w->runs, 0);
	for (i = 0; i < n; i++) {
		const struct cw_ent *e = &ents[i];
		const void *p = w->recs.data + e->off;
		size_t len = e->len;
		uint32_t blk, off;
		bool recalled = false, erased = false;

		if (e->kind == LOG_REC_MESSAGE || e->kind == LOG_REC_EDIT) {
			rv = cw_message(w, e, recalls, nrecalls, edits, nedits,
					&p, &len, &recalled, &erased);
			if (rv != 0)
				goto out;
			w->info.versions_erased += erased;
		}
		rv = cw_place(w, p, len, &blk, &off);
		if (rv != 0)
			goto out;
		if (e->kind != LOG_REC_MESSAGE) {
			if (others++ == 0) {
				oblk = blk;
				ooff = off;
			}
			continue;
		}
		msgs++;
		w->info.messages++;
		w->info.recalled += recalled ||
				    (((const uint8_t *)p)[5] &
				     LOG_REC_MSG_RECALLED) != 0;
		if (nruns > 0 && e->seq == run_next && blk == run_blk) {
			run_next++;
			cf_put_u32(w->runs.data + run_at + 8,
				   (uint32_t)(run_next - run_first));
			continue;
		}
		run_at = w->runs.len;
		rv = cf_buf_zero(&w->runs, COLD_RUN);
		if (rv != 0)
			goto out;
		cf_put_u64(w->runs.data + run_at, e->seq);
		cf_put_u32(w->runs.data + run_at + 8, 1);
		cf_put_u32(w->runs.data + run_at + 12, blk);
		cf_put_u32(w->runs.data + run_at + 16, off);
		run_first = e->seq;
		run_next = e->seq + 1;
		run_blk = blk;
		nruns++;
	}
	cf_put_u64(h, msgs);
	cf_put_u64(h + 8, others);
	cf_put_u32(h + 16, nruns);
	cf_put_u32(h + 20, oblk);
	cf_put_u32(h + 24, ooff);
	rv = cf_buf_put_u8(&w->ctab, (uint8_t)conv.len);
	if (rv == 0)
		rv = cf_buf_append(&w->ctab, conv.p, conv.len);
	if (rv == 0)
		rv = cf_buf_append(&w->ctab, h, sizeof(h));
	if (rv == 0)
		rv = cf_buf_append(&w->ctab, w->runs.data, w->runs.len);
	w->info.conversations++;
out:
	free(recalls);
	free(edits);
	return rv;
}

static int cw_write(struct log_cold_writer *w)
{
	uint8_t h[COLD_HDR];
	uint8_t ih[COLD_IDX_HDR];
	uint8_t t[COLD_TRAILER];
	uint64_t index_off;
	uint64_t index_len;
	XXH3_state_t *is = NULL;
	size_t i, j;
	int rv;

	/* Header. */
	memset(h, 0, sizeof(h));
	memcpy(h, COLD_MAGIC, 8);
	cf_put_u16(h + 8, COLD_VERSION);
	cf_put_u32(h + 12, w->partition);
	cf_put_u32(h + 16, w->coldno);
	cf_put_u64(h + 24, w->n);
	cf_put_u64(h + 32, w->min_index);
	cf_put_u64(h + 40, w->max_index);
	cf_put_u64(h + 56, XXH3_64bits(h, 56));
	if (XXH3_64bits_reset(w->xs) != XXH_OK ||
	    XXH3_64bits_reset(w->cs) != XXH_OK)
		return -ENOMEM;
	rv = cw_emit(w, h, sizeof(h));
	if (rv != 0)
		return rv;
	/* Blocks, conversation by conversation. */
	for (i = 0; i < w->n; i = j) {
		struct cf_str conv = cw_conv(w, &w->ents[i]);

		for (j = i + 1; j < w->n; j++) {
			if (!cf_str_eq(cw_conv(w, &w->ents[j]), conv))
				break;
			if (w->ents[j].kind == LOG_REC_MESSAGE &&
			    w->ents[j - 1].kind == LOG_REC_MESSAGE &&
			    w->ents[j].seq == w->ents[j - 1].seq)
				return CF_EBADREQ;
		}
		rv = cw_conv_group(w, &w->ents[i], j - i);
		if (rv != 0)
			return rv;
	}
	rv = cw_flush_block(w);
	if (rv != 0)
		return rv;
	/* Index. */
	index_off = w->written;
	cf_put_u32(ih, w->nblocks);
	cf_put_u32(ih + 4, (uint32_t)w->info.conversations);
	cf_put_u64(ih + 8, w->n);
	cf_put_u64(ih + 16, w->info.messages);
	cf_put_u64(ih + 24, w->info.recalled);
	w->info.content_xxh3 = XXH3_64bits_digest(w->cs);
	cf_put_u64(ih + 32, w->info.content_xxh3);
	is = XXH3_createState();
	if (is == NULL || XXH3_64bits_reset(is) != XXH_OK ||
	    XXH3_64bits_update(is, ih, sizeof(ih)) != XXH_OK ||
	    XXH3_64bits_update(is, w->btab.data, w->btab.len) != XXH_OK ||
	    XXH3_64bits_update(is, w->ctab.data, w->ctab.len) != XXH_OK) {
		rv = -ENOMEM;
		goto out;
	}
	rv = cw_emit(w, ih, sizeof(ih));
	if (rv == 0)
		rv = cw_emit(w, w->btab.data, w->btab.len);
	if (rv == 0)
		rv = cw_emit(w, w->ctab.data, w->ctab.len);
	if (rv != 0)
		goto out;
	index_len = w->written - index_off;
	/* Trailer. */
	cf_put_u64(t, index_off);
	cf_put_u64(t + 8, index_len);
	cf_put_u64(t + 16, XXH3_64bits_digest(is));
	cf_put_u64(t + 24, XXH3_64bits_digest(w->xs));
	memcpy(t + 32, COLD_END_MAGIC, 8);
	w->info.file_xxh3 = cf_get_u64(t + 24);
	rv = cw_emit(w, t, sizeof(t));
	if (rv == 0)
		rv = cw_drain(w);
out:
	if (is != NULL)
		XXH3_freeState(is);
	return rv;
}

/* fsync the folder holding name (relative to dirfd). It runs after the
 * rename, so it allocates nothing: an -ENOMEM there would report a failure
 * with the file in place (issue 11, test_cf_mem_store). */
static int cw_sync_dir(int dirfd, const char *name)
{
	const char *slash = strrchr(name, '/');
	char dir[PATH_MAX];
	int fd;
	int rv = 0;

	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == name)
		strcpy(dir, "/");
	else if ((size_t)(slash - name) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - name), name);
	else
		return -ENAMETOOLONG;
	fd = cf_vfs_openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (cf_vfs_fsync(fd) != 0)
		rv = -errno;
	cf_vfs_close(fd);
	return rv;
}

int log_cold_writer_finish(struct log_cold_writer *w,
			   struct log_cold_info *info)
{
	int rv;

	if (w->n > 1)
		qsort_r(w->ents, w->n, sizeof(*w->ents), cw_cmp, w);
	w->info.partition = w->partition;
	w->info.coldno = w->coldno;
	w->info.records = w->n;
	w->info.min_index = w->min_index;
	w->info.max_index = w->max_index;
	rv = cw_write(w);
	if (rv != 0)
		goto err;
	w->info.file_size = w->written;
	w->info.blocks = w->nblocks;
	if (cf_vfs_fsync(w->fd) != 0) {
		rv = -errno;
		goto err;
	}
	rv = cf_vfs_close(w->fd);
	w->fd = -1;
	if (rv != 0) {
		rv = -errno;
		goto err;
	}
	if (cf_vfs_renameat(w->dirfd, w->tmp, w->dirfd, w->name) != 0) {
		rv = -errno;
		goto err;
	}
	rv = cw_sync_dir(w->dirfd, w->name);
	if (rv != 0)
		goto out;
	if (info != NULL)
		*info = w->info;
	goto out;
err:
	cf_vfs_unlinkat(w->dirfd, w->tmp, 0);
out:
	cw_free(w);
	return rv;
}

void log_cold_writer_abort(struct log_cold_writer *w)
{
	if (w == NULL)
		return;
	cf_vfs_unlinkat(w->dirfd, w->tmp, 0);
	cw_free(w);
}
