/* SPDX-License-Identifier: MIT */
/*
 * agent-ts.c - the time synchronization service (agent-ts.h).
 *
 * A burst is ATS_BURST requests, one at a time: the next goes out as soon
 * as the reply to the last came (or ATS_REPLY_MS passed), each request's
 * t1 read just before it is written and flushed, each reply's t4 read
 * first thing in frame(). The sample with the lowest δ wins: the queues
 * and wake-ups that lengthen an exchange rarely do so the same way both
 * ways, so the shortest exchange has the least error (at most δ/2).
 *
 * The discipline loop (no time daemon): a step (ADJ_SETOFFSET) when |θ| is
 * over StepThreshold, and on the first burst after start or SYNC when |θ|
 * is over max(1 ms, δ); otherwise a slew: the phase with
 * ADJ_OFFSET_SINGLESHOT (the kernel slews 0.5 ms per second), the
 * frequency with ADJ_FREQUENCY from what the phase did between two bursts
 * that the slew does not explain: with r the slew still to go, the clock
 * drifted by θ + r over the interval. The gain starts at 1 (the first
 * estimate is taken whole) and falls to 1/4, so noise in θ (δ/2 under
 * TCG is a few hundred µs) moves the frequency little once it is found.
 * Each burst also sets the kernel's maxerror and esterror to δ/2 plus the
 * host's, and clears STA_UNSYNC only when the host says its own clock is
 * synchronised: the guest never claims better time than the host has.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent-log.h"
#include "agent-ts.h"
#include "util.h"

/* chrony's refclock_sock.c: one datagram per sample. */
#define CHRONY_SOCK_MAGIC 0x534f434b
struct chrony_sample {
	struct timeval tv; /* the system time of the sample */
	double offset;	   /* the true time minus the system time, s */
	int pulse;
	int leap; /* 0 none, 1 insert, 2 delete */
	int pad;
	int magic;
};

