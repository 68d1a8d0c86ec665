/*
 * fe_mention: the @mentions of a message (issue 13), computed by the
 * frontend before a send: the command carries the final list and apply
 * checks it (rft_apply_send.c).
 *
 * Grammar. A mention is '@' followed by a user id, in a message's text:
 *   - the id is the longest run of id bytes ([A-Za-z0-9._:@-], the
 *     alphabet cf_id_valid() accepts) after the '@': it ends at
 *     whitespace, at any other punctuation, at any non-ASCII character or
 *     at the end of the text;
 *   - the '@' must start a word: it is the first byte of the text, or the
 *     character before it is neither an id byte nor a letter of an
 *     alphabet written with spaces (Latin-1 and Latin Extended letters
 *     U+00C0-U+024F but the signs U+00D7 and U+00F7, Greek U+0370-U+03FF,
 *     Cyrillic U+0400-U+04FF). So "bob@example.com" and "josé@x" mention
 *     nobody, while "(@bob)", "“@bob”" and "你好@bob" mention bob;
 *   - a run that is not a member's id is tried again without its trailing
 *     '.', ':', '-', '_' and '@' bytes, one at a time, so that "@bob." and
 *     "@bob:" mention bob (and "@bob." mentions "bob." if that is a
 *     member);
 *   - a run (or what is left of it) that names no current member, or is
 *     longer than CF_ID_MAX, is plain text.
 * Ids are compared bytewise, case-sensitively, as everywhere else.
 *
 * The final list (fe_mention_list): the explicit ids (the caller checked
 * that they are members), then the parsed ones in text order while there
 * is room, sorted bytewise without repeats, at most RFT_MENTIONS_MAX: text
 * past the 50th id is plain text.
 *
 * Ownership: ids borrow from the text or the caller's arrays.
 * Errors: none (predicates and counts). Threads: any; no shared state.
 */
#ifndef FE_MENTION_H
#define FE_MENTION_H

#include <stdbool.h>
#include <stddef.h>

#include "common/cf_buf.h"

/* Whether id is a current member (the caller's conversation). */
typedef bool (*fe_mention_member_fn)(void *arg, struct cf_str id);

/*
 * The next '@' run of text from *pos on (start *pos at 0): true and *run
 * (the bytes after the '@'), or false at the end of the text.
 */
bool fe_mention_next(struct cf_str text, size_t *pos, struct cf_str *run);
/* The member a run names (see the top): true and *id, or false. */
bool fe_mention_resolve(struct cf_str run, fe_mention_member_fn is_member,
			void *arg, struct cf_str *id);
/*
 * The final list into out[0..max): explicit[0..n_explicit) (members, valid
 * ids, at most max of them), then the members mentioned in text; sorted
 * bytewise, no repeats. Returns the count.
 */
unsigned fe_mention_list(struct cf_str text, const struct cf_str *explicit,
			 unsigned n_explicit, fe_mention_member_fn is_member,
			 void *arg, struct cf_str *out, unsigned max);

#endif
