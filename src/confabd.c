/*
 * confabd: one Confab node. Thin: parse options, build the Raft node and the
 * frontend on one libuv loop, run, and tear down in order on SIGTERM/SIGINT
 * (stop listening and close client connections, close raft, checkpoint the
 * store, close the remaining handles; the loop then returns).
 *
 * Full disks (issue 11): a node that halted on a full disk asks, once free
 * space is back, to run again: confabd closes everything in the same order
 * (listeners first), closes every other descriptor and re-execs itself
 * with the same arguments (same pid), so that raft starts over from what
 * is on disk. A node that halted on another storage error closes and exits
 * 1. A node that cannot start on a full disk waits for space and re-execs,
 * instead of exiting into a restart loop.
 *
 * Start order (issue 11): take the data folder's lock, open the store and
 * rebuild its state in libuv's thread pool (rft_node_open), and meanwhile
 * listen on the client port, where /healthz says "starting", /readyz 503
 * "starting" and every other API route 503 (fe_server.h: starting). Once
 * the open ended, on the loop: raft, the peer links, then every route. A
 * signal meanwhile waits for the open to end (a test hold ends at once),
 * then closes and exits 0.
 */
#include "config.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <uv.h>

#include "common/cf_conf.h"
#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_fds.h"
#include "common/cf_lag.h"
#include "common/cf_mem.h"
#include "frontend/fe_server.h"
#include "log/log_files.h"
#include "log/log_store.h"
#include "raft/rft_node.h"

struct daemon {
	uv_loop_t loop;
	struct cf_cluster cluster;
	struct rft_node node;
	struct fe_server server;
	struct cf_lag lag; /* loop lag, for /metrics */
	uv_signal_t sigterm;
	uv_signal_t sigint;
	bool stopping;
	bool reexec; /* run again once closed (a full disk has room again) */
	bool node_open; /* rft_node_open called back with 0: close it too */
	bool start_failed; /* the store did not open: wait for space, exit 1 */
	char **argv;
	int exit_code;
	struct cf_fds fds; /* descriptor limit and budget (cf_fds.h) */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: confabd --cluster FILE --id N --data DIR [--auth dev|jwt]\n"
		"               [--log-level debug|info|warn|error] [--max-group N]\n"
		"               [--max-body BYTES] [--ws-max-buffer BYTES]\n"
		"               [--max-media BYTES] [--push-webhook URL]\n"
		"               [--rate-limit N] [--rate-burst N]\n"
		"               [--heartbeat-ms MS] [--election-ms MS]\n"
		"               [--snapshot-threshold N] [--snapshot-trailing N]\n"
		"               [--raft-memory BYTES]\n"
		"               [--compact-after N] [--compact-segments N]\n"
		"               [--web DIR]\n"
		"               [--max-connections N] [--header-timeout SECONDS]\n"
		"               [--idle-timeout SECONDS]\n"
		"               [--min-free BYTES|PCT%%] [--ballast BYTES]\n"
		"               [--presence-group-max N] [--image-records N]\n"
		"               [--image-interval SECONDS] [--fanout-queue N]\n"
		"               [--search on|off]\n"
		"       confabd --help | --version\n");
}

/*
 * Raise the soft descriptor limit to the hard one and log how the node
 * spends it (issue 11): the store's share does not grow with its segments.
 */
static void daemon_fds(struct daemon *d)
{
	struct cf_fds *b = &d->fds;
	int rv;

	rv = cf_fds_raise(b);
	if (rv != 0)
		cf_warn("descriptors: cannot raise the soft limit %llu to the "
			"hard limit %llu: %s",
			(unsigned long long)b->soft_was,
			(unsigned long long)b->hard, cf_strerror(rv));
	cf_fds_budget(b, log_store_fd_budget(d->cluster.partitions, 0),
		      d->cluster.n_nodes);
	cf_info("descriptors: limit %llu (soft limit was %llu, hard %llu); "
		"store %u (%u partitions, file cache %u), raft %u, peers %u, "
		"reserve %u: %llu left for client connections",
		(unsigned long long)b->limit, (unsigned long long)b->soft_was,
		(unsigned long long)b->hard, b->store, d->cluster.partitions,
		LOG_FILES_DEFAULT, b->raft, b->peers, b->reserve,
		(unsigned long long)b->clients);
	if (b->clients < 64)
		cf_warn("descriptors: %llu left for client connections; "
			"raise the hard limit (ulimit -Hn, LimitNOFILE=)",
			(unsigned long long)b->clients);
}

