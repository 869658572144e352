/* SPDX-License-Identifier: MIT */
/*
 * test-vsock-data.c - the vsock engine's data path: exact bytes both ways
 * over several rx buffer layouts, credit both ways, partial host writes,
 * staging, fairness, level-triggered readiness, a real socketpair.
 * Harness: test-vsock-env.c.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "vsock.h"

#include "test-vsock-env.h"

static void guest_data_reaches_host_exactly_from_scattered_payload(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);
	struct vsk_hdr h = { .src_cid = GCID,
			     .dst_cid = 2,
			     .src_port = 1000,
			     .dst_port = 80,
			     .type = 1,
			     .op = VSK_OP_RW,
			     .len = 3000,
			     .buf_alloc = 256 * KB };
	unsigned char b[VSK_HDR_SIZE + 3000];
	struct iovec v[3] = { { b, 30 }, { b + 30, 1000 }, { b + 1030, 2014 } };

	/* a whole chain: header split over two iovecs, payload over three */
	vsk_hdr_encode(&h, b);
	memcpy(b + VSK_HDR_SIZE, pattern, 3000);
	assert_int_equal(vsk_dev_guest_tx_iov(e->d, v, 3), 0);
	assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 0, pattern + 3000, 5000), 0);
	assert_int_equal(f->out_len, 8000);
	assert_memory_equal(f->out, pattern, 8000);
	/* fwd_cnt rides on the next packet we send */
	assert_int_equal(G(e, CREDIT_REQUEST, 1000, 80), 0);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_CREDIT_UPDATE);
	assert_int_equal(last(e)->h.fwd_cnt, 8000);
}

static void host_data_reaches_guest_exactly(void **state, enum layout l, size_t max_payload)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);
	static unsigned char got[sizeof(pattern)];
	size_t from = e->npk;

	f->in = pattern;
	f->in_len = 200 * KB;
	run(e, l);
	for (size_t i = from; i < e->npk; i++) {
		assert_int_equal(e->pk[i].h.op, VSK_OP_RW);
		assert_true(e->pk[i].h.len <= max_payload);
		assert_int_equal(e->pk[i].h.buf_alloc, 256 * KB);
	}
	assert_int_equal(rw_data(e, 80, 1000, got, sizeof(got)), 200 * KB);
	assert_memory_equal(got, pattern, 200 * KB);
	/* the end of the host stream follows the data as SHUTDOWN(SEND) */
	f->in_eof = true;
	run(e, l);
	assert_int_equal(last(e)->h.op, VSK_OP_SHUTDOWN);
	assert_int_equal(last(e)->h.flags, VSK_SHUTDOWN_SEND);
	assert_false(f->closed);
}

static void host_data_fills_single_3776_byte_buffers(void **state)
{
	host_data_reaches_guest_exactly(state, L_3776, 3776 - VSK_HDR_SIZE);
}

static void host_data_fills_header_and_payload_descriptors(void **state)
{
	host_data_reaches_guest_exactly(state, L_SPLIT, 4096);
}

static void host_data_fills_64k_buffers_directly(void **state)
{
	host_data_reaches_guest_exactly(state, L_64K, 64 * KB);
}

static void host_data_fills_odd_layouts(void **state)
{
	host_data_reaches_guest_exactly(state, L_ODD, 1060 - VSK_HDR_SIZE);
}

static void guest_credit_is_never_exceeded_and_resumes_on_update(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 10000);
	static unsigned char got[sizeof(pattern)];
	uint32_t fwd = 0;
	size_t from;

	f->in = pattern;
	f->in_len = 50000;
	for (int round = 0; round < 5; round++) {
		from = e->npk;
		run(e, L_3776);
		/* exactly the credit, then one CREDIT_REQUEST and no read interest */
		assert_int_equal(rw_data(e, 80, 1000, got, sizeof(got)), fwd + 10000);
		assert_int_equal(count_op(e, from, VSK_OP_CREDIT_REQUEST), 1);
		assert_false(f->want_r);
		fwd += 10000;
		assert_int_equal(gsend(e, VSK_OP_CREDIT_UPDATE, 1000, 80, 0, 10000, fwd, NULL, 0),
				 0);
	}
	run(e, L_3776);
	assert_int_equal(rw_data(e, 80, 1000, got, sizeof(got)), 50000);
	assert_memory_equal(got, pattern, 50000);
	assert_true(f->want_r); /* drained (EAGAIN): poll again */
}

static void guest_overrunning_our_buf_alloc_is_reset(void **state)
{
	struct vsk_limits lim = { .buf_alloc = 8192 };
	struct env *e = ENV(state, &lim);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);
	struct vsk_stats st;

	assert_int_equal(last(e)->h.buf_alloc, 8192);
	f->write_room = 0; /* the host reads nothing */
	assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 0, pattern, 8192), 0);
	assert_false(f->closed);
	assert_true(f->want_w);
	assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 0, pattern, 1), 0);
	assert_true(f->closed);
	assert_int_equal(f->closed_err, -ENOBUFS);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_RST);
	vsk_dev_get_stats(e->d, &st);
	assert_int_equal(st.credit_violations, 1);
	assert_int_equal(st.conns, 0);
}

