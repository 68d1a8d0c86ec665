#include "config.h"

/*
 * confabctl: the admin CLI (confabctl(8)). A thin main: a table of
 * commands, each parsing its own options and calling into the modules.
 * Offline commands work on a stopped node's data folder: DIR/raft holds
 * raft's files and DIR/store the segment store (log_store.h). Live
 * commands call the nodes' admin routes (ctl/ctl_admin.h).
 *
 * Exit status: 0 success, 1 failure (for verify: corruption found or the
 * store unreadable), 2 usage error.
 */

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_conf.h"
#include "common/cf_err.h"
#include "common/cf_lock.h"
#include "common/cf_mem.h"
#include "ctl/ctl_admin.h"
#include "ctl/ctl_dump.h"
#include "frontend/fe_auth.h"
#include "log/log_inspect.h"

#define EXIT_USAGE 2

struct ctl_cmd {
	const char *name;
	const char *synopsis; /* arguments after the command name */
	const char *summary;
	int (*run)(int argc, char **argv);
};

static const struct ctl_cmd ctl_cmds[];

static void ctl_usage(FILE *out)
{
	const struct ctl_cmd *c;

	for (c = ctl_cmds; c->name != NULL; c++)
		fprintf(out, "%s confabctl %s %s\n",
			c == ctl_cmds ? "usage:" : "      ", c->name,
			c->synopsis);
	fprintf(out, "       confabctl --help\n");
}

static void ctl_help(void)
{
	const struct ctl_cmd *c;

	ctl_usage(stdout);
	printf("\ncommands:\n");
	for (c = ctl_cmds; c->name != NULL; c++)
		printf("  %-10s %s\n", c->name, c->summary);
	printf("\nexit status: 0 success, 1 failure or corruption found, "
	       "2 usage error\n");
}

/* Parse "--data DIR" (the only option of the offline commands so far). */
static int ctl_parse_data(int argc, char **argv, const char **data)
{
	static const struct option opts[] = {
		{"data", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	*data = NULL;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			*data = optarg;
			break;
		case 'h':
			ctl_help();
			exit(0);
		default:
			ctl_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || *data == NULL) {
		fprintf(stderr, "confabctl %s: %s\n", argv[0],
			*data == NULL ? "--data DIR is required"
				      : "unexpected argument");
		ctl_usage(stderr);
		return EXIT_USAGE;
	}
	return 0;
}

/*
 * Lock the data folder (cf_lock.h: a running node holds it, so an offline
 * command never reads files being written) and return DATA/store, malloc'd;
 * NULL after printing why.
 */
static char *ctl_open_data(const char *verb, const char *data, int *lock_fd)
{
	char errmsg[CF_ERRMSG_SIZE] = "";
	size_t n = strlen(data) + sizeof("/store");
	char *p;
	int rv;

	rv = cf_lock_dir(data, lock_fd, errmsg);
	if (rv != 0) {
		fprintf(stderr, "confabctl %s: %s%s\n", verb, errmsg,
			rv == -EBUSY ? ": stop the node first" : "");
		return NULL;
	}
	p = malloc(n);
	if (p == NULL) {
		fprintf(stderr, "confabctl %s: out of memory\n", verb);
		cf_unlock_dir(*lock_fd);
		*lock_fd = -1;
		return NULL;
	}
	snprintf(p, n, "%s/store", data);
	return p;
}

static int ctl_inspect(int argc, char **argv)
{
	char errmsg[CF_ERRMSG_SIZE] = "";
	const char *data;
	char *dir;
	int lock_fd = -1;
	int rv;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--cluster") == 0 ||
		    strncmp(argv[i], "--cluster=", 10) == 0)
			return ctl_inspect_live(argc, argv);
	rv = ctl_parse_data(argc, argv, &data);
	if (rv != 0)
		return rv;
	dir = ctl_open_data("inspect", data, &lock_fd);
	if (dir == NULL)
		return 1;
	rv = log_inspect_print(dir, stdout, errmsg);
	free(dir);
	cf_unlock_dir(lock_fd);
	if (rv != 0) {
		fprintf(stderr, "confabctl inspect: %s\n", errmsg);
		return 1;
	}
	return 0;
}

