#include "config.h"

#include "common/cf_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *cf_strerror(int rc)
{
	if (rc == 0)
		return "success";
	switch (rc) {
#define CF__ERR_MSG(name, value, msg) \
	case name:                    \
		return msg;
		CF_ERRORS(CF__ERR_MSG)
#undef CF__ERR_MSG
	default:
		break;
	}
	if (rc < 0 && rc > -4096)
		return strerror(-rc);
	return "unknown error";
}

const char *cf_errname(int rc)
{
	switch (rc) {
#define CF__ERR_NAME(name, value, msg) \
	case name:                     \
		return #name;
		CF_ERRORS(CF__ERR_NAME)
#undef CF__ERR_NAME
	default:
		break;
	}
	if (rc == 0)
		return "OK";
	if (rc < 0 && rc > -4096) {
		const char *n = strerrorname_np(-rc);
		return n != NULL ? n : "E?";
	}
	return "E?";
}

void cf_errmsg_printf(char *errmsg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, CF_ERRMSG_SIZE, fmt, ap);
	va_end(ap);
}

void cf_errmsg_wrapf(char *errmsg, const char *fmt, ...)
{
	char prefix[CF_ERRMSG_SIZE];
	char tail[CF_ERRMSG_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	snprintf(tail, sizeof tail, "%s", errmsg);
	snprintf(errmsg, CF_ERRMSG_SIZE, "%s: %s", prefix, tail);
}
