#include "config.h"

/*
 * fuzz_cmd: the decoders of what travels between nodes and into the FSM
 * (issue 14, "entry/command decoding"), under arbitrary bytes:
 *   - rft_cmd_decode() of the whole input, as a follower's forwarded
 *     command arrives on the peer link: an accepted command of a known type
 *     must re-encode to exactly the input (the encoding is canonical: the
 *     SEND tail only when it says something), its strings inside the input;
 *   - rft_entry_decode() and rft_entry_next() over the input as a Raft
 *     entry (a damaged one must be refused, never read past);
 *   - rft_result_decode() (results on the peer link): accepted results
 *     re-encode to the input;
 *   - the record bodies of rft_rec.h (conversation, members, receipt, and
 *     message split/meta/mentions with each flag combination) over the
 *     input: accepted lists are walked to their end.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "log/log_record.h"
#include "raft/rft_cmd.h"
#include "raft/rft_rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(struct cf_str s, const uint8_t *lo, size_t n)
{
	if (s.len > 0 && ((const uint8_t *)s.p < lo ||
			  (const uint8_t *)s.p + s.len > lo + n))
		abort();
}

static void walk(struct cf_str list, const uint8_t *lo, size_t n)
{
	struct cf_str id;
	size_t pos = 0;
	unsigned k = 0;

	inside(list, lo, n);
	while (rft_idlist_next(list, &pos, &id)) {
		inside(id, lo, n);
		k++;
	}
	if (k != rft_idlist_count(list))
		abort();
}

static bool known(uint8_t type)
{
	return type >= RFT_CMD_CREATE && type <= RFT_CMD_EDIT;
}

static void check_cmd(const uint8_t *data, size_t size)
{
	struct cf_buf again = CF_BUF_INIT;
	struct rft_cmd c;

	if (rft_cmd_decode(data, size, &c) != 0 || !known(c.type))
		return;
	inside(c.user, data, size);
	inside(c.conv, data, size);
	inside(c.client_msg_id, data, size);
	inside(c.msg_type, data, size);
	inside(c.content, data, size);
	inside(c.attachment, data, size);
	inside(c.title, data, size);
	inside(c.media_id, data, size);
	walk(c.members, data, size);
	walk(c.removed, data, size);
	walk(c.mentions, data, size);
	if (rft_cmd_encode(&c, &again) != 0 || again.len != size ||
	    memcmp(again.data, data, size) != 0)
		abort();
	cf_buf_release(&again);
}

static void check_entry(const uint8_t *data, size_t size)
{
	struct rft_entry e;
	struct rft_cmd c;
	size_t pos = 0;
	unsigned n = 0;
	int rv;

	if (rft_entry_decode(data, size, &e) != 0)
		return;
	inside((struct cf_str){(const char *)e.body, e.body_len}, data, size);
	while ((rv = rft_entry_next(&e, &pos, &c)) == 1 && n++ <= e.count)
		inside(c.user, data, size);
	if (rv < 0 && rv != CF_ECORRUPT)
		abort();
}

static void check_result(const uint8_t *data, size_t size)
{
	struct cf_buf again = CF_BUF_INIT;
	struct rft_result r;

	if (rft_result_decode(data, size, &r) != 0)
		return;
	if (rft_result_encode(&r, &again) != 0 || again.len != size ||
	    memcmp(again.data, data, size) != 0)
		abort();
	cf_buf_release(&again);
}

static void check_bodies(const uint8_t *data, size_t size)
{
	struct cf_str body = {(const char *)data, size};
	struct rft_rec_conv conv;
	struct rft_rec_members mem;
	struct rft_rec_receipt rc;
	struct log_record rec = {0};

	if (rft_rec_conv_decode(body, &conv) == 0)
		walk(conv.members, data, size);
	if (rft_rec_members_decode(body, &mem) == 0) {
		walk(mem.added, data, size);
		walk(mem.removed, data, size);
	}
	(void)rft_rec_receipt_decode(body, &rc);
	rec.kind = LOG_REC_MESSAGE;
	rec.body = body;
	for (unsigned f = 0; f < 4; f++) {
		struct cf_str content, att;
		struct rft_rec_meta meta;

		rec.flags = (uint8_t)f; /* RFT_REC_MSG_ATTACH, _META */
		if (rft_rec_message_split(&rec, &content, &att) == 0) {
			inside(content, data, size);
			inside(att, data, size);
		}
		if (rft_rec_message_meta(&rec, &meta) == 0) {
			walk(meta.mentions, data, size);
			(void)rft_rec_mentions_has(meta.mentions,
						   CF_STR_LIT("bob"));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_cmd(data, size);
	check_entry(data, size);
	check_result(data, size);
	check_bodies(data, size);
	return 0;
}
