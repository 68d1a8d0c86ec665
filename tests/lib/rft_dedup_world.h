/*
 * rft_dedup_world: the test double of the store that the idempotency
 * window's unit tests read back from (test_rft_dedup, test_rft_dedup_image):
 * WCONVS conversations "c<i>" of messages from "alice" with clientMsgId
 * "k<key>", each stored with the world's clock as its ts.
 *
 * Ownership: the world owns its window (w->d) and its messages;
 * world_release frees both. Keys from wkey borrow static buffers (valid
 * until the next wkey). Errors: cmocka assertions. Threads: one.
 */
#ifndef RFT_DEDUP_WORLD_H
#define RFT_DEDUP_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "raft/rft_dedup.h"

#define T0 1771900000000ull
#define DAY RFT_DEDUP_WINDOW_MS

struct msg {
	unsigned key;	     /* clientMsgId "k<key>"; sender is "alice" */
	uint64_t ts, msg_id;
};

struct wconv {
	struct msg *v; /* v[seq - 1] */
	size_t n, cap;
};

#define WCONVS 64

struct world {
	struct rft_dedup d;
	struct wconv c[WCONVS];
	uint64_t clock, index;
	unsigned reads, fail_reads; /* fail_reads: answer -EIO */
	char conv_buf[16], id_buf[16];
};

void world_init(struct world *w);
void world_release(struct world *w);
/* The key (conversation ci, "alice", "k<key>") with w's hash function. */
struct rft_dedup_key wkey(const struct world *w, unsigned ci, unsigned key);
/* rft_dedup_read_fn over the world (arg: the world). */
int wread(void *arg, struct cf_str conv, uint64_t seq, struct log_record *rec);
/* 1 and *v if key is in the window of conversation ci now. */
int wfind(struct world *w, unsigned ci, unsigned key, struct rft_dedup_val *v);
/* Store a message without the window (a rebuild adds it later): its seq. */
uint64_t wstore(struct world *w, unsigned ci, unsigned key);
/* A send, as apply does it: 1 if it was a duplicate (then *out). */
int wsend(struct world *w, unsigned ci, unsigned key,
	  struct rft_dedup_val *out);
/* The rule of rft_dedup.h, by brute force over the world. */
int model_find(const struct world *w, unsigned ci, unsigned key,
	       uint64_t *seq);

#endif
