#include "config.h"

#include "common/cf_diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char diag_tag[32] = "-";
static enum cf_diag_level diag_min = CF_DIAG_INFO;

void cf_diag_setup(const char *tag, enum cf_diag_level min)
{
	snprintf(diag_tag, sizeof diag_tag, "%s", tag != NULL ? tag : "-");
	diag_min = min;
}

void cf_diag(enum cf_diag_level level, const char *fmt, ...)
{
	static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
	char line[2048];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n;
	int m;

	if (level < diag_min)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(line, sizeof line,
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), diag_tag,
		     names[level]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* Nowhere left to report it. */
	}
}
