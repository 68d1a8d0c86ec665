#include "config.h"

/*
 * fe_query: the query parameters of the GET routes, parsed without the
 * node (contract in fe_query.h).
 */

#include "frontend/fe_query.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/cf_err.h"
#include "common/cf_id.h"
#include "frontend/fe_json.h"
#include "sync/sync_feed.h"

/*
 * The number named name: *present says whether it was given, *out is its
 * value (0 if absent). CF_EBADREQ if given but not a number.
 */
static int query_num(const struct fe_http_req *req, const char *name,
		     bool *present, uint64_t *out)
{
	struct cf_str v;

	*out = 0;
	*present = fe_http_query_get(req, name, &v) == 0;
	if (!*present)
		return 0;
	return fe_parse_u64(v, out) == 0 ? 0 : CF_EBADREQ;
}

/* The same, and a given value must be positive. */
static int query_pos(const struct fe_http_req *req, const char *name,
		     uint64_t *out)
{
	bool has;

	if (query_num(req, name, &has, out) != 0)
		return CF_EBADREQ;
	return has && *out == 0 ? CF_EBADREQ : 0;
}

static unsigned clamp(uint64_t v, unsigned def, unsigned max)
{
	if (v == 0)
		return def;
	return v > max ? max : (unsigned)v;
}

int fe_query_list_cursor_parse(struct cf_str s, uint64_t *id)
{
	uint64_t v;

	if (s.p == NULL || s.len < 2 || s.p[0] != 'a' ||
	    fe_parse_u64((struct cf_str){s.p + 1, s.len - 1}, &v) != 0 ||
	    v == 0)
		return CF_EBADREQ;
	*id = v;
	return 0;
}

void fe_query_list_cursor_str(uint64_t id, char out[24])
{
	snprintf(out, 24, "a%" PRIu64, id);
}

int fe_query_conv_list(const struct fe_http_req *req,
		       struct fe_query_list *out, const char **err)
{
	struct cf_str v;
	uint64_t limit;

	memset(out, 0, sizeof *out);
	if (query_pos(req, "limit", &limit) != 0) {
		*err = "'limit' must be a positive integer";
		return CF_EBADREQ;
	}
	if (fe_http_query_get(req, "cursor", &v) == 0 &&
	    fe_query_list_cursor_parse(v, &out->before) != 0) {
		*err = "malformed cursor";
		return CF_EBADREQ;
	}
	out->limit = clamp(limit, FE_LIST_LIMIT_DEFAULT, FE_LIST_LIMIT_MAX);
	return 0;
}

int fe_query_history(const struct fe_http_req *req,
		     struct sync_history_query *q, const char **err)
{
	uint64_t limit;

	memset(q, 0, sizeof *q);
	if (query_pos(req, "fromSeq", &q->from_seq) != 0) {
		*err = "'fromSeq' must be a positive integer";
		return CF_EBADREQ;
	}
	if (query_pos(req, "beforeSeq", &q->before_seq) != 0) {
		*err = "'beforeSeq' must be a positive integer";
		return CF_EBADREQ;
	}
	if (query_pos(req, "limit", &limit) != 0) {
		*err = "'limit' must be a positive integer";
		return CF_EBADREQ;
	}
	if (query_pos(req, "aroundSeq", &q->around_seq) != 0) {
		*err = "'aroundSeq' must be a positive integer";
		return CF_EBADREQ;
	}
	if ((q->from_seq != 0) + (q->before_seq != 0) + (q->around_seq != 0) >
	    1) {
		*err = "give one of fromSeq, beforeSeq, aroundSeq";
		return CF_EBADREQ;
	}
	q->limit = clamp(limit, SYNC_LIMIT_DEFAULT, SYNC_LIMIT_MAX);
	return 0;
}

