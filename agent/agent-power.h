/* SPDX-License-Identifier: MIT */
/*
 * agent-power.h - the agent's shutdown backend (struct asd_backend):
 * logind (or systemd without logind) under systemd; elsewhere the
 * consoles, `poweroff`/`reboot`/`halt` from PATH and, when the system is
 * still up APOW_FALLBACK_S seconds later (a PID 1 that ignores busybox's
 * signals), sync() and reboot(2).
 */
#ifndef VMSVC_AGENT_POWER_H
#define VMSVC_AGENT_POWER_H

#include "agent-sd.h"

#define APOW_FALLBACK_S 10

struct asys;

/* The backend over sys (NULL: no systemd). */
void apow_backend(struct asd_backend *be, struct asys *sys);

/* Writes text to /dev/console and to the terminal of every user logged in
 * (utmp), never blocking. */
void apow_wall(const char *text);

#endif /* VMSVC_AGENT_POWER_H */
