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

#define alog_debug(...)                    \
	do {                               \
		if (agent_verbose)         \
			alog(__VA_ARGS__); \
	} while (0)

#endif /* VMSVC_AGENT_LOG_H */
