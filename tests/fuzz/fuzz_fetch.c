#include "config.h"

/*
 * fuzz_fetch: the segment fetch messages (src/raft/rft_fetch_msg.c, what a
 * peer sends to a node's fetch server and client) under arbitrary bytes.
 * The first byte picks the message:
 *
 *   0  a SUM/RANGE/CRANGE request (byte 1: which) checked against a fixed
 *      server manifest: an accepted range lies inside the entry it names,
 *      RANGE/CRANGE within 1..RFT_FETCH_CHUNK_MAX; the decoded request
 *      encodes back to the body.
 *   1  a MANIFEST_R answer: i32 status, then the manifest bytes
 *      (log_manifest_decode, as the client does), checked against an
 *      empty and a fixed local manifest; the last 24 bytes are also asked
 *      of it as requests, as a server would.
 *   2  two manifests built from the bytes (always well formed: strictly
 *      increasing entries), one local, one remote: the client's and the
 *      server's checks between them.
 *   3  RANGE_R bytes: the records scan (byte 1: partition count, byte 2:
 *      partition) must stop inside the input at a record boundary, give
 *      the same answer on its own prefix, and the same whole length when
 *      the bytes arrive in two pieces (the client's carry buffer).
 *
 * Every refusal must be one of the documented codes.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_buf.h"
#include "common/cf_err.h"
#include "log/log_manifest.h"
#include "log/log_segment.h"
#include "raft/rft_fetch.h"
#include "raft/rft_fetch_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t req_types[3] = {RFT_FETCH_MSG_SUM, RFT_FETCH_MSG_RANGE,
				     RFT_FETCH_MSG_CRANGE};

/* A store with segments and a cold file in partitions 0, 1 and 3 of 4. */
static void fixed_manifest(struct log_manifest *m)
{
	struct log_manifest_cold c = {.partition = 0,
				      .coldno = 1,
				      .first_segno = 1,
				      .last_segno = 2,
				      .size = 5000,
				      .ident = 77,
				      .index = 40};

	log_manifest_init(m);
	m->partitions = 4;
	m->applied_index = 100;
	if (log_manifest_add_cold(m, &c) != 0 ||
	    log_manifest_add(m, 0, 3, 4096, true) != 0 ||
	    log_manifest_add(m, 0, 4, LOG_SEG_HDR + 200, false) != 0 ||
	    log_manifest_add(m, 1, 1, 3u << 20, true) != 0 ||
	    log_manifest_add(m, 3, 9, LOG_SEG_HDR, false) != 0)
		abort();
}

static void check_req(const struct log_manifest *m, uint8_t type,
		      const uint8_t *body, size_t n)
{
	struct rft_fetch_req q;
	uint8_t again[RFT_FETCH_REQ_SIZE];
	uint64_t length;
	int rv;

	rv = rft_fetch_req_decode(body, n, &q);
	if (rv != 0) {
		if (rv != CF_EBADREQ || n == RFT_FETCH_REQ_SIZE)
			abort();
		return;
	}
	cf_put_u32(again, q.partition);
	cf_put_u32(again + 4, q.segno);
	cf_put_u64(again + 8, q.off);
	cf_put_u64(again + 16, q.len);
	if (n != RFT_FETCH_REQ_SIZE || memcmp(again, body, n) != 0)
		abort();
	rv = rft_fetch_req_check(m, type, &q);
	if (rv != 0) {
		if (rv != CF_EBADREQ && rv != CF_ENOTFOUND)
			abort();
		return;
	}
	if (q.partition >= m->partitions)
		abort();
	if (type == RFT_FETCH_MSG_CRANGE) {
		const struct log_manifest_cold *c =
			log_manifest_find_cold(m, q.partition, q.segno);
		if (c == NULL)
			abort();
		length = c->size;
	} else {
		const struct log_manifest_seg *s =
			log_manifest_find(m, q.partition, q.segno);
		if (s == NULL)
			abort();
		length = s->length;
	}
	if (q.off > length || q.len > length - q.off)
		abort();
	if (type != RFT_FETCH_MSG_SUM &&
	    (q.len == 0 || q.len > RFT_FETCH_CHUNK_MAX))
		abort();
}

static void check_pair(const struct log_manifest *local,
		       const struct log_manifest *remote, uint64_t min_applied)
{
	char errmsg[CF_ERRMSG_SIZE] = "";
	int rv = rft_fetch_manifest_check(local, remote, min_applied, errmsg);

	if (rv == 0)
		return;
	if ((rv != CF_EBADREQ && rv != -EAGAIN && rv != CF_ENOTFOUND &&
	     rv != CF_ECORRUPT) ||
	    errmsg[0] == '\0')
		abort();
}

