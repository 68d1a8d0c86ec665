#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "log/log_segment.h"

#include "../lib/cf_test_dir.h"

#define NREC 24

struct fixture {
	char dir[64];
	int dirfd;
	struct cf_buf scan;
	/* What was written: encoded records and their end offsets. */
	struct cf_buf bytes;
	uint64_t ends[NREC];
	/* What a scan saw. */
	uint64_t seen;
	uint64_t seen_off[NREC];
	uint64_t seen_seq[NREC];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cf_test_dir_make(f->dir, sizeof(f->dir), "test_log_segment");
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(f->dirfd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->dirfd);
	cf_test_dir_remove(f->dir);
	cf_buf_release(&f->scan);
	cf_buf_release(&f->bytes);
	free(f);
	return 0;
}

static int scan_cb(void *arg, uint64_t off, const struct log_record *rec)
{
	struct fixture *f = arg;

	assert_true(f->seen < NREC);
	f->seen_off[f->seen] = off;
	f->seen_seq[f->seen] = rec->seq;
	f->seen++;
	return 0;
}

/* Encode NREC records of varied sizes into f->bytes (after a header gap). */
static void make_records(struct fixture *f)
{
	char body[300];

	memset(body, 'b', sizeof(body));
	f->bytes.len = 0;
	for (unsigned i = 0; i < NREC; i++) {
		struct log_record r;
		memset(&r, 0, sizeof(r));
		r.kind = (uint8_t)(1 + i % 6);
		r.seq = i + 1;
		r.ts = 1000 + i;
		r.conv = CF_STR_LIT("c_7");
		r.sender = CF_STR_LIT("bob");
		r.body = (struct cf_str){body, (i * 37) % 300};
		assert_int_equal(log_record_encode(&r, &f->bytes), 0);
		f->ends[i] = LOG_SEG_HDR + f->bytes.len;
	}
}

static void names_round_trip(void **state)
{
	char name[LOG_SEG_NAME];
	uint32_t segno = 0;

	(void)state;
	log_segment_name(name, 42);
	assert_string_equal(name, "00000042.seg");
	assert_int_equal(log_segment_parse_name(name, &segno), 0);
	assert_int_equal(segno, 42);
	assert_int_equal(log_segment_parse_name("0000042.seg", &segno),
			 CF_EBADREQ);
	assert_int_equal(log_segment_parse_name("00000042.segx", &segno),
			 CF_EBADREQ);
	log_segment_part_name(name, 7);
	assert_string_equal(name, "p0007");
}

static void append_and_reopen_reads_every_record(void **state)
{
	struct fixture *f = *state;
	struct log_segment seg;
	struct cf_buf scratch = CF_BUF_INIT;
	struct log_record rec;
	uint64_t end;

	make_records(f);
	log_segment_init(&seg, 3, 1);
	assert_int_equal(log_segment_create(&seg, f->dirfd), 0);
	assert_int_equal(seg.size, LOG_SEG_HDR);
	/* Two batched writes, as the store does per commit. */
	assert_int_equal(log_segment_write(&seg, f->bytes.data, 100), 0);
	assert_int_equal(log_segment_write(&seg, f->bytes.data + 100,
					   f->bytes.len - 100),
			 0);
	assert_int_equal(log_segment_sync(&seg), 0);
	assert_true(seg.synced == seg.size);
	log_segment_close(&seg);
	/* Creating it again fails: it exists. */
	log_segment_init(&seg, 3, 1);
	assert_int_equal(log_segment_create(&seg, f->dirfd), -EEXIST);

	log_segment_init(&seg, 3, 1);
	assert_int_equal(log_segment_open(&seg, f->dirfd, true), 0);
	assert_true(seg.size == LOG_SEG_HDR + f->bytes.len);
	assert_int_equal(log_segment_scan(&seg, UINT64_MAX, &f->scan, scan_cb,
					  f, &end),
			 0);
	assert_true(end == seg.size);
	assert_true(f->seen == NREC);
	for (unsigned i = 0; i < NREC; i++) {
		assert_true(f->seen_seq[i] == i + 1);
		assert_int_equal(log_segment_read(&seg, f->seen_off[i],
						  &scratch, &rec),
				 0);
		assert_true(rec.seq == i + 1);
	}
	/* An offset that is not a record start is refused. */
	assert_int_equal(log_segment_read(&seg, f->seen_off[1] + 1, &scratch,
					  &rec),
			 CF_ECORRUPT);
	log_segment_close(&seg);
	cf_buf_release(&scratch);
}

