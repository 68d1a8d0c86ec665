#include "config.h"

/*
 * cf_vfs_model: the seam's crash model (what it promises: cf_vfs.h).
 *
 * State. One vnode per file or folder seen under the root, keyed while it
 * lives by (st_dev, st_ino):
 *   - a file's vnode holds its durable content, a copy taken at the
 *     model's start and replaced by each successful fsync/fdatasync (the
 *     whole file is read again through /proc/self/fd: the descriptor may
 *     be write-only; test files are small);
 *   - a folder's vnode holds its durable entries, name -> vnode, taken at
 *     the start and replaced by each successful fsync of the folder.
 * An entry points at a vnode, not at an inode number: a name whose file
 * was unlinked or renamed over since the folder's last fsync still gets
 * that file's durable content back. A file created through the seam (or a
 * folder made) gets a fresh vnode that replaces any vnode with the same
 * (dev, ino) in the table of live ones, so a reused inode number is never
 * mistaken for the file that had it before. Descriptors map to vnodes
 * (set by open and dup, cleared by close), checked against fstat's inode
 * at each sync; a descriptor the seam did not open falls back to the
 * table. Vnodes are freed only when the model ends or restarts.
 *
 * Crash: every folder from the root down is made to hold exactly its
 * durable entries (other names removed, a folder with all it holds),
 * each file rewritten under its name (unlinked, created, durable content
 * written) and each folder entered in turn. Then the model restarts from
 * the tree as it now is. The model's own I/O calls libc directly: it is
 * never subject to the faults.
 */

#include "common/cf_vfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cf_vfs_int.h"

struct vnode;

struct dent {
	char *name;
	struct vnode *v;
};

struct vnode {
	struct vnode *all; /* every vnode, for the final free */
	dev_t dev;
	ino_t ino;
	bool dir;
	char *data; /* file: durable content */
	size_t len;
	struct dent *ents; /* folder: durable entries */
	size_t nents;
};

static pthread_mutex_t model_mu = PTHREAD_MUTEX_INITIALIZER;
/* The model runs; atomic, read without the mutex by cf_vfs__model_on. */
static int model_on;
static struct {
	char *root;
	struct vnode *rootv;
	struct vnode *all;
	struct vnode **live; /* by (dev, ino), the current holder */
	size_t nlive, livecap;
	struct vnode **fds; /* by descriptor */
	size_t nfds;
	uint64_t bytes;
	uint64_t errors;
} M;

bool cf_vfs__model_on(void)
{
	return __atomic_load_n(&model_on, __ATOMIC_RELAXED) != 0;
}

uint64_t cf_vfs__model_errors(void)
{
	uint64_t n;

	pthread_mutex_lock(&model_mu);
	n = M.errors;
	pthread_mutex_unlock(&model_mu);
	return n;
}

uint64_t cf_vfs_model_bytes(void)
{
	uint64_t n;

	pthread_mutex_lock(&model_mu);
	n = M.bytes;
	pthread_mutex_unlock(&model_mu);
	return n;
}

/* ------------------------------------------------------------ vnodes */

static void ents_free(struct dent *ents, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ents[i].name);
	free(ents);
}

static struct vnode *vn_find(dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < M.nlive; i++)
		if (M.live[i]->ino == ino && M.live[i]->dev == dev)
			return M.live[i];
	return NULL;
}

/* A fresh vnode, now the live holder of (dev, ino); NULL without memory. */
static struct vnode *vn_new(dev_t dev, ino_t ino, bool dir)
{
	struct vnode *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	v->dev = dev;
	v->ino = ino;
	v->dir = dir;
	v->all = M.all;
	M.all = v;
	for (size_t i = 0; i < M.nlive; i++) {
		if (M.live[i]->ino == ino && M.live[i]->dev == dev) {
			M.live[i] = v; /* the old holder is dead */
			return v;
		}
	}
	if (M.nlive == M.livecap) {
		size_t cap = M.livecap == 0 ? 64 : M.livecap * 2;
		struct vnode **p = realloc(M.live, cap * sizeof(*p));

		if (p == NULL)
			return NULL; /* v stays in M.all, freed at the end */
		M.live = p;
		M.livecap = cap;
	}
	M.live[M.nlive++] = v;
	return v;
}