#define MAX_FREQ_PPM 500.0
#define MS	     1000000LL

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double clampd(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static int64_t abs64(int64_t v)
{
	return v < 0 ? -v : v;
}

struct ats_sample ats_compute(int64_t t1, int64_t t2, int64_t t3, int64_t t4)
{
	/* halves first: no overflow for any clock of this century */
	return (struct ats_sample){
		.offset_ns = -(((t2 - t1) / 2) + ((t3 - t4) / 2)),
		.delay_ns = (t4 - t1) - (t3 - t2),
		.t4 = t4,
	};
}

const char *ats_mode_name(enum ats_mode m)
{
	return m == ATS_CHRONY ? "chrony" : m == ATS_MONITOR ? "monitor" : "discipline";
}

/* ---- modes ---- */

/* Whether a process named comm runs (its /proc/PID/comm). */
static void scan_procs(const char *proc, bool *chrony, bool *timesyncd, bool *ntpd)
{
	DIR *d = opendir(proc);
	struct dirent *e;
	char path[300], comm[32];

	*chrony = *timesyncd = *ntpd = false;
	if (!d)
		return;
	while ((e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "%s/%s/comm", proc, e->d_name);
		if (!(f = fopen(path, "re")))
			continue;
		if (fgets(comm, sizeof(comm), f)) {
			comm[strcspn(comm, "\n")] = '\0';
			*chrony |= strcmp(comm, "chronyd") == 0;
			*timesyncd |= strcmp(comm, "systemd-timesyn") == 0;
			*ntpd |= strcmp(comm, "ntpd") == 0 || strcmp(comm, "openntpd") == 0;
		}
		fclose(f);
	}
	closedir(d);
}

enum ats_mode ats_detect(const char *proc, bool takeover, char *why, size_t size)
{
	bool chrony, timesyncd, ntpd;

	scan_procs(proc, &chrony, &timesyncd, &ntpd);
	if (chrony) {
		snprintf(why, size, "chronyd runs: samples go to its refclock %s", ATS_CHRONY_SOCK);
		return ATS_CHRONY;
	}
	if ((timesyncd || ntpd) && !takeover) {
		snprintf(why, size,
			 "%s is active: the clock is left to it (TakeOver = yes to discipline it)",
			 timesyncd ? "systemd-timesyncd" : "ntpd");
		return ATS_MONITOR;
	}
	snprintf(why, size, "%s",
		 takeover && (timesyncd || ntpd)
			 ? "TakeOver = yes: disciplining the clock beside a time daemon"
			 : "no time daemon: disciplining the clock");
	return ATS_DISCIPLINE;
}

static void recheck_mode(struct ats *t, uint64_t now)
{
	char why[sizeof(t->why)];
	enum ats_mode m;

	if (now < t->recheck_at)
		return;
	t->recheck_at = now + ATS_RECHECK_MS;
	m = ats_detect(t->proc, t->takeover, why, sizeof(why));
	if (m != t->mode || strcmp(why, t->why) != 0) {
		alog("timesync: %s mode (%s)", ats_mode_name(m), why);
		if (m != t->mode)
			t->have_prev = false;
	}
	t->mode = m;
	snprintf(t->why, sizeof(t->why), "%s", why);
}

/* ---- the clock ---- */

/* Steps the clock by -offset_ns (ADJ_SETOFFSET). 0 or -errno. */
static int step_clock(struct ats *t, int64_t offset_ns)
{
	struct timex tx = { .modes = ADJ_SETOFFSET | ADJ_NANO };
	int64_t d = -offset_ns;

	if (t->dry_run)
		return 0;
	tx.time.tv_sec = d / 1000000000;
	tx.time.tv_usec = d % 1000000000;
	if (tx.time.tv_usec < 0) {
		tx.time.tv_sec--;
		tx.time.tv_usec += 1000000000;
	}
	/* a pending slew belongs to the old clock */
	adjtimex(&(struct timex){ .modes = ADJ_OFFSET_SINGLESHOT, .offset = 0 });
	return adjtimex(&tx) < 0 ? -errno : 0;
}

void ats_kernel_status(struct timex *tx, const struct ic_ts_reply *r, int64_t delay_ns)
{
	uint64_t err_us = (uint64_t)(delay_ns > 0 ? delay_ns : 0) / 2000;

	tx->modes = ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR;
	tx->status &= ~(STA_PLL | STA_FLL | STA_PPSFREQ | STA_PPSTIME);
	if (r->flags & IC_TS_HOST_SYNCED)
		tx->status &= ~STA_UNSYNC;
	else
		tx->status |= STA_UNSYNC;
	if (r->leap == 1)
		tx->status = (tx->status & ~STA_DEL) | STA_INS;
	else if (r->leap == 2)
		tx->status = (tx->status & ~STA_INS) | STA_DEL;
	else
		tx->status &= ~(STA_INS | STA_DEL);
	tx->maxerror = (long)(err_us + r->maxerror_ns / 1000);
	tx->esterror = (long)(err_us + r->esterror_ns / 1000);
	if (tx->maxerror > ATS_MAX_ERROR_US)
		tx->maxerror = ATS_MAX_ERROR_US;
	if (tx->esterror > ATS_MAX_ERROR_US)
		tx->esterror = ATS_MAX_ERROR_US;
}

/* The kernel's status and error estimates from the host's and our own. */
static void set_status(struct ats *t, const struct ic_ts_reply *r, int64_t delay_ns)
{
	struct timex tx = { .modes = 0 };

	if (t->dry_run || adjtimex(&tx) < 0)
		return;
	ats_kernel_status(&tx, r, delay_ns);
	adjtimex(&tx);
}

/* Slews: the frequency from the last interval, the phase over the next. */
static void slew(struct ats *t, const struct ats_sample *s)
{
	struct timex ss = { .modes = ADJ_OFFSET_SINGLESHOT };
	struct timex fq = { .modes = ADJ_FREQUENCY };
	double dt;

	if (t->dry_run)
		return;
	/* the slew left over (µs): its return is the old remainder */
	ss.offset = (long)(-s->offset_ns / 1000);
	if (adjtimex(&ss) < 0)
		return;
	dt = (double)(s->t4 - t->prev_t) / 1e9;
	if (t->nfreq == 0 && !t->have_prev) {
		/* start from the kernel's frequency (chronyd's, or our last run's) */
		struct timex rd = { .modes = 0 };

		if (adjtimex(&rd) >= 0)
			t->freq_ppm = (double)rd.freq / 65536.0;
	}
	if (t->have_prev && dt >= 1.0 && s->delay_ns < 20 * MS) {
		double drift_ppm = ((double)s->offset_ns + (double)ss.offset * 1000) / dt / 1e3;
		double gain = t->nfreq == 0 ? 1.0 : clampd(1.0 / (t->nfreq + 1), 0.25, 1.0);

		t->freq_ppm -= gain * drift_ppm;
		t->freq_ppm = clampd(t->freq_ppm, -MAX_FREQ_PPM, MAX_FREQ_PPM);
		t->nfreq++;
		fq.freq = (long)(t->freq_ppm * 65536.0);
		adjtimex(&fq);
	}
	t->have_prev = true;
	t->prev_t = s->t4;
}

/* ---- chrony ---- */

static void to_chrony(struct ats *t, const struct ats_sample *s, const struct ic_ts_reply *r)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct chrony_sample x = { .magic = CHRONY_SOCK_MAGIC, .leap = (int)r->leap };

	if (t->chrony_fd < 0)
		t->chrony_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", t->chrony_sock);
	x.tv.tv_sec = s->t4 / 1000000000;
	x.tv.tv_usec = s->t4 % 1000000000 / 1000;
	x.offset = -(double)s->offset_ns / 1e9;
	if (t->chrony_fd >= 0 && sendto(t->chrony_fd, &x, sizeof(x), 0, (struct sockaddr *)&a,
					sizeof(a)) == (ssize_t)sizeof(x)) {
		snprintf(t->message, sizeof(t->message), "%s", t->why);
		return;
	}
	snprintf(t->message, sizeof(t->message),
		 "chronyd runs but does not read %s (%s): add 'refclock SOCK %s refid VMSV poll 2 "
		 "filter 8 trust' (/usr/share/doc/vmsvc/chrony-vmsvc.conf)",
		 t->chrony_sock, strerror(errno), t->chrony_sock);
}

