#include "config.h"

/*
 * bench_mem: memory per message of the structures that grow with the store
 * (issue 11, "Memory per message"). It builds each structure for N messages
 * in C conversations of M members among U users and prints bytes per
 * message, from the structure's own accounting where it has one and from
 * mallinfo2 deltas (heap in use plus mmapped blocks):
 *
 *   dedup   the idempotency window (rft_dedup), every message keyed and
 *           inside the 24 hours; then its section of the state image
 *           written to a file under /tmp, mapped (checksum verified) and
 *           read back into a new window, each step timed
 *   index   the store's seq index (log_index), records of R bytes in
 *           64 MiB segments of P partitions
 *   inbox   the inbox index (sync_inbox) fed the creation records and the
 *           messages
 *   fsm     the whole apply path (rft_fsm over a real store in a temporary
 *           folder, F messages): conversation and user state, plus what
 *           the store and the window hold
 *
 *   reopen  the store of fsm opened again as a node starts (every record
 *           read), a state image written by a forked child, then opened
 *           again from the image: time and heap of each
 *
 * Usage: bench_mem [-n N] [-c C] [-u U] [-m M] [-p P] [-f F] [-d DIR]
 *                  [-R DIR] (-R: only the reopen figures of DIR's store)
 * (defaults: 10,000,000 messages, 100,000 conversations, 10,000 users,
 * 3 members, 16 partitions, F = 1,000,000, DIR under /tmp, removed after).
 * Not a test: it asserts nothing and is not run by make check.
 */

#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cf_err.h"
#include "common/cf_img.h"
#include "log/log_index.h"
#include "log/log_store.h"
#include "raft/rft_cmd.h"
#include "raft/rft_dedup.h"
#include "raft/rft_fsm.h"
#include "sync/sync_inbox.h"

#define T0 1771900000000ull
#define SPAN_MS (23ull * 3600 * 1000) /* every send inside the window */
#define REC_BYTES 150u
#define SEG_BYTES (64u << 20)
#define PER_ENTRY 256u

