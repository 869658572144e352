/* SPDX-License-Identifier: MIT */
/*
 * test-vsock.c - the vsock engine's connection life: header codec, address
 * and RST rules, handshakes both ways, half-close and close, timeouts,
 * limits, resets, many connections. Harness: test-vsock-env.c.
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

static void hdr_encodes_little_endian_and_decodes_back(void **state)
{
	struct vsk_hdr h = { 0x0102030405060708ULL, 2, 0x11223344, 5, 6, 1, 5, 3, 0x40000, 9 }, g;
	unsigned char b[VSK_HDR_SIZE];

	(void)state;
	vsk_hdr_encode(&h, b);
	assert_int_equal(b[0], 0x08);
	assert_int_equal(b[7], 0x01);
	assert_int_equal(b[16], 0x44);
	assert_int_equal(b[30], 5);
	assert_int_equal(b[38], 0x04);
	assert_int_equal(vsk_hdr_decode(b, sizeof(b), &g), 0);
	assert_true(h.src_cid == g.src_cid && h.dst_cid == g.dst_cid && h.src_port == g.src_port &&
		    h.dst_port == g.dst_port && h.len == g.len && h.type == g.type &&
		    h.op == g.op && h.flags == g.flags && h.buf_alloc == g.buf_alloc &&
		    h.fwd_cnt == g.fwd_cnt);
	assert_int_equal(vsk_hdr_decode(b, 43, &g), -EINVAL);
}

static void request_accepted_gets_response_with_credit(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1234, 5000, 256 * KB);
	const struct pkt *p = last(e);

	assert_int_equal(e->last_port, 5000);
	assert_int_equal(e->last_src_port, 1234);
	assert_int_equal(p->h.src_port, 5000);
	assert_int_equal(p->h.dst_port, 1234);
	assert_int_equal(p->h.type, VSK_TYPE_STREAM);
	assert_int_equal(p->h.buf_alloc, 256 * KB);
	assert_int_equal(p->h.fwd_cnt, 0);
	assert_true(e->rx_ready > 0);
	assert_true(f->want_r);
	assert_false(f->want_w);
	assert_int_equal(vsk_conn_local_port(f->c), 5000);
	assert_int_equal(vsk_conn_peer_port(f->c), 1234);
}

static void request_refused_gets_rst_with_swapped_addresses(void **state)
{
	struct env *e = ENV(state, NULL);
	struct vsk_stats st;

	e->accept_err = -ECONNREFUSED;
	assert_int_equal(G(e, REQUEST, 1234, 5000), 0);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_RST);
	assert_int_equal(last(e)->h.src_port, 5000);
	assert_int_equal(last(e)->h.dst_port, 1234);
	vsk_dev_get_stats(e->d, &st);
	assert_int_equal(st.refused, 1);
	assert_int_equal(st.conns, 0);
}

static void forged_source_is_dropped_and_other_cids_get_rst_from_them(void **state)
{
	struct env *e = ENV(state, NULL);
	struct vsk_hdr h = { .src_cid = GCID + 1,
			     .dst_cid = 2,
			     .src_port = 1,
			     .dst_port = 2,
			     .type = 1,
			     .op = VSK_OP_REQUEST };
	struct vsk_stats st;

	assert_int_equal(gsend_hdr(e, &h), 0); /* another guest's CID */
	h.src_cid = GCID;
	h.dst_cid = GCID + 1; /* guest to guest */
	assert_int_equal(gsend_hdr(e, &h), 0);
	h.dst_cid = GCID;
	assert_int_equal(gsend_hdr(e, &h), 0);
	h.dst_cid = (uint64_t)1 << 32 | 2; /* 2 in the low half only */
	assert_int_equal(gsend_hdr(e, &h), 0);
	/* The forged one gets nothing; each REQUEST for another CID gets an
	 * RST from that CID, addresses swapped. */
	assert_int_equal(drain(e, L_3776), 3);
	assert_int_equal(count_op(e, 0, VSK_OP_RST), 3);
	assert_true(e->pk[0].h.src_cid == GCID + 1 && e->pk[1].h.src_cid == GCID &&
		    e->pk[2].h.src_cid == ((uint64_t)1 << 32 | 2));
	assert_true(e->pk[0].h.src_port == 2 && e->pk[0].h.dst_port == 1);
	h.op = VSK_OP_RW; /* not a REQUEST: dropped without reply */
	assert_int_equal(gsend_hdr(e, &h), 0);
	assert_int_equal(drain(e, L_3776), 0);
	assert_int_equal(e->connects, 0);
	vsk_dev_get_stats(e->d, &st);
	assert_int_equal(st.bad_addr, 5);
}

