/* SPDX-License-Identifier: MIT */
/*
 * guestmem.c - guest memory table: mapping and address translation.
 *
 * Invariants of every region in a table: size > 0, neither gpa + size nor
 * uva + size wraps around 2^64, no two regions share a guest-physical
 * address, and host[0 .. size) is mapped. All range checks are written as
 * "offset < size && len <= size - offset" so that no sum can overflow.
 *
 * The SIGBUS guard: every mapping made by gm_add_fd() is listed in guards[]
 * (start, end, the mapping's alignment, a faulted flag) until gm_clear().
 * The list is changed only by the thread that accesses guest memory, and
 * SIGBUS for a bad page is synchronous, so the handler always sees it whole.
 * The handler maps an anonymous private page (the alignment: a huge page on
 * hugetlbfs) over the one the file lost, with the raw syscall (no libc or
 * sanitizer wrapper in a signal handler), and returns: the access is
 * retried and reads zeros. Mapping over a shared region cannot fail for
 * want of address space (the range is ours); if it fails anyway, or the
 * address is not a guest mapping, or the signal was sent (kill, sigqueue:
 * no fault, si_addr means nothing), the previous handler is put back and
 * the signal goes to it (the default: the process dies, as without the
 * guard). fault_epoch counts the faults patched, so that a virtqueue looks
 * for a faulted region of its table only after a new one (virtq.c).
 */
#include "guestmem.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct gm_guard {
	uintptr_t start, end;
	uintptr_t align;
	volatile sig_atomic_t faulted;
};

static struct gm_guard *guards;
static size_t n_guards, cap_guards;
static volatile sig_atomic_t fault_epoch; /* guard faults so far */
static struct sigaction old_bus;

/* Puts a zero page over the page of g that holds a; false if that fails.
 * The page is counted from g->start, which mmap() aligned only to the
 * system page: a & ~(align - 1) could lie before the mapping. */
static bool gm_guard_patch(struct gm_guard *g, uintptr_t a)
{
	uintptr_t page = g->start + ((a - g->start) & ~(g->align - 1));

	return syscall(SYS_mmap, page, g->align, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == (long)page;
}

static void gm_on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	int saved_errno = errno;

	(void)uc;
	/* si_addr means something only for a fault the kernel raised */
	for (size_t i = 0; si->si_code > 0 && i < n_guards; i++) {
		struct gm_guard *g = &guards[i];

		if (a < g->start || a >= g->end)
			continue;
		if (gm_guard_patch(g, a)) {
			g->faulted = 1;
			fault_epoch++;
			errno = saved_errno;
			return;
		}
		break;
	}
	/* Not ours: to the handler before. A fault happens again on return;
	 * a signal someone sent is sent again (blocked until we return). */
	sigaction(SIGBUS, &old_bus, NULL);
	if (si->si_code <= 0)
		raise(sig);
	errno = saved_errno;
}

int gm_guard_install(void)
{
	struct sigaction sa = { .sa_sigaction = gm_on_sigbus, .sa_flags = SA_SIGINFO }, cur;

	/* ours already, unless someone put another handler in since */
	if (sigaction(SIGBUS, NULL, &cur) < 0)
		return -errno;
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == gm_on_sigbus)
		return 0;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old_bus) < 0)
		return -errno;
	return 0;
}

static int gm_guard_add(void *map, size_t len, uint64_t align)
{
	if (n_guards == cap_guards) {
		size_t cap = cap_guards ? cap_guards * 2 : 16;
		struct gm_guard *g = malloc(cap * sizeof(*g));

		if (!g)
			return -ENOMEM;
		if (n_guards)
			memcpy(g, guards, n_guards * sizeof(*g));
		/* the handler sees the old array or the new one, each whole */
		struct gm_guard *old = guards;
		guards = g;
		cap_guards = cap;
		free(old);
	}
	guards[n_guards] = (struct gm_guard){ .start = (uintptr_t)map,
					      .end = (uintptr_t)map + len,
					      .align = (uintptr_t)align };
	n_guards++;
	return 0;
}

static struct gm_guard *gm_guard_find(const void *map)
{
	for (size_t i = 0; i < n_guards; i++)
		if (guards[i].start == (uintptr_t)map)
			return &guards[i];
	return NULL;
}

static void gm_guard_remove(const void *map)
{
	struct gm_guard *g = gm_guard_find(map);

	if (!g)
		return;
	n_guards--;
	*g = guards[n_guards];
}

unsigned gm_fault_epoch(void)
{
	return (unsigned)fault_epoch;
}

bool gm_faulted(const struct gm_table *t)
{
	if (!fault_epoch)
		return false;
	for (unsigned i = 0; i < t->n; i++) {
		const struct gm_guard *g = t->r[i].map ? gm_guard_find(t->r[i].map) : NULL;

		if (g && g->faulted)
			return true;
	}
	return false;
}

void gm_init(struct gm_table *t)
{
	memset(t, 0, sizeof(*t));
}

static bool gm_range_ok(uint64_t gpa, uint64_t uva, uint64_t size)
{
	return size > 0 && size <= UINT64_MAX - gpa && size <= UINT64_MAX - uva && size <= SIZE_MAX;
}

/* Whether [gpa, gpa + size) shares a byte with a region of t. */
static bool gm_overlaps(const struct gm_table *t, uint64_t gpa, uint64_t size)
{
	for (unsigned i = 0; i < t->n; i++)
		if (gpa < t->r[i].gpa + t->r[i].size && t->r[i].gpa < gpa + size)
			return true;
	return false;
}

int gm_add_ptr(struct gm_table *t, uint64_t gpa, uint64_t uva, uint64_t size, void *host)
{
	if (t->n >= GM_MAX_REGIONS)
		return -ENOSPC;
	if (!gm_range_ok(gpa, uva, size) || !host || gm_overlaps(t, gpa, size))
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
	int seals;
	void *p;

	if (t->n >= GM_MAX_REGIONS)
		return -ENOSPC;
	if (!gm_range_ok(gpa, uva, size) || mmap_offset > UINT64_MAX - size ||
	    gm_overlaps(t, gpa, size))
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
	if (gm_guard_add(p, (size_t)map_len, align) < 0) {
		munmap(p, (size_t)map_len);
		return -ENOMEM;
	}
	seals = fcntl(fd, F_GET_SEALS);
	t->r[t->n++] = (struct gm_region){ .gpa = gpa,
					   .uva = uva,
					   .size = size,
					   .host = (uint8_t *)p + delta,
					   .map = p,
					   .map_len = (size_t)map_len,
					   .can_shrink = seals < 0 || !(seals & F_SEAL_SHRINK) };
	return 0;
}

void gm_clear(struct gm_table *t)
{
	for (unsigned i = 0; i < t->n; i++) {
		if (!t->r[i].map)
			continue;
		gm_guard_remove(t->r[i].map);
		munmap(t->r[i].map, t->r[i].map_len);
	}
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
