/*
 * cf_vfs_int: between the seam's front (cf_vfs.c: the wrappers and the
 * fault countdown) and its crash model (cf_vfs_model.c). Contract and
 * model: cf_vfs.h. Each hook runs after the call it follows succeeded
 * (model_close: before the close), only while the model runs, and takes
 * the model's mutex; errors inside the model are counted, never returned
 * to the caller of the I/O function (cf_vfs_stats().model_errors).
 */
#ifndef CF_VFS_INT_H
#define CF_VFS_INT_H

#include <stdbool.h>
#include <stdint.h>

/* Set while anything is armed: the one load on the production path. */
extern int cf_vfs__on;
/* The model runs (read without the model's mutex: a hint only). */
bool cf_vfs__model_on(void);
void cf_vfs__model_open(int fd, bool created);
void cf_vfs__model_mkdir(int dirfd, const char *path);
void cf_vfs__model_sync(int fd);
void cf_vfs__model_dup(int oldfd, int newfd);
void cf_vfs__model_close(int fd);
/* cf_vfs_crash's model part; the front has disarmed the faults. */
int cf_vfs__model_crash(unsigned flags);
/* End the model and free it (cf_vfs_reset). */
void cf_vfs__model_end(void);
uint64_t cf_vfs__model_errors(void);
/* The front recomputes cf_vfs__on (the model started or ended). */
void cf_vfs__update_on(void);

#endif