static int ctl_verify(int argc, char **argv)
{
	char errmsg[CF_ERRMSG_SIZE] = "";
	unsigned problems = 0;
	const char *data;
	char *dir;
	int lock_fd = -1;
	int rv;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--cluster") == 0 ||
		    strncmp(argv[i], "--cluster=", 10) == 0)
			return ctl_verify_cluster(argc, argv);
	rv = ctl_parse_data(argc, argv, &data);
	if (rv != 0)
		return rv;
	dir = ctl_open_data("verify", data, &lock_fd);
	if (dir == NULL)
		return 1;
	rv = log_inspect_verify(dir, stdout, &problems, errmsg);
	free(dir);
	cf_unlock_dir(lock_fd);
	printf("%u problem%s\n", problems, problems == 1 ? "" : "s");
	if (rv != 0 || problems > 0) {
		fprintf(stderr, "confabctl verify: %s\n",
			rv != 0 ? errmsg : "corruption found");
		return 1;
	}
	return 0;
}

/* A --ttl: a duration (cf_parse_duration) of at least 1 s. */
static int ctl_parse_duration(const char *s, uint64_t *out)
{
	if (cf_parse_duration(s, out) != 0 || *out == 0)
		return CF_EBADREQ;
	return 0;
}

/* Mint an HS256 token for a user from the cluster file's secret. */
static int ctl_token(int argc, char **argv)
{
	static const struct option opts[] = {
		{"cluster", required_argument, NULL, 'c'},
		{"user", required_argument, NULL, 'u'},
		{"ttl", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char errmsg[CF_ERRMSG_SIZE] = "";
	struct cf_cluster cl;
	const char *cluster = NULL, *user = NULL;
	uint64_t ttl = 24 * 3600;
	char *tok = NULL;
	int ch, rv;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:u:t:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cluster = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 't':
			if (ctl_parse_duration(optarg, &ttl) != 0) {
				fprintf(stderr,
					"confabctl token: bad --ttl %s "
					"(seconds, or N with s, m, h or d)\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			ctl_help();
			exit(0);
		default:
			ctl_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || cluster == NULL || user == NULL) {
		fprintf(stderr, "confabctl token: %s\n",
			optind != argc ? "unexpected argument"
				       : "--cluster FILE and --user ID are "
					 "required");
		ctl_usage(stderr);
		return EXIT_USAGE;
	}
	rv = cf_cluster_load(&cl, cluster, errmsg);
	if (rv != 0) {
		fprintf(stderr, "confabctl token: %s: %s\n", cluster, errmsg);
		return 1;
	}
	if (cl.secret_len == 0) {
		fprintf(stderr, "confabctl token: %s has no secret\n",
			cluster);
		return 1;
	}
	rv = fe_auth_mint(&cl, user, ttl, &tok);
	if (rv == CF_EBADREQ) {
		fprintf(stderr,
			"confabctl token: user must be 1 to 128 bytes of "
			"[A-Za-z0-9._:@-]\n");
		return EXIT_USAGE;
	}
	if (rv != 0) {
		fprintf(stderr, "confabctl token: cannot mint a token\n");
		return 1;
	}
	printf("%s\n", tok);
	free(tok);
	return 0;
}

static const struct ctl_cmd ctl_cmds[] = {
	{"inspect", "--data DIR | --cluster FILE --node URL [--json]",
	 "show partitions, segments, conversations and appliedIndex",
	 ctl_inspect},
	{"verify", "--data DIR | --cluster FILE [--json]",
	 "check every checksum of a store, or that all nodes are identical",
	 ctl_verify},
	{"status", "--cluster FILE [--node URL] [--json]",
	 "every node of a running cluster as it sees itself (admin token)",
	 ctl_status},
	{"compact",
	 "--cluster FILE [--partition N] [--segments K] [--wait S] [--json]",
	 "compact sealed hot segments to cold files on every node, now",
	 ctl_compact},
	{"dump",
	 "--conversation ID [--from N] [--to N] (--cluster FILE --node URL | "
	 "--data DIR)",
	 "a conversation's messages as JSON lines, live or offline",
	 ctl_dump},
	{"token", "--cluster FILE --user ID [--ttl D]",
	 "print an HS256 token for ID (D: 3600, 30m, 24h, 7d; default 24h)",
	 ctl_token},
	{NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
	const struct ctl_cmd *c;

	/* Before any loop or JSON value exists (cf_mem.h). */
	if (cf_mem_install() != 0) {
		fprintf(stderr, "confabctl: cannot install the allocator\n");
		return 1;
	}
	if (argc < 2) {
		ctl_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		ctl_help();
		return 0;
	}
	for (c = ctl_cmds; c->name != NULL; c++) {
		if (strcmp(argv[1], c->name) == 0)
			return c->run(argc - 1, argv + 1);
	}
	fprintf(stderr, "confabctl: unknown command %s\n", argv[1]);
	ctl_usage(stderr);
	return EXIT_USAGE;
}
