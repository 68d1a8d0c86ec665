#include "config.h"

/*
 * fuzz_peer: the peer-link frame parser and HELLO decoder
 * (src/raft/rft_peer_frame.c, the bytes any TCP client can send to a
 * node's peer port before it proves the secret) under arbitrary bytes. The
 * input is a stream of frames, parsed as rft_peer_link.c's conn_parse()
 * does, once as a link not yet up and once as a link that is up. Each whole
 * frame must lie inside the input, give its header back when re-encoded,
 * and need more bytes when cut by one; an error must be decided by the 4
 * length bytes alone; every HELLO body is decoded.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_buf.h"
#include "common/cf_err.h"
#include "raft/rft_peer_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_hello(const struct rft_peer_frame *f)
{
	struct rft_peer_hello h;
	int rv = rft_peer_hello_decode(f->body, f->len, &h);

	if (rv == 0) {
		if (h.version != RFT_PEER_VERSION || h.from > 0xffff ||
		    h.to > 0xffff || h.nonce != f->body + 6 ||
		    f->len != RFT_PEER_HELLO_SIZE)
			abort();
	} else if (rv != CF_ECORRUPT && rv != CF_EVERSION) {
		abort();
	}
}

static void parse(const uint8_t *data, size_t size, bool up)
{
	size_t pos = 0;

	for (;;) {
		const uint8_t *p = data + pos;
		size_t avail = size - pos;
		struct rft_peer_frame f, g;
		uint8_t hdr[RFT_PEER_HDR_SIZE];
		int rv = rft_peer_frame_next(p, avail, up, &f);

		if (rv == 0) {
			/* Need more: fewer than 4 bytes or a cut frame. */
			if (avail >= 4 &&
			    (size_t)cf_get_u32(p) <= avail - 4)
				abort();
			return;
		}
		if (rv < 0) {
			if ((rv != CF_ECORRUPT && rv != CF_ETOOBIG) ||
			    (rv == CF_ETOOBIG && up) ||
			    rft_peer_frame_next(p, 4, up, &g) != rv)
				abort();
			return;
		}
		if (rv != 1 || f.size > avail ||
		    f.size != RFT_PEER_HDR_SIZE + f.len ||
		    f.body != p + RFT_PEER_HDR_SIZE ||
		    f.len > RFT_PEER_MAX_BODY ||
		    (!up && f.len > RFT_PEER_HANDSHAKE_BODY_MAX))
			abort();
		cf_put_u32(hdr, (uint32_t)(f.size - 4));
		hdr[4] = f.type;
		cf_put_u64(hdr + 5, f.req_id);
		if (memcmp(hdr, p, sizeof hdr) != 0)
			abort();
		if (rft_peer_frame_next(p, f.size - 1, up, &g) != 0)
			abort();
		if (f.type == 1)
			check_hello(&f);
		pos += f.size;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse(data, size, false);
	parse(data, size, true);
	return 0;
}
