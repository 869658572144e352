/* SPDX-License-Identifier: MIT */
/*
 * agent-conn.c - the session stream's buffers (agent-conn.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent-conn.h"
#include "util.h"

int aconn_init_framed(struct aconn *c, int sock, size_t max_payload, aconn_parse_fn parse)
{
	*c = (struct aconn){ .sock = sock, .cap = SESS_HDR_SIZE + max_payload, .parse = parse };
	c->in = malloc(c->cap);
	if (!c->in)
		return -ENOMEM;
	fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
	return 0;
}

int aconn_init(struct aconn *c, int sock)
{
	return aconn_init_framed(c, sock, SESS_MAX_FRAME, sess_frame_parse);
}

void aconn_free(struct aconn *c)
{
	if (c->sock >= 0)
		close(c->sock);
	free(c->in);
	sess_buf_free(&c->out);
	*c = (struct aconn){ .sock = -1 };
}

short aconn_events(const struct aconn *c)
{
	short ev = 0;

	if (!c->eof && (c->start > 0 || c->end < c->cap))
		ev |= POLLIN;
	if (c->out.len && !c->closed)
		ev |= POLLOUT;
	return ev;
}

static void broke(struct aconn *c, int err)
{
	c->eof = true;
	if (!c->err)
		c->err = err;
}

static void do_read(struct aconn *c)
{
	ssize_t n;

	if (c->start > 0) {
		memmove(c->in, c->in + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	if (c->end == c->cap)
		return;
	n = recv(c->sock, c->in + c->end, c->cap - c->end, 0);
	if (n > 0)
		c->end += (size_t)n;
	else if (n == 0)
		broke(c, 0);
	else if (errno != EAGAIN && errno != EINTR)
		broke(c, -errno);
}

static void do_write(struct aconn *c)
{
	ssize_t n;

	if (!c->out.len || c->closed)
		return;
	n = send(c->sock, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0)
		sess_buf_consume(&c->out, (size_t)n);
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		broke(c, -errno);
}

void aconn_io(struct aconn *c, short revents)
{
	if (revents & (POLLIN | POLLHUP | POLLERR))
		do_read(c);
	if (revents & (POLLOUT | POLLERR))
		do_write(c);
}

int aconn_next(struct aconn *c, struct sess_frame *f)
{
	long n = c->parse(c->in + c->start, c->end - c->start, f);

	if (n <= 0)
		return (int)n;
	c->start += (size_t)n;
	return 1;
}

int aconn_flush(struct aconn *c, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	while (c->out.len && !c->eof) {
		struct pollfd p = { .fd = c->sock, .events = POLLOUT };
		uint64_t now = now_ms();

		if (now >= end)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)(end - now)) > 0)
			do_write(c);
	}
	if (c->out.err)
		return c->out.err;
	return c->out.len ? (c->err ? c->err : -EPIPE) : 0;
}

void aconn_error(struct aconn *c, int stage, int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sess_frame_error(&c->out, (uint32_t)stage, (uint32_t)err, msg);
}

void aconn_finish(struct aconn *c, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	if (aconn_flush(c, timeout_ms) < 0)
		return;
	shutdown(c->sock, SHUT_WR);
	c->closed = true;
	while (!c->eof) {
		struct pollfd p = { .fd = c->sock, .events = POLLIN };
		uint64_t now = now_ms();

		if (now >= end || poll(&p, 1, (int)(end - now)) <= 0)
			break;
		c->start = c->end = 0; /* whatever comes now is dropped */
		do_read(c);
	}
}
