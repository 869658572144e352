/* SPDX-License-Identifier: MIT */
/*
 * virtq.c - split virtqueue, device side. See virtq.h for the contract.
 *
 * Memory ordering (the guest runs on other CPUs):
 *  - avail->idx is loaded with acquire before the ring entries and the
 *    descriptors it publishes are read;
 *  - a used entry is stored before used->idx, which is stored with release;
 *  - a full fence separates our used->idx store from reading the guest's
 *    suppression fields (flags, used_event), and our avail_event store from
 *    re-reading avail->idx, so that neither side misses a notification.
 * Guest-written values that we check are copied once and used from the
 * copy (a compiler barrier keeps the compiler from re-reading them).
 */
#include "virtq.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#define vq_barrier() __asm__ __volatile__("" ::: "memory")

void vq_init(struct vq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

static bool vq_aligned(const void *p, uintptr_t align)
{
	return ((uintptr_t)p & (align - 1)) == 0;
}

int vq_map(struct vq *vq, const struct gm_table *mem, unsigned num, uint64_t desc, uint64_t avail,
	   uint64_t used)
{
	void *d, *a, *u;

	vq_unmap(vq);
	if (num == 0 || num > VQ_MAX_SIZE || (num & (num - 1)) != 0)
		return -EINVAL;
	d = gm_uva_to_host(mem, desc, VQ_DESC_SIZE(num));
	a = gm_uva_to_host(mem, avail, VQ_AVAIL_SIZE(num));
	u = gm_uva_to_host(mem, used, VQ_USED_SIZE(num));
	if (!d || !a || !u)
		return -EFAULT;
	if (!vq_aligned(d, 16) || !vq_aligned(a, 2) || !vq_aligned(u, 4))
		return -EINVAL;
	vq->mem = mem;
	vq->fault_epoch = 0; /* look at mem once if a guard ever faulted */
	vq->num = num;
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	return 0;
}

void vq_unmap(struct vq *vq)
{
	vq->mem = NULL;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->num = 0;
	vq->inflight = 0;
}

bool vq_is_mapped(const struct vq *vq)
{
	return vq->desc != NULL;
}

void vq_set_features(struct vq *vq, uint64_t features)
{
	vq->event_idx = features & (1ull << VQ_F_EVENT_IDX);
	vq->indirect = features & (1ull << VQ_F_INDIRECT_DESC);
}

void vq_set_base(struct vq *vq, uint16_t last_avail_idx)
{
	vq->last_avail_idx = last_avail_idx;
}

uint16_t vq_get_base(const struct vq *vq)
{
	return vq->last_avail_idx;
}

static uint16_t *vq_used_event(struct vq *vq)
{
	return &vq->avail->ring[vq->num];
}

static uint16_t *vq_avail_event(struct vq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->num];
}

void vq_start(struct vq *vq)
{
	vq->broken = false;
	vq->signalled_used_valid = false;
	vq->inflight = 0;
	if (vq->used)
		vq->used_idx = le16toh(__atomic_load_n(&vq->used->idx, __ATOMIC_RELAXED));
}

static uint16_t vq_load_avail_idx(struct vq *vq)
{
	return le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));
}

/* Number of chains the guest has made available, or -EPROTO when avail->idx
 * ran more than num ahead of us. When there are none and EVENT_IDX is on,
 * asks for a kick (avail_event) and looks once more. */
