#include "config.h"

#include "frontend/fe_cors.h"

#include <string.h>
#include <strings.h>

#include "frontend/fe_conn.h"
#include "frontend/fe_json.h"
#include "frontend/fe_server.h"

/* One origin (a tuple of RFC 6454): host points into the parsed text. */
struct origin {
	bool https;
	const char *host;
	size_t host_len;
	unsigned port;
};

static bool host_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_';
}

/*
 * Parse "host[:port]" from s[*i..n) into o (port defaults to dflt). Stops
 * at the first byte that cannot continue it; false if malformed.
 */
static bool parse_authority(const char *s, size_t n, size_t *i, unsigned dflt,
			    struct origin *o)
{
	size_t j = *i, digits = 0;
	unsigned port = 0;

	if (j < n && s[j] == '[') { /* an IPv6 literal, brackets kept */
		while (j < n && s[j] != ']') {
			char ch = s[j];

			if (j > *i && !(host_char(ch) || ch == ':'))
				return false;
			j++;
		}
		if (j == n)
			return false;
		j++;
	} else {
		while (j < n && host_char(s[j]))
			j++;
	}
	if (j == *i)
		return false;
	o->host = s + *i;
	o->host_len = j - *i;
	o->port = dflt;
	if (j < n && s[j] == ':') {
		j++;
		while (j < n && s[j] >= '0' && s[j] <= '9' && digits < 6) {
			port = port * 10 + (unsigned)(s[j] - '0');
			digits++;
			j++;
		}
		if (digits == 0 || digits > 5 || port == 0 || port > 65535)
			return false;
		o->port = port;
	}
	*i = j;
	return true;
}

/*
 * Parse "scheme://host[:port]" from s[0..n). With allow_path, a '/' and
 * anything after it may follow (a URL); without, nothing may (an Origin).
 */
static bool parse_origin(const char *s, size_t n, bool allow_path,
			 struct origin *o)
{
	size_t i;

	if (s == NULL || n > FE_CORS_ORIGIN_MAX)
		return false;
	if (n >= 7 && strncasecmp(s, "http://", 7) == 0) {
		o->https = false;
		i = 7;
	} else if (n >= 8 && strncasecmp(s, "https://", 8) == 0) {
		o->https = true;
		i = 8;
	} else {
		return false;
	}
	if (!parse_authority(s, n, &i, o->https ? 443 : 80, o))
		return false;
	return i == n || (allow_path && s[i] == '/');
}

static bool origin_eq(const struct origin *a, const struct origin *b)
{
	return a->https == b->https && a->port == b->port &&
	       a->host_len == b->host_len &&
	       strncasecmp(a->host, b->host, a->host_len) == 0;
}

bool fe_cors_origin_is(struct cf_str origin, const char *url)
{
	struct origin a, b;

	return url != NULL && parse_origin(origin.p, origin.len, false, &a) &&
	       parse_origin(url, strlen(url), true, &b) && origin_eq(&a, &b);
}

bool fe_cors_cluster_origin(const struct cf_cluster *cl, struct cf_str origin)
{
	for (unsigned i = 0; cl != NULL && i < cl->n_nodes; i++) {
		if (fe_cors_origin_is(origin, cl->nodes[i].client_url))
			return true;
	}
	return false;
}

bool fe_cors_same_host(struct cf_str origin, struct cf_str host)
{
	struct origin a, h;
	size_t i = 0;

	if (!parse_origin(origin.p, origin.len, false, &a) || host.p == NULL ||
	    host.len > FE_CORS_ORIGIN_MAX)
		return false;
	h.https = a.https;
	if (!parse_authority(host.p, host.len, &i, a.https ? 443 : 80, &h) ||
	    i != host.len)
		return false;
	return origin_eq(&a, &h);
}

bool fe_cors_ws_allowed(const struct cf_cluster *cl,
			const struct fe_http_req *req)
{
	struct cf_str origin = req->h[FE_HTTP_H_ORIGIN];

	if (origin.p == NULL)
		return true; /* not a browser */
	return fe_cors_cluster_origin(cl, origin) ||
	       fe_cors_same_host(origin, req->h[FE_HTTP_H_HOST]);
}

static bool is_v1(const struct fe_http_req *req)
{
	return req->path.len >= 4 && memcmp(req->path.p, "/v1/", 4) == 0;
}

int fe_cors_append(struct cf_buf *b, const struct cf_cluster *cl,
		   const struct fe_http_req *req)
{
	struct cf_str origin = req->h[FE_HTTP_H_ORIGIN];
	size_t start = b->len;
	int rv;

	if (!is_v1(req))
		return 0;
	rv = cf_buf_append(b, "Vary: Origin\r\n", 14);
	if (rv == 0 && origin.p != NULL && fe_cors_cluster_origin(cl, origin))
		/* matched, so at most FE_CORS_ORIGIN_MAX plain bytes */
		rv = cf_buf_appendf(b,
				    "Access-Control-Allow-Origin: %.*s\r\n"
				    "Access-Control-Expose-Headers: "
				    FE_CORS_EXPOSE_HEADERS "\r\n",
				    (int)origin.len, origin.p);
	if (rv != 0)
		cf_buf_truncate(b, start);
	return rv;
}

bool fe_cors_preflight(struct fe_conn *c, const struct fe_http_req *req)
{
	struct cf_str origin = req->h[FE_HTTP_H_ORIGIN];

	if (req->method != FE_HTTP_OPTIONS || origin.p == NULL || !is_v1(req))
		return false;
	if (!fe_cors_cluster_origin(c->srv->cluster, origin)) {
		fe_respond_error(c, 403, "forbidden",
				 "this origin is not a node of the cluster");
		return true;
	}
	/* fe_conn_respond adds Allow-Origin, Expose-Headers and Vary */
	fe_conn_respond(c, 204, NULL, NULL, 0,
			"Access-Control-Allow-Methods: " FE_CORS_ALLOW_METHODS
			"\r\n"
			"Access-Control-Allow-Headers: " FE_CORS_ALLOW_HEADERS
			"\r\n"
			"Access-Control-Max-Age: " FE_CORS_MAX_AGE "\r\n");
	return true;
}