static void daemon_node_closed_cb(struct rft_node *n)
{
	struct daemon *d = n->data;

	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	cf_lag_close(&d->lag, NULL);
}

static void daemon_server_closed_cb(struct fe_server *s)
{
	struct daemon *d = CF_CONTAINER_OF(s, struct daemon, server);

	if (d->node_open)
		rft_node_close(&d->node, daemon_node_closed_cb);
	else
		daemon_node_closed_cb(&d->node); /* it never opened */
}

/* Close the frontend, then the node; not while the node opens its store. */
static void daemon_close(struct daemon *d)
{
	assert(!rft_node_opening(&d->node));
	if (d->server.listening)
		fe_server_close(&d->server, daemon_server_closed_cb);
	else
		daemon_server_closed_cb(&d->server); /* the port was taken */
}

static void daemon_stop(struct daemon *d)
{
	if (d->stopping)
		return;
	d->stopping = true;
	if (rft_node_opening(&d->node)) {
		/* Its work writes the frontend's indexes: daemon_opened_cb
		 * closes once it ended. */
		cf_info("stopping once the store's open has ended");
		rft_node_open_cancel(&d->node);
		return;
	}
	daemon_close(d);
}

static void daemon_signal_cb(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	if (d->stopping)
		return;
	cf_info("signal %d: shutting down", signum);
	d->reexec = false; /* a signal wins over a pending re-exec */
	daemon_stop(d);
}

/* rft_node on_halt: after a storage failure, raft is closed. */
static void daemon_halt_cb(struct rft_node *n, int status)
{
	struct daemon *d = n->data;

	if (status == 0) {
		cf_info("free space is back: closing, then running again");
		d->reexec = true;
	} else {
		cf_error("storage failure (%s): closing, exit status 1",
			 cf_strerror(status));
		d->exit_code = 1;
	}
	daemon_stop(d);
}

/*
 * Close every descriptor above stderr (before exec; the orderly close has
 * closed the node's own already, this catches any other).
 */
static void close_fds(void)
{
	DIR *dir;
	struct dirent *e;

	if (close_range(3, ~0u, 0) == 0)
		return;
	/* Kernels before 5.9: every descriptor listed, in rounds. */
	for (int round = 0; round < 64; round++) {
		int fds[256], n = 0;

		dir = opendir("/proc/self/fd");
		if (dir == NULL)
			return;
		while ((e = readdir(dir)) != NULL && n < 256) {
			int fd = atoi(e->d_name);

			if (fd > 2 && fd != dirfd(dir))
				fds[n++] = fd;
		}
		closedir(dir);
		for (int i = 0; i < n; i++)
			close(fds[i]);
		if (n == 0)
			return;
	}
}

static void daemon_reexec(char **argv)
{
	cf_info("re-executing %s (pid %ld)", argv[0], (long)getpid());
	fflush(stdout);
	fflush(stderr);
	close_fds();
	execv("/proc/self/exe", argv);
	cf_error("exec /proc/self/exe: %s", strerror(errno));
}

