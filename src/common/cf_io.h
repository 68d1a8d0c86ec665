/*
 * cf_io: whole-buffer file I/O on top of read/write/pread/pwrite, retrying
 * interrupted calls (EINTR) and short transfers, so that callers see one
 * call per buffer.
 *
 * Ownership: buffers are the caller's. Errors: 0 or -errno; a read that
 * meets the end of the file early is not an error: *got tells how much
 * came (callers decide whether short is corrupt). Threads: any (no state).
 */
#ifndef CF_IO_H
#define CF_IO_H

#include <stddef.h>
#include <stdint.h>

/* Write all n bytes to fd at its offset. */
int cf_write_all(int fd, const void *p, size_t n);
/* Write all n bytes at off. */
int cf_pwrite_all(int fd, const void *p, size_t n, uint64_t off);
/* Read up to n bytes from fd's offset; *got < n only at the end of file. */
int cf_read_all(int fd, void *p, size_t n, size_t *got);
/* Read up to n bytes at off; *got < n only at the end of the file. */
int cf_pread_all(int fd, void *p, size_t n, uint64_t off, size_t *got);

#endif