static void header_of_another_segment_is_refused(void **state)
{
	struct fixture *f = *state;
	struct log_segment seg;
	uint64_t end;

	log_segment_init(&seg, 1, 5);
	assert_int_equal(log_segment_create(&seg, f->dirfd), 0);
	log_segment_close(&seg);
	/* Same file, read as if it were partition 2's. */
	log_segment_init(&seg, 2, 5);
	assert_int_equal(log_segment_open(&seg, f->dirfd, true), 0);
	assert_int_equal(log_segment_scan(&seg, UINT64_MAX, &f->scan, NULL,
					  NULL, &end),
			 CF_ECORRUPT);
	assert_true(end == 0);
	log_segment_close(&seg);
}

static void cut_at_every_offset_scans_an_exact_prefix(void **state)
{
	struct fixture *f = *state;
	struct log_segment seg;
	uint64_t total;

	make_records(f);
	log_segment_init(&seg, 0, 9);
	assert_int_equal(log_segment_create(&seg, f->dirfd), 0);
	assert_int_equal(
		log_segment_write(&seg, f->bytes.data, f->bytes.len), 0);
	total = seg.size;
	log_segment_close(&seg);

	/* Cut from the end down to 0 (ftruncate to shorter lengths, which
	 * also spares ext4 the flush a truncation to zero triggers). */
	for (uint64_t cut = total + 1; cut-- > 0;) {
		int fd = openat(f->dirfd, "00000009.seg", O_WRONLY);
		uint64_t end;
		uint64_t want = 0;
		int rv;

		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)cut), 0);
		close(fd);
		while (want < NREC && f->ends[want] <= cut)
			want++;
		log_segment_init(&seg, 0, 9);
		assert_int_equal(log_segment_open(&seg, f->dirfd, true), 0);
		f->seen = 0;
		rv = log_segment_scan(&seg, UINT64_MAX, &f->scan, scan_cb, f,
				      &end);
		log_segment_close(&seg);
		if (cut < LOG_SEG_HDR) {
			assert_int_equal(rv, CF_ECORRUPT);
			assert_true(end == 0);
			assert_true(f->seen == 0);
			continue;
		}
		/* Exactly the records that fit whole, in order. */
		assert_true(f->seen == want);
		for (uint64_t i = 0; i < want; i++)
			assert_true(f->seen_seq[i] == i + 1);
		assert_true(end == (want > 0 ? f->ends[want - 1] : LOG_SEG_HDR));
		assert_int_equal(rv, end == cut ? 0 : CF_ECORRUPT);
	}
}

