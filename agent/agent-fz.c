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
 * A freeze runs in the worker's loop: the hooks are bounded
 * (hook_timeout_ms each), FIFREEZE returns once the filesystem is frozen.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-conf.h"
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

/* ---- hooks ---- */

/* Backups and package-manager leftovers are not hooks (qemu-ga's rules). */
static bool hook_name_ok(const char *n)
{
	static const char *const suffixes[] = { "~", ".rpmnew", ".rpmsave", ".rpmorig", NULL };
	size_t len = strlen(n);

	if (n[0] == '.' || strstr(n, ".dpkg-") || strstr(n, ".ucf-"))
		return false;
	for (size_t i = 0; suffixes[i]; i++) {
		size_t k = strlen(suffixes[i]);
		if (len >= k && strcmp(n + len - k, suffixes[i]) == 0)
			return false;
	}
	return true;
}

static int hook_filter(const struct dirent *d)
{
	return hook_name_ok(d->d_name);
}

/* The hooks in name order (executable regular files): how many, names in
 * *names (free each and the array), 0 without the folder. */
static int list_hooks(const struct afz *z, char ***names)
{
	struct dirent **ents = NULL;
	int n = scandir(z->hook_dir, &ents, hook_filter, alphasort), k = 0;
	char path[512];
	struct stat st;

	*names = NULL;
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	*names = calloc((size_t)n + 1, sizeof(char *));
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", z->hook_dir, ents[i]->d_name);
		if (*names && stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) &&
		    access(path, X_OK) == 0)
			(*names)[k++] = strdup(ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	return *names ? k : -ENOMEM;
}

