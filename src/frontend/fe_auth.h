/*
 * fe_auth: who is calling. Tokens are HS256 JSON Web Tokens signed with the
 * cluster secret (`Authorization: Bearer`, or the `token` query parameter on
 * the WebSocket upgrade). libjwt 1.10 checks only the signature, so the
 * algorithm, `sub` and `exp` are checked here. In development mode
 * (--auth=dev, loopback only) `?user=ID` or `X-Confab-User: ID` is accepted
 * in place of a token, and only from a request whose Host names the node by
 * a loopback name (127.0.0.0/8, localhost, [::1], with or without a port):
 * a DNS-rebinding page (evil.example resolved to 127.0.0.1) sends its own
 * name as Host and is refused.
 *
 * Admin routes (/v1/admin/, fe_admin.h) take only an admin token: HS256
 * signed with the cluster file's admin-secret (which must differ from the
 * secret), `aud: "confab-admin"`, an exp at most 5 minutes ahead, sent as
 * `Authorization: Bearer`; never a user token, a query token or a dev
 * identity. A user route refuses a token with that audience.
 * Ownership: the user id is copied into the caller's buffer.
 * Errors: 0 or CF_EUNAUTH (msg says why). Threads: loop thread only.
 */
#ifndef FE_AUTH_H
#define FE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cf_conf.h"
#include "frontend/fe_http.h"

#define FE_ADMIN_AUD "confab-admin"
#define FE_ADMIN_TTL_MAX 300 /* s */
#define FE_ADMIN_SKEW 30     /* s of clock difference tolerated */

int fe_auth_request(const struct cf_cluster *cl, bool dev,
		    const struct fe_http_req *req, char user[129],
		    const char **msg);
/* Whether a Host header value is a loopback name, with an optional port. */
bool fe_auth_host_loopback(struct cf_str host);
/* Verify one token now (wall clock); on success copy its sub. */
int fe_auth_token(const struct cf_cluster *cl, const char *token, size_t len,
		  char user[129], const char **msg);
/* Mint a token for user valid ttl_s seconds (confabctl token). */
int fe_auth_mint(const struct cf_cluster *cl, const char *user,
		 uint64_t ttl_s, char **out);
/*
 * The admin behind an admin request, or CF_EUNAUTH (bad or missing token)
 * or CF_EFORBIDDEN (no admin-secret configured), msg saying why.
 */
int fe_auth_admin_request(const struct cf_cluster *cl,
			  const struct fe_http_req *req, char admin[129],
			  const char **msg);
/* Mint an admin token for who, ttl_s in 1..FE_ADMIN_TTL_MAX (confabctl). */
int fe_auth_admin_mint(const struct cf_cluster *cl, const char *who,
		       uint64_t ttl_s, char **out);

#endif
