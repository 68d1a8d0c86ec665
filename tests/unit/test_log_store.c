#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "common/cf_err.h"
#include "log/log_store.h"

#include "../lib/cf_test_dir.h"

struct fixture {
	char dir[64];
	char store[96];
	struct log_store *s;
	struct log_store_opts o;
	char errmsg[CF_ERRMSG_SIZE];
	uint64_t scanned;
	uint64_t scanned_msgs;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cf_test_dir_make(f->dir, sizeof(f->dir), "test_log_store");
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	f->o.dir = f->store;
	f->o.partitions = 4;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	log_store_close(f->s);
	cf_test_dir_remove(f->dir);
	free(f);
	return 0;
}

static int count_cb(void *arg, const struct log_record *rec)
{
	struct fixture *f = arg;

	f->scanned++;
	if (rec->kind == LOG_REC_MESSAGE)
		f->scanned_msgs++;
	return 0;
}

static int store_open(struct fixture *f)
{
	log_store_close(f->s);
	f->s = NULL;
	f->scanned = f->scanned_msgs = 0;
	return log_store_open(&f->s, &f->o, count_cb, f, f->errmsg);
}

static char body_buf[256];

static struct log_record msg(const char *conv, uint64_t seq, uint64_t ts)
{
	struct log_record r;

	memset(&r, 0, sizeof(r));
	r.kind = LOG_REC_MESSAGE;
	r.raft_index = seq + 100;
	r.message_id = (seq + 100) * 65536;
	r.seq = seq;
	r.ts = ts;
	r.conv = cf_str_c(conv);
	r.sender = CF_STR_LIT("alice");
	r.msg_type = CF_STR_LIT("text");
	snprintf(body_buf, sizeof(body_buf), "message %llu of %s",
		 (unsigned long long)seq, conv);
	r.body = cf_str_c(body_buf);
	return r;
}

static void append_msgs(struct fixture *f, const char *conv, uint64_t from,
			uint64_t to)
{
	for (uint64_t i = from; i <= to; i++) {
		struct log_record r = msg(conv, i, 1000 + i);
		assert_int_equal(log_store_append(f->s, &r), 0);
	}
}

static void check_read(struct fixture *f, const char *conv, uint64_t seq)
{
	struct cf_buf scratch = CF_BUF_INIT;
	struct log_record r;
	char want[256];

	assert_int_equal(
		log_store_read_seq(f->s, cf_str_c(conv), seq, &r, &scratch), 0);
	snprintf(want, sizeof(want), "message %llu of %s",
		 (unsigned long long)seq, conv);
	assert_true(r.seq == seq);
	assert_true(cf_str_eqc(r.conv, conv));
	assert_true(cf_str_eqc(r.body, want));
	cf_buf_release(&scratch);
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return UINT64_MAX;
	return (uint64_t)st.st_size;
}

static void seg_path(struct fixture *f, const char *conv, unsigned segno,
		     char *out, size_t n)
{
	unsigned p = (unsigned)(XXH3_64bits(conv, strlen(conv)) %
				f->o.partitions);
	snprintf(out, n, "%s/p%04u/%08u.seg", f->store, p, segno);
}

static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	unsigned char c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void new_store_starts_at_applied_index_zero_with_a_manifest(void **state)
{
	struct fixture *f = *state;
	char path[160];

	assert_int_equal(store_open(f), 0);
	assert_true(log_store_applied_index(f->s) == 0);
	snprintf(path, sizeof(path), "%s/MANIFEST", f->store);
	assert_true(file_size(path) != UINT64_MAX);
	assert_true(log_store_last_seq(f->s, CF_STR_LIT("nobody")) == 0);
}

