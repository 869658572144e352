/* SPDX-License-Identifier: MIT */
/*
 * test-virtq.c - split virtqueue against an in-memory "guest" that lays out
 * descriptor tables and rings the way Linux's virtio_ring driver does.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "guestmem.h"
#include "virtq.h"

#define MEM_SIZE (1u << 20)
#define GPA_BASE 0x100000ull	   /* guest-physical start of "RAM" */
#define UVA_BASE 0x7f0000000000ull /* where QEMU has it mapped */
#define DATA_OFF 0x40000u	   /* buffers start here */

struct guest {
	uint8_t *mem;
	struct gm_table gm;
	struct vq vq;
	unsigned num;
	struct vq_desc *desc;
	struct vq_avail *avail;
	struct vq_used *used;
	uint16_t avail_idx;
};

static uint64_t gpa(unsigned off)
{
	return GPA_BASE + off;
}

/* Rings at the offsets Linux would use for a vring_create_virtqueue_split
 * allocation: descriptors, avail right after, used at the next 4 KiB. */
static void guest_setup(struct guest *g, unsigned num, uint64_t features)
{
	unsigned avail_off = 16 * num;
	unsigned used_off = (avail_off + 6 + 2 * num + 4095) & ~4095u;

	memset(g, 0, sizeof(*g));
	g->mem = aligned_alloc(4096, MEM_SIZE);
	assert_non_null(g->mem);
	memset(g->mem, 0, MEM_SIZE);
	g->num = num;
	g->desc = (struct vq_desc *)g->mem;
	g->avail = (struct vq_avail *)(g->mem + avail_off);
	g->used = (struct vq_used *)(g->mem + used_off);
	gm_init(&g->gm);
	assert_int_equal(gm_add_ptr(&g->gm, GPA_BASE, UVA_BASE, MEM_SIZE, g->mem), 0);
	vq_init(&g->vq);
	vq_set_features(&g->vq, features);
	assert_int_equal(
		vq_map(&g->vq, &g->gm, num, UVA_BASE, UVA_BASE + avail_off, UVA_BASE + used_off),
		0);
	vq_start(&g->vq);
}

static void guest_free(struct guest *g)
{
	free(g->mem);
	g->mem = NULL;
}

static void set_desc(struct vq_desc *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	d->addr = htole64(addr);
	d->len = htole32(len);
	d->flags = htole16(flags);
	d->next = htole16(next);
}

static void publish(struct guest *g, uint16_t head)
{
	g->avail->ring[g->avail_idx % g->num] = htole16(head);
	g->avail_idx++;
	__atomic_store_n(&g->avail->idx, htole16(g->avail_idx), __ATOMIC_RELEASE);
}

static uint16_t used_idx(const struct guest *g)
{
	return le16toh(g->used->idx);
}

static uint16_t *used_event(struct guest *g)
{
	return &g->avail->ring[g->num];
}

static uint16_t avail_event(struct guest *g)
{
	return le16toh(*(uint16_t *)&g->used->ring[g->num]);
}

static const uint64_t ALL_FEATURES = (1ull << VQ_F_EVENT_IDX) | (1ull << VQ_F_INDIRECT_DESC);

static void test_pop_on_empty_queue_returns_zero(void **state)
{
	struct guest g;
	struct vq_elem e;

	guest_setup(&g, 128, 0);
	assert_int_equal(vq_pop(&g.vq, &e), 0);
	assert_int_equal(vq_peek(&g.vq), 0);
	guest_free(&g);
}

static void test_pop_tx_header_and_payload_chain_is_readable(void **state)
{
	struct guest g;
	struct vq_elem e;
	uint8_t buf[144];

	guest_setup(&g, 128, 0);
	memset(g.mem + DATA_OFF, 'h', 44);
	memset(g.mem + DATA_OFF + 0x1000, 'p', 100);
	set_desc(&g.desc[0], gpa(DATA_OFF), 44, VQ_DESC_F_NEXT, 1);
	set_desc(&g.desc[1], gpa(DATA_OFF + 0x1000), 100, 0, 0);
	publish(&g, 0);
	assert_int_equal(vq_pop(&g.vq, &e), 1);
	assert_int_equal(e.head, 0);
	assert_int_equal(e.out_num, 2);
	assert_int_equal(e.in_num, 0);
	assert_int_equal(e.out_len, 144);
	assert_int_equal(iov_to_buf(e.out, e.out_num, 0, buf, sizeof(buf)), 144);
	assert_int_equal(buf[43], 'h');
	assert_int_equal(buf[44], 'p');
	assert_int_equal(vq_pop(&g.vq, &e), 0);
	vq_push(&g.vq, &e, 0);
	assert_int_equal(used_idx(&g), 1);
	assert_int_equal(le32toh(g.used->ring[0].id), 0);
	assert_int_equal(le32toh(g.used->ring[0].len), 0);
	guest_free(&g);
}