static void unknown_conn_gets_rst_but_rst_is_never_answered(void **state)
{
	struct env *e = ENV(state, NULL);

	assert_int_equal(G(e, RW, 1, 2) == 0 && G(e, CREDIT_UPDATE, 3, 4) == 0, 1);
	assert_int_equal(G(e, RST, 5, 6), 0);
	assert_int_equal(drain(e, L_3776), 2);
	assert_int_equal(count_op(e, 0, VSK_OP_RST), 2);
	assert_int_equal(e->pk[0].h.src_port, 2);
	assert_int_equal(e->pk[0].h.dst_port, 1);
	assert_int_equal(e->pk[1].h.src_port, 4);
}

static void malformed_lengths_are_rejected(void **state)
{
	struct env *e = ENV(state, NULL);
	struct vsk_hdr h = { .src_cid = GCID, .dst_cid = 2, .type = 1, .op = VSK_OP_RW, .len = 10 };
	unsigned char b[VSK_HDR_SIZE], data[8];
	struct iovec v = { data, sizeof(data) };
	struct vsk_stats st;
	unsigned warned = warn_lines;

	vsk_hdr_encode(&h, b);
	assert_int_equal(vsk_dev_guest_tx(e->d, b, &v, 1), -EPROTO); /* len 10, 8 present */
	assert_int_equal(vsk_dev_guest_tx(e->d, b, NULL, 0), -EPROTO);
	h.len = 64 * KB + 1;
	vsk_hdr_encode(&h, b);
	assert_int_equal(vsk_dev_guest_tx(e->d, b, NULL, 0), -EPROTO);
	v.iov_len = 20;
	assert_int_equal(vsk_dev_guest_tx_iov(e->d, &v, 1), -EPROTO); /* shorter than a header */
	assert_int_equal(drain(e, L_3776), 0);
	vsk_dev_get_stats(e->d, &st);
	assert_int_equal(st.malformed, 4);
	/* logged once per driver, not per packet */
	assert_int_equal(warn_lines - warned, 1);
	vsk_dev_reset(e->d);
	assert_int_equal(vsk_dev_guest_tx_iov(e->d, &v, 1), -EPROTO);
	assert_int_equal(warn_lines - warned, 2);
}

static void seqpacket_and_unknown_types_get_rst(void **state)
{
	struct env *e = ENV(state, NULL);
	struct vsk_hdr h = { .src_cid = GCID,
			     .dst_cid = 2,
			     .src_port = 9,
			     .dst_port = 80,
			     .type = VSK_TYPE_SEQPACKET,
			     .op = VSK_OP_REQUEST };

	assert_int_equal(gsend_hdr(e, &h), 0);
	h.type = 77;
	assert_int_equal(gsend_hdr(e, &h), 0);
	h.op = VSK_OP_RST;
	assert_int_equal(gsend_hdr(e, &h), 0);
	assert_int_equal(drain(e, L_3776), 2);
	assert_int_equal(e->connects, 0);
	assert_int_equal(e->pk[0].h.op, VSK_OP_RST);
	assert_int_equal(e->pk[0].h.type, VSK_TYPE_SEQPACKET);
}

