/* SPDX-License-Identifier: MIT */
/*
 * agent-log.c - the agent's log lines (agent-log.h).
 *
 * While held (a freeze), lines go to a bounded buffer in memory instead of
 * stderr: under systemd stderr is the journal, which writes to /var, and a
 * write there would wait for the thaw. alog_release() writes them out.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-log.h"

#define HELD_MAX (64 * 1024)

bool agent_verbose;

static bool held;
static char held_buf[HELD_MAX];
static size_t held_len;
static unsigned held_dropped;

static void keep(const char *line)
{
	size_t n = strlen(line);

	if (held_len + n + 1 > sizeof(held_buf)) {
		held_dropped++;
		return;
	}
	memcpy(held_buf + held_len, line, n);
	held_buf[held_len + n] = '\n';
	held_len += n + 1;
}

void alog(const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "vmsvc-agent[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (held)
		keep(line);
	else
		fprintf(stderr, "%s\n", line);
}

void alog_hold(void)
{
	held = true;
}

void alog_release(void)
{
	if (!held)
		return;
	held = false;
	fwrite(held_buf, 1, held_len, stderr);
	if (held_dropped)
		fprintf(stderr, "vmsvc-agent[%d]: %u log lines were dropped while frozen\n",
			(int)getpid(), held_dropped);
	fflush(stderr);
	held_len = 0;
	held_dropped = 0;
}
