/* SPDX-License-Identifier: MIT */
/*
 * agent-sd.h - the shutdown service's guest side (port 702): a REQUEST
 * from the host gets a REPLY at once: EPERM when agent.conf says
 * [Shutdown] Enabled = no, EBUSY with the blockers listed when an
 * inhibitor blocks shutdown (unless the host forces it), otherwise the
 * request is announced to the guest's users and started, and the REPLY
 * says whether that worked.
 *
 * What "announce" and "start" do is a backend's (agent-power.h in the
 * agent; a test's records what it was asked).
 */
#ifndef VMSVC_AGENT_SD_H
#define VMSVC_AGENT_SD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent-ic.h"

struct asd_backend {
	/* Block inhibitors covering shutdown, each "WHO (uid U, pid P): WHY"
	 * in out[] (heap): how many (at most max), or -errno (the request
	 * goes on: logind checks again when asked). */
	int (*blockers)(void *ctx, char **out, size_t max);
	/* Tells the guest's users (wall, consoles). */
	void (*announce)(void *ctx, uint32_t action, const char *text);
	/* Starts the shutdown (enum ic_sd_action): 0, or -errno with why. */
	int (*power)(void *ctx, uint32_t action, bool force, char *why, size_t whysize);
	void *ctx;
};

struct asd {
	const char *config; /* agent.conf, read for every request */
	struct asd_backend be;
	uint32_t under_way; /* the action accepted, 0: none */
};

/* The shutdown's aic_ops (svc: a struct asd). */
extern const struct aic_ops asd_ops;

/* "poweroff", "reboot", "halt"; NULL for others. */
const char *asd_action_name(uint32_t action);

#endif /* VMSVC_AGENT_SD_H */