int fe_query_sync(const struct fe_http_req *req, struct fe_query_sync *out,
		  const char **err)
{
	struct cf_str v;
	uint64_t limit, wait;
	bool has;

	memset(out, 0, sizeof *out);
	if (fe_http_query_get(req, "conversationId", &v) == 0) {
		out->form = true;
		out->conv = v;
		if (query_num(req, "lastSeq", &has, &out->last) != 0) {
			*err = "'lastSeq' is an integer";
			return CF_EBADREQ;
		}
		if (query_pos(req, "limit", &limit) != 0) {
			*err = "'limit' must be a positive integer";
			return CF_EBADREQ;
		}
		out->limit = clamp(limit, SYNC_LIMIT_DEFAULT, SYNC_LIMIT_MAX);
		return 0;
	}
	if (fe_http_query_get(req, "cursor", &v) == 0 &&
	    sync_cursor_parse(v, &out->after) != 0) {
		*err = "malformed cursor";
		return CF_EBADREQ;
	}
	if (query_pos(req, "limit", &limit) != 0) {
		*err = "'limit' must be a positive integer";
		return CF_EBADREQ;
	}
	if (query_num(req, "wait", &has, &wait) != 0) {
		*err = "'wait' is an integer";
		return CF_EBADREQ;
	}
	out->limit = clamp(limit, SYNC_FEED_LIMIT_DEFAULT, SYNC_FEED_LIMIT_MAX);
	out->wait = wait > FE_SYNC_WAIT_MAX_S ? FE_SYNC_WAIT_MAX_S
					      : (unsigned)wait;
	return 0;
}

int fe_query_admin_messages(const struct fe_http_req *req,
			    struct sync_history_query *q, const char **err)
{
	uint64_t n;

	memset(q, 0, sizeof *q);
	if (query_pos(req, "fromSeq", &n) != 0) {
		*err = "fromSeq must be a positive integer";
		return CF_EBADREQ;
	}
	q->from_seq = n != 0 ? n : 1;
	if (query_pos(req, "limit", &n) != 0) {
		*err = "limit must be a positive integer";
		return CF_EBADREQ;
	}
	q->limit = clamp(n, SYNC_LIMIT_MAX, SYNC_LIMIT_MAX);
	return 0;
}

int fe_query_admin_compact(const struct fe_http_req *req, unsigned partitions,
			   bool *all, uint64_t *partition, uint32_t *segments,
			   const char **err)
{
	uint64_t n;
	bool has;

	*all = true;
	*partition = 0;
	*segments = FE_COMPACT_SEGMENTS_DEFAULT;
	if (query_num(req, "partition", &has, &n) != 0 ||
	    (has && n >= partitions)) {
		*err = "partition must be an integer below the partition "
		       "count";
		return CF_EBADREQ;
	}
	if (has) {
		*all = false;
		*partition = n;
	}
	if (query_num(req, "segments", &has, &n) != 0 ||
	    (has && (n == 0 || n > FE_COMPACT_SEGMENTS_MAX))) {
		*err = "segments must be 1..1024";
		return CF_EBADREQ;
	}
	if (has)
		*segments = (uint32_t)n;
	return 0;
}

int fe_query_presence(const struct fe_http_req *req, struct cf_str *ids,
		      unsigned *n, const char **err)
{
	struct cf_str v;
	size_t pos = 0;

	*n = 0;
	if (fe_http_query_get(req, "users", &v) != 0 || v.len == 0) {
		*err = "'users' is required";
		return CF_EBADREQ;
	}
	while (pos <= v.len) {
		const char *p = v.p + pos;
		const char *e = memchr(p, ',', v.len - pos);
		size_t l = e != NULL ? (size_t)(e - p) : v.len - pos;

		pos += l + 1;
		if (l == 0)
			continue; /* "a,,b" and a trailing comma */
		if (!cf_id_valid(p, l) || *n == FE_QUERY_PRESENCE_MAX) {
			*err = "bad user id list";
			return CF_EBADREQ;
		}
		ids[(*n)++] = (struct cf_str){p, l};
	}
	return 0;
}

int fe_query_ws(const struct fe_http_req *req, struct cf_str *device,
		const char **err)
{
	if (fe_http_query_get(req, "deviceId", device) != 0)
		*device = CF_STR_LIT("default");
	if (!cf_device_id_valid(device->p, device->len)) {
		*err = "deviceId must be 1 to 64 bytes of [A-Za-z0-9._:@-]";
		return CF_EBADREQ;
	}
	return 0;
}