/* ---- bursts ---- */

/* What the mode does with the burst's best sample: chrony's, nothing
 * (monitor), or discipline's step or slew. */
static void apply(struct ats *t, const struct ats_sample *s, const struct ic_ts_reply *r)
{
	int64_t off = s->offset_ns, at_sync = s->delay_ns > MS ? s->delay_ns : MS;
	bool step = abs64(off) > t->step_ns || (t->step_next && abs64(off) > at_sync);
	int e;

	if (t->mode == ATS_CHRONY) {
		to_chrony(t, s, r);
		return;
	}
	snprintf(t->message, sizeof(t->message), "%s", t->why);
	if (t->mode == ATS_MONITOR)
		return; /* measured and reported, never touched */
	if (step) {
		e = step_clock(t, off);
		if (e == 0) {
			t->steps++;
			t->have_prev = false;
			alog("timesync: stepped the clock by %+.6f s", -(double)off / 1e9);
			snprintf(t->message, sizeof(t->message), "stepped by %+.6f s",
				 -(double)off / 1e9);
		} else {
			snprintf(t->message, sizeof(t->message), "cannot step the clock: %s",
				 strerror(-e));
		}
	} else {
		slew(t, s);
		snprintf(t->message, sizeof(t->message), "%s (frequency %+.3f ppm)", t->why,
			 t->freq_ppm);
	}
	set_status(t, r, s->delay_ns);
}

static void report(struct aic *c, struct ats *t)
{
	char msg[sizeof(t->message) + 64];
	bool host = t->have_best && (t->best_reply.flags & IC_TS_HOST_SYNCED);

	snprintf(msg, sizeof(msg), "%s%s", t->message,
		 t->have_best && !host ? "; the host's clock is not synchronised" : "");
	ic_enc_ts_report(aic_out(c),
			 &(struct ic_ts_report){
				 .mode = ats_mode_name(t->mode),
				 .offset_ns = t->last_offset_ns,
				 .delay_ns = t->last_delay_ns > 0 ? (uint64_t)t->last_delay_ns : 0,
				 .synced = t->last_ok && abs64(t->last_offset_ns) < ATS_SYNCED_NS,
				 .steps = t->steps,
				 .message = msg,
			 });
}

static void finish_burst(struct aic *c, struct ats *t, uint64_t now)
{
	t->last_ok = t->have_best;
	if (t->have_best) {
		t->last_offset_ns = t->best.offset_ns;
		t->last_delay_ns = t->best.delay_ns;
		apply(t, &t->best, &t->best_reply);
		t->step_next = false;
	} else {
		snprintf(t->message, sizeof(t->message), "no reply from vmsvcd to %d requests",
			 t->sent);
	}
	report(c, t);
	t->sent = t->got = 0;
	t->sent_at = 0;
	if (t->fast_left > 0)
		t->fast_left--;
	aic_set_deadline(c, now + (t->fast_left > 0 ? ATS_FAST_POLL_MS : ATS_POLL_MS));
}

static void send_request(struct aic *c, struct ats *t, uint64_t now)
{
	t->want_seq = ++t->seq;
	t->sent++;
	t->sent_at = now;
	t->want_t1 = realtime_ns();
	ic_enc_ts_request(aic_out(c),
			  &(struct ic_ts_request){ .seq = t->want_seq, .t1 = t->want_t1 });
	aic_flush(c, 1); /* at once: 0 would not even try */
	aic_set_deadline(c, now + ATS_REPLY_MS);
}