static void guest_data_beyond_the_device_buffer_cap_resets_that_connection(void **state)
{
	struct vsk_limits lim = { .buffer_cap = 64 * KB };
	struct env *e = ENV(state, &lim);
	struct fhost *a = open_conn(e, 1000, 80, 256 * KB);
	struct fhost *b = open_conn(e, 1001, 80, 256 * KB);
	struct vsk_stats st;

	a->write_room = b->write_room = 0; /* the host reads nothing */
	assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 0, pattern, 32 * KB), 0);
	vsk_dev_get_stats(e->d, &st);
	assert_int_equal(st.buffered, 32 * KB);
	/* within b's credit, but the device would hold more than 64 KiB */
	assert_int_equal(gsend(e, VSK_OP_RW, 1001, 80, 0, 256 * KB, 0, pattern, 32 * KB), 0);
	assert_true(b->closed);
	assert_int_equal(b->closed_err, -ENOBUFS);
	assert_false(a->closed);
	vsk_dev_get_stats(e->d, &st);
	assert_int_equal(st.buffer_limit, 1);
	assert_int_equal(st.buffered, 32 * KB);
	/* the host drains a: the memory is given back */
	a->write_room = SIZE_MAX;
	run(e, L_3776);
	assert_int_equal(a->out_len, 32 * KB);
	vsk_dev_get_stats(e->d, &st);
	assert_int_equal(st.buffered, 0);
}

static void shared_budget_caps_buffers_and_staging_and_is_given_back(void **state)
{
	struct vsk_budget b = { .cap = 40 * KB };
	struct vsk_limits lim = { .shared = &b };
	struct env *e = ENV(state, &lim);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);
	struct fhost *g = open_conn(e, 1001, 80, 256 * KB);
	struct fhost *h = open_conn(e, 1002, 80, 256 * KB);

	f->write_room = g->write_room = 0;
	assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 0, pattern, 32 * KB), 0);
	assert_int_equal(b.used, 32 * KB);
	assert_int_equal(gsend(e, VSK_OP_RW, 1001, 80, 0, 256 * KB, 0, pattern, 8 * KB), 0);
	assert_true(g->closed);
	assert_int_equal(g->closed_err, -ENOBUFS);
	assert_int_equal(b.used, 32 * KB);
	/* host data for h is not staged beyond the budget: read straight
	 * into the rx buffers, and delivered all the same */
	h->in = pattern;
	h->in_len = 20 * KB;
	static unsigned char got[20 * KB];
	run(e, L_3776);
	assert_int_equal(rw_data(e, 80, 1002, got, sizeof(got)), 20 * KB);
	assert_memory_equal(got, pattern, 20 * KB);
	assert_int_equal(b.used, 32 * KB);
	f->write_room = SIZE_MAX;
	run(e, L_3776);
	assert_int_equal(f->out_len, 32 * KB);
	assert_int_equal(b.used, 0);
	/* a connection reset while holding data gives it back too */
	f->write_room = 0;
	assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 32 * KB, pattern, 4 * KB), 0);
	assert_int_equal(b.used, 4 * KB);
	G(e, RST, 1000, 80);
	assert_true(f->closed);
	assert_int_equal(b.used, 0);
}

static void partial_host_writes_are_buffered_then_flushed(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);
	struct vsk_conn_stats cs;

	f->write_room = 1000;
	assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 0, pattern, 5000), 0);
	assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 0, pattern + 5000, 3000), 0);
	assert_int_equal(f->out_len, 1000);
	assert_true(f->want_w);
	vsk_conn_get_stats(f->c, &cs);
	assert_int_equal(cs.buffered, 7000);
	f->write_room = 2500;
	pump(e);
	assert_int_equal(f->out_len, 3500);
	assert_true(f->want_w);
	f->write_room = SIZE_MAX;
	pump(e);
	assert_false(f->want_w);
	assert_int_equal(f->out_len, 8000);
	assert_memory_equal(f->out, pattern, 8000);
	vsk_conn_get_stats(f->c, &cs);
	assert_int_equal(cs.buffered, 0);
	assert_int_equal(cs.to_host_bytes, 8000);
	/* drained with unadvertised consumption: one CREDIT_UPDATE */
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_CREDIT_UPDATE);
	assert_int_equal(last(e)->h.fwd_cnt, 8000);
}

static void credit_update_comes_after_half_buf_alloc_not_per_packet(void **state)
{
	struct env *e = ENV(state, NULL);

	open_conn(e, 1000, 80, 256 * KB);
	for (int i = 0; i < 31; i++) /* 124 KiB written at once: no update */
		assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 0, pattern, 4096), 0);
	assert_int_equal(drain(e, L_3776), 0);
	for (int i = 0; i < 2; i++) /* crosses 128 KiB: one update */
		assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 0, pattern, 4096), 0);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_CREDIT_UPDATE);
	assert_int_equal(last(e)->h.fwd_cnt, 132 * KB);
}

