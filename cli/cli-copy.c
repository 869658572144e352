/* SPDX-License-Identifier: MIT */
/*
 * cli-copy.c - the host side of one vmsvc cp request (cli.h): PUT (we send
 * with copy/xfer.h's sender, the agent answers RESULT) or GET (the agent
 * sends, our receiver commits each file and we answer RESULT).
 *
 * The engine is made before the session is opened, so a missing local file
 * or folder fails before any VM is asked. HELLO and the request go out in
 * one write; our data waits for the agent's HELLO (its window). SIGINT,
 * SIGTERM and SIGHUP end the copy through a self-pipe: the receiver drops
 * its temporary file, the agent sees the stream end and drops its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "session.h"
#include "util.h"
#include "xfer.h"

#define WINDOW	 SESS_DEFAULT_WINDOW
#define IN_CAP	 (SESS_HDR_SIZE + SESS_MAX_FRAME)
#define OUT_HIGH (512 * 1024)

struct copy {
	const struct cli_copy *q;
	char vm[160]; /* "VM 'g1'" */
	int sock;
	struct sess_buf out;
	uint8_t *in;
	size_t start, end;
	bool hello, sent_all, done;
	struct sess_credit credit;
	struct xfer_send *s;
	struct xfer_recv *r;
	int code;
	struct cli_progress bar;
};

static int sig_fds[2] = { -1, -1 };

static void on_signal(int signo)
{
	unsigned char b = (unsigned char)signo;
	int saved = errno;

	(void)!write(sig_fds[1], &b, 1);
	errno = saved;
}

static int signals_setup(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	if (sig_fds[0] < 0 && pipe2(sig_fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	return 0;
}

/* ---- frames from the agent ---- */

static int agent_error(struct copy *c, const struct sess_frame *f)
{
	struct sess_error e;

	if (sess_dec_error(f, &e) < 0)
		return -EPROTO;
	c->done = true;
	if (e.stage == SESS_STAGE_POLICY)
		cli_error("%s refused: %s (the guest's /etc/vmsvc/agent.conf decides)", c->vm,
			  e.message);
	else
		cli_error("in %s: %s", c->vm, e.message);
	c->code = e.stage == SESS_STAGE_FILE ? EXIT_FAIL : EXIT_SESSION_FAIL;
	return 0;
}

/* PUT: the agent's verdict. */
static int agent_result(struct copy *c, const struct sess_frame *f)
{
	struct sess_result res;

	if (c->r || sess_dec_result(f, &res) < 0)
		return -EPROTO;
	c->done = true;
	c->code = res.err ? EXIT_FAIL : EXIT_OK;
	if (res.err)
		cli_error("in %s: %s", c->vm, res.message);
	return 0;
}

/* GET: a frame for our receiver; RESULT goes back when it is done. */
static int to_receiver(struct copy *c, const struct sess_frame *f)
{
	int r = xfer_recv_frame(c->r, f, &c->out);

	if (r == 0)
		return 0;
	sess_enc_result(&c->out, &(struct sess_result){
					 .err = (uint32_t)(r < 0 ? -r : 0),
					 .message = r < 0 ? xfer_recv_message(c->r) : "",
					 .bytes = xfer_recv_progress(c->r)->bytes,
				 });
	if (r < 0)
		cli_error("%s", xfer_recv_message(c->r));
	c->done = true;
	c->code = r < 0 ? EXIT_FAIL : EXIT_OK;
	return 0;
}

static int on_frame(struct copy *c, const struct sess_frame *f)
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
	case SESS_PONG:
		return 0;
	case SESS_ERROR:
		return agent_error(c, f);
	case SESS_CREDIT:
		if (!c->s || f->chan != SESS_CH_FILE || sess_dec_credit(f, &n) < 0)
			return -EPROTO;
		return sess_credit_give(&c->credit, SESS_CH_FILE, n);
	case SESS_RESULT:
		return agent_result(c, f);
	default:
		return c->r && c->hello ? to_receiver(c, f) : -EPROTO;
	}
}

static int sock_read(struct copy *c)
{
	struct sess_frame f;
	ssize_t n;
	long used = 0;

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
		if ((r = on_frame(c, &f)) < 0)
			return r;
	}
	return used < 0 ? -EPROTO : 0;
}

/* ---- our side ---- */

