#include "config.h"
/*
 * sync_search: the queue between the loop and the index's worker, the
 * worker thread, consistent waits and queries (see sync_search.h).
 */
#include "sync/sync_search.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "sync/sync_search_int.h"

/* Idle this long after a delete before an optimize, ms. */
#define OPTIMIZE_IDLE_MS 300
/* Under a load that never leaves it idle, at most this long, ms. */
#define OPTIMIZE_MAX_DELAY_MS 5000
/* After an optimize that took d ms, the next waits at least 20 d. */
#define OPTIMIZE_GAP_FACTOR 20
/* Deadline checks of consistent waits, ms. */
#define WAIT_TICK_MS 100

int sync_search_new(struct sync_search **out)
{
	struct sync_search *ss = calloc(1, sizeof(*ss));

	if (ss == NULL)
		return -ENOMEM;
	pthread_mutex_init(&ss->mu, NULL);
	pthread_cond_init(&ss->cond, NULL);
	ss->tail = &ss->head;
	cf_list_init(&ss->waits);
	*out = ss;
	return 0;
}

bool ss_stopping(struct sync_search *ss)
{
	bool stop;

	pthread_mutex_lock(&ss->mu);
	stop = ss->stop || ss->reset;
	pthread_mutex_unlock(&ss->mu);
	return stop;
}

static void queue_drop(struct ss_item *it)
{
	while (it != NULL) {
		struct ss_item *n = it->next;
		free(it);
		it = n;
	}
}

/* ---- the loop side of the queue ---- */

static void copy_str(struct cf_str *s, char **p)
{
	if (s->len > 0)
		memcpy(*p, s->p, s->len);
	s->p = *p;
	*p += s->len;
}

void sync_search_on_record(struct sync_search *ss,
			   const struct log_record *rec)
{
	struct ss_item *it;
	size_t n;
	char *p;

	if (rec->kind != LOG_REC_MESSAGE && rec->kind != LOG_REC_RECALL &&
	    rec->kind != LOG_REC_EDIT)
		return;
	n = sizeof(*it) + rec->conv.len + rec->body.len;
	pthread_mutex_lock(&ss->mu);
	if (rec->raft_index > ss->published)
		ss->published = rec->raft_index;
	if (ss->overflow || ss->q_n >= SYNC_SEARCH_QUEUE_MAX ||
	    ss->q_bytes + n > SYNC_SEARCH_QUEUE_BYTES ||
	    (it = malloc(n)) == NULL) {
		/* The worker reads it from the files instead. */
		ss->overflow = true;
		queue_drop(ss->head);
		ss->head = NULL;
		ss->tail = &ss->head;
		ss->q_n = ss->q_bytes = 0;
		pthread_cond_signal(&ss->cond);
		pthread_mutex_unlock(&ss->mu);
		return;
	}
	it->next = NULL;
	it->bytes = n;
	it->rec = *rec;
	memset(&it->rec.sender, 0, sizeof it->rec.sender);
	memset(&it->rec.client_msg_id, 0, sizeof it->rec.client_msg_id);
	memset(&it->rec.msg_type, 0, sizeof it->rec.msg_type);
	p = it->data;
	copy_str(&it->rec.conv, &p);
	copy_str(&it->rec.body, &p);
	*ss->tail = it;
	ss->tail = &it->next;
	ss->q_n++;
	ss->q_bytes += n;
	/* The worker looks at the queue before it sleeps: it needs waking
	 * for the first record, and when a batch is full (it may linger). */
	if (ss->q_n == 1 || ss->q_n == SYNC_SEARCH_BATCH)
		pthread_cond_signal(&ss->cond);
	pthread_mutex_unlock(&ss->mu);
}

void sync_search_reset(struct sync_search *ss)
{
	pthread_mutex_lock(&ss->mu);
	ss->reset = true;
	pthread_cond_signal(&ss->cond);
	pthread_mutex_unlock(&ss->mu);
}

/* ---- the worker ---- */

