#include "config.h"

/*
 * Cold segment reader: open and check, reads by seq through the footer
 * index, scans and the full verification. The layout and the validity rule
 * are specified at the top of log_cold_write.c.
 */

#include "log/log_cold.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/cf_err.h"
#include "common/cf_io.h"
#include "common/cf_vfs.h"
#include "log/log_cold_int.h"

/* Bytes read at a time by the whole-file checksum of log_cold_verify(). */
#define COLD_VERIFY_CHUNK (1u << 20)

struct cold_blk {
	uint64_t off;
	uint32_t clen;
	uint32_t ulen;
	uint32_t nrecs;
};

struct cold_conv {
	struct cf_str id;	/* borrowed from the index bytes */
	uint64_t messages;
	uint64_t others;
	uint32_t nruns;
	uint32_t oblk;
	uint32_t ooff;
	const uint8_t *runs;	/* nruns * COLD_RUN bytes */
};

struct log_cold {
	int fd;
	bool own_fd;		/* false: borrowed (log_cold_open_fd) */
	struct log_cold_info info;
	struct log_cold_stats stats;
	uint8_t *index;
	uint64_t index_off;
	uint64_t index_len;
	struct cold_blk *blocks;
	struct cold_conv *convs;
	struct cf_buf zbuf;	/* compressed bytes of a block read */
	struct cf_buf cache;	/* the last decompressed block */
	int64_t cached;		/* its number, -1 if none */
};

static int cold_pread(int fd, void *p, size_t n, uint64_t off)
{
	size_t got;
	int rv = cf_pread_all(fd, p, n, off, &got);

	if (rv == 0 && got != n)
		rv = CF_ECORRUPT; /* shorter than its index says */
	return rv;
}

static void run_get(const struct cold_conv *c, uint32_t i, uint64_t *first,
		    uint32_t *count, uint32_t *blk, uint32_t *off)
{
	const uint8_t *p = c->runs + (size_t)i * COLD_RUN;

	*first = cf_get_u64(p);
	*count = cf_get_u32(p + 8);
	*blk = cf_get_u32(p + 12);
	*off = cf_get_u32(p + 16);
}

