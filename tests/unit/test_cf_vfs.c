#include "config.h"

/*
 * test_cf_vfs: the I/O seam itself (src/common/cf_vfs.h, issue 11 Tests):
 * the countdown fails the n-th call of the kinds asked for and no other,
 * sticky, torn and power-off faults, cf_io's retry of EINTR through it,
 * and the crash model: what a crash keeps (what was fsync'd, names whose
 * folder was fsync'd) and what it drops, in both of its modes.
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

#include "common/cf_io.h"
#include "common/cf_vfs.h"

#include "../lib/cf_test_dir.h"

struct fx {
	char dir[64];
	int dfd;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cf_test_dir_make(f->dir, sizeof(f->dir), "test_cf_vfs");
	f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(f->dfd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cf_vfs_reset();
	close(f->dfd);
	cf_test_dir_remove(f->dir);
	free(f);
	return 0;
}

/* Write name (through libc, outside the seam) with s. */
static void put(struct fx *f, const char *name, const char *s)
{
	int fd = openat(f->dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
}

/* name's content, "<none>" if it does not exist. */
static const char *get(struct fx *f, const char *name)
{
	static char buf[256];
	ssize_t n;
	int fd = openat(f->dfd, name, O_RDONLY);

	if (fd < 0) {
		assert_int_equal(errno, ENOENT);
		return "<none>";
	}
	n = read(fd, buf, sizeof buf - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

static int vopen(struct fx *f, const char *name, int flags)
{
	int fd = cf_vfs_openat(f->dfd, name, flags | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	return fd;
}

static void vwrite(int fd, const char *s, off_t off)
{
	assert_int_equal(cf_vfs_pwrite(fd, s, strlen(s), off),
			 (ssize_t)strlen(s));
}

static void countdown_fails_the_nth_call_of_its_kinds(void **state)
{
	struct fx *f = *state;
	struct cf_vfs_stats st;
	char buf[8];
	int fd;

	/* Off: nothing is counted. */
	fd = vopen(f, "a", O_RDWR | O_CREAT);
	vwrite(fd, "xy", 0);
	cf_vfs_stats(&st);
	assert_int_equal(st.calls, 0);
	/* The 2nd write fails with the errno asked; reads do not count. */
	cf_vfs_fail_after(2, CF_VFS_WRITE, ENOSPC, 0);
	vwrite(fd, "ab", 0);
	assert_int_equal(cf_vfs_pread(fd, buf, 2, 0), 2);
	assert_int_equal(cf_vfs_pwrite(fd, "cd", 2, 0), -1);
	assert_int_equal(errno, ENOSPC);
	assert_string_equal(get(f, "a"), "ab"); /* it did nothing */
	vwrite(fd, "ef", 0);			/* not sticky */
	cf_vfs_stats(&st);
	assert_true(st.fired);
	assert_int_equal(st.fired_kind, CF_VFS_WRITE);
	assert_int_equal(st.calls, 3);
	assert_int_equal(st.failed, 1);
	/* Sticky: the 1st sync and every later one; other kinds go on. */
	cf_vfs_fail_after(1, CF_VFS_SYNC, 0, CF_VFS_STICKY);
	assert_int_equal(cf_vfs_fdatasync(fd), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(cf_vfs_fsync(fd), -1);
	vwrite(fd, "gh", 0);
	cf_vfs_stats(&st);
	assert_int_equal(st.failed, 2);
	/* Torn: a failed write leaves its first half. */
	cf_vfs_fail_after(1, CF_VFS_WRITE, ENOSPC, CF_VFS_TORN);
	assert_int_equal(cf_vfs_pwrite(fd, "1234", 4, 0), -1);
	assert_string_equal(get(f, "a"), "12");
	/* A failed close still releases the descriptor. */
	cf_vfs_fail_after(1, CF_VFS_CLOSE, EIO, 0);
	assert_int_equal(cf_vfs_close(fd), -1);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	/* Not reached: the operation ran whole. */
	cf_vfs_fail_after(100, 0, 0, 0);
	fd = vopen(f, "a", O_RDONLY);
	assert_int_equal(cf_vfs_close(fd), 0);
	cf_vfs_stats(&st);
	assert_false(st.fired);
	assert_int_equal(st.calls, 2);
	cf_vfs_fail_off();
}

static void power_off_stops_every_call_and_cf_io_retries_eintr(void **state)
{
	struct fx *f = *state;
	struct cf_vfs_stats st;
	char buf[8];
	size_t got;
	int fd, fd2;

	fd = vopen(f, "a", O_RDWR | O_CREAT);
	/* An interrupted write is retried by cf_io: one call, whole. */
	cf_vfs_fail_after(1, CF_VFS_WRITE, EINTR, 0);
	assert_int_equal(cf_pwrite_all(fd, "hello", 5, 0), 0);
	cf_vfs_fail_after(1, CF_VFS_READ, EINTR, 0);
	assert_int_equal(cf_pread_all(fd, buf, 5, 0, &got), 0);
	assert_int_equal(got, 5);
	cf_vfs_stats(&st);
	assert_true(st.fired);
	/* Power off at the 2nd call: it and every later one fail. */
	fd2 = vopen(f, "a", O_RDONLY);
	cf_vfs_fail_after(2, 0, 0, CF_VFS_POWER_OFF);
	vwrite(fd, "HE", 0);
	assert_int_equal(cf_vfs_pwrite(fd, "XX", 2, 0), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(cf_vfs_pread(fd, buf, 2, 0), -1);
	assert_int_equal(cf_vfs_openat(f->dfd, "b", O_RDWR | O_CREAT, 0644),
			 -1);
	assert_int_equal(cf_vfs_unlinkat(f->dfd, "a", 0), -1);
	cf_vfs_stats(&st);
	assert_true(st.power_off);
	/* Close lets go of the descriptor and succeeds. */
	assert_int_equal(cf_vfs_close(fd), 0);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(cf_vfs_close(fd2), 0);
	assert_string_equal(get(f, "a"), "HEllo");
	assert_string_equal(get(f, "b"), "<none>");
	cf_vfs_fail_off();
	cf_vfs_stats(&st);
	assert_false(st.power_off);
}

static void crash_keeps_what_was_synced_and_drops_the_rest(void **state)
{
	struct fx *f = *state;
	struct cf_vfs_stats st;
	int fd, dfd;

	put(f, "old", "old content");
	put(f, "gone", "unlinked, never synced");
	put(f, "over", "the name's first file");
	assert_int_equal(cf_vfs_model_start(f->dir), 0);
	assert_true(cf_vfs_model_bytes() > 0);

	/* A write past the last sync is dropped; one before it stays. */
	fd = vopen(f, "old", O_RDWR);
	vwrite(fd, "OLD", 0);
	assert_int_equal(cf_vfs_fdatasync(fd), 0);
	vwrite(fd, "-unsynced-", 3);
	assert_int_equal(cf_vfs_ftruncate(fd, 2), 0);
	cf_vfs_close(fd);
	/* Created and synced, folder not synced: the name is lost. */
	fd = vopen(f, "new-nodir", O_RDWR | O_CREAT | O_EXCL);
	vwrite(fd, "data", 0);
	assert_int_equal(cf_vfs_fsync(fd), 0);
	cf_vfs_close(fd);
	/* An unlink and a rename over a name, folder not synced. */
	assert_int_equal(cf_vfs_unlinkat(f->dfd, "gone", 0), 0);
	fd = vopen(f, "over.tmp", O_WRONLY | O_CREAT | O_TRUNC);
	vwrite(fd, "the second", 0);
	assert_int_equal(cf_vfs_fsync(fd), 0);
	cf_vfs_close(fd);
	assert_int_equal(cf_vfs_renameat(f->dfd, "over.tmp", f->dfd, "over"),
			 0);
	assert_int_equal(cf_vfs_mkdirat(f->dfd, "sub", 0755), 0);

	assert_int_equal(cf_vfs_crash(0), 0);
	assert_string_equal(get(f, "old"), "OLD content");
	assert_string_equal(get(f, "new-nodir"), "<none>");
	assert_string_equal(get(f, "gone"), "unlinked, never synced");
	assert_string_equal(get(f, "over"), "the name's first file");
	assert_string_equal(get(f, "over.tmp"), "<none>");
	assert_int_equal(faccessat(f->dfd, "sub", F_OK, 0), -1);

	/* The same steps with the folder synced: all of it is kept, except
	 * the content of a file whose name is durable but data is not. */
	fd = vopen(f, "new", O_RDWR | O_CREAT | O_EXCL);
	vwrite(fd, "data", 0);
	assert_int_equal(cf_vfs_fsync(fd), 0);
	vwrite(fd, "DATA", 0);
	cf_vfs_close(fd);
	fd = vopen(f, "empty", O_RDWR | O_CREAT | O_EXCL);
	vwrite(fd, "never synced", 0);
	cf_vfs_close(fd);
	assert_int_equal(cf_vfs_unlinkat(f->dfd, "gone", 0), 0);
	fd = vopen(f, "over.tmp", O_WRONLY | O_CREAT | O_TRUNC);
	vwrite(fd, "the second", 0);
	assert_int_equal(cf_vfs_fsync(fd), 0);
	cf_vfs_close(fd);
	assert_int_equal(cf_vfs_renameat(f->dfd, "over.tmp", f->dfd, "over"),
			 0);
	assert_int_equal(cf_vfs_mkdirat(f->dfd, "sub", 0755), 0);
	dfd = cf_vfs_openat(f->dfd, "sub", O_RDONLY | O_DIRECTORY, 0);
	assert_true(dfd >= 0);
	fd = cf_vfs_openat(dfd, "in", O_WRONLY | O_CREAT | O_EXCL, 0644);
	vwrite(fd, "inside", 0);
	assert_int_equal(cf_vfs_fdatasync(fd), 0);
	cf_vfs_close(fd);
	assert_int_equal(cf_vfs_fsync(dfd), 0);
	cf_vfs_close(dfd);
	dfd = cf_vfs_dup(f->dfd); /* a duplicate syncs the same folder */
	assert_int_equal(cf_vfs_fsync(dfd), 0);
	cf_vfs_close(dfd);

	assert_int_equal(cf_vfs_crash(0), 0);
	assert_string_equal(get(f, "new"), "data");
	assert_string_equal(get(f, "empty"), "");
	assert_string_equal(get(f, "gone"), "<none>");
	assert_string_equal(get(f, "over"), "the second");
	assert_string_equal(get(f, "over.tmp"), "<none>");
	assert_string_equal(get(f, "sub/in"), "inside");
	/* A second crash with nothing done changes nothing. */
	assert_int_equal(cf_vfs_crash(0), 0);
	assert_string_equal(get(f, "over"), "the second");
	assert_string_equal(get(f, "sub/in"), "inside");
	cf_vfs_stats(&st);
	assert_int_equal(st.model_errors, 0);
}

static void keep_names_keeps_renames_but_not_unsynced_data(void **state)
{
	struct fx *f = *state;
	int fd;

	put(f, "m", "first");
	assert_int_equal(cf_vfs_model_start(f->dir), 0);
	/* A rename whose file's data was never synced: the classic. */
	fd = vopen(f, "m.tmp", O_WRONLY | O_CREAT | O_TRUNC);
	vwrite(fd, "second", 0);
	cf_vfs_close(fd);
	assert_int_equal(cf_vfs_renameat(f->dfd, "m.tmp", f->dfd, "m"), 0);
	fd = vopen(f, "n", O_WRONLY | O_CREAT | O_EXCL);
	vwrite(fd, "synced", 0);
	assert_int_equal(cf_vfs_fdatasync(fd), 0);
	cf_vfs_close(fd);
	assert_int_equal(cf_vfs_crash(CF_VFS_CRASH_KEEP_NAMES), 0);
	assert_string_equal(get(f, "m"), "");
	assert_string_equal(get(f, "m.tmp"), "<none>");
	assert_string_equal(get(f, "n"), "synced");
}

static void a_reused_inode_is_a_new_file(void **state)
{
	struct fx *f = *state;
	int fd;

	assert_int_equal(cf_vfs_model_start(f->dir), 0);
	for (int i = 0; i < 8; i++) {
		char name[8];

		snprintf(name, sizeof name, "f%d", i);
		fd = vopen(f, name, O_WRONLY | O_CREAT | O_EXCL);
		vwrite(fd, name, 0);
		assert_int_equal(cf_vfs_fsync(fd), 0);
		cf_vfs_close(fd);
		assert_int_equal(cf_vfs_fsync(f->dfd), 0);
		/* Durable; then unlinked and the folder synced again: the
		 * inode number is free for the next one. */
		assert_int_equal(cf_vfs_unlinkat(f->dfd, name, 0), 0);
		assert_int_equal(cf_vfs_fsync(f->dfd), 0);
	}
	fd = vopen(f, "last", O_WRONLY | O_CREAT | O_EXCL);
	vwrite(fd, "last", 0);
	assert_int_equal(cf_vfs_fsync(fd), 0);
	cf_vfs_close(fd);
	assert_int_equal(cf_vfs_fsync(f->dfd), 0);
	assert_int_equal(cf_vfs_crash(0), 0);
	assert_string_equal(get(f, "last"), "last");
	assert_string_equal(get(f, "f7"), "<none>");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(countdown_fails_the_nth_call_of_its_kinds),
		T(power_off_stops_every_call_and_cf_io_retries_eintr),
		T(crash_keeps_what_was_synced_and_drops_the_rest),
		T(keep_names_keeps_renames_but_not_unsynced_data),
		T(a_reused_inode_is_a_new_file),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
