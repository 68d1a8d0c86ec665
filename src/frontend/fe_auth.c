#include "config.h"

#include "frontend/fe_auth.h"

#include <errno.h>
#include <jwt.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "common/cf_err.h"
#include "common/cf_id.h"

/*
 * Verify a token signed with key: HS256, a valid sub, an exp in the future;
 * for an admin token (admin) also aud "confab-admin" and an exp at most
 * FE_ADMIN_TTL_MAX (+ clock skew) ahead, while a user token must not carry
 * that audience.
 */
static int auth_verify(const char *key, unsigned key_len, bool admin,
		       const char *token, size_t len, char user[129],
		       const char **msg)
{
	char *copy;
	jwt_t *jwt = NULL;
	const char *sub, *aud;
	long exp;
	time_t now = time(NULL);
	int rv = CF_EUNAUTH;

	if (len == 0 || len > 4096) {
		*msg = "malformed token";
		return CF_EUNAUTH;
	}
	copy = strndup(token, len);
	if (copy == NULL)
		return -ENOMEM;
	if (jwt_decode(&jwt, copy, (const unsigned char *)key, (int)key_len) !=
		    0 ||
	    jwt == NULL) {
		*msg = "malformed or badly signed token";
		goto out;
	}
	if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
		*msg = "token algorithm must be HS256";
		goto out;
	}
	sub = jwt_get_grant(jwt, "sub");
	if (sub == NULL || !cf_id_valid(sub, strlen(sub))) {
		*msg = "token has no valid sub";
		goto out;
	}
	aud = jwt_get_grant(jwt, "aud");
	if (admin && (aud == NULL || strcmp(aud, FE_ADMIN_AUD) != 0)) {
		*msg = "admin token must have aud \"" FE_ADMIN_AUD "\"";
		goto out;
	}
	if (!admin && aud != NULL && strcmp(aud, FE_ADMIN_AUD) == 0) {
		*msg = "an admin token is not a user token";
		goto out;
	}
	errno = 0;
	exp = jwt_get_grant_int(jwt, "exp");
	if (errno != 0 || exp <= 0) {
		*msg = "token has no exp";
		goto out;
	}
	if ((time_t)exp <= now) {
		*msg = "token expired";
		goto out;
	}
	if (admin && (time_t)exp > now + FE_ADMIN_TTL_MAX + FE_ADMIN_SKEW) {
		*msg = "admin token lives longer than 5 minutes";
		goto out;
	}
	strcpy(user, sub);
	rv = 0;
out:
	if (jwt != NULL)
		jwt_free(jwt);
	free(copy);
	return rv;
}

int fe_auth_token(const struct cf_cluster *cl, const char *token, size_t len,
		  char user[129], const char **msg)
{
	return auth_verify(cl->secret, cl->secret_len, false, token, len, user,
			   msg);
}

int fe_auth_admin_request(const struct cf_cluster *cl,
			  const struct fe_http_req *req, char admin[129],
			  const char **msg)
{
	struct cf_str auth = req->h[FE_HTTP_H_AUTHORIZATION];

	if (cl->admin_secret_len == 0) {
		*msg = "no admin-secret in the cluster file: admin routes "
		       "are off";
		return CF_EFORBIDDEN;
	}
	if (auth.p == NULL || auth.len < 7 ||
	    strncasecmp(auth.p, "Bearer ", 7) != 0) {
		*msg = "admin routes need 'Authorization: Bearer <admin "
		       "token>' (confabctl)";
		return CF_EUNAUTH;
	}
	return auth_verify(cl->admin_secret, cl->admin_secret_len, true,
			   auth.p + 7, auth.len - 7, admin, msg);
}

