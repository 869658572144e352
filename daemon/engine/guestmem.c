/* SPDX-License-Identifier: MIT */
/*
 * guestmem.c - guest memory table: mapping and address translation.
 *
 * Invariants of every region in a table: size > 0, neither gpa + size nor
 * uva + size wraps around 2^64, and host[0 .. size) is mapped. All range
 * checks are written as "offset < size && len <= size - offset" so that
 * no sum can overflow.
 */
#include "guestmem.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void gm_init(struct gm_table *t)
{
	memset(t, 0, sizeof(*t));
}

static bool gm_range_ok(uint64_t gpa, uint64_t uva, uint64_t size)
{
	return size > 0 && size <= UINT64_MAX - gpa && size <= UINT64_MAX - uva && size <= SIZE_MAX;
}

int gm_add_ptr(struct gm_table *t, uint64_t gpa, uint64_t uva, uint64_t size, void *host)
{
	if (t->n >= GM_MAX_REGIONS)
		return -ENOSPC;
	if (!gm_range_ok(gpa, uva, size) || !host)
		return -EINVAL;
	t->r[t->n++] = (struct gm_region){ .gpa = gpa, .uva = uva, .size = size, .host = host };
	return 0;
}

/* Alignment for the mapping: the fd's block size (the huge page size on
 * hugetlbfs, which needs aligned offsets and lengths), at least a page. */
static uint64_t gm_map_align(const struct stat *st)
{
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t bs = (uint64_t)st->st_blksize;

	if (bs > pg && (bs & (bs - 1)) == 0)
		return bs;
	return pg;
}

int gm_add_fd(struct gm_table *t, uint64_t gpa, uint64_t uva, uint64_t size, uint64_t mmap_offset,
	      int fd)
{
	struct stat st;
	uint64_t align, map_off, delta, map_len;
	void *p;

	if (t->n >= GM_MAX_REGIONS)
		return -ENOSPC;
	if (!gm_range_ok(gpa, uva, size) || mmap_offset > UINT64_MAX - size)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* Touching a page past the end of the file raises SIGBUS. */
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || mmap_offset + size > (uint64_t)st.st_size)
		return -EINVAL;
	align = gm_map_align(&st);
	map_off = mmap_offset & ~(align - 1);
	delta = mmap_offset - map_off;
	map_len = (delta + size + align - 1) & ~(align - 1);
	if (map_len < delta + size || map_len > SIZE_MAX || map_off > INT64_MAX)
		return -EINVAL;
	p = mmap(NULL, (size_t)map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)map_off);
	if (p == MAP_FAILED)
		return -errno;
	t->r[t->n++] = (struct gm_region){ .gpa = gpa,
					   .uva = uva,
					   .size = size,
					   .host = (uint8_t *)p + delta,
					   .map = p,
					   .map_len = (size_t)map_len };
	return 0;
}

void gm_clear(struct gm_table *t)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->r[i].map)
			munmap(t->r[i].map, t->r[i].map_len);
	gm_init(t);
}

void gm_move(struct gm_table *dst, struct gm_table *src)
{
	*dst = *src;
	gm_init(src);
}

/* Finds the region holding addr (a gpa, or a uva if by_uva); sets *off. */
static const struct gm_region *gm_find(const struct gm_table *t, uint64_t addr, bool by_uva,
				       uint64_t *off)
{
	for (unsigned i = 0; i < t->n; i++) {
		const struct gm_region *r = &t->r[i];
		uint64_t base = by_uva ? r->uva : r->gpa;

		if (addr >= base && addr - base < r->size) {
			*off = addr - base;
			return r;
		}
	}
	return NULL;
}

static void *gm_to_host(const struct gm_table *t, uint64_t addr, uint64_t len, bool by_uva)
{
	uint64_t off;
	const struct gm_region *r = gm_find(t, addr, by_uva, &off);

	if (!r || len > r->size - off)
		return NULL;
	return r->host + off;
}

void *gm_gpa_to_host(const struct gm_table *t, uint64_t gpa, uint64_t len)
{
	return gm_to_host(t, gpa, len, false);
}

void *gm_uva_to_host(const struct gm_table *t, uint64_t uva, uint64_t len)
{
	return gm_to_host(t, uva, len, true);
}

int gm_gpa_to_iov(const struct gm_table *t, uint64_t gpa, uint64_t len, struct iovec *iov,
		  unsigned max)
{
	unsigned n = 0;

	while (len > 0) {
		uint64_t off, chunk;
		const struct gm_region *r = gm_find(t, gpa, false, &off);

		if (!r)
			return -EFAULT;
		if (n >= max)
			return -E2BIG;
		chunk = r->size - off < len ? r->size - off : len;
		iov[n].iov_base = r->host + off;
		iov[n].iov_len = (size_t)chunk;
		n++;
		/* The region does not wrap, so neither does gpa. */
		gpa += chunk;
		len -= chunk;
	}
	return (int)n;
}
