#include "config.h"

#include "common/cf_io.h"

#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/cf_vfs.h"

/* off < 0: write(2) at the file offset; else pwrite(2) at off. */
static int io_write(int fd, const char *p, size_t n, int64_t off)
{
	while (n > 0) {
		ssize_t w = off < 0 ? cf_vfs_write(fd, p, n)
				    : cf_vfs_pwrite(fd, p, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		if (off >= 0)
			off += w;
	}
	return 0;
}

static int io_read(int fd, char *p, size_t n, int64_t off, size_t *got)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = off < 0 ? cf_vfs_read(fd, p + done, n - done)
				    : cf_vfs_pread(fd, p + done, n - done,
					    (off_t)(off + (int64_t)done));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			*got = done;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	*got = done;
	return 0;
}

int cf_write_all(int fd, const void *p, size_t n)
{
	return io_write(fd, p, n, -1);
}

int cf_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	return io_write(fd, p, n, (int64_t)off);
}

int cf_read_all(int fd, void *p, size_t n, size_t *got)
{
	return io_read(fd, p, n, -1, got);
}

int cf_pread_all(int fd, void *p, size_t n, uint64_t off, size_t *got)
{
	return io_read(fd, p, n, (int64_t)off, got);
}
