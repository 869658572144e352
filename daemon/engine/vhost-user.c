/* SPDX-License-Identifier: MIT */
/*
 * vhost-user.c - vhost-user backend state machine for vhost-user-vsock.
 *
 * QEMU is an untrusted peer. Every request is checked against a table
 * (exact payload size or a variable-size decoder, whether fds may come
 * with it, whether it has its own reply) before its handler runs; a
 * refused request changes nothing. Every fd that arrives is either kept
 * (memory regions are mapped and closed at once; kick/call/err fds are
 * stored in the ring and closed on replacement, reset and free) or closed
 * before vu_handle() returns.
 *
 * Ring life cycle, per queue:
 *   started  = SET_VRING_KICK received, until GET_VRING_BASE/RESET_OWNER;
 *   enabled  = SET_VRING_ENABLE (or implicitly, see vu_set_features);
 *   mapped   = SET_VRING_NUM + SET_VRING_ADDR translated through the
 *              current memory table (remapped when the table changes);
 *   running  = all three; transitions are reported by ops->queue_state.
 * ops->reset fires once when a device that had a running queue is reset
 * (RESET_OWNER), loses its memory table while running, or comes back
 * from a stop as a different ring (below); it comes after
 * queue_state(false) and before anything is unmapped.
 *
 * Suspension: QEMU 7.2 stops a vhost-user device with SET_VRING_ENABLE 0
 * and GET_VRING_BASE both on a VM pause (QMP stop) and on a driver reset,
 * and restarts it on cont with the same sequence as a driver start but
 * with SET_VRING_BASE = what GET_VRING_BASE returned and the same ring
 * addresses (measured: docs/integration-services.md). So GET_VRING_BASE
 * does not reset: the device is suspended (connections kept, nothing
 * runs) and each ring remembers its base and addresses. A ring that comes
 * back with another base, size or address is a new driver: then reset
 * fires before it runs. A driver that goes away for good looks suspended
 * until QEMU disconnects.
 */
#include "vhost-user.h"
#include "vhost-user-state.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util.h"

#define VU_VRING_IDX_MASK  0xffull
#define VU_VRING_NOFD	   0x100ull
#define VU_MEM_REGION_SIZE 32
#define VU_VRING_F_LOG	   1u

struct vu_ring {
	struct vq vq;
	unsigned num;		    /* SET_VRING_NUM, 0 = unset */
	uint64_t desc, avail, used; /* SET_VRING_ADDR, QEMU addresses */
	bool have_addr;
	int kick_fd, call_fd, err_fd; /* owned */
	bool started, enabled, running;
	bool parked;	    /* stopped by GET_VRING_BASE while the device is suspended */
	uint16_t park_base; /* what GET_VRING_BASE returned */
};

struct vu_dev {
	const struct vu_ops *ops;
	void *opaque;
	uint64_t features;
	uint64_t protocol_features;
	bool owner;
	bool broken;
	bool active;	  /* a queue ran since the last reset */
	bool suspended;	  /* stopped by GET_VRING_BASE, connections kept */
	unsigned refused; /* requests refused: only the first is logged loudly */
	struct gm_table mem;
	struct vu_ring ring[VU_NUM_QUEUES];
	/* The current SET_MEM_TABLE and its fds, kept for vu_dev_export(). */
	uint8_t mem_msg[VU_STATE_MEM_MAX];
	uint32_t mem_size;
	int mem_fds[GM_MAX_REGIONS];
	unsigned mem_nfds;
	unsigned fd_gen; /* bumped whenever an fd vu_dev_export() lists changes */
};

__attribute__((format(printf, 3, 4))) static void vu_log(struct vu_dev *d, enum log_level level,
							 const char *fmt, ...)
{
	va_list ap;

	if (!d->ops->log)
		return;
	va_start(ap, fmt);
	d->ops->log(d->opaque, level, fmt, ap);
	va_end(ap);
}

/* ---- messages (socket I/O: vhost-user-io.c) ---- */

void vu_msg_close_fds(struct vu_msg *m)
{
	for (unsigned i = 0; i < m->nfds && i < VU_MAX_FDS; i++)
		m->fds[i] = safe_close(m->fds[i]);
	m->nfds = 0;
}

/* ---- device state ---- */