static void commit_then_read_every_seq(void **state)
{
	struct fixture *f = *state;
	struct log_store_stats st;

	assert_int_equal(store_open(f), 0);
	append_msgs(f, "c_1", 1, 50);
	append_msgs(f, "c_2", 1, 30);
	assert_int_equal(log_store_commit(f->s), 0);
	assert_true(log_store_last_seq(f->s, CF_STR_LIT("c_1")) == 50);
	assert_true(log_store_last_seq(f->s, CF_STR_LIT("c_2")) == 30);
	for (uint64_t i = 1; i <= 50; i++)
		check_read(f, "c_1", i);
	for (uint64_t i = 1; i <= 30; i++)
		check_read(f, "c_2", i);
	log_store_stats(f->s, &st);
	assert_true(st.records == 80);
	assert_true(st.conversations == 2);
	assert_true(st.index_bytes > 0);
	{
		struct cf_buf scratch = CF_BUF_INIT;
		struct log_record r;
		assert_int_equal(log_store_read_seq(f->s, CF_STR_LIT("c_1"),
						    51, &r, &scratch),
				 CF_ENOTFOUND);
		assert_int_equal(log_store_read_seq(f->s, CF_STR_LIT("c_9"), 1,
						    &r, &scratch),
				 CF_ENOTFOUND);
		cf_buf_release(&scratch);
	}
}

static void staged_records_are_readable_before_commit(void **state)
{
	struct fixture *f = *state;
	struct log_store_stats st;

	assert_int_equal(store_open(f), 0);
	append_msgs(f, "c_1", 1, 5);
	assert_true(log_store_last_seq(f->s, CF_STR_LIT("c_1")) == 5);
	check_read(f, "c_1", 3);
	log_store_stats(f->s, &st);
	assert_true(st.records == 0); /* nothing written yet */
	assert_int_equal(log_store_commit(f->s), 0);
	check_read(f, "c_1", 3);
}

static void abort_forgets_staged_records(void **state)
{
	struct fixture *f = *state;
	struct log_store_stats st;
	struct cf_buf scratch = CF_BUF_INIT;
	struct log_record r;

	assert_int_equal(store_open(f), 0);
	append_msgs(f, "c_1", 1, 3);
	assert_int_equal(log_store_commit(f->s), 0);
	append_msgs(f, "c_1", 4, 6);
	append_msgs(f, "c_new", 1, 2);
	log_store_abort(f->s);
	assert_true(log_store_last_seq(f->s, CF_STR_LIT("c_1")) == 3);
	assert_true(log_store_last_seq(f->s, CF_STR_LIT("c_new")) == 0);
	assert_int_equal(
		log_store_read_seq(f->s, CF_STR_LIT("c_1"), 4, &r, &scratch),
		CF_ENOTFOUND);
	log_store_stats(f->s, &st);
	assert_true(st.records == 3);
	assert_true(st.conversations == 1);
	/* The same seqs can be staged again and land where the aborted ones
	 * would have. */
	append_msgs(f, "c_1", 4, 6);
	assert_int_equal(log_store_commit(f->s), 0);
	for (uint64_t i = 1; i <= 6; i++)
		check_read(f, "c_1", i);
	assert_int_equal(log_store_checkpoint(f->s, 9, f->errmsg), 0);
	assert_int_equal(store_open(f), 0);
	assert_true(f->scanned == 6);
	cf_buf_release(&scratch);
}

static void seq_must_grow_within_a_conversation(void **state)
{
	struct fixture *f = *state;
	struct log_record r;

	assert_int_equal(store_open(f), 0);
	append_msgs(f, "c_1", 1, 3);
	r = msg("c_1", 3, 5);
	assert_int_equal(log_store_append(f->s, &r), CF_EBADREQ);
	/* Records without a seq are not indexed and always accepted. */
	r.kind = LOG_REC_MEMBERS;
	r.seq = 0;
	assert_int_equal(log_store_append(f->s, &r), 0);
	assert_int_equal(log_store_commit(f->s), 0);
	assert_true(log_store_last_seq(f->s, CF_STR_LIT("c_1")) == 3);
}

static void checkpoint_then_reopen_keeps_everything(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_open(f), 0);
	append_msgs(f, "c_1", 1, 20);
	append_msgs(f, "c_2", 1, 20);
	assert_int_equal(log_store_commit(f->s), 0);
	assert_int_equal(log_store_checkpoint(f->s, 42, f->errmsg), 0);
	assert_true(log_store_applied_index(f->s) == 42);
	assert_int_equal(store_open(f), 0);
	assert_true(log_store_applied_index(f->s) == 42);
	assert_true(f->scanned == 40);
	assert_true(log_store_last_seq(f->s, CF_STR_LIT("c_2")) == 20);
	for (uint64_t i = 1; i <= 20; i++) {
		check_read(f, "c_1", i);
		check_read(f, "c_2", i);
	}
	/* Appending continues in the same hot segment. */
	append_msgs(f, "c_1", 21, 25);
	assert_int_equal(log_store_commit(f->s), 0);
	check_read(f, "c_1", 25);
	check_read(f, "c_1", 1);
}

