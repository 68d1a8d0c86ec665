/*
 * rft_dedup: the idempotency window of the FSM (DESIGN.md "Idempotency").
 *
 * A key (conversation, sender, clientMsgId) maps to the answer of the send
 * that first used it: (seq, messageId, serverTs). A key is in the window
 * while entryClock - serverTs < RFT_DEDUP_WINDOW_MS and while it is among
 * the newest RFT_DEDUP_MAX_PER_CONV keys of its conversation. Both rules
 * depend only on the sequence of keys of each conversation and the entry
 * clock, so a window rebuilt from segment records (in any order across
 * conversations, in commit order within each) answers like the live one.
 *
 * Keys are stored as 128-bit XXH3 hashes of the key, not as bytes: no
 * allocation per key, O(1) lookups, and a false hit would need a 128-bit
 * collision. One table serves all conversations; each conversation owns a
 * FIFO (struct rft_dedup_fifo) that drives eviction in insertion order.
 *
 * Ownership: the table and FIFOs own their arrays; a FIFO is released with
 * rft_dedup_fifo_release() after its keys left the table or the table is
 * released. Errors: 0 or -ENOMEM. Threads: one thread at a time.
 */
#ifndef RFT_DEDUP_H
#define RFT_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"

#define RFT_DEDUP_WINDOW_MS (24ull * 3600 * 1000)
#define RFT_DEDUP_MAX_PER_CONV 100000u

struct rft_dedup_key {
	uint64_t h1, h2; /* never both 0 */
};

struct rft_dedup_val {
	uint64_t seq;
	uint64_t message_id;
	uint64_t server_ts; /* also the key's age reference */
};

struct rft_dedup_slot {
	struct rft_dedup_key key; /* {0, 0}: empty */
	struct rft_dedup_val val;
};

struct rft_dedup {
	struct rft_dedup_slot *slots;
	size_t cap; /* power of two, or 0 */
	size_t n;
};

struct rft_dedup_item {
	struct rft_dedup_key key;
	uint64_t message_id; /* tells this insertion from a later reuse */
	uint64_t server_ts;
};

/* The keys of one conversation in insertion order (a ring). */
struct rft_dedup_fifo {
	struct rft_dedup_item *v;
	uint32_t head, n, cap;
};

void rft_dedup_init(struct rft_dedup *d);
void rft_dedup_release(struct rft_dedup *d);
void rft_dedup_fifo_release(struct rft_dedup_fifo *q);

/* Hash of a key; each part is at most 255 bytes (ids are <= 128). */
struct rft_dedup_key rft_dedup_key(struct cf_str conv, struct cf_str sender,
				   struct cf_str client_msg_id);

/*
 * The answer for key if it is in the window at clock, else NULL. First drops
 * q's keys that aged out at clock. The pointer is valid until the next add.
 */
const struct rft_dedup_val *rft_dedup_find(struct rft_dedup *d,
					   struct rft_dedup_fifo *q,
					   struct rft_dedup_key key,
					   uint64_t clock);
/* Add key (replacing an aged-out twin) to d and q; evicts past the cap. */
int rft_dedup_add(struct rft_dedup *d, struct rft_dedup_fifo *q,
		  struct rft_dedup_key key, const struct rft_dedup_val *v);
/* Drop q's keys that aged out at clock (memory only: find checks age). */
void rft_dedup_purge(struct rft_dedup *d, struct rft_dedup_fifo *q,
		     uint64_t clock);
/* Keys held in the table (for tests and metrics). */
static inline size_t rft_dedup_count(const struct rft_dedup *d)
{
	return d->n;
}

#endif
