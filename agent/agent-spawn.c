/* SPDX-License-Identifier: MIT */
/*
 * agent-spawn.c - fork, set up the child, exec (agent-spawn.h).
 *
 * The child runs in the session process's copy of memory and is single
 * threaded, so it may call what it needs before exec; everything it does
 * fails into report(), which writes {stage, errno} to the CLOEXEC pipe the
 * parent reads: an empty read means exec succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent-spawn.h"
#include "session.h"
#include "util.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

static _Noreturn void report(int pipefd, int stage, int err)
{
	int msg[2] = { stage, err };

	(void)!write(pipefd, msg, sizeof(msg));
	_exit(127);
}

static void reset_signals(void)
{
	sigset_t none;

	/* systemd starts services with SIGPIPE ignored; commands want the
	 * defaults, as from a login. */
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The pty's slave as the controlling terminal and stdin/out/err. */
static int child_pty(int master, const struct aspawn_req *q)
{
	const char *name = ptsname(master);
	int fd;

	if (!name)
		return -errno;
	fd = open(name, O_RDWR | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, TIOCSCTTY, 0) < 0)
		return -errno;
	/* As login(1) and sshd do: the user owns their terminal. */
	(void)!fchown(fd, q->uid, (gid_t)-1);
	(void)!fchmod(fd, 0620);
	if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		return -errno;
	if (fd > 2)
		close(fd);
	return 0;
}

static int child_pipes(const int *p_in, const int *p_out, const int *p_err, bool stdin_null)
{
	int in = stdin_null ? open("/dev/null", O_RDONLY) : p_in[0];

	if (in < 0 || dup2(in, 0) < 0 || dup2(p_out[1], 1) < 0 || dup2(p_err[1], 2) < 0)
		return -errno;
	return 0;
}

static int child_user(const struct aspawn_req *q)
{
	if (geteuid() != 0) {
		/* An unprivileged agent (tests) runs commands as itself only. */
		return q->uid == geteuid() ? 0 : -EPERM;
	}
	if (setgroups(q->ngroups, q->groups) < 0 || setresgid(q->gid, q->gid, q->gid) < 0 ||
	    setresuid(q->uid, q->uid, q->uid) < 0)
		return -errno;
	return 0;
}

static _Noreturn void child(const struct aspawn_req *q, int master, const int *p_in,
			    const int *p_out, const int *p_err, int report_fd)
{
	int r;

	reset_signals();
	if (setsid() < 0)
		report(report_fd, SESS_STAGE_INTERNAL, errno);
	r = q->pty ? child_pty(master, q) : child_pipes(p_in, p_out, p_err, q->stdin_null);
	if (r < 0)
		report(report_fd, SESS_STAGE_INTERNAL, -r);
	/* Nothing else of the agent's reaches the command. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		for (int fd = 3; fd < 1024; fd++)
			if (fd != report_fd)
				close(fd);
	}
	r = child_user(q);
	if (r < 0)
		report(report_fd, SESS_STAGE_USER, -r);
	if (chdir(q->cwd) < 0 && (!q->cwd_fallback || chdir("/") < 0))
		report(report_fd, SESS_STAGE_CWD, errno);
	environ = (char **)q->envp;
	execvp(q->file, q->argv);
	report(report_fd, SESS_STAGE_EXEC, errno);
}

static int open_pty(const struct aspawn_req *q)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (m < 0)
		return -errno;
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ioctl(m, TIOCSWINSZ, &q->ws) < 0) {
		int e = errno;
		close(m);
		return -e;
	}
	return m;
}

static int make_pipes(const struct aspawn_req *q, int *p_in, int *p_out, int *p_err)
{
	if ((!q->stdin_null && pipe2(p_in, O_CLOEXEC) < 0) || pipe2(p_out, O_CLOEXEC) < 0 ||
	    pipe2(p_err, O_CLOEXEC) < 0)
		return -errno;
	return 0;
}

/* Waits for the child's report: 0 (exec happened) or its failure. */
static int wait_report(int fd, pid_t pid, struct aspawn_res *r)
{
	int msg[2];
	ssize_t n;

	do
		n = read(fd, msg, sizeof(msg));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n == (ssize_t)sizeof(msg)) {
		r->stage = msg[0];
		r->errnum = msg[1];
	} else {
		r->stage = SESS_STAGE_INTERNAL;
		r->errnum = n < 0 ? errno : EPROTO;
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return -r->errnum;
}

static void set_nonblock(int fd)
{
	if (fd >= 0)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* After a successful exec: the parent's ends into *r. */
static int parent_ends(const struct aspawn_req *q, int master, int *p_in, int *p_out, int *p_err,
		       struct aspawn_res *r)
{
	if (q->pty) {
		r->in = master;
		r->out = fcntl(master, F_DUPFD_CLOEXEC, 0);
		if (r->out < 0)
			return -errno;
	} else {
		r->in = p_in[1];
		r->out = p_out[0];
		r->err = p_err[0];
		p_in[1] = p_out[0] = p_err[0] = -1;
	}
	set_nonblock(r->in);
	set_nonblock(r->out);
	set_nonblock(r->err);
	return 0;
}

int aspawn_start(const struct aspawn_req *q, struct aspawn_res *r)
{
	int p_in[2] = { -1, -1 }, p_out[2] = { -1, -1 }, p_err[2] = { -1, -1 };
	int rep[2] = { -1, -1 }, master = -1, ret;

	*r = (struct aspawn_res){ .pid = -1, .in = -1, .out = -1, .err = -1 };
	ret = q->pty ? (master = open_pty(q)) : make_pipes(q, p_in, p_out, p_err);
	if (ret >= 0 && pipe2(rep, O_CLOEXEC) < 0)
		ret = -errno;
	if (ret >= 0) {
		r->pid = fork();
		if (r->pid == 0)
			child(q, master, p_in, p_out, p_err, rep[1]);
		if (r->pid < 0)
			ret = -errno;
	}
	rep[1] = safe_close(rep[1]);
	p_in[0] = safe_close(p_in[0]);
	p_out[1] = safe_close(p_out[1]);
	p_err[1] = safe_close(p_err[1]);
	if (ret < 0) {
		r->stage = SESS_STAGE_INTERNAL;
		r->errnum = -ret;
	} else {
		ret = wait_report(rep[0], r->pid, r);
		if (ret == 0) {
			ret = parent_ends(q, master, p_in, p_out, p_err, r);
			master = -1;
		}
	}
	rep[0] = safe_close(rep[0]);
	p_in[1] = safe_close(p_in[1]);
	p_out[0] = safe_close(p_out[0]);
	p_err[0] = safe_close(p_err[0]);
	master = safe_close(master);
	return ret;
}
