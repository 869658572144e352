/* SPDX-License-Identifier: MIT */
/*
 * fdwatch.c - fd watches and accept() with pause-on-EMFILE.
 *
 * Paused listeners sit on one list; a single timer resumes them all after
 * ACCEPT_PAUSE_MS, so a daemon out of fds retries ten times a second
 * instead of spinning on a readable listener.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fdwatch.h"
#include "log.h"
#include "util.h"

#define ACCEPT_PAUSE_MS	   100
#define ACCEPT_WARN_PERIOD 5000

static struct {
	uv_timer_t timer;
	bool started;
	struct list_head list;
	uint64_t warned_ms;
} pause_state;

static void watch_closed(uv_handle_t *h)
{
	struct watch *w = h->data;
	void (*closed)(void *) = w->closed;
	void *owner = w->owner;

	w->fd = safe_close(w->fd);
	free(w);
	if (closed)
		closed(owner);
}

struct watch *watch_new(uv_loop_t *loop, int fd, size_t size, uv_poll_cb cb, void *owner,
			void (*closed)(void *owner))
{
	struct watch *w = size >= sizeof(*w) ? calloc(1, size) : NULL;

	if (!w || uv_poll_init(loop, &w->poll, fd) < 0) {
		safe_close(fd);
		free(w);
		return NULL;
	}
	w->fd = fd;
	w->cb = cb;
	w->owner = owner;
	w->closed = closed;
	w->poll.data = w;
	list_init(&w->paused);
	return w;
}

void watch_set(struct watch *w, int events)
{
	if (events == w->events)
		return;
	w->events = events;
	if (events)
		uv_poll_start(&w->poll, events, w->cb);
	else
		uv_poll_stop(&w->poll);
}

void watch_close(struct watch *w)
{
	if (!w)
		return;
	list_del(&w->paused);
	/* uv_close stops polling at once (EPOLL_CTL_DEL); the fd is closed
	 * in the close callback. */
	uv_close((uv_handle_t *)&w->poll, watch_closed);
}

static void on_resume(uv_timer_t *t)
{
	struct list_head *p, *tmp;

	(void)t;
	list_for_each_safe (p, tmp, &pause_state.list) {
		struct watch *w = list_entry(p, struct watch, paused);
		list_del(&w->paused);
		watch_set(w, UV_READABLE);
	}
}

static void pause_listener(struct watch *l, const char *what, int err)
{
	uint64_t now = now_ms();

	if (!pause_state.started) {
		uv_timer_init(l->poll.loop, &pause_state.timer);
		list_init(&pause_state.list);
		pause_state.started = true;
	}
	if (pause_state.warned_ms == 0 || now - pause_state.warned_ms >= ACCEPT_WARN_PERIOD) {
		log_warn("%s: accept: %s; pausing new connections briefly", what, strerror(err));
		pause_state.warned_ms = now;
	}
	watch_set(l, 0);
	if (list_empty(&l->paused))
		list_add_tail(&l->paused, &pause_state.list);
	if (!uv_is_active((uv_handle_t *)&pause_state.timer))
		uv_timer_start(&pause_state.timer, on_resume, ACCEPT_PAUSE_MS, 0);
}

int watch_accept(struct watch *l, const char *what)
{
	int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	int err = errno;

	if (fd >= 0)
		return fd;
	switch (err) {
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		pause_listener(l, what, err);
		return -err;
	case EWOULDBLOCK:
		return -EAGAIN;
	default:
		return -err;
	}
}

void watch_shutdown(void)
{
	if (pause_state.started && !uv_is_closing((uv_handle_t *)&pause_state.timer))
		uv_close((uv_handle_t *)&pause_state.timer, NULL);
}
