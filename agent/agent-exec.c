/* SPDX-License-Identifier: MIT */
/*
 * agent-exec.c - the running command's pump (agent-exec.h).
 *
 * One poll loop. Invariants:
 * - an output pipe is read only while the host's credit for its channel is
 *   positive (and the send queue is short), so a host that stops reading
 *   blocks the command on a full pipe: nothing is dropped;
 * - the host's stdin bytes are held (at most our window) until the command
 *   reads them; CREDIT goes back for what it has read;
 * - control frames (EXIT, ERROR, PONG) are queued at once, never behind
 *   credit;
 * - EXIT is the last frame: after the command has been reaped and both
 *   output channels reached their end, or linger_ms after the exit when a
 *   background process keeps the output open.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent-exec.h"
#include "agent-log.h"
#include "util.h"

/* Output is not read while this much waits to be sent. */
#define OUT_HIGH (512 * 1024)

struct aexec {
	struct aconn *c;
	const struct aexec_cfg *cfg;
	int in, out, err;
	uint8_t *ibuf; /* stdin bytes the command has not read yet */
	size_t ilen;
	bool in_eof;  /* the host's stdin ended */
	int veofs;    /* VEOF characters still to write (pty) */
	char last_in; /* the last byte written to the terminal */
	struct sess_credit credit;
	bool exited;
	int status;
	struct rusage ru;
	uint64_t t_exit, deadline, kill_at;
};

static bool group_alive(pid_t pgid)
{
	return kill(-pgid, 0) == 0 || errno == EPERM;
}

/* Reaps every child that has ended (we are a subreaper: orphans of the
 * command come to us); records the command's status. */
static void reap(struct aexec *x)
{
	struct rusage ru;
	int st;
	pid_t p;

	while ((p = wait4(-1, &st, WNOHANG, &ru)) > 0) {
		if (p == x->cfg->pid && !x->exited) {
			x->exited = true;
			x->status = st;
			x->ru = ru;
			x->t_exit = now_ms();
		}
	}
}

static void drain_sigfd(int sigfd)
{
	struct signalfd_siginfo si;

	while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
}

/* The host is gone (or the timeout passed with end): SIGHUP to the group,
 * SIGKILL after the grace time, every child reaped. */
static void hang_up(struct aexec *x, int sigfd)
{
	pid_t pg = x->cfg->pid;
	uint64_t end;

	kill(-pg, SIGHUP);
	x->in = safe_close(x->in);
	x->out = safe_close(x->out);
	x->err = safe_close(x->err);
	end = now_ms() + AEXEC_KILL_GRACE_MS;
	for (;;) {
		struct pollfd p = { .fd = sigfd, .events = POLLIN };

		reap(x);
		if (!group_alive(pg) || now_ms() >= end)
			break;
		if (poll(&p, 1, 50) > 0)
			drain_sigfd(sigfd);
	}
	if (group_alive(pg)) {
		alog("process group %d outlived SIGHUP by %d ms: SIGKILL", (int)pg,
		     AEXEC_KILL_GRACE_MS);
		kill(-pg, SIGKILL);
		for (int i = 0; i < 40 && group_alive(pg); i++) {
			usleep(25000);
			reap(x);
		}
	}
	reap(x);
}

/* ---- frames from the host ---- */

static int on_stdin_data(struct aexec *x, const struct sess_frame *f)
{
	if (x->in_eof || x->ilen + f->len > x->cfg->window) {
		aconn_error(x->c, SESS_STAGE_PROTOCOL, EPROTO,
			    "stdin data beyond the window or after its end");
		return -EPROTO;
	}
	if (x->in < 0) {
		/* Nobody reads stdin (-n, or the command closed it). */
		sess_frame_credit(&x->c->out, SESS_CH_STDIN, f->len);
		return 0;
	}
	memcpy(x->ibuf + x->ilen, f->payload, f->len);
	x->ilen += f->len;
	return 0;
}

