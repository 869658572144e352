/* SPDX-License-Identifier: MIT */
/*
 * test-vhost-user.c - drives vu_handle() with the messages QEMU 7.2 sends
 * for vhost-user-vsock (REFERENCE.md section 4), built in memory with
 * memfds as guest RAM and eventfds as kick/call fds, and with malformed
 * messages that must be refused without leaking an fd. Reading and writing
 * them on a socket is vhost-user-io.c, tested in test-vhost-user-io.c.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"
#include "vhost-user-state.h"
#include "vhost-user.h"

#define MEM_SIZE  (1u << 20)
#define UVA	  0x7f0000000000ull
#define DESC_OFF  0x0u
#define AVAIL_OFF 0x800u
#define USED_OFF  0x1000u
#define RING_SPAN 0x2000u /* per queue */
#define DATA_OFF  0x10000u
#define CID	  42

struct fx {
	struct vu_dev *d;
	int fds_before;
	int memfd;
	uint8_t *guest;
	int kick[2]; /* what kick_fd reported */
	bool running[2];
	int resets;
	int loud;	  /* log lines at warning level or worse */
	char events[256]; /* callback order, e.g. "S0-R" */
	struct vu_msg m, reply;
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

static void ev(struct fx *f, const char *s)
{
	strncat(f->events, s, sizeof(f->events) - strlen(f->events) - 1);
}

static uint64_t cb_cid(void *opaque)
{
	return CID;
}

static void cb_queue(void *opaque, int q, bool running)
{
	struct fx *f = opaque;

	f->running[q] = running;
	ev(f, running ? (q ? "S1+" : "S0+") : (q ? "S1-" : "S0-"));
}

static void cb_kick(void *opaque, int q, int fd)
{
	struct fx *f = opaque;

	f->kick[q] = fd;
}

static void cb_reset(void *opaque)
{
	struct fx *f = opaque;

	f->resets++;
	ev(f, "R");
}

static void cb_log(void *opaque, enum log_level level, const char *fmt, va_list ap)
{
	struct fx *f = opaque;

	f->loud += level <= LOG_LVL_WARN;
}

static const struct vu_ops ops = { .get_cid = cb_cid,
				   .queue_state = cb_queue,
				   .kick_fd = cb_kick,
				   .reset = cb_reset,
				   .log = cb_log };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fds_before = count_fds();
	f->kick[0] = f->kick[1] = -1;
	f->memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(f->memfd >= 0);
	assert_int_equal(ftruncate(f->memfd, MEM_SIZE), 0);
	f->guest = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	assert_true(f->guest != MAP_FAILED);
	f->d = vu_dev_new(&ops, f);
	assert_non_null(f->d);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	f->d = vu_dev_free(f->d);
	munmap(f->guest, MEM_SIZE);
	close(f->memfd);
	assert_int_equal(count_fds(), f->fds_before);
	free(f);
	return 0;
}

static void msg(struct fx *f, uint32_t req, uint32_t flags, const void *p, uint32_t size)
{
	memset(&f->m, 0, offsetof(struct vu_msg, fds));
	f->m.request = req;
	f->m.flags = flags;
	f->m.size = size;
	if (size)
		memcpy(f->m.payload, p, size);
	f->m.nfds = 0;
}

static void add_fd(struct fx *f, int fd)
{
	assert_true(fd >= 0);
	f->m.fds[f->m.nfds++] = fd;
}

static int send_u64(struct fx *f, uint32_t req, uint32_t flags, uint64_t v)
{
	v = htole64(v);
	msg(f, req, flags, &v, 8);
	return vu_handle(f->d, &f->m, &f->reply);
}

static int send_state(struct fx *f, uint32_t req, uint32_t idx, uint32_t num)
{
	uint32_t s[2] = { htole32(idx), htole32(num) };

	msg(f, req, 1, s, 8);
	return vu_handle(f->d, &f->m, &f->reply);
}

