/* SPDX-License-Identifier: MIT */
/*
 * cli-session.c - the host side of a VM Session request (exec, shell) on
 * a stream of cli-conn.h: HELLO and EXEC go out at once, then stdin, stdout
 * and stderr move within each side's credit (docs/session-protocol.md)
 * until EXIT, the last frame.
 *
 * Flow control: stdin is read only while the agent's credit for channel 1
 * lasts; output is buffered per channel (at most our window, so a stopped
 * stdout never holds up stderr or EXIT) and credited back as it is written.
 * Signals come in through the connection's self-pipe and go out as SIGNAL
 * frames.
 *
 * The host terminal (exec -t, shell) is raw while the loop runs: a message
 * that ends the session restores it first (cli_tty_restore), or its lines
 * would not start at column 0 and neither would the user's next prompt.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli-conn.h"
#include "cli.h"
#include "session.h"
#include "util.h"

#define WINDOW	     CLI_CONN_WINDOW
#define CREDIT_BATCH (32 * 1024)

/* Output of one channel waiting for our stdout or stderr. */
struct obuf {
	int fd;
	uint8_t *data;
	size_t len;
	uint32_t uncredited; /* written, not yet credited back */
};

struct client {
	const struct cli_session *s;
	struct cli_conn conn; /* sends on channel 1 */
	int stdin_fd;	      /* -1: not read (any more) */
	struct obuf o[2];     /* stdout, stderr */
	int code;
	uint64_t start_ms;
	unsigned interrupts;
};

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

/* ---- frames from the agent ---- */

static int session_error(struct client *c, const struct sess_frame *f)
{
	struct sess_error e;

	if (sess_dec_error(f, &e) < 0)
		return -EPROTO;
	c->conn.done = true;
	cli_tty_restore();
	if (e.stage == SESS_STAGE_EXEC && e.err == ENOENT) {
		cli_error("in %s: %s (check the name and the guest's PATH, or give a full path)",
			  c->conn.vm, e.message);
		c->code = EXIT_NOT_FOUND;
		return 0;
	}
	cli_conn_print_error(&c->conn, &e);
	c->code = e.stage == SESS_STAGE_EXEC ? EXIT_CANNOT_EXEC : EXIT_SESSION_FAIL;
	return 0;
}

static int session_exit(struct client *c, const struct sess_frame *f)
{
	struct sess_exit x;
	uint64_t ran = now_ms() - c->start_ms;

	if (sess_dec_exit(f, &x) < 0)
		return -EPROTO;
	c->conn.done = true;
	c->code = x.signaled ? 128 + (int)x.code : (int)x.code;
	if (x.signaled && c->s->timeout_ms && ran >= c->s->timeout_ms &&
	    (x.code == SIGHUP || x.code == SIGKILL)) {
		cli_tty_restore();
		cli_error("the command ran longer than --timeout (%u s) and was stopped",
			  c->s->timeout_ms / 1000);
		c->code = EXIT_TIMED_OUT;
	}
	return 0;
}

static int on_output(struct client *c, const struct sess_frame *f)
{
	struct obuf *o;

	if (f->chan != SESS_CH_STDOUT && f->chan != SESS_CH_STDERR)
		return -EPROTO;
	o = &c->o[f->chan - SESS_CH_STDOUT];
	if (o->len + f->len > WINDOW)
		return -EPROTO; /* beyond the window we announced */
	memcpy(o->data + o->len, f->payload, f->len);
	o->len += f->len;
	return 0;
}

/* The frames of exec and shell (cli_conn_frame_fn). */
static int on_frame(void *ctx, const struct sess_frame *f)
{
	struct client *c = ctx;

	switch (f->type) {
	case SESS_STARTED:
		return 0;
	case SESS_DATA:
		return on_output(c, f);
	case SESS_EOF:
		return f->chan == SESS_CH_STDOUT || f->chan == SESS_CH_STDERR ? 0 : -EPROTO;
	case SESS_ERROR:
		return session_error(c, f);
	case SESS_EXIT:
		return session_exit(c, f);
	default:
		return -EPROTO;
	}
}

/* ---- our side ---- */

static void stdin_read(struct client *c)
{
	static uint8_t buf[SESS_DATA_CHUNK];
	uint64_t room = c->conn.credit.avail[SESS_CH_STDIN];
	ssize_t n = read(c->stdin_fd, buf, room < sizeof(buf) ? room : sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		sess_credit_take(&c->conn.credit, SESS_CH_STDIN, (uint32_t)n);
		sess_frame_data(&c->conn.out, SESS_CH_STDIN, buf, (size_t)n);
		return;
	}
	/* The end of stdin (or an error reading it: the same to the guest). */
	sess_frame_eof(&c->conn.out, SESS_CH_STDIN);
	c->stdin_fd = -1;
}

/* Writes buffered output; credits it back in batches. 0, or -errno. */
static int out_write(struct client *c, struct obuf *o, uint16_t chan, bool all)
{
	while (o->len) {
		ssize_t n = write(o->fd, o->data, o->len);

		if (n < 0 && errno == EINTR && !all)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		memmove(o->data, o->data + n, o->len - (size_t)n);
		o->len -= (size_t)n;
		o->uncredited += (uint32_t)n;
		if (!all)
			break;
	}
	if (o->uncredited >= CREDIT_BATCH || (o->len == 0 && o->uncredited)) {
		sess_frame_credit(&c->conn.out, chan, o->uncredited);
		o->uncredited = 0;
	}
	return 0;
}

static void send_resize(struct client *c)
{
	struct winsize ws;

	if ((c->s->flags & SESS_EXEC_PTY) && cli_tty_size(STDIN_FILENO, &ws) == 0)
		sess_frame_resize(&c->conn.out, ws.ws_row, ws.ws_col, ws.ws_xpixel, ws.ws_ypixel);
}