static void msg_manifest(const uint8_t *p, size_t n)
{
	char errmsg[CF_ERRMSG_SIZE];
	struct log_manifest remote, local, empty;
	struct cf_buf again = CF_BUF_INIT;

	if (n < 4 || cf_get_u32(p) != 0)
		return; /* the client fails on a short or refused answer */
	log_manifest_init(&remote);
	if (log_manifest_decode(p + 4, n - 4, &remote, errmsg) == 0) {
		if (log_manifest_encode(&remote, &again) != 0)
			abort();
		log_manifest_init(&empty);
		fixed_manifest(&local);
		check_pair(&empty, &remote, 0);
		check_pair(&local, &remote, remote.applied_index);
		check_pair(&remote, &local, 0);
		for (unsigned t = 0; t < 3 && n >= 4 + RFT_FETCH_REQ_SIZE; t++)
			check_req(&remote, req_types[t],
				  p + n - RFT_FETCH_REQ_SIZE,
				  RFT_FETCH_REQ_SIZE);
		log_manifest_release(&local);
		log_manifest_release(&empty);
	}
	log_manifest_release(&remote);
	cf_buf_release(&again);
}

struct rd {
	const uint8_t *p;
	size_t n;
};

static unsigned rd_u8(struct rd *r)
{
	unsigned v;

	if (r->n == 0)
		return 0;
	v = r->p[0];
	r->p++;
	r->n--;
	return v;
}

/* A well formed manifest from the bytes: entries in increasing order. */
static void built_manifest(struct rd *r, struct log_manifest *m)
{
	unsigned nsegs, ncolds, part = 0, num = 0;

	log_manifest_init(m);
	m->partitions = 1 + rd_u8(r) % 4;
	m->applied_index = rd_u8(r);
	nsegs = rd_u8(r) % 12;
	ncolds = rd_u8(r) % 4;
	for (unsigned i = 0; i < nsegs; i++) {
		unsigned b = rd_u8(r);

		if ((b & 1) != 0 && ++part >= m->partitions)
			break;
		num += 1 + (b >> 1) % 4;
		if (log_manifest_add(m, part, num,
				     LOG_SEG_HDR + rd_u8(r) * 256u + rd_u8(r),
				     (b & 0x80) != 0) != 0)
			abort();
	}
	part = 0;
	num = 0;
	for (unsigned i = 0; i < ncolds; i++) {
		unsigned b = rd_u8(r);
		struct log_manifest_cold c = {0};

		if ((b & 1) != 0 && ++part >= m->partitions)
			break;
		num += 1 + (b >> 1) % 4;
		c.partition = part;
		c.coldno = num;
		c.first_segno = rd_u8(r) % 16;
		c.last_segno = c.first_segno + rd_u8(r) % 4;
		c.size = 1 + rd_u8(r) * 1024u;
		c.ident = rd_u8(r) % 3;
		if (log_manifest_add_cold(m, &c) != 0)
			abort();
	}
}

static void msg_pair(const uint8_t *p, size_t n)
{
	struct rd r = {p, n};
	struct log_manifest local, remote;
	uint8_t body[RFT_FETCH_REQ_SIZE];
	uint64_t min_applied;

	built_manifest(&r, &local);
	built_manifest(&r, &remote);
	min_applied = rd_u8(&r);
	check_pair(&local, &remote, min_applied);
	/* A request for the remote's entries, with bytes from the input. */
	cf_put_u32(body, rd_u8(&r) % 5);
	cf_put_u32(body + 4, rd_u8(&r) % 20);
	cf_put_u64(body + 8, (uint64_t)rd_u8(&r) * 300u);
	cf_put_u64(body + 16, (uint64_t)rd_u8(&r) * rd_u8(&r) * 97u);
	for (unsigned t = 0; t < 3; t++)
		check_req(&remote, req_types[t], body, sizeof body);
	log_manifest_release(&local);
	log_manifest_release(&remote);
}

static void msg_records(const uint8_t *p, size_t n)
{
	uint32_t parts, partition;
	size_t whole, again, first, second;
	int rv, rv2;

	if (n < 3)
		return;
	parts = 1 + p[0] % 8;
	partition = p[1] % parts;
	p += 2;
	n -= 2;
	rv = rft_fetch_records_scan(p, n, parts, partition, &whole);
	if ((rv != 0 && rv != CF_ECORRUPT) || whole > n)
		abort();
	/* The whole records alone scan the same. */
	if (rft_fetch_records_scan(p, whole, parts, partition, &again) != 0 ||
	    again != whole)
		abort();
	/* In two pieces: what the first piece holds whole, then the rest. */
	rv2 = rft_fetch_records_scan(p, n / 2, parts, partition, &first);
	if (rv2 != 0 && rv2 != CF_ECORRUPT)
		abort();
	if (rv2 != 0)
		return; /* the client stops at the first bad record */
	rv2 = rft_fetch_records_scan(p + first, n - first, parts, partition,
				     &second);
	if (rv2 != rv || first + second != whole)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct log_manifest m;

	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		if (size < 2)
			return 0;
		fixed_manifest(&m);
		check_req(&m, req_types[data[1] % 3], data + 2, size - 2);
		log_manifest_release(&m);
		break;
	case 1:
		msg_manifest(data + 1, size - 1);
		break;
	case 2:
		msg_pair(data + 1, size - 1);
		break;
	default:
		msg_records(data + 1, size - 1);
		break;
	}
	return 0;
}
