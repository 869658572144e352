/* SPDX-License-Identifier: MIT */
/*
 * cli-session.c - the host side of a VM Session request (exec, shell):
 * vmsvcd's "session" operation hands over a stream to the guest agent with
 * PEER already in it; we send HELLO and EXEC at once (no round trip), then
 * move stdin, stdout and stderr within each side's credit
 * (docs/session-protocol.md) until EXIT, the last frame.
 *
 * Flow control: stdin is read only while the agent's credit for channel 1
 * lasts; output is buffered per channel (at most our window, so a stopped
 * stdout never holds up stderr or EXIT) and credited back as it is written.
 * Signals come in through a self-pipe (handlers without SA_RESTART, so a
 * blocked write returns) and go out as SIGNAL frames.
 *
 * The host terminal (exec -t, shell) is raw while the loop runs: a message
 * that ends the session restores it first (cli_tty_restore), or its lines
 * would not start at column 0 and neither would the user's next prompt.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "ctlproto.h"
#include "session.h"
#include "util.h"

#define WINDOW	     SESS_DEFAULT_WINDOW
#define CREDIT_BATCH (32 * 1024)
#define IN_CAP	     (SESS_HDR_SIZE + SESS_MAX_FRAME)

/* Output of one channel waiting for our stdout or stderr. */
struct obuf {
	int fd;
	uint8_t *data;
	size_t len;
	uint32_t uncredited; /* written, not yet credited back */
};

struct client {
	const struct cli_session *s;
	char vm[128]; /* "VM 'g1'" */
	int sock;
	struct sess_buf out;
	uint8_t *in;
	size_t start, end;
	bool hello;		   /* the agent's HELLO came: its window is known */
	struct sess_credit credit; /* what we may still send on channel 1 */
	int stdin_fd;		   /* -1: not read (any more) */
	struct obuf o[2];	   /* stdout, stderr */
	bool done;
	int code;
	uint64_t start_ms;
	unsigned interrupts;
};

static int sigpipe_fds[2] = { -1, -1 };

static void on_signal(int signo)
{
	unsigned char b = (unsigned char)signo;
	int saved = errno;

	(void)!write(sigpipe_fds[1], &b, 1);
	errno = saved;
}

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

static int signals_setup(void)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART */

	if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaction(forwarded[i], &sa, NULL);
	return 0;
}

/* ---- vmsvcd ---- */

static const char *str_field(json_object *o, const char *key, const char *def)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : def;
}

int cli_session_open(const char *vm, char *label, size_t size)
{
	json_object *req = json_object_new_object(), *reply = NULL, *ok;
	int fd = -1, r;

	json_object_object_add(req, "op", json_object_new_string("session"));
	json_object_object_add(req, "vm", json_object_new_string(vm));
	r = ctl_call(cli_runtime_dir(), req, 30000, &reply, &fd);
	json_object_put(req);
	if (r < 0) {
		cli_daemon_error(r);
		return -1;
	}
	if (!json_object_object_get_ex(reply, "ok", &ok) || !json_object_get_boolean(ok)) {
		const char *err = str_field(reply, "error", "EPROTO");

		cli_error("%s", str_field(reply, "message", err));
		if (strcmp(err, "ENOTSUP") == 0)
			cli_error("enable it with 'vmsvc service enable \"VM Session Service\"'");
		fd = safe_close(fd);
	} else if (fd < 0) {
		cli_error("vmsvcd answered the session request without a stream");
	} else {
		snprintf(label, size, "VM '%s'", str_field(reply, "vm", vm));
	}
	json_object_put(reply);
	return fd;
}

/* ---- frames from the agent ---- */

static int session_error(struct client *c, const struct sess_frame *f)
{
	struct sess_error e;

	if (sess_dec_error(f, &e) < 0)
		return -EPROTO;
	c->done = true;
	cli_tty_restore();
	if (e.stage == SESS_STAGE_EXEC && e.err == ENOENT) {
		cli_error("in %s: %s (check the name and the guest's PATH, or give a full path)",
			  c->vm, e.message);
		c->code = EXIT_NOT_FOUND;
	} else if (e.stage == SESS_STAGE_EXEC) {
		cli_error("in %s: %s", c->vm, e.message);
		c->code = EXIT_CANNOT_EXEC;
	} else if (e.stage == SESS_STAGE_POLICY) {
		cli_error("%s refused: %s (the guest's /etc/vmsvc/agent.conf decides)", c->vm,
			  e.message);
		c->code = EXIT_SESSION_FAIL;
	} else {
		cli_error("in %s: %s", c->vm, e.message);
		c->code = EXIT_SESSION_FAIL;
	}
	return 0;
}

