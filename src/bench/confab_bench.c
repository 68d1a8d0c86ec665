#include "config.h"

/*
 * confab-bench: a closed-loop load generator for POST /v1/messages.
 *
 * This file reads the options and hands them to the mode's file. The
 * default mode (bench_sendhttp.c): --concurrency keep-alive HTTP/1.1
 * connections spread round robin over the --url nodes, one request in
 * flight each, after --warmup seconds a window of --seconds; one JSON line
 * on stdout whose keys every mode shares (mode, conc, ops_s, p50_ms,
 * p99_ms, errors, total) and, for the modes that count acks or
 * deliveries, client_cpu_s and with --pid server_cpu_s and
 * server_cpu_us_per_ack (bench_cpu.h). Runs planned longer than 10 s write
 * a progress line on stderr every 5 s.
 *
 * The sends go over HTTP (bench_sendhttp.c), or with --ws over WebSockets
 * (bench_sendws.c): --concurrency sends in flight over --sockets
 * connections (default: as many as --concurrency; fewer pipeline them).
 *
 * --fanout N selects the group fan-out mode instead (bench_fanout.c): one
 * group of N members with a WebSocket each, send->ack, send->delivery and
 * commit->delivery; --rate R paces its sends (default: closed loop over
 * --concurrency connections).
 *
 * --history N selects the history read mode instead (bench_history.c): N
 * pages of --limit messages at random places of the --user's
 * conversations, over --concurrency connections (default 1 in this mode).
 *
 * --idle N selects the idle WebSocket mode instead (bench_idle.c): N silent
 * WebSockets on the first --url node, its resident memory and connection
 * buffers read from /metrics before and --seconds (default 3 in this mode)
 * after they are all open, per socket.
 *
 * --search N selects the search mode instead (bench_search.c): N queries
 * of --terms words (default 1) of the synthetic vocabulary that
 * tests/bench/gen_cluster -T writes, as --user, --limit results each
 * (default 20 in this mode), over --concurrency connections (default 1).
 *
 * --sync N selects the catch-up mode instead (bench_sync.c): --user is
 * offline while N messages reach its conversations, then catches up with
 * GET /v1/sync pages of --limit (default 500).
 *
 * --procs P (with --fanout or --idle) spreads the sockets over P forked
 * processes (bench_fanmp.c, bench_fanmp_child.c), for thousands of them.
 */

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "bench/bench_cpu.h"
#include "bench/bench_fanmp.h"
#include "bench/bench_fanout.h"
#include "bench/bench_history.h"
#include "bench/bench_lat.h"
#include "bench/bench_search.h"
#include "bench/bench_http.h"
#include "bench/bench_idle.h"
#include "bench/bench_sendhttp.h"
#include "bench/bench_sendws.h"
#include "bench/bench_sync.h"
#include "common/cf_buf.h"
#include "common/cf_time.h"

#define MAX_URLS 16

struct bench {
	struct sockaddr_in addrs[MAX_URLS];
	char hosts[MAX_URLS][80]; /* "127.0.0.1:8001", the Host header */
	unsigned n_urls;
	unsigned conc, seconds, warmup, size, n_convs;
	unsigned fanout, rate; /* --fanout mode (bench_fanout.c) */
	unsigned history, limit, seed; /* --history mode (bench_history.c) */
	unsigned idle; /* --idle mode (bench_idle.c) */
	unsigned search, terms, users; /* --search mode (bench_search.c) */
	unsigned ws, sockets; /* --ws send mode (bench_sendws.c) */
	unsigned sync;	      /* --sync mode (bench_sync.c) */
	unsigned procs, group_max; /* --procs fan-out (bench_fanmp.c) */
	struct bench_cpu cpu; /* --pid */
	int limit_set, user_set;
	const char *user;
	int conc_set, seconds_set;
	char run_id[32];
};

static void usage(FILE *f)
{
	fprintf(f, "usage: confab-bench [--url URL ...] [--concurrency C] "
		   "[--seconds S] [--warmup W]\n"
		   "                    [--size BYTES] [--conversations K]\n"
		   "                    [--ws] [--sockets S] [--pid PID ...]\n"
		   "       confab-bench --fanout N [--url URL ...] [--rate R | "
		   "--concurrency C]\n"
		   "                    [--seconds S] [--warmup W] "
		   "[--size BYTES]\n"
		   "                    [--procs P [--group-max M]] "
		   "[--pid PID ...]\n"
		   "       confab-bench --sync N [--url URL ...] [--user ID] "
		   "[--limit L]\n"
		   "                    [--size BYTES] [--pid PID ...]\n"
		   "       confab-bench --history N [--url URL ...] "
		   "[--concurrency C] [--limit L]\n"
		   "                    [--user ID] [--seed S]\n"
		   "       confab-bench --idle N [--url URL] [--seconds S] "
		   "[--procs P]\n"
		   "       confab-bench --search N [--url URL ...] [--terms K] "
		   "[--concurrency C]\n"
		   "                    [--limit L] [--user ID | --users U] "
		   "[--seed S]\n");
}