static void uncheckpointed_tail_is_cut_on_reopen(void **state)
{
	struct fixture *f = *state;
	char path[160];
	uint64_t size_at_checkpoint;

	assert_int_equal(store_open(f), 0);
	append_msgs(f, "c_1", 1, 10);
	assert_int_equal(log_store_commit(f->s), 0);
	assert_int_equal(log_store_checkpoint(f->s, 5, f->errmsg), 0);
	seg_path(f, "c_1", 1, path, sizeof(path));
	size_at_checkpoint = file_size(path);
	append_msgs(f, "c_1", 11, 15);
	assert_int_equal(log_store_commit(f->s), 0);
	assert_true(file_size(path) > size_at_checkpoint);
	assert_int_equal(store_open(f), 0);
	assert_true(f->scanned == 10);
	assert_true(file_size(path) == size_at_checkpoint);
	assert_true(log_store_last_seq(f->s, CF_STR_LIT("c_1")) == 10);
	/* Raft replays: the same seqs are appended again. */
	append_msgs(f, "c_1", 11, 15);
	assert_int_equal(log_store_commit(f->s), 0);
	check_read(f, "c_1", 15);
}

static void torn_tail_past_checkpoint_is_cut(void **state)
{
	struct fixture *f = *state;
	char path[160];
	int fd;

	assert_int_equal(store_open(f), 0);
	append_msgs(f, "c_1", 1, 4);
	assert_int_equal(log_store_commit(f->s), 0);
	assert_int_equal(log_store_checkpoint(f->s, 4, f->errmsg), 0);
	log_store_close(f->s);
	f->s = NULL;
	seg_path(f, "c_1", 1, path, sizeof(path));
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x50\x00\x00\x00garbage", 11), 11);
	close(fd);
	assert_int_equal(store_open(f), 0);
	assert_true(f->scanned == 4);
	append_msgs(f, "c_1", 5, 5);
	assert_int_equal(log_store_commit(f->s), 0);
	assert_int_equal(log_store_checkpoint(f->s, 5, f->errmsg), 0);
	assert_int_equal(store_open(f), 0);
	assert_true(f->scanned == 5);
	check_read(f, "c_1", 5);
}

