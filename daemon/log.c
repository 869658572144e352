/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static enum log_level max_level = LOG_LVL_INFO;
static const char *const names[] = { "error", "warning", "info", "debug" };

void log_set_level(enum log_level level)
{
	max_level = level;
}

enum log_level log_level_max(void)
{
	return max_level;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char buf[1024];

	if (level > max_level || level < LOG_LVL_ERR)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* One write per line so that concurrent writers do not interleave. */
	fprintf(stderr, "vmsvcd: %s: %s\n", names[level], buf);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
