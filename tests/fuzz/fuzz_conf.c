#include "config.h"

/*
 * fuzz_conf: the cluster file parser (cf_conf.c) and the size and duration
 * parsers its keys use, under arbitrary bytes (issue 14: "the cluster
 * file"). The input is handed to cf_cluster_load() as a file (a memfd, so
 * nothing touches the disk); the secret files it names resolve beside it
 * and do not exist, so a well-formed file ends in an error about them:
 * what is checked is that no input crashes the parser or makes it read
 * past its bounds, and that an error always comes with a message.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/cf_conf.h"
#include "common/cf_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_units(const uint8_t *data, size_t size)
{
	char s[64];
	uint64_t v;
	size_t n = size < sizeof s - 1 ? size : sizeof s - 1;

	memcpy(s, data, n);
	s[n] = '\0';
	(void)cf_parse_size(s, &v);
	(void)cf_parse_duration(s, &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], errmsg[CF_ERRMSG_SIZE];
	struct cf_cluster *c;
	int fd, rv;

	check_units(data, size);
	fd = memfd_create("cluster.conf", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	errmsg[0] = '\0';
	rv = cf_cluster_load(c, path, errmsg);
	if (rv != 0 && errmsg[0] == '\0')
		abort(); /* every refusal says why */
	free(c);
	close(fd);
	return 0;
}
