/* SPDX-License-Identifier: MIT */
/*
 * agent-fz.c - the VSS (filesystem freeze) service (agent-fz.h).
 *
 * Invariants: the state file exists whenever something may be frozen (it
 * is written before the first FIFREEZE and removed after the last FITHAW);
 * z->nfrozen > 0 exactly while the log is held and memory locked; every
 * path out of a freeze (THAW, watchdog, connection end, STATE off, a
 * failed freeze) goes through thaw_all().
 *
 * The hooks run in a child process (agent-fz-hooks.h, with the sync()
 * before FIFREEZE) while the worker goes on serving the other services;
 * afz_step picks their report up from the connection's tick, or with no
 * connection up from the worker's loop (afz_fill, afz_io). FIFREEZE and
 * FITHAW run in the worker: they return once the filesystem is frozen or
 * thawed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent-conf.h"
#include "agent-fz-hooks.h"
#include "agent-fz-mounts.h"
#include "agent-fz.h"
#include "agent-log.h"
#include "util.h"

#define FLUSH_MS 500

static uint32_t frozen_now; /* every struct afz's nfrozen, summed */

bool afz_frozen(void)
{
	return frozen_now > 0;
}

/* ---- the ioctl backend ---- */

static int fz_ioctl(const char *path, unsigned long req)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY), r = 0;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, req, 0) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int real_freeze(void *ctx, const char *path)
{
	(void)ctx;
	return fz_ioctl(path, FIFREEZE);
}

static int real_thaw(void *ctx, const char *path)
{
	(void)ctx;
	return fz_ioctl(path, FITHAW);
}

static void real_sync(void *ctx)
{
	(void)ctx;
	sync();
}

void afz_backend_ioctl(struct afz_backend *be)
{
	*be = (struct afz_backend){ .freeze = real_freeze, .thaw = real_thaw, .sync = real_sync };
}

void afz_init(struct afz *z, struct afz_backend be)
{
	*z = (struct afz){
		.state_file = AFZ_STATE_FILE,
		.mountinfo = AFZ_MOUNTINFO,
		.hook_timeout_ms = AFZ_HOOK_TIMEOUT_MS,
		.lock_memory = true,
		.be = be,
		.job = { .fd = -1 },
	};
	snprintf(z->hook_dir, sizeof(z->hook_dir), "%s", AGENT_FREEZE_HOOK_DIR);
}

void afz_result_clear(struct afz_result *r)
{
	for (uint32_t i = 0; i < r->nmounts; i++)
		free(r->mounts[i]);
	for (uint32_t i = 0; i < r->nfailures; i++)
		free(r->failures[i]);
	*r = (struct afz_result){ 0 };
}

static void add_mount(struct afz_result *r, const char *path)
{
	if (r->nmounts < IC_FZ_MAX_MOUNTS && (r->mounts[r->nmounts] = strdup(path)))
		r->nmounts++;
}

