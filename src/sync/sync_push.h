/*
 * sync_push: push notifications to a webhook (--push-webhook URL).
 *
 * The leader calls sync_push_record() for every committed message; each
 * member other than the sender that has no open socket on any node (as the
 * caller's online() callback says) gets one JSON body
 *   {"userId","conversationId","seq","messageId","senderId","preview"}
 * (preview: the content's first 100 characters), plus "mention": true for
 * a member the message mentions (issue 13), queued in memory and
 * POSTed by a small HTTP/1.1 client on the loop (http:// only, one
 * connection per request, 5 s per attempt, 2xx = delivered). A failed
 * attempt is retried with exponential backoff (1 s doubling to 60 s);
 * a body still undelivered 10 minutes after it was queued is appended to
 * DIR/push-dead-letter.jsonl and counted as failed. Enqueuing never blocks
 * and never delays an ack; past 100,000 queued bodies new ones go straight
 * to the dead letter file.
 *
 * Erasure: sync_push_recall(), on every node, for every committed recall:
 * bodies of that message still queued are dropped, one being sent is not
 * dead-lettered, and the dead letter file is rewritten without its lines
 * (sync_push_erase.c, off the loop thread; dead letters given up meanwhile
 * wait in memory and are appended after).
 * Ownership: struct sync_push is the caller's; sync_push_close() then wait
 * for its callback before freeing it.
 * Errors: sync_push_init() returns 0, CF_EBADREQ (bad URL) or -errno.
 * Threads: loop thread only.
 */
#ifndef SYNC_PUSH_H
#define SYNC_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/cf_buf.h"
#include "common/cf_list.h"
#include "log/log_record.h"
#include "raft/rft_fsm.h"

struct sync_push {
	uv_loop_t *loop;
	struct sockaddr_storage addr;
	char host[256];		/* Host header */
	char path[512];
	char dead_path[4096];
	uv_timer_t timer;
	struct cf_list queue;	/* struct push_job waiting for its turn */
	struct cf_list inflight; /* struct push_job being sent */
	unsigned n_queued;
	unsigned n_inflight;
	uint64_t sent;		/* delivered (2xx) */
	uint64_t failed;	/* given up: dead letter */
	uint64_t give_up_ms;	/* default 10 minutes (tests shorten it) */
	bool closing;
	int pending;
	void (*close_cb)(struct sync_push *p);
	/* Erasure of the dead letter file (sync_push_erase.c). */
	struct cf_buf erase;	/* recalls to erase: u8 id length, id, u64 seq */
	unsigned n_erase;
	struct cf_buf held;	/* dead letters given up while a rewrite runs */
	struct push_rewrite *rewrite; /* running, or NULL */
	uint64_t erased;	/* dead letters erased */
};

/* True if user (len bytes) has an open socket somewhere. */
typedef bool (*sync_push_online_fn)(void *arg, const char *user, size_t len);

int sync_push_init(struct sync_push *p, uv_loop_t *loop, const char *url,
		   const char *data_dir, char *errmsg);
/* Queue the bodies for a committed message record of conv. */
void sync_push_record(struct sync_push *p, const struct log_record *rec,
		      const struct rft_conv *conv, sync_push_online_fn online,
		      void *arg);
/* Queue one body (JSON text, copied). */
void sync_push_enqueue(struct sync_push *p, const char *body, size_t len);
/* A recall of conv's message seq was committed: erase its bodies. */
void sync_push_recall(struct sync_push *p, struct cf_str conv, uint64_t seq);
/* Stop; queued bodies are dropped (not dead-lettered); cb once closed. */
void sync_push_close(struct sync_push *p, void (*cb)(struct sync_push *p));

#endif
