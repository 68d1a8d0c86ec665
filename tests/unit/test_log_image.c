#include "config.h"

/*
 * test_log_image: the state image at the store's level (log/log_image.h).
 * An image written at index A and named by a checkpoint makes the next
 * open read only the records after A (the scan sees those, the caller's
 * sections come back), and the store then answers every read as an open
 * that read every record does; a damaged image, one that no longer fits
 * the store's files (a compaction switched since) or one the manifest
 * does not name is not used (every record is read) and is removed; the
 * checkpoint that names a new image removes the old one; an image of a
 * store with cold files is used as well.
 */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "log/log_image.h"
#include "log/log_store.h"

#include "../lib/cf_test_dir.h"

#define NCONV 5
#define UPPER_TAG 0x54534554u /* "TEST" */

struct fixture {
	char dir[64];
	char store[96];
	struct log_store *s;
	struct log_store_opts o;
	char errmsg[CF_ERRMSG_SIZE];
	uint64_t scanned;
	uint64_t last[NCONV]; /* last seq appended per conversation */
	uint64_t index;	      /* raft index of the next record */
	uint64_t upper_value; /* what the upper section holds */
	uint64_t upper_read;  /* what the last read found, 0 if none */
	unsigned resets;
	bool upper_fail;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cf_test_dir_make(f->dir, sizeof(f->dir), "test_log_image");
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	f->o.dir = f->store;
	f->o.partitions = 2;
	f->o.seal_bytes = 4096;
	f->index = 10;
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

static int scan_cb(void *arg, const struct log_record *rec)
{
	struct fixture *f = arg;

	(void)rec;
	f->scanned++;
	return 0;
}

static void upper_write(void *arg, struct cf_imgw *w)
{
	struct fixture *f = arg;

	cf_imgw_begin(w, UPPER_TAG);
	cf_imgw_u64(w, f->upper_value);
	cf_imgw_end(w, UPPER_TAG);
}

static int upper_read(void *arg, struct cf_imgr *r)
{
	struct fixture *f = arg;

	cf_imgr_begin(r, UPPER_TAG);
	f->upper_read = cf_imgr_u64(r);
	cf_imgr_end(r, UPPER_TAG);
	return f->upper_fail ? CF_ECORRUPT : r->err;
}

static void upper_reset(void *arg)
{
	struct fixture *f = arg;

	f->upper_read = 0;
	f->resets++;
}

static const struct log_image_ops ops = {upper_read, upper_reset};

static int store_open(struct fixture *f)
{
	log_store_close(f->s);
	f->s = NULL;
	f->scanned = 0;
	f->upper_read = 0;
	return log_store_open_img(&f->s, &f->o, scan_cb, f, &ops, f->errmsg);
}

/* n messages spread over the conversations, one entry each. */
static void append(struct fixture *f, unsigned n)
{
	char body[200], conv[8];

	for (unsigned i = 0; i < n; i++) {
		unsigned c = (unsigned)(f->index % NCONV);
		struct log_record r;

		memset(&r, 0, sizeof(r));
		snprintf(conv, sizeof conv, "c%u", c);
		snprintf(body, sizeof body, "message %llu of %s, some words",
			 (unsigned long long)f->last[c] + 1, conv);
		r.kind = LOG_REC_MESSAGE;
		r.raft_index = f->index;
		r.message_id = f->index * 65536;
		r.seq = ++f->last[c];
		r.ts = 1000 + f->index;
		r.conv = cf_str_c(conv);
		r.sender = CF_STR_LIT("alice");
		r.msg_type = CF_STR_LIT("text");
		r.body = cf_str_c(body);
		assert_int_equal(log_store_append(f->s, &r), 0);
		assert_int_equal(log_store_commit(f->s), 0);
		f->index++;
	}
}

static void checkpoint(struct fixture *f)
{
	assert_int_equal(log_store_checkpoint(f->s, f->index - 1, f->errmsg),
			 0);
}

/* Every message of every conversation reads back as written. */
static void check_all(struct fixture *f)
{
	struct cf_buf scratch = CF_BUF_INIT;
	char want[200], conv[8];

	for (unsigned c = 0; c < NCONV; c++) {
		snprintf(conv, sizeof conv, "c%u", c);
		assert_int_equal(log_store_last_seq(f->s, cf_str_c(conv)),
				 f->last[c]);
		for (uint64_t seq = 1; seq <= f->last[c]; seq++) {
			struct log_record r;

			assert_int_equal(log_store_read_seq(f->s, cf_str_c(conv),
							    seq, &r, &scratch),
					 0);
			snprintf(want, sizeof want,
				 "message %llu of %s, some words",
				 (unsigned long long)seq, conv);
			assert_int_equal(r.body.len, strlen(want));
			assert_memory_equal(r.body.p, want, r.body.len);
		}
	}
	cf_buf_release(&scratch);
}

static bool image_exists(struct fixture *f, uint64_t index)
{
	char name[LOG_IMAGE_NAME], path[160];

	log_image_name(name, index);
	snprintf(path, sizeof path, "%s/%s", f->store, name);
	return access(path, F_OK) == 0;
}

/* Write the image of now and make the next checkpoint name it. */
static uint64_t image_now(struct fixture *f)
{
	uint64_t at = f->index - 1;

	assert_int_equal(log_image_write(f->s, at, upper_write, f, f->errmsg),
			 0);
	log_store_image_ready(f->s, at);
	return at;
}

static void image_covers_the_records_before_it(void **state)
{
	struct fixture *f = *state;
	uint64_t at;

	assert_int_equal(store_open(f), 0);
	append(f, 300); /* several sealed segments per partition */
	checkpoint(f);
	f->upper_value = 77;
	at = image_now(f);
	append(f, 40);
	checkpoint(f); /* names the image */
	assert_int_equal(log_store_image_index(f->s), at);
	assert_int_equal(store_open(f), 0);
	assert_int_equal(f->scanned, 40); /* only those after the image */
	assert_int_equal(f->upper_read, 77);
	assert_int_equal(log_store_image_index(f->s), at);
	check_all(f);
	/* Appends go on where they left off, and a later open agrees. */
	append(f, 25);
	checkpoint(f);
	assert_int_equal(store_open(f), 0);
	assert_int_equal(f->scanned, 65);
	check_all(f);
	/* A second image replaces the first once a checkpoint names it. */
	f->upper_value = 78;
	at = image_now(f);
	assert_true(image_exists(f, at - 65));
	append(f, 3);
	checkpoint(f);
	assert_false(image_exists(f, at - 65));
	assert_true(image_exists(f, at));
	assert_int_equal(store_open(f), 0);
	assert_int_equal(f->scanned, 3);
	assert_int_equal(f->upper_read, 78);
	check_all(f);
	/* Without ops (confabctl), every record is read; the image stays
	 * named, and the next open with ops uses it. */
	log_store_close(f->s);
	f->scanned = 0;
	assert_int_equal(log_store_open(&f->s, &f->o, scan_cb, f, f->errmsg),
			 0);
	assert_int_equal(f->scanned, f->index - 10);
	check_all(f);
	assert_true(image_exists(f, at));
	assert_int_equal(log_store_image_index(f->s), at);
	checkpoint(f);
	assert_int_equal(store_open(f), 0);
	assert_int_equal(f->scanned, 3);
	assert_int_equal(f->upper_read, 78);
}

static void damaged_image_is_not_used(void **state)
{
	struct fixture *f = *state;
	char name[LOG_IMAGE_NAME], path[160];
	uint64_t at;
	int fd;

	assert_int_equal(store_open(f), 0);
	append(f, 100);
	checkpoint(f);
	at = image_now(f);
	append(f, 10);
	checkpoint(f);
	log_image_name(name, at);
	snprintf(path, sizeof path, "%s/%s", f->store, name);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 200), 1);
	close(fd);
	assert_int_equal(store_open(f), 0);
	assert_int_equal(f->scanned, 110);
	assert_int_equal(f->upper_read, 0);
	assert_false(image_exists(f, at)); /* removed */
	assert_int_equal(log_store_image_index(f->s), 0);
	check_all(f);
	/* The next checkpoint names none: an open reads every record. */
	append(f, 1);
	checkpoint(f);
	assert_int_equal(store_open(f), 0);
	assert_int_equal(f->scanned, 111);
}

