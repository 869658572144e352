/* SPDX-License-Identifier: MIT */
/*
 * agent-fz.h - the VSS (filesystem freeze) service's guest side, port 705
 * (docs/integration-services.md, docs/guide.md "Backups: freeze and thaw").
 *
 * FREEZE: the hooks in HookDir run with "freeze" in name order (a failing
 * one fails the freeze), the state file is written (on /run, tmpfs), then
 * sync() and FIFREEZE of every writable block filesystem of
 * /proc/self/mountinfo (or only the mounts asked for), `/` last, skipping
 * read-only, pseudo, network and loop-backed ones and one mount per
 * device. Any failure thaws what was frozen (and runs the thaw hooks of
 * the hooks that ran) and FROZEN lists each failure. EBUSY from FIFREEZE
 * means frozen already (as Hyper-V's daemon takes it); EINVAL from FITHAW
 * means thawed already.
 *
 * Always thaws: THAW (FITHAW `/` first, then the hooks with "thaw" in
 * reverse order), the timeout (the watchdog: the connection's deadline),
 * the freeze connection's end, STATE turning the service off, and the
 * agent's next start (afz_recover, from the state file). While frozen the
 * agent holds its log lines in memory (alog_hold) and its pages in RAM
 * (mlockall), so nothing it does waits for a frozen filesystem.
 *
 * The ioctls are a backend: the agent's does FIFREEZE/FITHAW; the unit
 * tests give a fake, never the real one on the host.
 */
#ifndef VMSVC_AGENT_FZ_H
#define VMSVC_AGENT_FZ_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent-fz-hooks.h"
#include "agent-ic.h"

#define AFZ_STATE_FILE	    "/run/vmsvc/frozen"
#define AFZ_MOUNTINFO	    "/proc/self/mountinfo"
#define AFZ_HOOK_TIMEOUT_MS 60000 /* each hook */
#define AFZ_JOB_POLL_MS	    10	  /* the hooks' report is looked at this often */

struct afz_backend {
	/* FIFREEZE / FITHAW of the filesystem mounted at path: 0 or -errno. */
	int (*freeze)(void *ctx, const char *path);
	int (*thaw)(void *ctx, const char *path);
	/* sync() (may be NULL in tests). */
	void (*sync)(void *ctx);
	void *ctx;
};

/* What a FREEZE or THAW did, for FROZEN/THAWED (heap strings). */
struct afz_result {
	uint32_t err; /* 0, or the first failure's errno */
	char message[512];
	uint32_t nmounts;
	char *mounts[IC_FZ_MAX_MOUNTS];
	uint32_t nfailures;
	char *failures[IC_FZ_MAX_MOUNTS];
};

struct afz {
	/* settings (agent.conf; paths overridable for tests) */
	char hook_dir[256];
	const char *state_file;
	const char *mountinfo;
	unsigned hook_timeout_ms;
	bool lock_memory; /* mlockall while frozen */
	struct afz_backend be;
	/* state: what is frozen now, in freeze order (`/` last) */
	uint32_t nfrozen;
	char *frozen[IC_FZ_MAX_MOUNTS];
	uint64_t thaw_at; /* now_ms() of the watchdog's thaw */
	uint32_t nhooks_run;
	struct aic *conn; /* the connection that froze */
	bool up;	  /* a connection is up (its tick reads the hooks' report) */
	/* a FREEZE or THAW whose hooks run (agent-fz-hooks.h) */
	enum afz_phase { AFZ_IDLE, AFZ_FREEZING, AFZ_UNDOING, AFZ_THAWING } phase;
	struct afz_job job;
	char *want[IC_FZ_MAX_MOUNTS]; /* AFZ_FREEZING: the mounts to freeze */
	uint32_t nwant;
	uint32_t timeout_ms;   /* AFZ_FREEZING: the watchdog's, once frozen */
	char cancel_why[64];   /* AFZ_FREEZING, not "": thaw instead when the hooks end, why */
	struct afz_result res; /* what the FREEZE or THAW did, for its answer */
	bool owe_frozen, owe_thawed; /* the answers due when the hooks end */
	uint32_t frozen_seq, thawed_seq;
};

/* The VSS service's aic_ops (svc: a struct afz). */
extern const struct aic_ops afz_ops;

/* The real FIFREEZE/FITHAW/sync backend. */
void afz_backend_ioctl(struct afz_backend *be);

/* Sets the defaults: the hook folder, the state file, /proc/self/mountinfo. */
void afz_init(struct afz *z, struct afz_backend be);

/*
 * The service's steps, none of which waits for a hook: afz_freeze_start
 * checks FREEZE q and starts the freeze hooks (1), or fails at once (-1,
 * res says why); afz_step then reads the hooks' report (wait: block until
 * it is complete) and, when they ended, freezes (or, after a failure or a
 * thaw that came first, runs the thaw hooks of those that ran); true once
 * nothing runs any more (AFZ_IDLE): afz_take_result hands over what the
 * FREEZE or THAW did. afz_thaw_start thaws now (FITHAW) and starts the
 * thaw hooks; during a freeze's hooks it makes the freeze thaw instead.
 */
int afz_freeze_start(struct afz *z, const struct ic_fz_freeze *q, struct afz_result *res);
bool afz_step(struct afz *z, uint64_t now, bool wait);
void afz_thaw_start(struct afz *z, const char *why);
void afz_take_result(struct afz *z, struct afz_result *res);

/* The same, waiting for the hooks (agent start, tests): freezes as FREEZE
 * q asks, res says what happened (0: frozen); thaws everything and runs
 * the thaw hooks, why goes to the log. */
int afz_freeze(struct afz *z, const struct ic_fz_freeze *q, uint64_t now, struct afz_result *res);
void afz_thaw(struct afz *z, const char *why, struct afz_result *res);
/* At start: thaws what the state file says a previous agent froze. */
void afz_recover(struct afz *z);
/* At stop, once the connection is gone (a freeze under way is cancelled,
 * a frozen guest thawed): waits until no hook runs any more, so that the
 * freeze hooks that ran get their thaw hooks before the worker exits. */
void afz_finish(struct afz *z);
void afz_result_clear(struct afz_result *r);
/* For the worker's loop while no connection is up: the hooks' report to
 * watch (0 or 1 pollfd at p), and what to do when it is readable (a freeze
 * cancelled by the connection's end then runs its thaw hooks). */
size_t afz_fill(struct afz *z, struct pollfd *p, size_t max);
void afz_io(struct afz *z, short revents, uint64_t now);

/* Whether this process has filesystems frozen now: what would write to
 * disk (the KVP guest pool) refuses with EBUSY instead of waiting. */
bool afz_frozen(void);

#endif /* VMSVC_AGENT_FZ_H */