static void free_names(char **names, int n)
{
	for (int i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

/* Runs hook name with arg: 0, or -1 with why. */
static int run_hook(const struct afz *z, const char *name, const char *arg, char *why, size_t size)
{
	char path[512];
	sigset_t none;
	int status = 0;
	pid_t pid, w;
	uint64_t end = now_ms() + z->hook_timeout_ms;

	snprintf(path, sizeof(path), "%s/%s", z->hook_dir, name);
	pid = fork();
	if (pid < 0) {
		snprintf(why, size, "cannot start: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int fd = open("/dev/null", O_RDONLY);

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (fd >= 0)
			dup2(fd, 0);
		execl(path, path, arg, (char *)NULL);
		_exit(127);
	}
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < end)
		nanosleep(&(struct timespec){ .tv_nsec = 5 * 1000 * 1000 }, NULL);
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		snprintf(why, size, "did not finish within %u s", z->hook_timeout_ms / 1000);
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		snprintf(why, size, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(why, size, "killed by signal %d",
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -1;
}

/* The thaw hooks of the first n freeze hooks, in reverse order. */
static void thaw_hooks(struct afz *z, uint32_t n, struct afz_result *r)
{
	char **names, why[128];
	int k = list_hooks(z, &names);

	for (int i = k < 0 ? 0 : n < (uint32_t)k ? (int)n : k; i-- > 0;) {
		if (run_hook(z, names[i], "thaw", why, sizeof(why)) < 0) {
			alog("freeze: hook %s thaw: %s", names[i], why);
			add_failure(r, EIO, "hook %s thaw: %s", names[i], why);
		}
	}
	free_names(names, k);
}

/* The freeze hooks in name order; z->nhooks_run counts those that ran
 * well. 0, or -1 with the failure in r. */
static int freeze_hooks(struct afz *z, struct afz_result *r)
{
	char **names, why[128];
	int k = list_hooks(z, &names);

	z->nhooks_run = 0;
	if (k < 0) {
		add_failure(r, -k, "hooks %s: %s", z->hook_dir, strerror(-k));
		return -1;
	}
	for (int i = 0; i < k; i++) {
		if (run_hook(z, names[i], "freeze", why, sizeof(why)) < 0) {
			alog("freeze: hook %s freeze: %s", names[i], why);
			add_failure(r, EIO, "hook %s freeze: %s", names[i], why);
			free_names(names, k);
			return -1;
		}
		z->nhooks_run++;
	}
	free_names(names, k);
	return 0;
}

/* ---- the state file ---- */

/* Writes the mounts about to be frozen, NUL-terminated each. */
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

int afz_freeze(struct afz *z, const struct ic_fz_freeze *q, uint64_t now, struct afz_result *r)
{
	const char *mounts[IC_FZ_MAX_MOUNTS];
	struct afz_result undo = { 0 }; /* the thaw hooks' of a failed freeze */
	uint32_t timeout = q->timeout_ms ? q->timeout_ms : IC_FZ_DEFAULT_TIMEOUT_MS;
	struct afz_mounts l;
	int n = pick(z, q, &l, mounts, r), e;

	if (n < 0 || freeze_hooks(z, r) < 0)
		goto fail;
	if ((e = state_write(z, mounts, (uint32_t)n)) < 0) {
		add_failure(r, -e, "%s: %s", z->state_file, strerror(-e));
		goto fail;
	}
	if (z->be.sync)
		z->be.sync(z->be.ctx);
	if (freeze_mounts(z, mounts, (uint32_t)n, r) < 0)
		goto fail;
	afz_mounts_free(&l);
	z->thaw_at = now + (timeout > IC_FZ_MAX_TIMEOUT_MS ? IC_FZ_MAX_TIMEOUT_MS : timeout);
	for (uint32_t i = 0; i < z->nfrozen; i++)
		add_mount(r, z->frozen[i]);
	snprintf(r->message, sizeof(r->message), "froze %u filesystem%s; thaws by itself in %u ms",
		 z->nfrozen, z->nfrozen == 1 ? "" : "s", timeout);
	alog("freeze: %s", r->message);
	return 0;
fail:
	unlink(z->state_file);
	thaw_hooks(z, z->nhooks_run, &undo);
	afz_result_clear(&undo);
	z->nhooks_run = 0;
	afz_mounts_free(&l);
	snprintf(r->message, sizeof(r->message), "%s%s", r->nfailures ? r->failures[0] : "failed",
		 r->nfailures > 1 ? " (and more)" : "");
	alog("freeze failed, nothing is frozen: %s", r->message);
	return -1;
}

void afz_thaw(struct afz *z, const char *why, struct afz_result *r)
{
	uint32_t n = z->nfrozen;

	thaw_all(z, why, r);
	if (n) {
		thaw_hooks(z, z->nhooks_run, r);
		z->nhooks_run = 0;
	}
	snprintf(r->message, sizeof(r->message),
		 n ? "thawed %u filesystem%s" : "nothing was frozen", n, n == 1 ? "" : "s");
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

/* Thaws by itself (the watchdog, STATE off); tells the host when c is up. */
static void auto_thaw(struct afz *z, struct aic *c, const char *why, uint64_t now)
{
	struct afz_result r = { 0 };

	afz_thaw(z, why, &r);
	afz_result_clear(&r);
	z->conn = NULL;
	if (c) {
		aic_set_deadline(c, 0);
		send_status(c, z, now);
	}
}

static void on_freeze(struct aic *c, struct afz *z, const struct ic_fz_freeze *q, uint64_t now)
{
	struct afz_result r = { 0 };

	if (!aic_enabled(c)) {
		r.err = EPERM;
		snprintf(r.message, sizeof(r.message), "the VSS service is turned off for this VM");
	} else if (z->nfrozen) {
		r.err = EBUSY;
		snprintf(r.message, sizeof(r.message),
			 "frozen already (by an earlier FREEZE): thaw first");
	} else if (afz_freeze(z, q, now, &r) == 0) {
		z->conn = c;
		aic_set_deadline(c, z->thaw_at);
	}
	send_result(c, IC_FZ_FROZEN, q->seq, z, &r, now);
	afz_result_clear(&r);
	send_status(c, z, now);
}

static int fz_frame(struct aic *c, const struct sess_frame *f, uint64_t now)
{
	struct afz *z = aic_svc(c);
	struct ic_fz_freeze q;
	struct afz_result r = { 0 };
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
	afz_thaw(z, "the host asked", &r);
	z->conn = NULL;
	aic_set_deadline(c, 0);
	send_result(c, IC_FZ_THAWED, seq, z, &r, now);
	afz_result_clear(&r);
	send_status(c, z, now);
	return 0;
}

static void fz_ready(struct aic *c, uint64_t now)
{
	send_status(c, aic_svc(c), now);
}

static void fz_state(struct aic *c, const struct ic_state *s, uint64_t now)
{
	struct afz *z = aic_svc(c);

	if (!s->enabled && z->nfrozen)
		auto_thaw(z, c, "the service was turned off for this VM", now);
}

static void fz_tick(struct aic *c, uint64_t now)
{
	struct afz *z = aic_svc(c);

	if (z->nfrozen && now >= z->thaw_at)
		auto_thaw(z, c, "the freeze timed out", now);
	else if (z->nfrozen)
		aic_set_deadline(c, z->thaw_at);
}

static void fz_closed(struct aic *c)
{
	struct afz *z = aic_svc(c);

	if (z->nfrozen)
		auto_thaw(z, NULL, "the host's freeze connection ended", now_ms());
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
