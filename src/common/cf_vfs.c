#include "config.h"

/*
 * cf_vfs: the I/O wrappers and the fault countdown (contract and crash
 * model in cf_vfs.h; the model itself is cf_vfs_model.c). Each wrapper
 * reads cf_vfs__on once: off, it is the libc call; on, it asks the gate
 * whether this call fails, then calls libc and tells the model what
 * happened.
 */

#include "common/cf_vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cf_vfs_int.h"

int cf_vfs__on;

static pthread_mutex_t vfs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	bool armed;
	uint64_t n;
	unsigned kinds;
	int err;
	unsigned flags;
} vfs_fault;
static struct cf_vfs_stats vfs_st;

static inline bool vfs_off(void)
{
	return __builtin_expect(
		__atomic_load_n(&cf_vfs__on, __ATOMIC_RELAXED) == 0, 1);
}

void cf_vfs__update_on(void)
{
	int on;

	pthread_mutex_lock(&vfs_mu);
	on = vfs_fault.armed || vfs_st.power_off || cf_vfs__model_on();
	__atomic_store_n(&cf_vfs__on, on, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&vfs_mu);
}

/*
 * The verdict for one call of kind k: 0 (go on) or the errno to fail
 * with. *torn: write half first; *dead: the power is off (close closes
 * and succeeds).
 */
static int vfs_gate(unsigned k, bool *torn, bool *dead)
{
	int e = 0;

	*torn = false;
	*dead = false;
	pthread_mutex_lock(&vfs_mu);
	if (vfs_st.power_off) {
		*dead = true;
		e = EIO;
		goto out;
	}
	if (!vfs_fault.armed || (vfs_fault.kinds & k) == 0)
		goto out;
	vfs_st.calls++;
	if (vfs_st.calls == vfs_fault.n) {
		vfs_st.fired = true;
		vfs_st.fired_kind = (enum cf_vfs_kind)k;
	} else if (!vfs_st.fired || !(vfs_fault.flags & CF_VFS_STICKY)) {
		goto out;
	}
	vfs_st.failed++;
	if (vfs_fault.flags & CF_VFS_POWER_OFF) {
		vfs_st.power_off = true;
		*dead = true;
		e = EIO;
	} else {
		e = vfs_fault.err;
		*torn = (vfs_fault.flags & CF_VFS_TORN) != 0;
	}
out:
	pthread_mutex_unlock(&vfs_mu);
	return e;
}

/* Fail the call with e (the wrappers' common exit). */
static int vfs_fail(int e)
{
	errno = e;
	return -1;
}

/* Declarations and the gate of every wrapper below. */
#define VFS_DECL bool torn, dead; int e

int cf_vfs_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	VFS_DECL;
	struct stat st;
	bool created;
	int fd;

	if (vfs_off())
		return openat(dirfd, path, flags, mode);
	if ((e = vfs_gate(CF_VFS_OPEN, &torn, &dead)) != 0)
		return vfs_fail(e);
	/* Did this open create the file? Asked only for the model. */
	created = (flags & O_CREAT) && cf_vfs__model_on() &&
		  ((flags & O_EXCL) ||
		   (fstatat(dirfd, path, &st, 0) != 0 && errno == ENOENT));
	fd = openat(dirfd, path, flags, mode);
	if (fd >= 0)
		cf_vfs__model_open(fd, created);
	return fd;
}

ssize_t cf_vfs_read(int fd, void *buf, size_t n)
{
	VFS_DECL;

	if (vfs_off())
		return read(fd, buf, n);
	if ((e = vfs_gate(CF_VFS_READ, &torn, &dead)) != 0)
		return vfs_fail(e);
	return read(fd, buf, n);
}

ssize_t cf_vfs_pread(int fd, void *buf, size_t n, off_t off)
{
	VFS_DECL;

	if (vfs_off())
		return pread(fd, buf, n, off);
	if ((e = vfs_gate(CF_VFS_READ, &torn, &dead)) != 0)
		return vfs_fail(e);
	return pread(fd, buf, n, off);
}

ssize_t cf_vfs_write(int fd, const void *buf, size_t n)
{
	VFS_DECL;

	if (vfs_off())
		return write(fd, buf, n);
	if ((e = vfs_gate(CF_VFS_WRITE, &torn, &dead)) != 0) {
		if (torn && n > 1 && write(fd, buf, n / 2) < 0) {
			/* the injected error is the one to report */
		}
		return vfs_fail(e);
	}
	return write(fd, buf, n);
}

ssize_t cf_vfs_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	VFS_DECL;

	if (vfs_off())
		return pwrite(fd, buf, n, off);
	if ((e = vfs_gate(CF_VFS_WRITE, &torn, &dead)) != 0) {
		if (torn && n > 1 && pwrite(fd, buf, n / 2, off) < 0) {
			/* the injected error is the one to report */
		}
		return vfs_fail(e);
	}
	return pwrite(fd, buf, n, off);
}

int cf_vfs_fsync(int fd)
{
	VFS_DECL;

	if (vfs_off())
		return fsync(fd);
	if ((e = vfs_gate(CF_VFS_SYNC, &torn, &dead)) != 0)
		return vfs_fail(e);
	if (fsync(fd) != 0)
		return -1;
	cf_vfs__model_sync(fd);
	return 0;
}

