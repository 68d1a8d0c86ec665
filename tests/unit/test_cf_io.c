#include "config.h"

/* cf_io: whole-buffer reads and writes, short only at the end of a file. */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_io.h"

static int tmp_fd(char *path)
{
	int fd;

	strcpy(path, "/tmp/test_cf_io.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	return fd;
}

static void pwrite_then_pread_round_trips_and_is_short_at_eof(void **state)
{
	char path[64], in[300000], out[300000];
	size_t got = 0;
	int fd = tmp_fd(path);

	(void)state;
	for (size_t i = 0; i < sizeof in; i++)
		in[i] = (char)(i * 7);
	assert_int_equal(cf_pwrite_all(fd, in, sizeof in, 100), 0);
	assert_int_equal(cf_pread_all(fd, out, sizeof out, 100, &got), 0);
	assert_int_equal(got, sizeof in);
	assert_memory_equal(in, out, sizeof in);
	/* Past the end: short, not an error. */
	assert_int_equal(cf_pread_all(fd, out, 50, 100 + sizeof in - 10, &got),
			 0);
	assert_int_equal(got, 10);
	assert_int_equal(cf_pread_all(fd, out, 50, 1u << 30, &got), 0);
	assert_int_equal(got, 0);
	close(fd);
	unlink(path);
}

static void write_then_read_follow_the_file_offset(void **state)
{
	char path[64], out[16];
	size_t got = 0;
	int fd = tmp_fd(path);

	(void)state;
	assert_int_equal(cf_write_all(fd, "hello ", 6), 0);
	assert_int_equal(cf_write_all(fd, "world", 5), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(cf_read_all(fd, out, 6, &got), 0);
	assert_int_equal(got, 6);
	assert_int_equal(cf_read_all(fd, out + 6, sizeof out - 6, &got), 0);
	assert_int_equal(got, 5);
	assert_memory_equal(out, "hello world", 11);
	close(fd);
	unlink(path);
}

static void a_bad_descriptor_is_minus_errno(void **state)
{
	char b[4];
	size_t got = 7;

	(void)state;
	assert_int_equal(cf_write_all(-1, "x", 1), -EBADF);
	assert_int_equal(cf_pwrite_all(-1, "x", 1, 0), -EBADF);
	assert_int_equal(cf_read_all(-1, b, sizeof b, &got), -EBADF);
	assert_int_equal(got, 0);
	assert_int_equal(cf_pread_all(-1, b, sizeof b, 0, &got), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			pwrite_then_pread_round_trips_and_is_short_at_eof),
		cmocka_unit_test(write_then_read_follow_the_file_offset),
		cmocka_unit_test(a_bad_descriptor_is_minus_errno),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