/* Parse and check the index (see the validity rule). */
static int cold_parse_index(struct log_cold *r)
{
	struct cf_rd rd;
	uint64_t expect = COLD_HDR;
	uint64_t recs = 0, msgs = 0, blk_recs = 0;
	uint64_t nrecs, nmsgs, nrecalled;
	uint32_t nb, nc, i, j;
	const struct cold_conv *prev = NULL;

	cf_rd_init(&rd, r->index, r->index_len);
	nb = cf_rd_u32(&rd);
	nc = cf_rd_u32(&rd);
	nrecs = cf_rd_u64(&rd);
	nmsgs = cf_rd_u64(&rd);
	nrecalled = cf_rd_u64(&rd);
	r->info.content_xxh3 = cf_rd_u64(&rd);
	if (rd.err != 0 || (uint64_t)nb * COLD_BTAB_ENT > rd.left ||
	    (uint64_t)nc * (1 + 1 + COLD_CONV_FIXED) > rd.left ||
	    nrecs != r->info.records || nmsgs > nrecs || nrecalled > nmsgs)
		return CF_ECORRUPT;
	r->blocks = calloc(nb ? nb : 1, sizeof(*r->blocks));
	r->convs = calloc(nc ? nc : 1, sizeof(*r->convs));
	if (r->blocks == NULL || r->convs == NULL)
		return -ENOMEM;
	for (i = 0; i < nb; i++) {
		struct cold_blk *b = &r->blocks[i];

		b->off = cf_rd_u64(&rd);
		b->clen = cf_rd_u32(&rd);
		b->ulen = cf_rd_u32(&rd);
		b->nrecs = cf_rd_u32(&rd);
		if (cf_rd_u32(&rd) != 0 || b->off != expect ||
		    b->ulen == 0 || b->ulen > LOG_RECORD_MAX ||
		    b->clen == 0 ||
		    b->clen > (uint32_t)LZ4_compressBound((int)b->ulen) ||
		    b->nrecs == 0 || b->nrecs > b->ulen / COLD_REC_MIN)
			return CF_ECORRUPT;
		expect += COLD_BLOCK_HDR + (uint64_t)b->clen;
		blk_recs += b->nrecs;
	}
	if (rd.err != 0 || expect != r->index_off || blk_recs != nrecs)
		return CF_ECORRUPT;
	for (i = 0; i < nc; i++) {
		struct cold_conv *c = &r->convs[i];
		uint64_t next = 1, sum = 0;

		c->id.len = cf_rd_u8(&rd);
		c->id.p = (const char *)cf_rd_take(&rd, c->id.len);
		c->messages = cf_rd_u64(&rd);
		c->others = cf_rd_u64(&rd);
		c->nruns = cf_rd_u32(&rd);
		c->oblk = cf_rd_u32(&rd);
		c->ooff = cf_rd_u32(&rd);
		if (rd.err != 0 || c->id.len == 0 ||
		    c->id.len > COLD_CONV_MAX ||
		    (uint64_t)c->nruns * COLD_RUN > rd.left ||
		    (prev != NULL && cold_conv_cmp(prev->id, c->id) >= 0) ||
		    c->messages > nrecs || c->others > nrecs ||
		    c->messages + c->others == 0 ||
		    (c->nruns == 0) != (c->messages == 0) ||
		    c->nruns > c->messages)
			return CF_ECORRUPT;
		if (c->others > 0 ? c->oblk >= nb ||
					    c->ooff >= r->blocks[c->oblk].ulen
				  : c->oblk != 0 || c->ooff != 0)
			return CF_ECORRUPT;
		c->runs = cf_rd_take(&rd, (size_t)c->nruns * COLD_RUN);
		for (j = 0; j < c->nruns; j++) {
			uint64_t first;
			uint32_t count, blk, off;

			run_get(c, j, &first, &count, &blk, &off);
			if (first < next || count == 0 ||
			    first > UINT64_MAX - count || blk >= nb ||
			    off >= r->blocks[blk].ulen ||
			    count > r->blocks[blk].nrecs)
				return CF_ECORRUPT;
			next = first + count;
			sum += count;
		}
		if (sum != c->messages)
			return CF_ECORRUPT;
		recs += c->messages + c->others;
		msgs += c->messages;
		if (recs > nrecs)
			return CF_ECORRUPT;
		prev = c;
	}
	if (rd.err != 0 || rd.left != 0 || recs != nrecs || msgs != nmsgs)
		return CF_ECORRUPT;
	r->info.blocks = nb;
	r->info.conversations = nc;
	r->info.messages = nmsgs;
	r->info.recalled = nrecalled;
	return 0;
}

static int cold_load(struct log_cold *r, int fd, uint64_t size)
{
	uint8_t h[COLD_HDR];
	uint8_t t[COLD_TRAILER];
	int rv;

	if (size < COLD_HDR + COLD_IDX_HDR + COLD_TRAILER)
		return CF_ECORRUPT;
	rv = cold_pread(fd, h, sizeof(h), 0);
	if (rv != 0)
		return rv;
	if (memcmp(h, COLD_MAGIC, 8) != 0 ||
	    XXH3_64bits(h, 56) != cf_get_u64(h + 56))
		return CF_ECORRUPT;
	if (cf_get_u16(h + 8) != COLD_VERSION)
		return CF_EVERSION;
	if (cf_get_u16(h + 10) != 0 || cf_get_u32(h + 20) != 0 ||
	    cf_get_u64(h + 48) != 0 ||
	    cf_get_u64(h + 32) > cf_get_u64(h + 40))
		return CF_ECORRUPT;
	r->info.partition = cf_get_u32(h + 12);
	r->info.coldno = cf_get_u32(h + 16);
	r->info.records = cf_get_u64(h + 24);
	r->info.min_index = cf_get_u64(h + 32);
	r->info.max_index = cf_get_u64(h + 40);
	r->info.file_size = size;
	rv = cold_pread(fd, t, sizeof(t), size - COLD_TRAILER);
	if (rv != 0)
		return rv;
	r->index_off = cf_get_u64(t);
	r->index_len = cf_get_u64(t + 8);
	if (memcmp(t + 32, COLD_END_MAGIC, 8) != 0 ||
	    r->index_off < COLD_HDR || r->index_len < COLD_IDX_HDR ||
	    r->index_len > size ||
	    r->index_off != size - COLD_TRAILER - r->index_len)
		return CF_ECORRUPT;
	r->info.file_xxh3 = cf_get_u64(t + 24);
	r->index = malloc(r->index_len);
	if (r->index == NULL)
		return -ENOMEM;
	rv = cold_pread(fd, r->index, r->index_len, r->index_off);
	if (rv != 0)
		return rv;
	if (XXH3_64bits(r->index, r->index_len) != cf_get_u64(t + 16))
		return CF_ECORRUPT;
	return cold_parse_index(r);
}

