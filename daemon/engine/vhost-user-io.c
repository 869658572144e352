/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-io.c - reads vhost-user requests and writes replies without
 * ever waiting for the socket.
 *
 * The daemon serves every VM from one event loop, so a QEMU that sends a
 * message one byte at a time, or never reads its replies, must cost the
 * others nothing: each call does what the socket allows at once
 * (MSG_DONTWAIT) and keeps the rest in struct vu_io.
 *
 * Invariants:
 *   - have counts the bytes of the current message received so far: the
 *     header first (into hdr), then the payload (into in.payload). A read
 *     never asks for more than what is left of the current message, so
 *     the next message's bytes (and fds) stay in the socket.
 *   - in.size is valid (and <= VU_MAX_PAYLOAD) once have >= VU_HDR_SIZE.
 *   - in.fds[0..nfds) are owned by io while the message is incomplete and
 *     by the caller's vu_handle() once handed out (done); any left when the
 *     next message starts, on an error or at vu_io_free() are closed.
 *   - out[out_off..out_len) is the unwritten rest of one reply; a second
 *     reply is refused while it is not empty.
 */
#include "vhost-user-io.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

struct vu_io {
	struct vu_msg in;
	uint8_t hdr[VU_HDR_SIZE];
	size_t have;
	bool done; /* in was handed out by the last vu_io_recv() */
	uint8_t out[VU_HDR_SIZE + VU_MAX_PAYLOAD];
	size_t out_off, out_len;
};

struct vu_io *vu_io_new(void)
{
	return calloc(1, sizeof(struct vu_io));
}

struct vu_io *vu_io_free(struct vu_io *io)
{
	if (!io)
		return NULL;
	vu_msg_close_fds(&io->in);
	free(io);
	return NULL;
}

bool vu_io_reading(const struct vu_io *io)
{
	return !io->done && io->have > 0;
}

bool vu_io_queued(const struct vu_io *io)
{
	return io->out_off < io->out_len;
}

/* Forgets the current message and closes the fds it still owns. */
static void vu_io_reset_in(struct vu_io *io)
{
	vu_msg_close_fds(&io->in);
	io->have = 0;
	io->done = false;
}

/* Moves the SCM_RIGHTS fds of mh into m; more than VU_MAX_FDS in all or a
 * truncated control message fail (the caller then closes m's fds). */
static int vu_io_take_fds(struct msghdr *mh, struct vu_msg *m)
{
	int r = (mh->msg_flags & MSG_CTRUNC) ? -EPROTO : 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;
		int fd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (m->nfds < VU_MAX_FDS) {
				m->fds[m->nfds++] = fd;
			} else {
				close(fd);
				r = -EPROTO;
			}
		}
	}
	return r;
}

/* One recvmsg() of up to len bytes into buf, with the fds riding on them.
 * Returns the byte count (0: end of stream) or a negative errno. */
static ssize_t vu_io_read(struct vu_io *io, int sock, uint8_t *buf, size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	ssize_t n;
	int r;

	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	r = vu_io_take_fds(&mh, &io->in);
	return r < 0 ? r : n;
}

/* Decodes the complete header into io->in. */
static int vu_io_decode_hdr(struct vu_io *io)
{
	uint32_t w[3];

	memcpy(w, io->hdr, sizeof(w));
	io->in.request = le32toh(w[0]);
	io->in.flags = le32toh(w[1]);
	io->in.size = le32toh(w[2]);
	return io->in.size > VU_MAX_PAYLOAD ? -EMSGSIZE : 0;
}

static bool vu_io_complete(const struct vu_io *io)
{
	return io->have >= VU_HDR_SIZE && io->have == VU_HDR_SIZE + io->in.size;
}

/* Reads what is left of the header, or else of the payload. Returns the
 * byte count (0: end of stream) or a negative errno (-EAGAIN: nothing
 * yet, -EMSGSIZE: the header just completed announces too much). */
static ssize_t vu_io_read_more(struct vu_io *io, int sock)
{
	bool in_hdr = io->have < VU_HDR_SIZE;
	uint8_t *buf = in_hdr ? io->hdr + io->have : io->in.payload + (io->have - VU_HDR_SIZE);
	size_t len = in_hdr ? VU_HDR_SIZE - io->have : VU_HDR_SIZE + io->in.size - io->have;
	ssize_t n = vu_io_read(io, sock, buf, len);

	if (n <= 0)
		return n;
	io->have += (size_t)n;
	if (in_hdr && io->have == VU_HDR_SIZE) {
		int r = vu_io_decode_hdr(io);

		if (r < 0)
			return r;
	}
	return n;
}

int vu_io_recv(struct vu_io *io, int sock, struct vu_msg **m)
{
	if (io->done)
		vu_io_reset_in(io);
	while (!vu_io_complete(io)) {
		ssize_t n = vu_io_read_more(io, sock);
		int r;

		if (n > 0)
			continue;
		if (n == -EAGAIN)
			return -EAGAIN;
		if (n == 0 && io->have == 0)
			return 0;
		r = n == 0 ? -EPROTO : (int)n; /* end of stream inside a message */
		vu_io_reset_in(io);
		return r;
	}
	io->done = true;
	*m = &io->in;
	return 1;
}

int vu_io_flush(struct vu_io *io, int sock)
{
	while (io->out_off < io->out_len) {
		ssize_t n = send(sock, io->out + io->out_off, io->out_len - io->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n >= 0) {
			io->out_off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return VU_IO_QUEUED;
		return -errno;
	}
	io->out_off = io->out_len = 0;
	return 0;
}

int vu_io_send(struct vu_io *io, int sock, const struct vu_msg *reply)
{
	uint32_t hdr[3] = { htole32(reply->request), htole32(reply->flags), htole32(reply->size) };

	if (vu_io_queued(io))
		return -EBUSY;
	if (reply->size > VU_MAX_PAYLOAD)
		return -EINVAL;
	memcpy(io->out, hdr, VU_HDR_SIZE);
	memcpy(io->out + VU_HDR_SIZE, reply->payload, reply->size);
	io->out_off = 0;
	io->out_len = VU_HDR_SIZE + reply->size;
	return vu_io_flush(io, sock);
}