static void vn_set_data(struct vnode *v, char *data, size_t len)
{
	M.bytes -= v->len;
	free(v->data);
	v->data = data;
	v->len = len;
	M.bytes += len;
}

/* All of the file open at fd, read from the start, into *out (malloc'd). */
static int read_whole(int fd, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *p = malloc(cap);
	ssize_t r;

	if (p == NULL)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			char *q = realloc(p, cap * 2);

			if (q == NULL) {
				free(p);
				return -ENOMEM;
			}
			p = q;
			cap *= 2;
		}
		r = pread(fd, p + n, cap - n, (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(p);
			return -errno;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*out = p;
	*len = n;
	return 0;
}

/* The current content of the file behind fd, whatever fd's access mode. */
static int read_fd_content(int fd, char **out, size_t *len)
{
	char path[64];
	int rfd, rv;

	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	rfd = open(path, O_RDONLY | O_CLOEXEC);
	if (rfd < 0)
		return -errno;
	rv = read_whole(rfd, out, len);
	close(rfd);
	return rv;
}

static int dir_entries(int dfd, struct dent **out, size_t *n);

/*
 * The vnode of name in the folder dfd (lstat'ed as st, a file or folder):
 * the live one, or one adopted with its current content (a folder: its
 * entries, deeply).
 */
static int vn_of(int dfd, const char *name, const struct stat *st,
		 struct vnode **out)
{
	struct vnode *v = vn_find(st->st_dev, st->st_ino);
	int fd, rv;

	*out = v;
	if (v != NULL)
		return 0;
	v = vn_new(st->st_dev, st->st_ino, S_ISDIR(st->st_mode));
	if (v == NULL)
		return -ENOMEM;
	*out = v;
	fd = openat(dfd, name,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
			    (v->dir ? O_DIRECTORY : 0));
	if (fd < 0)
		return -errno;
	if (v->dir) {
		rv = dir_entries(fd, &v->ents, &v->nents);
	} else {
		char *data;
		size_t len;

		rv = read_whole(fd, &data, &len);
		if (rv == 0)
			vn_set_data(v, data, len);
	}
	close(fd);
	return rv;
}

/* The folder dfd's current entries (files and folders), as durable ones. */
static int dir_entries(int dfd, struct dent **out, size_t *n)
{
	struct dent *ents = NULL;
	size_t cap = 0, cnt = 0;
	struct dirent *e;
	struct stat st;
	DIR *d;
	int fd, rv = 0;

	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		rv = -errno;
		close(fd);
		return rv;
	}
	while ((e = readdir(d)) != NULL) {
		struct vnode *v;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			rv = -errno;
			break;
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
			continue;
		rv = vn_of(fd, e->d_name, &st, &v);
		if (rv != 0)
			break;
		if (cnt == cap) {
			size_t c = cap == 0 ? 16 : cap * 2;
			struct dent *p = realloc(ents, c * sizeof(*p));

			if (p == NULL) {
				rv = -ENOMEM;
				break;
			}
			ents = p;
			cap = c;
		}
		ents[cnt].name = strdup(e->d_name);
		if (ents[cnt].name == NULL) {
			rv = -ENOMEM;
			break;
		}
		ents[cnt++].v = v;
	}
	closedir(d);
	if (rv != 0) {
		ents_free(ents, cnt);
		return rv;
	}
	*out = ents;
	*n = cnt;
	return 0;
}

/* ------------------------------------------------------- start, end */

static void model_free(void)
{
	while (M.all != NULL) {
		struct vnode *v = M.all;

		M.all = v->all;
		free(v->data);
		ents_free(v->ents, v->nents);
		free(v);
	}
	free(M.live);
	free(M.fds);
	free(M.root);
	memset(&M, 0, sizeof(M));
}

