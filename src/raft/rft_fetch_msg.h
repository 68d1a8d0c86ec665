/*
 * rft_fetch_msg: the segment fetch messages (layouts at the top of
 * rft_fetch.c) decoded and checked without a node, a loop or a file: the
 * server's reading of a request against its manifest, and the client's
 * reading of a peer's manifest and of fetched bytes. rft_fetch.c and
 * rft_fetch_client.c call these; tests/fuzz/fuzz_fetch.c feeds them
 * arbitrary bytes.
 *
 * Ownership: nothing is kept; the manifests are the caller's.
 * Errors: 0 or a negative code, per function; errmsg (CF_ERRMSG_SIZE
 * bytes) says why where given. Threads: any; no state.
 */
#ifndef RFT_FETCH_MSG_H
#define RFT_FETCH_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "log/log_manifest.h"

/* Request bodies: SUM, RANGE and CRANGE share one layout. */
#define RFT_FETCH_REQ_SIZE 24

struct rft_fetch_req {
	uint32_t partition;
	uint32_t segno; /* the cold file's number for CRANGE */
	uint64_t off;
	uint64_t len;
};

/* A SUM/RANGE/CRANGE body: 0, or CF_EBADREQ if not RFT_FETCH_REQ_SIZE. */
int rft_fetch_req_decode(const void *body, size_t n, struct rft_fetch_req *q);

/*
 * q (of message type, RFT_FETCH_MSG_*) against the server's manifest m: 0,
 * CF_EBADREQ (partition out of range, range past the checkpointed length,
 * a RANGE/CRANGE of 0 bytes or more than RFT_FETCH_CHUNK_MAX) or
 * CF_ENOTFOUND (m names no such segment or cold file).
 */
int rft_fetch_req_check(const struct log_manifest *m, uint8_t type,
			const struct rft_fetch_req *q);

/*
 * Can a store whose checkpoint is local (partitions 0: empty) fetch up to
 * the peer's remote, which must be at least at min_applied? 0, CF_EBADREQ
 * (partition counts differ), -EAGAIN (remote below min_applied or local),
 * CF_ENOTFOUND (remote lacks a local segment or cold file and nothing
 * replaced it), CF_ECORRUPT (a local segment is longer than the peer's).
 */
int rft_fetch_manifest_check(const struct log_manifest *local,
			     const struct log_manifest *remote,
			     uint64_t min_applied, char *errmsg);

/*
 * Fetched segment bytes p[0..n) of partition (of parts, >= 1): *whole is
 * the length of the whole, valid records at their head (each decodes with
 * log_record_decode and hashes to partition); the rest waits for more
 * bytes. 0, or CF_ECORRUPT with *whole the offset of the bad record.
 */
int rft_fetch_records_scan(const void *p, size_t n, uint32_t parts,
			   uint32_t partition, size_t *whole);

#endif
