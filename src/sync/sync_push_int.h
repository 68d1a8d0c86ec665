/*
 * sync_push_int: shared by sync_push.c (the queue and the webhook client)
 * and sync_push_erase.c (erasure of the dead letter file). Not for other
 * modules. Threads: loop thread, except the rewrite job's run.
 */
#ifndef SYNC_PUSH_INT_H
#define SYNC_PUSH_INT_H

#include "sync/sync_push.h"

/* Call the close callback once nothing is pending any more. */
void sync__push_maybe_closed(struct sync_push *p);
/* Erase conv's message seq from the dead letter file (queued rewrite). */
void sync__push_erase(struct sync_push *p, struct cf_str conv, uint64_t seq);
/* Closing: a running rewrite keeps p->pending until it ends. */
void sync__push_erase_close(struct sync_push *p);

#endif
