/* SPDX-License-Identifier: MIT */
/*
 * fuzz-vhost-user.c - a hostile QEMU: the input is a sequence of
 * vhost-user messages fed to vu_handle(). Real fds come with them where a
 * request takes some (memfds for SET_MEM_TABLE regions, eventfds for
 * kick/call/err), sometimes one too many or one too few. Running queues
 * are drained after every message. At the end every fd we created must be
 * closed by the engine (else abort: an fd leak).
 *
 * Messages with bit 6 or 7 of their flags byte reach vu_handle() through
 * a socketpair and vu_io_recv() (the fds ride on the first byte): whole
 * (bit 6), or one byte per write with a read after each (bit 7), the way a
 * QEMU that trickles its messages would send them.
 *
 * Input: le16 image length, the image (the first bytes of every memfd,
 * so that the fuzzer controls guest memory), then the messages, each
 * u8 request, u8 flags (bits 0-3: vhost-user flags, bit 4: one extra fd,
 * bit 5: one fd fewer, bits 6-7: through the socket), le16 payload size,
 * payload.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost-user-io.h"
#include "vhost-user.h"

#define FUZZ_MEMFD_SIZE	 0x10000
#define FUZZ_MAX_CREATED 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int created[FUZZ_MAX_CREATED];
static unsigned ncreated;

static uint64_t fz_cid(void *opaque)
{
	return 3;
}

static void fz_kick(void *opaque, int q, int fd)
{
	if (q < 0 || q >= VU_NUM_QUEUES || (fd >= 0 && fcntl(fd, F_GETFD) < 0))
		abort();
}

static void fz_log(void *opaque, enum log_level level, const char *fmt, va_list ap)
{
}

static const struct vu_ops fz_ops = { .get_cid = fz_cid, .kick_fd = fz_kick, .log = fz_log };

/* What a new memfd holds. */
static const uint8_t *fz_mem_data;
static size_t fz_mem_len;

static int fz_new_fd(bool memfd)
{
	int fd;

	if (ncreated >= FUZZ_MAX_CREATED)
		return -1;
	if (memfd) {
		fd = memfd_create("fuzz-guest", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, FUZZ_MEMFD_SIZE) < 0)
			abort();
		if (fz_mem_len &&
		    pwrite(fd, fz_mem_data,
			   fz_mem_len < FUZZ_MEMFD_SIZE ? fz_mem_len : FUZZ_MEMFD_SIZE, 0) < 0)
			abort();
	} else {
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
	if (fd < 0)
		abort();
	created[ncreated++] = fd;
	return fd;
}

/* How many fds, and which kind, a well-formed m would carry. */
static unsigned fz_wanted_fds(const struct vu_msg *m, bool *memfd)
{
	uint64_t v = 0;

	*memfd = false;
	switch (m->request) {
	case VU_SET_MEM_TABLE:
		*memfd = true;
		return m->size >= 4 ? (m->payload[0] > 8 ? 8 : m->payload[0]) : 0;
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		memcpy(&v, m->payload, m->size < 8 ? m->size : 8);
		return (v & 0x100) ? 0 : 1;
	default:
		return 0;
	}
}

static void fz_attach_fds(struct vu_msg *m, uint8_t how)
{
	bool memfd;
	unsigned n = fz_wanted_fds(m, &memfd);

	if ((how & 0x10) && n < VU_MAX_FDS)
		n++;
	if ((how & 0x20) && n > 0)
		n--;
	m->nfds = 0;
	for (unsigned i = 0; i < n; i++) {
		int fd = fz_new_fd(memfd);

		if (fd < 0)
			break;
		m->fds[m->nfds++] = fd;
	}
}

static void fz_drain(struct vu_dev *d)
{
	static struct vq_elem e;

	for (int q = 0; q < VU_NUM_QUEUES; q++) {
		struct vq *vq = vu_dev_queue(d, q);

		for (int i = 0; vq && i < 4; i++) {
			if (vq_pop(vq, &e) <= 0)
				break;
			vq_push(vq, &e, e.in_len);
		}
		(void)vu_notify(d, q);
	}
}

/* Writes len bytes of buf to sock, with m's fds (then closed here) if m. */
static void fz_write(int sock, const uint8_t *buf, size_t len, struct vu_msg *m)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (m && m->nfds) {
		struct cmsghdr *c;

		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * m->nfds);
		memcpy(CMSG_DATA(c), m->fds, sizeof(int) * m->nfds);
	}
	if (sendmsg(sock, &mh, MSG_DONTWAIT) != (ssize_t)len)
		abort();
	if (m)
		vu_msg_close_fds(m);
}

/* Sends m through the socketpair sv and reads it back with io: the fds
 * vu_handle() gets are the received copies (recorded for the leak check). */
static struct vu_msg *fz_via_socket(struct vu_io *io, const int sv[2], struct vu_msg *m,
				    bool bytewise)
{
	static uint8_t buf[VU_HDR_SIZE + VU_MAX_PAYLOAD];
	uint32_t hdr[3] = { htole32(m->request), htole32(m->flags), htole32(m->size) };
	size_t len = VU_HDR_SIZE + m->size, off = 0;
	struct vu_msg *got = NULL;
	int r = -EAGAIN;

	memcpy(buf, hdr, VU_HDR_SIZE);
	memcpy(buf + VU_HDR_SIZE, m->payload, m->size);
	while (off < len && r == -EAGAIN) {
		size_t n = bytewise ? 1 : len - off;

		fz_write(sv[0], buf + off, n, off == 0 ? m : NULL);
		off += n;
		r = vu_io_recv(io, sv[1], &got);
	}
	if (r != 1 || off != len || got->size != m->size || vu_io_reading(io))
		abort();
	for (unsigned i = 0; i < got->nfds && ncreated < FUZZ_MAX_CREATED; i++)
		created[ncreated++] = got->fds[i];
	return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vu_msg m, reply;
	struct vu_dev *d = vu_dev_new(&fz_ops, NULL);
	struct vu_io *io = vu_io_new();
	int sv[2];

	if (!d || !io || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	ncreated = 0;
	if (size < 2)
		goto out;
	fz_mem_len = (size_t)(data[0] | data[1] << 8);
	fz_mem_len = fz_mem_len > size - 2 ? size - 2 : fz_mem_len;
	fz_mem_data = data + 2;
	data += 2 + fz_mem_len;
	size -= 2 + fz_mem_len;
	while (size >= 4) {
		size_t len = (size_t)(data[2] | data[3] << 8);

		len = len > size - 4 ? size - 4 : len;
		len = len > VU_MAX_PAYLOAD ? VU_MAX_PAYLOAD : len;
		m.request = data[0];
		m.flags = data[1] & 0xf;
		m.size = (uint32_t)len;
		memcpy(m.payload, data + 4, len);
		fz_attach_fds(&m, data[1]);
		struct vu_msg *in = &m;
		if (data[1] & 0xc0)
			in = fz_via_socket(io, sv, &m, data[1] & 0x80);
		(void)vu_handle(d, in, &reply);
		if (in->nfds != 0 || reply.size > VU_MAX_PAYLOAD)
			abort();
		fz_drain(d);
		data += 4 + len;
		size -= 4 + len;
	}
out:
	vu_dev_free(d);
	vu_io_free(io);
	close(sv[0]);
	close(sv[1]);
	for (unsigned i = 0; i < ncreated; i++)
		if (fcntl(created[i], F_GETFD) >= 0)
			abort(); /* leaked */
	return 0;
}
