#include "config.h"

/*
 * fuzz_cold: the cold segment reader (log_cold_read.c) under arbitrary
 * files. The input is a cold file; before it is opened, the harness repairs
 * every checksum it can find (header, blocks as the index places them,
 * index, whole file), so that mutated inputs get past the checksums and
 * reach the index checks, LZ4 decoding and record placement. Then it opens,
 * verifies, scans, scans each conversation and reads seqs by number. A
 * crash, a read out of bounds (sanitizer build) or a record returned for
 * the wrong conversation or seq is a failure (abort).
 */

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/cf_err.h"
#include "log/log_cold.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Layout sizes, as specified at the top of log_cold_write.c. */
#define HDR 64
#define TRAILER 40
#define IDX_HDR 32
#define BTAB_ENT 24
#define BLOCK_HDR 24

static void repair(uint8_t *p, size_t n)
{
	uint64_t ioff, ilen;
	uint32_t nb;

	if (n < HDR + IDX_HDR + TRAILER)
		return;
	cf_put_u64(p + 56, XXH3_64bits(p, 56));
	ioff = cf_get_u64(p + n - TRAILER);
	ilen = cf_get_u64(p + n - TRAILER + 8);
	if (ioff < HDR || ilen < IDX_HDR || ilen > n ||
	    ioff != n - TRAILER - ilen)
		goto whole;
	nb = cf_get_u32(p + ioff);
	for (uint32_t b = 0; b < nb && (uint64_t)b * BTAB_ENT + IDX_HDR +
						 BTAB_ENT <= ilen;
	     b++) {
		const uint8_t *e = p + ioff + IDX_HDR + (size_t)b * BTAB_ENT;
		uint64_t off = cf_get_u64(e);
		uint32_t clen = cf_get_u32(e + 8);

		if (off < HDR || off > ioff || clen > ioff - off ||
		    ioff - off - clen < BLOCK_HDR)
			continue;
		cf_put_u64(p + off + 16, XXH3_64bits(p + off + BLOCK_HDR,
						     clen));
	}
	cf_put_u64(p + n - TRAILER + 16, XXH3_64bits(p + ioff, ilen));
whole:
	cf_put_u64(p + n - TRAILER + 24, XXH3_64bits(p, n - TRAILER));
}

static int scan_cb(void *arg, const struct log_record *rec)
{
	const struct log_cold_conv *c = arg;

	if (c != NULL && !cf_str_eq(rec->conv, c->conv))
		abort();
	return 0;
}

static void exercise(struct log_cold *r)
{
	const struct log_cold_info *info = log_cold_get_info(r);
	struct cf_buf scratch = CF_BUF_INIT;
	char errmsg[CF_ERRMSG_SIZE];
	struct log_record rec;

	(void)log_cold_verify(r, errmsg);
	(void)log_cold_scan(r, scan_cb, NULL);
	for (size_t i = 0; i < info->conversations && i < 64; i++) {
		struct log_cold_conv c;
		uint64_t seq;

		log_cold_conv_at(r, i, &c);
		(void)log_cold_scan_conv(r, c.conv, 0, true, scan_cb, &c);
		for (seq = c.first_seq;
		     seq <= c.last_seq && seq < c.first_seq + 64; seq++) {
			if (log_cold_read_seq(r, c.conv, seq, &rec, &scratch) ==
				    0 &&
			    (rec.kind != LOG_REC_MESSAGE || rec.seq != seq ||
			     !cf_str_eq(rec.conv, c.conv)))
				abort();
		}
	}
	cf_buf_release(&scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	uint8_t *p;
	struct log_cold *r;
	int fd;

	p = malloc(size ? size : 1);
	if (p == NULL)
		return 0;
	memcpy(p, data, size);
	repair(p, size);
	fd = memfd_create("fuzz_cold", MFD_CLOEXEC);
	if (fd < 0 || write(fd, p, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (log_cold_open(&r, AT_FDCWD, path) == 0) {
		exercise(r);
		log_cold_close(r);
	}
	close(fd);
	free(p);
	return 0;
}
