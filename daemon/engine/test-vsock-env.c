/* SPDX-License-Identifier: MIT */
/* test-vsock-env.c - the fake guest and host of the vsock tests. */
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

unsigned char pattern[600 * 1024];

void env_init(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (unsigned char)(i * 131 + (i >> 9));
}

/* --- fake host --- */

struct fhost *fhost_new(struct env *e)
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
	if (f->close_on_connect)
		vsk_conn_host_closed(c);
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
unsigned warn_lines;

static void cb_log(void *opaque, enum log_level level, const char *fmt, va_list ap)
{
	char line[256];

	(void)opaque;
	assert_true((int)level >= 0 && level <= 3);
	assert_true(vsnprintf(line, sizeof(line), fmt, ap) > 0);
	log_lines++;
	warn_lines += level <= LOG_LVL_WARN;
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

struct env *env_new(const struct vsk_limits *lim)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	assert_int_equal(vsk_dev_new(&e->d, GCID, &ops, e, lim), 0);
	return e;
}

int env_teardown(void **state)
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

/* --- fake guest --- */

int gsend(struct env *e, uint16_t op, uint32_t gport, uint32_t hport, uint32_t flags,
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

int gsend_hdr(struct env *e, const struct vsk_hdr *h)
{
	unsigned char b[VSK_HDR_SIZE];

	vsk_hdr_encode(h, b);
	return vsk_dev_guest_tx(e->d, b, NULL, 0);
}

/* One rx buffer of the given layout; records the packet. */
size_t fill(struct env *e, enum layout l)
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
	cap = iov_size(v, n);
	used = vsk_dev_fill_rx(e->d, v, n);
	if (used == 0)
		return 0;
	assert_true(used <= cap);
	assert_int_equal(iov_to_buf(v, n, 0, lin, used), used);
	if (e->npk == e->cappk) {
		e->cappk = e->cappk ? e->cappk * 2 : 64;
		e->pk = realloc(e->pk, e->cappk * sizeof(*e->pk));
		assert_non_null(e->pk);
	}
	p = &e->pk[e->npk++];
	assert_int_equal(vsk_hdr_decode(lin, used, &p->h), 0);
	assert_int_equal(used, VSK_HDR_SIZE + p->h.len);
	/* Only an RST answering a REQUEST for another CID comes from elsewhere. */
	if (p->h.op != VSK_OP_RST)
		assert_int_equal(p->h.src_cid, VSK_CID_HOST);
	assert_int_equal(p->h.dst_cid, GCID);
	p->data = malloc(p->h.len + 1);
	memcpy(p->data, lin + VSK_HDR_SIZE, p->h.len);
	return used;
}

size_t drain(struct env *e, enum layout l)
{
	size_t n = 0;

	while (fill(e, l) > 0)
		assert_true(++n < 100000);
	assert_false(l != L_HDRONLY && vsk_dev_rx_pending(e->d));
	return n;
}

/* A level-triggered poller over the fake streams; true if it fired. */
bool pump(struct env *e)
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

void run(struct env *e, enum layout l)
{
	for (int i = 0; i < 10000; i++) {
		bool fired = pump(e);

		if (drain(e, l) == 0 && !fired)
			return;
	}
	fail_msg("run did not settle");
}

size_t count_op(const struct env *e, size_t from, uint16_t op)
{
	size_t n = 0;

	for (size_t i = from; i < e->npk; i++)
		n += e->pk[i].h.op == op;
	return n;
}

const struct pkt *last(const struct env *e)
{
	assert_true(e->npk > 0);
	return &e->pk[e->npk - 1];
}

/* RW payload from host port hp to guest port gp, concatenated. */
size_t rw_data(const struct env *e, uint32_t hp, uint32_t gp, unsigned char *out, size_t max)
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
struct fhost *open_conn(struct env *e, uint32_t gp, uint32_t hp, uint32_t buf_alloc)
{
	assert_int_equal(gsend(e, VSK_OP_REQUEST, gp, hp, 0, buf_alloc, 0, NULL, 0), 0);
	assert_int_equal(drain(e, L_3776), 1);
	assert_int_equal(last(e)->h.op, VSK_OP_RESPONSE);
	return e->hosts[e->nhosts - 1];
}