/* Load the reader of fd (own_fd says who closes it). */
static int cold_open(struct log_cold **out, int fd, bool own_fd)
{
	struct log_cold *r;
	struct stat st;
	int rv;

	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		if (own_fd)
			cf_vfs_close(fd);
		return -ENOMEM;
	}
	r->cached = -1;
	r->fd = fd;
	r->own_fd = own_fd;
	if (cf_vfs_fstat(r->fd, &st) != 0) {
		rv = -errno;
		goto err;
	}
	rv = cold_load(r, r->fd, (uint64_t)st.st_size);
	if (rv != 0)
		goto err;
	*out = r;
	return 0;
err:
	log_cold_close(r);
	return rv;
}

int log_cold_open(struct log_cold **out, int dirfd, const char *name)
{
	int fd = cf_vfs_openat(dirfd, name, O_RDONLY | O_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	return cold_open(out, fd, true);
}

int log_cold_open_fd(struct log_cold **out, int fd)
{
	return cold_open(out, fd, false);
}

void log_cold_close(struct log_cold *r)
{
	if (r == NULL)
		return;
	if (r->fd >= 0 && r->own_fd)
		cf_vfs_close(r->fd);
	free(r->index);
	free(r->blocks);
	free(r->convs);
	cf_buf_release(&r->zbuf);
	cf_buf_release(&r->cache);
	free(r);
}

const struct log_cold_info *log_cold_get_info(const struct log_cold *r)
{
	return &r->info;
}

const struct log_cold_stats *log_cold_get_stats(const struct log_cold *r)
{
	return &r->stats;
}

static void conv_out(const struct cold_conv *c, struct log_cold_conv *o)
{
	uint64_t first;
	uint32_t count, blk, off;

	o->conv = c->id;
	o->messages = c->messages;
	o->others = c->others;
	o->first_seq = 0;
	o->last_seq = 0;
	if (c->nruns == 0)
		return;
	run_get(c, 0, &first, &count, &blk, &off);
	o->first_seq = first;
	run_get(c, c->nruns - 1, &first, &count, &blk, &off);
	o->last_seq = first + count - 1;
}

void log_cold_conv_at(const struct log_cold *r, size_t i,
		      struct log_cold_conv *c)
{
	conv_out(&r->convs[i], c);
}

static const struct cold_conv *cold_find(const struct log_cold *r,
					 struct cf_str conv)
{
	size_t lo = 0, hi = r->info.conversations;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cold_conv_cmp(r->convs[mid].id, conv);

		if (c == 0)
			return &r->convs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int log_cold_conv_find(const struct log_cold *r, struct cf_str conv,
		       struct log_cold_conv *c)
{
	const struct cold_conv *cc = cold_find(r, conv);

	if (cc == NULL)
		return CF_ENOTFOUND;
	conv_out(cc, c);
	return 0;
}

/* Index of the first run of c whose last seq is >= seq (nruns if none). */
static uint32_t run_search(const struct cold_conv *c, uint64_t seq)
{
	uint32_t lo = 0, hi = c->nruns;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		uint64_t first;
		uint32_t count, blk, off;

		run_get(c, mid, &first, &count, &blk, &off);
		if (first + count - 1 < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Make block b the cached one: read, check, decompress. */
static int cold_block(struct log_cold *r, uint32_t b)
{
	const struct cold_blk *bk = &r->blocks[b];
	const uint8_t *h;
	int n;
	int rv;

	if (r->cached == (int64_t)b) {
		r->stats.block_hits++;
		return 0;
	}
	r->cached = -1;
	cf_buf_truncate(&r->zbuf, 0);
	rv = cf_buf_reserve(&r->zbuf, COLD_BLOCK_HDR + (size_t)bk->clen);
	if (rv == 0)
		rv = cf_buf_reserve(&r->cache, bk->ulen);
	if (rv != 0)
		return rv;
	rv = cold_pread(r->fd, r->zbuf.data, COLD_BLOCK_HDR + bk->clen,
			bk->off);
	if (rv != 0)
		return rv;
	r->stats.block_reads++;
	r->stats.bytes_read += COLD_BLOCK_HDR + (uint64_t)bk->clen;
	h = (const uint8_t *)r->zbuf.data;
	if (cf_get_u32(h) != bk->clen || cf_get_u32(h + 4) != bk->ulen ||
	    cf_get_u32(h + 8) != bk->nrecs || cf_get_u32(h + 12) != 0 ||
	    XXH3_64bits(h + COLD_BLOCK_HDR, bk->clen) != cf_get_u64(h + 16))
		return CF_ECORRUPT;
	n = LZ4_decompress_safe((const char *)h + COLD_BLOCK_HDR,
				r->cache.data, (int)bk->clen, (int)bk->ulen);
	if (n < 0 || (uint32_t)n != bk->ulen)
		return CF_ECORRUPT;
	r->cache.len = bk->ulen;
	r->cached = b;
	return 0;
}

/* Length of the record at off of the cached block, checked to fit. */
static int cold_skip(const struct log_cold *r, uint32_t *off)
{
	uint32_t len;

	if (r->cache.len - *off < 4)
		return CF_ECORRUPT;
	len = cf_get_u32(r->cache.data + *off);
	if (len < COLD_REC_MIN || len > r->cache.len - *off)
		return CF_ECORRUPT;
	*off += len;
	return 0;
}

/* Decode the record at *off of the cached block; *off moves past it. */
static int cold_decode(const struct log_cold *r, uint32_t *off,
		       struct log_record *rec)
{
	size_t used;
	int rv;

	if (*off >= r->cache.len)
		return CF_ECORRUPT;
	rv = log_record_decode(r->cache.data + *off, r->cache.len - *off, rec,
			       &used);
	if (rv != 0)
		return rv;
	*off += (uint32_t)used;
	return 0;
}

int log_cold_read_seq(struct log_cold *r, struct cf_str conv, uint64_t seq,
		      struct log_record *rec, struct cf_buf *scratch)
{
	const struct cold_conv *c = cold_find(r, conv);
	uint64_t first, k;
	uint32_t count, blk, off, at;
	uint32_t i;
	int rv;

	if (c == NULL)
		return CF_ENOTFOUND;
	i = run_search(c, seq);
	if (i == c->nruns)
		return CF_ENOTFOUND;
	run_get(c, i, &first, &count, &blk, &off);
	if (seq < first)
		return CF_ENOTFOUND;
	rv = cold_block(r, blk);
	if (rv != 0)
		return rv;
	for (k = first; k < seq; k++) {
		rv = cold_skip(r, &off);
		if (rv != 0)
			return rv;
	}
	at = off;
	rv = cold_decode(r, &off, rec);
	if (rv != 0)
		return rv;
	if (rec->kind != LOG_REC_MESSAGE || rec->seq != seq ||
	    !cf_str_eq(rec->conv, conv))
		return CF_ECORRUPT;
	cf_buf_truncate(scratch, 0);
	rv = cf_buf_append(scratch, r->cache.data + at, off - at);
	if (rv != 0)
		return rv;
	return log_record_decode(scratch->data, scratch->len, rec, NULL);
}

int log_cold_scan(struct log_cold *r, log_cold_scan_cb cb, void *arg)
{
	struct log_record rec;
	uint32_t b, i, off;
	int rv;

	for (b = 0; b < r->info.blocks; b++) {
		rv = cold_block(r, b);
		if (rv != 0)
			return rv;
		off = 0;
		for (i = 0; i < r->blocks[b].nrecs; i++) {
			rv = cold_decode(r, &off, &rec);
			if (rv == 0)
				rv = cb(arg, &rec);
			if (rv != 0)
				return rv;
		}
		if (off != r->cache.len)
			return CF_ECORRUPT;
	}
	return 0;
}

int log_cold_scan_conv(struct log_cold *r, struct cf_str conv,
		       uint64_t from_seq, bool others, log_cold_scan_cb cb,
		       void *arg)
{
	const struct cold_conv *c = cold_find(r, conv);
	struct log_record rec;
	uint64_t first, k, n;
	uint32_t count, blk, off, i;
	int rv;

	if (c == NULL)
		return CF_ENOTFOUND;
	for (i = run_search(c, from_seq); i < c->nruns; i++) {
		run_get(c, i, &first, &count, &blk, &off);
		rv = cold_block(r, blk);
		if (rv != 0)
			return rv;
		for (k = first; k < first + count; k++) {
			if (k < from_seq) {
				rv = cold_skip(r, &off);
				if (rv != 0)
					return rv;
				continue;
			}
			rv = cold_decode(r, &off, &rec);
			if (rv != 0)
				return rv;
			if (rec.kind != LOG_REC_MESSAGE || rec.seq != k ||
			    !cf_str_eq(rec.conv, conv))
				return CF_ECORRUPT;
			rv = cb(arg, &rec);
			if (rv != 0)
				return rv;
		}
	}
	if (!others || c->others == 0)
		return 0;
	blk = c->oblk;
	off = c->ooff;
	rv = cold_block(r, blk);
	for (n = 0; rv == 0 && n < c->others; n++) {
		if (off == r->cache.len) {
			if (++blk >= r->info.blocks)
				return CF_ECORRUPT;
			off = 0;
			rv = cold_block(r, blk);
			if (rv != 0)
				return rv;
		}
		rv = cold_decode(r, &off, &rec);
		if (rv != 0)
			return rv;
		if (rec.kind == LOG_REC_MESSAGE || !cf_str_eq(rec.conv, conv))
			return CF_ECORRUPT;
		rv = cb(arg, &rec);
	}
	return rv;
}

/* The whole-file checksum (everything before the trailer). */
static int cold_verify_sum(struct log_cold *r, char *errmsg)
{
	uint64_t end = r->index_off + r->index_len;
	uint64_t pos = 0;
	XXH3_state_t *xs = XXH3_createState();
	char *buf = malloc(COLD_VERIFY_CHUNK);
	int rv = -ENOMEM;

	if (xs == NULL || buf == NULL || XXH3_64bits_reset(xs) != XXH_OK)
		goto out;
	while (pos < end) {
		size_t n = end - pos < COLD_VERIFY_CHUNK ? (size_t)(end - pos)
							 : COLD_VERIFY_CHUNK;

		rv = cold_pread(r->fd, buf, n, pos);
		if (rv != 0)
			goto out;
		if (XXH3_64bits_update(xs, buf, n) != XXH_OK) {
			rv = -ENOMEM;
			goto out;
		}
		pos += n;
	}
	rv = 0;
	if (XXH3_64bits_digest(xs) != r->info.file_xxh3) {
		cf_errmsg_printf(errmsg, "whole-file checksum mismatch");
		rv = CF_ECORRUPT;
	}
out:
	XXH3_freeState(xs);
	free(buf);
	return rv;
}

/* Where the next record should be, by the index: a walk over it. */
struct cold_cursor {
	uint32_t conv;	   /* current conversation */
	uint32_t run;	   /* its current run (== nruns: others) */
	uint32_t k;	   /* records of that run, or others, seen */
	uint64_t last_idx; /* raft index of the previous other record */
	uint64_t min_idx;  /* lowest raft index seen */
	uint64_t max_idx;  /* highest raft index seen */
};

/* Check that rec, found at (blk, off), is the one the index expects next. */
static int cold_expect(const struct log_cold *r, struct cold_cursor *cu,
		       const struct log_record *rec, uint32_t blk,
		       uint32_t off)
{
	const struct cold_conv *c;
	uint64_t first;
	uint32_t count, rblk, roff;

	if (cu->conv >= r->info.conversations)
		return CF_ECORRUPT;
	c = &r->convs[cu->conv];
	if (!cf_str_eq(rec->conv, c->id))
		return CF_ECORRUPT;
	if (cu->run < c->nruns) {
		run_get(c, cu->run, &first, &count, &rblk, &roff);
		if (rec->kind != LOG_REC_MESSAGE || rec->seq != first + cu->k ||
		    blk != rblk || (cu->k == 0 && off != roff))
			return CF_ECORRUPT;
		if ((rec->flags & LOG_REC_MSG_RECALLED) != 0 &&
		    (rec->flags != LOG_REC_MSG_RECALLED || rec->body.len != 0))
			return CF_ECORRUPT;
		if (++cu->k == count) {
			cu->run++;
			cu->k = 0;
		}
	} else {
		if (rec->kind == LOG_REC_MESSAGE ||
		    (cu->k == 0 && (blk != c->oblk || off != c->ooff)) ||
		    (cu->k > 0 && rec->raft_index < cu->last_idx))
			return CF_ECORRUPT;
		cu->last_idx = rec->raft_index;
		cu->k++;
	}
	if (rec->raft_index < cu->min_idx)
		cu->min_idx = rec->raft_index;
	if (rec->raft_index > cu->max_idx)
		cu->max_idx = rec->raft_index;
	if (cu->run == c->nruns && cu->k == c->others) {
		cu->conv++;
		cu->run = 0;
		cu->k = 0;
	}
	return 0;
}

int log_cold_verify(struct log_cold *r, char *errmsg)
{
	struct cold_cursor cu = {0, 0, 0, 0, UINT64_MAX, 0};
	struct log_record rec;
	uint64_t recalled = 0;
	XXH3_state_t *cs = NULL;
	uint32_t b, i, off, at;
	int rv;

	rv = cold_verify_sum(r, errmsg);
	if (rv != 0)
		return rv;
	cs = XXH3_createState();
	if (cs == NULL || XXH3_64bits_reset(cs) != XXH_OK) {
		rv = -ENOMEM;
		goto out;
	}
	r->cached = -1;
	for (b = 0; b < r->info.blocks; b++) {
		rv = cold_block(r, b);
		if (rv != 0) {
			cf_errmsg_printf(errmsg, "block %u: %s", b,
					 cf_strerror(rv));
			goto out;
		}
		if (XXH3_64bits_update(cs, r->cache.data, r->cache.len) !=
		    XXH_OK) {
			rv = -ENOMEM;
			goto out;
		}
		off = 0;
		for (i = 0; i < r->blocks[b].nrecs; i++) {
			at = off;
			rv = cold_decode(r, &off, &rec);
			if (rv == 0)
				rv = cold_expect(r, &cu, &rec, b, at);
			if (rv != 0) {
				cf_errmsg_printf(errmsg,
						 "block %u record %u (offset "
						 "%u): %s",
						 b, i, at, cf_strerror(rv));
				goto out;
			}
			recalled += rec.kind == LOG_REC_MESSAGE &&
				    (rec.flags & LOG_REC_MSG_RECALLED) != 0;
		}
		if (off != r->cache.len) {
			cf_errmsg_printf(errmsg, "block %u: bytes past its "
						 "records", b);
			rv = CF_ECORRUPT;
			goto out;
		}
	}
	if (cu.conv != r->info.conversations || recalled != r->info.recalled) {
		cf_errmsg_printf(errmsg, "records do not match the index");
		rv = CF_ECORRUPT;
		goto out;
	}
	if (r->info.records > 0 ? cu.min_idx != r->info.min_index ||
					  cu.max_idx != r->info.max_index
				: r->info.min_index != 0 ||
					  r->info.max_index != 0) {
		cf_errmsg_printf(errmsg, "raft index range does not match the "
					 "records");
		rv = CF_ECORRUPT;
		goto out;
	}
	if (XXH3_64bits_digest(cs) != r->info.content_xxh3) {
		cf_errmsg_printf(errmsg, "content identity does not match the "
					 "records");
		rv = CF_ECORRUPT;
	}
out:
	if (cs != NULL)
		XXH3_freeState(cs);
	return rv;
}
