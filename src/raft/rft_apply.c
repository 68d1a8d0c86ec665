#include "config.h"

/*
 * rft_apply: apply one Raft entry to the FSM (DESIGN.md "The replicated
 * log"; the rules per command are those of API.md).
 *
 * For each command in order (the rules of each are in rft_apply_cmd.c):
 * check it against the state, and either answer with an error result
 * (nothing changes) or build its record, stage it in the store
 * (log_store_append copies it) and update the in-memory state at once, so
 * that later commands of the same entry see it (a send into a conversation
 * created earlier in the entry, a second send with the same key, which is
 * then a duplicate of the first). Then commit the staged records, plan the
 * entry's compactions and publish the records to on_record: this file.
 *
 * All-or-nothing per entry: the state is mutated as commands go, which is
 * only safe because every failure after the first mutation stops the FSM: a
 * failed append or commit (or memory failure) aborts the staging, records
 * the error with a message naming the file and unwinds (longjmp) to the
 * start of the entry; the FSM then applies nothing more (rft_fsm.h), and
 * rft_node degrades (full disk) or stops (any other error) the node. Raft
 * replays the entry after the process restarts, on the state rebuilt from
 * the records that were checkpointed. A malformed entry or an unknown entry
 * version abort() the node: better down than divergent.
 *
 * Every time rule uses the entry clock, max(entry serverTs, clock), where
 * clock is that of the last entry that wrote records (see rft_fsm_int.h);
 * apply never reads the local clock or local config.
 */

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "raft/rft_fsm_int.h"

void rft__fatal(struct rft_fsm *f, uint64_t index, const char *what, int rv)
{
	char file[64] = "";

	log_store_abort(f->store);
	if (strcmp(what, "commit") == 0)
		log_store_failed_file(f->store, file, sizeof file);
	cf_errmsg_printf(f->fail_msg, "apply %" PRIu64 ": %s%s%s%s%s: %s",
			 index, what, file[0] ? " " : "",
			 file[0] ? f->store_dir : "", file[0] ? "/" : "", file,
			 cf_strerror(rv));
	cf_error("fsm: %s%s", f->fail_msg,
		 f->fail_armed ? "; applying nothing more" : "; exiting");
	if (!f->fail_armed) {
		fflush(stdout);
		fflush(stderr);
		_exit(1);
	}
	f->failed = rv;
	longjmp(f->fail_jmp, 1); /* to rft_fsm_apply_entry */
}

/* The pending file failed while the store is being rebuilt: stop applying. */
static void pending_failed(struct rft_fsm *f, uint64_t index, int rv)
{
	cf_errmsg_printf(f->fail_msg, "apply %" PRIu64 ": pending file: %s",
			 index, cf_strerror(rv));
	cf_error("fsm: %s; applying nothing more", f->fail_msg);
	f->failed = rv;
}

void rft__snaps_free(struct rft_fsm *f)
{
	while (f->snaps != NULL) {
		struct rft_members_snap *snap = f->snaps;

		f->snaps = snap->next;
		for (unsigned k = 0; k < snap->n_members; k++)
			free(snap->members[k]);
		free(snap->members);
		free(snap);
	}
}

/* The recalled messages of partition p's conversations, in f->recalls. */
static size_t recalls_of(struct rft_fsm *f, unsigned p)
{
	const struct cf_map_slot *s, *r;
	size_t i = 0, n = 0;

	while (cf_map_next(&f->convs, &i, &s)) {
		struct rft_conv_st *c = s->val;
		struct cf_str id = {s->key, s->klen};
		size_t k = 0;

		if (c->recalled.n == 0 ||
		    log_store_part_of(f->store, id) != p)
			continue;
		while (cf_map_next(&c->recalled, &k, &r)) {
			if (n == f->recalls_cap) {
				size_t cap = n == 0 ? 64 : n * 2;
				struct log_recall *v =
					realloc(f->recalls, cap * sizeof(*v));

				if (v == NULL)
					return SIZE_MAX;
				f->recalls = v;
				f->recalls_cap = cap;
			}
			f->recalls[n].conv = id;
			f->recalls[n].seq = cf_get_u64((uint8_t *)r->key);
			f->recalls[n].latest_segno = 0;
			n++;
		}
	}
	return n;
}

/*
 * The edited messages of partition p's conversations, after the n recalls
 * in f->recalls: where each one's latest edit lives (log_recall), so that
 * a job that takes versions older than it erases them.
 */
