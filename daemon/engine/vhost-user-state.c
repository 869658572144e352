/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-state.c - vu_dev_import(): a device rebuilt from the state a
 * killed predecessor left (vhost-user-state.h), through vu_handle() as if
 * QEMU sent the requests again: features, memory table, then per ring
 * size, addresses, base (the guest's used index), call/err/kick fds and
 * enable.
 */
#include "vhost-user-state.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct vu_replay {
	struct vu_dev *d;
	struct vu_msg m, reply;
};

/* Sends one request of size bytes (payload already in r->m) with the fds
 * given (taken). */
static int vu_replay(struct vu_replay *r, uint32_t request, uint32_t size, const int *fds,
		     unsigned nfds)
{
	r->m.request = request;
	r->m.flags = VU_FLAG_VERSION;
	r->m.size = size;
	r->m.nfds = nfds;
	for (unsigned i = 0; i < nfds; i++)
		r->m.fds[i] = fds[i];
	return vu_handle(r->d, &r->m, &r->reply);
}

static int vu_replay_u64(struct vu_replay *r, uint32_t request, uint64_t v, int fd)
{
	v = htole64(v);
	memcpy(r->m.payload, &v, sizeof(v));
	return vu_replay(r, request, sizeof(v), &fd, fd >= 0 ? 1 : 0);
}

static int vu_replay_state(struct vu_replay *r, uint32_t request, uint32_t q, uint32_t num)
{
	uint32_t s[2] = { htole32(q), htole32(num) };

	memcpy(r->m.payload, s, sizeof(s));
	return vu_replay(r, request, sizeof(s), NULL, 0);
}

/* Size, addresses and base of ring q (base: the guest's used index). */
static int vu_import_ring(struct vu_replay *r, uint32_t q, const struct vu_state_ring *s)
{
	uint16_t base = 0;
	int ret = 0;

	if (s->num)
		ret = vu_replay_state(r, VU_SET_VRING_NUM, q, s->num);
	if (ret == 0 && (s->flags & VU_ST_ADDR)) {
		uint32_t w[2] = { htole32(q), 0 };
		uint64_t a[4] = { htole64(s->desc), htole64(s->used), htole64(s->avail), 0 };

		memcpy(r->m.payload, w, sizeof(w));
		memcpy(r->m.payload + sizeof(w), a, sizeof(a));
		ret = vu_replay(r, VU_SET_VRING_ADDR, sizeof(w) + sizeof(a), NULL, 0);
		if (ret == 0)
			ret = vu_dev_used_idx(r->d, (int)q, &base);
		if (ret == 0)
			ret = vu_replay_state(r, VU_SET_VRING_BASE, q, base);
	}
	return ret;
}

/* The fds of ring q, from fds[*at]: call, err, then kick (which starts
 * it), then enable. Each fd is taken even when a request fails. */
static int vu_import_fds(struct vu_replay *r, uint32_t q, const struct vu_state_ring *s, int *fds,
			 unsigned *at)
{
	static const uint32_t req[3] = { VU_SET_VRING_KICK, VU_SET_VRING_CALL, VU_SET_VRING_ERR };
	int fd[3] = { -1, -1, -1 }, ret = 0;

	for (int k = 0; k < 3; k++) {
		if (!(s->flags & (VU_ST_KICK << k)))
			continue;
		fd[k] = TAKE_FD(fds[*at]); /* TAKE_FD names its argument twice */
		(*at)++;
	}
	for (int k = 1; k <= 3; k++) { /* call, err, kick */
		int i = k % 3;

		if (fd[i] < 0)
			continue;
		if (ret == 0 && (i != 0 || (s->flags & VU_ST_STARTED)))
			ret = vu_replay_u64(r, req[i], q, TAKE_FD(fd[i]));
		fd[i] = safe_close(fd[i]);
	}
	if (ret == 0 && (s->flags & VU_ST_ENABLED))
		ret = vu_replay_state(r, VU_SET_VRING_ENABLE, q, 1);
	return ret;
}

/* The regions of st's memory table; -EINVAL when st is not a state. */
static int vu_state_regions(const struct vu_state *st)
{
	uint32_t regions = 0;

	if (st->magic != VU_STATE_MAGIC || st->version != VU_STATE_VERSION ||
	    st->mem_size > sizeof(st->mem) || (st->mem_size && st->mem_size < 8))
		return -EINVAL;
	if (st->mem_size) {
		memcpy(&regions, st->mem, sizeof(regions));
		regions = le32toh(regions);
		if (regions > GM_MAX_REGIONS)
			return -EINVAL;
	}
	return (int)regions;
}

/* How many fds come with st: its regions and the rings' fds. */
static unsigned vu_state_nfds(const struct vu_state *st, unsigned regions)
{
	unsigned n = regions;

	for (int q = 0; q < VU_NUM_QUEUES; q++)
		n += (unsigned)__builtin_popcount(st->ring[q].flags &
						  (VU_ST_KICK | VU_ST_CALL | VU_ST_ERR));
	return n;
}

static int vu_import_all(struct vu_replay *r, const struct vu_state *st, int *fds, unsigned regions)
{
	unsigned at = regions;
	int ret = 0;

	if (st->protocol_features)
		ret = vu_replay_u64(r, VU_SET_PROTOCOL_FEATURES, st->protocol_features, -1);
	if (ret == 0 && st->owner)
		ret = vu_replay(r, VU_SET_OWNER, 0, NULL, 0);
	if (ret == 0 && st->features)
		ret = vu_replay_u64(r, VU_SET_FEATURES, st->features, -1);
	if (ret == 0 && st->mem_size) {
		memcpy(r->m.payload, st->mem, st->mem_size);
		ret = vu_replay(r, VU_SET_MEM_TABLE, st->mem_size, fds, regions);
		for (unsigned i = 0; i < regions; i++)
			fds[i] = -1; /* vu_handle() took them */
	}
	for (uint32_t q = 0; ret == 0 && q < VU_NUM_QUEUES; q++)
		ret = vu_import_ring(r, q, &st->ring[q]);
	for (uint32_t q = 0; ret == 0 && q < VU_NUM_QUEUES; q++)
		ret = vu_import_fds(r, q, &st->ring[q], fds, &at);
	return ret;
}

int vu_dev_import(struct vu_dev *d, const struct vu_state *st, int *fds, unsigned nfds)
{
	struct vu_replay *r = calloc(1, sizeof(*r));
	int regions = vu_state_regions(st), ret;

	if (!r)
		ret = -ENOMEM;
	else if (regions < 0 || vu_state_nfds(st, (unsigned)regions) != nfds)
		ret = -EINVAL;
	else {
		r->d = d;
		ret = vu_import_all(r, st, fds, (unsigned)regions);
	}
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = safe_close(fds[i]);
	free(r);
	return ret;
}
