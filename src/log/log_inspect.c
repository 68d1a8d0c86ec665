#include "config.h"

/*
 * Offline walks for confabctl. The output of log_inspect_print() is one
 * fact per line, "key value..." so that scripts and tests can read it:
 *
 *   store DIR
 *   appliedIndex N
 *   partitions P
 *   cold p0003/00000001.cold size B segments F-L records N erased N identity X
 *   segment p0003/00000001.seg size B checkpointed B records N ... STATE
 *   cold N bytes B records N
 *   segments N bytes B records N
 *   conversation ID partition P records N messages N seq FIRST..LAST
 *   conversations N
 *
 * STATE is sealed, hot, or "uncheckpointed" for a file the manifest does
 * not know. log_inspect_verify() prints "problem: ..." for every fault that
 * would make a start refuse the store or lose checkpointed data, and
 * "note: ..." for what a start would silently cut (an uncheckpointed tail).
 */

#include "log/log_inspect.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/cf_err.h"
#include "common/cf_map.h"
#include "common/cf_vfs.h"
#include "log/log_cold.h"
#include "log/log_segment.h"

/* ---------------------------------------------------------------- walk */

struct walk {
	const struct log_walk_ops *ops;
	void *arg;
	struct log_walk_seg *seg;
	int cb_rv; /* a callback's non-zero return, to tell it from the scan's */
};