static void test_pop_rx_single_buffer_and_push_reports_length(void **state)
{
	struct guest g;
	struct vq_elem e;
	const char msg[] = "hello";

	guest_setup(&g, 128, 0);
	set_desc(&g.desc[5], gpa(DATA_OFF), 3776, VQ_DESC_F_WRITE, 0);
	publish(&g, 5);
	assert_int_equal(vq_pop(&g.vq, &e), 1);
	assert_int_equal(e.head, 5);
	assert_int_equal(e.out_num, 0);
	assert_int_equal(e.in_num, 1);
	assert_int_equal(e.in_len, 3776);
	assert_int_equal(iov_from_buf(e.in, e.in_num, 44, msg, 5), 5);
	assert_memory_equal(g.mem + DATA_OFF + 44, msg, 5);
	vq_push(&g.vq, &e, 49);
	assert_int_equal(le32toh(g.used->ring[0].id), 5);
	assert_int_equal(le32toh(g.used->ring[0].len), 49);
	guest_free(&g);
}

static void test_pop_rx_header_and_payload_split_is_writable(void **state)
{
	struct guest g;
	struct vq_elem e;
	uint8_t pkt[100];

	guest_setup(&g, 128, 0);
	set_desc(&g.desc[0], gpa(DATA_OFF), 44, VQ_DESC_F_WRITE | VQ_DESC_F_NEXT, 1);
	set_desc(&g.desc[1], gpa(DATA_OFF + 0x1000), 4096, VQ_DESC_F_WRITE, 0);
	publish(&g, 0);
	assert_int_equal(vq_pop(&g.vq, &e), 1);
	assert_int_equal(e.in_num, 2);
	assert_int_equal(e.in_len, 44 + 4096);
	memset(pkt, 7, sizeof(pkt));
	/* A packet written across the header/payload boundary. */
	assert_int_equal(iov_from_buf(e.in, e.in_num, 0, pkt, sizeof(pkt)), 100);
	assert_int_equal(g.mem[DATA_OFF + 43], 7);
	assert_int_equal(g.mem[DATA_OFF + 0x1000 + 55], 7);
	assert_int_equal(g.mem[DATA_OFF + 0x1000 + 56], 0);
	vq_push(&g.vq, &e, 1u << 30); /* clamped to what the chain holds */
	assert_int_equal(le32toh(g.used->ring[0].len), 44 + 4096);
	guest_free(&g);
}

static void test_pop_indirect_chain_walks_the_table(void **state)
{
	struct guest g;
	struct vq_elem e;
	struct vq_desc *tbl;

	guest_setup(&g, 128, ALL_FEATURES);
	tbl = (struct vq_desc *)(g.mem + DATA_OFF + 0x8000 + 8); /* unaligned-ish */
	set_desc(&tbl[0], gpa(DATA_OFF), 44, VQ_DESC_F_NEXT, 1);
	set_desc(&tbl[1], gpa(DATA_OFF + 0x1000), 200, VQ_DESC_F_NEXT, 2);
	set_desc(&tbl[2], gpa(DATA_OFF + 0x2000), 16, VQ_DESC_F_WRITE, 0);
	set_desc(&g.desc[3], gpa(DATA_OFF + 0x8000 + 8), 3 * 16, VQ_DESC_F_INDIRECT, 0);
	publish(&g, 3);
	assert_int_equal(vq_pop(&g.vq, &e), 1);
	assert_int_equal(e.head, 3);
	assert_int_equal(e.out_num, 2);
	assert_int_equal(e.out_len, 244);
	assert_int_equal(e.in_num, 1);
	assert_int_equal(e.in_len, 16);
	guest_free(&g);
}

