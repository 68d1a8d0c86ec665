/*
 * cf_lock: one process per data directory.
 *
 * cf_lock_dir() takes an exclusive, non-blocking flock(2) on DIR/LOCK (made
 * if missing) and writes the holder's pid into it, so that a second confabd,
 * or confabctl working offline, on the same folder fails at once with a
 * message naming the holder instead of both writing the same segments. The
 * lock lives as long as the descriptor: the kernel drops it when the process
 * ends, however it ends, so a crash never leaves a stale lock behind.
 *
 * Ownership: the caller owns the returned descriptor; cf_unlock_dir() closes
 * it. Errors: 0, -errno, or -EBUSY (held by another process) with errmsg
 * naming the pid found in the file. Threads: any.
 */
#ifndef CF_LOCK_H
#define CF_LOCK_H

#define CF_LOCK_NAME "LOCK"

/* Lock dir (which must exist); *fd receives the lock's descriptor. */
int cf_lock_dir(const char *dir, int *fd, char *errmsg);
/* Release a lock taken by cf_lock_dir() (fd < 0: nothing). */
void cf_unlock_dir(int fd);

#endif
