/*
 * rft_dedup: the idempotency window of the FSM (DESIGN.md "Idempotency"),
 * in about 8 bytes per key plus a 4-byte table slot (issue 11).
 *
 * The rule every node applies: a send with key (conv, sender, clientMsgId)
 * repeats the message of conv with that sender and clientMsgId whose ts is
 * within RFT_DEDUP_WINDOW_MS of the entry clock and whose seq is among the
 * newest RFT_DEDUP_MAX_PER_CONV seqs of conv (clients send every message
 * with a key, so these are the newest keys of conv). Its answer is that
 * record's (seq, messageId, ts). The rule depends only on records and the
 * clock, so a window rebuilt from the segments answers like the live one.
 *
 * Memory: for each keyed message one 64-bit word, the low 44 bits of the
 * key's 64-bit hash above the low 20 bits of its seq, stored in chunks of
 * RFT_DEDUP_CHUNK words; a chunk belongs to a time bucket (RFT_DEDUP_
 * BUCKET_MS of ts). An open-addressing table of 32-bit references (chunk
 * number, position) finds the words by hash. A find walks the words with
 * the key's 44 hash bits whose bucket is not aged out and whose seq (its
 * low 20 bits completed from the conversation's last seq) is among the
 * newest, then reads the record back (read: log_store_read_seq, one
 * bounded read) and compares the key exactly and checks its ts and seq: a
 * hash collision is never a false duplicate, and a word whose record does
 * not match is passed over.
 *
 * Expiry: a bucket leaves once its last millisecond is aged out, one word at
 * a time: rft_dedup_add pops up to 2 words of aged buckets and
 * rft_dedup_expire up to its budget, so no call does work in proportion to
 * the window. A word may stay up to a bucket's length after its own 24
 * hours; a find checks the record's ts itself, so expiry changes memory,
 * never an answer. Memory after a full expiry at clock C holds exactly the
 * keyed messages whose bucket is not aged at C, whatever order they were
 * added in: a rebuild (records in any order across conversations: cold
 * files are grouped by conversation) holds the same words as the live
 * window (rft_dedup_next lists them).
 *
 * Growth: the table grows incrementally as cf_map does (see cf_map.h): two
 * tables during a resize, each add or pop moves at most RFT_DEDUP_STEP old
 * slots, finds check both. The chunk directory (one pointer per 8 KiB
 * chunk) doubles by realloc: 1/1024 of the words.
 *
 * Limits: at most 2^22 - 1 chunks (4 G keys in the window); past that an
 * add returns -ENOMEM.
 *
 * State image (issue 11, "Start-up costs O(state)"): rft_dedup_image_write
 * puts the window in a section of the node's state image and
 * rft_dedup_image_read loads it back, at about the speed of memory: the
 * same words per bucket in the same order, the same table size, so finds,
 * adds, growth and expiry go on as in the window written. The section's
 * format is specified in rft_dedup_image.c.
 *
 * Ownership: the window owns its arrays; the hash function is the caller's
 * (tests set d->hash to force collisions). Errors: 0 or -ENOMEM; find
 * returns read's error; an image read CF_ECORRUPT too. Threads: one thread
 * at a time; the image write runs in a forked child (no locks taken).
 */
#ifndef RFT_DEDUP_H
#define RFT_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"
#include "common/cf_img.h"
#include "log/log_record.h"

#define RFT_DEDUP_WINDOW_MS (24ull * 3600 * 1000)
#define RFT_DEDUP_MAX_PER_CONV 100000u
#define RFT_DEDUP_BUCKET_MS (15ull * 60 * 1000)
#define RFT_DEDUP_CHUNK 1024u
#define RFT_DEDUP_SEQ_BITS 20 /* 2^20 > RFT_DEDUP_MAX_PER_CONV */
#define RFT_DEDUP_STEP 16
#define RFT_DEDUP_IMG_TAG 0x50554444u /* "DDUP": the image section */

typedef uint64_t (*rft_dedup_hash_fn)(struct cf_str conv, struct cf_str sender,
				      struct cf_str client_msg_id);
/* Reads message seq of conv into rec: 0, CF_ENOTFOUND or an error. */
typedef int (*rft_dedup_read_fn)(void *arg, struct cf_str conv, uint64_t seq,
				 struct log_record *rec);

