/*
 * rft_peer_frame: the bytes of a peer link, parsed without a connection
 * (the format is specified at the top of rft_peer_link.c, which runs the
 * protocol; tests/fuzz/fuzz_peer.c feeds these functions arbitrary bytes).
 *
 * Ownership: nothing is allocated; a frame's body and a HELLO's nonce point
 * into the caller's bytes. Errors: 0/1 or a negative code as documented
 * per function. Threads: any; no state.
 */
#ifndef RFT_PEER_FRAME_H
#define RFT_PEER_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/rft_peer.h"

/* Largest frame body before the link is up (HELLO, PROOF: 32 bytes). */
#define RFT_PEER_HANDSHAKE_BODY_MAX 64u
#define RFT_PEER_VERSION	    1u
#define RFT_PEER_HELLO_SIZE	    (2u + 2u + 2u + RFT_PEER_NONCE_SIZE)

struct rft_peer_frame {
	uint8_t type;
	uint64_t req_id;
	const uint8_t *body; /* inside the bytes parsed */
	size_t len;
	size_t size; /* bytes of the whole frame, header included */
};

/*
 * The frame at the head of p[0..avail). 1 and *f set if it is whole, 0 if
 * more bytes are needed, CF_ETOOBIG if the link is not up (!up) and the
 * frame is larger than a handshake frame may be, CF_ECORRUPT if its length
 * is below the header's or above RFT_PEER_MAX_BODY's. Both errors are
 * decided from the 4 length bytes alone.
 */
int rft_peer_frame_next(const uint8_t *p, size_t avail, bool up,
			struct rft_peer_frame *f);

struct rft_peer_hello {
	unsigned version;
	unsigned from; /* the sender's node id */
	unsigned to;   /* the id it expects at the other end, or 0 */
	const uint8_t *nonce; /* RFT_PEER_NONCE_SIZE bytes, inside body */
};

/* A HELLO body: 0, CF_ECORRUPT (wrong size), CF_EVERSION (version). */
int rft_peer_hello_decode(const uint8_t *body, size_t len,
			  struct rft_peer_hello *h);

#endif