/* The next request of the burst, or its end. */
static void next(struct aic *c, struct ats *t, uint64_t now)
{
	if (t->sent < ATS_BURST)
		send_request(c, t, now);
	else
		finish_burst(c, t, now);
}

static void start_burst(struct aic *c, struct ats *t, uint64_t now)
{
	recheck_mode(t, now);
	t->sent = t->got = 0;
	t->have_best = false;
	next(c, t, now);
}

static void on_reply(struct aic *c, struct ats *t, const struct ic_ts_reply *r, int64_t t4,
		     uint64_t now)
{
	struct ats_sample s;

	if (t->sent_at == 0 || r->seq != t->want_seq || r->t1 != t->want_t1)
		return; /* late, after its burst gave up on it */
	s = ats_compute(r->t1, r->t2, r->t3, t4);
	if (r->flags & IC_TS_SYNC_NOW)
		t->step_next = true; /* this burst may step, as after SYNC */
	t->got++;
	t->sent_at = 0;
	if (s.delay_ns >= 0 && (!t->have_best || s.delay_ns < t->best.delay_ns)) {
		t->best = s;
		t->best_reply = *r;
		t->have_best = true;
	}
	next(c, t, now);
}

/* ---- the service ---- */

static void ts_ready(struct aic *c, uint64_t now)
{
	struct ats *t = aic_svc(c);

	t->sent = t->got = 0;
	t->sent_at = 0;
	t->step_next = true;
	t->fast_left = ATS_FAST_BURSTS;
	t->recheck_at = 0;
	aic_set_deadline(c, now);
}

static void ts_state(struct aic *c, const struct ic_state *s, uint64_t now)
{
	struct ats *t = aic_svc(c);

	if (!s->enabled) {
		aic_set_deadline(c, 0);
		t->sent = t->got = 0;
		t->sent_at = 0;
		return;
	}
	if (t->sent == 0)
		aic_set_deadline(c, now);
}

static void on_sync(struct aic *c, struct ats *t, const struct ic_ts_sync *s, uint64_t now)
{
	alog_debug("timesync: SYNC from the host (generation %llu, paused %.1f s)",
		   (unsigned long long)s->generation, (double)s->paused_ns / 1e9);
	t->step_next = true;
	t->fast_left = ATS_FAST_BURSTS;
	t->have_prev = false;
	if (aic_enabled(c))
		start_burst(c, t, now);
}

static int ts_frame(struct aic *c, const struct sess_frame *f, uint64_t now)
{
	int64_t t4 = realtime_ns(); /* first */
	struct ats *t = aic_svc(c);
	struct ic_ts_reply r;
	struct ic_ts_sync s;

	switch (f->type) {
	case IC_TS_REPLY:
		if (ic_dec_ts_reply(f, &r) < 0) {
			aic_set_why(c, "malformed REPLY");
			return -EPROTO;
		}
		if (aic_enabled(c))
			on_reply(c, t, &r, t4, now);
		return 0;
	case IC_TS_SYNC:
		if (ic_dec_ts_sync(f, &s) < 0) {
			aic_set_why(c, "malformed SYNC");
			return -EPROTO;
		}
		on_sync(c, t, &s, now);
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

static void ts_tick(struct aic *c, uint64_t now)
{
	struct ats *t = aic_svc(c);

	if (!aic_enabled(c))
		return;
	if (t->sent_at && now - t->sent_at >= ATS_REPLY_MS) {
		t->sent_at = 0; /* lost */
		next(c, t, now);
	} else if (t->sent == 0) {
		start_burst(c, t, now);
	} else {
		aic_set_deadline(c, t->sent_at + ATS_REPLY_MS);
	}
}

const struct aic_ops ats_ops = {
	.name = "timesync",
	.port = IC_TIMESYNC_PORT,
	.ready = ts_ready,
	.state = ts_state,
	.frame = ts_frame,
	.tick = ts_tick,
};

void ats_init(struct ats *t)
{
	*t = (struct ats){
		.step_ns = 1000000000,
		.proc = "/proc",
		.chrony_sock = ATS_CHRONY_SOCK,
		.chrony_fd = -1,
	};
}

void ats_configure(struct ats *t, bool takeover, double step_threshold_s)
{
	t->takeover = takeover;
	t->step_ns = (int64_t)(step_threshold_s * 1e9);
	t->recheck_at = 0;
}

void ats_fini(struct ats *t)
{
	t->chrony_fd = safe_close(t->chrony_fd);
}