static size_t edits_of(struct rft_fsm *f, unsigned p, size_t n)
{
	const struct cf_map_slot *s, *r;
	size_t i = 0;

	while (n != SIZE_MAX && cf_map_next(&f->convs, &i, &s)) {
		struct rft_conv_st *c = s->val;
		struct cf_str id = {s->key, s->klen};
		size_t k = 0;

		if (c->edited.n == 0 || log_store_part_of(f->store, id) != p)
			continue;
		while (cf_map_next(&c->edited, &k, &r)) {
			const struct rft_edit *e = r->val;

			if (n == f->recalls_cap) {
				size_t cap = n == 0 ? 64 : n * 2;
				struct log_recall *v =
					realloc(f->recalls, cap * sizeof(*v));

				if (v == NULL)
					return SIZE_MAX;
				f->recalls = v;
				f->recalls_cap = cap;
			}
			f->recalls[n].conv = id;
			f->recalls[n].seq = cf_get_u64((uint8_t *)r->key);
			f->recalls[n].latest_segno = e->loc.segno;
			n++;
		}
	}
	return n;
}

/* A job planned for command q: count it in its result, hand it over. */
static void planned(struct rft_fsm *f, const struct rft_compact_req *q,
		    struct log_compact *job)
{
	f->results[q->pos].seq++;
	if (f->on_compact != NULL)
		f->on_compact(f->on_mark_arg, job);
}

/*
 * Recalls (and edits) of the entry whose message compaction had already
 * taken: the store remembers them for a rewrite of their cold file
 * (erasure).
 */
static void note_recalls(struct rft_fsm *f, uint64_t index)
{
	for (unsigned i = 0; i < f->n_recs; i++) {
		const struct log_record *rec = &f->recs[i];
		int rv;

		if (rec->kind == LOG_REC_EDIT)
			rv = log_store_note_edit(f->store, rec->conv,
						 rec->seq);
		else if (rec->kind != LOG_REC_RECALL)
			continue;
		else
			rv = log_store_note_recall(f->store, rec->conv,
						   rec->seq, rec->ts);
		if (rv != 0)
			rft__fatal(f, index, "recall", rv);
	}
}

/*
 * The entry's compaction commands, once its records are written: seal if
 * asked, then plan one job per partition with sealed segments. The same
 * on every node at this index (sealing and the jobs are functions of the
 * applied state); the node runs the jobs (on_compact).
 */
static void plan_compactions(struct rft_fsm *f, uint64_t index)
{
	for (unsigned k = 0; k < f->n_compacts; k++) {
		const struct rft_compact_req *q = &f->compacts[k];
		unsigned p0 = q->part == RFT_COMPACT_ALL ? 0 : (unsigned)q->part;
		unsigned p1 = q->part == RFT_COMPACT_ALL ? f->partitions
							 : p0 + 1;

		for (unsigned p = p0; p < p1; p++) {
			struct log_compact *job;
			size_t nr;
			int rv;

			if (q->flags & RFT_COMPACT_SEAL)
				log_store_seal(f->store, p);
			/* Cold files holding recalls that came too late. */
			while ((rv = log_store_rewrite_plan(f->store, p, index,
							    &job)) == 0)
				planned(f, q, job);
			if (rv != CF_ENOTFOUND)
				rft__fatal(f, index, "compaction", rv);
			if (log_store_sealed_free(f->store, p) == 0)
				continue;
			nr = recalls_of(f, p);
			if (nr != SIZE_MAX)
				nr = edits_of(f, p, nr);
			if (nr == SIZE_MAX)
				rft__fatal(f, index, "compaction", -ENOMEM);
			rv = log_store_compact_plan(f->store, p, index,
						    q->count, f->recalls, nr,
						    &job);
			if (rv == CF_ENOTFOUND)
				continue;
			if (rv != 0)
				rft__fatal(f, index, "compaction", rv);
			planned(f, q, job);
		}
	}
}

