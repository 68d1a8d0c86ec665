#include "config.h"

/*
 * gen_cluster: a node's data folder holding N messages, written with the
 * store's own code, for a cluster to start on (issue 11, "Figures for the
 * closing note": writing 10 M messages through a running cluster takes
 * hours on this machine, this takes about a minute).
 *
 * Given the cluster file (cf_conf.h) and a data folder (what confabd's
 * --data names), it writes:
 *
 *   DATA/store  the store in the shape confabd opens it with (the cluster
 *               file's partitions, segment-size and seal-age), through the
 *               real apply path (rft_fsm_apply_entry, entries of 256
 *               commands from index 2 on, as raft numbers them after its
 *               bootstrap entry): C groups of M members among U users
 *               ("g<c>" of "u<k>", as tests/bench/bench_mem.c), then N
 *               sends spread over them, sent by their members in turn,
 *               with entry times over the SPAN hours up to now (every key
 *               inside the idempotency window by default: the worst case);
 *               the frontend's indexes (inbox, media) are fed every record
 *               as a node's rebuild feeds them (fe_server_on_rebuild, then
 *               fe_server_on_rebuilt), a state image is written by the
 *               FSM's forked writer with the frontend's sections
 *               (fe_server_image_write), and a checkpoint names it: a node
 *               that starts loads it ("store: state image at N loaded")
 *               instead of reading every record;
 *   DATA/raft   raft 0.15's folder (raft_uv) as a node leaves it after a
 *               snapshot: metadata at term 1 with no vote, and a snapshot
 *               at the store's applied index, term 1, holding the cluster's
 *               voters (configuration index 1, the bootstrap entry's) and
 *               the FSM's own snapshot bytes (the 40-byte manifest
 *               reference of rft_fsm.c, from its raft_fsm's snapshot(),
 *               snapshot_async() and snapshot_finalize()). raft_start then
 *               restores it (at the store's applied index: nothing to do),
 *               and rft_node_start's bootstrap answers RAFT_CANTBOOTSTRAP
 *               (term is not 0), which the node tolerates.
 *
 * Every node of a cluster holds the same store and the same raft snapshot:
 * copy DATA to the other nodes' folders before they first start
 * (scripts/bench-start.sh does). The folder must not hold a store or raft
 * files yet; its lock is held meanwhile (a node running on it is refused).
 *
 * Usage: gen_cluster -c CLUSTER_FILE -d DATA [-n N] [-C C] [-u U] [-m M]
 *                    [-s SPAN_HOURS] [-T]
 * (defaults: 10,000,000 messages, 100,000 conversations, 10,000 users,
 * 3 members, span 23 h). -T writes varied texts (src/bench/bench_words.h:
 * Zipf-distributed words, some accents, some Han runs) instead of one fixed
 * text, for search figures. It prints the figures of the apply path's heap
 * (bytes per message by structure), the applied index and one
 * conversation to check ("check g0 u0 LASTSEQ"). Not a test; built by
 * make check, not run.
 */

#define _XOPEN_SOURCE 700
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "bench/bench_words.h"
#include "common/cf_conf.h"
#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_lock.h"
#include "common/cf_mem.h"
#include "frontend/fe_server.h"
#include "log/log_store.h"
#include "raft/rft_cmd.h"
#include "raft/rft_fsm.h"

#define PER_ENTRY 256u
#define HOUR_MS (3600ull * 1000)
#define RAFT_TERM 1u
#define IMAGE_WAIT_S 3600 /* the forked writer's bound */

struct opts {
	const char *cluster, *data;
	uint64_t n, span_ms;
	unsigned convs, users, members;
	bool texts; /* -T: varied texts (bench_words.h) */
};

struct gen {
	struct opts o;
	struct cf_cluster cl;
	uv_loop_t loop;
	struct fe_server srv;
	struct rft_fsm *fsm;
	uint64_t index;	     /* last entry applied */
	uint64_t t_end;	     /* entry time of the last send */
	uint8_t snap[64];    /* the FSM's snapshot bytes */
	size_t snap_len;
	struct cf_buf out, cmd, list;
	struct rft_batch b;
};

