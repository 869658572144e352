/* SPDX-License-Identifier: MIT */
/*
 * vsock-journal.c - the connection journal (vsock-journal.h): an
 * open-addressing table in caller memory, linear probing, backward-shift
 * deletion (no tombstones), at most half full.
 */
#include "vsock-journal.h"

#include <errno.h>
#include <string.h>

#define VJR_FREE UINT32_MAX

size_t vjr_size(uint32_t max_conns)
{
	size_t slots = 2;

	while (slots < 2 * (size_t)max_conns)
		slots *= 2;
	return slots * sizeof(struct vjr_slot);
}

static bool vjr_free_slot(const struct vjr_slot *s)
{
	return s->lport == VJR_FREE && s->pport == VJR_FREE;
}

static uint32_t vjr_home(const struct vsk_journal *j, uint32_t lport, uint32_t pport)
{
	uint64_t k = ((uint64_t)lport << 32 | pport) * 0x9e3779b97f4a7c15ULL;

	return (uint32_t)(k >> 32) & j->mask;
}

int vjr_init(struct vsk_journal *j, void *mem, size_t size, bool clear)
{
	size_t slots = 2;

	if (size < 2 * sizeof(struct vjr_slot))
		return -EINVAL;
	while (slots * 2 * sizeof(struct vjr_slot) <= size && slots < (1u << 30))
		slots *= 2;
	j->slot = mem;
	j->mask = (uint32_t)slots - 1;
	j->n = 0;
	if (clear)
		memset(mem, 0xff, slots * sizeof(struct vjr_slot));
	for (size_t i = 0; i < slots; i++)
		if (!vjr_free_slot(&j->slot[i]))
			j->n++;
	return 0;
}

int vjr_add(struct vsk_journal *j, uint32_t lport, uint32_t pport)
{
	uint32_t i = vjr_home(j, lport, pport);

	if (lport == VJR_FREE && pport == VJR_FREE)
		return -EINVAL;
	for (uint32_t probes = 0; !vjr_free_slot(&j->slot[i]); probes++) {
		if (j->slot[i].lport == lport && j->slot[i].pport == pport)
			return 0;
		if (probes == j->mask)
			return -ENOSPC;
		i = (i + 1) & j->mask;
	}
	if (j->n >= (j->mask + 1) / 2)
		return -ENOSPC;
	j->slot[i] = (struct vjr_slot){ lport, pport };
	j->n++;
	return 0;
}

/* Empties slot i and shifts back the pairs after it that belong before. */
static void vjr_remove_at(struct vsk_journal *j, uint32_t i)
{
	uint32_t k = (i + 1) & j->mask;

	/* bounded: memory read back may have no free slot at all */
	for (uint32_t probes = 0; probes < j->mask && !vjr_free_slot(&j->slot[k]); probes++) {
		uint32_t h = vjr_home(j, j->slot[k].lport, j->slot[k].pport);

		/* k may move to i if its home is not in (i, k] (cyclically) */
		if (((k - h) & j->mask) >= ((k - i) & j->mask)) {
			j->slot[i] = j->slot[k];
			i = k;
		}
		k = (k + 1) & j->mask;
	}
	j->slot[i] = (struct vjr_slot){ VJR_FREE, VJR_FREE };
	j->n--;
}

void vjr_del(struct vsk_journal *j, uint32_t lport, uint32_t pport)
{
	uint32_t i = vjr_home(j, lport, pport);

	for (uint32_t probes = 0; probes <= j->mask && !vjr_free_slot(&j->slot[i]); probes++) {
		if (j->slot[i].lport == lport && j->slot[i].pport == pport) {
			vjr_remove_at(j, i);
			return;
		}
		i = (i + 1) & j->mask;
	}
}

bool vjr_pop(struct vsk_journal *j, uint32_t *lport, uint32_t *pport)
{
	for (uint32_t i = 0; i <= j->mask; i++) {
		if (vjr_free_slot(&j->slot[i]))
			continue;
		*lport = j->slot[i].lport;
		*pport = j->slot[i].pport;
		vjr_remove_at(j, i);
		return true;
	}
	return false;
}
