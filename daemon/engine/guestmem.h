/* SPDX-License-Identifier: MIT */
/*
 * guestmem.h - the guest memory table of one vhost-user device.
 *
 * QEMU describes guest RAM as up to 8 regions (SET_MEM_TABLE), each a file
 * descriptor we map MAP_SHARED. A region is known by three addresses: its
 * guest-physical address (used in descriptors), QEMU's own virtual address
 * (used in SET_VRING_ADDR) and our host pointer. The table translates the
 * first two into the third, always with a length, with overflow-safe
 * arithmetic: a range is accepted only if every byte of it is mapped.
 *
 * gm_gpa_to_host() and gm_uva_to_host() need the whole range inside one
 * region (rings and indirect tables must be contiguous in our address
 * space); gm_gpa_to_iov() splits a range that spans guest-physically
 * adjacent regions into one iovec per region.
 *
 * A file can shrink under its mapping, and touching a page beyond its new
 * end raises SIGBUS. QEMU's memory-backend-memfd seals its memfd against
 * that (F_SEAL_SHRINK, seal=on by default); other backends (an unsealed
 * memfd, memory-backend-file on tmpfs or hugetlbfs) cannot be sealed, and
 * a hostile frontend may truncate them at any time. So every region is
 * accepted, and a process that faces such frontends calls
 * gm_guard_install(): its SIGBUS handler puts a zero page where the file
 * went away and marks the region faulted (gm_faulted()), which the
 * virtqueue turns into a broken device (docs/limits.md).
 */
#ifndef VMSVC_GUESTMEM_H
#define VMSVC_GUESTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* VHOST_MEMORY_BASELINE_NREGIONS: the most QEMU sends without the
 * CONFIGURE_MEM_SLOTS protocol feature (which we do not offer). */
#define GM_MAX_REGIONS 8

struct gm_region {
	uint64_t gpa;  /* guest-physical start */
	uint64_t uva;  /* QEMU virtual start */
	uint64_t size; /* bytes, > 0 */
	uint8_t *host; /* our pointer to the first byte */
	void *map;     /* mapping to munmap, NULL if not ours */
	size_t map_len;
	bool can_shrink; /* not a memfd sealed with F_SEAL_SHRINK */
};

struct gm_table {
	unsigned n;
	struct gm_region r[GM_MAX_REGIONS];
};

/** Initialises an empty table. */
void gm_init(struct gm_table *t);

/**
 * Adds a region backed by memory the caller owns (tests, fuzzers).
 * Returns 0, -ENOSPC when the table is full, -EINVAL for an empty or
 * wrapping range.
 */
int gm_add_ptr(struct gm_table *t, uint64_t gpa, uint64_t uva, uint64_t size, void *host);

/**
 * Maps size bytes at mmap_offset of fd (MAP_SHARED, read-write) and adds
 * them as a region. The fd stays owned by the caller (it may be closed
 * right after: the mapping survives). Refuses ranges beyond the file's
 * end, which would SIGBUS on access. Returns 0 or a negative errno.
 */
int gm_add_fd(struct gm_table *t, uint64_t gpa, uint64_t uva, uint64_t size, uint64_t mmap_offset,
	      int fd);

/**
 * Installs the process-wide SIGBUS handler that keeps an access to a page a
 * mapped file no longer has from killing the process: the page becomes a
 * private zero page and its region is marked faulted. Signals that are not
 * about a region go to the handler that was there before. Call at
 * start-up, from the thread that accesses guest memory (again if another
 * handler replaced it; nothing if it is in place). Returns 0 or a
 * negative errno.
 */
int gm_guard_install(void);

/**
 * True if an access to a region of t (mapped by gm_add_fd) hit a page
 * beyond the end of its file since it was mapped: its memory is gone, the
 * device must stop using it.
 */
bool gm_faulted(const struct gm_table *t);

/**
 * How many accesses the guard has turned into zero pages so far, in any
 * table: while it stays the same, gm_faulted() of a table stays false.
 */
unsigned gm_fault_epoch(void);

/** Unmaps every region this table mapped and empties it. */
void gm_clear(struct gm_table *t);

/** Moves src into dst (dst must be empty); src is left empty. */
void gm_move(struct gm_table *dst, struct gm_table *src);

/**
 * Translates the guest-physical range [gpa, gpa+len) to a host pointer;
 * NULL unless the whole range lies in one region. len may be 0.
 */
void *gm_gpa_to_host(const struct gm_table *t, uint64_t gpa, uint64_t len);

/** Same for a QEMU virtual address (SET_VRING_ADDR). */
void *gm_uva_to_host(const struct gm_table *t, uint64_t uva, uint64_t len);

/**
 * Translates [gpa, gpa+len) into at most max iovecs, appended at iov.
 * Returns the number of iovecs used (0 for len 0), -EFAULT if a byte is
 * not guest memory, -E2BIG if more than max iovecs would be needed.
 */
int gm_gpa_to_iov(const struct gm_table *t, uint64_t gpa, uint64_t len, struct iovec *iov,
		  unsigned max);

#endif /* VMSVC_GUESTMEM_H */