static void guest_shutdown_send_is_half_close(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);
	static unsigned char got[sizeof(pattern)];

	f->write_room = 100;
	assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 0, pattern, 300), 0);
	assert_int_equal(
		gsend(e, VSK_OP_SHUTDOWN, 1000, 80, VSK_SHUTDOWN_SEND, 256 * KB, 0, NULL, 0), 0);
	assert_false(f->shut_wr); /* buffered data first */
	f->write_room = SIZE_MAX;
	pump(e);
	assert_int_equal(f->out_len, 300);
	assert_true(f->shut_wr);
	/* the host can still send */
	f->in = pattern;
	f->in_len = 20000;
	run(e, L_3776);
	assert_int_equal(rw_data(e, 80, 1000, got, sizeof(got)), 20000);
	assert_false(f->closed);
	/* host EOF too: both directions done -> RST, orderly close */
	f->in_eof = true;
	run(e, L_3776);
	assert_true(f->closed);
	assert_int_equal(f->closed_err, 0);
	assert_int_equal(last(e)->h.op, VSK_OP_RST);
	assert_int_equal(rw_data(e, 80, 1000, got, sizeof(got)), 20000);
}

static void host_eof_is_half_close(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);

	f->in_eof = true;
	run(e, L_3776);
	assert_int_equal(last(e)->h.op, VSK_OP_SHUTDOWN);
	assert_int_equal(last(e)->h.flags, VSK_SHUTDOWN_SEND);
	assert_false(f->want_r);
	/* the guest can still send */
	assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 0, pattern, 4000), 0);
	assert_int_equal(f->out_len, 4000);
	assert_false(f->closed);
	assert_int_equal(
		gsend(e, VSK_OP_SHUTDOWN, 1000, 80, VSK_SHUTDOWN_SEND, 256 * KB, 0, NULL, 0), 0);
	assert_true(f->shut_wr);
	assert_true(f->closed);
	assert_int_equal(f->closed_err, 0);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_RST);
}

static void guest_close_flushes_then_answers_rst(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);

	f->write_room = 10;
	assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 0, pattern, 100), 0);
	assert_int_equal(gsend(e, VSK_OP_SHUTDOWN, 1000, 80, 3, 256 * KB, 0, NULL, 0), 0);
	assert_int_equal(drain(e, L_3776), 0); /* not before the data is out */
	f->write_room = SIZE_MAX;
	run(e, L_3776);
	assert_int_equal(f->out_len, 100);
	assert_true(f->shut_wr);
	assert_true(f->closed);
	assert_int_equal(f->closed_err, 0);
	assert_int_equal(last(e)->h.op, VSK_OP_RST);
	/* the guest's late RST for it is not answered */
	assert_int_equal(G(e, RST, 1000, 80), 0);
	assert_int_equal(drain(e, L_3776), 0);
}

static void guest_close_with_stuck_host_times_out(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);

	f->write_room = 0;
	assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 0, pattern, 100), 0);
	assert_int_equal(gsend(e, VSK_OP_SHUTDOWN, 1000, 80, 3, 256 * KB, 0, NULL, 0), 0);
	vsk_dev_tick(e->d, 1000);
	vsk_dev_tick(e->d, 8999);
	assert_false(f->closed);
	vsk_dev_tick(e->d, 9000);
	assert_true(f->closed);
	assert_int_equal(f->closed_err, -ETIMEDOUT);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_RST);
}

static void guest_rst_closes_with_econnreset(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);
	struct vsk_stats st;

	assert_int_equal(G(e, RST, 1000, 80), 0);
	assert_true(f->closed);
	assert_int_equal(f->closed_err, -ECONNRESET);
	assert_int_equal(drain(e, L_3776), 0);
	vsk_dev_get_stats(e->d, &st);
	assert_int_equal(st.conns, 0);
}