static void two_connections_take_turns(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *a = open_conn(e, 1, 80, 256 * KB), *b = open_conn(e, 2, 80, 256 * KB);
	static unsigned char got[sizeof(pattern)];
	size_t from = e->npk, rw = 0;
	uint32_t prev = 0;

	a->in = b->in = pattern;
	a->in_len = b->in_len = 30000;
	pump(e);
	while (fill(e, L_3776) > 0) {
		const struct pkt *p = last(e);

		assert_int_equal(p->h.op, VSK_OP_RW);
		if (rw++ < 14) /* both have data: strictly interleaved */
			assert_int_not_equal(p->h.dst_port, prev);
		prev = p->h.dst_port;
	}
	assert_true(e->npk - from >= 16);
	run(e, L_3776);
	assert_int_equal(rw_data(e, 80, 1, got, sizeof(got)), 30000);
	assert_int_equal(rw_data(e, 80, 2, got, sizeof(got)), 30000);
}

static void readable_turns_read_interest_off_until_eagain(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);
	size_t from = e->npk;

	f->in = pattern;
	f->in_len = 128 * KB;
	vsk_conn_host_readable(f->c);
	assert_false(f->want_r);
	assert_int_equal(fill(e, L_3776) > 0, 1);
	assert_int_equal(f->reads, 1); /* one 64 KiB read, staged */
	assert_false(f->want_r);
	assert_false(pump(e)); /* nothing to poll while we know it is readable */
	drain(e, L_3776);
	/* 128 KiB in 36 rx buffers took 2 full reads and one EAGAIN */
	assert_int_equal(e->npk - from, (128 * KB + 3731) / 3732);
	assert_int_equal(f->reads, 3);
	assert_true(f->want_r);
}

static void tiny_rx_buffers_are_not_used_for_data(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f;
	unsigned char small[40];
	struct iovec v = { small, sizeof(small) };

	assert_int_equal(G(e, REQUEST, 1000, 80), 0);
	assert_int_equal(vsk_dev_fill_rx(e->d, &v, 1), 0);  /* under a header */
	assert_int_equal(fill(e, L_HDRONLY), VSK_HDR_SIZE); /* control fits */
	f = e->hosts[0];
	f->in = pattern;
	f->in_len = 10;
	pump(e);
	assert_int_equal(fill(e, L_HDRONLY), 0);
	assert_true(vsk_dev_rx_pending(e->d));
	assert_int_equal(fill(e, L_3776), VSK_HDR_SIZE + 10);
}

static void socketpair_streams_both_ways(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);
	static unsigned char got[sizeof(pattern)];
	const size_t total = 400 * KB;
	size_t n = 0, sent = 0, w = 0;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	f->fd = sv[0]; /* closed by the teardown */
	/* guest -> host: more than the socket holds, within our credit */
	for (int i = 0; n < total; i++) {
		struct vsk_conn_stats cs;
		ssize_t r;

		assert_true(i < 100000);
		vsk_conn_get_stats(f->c, &cs);
		if (sent < total && cs.buffered + 16 * KB <= 256 * KB) {
			assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 0,
					       pattern + sent, 16 * KB),
					 0);
			sent += 16 * KB;
		}
		pump(e);
		drain(e, L_3776);
		r = read(sv[1], got + n, total - n);
		if (r > 0)
			n += (size_t)r;
	}
	assert_false(f->closed);
	assert_memory_equal(got, pattern, total);
	/* host -> guest, then EOF */
	for (int i = 0; w < 100 * KB; i++) {
		ssize_t r = write(sv[1], pattern + w, 100 * KB - w);

		assert_true(i < 100000);
		if (r > 0)
			w += (size_t)r;
		run(e, L_3776);
	}
	shutdown(sv[1], SHUT_WR);
	run(e, L_3776);
	assert_int_equal(rw_data(e, 80, 1000, got, sizeof(got)), 100 * KB);
	assert_memory_equal(got, pattern, 100 * KB);
	assert_int_equal(last(e)->h.op, VSK_OP_SHUTDOWN);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(guest_data_reaches_host_exactly_from_scattered_payload),
		T(host_data_fills_single_3776_byte_buffers),
		T(host_data_fills_header_and_payload_descriptors),
		T(host_data_fills_64k_buffers_directly),
		T(host_data_fills_odd_layouts),
		T(guest_credit_is_never_exceeded_and_resumes_on_update),
		T(guest_overrunning_our_buf_alloc_is_reset),
		T(guest_data_beyond_the_device_buffer_cap_resets_that_connection),
		T(shared_budget_caps_buffers_and_staging_and_is_given_back),
		T(partial_host_writes_are_buffered_then_flushed),
		T(credit_update_comes_after_half_buf_alloc_not_per_packet),
		T(two_connections_take_turns),
		T(readable_turns_read_interest_off_until_eagain),
		T(tiny_rx_buffers_are_not_used_for_data),
		T(socketpair_streams_both_ways),
	};

	env_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