static void add_failure(struct afz_result *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_failure(struct afz_result *r, int err, const char *fmt, ...)
{
	char text[AFZ_FAIL_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (!r->err)
		r->err = (uint32_t)err;
	if (r->nfailures < IC_FZ_MAX_MOUNTS && (r->failures[r->nfailures] = strdup(text)))
		r->nfailures++;
}

/* ---- hook jobs (agent-fz-hooks.h) ---- */

/* Starts the hooks as a job: 0, or -1 with the failure in r. */
static int start_job(struct afz *z, bool freeze, uint32_t n, struct afz_result *r)
{
	struct afz_job_spec spec = {
		.dir = z->hook_dir,
		.timeout_ms = z->hook_timeout_ms,
		.freeze = freeze,
		.n = n,
		.sync = z->be.sync,
		.sync_ctx = z->be.ctx,
	};
	int e = afz_job_start(&z->job, &spec);

	if (e < 0)
		add_failure(r, -e, "cannot run the %s hooks: %s", freeze ? "freeze" : "thaw",
			    strerror(-e));
	return e < 0 ? -1 : 0;
}

/* The job's report into r: its failures; the freeze hooks that ran. */
static uint32_t job_report(struct afz *z, struct afz_result *r)
{
	char *line = z->job.out, *nl;
	unsigned ran = 0;
	bool complete = false;

	for (; *line; line = nl + 1) {
		if (!(nl = strchr(line, '\n')))
			break;
		*nl = '\0';
		if (strncmp(line, "fail ", 5) == 0)
			add_failure(r, EIO, "%s", line + 5);
		else if (sscanf(line, "ran %u", &ran) == 1)
			complete = true;
	}
	if (!complete)
		add_failure(r, EIO, "the hooks' runner ended early");
	z->job.len = 0;
	z->job.out[0] = '\0';
	return ran;
}

/* ---- the state file ---- */

/* Makes the state file's folder (/run/vmsvc) when it is missing. */
static void state_dir(const struct afz *z)
{
	char dir[512], *slash;

	snprintf(dir, sizeof(dir), "%s", z->state_file);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
}

/* Writes the mounts about to be frozen, NUL-terminated each. */
static int state_write(const struct afz *z, const char *const *mounts, uint32_t n)
{
	char tmp[512];
	FILE *fp;
	int e = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", z->state_file);
	state_dir(z);
	fp = fopen(tmp, "we");
	if (!fp)
		return -errno;
	for (uint32_t i = 0; i < n; i++)
		fwrite(mounts[i], 1, strlen(mounts[i]) + 1, fp);
	if (fflush(fp) != 0)
		e = -errno;
	fclose(fp);
	if (e == 0 && rename(tmp, z->state_file) < 0)
		e = -errno;
	if (e < 0)
		unlink(tmp);
	return e;
}

/* ---- freeze and thaw ---- */

/* FITHAW of every frozen mount, `/` (the last frozen) first. */
static void thaw_all(struct afz *z, const char *why, struct afz_result *r)
{
	uint32_t n = z->nfrozen;

	for (uint32_t i = n; i-- > 0;) {
		int e = z->be.thaw(z->be.ctx, z->frozen[i]);

		if (e < 0 && e != -EINVAL)
			add_failure(r, -e, "%s: %s", z->frozen[i], strerror(-e));
		else
			add_mount(r, z->frozen[i]);
		free(z->frozen[i]);
		z->frozen[i] = NULL;
	}
	frozen_now -= n < frozen_now ? n : frozen_now;
	z->nfrozen = 0;
	z->thaw_at = 0;
	unlink(z->state_file);
	if (z->lock_memory)
		munlockall();
	alog_release();
	if (n)
		alog("freeze: thawed %u filesystem%s (%s)", n, n == 1 ? "" : "s", why);
}

/* Freezes mounts[] in order; on a failure thaws them all again. */
static int freeze_mounts(struct afz *z, const char **mounts, uint32_t n, struct afz_result *r)
{
	struct afz_result undo = { 0 };

	if (z->lock_memory)
		mlockall(MCL_CURRENT | MCL_FUTURE);
	alog_hold();
	for (uint32_t i = 0; i < n; i++) {
		int e = z->be.freeze(z->be.ctx, mounts[i]);

		if (e == -EBUSY)
			alog("freeze: %s was frozen already (EBUSY): taken as frozen", mounts[i]);
		else if (e < 0) {
			add_failure(r, -e, "%s: %s", mounts[i],
				    e == -EOPNOTSUPP ? "the filesystem cannot be frozen"
						     : strerror(-e));
			break;
		}
		if (!(z->frozen[z->nfrozen] = strdup(mounts[i]))) {
			add_failure(r, ENOMEM, "%s: out of memory", mounts[i]);
			break;
		}
		z->nfrozen++;
		frozen_now++;
	}
	if (!r->err)
		return 0;
	thaw_all(z, "the freeze failed", &undo);
	afz_result_clear(&undo);
	return -1;
}

/* The mounts to freeze, into out[]; -1 with the failures in r. */
static int pick(struct afz *z, const struct ic_fz_freeze *q, struct afz_mounts *l, const char **out,
		struct afz_result *r)
{
	static char fail[IC_FZ_MAX_MOUNTS][AFZ_FAIL_LEN];
	uint32_t nfail = 0;
	int e = afz_mounts_read(z->mountinfo, l), n;

	if (e < 0) {
		add_failure(r, -e, "%s: %s", z->mountinfo, strerror(-e));
		return -1;
	}
	n = afz_mounts_pick(l, q->mounts, q->nmounts, out, IC_FZ_MAX_MOUNTS, fail, &nfail);
	if (n < 0) {
		add_failure(r, E2BIG, "more than %d filesystems to freeze", IC_FZ_MAX_MOUNTS);
		return -1;
	}
	for (uint32_t i = 0; i < nfail; i++)
		add_failure(r, EINVAL, "%s", fail[i]);
	if (n == 0 && nfail == 0)
		add_failure(r, ENOENT, "no writable block filesystem to freeze");
	return r->err ? -1 : n;
}

static void want_clear(struct afz *z)
{
	for (uint32_t i = 0; i < z->nwant; i++)
		free(z->want[i]);
	z->nwant = 0;
}

int afz_freeze_start(struct afz *z, const struct ic_fz_freeze *q, struct afz_result *r)
{
	const char *mounts[IC_FZ_MAX_MOUNTS];
	struct afz_mounts l;
	int n;

	if (z->phase != AFZ_IDLE || z->nfrozen) {
		add_failure(r, EBUSY, "%s",
			    z->nfrozen ? "frozen already (by an earlier FREEZE): thaw first"
				       : "a freeze or thaw is under way");
		snprintf(r->message, sizeof(r->message), "%s", r->failures[0]);
		return -1;
	}
	afz_result_clear(&z->res);
	n = pick(z, q, &l, mounts, &z->res);
	for (int i = 0; i < n && (z->want[z->nwant] = strdup(mounts[i])); i++)
		z->nwant++;
	afz_mounts_free(&l);
	if (n >= 0 && z->nwant < (uint32_t)n)
		add_failure(&z->res, ENOMEM, "out of memory");
	z->timeout_ms = q->timeout_ms ? q->timeout_ms : IC_FZ_DEFAULT_TIMEOUT_MS;
	if (z->timeout_ms > IC_FZ_MAX_TIMEOUT_MS)
		z->timeout_ms = IC_FZ_MAX_TIMEOUT_MS;
	z->cancel_why[0] = '\0';
	z->nhooks_run = 0;
	if (!z->res.err && start_job(z, true, 0, &z->res) == 0) {
		z->phase = AFZ_FREEZING;
		return 1;
	}
	*r = z->res;
	z->res = (struct afz_result){ 0 };
	want_clear(z);
	snprintf(r->message, sizeof(r->message), "%s%s", r->failures[0],
		 r->nfailures > 1 ? " (and more)" : "");
	alog("freeze failed, nothing is frozen: %s", r->message);
	return -1;
}

/* The freeze hooks ended: freeze, or undo what they did. */
static void hooks_frozen(struct afz *z, uint64_t now)
{
	const char **mounts = (const char **)z->want;
	int e;

	z->nhooks_run = job_report(z, &z->res);
	if (z->cancel_why[0] && !z->res.err)
		add_failure(&z->res, ECANCELED, "thawed before the freeze was done (%s)",
			    z->cancel_why);
	if (!z->res.err && (e = state_write(z, mounts, z->nwant)) < 0)
		add_failure(&z->res, -e, "%s: %s", z->state_file, strerror(-e));
	if (!z->res.err && freeze_mounts(z, mounts, z->nwant, &z->res) == 0) {
		z->thaw_at = now + z->timeout_ms;
		for (uint32_t i = 0; i < z->nfrozen; i++)
			add_mount(&z->res, z->frozen[i]);
		snprintf(z->res.message, sizeof(z->res.message),
			 "froze %u filesystem%s; thaws by itself in %u ms", z->nfrozen,
			 z->nfrozen == 1 ? "" : "s", z->timeout_ms);
		alog("freeze: %s", z->res.message);
		z->phase = AFZ_IDLE;
		want_clear(z);
		return;
	}
	unlink(z->state_file);
	want_clear(z);
	snprintf(z->res.message, sizeof(z->res.message), "%s%s",
		 z->res.nfailures ? z->res.failures[0] : "failed",
		 z->res.nfailures > 1 ? " (and more)" : "");
	alog("freeze failed, nothing is frozen: %s", z->res.message);
	/* the thaw hooks of those that ran; their failures are logged only */
	z->phase = z->nhooks_run && start_job(z, false, z->nhooks_run, &z->res) == 0 ? AFZ_UNDOING
										     : AFZ_IDLE;
	z->nhooks_run = 0;
}

bool afz_step(struct afz *z, uint64_t now, bool wait)
{
	struct afz_result undo = { 0 };

	if (z->phase == AFZ_IDLE)
		return true;
	if (!afz_job_poll(&z->job, wait))
		return false;
	switch (z->phase) {
	case AFZ_FREEZING:
		hooks_frozen(z, now);
		break;
	case AFZ_UNDOING:
		job_report(z, &undo);
		afz_result_clear(&undo);
		z->phase = AFZ_IDLE;
		break;
	default: /* AFZ_THAWING */
		job_report(z, &z->res);
		z->phase = AFZ_IDLE;
		break;
	}
	return z->phase == AFZ_IDLE;
}

void afz_thaw_start(struct afz *z, const char *why)
{
	uint32_t n = z->nfrozen;

	if (z->phase == AFZ_FREEZING) {
		snprintf(z->cancel_why, sizeof(z->cancel_why), "%s", why);
		return;
	}
	if (z->phase != AFZ_IDLE)
		return; /* the thaw hooks run already */
	afz_result_clear(&z->res);
	thaw_all(z, why, &z->res);
	snprintf(z->res.message, sizeof(z->res.message),
		 n ? "thawed %u filesystem%s" : "nothing was frozen", n, n == 1 ? "" : "s");
	if (n && z->nhooks_run && start_job(z, false, z->nhooks_run, &z->res) == 0)
		z->phase = AFZ_THAWING;
	z->nhooks_run = 0;
}

void afz_take_result(struct afz *z, struct afz_result *r)
{
	afz_result_clear(r);
	*r = z->res;
	z->res = (struct afz_result){ 0 };
}

int afz_freeze(struct afz *z, const struct ic_fz_freeze *q, uint64_t now, struct afz_result *r)
{
	if (afz_freeze_start(z, q, r) < 0)
		return -1;
	afz_step(z, now, true);
	afz_take_result(z, r);
	if (z->phase == AFZ_UNDOING)
		afz_step(z, now, true);
	return z->nfrozen ? 0 : -1;
}

void afz_thaw(struct afz *z, const char *why, struct afz_result *r)
{
	afz_step(z, now_ms(), true); /* a freeze under way ends first */
	afz_thaw_start(z, why);
	afz_step(z, now_ms(), true);
	afz_take_result(z, r);
}

void afz_finish(struct afz *z)
{
	if (z->phase == AFZ_IDLE)
		return;
	alog("stopping: waiting for the %s hooks that run",
	     z->phase == AFZ_FREEZING ? "freeze" : "thaw");
	while (!afz_step(z, now_ms(), true))
		;
	afz_result_clear(&z->res); /* nobody to tell */
}

void afz_recover(struct afz *z)
{
	char buf[IC_FZ_MAX_MOUNTS * 256];
	int fd = open(z->state_file, O_RDONLY | O_CLOEXEC);
	struct afz_result r = { 0 };
	ssize_t len;

	if (fd < 0)
		return;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[len > 0 ? len : 0] = '\0';
	for (ssize_t off = 0; off < len && z->nfrozen < IC_FZ_MAX_MOUNTS;) {
		char *m = buf + off;

		off += (ssize_t)strlen(m) + 1;
		if (*m && (z->frozen[z->nfrozen] = strdup(m)))
			z->nfrozen++;
	}
	alog("freeze: a previous agent left %u filesystem%s frozen (%s): thawing", z->nfrozen,
	     z->nfrozen == 1 ? "" : "s", z->state_file);
	z->nhooks_run = UINT32_MAX; /* every thaw hook: which ones ran is not known */
	z->lock_memory = false;
	afz_thaw(z, "agent start", &r);
	z->lock_memory = true;
	unlink(z->state_file);
	afz_result_clear(&r);
}

/* ---- the service ---- */

static void send_result(struct aic *c, uint16_t type, uint32_t seq, const struct afz *z,
			const struct afz_result *r, uint64_t now)
{
	struct ic_fz_result x = {
		.seq = seq,
		.err = r ? r->err : 0,
		.state = z->nfrozen ? IC_FZ_FROZEN_STATE : IC_FZ_THAWED_STATE,
		.message = r && r->message[0] ? r->message : NULL,
		.thaw_in_ms = z->nfrozen && z->thaw_at > now ? z->thaw_at - now : 0,
	};

	if (r) {
		x.nmounts = r->nmounts;
		memcpy(x.mounts, r->mounts, sizeof(x.mounts[0]) * r->nmounts);
		x.nfailures = r->nfailures;
		memcpy(x.failures, r->failures, sizeof(x.failures[0]) * r->nfailures);
	} else {
		x.nmounts = z->nfrozen;
		memcpy(x.mounts, z->frozen, sizeof(x.mounts[0]) * z->nfrozen);
	}
	ic_enc_fz_result(aic_out(c), type, &x);
}

/* STATUS: what is frozen now. */
static void send_status(struct aic *c, const struct afz *z, uint64_t now)
{
	send_result(c, IC_FZ_STATUS, 0, z, NULL, now);
	aic_flush(c, FLUSH_MS);
}

/* The next tick: soon while hooks run, else the watchdog's thaw. */
static void set_deadline(struct aic *c, const struct afz *z, uint64_t now)
{
	aic_set_deadline(c, z->phase != AFZ_IDLE ? now + AFZ_JOB_POLL_MS
			    : z->nfrozen	 ? z->thaw_at
						 : 0);
}

/* The answers owed once the hooks ended, then STATUS. */
static void answer(struct aic *c, struct afz *z, uint64_t now)
{
	struct afz_result r = { 0 };

	afz_take_result(z, &r);
	if (z->owe_frozen) {
		send_result(c, IC_FZ_FROZEN, z->frozen_seq, z, &r, now);
		afz_result_clear(&r);
		if (z->nfrozen)
			z->conn = c;
	}
	if (z->owe_thawed) {
		if (!r.message[0])
			snprintf(r.message, sizeof(r.message), "nothing was frozen");
		send_result(c, IC_FZ_THAWED, z->thawed_seq, z, &r, now);
	}
	afz_result_clear(&r);
	z->owe_frozen = z->owe_thawed = false;
	send_status(c, z, now);
	set_deadline(c, z, now);
}

/* Thaws by itself (the watchdog, STATE off); tells the host when c is up. */
static void auto_thaw(struct afz *z, struct aic *c, const char *why, uint64_t now)
{
	afz_thaw_start(z, why);
	z->conn = NULL;
	if (c && z->phase == AFZ_IDLE)
		answer(c, z, now);
	else if (c)
		set_deadline(c, z, now);
}

static void on_freeze(struct aic *c, struct afz *z, const struct ic_fz_freeze *q, uint64_t now)
{
	struct afz_result r = { 0 };

	afz_step(z, now, false); /* a job that ended while no connection looked */
	if (!aic_enabled(c)) {
		r.err = EPERM;
		snprintf(r.message, sizeof(r.message), "the VSS service is turned off for this VM");
	} else if (afz_freeze_start(z, q, &r) > 0) {
		z->owe_frozen = true;
		z->frozen_seq = q->seq;
		set_deadline(c, z, now);
		return;
	}
	send_result(c, IC_FZ_FROZEN, q->seq, z, &r, now);
	afz_result_clear(&r);
	send_status(c, z, now);
}

static void on_thaw(struct aic *c, struct afz *z, uint32_t seq, uint64_t now)
{
	afz_step(z, now, false);
	z->owe_thawed = true;
	z->thawed_seq = seq;
	afz_thaw_start(z, "the host asked");
	z->conn = NULL;
	if (z->phase == AFZ_IDLE)
		answer(c, z, now);
	else
		set_deadline(c, z, now);
}

static int fz_frame(struct aic *c, const struct sess_frame *f, uint64_t now)
{
	struct afz *z = aic_svc(c);
	struct ic_fz_freeze q;
	uint32_t seq;

	if (f->type == IC_FZ_FREEZE) {
		if (ic_dec_fz_freeze(f, &q) < 0) {
			aic_set_why(c, "malformed FREEZE");
			return -EPROTO;
		}
		on_freeze(c, z, &q, now);
		return 0;
	}
	if (f->type != IC_FZ_THAW)
		return -EOPNOTSUPP;
	if (ic_dec_fz_thaw(f, &seq) < 0) {
		aic_set_why(c, "malformed THAW");
		return -EPROTO;
	}
	on_thaw(c, z, seq, now);
	return 0;
}

static void fz_ready(struct aic *c, uint64_t now)
{
	struct afz *z = aic_svc(c);

	z->up = true;
	if (afz_step(z, now, false))
		afz_result_clear(&z->res); /* asked on an earlier connection */
	z->owe_frozen = z->owe_thawed = false;
	send_status(c, z, now);
	set_deadline(c, z, now);
}

static void fz_state(struct aic *c, const struct ic_state *s, uint64_t now)
{
	struct afz *z = aic_svc(c);

	if (!s->enabled && (z->nfrozen || z->phase == AFZ_FREEZING))
		auto_thaw(z, c, "the service was turned off for this VM", now);
}

static void fz_tick(struct aic *c, uint64_t now)
{
	struct afz *z = aic_svc(c);

	if (z->phase != AFZ_IDLE) {
		if (afz_step(z, now, false))
			answer(c, z, now);
		else
			set_deadline(c, z, now);
		if (z->phase == AFZ_IDLE && z->nfrozen && now >= z->thaw_at)
			auto_thaw(z, c, "the freeze timed out", now);
	} else if (z->nfrozen && now >= z->thaw_at) {
		auto_thaw(z, c, "the freeze timed out", now);
	} else {
		set_deadline(c, z, now);
	}
}

/* The connection ended: thaw. A freeze whose hooks still run thaws instead
 * once they end (afz_fill/afz_io see to it while no connection is up); thaw
 * hooks run on by themselves. */
static void fz_closed(struct aic *c)
{
	struct afz *z = aic_svc(c);

	z->up = false;
	z->owe_frozen = z->owe_thawed = false;
	if (z->phase == AFZ_FREEZING)
		snprintf(z->cancel_why, sizeof(z->cancel_why), "the connection ended");
	if (z->nfrozen)
		afz_thaw_start(z, "the host's freeze connection ended");
	if (z->phase == AFZ_IDLE)
		afz_result_clear(&z->res); /* nobody to tell */
	z->conn = NULL;
}

size_t afz_fill(struct afz *z, struct pollfd *p, size_t max)
{
	/* with a connection up, its tick reads the report (and answers) */
	if (z->up || z->phase == AFZ_IDLE || max == 0)
		return 0;
	p[0] = (struct pollfd){ .fd = z->job.fd, .events = POLLIN };
	return 1;
}

void afz_io(struct afz *z, short revents, uint64_t now)
{
	if (revents && afz_step(z, now, false))
		afz_result_clear(&z->res); /* nobody to tell */
}

const struct aic_ops afz_ops = {
	.name = "vss",
	.port = IC_VSS_PORT,
	.ready = fz_ready,
	.state = fz_state,
	.frame = fz_frame,
	.tick = fz_tick,
	.closed = fz_closed,
};
