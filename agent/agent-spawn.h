/* SPDX-License-Identifier: MIT */
/*
 * agent-spawn.h - starting a session's command: a new session and process
 * group, pipes or a pseudo-terminal, the user's groups and ids, the working
 * folder, exec. The child reports a failure before exec through a CLOEXEC
 * pipe (stage and errno), so "not found" reaches the host as an error, not
 * as the exit status of a forked shell.
 */
#ifndef VMSVC_AGENT_SPAWN_H
#define VMSVC_AGENT_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/types.h>

struct aspawn_req {
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups (with gid) */
	size_t ngroups;
	const char *file; /* looked up in envp's PATH unless it has a '/' */
	char *const *argv;
	char *const *envp;
	const char *cwd;   /* where to start */
	bool cwd_fallback; /* cwd is only the home: "/" if it cannot be entered */
	bool pty;
	bool stdin_null;
	struct winsize ws; /* pty */
};

struct aspawn_res {
	pid_t pid;  /* also the process group */
	int in;	    /* stdin's write end, -1 with stdin_null; the master with a pty */
	int out;    /* stdout's read end; the master (a dup) with a pty */
	int err;    /* stderr's read end; -1 with a pty */
	int stage;  /* on failure: enum sess_stage */
	int errnum; /* on failure: the positive errno */
};

/*
 * Starts the command. Returns 0 with *r filled (the caller owns and closes
 * r->in, r->out, r->err, all non-blocking and close-on-exec, and reaps
 * r->pid), or a negative errno with r->stage and r->errnum saying where the
 * child (or the parent, SESS_STAGE_INTERNAL) failed; the failed child has
 * been reaped then. SIGCHLD should be blocked by the caller (signalfd).
 */
int aspawn_start(const struct aspawn_req *q, struct aspawn_res *r);

#endif /* VMSVC_AGENT_SPAWN_H */