/* Under the mutex: take the tree at root as durable. */
static int model_start(const char *root)
{
	struct stat st;
	int fd, rv;

	M.root = strdup(root);
	if (M.root == NULL)
		return -ENOMEM;
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rv = -errno;
		goto out;
	}
	M.rootv = vn_new(st.st_dev, st.st_ino, true);
	rv = M.rootv == NULL ? -ENOMEM
			     : dir_entries(fd, &M.rootv->ents, &M.rootv->nents);
out:
	close(fd);
	return rv;
}

int cf_vfs_model_start(const char *root)
{
	int rv;

	pthread_mutex_lock(&model_mu);
	model_free();
	rv = model_start(root);
	if (rv != 0)
		model_free();
	__atomic_store_n(&model_on, rv == 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&model_mu);
	cf_vfs__update_on();
	return rv;
}

void cf_vfs__model_end(void)
{
	pthread_mutex_lock(&model_mu);
	__atomic_store_n(&model_on, 0, __ATOMIC_RELAXED);
	model_free();
	pthread_mutex_unlock(&model_mu);
}

/* ------------------------------------------------------------- hooks */

static void fd_set_vnode(int fd, struct vnode *v)
{
	if (fd < 0)
		return;
	if ((size_t)fd >= M.nfds) {
		size_t n = (size_t)fd + 64;
		struct vnode **p = realloc(M.fds, n * sizeof(*p));

		if (p == NULL) {
			M.errors++;
			return;
		}
		memset(p + M.nfds, 0, (n - M.nfds) * sizeof(*p));
		M.fds = p;
		M.nfds = n;
	}
	M.fds[fd] = v;
}

void cf_vfs__model_open(int fd, bool created)
{
	struct stat st;

	pthread_mutex_lock(&model_mu);
	if (!model_on)
		goto out;
	if (fstat(fd, &st) != 0) {
		M.errors++;
		goto out;
	}
	if (created) {
		struct vnode *v = vn_new(st.st_dev, st.st_ino, false);

		if (v == NULL)
			M.errors++;
		fd_set_vnode(fd, v);
	} else {
		/* NULL: a file outside the tree, not modelled. */
		fd_set_vnode(fd, vn_find(st.st_dev, st.st_ino));
	}
out:
	pthread_mutex_unlock(&model_mu);
}

void cf_vfs__model_mkdir(int dirfd, const char *path)
{
	struct stat st;

	pthread_mutex_lock(&model_mu);
	if (!model_on)
		goto out;
	if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    vn_new(st.st_dev, st.st_ino, true) == NULL)
		M.errors++;
out:
	pthread_mutex_unlock(&model_mu);
}

void cf_vfs__model_sync(int fd)
{
	struct vnode *v = NULL;
	struct stat st;
	int rv = 0;

	pthread_mutex_lock(&model_mu);
	if (!model_on)
		goto out;
	if (fstat(fd, &st) != 0) {
		M.errors++;
		goto out;
	}
	if ((size_t)fd < M.nfds)
		v = M.fds[fd];
	if (v == NULL || v->ino != st.st_ino || v->dev != st.st_dev)
		v = vn_find(st.st_dev, st.st_ino);
	if (v == NULL)
		goto out; /* not in the tree */
	if (v->dir) {
		struct dent *ents;
		size_t n;

		rv = dir_entries(fd, &ents, &n);
		if (rv == 0) {
			ents_free(v->ents, v->nents);
			v->ents = ents;
			v->nents = n;
		}
	} else {
		char *data;
		size_t len;

		rv = read_fd_content(fd, &data, &len);
		if (rv == 0)
			vn_set_data(v, data, len);
	}
	if (rv != 0)
		M.errors++;
out:
	pthread_mutex_unlock(&model_mu);
}

void cf_vfs__model_dup(int oldfd, int newfd)
{
	pthread_mutex_lock(&model_mu);
	if (model_on)
		fd_set_vnode(newfd, (size_t)oldfd < M.nfds ? M.fds[oldfd]
							    : NULL);
	pthread_mutex_unlock(&model_mu);
}

void cf_vfs__model_close(int fd)
{
	pthread_mutex_lock(&model_mu);
	if (model_on && fd >= 0 && (size_t)fd < M.nfds)
		M.fds[fd] = NULL;
	pthread_mutex_unlock(&model_mu);
}

