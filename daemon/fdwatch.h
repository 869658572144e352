/* SPDX-License-Identifier: MIT */
/*
 * fdwatch.h - an fd watched on the libuv loop, and accepting on listeners
 * without spinning when the daemon runs out of fds.
 *
 * A watch owns its fd: watch_close() stops polling at once, and the fd is
 * closed and the object freed from libuv's close callback, after which the
 * owner's closed() hook runs (owners count their open handles with it).
 */
#ifndef VMSVCD_FDWATCH_H
#define VMSVCD_FDWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "list.h"

struct watch {
	uv_poll_t poll;
	int fd;	    /* owned: closed with the watch */
	int events; /* UV_READABLE | UV_WRITABLE | UV_DISCONNECT now polled for */
	uv_poll_cb cb;
	void *owner;
	void (*closed)(void *owner); /* after the fd is closed (may be NULL) */
	struct list_head paused;     /* on the paused-listener list, else empty */
};

/*
 * Starts a watch of size bytes (>= sizeof(struct watch): callers embed it
 * at the start of their own object) on fd, taken in every case (closed on
 * failure). cb gets the uv_poll_t whose data is the watch. Polls nothing
 * until watch_set(). NULL on failure.
 */
struct watch *watch_new(uv_loop_t *loop, int fd, size_t size, uv_poll_cb cb, void *owner,
			void (*closed)(void *owner));
/* Changes the events polled for (0 stops polling). */
void watch_set(struct watch *w, int events);
/* Stops watching; the fd is closed and w freed asynchronously. NULL is ok. */
void watch_close(struct watch *w);

/*
 * Accepts one connection on the listener watched by l (non-blocking,
 * close-on-exec; the caller owns the fd). Returns the fd, -EAGAIN when none
 * is waiting, or another negative errno. When the daemon is out of fds or
 * memory the listener would stay readable and a level-triggered poll would
 * spin: it is paused for a moment (resumed by a timer) and the first such
 * failure in 5 s is logged as "what: ...".
 */
int watch_accept(struct watch *l, const char *what);

/* Closes the pause timer so that the loop can end (at shutdown). */
void watch_shutdown(void);

#endif