static int session_exit(struct client *c, const struct sess_frame *f)
{
	struct sess_exit x;
	uint64_t ran = now_ms() - c->start_ms;

	if (sess_dec_exit(f, &x) < 0)
		return -EPROTO;
	c->done = true;
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

static int on_frame(struct client *c, const struct sess_frame *f)
{
	struct sess_hello h;
	uint32_t n;

	switch (f->type) {
	case SESS_HELLO:
		if (sess_dec_hello(f, &h) < 0 || h.major != SESS_VERSION_MAJOR)
			return -EPROTONOSUPPORT;
		sess_credit_init(&c->credit, h.window);
		c->hello = true;
		return 0;
	case SESS_STARTED:
	case SESS_PONG:
		return 0;
	case SESS_DATA:
		return on_output(c, f);
	case SESS_EOF:
		return f->chan == SESS_CH_STDOUT || f->chan == SESS_CH_STDERR ? 0 : -EPROTO;
	case SESS_CREDIT:
		if (f->chan != SESS_CH_STDIN || sess_dec_credit(f, &n) < 0)
			return -EPROTO;
		return sess_credit_give(&c->credit, f->chan, n);
	case SESS_ERROR:
		return session_error(c, f);
	case SESS_EXIT:
		return session_exit(c, f);
	default:
		return -EPROTO;
	}
}

/* Reads the stream and handles every complete frame. 0, or -errno. */
static int sock_read(struct client *c)
{
	struct sess_frame f;
	ssize_t n;
	long used;

	if (c->start > 0) {
		memmove(c->in, c->in + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	n = read(c->sock, c->in + c->end, IN_CAP - c->end);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -ECONNRESET;
	c->end += (size_t)n;
	while (!c->done && (used = sess_frame_parse(c->in + c->start, c->end - c->start, &f)) > 0) {
		int r;

		c->start += (size_t)used;
		r = on_frame(c, &f);
		if (r < 0)
			return r;
	}
	return used < 0 ? -EPROTO : 0;
}

/* ---- our side ---- */

static void stdin_read(struct client *c)
{
	static uint8_t buf[SESS_DATA_CHUNK];
	uint64_t room = c->credit.avail[SESS_CH_STDIN];
	ssize_t n = read(c->stdin_fd, buf, room < sizeof(buf) ? room : sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		sess_credit_take(&c->credit, SESS_CH_STDIN, (uint32_t)n);
		sess_frame_data(&c->out, SESS_CH_STDIN, buf, (size_t)n);
		return;
	}
	/* The end of stdin (or an error reading it: the same to the guest). */
	sess_frame_eof(&c->out, SESS_CH_STDIN);
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
		sess_frame_credit(&c->out, chan, o->uncredited);
		o->uncredited = 0;
	}
	return 0;
}

static void send_resize(struct client *c)
{
	struct winsize ws;

	if ((c->s->flags & SESS_EXEC_PTY) && cli_tty_size(STDIN_FILENO, &ws) == 0)
		sess_frame_resize(&c->out, ws.ws_row, ws.ws_col, ws.ws_xpixel, ws.ws_ypixel);
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
	sess_frame_signal(&c->out, (uint32_t)signo);
	return 0;
}

static int sigs_read(struct client *c)
{
	unsigned char b[16];
	ssize_t n;

	while ((n = read(sigpipe_fds[0], b, sizeof(b))) > 0)
		for (ssize_t i = 0; i < n; i++)
			if (on_sig(c, b[i]))
				return 1;
	return 0;
}

static int sock_write(struct client *c)
{
	ssize_t n = send(c->sock, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n > 0)
		sess_buf_consume(&c->out, (size_t)n);
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		return -errno;
	return 0;
}

/* ---- the loop ---- */

enum { P_SOCK, P_SIG, P_IN, P_OUT, P_ERR, P_N };

static void fill_poll(const struct client *c, struct pollfd *p)
{
	bool can_send = c->hello && c->credit.avail[SESS_CH_STDIN] && c->out.len < WINDOW;

	p[P_SOCK] = (struct pollfd){ .fd = c->sock,
				     .events = (short)(POLLIN | (c->out.len ? POLLOUT : 0)) };
	p[P_SIG] = (struct pollfd){ .fd = sigpipe_fds[0], .events = POLLIN };
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

	while (!c->done) {
		fill_poll(c, p);
		if (poll(p, P_N, -1) < 0 && errno != EINTR)
			return -errno;
		if (p[P_SIG].revents && sigs_read(c))
			return 0;
		if (p[P_SOCK].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = sock_read(c);
			if (r < 0)
				return r;
		}
		if (p[P_IN].revents)
			stdin_read(c);
		for (int i = 0; i < 2; i++)
			if (p[P_OUT + i].revents &&
			    out_write(c, &c->o[i], (uint16_t)(SESS_CH_STDOUT + i), false) < 0)
				c->o[i].len = 0; /* stdout gone: what remains is moot */
		if (c->out.len && (r = sock_write(c)) < 0)
			return r;
	}
	for (int i = 0; i < 2; i++)
		if (out_write(c, &c->o[i], (uint16_t)(SESS_CH_STDOUT + i), true) < 0)
			c->o[i].len = 0;
	return 0;
}

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
	sess_enc_hello(&c->out, &(struct sess_hello){ .major = SESS_VERSION_MAJOR,
						      .minor = SESS_VERSION_MINOR,
						      .window = WINDOW });
	sess_enc_exec(&c->out, &e);
}

static void lost(struct client *c, int r)
{
	if (r == -ECONNRESET)
		cli_error("the connection to %s ended before the command finished (the agent "
			  "or vmsvcd stopped, or the VM shut down)",
			  c->vm);
	else if (r == -EPROTO || r == -EPROTONOSUPPORT)
		cli_error("the agent in %s broke the VM Session protocol%s", c->vm,
			  r == -EPROTONOSUPPORT ? " (another major version: update one side)" : "");
	else
		cli_error("the connection to %s failed: %s", c->vm, strerror(-r));
}

static int run(struct client *c)
{
	int r;

	if (c->out.err)
		return cli_error("the request is too large: %s", strerror(-c->out.err)),
		       EXIT_SESSION_FAIL;
	if ((c->s->flags & SESS_EXEC_PTY) && isatty(STDIN_FILENO))
		cli_tty_raw(STDIN_FILENO);
	r = loop(c);
	cli_tty_restore();
	if (r < 0) {
		lost(c, r);
		return EXIT_SESSION_FAIL;
	}
	return c->code;
}

int cli_session_run(const struct cli_session *s)
{
	struct client c = { .s = s, .sock = -1, .code = EXIT_SESSION_FAIL, .start_ms = now_ms() };
	int code;

	snprintf(c.vm, sizeof(c.vm), "VM '%s'", s->vm);
	c.stdin_fd = s->flags & SESS_EXEC_STDIN_NULL ? -1 : STDIN_FILENO;
	c.o[0].fd = STDOUT_FILENO;
	c.o[1].fd = STDERR_FILENO;
	c.in = malloc(IN_CAP);
	c.o[0].data = malloc(WINDOW);
	c.o[1].data = malloc(WINDOW);
	if (!c.in || !c.o[0].data || !c.o[1].data || signals_setup() < 0) {
		cli_error("out of memory");
		code = EXIT_SESSION_FAIL;
	} else if ((c.sock = cli_session_open(s->vm, c.vm, sizeof(c.vm))) < 0) {
		code = EXIT_SESSION_FAIL;
	} else {
		send_request(&c);
		code = run(&c);
	}
	c.sock = safe_close(c.sock);
	sess_buf_free(&c.out);
	free(c.in);
	free(c.o[0].data);
	free(c.o[1].data);
	return code;
}
