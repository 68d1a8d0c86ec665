#include "config.h"

/*
 * cf_conf: the cluster file (defaults, every directive, the errors that name
 * the line), and the size and duration syntax shared with confabctl.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_conf.h"
#include "common/cf_err.h"

#define NODES                                                              \
	"secret secret.key\n"                                              \
	"node 1 raft=127.0.0.1:7001 peer=127.0.0.1:7101 "                  \
	"client=http://127.0.0.1:8001\n"

struct fixture {
	char dir[64];
	char path[96];
	char errmsg[CF_ERRMSG_SIZE];
	struct cf_cluster c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char key[128];
	FILE *fp;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_cf_conf.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/cluster.conf", f->dir);
	snprintf(key, sizeof key, "%s/secret.key", f->dir);
	fp = fopen(key, "w");
	assert_non_null(fp);
	fputs("0123456789abcdef0123456789abcdef\n", fp);
	fclose(fp);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[128];

	snprintf(p, sizeof p, "%s/secret.key", f->dir);
	unlink(p);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int load(struct fixture *f, const char *text)
{
	FILE *fp = fopen(f->path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	f->errmsg[0] = '\0';
	return cf_cluster_load(&f->c, f->path, f->errmsg);
}

static void defaults_for_the_store_shape(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, NODES), 0);
	assert_int_equal(f->c.partitions, 16);
	assert_true(f->c.segment_size == 64ull << 20);
	assert_true(f->c.seal_age_ms == 86400ull * 1000);
	assert_true(f->c.edit_window_ms == 86400ull * 1000);
	assert_int_equal(f->c.n_nodes, 1);
	assert_string_equal(f->c.nodes[0].client_addr, "127.0.0.1:8001");
}

static void segment_size_and_seal_age_are_read(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "segment-size 1M\nseal-age 30m\n" NODES), 0);
	assert_true(f->c.segment_size == 1ull << 20);
	assert_true(f->c.seal_age_ms == 1800ull * 1000);
	assert_int_equal(load(f, "segment-size 65536\nseal-age 0\n" NODES), 0);
	assert_true(f->c.segment_size == 65536);
	assert_true(f->c.seal_age_ms == 0);
	assert_int_equal(load(f, "segment-size 1G\nseal-age 7d\n" NODES), 0);
	assert_true(f->c.segment_size == 1ull << 30);
	assert_true(f->c.seal_age_ms == 7ull * 86400 * 1000);
	assert_int_equal(load(f, "edit-window 2s\n" NODES), 0);
	assert_true(f->c.edit_window_ms == 2000);
	assert_int_equal(load(f, "edit-window 0\n" NODES), 0);
	assert_true(f->c.edit_window_ms == 0);
}

static void bad_values_name_the_line(void **state)
{
	struct fixture *f = *state;
	static const char *bad[] = {
		"segment-size 1K\n",	  /* under 64K */
		"segment-size 2G\n",	  /* over 1G */
		"segment-size 64MB\n",	  /* unit */
		"segment-size -1\n",
		"segment-size\n",
		"segment-size 1M 2M\n",
		"seal-age 1w\n",
		"seal-age -5\n",
		"seal-age 99999d\n",
		"seal-age\n",
		"edit-window 1w\n",
		"edit-window\n",
		"edit-window 1h 2h\n",
		"partitions 0\n",
		"frobnicate 1\n",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[512];

		snprintf(text, sizeof text, "%s%s", bad[i], NODES);
		assert_int_equal(load(f, text), CF_EBADREQ);
		assert_non_null(strstr(f->errmsg, "cluster.conf:1: "));
	}
}

static void sizes_and_durations(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(cf_parse_size("0", &v), 0);
	assert_true(v == 0);
	assert_int_equal(cf_parse_size("3K", &v), 0);
	assert_true(v == 3072);
	assert_int_equal(cf_parse_size("18446744073709551615", &v), 0);
	assert_int_equal(cf_parse_size("18446744073709551615K", &v),
			 CF_EBADREQ);
	assert_int_equal(cf_parse_size("99999999999999999999", &v),
			 CF_EBADREQ);
	assert_int_equal(cf_parse_size("", &v), CF_EBADREQ);
	assert_int_equal(cf_parse_size("K", &v), CF_EBADREQ);
	assert_int_equal(cf_parse_duration("0", &v), 0);
	assert_true(v == 0);
	assert_int_equal(cf_parse_duration("90", &v), 0);
	assert_true(v == 90);
	assert_int_equal(cf_parse_duration("2h", &v), 0);
	assert_true(v == 7200);
	assert_int_equal(cf_parse_duration("3660d", &v), 0);
	assert_int_equal(cf_parse_duration("3661d", &v), CF_EBADREQ);
	assert_int_equal(cf_parse_duration("1hh", &v), CF_EBADREQ);
	assert_int_equal(cf_parse_duration(" 1", &v), CF_EBADREQ);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(defaults_for_the_store_shape),
		T(segment_size_and_seal_age_are_read),
		T(bad_values_name_the_line),
		cmocka_unit_test(sizes_and_durations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