static void unlink_db(struct sync_search *ss)
{
	char p[4200];

	unlink(ss->path);
	snprintf(p, sizeof p, "%s-wal", ss->path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", ss->path);
	unlink(p);
	snprintf(p, sizeof p, "%s-journal", ss->path);
	unlink(p);
}

/* The writer connection, a damaged file deleted and created again. */
static struct sync_search_db *open_writer(struct sync_search *ss)
{
	struct sync_search_db *db = NULL;
	char errmsg[CF_ERRMSG_SIZE] = "";
	uint64_t pos = 0;
	int rv;

	if (mkdir(ss->dir, 0700) != 0 && errno != EEXIST) {
		cf_warn("search index: %s: %s", ss->dir, strerror(errno));
		return NULL;
	}
	rv = sync_search_db_open(ss->path, false, &db, errmsg);
	if (rv == CF_ECORRUPT) {
		cf_warn("search index: %s: rebuilding it", errmsg);
		atomic_store(&ss->ready, false);
		atomic_fetch_add(&ss->generation, 1);
		unlink_db(ss);
		errmsg[0] = '\0';
		rv = sync_search_db_open(ss->path, false, &db, errmsg);
	}
	if (rv == 0)
		rv = sync_search_db_position(db, &pos);
	if (rv != 0) {
		cf_warn("search index: %s", errmsg[0] ? errmsg
						      : cf_strerror(rv));
		sync_search_db_close(db);
		return NULL;
	}
	atomic_store(&ss->position, pos);
	atomic_store(&ss->ready, true);
	return db;
}

/* The worker's writer failed with rv: a damaged file is rebuilt. */
static void drop_writer(struct sync_search *ss, struct sync_search_db **db,
			int rv)
{
	sync_search_db_rollback(*db);
	if (rv != CF_ECORRUPT)
		return;
	cf_warn("search index: damaged: deleting and rebuilding it");
	sync_search_db_close(*db);
	*db = NULL;
	atomic_store(&ss->ready, false);
	atomic_fetch_add(&ss->generation, 1);
	unlink_db(ss);
}

static void notify(struct sync_search *ss)
{
	uv_async_send(&ss->async);
}

static void timed_wait(struct sync_search *ss, uint64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&ss->cond, &ss->mu, &ts);
}

/* Apply a batch taken from the queue: 0 or the database's error. */
static int apply_batch(struct sync_search *ss, struct sync_search_db *db,
		       struct ss_item *it, struct cf_buf *scratch,
		       bool *deleted)
{
	uint64_t pos = atomic_load(&ss->position), n = 0;
	int rv = sync_search_db_begin(db);

	for (; rv == 0 && it != NULL; it = it->next) {
		bool del = false;

		if (it->rec.raft_index <= pos)
			continue; /* the walk applied it */
		rv = sync_search_db_apply(db, &it->rec, scratch, &del);
		*deleted |= del;
		pos = it->rec.raft_index;
		n++;
	}
	if (rv == 0 && n > 0)
		rv = sync_search_db_set_position(db, pos);
	if (rv == 0)
		rv = sync_search_db_commit(db);
	if (rv == 0) {
		atomic_store(&ss->position, pos);
		atomic_fetch_add(&ss->indexed, n);
	}
	return rv;
}

