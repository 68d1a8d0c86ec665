/*
 * fe_auth: who is calling. Tokens are HS256 JSON Web Tokens signed with the
 * cluster secret (`Authorization: Bearer`, or the `token` query parameter on
 * the WebSocket upgrade). libjwt 1.10 checks only the signature, so the
 * algorithm, `sub` and `exp` are checked here. In development mode
 * (--auth=dev, loopback only) `?user=ID` or `X-Confab-User: ID` is accepted
 * in place of a token.
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

int fe_auth_request(const struct cf_cluster *cl, bool dev,
		    const struct fe_http_req *req, char user[129],
		    const char **msg);
/* Verify one token now (wall clock); on success copy its sub. */
int fe_auth_token(const struct cf_cluster *cl, const char *token, size_t len,
		  char user[129], const char **msg);
/* Mint a token for user valid ttl_s seconds (confabctl token). */
int fe_auth_mint(const struct cf_cluster *cl, const char *user,
		 uint64_t ttl_s, char **out);

#endif
