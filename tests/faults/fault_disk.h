/*
 * fault_disk: small disks for the fault suite's disk-full scenario (issue
 * 14): each node's data folder moved onto a tmpfs of its own, filled to
 * the last byte and freed again.
 *
 * fault_disk_mount() mounts FAULT_DISK_SIZE tmpfs file systems under a
 * fresh /tmp/confab-fdisk-XXXXXX (needs root: it returns -EPERM-like codes
 * where mount(2) is refused, and the scenario skips);
 * fault_disk_move() stops a node (SIGTERM), copies its data folder onto its
 * tmpfs and restarts it from there; fault_disk_fill() appends to a filler
 * file until the file system refuses a byte; fault_disk_free() removes it.
 * fault_disk_unmount() detaches everything (also safe after a failure).
 *
 * Ownership: the struct is the caller's. Errors: 0 or -errno.
 * Threads: the test's main thread.
 */
#ifndef FAULT_DISK_H
#define FAULT_DISK_H

#include <limits.h>
#include <stdbool.h>

#include "../lib/cf_test_cluster.h"

#define FAULT_DISK_SIZE "128m"

struct fault_disk {
	char root[64];
	char mnt[4][PATH_MAX]; /* [1..3] */
	bool mounted[4];
};

int fault_disk_mount(struct fault_disk *d);
int fault_disk_move(struct fault_disk *d, struct cf_test_cluster *c,
		    unsigned id, int timeout_ms);
int fault_disk_fill(struct fault_disk *d, unsigned id);
int fault_disk_free(struct fault_disk *d, unsigned id);
void fault_disk_unmount(struct fault_disk *d);

#endif
