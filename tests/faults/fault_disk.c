#include "config.h"

/* fault_disk: see fault_disk.h. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault_disk.h"

int fault_disk_mount(struct fault_disk *d)
{
	unsigned i;

	memset(d, 0, sizeof *d);
	snprintf(d->root, sizeof d->root, "/tmp/confab-fdisk-XXXXXX");
	if (mkdtemp(d->root) == NULL)
		return -errno;
	for (i = 1; i <= 3; i++) {
		snprintf(d->mnt[i], sizeof d->mnt[i], "%s/n%u", d->root, i);
		if (mkdir(d->mnt[i], 0700) != 0)
			return -errno;
		if (mount("tmpfs", d->mnt[i], "tmpfs", 0,
			  "size=" FAULT_DISK_SIZE ",mode=0700") != 0)
			return -errno;
		d->mounted[i] = true;
	}
	return 0;
}

int fault_disk_move(struct fault_disk *d, struct cf_test_cluster *c,
		    unsigned id, int timeout_ms)
{
	struct cf_test_node *nd = &c->nodes[id];
	char cmd[3 * PATH_MAX];
	int status = -1, rv;

	rv = cf_test_cluster_term(c, id, timeout_ms, &status);
	if (rv != 0 || status != 0)
		return rv != 0 ? rv : -ECHILD;
	snprintf(cmd, sizeof cmd, "cp -a '%s/.' '%s/'", nd->data_dir,
		 d->mnt[id]);
	if (system(cmd) != 0)
		return -EIO;
	snprintf(nd->data_dir, sizeof nd->data_dir, "%s", d->mnt[id]);
	return cf_test_cluster_restart(c, id, timeout_ms);
}

int fault_disk_fill(struct fault_disk *d, unsigned id)
{
	static char chunk[1 << 20];
	static const size_t sizes[] = {sizeof chunk, 4096, 1};
	char path[PATH_MAX + 16];
	int fd, rv = 0;

	snprintf(path, sizeof path, "%s/filler", d->mnt[id]);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	/* Big writes, then pages, then bytes, each until refused. */
	for (unsigned s = 0; s < 3 && rv == 0; s++) {
		for (int k = 0; k < 4096; k++) {
			if (write(fd, chunk, sizes[s]) < 0) {
				if (errno != ENOSPC)
					rv = -errno;
				break;
			}
		}
	}
	close(fd);
	return rv;
}

int fault_disk_free(struct fault_disk *d, unsigned id)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof path, "%s/filler", d->mnt[id]);
	return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
}

void fault_disk_unmount(struct fault_disk *d)
{
	unsigned i;

	for (i = 1; i <= 3; i++) {
		if (d->mounted[i] && umount2(d->mnt[i], MNT_DETACH) == 0)
			d->mounted[i] = false;
		if (d->mnt[i][0] != '\0')
			(void)rmdir(d->mnt[i]);
	}
	if (d->root[0] != '\0')
		(void)rmdir(d->root);
}