static int send_vring_fd(struct fx *f, uint32_t req, uint64_t idx)
{
	uint64_t v = htole64(idx);

	msg(f, req, 1, &v, 8);
	add_fd(f, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	return vu_handle(f->d, &f->m, &f->reply);
}

static int send_mem_table(struct fx *f, uint32_t flags, uint64_t size)
{
	uint8_t p[8 + 32] = { 0 };
	uint64_t reg[4] = { 0, htole64(size), htole64(UVA), 0 };

	p[0] = 1;
	memcpy(p + 8, reg, sizeof(reg));
	msg(f, VU_SET_MEM_TABLE, flags, p, sizeof(p));
	add_fd(f, dup(f->memfd));
	return vu_handle(f->d, &f->m, &f->reply);
}

static int send_addr(struct fx *f, uint32_t q, uint64_t base)
{
	uint32_t w[2] = { htole32(q), 0 };
	uint64_t a[4] = { htole64(base + DESC_OFF), htole64(base + USED_OFF),
			  htole64(base + AVAIL_OFF), 0 };
	uint8_t p[40];

	memcpy(p, w, 8);
	memcpy(p + 8, a, 32);
	msg(f, VU_SET_VRING_ADDR, 1, p, sizeof(p));
	return vu_handle(f->d, &f->m, &f->reply);
}

/* Checks the reply header and returns its u64 payload. */
static uint64_t reply_u64(struct fx *f, uint32_t req)
{
	uint64_t v;

	assert_true(vu_reply_pending(&f->reply));
	assert_int_equal(f->reply.request, req);
	assert_int_equal(f->reply.flags, 0x5);
	assert_int_equal(f->reply.size, 8);
	memcpy(&v, f->reply.payload, 8);
	return le64toh(v);
}

static void assert_no_reply(struct fx *f)
{
	assert_false(vu_reply_pending(&f->reply));
}

/* Device creation, before the guest runs. */
static void qemu_create(struct fx *f)
{
	msg(f, VU_GET_FEATURES, 1, NULL, 0);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), 0);
	assert_int_equal(reply_u64(f, VU_GET_FEATURES), 0x170000000ull);
	msg(f, VU_GET_PROTOCOL_FEATURES, 1, NULL, 0);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), 0);
	assert_int_equal(reply_u64(f, VU_GET_PROTOCOL_FEATURES), 0x208);
	assert_int_equal(send_u64(f, VU_SET_PROTOCOL_FEATURES, 1, 0x208), 0);
	assert_no_reply(f);
	msg(f, VU_SET_OWNER, 1, NULL, 0);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), 0);
	assert_no_reply(f);
	for (uint32_t q = 0; q < 2; q++) {
		assert_int_equal(send_vring_fd(f, VU_SET_VRING_CALL, q), 0);
		assert_int_equal(send_vring_fd(f, VU_SET_VRING_ERR, q), 0);
	}
}

/* Driver start: features, memory, rings (q0 at RING_SPAN * 0, ...). */
static void qemu_start(struct fx *f, uint64_t features)
{
	for (uint32_t q = 0; q < 2; q++)
		assert_int_equal(send_vring_fd(f, VU_SET_VRING_CALL, q), 0);
	assert_int_equal(send_u64(f, VU_SET_FEATURES, 1, features), 0);
	assert_int_equal(send_mem_table(f, 0x9, MEM_SIZE), 0);
	assert_int_equal(reply_u64(f, VU_SET_MEM_TABLE), 0);
	for (uint32_t q = 0; q < 2; q++) {
		assert_int_equal(send_state(f, VU_SET_VRING_NUM, q, 128), 0);
		assert_int_equal(send_state(f, VU_SET_VRING_BASE, q, 0), 0);
		assert_int_equal(send_addr(f, q, UVA + q * RING_SPAN), 0);
		assert_int_equal(send_vring_fd(f, VU_SET_VRING_KICK, q), 0);
		assert_true(f->kick[q] >= 0);
	}
}

static void qemu_enable(struct fx *f, uint32_t on)
{
	for (uint32_t q = 0; q < 2; q++)
		assert_int_equal(send_state(f, VU_SET_VRING_ENABLE, q, on), 0);
}

/* The guest puts a 44-byte tx packet on queue 1. */
static void guest_tx(struct fx *f)
{
	struct vq_desc *desc = (void *)(f->guest + RING_SPAN + DESC_OFF);
	struct vq_avail *avail = (void *)(f->guest + RING_SPAN + AVAIL_OFF);
	uint16_t idx = le16toh(avail->idx);

	desc[0] = (struct vq_desc){ .addr = htole64(DATA_OFF), .len = htole32(44) };
	avail->ring[idx % 128] = 0;
	avail->idx = htole16(idx + 1);
}

