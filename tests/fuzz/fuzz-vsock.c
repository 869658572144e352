/* SPDX-License-Identifier: MIT */
/*
 * fuzz-vsock.c - the vsock engine under arbitrary guest packet sequences,
 * rx buffer layouts, host stream behaviour (data, EAGAIN, EOF, errors) and
 * timer ticks, all taken from the input. Besides the sanitizers it checks:
 * every packet for the guest fits its buffer and is addressed 2 -> guest;
 * RW data never exceeds the credit the guest last gave; host data reaches
 * the guest in order without loss or duplication; callbacks only concern
 * live connections; closed() comes exactly once per connection.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsock.h"

#define GCID 5
#define MAXC 40
#define CHECK(x)                 \
	do {                     \
		if (!(x))        \
			abort(); \
	} while (0)

struct fzc {
	struct vsk_conn *c;
	uint32_t lp, pp, id;
	uint32_t tx_cnt, buf_alloc, fwd; /* the guest's view of credit */
	uint64_t produced, delivered;	 /* host -> guest bytes */
	bool shut;
};

struct fz {
	struct vsk_dev *d;
	const uint8_t *p;
	size_t n;
	struct fzc *live[MAXC];
	int nlive;
	uint32_t next_id;
	struct vsk_hdr cur; /* guest packet being processed */
	uint64_t now;
};

static uint8_t gen(uint32_t id, uint64_t off)
{
	return (uint8_t)(off * 7 + id * 13 + (off >> 8));
}

static uint8_t take8(struct fz *z)
{
	if (!z->n)
		return 0;
	z->n--;
	return *z->p++;
}

static uint16_t take16(struct fz *z) /* little-endian */
{
	uint16_t lo = take8(z);

	return (uint16_t)(lo | take8(z) << 8);
}

static uint32_t take32(struct fz *z)
{
	uint32_t lo = take16(z);

	return lo | (uint32_t)take16(z) << 16;
}

static int find_live(struct fz *z, const struct fzc *f)
{
	for (int i = 0; i < z->nlive; i++)
		if (z->live[i] == f)
			return i;
	return -1;
}

static struct fzc *by_ports(struct fz *z, uint32_t lp, uint32_t pp)
{
	for (int i = 0; i < z->nlive; i++)
		if (z->live[i]->lp == lp && z->live[i]->pp == pp)
			return z->live[i];
	return NULL;
}

static struct fzc *fzc_new(struct fz *z, uint32_t lp, uint32_t pp)
{
	struct fzc *f = calloc(1, sizeof(*f));

	CHECK(f && z->nlive < MAXC);
	f->lp = lp;
	f->pp = pp;
	f->id = z->next_id++;
	z->live[z->nlive++] = f;
	return f;
}

static struct fzc *data_of(struct fz *z, struct vsk_conn *c)
{
	struct fzc *f = vsk_conn_get_data(c);

	CHECK(f && f->c == c && find_live(z, f) >= 0);
	return f;
}

static int cb_guest_connect(void *o, struct vsk_conn *c, uint32_t port, uint32_t src_port)
{
	struct fz *z = o;
	struct fzc *f;

	if (take8(z) & 1 || z->nlive == MAXC)
		return -ECONNREFUSED;
	CHECK(!by_ports(z, port, src_port));
	f = fzc_new(z, port, src_port);
	f->c = c;
	f->buf_alloc = z->cur.buf_alloc;
	f->fwd = z->cur.fwd_cnt;
	vsk_conn_set_data(c, f);
	return 0;
}

static ssize_t cb_host_write(void *o, struct vsk_conn *c, const struct iovec *iov, int iovcnt)
{
	struct fz *z = o;
	size_t total = 0;
	unsigned sum = 0;
	uint8_t m = take8(z);

	CHECK(!data_of(z, c)->shut);
	CHECK(iovcnt > 0);
	for (int i = 0; i < iovcnt; i++) {
		for (size_t k = 0; k < iov[i].iov_len; k++) /* touch it all (ASan) */
			sum += ((const uint8_t *)iov[i].iov_base)[k];
		total += iov[i].iov_len;
	}
	(void)sum;
	CHECK(total > 0);
	switch (m % 5) {
	case 0:
	case 1:
		return (ssize_t)total;
	case 2:
		return (ssize_t)(take16(z) % total);
	case 3:
		return -EAGAIN;
	default:
		return m >= 0xf0 ? -EPIPE : (ssize_t)total;
	}
}

static ssize_t cb_host_read(void *o, struct vsk_conn *c, void *buf, size_t len)
{
	struct fz *z = o;
	struct fzc *f = data_of(z, c);
	uint8_t m = take8(z);
	size_t n;

	CHECK(len > 0 && len <= 64 * 1024);
	memset(buf, 0xee, len); /* the whole buffer must be writable */
	if (z->n == 0)
		return -EAGAIN; /* input exhausted: the stream runs dry */
	switch (m % 6) {
	case 0:
	case 1:
	case 2:
		n = (m & 0x80) ? len : 1 + take16(z) % len;
		for (size_t i = 0; i < n; i++)
			((uint8_t *)buf)[i] = gen(f->id, f->produced + i);
		f->produced += n;
		return (ssize_t)n;
	case 3:
		return -EAGAIN;
	case 4:
		return 0;
	default:
		return m >= 0xf0 ? -ECONNRESET : -EAGAIN;
	}
}