struct vu_dev *vu_dev_new(const struct vu_ops *ops, void *opaque)
{
	struct vu_dev *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->ops = ops;
	d->opaque = opaque;
	gm_init(&d->mem);
	for (int q = 0; q < VU_NUM_QUEUES; q++) {
		vq_init(&d->ring[q].vq);
		d->ring[q].kick_fd = d->ring[q].call_fd = d->ring[q].err_fd = -1;
	}
	return d;
}

/* Replaces the kick fd of ring q, telling the glue before the old one is
 * closed and after the new one is in place. Takes fd. */
static void vu_set_kick(struct vu_dev *d, int q, int fd)
{
	struct vu_ring *r = &d->ring[q];

	if (r->kick_fd >= 0 && d->ops->kick_fd)
		d->ops->kick_fd(d->opaque, q, -1);
	r->kick_fd = safe_close(r->kick_fd);
	r->kick_fd = fd;
	d->fd_gen++;
	if (fd >= 0 && d->ops->kick_fd)
		d->ops->kick_fd(d->opaque, q, fd);
}

struct vu_dev *vu_dev_free(struct vu_dev *d)
{
	if (!d)
		return NULL;
	for (int q = 0; q < VU_NUM_QUEUES; q++) {
		struct vu_ring *r = &d->ring[q];

		vu_set_kick(d, q, -1);
		r->call_fd = safe_close(r->call_fd);
		r->err_fd = safe_close(r->err_fd);
		vq_unmap(&r->vq);
	}
	gm_clear(&d->mem);
	for (unsigned i = 0; i < d->mem_nfds; i++)
		safe_close(d->mem_fds[i]);
	free(d);
	return NULL;
}

static bool vu_any_parked(const struct vu_dev *d)
{
	for (int q = 0; q < VU_NUM_QUEUES; q++)
		if (d->ring[q].parked)
			return true;
	return false;
}

/* Reports a change of ring q's running state to the glue. */
static void vu_update_running(struct vu_dev *d, int q)
{
	struct vu_ring *r = &d->ring[q];
	bool run = r->started && r->enabled && vq_is_mapped(&r->vq);

	if (run == r->running)
		return;
	r->running = run;
	if (run) {
		vq_start(&r->vq);
		d->active = true;
		r->parked = false;
		d->suspended = vu_any_parked(d); /* resumed once none is */
	} else if (r->vq.broken) {
		d->broken = true; /* survives the restart */
	}
	vu_log(d, LOG_LVL_DEBUG, "queue %d %s", q, run ? "running" : "stopped");
	if (d->ops->queue_state)
		d->ops->queue_state(d->opaque, q, run);
}

static void vu_fire_reset(struct vu_dev *d)
{
	d->suspended = false;
	for (int q = 0; q < VU_NUM_QUEUES; q++)
		d->ring[q].parked = false;
	if (!d->active)
		return;
	d->active = false;
	if (d->ops->reset)
		d->ops->reset(d->opaque);
}

/* (Re)maps ring q over the current memory table if it has a size and
 * addresses; otherwise leaves it unmapped. */
static int vu_map_ring(struct vu_dev *d, int q)
{
	struct vu_ring *r = &d->ring[q];

	vq_unmap(&r->vq);
	if (!r->have_addr || r->num == 0)
		return 0;
	return vq_map(&r->vq, &d->mem, r->num, r->desc, r->avail, r->used);
}

/* Ring q is set up again; unless it is the same as when it was parked
 * (same), it belongs to another driver: the old connections go. */
static void vu_unpark(struct vu_dev *d, int q, bool same)
{
	if (!d->ring[q].parked || same)
		return;
	vu_log(d, LOG_LVL_DEBUG, "queue %d restarts as a new ring: reset", q);
	vu_fire_reset(d);
}

bool vu_dev_suspended(const struct vu_dev *d)
{
	return d->suspended;
}

/* Stops ring q (GET_VRING_BASE): no more kicks, not running. */
static void vu_stop_ring(struct vu_dev *d, int q)
{
	d->ring[q].started = false;
	vu_set_kick(d, q, -1);
	vu_update_running(d, q);
}

struct vq *vu_dev_queue(struct vu_dev *d, int qidx)
{
	if (qidx < 0 || qidx >= VU_NUM_QUEUES || vu_dev_broken(d) || !d->ring[qidx].running)
		return NULL;
	return &d->ring[qidx].vq;
}

