/*
 * confabd: one Confab node. Thin: parse options, build the Raft node and the
 * frontend on one libuv loop, run, and tear down in order on SIGTERM/SIGINT
 * (stop listening and close client connections, close raft, checkpoint the
 * store, close the remaining handles; the loop then returns).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/cf_conf.h"
#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "frontend/fe_server.h"
#include "raft/rft_node.h"

struct daemon {
	uv_loop_t loop;
	struct cf_cluster cluster;
	struct rft_node node;
	struct fe_server server;
	uv_signal_t sigterm;
	uv_signal_t sigint;
	bool stopping;
	int exit_code;
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
		"               [--presence-group-max N]\n"
		"       confabd --help | --version\n");
}

static void daemon_node_closed_cb(struct rft_node *n)
{
	struct daemon *d = n->data;

	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
}

static void daemon_server_closed_cb(struct fe_server *s)
{
	struct daemon *d = CF_CONTAINER_OF(s, struct daemon, server);

	rft_node_close(&d->node, daemon_node_closed_cb);
}

static void daemon_signal_cb(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	if (d->stopping)
		return;
	d->stopping = true;
	cf_info("signal %d: shutting down", signum);
	fe_server_close(&d->server, daemon_server_closed_cb);
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

/* Options without a letter (issue 11: presence). */
enum {
	OPT_PRESENCE_GROUP_MAX = 1100,
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
		{"presence-group-max", required_argument, NULL,
		 OPT_PRESENCE_GROUP_MAX},
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
	enum cf_diag_level level = CF_DIAG_INFO;
	unsigned id = 0;
	char tag[16];
	size_t v;
	int ch;
	int rv;

	memset(&nc, 0, sizeof nc);
	nc.compact_after = -1;
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
		case OPT_PRESENCE_GROUP_MAX:
			if (parse_size(optarg, false, &v) != 0 || v < 2 ||
			    v > 3000) {
				fprintf(stderr, "confabd: --presence-group-max "
					"is 2 to 3000\n");
				return 2;
			}
			fc.presence_group_max = (unsigned)v;
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
	if (fc.auth_dev && strncmp(me->client_addr, "127.", 4) != 0) {
		cf_error("--auth dev is only allowed on loopback addresses, "
			 "not %s",
			 me->client_addr);
		return 1;
	}
	uv_loop_init(&d.loop);
	fc.data_dir = data;
	fe_server_init(&d.server, &d.loop, &d.cluster, id, &fc);
	nc.cluster = &d.cluster;
	nc.self = id;
	nc.data_dir = data;
	nc.on_record = fe_server_on_record;
	nc.on_record_arg = &d.server;
	nc.on_rebuild = fe_server_on_rebuild;
	nc.on_reset = fe_server_on_reset;
	nc.on_rebuilt = fe_server_on_rebuilt;
	nc.on_user_msg = daemon_user_msg_cb;
	nc.data = &d;
	rv = rft_node_init(&d.node, &d.loop, &nc, errmsg);
	if (rv != 0) {
		cf_error("%s", errmsg);
		return 1;
	}
	fe_server_attach(&d.server, &d.node);
	rv = rft_node_start(&d.node, errmsg);
	if (rv == 0)
		rv = fe_server_start(&d.server, errmsg);
	if (rv != 0) {
		cf_error("%s", errmsg);
		return 1;
	}
	uv_signal_init(&d.loop, &d.sigterm);
	uv_signal_init(&d.loop, &d.sigint);
	d.sigterm.data = &d;
	d.sigint.data = &d;
	uv_signal_start(&d.sigterm, daemon_signal_cb, SIGTERM);
	uv_signal_start(&d.sigint, daemon_signal_cb, SIGINT);
	cf_info("node %u up: raft %s, peer %s, client %s", id, me->raft_addr,
		me->peer_addr, me->client_url);
	uv_run(&d.loop, UV_RUN_DEFAULT);
	fe_server_release(&d.server);
	rv = uv_loop_close(&d.loop);
	if (rv != 0)
		cf_warn("loop closed with handles open: %s", uv_strerror(rv));
	cf_info("stopped");
	return d.exit_code;
}
