#include "config.h"

/*
 * cf_img: what the writer writes the reader reads back (integers, strings,
 * sections, a body bigger than the writer's buffer); an image cut at any
 * byte, or with any byte flipped, fails its checksum; a reader out of step
 * with a section fails at the section's end; a count larger than what is
 * left is refused before anyone allocates for it; a write error is kept.
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
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "common/cf_img.h"

static int tmpfile_fd(char *path)
{
	int fd;

	strcpy(path, "/tmp/test_cf_img.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	return fd;
}

static void write_sample(int fd, size_t big)
{
	struct cf_imgw w;
	char *blob = malloc(big);

	assert_non_null(blob);
	for (size_t i = 0; i < big; i++)
		blob[i] = (char)(i * 7);
	assert_int_equal(cf_imgw_init(&w, fd), 0);
	cf_imgw_begin(&w, 0x41424344);
	cf_imgw_u8(&w, 7);
	cf_imgw_u32(&w, 0xdeadbeef);
	cf_imgw_u64(&w, 0x0123456789abcdefull);
	cf_imgw_cstr(&w, "hello");
	cf_imgw_cstr(&w, NULL);
	cf_imgw_u32(&w, 3); /* a count */
	cf_imgw_str(&w, blob, big);
	cf_imgw_end(&w, 0x41424344);
	assert_int_equal(cf_imgw_finish(&w), 0);
	assert_int_equal(w.bytes, 4 + 1 + 4 + 8 + 9 + 4 + 4 + 4 + big + 4 + 8);
	cf_imgw_release(&w);
	free(blob);
}

static void round_trip(void **state)
{
	struct cf_img_map m;
	struct cf_imgr r;
	char path[64], *d;
	size_t big = (3u << 20) + 5; /* three buffers and a bit */
	int fd = tmpfile_fd(path);
	struct cf_str s;

	(void)state;
	write_sample(fd, big);
	assert_int_equal(cf_img_map(&m, fd), 0);
	cf_imgr_init(&r, &m);
	cf_imgr_begin(&r, 0x41424344);
	assert_int_equal(cf_imgr_u8(&r), 7);
	assert_int_equal(cf_imgr_u32(&r), 0xdeadbeef);
	assert_true(cf_imgr_u64(&r) == 0x0123456789abcdefull);
	d = cf_imgr_strdup(&r, 16);
	assert_string_equal(d, "hello");
	free(d);
	s = cf_imgr_str(&r, 16);
	assert_int_equal(s.len, 0);
	assert_int_equal(cf_imgr_count(&r, 1), 3);
	s = cf_imgr_str(&r, big);
	assert_int_equal(s.len, big);
	for (size_t i = 0; i < big; i += 4099)
		assert_int_equal(s.p[i], (char)(i * 7));
	cf_imgr_end(&r, 0x41424344);
	assert_int_equal(r.err, 0);
	assert_int_equal(cf_imgr_left(&r), 0);
	/* Past the end: zeros and an error that stays. */
	assert_int_equal(cf_imgr_u32(&r), 0);
	assert_int_equal(r.err, CF_ECORRUPT);
	assert_null(cf_imgr_strdup(&r, 16));
	cf_img_unmap(&m);
	close(fd);
	unlink(path);
}

/* Every cut and a flipped byte at every 97th offset fail the checksum. */
static void damaged_images_fail(void **state)
{
	struct cf_img_map m;
	char path[64];
	int fd = tmpfile_fd(path);
	off_t len;

	(void)state;
	write_sample(fd, 300);
	len = lseek(fd, 0, SEEK_END);
	for (off_t cut = 0; cut < len; cut++) {
		char copy[64];
		int fd2;
		char *buf = malloc((size_t)len);

		assert_non_null(buf);
		assert_int_equal(pread(fd, buf, (size_t)len, 0), len);
		strcpy(copy, "/tmp/test_cf_img.XXXXXX");
		fd2 = mkstemp(copy);
		assert_true(fd2 >= 0);
		assert_int_equal(write(fd2, buf, (size_t)cut), cut);
		assert_int_not_equal(cf_img_map(&m, fd2), 0);
		if (cut % 97 == 0) {
			buf[cut] ^= 0x10;
			assert_int_equal(pwrite(fd2, buf, (size_t)len, 0), len);
			assert_int_equal(cf_img_map(&m, fd2), CF_ECORRUPT);
		}
		close(fd2);
		unlink(copy);
		free(buf);
	}
	close(fd);
	unlink(path);
}

/* A reader that takes a field too few fails at the section's end. */
static void out_of_step_reader_fails(void **state)
{
	struct cf_img_map m;
	struct cf_imgr r;
	char path[64];
	int fd = tmpfile_fd(path);

	(void)state;
	write_sample(fd, 10);
	assert_int_equal(cf_img_map(&m, fd), 0);
	cf_imgr_init(&r, &m);
	cf_imgr_begin(&r, 0x41424344);
	(void)cf_imgr_u8(&r);
	(void)cf_imgr_u32(&r);
	/* the u64 and the rest skipped */
	cf_imgr_end(&r, 0x41424344);
	assert_int_equal(r.err, CF_ECORRUPT);
	/* Wrong tag. */
	cf_imgr_init(&r, &m);
	cf_imgr_begin(&r, 0x41424345);
	assert_int_equal(r.err, CF_ECORRUPT);
	/* A count larger than the image could hold. */
	cf_imgr_init(&r, &m);
	cf_imgr_begin(&r, 0x41424344);
	(void)cf_imgr_u8(&r);
	(void)cf_imgr_u32(&r);
	(void)cf_imgr_u64(&r);
	(void)cf_imgr_str(&r, 16);
	(void)cf_imgr_str(&r, 16);
	assert_int_equal(cf_imgr_count(&r, 1000), 0);
	assert_int_equal(r.err, CF_ECORRUPT);
	/* A string longer than its limit. */
	cf_imgr_init(&r, &m);
	cf_imgr_begin(&r, 0x41424344);
	(void)cf_imgr_u8(&r);
	(void)cf_imgr_u32(&r);
	(void)cf_imgr_u64(&r);
	(void)cf_imgr_str(&r, 4);
	assert_int_equal(r.err, CF_ECORRUPT);
	cf_img_unmap(&m);
	close(fd);
	unlink(path);
}

static void write_error_is_kept(void **state)
{
	struct cf_imgw w;
	int fd = open("/dev/full", O_WRONLY);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(cf_imgw_init(&w, fd), 0);
	for (int i = 0; i < 300000; i++)
		cf_imgw_u64(&w, (uint64_t)i); /* past one buffer: a write */
	assert_int_equal(w.err, -ENOSPC);
	assert_int_equal(cf_imgw_finish(&w), -ENOSPC);
	cf_imgw_release(&w);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(damaged_images_fail),
		cmocka_unit_test(out_of_step_reader_fails),
		cmocka_unit_test(write_error_is_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
