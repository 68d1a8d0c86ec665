#include "config.h"

/*
 * rft_compact: compaction jobs between the store, the worker thread and
 * the loop (contract in rft_compact.h).
 *
 * One wrapper per job handed over: it lives in c->waiting until the worker
 * takes it, in c->submitted while the worker holds it. run() on the worker
 * calls log_compact_run(), which touches only the job; done() on the loop
 * switches it, or puts the wrapper back in waiting with a retry time.
 */

#include "raft/rft_compact.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "log/log_segment.h"

struct cjob {
	struct rft_worker_job wj;
	struct rft_compact *c;
	struct log_compact *job;
	struct cf_list link;
	uint64_t not_before; /* ms: retry time after a failure */
	uint64_t t0, t1;     /* run start and end, ms */
	bool switch_only;    /* run done; the switch waits for another job */
	int rv;		     /* of log_compact_run */
	char errmsg[CF_ERRMSG_SIZE];
};

void rft_compact_init(struct rft_compact *c, struct rft_worker *w,
		      struct log_store *(*store)(void *arg),
		      void (*on_switch)(void *arg,
					const struct log_compact_result *r),
		      void *arg)
{
	memset(c, 0, sizeof(*c));
	c->worker = w;
	c->store = store;
	c->on_switch = on_switch;
	c->arg = arg;
	cf_list_init(&c->waiting);
	cf_list_init(&c->submitted);
}

static void cjob_free(struct cjob *j)
{
	cf_list_remove(&j->link);
	j->c->n--;
	free(j);
}

static void cjob_run(struct rft_worker_job *wj)
{
	struct cjob *j = wj->data;

	j->t0 = cf_mono_ms();
	j->rv = log_compact_run(j->job, j->errmsg);
	j->t1 = cf_mono_ms();
}

static void cjob_switch(struct cjob *j)
{
	struct rft_compact *c = j->c;
	struct log_compact_result r = *log_compact_get(j->job);
	char errmsg[CF_ERRMSG_SIZE] = "";
	char part[LOG_SEG_NAME], from[40];
	int rv;

	log_segment_part_name(part, r.partition);
	rv = log_store_compact_switch(c->store(c->arg), j->job, errmsg);
	if (rv == -EAGAIN) {
		/* A rewrite whose input's own job has not switched yet. */
		j->switch_only = true;
		j->not_before = cf_mono_ms() + 200;
		cf_list_remove(&j->link);
		cf_list_push(&c->waiting, &j->link);
		return;
	}
	if (rv != 0) {
		/* Out of memory only: the job stays pending, retry. */
		cf_warn("compaction %s: switch: %s (%s); retrying", part,
			errmsg, cf_strerror(rv));
		j->not_before = cf_mono_ms() + RFT_COMPACT_RETRY_MS;
		cf_list_remove(&j->link);
		cf_list_push(&c->waiting, &j->link);
		return;
	}
	c->stats.runs++;
	c->stats.last_ms = j->t1 - j->t0;
	c->stats.last_index = r.index;
	c->stats.records_erased += r.erased;
	c->stats.bytes_read += r.bytes_in;
	c->stats.bytes_written += r.bytes_out;
	if (r.input_coldno != 0)
		snprintf(from, sizeof from, "%08u.cold", (unsigned)r.input_coldno);
	else
		snprintf(from, sizeof from, "segments %u-%u",
			 (unsigned)r.first_segno, (unsigned)r.last_segno);
	cf_info("compaction %s (index %llu): %s -> %08u.cold: "
		"%llu records, %llu erased, %llu -> %llu bytes in %llu ms",
		part, (unsigned long long)r.index, from, (unsigned)r.coldno,
		(unsigned long long)r.records, (unsigned long long)r.erased,
		(unsigned long long)r.bytes_in,
		(unsigned long long)r.bytes_out,
		(unsigned long long)(j->t1 - j->t0));
	cjob_free(j);
	if (c->on_switch != NULL)
		c->on_switch(c->arg, &r);
}

static void cjob_done(struct rft_worker_job *wj, int status)
{
	struct cjob *j = wj->data;
	struct rft_compact *c = j->c;

	if (c->closing || status != 0) {
		/* Cancelled (closing): the job stays pending in the store. */
		cjob_free(j);
		return;
	}
	if (j->rv != 0) {
		c->stats.failures++;
		cf_warn("%s (%s); retrying in %u s", j->errmsg,
			cf_strerror(j->rv), RFT_COMPACT_RETRY_MS / 1000);
		j->not_before = cf_mono_ms() + RFT_COMPACT_RETRY_MS;
		cf_list_remove(&j->link);
		cf_list_push(&c->waiting, &j->link);
		return;
	}
	cjob_switch(j);
}

static void cjob_try(struct cjob *j)
{
	struct rft_compact *c = j->c;
	int rv;

	j->wj.data = j;
	rv = rft_worker_submit(c->worker, &j->wj, cjob_run, cjob_done);
	if (rv != 0)
		return; /* queue full or closing: stays waiting */
	cf_list_remove(&j->link);
	cf_list_push(&c->submitted, &j->link);
}

static bool known(const struct rft_compact *c, const struct log_compact *job)
{
	const struct cf_list *heads[2] = {&c->waiting, &c->submitted};

	for (int h = 0; h < 2; h++) {
		struct cf_list *it;

		cf_list_foreach(it, heads[h])
		{
			if (CF_CONTAINER_OF(it, struct cjob, link)->job == job)
				return true;
		}
	}
	return false;
}

int rft_compact_submit(struct rft_compact *c, struct log_compact *job)
{
	struct cjob *j;

	if (c->closing || known(c, job))
		return 0;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return -ENOMEM;
	j->c = c;
	j->job = job;
	cf_list_push(&c->waiting, &j->link);
	c->n++;
	cjob_try(j);
	return 0;
}

int rft_compact_resume(struct rft_compact *c)
{
	struct log_compact **v;
	size_t n = log_store_jobs(c->store(c->arg), &v);

	for (size_t i = 0; i < n; i++) {
		int rv = rft_compact_submit(c, v[i]);

		if (rv != 0)
			return rv;
	}
	return 0;
}

void rft_compact_tick(struct rft_compact *c, uint64_t now_ms)
{
	struct cf_list *it, *next;

	if (c->closing)
		return;
	for (it = c->waiting.next; it != &c->waiting; it = next) {
		struct cjob *j = CF_CONTAINER_OF(it, struct cjob, link);

		next = it->next;
		if (now_ms < j->not_before)
			continue;
		if (j->switch_only)
			cjob_switch(j);
		else
			cjob_try(j);
	}
}

bool rft_compact_busy(const struct rft_compact *c)
{
	return c->n > 0;
}

void rft_compact_forget(struct rft_compact *c)
{
	while (!cf_list_empty(&c->waiting))
		cjob_free(CF_CONTAINER_OF(cf_list_head(&c->waiting),
					  struct cjob, link));
}

void rft_compact_close(struct rft_compact *c)
{
	c->closing = true;
	rft_compact_forget(c);
}