static void test_pop_direct_then_indirect_descriptor_is_accepted(void **state)
{
	struct guest g;
	struct vq_elem e;
	struct vq_desc *tbl = NULL;

	guest_setup(&g, 128, ALL_FEATURES);
	tbl = (struct vq_desc *)(g.mem + DATA_OFF + 0x8000);
	set_desc(&tbl[0], gpa(DATA_OFF + 0x1000), 64, VQ_DESC_F_WRITE, 0);
	set_desc(&g.desc[0], gpa(DATA_OFF), 44, VQ_DESC_F_NEXT, 1);
	set_desc(&g.desc[1], gpa(DATA_OFF + 0x8000), 16, VQ_DESC_F_INDIRECT, 0);
	publish(&g, 0);
	assert_int_equal(vq_pop(&g.vq, &e), 1);
	assert_int_equal(e.out_len, 44);
	assert_int_equal(e.in_len, 64);
	guest_free(&g);
}

static void test_avail_and_used_idx_wrap_at_65535(void **state)
{
	struct guest g;
	struct vq_elem e;

	guest_setup(&g, 4, 0);
	g.avail_idx = 65534;
	g.avail->idx = htole16(65534);
	g.used->idx = htole16(65534);
	vq_set_base(&g.vq, 65534);
	vq_start(&g.vq);
	for (uint16_t i = 0; i < 4; i++) {
		set_desc(&g.desc[i], gpa(DATA_OFF + i * 64u), 64, VQ_DESC_F_WRITE, 0);
		publish(&g, i);
	}
	assert_int_equal(le16toh(g.avail->idx), 2);
	for (uint16_t i = 0; i < 4; i++) {
		assert_int_equal(vq_pop(&g.vq, &e), 1);
		assert_int_equal(e.head, i);
		vq_push(&g.vq, &e, i);
	}
	assert_int_equal(vq_pop(&g.vq, &e), 0);
	assert_int_equal(vq_get_base(&g.vq), 2);
	assert_int_equal(used_idx(&g), 2);
	/* Entry for used idx 65534 sits at 65534 % 4 == 2. */
	assert_int_equal(le32toh(g.used->ring[2].id), 0);
	assert_int_equal(le32toh(g.used->ring[1].id), 3);
	assert_int_equal(le32toh(g.used->ring[1].len), 3);
	guest_free(&g);
}

/* Pushes one writable buffer through the queue. */
static void cycle_one(struct guest *g)
{
	struct vq_elem e;

	set_desc(&g->desc[0], gpa(DATA_OFF), 64, VQ_DESC_F_WRITE, 0);
	publish(g, 0);
	assert_int_equal(vq_pop(&g->vq, &e), 1);
	vq_push(&g->vq, &e, 10);
}

static void test_event_idx_notifies_only_when_used_event_is_crossed(void **state)
{
	struct guest g;

	guest_setup(&g, 128, ALL_FEATURES);
	*used_event(&g) = htole16(0);
	cycle_one(&g); /* used idx 0 -> 1 crosses used_event 0 */
	assert_true(vq_should_notify(&g.vq));
	cycle_one(&g); /* 1 -> 2: used_event 0 already signalled */
	assert_false(vq_should_notify(&g.vq));
	*used_event(&g) = htole16(5);
	cycle_one(&g); /* 2 -> 3 */
	assert_false(vq_should_notify(&g.vq));
	cycle_one(&g);
	cycle_one(&g);
	cycle_one(&g); /* 3 -> 6 in one batch crosses 5 */
	assert_true(vq_should_notify(&g.vq));
	assert_false(vq_should_notify(&g.vq)); /* nothing new */
	guest_free(&g);
}

static void test_no_interrupt_flag_suppresses_notify_without_event_idx(void **state)
{
	struct guest g;

	guest_setup(&g, 128, 0);
	cycle_one(&g);
	assert_true(vq_should_notify(&g.vq));
	g.avail->flags = htole16(VQ_AVAIL_F_NO_INTERRUPT);
	cycle_one(&g);
	assert_false(vq_should_notify(&g.vq));
	guest_free(&g);
}

static void test_empty_pop_with_event_idx_asks_for_kick(void **state)
{
	struct guest g;
	struct vq_elem e;

	guest_setup(&g, 128, ALL_FEATURES);
	cycle_one(&g);
	cycle_one(&g);
	assert_int_equal(vq_pop(&g.vq, &e), 0);
	assert_int_equal(avail_event(&g), 2);
	guest_free(&g);
}

