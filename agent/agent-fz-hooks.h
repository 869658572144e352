/* SPDX-License-Identifier: MIT */
/*
 * agent-fz-hooks.h - the freeze hooks (HookDir, /etc/vmsvc/freeze-hook.d/,
 * qemu-ga's fsfreeze-hook rules) run as a job: a child process runs them
 * one after the other, each bounded by its timeout, and reports on a pipe.
 * The worker reads the pipe between serving its other services
 * (afz_job_poll), so a slow hook never stops the heartbeat or time sync.
 *
 * A freeze job runs every freeze hook ("freeze") in name order, stopping
 * at the first failure, then calls sync; a thaw job runs the thaw hooks
 * ("thaw") of the first n hooks in reverse order, every one of them. The
 * report is text: a line "fail TEXT" per failure, then "ran N" (the freeze
 * hooks that succeeded), then EOF (the job's end; its exit status is not
 * used, so whoever reaps it does not matter). A report without "ran" is
 * a job that died.
 */
#ifndef VMSVC_AGENT_FZ_HOOKS_H
#define VMSVC_AGENT_FZ_HOOKS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define AFZ_JOB_OUT 4096 /* the report's bytes kept; more are read and dropped */

struct afz_job {
	pid_t pid;		   /* 0: none started */
	int fd;			   /* the report's read end; -1: none (or read to EOF) */
	size_t len;		   /* of out */
	char out[AFZ_JOB_OUT + 1]; /* the report, NUL-terminated */
};

struct afz_job_spec {
	const char *dir;	 /* the hooks' folder */
	unsigned timeout_ms;	 /* each hook */
	bool freeze;		 /* a freeze job; else a thaw job */
	uint32_t n;		 /* a thaw job: the first n hooks' thaw (UINT32_MAX: all) */
	void (*sync)(void *ctx); /* a freeze job: called after the hooks (NULL: none) */
	void *sync_ctx;
};

/* Starts a job: 0, or -errno (nothing started). j must be idle. */
int afz_job_start(struct afz_job *j, const struct afz_job_spec *s);

/* Reads what the job reported so far; true once the job has ended (its
 * report complete in j->out; the job is idle again), false while it runs.
 * wait: block until it ends. An idle job has ended. */
bool afz_job_poll(struct afz_job *j, bool wait);

#endif /* VMSVC_AGENT_FZ_HOOKS_H */
