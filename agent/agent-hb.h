/* SPDX-License-Identifier: MIT */
/*
 * agent-hb.h - the heartbeat service's guest side (port 701): a BEAT every
 * interval (IC_HB_DEFAULT_INTERVAL_MS until the host's STATE or ACK says
 * otherwise) while the host has the service on, carrying the guest's
 * facts (agent-facts.h) and its health: systemd's SystemState and the
 * application state the host shows (critical when the system is degraded
 * or a unit of CriticalUnits= has failed).
 *
 * The health comes from a probe function: the agent's asks systemd
 * (ahb_probe_systemd), a test's returns what the test wants.
 */
#ifndef VMSVC_AGENT_HB_H
#define VMSVC_AGENT_HB_H

#include <stddef.h>
#include <stdint.h>

#include "agent-facts.h"
#include "agent-ic.h"

struct ahb_health {
	char sys_state[64];	      /* SystemState, "none", "unknown" */
	uint32_t app_state;	      /* enum ic_app_state */
	char critical[IC_HB_MAX_STR]; /* why critical; "" when not */
};

typedef void (*ahb_probe_fn)(void *ctx, struct ahb_health *h);

/* One heartbeat service: the state of its current connection. */
struct ahb {
	ahb_probe_fn probe;
	void *probe_ctx;
	const char *agent;	/* the agent's version, for BEAT */
	const char *os_release; /* NULL: /etc/os-release */
	/* per connection */
	struct afacts facts;
	uint64_t n;
	uint32_t interval_ms;
	uint64_t last_beat;
};

/* The heartbeat's aic_ops (svc: a struct ahb). */
extern const struct aic_ops ahb_ops;

void ahb_init(struct ahb *h, ahb_probe_fn probe, void *probe_ctx, const char *agent_version);

/*
 * The health from what systemd says: sys_state (NULL: systemd could not be
 * asked), the failed units (", "-separated, "" none) and the critical
 * units found failed (", "-separated, "" none).
 */
void ahb_judge(const char *sys_state, const char *failed, const char *critical_failed,
	       struct ahb_health *h);

/* The agent's probe: ctx is a struct ahb_systemd. Without systemd (s NULL):
 * sys_state "none", app_state unknown. */
struct asys;
struct ahb_systemd {
	struct asys *sys;
	char **units; /* CriticalUnits= (not owned) */
	size_t nunits;
};
void ahb_probe_systemd(void *ctx, struct ahb_health *h);

#endif /* VMSVC_AGENT_HB_H */
