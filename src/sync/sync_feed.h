/*
 * sync_feed: "every item of a user's conversations after cursor C"
 * (API.md "Offline inbox and sync"), read through the inbox index: walk the
 * user's conversations whose latest item is after C (newest first, stopping
 * at the first older one), read each one's items after C (messages through
 * the store's seq index, found by binary search on messageId; recalls and
 * conversation changes from the inbox's item list), merge them in messageId
 * order and cut a page. Cost: the changed conversations plus the items
 * returned (each with about log2(seqs) reads to find the first message).
 *
 * Items are the WebSocket events of sync_event_json (`message`, `recalled`,
 * `conversation`), each with its cursor; a recalled message appears as its
 * placeholder. A conversation event carries the conversation as it is now.
 * Ownership: returned json_t carry one reference for the caller.
 * Errors: 0, CF_EBADREQ (malformed cursor), CF_ECORRUPT / -errno from the
 * store, -ENOMEM. Threads: loop thread only.
 */
#ifndef SYNC_FEED_H
#define SYNC_FEED_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/cf_buf.h"
#include "raft/rft_fsm.h"
#include "sync/sync_inbox.h"

#define SYNC_FEED_LIMIT_DEFAULT 100
#define SYNC_FEED_LIMIT_MAX 500

/*
 * "m<messageId>" (decimal, no sign, no leading junk, at most 20 digits and
 * UINT64_MAX) -> id; "m0" is the beginning. Leading zeros are accepted:
 * "m007" reads as 7, whose text (sync_cursor_str) is "m7". CF_EBADREQ.
 */
int sync_cursor_parse(struct cf_str s, uint64_t *out);

/*
 * Items of user after messageId `after` and up to `upto` (0: no bound),
 * at most limit (1..MAX), in messageId order, appended to items; *cursor:
 * the last item's messageId (after if none); *more: items remain after the
 * page. max_bytes (0: no bound) ends the page early once the items' stored
 * bytes (content and ids: about their JSON's size) reach it, at least one
 * item per page. Cost: O(conversations changed after `after` + items),
 * store reads included.
 */
int sync_feed_read(struct rft_fsm *f, const struct sync_inbox *ix,
		   struct cf_str user, uint64_t after, uint64_t upto,
		   unsigned limit, size_t max_bytes, json_t *items,
		   uint64_t *cursor, bool *more);

/* {"items": [...], "cursor": "m..", "hasMore": b} */
int sync_feed(struct rft_fsm *f, const struct sync_inbox *ix,
	      struct cf_str user, uint64_t after, unsigned limit,
	      json_t **out);

#endif
