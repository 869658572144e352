/* SPDX-License-Identifier: MIT */
/*
 * test-vsock.c - the vsock engine driven by an in-memory guest (packets
 * built with vsk_hdr_encode, rx buffers of several layouts) and fake host
 * streams (memory buffers with scripted room, EOF and errors; one test uses
 * a real socketpair).
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

#define GCID	 7
#define KB	 1024u
#define MAXHOSTS 16

enum layout { L_3776, L_SPLIT, L_64K, L_ODD, L_HDRONLY };

struct fhost {
	struct vsk_conn *c;
	int fd; /* socketpair end, or -1 for the memory stream */
	const unsigned char *in;
	size_t in_len, in_off;
	bool in_eof;
	int read_err, write_err;
	size_t write_room; /* SIZE_MAX: unlimited */
	unsigned char *out;
	size_t out_len, out_cap;
	bool shut_wr, want_r, want_w, closed, connected;
	int closed_err;
	unsigned reads;
};

struct pkt {
	struct vsk_hdr h;
	unsigned char *data;
};

struct env {
	struct vsk_dev *d;
	struct fhost *hosts[MAXHOSTS];
	int nhosts;
	int accept_err;
	unsigned rx_ready, connects;
	uint32_t last_port, last_src_port;
	struct pkt *pk;
	size_t npk, cappk;
};

static unsigned char pattern[600 * 1024];

/* --- fake host --- */

static struct fhost *fhost_new(struct env *e)
{
	struct fhost *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_true(e->nhosts < MAXHOSTS);
	f->fd = -1;
	f->write_room = SIZE_MAX;
	e->hosts[e->nhosts++] = f;
	return f;
}

static int cb_guest_connect(void *opaque, struct vsk_conn *c, uint32_t port, uint32_t src_port)
{
	struct env *e = opaque;
	struct fhost *f;

	e->connects++;
	e->last_port = port;
	e->last_src_port = src_port;
	if (e->accept_err)
		return e->accept_err;
	f = fhost_new(e);
	f->c = c;
	vsk_conn_set_data(c, f);
	return 0;
}

static ssize_t cb_host_write(void *opaque, struct vsk_conn *c, const struct iovec *iov, int iovcnt)
{
	struct fhost *f = vsk_conn_get_data(c);
	size_t n = 0;

	(void)opaque;
	assert_false(f->closed);
	if (f->fd >= 0) {
		ssize_t r = writev(f->fd, iov, iovcnt);
		return r < 0 ? -errno : r;
	}
	if (f->write_err)
		return f->write_err;
	if (f->write_room == 0)
		return -EAGAIN;
	for (int i = 0; i < iovcnt && n < f->write_room; i++) {
		size_t k = iov[i].iov_len;

		if (k > f->write_room - n)
			k = f->write_room - n;
		if (f->out_len + k > f->out_cap) {
			f->out_cap = (f->out_len + k) * 2;
			f->out = realloc(f->out, f->out_cap);
			assert_non_null(f->out);
		}
		memcpy(f->out + f->out_len, iov[i].iov_base, k);
		f->out_len += k;
		n += k;
	}
	if (f->write_room != SIZE_MAX)
		f->write_room -= n;
	return (ssize_t)n;
}

static ssize_t cb_host_read(void *opaque, struct vsk_conn *c, void *buf, size_t len)
{
	struct fhost *f = vsk_conn_get_data(c);
	size_t n;

	(void)opaque;
	assert_false(f->closed);
	f->reads++;
	if (f->fd >= 0) {
		ssize_t r = read(f->fd, buf, len);
		return r < 0 ? -errno : r;
	}
	if (f->read_err)
		return f->read_err;
	if (f->in_off == f->in_len)
		return f->in_eof ? 0 : -EAGAIN;
	n = f->in_len - f->in_off < len ? f->in_len - f->in_off : len;
	memcpy(buf, f->in + f->in_off, n);
	f->in_off += n;
	return (ssize_t)n;
}

static void cb_host_shutdown_write(void *opaque, struct vsk_conn *c)
{
	struct fhost *f = vsk_conn_get_data(c);

	(void)opaque;
	assert_false(f->shut_wr);
	f->shut_wr = true;
	if (f->fd >= 0)
		shutdown(f->fd, SHUT_WR);
}

static void cb_host_want(void *opaque, struct vsk_conn *c, bool r, bool w)
{
	struct fhost *f = vsk_conn_get_data(c);

	(void)opaque;
	assert_false(f->closed);
	f->want_r = r;
	f->want_w = w;
}

static void cb_connected(void *opaque, struct vsk_conn *c)
{
	struct fhost *f = vsk_conn_get_data(c);

	(void)opaque;
	f->connected = true;
}

static void cb_closed(void *opaque, struct vsk_conn *c, int err)
{
	struct fhost *f = vsk_conn_get_data(c);

	(void)opaque;
	assert_non_null(f);
	assert_false(f->closed);
	f->closed = true;
	f->closed_err = err;
	f->c = NULL;
	f->want_r = f->want_w = false;
}

static unsigned log_lines;