static void *worker_main(void *arg)
{
	struct sync_search *ss = arg;
	struct sync_search_db *db = NULL;
	struct cf_buf scratch = CF_BUF_INIT;
	bool need_walk = true, wipe = false;
	uint64_t dirty_at = 0, dirty_first = 0, next_opt = 0;
	uint64_t linger_until = 0;
	int rv;

	pthread_mutex_lock(&ss->mu);
	while (!ss->stop) {
		struct ss_item *batch = NULL, **bt = &batch;
		uint64_t published;
		bool deleted = false;
		unsigned n = 0;

		if (db == NULL) {
			pthread_mutex_unlock(&ss->mu);
			db = open_writer(ss);
			pthread_mutex_lock(&ss->mu);
			if (db == NULL) {
				timed_wait(ss, 1000);
				continue;
			}
			need_walk = true;
		}
		if (ss->reset) {
			ss->reset = false;
			wipe = need_walk = true;
		}
		if (ss->overflow)
			need_walk = true;
		if (need_walk) {
			ss->overflow = false;
			queue_drop(ss->head);
			ss->head = NULL;
			ss->tail = &ss->head;
			ss->q_n = ss->q_bytes = 0;
			published = ss->published;
			pthread_mutex_unlock(&ss->mu);
			rv = 0;
			if (wipe) {
				rv = sync_search_db_begin(db);
				if (rv == 0)
					rv = sync_search_db_wipe(db);
				if (rv == 0)
					rv = sync_search_db_commit(db);
				if (rv == 0) {
					atomic_store(&ss->position, 0);
					wipe = false;
					deleted = true;
				}
			}
			if (rv == 0) {
				atomic_fetch_add(&ss->rebuilds, 1);
				rv = ss_walk(ss, db, published, &scratch,
					     &deleted);
			}
			if (rv == 0)
				need_walk = false;
			else if (rv != -EAGAIN && rv != CF_ECANCELED)
				drop_writer(ss, &db, rv);
			notify(ss);
			pthread_mutex_lock(&ss->mu);
			if (rv == -EAGAIN)
				timed_wait(ss, 50);
			else if (rv != 0 && rv != CF_ECANCELED && db != NULL)
				timed_wait(ss, 1000);
			goto after;
		}
		uint64_t now = cf_mono_ms();

		if (dirty_at != 0 && now >= next_opt &&
		    ((ss->head == NULL && now >= dirty_at + OPTIMIZE_IDLE_MS) ||
		     now >= dirty_first + OPTIMIZE_MAX_DELAY_MS)) {
			/* Deleted text leaves the files (sync_search.h). */
			pthread_mutex_unlock(&ss->mu);
			rv = sync_search_db_optimize(db);
			if (rv == 0) {
				uint64_t d = cf_mono_ms() - now;

				atomic_store(&ss->pending_erasures, 0);
				dirty_at = dirty_first = 0;
				next_opt = cf_mono_ms() + OPTIMIZE_GAP_FACTOR * d;
			} else {
				/* Again in a second (readers, I/O) or on a
				 * database built again. */
				next_opt = cf_mono_ms() + 1000;
				if (rv != -EAGAIN)
					drop_writer(ss, &db, rv);
			}
			pthread_mutex_lock(&ss->mu);
			continue;
		}
		if (ss->head == NULL) {
			uint64_t t = 1000;

			if (dirty_at != 0) {
				uint64_t at = dirty_at + OPTIMIZE_IDLE_MS;

				at = at > next_opt ? at : next_opt;
				t = at > now ? at - now : 1;
			}
			timed_wait(ss, t);
			continue;
		}
		if (ss->q_n < SYNC_SEARCH_BATCH && !atomic_load(&ss->hurry)) {
			if (linger_until == 0)
				linger_until = now + SYNC_SEARCH_LINGER_MS;
			if (now < linger_until) {
				timed_wait(ss, linger_until - now);
				continue;
			}
		}
		linger_until = 0;
		while (ss->head != NULL && n < SYNC_SEARCH_BATCH) {
			struct ss_item *it = ss->head;

			ss->head = it->next;
			ss->q_n--;
			ss->q_bytes -= it->bytes;
			it->next = NULL;
			*bt = it;
			bt = &it->next;
			n++;
		}
		if (ss->head == NULL)
			ss->tail = &ss->head;
		pthread_mutex_unlock(&ss->mu);
		rv = apply_batch(ss, db, batch, &scratch, &deleted);
		queue_drop(batch);
		if (rv != 0) {
			cf_warn("search index: %s: reading the store again",
				cf_strerror(rv));
			drop_writer(ss, &db, rv);
			need_walk = true;
		}
		notify(ss);
		pthread_mutex_lock(&ss->mu);
after:
		if (deleted) {
			atomic_fetch_add(&ss->pending_erasures, 1);
			dirty_at = cf_mono_ms();
			if (dirty_first == 0)
				dirty_first = dirty_at;
		}
	}
	pthread_mutex_unlock(&ss->mu);
	sync_search_db_close(db);
	cf_buf_release(&scratch);
	return NULL;
}

/* ---- the loop side: waits ---- */

static void waits_check(struct sync_search *ss, int status)
{
	uint64_t pos = atomic_load(&ss->position);
	uint64_t now = cf_mono_ms();
	struct cf_list *e = ss->waits.next;

	while (e != &ss->waits) {
		struct sync_search_wait *w =
			CF_CONTAINER_OF(e, struct sync_search_wait, link);

		e = e->next;
		if (status == 0 && pos < w->target && now < w->deadline)
			continue;
		cf_list_remove(&w->link);
		w->cb(w, status != 0 ? status
			 : pos >= w->target ? 0 : CF_ETIMEDOUT);
	}
	if (cf_list_empty(&ss->waits)) {
		atomic_store(&ss->hurry, false);
		if (ss->started && !ss->closing)
			uv_timer_stop(&ss->timer);
	}
}

static void async_cb(uv_async_t *a)
{
	waits_check(a->data, 0);
}

static void timer_cb(uv_timer_t *t)
{
	waits_check(t->data, 0);
}

