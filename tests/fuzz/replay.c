#include "config.h"

/*
 * replay: run a fuzz target's committed corpus without libFuzzer, so that
 * `make check` (gcc) covers it. Usage: replay_<target> [DIR]; without DIR it
 * reads $CONFAB_SRCDIR/tests/fuzz/corpus/<target>/ (FUZZ_TARGET is set by
 * Makefile.am). Every regular file is one input, run in name order, each
 * reported as a TAP line ("ok 3 - name"); an input that crashes the target
 * kills the program, which the TAP driver reports as a failure. Each input
 * is copied to a buffer of exactly its size, so that a sanitizer build
 * catches reads past the end.
 */

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET must name the corpus folder"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_input(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;

	if (f == NULL)
		return -errno;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		return -EINVAL;
	}
	buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (buf == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	if (st.st_size > 0 &&
	    fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*out = buf;
	*len = (size_t)st.st_size;
	return 0;
}

int main(int argc, char **argv)
{
	char dir[4096], path[8192];
	struct dirent **list;
	const char *src = getenv("CONFAB_SRCDIR");
	int n, i, failed = 0;

	if (argc > 1)
		snprintf(dir, sizeof dir, "%s", argv[1]);
	else
		snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s",
			 src != NULL ? src : ".", FUZZ_TARGET);
	n = scandir(dir, &list, is_input, alphasort);
	if (n < 0) {
		printf("1..0 # SKIP cannot read %s\n", dir);
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	printf("1..%d\n", n);
	for (i = 0; i < n; i++) {
		uint8_t *data = NULL;
		size_t len = 0;
		int rv;

		snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
		rv = read_file(path, &data, &len);
		if (rv != 0) {
			printf("not ok %d - %s # %s\n", i + 1, list[i]->d_name,
			       strerror(-rv));
			failed = 1;
		} else {
			fflush(stdout);
			LLVMFuzzerTestOneInput(data, len);
			free(data);
			printf("ok %d - %s\n", i + 1, list[i]->d_name);
		}
		free(list[i]);
	}
	free(list);
	return failed;
}