/* ------------------------------------------------------------- crash */

/* Remove name from the folder dfd, a folder with all it holds. */
static int rm_rf(int dfd, const char *name)
{
	struct dirent *e;
	DIR *d;
	int fd, rv = 0;

	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		rv = -errno;
		close(fd);
		return rv;
	}
	while (rv == 0 && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			rv = rm_rf(fd, e->d_name);
	closedir(d);
	if (rv == 0 && unlinkat(dfd, name, AT_REMOVEDIR) != 0)
		rv = -errno;
	return rv;
}

static const struct dent *ent_find(const struct vnode *v, const char *name)
{
	for (size_t i = 0; i < v->nents; i++)
		if (strcmp(v->ents[i].name, name) == 0)
			return &v->ents[i];
	return NULL;
}

/* Make every folder under dfd (v) durable as it is now (KEEP_NAMES). */
static int keep_names(int dfd, struct vnode *v)
{
	struct dent *ents;
	size_t n;
	int rv;

	rv = dir_entries(dfd, &ents, &n);
	if (rv != 0)
		return rv;
	ents_free(v->ents, v->nents);
	v->ents = ents;
	v->nents = n;
	for (size_t i = 0; i < n && rv == 0; i++) {
		int fd;

		if (!ents[i].v->dir)
			continue;
		fd = openat(dfd, ents[i].name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		rv = keep_names(fd, ents[i].v);
		close(fd);
	}
	return rv;
}

static int write_file(int dfd, const char *name, const struct vnode *v)
{
	size_t done = 0;
	int fd, rv = 0;

	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (done < v->len) {
		ssize_t w = write(fd, v->data + done, v->len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rv = -errno;
			break;
		}
		done += (size_t)w;
	}
	close(fd);
	return rv;
}

/* Make the folder dfd hold exactly v's durable entries, deeply. */
static int apply_dir(int dfd, const struct vnode *v)
{
	struct dirent *e;
	struct stat st;
	DIR *d;
	int fd, rv = 0;

	/* Names that are not durable, or durable as the other type. */
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		rv = -errno;
		close(fd);
		return rv;
	}
	while (rv == 0 && (e = readdir(d)) != NULL) {
		const struct dent *de;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			rv = -errno;
			break;
		}
		de = ent_find(v, e->d_name);
		if (de == NULL || de->v->dir != (S_ISDIR(st.st_mode) != 0))
			rv = rm_rf(fd, e->d_name);
	}
	/* rewinddir is not needed: the rest goes by the durable list. */
	closedir(d);
	for (size_t i = 0; i < v->nents && rv == 0; i++) {
		const struct dent *de = &v->ents[i];
		int cfd;

		if (!de->v->dir) {
			if (unlinkat(dfd, de->name, 0) != 0 && errno != ENOENT)
				rv = -errno;
			else
				rv = write_file(dfd, de->name, de->v);
			continue;
		}
		if (mkdirat(dfd, de->name, 0755) != 0 && errno != EEXIST) {
			rv = -errno;
			break;
		}
		cfd = openat(dfd, de->name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0) {
			rv = -errno;
			break;
		}
		rv = apply_dir(cfd, de->v);
		close(cfd);
	}
	return rv;
}

int cf_vfs__model_crash(unsigned flags)
{
	char *root = NULL;
	int fd = -1, rv;

	pthread_mutex_lock(&model_mu);
	if (!model_on) {
		rv = -EINVAL;
		goto out;
	}
	fd = open(M.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		rv = -errno;
		goto out;
	}
	rv = 0;
	if (flags & CF_VFS_CRASH_KEEP_NAMES)
		rv = keep_names(fd, M.rootv);
	if (rv == 0)
		rv = apply_dir(fd, M.rootv);
	close(fd);
	if (rv != 0)
		goto out;
	/* The machine is back: its disk, as durable, is the new start. */
	root = M.root;
	M.root = NULL;
	model_free();
	rv = model_start(root);
	free(root);
out:
	if (rv != 0)
		model_free();
	__atomic_store_n(&model_on, rv == 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&model_mu);
	cf_vfs__update_on();
	return rv;
}
