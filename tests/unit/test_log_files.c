#include "config.h"

/*
 * The store's descriptors (issue 11): the bounded file cache (log_files.c)
 * and a store with many segments holding a bounded number of descriptors
 * (log_store_fds.c), under a low RLIMIT_NOFILE too.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "log/log_files.h"
#include "log/log_store.h"

#include "../lib/cf_test_dir.h"

struct fixture {
	char dir[64];
	char store[96];
	int dirfd;
	struct log_store *s;
	struct log_store_opts o;
	char errmsg[CF_ERRMSG_SIZE];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cf_test_dir_make(f->dir, sizeof(f->dir), "test_log_files");
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->dirfd >= 0);
	f->o.dir = f->store;
	f->o.partitions = 2;
	f->o.seal_bytes = 100; /* one record per segment */
	f->o.open_files = 8;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	log_store_close(f->s);
	close(f->dirfd);
	cf_test_dir_remove(f->dir);
	free(f);
	return 0;
}

/* Descriptors this process has open now. */
static unsigned count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the listing's own */
}

/* ------------------------------------------------------- the cache */

/* Segment files p0000/%08u.seg of the fixture folder, 8 bytes each. */
static void make_files(struct fixture *f, unsigned n)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/p0000", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	for (unsigned i = 1; i <= n; i++) {
		char body[9];
		int fd;

		snprintf(path, sizeof(path), "%s/p0000/%08u.seg", f->dir, i);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		assert_true(fd >= 0);
		snprintf(body, sizeof(body), "%08u", i);
		assert_int_equal(write(fd, body, 8), 8);
		close(fd);
	}
}

/* Is h the file number no (its 8 bytes say so)? */
static int file_is(const struct log_file *h, unsigned no)
{
	char want[9];
	char got[9] = "";

	snprintf(want, sizeof(want), "%08u", no);
	if (pread(h->fd, got, 8, 0) != 8)
		return 0;
	return memcmp(got, want, 8) == 0;
}

static void cache_keeps_at_most_cap_files_open(void **state)
{
	struct fixture *f = *state;
	struct log_files *fc;
	struct log_files_stats st;
	struct log_file *h;
	unsigned before;

	make_files(f, 20);
	before = count_fds();
	assert_int_equal(log_files_create(&fc, f->dirfd, 4), 0);
	for (unsigned round = 0; round < 3; round++)
		for (unsigned i = 1; i <= 20; i++) {
			assert_int_equal(log_files_get(fc, 0, LOG_FILE_SEG, i,
						       &h),
					 0);
			assert_true(file_is(h, i));
			log_files_put(fc, h);
			log_files_stats(fc, &st);
			assert_true(st.open <= 4);
		}
	/* The cache's folder copy and its four files. */
	assert_int_equal(count_fds(), before + 1 + 4);
	/* The most recent ones stay: reading them again opens nothing. */
	log_files_stats(fc, &st);
	for (unsigned i = 17; i <= 20; i++) {
		assert_int_equal(log_files_get(fc, 0, LOG_FILE_SEG, i, &h), 0);
		log_files_put(fc, h);
	}
	{
		uint64_t opens = st.opens;

		log_files_stats(fc, &st);
		assert_true(st.opens == opens);
	}
	assert_int_equal(log_files_get(fc, 0, LOG_FILE_SEG, 21, &h), -ENOENT);
	assert_int_equal(log_files_get(fc, 1, LOG_FILE_SEG, 1, &h), -ENOENT);
	log_files_destroy(fc);
	assert_int_equal(count_fds(), before);
}

static void held_file_is_never_closed(void **state)
{
	struct fixture *f = *state;
	struct log_files *fc;
	struct log_files_stats st;
	struct log_file *a;
	struct log_file *b;

	make_files(f, 3);
	assert_int_equal(log_files_create(&fc, f->dirfd, 1), 0);
	assert_int_equal(log_files_get(fc, 0, LOG_FILE_SEG, 1, &a), 0);
	/* Over the bound while a is held: a stays open. */
	assert_int_equal(log_files_get(fc, 0, LOG_FILE_SEG, 2, &b), 0);
	log_files_stats(fc, &st);
	assert_int_equal(st.open, 2);
	assert_int_equal(st.held, 2);
	assert_true(file_is(a, 1));
	assert_true(file_is(b, 2));
	log_files_put(fc, b);
	log_files_stats(fc, &st);
	assert_int_equal(st.open, 1); /* back to the bound at once */
	assert_true(file_is(a, 1));
	log_files_put(fc, a);
	log_files_destroy(fc);
}