static void host_connect_completes_on_response(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = fhost_new(e);
	static unsigned char got[sizeof(pattern)];
	uint32_t lp;

	assert_int_equal(vsk_dev_host_connect(e->d, 22, VSK_PORT_ANY, f, &f->c), 0);
	lp = vsk_conn_local_port(f->c);
	assert_true(lp >= 1u << 30 && lp < 1u << 31);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_REQUEST);
	assert_int_equal(last(e)->h.src_port, lp);
	assert_int_equal(last(e)->h.dst_port, 22);
	assert_false(f->want_r);
	assert_int_equal(G(e, RESPONSE, 22, lp), 0);
	assert_true(f->connected);
	assert_true(f->want_r);
	f->in = pattern;
	f->in_len = 5000;
	run(e, L_3776);
	assert_int_equal(rw_data(e, lp, 22, got, sizeof(got)), 5000);
	assert_int_equal(gsend(e, VSK_OP_RW, 22, lp, 0, 256 * KB, 5000, pattern, 10), 0);
	assert_int_equal(f->out_len, 10);
	/* a second connect gets another port */
	struct fhost *g = fhost_new(e);
	assert_int_equal(vsk_dev_host_connect(e->d, 22, VSK_PORT_ANY, g, &g->c), 0);
	assert_int_not_equal(vsk_conn_local_port(g->c), lp);
	assert_int_equal(vsk_dev_host_connect(e->d, 22, lp, g, &g->c), -EADDRINUSE);
}

static void host_connect_from_a_privileged_port_picks_distinct_ports_below_1024(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = fhost_new(e), *g = fhost_new(e);
	uint32_t a, b;

	assert_int_equal(vsk_dev_host_connect(e->d, 640, VSK_PORT_PRIVILEGED, f, &f->c), 0);
	assert_int_equal(vsk_dev_host_connect(e->d, 640, VSK_PORT_PRIVILEGED, g, &g->c), 0);
	a = vsk_conn_local_port(f->c);
	b = vsk_conn_local_port(g->c);
	assert_true(a >= 512 && a < 1024);
	assert_true(b >= 512 && b < 1024);
	assert_int_not_equal(a, b);
	assert_int_equal(drain(e, L_3776), 2);
	assert_int_equal(last(e)->h.op, VSK_OP_REQUEST);
	assert_int_equal(last(e)->h.src_port, b);
}

static void host_connect_may_be_closed_from_connected(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = fhost_new(e);
	uint32_t lp;

	f->close_on_connect = true;
	assert_int_equal(vsk_dev_host_connect(e->d, 22, VSK_PORT_ANY, f, &f->c), 0);
	lp = vsk_conn_local_port(f->c);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(G(e, RESPONSE, 22, lp), 0);
	assert_true(f->connected && f->closed);
	assert_int_equal(f->closed_err, -ECONNRESET);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_RST);
	assert_int_equal(last(e)->h.src_port, lp);
}

static void host_connect_refused_by_guest_rst(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = fhost_new(e);
	uint32_t lp;

	assert_int_equal(vsk_dev_host_connect(e->d, 22, VSK_PORT_ANY, f, &f->c), 0);
	lp = vsk_conn_local_port(f->c);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(G(e, RST, 22, lp), 0);
	assert_true(f->closed);
	assert_int_equal(f->closed_err, -ECONNREFUSED);
	assert_int_equal(drain(e, L_3776), 0);
}

static void host_connect_times_out_with_rst(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = fhost_new(e), *g = fhost_new(e);

	assert_int_equal(vsk_dev_host_connect(e->d, 22, VSK_PORT_ANY, f, &f->c), 0);
	assert_int_equal(drain(e, L_3776), 1);
	vsk_dev_tick(e->d, 100000);
	vsk_dev_tick(e->d, 101999);
	assert_false(f->closed);
	vsk_dev_tick(e->d, 102000);
	assert_true(f->closed);
	assert_int_equal(f->closed_err, -ETIMEDOUT);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_RST);
	/* a REQUEST that never reached the guest needs no RST */
	assert_int_equal(vsk_dev_host_connect(e->d, 23, VSK_PORT_ANY, g, &g->c), 0);
	vsk_dev_tick(e->d, 200000);
	vsk_dev_tick(e->d, 203000);
	assert_true(g->closed);
	assert_int_equal(drain(e, L_3776), 0);
}

static void connection_limit_refuses_with_rst(void **state)
{
	struct vsk_limits lim = { .max_conns = 2 };
	struct env *e = ENV(state, &lim);
	struct fhost *f = fhost_new(e);
	struct vsk_stats st;

	open_conn(e, 1, 80, 256 * KB);
	open_conn(e, 2, 80, 256 * KB);
	assert_int_equal(G(e, REQUEST, 3, 80), 0);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_RST);
	assert_int_equal(vsk_dev_host_connect(e->d, 22, VSK_PORT_ANY, f, &f->c), -EMFILE);
	f->closed = true; /* never connected */
	vsk_dev_get_stats(e->d, &st);
	assert_int_equal(st.conn_limit, 1);
	assert_int_equal(st.conns, 2);
	assert_int_equal(e->connects, 2);
}

