/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-state.h - a vhost-user device's state for a successor.
 *
 * QEMU 7.2's vhost-user-vsock never replays its setup on a new connection
 * (it has no reconnect), so a vmsvcd that replaces a killed one must take
 * over the old connection itself: the QEMU socket, the memory and the ring
 * eventfds, kept alive meanwhile by a service manager's fd store. What the
 * old device had negotiated travels beside them as a struct vu_state.
 *
 * vu_dev_export() describes a device and lists its fds (borrowed);
 * vu_dev_import() replays the state into a new device as the vhost-user
 * requests that would have built it (so every check of vu_handle()
 * applies: the state is read back from memory another process could have
 * written), and resumes each ring where the guest's used index says the
 * old device stopped. That is exact because vmsvcd pushes every chain it
 * pops before it returns to its event loop, in order (vm.c): a chain
 * popped but not pushed when the old process died is taken again.
 */
#ifndef VMSVC_VHOST_USER_STATE_H
#define VMSVC_VHOST_USER_STATE_H

#include <stdint.h>

#include "guestmem.h"
#include "vhost-user.h"

#define VU_STATE_MAGIC	 0x74737576u /* "vust" */
#define VU_STATE_VERSION 1u
#define VU_STATE_MEM_MAX (8 + GM_MAX_REGIONS * 32) /* SET_MEM_TABLE payload */
/* At most the memory regions and three fds per ring. */
#define VU_STATE_MAX_FDS (GM_MAX_REGIONS + 3 * VU_NUM_QUEUES)

/* struct vu_state_ring.flags */
#define VU_ST_ADDR    0x01u /* SET_VRING_ADDR received */
#define VU_ST_STARTED 0x02u /* kick fd received, not stopped since */
#define VU_ST_ENABLED 0x04u
#define VU_ST_KICK    0x08u /* a kick fd follows (then call, then err) */
#define VU_ST_CALL    0x10u
#define VU_ST_ERR     0x20u

struct vu_state_ring {
	uint32_t num;
	uint32_t flags;
	uint64_t desc, avail, used; /* QEMU addresses, as SET_VRING_ADDR gave them */
};

/* Host order, for the same machine only; fds listed apart, in this order:
 * the memory regions (as many as the table has), then for each ring its
 * kick, call and err fds as far as its flags say. */
struct vu_state {
	uint32_t magic, version;
	uint64_t features, protocol_features;
	uint32_t owner;
	uint32_t mem_size; /* bytes of mem, 0: no memory table */
	uint8_t mem[VU_STATE_MEM_MAX];
	struct vu_state_ring ring[VU_NUM_QUEUES];
};

/**
 * Describes d in *st and lists its fds in fds[] (at most max; borrowed:
 * they stay d's). Returns 0, or -ENOSPC if max is too small.
 */
int vu_dev_export(const struct vu_dev *d, struct vu_state *st, int *fds, unsigned max,
		  unsigned *nfds);

/**
 * Rebuilds d (new, nothing received yet) from *st and its nfds fds (taken:
 * kept by d or closed, whatever the outcome). Returns 0, or a negative
 * errno when the state does not fit together or a request is refused (d
 * is then in whatever state the requests before left it: free it).
 */
int vu_dev_import(struct vu_dev *d, const struct vu_state *st, int *fds, unsigned nfds);

/**
 * Changes whenever an fd that vu_dev_export() lists is replaced, added or
 * closed: while it stays the same, the fds stored for a successor are
 * still the right ones.
 */
unsigned vu_dev_fd_gen(const struct vu_dev *d);

/** The used index that the guest's ring q holds now (mapped rings only). */
int vu_dev_used_idx(const struct vu_dev *d, int q, uint16_t *idx);

#endif
