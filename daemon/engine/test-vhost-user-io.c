/* SPDX-License-Identifier: MIT */
/*
 * test-vhost-user-io.c - vu_io on real socketpairs, the way a hostile QEMU
 * would use them: a message one byte at a time, a header split across
 * reads, a reply to a socket that is full, end of stream inside a message,
 * oversize payloads and too many fds. The sockets are left blocking on
 * purpose: vu_io must never wait, whatever the socket's mode. Every test
 * ends with the fds it started with (received fds are closed on every
 * path).
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"
#include "vhost-user-io.h"

struct fx {
	struct vu_io *io;
	int fds_before;
	int sv[2]; /* sv[0]: QEMU, sv[1]: ours */
};

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(dir);
	while (readdir(dir))
		n++;
	closedir(dir);
	return n;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fds_before = count_fds();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv), 0);
	f->io = vu_io_new();
	assert_non_null(f->io);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	f->io = vu_io_free(f->io);
	f->sv[0] = safe_close(f->sv[0]);
	f->sv[1] = safe_close(f->sv[1]);
	assert_int_equal(count_fds(), f->fds_before);
	free(f);
	return 0;
}

/* Sends len bytes from QEMU's end, with nfds fds riding on the first. */
static void send_raw(struct fx *f, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(f->sv[0], &mh, 0), (ssize_t)len);
}

/* A SET_VRING_CALL for queue 1 (20 bytes) in buf. */
static void vring_call(uint8_t buf[20])
{
	uint32_t w[5] = { htole32(VU_SET_VRING_CALL), htole32(1), htole32(8), htole32(1), 0 };

	memcpy(buf, w, 20);
}

static void test_nothing_yet_is_eagain_and_nothing_is_pending(void **state)
{
	struct fx *f = *state;
	struct vu_msg *m = NULL;

	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), -EAGAIN);
	assert_false(vu_io_reading(f->io));
	assert_false(vu_io_queued(f->io));
	assert_null(m);
}

static void test_message_one_byte_at_a_time_with_fds_on_the_first_byte(void **state)
{
	struct fx *f = *state;
	struct vu_msg *m = NULL;
	uint8_t buf[20];
	int efd = eventfd(0, EFD_CLOEXEC), got;

	vring_call(buf);
	send_raw(f, buf, 1, &efd, 1);
	close(efd);
	for (size_t i = 1; i < sizeof(buf); i++) {
		assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), -EAGAIN);
		assert_true(vu_io_reading(f->io));
		send_raw(f, buf + i, 1, NULL, 0);
	}
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), 1);
	assert_false(vu_io_reading(f->io));
	assert_int_equal(m->request, VU_SET_VRING_CALL);
	assert_int_equal(m->flags, 1);
	assert_int_equal(m->size, 8);
	assert_memory_equal(m->payload, buf + 12, 8);
	assert_int_equal(m->nfds, 1);
	got = m->fds[0];
	assert_true(fcntl(got, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(eventfd_write(got, 1), 0); /* the eventfd we sent */
	/* Not handed to vu_handle(): the next call closes it. */
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), -EAGAIN);
	assert_int_equal(fcntl(got, F_GETFD), -1);
}

static void test_header_split_across_reads_then_two_messages_in_one_write(void **state)
{
	struct fx *f = *state;
	struct vu_msg *m = NULL;
	uint8_t buf[20 + 12 + 12];
	uint32_t get[3] = { htole32(VU_GET_FEATURES), htole32(1), 0 };

	vring_call(buf);
	memcpy(buf + 20, get, 12);
	get[0] = htole32(VU_GET_PROTOCOL_FEATURES);
	memcpy(buf + 32, get, 12);
	send_raw(f, buf, 5, NULL, 0);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), -EAGAIN);
	assert_true(vu_io_reading(f->io));
	send_raw(f, buf + 5, 4, NULL, 0);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), -EAGAIN);
	/* the rest of the header, its payload and two more messages at once */
	send_raw(f, buf + 9, sizeof(buf) - 9, NULL, 0);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), 1);
	assert_int_equal(m->request, VU_SET_VRING_CALL);
	assert_int_equal(m->size, 8);
	assert_int_equal(m->nfds, 0);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), 1);
	assert_int_equal(m->request, VU_GET_FEATURES);
	assert_int_equal(m->size, 0);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), 1);
	assert_int_equal(m->request, VU_GET_PROTOCOL_FEATURES);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), -EAGAIN);
	assert_false(vu_io_reading(f->io));
}