static void cb_host_shutdown_write(void *o, struct vsk_conn *c)
{
	struct fzc *f = data_of(o, c);

	CHECK(!f->shut);
	f->shut = true;
}

static void cb_host_want(void *o, struct vsk_conn *c, bool r, bool w)
{
	(void)data_of(o, c);
	(void)r;
	(void)w;
}

static void cb_connected(void *o, struct vsk_conn *c)
{
	(void)data_of(o, c);
}

static void cb_closed(void *o, struct vsk_conn *c, int err)
{
	struct fz *z = o;
	struct fzc *f = data_of(z, c);
	int i = find_live(z, f);

	(void)err;
	z->live[i] = z->live[--z->nlive];
	free(f);
}

static void cb_log(void *o, enum log_level level, const char *fmt, va_list ap)
{
	char line[256];

	(void)o;
	CHECK(level >= 0 && level <= 3);
	vsnprintf(line, sizeof(line), fmt, ap);
}

static const struct vsk_ops ops = {
	.guest_connect = cb_guest_connect,
	.host_write = cb_host_write,
	.host_read = cb_host_read,
	.host_shutdown_write = cb_host_shutdown_write,
	.host_want = cb_host_want,
	.connected = cb_connected,
	.closed = cb_closed,
	.log = cb_log,
};

static uint32_t pick_credit(struct fz *z, const struct fzc *f, bool fwd)
{
	static const uint32_t vals[] = { 0, 1, 100, 4096, 65536, 262144, 0xffffffffu };
	uint8_t b = take8(z);

	if (fwd && f && b < 160)
		return f->tx_cnt - (b < 128 ? 0 : take8(z)); /* consumed (nearly) all */
	if (!fwd && b < 128)
		return 262144;
	return b & 1 ? take32(z) : vals[b % 7];
}

static void guest_packet(struct fz *z)
{
	static uint8_t buf[VSK_HDR_SIZE + 64 * 1024 + 16];
	uint8_t sel = take8(z), b = take8(z);
	struct fzc *f = NULL;
	struct vsk_hdr *h = &z->cur;
	struct iovec v[4];
	size_t len = take16(z) % 5000;
	int rc;

	if (b == 0xfd)
		len = 64 * 1024 + (take8(z) & 1);
	if ((sel & 0x80) && z->nlive)
		f = z->live[take8(z) % z->nlive];
	/* one field after the other: the input is consumed in this order */
	h->src_cid = b == 0xff ? take32(z) : GCID;
	h->dst_cid = b == 0xfe ? take32(z) : VSK_CID_HOST;
	h->src_port = f ? f->pp : 1000u + (sel & 3);
	h->dst_port = f ? f->lp : 80u + ((sel >> 2) & 3);
	h->len = (uint32_t)len + (b == 0xfc);
	h->type = b == 0xfb ? take16(z) : VSK_TYPE_STREAM;
	h->op = (uint16_t)(take8(z) % 9);
	h->flags = take8(z) & 7;
	if (!f)
		f = by_ports(z, h->dst_port, h->src_port);
	h->buf_alloc = pick_credit(z, f, false);
	h->fwd_cnt = pick_credit(z, f, true);
	for (size_t i = 0; i < len; i++)
		buf[VSK_HDR_SIZE + i] = (uint8_t)(i ^ sel);
	vsk_hdr_encode(h, buf);
	if (take8(z) & 1) { /* a whole chain, cut in three */
		size_t a = take8(z) % (VSK_HDR_SIZE + len + 1);
		size_t c = a + take8(z) % (VSK_HDR_SIZE + len - a + 1);

		v[0] = (struct iovec){ buf, a };
		v[1] = (struct iovec){ buf + a, c - a };
		v[2] = (struct iovec){ buf + c, VSK_HDR_SIZE + len - c };
		rc = vsk_dev_guest_tx_iov(z->d, v, 3);
	} else {
		size_t a = len ? take16(z) % len : 0;

		v[0] = (struct iovec){ buf + VSK_HDR_SIZE, a };
		v[1] = (struct iovec){ buf + VSK_HDR_SIZE + a, len - a };
		rc = vsk_dev_guest_tx(z->d, buf, v, 2);
	}
	CHECK(rc == 0 || rc == -EPROTO);
	/* mirror the engine's credit tracking for live connections */
	f = by_ports(z, h->dst_port, h->src_port);
	if (rc == 0 && f && h->src_cid == GCID && h->dst_cid == VSK_CID_HOST &&
	    h->type == VSK_TYPE_STREAM && h->op != VSK_OP_RST) {
		f->buf_alloc = h->buf_alloc;
		f->fwd = h->fwd_cnt;
	}
}

