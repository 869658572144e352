/* SPDX-License-Identifier: MIT */
/*
 * agent-log.c - the agent's log lines (agent-log.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "agent-log.h"

bool agent_verbose;

void alog(const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "vmsvc-agent[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}