/* Bytes free for the data folder, or UINT64_MAX if unknown. */
static uint64_t data_free(const char *dir)
{
	struct statvfs sv;

	if (statvfs(dir, &sv) != 0)
		return UINT64_MAX;
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/*
 * The node could not start. If its disk is (nearly) full, waiting for
 * space beats exiting into a restart loop: poll, then re-exec.
 */
static void start_failed_wait(const char *dir, uint64_t need, char **argv)
{
	uint64_t f = data_free(dir);

	if (f >= need)
		return;
	cf_error("%s: %llu bytes free, %llu needed to start: waiting for "
		 "free space (checked every second)",
		 dir, (unsigned long long)f, (unsigned long long)need);
	while (data_free(dir) < need)
		sleep(1);
	daemon_reexec(argv);
}

/*
 * rft_node_open's end: the store is open (or not); on the loop again, start
 * raft and the peer links, then serve every route.
 */
static void daemon_opened_cb(struct rft_node *n, int status,
			     const char *errmsg)
{
	struct daemon *d = n->data;
	const struct cf_node_conf *me = cf_cluster_node(&d->cluster, n->cfg.self);
	char msg[CF_ERRMSG_SIZE] = "";
	int rv;

	if (status != 0) {
		if (status != CF_ECANCELED) {
			cf_error("%s", errmsg);
			d->start_failed = true; /* after the loop: wait, exit 1 */
			d->exit_code = 1;
		}
		d->stopping = true;
		daemon_close(d);
		return;
	}
	d->node_open = true;
	fe_server_attach(&d->server, n);
	rv = rft_node_start(n, msg);
	if (rv != 0) {
		cf_error("%s", msg);
		/* As before issue 11: room for raft's next segments (the
		 * floor of rft_disk.h, x2), then exit. */
		start_failed_wait(n->cfg.data_dir, 2 * (16ull << 20), d->argv);
		exit(1);
	}
	rv = fe_server_start(&d->server, msg);
	if (rv != 0) {
		cf_error("%s", msg);
		exit(1);
	}
	cf_info("node %u up: raft %s, peer %s, client %s", n->cfg.self,
		me->raft_addr, me->peer_addr, me->client_url);
}

static void daemon_user_msg_cb(struct rft_node *n, unsigned from,
			       uint8_t type, uint64_t req_id, const void *body,
			       size_t len)
{
	struct daemon *d = n->data;

	(void)req_id;
	fe_server_on_peer_msg(&d->server, from, type, body, len);
}

/* A decimal number; 0 only where zero is allowed (zero_ok). */
static int parse_size(const char *s, bool zero_ok, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || *end != '\0' || errno != 0 || *s == '-' ||
	    (v == 0 && !zero_ok))
		return -1;
	*out = (size_t)v;
	return 0;
}

/* Options without a letter (issue 11: client connections). */
enum {
	OPT_MAX_CONNS = 1000,
	OPT_HEADER_TIMEOUT,
	OPT_IDLE_TIMEOUT,
};

/* Options without a letter (issue 11: presence, state images). */
enum {
	OPT_PRESENCE_GROUP_MAX = 1100,
	OPT_IMAGE_RECORDS,
	OPT_FANOUT_QUEUE,
	OPT_IMAGE_INTERVAL,
};

/*
 * Test only, not in usage(): the store's open, or the rebuild after a
 * segment fetch, waits while FILE exists (issue 11: the tests see the
 * starting or rebuilding state as long as they need).
 */
/* Options without a letter (issue 13: the search index). */
enum {
	OPT_SEARCH = 1300,
};

enum {
	OPT_TEST_START_HOLD = 1200,
	OPT_TEST_FETCH_HOLD,
};