static int walk_rec(void *arg, uint64_t off, const struct log_record *rec)
{
	struct walk *w = arg;
	struct log_walk_seg *seg = w->seg;

	seg->records++;
	if (off + log_record_size(rec) <= seg->checkpointed)
		seg->records_checkpointed++;
	seg->valid_end = off + log_record_size(rec);
	if (w->ops->record != NULL) {
		w->cb_rv = w->ops->record(w->arg, seg, off, rec);
		return w->cb_rv;
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a;
	uint32_t y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The segment numbers of the files in a partition folder, sorted. */
static int walk_list(int pdirfd, uint32_t **out, size_t *n)
{
	uint32_t *v = NULL;
	size_t cap = 0;
	DIR *d;
	struct dirent *e;
	int fd;

	*n = 0;
	fd = cf_vfs_dup(pdirfd);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		cf_vfs_close(fd);
		return -errno;
	}
	while ((e = readdir(d)) != NULL) {
		uint32_t segno;
		if (log_segment_parse_name(e->d_name, &segno) != 0)
			continue;
		if (*n == cap) {
			uint32_t *p;
			cap = cap == 0 ? 16 : cap * 2;
			p = realloc(v, cap * sizeof(*p));
			if (p == NULL) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = p;
		}
		v[(*n)++] = segno;
	}
	closedir(d);
	if (*n > 0)
		qsort(v, *n, sizeof(*v), cmp_u32);
	*out = v;
	return 0;
}

static int walk_seg(struct walk *w, int pdirfd, struct log_walk_seg *ws,
		    struct cf_buf *buf)
{
	struct log_segment seg;
	int rv;

	w->seg = ws;
	if (!ws->on_disk)
		goto done;
	log_segment_init(&seg, ws->partition, ws->segno);
	rv = log_segment_open(&seg, pdirfd, true);
	if (rv != 0) {
		ws->status = rv;
		goto done;
	}
	ws->file_size = seg.size;
	w->cb_rv = 0;
	rv = log_segment_scan(&seg, UINT64_MAX, buf, walk_rec, w,
			      &ws->valid_end);
	log_segment_close(&seg);
	if (w->cb_rv != 0)
		return w->cb_rv;
	ws->status = rv;
done:
	if (w->ops->segment != NULL)
		return w->ops->segment(w->arg, ws);
	return 0;
}

static int walk_part(struct walk *w, int dirfd, const struct log_manifest *m,
		     unsigned p, struct cf_buf *buf)
{
	char name[LOG_SEG_NAME];
	uint32_t *disk = NULL;
	size_t ndisk = 0;
	size_t i = 0;
	size_t k = 0;
	int pdirfd;
	int rv = 0;

	/* Manifest entries of partition p: m->segs[k..). */
	while (k < m->nsegs && m->segs[k].partition < p)
		k++;
	log_segment_part_name(name, p);
	pdirfd = cf_vfs_openat(dirfd, name,
			       O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (pdirfd < 0 && errno != ENOENT)
		return -errno;
	if (pdirfd >= 0) {
		rv = walk_list(pdirfd, &disk, &ndisk);
		if (rv != 0)
			goto out;
	}
	/* Cold files first, in segment order (cold numbers may not be). */
	for (uint32_t from = 0; w->ops->cold != NULL;) {
		const struct log_manifest_cold *next = NULL;

		for (size_t c = 0; c < m->ncolds; c++)
			if (m->colds[c].partition == p &&
			    m->colds[c].first_segno >= from &&
			    (next == NULL ||
			     m->colds[c].first_segno < next->first_segno))
				next = &m->colds[c];
		if (next == NULL)
			break;
		rv = w->ops->cold(w->arg, pdirfd, next);
		if (rv != 0)
			goto out;
		from = next->last_segno + 1;
	}
	for (;;) {
		const struct log_manifest_seg *ms =
			k < m->nsegs && m->segs[k].partition == p ? &m->segs[k]
								  : NULL;
		struct log_walk_seg ws;

		if (ms == NULL && i == ndisk)
			break;
		memset(&ws, 0, sizeof(ws));
		ws.partition = p;
		if (ms != NULL && (i == ndisk || ms->segno <= disk[i])) {
			ws.segno = ms->segno;
			ws.in_manifest = true;
			ws.sealed = ms->sealed;
			ws.checkpointed = ms->length;
			ws.on_disk = i < ndisk && disk[i] == ms->segno;
			if (ws.on_disk)
				i++;
			k++;
		} else {
			ws.segno = disk[i++];
			ws.on_disk = true;
		}
		rv = walk_seg(w, pdirfd, &ws, buf);
		if (rv != 0)
			break;
	}
out:
	free(disk);
	if (pdirfd >= 0)
		cf_vfs_close(pdirfd);
	return rv;
}

int log_walk(const char *dir, struct log_manifest *m,
	     const struct log_walk_ops *ops, void *arg, char *errmsg)
{
	struct walk w = {ops, arg, NULL, 0};
	struct cf_buf buf = CF_BUF_INIT;
	int dirfd;
	int rv;

	dirfd = cf_vfs_openat(AT_FDCWD, dir,
			      O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dirfd < 0) {
		rv = -errno;
		cf_errmsg_printf(errmsg, "store %s: %s", dir, cf_strerror(rv));
		return rv;
	}
	rv = log_manifest_load(dirfd, m, errmsg);
	if (rv == CF_ENOTFOUND)
		cf_errmsg_printf(errmsg, "no " LOG_MANIFEST_NAME);
	if (rv != 0) {
		cf_errmsg_wrapf(errmsg, "store %s", dir);
		goto out;
	}
	if (ops->manifest != NULL) {
		rv = ops->manifest(arg, m);
		if (rv != 0)
			goto out;
	}
	for (unsigned p = 0; p < m->partitions; p++) {
		if (ops->want != NULL && !ops->want(arg, p))
			continue;
		rv = walk_part(&w, dirfd, m, p, &buf);
		if (rv != 0) {
			cf_errmsg_printf(errmsg, "store %s: partition %u: %s",
					 dir, p, cf_strerror(rv));
			break;
		}
	}
out:
	cf_buf_release(&buf);
	cf_vfs_close(dirfd);
	return rv;
}

/* ------------------------------------------------------ inspect/verify */

struct insp_conv {
	unsigned partition;
	uint64_t records;
	uint64_t messages;
	uint64_t first_seq;
	uint64_t last_seq;
};

struct insp {
	FILE *out;
	bool verify;
	unsigned nparts;
	unsigned problems;
	struct cf_map convs;
	uint64_t segments;
	uint64_t bytes;
	uint64_t records;
	uint64_t colds;
	uint64_t cold_bytes;
	uint64_t cold_records;
	struct log_walk_seg *cold_seg; /* the cold file being scanned */
};

static void insp_seg_name(const struct log_walk_seg *seg, char *buf)
{
	snprintf(buf, 2 * LOG_SEG_NAME, "p%04u/%08u.%s", seg->partition,
		 (unsigned)seg->segno, seg->cold ? "cold" : "seg");
}

static void insp_problem(struct insp *in, const struct log_walk_seg *seg,
			 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void insp_problem(struct insp *in, const struct log_walk_seg *seg,
			 const char *fmt, ...)
{
	char name[2 * LOG_SEG_NAME];
	va_list ap;

	in->problems++;
	insp_seg_name(seg, name);
	fprintf(in->out, "problem: %s: ", name);
	va_start(ap, fmt);
	vfprintf(in->out, fmt, ap);
	va_end(ap);
	fputc('\n', in->out);
}

static int insp_record(void *arg, const struct log_walk_seg *seg, uint64_t off,
		       const struct log_record *rec)
{
	struct insp *in = arg;
	struct insp_conv *c = cf_map_get(&in->convs, rec->conv.p, rec->conv.len);
	bool checkpointed = off + log_record_size(rec) <= seg->checkpointed;
	unsigned home = (unsigned)(XXH3_64bits(rec->conv.p, rec->conv.len) %
				   in->nparts);
	int rv;

	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return -ENOMEM;
		c->partition = home;
		rv = cf_map_put(&in->convs, rec->conv.p, rec->conv.len, c,
				NULL);
		if (rv != 0) {
			free(c);
			return rv;
		}
	}
	if (in->verify && checkpointed && home != seg->partition)
		insp_problem(in, seg,
			     "offset %llu: conversation %.*s belongs in "
			     "partition %u",
			     (unsigned long long)off, (int)rec->conv.len,
			     rec->conv.p, home);
	c->records++;
	if (rec->kind == LOG_REC_EDIT && in->verify && checkpointed &&
	    (rec->seq == 0 || rec->seq > c->last_seq))
		/* Tiers are walked in segment order: its message came first. */
		insp_problem(in, seg,
			     "offset %llu: conversation %.*s: an edit of seq "
			     "%llu before that message",
			     (unsigned long long)off, (int)rec->conv.len,
			     rec->conv.p, (unsigned long long)rec->seq);
	if (rec->kind != LOG_REC_MESSAGE)
		return 0;
	if (in->verify && checkpointed && rec->seq <= c->last_seq)
		insp_problem(in, seg,
			     "offset %llu: conversation %.*s seq %llu after "
			     "seq %llu",
			     (unsigned long long)off, (int)rec->conv.len,
			     rec->conv.p, (unsigned long long)rec->seq,
			     (unsigned long long)c->last_seq);
	if (c->messages == 0)
		c->first_seq = rec->seq;
	c->messages++;
	c->last_seq = rec->seq;
	return 0;
}

static int insp_segment(void *arg, const struct log_walk_seg *seg)
{
	struct insp *in = arg;
	char name[2 * LOG_SEG_NAME];
	const char *state;

	insp_seg_name(seg, name);
	if (!seg->in_manifest)
		state = "uncheckpointed";
	else
		state = seg->sealed ? "sealed" : "hot";
	if (!in->verify) {
		if (!seg->on_disk) {
			fprintf(in->out, "segment %s missing checkpointed %llu\n",
				name, (unsigned long long)seg->checkpointed);
			return 0;
		}
		fprintf(in->out,
			"segment %s size %llu checkpointed %llu records %llu"
			" (%llu checkpointed) %s%s\n",
			name, (unsigned long long)seg->file_size,
			(unsigned long long)seg->checkpointed,
			(unsigned long long)seg->records,
			(unsigned long long)seg->records_checkpointed, state,
			seg->status != 0 ? " damaged" : "");
		in->segments++;
		in->bytes += seg->file_size;
		in->records += seg->records;
		return 0;
	}
	/* verify */
	if (!seg->on_disk) {
		insp_problem(in, seg, "missing (checkpointed %llu bytes)",
			     (unsigned long long)seg->checkpointed);
		return 0;
	}
	if (seg->status != 0 && seg->status != CF_ECORRUPT &&
	    seg->valid_end == 0 && seg->file_size >= LOG_SEG_HDR) {
		/* A read error or an unknown version: not a cut point. */
		insp_problem(in, seg, "%s", cf_strerror(seg->status));
		return 0;
	}
	if (!seg->in_manifest) {
		fprintf(in->out,
			"note: %s: not in the manifest (%llu records); a "
			"start removes it\n",
			name, (unsigned long long)seg->records);
		return 0;
	}
	if (seg->file_size < seg->checkpointed) {
		insp_problem(in, seg, "holds %llu bytes, checkpointed %llu",
			     (unsigned long long)seg->file_size,
			     (unsigned long long)seg->checkpointed);
		return 0;
	}
	if (seg->valid_end == 0) {
		insp_problem(in, seg, "bad segment header");
		return 0;
	}
	if (seg->valid_end < seg->checkpointed) {
		insp_problem(in, seg,
			     "bad record at offset %llu (checkpointed up to "
			     "%llu)",
			     (unsigned long long)seg->valid_end,
			     (unsigned long long)seg->checkpointed);
		return 0;
	}
	if (seg->file_size > seg->checkpointed)
		fprintf(in->out,
			"note: %s: %llu bytes past the checkpoint (%llu "
			"records); a start cuts them\n",
			name,
			(unsigned long long)(seg->file_size - seg->checkpointed),
			(unsigned long long)(seg->records -
					     seg->records_checkpointed));
	fprintf(in->out, "ok: %s: %llu records, %llu bytes checkpointed\n",
		name, (unsigned long long)seg->records_checkpointed,
		(unsigned long long)seg->checkpointed);
	return 0;
}

static int insp_cold_rec(void *arg, const struct log_record *rec)
{
	struct insp *in = arg;

	return insp_record(in, in->cold_seg, 0, rec);
}

/* A cold file the manifest names: check it (verify), count its records. */
static int insp_cold(void *arg, int pdirfd, const struct log_manifest_cold *mc)
{
	struct insp *in = arg;
	struct log_walk_seg ws;
	const struct log_cold_info *info;
	struct log_cold *r = NULL;
	char name[LOG_COLD_NAME], err[CF_ERRMSG_SIZE] = "";
	int rv;

	memset(&ws, 0, sizeof(ws));
	ws.partition = mc->partition;
	ws.segno = mc->coldno;
	ws.cold = true;
	ws.in_manifest = true;
	ws.checkpointed = UINT64_MAX;
	log_cold_name(name, mc->coldno);
	rv = pdirfd >= 0 ? log_cold_open(&r, pdirfd, name) : -ENOENT;
	if (rv != 0) {
		if (in->verify || rv != -ENOENT)
			insp_problem(in, &ws, "%s", rv == -ENOENT
							   ? "missing"
							   : cf_strerror(rv));
		else
			fprintf(in->out, "cold p%04u/%s missing\n",
				mc->partition, name);
		return 0;
	}
	info = log_cold_get_info(r);
	if (in->verify) {
		rv = log_cold_verify(r, err);
		if (rv != 0)
			insp_problem(in, &ws, "%s", err);
		else if (info->partition != mc->partition ||
			 info->coldno != mc->coldno ||
			 info->file_size != mc->size ||
			 info->content_xxh3 != mc->ident)
			insp_problem(in, &ws, "not the file the manifest names "
					      "(size or identity)");
		else
			fprintf(in->out,
				"ok: p%04u/%s: %llu records, %llu bytes, "
				"identity %016llx\n",
				mc->partition, name,
				(unsigned long long)info->records,
				(unsigned long long)info->file_size,
				(unsigned long long)info->content_xxh3);
	} else {
		fprintf(in->out,
			"cold p%04u/%s size %llu segments %u-%u records %llu "
			"erased %llu identity %016llx\n",
			mc->partition, name,
			(unsigned long long)info->file_size,
			(unsigned)mc->first_segno, (unsigned)mc->last_segno,
			(unsigned long long)info->records,
			(unsigned long long)info->recalled,
			(unsigned long long)info->content_xxh3);
		in->colds++;
		in->cold_bytes += info->file_size;
		in->cold_records += info->records;
	}
	in->cold_seg = &ws;
	rv = log_cold_scan(r, insp_cold_rec, in);
	in->cold_seg = NULL;
	if (rv == CF_ECORRUPT && in->verify)
		rv = 0; /* reported by log_cold_verify above */
	log_cold_close(r);
	return rv;
}

static int insp_manifest(void *arg, const struct log_manifest *m)
{
	struct insp *in = arg;

	in->nparts = m->partitions;
	fprintf(in->out, "appliedIndex %llu\npartitions %u\n",
		(unsigned long long)m->applied_index, m->partitions);
	if (m->seal_bytes != 0)
		fprintf(in->out, "segment-size %llu\nseal-age-ms %llu\n",
			(unsigned long long)m->seal_bytes,
			(unsigned long long)m->seal_age_ms);
	else
		fprintf(in->out, "segment-size unrecorded\n");
	if (in->verify)
		fprintf(in->out,
			"ok: " LOG_MANIFEST_NAME ": %zu segments, %zu cold "
			"files, %zu compaction jobs pending\n",
			m->nsegs, m->ncolds, m->njobs);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void insp_print_convs(struct insp *in)
{
	const struct cf_map_slot *slot;
	const char **keys;
	size_t i = 0;
	size_t n = 0;

	keys = calloc(in->convs.n + 1, sizeof(*keys));
	if (keys == NULL)
		return;
	while (cf_map_next(&in->convs, &i, &slot))
		keys[n++] = slot->key;
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (i = 0; i < n; i++) {
		const struct insp_conv *c =
			cf_map_get(&in->convs, keys[i], strlen(keys[i]));
		fprintf(in->out,
			"conversation %s partition %u records %llu messages "
			"%llu",
			keys[i], c->partition, (unsigned long long)c->records,
			(unsigned long long)c->messages);
		if (c->messages > 0)
			fprintf(in->out, " seq %llu..%llu\n",
				(unsigned long long)c->first_seq,
				(unsigned long long)c->last_seq);
		else
			fprintf(in->out, " seq -\n");
	}
	fprintf(in->out, "conversations %zu\n", n);
	free(keys);
}

static void insp_release(struct insp *in)
{
	const struct cf_map_slot *slot;
	size_t i = 0;

	while (cf_map_next(&in->convs, &i, &slot))
		free(slot->val);
	cf_map_release(&in->convs);
}

static int insp_run(struct insp *in, const char *dir, char *errmsg)
{
	static const struct log_walk_ops ops = {
		.manifest = insp_manifest,
		.record = insp_record,
		.segment = insp_segment,
		.cold = insp_cold,
	};
	struct log_manifest m;
	int rv;

	log_manifest_init(&m);
	cf_map_init(&in->convs);
	fprintf(in->out, "store %s\n", dir);
	rv = log_walk(dir, &m, &ops, in, errmsg);
	if (rv != 0)
		goto out;
	if (!in->verify) {
		fprintf(in->out, "cold %llu bytes %llu records %llu\n",
			(unsigned long long)in->colds,
			(unsigned long long)in->cold_bytes,
			(unsigned long long)in->cold_records);
		fprintf(in->out, "segments %llu bytes %llu records %llu\n",
			(unsigned long long)in->segments,
			(unsigned long long)in->bytes,
			(unsigned long long)in->records);
		insp_print_convs(in);
	}
out:
	insp_release(in);
	log_manifest_release(&m);
	return rv;
}

int log_inspect_print(const char *dir, FILE *out, char *errmsg)
{
	struct insp in;

	memset(&in, 0, sizeof(in));
	in.out = out;
	return insp_run(&in, dir, errmsg);
}

int log_inspect_verify(const char *dir, FILE *out, unsigned *problems,
		       char *errmsg)
{
	struct insp in;
	int rv;

	memset(&in, 0, sizeof(in));
	in.out = out;
	in.verify = true;
	rv = insp_run(&in, dir, errmsg);
	if (rv != 0) {
		fprintf(out, "problem: %s\n", errmsg);
		in.problems++;
	}
	*problems = in.problems;
	return rv;
}
