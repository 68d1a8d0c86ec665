/*
 * cf_vfs: the file I/O seam of the store (STYLE.md 2.7, "log_vfs"), and
 * its fault injection and crash model.
 *
 * Purpose: every open, read, write, sync, rename, unlink, truncate,
 * allocate, mkdir, fstat, dup and close that the log module (src/log) and
 * cf_io make goes through the functions below, which are the libc calls
 * with a switch in front. In production the switch is off: each function
 * is one relaxed load of a global and a predictable branch, then the libc
 * call. They keep libc's convention (-1 with errno set, or the count), so
 * that a call site only changes its function's name. cf_io's other users
 * (raft's segment fetch, media files, the lock file) pass through it too,
 * which matters only while a test arms it. Not covered: readdir and
 * closedir on a descriptor the seam duplicated (the store's scan of a
 * partition folder; the dup is covered), mmap (cf_img.c), and raft's own
 * log (libraft does its own I/O).
 *
 * Test control (both parts are off until a test turns them on):
 *
 *   Faults. cf_vfs_fail_after(n, kinds, err, flags): the n-th call from now
 *   (n = 1: the next) whose kind is in the mask kinds fails with errno err
 *   and does nothing (close still closes: Linux releases the descriptor
 *   whatever close returns). CF_VFS_STICKY: every later call of those
 *   kinds fails too. CF_VFS_TORN: a failed write or pwrite of two bytes or
 *   more first writes its first half (a disk that filled up mid-write).
 *   CF_VFS_POWER_OFF: the machine dies at that call: it and every later
 *   call of any kind fail with EIO and do nothing (close closes and
 *   returns 0), so the disk keeps exactly what it had when the power went;
 *   then cf_vfs_crash() reverts what was not durable. cf_vfs_stats() says
 *   whether the fault was reached, so a test loops n = 1, 2, ... until an
 *   operation succeeds with the fault not reached.
 *
 *   Crash model. cf_vfs_model_start(root) takes the folder root as it is
 *   now as durable, and from then on the seam records what each
 *   successful fsync or fdatasync made durable:
 *     - a regular file's content is durable as of its last fsync or
 *       fdatasync (through any descriptor); write, pwrite, ftruncate,
 *       fallocate and sync_file_range make nothing durable;
 *     - a folder's entries (name -> file) are durable as of its last fsync:
 *       a file created, renamed, unlinked or a folder made in it since
 *       then is not, whatever was done to the file itself (strict POSIX;
 *       ext4 is often kinder, the model is not);
 *     - a file created after the start and never synced has durable
 *       content of zero bytes (its name may be durable, by a folder
 *       fsync, while its content is not).
 *   cf_vfs_crash(flags) then does to the folder what a power cut would at
 *   worst: every folder under root gets back its durable entries (names
 *   made since are removed, names unlinked or renamed away come back, a
 *   rename over an existing name is undone) and every file its durable
 *   content. With CF_VFS_CRASH_KEEP_NAMES the folders keep their entries
 *   as they are (as if each had been fsync'd just before the cut) and only
 *   file contents revert: the other classic outcome (a rename that
 *   reached the disk before the data of the file it names). The model is
 *   per inode: the content a name gets back is that of the file the name
 *   had at the folder's last fsync, even if that file was unlinked since.
 *   Root itself is taken as durable (its entry in its parent is not
 *   modelled). Everything that changes the tree while the model runs must
 *   go through the seam (a file created otherwise is adopted with its
 *   content at the folder fsync that first lists it). Partial effects of
 *   a write in flight at the cut (torn sectors) are not modelled beyond
 *   CF_VFS_TORN. Call cf_vfs_crash() once nothing in the process uses the
 *   tree (the test closes the store first, as a dead process would have);
 *   it restarts the model from the reverted tree and disarms any fault.
 *
 * Errors: the I/O functions as libc; the control functions 0 or -errno.
 * Threads: the I/O functions are thread-safe (the model takes a mutex on
 * its slow path only). The control functions are called from one thread
 * while no operation under test runs.
 */