static void failed_upper_read_resets_and_reads_all(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_open(f), 0);
	append(f, 100);
	checkpoint(f);
	(void)image_now(f);
	append(f, 10);
	checkpoint(f);
	f->upper_fail = true;
	assert_int_equal(store_open(f), 0);
	assert_int_equal(f->resets, 1);
	assert_int_equal(f->scanned, 110);
	check_all(f);
}

static void unnamed_image_is_removed(void **state)
{
	struct fixture *f = *state;
	uint64_t at;

	assert_int_equal(store_open(f), 0);
	append(f, 50);
	checkpoint(f);
	at = image_now(f); /* written, never named: no checkpoint after */
	append(f, 5);
	assert_int_equal(store_open(f), 0);
	assert_int_equal(f->scanned, 50);
	assert_false(image_exists(f, at));
	f->index -= 5; /* the uncheckpointed five are cut */
	for (unsigned c = 0; c < NCONV; c++)
		f->last[c] = 0;
	for (uint64_t i = 10; i < f->index; i++)
		f->last[i % NCONV]++;
	check_all(f);
}

static void compaction_since_the_image_reads_all(void **state)
{
	struct fixture *f = *state;
	struct log_store_stats st, st2;
	struct log_compact *c;

	f->o.partitions = 1;
	assert_int_equal(store_open(f), 0);
	append(f, 200);
	checkpoint(f);
	(void)image_now(f);
	append(f, 10);
	assert_int_equal(log_store_compact_plan(f->s, 0, f->index, 2, NULL, 0,
						&c),
			 0);
	assert_int_equal(log_compact_run(c, f->errmsg), 0);
	assert_int_equal(log_store_compact_switch(f->s, c, f->errmsg), 0);
	checkpoint(f);
	/* Live, the compacted messages keep their hot offsets. */
	log_store_stats(f->s, &st);
	assert_int_equal(store_open(f), 0);
	assert_int_equal(f->scanned, 210);
	check_all(f);
	/* An image taken with cold files is used. */
	f->upper_value = 5;
	(void)image_now(f);
	append(f, 7);
	checkpoint(f);
	assert_int_equal(store_open(f), 0);
	assert_int_equal(f->scanned, 7);
	assert_int_equal(f->upper_read, 5);
	check_all(f);
	/* Cold messages come back without offsets (7 more messages). */
	log_store_stats(f->s, &st2);
	assert_true(st2.index_bytes < st.index_bytes);
}