void sync_search_wait(struct sync_search *ss, struct sync_search_wait *w,
		      uint64_t timeout_ms,
		      void (*cb)(struct sync_search_wait *w, int status))
{
	pthread_mutex_lock(&ss->mu);
	w->target = ss->published;
	pthread_mutex_unlock(&ss->mu);
	w->cb = cb;
	w->deadline = cf_mono_ms() + timeout_ms;
	if (!ss->started || ss->closing) {
		cb(w, CF_EUNAVAIL);
		return;
	}
	if (atomic_load(&ss->position) >= w->target) {
		cb(w, 0);
		return;
	}
	cf_list_push(&ss->waits, &w->link);
	if (!atomic_exchange(&ss->hurry, true)) {
		/* a lingering worker commits what it has now */
		pthread_mutex_lock(&ss->mu);
		pthread_cond_signal(&ss->cond);
		pthread_mutex_unlock(&ss->mu);
	}
	if (!uv_is_active((uv_handle_t *)&ss->timer))
		uv_timer_start(&ss->timer, timer_cb, WAIT_TICK_MS,
			       WAIT_TICK_MS);
}

/* ---- queries ---- */

static struct sync_search_db *reader_get(struct sync_search *ss, int *rv)
{
	uint64_t gen = atomic_load(&ss->generation);
	struct sync_search_db *db = NULL;
	char errmsg[CF_ERRMSG_SIZE] = "";

	pthread_mutex_lock(&ss->mu);
	while (ss->n_pool > 0) {
		unsigned i = --ss->n_pool;

		if (ss->pool_gen[i] == gen) {
			db = ss->pool[i];
			break;
		}
		sync_search_db_close(ss->pool[i]);
	}
	pthread_mutex_unlock(&ss->mu);
	if (db != NULL)
		return db;
	if (!atomic_load(&ss->ready)) {
		*rv = CF_EUNAVAIL;
		return NULL;
	}
	*rv = sync_search_db_open(ss->path, true, &db, errmsg);
	if (*rv != 0) {
		cf_warn("search index: reader: %s", errmsg);
		*rv = *rv == -ENOMEM ? -ENOMEM : CF_EUNAVAIL;
	}
	return db;
}

static void reader_put(struct sync_search *ss, struct sync_search_db *db,
		       uint64_t gen)
{
	pthread_mutex_lock(&ss->mu);
	if (ss->n_pool < SYNC_SEARCH_POOL &&
	    gen == atomic_load(&ss->generation)) {
		ss->pool_gen[ss->n_pool] = gen;
		ss->pool[ss->n_pool++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&ss->mu);
	sync_search_db_close(db);
}

static void work_cb(uv_work_t *w)
{
	struct sync_search_job *job = CF_CONTAINER_OF(w, struct sync_search_job,
						      work);
	uint64_t gen = atomic_load(&job->ss->generation);
	struct sync_search_db *db = reader_get(job->ss, &job->rv);

	if (db == NULL)
		return;
	job->rv = sync_search_db_query(db, &job->q);
	reader_put(job->ss, db, gen);
}

static void after_work_cb(uv_work_t *w, int status);

/* Hand job to the pool (a slot is free); its cb runs if that fails. */
static void job_start(struct sync_search *ss, struct sync_search_job *job)
{
	ss->running++;
	if (uv_queue_work(ss->loop, &job->work, work_cb, after_work_cb) != 0) {
		ss->running--;
		job->rv = -ENOMEM;
		job->cb(job);
	}
}

/* The first waiting job, taken off the wait list (NULL if none). */
static struct sync_search_job *wait_pop(struct sync_search *ss)
{
	struct sync_search_job *job = ss->wait_head;

	if (job != NULL) {
		ss->wait_head = job->next;
		if (ss->wait_head == NULL)
			ss->wait_tail = NULL;
		job->next = NULL;
		ss->waiting--;
	}
	return job;
}

static void after_work_cb(uv_work_t *w, int status)
{
	struct sync_search_job *job = CF_CONTAINER_OF(w, struct sync_search_job,
						      work);
	struct sync_search *ss = job->ss;
	struct sync_search_job *next;

	assert(ss->running > 0);
	ss->running--;
	if (status != 0 && job->rv == 0)
		job->rv = CF_ECANCELED;
	/* The next in line gets the slot before cb can queue another. */
	if (!ss->closing && (next = wait_pop(ss)) != NULL)
		job_start(ss, next);
	job->cb(job);
}

int sync_search_run(struct sync_search *ss, struct sync_search_job *job,
		    void (*cb)(struct sync_search_job *job))
{
	assert(job->q.limit > 0);
	job->ss = ss;
	job->cb = cb;
	job->rv = 0;
	job->next = NULL;
	if (!ss->started || ss->closing)
		return CF_EUNAVAIL;
	if (ss->running < SYNC_SEARCH_RUNNING) {
		job_start(ss, job);
		return 0;
	}
	if (ss->waiting >= SYNC_SEARCH_WAITING)
		return -EBUSY;
	if (ss->wait_tail != NULL)
		ss->wait_tail->next = job;
	else
		ss->wait_head = job;
	ss->wait_tail = job;
	ss->waiting++;
	return 0;
}

/* ---- start, stats, close ---- */

static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", a, b);
	return p;
}

