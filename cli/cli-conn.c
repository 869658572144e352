/* SPDX-License-Identifier: MIT */
/*
 * cli-conn.c - the host end of a VM Session stream (cli-conn.h).
 *
 * vmsvcd's "session" operation hands over a stream to the guest agent with
 * PEER already in it; we queue HELLO at once and the request right after
 * it (no round trip). Our data waits for the agent's HELLO: its window is
 * our first credit on the channel we send on.
 *
 * The self-pipe is process-wide: cp runs one session per source and makes
 * it once; a request routes only the signals it handles to it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli-conn.h"
#include "cli.h"
#include "ctlproto.h"
#include "util.h"

#define IN_CAP (SESS_HDR_SIZE + SESS_MAX_FRAME)

static int sig_fds[2] = { -1, -1 };

static void on_signal(int signo)
{
	unsigned char b = (unsigned char)signo;
	int saved = errno;

	(void)!write(sig_fds[1], &b, 1);
	errno = saved;
}

static int catch_signals(const int *sigs, size_t n)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART */

	if (sig_fds[0] < 0 && pipe2(sig_fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < n; i++)
		sigaction(sigs[i], &sa, NULL);
	return 0;
}

int cli_conn_init(struct cli_conn *c, uint16_t send_chan, const int *sigs, size_t nsigs)
{
	int r;

	*c = (struct cli_conn){ .sock = -1, .sigfd = -1, .send_chan = send_chan };
	c->in = malloc(IN_CAP);
	if (!c->in)
		return -ENOMEM;
	r = catch_signals(sigs, nsigs);
	c->sigfd = sig_fds[0];
	return r;
}

void cli_conn_free(struct cli_conn *c)
{
	c->sock = safe_close(c->sock);
	sess_buf_free(&c->out);
	free(c->in);
	c->in = NULL;
}

/* ---- vmsvcd ---- */

static const char *str_field(json_object *o, const char *key, const char *def)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : def;
}

/* The stream in vmsvcd's reply (taken from *fd; c->vm named as vmsvcd
 * names the VM), or -1 with why printed. */
static int take_stream(struct cli_conn *c, const char *vm, json_object *reply, int *fd)
{
	json_object *ok;
	const char *err;

	if (json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok)) {
		if (*fd < 0)
			cli_error("vmsvcd answered the session request without a stream");
		else
			snprintf(c->vm, sizeof(c->vm), "VM '%s'", str_field(reply, "vm", vm));
		return TAKE_FD(*fd);
	}
	err = str_field(reply, "error", "EPROTO");
	cli_error("%s", str_field(reply, "message", err));
	if (strcmp(err, "ENOTSUP") == 0)
		cli_error("enable it with 'vmsvc service enable \"VM Session Service\"'");
	*fd = safe_close(*fd);
	return -1;
}

int cli_conn_open(struct cli_conn *c, const char *vm)
{
	json_object *req = json_object_new_object(), *reply = NULL;
	int fd = -1, r;

	snprintf(c->vm, sizeof(c->vm), "VM '%s'", vm);
	json_object_object_add(req, "op", json_object_new_string("session"));
	json_object_object_add(req, "vm", json_object_new_string(vm));
	r = ctl_call(cli_runtime_dir(), req, 30000, &reply, &fd);
	json_object_put(req);
	if (r < 0) {
		cli_daemon_error(r);
		return -1;
	}
	c->sock = take_stream(c, vm, reply, &fd);
	json_object_put(reply);
	if (c->sock < 0)
		return -1;
	sess_enc_hello(&c->out, &(struct sess_hello){ .major = SESS_VERSION_MAJOR,
						      .minor = SESS_VERSION_MINOR,
						      .window = CLI_CONN_WINDOW });
	return 0;
}

/* ---- the stream ---- */

bool cli_conn_full(const struct cli_conn *c)
{
	return c->out.len >= CLI_CONN_OUT_HIGH;
}

short cli_conn_events(const struct cli_conn *c)
{
	return (short)((cli_conn_full(c) ? 0 : POLLIN) | (c->out.len ? POLLOUT : 0));
}

/* HELLO, CREDIT and PONG; the rest goes to fn. */
static int on_frame(struct cli_conn *c, const struct sess_frame *f, cli_conn_frame_fn *fn,
		    void *ctx)
{
	struct sess_hello h;
	uint32_t n;

	switch (f->type) {
	case SESS_HELLO:
		if (c->hello)
			return -EPROTO;
		if (sess_dec_hello(f, &h) < 0 || h.major != SESS_VERSION_MAJOR)
			return -EPROTONOSUPPORT;
		sess_credit_init(&c->credit, h.window);
		c->hello = true;
		return 0;
	case SESS_CREDIT:
		if (!c->send_chan || f->chan != c->send_chan || sess_dec_credit(f, &n) < 0)
			return -EPROTO;
		return sess_credit_give(&c->credit, f->chan, n);
	case SESS_PONG:
		return 0;
	default:
		return fn(ctx, f);
	}
}

int cli_conn_read(struct cli_conn *c, cli_conn_frame_fn *fn, void *ctx)
{
	struct sess_frame f;
	long used = 0;
	ssize_t n;

	if (c->done)
		return 0;
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
		if ((r = on_frame(c, &f, fn, ctx)) < 0)
			return r;
	}
	return used < 0 ? -EPROTO : 0;
}

int cli_conn_write(struct cli_conn *c)
{
	ssize_t n = send(c->sock, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n > 0)
		sess_buf_consume(&c->out, (size_t)n);
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		return -errno;
	return 0;
}

void cli_conn_flush(struct cli_conn *c, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	while (c->out.len && now_ms() < end) {
		struct pollfd p = { .fd = c->sock, .events = POLLOUT };

		if (poll(&p, 1, 100) > 0 && cli_conn_write(c) < 0)
			break;
	}
}

int cli_conn_signal(const struct cli_conn *c)
{
	unsigned char b;

	return c->sigfd >= 0 && read(c->sigfd, &b, 1) == 1 ? b : 0;
}

/* ---- messages ---- */

void cli_conn_print_error(const struct cli_conn *c, const struct sess_error *e)
{
	if (e->stage == SESS_STAGE_POLICY)
		cli_error("%s refused: %s (the guest's /etc/vmsvc/agent.conf decides)", c->vm,
			  e->message);
	else
		cli_error("in %s: %s", c->vm, e->message);
}

void cli_conn_lost(const struct cli_conn *c, int err, const char *what, const char *tail)
{
	if (err == -ECONNRESET || err == -EPIPE)
		cli_error("the connection to %s ended before the %s finished (the agent or vmsvcd "
			  "stopped, or the VM shut down)%s",
			  c->vm, what, tail);
	else if (err == -EPROTO || err == -EPROTONOSUPPORT)
		cli_error("the agent in %s broke the VM Session protocol%s", c->vm,
			  err == -EPROTONOSUPPORT ? " (another major version: update one side)"
						  : "");
	else
		cli_error("the connection to %s failed: %s", c->vm, strerror(-err));
}