static int vq_pending(struct vq *vq)
{
	uint16_t n = vq_load_avail_idx(vq) - vq->last_avail_idx;

	if (n == 0 && vq->event_idx) {
		__atomic_store_n(vq_avail_event(vq), htole16(vq->last_avail_idx), __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		n = vq_load_avail_idx(vq) - vq->last_avail_idx;
	}
	if (n > vq->num)
		return -EPROTO;
	return n;
}

/* Copies entry i of a descriptor table; an indirect table may be unaligned,
 * so it is addressed as bytes. */
static void vq_read_desc(const uint8_t *table, unsigned i, struct vq_desc *d)
{
	memcpy(d, table + (size_t)i * sizeof(*d), sizeof(*d));
	vq_barrier();
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

/* Where a chain is being read from, and how many descriptors it may still
 * have (loop detection: a chain never revisits a descriptor, so it is at
 * most as long as its table, and at most num long in total). */
struct vq_walk {
	const uint8_t *table;
	unsigned size;
	unsigned budget;
	bool in_indirect;
	bool seen_write;
};

/* Switches the walk to the indirect table that d describes. */
static int vq_enter_indirect(struct vq *vq, struct vq_walk *w, const struct vq_desc *d)
{
	if (!vq->indirect || w->in_indirect || (d->flags & VQ_DESC_F_NEXT))
		return -EPROTO;
	if (d->len == 0 || d->len % sizeof(struct vq_desc) != 0)
		return -EPROTO;
	if (d->len / sizeof(struct vq_desc) > w->budget)
		return -ELOOP;
	w->table = gm_gpa_to_host(vq->mem, d->addr, d->len);
	if (!w->table)
		return -EFAULT;
	w->size = d->len / sizeof(struct vq_desc);
	w->in_indirect = true;
	return 0;
}

/* Appends the buffer of descriptor d to e. */
static int vq_add_buf(struct vq *vq, struct vq_walk *w, struct vq_elem *e, const struct vq_desc *d)
{
	bool wr = d->flags & VQ_DESC_F_WRITE;
	unsigned *num = wr ? &e->in_num : &e->out_num;
	uint32_t *total = wr ? &e->in_len : &e->out_len;
	struct iovec *iov = wr ? e->in + e->in_num : e->out + e->out_num;
	unsigned room = (wr ? VQ_MAX_IN : VQ_MAX_OUT) - *num;
	int n;

	if (!wr && w->seen_write)
		return -EPROTO; /* readable after writable */
	w->seen_write |= wr;
	if (d->len > UINT32_MAX - *total)
		return -EMSGSIZE;
	n = gm_gpa_to_iov(vq->mem, d->addr, d->len, iov, room);
	if (n < 0)
		return n;
	*num += (unsigned)n;
	*total += d->len;
	return 0;
}

/* Walks the chain starting at head into e. */
static int vq_walk_chain(struct vq *vq, uint16_t head, struct vq_elem *e)
{
	struct vq_walk w = { .table = (const uint8_t *)vq->desc,
			     .size = vq->num,
			     .budget = vq->num };
	struct vq_desc d;
	int r;

	e->head = head;
	e->out_num = e->in_num = 0;
	e->out_len = e->in_len = 0;
	if (head >= vq->num)
		return -EPROTO;
	vq_read_desc(w.table, head, &d);
	for (;;) {
		if (d.flags & VQ_DESC_F_INDIRECT) {
			r = vq_enter_indirect(vq, &w, &d);
			if (r < 0)
				return r;
			vq_read_desc(w.table, 0, &d);
			continue;
		}
		if (w.budget-- == 0)
			return -ELOOP;
		r = vq_add_buf(vq, &w, e, &d);
		if (r < 0)
			return r;
		if (!(d.flags & VQ_DESC_F_NEXT))
			return 0;
		if (d.next >= w.size)
			return -EPROTO;
		vq_read_desc(w.table, d.next, &d);
	}
}

/* Guest memory the ring or a buffer lives in went away under us (the file
 * shrank: guestmem.h): nothing it holds can be trusted any more. The
 * regions are looked at only after a fault somewhere, not per chain. */
static bool vq_lost_memory(struct vq *vq)
{
	unsigned epoch = gm_fault_epoch();

	if (epoch == vq->fault_epoch)
		return false;
	vq->fault_epoch = epoch;
	if (!gm_faulted(vq->mem))
		return false;
	vq->broken = true;
	return true;
}

int vq_peek(struct vq *vq)
{
	int n;

	if (!vq->desc)
		return -ENODEV;
	if (vq->broken)
		return -EIO;
	n = vq_pending(vq);
	if (vq_lost_memory(vq))
		return -EFAULT;
	if (n < 0) {
		vq->broken = true;
		return n;
	}
	return n > 0;
}

int vq_pop(struct vq *vq, struct vq_elem *e)
{
	uint16_t head;
	int r = vq_peek(vq);

	if (r <= 0)
		return r;
	head = le16toh(__atomic_load_n(&vq->avail->ring[vq->last_avail_idx & (vq->num - 1)],
				       __ATOMIC_RELAXED));
	r = vq_walk_chain(vq, head, e);
	if (r == 0 && vq_lost_memory(vq))
		r = -EFAULT;
	if (r < 0) {
		vq->broken = true;
		return r;
	}
	vq->last_avail_idx++;
	vq->inflight++;
	return 1;
}

void vq_unpop(struct vq *vq)
{
	if (vq->inflight == 0)
		return;
	vq->inflight--;
	vq->last_avail_idx--;
}

void vq_push(struct vq *vq, const struct vq_elem *e, uint32_t used_len)
{
	struct vq_used_elem *u;

	if (!vq->used || vq->broken)
		return;
	if (used_len > e->in_len)
		used_len = e->in_len;
	u = &vq->used->ring[vq->used_idx & (vq->num - 1)];
	__atomic_store_n(&u->id, htole32(e->head), __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, htole32(used_len), __ATOMIC_RELAXED);
	vq->used_idx++;
	__atomic_store_n(&vq->used->idx, htole16(vq->used_idx), __ATOMIC_RELEASE);
	if (vq->inflight > 0)
		vq->inflight--;
}

/* virtio spec 2.7.10: notify if used_event lies in [old, new). */
static bool vq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

bool vq_should_notify(struct vq *vq)
{
	uint16_t old, event;
	bool valid;

	if (!vq->avail || vq->broken)
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(le16toh(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED)) &
			 VQ_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	event = le16toh(__atomic_load_n(vq_used_event(vq), __ATOMIC_RELAXED));
	return !valid || vq_need_event(event, vq->used_idx, old);
}