static void scan_stops_at_limit_and_at_damage(void **state)
{
	struct fixture *f = *state;
	struct log_segment seg;
	uint64_t end;
	char c = 0x55;

	make_records(f);
	log_segment_init(&seg, 0, 1);
	assert_int_equal(log_segment_create(&seg, f->dirfd), 0);
	assert_int_equal(
		log_segment_write(&seg, f->bytes.data, f->bytes.len), 0);
	/* A limit on a record boundary scans exactly that far. */
	f->seen = 0;
	assert_int_equal(log_segment_scan(&seg, f->ends[9], &f->scan, scan_cb,
					  f, &end),
			 0);
	assert_true(f->seen == 10);
	assert_true(end == f->ends[9]);
	/* A limit inside a record stops before it. */
	f->seen = 0;
	assert_int_equal(log_segment_scan(&seg, f->ends[9] + 3, &f->scan,
					  scan_cb, f, &end),
			 CF_ECORRUPT);
	assert_true(f->seen == 10);
	/* Damage in record 12 stops the scan after record 11. */
	assert_int_equal(pwrite(seg.fd, &c, 1, (off_t)f->ends[11] + 30), 1);
	f->seen = 0;
	assert_int_equal(log_segment_scan(&seg, UINT64_MAX, &f->scan, scan_cb,
					  f, &end),
			 CF_ECORRUPT);
	assert_true(f->seen == 12);
	assert_true(end == f->ends[11]);
	/* Truncating there leaves a clean segment. */
	assert_int_equal(log_segment_truncate(&seg, end), 0);
	f->seen = 0;
	assert_int_equal(log_segment_scan(&seg, UINT64_MAX, &f->scan, scan_cb,
					  f, &end),
			 0);
	assert_true(f->seen == 12);
	log_segment_close(&seg);
}

static int stop_cb(void *arg, uint64_t off, const struct log_record *rec)
{
	(void)arg;
	(void)off;
	return rec->seq == 5 ? CF_ECONFLICT : 0;
}

static void scan_returns_the_callbacks_error(void **state)
{
	struct fixture *f = *state;
	struct log_segment seg;
	uint64_t end;

	make_records(f);
	log_segment_init(&seg, 0, 1);
	assert_int_equal(log_segment_create(&seg, f->dirfd), 0);
	assert_int_equal(
		log_segment_write(&seg, f->bytes.data, f->bytes.len), 0);
	assert_int_equal(log_segment_scan(&seg, UINT64_MAX, &f->scan, stop_cb,
					  NULL, &end),
			 CF_ECONFLICT);
	assert_true(end == f->ends[3]);
	log_segment_close(&seg);
}

static uint64_t counted;

static int count_cb(void *arg, uint64_t off, const struct log_record *rec)
{
	(void)arg;
	(void)off;
	assert_true(rec->seq == counted + 1);
	counted++;
	return 0;
}

static void large_segment_scans_across_read_chunks(void **state)
{
	struct fixture *f = *state;
	struct log_segment seg;
	struct cf_buf b = CF_BUF_INIT;
	char *body = malloc(300000);
	uint64_t end;
	uint64_t n = 0;

	assert_non_null(body);
	memset(body, 'z', 300000);
	log_segment_init(&seg, 0, 2);
	assert_int_equal(log_segment_create(&seg, f->dirfd), 0);
	/* About 10 MiB in records of varied size: several scan chunks, with
	 * records straddling chunk edges. */
	while (seg.size < (10u << 20)) {
		struct log_record r;
		memset(&r, 0, sizeof(r));
		r.kind = LOG_REC_MESSAGE;
		r.seq = ++n;
		r.conv = CF_STR_LIT("big");
		r.body = (struct cf_str){body, (n * 7919) % 300000};
		b.len = 0;
		assert_int_equal(log_record_encode(&r, &b), 0);
		assert_int_equal(log_segment_write(&seg, b.data, b.len), 0);
	}
	counted = 0;
	assert_int_equal(log_segment_scan(&seg, UINT64_MAX, &f->scan,
					  count_cb, NULL, &end),
			 0);
	assert_true(end == seg.size);
	assert_true(counted == n);
	log_segment_close(&seg);
	free(body);
	cf_buf_release(&b);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(names_round_trip),
		T(append_and_reopen_reads_every_record),
		T(header_of_another_segment_is_refused),
		T(cut_at_every_offset_scans_an_exact_prefix),
		T(scan_stops_at_limit_and_at_damage),
		T(scan_returns_the_callbacks_error),
		T(large_segment_scans_across_read_chunks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