int vu_notify(struct vu_dev *d, int qidx)
{
	struct vu_ring *r;

	if (qidx < 0 || qidx >= VU_NUM_QUEUES)
		return -EINVAL;
	r = &d->ring[qidx];
	if (!r->running || r->call_fd < 0 || !vq_should_notify(&r->vq))
		return 0;
	if (eventfd_write(r->call_fd, 1) < 0 && errno != EAGAIN)
		return -errno;
	return 1;
}

void vu_dev_set_broken(struct vu_dev *d)
{
	d->broken = true;
}

bool vu_dev_broken(const struct vu_dev *d)
{
	for (int q = 0; q < VU_NUM_QUEUES; q++)
		if (d->ring[q].vq.broken)
			return true;
	return d->broken;
}

uint64_t vu_dev_features(const struct vu_dev *d)
{
	return d->features;
}

/* ---- request handlers: payload size already checked ---- */

static uint64_t vu_get_u64(const struct vu_msg *m)
{
	uint64_t v;

	memcpy(&v, m->payload, sizeof(v));
	return le64toh(v);
}

static void vu_put_u64(struct vu_msg *reply, uint64_t v)
{
	v = htole64(v);
	memcpy(reply->payload, &v, sizeof(v));
	reply->size = sizeof(v);
}

/* struct vhost_vring_state {u32 index, u32 num}; checks the index. */
static int vu_get_state(const struct vu_msg *m, int *q, uint32_t *num)
{
	uint32_t s[2];

	memcpy(s, m->payload, sizeof(s));
	if (le32toh(s[0]) >= VU_NUM_QUEUES)
		return -EINVAL;
	*q = (int)le32toh(s[0]);
	*num = le32toh(s[1]);
	return 0;
}

static int vu_get_features(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	vu_put_u64(reply, VU_FEATURES);
	return 0;
}

static int vu_set_features(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	uint64_t f = vu_get_u64(m);

	if (f & ~VU_FEATURES)
		return -EINVAL;
	d->features = f;
	for (int q = 0; q < VU_NUM_QUEUES; q++) {
		vq_set_features(&d->ring[q].vq, f);
		/* Without PROTOCOL_FEATURES there is no SET_VRING_ENABLE. */
		if (!(f & (1ull << VU_F_PROTOCOL_FEATURES)))
			d->ring[q].enabled = true;
		vu_update_running(d, q);
	}
	return 0;
}

static int vu_get_protocol_features(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	vu_put_u64(reply, VU_PROTOCOL_FEATURES);
	return 0;
}

static int vu_set_protocol_features(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	uint64_t f = vu_get_u64(m);

	if (f & ~VU_PROTOCOL_FEATURES)
		return -EINVAL;
	d->protocol_features = f;
	return 0;
}

static int vu_set_owner(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	d->owner = true;
	return 0;
}

/* Forgets all ring state and negotiated features (libvhost-user does the
 * same); the memory table stays until replaced. */
static int vu_reset_owner(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	for (int q = 0; q < VU_NUM_QUEUES; q++)
		vu_stop_ring(d, q);
	vu_fire_reset(d);
	for (int q = 0; q < VU_NUM_QUEUES; q++) {
		struct vu_ring *r = &d->ring[q];

		safe_close(r->call_fd);
		safe_close(r->err_fd);
		*r = (struct vu_ring){ .kick_fd = -1, .call_fd = -1, .err_fd = -1 };
		vq_init(&r->vq);
	}
	d->fd_gen++;
	d->features = 0;
	d->owner = false;
	d->broken = false;
	return 0;
}

/* Decodes and maps the regions of a SET_MEM_TABLE into t. */
static int vu_decode_mem_table(struct vu_dev *d, const struct vu_msg *m, struct gm_table *t)
{
	uint32_t n;

	if (m->size < 8)
		return -EINVAL;
	memcpy(&n, m->payload, sizeof(n));
	n = le32toh(n);
	if (n == 0 || n > GM_MAX_REGIONS)
		return -EINVAL;
	if (m->size != 8 + n * VU_MEM_REGION_SIZE || m->nfds != n)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t reg[4]; /* gpa, size, uva, mmap_offset */
		int r;

		memcpy(reg, m->payload + 8 + i * VU_MEM_REGION_SIZE, sizeof(reg));
		r = gm_add_fd(t, le64toh(reg[0]), le64toh(reg[2]), le64toh(reg[1]), le64toh(reg[3]),
			      m->fds[i]);
		if (r < 0) {
			vu_log(d, d->refused ? LOG_LVL_DEBUG : LOG_LVL_ERR,
			       "cannot map memory region %u: %s", i, strerror(-r));
			return r;
		}
	}
	return 0;
}