/* Fills our end until the kernel takes no more; returns the bytes sent. */
static size_t fill_socket(int sock)
{
	static const uint8_t junk[4096];
	size_t total = 0;
	ssize_t n;
	int sz = 4096;

	assert_int_equal(setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
	while ((n = send(sock, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	assert_true(n < 0 && errno == EAGAIN);
	return total;
}

static void test_reply_to_a_full_socket_is_queued_then_flushed(void **state)
{
	struct fx *f = *state;
	struct vu_msg reply = { .request = VU_GET_FEATURES, .flags = 5, .size = 8 };
	const uint8_t want[20] = { 1, 0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x70, 1, 0, 0, 0 };
	size_t junk = fill_socket(f->sv[1]), got = 0;
	uint8_t *all = malloc(junk + 64);
	ssize_t n;
	int r;

	assert_non_null(all);
	memcpy(reply.payload, want + 12, 8);
	assert_int_equal(vu_io_send(f->io, f->sv[1], &reply), VU_IO_QUEUED);
	assert_true(vu_io_queued(f->io));
	assert_int_equal(vu_io_send(f->io, f->sv[1], &reply), -EBUSY);
	assert_int_equal(vu_io_flush(f->io, f->sv[1]), VU_IO_QUEUED);
	/* QEMU reads at last: the reply follows the junk, whole and once. */
	do {
		while ((n = recv(f->sv[0], all + got, junk + 64 - got, MSG_DONTWAIT)) > 0)
			got += (size_t)n;
		r = vu_io_flush(f->io, f->sv[1]);
		assert_true(r == 0 || r == VU_IO_QUEUED);
	} while (r != 0 || got < junk + 20);
	assert_false(vu_io_queued(f->io));
	assert_int_equal(got, junk + 20);
	assert_memory_equal(all + junk, want, 20);
	assert_int_equal(vu_io_flush(f->io, f->sv[1]), 0);
	free(all);
}

static void test_reply_to_an_empty_socket_is_written_at_once(void **state)
{
	struct fx *f = *state;
	struct vu_msg reply = { .request = VU_GET_QUEUE_NUM, .flags = 5, .size = 8 };
	const uint8_t want[20] = { 17, 0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 0, 2 };
	uint8_t buf[64];

	reply.payload[0] = 2;
	assert_int_equal(vu_io_send(f->io, f->sv[1], &reply), 0);
	assert_false(vu_io_queued(f->io));
	assert_int_equal(read(f->sv[0], buf, sizeof(buf)), 20);
	assert_memory_equal(buf, want, 20);
	reply.size = VU_MAX_PAYLOAD + 1;
	assert_int_equal(vu_io_send(f->io, f->sv[1], &reply), -EINVAL);
	f->sv[0] = safe_close(f->sv[0]);
	reply.size = 0;
	assert_int_equal(vu_io_send(f->io, f->sv[1], &reply), -EPIPE);
}

static void test_end_of_stream_inside_a_message_closes_its_fds(void **state)
{
	struct fx *f = *state;
	struct vu_msg *m = NULL;
	uint8_t buf[20];
	int efd[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };

	vring_call(buf);
	send_raw(f, buf, 16, efd, 2); /* 4 payload bytes missing */
	close(efd[0]);
	close(efd[1]);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), -EAGAIN);
	assert_true(vu_io_reading(f->io));
	f->sv[0] = safe_close(f->sv[0]);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), -EPROTO);
	assert_false(vu_io_reading(f->io));
	/* teardown checks that both received fds are closed */
}

