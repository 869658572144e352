/* SPDX-License-Identifier: MIT */
/*
 * vsock-journal.h - the device's connections, kept where a successor can
 * read them: memory the caller provides (vmsvcd: a memfd that outlives the
 * process). A vmsvcd started in place of a killed one has none of the old
 * connections; it sends RST for each one in the journal, so that even an
 * idle guest socket learns that its peer is gone (the event queue, whose
 * TRANSPORT_RESET would say so, belongs to QEMU).
 *
 * The memory is an open-addressing table of (local port, peer port) pairs
 * with linear probing and backward-shift deletion; UINT32_MAX in both
 * ports marks a free slot. Nothing in it is trusted when read back: every
 * pair only ever causes an RST to the device's own guest.
 */
#ifndef VMSVCD_VSOCK_JOURNAL_H
#define VMSVCD_VSOCK_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vjr_slot {
	uint32_t lport, pport;
};

struct vsk_journal {
	struct vjr_slot *slot;
	uint32_t mask; /* slots - 1; slots is a power of two */
	uint32_t n;    /* pairs in the table */
};

/* Bytes of journal memory for max_conns connections (load <= 1/2). */
size_t vjr_size(uint32_t max_conns);

/**
 * Uses size bytes at mem (8-byte aligned) as the journal j. clear: start
 * empty; else keep what is there (read back after a restart). Returns
 * -EINVAL if size holds fewer than 2 slots.
 */
int vjr_init(struct vsk_journal *j, void *mem, size_t size, bool clear);

/** Records a connection; -ENOSPC when the table is full (not recorded). */
int vjr_add(struct vsk_journal *j, uint32_t lport, uint32_t pport);

/** Forgets a connection (nothing if it was not recorded). */
void vjr_del(struct vsk_journal *j, uint32_t lport, uint32_t pport);

/**
 * Takes one recorded pair out of j into *lport, *pport; false when j is
 * empty.
 */
bool vjr_pop(struct vsk_journal *j, uint32_t *lport, uint32_t *pport);

#endif