static void conversations_live_in_their_hash_partition(void **state)
{
	struct fixture *f = *state;
	const char *convs[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
	char path[160];

	f->o.partitions = 3;
	assert_int_equal(store_open(f), 0);
	for (size_t i = 0; i < 8; i++)
		append_msgs(f, convs[i], 1, 2);
	assert_int_equal(log_store_commit(f->s), 0);
	for (size_t i = 0; i < 8; i++) {
		seg_path(f, convs[i], 1, path, sizeof(path));
		assert_true(file_size(path) != UINT64_MAX);
		check_read(f, convs[i], 2);
	}
	assert_int_equal(log_store_checkpoint(f->s, 1, f->errmsg), 0);
	/* The partition count is part of the store. */
	f->o.partitions = 4;
	assert_int_equal(store_open(f), CF_EBADREQ);
	assert_non_null(strstr(f->errmsg, "partitions"));
	f->o.partitions = 3;
	assert_int_equal(store_open(f), 0);
	assert_true(f->scanned == 16);
}

static void seal_by_size_opens_new_segments(void **state)
{
	struct fixture *f = *state;
	struct log_store_stats st;
	char path[160];

	f->o.partitions = 1;
	f->o.seal_bytes = 1000;
	assert_int_equal(store_open(f), 0);
	/* Several entries, some of which cross a seal inside the entry. */
	for (uint64_t i = 1; i <= 100; i += 10) {
		append_msgs(f, "c_1", i, i + 9);
		assert_int_equal(log_store_commit(f->s), 0);
	}
	log_store_stats(f->s, &st);
	assert_true(st.segments > 5);
	assert_true(st.records == 100);
	for (unsigned n = 1; n <= st.segments; n++) {
		seg_path(f, "c_1", n, path, sizeof(path));
		assert_true(file_size(path) <= 1000);
	}
	for (uint64_t i = 1; i <= 100; i++)
		check_read(f, "c_1", i);
	assert_int_equal(log_store_checkpoint(f->s, 3, f->errmsg), 0);
	assert_int_equal(store_open(f), 0);
	assert_true(f->scanned == 100);
	for (uint64_t i = 1; i <= 100; i++)
		check_read(f, "c_1", i);
}

static void seal_by_entry_age(void **state)
{
	struct fixture *f = *state;
	struct log_store_stats st;
	struct log_record r;

	f->o.partitions = 1;
	f->o.seal_age_ms = 1000;
	assert_int_equal(store_open(f), 0);
	r = msg("c_1", 1, 5000);
	assert_int_equal(log_store_append(f->s, &r), 0);
	r = msg("c_1", 2, 5999);
	assert_int_equal(log_store_append(f->s, &r), 0);
	assert_int_equal(log_store_commit(f->s), 0);
	log_store_stats(f->s, &st);
	assert_true(st.segments == 1);
	r = msg("c_1", 3, 6000); /* 1000 ms after the segment's first record */
	assert_int_equal(log_store_append(f->s, &r), 0);
	assert_int_equal(log_store_commit(f->s), 0);
	log_store_stats(f->s, &st);
	assert_true(st.segments == 2);
	/* The age survives a reopen: it comes from the records. */
	assert_int_equal(log_store_checkpoint(f->s, 3, f->errmsg), 0);
	assert_int_equal(store_open(f), 0);
	r = msg("c_1", 4, 6999);
	assert_int_equal(log_store_append(f->s, &r), 0);
	assert_int_equal(log_store_commit(f->s), 0);
	log_store_stats(f->s, &st);
	assert_true(st.segments == 2);
	r = msg("c_1", 5, 7000);
	assert_int_equal(log_store_append(f->s, &r), 0);
	assert_int_equal(log_store_commit(f->s), 0);
	log_store_stats(f->s, &st);
	assert_true(st.segments == 3);
	for (uint64_t i = 1; i <= 5; i++)
		check_read(f, "c_1", i);
}

static void abort_undoes_a_seal(void **state)
{
	struct fixture *f = *state;
	struct log_store_stats st;
	struct log_record r;
	char path[160];

	f->o.partitions = 1;
	f->o.seal_age_ms = 10;
	assert_int_equal(store_open(f), 0);
	r = msg("c_1", 1, 100);
	assert_int_equal(log_store_append(f->s, &r), 0);
	assert_int_equal(log_store_commit(f->s), 0);
	r = msg("c_1", 2, 200);
	assert_int_equal(log_store_append(f->s, &r), 0);
	log_store_abort(f->s);
	seg_path(f, "c_1", 2, path, sizeof(path));
	assert_true(file_size(path) == UINT64_MAX);
	r = msg("c_1", 2, 105); /* young enough: same segment */
	assert_int_equal(log_store_append(f->s, &r), 0);
	assert_int_equal(log_store_commit(f->s), 0);
	log_store_stats(f->s, &st);
	assert_true(st.segments == 1);
	check_read(f, "c_1", 2);
}

static void uncheckpointed_segment_is_removed_on_reopen(void **state)
{
	struct fixture *f = *state;
	char path[160];

	f->o.partitions = 1;
	f->o.seal_bytes = 600;
	assert_int_equal(store_open(f), 0);
	append_msgs(f, "c_1", 1, 2);
	assert_int_equal(log_store_commit(f->s), 0);
	assert_int_equal(log_store_checkpoint(f->s, 1, f->errmsg), 0);
	append_msgs(f, "c_1", 3, 30);
	assert_int_equal(log_store_commit(f->s), 0);
	seg_path(f, "c_1", 3, path, sizeof(path));
	assert_true(file_size(path) != UINT64_MAX);
	assert_int_equal(store_open(f), 0);
	assert_true(file_size(path) == UINT64_MAX);
	assert_true(f->scanned == 2);
	assert_true(log_store_last_seq(f->s, CF_STR_LIT("c_1")) == 2);
	append_msgs(f, "c_1", 3, 30);
	assert_int_equal(log_store_commit(f->s), 0);
	check_read(f, "c_1", 30);
}

static void corrupt_manifest_is_refused(void **state)
{
	struct fixture *f = *state;
	char path[160];

	assert_int_equal(store_open(f), 0);
	append_msgs(f, "c_1", 1, 2);
	assert_int_equal(log_store_commit(f->s), 0);
	assert_int_equal(log_store_checkpoint(f->s, 2, f->errmsg), 0);
	log_store_close(f->s);
	f->s = NULL;
	snprintf(path, sizeof(path), "%s/MANIFEST", f->store);
	flip_byte(path, 20);
	assert_int_equal(store_open(f), CF_ECORRUPT);
	assert_null(f->s);
	assert_non_null(strstr(f->errmsg, "manifest"));
}

/* Segment size and seal age are fixed when the store is made. */
static void shape_is_fixed_at_creation(void **state)
{
	struct fixture *f = *state;

	f->o.seal_bytes = 4096;
	f->o.seal_age_ms = 60000;
	assert_int_equal(store_open(f), 0);
	append_msgs(f, "c_1", 1, 2);
	assert_int_equal(log_store_commit(f->s), 0);
	assert_int_equal(log_store_checkpoint(f->s, 2, f->errmsg), 0);
	f->o.seal_bytes = 8192;
	assert_int_equal(store_open(f), CF_EBADREQ);
	assert_null(f->s);
	assert_non_null(strstr(f->errmsg, "segment size 4096"));
	f->o.seal_bytes = 4096;
	f->o.seal_age_ms = 0;
	assert_int_equal(store_open(f), CF_EBADREQ);
	assert_non_null(strstr(f->errmsg, "seal age 60000 ms"));
	f->o.seal_age_ms = 60000;
	assert_int_equal(store_open(f), 0);
	check_read(f, "c_1", 2);
}

/*
 * A manifest written before stores recorded their shape (version 1: a
 * 32-byte header) opens with the values given, and the next checkpoint
 * records them.
 */
static void version_1_manifest_adopts_the_shape_given(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[4096], v1[4096];
	char path[160];
	ssize_t n;
	size_t m;
	int fd;

	assert_int_equal(store_open(f), 0);
	append_msgs(f, "c_1", 1, 3);
	assert_int_equal(log_store_commit(f->s), 0);
	assert_int_equal(log_store_checkpoint(f->s, 3, f->errmsg), 0);
	log_store_close(f->s);
	f->s = NULL;
	snprintf(path, sizeof(path), "%s/MANIFEST", f->store);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof buf);
	assert_true(n > 64 && n < (ssize_t)sizeof buf);
	/*
	 * v4 = 64-byte header + entries + 8 (no cold file, no job, no
	 * image); v1 drops header bytes 32..63.
	 */
	memcpy(v1, buf, 32);
	v1[8] = 1;
	memcpy(v1 + 32, buf + 64, (size_t)n - 64 - 8);
	m = (size_t)n - 32;
	{
		uint64_t sum = XXH3_64bits(v1, m - 8);
		for (int i = 0; i < 8; i++)
			v1[m - 8 + (size_t)i] = (uint8_t)(sum >> (8 * i));
	}
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, v1, m, 0), (ssize_t)m);
	close(fd);
	f->o.seal_bytes = 8192;
	f->o.seal_age_ms = 5000;
	assert_int_equal(store_open(f), 0);
	check_read(f, "c_1", 3);
	assert_int_equal(log_store_checkpoint(f->s, 3, f->errmsg), 0);
	f->o.seal_bytes = 4096;
	assert_int_equal(store_open(f), CF_EBADREQ);
	assert_non_null(strstr(f->errmsg, "segment size 8192"));
}