static void test_qemu_sequence_starts_and_stops_both_queues(void **state)
{
	struct fx *f = *state;
	struct vq_elem e;
	uint32_t s[2];
	struct vq *vq;

	qemu_create(f);
	qemu_start(f, 0x170000000ull);
	/* PROTOCOL_FEATURES negotiated: rings wait for SET_VRING_ENABLE. */
	assert_false(f->running[0] || f->running[1]);
	assert_null(vu_dev_queue(f->d, 1));
	qemu_enable(f, 1);
	assert_true(f->running[0] && f->running[1]);
	assert_int_equal(send_vring_fd(f, VU_SET_VRING_CALL, 1), 0);
	assert_int_equal(vu_dev_features(f->d), 0x170000000ull);

	vq = vu_dev_queue(f->d, 1);
	assert_non_null(vq);
	guest_tx(f);
	assert_int_equal(vq_pop(vq, &e), 1);
	assert_int_equal(e.out_len, 44);
	vq_push(vq, &e, 0);
	assert_int_equal(vu_notify(f->d, 1), 1);

	/* guest power-off (QEMU then closes the socket: the glue resets) */
	qemu_enable(f, 0);
	assert_false(f->running[0] || f->running[1]);
	assert_null(vu_dev_queue(f->d, 0));
	for (uint32_t q = 0; q < 2; q++) {
		assert_int_equal(send_state(f, VU_GET_VRING_BASE, q, 0), 0);
		assert_true(vu_reply_pending(&f->reply));
		assert_int_equal(f->reply.flags, 0x5);
		assert_int_equal(f->reply.size, 8);
		memcpy(s, f->reply.payload, 8);
		assert_int_equal(le32toh(s[0]), q);
		assert_int_equal(le32toh(s[1]), q); /* q1 consumed one chain */
		assert_int_equal(f->kick[q], -1);
	}
	assert_int_equal(f->resets, 0); /* suspended, as for a pause */
	assert_true(vu_dev_suspended(f->d));
	assert_string_equal(f->events, "S0+S1+S0-S1-");
	assert_int_equal(send_vring_fd(f, VU_SET_VRING_CALL, 0), 0);
}

/* QMP stop: rings disabled, then GET_VRING_BASE for both (measured on
 * QEMU 7.2); returns the bases. */
static void qemu_stop(struct fx *f, uint32_t base[2])
{
	uint32_t s[2];

	qemu_enable(f, 0);
	for (uint32_t q = 0; q < 2; q++) {
		assert_int_equal(send_state(f, VU_GET_VRING_BASE, q, 0), 0);
		memcpy(s, f->reply.payload, 8);
		base[q] = le32toh(s[1]);
	}
}

/* QMP cont, or a new driver: the start sequence with the given bases and
 * ring addresses (q at UVA + offset + q * RING_SPAN). */
static void qemu_restart(struct fx *f, const uint32_t base[2], uint64_t offset)
{
	for (uint32_t q = 0; q < 2; q++)
		assert_int_equal(send_vring_fd(f, VU_SET_VRING_CALL, q), 0);
	assert_int_equal(send_u64(f, VU_SET_FEATURES, 1, 0x170000000ull), 0);
	assert_int_equal(send_mem_table(f, 0x9, MEM_SIZE), 0);
	for (uint32_t q = 0; q < 2; q++) {
		assert_int_equal(send_state(f, VU_SET_VRING_NUM, q, 128), 0);
		assert_int_equal(send_state(f, VU_SET_VRING_BASE, q, base[q]), 0);
		assert_int_equal(send_addr(f, q, UVA + offset + q * RING_SPAN), 0);
		assert_int_equal(send_vring_fd(f, VU_SET_VRING_KICK, q), 0);
	}
	qemu_enable(f, 1);
}

static void test_pause_and_resume_keep_the_device_and_its_place(void **state)
{
	struct fx *f = *state;
	uint32_t base[2];
	struct vq_elem e;

	qemu_create(f);
	qemu_start(f, 0x170000000ull);
	qemu_enable(f, 1);
	assert_false(vu_dev_suspended(f->d));
	guest_tx(f);
	assert_int_equal(vq_pop(vu_dev_queue(f->d, 1), &e), 1);
	vq_push(vu_dev_queue(f->d, 1), &e, 0);
	f->events[0] = '\0';
	qemu_stop(f, base);
	assert_int_equal(base[0], 0);
	assert_int_equal(base[1], 1);
	assert_true(vu_dev_suspended(f->d));
	assert_null(vu_dev_queue(f->d, 1));
	qemu_restart(f, base, 0);
	assert_string_equal(f->events, "S0-S1-S0+S1+"); /* no reset */
	assert_false(vu_dev_suspended(f->d));
	/* the ring goes on where it stopped */
	guest_tx(f);
	assert_int_equal(vq_pop(vu_dev_queue(f->d, 1), &e), 1);
	assert_int_equal(vq_get_base(vu_dev_queue(f->d, 1)), 2);
	vq_push(vu_dev_queue(f->d, 1), &e, 0);
	/* a second pause works the same */
	qemu_stop(f, base);
	assert_int_equal(base[1], 2);
	qemu_restart(f, base, 0);
	assert_int_equal(f->resets, 0);
	assert_false(vu_dev_suspended(f->d));
}

