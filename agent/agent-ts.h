/* SPDX-License-Identifier: MIT */
/*
 * agent-ts.h - Time Synchronization's guest side (port 703,
 * docs/integration-services.md): bursts of NTP-style exchanges with
 * vmsvcd, the lowest-delay sample of each, and what to do with it, by
 * mode (chosen at start and re-checked every ATS_RECHECK_MS):
 *
 *   chrony      chronyd runs: each sample goes to its SOCK refclock
 *               (ATS_CHRONY_SOCK); the clock is chrony's alone.
 *   monitor     systemd-timesyncd or ntpd runs: the clock is theirs;
 *               the agent measures and reports, and touches nothing
 *               (no step, not even at start or on resume).
 *   discipline  no time daemon (or [TimeSync] TakeOver = yes): step
 *               when |θ| > StepThreshold and on the first burst after
 *               start and SYNC, slew otherwise (a frequency and phase
 *               loop of ours through adjtimex), and keep the kernel's
 *               synchronised flag and error estimates honest.
 *
 * A REPORT follows every burst.
 */
#ifndef VMSVC_AGENT_TS_H
#define VMSVC_AGENT_TS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/timex.h>

#include "agent-ic.h"

#define ATS_MAX_ERROR_US 16000000 /* the kernel's NTP_PHASE_LIMIT */
#define ATS_CHRONY_SOCK	 "/run/vmsvc/chrony.sock"
#define ATS_BURST	 8	  /* requests per burst */
#define ATS_POLL_MS	 2000	  /* between bursts, steady state */
#define ATS_FAST_POLL_MS 250	  /* after start and SYNC ... */
#define ATS_FAST_BURSTS	 6	  /* ... for this many bursts */
#define ATS_REPLY_MS	 300	  /* a request unanswered this long is lost */
#define ATS_RECHECK_MS	 10000	  /* the time daemons are looked for this often */
#define ATS_SYNCED_NS	 10000000 /* |θ| below this: synchronised (REPORT) */

enum ats_mode { ATS_DISCIPLINE, ATS_MONITOR, ATS_CHRONY };

/* One exchange's result. */
struct ats_sample {
	int64_t offset_ns; /* θ: the guest clock minus the host's */
	int64_t delay_ns;  /* δ: the round trip without the host's time */
	int64_t t4;	   /* the guest clock at its receipt */
};

/* θ and δ from the four timestamps (ic.h). */
struct ats_sample ats_compute(int64_t t1, int64_t t2, int64_t t3, int64_t t4);

/* Which mode the guest's processes call for (proc: "/proc"). */
enum ats_mode ats_detect(const char *proc, bool takeover, char *why, size_t size);
const char *ats_mode_name(enum ats_mode m);

struct ats {
	/* settings (agent.conf) */
	bool takeover;
	int64_t step_ns;
	const char *proc;	 /* "/proc" */
	const char *chrony_sock; /* ATS_CHRONY_SOCK */
	bool dry_run;		 /* tests: never touch the clock */
	/* state */
	enum ats_mode mode;
	char why[160];
	uint64_t recheck_at;
	uint32_t seq;
	int sent, got;	   /* this burst */
	uint64_t sent_at;  /* the outstanding request (now_ms) */
	uint32_t want_seq; /* its seq */
	int64_t want_t1;
	bool have_best;
	struct ats_sample best;
	struct ic_ts_reply best_reply;
	bool step_next; /* the next burst may step (start, SYNC) */
	int fast_left;	/* fast bursts to go */
	uint64_t steps;
	int chrony_fd;
	/* the discipline loop */
	bool have_prev;
	int64_t prev_t;	 /* when the last correction was made (guest ns) */
	double freq_ppm; /* our frequency correction */
	unsigned nfreq;	 /* estimates so far */
	int64_t last_offset_ns, last_delay_ns;
	bool last_ok;
	char message[256];
};

/* Time sync's aic_ops (svc: a struct ats). */
extern const struct aic_ops ats_ops;

void ats_init(struct ats *t);
/*
 * The kernel clock state the discipline mode sets after a burst, from the
 * state read (tx, adjtimex modes 0), the host's REPLY and the sample's
 * delay: STA_UNSYNC cleared only when the host's clock is synchronised,
 * the leap second the host announces, maxerror/esterror = delay/2 plus the
 * host's (µs, at most ATS_MAX_ERROR_US, the kernel's NTP_PHASE_LIMIT).
 * Sets tx->modes; the caller passes tx to adjtimex.
 */
void ats_kernel_status(struct timex *tx, const struct ic_ts_reply *r, int64_t delay_ns);

/* Applies agent.conf's [TimeSync] (threshold in seconds). */
void ats_configure(struct ats *t, bool takeover, double step_threshold_s);
/* Closes the chrony socket. */
void ats_fini(struct ats *t);

#endif /* VMSVC_AGENT_TS_H */
