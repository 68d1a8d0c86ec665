/*
 * cf_diag: the node's log lines (named cf_diag so that "log_" always means
 * the segment log).
 *
 * Lines go to stderr as "2026-11-23T12:00:00.123Z n1 WARN message".
 * Ownership: the tag is copied. Errors: none (logging never fails the caller).
 * Threads: any; each line is one write(2).
 */
#ifndef CF_DIAG_H
#define CF_DIAG_H

enum cf_diag_level {
	CF_DIAG_DEBUG = 0,
	CF_DIAG_INFO = 1,
	CF_DIAG_WARN = 2,
	CF_DIAG_ERROR = 3,
};

/* Set the node tag printed on every line and the lowest level printed. */
void cf_diag_setup(const char *tag, enum cf_diag_level min);
void cf_diag(enum cf_diag_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define cf_debug(...) cf_diag(CF_DIAG_DEBUG, __VA_ARGS__)
#define cf_info(...) cf_diag(CF_DIAG_INFO, __VA_ARGS__)
#define cf_warn(...) cf_diag(CF_DIAG_WARN, __VA_ARGS__)
#define cf_error(...) cf_diag(CF_DIAG_ERROR, __VA_ARGS__)

#endif