int cf_vfs_fdatasync(int fd)
{
	VFS_DECL;

	if (vfs_off())
		return fdatasync(fd);
	if ((e = vfs_gate(CF_VFS_SYNC, &torn, &dead)) != 0)
		return vfs_fail(e);
	if (fdatasync(fd) != 0)
		return -1;
	cf_vfs__model_sync(fd);
	return 0;
}

int cf_vfs_sync_file_range(int fd, off_t off, off_t n, unsigned flags)
{
	VFS_DECL;

	if (vfs_off())
		return sync_file_range(fd, off, n, flags);
	if ((e = vfs_gate(CF_VFS_SYNC_RANGE, &torn, &dead)) != 0)
		return vfs_fail(e);
	/* Not durable (no metadata, no disk cache flush): the model
	 * records nothing. */
	return sync_file_range(fd, off, n, flags);
}

int cf_vfs_renameat(int olddirfd, const char *oldpath, int newdirfd,
		    const char *newpath)
{
	VFS_DECL;

	if (vfs_off())
		return renameat(olddirfd, oldpath, newdirfd, newpath);
	if ((e = vfs_gate(CF_VFS_RENAME, &torn, &dead)) != 0)
		return vfs_fail(e);
	return renameat(olddirfd, oldpath, newdirfd, newpath);
}

int cf_vfs_unlinkat(int dirfd, const char *path, int flags)
{
	VFS_DECL;

	if (vfs_off())
		return unlinkat(dirfd, path, flags);
	if ((e = vfs_gate(CF_VFS_UNLINK, &torn, &dead)) != 0)
		return vfs_fail(e);
	return unlinkat(dirfd, path, flags);
}

int cf_vfs_ftruncate(int fd, off_t len)
{
	VFS_DECL;

	if (vfs_off())
		return ftruncate(fd, len);
	if ((e = vfs_gate(CF_VFS_TRUNCATE, &torn, &dead)) != 0)
		return vfs_fail(e);
	return ftruncate(fd, len);
}

int cf_vfs_fallocate(int fd, int mode, off_t off, off_t len)
{
	VFS_DECL;

	if (vfs_off())
		return fallocate(fd, mode, off, len);
	if ((e = vfs_gate(CF_VFS_ALLOCATE, &torn, &dead)) != 0)
		return vfs_fail(e);
	return fallocate(fd, mode, off, len);
}

int cf_vfs_mkdirat(int dirfd, const char *path, mode_t mode)
{
	VFS_DECL;

	if (vfs_off())
		return mkdirat(dirfd, path, mode);
	if ((e = vfs_gate(CF_VFS_MKDIR, &torn, &dead)) != 0)
		return vfs_fail(e);
	if (mkdirat(dirfd, path, mode) != 0)
		return -1;
	cf_vfs__model_mkdir(dirfd, path);
	return 0;
}

int cf_vfs_fstat(int fd, struct stat *st)
{
	VFS_DECL;

	if (vfs_off())
		return fstat(fd, st);
	if ((e = vfs_gate(CF_VFS_STAT, &torn, &dead)) != 0)
		return vfs_fail(e);
	return fstat(fd, st);
}

int cf_vfs_dup(int fd)
{
	VFS_DECL;
	int nfd;

	if (vfs_off())
		return fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if ((e = vfs_gate(CF_VFS_DUP, &torn, &dead)) != 0)
		return vfs_fail(e);
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (nfd >= 0)
		cf_vfs__model_dup(fd, nfd);
	return nfd;
}

int cf_vfs_close(int fd)
{
	VFS_DECL;

	if (vfs_off())
		return close(fd);
	cf_vfs__model_close(fd);
	if ((e = vfs_gate(CF_VFS_CLOSE, &torn, &dead)) != 0) {
		/* Linux releases the descriptor whatever close says; with
		 * the power off, the process just lets go of it. */
		(void)close(fd);
		return dead ? 0 : vfs_fail(e);
	}
	return close(fd);
}

/* ---------------------------------------------------------- control */

void cf_vfs_fail_after(uint64_t n, unsigned kinds, int err, unsigned flags)
{
	pthread_mutex_lock(&vfs_mu);
	vfs_fault.armed = n > 0;
	vfs_fault.n = n;
	vfs_fault.kinds = kinds != 0 ? kinds : CF_VFS_ALL;
	vfs_fault.err = err != 0 ? err : EIO;
	vfs_fault.flags = flags;
	memset(&vfs_st, 0, sizeof(vfs_st));
	pthread_mutex_unlock(&vfs_mu);
	cf_vfs__update_on();
}

void cf_vfs_fail_off(void)
{
	pthread_mutex_lock(&vfs_mu);
	vfs_fault.armed = false;
	vfs_st.power_off = false;
	pthread_mutex_unlock(&vfs_mu);
	cf_vfs__update_on();
}

void cf_vfs_stats(struct cf_vfs_stats *out)
{
	pthread_mutex_lock(&vfs_mu);
	*out = vfs_st;
	pthread_mutex_unlock(&vfs_mu);
	out->model_errors = cf_vfs__model_errors();
}

int cf_vfs_crash(unsigned flags)
{
	/* The machine restarts: the power is back, nothing armed. */
	cf_vfs_fail_off();
	return cf_vfs__model_crash(flags);
}

void cf_vfs_reset(void)
{
	pthread_mutex_lock(&vfs_mu);
	vfs_fault.armed = false;
	memset(&vfs_st, 0, sizeof(vfs_st));
	pthread_mutex_unlock(&vfs_mu);
	cf_vfs__model_end();
	cf_vfs__update_on();
}
