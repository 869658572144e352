/* SPDX-License-Identifier: MIT */
/*
 * lstream.c - line streams to control clients (lstream.h).
 *
 * The queue is buf[off..len): bytes not yet written. at_line_start tells
 * whether the bytes written so far end with a whole line (needed to cut
 * the queue at a line boundary on overflow). Every stream is on one list,
 * so that vmsvcd can end them all when it stops, released ones included.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fdwatch.h"
#include "list.h"
#include "lstream.h"
#include "util.h"

struct lstream {
	struct watch w; /* first: owns our end of the pair */
	struct list_head link;
	uid_t uid;
	struct lst_hooks h;
	const char *overflow;
	char *buf;
	size_t off, len, cap, max;
	bool at_line_start;
	bool ending;	/* end once the queue is written */
	bool fill_done; /* the filler has no more lines */
	bool closed;
};

static struct list_head streams = { &streams, &streams };

static void flush(struct lstream *ls);

static size_t queued(const struct lstream *ls)
{
	return ls->len - ls->off;
}

/* Ends ls; with gone, tells the owner. */
static void end(struct lstream *ls, bool gone)
{
	struct lst_hooks h = ls->h;

	if (ls->closed)
		return;
	ls->closed = true;
	list_del(&ls->link);
	free(ls->buf);
	ls->buf = NULL;
	ls->off = ls->len = ls->cap = 0;
	watch_close(&ls->w);
	if (gone && h.gone)
		h.gone(h.opaque, ls);
}

static void set_events(struct lstream *ls)
{
	bool more = queued(ls) || (ls->h.fill && !ls->fill_done && !ls->ending);

	watch_set(&ls->w, UV_READABLE | UV_DISCONNECT | (more ? UV_WRITABLE : 0));
}

/* Room for n more bytes at the end of the queue. */
static int reserve(struct lstream *ls, size_t n)
{
	char *p;
	size_t cap;

	if (ls->off > 0 && ls->off >= ls->len / 2) {
		memmove(ls->buf, ls->buf + ls->off, queued(ls));
		ls->len -= ls->off;
		ls->off = 0;
	}
	if (ls->len + n <= ls->cap)
		return 0;
	cap = ls->cap ? ls->cap : 4096;
	while (cap < ls->len + n)
		cap *= 2;
	p = realloc(ls->buf, cap);
	if (!p)
		return -ENOMEM;
	ls->buf = p;
	ls->cap = cap;
	return 0;
}

/* Drops the queue but for the rest of a line partly written, queues the
 * overflow line, and ends after it. */
static void overflow(struct lstream *ls)
{
	if (ls->at_line_start) {
		ls->len = ls->off;
	} else {
		char *nl = memchr(ls->buf + ls->off, '\n', queued(ls));
		ls->len = nl ? (size_t)(nl - ls->buf) + 1 : ls->len;
	}
	ls->ending = true;
	if (ls->overflow && reserve(ls, strlen(ls->overflow)) == 0) {
		memcpy(ls->buf + ls->len, ls->overflow, strlen(ls->overflow));
		ls->len += strlen(ls->overflow);
	}
}

int lst_write(struct lstream *ls, const char *line, size_t len)
{
	if (ls->closed || ls->ending)
		return -ENOBUFS;
	if (ls->max && queued(ls) + len > ls->max) {
		overflow(ls);
		set_events(ls);
		return -ENOBUFS;
	}
	if (reserve(ls, len) < 0) {
		overflow(ls);
		set_events(ls);
		return -ENOMEM;
	}
	memcpy(ls->buf + ls->len, line, len);
	ls->len += len;
	set_events(ls); /* written from the loop: no hook runs from here */
	return 0;
}

/* Writes what the socket takes; refills a list; ends when done. */
static void flush(struct lstream *ls)
{
	while (!ls->closed) {
		ssize_t n;

		if (!queued(ls) && ls->h.fill && !ls->fill_done && !ls->ending)
			ls->fill_done = ls->h.fill(ls->h.opaque, ls);
		if (!queued(ls))
			break;
		n = send(ls->w.fd, ls->buf + ls->off, queued(ls), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			end(ls, true); /* the client is gone */
			return;
		}
		ls->off += (size_t)n;
		ls->at_line_start = ls->buf[ls->off - 1] == '\n';
		if (ls->off == ls->len)
			ls->off = ls->len = 0;
	}
	if (ls->closed)
		return;
	if (!queued(ls) && (ls->ending || (ls->h.fill && ls->fill_done))) {
		end(ls, true);
		return;
	}
	set_events(ls);
}

/* The client wrote something (discarded), or closed its end. */
static void drain(struct lstream *ls)
{
	char scratch[512];

	for (int i = 0; i < 8; i++) {
		ssize_t n = recv(ls->w.fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			end(ls, true);
			return;
		}
	}
}

static void on_event(uv_poll_t *p, int status, int events)
{
	struct lstream *ls = p->data;

	if (ls->closed)
		return;
	if (status < 0) {
		end(ls, true);
		return;
	}
	if (events & (UV_READABLE | UV_DISCONNECT))
		drain(ls);
	if (!ls->closed && (events & UV_WRITABLE))
		flush(ls);
}

struct lstream *lst_new(uv_loop_t *loop, uid_t uid, size_t max, const char *overflow_line,
			const struct lst_hooks *hooks, int *client)
{
	struct lstream *ls;
	int sv[2];

	*client = -1;
	/* blocking for the client; every call on ours is MSG_DONTWAIT */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return NULL;
	ls = (struct lstream *)watch_new(loop, sv[0], sizeof(*ls), on_event, NULL, NULL);
	if (!ls) {
		safe_close(sv[1]);
		errno = ENOMEM;
		return NULL;
	}
	ls->w.owner = ls;
	ls->uid = uid;
	ls->max = max;
	ls->overflow = overflow_line;
	ls->h = *hooks;
	ls->at_line_start = true;
	list_add_tail(&ls->link, &streams);
	set_events(ls);
	*client = sv[1];
	return ls;
}

void lst_release(struct lstream *ls)
{
	while (ls->h.fill && !ls->fill_done && !ls->ending && !ls->closed) {
		size_t before = queued(ls);
		ls->fill_done = ls->h.fill(ls->h.opaque, ls);
		if (queued(ls) == before && !ls->fill_done)
			break; /* out of memory: end with what there is */
	}
	ls->h = (struct lst_hooks){ 0 };
	ls->ending = true;
	if (!ls->closed)
		flush(ls);
}

void lst_close(struct lstream *ls)
{
	end(ls, false);
}

void lst_close_all(void)
{
	while (!list_empty(&streams))
		end(list_entry(streams.next, struct lstream, link), true);
}

unsigned lst_count(uid_t uid)
{
	struct list_head *p, *t;
	unsigned n = 0;

	list_for_each_safe (p, t, &streams)
		n += list_entry(p, struct lstream, link)->uid == uid;
	return n;
}
