/* SPDX-License-Identifier: MIT */
/*
 * agent-fz-hooks.c - the freeze hooks as a job (agent-fz-hooks.h).
 *
 * The job's child runs each hook (fork, exec with stdin /dev/null, the
 * worker's signal mask cleared) and waits for it, killing it at its
 * timeout. The report's pipe is O_CLOEXEC, so a hook that leaves a daemon
 * behind does not hold the job open: EOF comes when the job's own process
 * ends. The child writes at most AFZ_JOB_FAILS failure lines of at most
 * AFZ_JOB_LINE bytes each, with no line break inside (a hook's name may
 * have one), so the report always fits AFZ_JOB_OUT and "ran N" is never
 * cut off or forged.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-fz-hooks.h"
#include "agent-log.h"
#include "util.h"

#define AFZ_JOB_FAILS 16  /* failure lines a job reports; the rest are counted */
#define AFZ_JOB_LINE  224 /* a failure line's bytes, at most */
_Static_assert((AFZ_JOB_FAILS + 2) * AFZ_JOB_LINE <= AFZ_JOB_OUT, "the report fits");

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

/* The hooks in name order: how many, names in *names (free each and the
 * array), 0 without the folder, or -errno. */
static int list_hooks(const char *dir, char ***names)
{
	struct dirent **ents = NULL;
	int n = scandir(dir, &ents, hook_filter, alphasort), k = 0;
	char path[512];
	struct stat st;

	*names = NULL;
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	*names = calloc((size_t)n + 1, sizeof(char *));
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
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

/* In the job: runs hook name with arg; 0, or -1 with why. */
static int run_hook(const struct afz_job_spec *s, const char *name, const char *arg, char *why,
		    size_t size)
{
	char path[512];
	sigset_t none;
	int status = 0;
	pid_t pid, w;
	uint64_t end = now_ms() + s->timeout_ms;

	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
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
		snprintf(why, size, "did not finish within %u s", s->timeout_ms / 1000);
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

/* A line "fail TEXT" of the report, at most AFZ_JOB_LINE bytes, line
 * breaks in TEXT made blanks. */
static void report_fail(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report_fail(FILE *out, const char *fmt, ...)
{
	char text[AFZ_JOB_LINE - sizeof("fail \n") + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (char *p = text; (p = strpbrk(p, "\r\n"));)
		*p = ' ';
	fprintf(out, "fail %s\n", text);
}

/* The job's child: the hooks, the report on fd, then _exit. */
static void job_main(const struct afz_job_spec *s, int fd)
{
	char **names, why[128];
	int k = list_hooks(s->dir, &names), ran = 0, fails = 0;
	FILE *out = fdopen(fd, "w");

	if (!out)
		_exit(1);
	if (k < 0) {
		report_fail(out, "hooks %s: %s", s->dir, strerror(-k));
		k = 0;
		fails++;
	}
	for (int i = 0; s->freeze && !fails && i < k; i++, ran++) {
		if (run_hook(s, names[i], "freeze", why, sizeof(why)) < 0) {
			alog("freeze: hook %s freeze: %s", names[i], why);
			report_fail(out, "hook %s freeze: %s", names[i], why);
			fails++;
			break;
		}
	}
	for (int i = s->freeze ? 0 : s->n < (uint32_t)k ? (int)s->n : k; i-- > 0;) {
		if (run_hook(s, names[i], "thaw", why, sizeof(why)) < 0) {
			alog("freeze: hook %s thaw: %s", names[i], why);
			if (++fails <= AFZ_JOB_FAILS)
				report_fail(out, "hook %s thaw: %s", names[i], why);
		}
	}
	if (fails > AFZ_JOB_FAILS)
		report_fail(out, "and %d more thaw hooks failed", fails - AFZ_JOB_FAILS);
	if (s->freeze && !fails && s->sync)
		s->sync(s->sync_ctx);
	fprintf(out, "ran %d\n", ran);
	fclose(out);
	free_names(names, k);
	_exit(0);
}

int afz_job_start(struct afz_job *j, const struct afz_job_spec *s)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = -errno;

		close(p[0]);
		close(p[1]);
		return e;
	}
	if (pid == 0) {
		/* nothing of the worker's but the report (a connection it
		 * closes must not stay open here) */
		if (p[1] != 3 && dup2(p[1], 3) < 0)
			_exit(1);
		fcntl(3, F_SETFD, FD_CLOEXEC); /* not the hooks' */
		close_range(4, ~0U, 0);
		job_main(s, 3);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	*j = (struct afz_job){ .pid = pid, .fd = p[0] };
	return 0;
}

bool afz_job_poll(struct afz_job *j, bool wait)
{
	char buf[512];

	while (j->fd >= 0) {
		ssize_t n = read(j->fd, buf, sizeof(buf));

		if (n > 0) {
			size_t k =
				(size_t)n < AFZ_JOB_OUT - j->len ? (size_t)n : AFZ_JOB_OUT - j->len;

			memcpy(j->out + j->len, buf, k);
			j->len += k;
			j->out[j->len] = '\0';
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			close(j->fd);
			j->fd = -1;
			waitpid(j->pid, NULL, 0); /* ECHILD when the worker reaped it */
		} else if (errno == EAGAIN && !wait) {
			return false;
		} else if (errno == EAGAIN) {
			poll(&(struct pollfd){ .fd = j->fd, .events = POLLIN }, 1, -1);
		}
	}
	return true;
}