static uint64_t heap_now(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void die(const char *what, int rv)
{
	fprintf(stderr, "gen_cluster: %s: %s\n", what, cf_strerror(rv));
	exit(1);
}

static void die_msg(const char *what, const char *msg)
{
	fprintf(stderr, "gen_cluster: %s: %s\n", what, msg);
	exit(1);
}

/* Conversation of message i: uniform, as a busy store sees it. */
static unsigned conv_of(uint64_t i, unsigned convs)
{
	return (unsigned)((i * 2654435761u) % convs);
}

/* Member k of conversation c (k = 0: its owner). */
static void member_of(const struct opts *o, unsigned c, unsigned k,
		      char *buf, size_t len)
{
	snprintf(buf, len, "u%u", (unsigned)(((uint64_t)c * o->members + k) %
					     o->users));
}

/* ---- the store, through the apply path ---- */

/* The node's hooks, as its rebuild on open calls them. */
static void on_record_cb(void *arg, const struct log_record *rec,
			 const struct rft_conv *conv)
{
	fe_server_on_rebuild(arg, rec, conv);
}

static void batch_begin(struct gen *g)
{
	g->out.len = 0;
	if (rft_batch_begin(&g->b, &g->out) != 0)
		die("batch", -ENOMEM);
}

static void batch_add(struct gen *g, const struct rft_cmd *c)
{
	g->cmd.len = 0;
	if (rft_cmd_encode(c, &g->cmd) != 0 ||
	    rft_batch_add(&g->b, g->cmd.data, g->cmd.len) != 0)
		die("encode", -ENOMEM);
}

static void batch_apply(struct gen *g, uint64_t ts)
{
	unsigned n;
	const struct rft_result *res;

	if (rft_batch_finish(&g->b, ts) != 0)
		die("batch", -ENOMEM);
	rft_fsm_apply_entry(g->fsm, ++g->index, g->out.data, g->out.len);
	res = rft_fsm_results(g->fsm, &n, NULL);
	for (unsigned k = 0; k < n; k++)
		if (res[k].status != 0)
			die("apply: a command was refused", res[k].status);
}

static void open_store(struct gen *g, const char *store_dir)
{
	struct rft_fsm_config fc;
	char errmsg[CF_ERRMSG_SIZE];
	int rv;

	/* What rft__node_begin (rft_node.c) and confabd give the FSM. */
	memset(&fc, 0, sizeof(fc));
	fc.store.dir = store_dir;
	fc.store.partitions = g->cl.partitions;
	fc.store.seal_bytes = g->cl.segment_size;
	fc.store.seal_age_ms = g->cl.seal_age_ms;
	fc.on_record = on_record_cb;
	fc.on_record_arg = &g->srv;
	fc.on_rebuild = fe_server_on_rebuild;
	fc.on_reset = fe_server_on_reset;
	fc.on_rebuilt = fe_server_on_rebuilt;
	fc.on_image_write = fe_server_image_write;
	fc.on_image_read = fe_server_image_read;
	rv = rft_fsm_open(&g->fsm, &fc, errmsg);
	if (rv != 0)
		die_msg("store", errmsg);
	if (rft_fsm_applied(g->fsm) != 0)
		die_msg("store", "the folder already holds a store");
}

static void write_convs(struct gen *g, uint64_t ts)
{
	const struct opts *o = &g->o;
	struct cf_str *ids = calloc(o->members, sizeof(*ids));
	char *names = malloc((size_t)o->members * 16), conv[16];
	unsigned c = 0;

	if (ids == NULL || names == NULL)
		die("conversations", -ENOMEM);
	while (c < o->convs) {
		batch_begin(g);
		for (unsigned n = 0; n < PER_ENTRY && c < o->convs; n++, c++) {
			struct rft_cmd cmd = {0};

			for (unsigned k = 0; k < o->members; k++) {
				member_of(o, c, k, names + k * 16, 16);
				ids[k] = cf_str_c(names + k * 16);
			}
			g->list.len = 0;
			/* The others: the caller is implied (rft_cmd.h). */
			if (rft_idlist_encode(&g->list, ids + 1,
					      o->members - 1) != 0)
				die("conversations", -ENOMEM);
			snprintf(conv, sizeof(conv), "g%u", c);
			cmd.type = RFT_CMD_CREATE;
			cmd.origin = 1;
			cmd.user = ids[0];
			cmd.conv = cf_str_c(conv);
			cmd.conv_type = RFT_CONV_GROUP;
			cmd.members = (struct cf_str){g->list.data, g->list.len};
			batch_add(g, &cmd);
		}
		batch_apply(g, ts);
	}
	free(ids);
	free(names);
}

static void write_messages(struct gen *g, uint64_t t0)
{
	const struct opts *o = &g->o;
	char conv[16], user[16], id[24], text[400];
	uint64_t i = 0, rng = 0x2545f4914f6cdd1dull;

	while (i < o->n) {
		uint64_t ts = t0 + o->span_ms * i / o->n;

		batch_begin(g);
		for (unsigned n = 0; n < PER_ENTRY && i < o->n; n++, i++) {
			struct rft_cmd cmd = {0};
			unsigned c = conv_of(i, o->convs);

			snprintf(conv, sizeof(conv), "g%u", c);
			/* Members take turns (i / convs: the c's round). */
			member_of(o, c, (unsigned)((i / o->convs) % o->members),
				  user, sizeof(user));
			snprintf(id, sizeof(id), "m%" PRIu64, i);
			cmd.type = RFT_CMD_SEND;
			cmd.origin = 1;
			cmd.user = cf_str_c(user);
			cmd.conv = cf_str_c(conv);
			cmd.client_msg_id = cf_str_c(id);
			cmd.msg_type = CF_STR_LIT("text");
			cmd.content = CF_STR_LIT("a message of some words");
			if (o->texts) {
				size_t tl = bench_text(&rng, text, sizeof text);

				cmd.content = (struct cf_str){text, tl};
			}
			batch_add(g, &cmd);
		}
		batch_apply(g, ts);
		if ((g->index & 4095) == 0)
			fprintf(stderr, "gen_cluster: %" PRIu64 " of %" PRIu64
					" messages\r", i, o->n);
	}
	fprintf(stderr, "\n");
}

/* The state image, by the FSM's forked writer; a checkpoint names it. */
static void write_image(struct gen *g)
{
	struct rft_fsm_stats st;
	char errmsg[CF_ERRMSG_SIZE];
	double t = now_s();
	int rv, waited = 0;

	rv = rft_fsm_image_start(g->fsm);
	if (rv != 0)
		die("state image", rv);
	while (rft_fsm_image_poll(g->fsm)) {
		if (++waited > IMAGE_WAIT_S * 10) {
			rft_fsm_image_stop(g->fsm);
			die("state image", -ETIMEDOUT);
		}
		usleep(100000);
	}
	rv = rft_fsm_checkpoint(g->fsm, errmsg);
	if (rv != 0)
		die_msg("checkpoint", errmsg);
	rft_fsm_stats(g->fsm, &st);
	if (st.images != 1 || st.image_index != g->index)
		die_msg("state image", "the writer failed (see above)");
	printf("image    at %" PRIu64 ", written by a forked child in "
	       "%.1f s\n", st.image_index, now_s() - t);
}

/*
 * The FSM's snapshot bytes, as raft takes them (raft_fsm version 3, no
 * async_work here: snapshot_async is called in line): the checkpoint runs
 * once more, at the same index.
 */
static void take_snapshot(struct gen *g)
{
	struct raft_fsm *rf = rft_fsm_raft(g->fsm);
	struct raft_buffer *bufs = NULL;
	unsigned n = 0;
	int rv;

	rv = rf->snapshot(rf, &bufs, &n);
	if (rv != 0 || n != 1 || bufs[0].len > sizeof(g->snap))
		die_msg("snapshot", rv != 0 ? raft_strerror(rv) : "shape");
	rv = rf->snapshot_async(rf, &bufs, &n);
	if (rv == 0) {
		memcpy(g->snap, bufs[0].base, bufs[0].len);
		g->snap_len = bufs[0].len;
	}
	rf->snapshot_finalize(rf, &bufs, &n);
	if (rv != 0)
		die_msg("snapshot", raft_strerror(rv));
}

static void gen_store(struct gen *g, const char *store_dir)
{
	const struct opts *o = &g->o;
	struct rft_fsm_stats fst;
	struct log_store_stats lst;
	uint64_t h0, h1, h2, t0;
	double t = now_s();

	g->t_end = wall_ms();
	t0 = g->t_end - o->span_ms;
	h0 = heap_now();
	open_store(g, store_dir);
	g->index = 1; /* raft's bootstrap entry */
	write_convs(g, t0);
	h1 = heap_now();
	write_messages(g, t0);
	fe_server_on_rebuilt(&g->srv);
	h2 = heap_now();
	rft_fsm_stats(g->fsm, &fst);
	log_store_stats(rft_fsm_store(g->fsm), &lst);
	if (fst.messages != o->n) {
		fprintf(stderr, "gen_cluster: %" PRIu64 " of %" PRIu64
				" sends committed\n", fst.messages, o->n);
		exit(1);
	}
	printf("store    %" PRIu64 " messages in %u conversations, %" PRIu64
	       " entries (applied index %" PRIu64 "), %" PRIu64
	       " segments, %.1f MiB, %.1f s\n",
	       o->n, o->convs, g->index - 1, g->index, lst.segments,
	       (double)lst.bytes / 1048576.0, now_s() - t);
	printf("heap     conversations and users %.1f MiB (%.0f B each); "
	       "messages %.2f B/msg: dedup %.2f, index %.2f, other (state, "
	       "inbox) %.2f\n",
	       (double)(h1 - h0) / 1048576.0,
	       (double)(h1 - h0) / (double)o->convs,
	       (double)(h2 - h1) / (double)o->n,
	       (double)fst.dedup_bytes / (double)o->n,
	       (double)lst.index_bytes / (double)o->n,
	       ((double)(h2 - h1) - (double)fst.dedup_bytes -
		(double)lst.index_bytes) / (double)o->n);
	write_image(g);
	take_snapshot(g);
	printf("snapshot %zu bytes at %" PRIu64 "\n", g->snap_len,
	       rft_fsm_applied(g->fsm));
	{
		const struct rft_conv *cv = rft_fsm_conv(g->fsm,
							  CF_STR_LIT("g0"));

		if (cv == NULL)
			die_msg("check", "no g0");
		printf("check    g0 %s %" PRIu64 "\n", cv->owner,
		       cv->last_seq);
	}
	rft_fsm_close(g->fsm);
	g->fsm = NULL;
}

/* ---- raft's folder: term 1 and the snapshot ---- */

struct raft_job {
	bool done;
	int status;
};

static void put_cb(struct raft_io_snapshot_put *req, int status)
{
	struct raft_job *j = req->data;

	j->status = status;
	j->done = true;
}

static void io_close_cb(struct raft_io *io)
{
	struct raft_job *j = io->data;

	j->done = true;
}

static void run_until(uv_loop_t *loop, const struct raft_job *j)
{
	for (int k = 0; !j->done && k < 600000; k++)
		uv_run(loop, UV_RUN_ONCE);
	if (!j->done)
		die("raft", -ETIMEDOUT);
}

static void gen_raft(struct gen *g, const char *raft_dir)
{
	const struct cf_node_conf *me = &g->cl.nodes[0];
	struct raft_uv_transport t;
	struct raft_io io;
	struct raft_snapshot snap, *loaded = NULL;
	struct raft_io_snapshot_put put;
	struct raft_entry *entries = NULL;
	struct raft_buffer buf;
	struct raft_job j = {0};
	raft_term term;
	raft_id vote;
	raft_index start;
	size_t n_entries;
	int rv;

	memset(&t, 0, sizeof(t));
	memset(&io, 0, sizeof(io));
	rv = raft_uv_tcp_init(&t, &g->loop);
	if (rv != 0)
		die_msg("raft transport", raft_strerror(rv));
	rv = raft_uv_init(&io, &g->loop, raft_dir, &t);
	if (rv != 0)
		die_msg("raft_uv_init", raft_strerror(rv));
	raft_uv_set_auto_recovery(&io, false);
	/* The id does not reach the folder: one folder fits every node. */
	rv = io.init(&io, me->id, me->raft_addr);
	if (rv != 0)
		die_msg("raft io init", io.errmsg);
	rv = io.load(&io, &term, &vote, &loaded, &start, &entries, &n_entries);
	if (rv != 0)
		die_msg("raft load", io.errmsg);
	if (term != 0 || loaded != NULL || n_entries != 0)
		die_msg("raft", "the folder already holds raft files");
	raft_free(entries);
	rv = io.set_term(&io, RAFT_TERM);
	if (rv != 0)
		die_msg("raft set_term", io.errmsg);

	memset(&snap, 0, sizeof(snap));
	snap.index = g->index;
	snap.term = RAFT_TERM;
	snap.configuration_index = 1; /* the bootstrap entry's */
	raft_configuration_init(&snap.configuration);
	for (unsigned i = 0; i < g->cl.n_nodes; i++) {
		rv = raft_configuration_add(&snap.configuration,
					    g->cl.nodes[i].id,
					    g->cl.nodes[i].raft_addr,
					    RAFT_VOTER);
		if (rv != 0)
			die_msg("raft configuration", raft_strerror(rv));
	}
	buf.base = g->snap;
	buf.len = g->snap_len;
	snap.bufs = &buf;
	snap.n_bufs = 1;
	put.data = &j;
	/* trailing 0: as an installed snapshot, the log starts after it. */
	rv = io.snapshot_put(&io, 0, &put, &snap, put_cb);
	if (rv != 0)
		die_msg("raft snapshot_put", raft_strerror(rv));
	run_until(&g->loop, &j);
	if (j.status != 0)
		die_msg("raft snapshot_put", io.errmsg);
	raft_configuration_close(&snap.configuration);

	j.done = false;
	io.data = &j;
	io.close(&io, io_close_cb);
	run_until(&g->loop, &j);
	raft_uv_close(&io);
	raft_uv_tcp_close(&t);
	printf("raft     term %u, snapshot at %" PRIu64 " with %u voters\n",
	       RAFT_TERM, g->index, g->cl.n_nodes);
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr,
		"usage: gen_cluster -c CLUSTER_FILE -d DATA [-n messages] "
		"[-C conversations]\n"
		"                   [-u users] [-m members] [-s span-hours] [-T]\n");
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	int ch;

	while ((ch = getopt(argc, argv, "c:d:n:C:u:m:s:T")) != -1) {
		switch (ch) {
		case 'c': o->cluster = optarg; break;
		case 'd': o->data = optarg; break;
		case 'n': o->n = strtoull(optarg, NULL, 10); break;
		case 'C': o->convs = (unsigned)atoi(optarg); break;
		case 'u': o->users = (unsigned)atoi(optarg); break;
		case 'm': o->members = (unsigned)atoi(optarg); break;
		case 'T': o->texts = true; break;
		case 's': o->span_ms = strtoull(optarg, NULL, 10) * HOUR_MS;
			  break;
		default: usage();
		}
	}
	if (o->cluster == NULL || o->data == NULL || o->convs == 0 ||
	    o->users == 0 || o->members < 2 || o->members > o->users ||
	    o->n == 0 || optind != argc)
		usage();
}