static void corrupt_checkpointed_record_is_refused(void **state)
{
	struct fixture *f = *state;
	char path[160];

	assert_int_equal(store_open(f), 0);
	append_msgs(f, "c_1", 1, 5);
	assert_int_equal(log_store_commit(f->s), 0);
	assert_int_equal(log_store_checkpoint(f->s, 2, f->errmsg), 0);
	log_store_close(f->s);
	f->s = NULL;
	seg_path(f, "c_1", 1, path, sizeof(path));
	flip_byte(path, (off_t)file_size(path) - 20);
	assert_int_equal(store_open(f), CF_ECORRUPT);
	assert_non_null(strstr(f->errmsg, "00000001.seg"));
}

static void missing_checkpointed_bytes_are_refused(void **state)
{
	struct fixture *f = *state;
	char path[160];

	assert_int_equal(store_open(f), 0);
	append_msgs(f, "c_1", 1, 5);
	assert_int_equal(log_store_commit(f->s), 0);
	assert_int_equal(log_store_checkpoint(f->s, 2, f->errmsg), 0);
	log_store_close(f->s);
	f->s = NULL;
	seg_path(f, "c_1", 1, path, sizeof(path));
	assert_int_equal(truncate(path, (off_t)file_size(path) - 1), 0);
	assert_int_equal(store_open(f), CF_ECORRUPT);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(store_open(f), CF_ECORRUPT);
}