static void device_reset_closes_all_and_drops_queues(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *a = open_conn(e, 1, 80, 256 * KB), *b = open_conn(e, 2, 80, 256 * KB);
	struct vsk_stats st;

	a->in = pattern;
	a->in_len = 100000;
	b->write_room = 0;
	assert_int_equal(gsend(e, VSK_OP_RW, 2, 80, 0, 256 * KB, 0, pattern, 1000), 0);
	assert_int_equal(G(e, RW, 9, 9), 0); /* an RST in the ring */
	pump(e);
	assert_int_equal(fill(e, L_3776) > 0, 1);
	assert_true(vsk_dev_rx_pending(e->d));
	vsk_dev_reset(e->d);
	assert_true(a->closed && b->closed);
	assert_int_equal(a->closed_err, -ECONNRESET);
	assert_int_equal(b->closed_err, -ECONNRESET);
	assert_false(vsk_dev_rx_pending(e->d));
	assert_int_equal(fill(e, L_3776), 0);
	vsk_dev_get_stats(e->d, &st);
	assert_int_equal(st.conns, 0);
	assert_int_equal(st.staged, 0);
	/* and the device works again */
	open_conn(e, 1, 80, 256 * KB);
}

static void host_write_error_resets_connection(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);

	f->write_err = -EPIPE;
	assert_int_equal(gsend(e, VSK_OP_RW, 1000, 80, 0, 256 * KB, 0, pattern, 10), 0);
	assert_true(f->closed);
	assert_int_equal(f->closed_err, -EPIPE);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_RST);
}

static void host_read_error_resets_connection(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);

	f->read_err = -ECONNRESET;
	run(e, L_3776);
	assert_true(f->closed);
	assert_int_equal(f->closed_err, -ECONNRESET);
	assert_int_equal(last(e)->h.op, VSK_OP_RST);
	assert_int_equal(last(e)->h.dst_port, 1000);
}

static void host_closed_resets_connection(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);

	vsk_conn_host_closed(f->c);
	assert_true(f->closed);
	assert_int_equal(f->closed_err, -ECONNRESET);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_RST);
}

static void host_close_sends_shutdown_and_waits_for_rst(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB), *g = open_conn(e, 1001, 80, 256 * KB);
	struct vsk_stats st;

	vsk_conn_close(f->c);
	assert_true(f->closed);
	assert_int_equal(f->closed_err, 0);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_SHUTDOWN);
	assert_int_equal(last(e)->h.flags, 3);
	assert_int_equal(G(e, RW, 1000, 80), 0); /* late data: ignored, no RST */
	assert_int_equal(G(e, RST, 1000, 80), 0);
	assert_int_equal(drain(e, L_3776), 0);
	vsk_dev_get_stats(e->d, &st);
	assert_int_equal(st.conns, 1);
	/* a guest that never answers gets our RST after the close timeout */
	vsk_conn_close(g->c);
	assert_int_equal(drain(e, L_3776), 1);
	vsk_dev_tick(e->d, 0);
	vsk_dev_tick(e->d, 8000);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_RST);
	vsk_dev_get_stats(e->d, &st);
	assert_int_equal(st.conns, 0);
}

static void duplicate_request_resets_stale_connection(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f = open_conn(e, 1000, 80, 256 * KB);

	assert_int_equal(G(e, REQUEST, 1000, 80), 0);
	assert_true(f->closed);
	assert_int_equal(f->closed_err, -ECONNRESET);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_RST);
	open_conn(e, 1000, 80, 256 * KB); /* the retry works */
}

