/*
 * ctl_http: the blocking HTTP/1.1 client confabctl uses to call a node's
 * admin routes: one request per connection (Connection: close), a deadline
 * for the whole exchange, the answer parsed by llhttp (the same parser the
 * node uses), the body capped at CTL_HTTP_BODY_MAX. Written here rather
 * than taken from a library because confabctl needs only this and already
 * links llhttp; libcurl would be a dependency for one GET.
 *
 * Ownership: the caller's body buffer receives the body (appended).
 * Errors: 0, -errno (connect, I/O), CF_ETIMEDOUT, CF_ECORRUPT (not HTTP),
 * CF_ETOOBIG, CF_EBADREQ (bad URL); errmsg says which.
 * Threads: any; no shared state.
 */
#ifndef CTL_HTTP_H
#define CTL_HTTP_H

#include "common/cf_buf.h"

#define CTL_HTTP_BODY_MAX (16u << 20)

/*
 * method path on url ("http://IP:PORT"), with `Authorization: Bearer
 * token` if token is not NULL and body (JSON) if not NULL; *status and
 * body receive the answer.
 */
int ctl_http_call(const char *url, const char *method, const char *path,
		  const char *token, const char *json, int timeout_ms,
		  int *status, struct cf_buf *body, char *errmsg);

#endif