static void cb_log(void *opaque, int level, const char *fmt, va_list ap)
{
	char line[256];

	(void)opaque;
	assert_true(level >= 0 && level <= 3);
	assert_true(vsnprintf(line, sizeof(line), fmt, ap) > 0);
	log_lines++;
}

static void cb_rx_ready(void *opaque)
{
	((struct env *)opaque)->rx_ready++;
}

static const struct vsk_ops ops = {
	.guest_connect = cb_guest_connect,
	.host_write = cb_host_write,
	.host_read = cb_host_read,
	.host_shutdown_write = cb_host_shutdown_write,
	.host_want = cb_host_want,
	.connected = cb_connected,
	.closed = cb_closed,
	.rx_ready = cb_rx_ready,
	.log = cb_log,
};

static struct env *env_new(const struct vsk_limits *lim)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	assert_int_equal(vsk_dev_new(&e->d, GCID, &ops, e, lim), 0);
	return e;
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	if (!e)
		return 0;
	e->d = vsk_dev_free(e->d);
	for (int i = 0; i < e->nhosts; i++) {
		struct fhost *f = e->hosts[i];

		assert_true(f->closed); /* vsk_dev_free closed everything */
		if (f->fd >= 0)
			close(f->fd);
		free(f->out);
		free(f);
	}
	for (size_t i = 0; i < e->npk; i++)
		free(e->pk[i].data);
	free(e->pk);
	free(e);
	return 0;
}

#define ENV(state, lim) (*(state) = env_new(lim))

/* --- fake guest --- */

static int gsend(struct env *e, uint16_t op, uint32_t gport, uint32_t hport, uint32_t flags,
		 uint32_t buf_alloc, uint32_t fwd_cnt, const void *data, size_t len)
{
	struct vsk_hdr h = {
		.src_cid = GCID,
		.dst_cid = VSK_CID_HOST,
		.src_port = gport,
		.dst_port = hport,
		.len = (uint32_t)len,
		.type = VSK_TYPE_STREAM,
		.op = op,
		.flags = flags,
		.buf_alloc = buf_alloc,
		.fwd_cnt = fwd_cnt,
	};
	unsigned char b[VSK_HDR_SIZE];
	struct iovec v = { (void *)data, len };

	vsk_hdr_encode(&h, b);
	return vsk_dev_guest_tx(e->d, b, &v, len ? 1 : 0);
}

static int gsend_hdr(struct env *e, const struct vsk_hdr *h)
{
	unsigned char b[VSK_HDR_SIZE];

	vsk_hdr_encode(h, b);
	return vsk_dev_guest_tx(e->d, b, NULL, 0);
}

#define G(e, op, gp, hp) gsend(e, VSK_OP_##op, gp, hp, 0, 256 * KB, 0, NULL, 0)

/* One rx buffer of the given layout; records the packet. */
static size_t fill(struct env *e, enum layout l)
{
	static unsigned char mem[3][VSK_HDR_SIZE + 64 * KB];
	unsigned char lin[VSK_HDR_SIZE + 64 * KB];
	struct iovec v[3];
	int n = 1;
	size_t used, cap;
	struct pkt *p;

	v[0].iov_base = mem[0];
	switch (l) {
	case L_3776:
		v[0].iov_len = 3776;
		break;
	case L_SPLIT: /* older Linux: header and payload descriptors */
		v[0].iov_len = VSK_HDR_SIZE;
		v[1] = (struct iovec){ mem[1], 4096 };
		n = 2;
		break;
	case L_64K:
		v[0].iov_len = VSK_HDR_SIZE + 64 * KB;
		break;
	case L_ODD: /* header split across descriptors */
		v[0].iov_len = 10;
		v[1] = (struct iovec){ mem[1], 50 };
		v[2] = (struct iovec){ mem[2], 1000 };
		n = 3;
		break;
	case L_HDRONLY:
		v[0].iov_len = VSK_HDR_SIZE;
		break;
	}
	cap = vsk_iov_len(v, n);
	used = vsk_dev_fill_rx(e->d, v, n);
	if (used == 0)
		return 0;
	assert_true(used <= cap);
	assert_int_equal(vsk_iov_to_buf(v, n, 0, lin, used), used);
	if (e->npk == e->cappk) {
		e->cappk = e->cappk ? e->cappk * 2 : 64;
		e->pk = realloc(e->pk, e->cappk * sizeof(*e->pk));
		assert_non_null(e->pk);
	}
	p = &e->pk[e->npk++];
	assert_int_equal(vsk_hdr_decode(lin, used, &p->h), 0);
	assert_int_equal(used, VSK_HDR_SIZE + p->h.len);
	assert_int_equal(p->h.src_cid, VSK_CID_HOST);
	assert_int_equal(p->h.dst_cid, GCID);
	p->data = malloc(p->h.len + 1);
	memcpy(p->data, lin + VSK_HDR_SIZE, p->h.len);
	return used;
}

static size_t drain(struct env *e, enum layout l)
{
	size_t n = 0;

	while (fill(e, l) > 0)
		assert_true(++n < 100000);
	assert_false(l != L_HDRONLY && vsk_dev_rx_pending(e->d));
	return n;
}

