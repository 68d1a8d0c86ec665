/*
 * cf_err: the one error convention of Confab.
 *
 * Every fallible function returns 0 or a negative code. OS and libuv failures
 * pass through as -errno (libuv's UV_E* on Unix). Domain failures use the
 * CF_E* codes below, all under -4095 so they never clash with an errno.
 * Foreign codes (raft's positive RAFT_*, llhttp's llhttp_errno_t, jansson's
 * NULL + json_error_t) are translated once, in the module wrapping the library.
 * Ownership: cf_strerror() returns a static string. Threads: any.
 */
#ifndef CF_ERR_H
#define CF_ERR_H

#include <stddef.h>

#define CF_ERRMSG_SIZE 256

/* X(name, value, message) */
#define CF_ERRORS(X)                                                       \
	X(CF_ECORRUPT, -5001, "corrupt data")                              \
	X(CF_ENOTLEADER, -5002, "not the leader")                          \
	X(CF_ENOLEADER, -5003, "no leader reachable")                      \
	X(CF_ETOOBIG, -5004, "too large")                                  \
	X(CF_ECONFLICT, -5005, "conflict")                                 \
	X(CF_ENOTFOUND, -5006, "not found")                                \
	X(CF_EFORBIDDEN, -5007, "forbidden")                               \
	X(CF_EBADREQ, -5008, "bad request")                                \
	X(CF_EUNAVAIL, -5009, "unavailable")                               \
	X(CF_EVERSION, -5010, "unknown format version")                    \
	X(CF_ECANCELED, -5011, "canceled")                                 \
	X(CF_ETIMEDOUT, -5012, "timed out")                                \
	X(CF_ELEADERSHIP, -5013, "leadership lost, outcome unknown")       \
	X(CF_ERATE, -5014, "rate limited")                                 \
	X(CF_EUNAUTH, -5015, "unauthorized")                               \
	X(CF_EIO, -5016, "storage failure")                                \
	X(CF_ESHUTDOWN, -5017, "shutting down")                            \
	X(CF_ENOSPACE, -5018, "insufficient storage")

enum cf_err {
#define CF__ERR_ENUM(name, value, msg) name = value,
	CF_ERRORS(CF__ERR_ENUM)
#undef CF__ERR_ENUM
};

/* Message for a 0, -errno or CF_E* code. Never NULL. */
const char *cf_strerror(int rc);

/* Symbolic name ("CF_ECORRUPT", "ENOENT"...) for logs. Never NULL. */
const char *cf_errname(int rc);

/*
 * Write a formatted message into errmsg (CF_ERRMSG_SIZE bytes), or prepend
 * "<context>: " to what is there already (raft's ErrMsgWrapf), so that a log
 * line reads like a path: "manifest: segment 3: short read".
 */
void cf_errmsg_printf(char *errmsg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cf_errmsg_wrapf(char *errmsg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