static int conn_option(int ch, const char *arg, struct fe_config *fc)
{
	uint64_t v;
	size_t n;

	if (ch == OPT_MAX_CONNS) {
		if (parse_size(arg, false, &n) != 0 || n > 10000000) {
			fprintf(stderr, "confabd: --max-connections is 1 to "
				"10000000\n");
			return -1;
		}
		fc->max_connections = (unsigned)n;
		return 0;
	}
	if (cf_parse_duration(arg, &v) != 0 || v == 0 || v > 86400) {
		fprintf(stderr, "confabd: --header-timeout and --idle-timeout "
			"are 1 s to 1 d ('30', '30s', '2m')\n");
		return -1;
	}
	if (ch == OPT_HEADER_TIMEOUT)
		fc->header_timeout_ms = v * 1000;
	else
		fc->idle_timeout_ms = v * 1000;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"cluster", required_argument, NULL, 'c'},
		{"id", required_argument, NULL, 'i'},
		{"data", required_argument, NULL, 'd'},
		{"auth", required_argument, NULL, 'a'},
		{"log-level", required_argument, NULL, 'l'},
		{"max-group", required_argument, NULL, 'g'},
		{"max-body", required_argument, NULL, 'b'},
		{"ws-max-buffer", required_argument, NULL, 'w'},
		{"max-media", required_argument, NULL, 'M'},
		{"push-webhook", required_argument, NULL, 'P'},
		{"rate-limit", required_argument, NULL, 'r'},
		{"rate-burst", required_argument, NULL, 'B'},
		{"heartbeat-ms", required_argument, NULL, 'H'},
		{"election-ms", required_argument, NULL, 'E'},
		{"snapshot-threshold", required_argument, NULL, 'T'},
		{"snapshot-trailing", required_argument, NULL, 'L'},
		{"raft-memory", required_argument, NULL, 'R'},
		{"compact-after", required_argument, NULL, 'C'},
		{"compact-segments", required_argument, NULL, 'S'},
		{"web", required_argument, NULL, 'W'},
		{"max-connections", required_argument, NULL, OPT_MAX_CONNS},
		{"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
		{"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
		{"min-free", required_argument, NULL, 'm'},
		{"ballast", required_argument, NULL, 'A'},
		{"presence-group-max", required_argument, NULL,
		 OPT_PRESENCE_GROUP_MAX},
		{"image-records", required_argument, NULL, OPT_IMAGE_RECORDS},
		{"image-interval", required_argument, NULL,
		 OPT_IMAGE_INTERVAL},
		{"test-start-hold", required_argument, NULL,
		 OPT_TEST_START_HOLD},
		{"fanout-queue", required_argument, NULL, OPT_FANOUT_QUEUE},
		{"test-fetch-hold", required_argument, NULL,
		 OPT_TEST_FETCH_HOLD},
		{"search", required_argument, NULL, OPT_SEARCH},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	static struct daemon d;
	char errmsg[CF_ERRMSG_SIZE] = "";
	struct rft_node_config nc;
	struct fe_config fc;
	const struct cf_node_conf *me;
	const char *cluster = NULL;
	const char *data = NULL;
	const char *test_start_hold = NULL;
	const char *test_fetch_hold = NULL;
	enum cf_diag_level level = CF_DIAG_INFO;
	unsigned id = 0;
	char tag[16];
	size_t v;
	int ch;
	int rv;

	/* Before any loop, raft instance or JSON value exists (cf_mem.h). */
	if (cf_mem_install() != 0) {
		fprintf(stderr, "confabd: cannot install the allocator\n");
		return 1;
	}
	memset(&nc, 0, sizeof nc);
	nc.compact_after = -1;
	nc.image_records = UINT64_MAX; /* RFT_IMAGE_RECORDS_DEFAULT */
	nc.ballast = -1; /* the computed default */
	fe_config_default(&fc);
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cluster = optarg;
			break;
		case 'i':
			id = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			data = optarg;
			break;
		case 'a':
			if (strcmp(optarg, "dev") == 0) {
				fc.auth_dev = true;
			} else if (strcmp(optarg, "jwt") == 0) {
				fc.auth_dev = false;
			} else {
				fprintf(stderr, "confabd: --auth dev or jwt\n");
				return 2;
			}
			break;
		case 'l':
			if (strcmp(optarg, "debug") == 0)
				level = CF_DIAG_DEBUG;
			else if (strcmp(optarg, "info") == 0)
				level = CF_DIAG_INFO;
			else if (strcmp(optarg, "warn") == 0)
				level = CF_DIAG_WARN;
			else if (strcmp(optarg, "error") == 0)
				level = CF_DIAG_ERROR;
			else {
				usage(stderr);
				return 2;
			}
			break;
		case 'P':
			fc.push_webhook = optarg;
			break;
		case 'g':
		case 'b':
		case 'w':
		case 'M':
		case 'r':
		case 'B':
		case 'H':
		case 'E':
		case 'T':
		case 'L':
		case 'R':
		case 'C':
		case 'S':
			/* --compact-after 0 turns the rule off. */
			if (parse_size(optarg, ch == 'C', &v) != 0) {
				fprintf(stderr, "confabd: bad number '%s'\n",
					optarg);
				return 2;
			}
			if (ch == 'g') {
				/* 3,000 ids of 128 bytes fit one Raft entry
				 * (512 KiB) with room to spare. */
				if (v < 2 || v > 3000) {
					fprintf(stderr, "confabd: --max-group is "
						"2 to 3000\n");
					return 2;
				}
				fc.max_group = (unsigned)v;
			} else if (ch == 'b')
				fc.max_body = v;
			else if (ch == 'w')
				fc.ws_max_buffer = v;
			else if (ch == 'M')
				fc.max_media = v;
			else if (ch == 'r' || ch == 'B') {
				if (v == 0 || v > 1000000) {
					fprintf(stderr, "confabd: --rate-limit "
						"and --rate-burst are 1 to "
						"1000000\n");
					return 2;
				}
				if (ch == 'r')
					fc.rate_limit = (unsigned)v;
				else
					fc.rate_burst = (unsigned)v;
			}
			else if (ch == 'H')
				nc.heartbeat_ms = (unsigned)v;
			else if (ch == 'E')
				nc.election_ms = (unsigned)v;
			else if (ch == 'T')
				nc.snapshot_threshold = (unsigned)v;
			else if (ch == 'R')
				nc.raft_memory = v;
			else if (ch == 'C' || ch == 'S') {
				if (v > 1024 || (ch == 'S' && v == 0)) {
					fprintf(stderr, "confabd: --compact-after "
						"is 0 to 1024, "
						"--compact-segments 1 to "
						"1024\n");
					return 2;
				}
				if (ch == 'C')
					nc.compact_after = (int)v;
				else
					nc.compact_segments = (unsigned)v;
			}
			else
				nc.snapshot_trailing = (unsigned)v;
			break;
		case 'W':
			fc.web_dir = optarg;
			break;
		case OPT_MAX_CONNS:
		case OPT_HEADER_TIMEOUT:
		case OPT_IDLE_TIMEOUT:
			if (conn_option(ch, optarg, &fc) != 0)
				return 2;
			break;
		case 'm':
		case 'A': {
			size_t len = strlen(optarg);
			uint64_t u;

			if (ch == 'm' && len > 1 && optarg[len - 1] == '%') {
				optarg[len - 1] = '\0';
				if (parse_size(optarg, false, &v) != 0 ||
				    v > 90) {
					fprintf(stderr, "confabd: --min-free is "
						"BYTES or 1%% to 90%%\n");
					return 2;
				}
				optarg[len - 1] = '%';
				nc.min_free_pct = (unsigned)v;
				break;
			}
			if (cf_parse_size(optarg, &u) != 0 ||
			    (ch == 'm' && u == 0)) {
				fprintf(stderr, "confabd: bad size '%s'\n",
					optarg);
				return 2;
			}
			if (ch == 'm')
				nc.min_free = u;
			else
				nc.ballast = (int64_t)u;
			break;
		}
		case OPT_PRESENCE_GROUP_MAX:
			if (parse_size(optarg, false, &v) != 0 || v < 2 ||
			    v > 3000) {
				fprintf(stderr, "confabd: --presence-group-max "
					"is 2 to 3000\n");
				return 2;
			}
			fc.presence_group_max = (unsigned)v;
			break;
		case OPT_IMAGE_RECORDS:
			/* 0: never (the store is read whole at each start) */
			if (parse_size(optarg, true, &v) != 0) {
				fprintf(stderr, "confabd: bad number '%s'\n",
					optarg);
				return 2;
			}
			nc.image_records = v;
			break;
		case OPT_IMAGE_INTERVAL:
			if (parse_size(optarg, false, &v) != 0 || v > 86400) {
				fprintf(stderr, "confabd: --image-interval is 1 "
					"to 86400 seconds\n");
				return 2;
			}
			nc.image_gap_ms = (uint64_t)v * 1000;
			break;
		case OPT_TEST_START_HOLD:
			test_start_hold = optarg;
			break;
		case OPT_FANOUT_QUEUE:
			if (parse_size(optarg, false, &v) != 0 || v < 1 ||
			    v > 1000000) {
				fprintf(stderr, "confabd: --fanout-queue is 1 "
					"to 1000000\n");
				return 2;
			}
			fc.fanout_queue = (unsigned)v;
			break;
		case OPT_TEST_FETCH_HOLD:
			test_fetch_hold = optarg;
			break;
		case OPT_SEARCH:
			if (strcmp(optarg, "on") != 0 &&
			    strcmp(optarg, "off") != 0) {
				fprintf(stderr, "confabd: --search is on or "
					"off\n");
				return 2;
			}
			fc.search_off = strcmp(optarg, "off") == 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("confabd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (cluster == NULL || data == NULL || id == 0 || optind != argc) {
		usage(stderr);
		return 2;
	}
	snprintf(tag, sizeof tag, "n%u", id);
	cf_diag_setup(tag, level);
	/* A dead peer must not kill us through a write (RAFT.md §0). */
	signal(SIGPIPE, SIG_IGN);
	/* A write past RLIMIT_FSIZE is a storage error (EFBIG), not a core. */
	signal(SIGXFSZ, SIG_IGN);

	rv = cf_cluster_load(&d.cluster, cluster, errmsg);
	if (rv != 0) {
		cf_error("cluster file: %s", errmsg);
		return 1;
	}
	me = cf_cluster_node(&d.cluster, id);
	if (me == NULL) {
		cf_error("node %u is not in %s", id, cluster);
		return 1;
	}
	daemon_fds(&d);
	if (fc.max_connections > d.fds.clients) {
		/* Past its descriptors a node would fail accepts (EMFILE)
		 * instead of refusing cleanly: the cap follows the budget. */
		unsigned cap = d.fds.clients > 16 ? (unsigned)d.fds.clients
						   : 16;

		cf_warn("--max-connections %u is more than the %llu "
			"descriptors left for client connections: using %u",
			fc.max_connections,
			(unsigned long long)d.fds.clients, cap);
		fc.max_connections = cap;
	}
	if (fc.auth_dev && strncmp(me->client_addr, "127.", 4) != 0) {
		cf_error("--auth dev is only allowed on loopback addresses, "
			 "not %s",
			 me->client_addr);
		return 1;
	}
	uv_loop_init(&d.loop);
	rv = cf_lag_start(&d.lag, &d.loop);
	if (rv != 0) {
		cf_error("loop lag probe: %s", uv_strerror(rv));
		return 1;
	}
	d.argv = argv;
	fc.data_dir = data;
	fe_server_init(&d.server, &d.loop, &d.cluster, id, &fc);
	d.server.metrics.loop_lag = &d.lag;
	uv_signal_init(&d.loop, &d.sigterm);
	uv_signal_init(&d.loop, &d.sigint);
	d.sigterm.data = &d;
	d.sigint.data = &d;
	uv_signal_start(&d.sigterm, daemon_signal_cb, SIGTERM);
	uv_signal_start(&d.sigint, daemon_signal_cb, SIGINT);
	nc.cluster = &d.cluster;
	nc.self = id;
	nc.data_dir = data;
	nc.on_record = fe_server_on_record;
	nc.on_record_arg = &d.server;
	nc.on_rebuild = fe_server_on_rebuild;
	nc.on_reset = fe_server_on_reset;
	nc.on_rebuilt = fe_server_on_rebuilt;
	nc.on_rebuilding = fe_server_on_rebuilding;
	nc.on_image_write = fe_server_image_write;
	nc.on_image_read = fe_server_image_read;
	nc.on_user_msg = daemon_user_msg_cb;
	nc.on_halt = daemon_halt_cb;
	nc.data = &d;
	nc.test_start_hold = test_start_hold;
	nc.test_fetch_hold = test_fetch_hold;
	/*
	 * Issue 11: the folder's lock now (a second process on it says so),
	 * the store's open and rebuild in the thread pool, and meanwhile the
	 * client port answers /healthz; daemon_opened_cb does the rest.
	 */
	rv = rft_node_open(&d.node, &d.loop, &nc, daemon_opened_cb, errmsg);
	if (rv != 0) {
		cf_error("%s", errmsg);
		/* Room for raft's next segments (rft_disk.h's floor, x2). */
		start_failed_wait(data, 2 * (16ull << 20), argv);
		return 1;
	}
	rv = fe_server_listen(&d.server, errmsg);
	if (rv != 0) {
		cf_error("%s", errmsg);
		d.exit_code = 1;
		daemon_stop(&d); /* once the open ended */
	}
	uv_run(&d.loop, UV_RUN_DEFAULT);
	fe_server_release(&d.server);
	rv = uv_loop_close(&d.loop);
	if (rv != 0)
		cf_warn("loop closed with handles open: %s", uv_strerror(rv));
	if (d.start_failed) {
		/* Room for raft's next segments (rft_disk.h's floor, x2). */
		start_failed_wait(data, 2 * (16ull << 20), argv);
		return 1;
	}
	cf_info("stopped");
	if (d.reexec)
		daemon_reexec(argv); /* returns only if exec failed */
	return d.exit_code;
}