static void publish(struct rft_fsm *f)
{
	unsigned i;

	for (i = 0; i < f->n_recs; i++) {
		struct log_record *rec = &f->recs[i];
		struct rft_conv_st *c = f->rec_convs[i];

		if (f->rec_body_off[i] != SIZE_MAX)
			rec->body.p = f->scratch.data + f->rec_body_off[i];
		if (f->on_record == NULL)
			continue;
		if (c != NULL && f->rec_snap[i] != NULL) {
			/* Members as of the record, for the call only. */
			char **m = c->pub.members;
			unsigned n = c->pub.n_members;

			c->pub.members = f->rec_snap[i]->members;
			c->pub.n_members = f->rec_snap[i]->n_members;
			f->on_record(f->on_record_arg, rec, &c->pub);
			c->pub.members = m;
			c->pub.n_members = n;
			continue;
		}
		f->on_record(f->on_record_arg, rec, c != NULL ? &c->pub : NULL);
	}
	rft__snaps_free(f);
}

static void apply_entry(struct rft_fsm *f, uint64_t index, const void *buf,
			size_t len)
{
	struct rft_apply a = {f, index, 0, 0};
	struct rft_entry e;
	struct rft_cmd cmd;
	size_t pos = 0;
	int rv;

	f->n_results = 0;
	f->results_index = index;
	if (f->rebuilding) {
		/*
		 * The store and the state are the rebuild's (rft_fsm_int.h):
		 * keep the entry; rft_fsm_rebuild_end applies what the fetched
		 * store lacks. Not fatal() on a failure: that aborts the store.
		 */
		rv = rft__pending_add(f, index, buf, len);
		if (rv != 0)
			pending_failed(f, index, rv);
		return;
	}
	if (index <= log_store_applied_index(f->store) || index <= f->applied)
		return; /* replayed: the checkpoint holds it already */
	if (f->needs_fetch) {
		/*
		 * Applying on top of missing segments would diverge: keep the
		 * entry for rft_fsm_fetch_done(). f->applied stays, so that no
		 * checkpoint may claim it.
		 */
		rv = rft__pending_add(f, index, buf, len);
		if (rv != 0)
			rft__fatal(f, index, "pending file", rv);
		return;
	}
	rv = rft_entry_decode(buf, len, &e);
	if (rv != 0) {
		cf_error("fsm: entry %" PRIu64 " (%zu bytes): %s; aborting",
			 index, len, cf_strerror(rv));
		abort();
	}
	if (e.count > f->results_cap) {
		struct rft_result *p = realloc(f->results, e.count * sizeof(*p));

		if (p == NULL)
			rft__fatal(f, index, "results", -ENOMEM);
		f->results = p;
		f->results_cap = e.count;
	}
	a.clock = e.server_ts > f->clock ? e.server_ts : f->clock;
	f->n_recs = 0;
	f->n_marks = 0;
	f->n_compacts = 0;
	f->scratch.len = 0;
	while ((rv = rft_entry_next(&e, &pos, &cmd)) == 1) {
		struct rft_result *res = &f->results[a.pos];

		memset(res, 0, sizeof(*res));
		res->index = index;
		res->status = rft__apply_cmd(&a, &cmd, res);
		a.pos++;
	}
	if (rv != 0 || a.pos != e.count) {
		log_store_abort(f->store);
		cf_error("fsm: entry %" PRIu64 ": command %u: %s; aborting",
			 index, a.pos, cf_strerror(rv));
		abort();
	}
	if (f->n_recs > 0) {
		rv = log_store_commit(f->store);
		if (rv != 0)
			rft__fatal(f, index, "commit", rv);
		note_recalls(f, index);
		f->image_recs += f->n_recs; /* rft_image.c */
		f->clock = a.clock;
		/* Memory only: a find checks ages itself. */
		rft_dedup_expire(&f->dedup, f->clock, 64);
	}
	if (f->n_compacts > 0)
		plan_compactions(f, index);
	f->n_results = e.count;
	f->applied = index;
	f->stats.entries++;
	f->stats.entry_bytes += len;
	f->stats.commands += e.count;
	publish(f);
	for (unsigned i = 0; i < f->n_marks && f->on_mark != NULL; i++)
		f->on_mark(f->on_mark_arg, index, f->marks[i]);
}

void rft_fsm_apply_entry(struct rft_fsm *f, uint64_t index, const void *buf,
			 size_t len)
{
	if (f->failed != 0) {
		/* Stopped: raft keeps the entry; a restart replays it. */
		f->n_results = 0;
		f->results_index = index;
		return;
	}
	if (setjmp(f->fail_jmp) != 0) {
		/* rft__fatal(): the staging is aborted, f->failed set. */
		f->fail_armed = false;
		f->n_results = 0;
		return;
	}
	f->fail_armed = true;
	apply_entry(f, index, buf, len);
	f->fail_armed = false;
}
