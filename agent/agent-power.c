/* SPDX-License-Identifier: MIT */
/*
 * agent-power.c - shutting the guest down (agent-power.h).
 *
 * Without systemd the work is done by a helper process of its own
 * (setsid, no parent-death signal): it runs the command, waits
 * APOW_FALLBACK_S seconds and then calls reboot(2) itself, so neither the
 * worker's restart nor the host closing the connection stops it. If init
 * does shut down, it kills the helper with everything else.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utmpx.h>

#include "agent-log.h"
#include "agent-power.h"
#include "agent-systemd.h"

static void write_tty(const char *path, const char *msg)
{
	int fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return;
	(void)!write(fd, msg, strlen(msg));
	close(fd);
}

void apow_wall(const char *text)
{
	char msg[4096], path[64];
	struct utmpx *u;

	snprintf(msg, sizeof(msg), "\r\n\aBroadcast message from vmsvc-agent:\r\n\r\n%s\r\n\r\n",
		 text);
	write_tty("/dev/console", msg);
	setutxent();
	while ((u = getutxent()) != NULL) {
		size_t n = strnlen(u->ut_line, sizeof(u->ut_line));

		if (u->ut_type != USER_PROCESS || !n || memchr(u->ut_line, '/', n) ||
		    memcmp(u->ut_line, "..", n < 2 ? n : 2) == 0)
			continue;
		snprintf(path, sizeof(path), "/dev/%.*s", (int)n, u->ut_line);
		write_tty(path, msg);
	}
	endutxent();
}

static int blockers(void *ctx, char **out, size_t max)
{
	return ctx ? asys_blockers(ctx, out, max) : 0;
}

static void announce(void *ctx, uint32_t action, const char *text)
{
	int r;

	if (ctx && (r = asys_wall(ctx, text)) < 0 && r != -ENOENT)
		alog("shutdown: cannot set logind's wall message: %s", strerror(-r));
	apow_wall(text);
}

static const char *const commands[] = {
	[IC_SD_POWEROFF] = "poweroff", [IC_SD_REBOOT] = "reboot", [IC_SD_HALT] = "halt"
};
static const int reboot_cmds[] = {
	[IC_SD_POWEROFF] = RB_POWER_OFF, [IC_SD_REBOOT] = RB_AUTOBOOT, [IC_SD_HALT] = RB_HALT_SYSTEM
};

/* The helper: runs the command, then the fallback. Never returns. */
static void __attribute__((noreturn)) helper(uint32_t action)
{
	const char *cmd = commands[action];
	int st = 0;
	pid_t pid = fork();

	if (pid == 0) {
		execlp(cmd, cmd, (char *)NULL);
		alog("shutdown: cannot run %s: %s", cmd, strerror(errno));
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &st, 0);
	if (pid > 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 127))
		sleep(APOW_FALLBACK_S);
	alog("shutdown: the system is still up %s'%s': sync() and reboot(2) (%s)",
	     pid > 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 127) ? "10 s after " : "without ",
	     cmd, cmd);
	sync();
	reboot(reboot_cmds[action]);
	alog("shutdown: reboot(2) failed: %s", strerror(errno));
	_exit(1);
}

static int sysv_power(uint32_t action, char *why, size_t whysize)
{
	sigset_t none;
	pid_t pid = fork();

	if (pid < 0) {
		snprintf(why, whysize, "cannot start %s: %s", commands[action], strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		setsid();
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		helper(action);
	}
	return 0;
}

static int power(void *ctx, uint32_t action, bool force, char *why, size_t whysize)
{
	if (action < IC_SD_POWEROFF || action > IC_SD_HALT)
		return -EINVAL;
	if (ctx)
		return asys_power(ctx, action, force, why, whysize);
	return sysv_power(action, why, whysize);
}

void apow_backend(struct asd_backend *be, struct asys *sys)
{
	*be = (struct asd_backend){
		.blockers = blockers,
		.announce = announce,
		.power = power,
		.ctx = sys,
	};
}