int main(int argc, char **argv)
{
	static struct gen g;
	struct fe_config fc;
	char errmsg[CF_ERRMSG_SIZE], store_dir[4096], raft_dir[4096];
	double t = now_s();
	int rv, lock_fd = -1;

	g.o = (struct opts){NULL, NULL, 10000000, 23 * HOUR_MS, 100000,
			    10000, 3, false};
	setvbuf(stdout, NULL, _IOLBF, 0);
	parse(argc, argv, &g.o);
	if (cf_mem_install() != 0)
		die("allocator", -ENOMEM);
	cf_diag_setup("gen", CF_DIAG_INFO);
	rv = cf_cluster_load(&g.cl, g.o.cluster, errmsg);
	if (rv != 0)
		die_msg(g.o.cluster, errmsg);
	snprintf(store_dir, sizeof(store_dir), "%s/store", g.o.data);
	snprintf(raft_dir, sizeof(raft_dir), "%s/raft", g.o.data);
	if (mkdir(g.o.data, 0755) != 0 && errno != EEXIST)
		die(g.o.data, -errno);
	if (access(store_dir, F_OK) == 0)
		die_msg(store_dir, "exists: give an empty data folder");
	if (mkdir(raft_dir, 0755) != 0)
		die(raft_dir, -errno);
	rv = cf_lock_dir(g.o.data, &lock_fd, errmsg);
	if (rv != 0)
		die_msg(g.o.data, errmsg);
	printf("%" PRIu64 " messages, %u conversations of %u members, %u "
	       "users, %u partitions, segments of %" PRIu64 " MiB, %u nodes\n",
	       g.o.n, g.o.convs, g.o.members, g.o.users, g.cl.partitions,
	       g.cl.segment_size >> 20, g.cl.n_nodes);
	uv_loop_init(&g.loop);
	fe_config_default(&fc);
	fc.data_dir = g.o.data;
	fe_server_init(&g.srv, &g.loop, &g.cl, g.cl.nodes[0].id, &fc);

	gen_store(&g, store_dir);
	gen_raft(&g, raft_dir);

	fe_server_release(&g.srv);
	rv = uv_loop_close(&g.loop);
	if (rv != 0)
		die_msg("loop", uv_strerror(rv));
	cf_buf_release(&g.out);
	cf_buf_release(&g.cmd);
	cf_buf_release(&g.list);
	cf_unlock_dir(lock_fd);
	printf("done     %s in %.1f s\n", g.o.data, now_s() - t);
	return 0;
}
