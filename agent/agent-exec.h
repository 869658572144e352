/* SPDX-License-Identifier: MIT */
/*
 * agent-exec.h - a running command of a session: its output to the host
 * within the host's credit, the host's stdin to it within ours, signals,
 * resizes, its exit, the linger for output held open by background
 * processes, the timeout, and the hang-up when the host goes away.
 */
#ifndef VMSVC_AGENT_EXEC_H
#define VMSVC_AGENT_EXEC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent-conn.h"

#define AEXEC_LINGER_MS_DEFAULT 1000
/* From SIGHUP to SIGKILL when the host is gone or the timeout passed. */
#define AEXEC_KILL_GRACE_MS 2000

struct aexec_cfg {
	pid_t pid;	      /* the command, leader of its process group */
	int in, out, err;     /* taken: stdin, stdout, stderr ends (-1: none) */
	bool pty;	      /* in and out are the terminal's master */
	uint32_t peer_window; /* the host's window for channels 2 and 3 */
	uint32_t window;      /* ours for channel 1 */
	uint32_t linger_ms;
	uint32_t timeout_ms; /* 0: none */
};

/*
 * Runs the command to its end on connection c, whose HELLO and STARTED are
 * queued or sent: returns 0 once EXIT has gone out, or a negative errno
 * when the host went away or broke the protocol (then the process group
 * was hung up and, if need be, killed). sigfd is a signalfd for SIGCHLD;
 * the caller is the command's parent (and a child subreaper).
 */
int aexec_run(struct aconn *c, const struct aexec_cfg *cfg, int sigfd);

#endif /* VMSVC_AGENT_EXEC_H */