struct opts {
	uint64_t n, f;
	unsigned convs, users, members, parts;
	const char *dir;
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

static void die(const char *what, int rv)
{
	fprintf(stderr, "bench_mem: %s: %s\n", what, cf_strerror(rv));
	exit(1);
}

static void report(const char *name, uint64_t n, uint64_t own, uint64_t heap)
{
	if (own != UINT64_MAX)
		printf("%-8s %12" PRIu64 " messages  own %8.2f B/msg  "
		       "heap %8.2f B/msg  (%.1f MiB)\n",
		       name, n, (double)own / (double)n,
		       (double)heap / (double)n, (double)heap / 1048576.0);
	else
		printf("%-8s %12" PRIu64 " messages  own      n/a        "
		       "heap %8.2f B/msg  (%.1f MiB)\n",
		       name, n, (double)heap / (double)n,
		       (double)heap / 1048576.0);
}

/* Conversation of message i: uniform, as a busy store sees it. */
static unsigned conv_of(uint64_t i, unsigned convs)
{
	return (unsigned)((i * 2654435761u) % convs);
}

/* The window's section of the state image: write, map, read back. */
static void bench_dedup_image(const struct rft_dedup *d)
{
	char path[] = "/tmp/bench_mem.img.XXXXXX";
	struct cf_imgw w;
	struct cf_img_map m;
	struct cf_imgr r;
	struct rft_dedup cp;
	uint64_t h0, bytes;
	double t0, t1, t2, t3;
	int fd = mkstemp(path), rv;

	if (fd < 0)
		die("image", -errno);
	unlink(path);
	t0 = now_s();
	rv = cf_imgw_init(&w, fd);
	if (rv == 0) {
		rft_dedup_image_write(d, &w);
		rv = cf_imgw_finish(&w);
	}
	bytes = w.bytes;
	cf_imgw_release(&w);
	if (rv != 0)
		die("image write", rv);
	t1 = now_s();
	rv = cf_img_map(&m, fd);
	if (rv != 0)
		die("image map", rv);
	t2 = now_s();
	h0 = heap_now();
	rft_dedup_init(&cp);
	cf_imgr_init(&r, &m);
	rv = rft_dedup_image_read(&cp, &r);
	if (rv != 0)
		die("image read", rv);
	t3 = now_s();
	if (rft_dedup_count(&cp) != rft_dedup_count(d) || cp.cap != d->cap)
		die("image read", CF_ECORRUPT);
	printf("image    %.1f MiB: write %.2f s, map and checksum %.2f s, "
	       "read %.2f s (%zu keys, heap %.2f B/msg)\n",
	       (double)bytes / 1048576.0, t1 - t0, t2 - t1, t3 - t2,
	       rft_dedup_count(&cp),
	       (double)(heap_now() - h0) / (double)rft_dedup_count(&cp));
	rft_dedup_release(&cp);
	cf_img_unmap(&m);
	close(fd);
}

static void bench_dedup(const struct opts *o)
{
	struct rft_dedup d;
	uint64_t h0 = heap_now(), i, *seq;
	char conv[16], user[16], id[24];
	double t = now_s();

	seq = calloc(o->convs, sizeof(*seq));
	if (seq == NULL)
		die("dedup", -ENOMEM);
	rft_dedup_init(&d);
	for (i = 0; i < o->n; i++) {
		unsigned c = conv_of(i, o->convs);
		uint64_t ts = T0 + SPAN_MS * i / o->n;
		struct rft_dedup_key k;
		int rv;

		snprintf(conv, sizeof(conv), "c%u", c);
		snprintf(user, sizeof(user), "u%u", (unsigned)(i % o->users));
		snprintf(id, sizeof(id), "m%" PRIu64, i);
		k = rft_dedup_key(&d, cf_str_c(conv), cf_str_c(user),
				  cf_str_c(id));
		rv = rft_dedup_add(&d, &k, ++seq[c], ts, ts);
		if (rv != 0)
			die("dedup", rv);
	}
	report("dedup", o->n, rft_dedup_bytes(&d), heap_now() - h0);
	printf("         %zu keys, table %zu slots%s, %.1f s\n",
	       rft_dedup_count(&d), d.cap, d.old != NULL ? " (resizing)" : "",
	       now_s() - t);
	if (rft_dedup_count(&d) > 0)
		bench_dedup_image(&d);
	rft_dedup_release(&d);
	free(seq);
}

static void bench_index(const struct opts *o)
{
	struct log_index ix;
	uint64_t h0 = heap_now(), i, *seq, *pos;
	uint32_t *segno;
	char conv[16];
	double t = now_s();

	seq = calloc(o->convs, sizeof(*seq));
	pos = calloc(o->parts, sizeof(*pos));
	segno = calloc(o->parts, sizeof(*segno));
	if (seq == NULL || pos == NULL || segno == NULL)
		die("index", -ENOMEM);
	log_index_init(&ix);
	for (i = 0; i < o->n; i++) {
		unsigned c = conv_of(i, o->convs), p;
		int rv;

		snprintf(conv, sizeof(conv), "c%u", c);
		p = log_partition_of(cf_str_c(conv), o->parts);
		if (pos[p] + REC_BYTES > SEG_BYTES) {
			segno[p]++;
			pos[p] = 0;
		}
		rv = log_index_add(&ix, cf_str_c(conv), ++seq[c], segno[p],
				   (uint32_t)pos[p], NULL);
		if (rv != 0)
			die("index", rv);
		pos[p] += REC_BYTES;
	}
	report("index", o->n, ix.bytes, heap_now() - h0);
	printf("         %zu conversations, %.1f s\n", log_index_count(&ix),
	       now_s() - t);
	log_index_release(&ix);
	free(seq);
	free(pos);
	free(segno);
}

/* The public conversation structs the inbox is fed with. */
static struct rft_conv *convs_make(const struct opts *o)
{
	struct rft_conv *v = calloc(o->convs, sizeof(*v));
	char buf[16];
	unsigned i, k;

