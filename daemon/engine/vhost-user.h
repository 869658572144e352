/* SPDX-License-Identifier: MIT */
/*
 * vhost-user.h - backend side of the vhost-user protocol for a
 * vhost-user-vsock device (QEMU docs/interop/vhost-user.rst).
 *
 * One struct vu_dev per QEMU connection. The engine owns no event loop:
 * the glue reads a message with vu_io_recv() (vhost-user-io.h: it never
 * waits; a partial message is kept and resumed when the socket is readable
 * again), passes it to vu_handle() (pure: no socket I/O) and sends the
 * reply, if any, with vu_io_send() (never waits either; what the socket
 * does not take is queued until it is writable). Device events come back
 * through struct vu_ops.
 *
 * Queues: 0 = rx (device to driver), 1 = tx; QEMU keeps the event queue.
 * A queue runs when it has a ring (SET_VRING_NUM/ADDR over a memory table),
 * a kick fd, and is enabled. As in libvhost-user, rings start disabled when
 * VHOST_USER_F_PROTOCOL_FEATURES is negotiated (SET_VRING_ENABLE 1 starts
 * them) and enabled otherwise; GET_VRING_BASE stops a ring and suspends
 * the device (vu_dev_suspended) rather than resetting it.
 */
#ifndef VMSVC_VHOST_USER_H
#define VMSVC_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "loglevel.h"
#include "virtq.h"

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
};

#define VU_HDR_SIZE    12
#define VU_MAX_PAYLOAD 4096 /* larger messages end the connection */
#define VU_MAX_FDS     8

#define VU_FLAG_VERSION	     0x1u
#define VU_FLAG_VERSION_MASK 0x3u
#define VU_FLAG_REPLY	     0x4u
#define VU_FLAG_NEED_REPLY   0x8u

#define VU_F_PROTOCOL_FEATURES	30
#define VU_PROTOCOL_F_REPLY_ACK 3
#define VU_PROTOCOL_F_CONFIG	9

#define VU_NUM_QUEUES	   2
#define VU_CONFIG_SIZE	   8 /* struct virtio_vsock_config: le64 guest_cid */
#define VU_CONFIG_HDR_SIZE 12

/* Features we offer (SET_FEATURES may only ack a subset of these). */
#define VU_FEATURES                                                                               \
	((1ull << VQ_F_VERSION_1) | (1ull << VU_F_PROTOCOL_FEATURES) | (1ull << VQ_F_EVENT_IDX) | \
	 (1ull << VQ_F_INDIRECT_DESC))
#define VU_PROTOCOL_FEATURES ((1ull << VU_PROTOCOL_F_REPLY_ACK) | (1ull << VU_PROTOCOL_F_CONFIG))

/* One message, header in host order (x86: the wire's little-endian). The
 * fds arrived with it; whoever holds the message owns them (vu_handle()
 * takes them all; vu_msg_close_fds() drops them). */
struct vu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* payload bytes, <= VU_MAX_PAYLOAD */
	_Alignas(8) uint8_t payload[VU_MAX_PAYLOAD];
	int fds[VU_MAX_FDS];
	unsigned nfds;
};

struct vu_dev;

/* Callbacks from vu_handle(). Each may be NULL except get_cid. */
struct vu_ops {
	/* The guest CID for GET_CONFIG. */
	uint64_t (*get_cid)(void *opaque);
	/* A queue starts (running) or stops. While running, vu_dev_queue()
	 * returns it; the glue should process it once on start. */
	void (*queue_state)(void *opaque, int qidx, bool running);
	/* Watch fd for kicks of queue qidx; fd -1: stop watching the old one
	 * (it is closed right after the call). The vu_dev owns the fd. */
	void (*kick_fd)(void *opaque, int qidx, int fd);
	/* The driver reset or the memory went away: drop every connection
	 * and every popped element (it points into guest memory). Called
	 * before anything is unmapped. */
	void (*reset)(void *opaque);
	/* A log line (optional). */
	eng_log_fn *log;
};

/** Closes every fd of m and sets nfds to 0. */
void vu_msg_close_fds(struct vu_msg *m);

/** Creates a device; ops and opaque must outlive it. NULL on ENOMEM. */
struct vu_dev *vu_dev_new(const struct vu_ops *ops, void *opaque);

/**
 * Unmaps guest memory, closes every fd, frees d. The only callback it
 * makes is kick_fd(q, -1) for a kick fd the glue watches. Accepts NULL;
 * returns NULL.
 */
struct vu_dev *vu_dev_free(struct vu_dev *d);

/**
 * Handles request m: decodes it with size-exact checks, updates d and
 * fills *reply. Takes every fd of m (keeps or closes them). Returns 0 on
 * success or a negative errno when the request was refused (logged; d is
 * unchanged). Whatever the result, send *reply if vu_reply_pending():
 * refusals of requests that want an answer are reported to QEMU there
 * (REPLY_ACK status 1, or a zero-length answer QEMU rejects).
 */
int vu_handle(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply);

/** Whether vu_handle() left a reply to send. */
bool vu_reply_pending(const struct vu_msg *reply);

/**
 * The queue qidx if it is running and the device is not broken, else
 * NULL. The pointer stays valid until the next vu_handle() or
 * vu_dev_free().
 */
struct vq *vu_dev_queue(struct vu_dev *d, int qidx);

/**
 * Interrupts the guest for queue qidx if vq_should_notify() says so. Call
 * after a batch of vq_push(). Returns 1 if signalled, 0 if not needed,
 * negative errno if the eventfd write failed.
 */
int vu_notify(struct vu_dev *d, int qidx);

/** Marks the device broken (the guest broke the protocol): queues are not
 * handed out until the driver resets the rings or QEMU reconnects. */
void vu_dev_set_broken(struct vu_dev *d);

/** True if the device or one of its queues is broken. */
bool vu_dev_broken(const struct vu_dev *d);

/**
 * True while the device is suspended: QEMU stopped its rings with
 * GET_VRING_BASE (VM paused, or the driver stopping) and has not restarted
 * them; the connections are kept (see vhost-user.c).
 */
bool vu_dev_suspended(const struct vu_dev *d);

/** Negotiated virtio features (0 before SET_FEATURES). */
uint64_t vu_dev_features(const struct vu_dev *d);

#endif /* VMSVC_VHOST_USER_H */
