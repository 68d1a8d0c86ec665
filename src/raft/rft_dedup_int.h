/*
 * rft_dedup_int: what rft_dedup.c and rft_dedup_image.c share about the
 * window's layout (rft_dedup.h has the rules). Not for other modules.
 *
 * A reference is chunk number * RFT_DEDUP_CHUNK + position; a table slot
 * holds reference + 1 (0: empty). A word's table home is its hash bits,
 * word >> RFT_DEDUP_SEQ_BITS, masked by the table's size - 1; the slot's
 * tag byte (in the same allocation, after the cap slots) is hash bits
 * 36..43, (word >> RFT_DEDUP_SEQ_BITS) >> 36.
 */
#ifndef RFT_DEDUP_INT_H
#define RFT_DEDUP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "raft/rft_dedup.h"

/* No chunk: a bucket's empty list, the end of a chunk list. */
#define RFT_DEDUP_NONE UINT32_MAX
/* Chunk numbers stay below this, so that reference + 1 fits 32 bits. */
#define RFT_DEDUP_MAX_CHUNKS ((1u << 22) - 1)
/* Bytes per table slot: the reference (4) and its tag (1, after all the
 * slots: see rft_dedup.c). */
#define RFT_DEDUP_SLOT_BYTES 5u
/* The tag bytes of a table of cap slots: right after its slots. */
static inline uint8_t *rft_dedup_tags(const uint32_t *slots, size_t cap)
{
	return (uint8_t *)(uintptr_t)(slots + cap);
}

/* A slot's tag: bits 36..43 of its word's hash bits (never in a home). */
static inline uint8_t rft_dedup_tag(uint64_t hash_bits)
{
	return (uint8_t)(hash_bits >> 36);
}

/* The smallest table (a window's first grow). */
#define RFT_DEDUP_MIN_CAP 64u

#endif