	if (v == NULL)
		die("convs", -ENOMEM);
	for (i = 0; i < o->convs; i++) {
		snprintf(buf, sizeof(buf), "c%u", i);
		v[i].id = strdup(buf);
		v[i].type = RFT_CONV_GROUP;
		v[i].members = calloc(o->members, sizeof(char *));
		v[i].n_members = o->members;
		for (k = 0; k < o->members; k++) {
			/* members spread so every user is in many convs */
			snprintf(buf, sizeof(buf), "u%u",
				 (i * o->members + k) % o->users);
			v[i].members[k] = strdup(buf);
		}
	}
	return v;
}

static void convs_free(const struct opts *o, struct rft_conv *v)
{
	for (unsigned i = 0; i < o->convs; i++) {
		for (unsigned k = 0; k < v[i].n_members; k++)
			free(v[i].members[k]);
		free(v[i].members);
		free(v[i].id);
	}
	free(v);
}

static void bench_inbox(const struct opts *o)
{
	struct rft_conv *cv = convs_make(o);
	struct sync_inbox *ix;
	struct log_record rec;
	uint64_t h0, h1, i, id = 65536, *seq;
	double t = now_s();
	int rv;

	seq = calloc(o->convs, sizeof(*seq));
	if (seq == NULL)
		die("inbox", -ENOMEM);
	h0 = heap_now();
	rv = sync_inbox_new(&ix);
	if (rv != 0)
		die("inbox", rv);
	memset(&rec, 0, sizeof(rec));
	rec.kind = LOG_REC_CONV;
	for (i = 0; i < o->convs; i++) {
		rec.conv = cf_str_c(cv[i].id);
		rec.message_id = id++;
		rv = sync_inbox_on_record(ix, &rec, &cv[i]);
		if (rv != 0)
			die("inbox", rv);
	}
	h1 = heap_now();
	rec.kind = LOG_REC_MESSAGE;
	for (i = 0; i < o->n; i++) {
		unsigned c = conv_of(i, o->convs);

		rec.conv = cf_str_c(cv[c].id);
		rec.seq = ++seq[c];
		rec.message_id = id++;
		rv = sync_inbox_on_record(ix, &rec, &cv[c]);
		if (rv != 0)
			die("inbox", rv);
	}
	report("inbox", o->n, UINT64_MAX, heap_now() - h0);
	printf("         %.1f MiB for %u conversations x %u members, "
	       "%.2f B/msg after them, %.1f s\n",
	       (double)(h1 - h0) / 1048576.0, o->convs, o->members,
	       (double)(heap_now() - h1) / (double)o->n, now_s() - t);
	sync_inbox_free(ix);
	convs_free(o, cv);
	free(seq);
}

/* --- the whole apply path over a real store --- */

struct eb {
	struct cf_buf out, cmd, list;
	struct rft_batch b;
};

static void eb_add(struct eb *e, const struct rft_cmd *c)
{
	e->cmd.len = 0;
	if (rft_cmd_encode(c, &e->cmd) != 0 ||
	    rft_batch_add(&e->b, e->cmd.data, e->cmd.len) != 0)
		die("encode", -ENOMEM);
}

static int rm_cb(const char *path, const struct stat *sb, int flag,
		 struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rebuild_cb(void *arg, const struct log_record *rec,
		       const struct rft_conv *conv)
{
	int rv = sync_inbox_on_rebuild_record(arg, rec, conv);

	if (rv != 0)
		die("inbox", rv);
}

static void image_write_cb(void *arg, struct cf_imgw *w)
{
	sync_inbox_image_write(arg, w);
}

static int image_read_cb(void *arg, struct cf_imgr *r)
{
	return sync_inbox_image_read(arg, r);
}

/*
 * Open the store again as a node starts (FSM and inbox rebuilt, from the
 * state image if the manifest names one); with image, write one then
 * (a forked child, as the node does) and have a checkpoint name it.
 */
static void reopen_once(const struct opts *o, const char *dir, bool image)
{
	struct rft_fsm_config cfg;
	struct rft_fsm *f;
	struct rft_fsm_stats st;
	struct sync_inbox *ix;
	char errmsg[CF_ERRMSG_SIZE];
	uint64_t h0 = heap_now();
	double t = now_s();
	int rv;

	if (sync_inbox_new(&ix) != 0)
		die("inbox", -ENOMEM);
	memset(&cfg, 0, sizeof(cfg));
	cfg.store.dir = dir;
	cfg.store.partitions = o->parts;
	cfg.on_rebuild = rebuild_cb;
	cfg.on_record_arg = ix;
	cfg.on_image_write = image_write_cb;
	cfg.on_image_read = image_read_cb;
	rv = rft_fsm_open(&f, &cfg, errmsg);
	if (rv != 0) {
		fprintf(stderr, "bench_mem: reopen %s: %s\n", dir, errmsg);
		exit(1);
	}
	rv = sync_inbox_settle(ix);
	if (rv != 0)
		die("settle", rv);
	rft_fsm_stats(f, &st);
	printf("reopen   %.2f s, heap %.1f MiB (fsm, store, inbox), %s, "
	       "%llu records read\n",
	       now_s() - t, (double)(heap_now() - h0) / 1048576.0,
	       st.image_index != 0 ? "from the state image"
				   : "from every record",
	       (unsigned long long)rft_fsm_image_pending(f));
	if (image) {
		t = now_s();
		rv = rft_fsm_image_start(f);
		if (rv != 0)
			die("image", rv);
		while (rft_fsm_image_poll(f))
			usleep(20000);
		rft_fsm_stats(f, &st);
		if (st.images != 1)
			die("image", -EIO);
		printf("image    written by a forked child in %.2f s\n",
		       now_s() - t);
		rv = rft_fsm_checkpoint(f, errmsg);
		if (rv != 0)
			die("checkpoint", rv);
	}
	rft_fsm_close(f);
	sync_inbox_free(ix);
}

static void reopen(const struct opts *o, const char *dir)
{
	reopen_once(o, dir, true);
	reopen_once(o, dir, false);
}

static void bench_fsm(const struct opts *o, const char *dir)
{
	struct rft_fsm_config cfg;
	struct rft_fsm *f;
	struct rft_fsm_stats fst;
	struct log_store_stats lst;
	struct eb e;
	char errmsg[CF_ERRMSG_SIZE], conv[16], id[24], buf[16];
	struct cf_str *ids;
	uint64_t h0, h1, h2, index = 1, i;
	unsigned c, k;
	double t = now_s();
	int rv;

	memset(&cfg, 0, sizeof(cfg));
	cfg.store.dir = dir;
	cfg.store.partitions = o->parts;
	h0 = heap_now();
	rv = rft_fsm_open(&f, &cfg, errmsg);
	if (rv != 0) {
		fprintf(stderr, "bench_mem: open %s: %s\n", dir, errmsg);
		exit(1);
	}
	ids = calloc(o->members, sizeof(*ids));
	if (ids == NULL)
		die("fsm", -ENOMEM);
	memset(&e, 0, sizeof(e));
	/* The conversations, PER_ENTRY creates an entry. */
	for (c = 0; c < o->convs;) {
		e.out.len = 0;
		if (rft_batch_begin(&e.b, &e.out) != 0)
			die("batch", -ENOMEM);
		for (unsigned n = 0; n < PER_ENTRY && c < o->convs; n++, c++) {
			struct rft_cmd cmd = {0};
			char *names = malloc((size_t)o->members * 16);

			if (names == NULL)
				die("fsm", -ENOMEM);
			for (k = 0; k < o->members; k++) {
				snprintf(names + k * 16, 16, "u%u",
					 (c * o->members + k) % o->users);
				ids[k] = cf_str_c(names + k * 16);
			}
			e.list.len = 0;
			if (rft_idlist_encode(&e.list, ids, o->members) != 0)
				die("fsm", -ENOMEM);
			snprintf(conv, sizeof(conv), "g%u", c);
			cmd.type = RFT_CMD_CREATE;
			cmd.user = ids[0];
			cmd.conv = cf_str_c(conv);
			cmd.conv_type = RFT_CONV_GROUP;
			cmd.members = (struct cf_str){e.list.data, e.list.len};
			eb_add(&e, &cmd);
			free(names);
		}
		if (rft_batch_finish(&e.b, T0) != 0)
			die("batch", -ENOMEM);
		rft_fsm_apply_entry(f, ++index, e.out.data, e.out.len);
	}
	h1 = heap_now();
	/* The messages. */
	for (i = 0; i < o->f;) {
		uint64_t ts = T0 + SPAN_MS * i / o->f;

		e.out.len = 0;
		if (rft_batch_begin(&e.b, &e.out) != 0)
			die("batch", -ENOMEM);
		for (unsigned n = 0; n < PER_ENTRY && i < o->f; n++, i++) {
			struct rft_cmd cmd = {0};

			c = conv_of(i, o->convs);
			snprintf(conv, sizeof(conv), "g%u", c);
			snprintf(buf, sizeof(buf), "u%u",
				 (c * o->members) % o->users);
			snprintf(id, sizeof(id), "m%" PRIu64, i);
			cmd.type = RFT_CMD_SEND;
			cmd.user = cf_str_c(buf);
			cmd.conv = cf_str_c(conv);
			cmd.client_msg_id = cf_str_c(id);
			cmd.msg_type = CF_STR_LIT("text");
			cmd.content = CF_STR_LIT("a message of some words");
			eb_add(&e, &cmd);
		}
		if (rft_batch_finish(&e.b, ts) != 0)
			die("batch", -ENOMEM);
		rft_fsm_apply_entry(f, ++index, e.out.data, e.out.len);
	}
	h2 = heap_now();
	rft_fsm_stats(f, &fst);
	log_store_stats(rft_fsm_store(f), &lst);
	if (fst.messages != o->f) {
		fprintf(stderr, "bench_mem: %" PRIu64 " of %" PRIu64
				" sends committed\n",
			fst.messages, o->f);
		exit(1);
	}
	printf("fsm      %12" PRIu64 " messages  heap %8.2f B/msg  "
	       "(%.1f MiB), %.1f s\n",
	       o->f, (double)(h2 - h0) / (double)o->f,
	       (double)(h2 - h0) / 1048576.0, now_s() - t);
	printf("         conversations and users: %.1f MiB (%.0f B per "
	       "conversation)\n",
	       (double)(h1 - h0) / 1048576.0,
	       (double)(h1 - h0) / (double)o->convs);
	printf("         of the messages' %.2f B/msg: dedup %.2f, index %.2f,"
	       " other %.2f\n",
	       (double)(h2 - h1) / (double)o->f,
	       (double)fst.dedup_bytes / (double)o->f,
	       (double)lst.index_bytes / (double)o->f,
	       ((double)(h2 - h1) - (double)fst.dedup_bytes -
		(double)lst.index_bytes) /
		       (double)o->f);
	rv = rft_fsm_checkpoint(f, errmsg);
	if (rv != 0) {
		fprintf(stderr, "bench_mem: checkpoint: %s\n", errmsg);
		exit(1);
	}
	rft_fsm_close(f);
	reopen(o, dir);
	cf_buf_release(&e.out);
	cf_buf_release(&e.cmd);
	cf_buf_release(&e.list);
	free(ids);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_mem [-n messages] [-c conversations] "
			"[-u users] [-m members] [-p partitions]\n"
			"                 [-f fsm-messages] [-d dir]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = {10000000, 1000000, 100000, 10000, 3, 16, NULL};
	char tmp[] = "/tmp/bench_mem.XXXXXX";
	int ch;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((ch = getopt(argc, argv, "n:c:u:m:p:f:d:R:")) != -1) {
		switch (ch) {
		case 'n': o.n = strtoull(optarg, NULL, 10); break;
		case 'c': o.convs = (unsigned)atoi(optarg); break;
		case 'u': o.users = (unsigned)atoi(optarg); break;
		case 'm': o.members = (unsigned)atoi(optarg); break;
		case 'p': o.parts = (unsigned)atoi(optarg); break;
		case 'f': o.f = strtoull(optarg, NULL, 10); break;
		case 'd': o.dir = optarg; break;
		case 'R': reopen(&o, optarg); return 0;
		default: usage();
		}
	}
	if (o.convs == 0 || o.users == 0 || o.members == 0 ||
	    o.members > o.users || o.parts == 0 || optind != argc)
		usage();
	printf("%" PRIu64 " messages, %u conversations of %u members, "
	       "%u users, %u partitions\n",
	       o.n, o.convs, o.members, o.users, o.parts);
	if (o.n > 0) { /* -n 0: the fsm and reopen figures only */
		bench_dedup(&o);
		bench_index(&o);
		bench_inbox(&o);
	}
	if (o.f > 0) {
		const char *dir = o.dir;

		if (dir == NULL) {
			dir = mkdtemp(tmp);
			if (dir == NULL)
				die("mkdtemp", -errno);
		}
		bench_fsm(&o, dir);
		if (o.dir == NULL)
			nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	}
	return 0;
}