struct rft_dedup_key {
	struct cf_str conv, sender, id; /* borrowed */
	uint64_t hash;
};

struct rft_dedup_val {
	uint64_t seq;
	uint64_t message_id;
	uint64_t server_ts;
};

struct rft_dedup_chunk {
	uint64_t bucket; /* ts / RFT_DEDUP_BUCKET_MS of its words */
	uint32_t next;	 /* chunk number of the bucket's next chunk */
	uint32_t n;	 /* words used */
	uint64_t w[RFT_DEDUP_CHUNK];
};

/* The words of one time bucket: a list of chunks. */
struct rft_dedup_bucket {
	uint64_t key;	     /* ts / RFT_DEDUP_BUCKET_MS */
	uint32_t head, tail; /* chunk numbers */
	uint32_t off;	     /* first word of head not popped */
};

struct rft_dedup {
	/* Table of references + 1 (0: empty), as cf_map's slots, each
	 * followed after the last slot by a tag byte (rft_dedup.c). */
	uint32_t *slots;
	size_t cap;
	uint32_t *old;
	size_t old_cap, old_start, old_done;
	size_t n; /* words held */
	/* Chunks by number; free numbers on a stack. */
	struct rft_dedup_chunk **dir;
	uint32_t dir_n, dir_cap, n_free;
	uint32_t *free_no;
	/* Buckets by key, oldest first. */
	struct rft_dedup_bucket *b;
	size_t nb, b_cap;
	rft_dedup_hash_fn hash;
};

/* A position in rft_dedup_next: set to {0} to start. */
struct rft_dedup_it {
	size_t bucket;
	uint32_t chunk, off;
	int started;
};

void rft_dedup_init(struct rft_dedup *d);
void rft_dedup_release(struct rft_dedup *d);

/* The default hash: XXH3-64 over u8 len, conv, u8 len, sender, u8 len, id. */
uint64_t rft_dedup_hash(struct cf_str conv, struct cf_str sender,
			struct cf_str client_msg_id);
/* A key for find and add (parts are borrowed; each at most 255 bytes). */
struct rft_dedup_key rft_dedup_key(const struct rft_dedup *d,
				   struct cf_str conv, struct cf_str sender,
				   struct cf_str client_msg_id);

/*
 * 1 and *out if key is in the window of a conversation whose last seq is
 * last_seq at clock, 0 if not, or a negative error of read (not
 * CF_ENOTFOUND, which passes over the word).
 */
int rft_dedup_find(const struct rft_dedup *d, const struct rft_dedup_key *key,
		   uint64_t last_seq, uint64_t clock, rft_dedup_read_fn read,
		   void *arg, struct rft_dedup_val *out);
/*
 * Add the key of message seq with ts, at clock (>= ts; a rebuild passes the
 * highest ts seen so far). A key whose bucket is aged out at clock is not
 * added. Pops up to 2 words of aged buckets.
 */
int rft_dedup_add(struct rft_dedup *d, const struct rft_dedup_key *key,
		  uint64_t seq, uint64_t ts, uint64_t clock);
/* Pop up to max words of buckets aged out at clock (memory only). */
void rft_dedup_expire(struct rft_dedup *d, uint64_t clock, size_t max);

/* The next word held and its bucket key; 0 at the end. */
int rft_dedup_next(const struct rft_dedup *d, struct rft_dedup_it *it,
		   uint64_t *word, uint64_t *bucket);

/* Words held (for tests and metrics). */
static inline size_t rft_dedup_count(const struct rft_dedup *d)
{
	return d->n;
}
/* Heap bytes held: tables, chunks, directory, buckets. */
size_t rft_dedup_bytes(const struct rft_dedup *d);

/*
 * Write the window as a section of a state image (errors stay in w->err).
 * Takes no lock and allocates nothing: a forked child of the node runs it.
 */
void rft_dedup_image_write(const struct rft_dedup *d, struct cf_imgw *w);
/*
 * Read a section written by rft_dedup_image_write into d, a window just
 * initialised by rft_dedup_init whose hash function the caller set (the
 * one the written window used). 0; or CF_ECORRUPT (r->err is set) or
 * -ENOMEM, and d is left empty as initialised, with the same hash, ready
 * for a rebuild from the records or for rft_dedup_release.
 */
int rft_dedup_image_read(struct rft_dedup *d, struct cf_imgr *r);

#endif