/* Says which regions could shrink under us (guestmem.h: the SIGBUS guard
 * covers them), once per memory table. */
static void vu_log_shrinkable(struct vu_dev *d)
{
	unsigned n = 0;

	for (unsigned i = 0; i < d->mem.n; i++)
		n += d->mem.r[i].can_shrink;
	if (n)
		vu_log(d, LOG_LVL_INFO,
		       "%u of %u memory regions are not memfds sealed against shrinking "
		       "(memory-backend-memfd seals them); accesses are guarded",
		       n, d->mem.n);
}

/* Keeps the accepted table m (payload and fds, taken) for vu_dev_export(). */
static void vu_keep_mem_table(struct vu_dev *d, struct vu_msg *m)
{
	for (unsigned i = 0; i < d->mem_nfds; i++)
		d->mem_fds[i] = safe_close(d->mem_fds[i]);
	d->mem_nfds = 0;
	d->fd_gen++;
	d->mem_size = m->size <= sizeof(d->mem_msg) ? m->size : 0;
	memcpy(d->mem_msg, m->payload, d->mem_size);
	for (unsigned i = 0; d->mem_size && i < m->nfds && i < GM_MAX_REGIONS; i++)
		d->mem_fds[d->mem_nfds++] = TAKE_FD(m->fds[i]);
}

static int vu_set_mem_table(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	struct gm_table t;
	int r;

	gm_init(&t);
	r = vu_decode_mem_table(d, m, &t);
	if (r < 0) {
		gm_clear(&t);
		return r;
	}
	/* Everything popped points into the old mappings: stop first. A
	 * suspended device has nothing popped (nothing runs): it keeps its
	 * connections, as on every resume. */
	for (int q = 0; q < VU_NUM_QUEUES; q++) {
		vq_unmap(&d->ring[q].vq);
		vu_update_running(d, q);
	}
	if (!d->suspended)
		vu_fire_reset(d);
	gm_clear(&d->mem);
	gm_move(&d->mem, &t);
	vu_log_shrinkable(d);
	vu_keep_mem_table(d, m);
	for (int q = 0; q < VU_NUM_QUEUES; q++) {
		r = vu_map_ring(d, q);
		if (r < 0)
			vu_log(d, LOG_LVL_WARN, "queue %d is outside the new memory table", q);
		vu_update_running(d, q);
	}
	return 0;
}

static int vu_set_vring_num(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	uint32_t num;
	int q, r = vu_get_state(m, &q, &num);

	if (r < 0)
		return r;
	if (d->ring[q].started)
		return -EBUSY;
	if (num == 0 || num > VQ_MAX_SIZE || (num & (num - 1)) != 0)
		return -EINVAL;
	vu_unpark(d, q, num == d->ring[q].num);
	d->ring[q].num = num;
	(void)vu_map_ring(d, q); /* SET_VRING_ADDR normally follows */
	return 0;
}

static int vu_set_vring_addr(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	uint32_t w[2];
	uint64_t a[4]; /* desc, used, avail, log (unused: no LOG_ALL) */
	struct vu_ring *r;
	struct vq vq;
	int ret;

	memcpy(w, m->payload, sizeof(w));
	memcpy(a, m->payload + sizeof(w), sizeof(a));
	if (le32toh(w[0]) >= VU_NUM_QUEUES || (le32toh(w[1]) & ~VU_VRING_F_LOG))
		return -EINVAL;
	r = &d->ring[le32toh(w[0])];
	if (r->started)
		return -EBUSY;
	vq = r->vq;
	ret = vq_map(&vq, &d->mem, r->num, le64toh(a[0]), le64toh(a[2]), le64toh(a[1]));
	if (ret < 0)
		return ret;
	vu_unpark(d, (int)le32toh(w[0]),
		  r->have_addr && r->desc == le64toh(a[0]) && r->used == le64toh(a[1]) &&
			  r->avail == le64toh(a[2]));
	r->vq = vq;
	r->desc = le64toh(a[0]);
	r->used = le64toh(a[1]);
	r->avail = le64toh(a[2]);
	r->have_addr = true;
	return 0;
}

