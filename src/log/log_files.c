#include "config.h"

/*
 * The bounded descriptor cache (contract in log_files.h).
 *
 * Entries are allocated one by one (a handle's address is stable while it
 * is held) and listed in an unordered table that lookups scan: the table
 * holds at most cap entries plus those held beyond it, and cap is small
 * (LOG_FILES_DEFAULT), so a scan costs less than the pread that follows.
 * LRU is a tick stamped on every get; eviction closes the unheld entry with
 * the smallest tick. An entry that is forgotten while held leaves the table
 * at once (no new holder can find it) and is closed by its last put.
 *
 * Opens run outside the mutex (an open may wait for the disk); two threads
 * that miss the same file both open it and the second keeps the first's
 * descriptor.
 */

#include "log/log_files.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/cf_vfs.h"
#include "log/log_cold.h"
#include "log/log_segment.h"

struct fent {
	struct log_file pub; /* what holders see */
	unsigned partition;
	enum log_file_kind kind;
	uint32_t no;
	unsigned refs;
	uint64_t used; /* tick of the last get */
	bool stale;    /* forgotten while held: out of the table */
};

struct log_files {
	pthread_mutex_t mu;
	int rootfd;
	unsigned cap;
	struct fent **v; /* the table: entries that gets can find */
	size_t n;
	size_t vcap;
	unsigned open;	 /* entries open, stale ones included */
	unsigned cold;	 /* of which cold files */
	unsigned held;	 /* handles held */
	uint64_t tick;
	uint64_t opens;
	uint64_t hits;
};

#define FENT(f) ((struct fent *)((char *)(f)-offsetof(struct fent, pub)))

int log_files_create(struct log_files **out, int rootfd, unsigned cap)
{
	struct log_files *fc;
	int rv;

	if (cap == 0 || cap > LOG_FILES_MAX)
		return -EINVAL;
	fc = calloc(1, sizeof(*fc));
	if (fc == NULL)
		return -ENOMEM;
	fc->cap = cap;
	fc->rootfd = cf_vfs_dup(rootfd);
	if (fc->rootfd < 0) {
		rv = -errno;
		goto err_free;
	}
	rv = pthread_mutex_init(&fc->mu, NULL);
	if (rv != 0) {
		rv = -rv;
		goto err_close;
	}
	*out = fc;
	return 0;

err_close:
	cf_vfs_close(fc->rootfd);
err_free:
	free(fc);
	assert(rv != 0);
	return rv;
}

/* Close e's descriptor and free it (e is out of the table). */
static void fent_close(struct log_files *fc, struct fent *e)
{
	assert(e->refs == 0);
	if (e->pub.attach != NULL && e->pub.attach_free != NULL)
		e->pub.attach_free(e->pub.attach);
	cf_vfs_close(e->pub.fd);
	fc->open--;
	if (e->kind == LOG_FILE_COLD)
		fc->cold--;
	free(e);
}

/* Take the table's entry i out of the table (order does not matter). */
static struct fent *table_take(struct log_files *fc, size_t i)
{
	struct fent *e = fc->v[i];

	fc->v[i] = fc->v[--fc->n];
	return e;
}

static ptrdiff_t table_find(const struct log_files *fc, unsigned partition,
			    enum log_file_kind kind, uint32_t no)
{
	for (size_t i = 0; i < fc->n; i++) {
		const struct fent *e = fc->v[i];

		if (e->no == no && e->partition == partition &&
		    e->kind == kind)
			return (ptrdiff_t)i;
	}
	return -1;
}

/* Close the least recently used unheld entry; false if every one is held. */
static bool evict_one(struct log_files *fc)
{
	ptrdiff_t lru = -1;

	for (size_t i = 0; i < fc->n; i++)
		if (fc->v[i]->refs == 0 &&
		    (lru < 0 || fc->v[i]->used < fc->v[lru]->used))
			lru = (ptrdiff_t)i;
	if (lru < 0)
		return false;
	fent_close(fc, table_take(fc, (size_t)lru));
	return true;
}

void log_files_destroy(struct log_files *fc)
{
	if (fc == NULL)
		return;
	assert(fc->held == 0);
	while (fc->n > 0)
		fent_close(fc, table_take(fc, fc->n - 1));
	assert(fc->open == 0);
	free(fc->v);
	cf_vfs_close(fc->rootfd);
	pthread_mutex_destroy(&fc->mu);
	free(fc);
}

