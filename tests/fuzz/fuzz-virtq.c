/* SPDX-License-Identifier: MIT */
/*
 * fuzz-virtq.c - a hostile guest: the input becomes guest memory holding
 * the descriptor table and the rings, and the device pops, copies and
 * pushes until the queue is empty or broken.
 *
 * Input: u8 log2(num) (low 3 bits), u8 features (bit 0 EVENT_IDX, bit 1
 * INDIRECT_DESC, bit 2 use unpop), le16 last_avail_idx, then the first
 * bytes of guest memory (descriptors at 0, avail at 16*num, used after it
 * at the next 4-byte boundary). Guest memory is two regions adjacent in
 * guest-physical space: [0, 64 KiB) and [64 KiB, 68 KiB).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guestmem.h"
#include "virtq.h"

#define MEM0 0x10000u
#define MEM1 0x1000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t mem0[MEM0] __attribute__((aligned(4096)));
static uint8_t mem1[MEM1] __attribute__((aligned(4096)));

static void fuzz_consume(struct vq *vq, bool unpop)
{
	static struct vq_elem e;
	static uint8_t buf[8192];
	unsigned limit = 2 * vq->num + 2;

	for (unsigned i = 0; i < limit; i++) {
		int r = vq_pop(vq, &e);
		size_t n;

		if (r <= 0)
			return;
		if (unpop && (i & 3) == 1) {
			vq_unpop(vq);
			if (vq_pop(vq, &e) != 1)
				abort(); /* the same chain must come back */
		}
		n = iov_to_buf(e.out, e.out_num, i % 7, buf, sizeof(buf));
		if (n > e.out_len)
			abort();
		n = iov_from_buf(e.in, e.in_num, i % 5, buf, n);
		vq_push(vq, &e, (uint32_t)n + (i & 1));
		(void)vq_should_notify(vq);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gm_table gm;
	struct vq vq;
	unsigned num, avail_off, used_off;
	uint16_t base;

	if (size < 4)
		return 0;
	num = 1u << (data[0] & 7);
	base = (uint16_t)(data[2] | data[3] << 8);
	memset(mem0, 0, sizeof(mem0));
	memset(mem1, 0, sizeof(mem1));
	memcpy(mem0, data + 4, size - 4 < MEM0 ? size - 4 : MEM0);

	gm_init(&gm);
	if (gm_add_ptr(&gm, 0, 0, MEM0, mem0) < 0 || gm_add_ptr(&gm, MEM0, MEM0, MEM1, mem1) < 0)
		abort();
	avail_off = 16 * num;
	used_off = (avail_off + (unsigned)VQ_AVAIL_SIZE(num) + 3) & ~3u;
	vq_init(&vq);
	vq_set_features(&vq, (data[1] & 1 ? 1ull << VQ_F_EVENT_IDX : 0) |
				     (data[1] & 2 ? 1ull << VQ_F_INDIRECT_DESC : 0));
	if (vq_map(&vq, &gm, num, 0, avail_off, used_off) < 0)
		abort();
	vq_set_base(&vq, base);
	vq_start(&vq);
	fuzz_consume(&vq, data[1] & 4);
	return 0;
}