static int vu_set_vring_base(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	uint32_t num;
	int q, r = vu_get_state(m, &q, &num);

	if (r < 0)
		return r;
	if (d->ring[q].started)
		return -EBUSY;
	if (num > UINT16_MAX)
		return -EINVAL;
	vu_unpark(d, q, num == d->ring[q].park_base);
	vq_set_base(&d->ring[q].vq, (uint16_t)num);
	return 0;
}

static int vu_get_vring_base(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	uint32_t s[2], num;
	int q, r = vu_get_state(m, &q, &num);

	if (r < 0)
		return r;
	vu_stop_ring(d, q);
	if (d->active) { /* suspend: connections stay until the ring returns */
		d->suspended = true;
		d->ring[q].parked = true;
		d->ring[q].park_base = vq_get_base(&d->ring[q].vq);
	}
	d->broken = false;
	d->ring[q].vq.broken = false;
	s[0] = htole32((uint32_t)q);
	s[1] = htole32(vq_get_base(&d->ring[q].vq));
	memcpy(reply->payload, s, sizeof(s));
	reply->size = sizeof(s);
	return 0;
}

/* Decodes the u64 of SET_VRING_KICK/CALL/ERR and takes its fd (-1 with
 * the NOFD bit). */
static int vu_get_vring_fd(struct vu_msg *m, int *q, int *fd)
{
	uint64_t v = vu_get_u64(m);
	bool nofd = v & VU_VRING_NOFD;

	if ((v & ~(VU_VRING_IDX_MASK | VU_VRING_NOFD)) || (v & VU_VRING_IDX_MASK) >= VU_NUM_QUEUES)
		return -EINVAL;
	if (m->nfds != (nofd ? 0u : 1u))
		return -EINVAL;
	*q = (int)(v & VU_VRING_IDX_MASK);
	*fd = nofd ? -1 : TAKE_FD(m->fds[0]);
	return 0;
}

static int vu_set_vring_kick(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	int q, fd, r = vu_get_vring_fd(m, &q, &fd);

	if (r < 0)
		return r;
	if (fd < 0)
		return -EOPNOTSUPP; /* no polling mode */
	vu_set_kick(d, q, fd);
	d->ring[q].started = true;
	vu_update_running(d, q);
	return 0;
}

static int vu_set_vring_call(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	int q, fd, r = vu_get_vring_fd(m, &q, &fd);

	if (r < 0)
		return r;
	safe_close(d->ring[q].call_fd);
	d->ring[q].call_fd = fd;
	d->fd_gen++;
	return 0;
}

static int vu_set_vring_err(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	int q, fd, r = vu_get_vring_fd(m, &q, &fd);

	if (r < 0)
		return r;
	safe_close(d->ring[q].err_fd);
	d->ring[q].err_fd = fd; /* never written: we report no errors */
	d->fd_gen++;
	return 0;
}

static int vu_get_queue_num(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	vu_put_u64(reply, VU_NUM_QUEUES);
	return 0;
}

static int vu_set_vring_enable(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	uint32_t num;
	int q, r = vu_get_state(m, &q, &num);

	if (r < 0)
		return r;
	if (num > 1)
		return -EINVAL;
	d->ring[q].enabled = num;
	vu_update_running(d, q);
	return 0;
}

/* Payload: {u32 offset, u32 size, u32 flags, u8 data[size]}; the reply
 * echoes the header and carries the bytes of struct virtio_vsock_config. */
static int vu_get_config(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	uint32_t h[3], off, size;
	uint64_t cfg;

	if (m->size < VU_CONFIG_HDR_SIZE)
		return -EINVAL;
	memcpy(h, m->payload, sizeof(h));
	off = le32toh(h[0]);
	size = le32toh(h[1]);
	if (m->size - VU_CONFIG_HDR_SIZE != size || off > VU_CONFIG_SIZE ||
	    size > VU_CONFIG_SIZE - off)
		return -EINVAL;
	if (!d->ops->get_cid)
		return -ENODEV;
	cfg = htole64(d->ops->get_cid(d->opaque));
	memcpy(reply->payload, h, sizeof(h));
	memcpy(reply->payload + VU_CONFIG_HDR_SIZE, (uint8_t *)&cfg + off, size);
	reply->size = VU_CONFIG_HDR_SIZE + size;
	return 0;
}

static int vu_set_config(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	return -EPERM; /* guest_cid is read-only */
}

