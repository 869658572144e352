/* SPDX-License-Identifier: MIT */
/*
 * agent-conf.h - vmsvc-agent's configuration (/etc/vmsvc/agent.conf) and
 * the policy it states: which session features are on, and which guest
 * users each host user may run as (docs/guide.md, "The guest agent").
 *
 *   [Agent]
 *   MaxSessions = 128        sessions at once (1..4096)
 *   [Session]
 *   Exec = yes               vmsvc exec (commands, with or without a PTY)
 *   Shell = yes              vmsvc shell (the user's login shell)
 *   Copy = yes               vmsvc cp
 *   [Users]
 *   alice = alice, www-data  host user alice may run as these guest users
 *   1000 = bob               a host uid (all digits), for users with no name
 *   ops = *                  any guest user
 *   [Heartbeat]
 *   Enabled = yes            connect to the host's heartbeat service
 *   CriticalUnits = a b.service   systemd units whose failure is critical
 *   [Shutdown]
 *   Enabled = yes            honour the host's shutdown requests (no: EPERM)
 *   [KVP]
 *   Enabled = yes            the key-value exchange (host link, socket, files)
 *   ReadGroup =              a group: only root and it may read the pools
 *   WriteGroup =             a group that may write the guest pool (and root)
 *   [Freeze]
 *   Enabled = yes            filesystem freeze for the host's backups (VSS)
 *   HookDir = /etc/vmsvc/freeze-hook.d   hooks run with freeze and thaw
 *   [TimeSync]
 *   Enabled = yes            time synchronization with the host
 *   TakeOver = no            yes: discipline the clock even when timesyncd/ntpd runs
 *   StepThreshold = 1.0      seconds: a larger offset is stepped, a smaller slewed
 *
 * A missing file means the defaults: everything on, no critical units,
 * anyone may read the key-value pools and only root write the guest pool,
 * host root may run as any guest user, nobody else as anyone. A [Users] line for root replaces
 * root's default. A host user is looked up by name first, then by uid.
 */
#ifndef VMSVC_AGENT_CONF_H
#define VMSVC_AGENT_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_CONF_FILE		   "/etc/vmsvc/agent.conf"
#define AGENT_MAX_SESSIONS_DEFAULT 128
#define AGENT_MAX_SESSIONS_LIMIT   4096
/* CriticalUnits=: at most this many units, each at most this long. */
#define AGENT_MAX_CRITICAL_UNITS 64
#define AGENT_MAX_UNIT_NAME	 255
/* [KVP] ReadGroup=, WriteGroup=: a group name (or a gid) this long at most. */
#define AGENT_MAX_GROUP_NAME 64
/* [Freeze] HookDir=: an absolute path this long at most. */
#define AGENT_MAX_PATH	      255
#define AGENT_FREEZE_HOOK_DIR "/etc/vmsvc/freeze-hook.d"

/* One [Users] line: a host user and the guest users it may become. */
struct aconf_map {
	char *host;    /* the key as written: a name, or digits (a uid) */
	char **guests; /* "*" means any */
	size_t nguests;
};

struct aconf {
	bool exec, shell, copy;
	unsigned max_sessions;
	struct aconf_map *maps;
	size_t nmaps;
	bool hb_enabled; /* [Heartbeat] Enabled */
	char **critical; /* [Heartbeat] CriticalUnits, full unit names */
	size_t ncritical;
	bool shutdown_enabled; /* [Shutdown] Enabled */
	bool kvp_enabled;      /* [KVP] Enabled */
	/* [KVP] ReadGroup=, WriteGroup=: a group name or gid; "" when unset */
	char kvp_read_group[AGENT_MAX_GROUP_NAME + 1];
	char kvp_write_group[AGENT_MAX_GROUP_NAME + 1];
	bool fz_enabled;		      /* [Freeze] Enabled */
	char fz_hook_dir[AGENT_MAX_PATH + 1]; /* [Freeze] HookDir, absolute */
	bool ts_enabled;		      /* [TimeSync] Enabled */
	bool ts_takeover;		      /* [TimeSync] TakeOver */
	double ts_step_threshold;	      /* [TimeSync] StepThreshold, seconds */
};

/* The defaults (what a missing file gives). */
void aconf_defaults(struct aconf *c);

/*
 * Loads path into *c. A missing file gives the defaults (returns 0). A
 * broken one returns -EINVAL with "PATH:LINE: what is wrong" in err; a file
 * that cannot be read, -errno with a message. Release with aconf_clear.
 */
int aconf_load(const char *path, struct aconf *c, char *err, size_t errsize);

void aconf_clear(struct aconf *c);

/* The [Users] line that applies to host user (name, uid), or NULL. */
const struct aconf_map *aconf_map_for(const struct aconf *c, const char *host_user,
				      uint32_t host_uid);

/*
 * Whether host user (name, uid) may run as guest user guest: 0, or -EPERM.
 * With no [Users] line: root may, nobody else.
 */
int aconf_may_run_as(const struct aconf *c, const char *host_user, uint32_t host_uid,
		     const char *guest);

/*
 * The guest user a request that names none runs as: the first of the
 * mapped users (the host user's own name for "*"), "root" for host root
 * with no line; NULL when the host user may run as nobody.
 */
const char *aconf_default_user(const struct aconf *c, const char *host_user, uint32_t host_uid);

#endif /* VMSVC_AGENT_CONF_H */