static void many_connections_route_correctly_after_removals(void **state)
{
	struct vsk_limits lim = { .max_conns = 600 };
	struct env *e = ENV(state, &lim);
	enum { N = 600 };
	static struct fhost *hosts[N];
	static uint32_t gp[N];
	struct vsk_stats st;

	/* N connections (the table grows several times), ports spread */
	for (uint32_t i = 0; i < N; i++) {
		gp[i] = 1024 + i * 7919;
		hosts[i] = open_conn(e, gp[i], 80 + (i % 3), 256 * KB);
		e->nhosts = 0; /* the env keeps MAXHOSTS; we keep them here */
	}
	/* close every other one (backward-shift deletions) */
	for (uint32_t i = 0; i < N; i += 2)
		assert_int_equal(G(e, RST, gp[i], 80 + (i % 3)), 0);
	for (uint32_t i = 0; i < N; i++) {
		assert_int_equal(hosts[i]->closed, i % 2 == 0);
		if (i % 2)
			assert_int_equal(gsend(e, VSK_OP_RW, gp[i], 80 + (i % 3), 0, 256 * KB, 0,
					       pattern + i, 1 + i % 50),
					 0);
	}
	for (uint32_t i = 1; i < N; i += 2) {
		assert_int_equal(hosts[i]->out_len, 1 + i % 50);
		assert_memory_equal(hosts[i]->out, pattern + i, 1 + i % 50);
	}
	vsk_dev_get_stats(e->d, &st);
	assert_int_equal(st.conns, N / 2);
	assert_int_equal(st.unknown_conn, 0);
	e->d = vsk_dev_free(e->d);
	for (uint32_t i = 0; i < N; i++) {
		assert_true(hosts[i]->closed);
		free(hosts[i]->out);
		free(hosts[i]);
	}
}

static void rst_ring_is_bounded(void **state)
{
	struct env *e = ENV(state, NULL);
	struct vsk_stats st;

	for (uint32_t i = 0; i < 100; i++)
		assert_int_equal(G(e, RW, i, 80), 0);
	assert_int_equal(drain(e, L_3776), 64);
	vsk_dev_get_stats(e->d, &st);
	assert_int_equal(st.rst_dropped, 36);
}

static void rx_ready_fires_once_per_call(void **state)
{
	struct env *e = ENV(state, NULL);
	struct fhost *f;

	assert_int_equal(G(e, REQUEST, 1000, 80), 0);
	assert_int_equal(e->rx_ready, 1);
	drain(e, L_3776);
	f = e->hosts[0];
	assert_int_equal(G(e, CREDIT_UPDATE, 1000, 80), 0); /* nothing queued */
	assert_int_equal(e->rx_ready, 1);
	f->in = pattern;
	f->in_len = 10;
	pump(e);
	assert_int_equal(e->rx_ready, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(hdr_encodes_little_endian_and_decodes_back),
		T(request_accepted_gets_response_with_credit),
		T(request_refused_gets_rst_with_swapped_addresses),
		T(forged_source_is_dropped_and_other_cids_get_rst_from_them),
		T(unknown_conn_gets_rst_but_rst_is_never_answered),
		T(malformed_lengths_are_rejected),
		T(seqpacket_and_unknown_types_get_rst),
		T(guest_shutdown_send_is_half_close),
		T(host_eof_is_half_close),
		T(guest_close_flushes_then_answers_rst),
		T(guest_close_with_stuck_host_times_out),
		T(guest_rst_closes_with_econnreset),
		T(host_connect_completes_on_response),
		T(host_connect_from_a_privileged_port_picks_distinct_ports_below_1024),
		T(host_connect_may_be_closed_from_connected),
		T(host_connect_refused_by_guest_rst),
		T(host_connect_times_out_with_rst),
		T(connection_limit_refuses_with_rst),
		T(device_reset_closes_all_and_drops_queues),
		T(host_write_error_resets_connection),
		T(host_read_error_resets_connection),
		T(host_closed_resets_connection),
		T(host_close_sends_shutdown_and_waits_for_rst),
		T(duplicate_request_resets_stale_connection),
		T(many_connections_route_correctly_after_removals),
		T(rst_ring_is_bounded),
		T(rx_ready_fires_once_per_call),
	};

	env_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
