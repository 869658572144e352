/* SPDX-License-Identifier: MIT */
/*
 * virtq.h - device side of a virtio 1.x split virtqueue in guest memory.
 *
 * The guest owns the descriptor table and the avail ring; we own the used
 * ring. Everything the guest wrote is read once into local copies and
 * checked: head and next indexes, chain length (loop detection), readable
 * descriptors before writable ones, addresses and lengths inside guest
 * memory, indirect tables (one level, whole table inside guest memory).
 * A guest that breaks the protocol makes vq_pop() return a negative errno
 * and leaves the queue "broken": it is not read or written again until
 * vq_start() after a ring reset. So does guest memory that went away under
 * its mapping (gm_faulted(): -EFAULT), noticed at the next vq_pop()/vq_peek().
 *
 * Features: VIRTIO_RING_F_INDIRECT_DESC (a chain is at most num
 * descriptors in total, an indirect table included) and
 * VIRTIO_RING_F_EVENT_IDX. Notifications are never suppressed beyond what
 * EVENT_IDX implies: when vq_pop() finds the queue empty it sets
 * avail_event to last_avail_idx and re-checks, so the guest kicks for the
 * next buffer. Without EVENT_IDX we never set VRING_USED_F_NO_NOTIFY.
 *
 * Not thread-safe: one thread drives a queue.
 */
#ifndef VMSVC_VIRTQ_H
#define VMSVC_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guestmem.h"
#include "iov.h"

#define VQ_MAX_SIZE 32768 /* largest queue size of a split ring */
#define VQ_MAX_OUT  64	  /* readable iovecs per element */
#define VQ_MAX_IN   64	  /* writable iovecs per element */

/* Feature bits of the ring layout (virtio spec 6). */
#define VQ_F_INDIRECT_DESC 28
#define VQ_F_EVENT_IDX	   29
#define VQ_F_VERSION_1	   32

#define VQ_DESC_F_NEXT		1
#define VQ_DESC_F_WRITE		2
#define VQ_DESC_F_INDIRECT	4
#define VQ_AVAIL_F_NO_INTERRUPT 1

/* Guest-memory layout, all fields little-endian. */
struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* num entries, then le16 used_event */
};

struct vq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vq_used {
	uint16_t flags;
	uint16_t idx;
	struct vq_used_elem ring[]; /* num entries, then le16 avail_event */
};

/* Sizes of the three parts of a split ring of num entries, event fields
 * included (virtio spec 2.7). */
#define VQ_DESC_SIZE(num)  (16u * (uint64_t)(num))
#define VQ_AVAIL_SIZE(num) (6u + 2u * (uint64_t)(num))
#define VQ_USED_SIZE(num)  (6u + 8u * (uint64_t)(num))

/* One queue. Visible so that a device can embed it; use the functions. */
struct vq {
	const struct gm_table *mem; /* descriptor addresses; not owned */
	struct vq_desc *desc;	    /* NULL until vq_map() */
	struct vq_avail *avail;
	struct vq_used *used;
	unsigned num;
	uint16_t last_avail_idx; /* next avail entry we will take */
	uint16_t used_idx;	 /* our copy of used->idx */
	uint16_t signalled_used; /* used_idx at the last notification */
	bool signalled_used_valid;
	bool event_idx;	      /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;	      /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool broken;	      /* the guest broke the protocol */
	unsigned inflight;    /* popped and not yet pushed */
	unsigned fault_epoch; /* gm_fault_epoch() when mem was last found whole */
};

/* A chain taken from the avail ring: out[] is what the guest wrote for us
 * (readable), in[] is room for our answer (writable). The iovecs point
 * into guest memory, which the guest may change at any time: copy data
 * out before checking it. */
struct vq_elem {
	uint16_t head;
	unsigned out_num, in_num;
	uint32_t out_len, in_len; /* bytes in out[] and in[] */
	struct iovec out[VQ_MAX_OUT];
	struct iovec in[VQ_MAX_IN];
};

/** Makes vq an unmapped, empty queue (no features, base 0). */
void vq_init(struct vq *vq);

/**
 * Maps a ring of num entries whose parts start at the QEMU virtual
 * addresses desc, avail and used (SET_VRING_ADDR), checking that num is a
 * power of two <= VQ_MAX_SIZE, that every part lies inside one region of
 * mem and is aligned (16, 2, 4). mem must outlive the mapping. Keeps
 * last_avail_idx and the features. Returns 0, -EINVAL or -EFAULT (and
 * leaves vq unmapped).
 */
int vq_map(struct vq *vq, const struct gm_table *mem, unsigned num, uint64_t desc, uint64_t avail,
	   uint64_t used);

/** Forgets the ring pointers (before the memory table goes away). */
void vq_unmap(struct vq *vq);

/** True once vq_map() succeeded and until vq_unmap(). */
bool vq_is_mapped(const struct vq *vq);

/** Applies negotiated virtio feature bits (EVENT_IDX, INDIRECT_DESC). */
void vq_set_features(struct vq *vq, uint64_t features);

/** Sets last_avail_idx (SET_VRING_BASE). */
void vq_set_base(struct vq *vq, uint16_t last_avail_idx);

/** Returns last_avail_idx (GET_VRING_BASE). */
uint16_t vq_get_base(const struct vq *vq);

/**
 * Starts processing a mapped ring: reads used->idx from guest memory,
 * forgets notification history and clears the broken flag.
 */
void vq_start(struct vq *vq);

/**
 * Takes the next available chain into e. Returns 1 when e holds an
 * element, 0 when the queue is empty (the guest will kick when it adds
 * one), -ENODEV if the ring is not mapped, or another negative errno when
 * the guest broke the protocol (the queue is then broken and returns -EIO
 * until vq_start()). Every element taken must be given back with
 * vq_push() or vq_unpop().
 */
int vq_pop(struct vq *vq, struct vq_elem *e);

/**
 * Gives back the most recently popped element without using it (e.g. an
 * rx buffer we had no data for). Only valid right after vq_pop().
 */
void vq_unpop(struct vq *vq);

/**
 * Returns 1 if the guest has made a chain available, 0 if not (and then
 * asks for a kick like vq_pop()), negative errno like vq_pop().
 */
int vq_peek(struct vq *vq);

/**
 * Puts e into the used ring with used_len bytes written to e->in
 * (clamped to e->in_len) and publishes it. Does nothing on a broken or
 * unmapped queue.
 */
void vq_push(struct vq *vq, const struct vq_elem *e, uint32_t used_len);

/**
 * After one or more vq_push(): whether the guest wants an interrupt now
 * (VRING_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX). Call it
 * once per batch; it records what was signalled.
 */
bool vq_should_notify(struct vq *vq);

#endif /* VMSVC_VIRTQ_H */