static void test_a_new_driver_after_a_stop_resets(void **state)
{
	struct fx *f = *state;
	uint32_t base[2], zero[2] = { 0, 0 };
	struct vq_elem e;

	qemu_create(f);
	qemu_start(f, 0x170000000ull);
	qemu_enable(f, 1);
	guest_tx(f);
	assert_int_equal(vq_pop(vu_dev_queue(f->d, 1), &e), 1);
	vq_push(vu_dev_queue(f->d, 1), &e, 0);
	qemu_stop(f, base);
	/* rings from 0 again: a driver reset, not a resume */
	f->events[0] = '\0';
	qemu_restart(f, zero, 0);
	assert_int_equal(f->resets, 1);
	assert_string_equal(f->events, "RS0+S1+");
	assert_false(vu_dev_suspended(f->d));
	/* same bases, rings elsewhere: also a new driver */
	qemu_stop(f, base);
	f->events[0] = '\0';
	qemu_restart(f, base, 4 * RING_SPAN);
	assert_int_equal(f->resets, 2);
	assert_string_equal(f->events, "RS0+S1+");
	/* a suspended device that QEMU resets is reset at once */
	qemu_stop(f, base);
	msg(f, VU_RESET_OWNER, 1, NULL, 0);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), 0);
	assert_int_equal(f->resets, 3);
	assert_false(vu_dev_suspended(f->d));
}

static void test_stop_before_the_driver_ran_is_not_a_suspension(void **state)
{
	struct fx *f = *state;
	uint32_t base[2];

	qemu_create(f);
	qemu_start(f, 0x170000000ull);
	qemu_stop(f, base); /* never enabled */
	assert_false(vu_dev_suspended(f->d));
	assert_int_equal(f->resets, 0);
}

static void test_notify_writes_the_call_eventfd(void **state)
{
	struct fx *f = *state;
	struct vq_elem e;
	uint64_t v = htole64(1);
	int call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	eventfd_t cnt = 0;

	qemu_create(f);
	qemu_start(f, 0x170000000ull);
	qemu_enable(f, 1);
	msg(f, VU_SET_VRING_CALL, 1, &v, 8);
	add_fd(f, dup(call));
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), 0);
	guest_tx(f);
	assert_int_equal(vq_pop(vu_dev_queue(f->d, 1), &e), 1);
	vq_push(vu_dev_queue(f->d, 1), &e, 0);
	assert_int_equal(vu_notify(f->d, 1), 1);
	assert_int_equal(eventfd_read(call, &cnt), 0);
	assert_int_equal(cnt, 1);
	assert_int_equal(vu_notify(f->d, 0), 1); /* no EVENT_IDX history yet */
	assert_int_equal(vu_notify(f->d, 2), -EINVAL);
	close(call);
}

static void test_get_config_returns_the_cid(void **state)
{
	struct fx *f = *state;
	uint32_t h[3] = { htole32(0), htole32(8), htole32(0) };
	uint8_t p[20] = { 0 };
	uint8_t want[12 + 8] = { 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, CID };

	memcpy(p, h, 12);
	msg(f, VU_GET_CONFIG, 1, p, sizeof(p));
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), 0);
	assert_int_equal(f->reply.request, VU_GET_CONFIG);
	assert_int_equal(f->reply.flags, 0x5);
	assert_int_equal(f->reply.size, 20);
	assert_memory_equal(f->reply.payload, want, sizeof(want));

	/* the upper half only */
	h[0] = htole32(4);
	h[1] = htole32(4);
	memcpy(p, h, 12);
	msg(f, VU_GET_CONFIG, 1, p, 16);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), 0);
	assert_int_equal(f->reply.size, 16);
	assert_memory_equal(f->reply.payload + 12, want + 16, 4);
}

static void test_get_config_beyond_the_config_is_refused(void **state)
{
	struct fx *f = *state;
	uint32_t bad[][3] = { { 4, 8, 0 }, { 9, 0, 0 }, { 0, 9, 0 }, { UINT32_MAX, 2, 0 } };
	uint8_t p[12 + 9] = { 0 };

	for (size_t i = 0; i < 4; i++) {
		uint32_t h[3] = { htole32(bad[i][0]), htole32(bad[i][1]), 0 };

		memcpy(p, h, 12);
		msg(f, VU_GET_CONFIG, 1, p, 12 + bad[i][1] % 16);
		assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EINVAL);
		assert_true(vu_reply_pending(&f->reply));
		assert_int_equal(f->reply.size, 0);
	}
	/* header says 8 bytes, message carries 4 */
	uint32_t h[3] = { 0, htole32(8), 0 };
	memcpy(p, h, 12);
	msg(f, VU_GET_CONFIG, 1, p, 16);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EINVAL);
	msg(f, VU_GET_CONFIG, 1, p, 4);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EINVAL);
}

static void test_set_config_is_refused_with_ack(void **state)
{
	struct fx *f = *state;
	uint8_t p[20] = { 0, 0, 0, 0, 8 };

	msg(f, VU_SET_CONFIG, 0x9, p, sizeof(p));
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EPERM);
	assert_int_equal(reply_u64(f, VU_SET_CONFIG), 1);
}

