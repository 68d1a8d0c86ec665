#include "config.h"

/* Peer-link frames and HELLO bodies over bytes (rft_peer_frame.h). */

#include "raft/rft_peer_frame.h"

#include "common/cf_buf.h"
#include "common/cf_err.h"

int rft_peer_frame_next(const uint8_t *p, size_t avail, bool up,
			struct rft_peer_frame *f)
{
	uint32_t flen;

	if (avail < 4)
		return 0;
	flen = cf_get_u32(p);
	if (!up && flen > RFT_PEER_HDR_SIZE - 4 + RFT_PEER_HANDSHAKE_BODY_MAX)
		return CF_ETOOBIG;
	if (flen < RFT_PEER_HDR_SIZE - 4 ||
	    flen > RFT_PEER_HDR_SIZE - 4 + RFT_PEER_MAX_BODY)
		return CF_ECORRUPT;
	if (avail - 4 < flen)
		return 0;
	f->type = p[4];
	f->req_id = cf_get_u64(p + 5);
	f->body = p + RFT_PEER_HDR_SIZE;
	f->len = flen - (RFT_PEER_HDR_SIZE - 4);
	f->size = 4 + (size_t)flen;
	return 1;
}

int rft_peer_hello_decode(const uint8_t *body, size_t len,
			  struct rft_peer_hello *h)
{
	if (len != RFT_PEER_HELLO_SIZE)
		return CF_ECORRUPT;
	h->version = cf_get_u16(body);
	h->from = cf_get_u16(body + 2);
	h->to = cf_get_u16(body + 4);
	h->nonce = body + 6;
	if (h->version != RFT_PEER_VERSION)
		return CF_EVERSION;
	return 0;
}