#ifndef CF_VFS_H
#define CF_VFS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

int cf_vfs_openat(int dirfd, const char *path, int flags, mode_t mode);
ssize_t cf_vfs_read(int fd, void *buf, size_t n);
ssize_t cf_vfs_pread(int fd, void *buf, size_t n, off_t off);
ssize_t cf_vfs_write(int fd, const void *buf, size_t n);
ssize_t cf_vfs_pwrite(int fd, const void *buf, size_t n, off_t off);
int cf_vfs_fsync(int fd);
int cf_vfs_fdatasync(int fd);
int cf_vfs_sync_file_range(int fd, off_t off, off_t n, unsigned flags);
int cf_vfs_renameat(int olddirfd, const char *oldpath, int newdirfd,
		    const char *newpath);
int cf_vfs_unlinkat(int dirfd, const char *path, int flags);
int cf_vfs_ftruncate(int fd, off_t len);
int cf_vfs_fallocate(int fd, int mode, off_t off, off_t len);
int cf_vfs_mkdirat(int dirfd, const char *path, mode_t mode);
int cf_vfs_fstat(int fd, struct stat *st);
/* fcntl(fd, F_DUPFD_CLOEXEC, 0). */
int cf_vfs_dup(int fd);
int cf_vfs_close(int fd);

/* --- test control ---------------------------------------------------- */

/* Kinds of call, as a mask. */
enum cf_vfs_kind {
	CF_VFS_OPEN = 1u << 0,	     /* openat */
	CF_VFS_READ = 1u << 1,	     /* read, pread */
	CF_VFS_WRITE = 1u << 2,	     /* write, pwrite */
	CF_VFS_SYNC = 1u << 3,	     /* fsync, fdatasync */
	CF_VFS_SYNC_RANGE = 1u << 4, /* sync_file_range (advice) */
	CF_VFS_RENAME = 1u << 5,     /* renameat */
	CF_VFS_UNLINK = 1u << 6,     /* unlinkat */
	CF_VFS_TRUNCATE = 1u << 7,   /* ftruncate */
	CF_VFS_ALLOCATE = 1u << 8,   /* fallocate */
	CF_VFS_MKDIR = 1u << 9,	     /* mkdirat */
	CF_VFS_STAT = 1u << 10,	     /* fstat */
	CF_VFS_DUP = 1u << 11,	     /* dup */
	CF_VFS_CLOSE = 1u << 12,     /* close */
	CF_VFS_ALL = (1u << 13) - 1,
};

enum cf_vfs_fail_flags {
	CF_VFS_STICKY = 1u << 0,
	CF_VFS_TORN = 1u << 1,
	CF_VFS_POWER_OFF = 1u << 2,
};

/* Arm the countdown (see above); kinds 0 means CF_VFS_ALL, err 0 EIO.
 * Replaces a countdown armed before and zeroes the statistics. */
void cf_vfs_fail_after(uint64_t n, unsigned kinds, int err, unsigned flags);
/* Disarm the countdown (the model, if running, keeps running). */
void cf_vfs_fail_off(void);

struct cf_vfs_stats {
	uint64_t calls;	 /* calls of the armed kinds since armed */
	uint64_t failed; /* of which made to fail */
	bool fired;	 /* the n-th call was reached */
	bool power_off;	 /* the machine is "off" (CF_VFS_POWER_OFF fired) */
	enum cf_vfs_kind fired_kind; /* the kind of the n-th call */
	uint64_t model_errors; /* the model could not record a step */
};
void cf_vfs_stats(struct cf_vfs_stats *out);

enum cf_vfs_crash_flags {
	CF_VFS_CRASH_KEEP_NAMES = 1u << 0,
};

/* Start the crash model over the folder root (see above). */
int cf_vfs_model_start(const char *root);
/* Revert root to what is durable (see above); the model restarts. */
int cf_vfs_crash(unsigned flags);
/* Bytes of file content the model holds (durable copies), for tests. */
uint64_t cf_vfs_model_bytes(void);
/* Disarm the countdown, end the model, free its memory. */
void cf_vfs_reset(void);

#endif
