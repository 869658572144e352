/* SPDX-License-Identifier: MIT */
/*
 * agent-worker.h - the integration services' worker process. The agent's
 * main process forks it and restarts it when it dies; it holds the
 * heartbeat and shutdown connections to the host (agent-icw.h), so a crash
 * there cannot touch the sessions, nor a session's the services.
 */
#ifndef VMSVC_AGENT_WORKER_H
#define VMSVC_AGENT_WORKER_H

#include <stdint.h>
#include <sys/types.h>

struct aworker_opts {
	const char *config;  /* agent.conf */
	uint32_t vmin, vmax; /* protocol versions claimed (--ic-version) */
	pid_t parent;	     /* the main process: the worker ends with it */
};

/* The worker's body (in the forked child): runs until SIGTERM/SIGINT or
 * the parent's end; the process's exit status. */
int aworker_main(const struct aworker_opts *o);

/* vmsvc-agent --health: prints what the heartbeat would tell the host now
 * (facts, systemd's state, the critical units) and what would block a
 * shutdown, then returns the exit status (0; 1 when agent.conf is broken). */
int aworker_report(const char *config);

#endif /* VMSVC_AGENT_WORKER_H */