static void forgotten_file_closes_at_last_put(void **state)
{
	struct fixture *f = *state;
	struct log_files *fc;
	struct log_files_stats st;
	struct log_file *a;
	struct log_file *a2;
	unsigned before;

	make_files(f, 1);
	before = count_fds();
	assert_int_equal(log_files_create(&fc, f->dirfd, 4), 0);
	assert_int_equal(log_files_get(fc, 0, LOG_FILE_SEG, 1, &a), 0);
	log_files_forget(fc, 0, LOG_FILE_SEG, 1);
	assert_true(file_is(a, 1)); /* still held: still open */
	/* A new get opens the file again (it may have been replaced). */
	assert_int_equal(log_files_get(fc, 0, LOG_FILE_SEG, 1, &a2), 0);
	assert_true(a2 != a);
	assert_true(file_is(a2, 1));
	log_files_put(fc, a);
	log_files_stats(fc, &st);
	assert_int_equal(st.open, 1);
	log_files_put(fc, a2);
	/* An unheld file is closed by forget itself. */
	log_files_forget(fc, 0, LOG_FILE_SEG, 1);
	log_files_stats(fc, &st);
	assert_int_equal(st.open, 0);
	assert_int_equal(count_fds(), before + 1);
	log_files_destroy(fc);
}

struct hammer {
	struct log_files *fc;
	unsigned first;
	unsigned n;
	unsigned rounds;
	unsigned bad;
};

static void *hammer_run(void *arg)
{
	struct hammer *hm = arg;

	for (unsigned r = 0; r < hm->rounds; r++)
		for (unsigned i = 0; i < hm->n; i++) {
			struct log_file *h;
			unsigned no = hm->first + (i * 7 + r) % hm->n;

			if (log_files_get(hm->fc, 0, LOG_FILE_SEG, no, &h) !=
			    0) {
				hm->bad++;
				continue;
			}
			/* Read twice: an eviction in between would show. */
			if (!file_is(h, no) || !file_is(h, no))
				hm->bad++;
			log_files_put(hm->fc, h);
		}
	return NULL;
}

/* Two threads share a cache far smaller than their files. */
static void threads_never_see_a_held_file_closed(void **state)
{
	struct fixture *f = *state;
	struct hammer a = {NULL, 1, 12, 300, 0};
	struct hammer b = {NULL, 5, 12, 300, 0};
	struct log_files_stats st;
	pthread_t t;

	make_files(f, 16);
	assert_int_equal(log_files_create(&a.fc, f->dirfd, 2), 0);
	b.fc = a.fc;
	assert_int_equal(pthread_create(&t, NULL, hammer_run, &a), 0);
	hammer_run(&b);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(a.bad + b.bad, 0);
	log_files_stats(a.fc, &st);
	assert_true(st.open <= 2);
	assert_int_equal(st.held, 0);
	log_files_destroy(a.fc);
}

/* ------------------------------------------------------- the store */

static char body_buf[256];

static struct log_record msg(const char *conv, uint64_t seq)
{
	struct log_record r;

	memset(&r, 0, sizeof(r));
	r.kind = LOG_REC_MESSAGE;
	r.raft_index = seq + 100;
	r.message_id = (seq + 100) * 65536;
	r.seq = seq;
	r.ts = 1000 + seq;
	r.conv = cf_str_c(conv);
	r.sender = CF_STR_LIT("alice");
	r.msg_type = CF_STR_LIT("text");
	snprintf(body_buf, sizeof(body_buf), "message %llu of %s",
		 (unsigned long long)seq, conv);
	r.body = cf_str_c(body_buf);
	return r;
}

