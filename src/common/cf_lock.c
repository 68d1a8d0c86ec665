#include "config.h"

/* cf_lock: see cf_lock.h. DIR/LOCK holds the holder's pid in decimal. */

#include "common/cf_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/cf_err.h"
#include "common/cf_io.h"

int cf_lock_dir(const char *dir, int *fd, char *errmsg)
{
	char path[4096], pid[32];
	size_t got = 0;
	int rv, n;

	*fd = -1;
	snprintf(path, sizeof path, "%s/%s", dir, CF_LOCK_NAME);
	n = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (n < 0) {
		rv = -errno;
		cf_errmsg_printf(errmsg, "%s: %s", path, strerror(errno));
		return rv;
	}
	if (flock(n, LOCK_EX | LOCK_NB) != 0) {
		rv = -errno;
		if (rv == -EWOULDBLOCK) {
			memset(pid, 0, sizeof pid);
			(void)cf_pread_all(n, pid, sizeof pid - 1, 0, &got);
			pid[strcspn(pid, "\n")] = '\0';
			cf_errmsg_printf(errmsg,
					 "%s is in use by another process "
					 "(pid %s)",
					 dir, got > 0 ? pid : "unknown");
			rv = -EBUSY;
		} else {
			cf_errmsg_printf(errmsg, "flock %s: %s", path,
					 strerror(-rv));
		}
		close(n);
		return rv;
	}
	/* For the message of the next one; the lock holds without it. */
	snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(n, 0) == 0)
		(void)cf_pwrite_all(n, pid, strlen(pid), 0);
	*fd = n;
	return 0;
}

void cf_unlock_dir(int fd)
{
	if (fd >= 0)
		close(fd); /* drops the flock */
}