static int add_url(struct bench *b, const char *url)
{
	const char *p = url, *colon;
	char ip[64];
	size_t hl;
	int port;

	if (b->n_urls == MAX_URLS)
		return -1;
	if (strncmp(p, "http://", 7) == 0)
		p += 7;
	colon = strchr(p, ':');
	if (colon == NULL || (hl = (size_t)(colon - p)) >= sizeof ip)
		return -1;
	memcpy(ip, p, hl);
	ip[hl] = '\0';
	port = atoi(colon + 1);
	if (port <= 0 || port > 65535 ||
	    uv_ip4_addr(ip, port, &b->addrs[b->n_urls]) != 0)
		return -1;
	snprintf(b->hosts[b->n_urls], sizeof b->hosts[0], "%s:%d", ip, port);
	b->n_urls++;
	return 0;
}

static int parse_uint(const char *s, unsigned min, unsigned max,
		      unsigned *out)
{
	char *e;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &e, 10);
	if (*s == '\0' || *e != '\0' || errno != 0 || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_args(struct bench *b, int argc, char **argv)
{
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},
		{"concurrency", required_argument, NULL, 'c'},
		{"seconds", required_argument, NULL, 's'},
		{"warmup", required_argument, NULL, 'w'},
		{"size", required_argument, NULL, 'z'},
		{"conversations", required_argument, NULL, 'k'},
		{"fanout", required_argument, NULL, 'f'},
		{"rate", required_argument, NULL, 'r'},
		{"history", required_argument, NULL, 'H'},
		{"limit", required_argument, NULL, 'l'},
		{"user", required_argument, NULL, 'U'},
		{"seed", required_argument, NULL, 'S'},
		{"idle", required_argument, NULL, 'I'},
		{"search", required_argument, NULL, 'Q'},
		{"terms", required_argument, NULL, 'T'},
		{"users", required_argument, NULL, 'N'},
		{"ws", no_argument, NULL, 'W'},
		{"sockets", required_argument, NULL, 'K'},
		{"pid", required_argument, NULL, 'P'},
		{"sync", required_argument, NULL, 'Y'},
		{"procs", required_argument, NULL, 'p'},
		{"group-max", required_argument, NULL, 'G'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch, rv = 0;

	while (rv == 0 &&
	       (ch = getopt_long(argc, argv, "u:c:s:w:z:k:f:r:H:l:U:S:I:Q:T:N:WK:P:Y:p:G:h", opts,
				 NULL)) != -1) {
		switch (ch) {
		case 'u':
			rv = add_url(b, optarg);
			break;
		case 'c':
			rv = parse_uint(optarg, 1, 100000, &b->conc);
			b->conc_set = 1;
			break;
		case 's':
			rv = parse_uint(optarg, 1, 86400, &b->seconds);
			b->seconds_set = 1;
			break;
		case 'w':
			rv = parse_uint(optarg, 0, 3600, &b->warmup);
			break;
		case 'z':
			rv = parse_uint(optarg, 0, 100000, &b->size);
			break;
		case 'k':
			rv = parse_uint(optarg, 1, 100000, &b->n_convs);
			break;
		case 'f':
			rv = parse_uint(optarg, 2, 100000, &b->fanout);
			break;
		case 'r':
			rv = parse_uint(optarg, 1, 1000000, &b->rate);
			break;
		case 'H':
			rv = parse_uint(optarg, 1, 10000000, &b->history);
			break;
		case 'l':
			rv = parse_uint(optarg, 1, 200, &b->limit);
			b->limit_set = 1;
			break;
		case 'Q':
			rv = parse_uint(optarg, 1, 10000000, &b->search);
			break;
		case 'T':
			rv = parse_uint(optarg, 1, 4, &b->terms);
			break;
		case 'N':
			rv = parse_uint(optarg, 1, 10000000, &b->users);
			break;
		case 'U':
			rv = strlen(optarg) >= 1 && strlen(optarg) <= 128 &&
					     strspn(optarg,
						    "abcdefghijklmnopqrstuvwxyz"
						    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
						    "0123456789._:@-") ==
						     strlen(optarg)
				     ? 0
				     : -1;
			b->user = optarg;
			b->user_set = 1;
			break;
		case 'S':
			rv = parse_uint(optarg, 0, 0xffffffffu, &b->seed);
			break;
		case 'I':
			rv = parse_uint(optarg, 1, 1000000, &b->idle);
			break;
		case 'W':
			b->ws = 1;
			break;
		case 'K':
			rv = parse_uint(optarg, 1, 100000, &b->sockets);
			break;
		case 'P': {
			unsigned pid;

			rv = parse_uint(optarg, 1, 0x7fffffff, &pid);
			if (rv == 0)
				rv = bench_cpu_add_pid(&b->cpu, (long)pid);
			break;
		}
		case 'Y':
			rv = parse_uint(optarg, 1, 10000000, &b->sync);
			break;
		case 'p':
			rv = parse_uint(optarg, 1, 64, &b->procs);
			break;
		case 'G':
			rv = parse_uint(optarg, 2, 100000, &b->group_max);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			rv = -1;
		}
		if (rv != 0 && ch != '?')
			fprintf(stderr, "confab-bench: bad value for -%c: %s\n",
				ch, optarg);
	}
	if (rv == 0 && optind != argc)
		rv = -1;
	if (rv == 0 && b->n_urls == 0)
		rv = add_url(b, "http://127.0.0.1:8001");
	return rv;
}

/* The --url nodes as the other modes take them (t: MAX_URLS). */
static void targets_of(const struct bench *b, struct bh_target *t)
{
	for (unsigned i = 0; i < b->n_urls; i++) {
		t[i].addr = b->addrs[i];
		snprintf(t[i].host, sizeof t[i].host, "%s", b->hosts[i]);
	}
}

/* --fanout --procs: hand the parsed options to bench_fanmp.c. */
static int run_fanmp(struct bench *b)
{
	struct bh_target t[MAX_URLS];
	struct bfmp_opts o;

	targets_of(b, t);
	memset(&o, 0, sizeof o);
	o.targets = t;
	o.n_targets = b->n_urls;
	o.sockets = b->fanout;
	o.procs = b->procs;
	o.group_max = b->group_max > 0 ? b->group_max : 500;
	o.seconds = b->seconds;
	o.warmup = b->warmup;
	o.size = b->size;
	o.rate = b->rate > 0 ? b->rate : 10;
	o.run_id = b->run_id;
	o.cpu = &b->cpu;
	return bench_fanmp_run(&o);
}

/* --fanout: hand the parsed options to bench_fanout.c. */
static int run_fanout(struct bench *b)
{
	struct bh_target t[MAX_URLS];
	struct bf_opts o;

	_Static_assert(MAX_URLS <= BH_MAX_TARGETS, "bench_fanout's node cap");
	if (b->fanout == 0) {
		fprintf(stderr, "confab-bench: --rate needs --fanout\n");
		return 2;
	}
	if (b->procs > 0)
		return run_fanmp(b);
	targets_of(b, t);
	memset(&o, 0, sizeof o);
	o.targets = t;
	o.n_targets = b->n_urls;
	o.members = b->fanout;
	o.seconds = b->seconds;
	o.warmup = b->warmup;
	o.size = b->size;
	o.rate = b->rate;
	o.conc = b->conc;
	o.run_id = b->run_id;
	o.cpu = &b->cpu;
	return bench_fanout_run(&o);
}

/* --history: hand the parsed options to bench_history.c. */
static int run_history(const struct bench *b)
{
	struct bh_target t[MAX_URLS];
	struct bhist_opts o;

	targets_of(b, t);
	memset(&o, 0, sizeof o);
	o.targets = t;
	o.n_targets = b->n_urls;
	o.requests = b->history;
	o.warmup = b->history < 200 ? b->history : 200;
	o.conc = b->conc_set ? b->conc : 1;
	o.limit = b->limit;
	o.seed = b->seed;
	o.user = b->user;
	return bench_history_run(&o);
}

/* --ws: hand the parsed options to bench_sendws.c. */
static int run_ws(struct bench *b)
{
	struct bh_target t[MAX_URLS];
	struct bsendws_opts o;

	targets_of(b, t);
	memset(&o, 0, sizeof o);
	o.targets = t;
	o.n_targets = b->n_urls;
	o.conc = b->conc;
	/* More sockets than sends in flight: one send each. */
	o.sockets = b->sockets > 0 && b->sockets < b->conc ? b->sockets
							   : b->conc;
	o.seconds = b->seconds;
	o.warmup = b->warmup;
	o.size = b->size;
	o.run_id = b->run_id;
	o.cpu = &b->cpu;
	return bench_sendws_run(&o);
}

/* --sync: hand the parsed options to bench_sync.c. */
static int run_sync(struct bench *b)
{
	struct bh_target t[MAX_URLS];
	struct bsync_opts o;

	targets_of(b, t);
	memset(&o, 0, sizeof o);
	o.targets = t;
	o.n_targets = b->n_urls;
	o.messages = b->sync;
	o.limit = b->limit_set ? b->limit : 500;
	o.size = b->size;
	o.conc = b->conc_set ? b->conc : 16;
	o.convs = b->n_convs;
	o.user = b->user_set ? b->user : NULL;
	o.run_id = b->run_id;
	o.cpu = &b->cpu;
	return bench_sync_run(&o);
}

/* The default mode: hand the parsed options to bench_sendhttp.c. */
static int run_send(struct bench *b)
{
	struct bh_target t[MAX_URLS];
	struct bsendhttp_opts o;

	targets_of(b, t);
	memset(&o, 0, sizeof o);
	o.targets = t;
	o.n_targets = b->n_urls;
	o.conc = b->conc;
	/* More sockets than requests in flight: one request each. */
	o.sockets = b->sockets > 0 && b->sockets < b->conc ? b->sockets
							   : b->conc;
	o.seconds = b->seconds;
	o.warmup = b->warmup;
	o.size = b->size;
	o.n_convs = b->n_convs;
	o.run_id = b->run_id;
	o.cpu = &b->cpu;
	return bench_sendhttp_run(&o);
}

/* --search: hand the parsed options to bench_search.c. */
static int run_search(const struct bench *b)
{
	struct bh_target t[MAX_URLS];
	struct bsearch_opts o;

	targets_of(b, t);
	memset(&o, 0, sizeof o);
	o.targets = t;
	o.n_targets = b->n_urls;
	o.requests = b->search;
	o.warmup = b->search < 100 ? b->search : 100;
	o.conc = b->conc_set ? b->conc : 1;
	o.limit = b->limit_set ? b->limit : 20;
	o.terms = b->terms > 0 ? b->terms : 1;
	o.rank_lo = 20;	  /* past the commonest words, */
	o.rank_hi = 2000; /* among those that many texts hold */
	o.seed = b->seed;
	o.user = b->user;
	o.users = b->users;
	return bench_search_run(&o);
}

/* --idle: hand the parsed options to bench_idle.c (the first --url). */
static int run_idle(const struct bench *b)
{
	struct bh_target t[MAX_URLS];
	struct bidle_opts o;

	targets_of(b, t);
	memset(&o, 0, sizeof o);
	o.target = &t[0];
	o.sockets = b->idle;
	o.settle = b->seconds_set ? b->seconds : 3;
	o.procs = b->procs;
	o.run_id = b->run_id;
	return bench_idle_run(&o);
}

int main(int argc, char **argv)
{
	struct bench b;

	memset(&b, 0, sizeof b);
	b.conc = 16;
	b.seconds = 8;
	b.warmup = 1;
	b.size = 200;
	b.n_convs = 16;
	b.limit = 50;
	b.user = "bench";
	if (parse_args(&b, argc, argv) != 0) {
		usage(stderr);
		return 2;
	}
	snprintf(b.run_id, sizeof b.run_id, "%llx%x",
		 (unsigned long long)(cf_wall_ms() % 0xffffffffu),
		 (unsigned)getpid());
	if ((b.history > 0) + (b.fanout > 0 || b.rate > 0) + (b.idle > 0) +
		    (b.search > 0) + (b.ws > 0) + (b.sync > 0) >
	    1) {
		fprintf(stderr, "confab-bench: --history, --fanout, --idle, "
				"--search, --ws and --sync are separate modes\n");
		return 2;
	}
	if ((b.sockets > 0 && (b.fanout > 0 || b.idle > 0 || b.sync > 0 ||
			       b.history > 0 || b.search > 0)) ||
	    (b.procs > 0 && b.fanout == 0 && b.idle == 0) ||
	    (b.group_max > 0 && (b.procs == 0 || b.fanout == 0))) {
		fprintf(stderr, "confab-bench: --sockets goes with the send "
				"modes (HTTP or --ws), --procs with --fanout or\n"
				"--idle, --group-max with --fanout --procs\n");
		return 2;
	}
	if (b.ws)
		return run_ws(&b);
	if (b.sync > 0)
		return run_sync(&b);
	if (b.search > 0)
		return run_search(&b);
	if (b.idle > 0)
		return run_idle(&b);
	if (b.history > 0)
		return run_history(&b);
	if (b.fanout > 0 || b.rate > 0)
		return run_fanout(&b);
	return run_send(&b);
}