#define NCONV 6
static const char *convs[NCONV] = {"c_1", "c_2", "c_3", "c_4", "c_5", "c_6"};

/* Messages [from, to] of every conversation, committed 6 at a time. */
static int append_all(struct log_store *s, uint64_t from, uint64_t to)
{
	int rv;

	for (uint64_t seq = from; seq <= to; seq++) {
		for (unsigned c = 0; c < NCONV; c++) {
			struct log_record r = msg(convs[c], seq);

			rv = log_store_append(s, &r);
			if (rv != 0)
				return rv;
		}
		rv = log_store_commit(s);
		if (rv != 0)
			return rv;
	}
	return 0;
}

/* The same, one message per commit (an entry that seals and opens). */
static int append_each(struct log_store *s, uint64_t from, uint64_t to)
{
	int rv = 0;

	for (uint64_t seq = from; seq <= to && rv == 0; seq++)
		for (unsigned c = 0; c < NCONV && rv == 0; c++) {
			struct log_record r = msg(convs[c], seq);

			rv = log_store_append(s, &r);
			if (rv == 0)
				rv = log_store_commit(s);
		}
	return rv;
}

/* Read back messages [1, to] of every conversation; 0 or the error. */
static int read_all(struct log_store *s, uint64_t to)
{
	struct cf_buf scratch = CF_BUF_INIT;
	char want[256];
	int rv = 0;

	for (uint64_t seq = 1; seq <= to && rv == 0; seq++)
		for (unsigned c = 0; c < NCONV && rv == 0; c++) {
			struct log_record r;

			rv = log_store_read_seq(s, cf_str_c(convs[c]), seq, &r,
						&scratch);
			snprintf(want, sizeof(want), "message %llu of %s",
				 (unsigned long long)seq, convs[c]);
			if (rv == 0 && (r.seq != seq || !cf_str_eqc(r.body, want)))
				rv = CF_ECORRUPT;
		}
	cf_buf_release(&scratch);
	return rv;
}

static uint64_t segments(struct log_store *s)
{
	struct log_store_stats st;

	log_store_stats(s, &st);
	return st.segments;
}

static void sealed_segments_hold_no_descriptor(void **state)
{
	struct fixture *f = *state;
	struct log_store_stats st;
	unsigned before = count_fds();
	/* Store and cache folders, per partition its folder and live
	 * segment, the cache. */
	unsigned most = 2 + 2 * f->o.partitions + f->o.open_files;

	assert_int_equal(log_store_open(&f->s, &f->o, NULL, NULL, f->errmsg),
			 0);
	assert_int_equal(append_all(f->s, 1, 40), 0);
	assert_int_equal(log_store_checkpoint(f->s, 1, f->errmsg), 0);
	assert_true(segments(f->s) >= 200);
	log_store_stats(f->s, &st);
	assert_int_equal(count_fds() - before, st.open_files);
	assert_true(st.open_files <= most);
	assert_int_equal(read_all(f->s, 40), 0);
	log_store_stats(f->s, &st);
	assert_int_equal(count_fds() - before, st.open_files);
	assert_true(st.open_files <= most);
	assert_true(st.cached_files > 0 && st.cached_files <= f->o.open_files);
	/* Reopened: every sealed segment is scanned and given back. */
	log_store_close(f->s);
	f->s = NULL;
	assert_int_equal(count_fds(), before);
	assert_int_equal(log_store_open(&f->s, &f->o, NULL, NULL, f->errmsg),
			 0);
	assert_true(count_fds() - before <= most);
	assert_int_equal(read_all(f->s, 40), 0);
	assert_int_equal(append_all(f->s, 41, 60), 0);
	assert_int_equal(log_store_checkpoint(f->s, 2, f->errmsg), 0);
	assert_int_equal(read_all(f->s, 60), 0);
	assert_true(count_fds() - before <= most);
	assert_true(log_store_fd_budget(f->o.partitions, f->o.open_files) >=
		    most);
}

/* Compaction on another thread reads through the cache meanwhile. */
struct runner {
	struct log_compact *c;
	char errmsg[CF_ERRMSG_SIZE];
	int rv;
};