/* A level-triggered poller over the fake streams; true if it fired. */
static bool pump(struct env *e)
{
	bool any = false;

	for (int i = 0; i < e->nhosts; i++) {
		struct fhost *f = e->hosts[i];

		if (f->fd >= 0) {
			struct pollfd p = {
				f->fd,
				(short)((f->want_r ? POLLIN : 0) | (f->want_w ? POLLOUT : 0)), 0
			};

			if (f->closed || !p.events || poll(&p, 1, 0) <= 0)
				continue;
			if (p.revents & (POLLIN | POLLHUP | POLLERR))
				vsk_conn_host_readable(f->c);
			if (!f->closed && (p.revents & POLLOUT))
				vsk_conn_host_writable(f->c);
			any = true;
			continue;
		}
		if (!f->closed && f->want_r &&
		    (f->in_off < f->in_len || f->in_eof || f->read_err)) {
			vsk_conn_host_readable(f->c);
			any = true;
		}
		if (!f->closed && f->want_w && (f->write_room > 0 || f->write_err)) {
			vsk_conn_host_writable(f->c);
			any = true;
		}
	}
	return any;
}

static void run(struct env *e, enum layout l)
{
	for (int i = 0; i < 10000; i++) {
		bool fired = pump(e);

		if (drain(e, l) == 0 && !fired)
			return;
	}
	fail_msg("run did not settle");
}

static size_t count_op(const struct env *e, size_t from, uint16_t op)
{
	size_t n = 0;

	for (size_t i = from; i < e->npk; i++)
		n += e->pk[i].h.op == op;
	return n;
}

static const struct pkt *last(const struct env *e)
{
	assert_true(e->npk > 0);
	return &e->pk[e->npk - 1];
}

/* RW payload from host port hp to guest port gp, concatenated. */
static size_t rw_data(const struct env *e, uint32_t hp, uint32_t gp, unsigned char *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < e->npk; i++) {
		const struct pkt *p = &e->pk[i];

		if (p->h.op != VSK_OP_RW || p->h.src_port != hp || p->h.dst_port != gp)
			continue;
		assert_true(n + p->h.len <= max);
		memcpy(out + n, p->data, p->h.len);
		n += p->h.len;
	}
	return n;
}

/* Guest port gp connects to host port hp and gets RESPONSE. */
static struct fhost *open_conn(struct env *e, uint32_t gp, uint32_t hp, uint32_t buf_alloc)
{
	assert_int_equal(gsend(e, VSK_OP_REQUEST, gp, hp, 0, buf_alloc, 0, NULL, 0), 0);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_RESPONSE);
	return e->hosts[e->nhosts - 1];
}

/* --- tests --- */

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

static void wrong_cids_are_dropped_without_reply(void **state)
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
	assert_int_equal(drain(e, L_3776), 0);
	assert_int_equal(e->connects, 0);
	vsk_dev_get_stats(e->d, &st);
	assert_int_equal(st.bad_addr, 4);
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
#define T(fn) cmocka_unit_test_teardown(fn, env_teardown)
		T(hdr_encodes_little_endian_and_decodes_back),
		T(request_accepted_gets_response_with_credit),
		T(request_refused_gets_rst_with_swapped_addresses),
		T(wrong_cids_are_dropped_without_reply),
		T(unknown_conn_gets_rst_but_rst_is_never_answered),
		T(malformed_lengths_are_rejected),
		T(seqpacket_and_unknown_types_get_rst),
		T(guest_data_reaches_host_exactly_from_scattered_payload),
		T(host_data_fills_single_3776_byte_buffers),
		T(host_data_fills_header_and_payload_descriptors),
		T(host_data_fills_64k_buffers_directly),
		T(host_data_fills_odd_layouts),
		T(guest_credit_is_never_exceeded_and_resumes_on_update),
		T(guest_overrunning_our_buf_alloc_is_reset),
		T(partial_host_writes_are_buffered_then_flushed),
		T(credit_update_comes_after_half_buf_alloc_not_per_packet),
		T(guest_shutdown_send_is_half_close),
		T(host_eof_is_half_close),
		T(guest_close_flushes_then_answers_rst),
		T(guest_close_with_stuck_host_times_out),
		T(guest_rst_closes_with_econnreset),
		T(host_connect_completes_on_response),
		T(host_connect_refused_by_guest_rst),
		T(host_connect_times_out_with_rst),
		T(connection_limit_refuses_with_rst),
		T(two_connections_take_turns),
		T(device_reset_closes_all_and_drops_queues),
		T(host_write_error_resets_connection),
		T(host_read_error_resets_connection),
		T(host_closed_resets_connection),
		T(host_close_sends_shutdown_and_waits_for_rst),
		T(duplicate_request_resets_stale_connection),
		T(readable_turns_read_interest_off_until_eagain),
		T(many_connections_route_correctly_after_removals),
		T(rst_ring_is_bounded),
		T(tiny_rx_buffers_are_not_used_for_data),
		T(rx_ready_fires_once_per_call),
		T(socketpair_streams_both_ways),
	};

	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (unsigned char)(i * 131 + (i >> 9));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