static void test_reply_ack_reports_success_and_failure(void **state)
{
	struct fx *f = *state;

	assert_int_equal(send_u64(f, VU_SET_FEATURES, 0x9, 1ull << 32), 0);
	assert_int_equal(reply_u64(f, VU_SET_FEATURES), 0);
	/* VIRTIO_NET_F_MRG_RXBUF (15) was not offered */
	assert_int_equal(send_u64(f, VU_SET_FEATURES, 0x9, 1ull << 15), -EINVAL);
	assert_int_equal(reply_u64(f, VU_SET_FEATURES), 1);
	assert_int_equal(send_u64(f, VU_SET_FEATURES, 0x1, 1ull << 27), -EINVAL);
	assert_no_reply(f);
	assert_int_equal(vu_dev_features(f->d), 1ull << 32);
	/* MQ (0) was not offered */
	assert_int_equal(send_u64(f, VU_SET_PROTOCOL_FEATURES, 0x9, 1), -EINVAL);
	assert_int_equal(reply_u64(f, VU_SET_PROTOCOL_FEATURES), 1);
}

static void test_wrong_sizes_are_refused(void **state)
{
	struct fx *f = *state;
	uint8_t p[64] = { 0 };

	msg(f, VU_GET_FEATURES, 1, p, 8);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EINVAL);
	assert_true(vu_reply_pending(&f->reply));
	assert_int_equal(f->reply.size, 0); /* QEMU rejects a short answer */
	msg(f, VU_SET_FEATURES, 1, p, 4);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EINVAL);
	msg(f, VU_SET_VRING_NUM, 1, p, 12);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EINVAL);
	msg(f, VU_SET_VRING_ADDR, 1, p, 32);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EINVAL);
	msg(f, VU_SET_OWNER, 1, p, 1);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EINVAL);
	msg(f, VU_SET_MEM_TABLE, 1, p, 4);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EINVAL);
	msg(f, VU_GET_FEATURES, 2, NULL, 0); /* protocol version 2 */
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EPROTO);
	msg(f, VU_SET_OWNER, 1, NULL, 0);
	f->m.size = VU_MAX_PAYLOAD + 1;
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EMSGSIZE);
}

static void test_bad_mem_tables_are_refused_and_fds_closed(void **state)
{
	struct fx *f = *state;
	uint8_t p[8 + 9 * 32] = { 0 };

	/* nine regions, eight fds (all a message can carry) */
	p[0] = 9;
	msg(f, VU_SET_MEM_TABLE, 0x9, p, sizeof(p));
	for (int i = 0; i < 8; i++)
		add_fd(f, dup(f->memfd));
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EINVAL);
	assert_int_equal(reply_u64(f, VU_SET_MEM_TABLE), 1);
	/* one region, two fds */
	p[0] = 1;
	msg(f, VU_SET_MEM_TABLE, 0x1, p, 40);
	add_fd(f, dup(f->memfd));
	add_fd(f, dup(f->memfd));
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EINVAL);
	/* zero regions */
	p[0] = 0;
	msg(f, VU_SET_MEM_TABLE, 0x1, p, 8);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EINVAL);
	/* region larger than the file */
	assert_int_equal(send_mem_table(f, 0x9, MEM_SIZE + 4096), -EINVAL);
	assert_int_equal(reply_u64(f, VU_SET_MEM_TABLE), 1);
	/* empty region */
	assert_int_equal(send_mem_table(f, 0x1, 0), -EINVAL);
	/* a region whose fd is an eventfd */
	p[0] = 1;
	p[16] = 1; /* size 1 */
	msg(f, VU_SET_MEM_TABLE, 0x1, p, 40);
	add_fd(f, eventfd(0, EFD_CLOEXEC));
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EINVAL);
}

static void test_queue_index_2_and_above_is_refused(void **state)
{
	struct fx *f = *state;
	uint32_t bad_state[] = { VU_SET_VRING_NUM, VU_SET_VRING_BASE, VU_SET_VRING_ENABLE,
				 VU_GET_VRING_BASE };
	uint32_t bad_fd[] = { VU_SET_VRING_KICK, VU_SET_VRING_CALL, VU_SET_VRING_ERR };

	for (size_t i = 0; i < ARRAY_SIZE(bad_state); i++)
		assert_int_equal(send_state(f, bad_state[i], 2, 128), -EINVAL);
	assert_true(vu_reply_pending(&f->reply)); /* GET_VRING_BASE answers */
	assert_int_equal(f->reply.size, 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad_fd); i++) {
		assert_int_equal(send_vring_fd(f, bad_fd[i], 2), -EINVAL);
		assert_int_equal(send_vring_fd(f, bad_fd[i], 255), -EINVAL);
		assert_int_equal(send_vring_fd(f, bad_fd[i], 1ull << 9), -EINVAL);
	}
	assert_int_equal(send_addr(f, 2, UVA), -EINVAL);
	assert_null(vu_dev_queue(f->d, 2));
	assert_null(vu_dev_queue(f->d, -1));
}