static void *runner_run(void *arg)
{
	struct runner *r = arg;

	r->rv = log_compact_run(r->c, r->errmsg);
	return NULL;
}

static void compaction_and_reads_share_the_cache(void **state)
{
	struct fixture *f = *state;
	struct runner run[2];
	pthread_t t;

	f->o.open_files = 2;
	assert_int_equal(log_store_open(&f->s, &f->o, NULL, NULL, f->errmsg),
			 0);
	assert_int_equal(append_all(f->s, 1, 30), 0);
	assert_int_equal(log_store_checkpoint(f->s, 1, f->errmsg), 0);
	for (unsigned p = 0; p < 2; p++) {
		memset(&run[p], 0, sizeof(run[p]));
		assert_int_equal(log_store_compact_plan(f->s, p, 10 + p, 1000,
							NULL, 0, &run[p].c),
				 0);
		assert_int_equal(pthread_create(&t, NULL, runner_run,
						&run[p]),
				 0);
		/* The loop keeps reading every file meanwhile. */
		for (unsigned k = 0; k < 3; k++)
			assert_int_equal(read_all(f->s, 30), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_int_equal(run[p].rv, 0);
		assert_int_equal(log_store_compact_switch(f->s, run[p].c,
							  f->errmsg),
				 0);
	}
	assert_int_equal(read_all(f->s, 30), 0);
	assert_int_equal(log_store_checkpoint(f->s, 20, f->errmsg), 0);
	assert_int_equal(read_all(f->s, 30), 0);
}

/*
 * The same store in a child process whose RLIMIT_NOFILE is 64, far below
 * its segments (issue 11: every segment held a descriptor, and a node hit
 * EMFILE in apply). Exit status: 0, or the step that failed.
 */
static int low_limit_child(struct fixture *f)
{
	struct rlimit rl = {64, 64};
	struct log_compact *c;
	uint64_t n;

	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 10;
	if (log_store_open(&f->s, &f->o, NULL, NULL, f->errmsg) != 0)
		return 11;
	n = segments(f->s);
	if (n < 300)
		return 12;
	if (read_all(f->s, 60) != 0)
		return 13;
	if (append_all(f->s, 61, 70) != 0) /* appends across new segments */
		return 14;
	if (append_each(f->s, 71, 80) != 0) /* seals in every commit */
		return 20;
	if (log_store_checkpoint(f->s, 3, f->errmsg) != 0)
		return 15;
	if (segments(f->s) <= n || read_all(f->s, 80) != 0)
		return 16;
	if (log_store_compact_plan(f->s, 0, 50, 1000, NULL, 0, &c) != 0 ||
	    log_compact_run(c, f->errmsg) != 0 ||
	    log_store_compact_switch(f->s, c, f->errmsg) != 0)
		return 17;
	if (read_all(f->s, 80) != 0 ||
	    log_store_checkpoint(f->s, 4, f->errmsg) != 0)
		return 18;
	log_store_close(f->s);
	f->s = NULL;
	if (log_store_open(&f->s, &f->o, NULL, NULL, f->errmsg) != 0 ||
	    read_all(f->s, 80) != 0)
		return 19;
	return 0;
}

static void low_descriptor_limit_serves_every_segment(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t pid;

	/* Made with the normal limit (the code under test makes it). */
	assert_int_equal(log_store_open(&f->s, &f->o, NULL, NULL, f->errmsg),
			 0);
	assert_int_equal(append_all(f->s, 1, 60), 0);
	assert_int_equal(log_store_checkpoint(f->s, 1, f->errmsg), 0);
	assert_true(segments(f->s) >= 300);
	log_store_close(f->s);
	f->s = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(low_limit_child(f));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		print_error("child failed at step %d\n", WEXITSTATUS(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(cache_keeps_at_most_cap_files_open),
		T(held_file_is_never_closed),
		T(forgotten_file_closes_at_last_put),
		T(threads_never_see_a_held_file_closed),
		T(sealed_segments_hold_no_descriptor),
		T(compaction_and_reads_share_the_cache),
		T(low_descriptor_limit_serves_every_segment),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
