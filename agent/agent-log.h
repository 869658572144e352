/* SPDX-License-Identifier: MIT */
/*
 * agent-log.h - vmsvc-agent logs to stderr (the journal under systemd),
 * one line per event, prefixed with the process id: the listener and each
 * session process are told apart by it.
 */
#ifndef VMSVC_AGENT_LOG_H
#define VMSVC_AGENT_LOG_H

#include <stdbool.h>

extern bool agent_verbose;

/* Prints "vmsvc-agent[PID]: MESSAGE" to stderr. */
void alog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* While frozen: keep lines in memory (at most 64 KiB, then count what is
 * dropped) instead of writing them; alog_release() writes them out. */
void alog_hold(void);
void alog_release(void);

#define alog_debug(...)                    \
	do {                               \
		if (agent_verbose)         \
			alog(__VA_ARGS__); \
	} while (0)

#endif /* VMSVC_AGENT_LOG_H */