static void on_stdin_eof(struct aexec *x)
{
	struct termios t;

	x->in_eof = true;
	if (x->cfg->pty && x->in >= 0 && tcgetattr(x->in, &t) == 0 && (t.c_lflag & ICANON))
		x->veofs = x->last_in && x->last_in != '\n' ? 2 : 1;
}

static int on_control(struct aexec *x, const struct sess_frame *f)
{
	uint32_t a, b, cc, d;

	switch (f->type) {
	case SESS_SIGNAL:
		if (sess_dec_signal(f, &a) < 0 || a == 0 || a >= (uint32_t)NSIG)
			break;
		alog_debug("signal %u to process group %d", a, (int)x->cfg->pid);
		kill(-x->cfg->pid, (int)a);
		return 0;
	case SESS_RESIZE: {
		if (sess_dec_resize(f, &a, &b, &cc, &d) < 0)
			break;
		struct winsize ws = { .ws_row = (unsigned short)a,
				      .ws_col = (unsigned short)b,
				      .ws_xpixel = (unsigned short)cc,
				      .ws_ypixel = (unsigned short)d };
		if (x->cfg->pty && x->out >= 0)
			ioctl(x->out, TIOCSWINSZ, &ws);
		return 0;
	}
	case SESS_PING:
		sess_begin(&x->c->out, SESS_PONG, SESS_CH_CONTROL);
		sess_end(&x->c->out);
		return 0;
	default:
		aconn_error(x->c, SESS_STAGE_PROTOCOL, EPROTO,
			    "unexpected frame type %u while a command runs", f->type);
		return -EPROTO;
	}
	aconn_error(x->c, SESS_STAGE_PROTOCOL, EPROTO, "malformed frame type %u", f->type);
	return -EPROTO;
}

static int on_frame(struct aexec *x, const struct sess_frame *f)
{
	uint32_t n;

	switch (f->type) {
	case SESS_DATA:
		if (f->chan == SESS_CH_STDIN)
			return on_stdin_data(x, f);
		break;
	case SESS_EOF:
		if (f->chan == SESS_CH_STDIN) {
			on_stdin_eof(x);
			return 0;
		}
		break;
	case SESS_CREDIT:
		if ((f->chan == SESS_CH_STDOUT || f->chan == SESS_CH_STDERR) &&
		    sess_dec_credit(f, &n) == 0 && sess_credit_give(&x->credit, f->chan, n) == 0)
			return 0;
		break;
	default:
		return on_control(x, f);
	}
	aconn_error(x->c, SESS_STAGE_PROTOCOL, EPROTO, "bad frame type %u on channel %u", f->type,
		    f->chan);
	return -EPROTO;
}

static int read_frames(struct aexec *x)
{
	struct sess_frame f;
	int r;

	while ((r = aconn_next(x->c, &f)) > 0)
		if (on_frame(x, &f) < 0)
			return -EPROTO;
	if (r < 0)
		aconn_error(x->c, SESS_STAGE_PROTOCOL, EPROTO, "malformed frame header");
	return r;
}

/* ---- the command's side ---- */