int sync_search_start(struct sync_search *ss, uv_loop_t *loop,
		      const char *data_dir, const char *store_dir,
		      char *errmsg)
{
	int rv;

	assert(!ss->started);
	ss->dir = path_join(data_dir, "search");
	ss->path = path_join(data_dir, "search/index.db");
	ss->store_dir = strdup(store_dir);
	if (ss->dir == NULL || ss->path == NULL || ss->store_dir == NULL) {
		cf_errmsg_printf(errmsg, "search index: out of memory");
		return -ENOMEM;
	}
	ss->loop = loop;
	uv_async_init(loop, &ss->async, async_cb);
	ss->async.data = ss;
	uv_timer_init(loop, &ss->timer);
	ss->timer.data = ss;
	rv = pthread_create(&ss->thread, NULL, worker_main, ss);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "search index: thread: %s",
				 strerror(rv));
		uv_close((uv_handle_t *)&ss->async, NULL);
		uv_close((uv_handle_t *)&ss->timer, NULL);
		return -rv;
	}
	ss->started = true;
	return 0;
}

void sync_search_stats(struct sync_search *ss, struct sync_search_stats *st)
{
	pthread_mutex_lock(&ss->mu);
	st->published = ss->published;
	st->queued = ss->q_n;
	pthread_mutex_unlock(&ss->mu);
	st->position = atomic_load(&ss->position);
	st->pending_erasures = atomic_load(&ss->pending_erasures);
	st->rebuilds = atomic_load(&ss->rebuilds);
	st->indexed = atomic_load(&ss->indexed);
}

static void handle_closed_cb(uv_handle_t *h)
{
	struct sync_search *ss = h->data;

	if (--ss->pending_closes == 0 && ss->close_cb != NULL)
		ss->close_cb(ss->close_arg);
}

void sync_search_close(struct sync_search *ss, void (*cb)(void *arg),
		       void *arg)
{
	assert(!ss->closing);
	ss->closing = true;
	ss->close_cb = cb;
	ss->close_arg = arg;
	if (!ss->started) {
		if (cb != NULL)
			cb(arg);
		return;
	}
	pthread_mutex_lock(&ss->mu);
	ss->stop = true;
	/* Idle readers go first: the writer, closed last, then checkpoints
	 * the WAL into the file and removes it. */
	while (ss->n_pool > 0)
		sync_search_db_close(ss->pool[--ss->n_pool]);
	pthread_cond_signal(&ss->cond);
	pthread_mutex_unlock(&ss->mu);
	pthread_join(ss->thread, NULL);
	waits_check(ss, CF_ESHUTDOWN);
	/* Queries that wait their turn end here; running ones end in
	 * after_work_cb as the pool finishes them. */
	for (struct sync_search_job *job; (job = wait_pop(ss)) != NULL;) {
		job->rv = CF_ESHUTDOWN;
		job->cb(job);
	}
	ss->pending_closes = 2;
	uv_close((uv_handle_t *)&ss->async, handle_closed_cb);
	uv_close((uv_handle_t *)&ss->timer, handle_closed_cb);
}

void sync_search_free(struct sync_search *ss)
{
	if (ss == NULL)
		return;
	queue_drop(ss->head);
	for (unsigned i = 0; i < ss->n_pool; i++)
		sync_search_db_close(ss->pool[i]);
	pthread_mutex_destroy(&ss->mu);
	pthread_cond_destroy(&ss->cond);
	free(ss->dir);
	free(ss->path);
	free(ss->store_dir);
	free(ss);
}