static int fill(struct copy *c)
{
	while (c->s && c->hello && !c->sent_all && c->out.len < OUT_HIGH) {
		int r = xfer_send_step(c->s, &c->out, &c->credit.avail[SESS_CH_FILE]);

		if (r == 2)
			break;
		if (r < 0) {
			cli_error("%s", xfer_send_message(c->s));
			c->code = EXIT_FAIL;
			return r;
		}
		c->sent_all = r == 0;
	}
	return 0;
}

static int sock_write(struct copy *c)
{
	ssize_t n = send(c->sock, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n > 0)
		sess_buf_consume(&c->out, (size_t)n);
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		return -errno;
	return 0;
}

/* The last frames (RESULT) out, at most 5 s. */
static void flush(struct copy *c)
{
	uint64_t end = now_ms() + 5000;

	while (c->out.len && now_ms() < end) {
		struct pollfd p = { .fd = c->sock, .events = POLLOUT };

		if (poll(&p, 1, 100) > 0 && sock_write(c) < 0)
			break;
	}
}

static const struct xfer_progress *progress(const struct copy *c)
{
	return c->s ? xfer_send_progress(c->s) : xfer_recv_progress(c->r);
}

/* 0 when the copy ended (c->code set), a signal number, or -errno. */
static int loop(struct copy *c)
{
	unsigned char sig;
	int r;

	while (!c->done) {
		struct pollfd p[2] = { { .fd = c->sock, .events = POLLIN },
				       { .fd = sig_fds[0], .events = POLLIN } };

		if ((r = fill(c)) < 0)
			return 0;
		p[0].events |= c->out.len ? POLLOUT : 0;
		if (poll(p, 2, c->q->progress ? 250 : -1) < 0 && errno != EINTR)
			return -errno;
		if (p[1].revents && read(sig_fds[0], &sig, 1) == 1)
			return sig;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR) && (r = sock_read(c)) < 0)
			return r;
		if (c->out.len && (r = sock_write(c)) < 0)
			return r;
		if (c->q->progress)
			cli_progress_draw(&c->bar, progress(c), false);
	}
	flush(c);
	return 0;
}

static void lost(struct copy *c, int r)
{
	c->code = EXIT_FAIL;
	if (r == -ECONNRESET || r == -EPIPE)
		cli_error("the connection to %s ended before the copy finished (the agent "
			  "stopped, or the VM shut down): nothing uncommitted was kept",
			  c->vm);
	else if (r == -EPROTO || r == -EPROTONOSUPPORT)
		cli_error("the agent in %s broke the VM Session protocol", c->vm);
	else
		cli_error("the connection to %s failed: %s", c->vm, strerror(-r));
}

static int run(struct copy *c)
{
	const struct cli_copy *q = c->q;
	int r;

	c->sock = cli_session_open(q->vm, c->vm, sizeof(c->vm));
	if (c->sock < 0)
		return EXIT_SESSION_FAIL;
	sess_enc_hello(&c->out, &(struct sess_hello){ .major = SESS_VERSION_MAJOR,
						      .minor = SESS_VERSION_MINOR,
						      .window = WINDOW });
	sess_enc_xfer(&c->out, q->put ? SESS_PUT : SESS_GET,
		      &(struct sess_xfer){ .path = q->remote, .flags = q->flags });
	cli_progress_start(&c->bar, q->put ? q->local : q->remote,
			   q->put ? xfer_total_size(q->local, q->flags) : 0);
	r = loop(c);
	if (q->progress)
		cli_progress_draw(&c->bar, progress(c), true);
	if (r > 0) {
		cli_error("interrupted: nothing uncommitted was kept");
		return 128 + r;
	}
	if (r < 0)
		lost(c, r);
	return c->code;
}

int cli_copy_run(const struct cli_copy *q)
{
	struct copy c = { .q = q, .sock = -1, .code = EXIT_FAIL };
	char msg[XFER_MSG_SIZE];
	int r, code;

	snprintf(c.vm, sizeof(c.vm), "VM '%s'", q->vm);
	c.in = malloc(IN_CAP);
	if (!c.in || signals_setup() < 0) {
		free(c.in);
		cli_error("out of memory");
		return EXIT_FAIL;
	}
	r = q->put ? xfer_send_new(q->local, q->flags, &c.s, msg)
		   : xfer_recv_new(q->local, q->flags, &c.r, msg);
	if (r < 0) {
		cli_error("%s", msg);
		code = EXIT_FAIL;
	} else {
		code = run(&c);
	}
	c.r = xfer_recv_free(c.r); /* an unfinished file's temporary file goes */
	c.s = xfer_send_free(c.s);
	c.sock = safe_close(c.sock);
	sess_buf_free(&c.out);
	free(c.in);
	return code;
}