/* One read of an output channel: DATA within credit, or its end. */
static void pump_out(struct aexec *x, int *fd, uint16_t chan)
{
	static uint8_t buf[SESS_DATA_CHUNK];
	size_t want = x->credit.avail[chan] < sizeof(buf) ? x->credit.avail[chan] : sizeof(buf);
	ssize_t n = read(*fd, buf, want);

	if (n > 0) {
		sess_credit_take(&x->credit, chan, (uint32_t)n);
		sess_frame_data(&x->c->out, chan, buf, (size_t)n);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* 0 (pipe) or EIO (the terminal's last slave closed): the end. */
	*fd = safe_close(*fd);
	if (x->cfg->pty)
		x->in = safe_close(x->in);
	sess_frame_eof(&x->c->out, chan);
}

static void pump_in(struct aexec *x)
{
	ssize_t n;

	if (x->ilen == 0 && x->veofs > 0) {
		struct termios t;
		char eof = tcgetattr(x->in, &t) == 0 ? (char)t.c_cc[VEOF] : 4;

		if (write(x->in, &eof, 1) == 1)
			x->veofs--;
		return;
	}
	n = write(x->in, x->ibuf, x->ilen);
	if (n > 0) {
		x->last_in = (char)x->ibuf[n - 1];
		memmove(x->ibuf, x->ibuf + n, x->ilen - (size_t)n);
		x->ilen -= (size_t)n;
		sess_frame_credit(&x->c->out, SESS_CH_STDIN, (uint32_t)n);
	} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		/* The command closed its stdin: what it will never read is
		 * credited back, so the host does not stall. */
		if (x->ilen)
			sess_frame_credit(&x->c->out, SESS_CH_STDIN, (uint32_t)x->ilen);
		x->ilen = 0;
		x->veofs = 0;
		if (!x->cfg->pty)
			x->in = safe_close(x->in);
	}
}

static void after_io(struct aexec *x)
{
	/* The host's stdin ended and all of it was written: close the pipe. */
	if (!x->cfg->pty && x->in_eof && x->ilen == 0)
		x->in = safe_close(x->in);
}

/* ---- time ---- */

static void timers(struct aexec *x, uint64_t now)
{
	pid_t pg = x->cfg->pid;

	if (x->deadline && now >= x->deadline && !x->exited) {
		alog("timeout: %u ms passed; SIGHUP to process group %d", x->cfg->timeout_ms,
		     (int)pg);
		kill(-pg, SIGHUP);
		x->deadline = 0;
		x->kill_at = now + AEXEC_KILL_GRACE_MS;
	}
	if (x->kill_at && now >= x->kill_at) {
		x->kill_at = 0;
		if (group_alive(pg)) {
			alog("process group %d outlived SIGHUP: SIGKILL", (int)pg);
			kill(-pg, SIGKILL);
		}
	}
}

static int next_timeout(const struct aexec *x, uint64_t now)
{
	uint64_t t = UINT64_MAX;

	if (x->deadline)
		t = x->deadline;
	if (x->kill_at && x->kill_at < t)
		t = x->kill_at;
	if (x->exited && x->t_exit + x->cfg->linger_ms < t)
		t = x->t_exit + x->cfg->linger_ms;
	if (t == UINT64_MAX)
		return -1;
	return t <= now ? 0 : (int)(t - now > 60000 ? 60000 : t - now);
}

/* Output that waits only for the host's credit keeps the linger open. */
static bool waits_for_credit(const struct aexec *x, int fd, uint16_t chan)
{
	int avail = 0;

	return fd >= 0 && x->credit.avail[chan] == 0 && ioctl(fd, FIONREAD, &avail) == 0 &&
	       avail > 0;
}

/* true when EXIT is due; *open says whether output is still open. */
static bool finished(struct aexec *x, uint64_t now, bool *open)
{
	if (!x->exited)
		return false;
	*open = x->out >= 0 || x->err >= 0;
	if (!*open)
		return true;
	if (now < x->t_exit + x->cfg->linger_ms)
		return false;
	return !waits_for_credit(x, x->out, SESS_CH_STDOUT) &&
	       !waits_for_credit(x, x->err, SESS_CH_STDERR);
}

static void send_exit(struct aexec *x, bool open)
{
	struct sess_exit e = {
		.signaled = WIFSIGNALED(x->status),
		.code = WIFSIGNALED(x->status) ? (uint32_t)WTERMSIG(x->status)
					       : (uint32_t)WEXITSTATUS(x->status),
		.core = WIFSIGNALED(x->status) && WCOREDUMP(x->status),
		.output_open = open,
		.utime_us = (uint64_t)x->ru.ru_utime.tv_sec * 1000000 +
			    (uint64_t)x->ru.ru_utime.tv_usec,
		.stime_us = (uint64_t)x->ru.ru_stime.tv_sec * 1000000 +
			    (uint64_t)x->ru.ru_stime.tv_usec,
		.maxrss_kb = (uint64_t)x->ru.ru_maxrss,
	};

	sess_enc_exit(&x->c->out, &e);
	alog_debug("command %d %s %u%s", (int)x->cfg->pid,
		   e.signaled ? "killed by signal" : "exited", e.code,
		   open ? " (output still open after the linger)" : "");
}

/* ---- the loop ---- */

enum { P_SOCK, P_SIG, P_OUT, P_ERR, P_IN, P_N };

static void fill_poll(struct aexec *x, struct pollfd *p, int sigfd)
{
	bool room = x->c->out.len < OUT_HIGH;

	p[P_SOCK] = (struct pollfd){ .fd = x->c->sock, .events = aconn_events(x->c) };
	p[P_SIG] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
	p[P_OUT] = (struct pollfd){ .fd = x->out >= 0 && room && x->credit.avail[SESS_CH_STDOUT]
						  ? x->out
						  : -1,
				    .events = POLLIN };
	p[P_ERR] = (struct pollfd){ .fd = x->err >= 0 && room && x->credit.avail[SESS_CH_STDERR]
						  ? x->err
						  : -1,
				    .events = POLLIN };
	p[P_IN] = (struct pollfd){ .fd = x->in >= 0 && (x->ilen || x->veofs) ? x->in : -1,
				   .events = POLLOUT };
}

static int loop(struct aexec *x, int sigfd)
{
	struct pollfd p[P_N];
	bool open;

	for (;;) {
		uint64_t now = now_ms();

		timers(x, now);
		if (finished(x, now, &open)) {
			send_exit(x, open);
			return 0;
		}
		fill_poll(x, p, sigfd);
		if (poll(p, P_N, next_timeout(x, now)) < 0 && errno != EINTR)
			return -errno;
		if (p[P_SOCK].revents) {
			aconn_io(x->c, p[P_SOCK].revents);
			if (read_frames(x) < 0)
				return -EPROTO;
			if (x->c->eof)
				return x->c->err ? x->c->err : -ECONNRESET;
		}
		if (p[P_SIG].revents) {
			drain_sigfd(sigfd);
			reap(x);
		}
		if (p[P_OUT].revents)
			pump_out(x, &x->out, SESS_CH_STDOUT);
		if (p[P_ERR].revents)
			pump_out(x, &x->err, SESS_CH_STDERR);
		if (p[P_IN].revents)
			pump_in(x);
		after_io(x);
		if (x->c->out.len)
			aconn_io(x->c, POLLOUT);
	}
}

int aexec_run(struct aconn *c, const struct aexec_cfg *cfg, int sigfd)
{
	struct aexec x = { .c = c, .cfg = cfg, .in = cfg->in, .out = cfg->out, .err = cfg->err };
	int r;

	x.ibuf = malloc(cfg->window ? cfg->window : 1);
	if (!x.ibuf) {
		hang_up(&x, sigfd);
		return -ENOMEM;
	}
	sess_credit_init(&x.credit, cfg->peer_window);
	if (cfg->timeout_ms)
		x.deadline = now_ms() + cfg->timeout_ms;
	r = loop(&x, sigfd);
	if (r == 0) {
		aconn_finish(c, 5000);
		x.in = safe_close(x.in);
		x.out = safe_close(x.out);
		x.err = safe_close(x.err);
		reap(&x);
	} else {
		if (r != -EPROTO)
			alog("the host closed the session (%s): hanging up process group %d",
			     r == -ECONNRESET ? "end of stream" : strerror(-r), (int)cfg->pid);
		else
			alog("protocol error from the host: hanging up process group %d",
			     (int)cfg->pid);
		aconn_flush(c, 200);
		hang_up(&x, sigfd);
	}
	free(x.ibuf);
	return r;
}
