#include "config.h"

/*
 * fe_http_text: the text helpers of HTTP/1.1 around the parser (fe_http.c):
 * query parameters of a parsed request, percent-decoding, token lists in
 * header values, status texts and response heads. Contract in fe_http.h.
 */

#include "frontend/fe_http.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cf_err.h"

int fe_http_query_get(const struct fe_http_req *req, const char *name,
		      struct cf_str *val)
{
	unsigned i;

	for (i = 0; i < req->nparams; i++) {
		if (cf_str_eqc(req->params[i].name, name)) {
			*val = req->params[i].value;
			return 0;
		}
	}
	return CF_ENOTFOUND;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int fe_http_pct_decode(const char *in, size_t len, char *out, size_t *out_len,
		       bool plus_is_space)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		char c = in[i];
		if (c == '%') {
			int hi, lo;
			if (len - i < 3)
				return CF_EBADREQ;
			hi = hexval(in[i + 1]);
			lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return CF_EBADREQ;
			c = (char)(hi * 16 + lo);
			if (c == '\0')
				return CF_EBADREQ;
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		out[o++] = c;
	}
	out[o] = '\0';
	*out_len = o;
	return 0;
}

bool fe_http_list_has(struct cf_str value, const char *token)
{
	size_t tl = strlen(token), i = 0;

	while (i < value.len) {
		size_t s, e;
		while (i < value.len &&
		       (value.p[i] == ' ' || value.p[i] == '\t' ||
			value.p[i] == ','))
			i++;
		s = i;
		while (i < value.len && value.p[i] != ',')
			i++;
		e = i;
		while (e > s && (value.p[e - 1] == ' ' || value.p[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(value.p + s, token, tl) == 0)
			return true;
	}
	return false;
}

const char *fe_http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}

/* Append decimal v (no printf: this runs once per answer). */
static int put_dec(struct cf_buf *b, uint64_t v)
{
	char t[20];
	int n = 20;

	do {
		t[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return cf_buf_append(b, t + n, (size_t)(20 - n));
}

static int put_s(struct cf_buf *b, const char *s)
{
	return cf_buf_append(b, s, strlen(s));
}

int fe_http_response_head(struct cf_buf *b, int status,
			  const char *content_type, size_t body_len,
			  bool keep_alive)
{
	size_t start = b->len;
	bool bodyless = status < 200 || status == 204 || status == 304;
	int rv;

	assert(status >= 100 && status <= 999);
	rv = cf_buf_reserve(b, 128);
	if (rv == 0)
		rv = cf_buf_append(b, "HTTP/1.1 ", 9);
	if (rv == 0)
		rv = put_dec(b, (uint64_t)status);
	if (rv == 0)
		rv = cf_buf_append(b, " ", 1);
	if (rv == 0)
		rv = put_s(b, fe_http_status_text(status));
	if (rv == 0 && !bodyless && content_type != NULL) {
		rv = cf_buf_append(b, "\r\nContent-Type: ", 16);
		if (rv == 0)
			rv = put_s(b, content_type);
	}
	if (rv == 0 && !bodyless) {
		rv = cf_buf_append(b, "\r\nContent-Length: ", 18);
		if (rv == 0)
			rv = put_dec(b, body_len);
	}
	if (rv == 0 && status != 101)
		rv = put_s(b, keep_alive ? "\r\nConnection: keep-alive"
					 : "\r\nConnection: close");
	if (rv == 0)
		rv = cf_buf_append(b, "\r\n", 2);
	if (rv != 0)
		cf_buf_truncate(b, start);
	return rv;
}

int fe_http_response_begin(struct cf_buf *b, int status,
			   const char *content_type, size_t body_len,
			   bool keep_alive, const char *extra)
{
	size_t start = b->len;
	int rv;

	assert(extra == NULL || extra[0] == '\0' ||
	       (strlen(extra) >= 2 && strcmp(extra + strlen(extra) - 2,
					     "\r\n") == 0));
	rv = fe_http_response_head(b, status, content_type, body_len,
				   keep_alive);
	if (rv == 0 && extra != NULL)
		rv = put_s(b, extra);
	if (rv == 0)
		rv = cf_buf_append(b, "\r\n", 2);
	if (rv != 0)
		cf_buf_truncate(b, start);
	return rv;
}