/* A signal we got: 1 when it ends the session here, else 0. */
static int on_sig(struct client *c, int signo)
{
	if (signo == SIGWINCH) {
		send_resize(c);
		return 0;
	}
	if (c->s->shell && (signo == SIGTERM || signo == SIGHUP)) {
		c->code = 128 + signo;
		return 1;
	}
	if (signo == SIGINT && ++c->interrupts >= 3) {
		cli_tty_restore();
		cli_error("interrupted 3 times: closing the session (the guest hangs up the "
			  "command)");
		c->code = 128 + SIGINT;
		return 1;
	}
	sess_frame_signal(&c->conn.out, (uint32_t)signo);
	return 0;
}

static int sigs_read(struct client *c)
{
	int signo;

	while ((signo = cli_conn_signal(&c->conn)) > 0)
		if (on_sig(c, signo))
			return 1;
	return 0;
}

/* ---- the loop ---- */

enum { P_SOCK, P_SIG, P_IN, P_OUT, P_ERR, P_N };

static void fill_poll(const struct client *c, struct pollfd *p)
{
	const struct cli_conn *n = &c->conn;
	bool can_send = n->hello && n->credit.avail[SESS_CH_STDIN] && !cli_conn_full(n);

	p[P_SOCK] = (struct pollfd){ .fd = n->sock, .events = cli_conn_events(n) };
	p[P_SIG] = (struct pollfd){ .fd = n->sigfd, .events = POLLIN };
	p[P_IN] = (struct pollfd){ .fd = c->stdin_fd >= 0 && can_send ? c->stdin_fd : -1,
				   .events = POLLIN };
	p[P_OUT] = (struct pollfd){ .fd = c->o[0].len ? c->o[0].fd : -1, .events = POLLOUT };
	p[P_ERR] = (struct pollfd){ .fd = c->o[1].len ? c->o[1].fd : -1, .events = POLLOUT };
}

/* Returns 0 when the session ended (c->code set), or -errno. */
static int loop(struct client *c)
{
	struct pollfd p[P_N];
	int r;

	while (!c->conn.done) {
		fill_poll(c, p);
		if (poll(p, P_N, -1) < 0 && errno != EINTR)
			return -errno;
		if (p[P_SIG].revents && sigs_read(c))
			return 0;
		if (p[P_SOCK].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = cli_conn_read(&c->conn, on_frame, c);
			if (r < 0)
				return r;
		}
		if (p[P_IN].revents)
			stdin_read(c);
		for (int i = 0; i < 2; i++)
			if (p[P_OUT + i].revents &&
			    out_write(c, &c->o[i], (uint16_t)(SESS_CH_STDOUT + i), false) < 0)
				c->o[i].len = 0; /* stdout gone: what remains is moot */
		if (c->conn.out.len && (r = cli_conn_write(&c->conn)) < 0)
			return r;
	}
	for (int i = 0; i < 2; i++)
		if (out_write(c, &c->o[i], (uint16_t)(SESS_CH_STDOUT + i), true) < 0)
			c->o[i].len = 0;
	return 0;
}

/* EXEC, after the HELLO that cli_conn_open queued. */
static void send_request(struct client *c)
{
	const struct cli_session *s = c->s;
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	const char *term = getenv("TERM");
	struct sess_exec e = {
		.flags = s->flags,
		.argc = s->argc,
		.argv = s->argv,
		.envc = s->envc,
		.env = s->env,
		.user = s->user,
		.cwd = s->cwd,
		.timeout_ms = s->timeout_ms,
	};

	if (s->flags & SESS_EXEC_PTY) {
		if (cli_tty_size(STDIN_FILENO, &ws) < 0)
			cli_tty_size(STDOUT_FILENO, &ws);
		e.term = term && *term ? term : "vt220";
		e.rows = ws.ws_row;
		e.cols = ws.ws_col;
		e.xpix = ws.ws_xpixel;
		e.ypix = ws.ws_ypixel;
	}
	sess_enc_exec(&c->conn.out, &e);
}

static int run(struct client *c)
{
	int r;

	if (c->conn.out.err)
		return cli_error("the request is too large: %s", strerror(-c->conn.out.err)),
		       EXIT_SESSION_FAIL;
	if ((c->s->flags & SESS_EXEC_PTY) && isatty(STDIN_FILENO))
		cli_tty_raw(STDIN_FILENO);
	r = loop(c);
	cli_tty_restore();
	if (r < 0) {
		cli_conn_lost(&c->conn, r, "command", "");
		return EXIT_SESSION_FAIL;
	}
	return c->code;
}

int cli_session_run(const struct cli_session *s)
{
	struct client c = { .s = s, .code = EXIT_SESSION_FAIL, .start_ms = now_ms() };
	int code;

	c.stdin_fd = s->flags & SESS_EXEC_STDIN_NULL ? -1 : STDIN_FILENO;
	c.o[0].fd = STDOUT_FILENO;
	c.o[1].fd = STDERR_FILENO;
	c.o[0].data = malloc(WINDOW);
	c.o[1].data = malloc(WINDOW);
	if (cli_conn_init(&c.conn, SESS_CH_STDIN, forwarded, ARRAY_SIZE(forwarded)) < 0 ||
	    !c.o[0].data || !c.o[1].data) {
		cli_error("out of memory");
		code = EXIT_SESSION_FAIL;
	} else if (cli_conn_open(&c.conn, s->vm) < 0) {
		code = EXIT_SESSION_FAIL;
	} else {
		send_request(&c);
		code = run(&c);
	}
	cli_conn_free(&c.conn);
	free(c.o[0].data);
	free(c.o[1].data);
	return code;
}