/*
 * An image written right after a compaction switched (the live index
 * still holds the compacted messages' offsets) writes them as cold runs:
 * a start from it holds no offsets for them, and reads them all.
 */
static void image_after_compaction_holds_no_offsets(void **state)
{
	struct fixture *f = *state;
	struct log_store_stats st, st2;
	struct log_compact *c;

	f->o.partitions = 1;
	assert_int_equal(store_open(f), 0);
	append(f, 300);
	assert_int_equal(log_store_compact_plan(f->s, 0, f->index, 8, NULL, 0,
						&c),
			 0);
	assert_int_equal(log_compact_run(c, f->errmsg), 0);
	assert_int_equal(log_store_compact_switch(f->s, c, f->errmsg), 0);
	checkpoint(f);
	log_store_stats(f->s, &st);
	(void)image_now(f);
	append(f, 2);
	checkpoint(f);
	assert_int_equal(store_open(f), 0);
	assert_int_equal(f->scanned, 2);
	log_store_stats(f->s, &st2);
	assert_true(st2.index_bytes + 4 * 200 < st.index_bytes);
	check_all(f);
	/* No more than an open that read the cold files holds. */
	log_store_close(f->s);
	assert_int_equal(log_store_open(&f->s, &f->o, scan_cb, f, f->errmsg),
			 0);
	log_store_stats(f->s, &st);
	assert_true(st2.index_bytes <= st.index_bytes);
	check_all(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			image_covers_the_records_before_it, setup, teardown),
		cmocka_unit_test_setup_teardown(damaged_image_is_not_used,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			failed_upper_read_resets_and_reads_all, setup,
			teardown),
		cmocka_unit_test_setup_teardown(unnamed_image_is_removed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			compaction_since_the_image_reads_all, setup, teardown),
		cmocka_unit_test_setup_teardown(
			image_after_compaction_holds_no_offsets, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
