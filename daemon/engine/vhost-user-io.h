/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-io.h - the message I/O of one vhost-user connection: reading
 * requests and writing replies on a socket without ever waiting for it.
 *
 * One struct vu_io per QEMU connection. It keeps the message being read
 * (header and payload bytes so far, and the fds that came with them) and
 * the reply being written, so that the caller reads and writes only when
 * its event loop says the socket is ready and resumes where it stopped.
 * It owns no event loop and no clock: how long a QEMU may leave a message
 * incomplete or a reply unread is the caller's policy (vu_io_reading(),
 * vu_io_queued() tell it what is outstanding).
 */
#ifndef VMSVC_VHOST_USER_IO_H
#define VMSVC_VHOST_USER_IO_H

#include <stdbool.h>

#include "vhost-user.h"

/* Returned by vu_io_send() and vu_io_flush(): (part of) the reply waits in
 * the vu_io for the socket to become writable. */
#define VU_IO_QUEUED 1

struct vu_io;

/** A new, idle vu_io; NULL on ENOMEM. */
struct vu_io *vu_io_new(void);

/** Frees io and closes the fds of a message it was still reading (or
 * that the caller did not hand to vu_handle()). Accepts NULL; returns
 * NULL. */
struct vu_io *vu_io_free(struct vu_io *io);

/**
 * Reads from the connected socket sock what it has of the current message,
 * never more, and never waits (MSG_DONTWAIT, whatever the socket's mode).
 * Returns:
 *   1        a whole message: *m points to it, inside io, until the next
 *            vu_io_recv() or vu_io_free(). Its fds (close-on-exec, at most
 *            VU_MAX_FDS, from any of its bytes) are owned by *m: hand it to
 *            vu_handle(), which takes them; the next call closes what is
 *            left.
 *   -EAGAIN  the socket has nothing more yet; a partial message is kept
 *            (vu_io_reading()) and resumed by the next call.
 *   0        clean end of stream between two messages.
 *   < 0      close the connection: -EMSGSIZE (payload above VU_MAX_PAYLOAD),
 *            -EPROTO (end of stream inside a message, too many or
 *            truncated fds) or the errno of recvmsg(). The fds received
 *            with the message are closed and io is idle again.
 */
int vu_io_recv(struct vu_io *io, int sock, struct vu_msg **m);

/** True while a message has begun (at least one byte) but is incomplete. */
bool vu_io_reading(const struct vu_io *io);

/**
 * Writes reply (no fds) to sock as far as the socket takes it now and
 * keeps the rest in io. Returns 0 when all is written, VU_IO_QUEUED when
 * some waits (watch sock for writability and call vu_io_flush(); read no
 * further request meanwhile, as QEMU waits for this reply), -EBUSY if a
 * reply is already queued (nothing done), -EINVAL for a payload above
 * VU_MAX_PAYLOAD, or the errno of send() (then close the connection).
 */
int vu_io_send(struct vu_io *io, int sock, const struct vu_msg *reply);

/** Writes what is queued. Returns 0 when nothing is left, VU_IO_QUEUED
 * when the socket is full again, or a negative errno (close the
 * connection). */
int vu_io_flush(struct vu_io *io, int sock);

/** True while part of a reply waits to be written. */
bool vu_io_queued(const struct vu_io *io);

#endif /* VMSVC_VHOST_USER_IO_H */