static void test_vring_fd_count_must_match_nofd_bit(void **state)
{
	struct fx *f = *state;

	/* NOFD with an fd */
	assert_int_equal(send_vring_fd(f, VU_SET_VRING_CALL, 0x100), -EINVAL);
	/* no NOFD and no fd */
	assert_int_equal(send_u64(f, VU_SET_VRING_CALL, 1, 0), -EINVAL);
	/* NOFD and no fd: fine for call, not for kick (no polling) */
	assert_int_equal(send_u64(f, VU_SET_VRING_CALL, 1, 0x100), 0);
	assert_int_equal(send_u64(f, VU_SET_VRING_KICK, 1, 0x100), -EOPNOTSUPP);
	/* fds on a request that takes none */
	msg(f, VU_SET_OWNER, 1, NULL, 0);
	add_fd(f, eventfd(0, EFD_CLOEXEC));
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EINVAL);
}

static void test_ring_setup_is_checked(void **state)
{
	struct fx *f = *state;

	assert_int_equal(send_addr(f, 0, UVA), -EINVAL); /* no num yet */
	assert_int_equal(send_state(f, VU_SET_VRING_NUM, 0, 100), -EINVAL);
	assert_int_equal(send_state(f, VU_SET_VRING_NUM, 0, 65536), -EINVAL);
	assert_int_equal(send_state(f, VU_SET_VRING_NUM, 0, 128), 0);
	assert_int_equal(send_addr(f, 0, UVA), -EFAULT); /* no memory yet */
	assert_int_equal(send_mem_table(f, 1, MEM_SIZE), 0);
	assert_int_equal(send_addr(f, 0, UVA + MEM_SIZE - 0x100), -EFAULT);
	assert_int_equal(send_addr(f, 0, 0), -EFAULT);	     /* a gpa, not a uva */
	assert_int_equal(send_addr(f, 0, UVA + 2), -EINVAL); /* misaligned */
	assert_int_equal(send_state(f, VU_SET_VRING_BASE, 0, 65536), -EINVAL);
	assert_int_equal(send_addr(f, 0, UVA), 0);
	assert_int_equal(send_vring_fd(f, VU_SET_VRING_KICK, 0), 0);
	/* started: no more ring changes until GET_VRING_BASE */
	assert_int_equal(send_state(f, VU_SET_VRING_NUM, 0, 256), -EBUSY);
	assert_int_equal(send_state(f, VU_SET_VRING_BASE, 0, 1), -EBUSY);
	assert_int_equal(send_addr(f, 0, UVA), -EBUSY);
	assert_int_equal(send_state(f, VU_SET_VRING_ENABLE, 0, 2), -EINVAL);
}

static void test_rings_start_enabled_without_protocol_features(void **state)
{
	struct fx *f = *state;

	qemu_create(f);
	qemu_start(f, 1ull << 32);
	assert_true(f->running[0] && f->running[1]);
	assert_non_null(vu_dev_queue(f->d, 0));
}

static void test_unknown_request_is_acked_with_error_or_ignored(void **state)
{
	struct fx *f = *state;

	msg(f, 99, 0x9, NULL, 0);
	add_fd(f, eventfd(0, EFD_CLOEXEC));
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EOPNOTSUPP);
	assert_int_equal(reply_u64(f, 99), 1);
	assert_int_equal(send_u64(f, VU_SET_LOG_BASE, 1, 0), -EOPNOTSUPP);
	assert_no_reply(f);
	msg(f, VU_GET_QUEUE_NUM, 1, NULL, 0);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), 0);
	assert_int_equal(reply_u64(f, VU_GET_QUEUE_NUM), 2);
}

static void test_mem_table_replacement_while_running_resets(void **state)
{
	struct fx *f = *state;

	qemu_create(f);
	qemu_start(f, 0x170000000ull);
	qemu_enable(f, 1);
	f->events[0] = '\0';
	assert_int_equal(send_mem_table(f, 0x9, MEM_SIZE), 0);
	assert_int_equal(reply_u64(f, VU_SET_MEM_TABLE), 0);
	assert_string_equal(f->events, "S0-S1-RS0+S1+");
	/* a table the rings do not fit in stops them */
	f->events[0] = '\0';
	assert_int_equal(send_mem_table(f, 0x9, RING_SPAN), 0);
	assert_string_equal(f->events, "S0-S1-RS0+");
	assert_null(vu_dev_queue(f->d, 1));
}