static void check_out(struct fz *z, const uint8_t *lin, size_t used, size_t cap)
{
	struct vsk_hdr h;
	struct fzc *f;
	int64_t credit;

	CHECK(used <= cap && used >= VSK_HDR_SIZE);
	CHECK(vsk_hdr_decode(lin, used, &h) == 0);
	CHECK(h.len == used - VSK_HDR_SIZE && h.len <= 64 * 1024);
	/* Only an RST may come from elsewhere: the answer to a REQUEST for
	 * another CID. */
	CHECK(h.dst_cid == GCID && (h.src_cid == VSK_CID_HOST || h.op == VSK_OP_RST));
	CHECK(h.op >= VSK_OP_REQUEST && h.op <= VSK_OP_CREDIT_REQUEST);
	if (h.op != VSK_OP_RW) {
		CHECK(h.len == 0);
		return;
	}
	f = by_ports(z, h.src_port, h.dst_port);
	CHECK(f && h.len > 0);
	credit = (int64_t)f->buf_alloc - (uint32_t)(f->tx_cnt - f->fwd);
	CHECK((int64_t)h.len <= credit);
	for (uint32_t i = 0; i < h.len; i++)
		CHECK(lin[VSK_HDR_SIZE + i] == gen(f->id, f->delivered + i));
	f->delivered += h.len;
	f->tx_cnt += h.len;
}

static void fill_rx(struct fz *z)
{
	static uint8_t mem[4][VSK_HDR_SIZE + 64 * 1024];
	static uint8_t lin[4 * (VSK_HDR_SIZE + 64 * 1024)];
	struct iovec v[4];
	int n = 1 + take8(z) % 4;
	size_t used, cap;

	for (int i = 0; i < n; i++) {
		uint16_t s = take16(z);

		v[i].iov_base = mem[i];
		v[i].iov_len = s == 0xffff ? sizeof(mem[i]) : s % 4200;
	}
	cap = iov_size(v, n);
	used = vsk_dev_fill_rx(z->d, v, n);
	if (used == 0)
		return;
	CHECK(iov_to_buf(v, n, 0, lin, used) == used);
	check_out(z, lin, used, cap);
}

static void host_op(struct fz *z)
{
	uint8_t m = take8(z);
	struct fzc *f = z->nlive ? z->live[take8(z) % z->nlive] : NULL;
	struct vsk_conn *c;

	switch (m % 6) {
	case 0:
		if (z->nlive < MAXC) {
			uint32_t gp = 1000u + (take8(z) & 3);
			uint32_t lp = m & 0x80 ? 80u + (take8(z) & 3) : VSK_PORT_ANY;
			struct fzc *g = calloc(1, sizeof(*g));

			CHECK(g);
			if (vsk_dev_host_connect(z->d, gp, lp, g, &c) == 0) {
				z->live[z->nlive++] = g;
				g->c = c;
				g->lp = vsk_conn_local_port(c);
				g->pp = gp;
				g->id = z->next_id++;
			} else {
				free(g);
			}
		}
		break;
	case 1:
		if (f)
			vsk_conn_host_closed(f->c);
		break;
	case 2:
		if (f)
			vsk_conn_close(f->c);
		break;
	case 3:
		if (m == 3)
			vsk_dev_reset(z->d);
		break;
	default:
		z->now += take8(z) * 40u;
		vsk_dev_tick(z->d, z->now);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vsk_limits lim = { .max_conns = size & 0x10 ? 32 : 1 + (size >> 5) % 4,
				  .buf_alloc = 1u << (10 + (size & 7)) };
	struct fz z = { .p = data, .n = size, .now = 1000 };

	CHECK(vsk_dev_new(&z.d, GCID, &ops, &z, &lim) == 0);
	while (z.n > 0) {
		uint8_t cmd = take8(&z);
		struct fzc *f = z.nlive ? z.live[take8(&z) % z.nlive] : NULL;

		switch (cmd % 8) {
		case 0:
		case 1:
		case 2:
			guest_packet(&z);
			break;
		case 3:
		case 4:
			fill_rx(&z);
			break;
		case 5:
			if (f)
				vsk_conn_host_readable(f->c);
			break;
		case 6:
			if (f)
				vsk_conn_host_writable(f->c);
			break;
		default:
			host_op(&z);
			break;
		}
	}
	/* drain what is left in 3776-byte buffers: must terminate */
	for (int i = 0; i < 100000 && vsk_dev_rx_pending(z.d); i++) {
		static uint8_t b[3776];
		struct iovec v = { b, sizeof(b) };
		size_t used = vsk_dev_fill_rx(z.d, &v, 1);

		if (used == 0)
			break;
		check_out(&z, b, used, sizeof(b));
	}
	z.d = vsk_dev_free(z.d);
	CHECK(z.nlive == 0); /* closed() for every connection */
	return 0;
}
