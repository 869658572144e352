/* SPDX-License-Identifier: MIT */
/*
 * lstream.h - a stream of text lines from vmsvcd to a control client (the
 * key-value exchange's list and watch): the client gets one end of a
 * socket pair, vmsvcd writes into the other without ever blocking.
 *
 * What the client has not read yet waits in a queue. A watch stream's
 * queue holds at most max bytes: a line that does not fit overflows the
 * stream: the queue is dropped (but for the rest of a line already partly
 * written, so that the client never sees half a line), the overflow line
 * is queued, and the stream ends once that is written. A list stream has a
 * filler instead, which makes more lines whenever the queue runs low, so
 * that a list of any size costs one chunk of memory at a time.
 *
 * A stream notices at once when the client closes (or shuts down) its end,
 * and ends. An ending stream calls its gone hook (the owner forgets it)
 * and is freed by the loop. Lines hold no '\n' but their last byte.
 */
#ifndef VMSVCD_LSTREAM_H
#define VMSVCD_LSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

struct lstream;

struct lst_hooks {
	/* A list: makes more lines with lst_write, at least until
	 * LST_CHUNK bytes are queued or there are no more; returns true
	 * when there are no more (then the stream ends once written).
	 * NULL for a watch. */
	bool (*fill)(void *opaque, struct lstream *ls);
	/* The stream ended by itself (client gone, overflow written, list
	 * done): the owner forgets ls. May be NULL. */
	void (*gone)(void *opaque, struct lstream *ls);
	void *opaque;
};

#define LST_CHUNK (64 * 1024)

/*
 * Starts a stream for a client of uid: max bytes of queue (a watch),
 * overflow the line sent when a line does not fit (static storage, with
 * its '\n'). Puts the client's end in *client (the caller passes it on
 * and closes it). Returns NULL on failure (errno set), *client then -1.
 */
struct lstream *lst_new(uv_loop_t *loop, uid_t uid, size_t max, const char *overflow,
			const struct lst_hooks *hooks, int *client);

/* Queues a line of len bytes (ending in '\n'), written from the loop
 * (never calls a hook). 0; -ENOBUFS when it did not fit (the stream
 * overflowed, or already ends: the line is dropped); -ENOMEM (the stream
 * ends as if it overflowed). */
int lst_write(struct lstream *ls, const char *line, size_t len);

/* The owner lets go of ls: a list makes all its remaining lines now, then
 * the stream goes on alone and ends once they are written; no hook is
 * called any more. */
void lst_release(struct lstream *ls);

/* Ends ls now, without the gone hook; what is queued is lost. */
void lst_close(struct lstream *ls);

/* Ends every stream now (vmsvcd stops), calling the gone hooks. */
void lst_close_all(void);

/* The streams open for clients of uid (released ones too). */
unsigned lst_count(uid_t uid);

#endif
