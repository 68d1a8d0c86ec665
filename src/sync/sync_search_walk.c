#include "config.h"
/*
 * sync_search_walk: the search worker's catch-up from the store's files
 * (see sync_search_int.h). It reads the files the manifest names, by path
 * and with its own descriptors (log_walk, log_cold), never the loop's
 * log_store: hot segments are append-only and cold files are replaced by
 * rename, so a file opened stays whole; a file that vanished between the
 * manifest's load and its open (a compaction switched) makes the walk
 * start again.
 *
 * Why the cut at upto is safe: every record at or below the published
 * index was written to its file before it was handed to the queue, and
 * everything at or below the manifest's appliedIndex is in the files; a
 * record above upto had not been handed over when the walk began, so it
 * comes through the queue, which skips what the walk applied. Within a
 * conversation (one partition) records come in order, so a recall or an
 * edit always follows its message.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "log/log_cold.h"
#include "log/log_inspect.h"
#include "log/log_manifest.h"
#include "sync/sync_search_int.h"

struct walk {
	struct sync_search *ss;
	struct sync_search_db *db;
	struct cf_buf *scratch;
	uint64_t from, upto, published;
	unsigned batch;
	bool incomplete;
	bool deleted;
	uint64_t applied;
};

static int walk_manifest(void *arg, const struct log_manifest *m)
{
	struct walk *w = arg;

	w->upto = m->applied_index > w->published ? m->applied_index
						  : w->published;
	return 0;
}

static int walk_apply(struct walk *w, const struct log_record *rec)
{
	bool del = false;
	int rv;

	if (rec->raft_index <= w->from || rec->raft_index > w->upto)
		return 0;
	if (rec->kind != LOG_REC_MESSAGE && rec->kind != LOG_REC_RECALL &&
	    rec->kind != LOG_REC_EDIT)
		return 0;
	rv = sync_search_db_apply(w->db, rec, w->scratch, &del);
	if (rv != 0)
		return rv;
	w->deleted |= del;
	w->applied++;
	if (++w->batch < SYNC_SEARCH_BATCH)
		return 0;
	w->batch = 0;
	if (ss_stopping(w->ss))
		return CF_ECANCELED;
	rv = sync_search_db_commit(w->db);
	if (rv == 0)
		rv = sync_search_db_begin(w->db);
	return rv;
}

static int walk_record(void *arg, const struct log_walk_seg *seg,
		       uint64_t off, const struct log_record *rec)
{
	(void)seg;
	(void)off;
	return walk_apply(arg, rec);
}

static int walk_segment(void *arg, const struct log_walk_seg *seg)
{
	struct walk *w = arg;

	/* Gone since the manifest was read, or unreadable: walk again. A
	 * torn tail (CF_ECORRUPT) is past what was handed over. */
	if ((seg->in_manifest && !seg->on_disk) ||
	    (seg->status != 0 && seg->status != CF_ECORRUPT))
		w->incomplete = true;
	return 0;
}

static int walk_cold_rec(void *arg, const struct log_record *rec)
{
	return walk_apply(arg, rec);
}

static int walk_cold(void *arg, int pdirfd, const struct log_manifest_cold *mc)
{
	struct walk *w = arg;
	struct log_cold *r = NULL;
	char name[LOG_COLD_NAME];
	int rv;

	log_cold_name(name, mc->coldno);
	rv = pdirfd >= 0 ? log_cold_open(&r, pdirfd, name) : -ENOENT;
	if (rv != 0) {
		w->incomplete = true;
		return 0;
	}
	rv = log_cold_scan(r, walk_cold_rec, w);
	log_cold_close(r);
	if (rv == CF_ECORRUPT) {
		w->incomplete = true;
		rv = 0;
	}
	return rv;
}

int ss_walk(struct sync_search *ss, struct sync_search_db *db,
	    uint64_t published, struct cf_buf *scratch, bool *deleted)
{
	static const struct log_walk_ops ops = {
		.manifest = walk_manifest,
		.record = walk_record,
		.segment = walk_segment,
		.cold = walk_cold,
	};
	struct walk w;
	struct log_manifest m;
	char errmsg[CF_ERRMSG_SIZE] = "";
	uint64_t t0 = cf_mono_ms();
	int rv;

	memset(&w, 0, sizeof w);
	w.ss = ss;
	w.db = db;
	w.scratch = scratch;
	w.published = published;
	w.upto = published;
	rv = sync_search_db_position(db, &w.from);
	if (rv != 0)
		return rv;
	rv = sync_search_db_begin(db);
	if (rv != 0)
		return rv;
	log_manifest_init(&m);
	rv = log_walk(ss->store_dir, &m, &ops, &w, errmsg);
	log_manifest_release(&m);
	if (rv == CF_ENOTFOUND && w.upto == 0)
		rv = 0; /* no store yet: nothing to index */
	if (rv == 0 && w.incomplete)
		rv = -EAGAIN;
	if (rv == 0 && w.upto > w.from)
		rv = sync_search_db_set_position(db, w.upto);
	if (rv == 0)
		rv = sync_search_db_commit(db);
	else
		sync_search_db_rollback(db);
	if (rv == 0) {
		atomic_store(&ss->position, w.upto > w.from ? w.upto : w.from);
		atomic_fetch_add(&ss->indexed, w.applied);
		cf_info("search index: caught up from the store: %llu records "
			"in (%llu, %llu] in %.1f s",
			(unsigned long long)w.applied,
			(unsigned long long)w.from, (unsigned long long)w.upto,
			(double)(cf_mono_ms() - t0) / 1000.0);
	} else if (rv != -EAGAIN && rv != CF_ECANCELED && errmsg[0] != '\0') {
		cf_warn("search index: reading the store: %s", errmsg);
	}
	/* A large catch-up leaves many FTS5 segments: merged once idle. */
	*deleted = w.deleted || (rv == 0 && w.applied >= 100000);
	return rv;
}