static int file_open(const struct log_files *fc, unsigned partition,
		     enum log_file_kind kind, uint32_t no)
{
	char part[LOG_SEG_NAME];
	char name[LOG_SEG_NAME > LOG_COLD_NAME ? LOG_SEG_NAME : LOG_COLD_NAME];
	char path[2 * sizeof(name) + 2];
	int fd;

	log_segment_part_name(part, partition);
	if (kind == LOG_FILE_COLD)
		log_cold_name(name, no);
	else
		log_segment_name(name, no);
	snprintf(path, sizeof(path), "%s/%s", part, name);
	fd = cf_vfs_openat(fc->rootfd, path, O_RDONLY | O_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

/* Under the mutex: hold e. */
static struct log_file *fent_hold(struct log_files *fc, struct fent *e)
{
	e->refs++;
	e->used = ++fc->tick;
	fc->held++;
	return &e->pub;
}

int log_files_get(struct log_files *fc, unsigned partition,
		  enum log_file_kind kind, uint32_t no, struct log_file **out)
{
	struct fent *e;
	ptrdiff_t i;
	int fd;

	pthread_mutex_lock(&fc->mu);
	i = table_find(fc, partition, kind, no);
	if (i >= 0) {
		fc->hits++;
		*out = fent_hold(fc, fc->v[i]);
		pthread_mutex_unlock(&fc->mu);
		return 0;
	}
	pthread_mutex_unlock(&fc->mu);

	fd = file_open(fc, partition, kind, no);
	if (fd < 0)
		return fd;
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		cf_vfs_close(fd);
		return -ENOMEM;
	}
	e->pub.fd = fd;
	e->partition = partition;
	e->kind = kind;
	e->no = no;

	pthread_mutex_lock(&fc->mu);
	i = table_find(fc, partition, kind, no);
	if (i >= 0) {
		/* Another thread opened it meanwhile: use that one. */
		fc->hits++;
		*out = fent_hold(fc, fc->v[i]);
		pthread_mutex_unlock(&fc->mu);
		cf_vfs_close(fd);
		free(e);
		return 0;
	}
	if (fc->n == fc->vcap) {
		size_t cap = fc->vcap == 0 ? 16 : fc->vcap * 2;
		struct fent **p = realloc(fc->v, cap * sizeof(*p));

		if (p == NULL) {
			pthread_mutex_unlock(&fc->mu);
			cf_vfs_close(fd);
			free(e);
			return -ENOMEM;
		}
		fc->v = p;
		fc->vcap = cap;
	}
	/* Room first: at most cap open unless all of them are held. */
	while (fc->open >= fc->cap && evict_one(fc))
		;
	fc->v[fc->n++] = e;
	fc->open++;
	if (kind == LOG_FILE_COLD)
		fc->cold++;
	fc->opens++;
	*out = fent_hold(fc, e);
	pthread_mutex_unlock(&fc->mu);
	return 0;
}

void log_files_put(struct log_files *fc, struct log_file *f)
{
	struct fent *e = FENT(f);

	pthread_mutex_lock(&fc->mu);
	assert(e->refs > 0 && fc->held > 0);
	e->refs--;
	fc->held--;
	if (e->refs == 0 && e->stale) {
		/* tested: test_log_files forgotten_file_closes_at_last_put */
		fent_close(fc, e);
	} else {
		/* Back to the bound once handles held beyond it come back. */
		while (fc->open > fc->cap && evict_one(fc))
			;
	}
	pthread_mutex_unlock(&fc->mu);
}

void log_files_forget(struct log_files *fc, unsigned partition,
		      enum log_file_kind kind, uint32_t no)
{
	struct fent *e;
	ptrdiff_t i;

	pthread_mutex_lock(&fc->mu);
	i = table_find(fc, partition, kind, no);
	if (i >= 0) {
		e = table_take(fc, (size_t)i);
		if (e->refs == 0)
			fent_close(fc, e);
		else
			e->stale = true;
	}
	pthread_mutex_unlock(&fc->mu);
}

int log_files_open_part(struct log_files *fc, unsigned partition)
{
	char part[LOG_SEG_NAME];
	int fd;

	log_segment_part_name(part, partition);
	/* rootfd is never closed while the cache lives: no lock needed. */
	fd = cf_vfs_openat(fc->rootfd, part,
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

void log_files_stats(struct log_files *fc, struct log_files_stats *st)
{
	pthread_mutex_lock(&fc->mu);
	st->open = fc->open;
	st->cold = fc->cold;
	st->held = fc->held;
	st->cap = fc->cap;
	st->opens = fc->opens;
	st->hits = fc->hits;
	pthread_mutex_unlock(&fc->mu);
}
