/* SPDX-License-Identifier: MIT */
/*
 * agent-systemd.h - what the integration services ask systemd and logind,
 * through libsystemd's sd-bus (HAVE_LIBSYSTEMD; the static agent is built
 * without it and gets the stubs: asys_new() returns NULL).
 *
 * The connections stay open between calls (the guest may be emulated and
 * slow: no systemctl per beat) and are reopened after a failure. systemd
 * is reached on its private socket (/run/systemd/private, root only),
 * which works without a D-Bus daemon, else on the system bus; logind only
 * on the system bus. Every call waits at most ASYS_CALL_TIMEOUT_MS.
 */
#ifndef VMSVC_AGENT_SYSTEMD_H
#define VMSVC_AGENT_SYSTEMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ASYS_CALL_TIMEOUT_MS 800

struct asys;

/* A handle when PID 1 is systemd and this build speaks D-Bus, else NULL
 * (connections are opened at the first call). */
struct asys *asys_new(void);
/* Returns NULL; takes NULL. */
struct asys *asys_free(struct asys *s);

/* The manager's SystemState ("running", "degraded", ...): 0 or -errno. */
int asys_system_state(struct asys *s, char *buf, size_t size);
/* Calls each(ctx, name) for every unit in state "failed": how many, or
 * -errno. */
int asys_failed_units(struct asys *s, void (*each)(void *ctx, const char *unit), void *ctx);
/* A unit's ActiveState ("active", "failed", "inactive" when unknown): 0
 * or -errno. */
int asys_unit_state(struct asys *s, const char *unit, char *buf, size_t size);

/*
 * logind's "block" inhibitors that cover shutdown, each as
 * "WHO (uid U, pid P): WHY" in out[] (heap, the caller frees): how many
 * (at most max), or -errno; -ENOENT when logind is not there (then
 * nothing can inhibit).
 */
int asys_blockers(struct asys *s, char **out, size_t max);

/* logind's wall message for the shutdown: 0, -ENOENT without logind. */
int asys_wall(struct asys *s, const char *msg);

/*
 * Powers off, reboots or halts (enum ic_sd_action) through logind
 * (non-interactive; unless force, logind refuses when a block inhibitor
 * appeared since asys_blockers: -EBUSY), or without logind by starting
 * poweroff.target/reboot.target/halt.target as `systemctl` does. 0 once
 * the job is queued, or -errno with why filled.
 */
int asys_power(struct asys *s, uint32_t action, bool force, char *why, size_t whysize);

#endif /* VMSVC_AGENT_SYSTEMD_H */
