/*
 * sync_meta: the fields of a message object that come from its record's
 * meta (issue 13): "replyTo" (the seq it answers), "mentions" (the ids it
 * mentions) and, per reader, "mentionsMe": true. Each is present only when
 * set. Written after "serverTs", in that order, both as jansson fields and
 * as text (the text is what json_dumps(JSON_COMPACT) makes of the fields).
 * A recalled message shows none of them (its placeholder has no content,
 * and mentions come from the content).
 *
 * Ownership: the caller's object or buffer. Errors: 0 or -ENOMEM; a record
 * whose meta does not decode shows no meta (its checksum held on read: it
 * was written so, and the rest of it is still worth showing).
 * Threads: any; no shared state.
 */
#ifndef SYNC_META_H
#define SYNC_META_H

#include <stdbool.h>

#include <jansson.h>

#include "common/cf_buf.h"
#include "log/log_record.h"

/* Set "replyTo" and "mentions" on o (a message object of rec). */
int sync_meta_json_set(json_t *o, const struct log_record *rec);
/* Whether reader (an empty or NULL string: nobody) is among rec's mentions. */
bool sync_meta_mentions(const struct log_record *rec, struct cf_str reader);
/* Set "mentionsMe": true on o if reader is among rec's mentions. */
int sync_meta_json_me(json_t *o, const struct log_record *rec,
		      struct cf_str reader);
/*
 * Write ,"replyTo":n,"mentions":[...],"mentionsMe":true (those that are
 * set; mentionsMe for reader) at the end of b: the text of an object open
 * after its "serverTs".
 */
int sync_meta_write(struct cf_buf *b, const struct log_record *rec,
		    struct cf_str reader);

#endif