bool fe_auth_host_loopback(struct cf_str host)
{
	struct in_addr a;
	char name[64];
	size_t n;

	if (host.p == NULL || host.len == 0)
		return false;
	if (host.p[0] == '[') {
		const char *end = memchr(host.p, ']', host.len);

		if (end == NULL)
			return false;
		n = (size_t)(end - host.p) + 1;
		if (n != 5 || memcmp(host.p, "[::1]", 5) != 0)
			return false;
	} else {
		const char *colon = memchr(host.p, ':', host.len);

		n = colon != NULL ? (size_t)(colon - host.p) : host.len;
		if (n == 0 || n >= sizeof name)
			return false;
		memcpy(name, host.p, n);
		name[n] = '\0';
		if (strcasecmp(name, "localhost") != 0 &&
		    (inet_pton(AF_INET, name, &a) != 1 ||
		     (ntohl(a.s_addr) >> 24) != 127))
			return false;
	}
	/* What follows the name is nothing or ":digits". */
	if (n == host.len)
		return true;
	if (host.p[n] != ':' || n + 1 == host.len)
		return false;
	for (n++; n < host.len; n++)
		if (host.p[n] < '0' || host.p[n] > '9')
			return false;
	return true;
}

int fe_auth_request(const struct cf_cluster *cl, bool dev,
		    const struct fe_http_req *req, char user[129],
		    const char **msg)
{
	struct cf_str auth = req->h[FE_HTTP_H_AUTHORIZATION];
	struct cf_str v;

	if (auth.p != NULL) {
		if (auth.len < 7 || strncasecmp(auth.p, "Bearer ", 7) != 0) {
			*msg = "Authorization must be 'Bearer <token>'";
			return CF_EUNAUTH;
		}
		return fe_auth_token(cl, auth.p + 7, auth.len - 7, user, msg);
	}
	if (fe_http_query_get(req, "token", &v) == 0)
		return fe_auth_token(cl, v.p, v.len, user, msg);
	if (dev) {
		v = req->h[FE_HTTP_H_X_CONFAB_USER];
		if (v.p == NULL && fe_http_query_get(req, "user", &v) != 0)
			v.p = NULL;
		if (v.p != NULL) {
			/*
			 * DNS rebinding: a page of any site whose name is made
			 * to resolve to 127.0.0.1 is same-origin with its own
			 * Host, so a dev identity is taken only from requests
			 * that name the node by a loopback Host.
			 */
			if (!fe_auth_host_loopback(req->h[FE_HTTP_H_HOST])) {
				*msg = "a development identity needs a loopback "
				       "Host (127.0.0.1, localhost or [::1])";
				return CF_EUNAUTH;
			}
			if (!cf_id_valid(v.p, v.len)) {
				*msg = "user must be 1 to 128 bytes of "
				       "[A-Za-z0-9._:@-]";
				return CF_EUNAUTH;
			}
			memcpy(user, v.p, v.len);
			user[v.len] = '\0';
			return 0;
		}
	}
	*msg = dev ? "missing token, ?user= or X-Confab-User"
		   : "missing token";
	return CF_EUNAUTH;
}

static int auth_mint(const char *key, unsigned key_len, const char *aud,
		     const char *user, uint64_t ttl_s, char **out)
{
	jwt_t *jwt = NULL;
	char *s;
	int rv = -ENOMEM;

	if (!cf_id_valid(user, strlen(user)))
		return CF_EBADREQ;
	if (jwt_new(&jwt) != 0)
		return -ENOMEM;
	if (jwt_add_grant(jwt, "sub", user) != 0 ||
	    (aud != NULL && jwt_add_grant(jwt, "aud", aud) != 0) ||
	    jwt_add_grant_int(jwt, "iat", (long)time(NULL)) != 0 ||
	    jwt_add_grant_int(jwt, "exp", (long)(time(NULL) + (time_t)ttl_s)) !=
		    0 ||
	    jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)key,
			(int)key_len) != 0)
		goto out;
	s = jwt_encode_str(jwt);
	if (s == NULL)
		goto out;
	*out = s;
	rv = 0;
out:
	jwt_free(jwt);
	return rv;
}

int fe_auth_mint(const struct cf_cluster *cl, const char *user,
		 uint64_t ttl_s, char **out)
{
	return auth_mint(cl->secret, cl->secret_len, NULL, user, ttl_s, out);
}

int fe_auth_admin_mint(const struct cf_cluster *cl, const char *who,
		       uint64_t ttl_s, char **out)
{
	if (cl->admin_secret_len == 0)
		return CF_EFORBIDDEN;
	if (ttl_s == 0 || ttl_s > FE_ADMIN_TTL_MAX)
		return CF_EBADREQ;
	return auth_mint(cl->admin_secret, cl->admin_secret_len, FE_ADMIN_AUD,
			 who, ttl_s, out);
}
