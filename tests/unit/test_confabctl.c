#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "common/cf_err.h"
#include "common/cf_lock.h"
#include "log/log_store.h"

#include "../lib/cf_test_dir.h"

extern char **environ;

#define PARTS 2

struct fixture {
	char data[64];	/* the node's data folder */
	char store[96]; /* data/store */
	char bin[512];	/* the confabctl binary */
	struct cf_buf out;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *b = getenv("CONFAB_BUILDDIR");

	assert_non_null(f);
	cf_test_dir_make(f->data, sizeof(f->data), "test_confabctl");
	snprintf(f->store, sizeof(f->store), "%s/store", f->data);
	snprintf(f->bin, sizeof(f->bin), "%s/confabctl", b != NULL ? b : ".");
	assert_int_equal(access(f->bin, X_OK), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cf_test_dir_remove(f->data);
	cf_buf_release(&f->out);
	free(f);
	return 0;
}

/* Run confabctl with args (NULL-terminated); stdout and stderr go to
 * f->out (NUL-terminated). Returns the exit status. */
static int run(struct fixture *f, ...)
{
	char *argv[8];
	int argc = 0;
	int fds[2];
	pid_t pid;
	int status;
	va_list ap;
	posix_spawn_file_actions_t fa;
	char chunk[4096];
	ssize_t n;

	argv[argc++] = f->bin;
	va_start(ap, f);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	assert_int_equal(pipe(fds), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	assert_int_equal(posix_spawn(&pid, f->bin, &fa, NULL, argv, environ),
			 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	f->out.len = 0;
	while ((n = read(fds[0], chunk, sizeof(chunk))) > 0)
		assert_int_equal(cf_buf_append(&f->out, chunk, (size_t)n), 0);
	close(fds[0]);
	assert_int_equal(cf_buf_put_u8(&f->out, 0), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static bool has_line(struct fixture *f, const char *line)
{
	const char *p = f->out.data;
	size_t n = strlen(line);

	while ((p = strstr(p, line)) != NULL) {
		if ((p == f->out.data || p[-1] == '\n') &&
		    (p[n] == '\n' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

static unsigned part_of(const char *conv)
{
	return (unsigned)(XXH3_64bits(conv, strlen(conv)) % PARTS);
}

static void add(struct log_store *s, const char *conv, uint8_t kind,
		uint64_t seq)
{
	struct log_record r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.seq = seq;
	r.raft_index = seq;
	r.ts = 1000 + seq;
	r.conv = cf_str_c(conv);
	r.sender = CF_STR_LIT("alice");
	r.body = CF_STR_LIT("hello");
	assert_int_equal(log_store_append(s, &r), 0);
}

/* A store with conversations "a" (create + 5 messages) and "b" (3). */
static void build_store(struct fixture *f, uint64_t applied)
{
	struct log_store_opts o = {.dir = f->store, .partitions = PARTS};
	char errmsg[CF_ERRMSG_SIZE];
	struct log_store *s;

	assert_int_equal(log_store_open(&s, &o, NULL, NULL, errmsg), 0);
	add(s, "a", LOG_REC_CONV, 0);
	for (uint64_t i = 1; i <= 5; i++)
		add(s, "a", LOG_REC_MESSAGE, i);
	for (uint64_t i = 1; i <= 3; i++)
		add(s, "b", LOG_REC_MESSAGE, i);
	assert_int_equal(log_store_commit(s), 0);
	assert_int_equal(log_store_checkpoint(s, applied, errmsg), 0);
	log_store_close(s);
}

static void seg_path(struct fixture *f, const char *conv, char *out, size_t n)
{
	snprintf(out, n, "%s/p%04u/00000001.seg", f->store, part_of(conv));
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static void help_and_usage_errors(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(run(f, "--help", NULL), 0);
	assert_true(has_line(f, "usage: confabctl inspect --data DIR | "
				"--cluster FILE --node URL [--json]"));
	assert_true(has_line(f, "       confabctl verify --data DIR | "
				"--cluster FILE [--json]"));
	assert_true(has_line(f, "       confabctl status --cluster FILE "
				"[--node URL] [--json]"));
	assert_true(has_line(f, "       confabctl dump --conversation ID "
				"[--from N] [--to N] (--cluster FILE --node "
				"URL | --data DIR)"));
	assert_int_equal(run(f, NULL), 2);
	assert_int_equal(run(f, "frobnicate", NULL), 2);
	assert_int_equal(run(f, "verify", NULL), 2);
	assert_int_equal(run(f, "inspect", "--data", f->data, "extra", NULL),
			 2);
	assert_int_equal(run(f, "inspect", "--bogus", NULL), 2);
}

static void inspect_shows_segments_conversations_and_applied_index(void **state)
{
	struct fixture *f = *state;
	char path[160];
	char line[256];

	build_store(f, 17);
	assert_int_equal(run(f, "inspect", "--data", f->data, NULL), 0);
	assert_true(has_line(f, "appliedIndex 17"));
	assert_true(has_line(f, "partitions 2"));
	snprintf(line, sizeof(line),
		 "conversation a partition %u records 6 messages 5 seq 1..5",
		 part_of("a"));
	assert_true(has_line(f, line));
	snprintf(line, sizeof(line),
		 "conversation b partition %u records 3 messages 3 seq 1..3",
		 part_of("b"));
	assert_true(has_line(f, line));
	assert_true(has_line(f, "conversations 2"));
	seg_path(f, "a", path, sizeof(path));
	snprintf(line, sizeof(line),
		 "segment p%04u/00000001.seg size %llu checkpointed %llu "
		 "records %u (%u checkpointed) hot",
		 part_of("a"), (unsigned long long)file_size(path),
		 (unsigned long long)file_size(path),
		 part_of("a") == part_of("b") ? 9 : 6,
		 part_of("a") == part_of("b") ? 9 : 6);
	assert_true(has_line(f, line));
}

static void verify_passes_a_clean_store_and_reports_a_flipped_byte(void **state)
{
	struct fixture *f = *state;
	char path[160];
	char want[160];
	unsigned char c;
	int fd;

	build_store(f, 3);
	assert_int_equal(run(f, "verify", "--data", f->data, NULL), 0);
	assert_true(has_line(f, "0 problems"));
	assert_null(strstr(f->out.data, "problem:"));
	/* Flip one byte inside the last record of b's segment. */
	seg_path(f, "b", path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)file_size(path) - 12), 1);
	c ^= 1;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)file_size(path) - 12), 1);
	close(fd);
	assert_int_equal(run(f, "verify", "--data", f->data, NULL), 1);
	snprintf(want, sizeof(want), "problem: p%04u/00000001.seg: bad record",
		 part_of("b"));
	assert_non_null(strstr(f->out.data, want));
	assert_non_null(strstr(f->out.data, "(checkpointed up to"));
	assert_true(has_line(f, "1 problem"));
}

static void verify_notes_an_uncheckpointed_torn_tail(void **state)
{
	struct fixture *f = *state;
	char path[160];
	int fd;

	build_store(f, 3);
	seg_path(f, "a", path, sizeof(path));
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x40\0\0\0torn", 8), 8);
	close(fd);
	assert_int_equal(run(f, "verify", "--data", f->data, NULL), 0);
	assert_non_null(strstr(f->out.data, "bytes past the checkpoint"));
	assert_true(has_line(f, "0 problems"));
}

static void verify_refuses_a_corrupt_manifest(void **state)
{
	struct fixture *f = *state;
	char path[160];
	int fd;

	build_store(f, 3);
	snprintf(path, sizeof(path), "%s/MANIFEST", f->store);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 16), 1);
	close(fd);
	assert_int_equal(run(f, "verify", "--data", f->data, NULL), 1);
	assert_non_null(strstr(f->out.data, "manifest: checksum mismatch"));
	assert_int_equal(run(f, "inspect", "--data", f->data, NULL), 1);
}

static void verify_reports_a_missing_segment(void **state)
{
	struct fixture *f = *state;
	char path[160];

	build_store(f, 3);
	seg_path(f, "a", path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(run(f, "verify", "--data", f->data, NULL), 1);
	assert_non_null(strstr(f->out.data, "missing"));
}

static void a_folder_without_store_fails(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(run(f, "inspect", "--data", f->data, NULL), 1);
	assert_int_equal(run(f, "verify", "--data", f->data, NULL), 1);
}

/* A running node holds DATA/LOCK: offline commands refuse the folder. */
static void a_locked_folder_is_refused_with_the_holder(void **state)
{
	struct fixture *f = *state;
	char errmsg[CF_ERRMSG_SIZE] = "", pid[32];
	int fd, fd2;

	build_store(f, 3);
	assert_int_equal(cf_lock_dir(f->data, &fd, errmsg), 0);
	/* A second lock on the folder fails too, naming this process. */
	assert_int_equal(cf_lock_dir(f->data, &fd2, errmsg), -EBUSY);
	assert_int_equal(fd2, -1);
	snprintf(pid, sizeof pid, "(pid %ld)", (long)getpid());
	assert_non_null(strstr(errmsg, pid));
	assert_int_equal(run(f, "verify", "--data", f->data, NULL), 1);
	assert_non_null(strstr(f->out.data, "in use by another process"));
	assert_non_null(strstr(f->out.data, pid));
	assert_int_equal(run(f, "inspect", "--data", f->data, NULL), 1);
	assert_non_null(strstr(f->out.data, "stop the node first"));
	cf_unlock_dir(fd);
	assert_int_equal(run(f, "verify", "--data", f->data, NULL), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(help_and_usage_errors),
		T(inspect_shows_segments_conversations_and_applied_index),
		T(verify_passes_a_clean_store_and_reports_a_flipped_byte),
		T(verify_notes_an_uncheckpointed_torn_tail),
		T(verify_refuses_a_corrupt_manifest),
		T(verify_reports_a_missing_segment),
		T(a_folder_without_store_fails),
		T(a_locked_folder_is_refused_with_the_holder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