static void test_end_of_stream_between_messages_is_clean(void **state)
{
	struct fx *f = *state;
	struct vu_msg *m = NULL;
	uint8_t buf[20];

	vring_call(buf);
	send_raw(f, buf, 20, NULL, 0);
	f->sv[0] = safe_close(f->sv[0]);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), 1);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), 0);
}

static void test_oversize_payload_is_refused_with_its_fds(void **state)
{
	struct fx *f = *state;
	struct vu_msg *m = NULL;
	uint32_t hdr[3] = { htole32(VU_SET_MEM_TABLE), htole32(1), htole32(VU_MAX_PAYLOAD + 1) };
	int efd = eventfd(0, EFD_CLOEXEC);

	send_raw(f, hdr, 7, &efd, 1);
	close(efd);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), -EAGAIN);
	send_raw(f, (uint8_t *)hdr + 7, 5, NULL, 0);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), -EMSGSIZE);
	assert_false(vu_io_reading(f->io));
	/* the largest allowed payload is fine */
	hdr[2] = htole32(VU_MAX_PAYLOAD);
	f->sv[0] = safe_close(f->sv[0]);
	f->sv[1] = safe_close(f->sv[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv), 0);
	send_raw(f, hdr, 12, NULL, 0);
	for (int i = 0; i < VU_MAX_PAYLOAD / 512; i++) {
		static const uint8_t chunk[512];

		assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), -EAGAIN);
		send_raw(f, chunk, sizeof(chunk), NULL, 0);
	}
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), 1);
	assert_int_equal(m->size, VU_MAX_PAYLOAD);
}

static void test_more_than_max_fds_are_refused_and_closed(void **state)
{
	struct fx *f = *state;
	struct vu_msg *m = NULL;
	uint8_t buf[20];
	int efd[9];

	for (int i = 0; i < 9; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC);
	vring_call(buf);
	/* nine fds at once: the control message is truncated */
	send_raw(f, buf, 20, efd, 9);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), -EPROTO);
	/* eight with the first bytes, one more with the payload */
	send_raw(f, buf, 12, efd, 8);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), -EAGAIN);
	send_raw(f, buf + 12, 8, efd + 8, 1);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), -EPROTO);
	assert_false(vu_io_reading(f->io));
	for (int i = 0; i < 9; i++)
		close(efd[i]);
}

static void test_free_closes_the_fds_of_a_partial_message(void **state)
{
	struct fx *f = *state;
	struct vu_msg *m = NULL;
	uint8_t buf[20];
	int efd = eventfd(0, EFD_CLOEXEC);

	vring_call(buf);
	send_raw(f, buf, 3, &efd, 1);
	close(efd);
	assert_int_equal(vu_io_recv(f->io, f->sv[1], &m), -EAGAIN);
	assert_int_equal(count_fds(), f->fds_before + 3); /* sv[0], sv[1], the eventfd */
	f->io = vu_io_free(f->io);
	assert_null(vu_io_free(NULL));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_nothing_yet_is_eagain_and_nothing_is_pending),
		T(test_message_one_byte_at_a_time_with_fds_on_the_first_byte),
		T(test_header_split_across_reads_then_two_messages_in_one_write),
		T(test_reply_to_a_full_socket_is_queued_then_flushed),
		T(test_reply_to_an_empty_socket_is_written_at_once),
		T(test_end_of_stream_inside_a_message_closes_its_fds),
		T(test_end_of_stream_between_messages_is_clean),
		T(test_oversize_payload_is_refused_with_its_fds),
		T(test_more_than_max_fds_are_refused_and_closed),
		T(test_free_closes_the_fds_of_a_partial_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