/* ---- dispatch ---- */

#define VU_SIZE_ANY UINT32_MAX

struct vu_handler {
	const char *name;
	int (*fn)(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply);
	uint32_t size;	/* exact payload size, or VU_SIZE_ANY */
	bool fds;	/* may carry fds (the handler checks how many) */
	bool has_reply; /* answers even without NEED_REPLY */
};

static const struct vu_handler vu_handlers[] = {
	[VU_GET_FEATURES] = { "GET_FEATURES", vu_get_features, 0, false, true },
	[VU_SET_FEATURES] = { "SET_FEATURES", vu_set_features, 8, false, false },
	[VU_SET_OWNER] = { "SET_OWNER", vu_set_owner, 0, false, false },
	[VU_RESET_OWNER] = { "RESET_OWNER", vu_reset_owner, 0, false, false },
	[VU_SET_MEM_TABLE] = { "SET_MEM_TABLE", vu_set_mem_table, VU_SIZE_ANY, true, false },
	[VU_SET_VRING_NUM] = { "SET_VRING_NUM", vu_set_vring_num, 8, false, false },
	[VU_SET_VRING_ADDR] = { "SET_VRING_ADDR", vu_set_vring_addr, 40, false, false },
	[VU_SET_VRING_BASE] = { "SET_VRING_BASE", vu_set_vring_base, 8, false, false },
	[VU_GET_VRING_BASE] = { "GET_VRING_BASE", vu_get_vring_base, 8, false, true },
	[VU_SET_VRING_KICK] = { "SET_VRING_KICK", vu_set_vring_kick, 8, true, false },
	[VU_SET_VRING_CALL] = { "SET_VRING_CALL", vu_set_vring_call, 8, true, false },
	[VU_SET_VRING_ERR] = { "SET_VRING_ERR", vu_set_vring_err, 8, true, false },
	[VU_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES", vu_get_protocol_features, 0, false,
				       true },
	[VU_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES", vu_set_protocol_features, 8, false,
				       false },
	[VU_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", vu_get_queue_num, 0, false, true },
	[VU_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", vu_set_vring_enable, 8, false, false },
	[VU_GET_CONFIG] = { "GET_CONFIG", vu_get_config, VU_SIZE_ANY, false, true },
	[VU_SET_CONFIG] = { "SET_CONFIG", vu_set_config, VU_SIZE_ANY, false, false },
};

static const struct vu_handler *vu_find_handler(uint32_t request)
{
	if (request >= ARRAY_SIZE(vu_handlers) || !vu_handlers[request].fn)
		return NULL;
	return &vu_handlers[request];
}

/* Runs the handler after the checks every request shares. */
static int vu_dispatch(struct vu_dev *d, const struct vu_handler *h, struct vu_msg *m,
		       struct vu_msg *reply)
{
	if ((m->flags & VU_FLAG_VERSION_MASK) != VU_FLAG_VERSION)
		return -EPROTO;
	if (m->size > VU_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (h->size != VU_SIZE_ANY && m->size != h->size)
		return -EINVAL;
	if (!h->fds && m->nfds > 0)
		return -EINVAL;
	return h->fn(d, m, reply);
}

/* Logs request m (and its reply) at debug level: what QEMU asked, with the
 * queue and value of the small requests that change a ring. */
static void vu_log_request(struct vu_dev *d, const struct vu_handler *h, const struct vu_msg *m,
			   const struct vu_msg *reply)
{
	uint32_t w[2] = { 0, 0 };

	if (!h)
		return;
	if (m->size == 8)
		memcpy(w, m->payload, sizeof(w));
	switch (m->request) {
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_BASE:
	case VU_SET_VRING_ENABLE:
		vu_log(d, LOG_LVL_DEBUG, "%s queue %u num %u", h->name, le32toh(w[0]),
		       le32toh(w[1]));
		break;
	case VU_GET_VRING_BASE:
		if (reply->size == 8)
			memcpy(&w[1], reply->payload + 4, sizeof(w[1]));
		vu_log(d, LOG_LVL_DEBUG, "%s queue %u -> %u", h->name, le32toh(w[0]),
		       le32toh(w[1]));
		break;
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		vu_log(d, LOG_LVL_DEBUG, "%s queue %u%s", h->name,
		       (unsigned)(le32toh(w[0]) & VU_VRING_IDX_MASK),
		       le32toh(w[0]) & VU_VRING_NOFD ? " (no fd)" : "");
		break;
	case VU_SET_FEATURES:
	case VU_SET_PROTOCOL_FEATURES:
		vu_log(d, LOG_LVL_DEBUG, "%s 0x%llx", h->name,
		       (unsigned long long)(((uint64_t)le32toh(w[1]) << 32) | le32toh(w[0])));
		break;
	default:
		vu_log(d, LOG_LVL_DEBUG, "%s (size %u)", h->name, m->size);
	}
}

bool vu_reply_pending(const struct vu_msg *reply)
{
	return (reply->flags & VU_FLAG_REPLY) != 0;
}

int vu_handle(struct vu_dev *d, struct vu_msg *m, struct vu_msg *reply)
{
	const struct vu_handler *h = vu_find_handler(m->request);
	bool want_ack = m->flags & VU_FLAG_NEED_REPLY;
	int r;

	reply->request = m->request;
	reply->flags = 0;
	reply->size = 0;
	reply->nfds = 0;
	if (m->nfds > VU_MAX_FDS)
		m->nfds = VU_MAX_FDS; /* never trust a count we did not set */
	r = h ? vu_dispatch(d, h, m, reply) : -EOPNOTSUPP;
	vu_msg_close_fds(m);
	if (r == 0)
		vu_log_request(d, h, m, reply);
	if (r < 0) {
		/* a hostile QEMU may send refused requests without end: one
		 * loud line per connection, the rest at debug level */
		bool first = d->refused++ == 0;
		enum log_level level = h ? LOG_LVL_ERR : LOG_LVL_WARN;

		vu_log(d, first ? level : LOG_LVL_DEBUG,
		       "vhost-user request %s (%u), size %u: %s%s", h ? h->name : "unknown",
		       m->request, m->size, strerror(-r),
		       first ? " (further refusals are logged at debug level)" : "");
		reply->size = 0;
	}
	if (h && h->has_reply) {
		reply->flags = VU_FLAG_VERSION | VU_FLAG_REPLY;
	} else if (want_ack) {
		vu_put_u64(reply, r < 0 ? 1 : 0);
		reply->flags = VU_FLAG_VERSION | VU_FLAG_REPLY;
	}
	return r;
}

/* ---- state for a successor (vhost-user-state.h) ---- */

int vu_dev_export(const struct vu_dev *d, struct vu_state *st, int *fds, unsigned max,
		  unsigned *nfds)
{
	unsigned n = 0;

	memset(st, 0, sizeof(*st));
	st->magic = VU_STATE_MAGIC;
	st->version = VU_STATE_VERSION;
	st->features = d->features;
	st->protocol_features = d->protocol_features;
	st->owner = d->owner;
	st->mem_size = d->mem_size;
	memcpy(st->mem, d->mem_msg, d->mem_size);
	if (d->mem_nfds > max)
		return -ENOSPC;
	for (unsigned i = 0; i < d->mem_nfds; i++)
		fds[n++] = d->mem_fds[i];
	for (int q = 0; q < VU_NUM_QUEUES; q++) {
		const struct vu_ring *r = &d->ring[q];
		struct vu_state_ring *s = &st->ring[q];
		const int rfd[3] = { r->kick_fd, r->call_fd, r->err_fd };

		s->num = r->num;
		s->desc = r->desc;
		s->avail = r->avail;
		s->used = r->used;
		s->flags = (r->have_addr ? VU_ST_ADDR : 0) | (r->started ? VU_ST_STARTED : 0) |
			   (r->enabled ? VU_ST_ENABLED : 0);
		for (int k = 0; k < 3; k++) {
			if (rfd[k] < 0)
				continue;
			if (n == max)
				return -ENOSPC;
			s->flags |= VU_ST_KICK << k;
			fds[n++] = rfd[k];
		}
	}
	*nfds = n;
	return 0;
}

unsigned vu_dev_fd_gen(const struct vu_dev *d)
{
	return d->fd_gen;
}

int vu_dev_used_idx(const struct vu_dev *d, int q, uint16_t *idx)
{
	const struct vq *vq;

	if (q < 0 || q >= VU_NUM_QUEUES || !vq_is_mapped(&d->ring[q].vq))
		return -EINVAL;
	vq = &d->ring[q].vq;
	*idx = le16toh(__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE));
	return 0;
}