static void test_unpop_returns_the_element_to_the_ring(void **state)
{
	struct guest g;
	struct vq_elem e;

	guest_setup(&g, 128, 0);
	set_desc(&g.desc[9], gpa(DATA_OFF), 64, VQ_DESC_F_WRITE, 0);
	publish(&g, 9);
	assert_int_equal(vq_pop(&g.vq, &e), 1);
	vq_unpop(&g.vq);
	assert_int_equal(vq_get_base(&g.vq), 0);
	assert_int_equal(vq_pop(&g.vq, &e), 1);
	assert_int_equal(e.head, 9);
	guest_free(&g);
}

static void test_chain_of_num_descriptors_is_accepted(void **state)
{
	struct guest g;
	struct vq_elem e;

	guest_setup(&g, 8, 0);
	for (uint16_t i = 0; i < 8; i++)
		set_desc(&g.desc[i], gpa(DATA_OFF), 1, i < 7 ? VQ_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	publish(&g, 0);
	assert_int_equal(vq_pop(&g.vq, &e), 1);
	assert_int_equal(e.out_num, 8);
	guest_free(&g);
}

/* Publishes head 0 and checks that pop fails with err and then stays
 * broken. */
static void expect_broken(struct guest *g, int err)
{
	struct vq_elem e;

	publish(g, 0);
	assert_int_equal(vq_pop(&g->vq, &e), err);
	assert_true(g->vq.broken);
	assert_int_equal(vq_pop(&g->vq, &e), -EIO);
	vq_push(&g->vq, &e, 0); /* ignored */
	assert_int_equal(used_idx(g), 0);
	guest_free(g);
}

static void test_descriptor_loop_is_rejected(void **state)
{
	struct guest g;

	guest_setup(&g, 8, 0);
	set_desc(&g.desc[0], gpa(DATA_OFF), 1, VQ_DESC_F_NEXT, 1);
	set_desc(&g.desc[1], gpa(DATA_OFF), 1, VQ_DESC_F_NEXT, 0);
	expect_broken(&g, -ELOOP);
}

static void test_loop_of_empty_descriptors_is_rejected(void **state)
{
	struct guest g;

	/* Zero-length buffers fill no iovec: only the walk bound stops it. */
	guest_setup(&g, VQ_MAX_SIZE, 0);
	set_desc(&g.desc[0], 0, 0, VQ_DESC_F_NEXT, 1);
	set_desc(&g.desc[1], 0, 0, VQ_DESC_F_NEXT, 0);
	expect_broken(&g, -ELOOP);
}

static void test_next_out_of_range_is_rejected(void **state)
{
	struct guest g;

	guest_setup(&g, 128, 0);
	set_desc(&g.desc[0], gpa(DATA_OFF), 1, VQ_DESC_F_NEXT, 128);
	expect_broken(&g, -EPROTO);
}

static void test_head_out_of_range_is_rejected(void **state)
{
	struct guest g;
	struct vq_elem e;

	guest_setup(&g, 128, 0);
	publish(&g, 128);
	assert_int_equal(vq_pop(&g.vq, &e), -EPROTO);
	guest_free(&g);
}

static void test_address_outside_guest_memory_is_rejected(void **state)
{
	struct guest g;

	guest_setup(&g, 128, 0);
	set_desc(&g.desc[0], gpa(MEM_SIZE - 10), 11, 0, 0);
	expect_broken(&g, -EFAULT);
}

static void test_wrapping_address_plus_length_is_rejected(void **state)
{
	struct guest g;

	guest_setup(&g, 128, 0);
	set_desc(&g.desc[0], UINT64_MAX - 15, 0x100, 0, 0);
	expect_broken(&g, -EFAULT);
}

static void test_chain_longer_than_4g_is_rejected(void **state)
{
	struct guest g;

	guest_setup(&g, 128, 0);
	/* A claimed 8 GiB region that is never touched. */
	assert_int_equal(gm_add_ptr(&g.gm, 1ull << 32, 1ull << 40, 1ull << 33, g.mem), 0);
	set_desc(&g.desc[0], 1ull << 32, 0xffffffffu, VQ_DESC_F_NEXT, 1);
	set_desc(&g.desc[1], 1ull << 32, 2, 0, 0);
	expect_broken(&g, -EMSGSIZE);
}

static void test_avail_idx_jump_beyond_num_is_rejected(void **state)
{
	struct guest g;
	struct vq_elem e;

	guest_setup(&g, 128, 0);
	g.avail->idx = htole16(129);
	assert_int_equal(vq_pop(&g.vq, &e), -EPROTO);
	assert_int_equal(vq_pop(&g.vq, &e), -EIO);
	guest_free(&g);
}

static void test_readable_after_writable_is_rejected(void **state)
{
	struct guest g;

	guest_setup(&g, 128, 0);
	set_desc(&g.desc[0], gpa(DATA_OFF), 8, VQ_DESC_F_WRITE | VQ_DESC_F_NEXT, 1);
	set_desc(&g.desc[1], gpa(DATA_OFF), 8, 0, 0);
	expect_broken(&g, -EPROTO);
}

static void test_too_many_iovecs_is_rejected(void **state)
{
	struct guest g;

	guest_setup(&g, 128, 0);
	for (uint16_t i = 0; i <= VQ_MAX_OUT; i++)
		set_desc(&g.desc[i], gpa(DATA_OFF), 1, i < VQ_MAX_OUT ? VQ_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	expect_broken(&g, -E2BIG);
}

static void test_nested_indirect_is_rejected(void **state)
{
	struct guest g;
	struct vq_desc *tbl;

	guest_setup(&g, 128, ALL_FEATURES);
	tbl = (struct vq_desc *)(g.mem + DATA_OFF);
	set_desc(&tbl[0], gpa(DATA_OFF), 16, VQ_DESC_F_INDIRECT, 0);
	set_desc(&g.desc[0], gpa(DATA_OFF), 16, VQ_DESC_F_INDIRECT, 0);
	expect_broken(&g, -EPROTO);
}

static void test_zero_length_indirect_is_rejected(void **state)
{
	struct guest g;

	guest_setup(&g, 128, ALL_FEATURES);
	set_desc(&g.desc[0], gpa(DATA_OFF), 0, VQ_DESC_F_INDIRECT, 0);
	expect_broken(&g, -EPROTO);
}

static void test_indirect_len_not_multiple_of_16_is_rejected(void **state)
{
	struct guest g;

	guest_setup(&g, 128, ALL_FEATURES);
	set_desc(&g.desc[0], gpa(DATA_OFF), 24, VQ_DESC_F_INDIRECT, 0);
	expect_broken(&g, -EPROTO);
}

static void test_indirect_with_next_flag_is_rejected(void **state)
{
	struct guest g;

	guest_setup(&g, 128, ALL_FEATURES);
	set_desc(&g.desc[0], gpa(DATA_OFF), 16, VQ_DESC_F_INDIRECT | VQ_DESC_F_NEXT, 1);
	expect_broken(&g, -EPROTO);
}

static void test_indirect_next_beyond_table_is_rejected(void **state)
{
	struct guest g;
	struct vq_desc *tbl;

	guest_setup(&g, 128, ALL_FEATURES);
	tbl = (struct vq_desc *)(g.mem + DATA_OFF);
	set_desc(&tbl[0], gpa(DATA_OFF + 0x1000), 16, VQ_DESC_F_NEXT, 2);
	set_desc(&tbl[1], gpa(DATA_OFF + 0x1000), 16, 0, 0);
	set_desc(&g.desc[0], gpa(DATA_OFF), 32, VQ_DESC_F_INDIRECT, 0);
	expect_broken(&g, -EPROTO);
}

static void test_indirect_table_outside_memory_is_rejected(void **state)
{
	struct guest g;

	guest_setup(&g, 128, ALL_FEATURES);
	set_desc(&g.desc[0], gpa(MEM_SIZE - 16), 32, VQ_DESC_F_INDIRECT, 0);
	expect_broken(&g, -EFAULT);
}

static void test_indirect_without_feature_is_rejected(void **state)
{
	struct guest g;

	guest_setup(&g, 128, 0);
	set_desc(&g.desc[0], gpa(DATA_OFF), 16, VQ_DESC_F_INDIRECT, 0);
	expect_broken(&g, -EPROTO);
}

static void test_indirect_table_longer_than_num_is_rejected(void **state)
{
	struct guest g;

	guest_setup(&g, 8, ALL_FEATURES);
	set_desc(&g.desc[0], gpa(DATA_OFF), 9 * 16, VQ_DESC_F_INDIRECT, 0);
	expect_broken(&g, -ELOOP);
}

static void test_map_rejects_bad_sizes_and_addresses(void **state)
{
	struct guest g;
	struct vq vq;

	guest_setup(&g, 128, 0);
	vq_init(&vq);
	assert_int_equal(vq_map(&vq, &g.gm, 0, UVA_BASE, UVA_BASE, UVA_BASE), -EINVAL);
	assert_int_equal(vq_map(&vq, &g.gm, 100, UVA_BASE, UVA_BASE, UVA_BASE), -EINVAL);
	assert_int_equal(vq_map(&vq, &g.gm, 65536, UVA_BASE, UVA_BASE, UVA_BASE), -EINVAL);
	/* Used ring runs past the end of memory. */
	assert_int_equal(vq_map(&vq, &g.gm, 128, UVA_BASE, UVA_BASE, UVA_BASE + MEM_SIZE - 8),
			 -EFAULT);
	/* gpa is not a uva */
	assert_int_equal(vq_map(&vq, &g.gm, 128, GPA_BASE, UVA_BASE, UVA_BASE), -EFAULT);
	assert_int_equal(vq_map(&vq, &g.gm, 128, UVA_BASE + 8, UVA_BASE, UVA_BASE), -EINVAL);
	assert_int_equal(vq_map(&vq, &g.gm, 128, UVA_BASE, UVA_BASE + 1, UVA_BASE), -EINVAL);
	assert_false(vq_is_mapped(&vq));
	assert_int_equal(vq_pop(&vq, &(struct vq_elem){ 0 }), -ENODEV);
	guest_free(&g);
}

static void test_buffer_spanning_adjacent_regions_gives_two_iovecs(void **state)
{
	struct gm_table gm;
	static uint8_t a[4096], b[4096];
	struct iovec iov[4];

	gm_init(&gm);
	assert_int_equal(gm_add_ptr(&gm, 0x1000, 0x10000, sizeof(a), a), 0);
	assert_int_equal(gm_add_ptr(&gm, 0x2000, 0x90000, sizeof(b), b), 0);
	assert_int_equal(gm_gpa_to_iov(&gm, 0x1ff0, 0x20, iov, 4), 2);
	assert_ptr_equal(iov[0].iov_base, a + 4080);
	assert_int_equal(iov[0].iov_len, 16);
	assert_ptr_equal(iov[1].iov_base, b);
	assert_int_equal(iov[1].iov_len, 16);
	assert_int_equal(gm_gpa_to_iov(&gm, 0x1ff0, 0x20, iov, 1), -E2BIG);
	assert_int_equal(gm_gpa_to_iov(&gm, 0x2ff0, 0x20, iov, 4), -EFAULT);
	assert_null(gm_gpa_to_host(&gm, 0x1ff0, 0x20));
	assert_ptr_equal(gm_uva_to_host(&gm, 0x90010, 16), b + 16);
	assert_null(gm_uva_to_host(&gm, 0x10ff0, 0x20));
	assert_int_equal(gm_add_ptr(&gm, UINT64_MAX - 10, 0, 100, a), -EINVAL);
	assert_int_equal(gm_add_ptr(&gm, 0, 0, 0, a), -EINVAL);
}

static void test_iov_copy_helpers_honour_offset(void **state)
{
	char a[4] = "abcd", b[3] = "efg", out[8] = { 0 };
	struct iovec iov[2] = { { a, 4 }, { b, 3 } };

	assert_int_equal(iov_size(iov, 2), 7);
	assert_int_equal(iov_to_buf(iov, 2, 3, out, sizeof(out)), 4);
	assert_memory_equal(out, "defg", 4);
	assert_int_equal(iov_to_buf(iov, 2, 9, out, sizeof(out)), 0);
	assert_int_equal(iov_from_buf(iov, 2, 2, "XYZ", 3), 3);
	assert_memory_equal(a, "abXY", 4);
	assert_memory_equal(b, "Zfg", 3);
}

static void test_overlapping_regions_are_refused(void **state)
{
	static uint8_t a[8192], b[8192];
	struct gm_table t;

	gm_init(&t);
	assert_int_equal(gm_add_ptr(&t, 0x10000, 0x1000000, 8192, a), 0);
	assert_int_equal(gm_add_ptr(&t, 0x11000, 0x2000000, 8192, b), -EINVAL);
	assert_int_equal(gm_add_ptr(&t, 0xf000, 0x2000000, 8192, b), -EINVAL);
	assert_int_equal(gm_add_ptr(&t, 0x12000, 0x2000000, 8192, b), 0); /* adjacent */
	assert_int_equal(t.n, 2);
	gm_clear(&t);
}

/* A memfd the frontend shrinks after SET_MEM_TABLE: with the guard, the
 * access to the lost pages reads zeros instead of killing the process, and
 * the queue turns broken at once. */
static void test_memory_that_shrinks_breaks_the_queue_without_sigbus(void **state)
{
	const unsigned num = 8, size = 1u << 20;
	int fd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	struct gm_table t;
	struct vq vq;
	struct vq_elem e;
	uint8_t *m;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(gm_guard_install(), 0);
	gm_init(&t);
	assert_int_equal(gm_add_fd(&t, 0, UVA_BASE, size, 0, fd), 0);
	assert_true(t.r[0].can_shrink);
	vq_init(&vq);
	/* the rings in the first page, one published chain at 512 KiB */
	assert_int_equal(vq_map(&vq, &t, num, UVA_BASE, UVA_BASE + 0x400, UVA_BASE + 0x800), 0);
	vq_start(&vq);
	set_desc((struct vq_desc *)m, 0x80000, 64, 0, 0);
	((struct vq_avail *)(m + 0x400))->ring[0] = 0;
	((struct vq_avail *)(m + 0x400))->idx = htole16(1);
	assert_int_equal(vq_pop(&vq, &e), 1);
	vq_push(&vq, &e, 0);
	/* the buffer's page goes away, then a read of it: zeros, no SIGBUS */
	assert_int_equal(ftruncate(fd, 0x1000), 0);
	assert_false(gm_faulted(&t));
	assert_int_equal(((volatile uint8_t *)e.out[0].iov_base)[0], 0);
	assert_true(gm_faulted(&t));
	assert_int_equal(vq_pop(&vq, &e), -EFAULT);
	assert_int_equal(vq_pop(&vq, &e), -EIO);
	/* rings gone too: still no signal */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(((volatile uint16_t *)vq.avail)[1], 0);
	gm_clear(&t);
	munmap(m, size);
	close(fd);
	/* a sealed memfd cannot shrink */
	fd = memfd_create("sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_int_equal(ftruncate(fd, size), 0);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	gm_init(&t);
	assert_int_equal(gm_add_fd(&t, 0, UVA_BASE, size, 0, fd), 0);
	assert_false(t.r[0].can_shrink);
	assert_int_equal(ftruncate(fd, 0), -1);
	gm_clear(&t);
	close(fd);
}

/* Memory lost under one device does not break another: after the fault,
 * a queue over other memory pops on (its table is looked at once), and a
 * queue mapped later over the lost memory is broken at its first pop. */
static void test_lost_memory_breaks_only_the_queues_over_it(void **state)
{
	const unsigned num = 8, size = 1u << 20;
	int fd = memfd_create("lost", MFD_CLOEXEC), fd2 = memfd_create("kept", MFD_CLOEXEC);
	struct gm_table lost, kept;
	struct vq vq, vq2;
	struct vq_elem e;
	uint8_t *m, *m2;

	assert_true(fd >= 0 && fd2 >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	assert_int_equal(ftruncate(fd2, size), 0);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	m2 = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	assert_true(m != MAP_FAILED && m2 != MAP_FAILED);
	assert_int_equal(gm_guard_install(), 0);
	gm_init(&lost);
	gm_init(&kept);
	assert_int_equal(gm_add_fd(&lost, 0, UVA_BASE, size, 0, fd), 0);
	assert_int_equal(gm_add_fd(&kept, 0, UVA_BASE, size, 0, fd2), 0);
	vq_init(&vq2);
	assert_int_equal(vq_map(&vq2, &kept, num, UVA_BASE, UVA_BASE + 0x400, UVA_BASE + 0x800), 0);
	vq_start(&vq2);
	set_desc((struct vq_desc *)m2, 0x80000, 64, 0, 0);
	set_desc((struct vq_desc *)m2 + 1, 0x80000, 64, 0, 0);
	((struct vq_avail *)(m2 + 0x400))->ring[0] = 0;
	((struct vq_avail *)(m2 + 0x400))->ring[1] = htole16(1);
	((struct vq_avail *)(m2 + 0x400))->idx = htole16(1);
	assert_int_equal(vq_pop(&vq2, &e), 1);
	vq_push(&vq2, &e, 0);
	/* the other table loses its memory */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(((volatile uint8_t *)lost.r[0].host)[0x80000], 0);
	assert_true(gm_faulted(&lost));
	assert_false(gm_faulted(&kept));
	((struct vq_avail *)(m2 + 0x400))->idx = htole16(2);
	assert_int_equal(vq_pop(&vq2, &e), 1);
	vq_push(&vq2, &e, 0);
	assert_int_equal(vq_pop(&vq2, &e), 0);
	/* a queue mapped after the fault over the lost memory */
	vq_init(&vq);
	assert_int_equal(vq_map(&vq, &lost, num, UVA_BASE, UVA_BASE + 0x400, UVA_BASE + 0x800), 0);
	vq_start(&vq);
	assert_int_equal(vq_pop(&vq, &e), -EFAULT);
	gm_clear(&lost);
	gm_clear(&kept);
	munmap(m, size);
	munmap(m2, size);
	close(fd);
	close(fd2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pop_on_empty_queue_returns_zero),
		cmocka_unit_test(test_pop_tx_header_and_payload_chain_is_readable),
		cmocka_unit_test(test_pop_rx_single_buffer_and_push_reports_length),
		cmocka_unit_test(test_pop_rx_header_and_payload_split_is_writable),
		cmocka_unit_test(test_pop_indirect_chain_walks_the_table),
		cmocka_unit_test(test_pop_direct_then_indirect_descriptor_is_accepted),
		cmocka_unit_test(test_avail_and_used_idx_wrap_at_65535),
		cmocka_unit_test(test_event_idx_notifies_only_when_used_event_is_crossed),
		cmocka_unit_test(test_no_interrupt_flag_suppresses_notify_without_event_idx),
		cmocka_unit_test(test_empty_pop_with_event_idx_asks_for_kick),
		cmocka_unit_test(test_unpop_returns_the_element_to_the_ring),
		cmocka_unit_test(test_chain_of_num_descriptors_is_accepted),
		cmocka_unit_test(test_descriptor_loop_is_rejected),
		cmocka_unit_test(test_loop_of_empty_descriptors_is_rejected),
		cmocka_unit_test(test_next_out_of_range_is_rejected),
		cmocka_unit_test(test_head_out_of_range_is_rejected),
		cmocka_unit_test(test_address_outside_guest_memory_is_rejected),
		cmocka_unit_test(test_wrapping_address_plus_length_is_rejected),
		cmocka_unit_test(test_chain_longer_than_4g_is_rejected),
		cmocka_unit_test(test_avail_idx_jump_beyond_num_is_rejected),
		cmocka_unit_test(test_readable_after_writable_is_rejected),
		cmocka_unit_test(test_too_many_iovecs_is_rejected),
		cmocka_unit_test(test_nested_indirect_is_rejected),
		cmocka_unit_test(test_zero_length_indirect_is_rejected),
		cmocka_unit_test(test_indirect_len_not_multiple_of_16_is_rejected),
		cmocka_unit_test(test_indirect_with_next_flag_is_rejected),
		cmocka_unit_test(test_indirect_next_beyond_table_is_rejected),
		cmocka_unit_test(test_indirect_table_outside_memory_is_rejected),
		cmocka_unit_test(test_indirect_without_feature_is_rejected),
		cmocka_unit_test(test_indirect_table_longer_than_num_is_rejected),
		cmocka_unit_test(test_map_rejects_bad_sizes_and_addresses),
		cmocka_unit_test(test_buffer_spanning_adjacent_regions_gives_two_iovecs),
		cmocka_unit_test(test_iov_copy_helpers_honour_offset),
		cmocka_unit_test(test_overlapping_regions_are_refused),
		cmocka_unit_test(test_memory_that_shrinks_breaks_the_queue_without_sigbus),
		cmocka_unit_test(test_lost_memory_breaks_only_the_queues_over_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
