/*
 * log_ckpt: a store checkpoint in three steps, so that its disk work (the
 * fsyncs of measured 12-17 ms, issue 11) runs off the loop thread:
 *
 *   log_ckpt_begin()  loop: capture what the checkpoint makes durable: the
 *                     manifest in memory (every segment with its written
 *                     length and sealed flag, cold files, jobs, the erase
 *                     list, appliedIndex), a dup() of the descriptor of
 *                     each segment with unsynced bytes, a dup() of each
 *                     partition folder that gained files or holds files to
 *                     unlink, and the list of those files (compacted hot
 *                     segments, rewritten cold files). Memory and dup()s
 *                     only: O(segments) and no disk wait.
 *   log_ckpt_run()    any thread, touches only the checkpoint: fdatasync
 *                     each captured segment, fsync the folders that gained
 *                     files, write MANIFEST.tmp, fsync, rename it over
 *                     MANIFEST, fsync the store folder (log_manifest_save),
 *                     then unlink the files the new manifest no longer
 *                     names.
 *   log_ckpt_end()    loop: tell the store how it went; on success it now
 *                     reports the new appliedIndex and the captured lengths
 *                     as synced. Frees the checkpoint.
 *
 * What holds (log_store_cold.c "Life of a job" relies on it):
 *   - What the manifest names is durable before it is named: run syncs the
 *     segments and their folders before it writes the manifest; cold files
 *     were fsync'd by their compaction before they were switched in.
 *   - Nothing observes the checkpoint as durable before its fsyncs are
 *     done: log_store_applied_index() and the segments' synced lengths
 *     change only in log_ckpt_end(), after run returned 0; the MANIFEST
 *     file (which a peer's segment fetch reads) changes only by the rename,
 *     after the data it names is on disk.
 *   - A file is unlinked only once a durable manifest no longer names it.
 *   - The descriptors are duplicates: a segment closed meanwhile (switched
 *     out by a compaction, dropped by a descriptor cache) is still synced
 *     through its duplicate; fdatasync flushes the file, whichever
 *     descriptor names it.
 *   - One checkpoint at a time per store: manifests are written in capture
 *     order, each newer than the one before. log_ckpt_begin() answers
 *     -EBUSY while one is in flight.
 *   - The store keeps working meanwhile (appends, commits, switches); what
 *     changes after the capture belongs to the next checkpoint.
 *
 * Failure: if run fails, log_ckpt_end(status != 0) leaves the store as if
 * the checkpoint had not happened (folders dirty again, the files to
 * unlink listed again). The caller should stop the node (a failed fsync may
 * have dropped dirty pages; DESIGN.md: better down than divergent).
 *
 * Ownership: the checkpoint owns its manifest and its descriptors. Call
 * log_ckpt_end() with the store it was taken from (still open), or, if that
 * store was closed meanwhile, log_ckpt_free(). Never free it while run is
 * executing. Errors: 0, -errno, -ENOMEM, -EBUSY, with errmsg filled by run.
 * Threads: begin, end and free on the loop thread; run on any one thread.
 */
#ifndef LOG_CKPT_H
#define LOG_CKPT_H

#include <stdint.h>

#include "log/log_store.h"

struct log_ckpt;

/* Capture a checkpoint at applied_index (nothing may be staged). */
int log_ckpt_begin(struct log_store *s, uint64_t applied_index,
		   struct log_ckpt **out);
/* The durable part (see above). 0 or -errno, errmsg says which step. */
int log_ckpt_run(struct log_ckpt *c, char *errmsg);
/* status: what run returned, or CF_ECANCELED if it never ran. Frees c. */
void log_ckpt_end(struct log_store *s, struct log_ckpt *c, int status);
/* Free c without telling a store (its store was closed). */
void log_ckpt_free(struct log_ckpt *c);
/* The appliedIndex c records. */
uint64_t log_ckpt_index(const struct log_ckpt *c);

/*
 * Tests only: called at the start of every log_ckpt_run() on the thread
 * that runs it, before any fsync (a test makes the disk "slow" here, or
 * watches that the loop keeps running meanwhile). NULL in production.
 */
extern void (*log_ckpt_test_hook)(void *arg);
extern void *log_ckpt_test_arg;

#endif