static void test_broken_device_recovers_after_ring_reset(void **state)
{
	struct fx *f = *state;
	struct vq_avail *avail = (void *)(f->guest + AVAIL_OFF);
	struct vq_elem e;

	qemu_create(f);
	qemu_start(f, 0x170000000ull);
	qemu_enable(f, 1);
	avail->idx = htole16(500); /* jumps more than num ahead */
	assert_int_equal(vq_pop(vu_dev_queue(f->d, 0), &e), -EPROTO);
	assert_true(vu_dev_broken(f->d));
	assert_null(vu_dev_queue(f->d, 0));
	assert_null(vu_dev_queue(f->d, 1));
	qemu_enable(f, 0);
	for (uint32_t q = 0; q < 2; q++)
		assert_int_equal(send_state(f, VU_GET_VRING_BASE, q, 0), 0);
	avail->idx = 0;
	qemu_start(f, 0x170000000ull);
	qemu_enable(f, 1);
	assert_false(vu_dev_broken(f->d));
	assert_non_null(vu_dev_queue(f->d, 0));
	vu_dev_set_broken(f->d);
	assert_null(vu_dev_queue(f->d, 0));
}

static void test_reset_owner_stops_everything(void **state)
{
	struct fx *f = *state;

	qemu_create(f);
	qemu_start(f, 0x170000000ull);
	qemu_enable(f, 1);
	msg(f, VU_RESET_OWNER, 1, NULL, 0);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), 0);
	assert_int_equal(f->resets, 1);
	assert_false(f->running[0] || f->running[1]);
	assert_int_equal(f->kick[0], -1);
	assert_int_equal(vu_dev_features(f->d), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

static void test_refusals_are_logged_loudly_once_per_connection(void **state)
{
	struct fx *f = *state;

	for (int i = 0; i < 100; i++) {
		msg(f, 99, 1 | VU_FLAG_NEED_REPLY, NULL, 0);
		assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EOPNOTSUPP);
		assert_int_equal(reply_u64(f, 99), 1);
		assert_true(send_u64(f, VU_SET_FEATURES, 1, 1ull << 5) < 0);
	}
	assert_int_equal(f->loud, 1);
}

static void test_overlapping_memory_regions_are_refused(void **state)
{
	struct fx *f = *state;
	uint8_t p[8 + 64] = { 0 };
	uint64_t reg[8] = { 0,
			    htole64(0x10000),
			    htole64(UVA),
			    0,
			    htole64(0x8000),
			    htole64(0x10000),
			    htole64(UVA + 0x100000),
			    0 };

	p[0] = 2;
	memcpy(p + 8, reg, sizeof(reg));
	msg(f, VU_SET_MEM_TABLE, 1 | VU_FLAG_NEED_REPLY, p, sizeof(p));
	add_fd(f, dup(f->memfd));
	add_fd(f, dup(f->memfd));
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), -EINVAL);
	assert_int_equal(reply_u64(f, VU_SET_MEM_TABLE), 1);
	/* side by side is fine */
	reg[4] = htole64(0x10000);
	memcpy(p + 8, reg, sizeof(reg));
	msg(f, VU_SET_MEM_TABLE, 1 | VU_FLAG_NEED_REPLY, p, sizeof(p));
	add_fd(f, dup(f->memfd));
	add_fd(f, dup(f->memfd));
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), 0);
	assert_int_equal(reply_u64(f, VU_SET_MEM_TABLE), 0);
}

/* A daemon that replaces a killed one: the state the old device exported
 * rebuilds a running device over the same memory and eventfds, each ring
 * resuming at the guest's used index, and nothing is reset. */
static void test_exported_state_rebuilds_the_running_device(void **state)
{
	struct fx *f = *state;
	struct vu_state st;
	int fds[VU_STATE_MAX_FDS];
	unsigned n;
	uint16_t five = htole16(5);

	qemu_create(f);
	qemu_start(f, 0x170000000ull);
	qemu_enable(f, 1);
	assert_true(f->running[0] && f->running[1]);
	memcpy(f->guest + RING_SPAN + USED_OFF + 2, &five, sizeof(five)); /* queue 1 */
	assert_int_equal(vu_dev_export(f->d, &st, fds, VU_STATE_MAX_FDS, &n), 0);
	assert_int_equal(n, 1 + 2 * 3); /* a region, kick/call/err per ring */
	assert_int_equal(vu_dev_export(f->d, &st, fds, 3, &n), -ENOSPC);
	assert_int_equal(vu_dev_export(f->d, &st, fds, VU_STATE_MAX_FDS, &n), 0);
	for (unsigned i = 0; i < n; i++) /* the store's copies outlive the old daemon */
		fds[i] = dup(fds[i]);
	f->d = vu_dev_free(f->d);
	f->running[0] = f->running[1] = false;
	f->events[0] = '\0';
	f->d = vu_dev_new(&ops, f);
	assert_non_null(f->d);
	assert_int_equal(vu_dev_import(f->d, &st, fds, n), 0);
	assert_true(f->running[0] && f->running[1]);
	assert_true(f->kick[0] >= 0 && f->kick[1] >= 0);
	assert_int_equal(vq_get_base(vu_dev_queue(f->d, 0)), 0);
	assert_int_equal(vq_get_base(vu_dev_queue(f->d, 1)), 5);
	assert_int_equal(vu_dev_features(f->d), 0x170000000ull);
	assert_int_equal(f->resets, 0);
	assert_false(vu_dev_suspended(f->d));
}