static int failing_cb(void *arg, const struct log_record *rec)
{
	(void)arg;
	return rec->seq == 3 ? CF_ECONFLICT : 0;
}

static void scan_callback_error_stops_open(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_open(f), 0);
	append_msgs(f, "c_1", 1, 5);
	assert_int_equal(log_store_commit(f->s), 0);
	assert_int_equal(log_store_checkpoint(f->s, 2, f->errmsg), 0);
	log_store_close(f->s);
	f->s = NULL;
	assert_int_equal(
		log_store_open(&f->s, &f->o, failing_cb, NULL, f->errmsg),
		CF_ECONFLICT);
	assert_null(f->s);
}

/* Let writes fail with EFBIG past limit bytes per file (0: no limit). */
static void file_limit(rlim_t limit)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = limit != 0 ? limit : rl.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static void failed_commit_leaves_the_store_as_before(void **state)
{
	struct fixture *f = *state;
	struct log_store_stats st;
	char path[160];
	char path2[160];
	uint64_t size;

	signal(SIGXFSZ, SIG_IGN);
	f->o.partitions = 1;
	f->o.seal_bytes = 700;
	assert_int_equal(store_open(f), 0);
	append_msgs(f, "c_1", 1, 3);
	assert_int_equal(log_store_commit(f->s), 0);
	seg_path(f, "c_1", 1, path, sizeof(path));
	seg_path(f, "c_1", 2, path2, sizeof(path2));
	size = file_size(path);
	/* The write of the entry fails half way. */
	file_limit(size + 10);
	append_msgs(f, "c_1", 4, 5);
	assert_int_equal(log_store_commit(f->s), -EFBIG);
	assert_true(file_size(path) == size);
	assert_true(log_store_last_seq(f->s, CF_STR_LIT("c_1")) == 3);
	log_store_stats(f->s, &st);
	assert_true(st.records == 3);
	/* An entry that seals and opens segment 2, whose header fails. */
	file_limit(16);
	append_msgs(f, "c_1", 4, 12);
	assert_int_equal(log_store_commit(f->s), -EFBIG);
	assert_true(file_size(path2) == UINT64_MAX);
	assert_true(file_size(path) == size);
	log_store_stats(f->s, &st);
	assert_true(st.segments == 1);
	assert_true(st.records == 3);
	file_limit(0);
	/* Everything works as if the failed entries never were. */
	append_msgs(f, "c_1", 4, 12);
	assert_int_equal(log_store_commit(f->s), 0);
	log_store_stats(f->s, &st);
	assert_true(st.segments >= 2);
	for (uint64_t i = 1; i <= 12; i++)
		check_read(f, "c_1", i);
	assert_int_equal(log_store_checkpoint(f->s, 12, f->errmsg), 0);
	assert_int_equal(store_open(f), 0);
	assert_true(f->scanned == 12);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(new_store_starts_at_applied_index_zero_with_a_manifest),
		T(commit_then_read_every_seq),
		T(staged_records_are_readable_before_commit),
		T(abort_forgets_staged_records),
		T(seq_must_grow_within_a_conversation),
		T(checkpoint_then_reopen_keeps_everything),
		T(uncheckpointed_tail_is_cut_on_reopen),
		T(torn_tail_past_checkpoint_is_cut),
		T(conversations_live_in_their_hash_partition),
		T(seal_by_size_opens_new_segments),
		T(seal_by_entry_age),
		T(abort_undoes_a_seal),
		T(uncheckpointed_segment_is_removed_on_reopen),
		T(corrupt_manifest_is_refused),
		T(shape_is_fixed_at_creation),
		T(version_1_manifest_adopts_the_shape_given),
		T(corrupt_checkpointed_record_is_refused),
		T(missing_checkpointed_bytes_are_refused),
		T(scan_callback_error_stops_open),
		T(failed_commit_leaves_the_store_as_before),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
