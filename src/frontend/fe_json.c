#include "config.h"

#include "frontend/fe_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "common/cf_id.h"

#define FE_MSG_NOSPACE                                                     \
	"the disk of the leader, or of a majority of the nodes, is below "  \
	"the free-space watermark: writes are refused, reads are served"

void fe_error_of(int rc, int *status, const char **code)
{
	switch (rc) {
	case CF_EBADREQ:
	case CF_ECORRUPT:
		*status = 400;
		*code = "bad_request";
		break;
	case CF_EUNAUTH:
		*status = 401;
		*code = "unauthorized";
		break;
	case CF_EFORBIDDEN:
		*status = 403;
		*code = "forbidden";
		break;
	case CF_ENOTFOUND:
		*status = 404;
		*code = "not_found";
		break;
	case CF_ECONFLICT:
		*status = 409;
		*code = "conflict";
		break;
	case CF_ETOOBIG:
		*status = 413;
		*code = "payload_too_large";
		break;
	case CF_ERATE:
		*status = 429;
		*code = "rate_limited";
		break;
	case CF_ENOSPACE:
	case -ENOSPC:
	case -EDQUOT:
		/* Issue 11: a full disk refuses writes; reads are served. */
		*status = 507;
		*code = "insufficient_storage";
		break;
	case CF_EUNAVAIL:
	case CF_ENOLEADER:
	case CF_ENOTLEADER:
	case CF_ELEADERSHIP:
	case CF_ETIMEDOUT:
	case CF_ESHUTDOWN:
	case CF_EIO:
		*status = 503;
		*code = "unavailable";
		break;
	default:
		*status = 500;
		*code = "internal";
		break;
	}
}

json_t *fe_error_json(const char *code, const char *msg)
{
	return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message",
			 msg);
}

void fe_respond_json(struct fe_conn *c, int status, json_t *o)
{
	char *s;

	if (o == NULL) {
		fe_respond_error(c, 500, "internal", "out of memory");
		return;
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL) {
		fe_respond_error(c, 500, "internal", "out of memory");
		return;
	}
	fe_conn_respond(c, status, "application/json", s, strlen(s), NULL);
	free(s);
}

void fe_respond_error(struct fe_conn *c, int status, const char *code,
		      const char *msg)
{
	fe_respond_error_hdr(c, status, code, msg,
			     status == 503 || status == 429
				     ? "Retry-After: 1\r\n"
				     : NULL);
}

void fe_respond_405(struct fe_conn *c, const char *allow)
{
	char h[64];

	snprintf(h, sizeof h, "Allow: %s\r\n", allow);
	fe_respond_error_hdr(c, 405, "bad_request",
			     "method not allowed on this route", h);
}

void fe_respond_error_hdr(struct fe_conn *c, int status, const char *code,
			  const char *msg, const char *extra)
{
	json_t *o = fe_error_json(code, msg);
	char *s;

	s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (s == NULL) {
		static const char oom[] =
			"{\"error\":{\"code\":\"internal\",\"message\":\"out "
			"of memory\"}}";
		fe_conn_respond(c, 500, "application/json", oom,
				sizeof oom - 1, NULL);
		return;
	}
	fe_conn_respond(c, status, "application/json", s, strlen(s), extra);
	free(s);
}

void fe_respond_rc(struct fe_conn *c, int rc, const char *msg)
{
	const char *code;
	int status;

	fe_error_of(rc, &status, &code);
	if (msg == NULL) {
		if (status == 503)
			msg = "no leader reachable in time; the outcome may be "
			      "unknown, a retry with the same clientMsgId is "
			      "safe";
		else if (status == 507)
			msg = FE_MSG_NOSPACE;
		else
			msg = cf_strerror(rc);
	}
	fe_respond_error(c, status, code, msg);
}

void fe_ws_send_json(struct fe_conn *c, json_t *o)
{
	char *s;

	if (o == NULL)
		return;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		return;
	fe_conn_ws_send_text(c, s, strlen(s));
	free(s);
}

void fe_ws_send_error(struct fe_conn *c, json_t *id, int rc, const char *msg)
{
	const char *code;
	int status;
	json_t *o;

	fe_error_of(rc, &status, &code);
	if (msg == NULL)
		msg = status == 507 ? FE_MSG_NOSPACE : cf_strerror(rc);
	o = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code,
		      "message", msg);
	if (o != NULL && id != NULL)
		json_object_set(o, "id", id);
	fe_ws_send_json(c, o);
}

int fe_json_body(const struct fe_http_req *req, json_t **out, char *err,
		 size_t errlen)
{
	json_error_t je;
	json_t *o;

	if (req->body.len == 0) {
		snprintf(err, errlen, "a JSON object body is required");
		return CF_EBADREQ;
	}
	o = json_loadb(req->body.p, req->body.len,
		       JSON_REJECT_DUPLICATES,
		       &je);
	if (o == NULL) {
		snprintf(err, errlen, "malformed JSON: %s (line %d, column %d)",
			 je.text, je.line, je.column);
		return CF_EBADREQ;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		snprintf(err, errlen, "the body must be a JSON object");
		return CF_EBADREQ;
	}
	*out = o;
	return 0;
}

int fe_json_str(json_t *o, const char *key, bool required,
		enum fe_str_kind kind, size_t max, struct cf_str *out,
		char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	size_t len;

	out->p = NULL;
	out->len = 0;
	if (v == NULL || json_is_null(v)) {
		if (required) {
			snprintf(err, errlen, "'%s' is required", key);
			return CF_EBADREQ;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "'%s' must be a string", key);
		return CF_EBADREQ;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	switch (kind) {
	case FE_STR_ID:
		if (!cf_id_valid(s, len)) {
			snprintf(err, errlen,
				 "'%s' must be 1 to 128 bytes of "
				 "[A-Za-z0-9._:@-]",
				 key);
			return CF_EBADREQ;
		}
		break;
	case FE_STR_MSGTYPE:
		if (!cf_msg_type_valid(s, len)) {
			snprintf(err, errlen, "'%s' must match [a-z_]{1,32}",
				 key);
			return CF_EBADREQ;
		}
		break;
	case FE_STR_ANY:
		if (memchr(s, '\0', len) != NULL) {
			snprintf(err, errlen, "'%s' must not contain NUL",
				 key);
			return CF_EBADREQ;
		}
		if (max > 0 && len > max) {
			/* a field, not the body or content: 400 (API.md) */
			snprintf(err, errlen, "'%s' is over %zu bytes", key,
				 max);
			return CF_EBADREQ;
		}
		break;
	}
	out->p = s;
	out->len = len;
	return 0;
}

bool fe_wants_consistent(const struct fe_http_req *req)
{
	struct cf_str v;

	return fe_http_query_get(req, "consistent", &v) == 0 &&
	       (cf_str_eqc(v, "1") || cf_str_eqc(v, "true"));
}

int fe_parse_u64(struct cf_str s, uint64_t *out)
{
	uint64_t v = 0;

	if (s.p == NULL || s.len == 0 || s.len > 16)
		return CF_EBADREQ;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return CF_EBADREQ;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	if (v > (1ull << 53))
		return CF_EBADREQ;
	*out = v;
	return 0;
}