/* A state that does not fit its fds, or is not a state, is refused and
 * every fd closed (teardown counts them). */
static void test_a_state_that_does_not_fit_is_refused(void **state)
{
	struct fx *f = *state;
	struct vu_state st, bad;
	int fds[VU_STATE_MAX_FDS];
	unsigned n;

	qemu_create(f);
	qemu_start(f, 0x170000000ull);
	assert_int_equal(vu_dev_export(f->d, &st, fds, VU_STATE_MAX_FDS, &n), 0);
	struct vu_dev *fresh = vu_dev_new(&ops, f);

	for (unsigned i = 0; i < n; i++)
		fds[i] = dup(fds[i]);
	assert_int_equal(vu_dev_import(fresh, &st, fds, n - 1), -EINVAL);
	close(fds[n - 1]);
	bad = st;
	bad.magic ^= 1;
	for (unsigned i = 0; i < n; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(vu_dev_import(fresh, &bad, fds, n), -EINVAL);
	bad = st;
	bad.mem[0] = 200; /* regions */
	for (unsigned i = 0; i < n; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(vu_dev_import(fresh, &bad, fds, n), -EINVAL);
	/* fds of the wrong kind: the memory table is refused */
	for (unsigned i = 0; i < n; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	assert_true(vu_dev_import(fresh, &st, fds, n) < 0);
	assert_null(vu_dev_queue(fresh, 0));
	vu_dev_free(fresh);
}

/* The fds stored for a successor are sent again only when one changed:
 * the generation moves with every fd vu_dev_export() lists, not with
 * requests that only ask. */
static void test_fd_generation_moves_only_with_the_exported_fds(void **state)
{
	struct fx *f = *state;
	unsigned gen;
	uint32_t base[2];

	qemu_create(f);
	qemu_start(f, 0x170000000ull);
	gen = vu_dev_fd_gen(f->d);
	msg(f, VU_GET_FEATURES, 1, NULL, 0);
	assert_int_equal(vu_handle(f->d, &f->m, &f->reply), 0);
	qemu_enable(f, 1);
	assert_int_equal(vu_dev_fd_gen(f->d), gen);
	assert_int_equal(send_vring_fd(f, VU_SET_VRING_CALL, 0), 0);
	assert_int_not_equal(vu_dev_fd_gen(f->d), gen);
	gen = vu_dev_fd_gen(f->d);
	qemu_stop(f, base); /* the kick fds go */
	assert_int_not_equal(vu_dev_fd_gen(f->d), gen);
	gen = vu_dev_fd_gen(f->d);
	assert_int_equal(send_mem_table(f, 0x9, MEM_SIZE), 0);
	assert_int_not_equal(vu_dev_fd_gen(f->d), gen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_qemu_sequence_starts_and_stops_both_queues),
		T(test_pause_and_resume_keep_the_device_and_its_place),
		T(test_a_new_driver_after_a_stop_resets),
		T(test_stop_before_the_driver_ran_is_not_a_suspension),
		T(test_notify_writes_the_call_eventfd),
		T(test_get_config_returns_the_cid),
		T(test_get_config_beyond_the_config_is_refused),
		T(test_set_config_is_refused_with_ack),
		T(test_reply_ack_reports_success_and_failure),
		T(test_wrong_sizes_are_refused),
		T(test_bad_mem_tables_are_refused_and_fds_closed),
		T(test_queue_index_2_and_above_is_refused),
		T(test_vring_fd_count_must_match_nofd_bit),
		T(test_ring_setup_is_checked),
		T(test_rings_start_enabled_without_protocol_features),
		T(test_unknown_request_is_acked_with_error_or_ignored),
		T(test_mem_table_replacement_while_running_resets),
		T(test_broken_device_recovers_after_ring_reset),
		T(test_reset_owner_stops_everything),
		T(test_refusals_are_logged_loudly_once_per_connection),
		T(test_overlapping_memory_regions_are_refused),
		T(test_exported_state_rebuilds_the_running_device),
		T(test_a_state_that_does_not_fit_is_refused),
		T(test_fd_generation_moves_only_with_the_exported_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
