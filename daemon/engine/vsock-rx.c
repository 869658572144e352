/* SPDX-License-Identifier: MIT */
/*
 * vsock-rx.c - packets for the guest: one per rx buffer, in this order:
 *   1. RSTs of the device ring (packets that had no connection);
 *   2. control packets of connections (RST, REQUEST, RESPONSE, SHUTDOWN,
 *      CREDIT_UPDATE, CREDIT_REQUEST), one per connection in turn;
 *   3. data, one packet per connection in turn (round robin).
 * Control state is a few flags per connection and the ring is bounded, so
 * the engine keeps draining the tx queue even when the guest posts no rx
 * buffers (the spec's deadlock rule) without growing.
 *
 * Host data is read only here, when a buffer and credit are at hand, never
 * more than the guest's credit. Small rx buffers (Linux posts ~4 KiB ones)
 * would cost one read() each; instead one read of up to 64 KiB (and the
 * credit) goes to a per-connection staging buffer that is copied out over
 * the next buffers and freed when empty. Staging is bounded per device
 * (lim.stage_budget) and daemon-wide (lim.shared); beyond them, and for rx
 * buffers with >= 16 KiB of contiguous payload room, data is read straight
 * into the buffer.
 */
#include <errno.h>
#include <stdlib.h>

#include "util.h"
#include "vsock-int.h"

#define DIRECT_MIN (16u * 1024)

static void conn_hdr(struct vsk_conn *c, uint16_t op, struct vsk_hdr *h)
{
	struct vsk_dev *d = c->dev;

	*h = (struct vsk_hdr){
		.src_cid = VSK_CID_HOST,
		.dst_cid = d->cid,
		.src_port = c->lport,
		.dst_port = c->pport,
		.type = VSK_TYPE_STREAM,
		.op = op,
		.buf_alloc = d->lim.buf_alloc,
		.fwd_cnt = c->fwd_cnt,
	};
	/* every packet carries our credit: a pending update is now moot */
	c->last_fwd_cnt = c->fwd_cnt;
	c->ctl &= (uint8_t)~CTL_CREDIT_UPDATE;
}

static size_t put_hdr(const struct vsk_hdr *h, const struct iovec *iov, int iovcnt)
{
	unsigned char b[VSK_HDR_SIZE];

	vsk_hdr_encode(h, b);
	iov_from_buf(iov, iovcnt, 0, b, sizeof(b));
	return VSK_HDR_SIZE + (size_t)h->len;
}

static size_t emit_ring(struct vsk_dev *d, const struct iovec *iov, int iovcnt)
{
	const struct vsk_rst *r = &d->ring[d->ring_head];
	struct vsk_hdr h = {
		.src_cid = r->cid,
		.dst_cid = d->cid,
		.src_port = r->lport,
		.dst_port = r->pport,
		.type = r->type,
		.op = VSK_OP_RST,
	};

	d->ring_head = (d->ring_head + 1) % VSK_RST_RING;
	d->ring_len--;
	return put_hdr(&h, iov, iovcnt);
}

static size_t emit_ctl(struct vsk_conn *c, const struct iovec *iov, int iovcnt)
{
	static const struct {
		uint8_t bit;
		uint16_t op;
	} order[] = {
		{ CTL_RST, VSK_OP_RST },
		{ CTL_REQUEST, VSK_OP_REQUEST },
		{ CTL_RESPONSE, VSK_OP_RESPONSE },
		{ CTL_SHUTDOWN, VSK_OP_SHUTDOWN },
		{ CTL_CREDIT_UPDATE, VSK_OP_CREDIT_UPDATE },
		{ CTL_CREDIT_REQUEST, VSK_OP_CREDIT_REQUEST },
	};
	struct vsk_hdr h;
	unsigned i = 0;
	size_t n;

	while (i < ARRAY_SIZE(order) - 1 && !(c->ctl & order[i].bit))
		i++;
	c->ctl &= (uint8_t)~order[i].bit;
	conn_hdr(c, order[i].op, &h);
	if (h.op == VSK_OP_SHUTDOWN)
		h.flags = c->shut_out;
	n = put_hdr(&h, iov, iovcnt);
	list_del(&c->ctl_link); /* back to the tail if it has more to say */
	if (c->state == VSK_ZOMBIE && !c->ctl && !c->closing)
		vsk_conn_free(c);
	else
		vsk_conn_sched(c);
	return n;
}

static void got_eof(struct vsk_conn *c)
{
	c->host_eof = true;
	c->readable = false;
	c->shut_out |= VSK_SHUTDOWN_SEND;
	c->ctl |= CTL_SHUTDOWN;
	vsk_conn_check_finished(c);
}

/* One host_read(); returns the bytes read, 0 for none (EOF, EAGAIN, reset). */
static size_t read_host(struct vsk_conn *c, void *buf, size_t len)
{
	struct vsk_dev *d = c->dev;
	ssize_t r;

	if (len == 0 || !buf)
		return 0;
	r = d->ops->host_read(d->opaque, c, buf, len);
	if (r > 0) {
		if ((size_t)r > len)
			r = (ssize_t)len;
		/* a short read drained the stream: poll again (level-triggered) */
		if ((size_t)r < len)
			c->readable = false;
		return (size_t)r;
	}
	if (r == 0)
		got_eof(c);
	else if (r == -EAGAIN || r == -EINTR)
		c->readable = false;
	else
		vsk_conn_kill(c, (int)r, VSK_KILL_RST);
	return 0;
}

static size_t stage_out(struct vsk_conn *c, const struct iovec *iov, int iovcnt, size_t room)
{
	size_t n = c->stage_len < room ? c->stage_len : room;

	n = iov_from_buf(iov, iovcnt, VSK_HDR_SIZE, c->stage + c->stage_off, n);
	c->stage_off += (uint32_t)n;
	c->stage_len -= (uint32_t)n;
	if (c->stage_len == 0)
		vsk_conn_stage_free(c);
	return n;
}

/* Reads host data into the payload area of the rx buffer, directly or
 * through the staging buffer; room <= credit. */
static size_t host_in(struct vsk_conn *c, const struct iovec *iov, int iovcnt, size_t room)
{
	struct vsk_dev *d = c->dev;
	size_t seg, want = vsk_conn_credit(c), n;
	void *p = iov_at(iov, iovcnt, VSK_HDR_SIZE, &seg);

	bool direct;

	if (want > VSK_MAX_PAYLOAD)
		want = VSK_MAX_PAYLOAD;
	direct = seg >= DIRECT_MIN || want <= seg ||
		 (uint64_t)d->st.staged + want > d->lim.stage_budget || !vsk_shared_room(d, want);
	if (!direct) {
		c->stage = malloc(want);
		direct = !c->stage;
	}
	if (direct)
		return read_host(c, p, seg < room ? seg : room);
	c->stage_cap = (uint32_t)want;
	d->st.staged += c->stage_cap;
	vsk_budget_add(d, c->stage_cap);
	n = read_host(c, c->stage, want);
	if (n == 0) {
		if (c->stage) /* not freed by a reset */
			vsk_conn_stage_free(c);
		return 0;
	}
	c->stage_off = 0;
	c->stage_len = (uint32_t)n;
	return stage_out(c, iov, iovcnt, room);
}

/* One RW packet of c, or 0 (then c left data_q or produced control). */
static size_t emit_data(struct vsk_conn *c, const struct iovec *iov, int iovcnt, size_t cap)
{
	struct vsk_dev *d = c->dev;
	size_t room = cap - VSK_HDR_SIZE, n;
	uint32_t credit = vsk_conn_credit(c);
	struct vsk_hdr h;

	list_del(&c->data_link); /* round robin: back to the tail if still ready */
	if (room > credit)
		room = credit;
	if (room > VSK_MAX_PAYLOAD)
		room = VSK_MAX_PAYLOAD;
	n = c->stage_len > 0 ? stage_out(c, iov, iovcnt, room) : host_in(c, iov, iovcnt, room);
	if (n > 0) {
		conn_hdr(c, VSK_OP_RW, &h);
		h.len = (uint32_t)n;
		put_hdr(&h, iov, iovcnt);
		c->tx_cnt += (uint32_t)n;
		c->to_guest_bytes += n;
		d->st.to_guest_bytes += n;
	}
	vsk_conn_sched(c);
	return n > 0 ? VSK_HDR_SIZE + n : 0;
}

size_t vsk_dev_fill_rx(struct vsk_dev *d, const struct iovec *iov, int iovcnt)
{
	size_t cap = iovcnt > 0 ? iov_size(iov, iovcnt) : 0, n = 0;

	if (cap == SIZE_MAX || cap < VSK_HDR_SIZE)
		return 0;
	d->depth++;
	/* each empty round drops a connection from data_q (and may queue a
	 * control packet for the next round): bounded by 2 per connection */
	for (uint64_t round = 0; n == 0 && round <= 2 * (uint64_t)d->nconns + 2; round++) {
		if (d->ring_len > 0)
			n = emit_ring(d, iov, iovcnt);
		else if (!list_empty(&d->ctl_q))
			n = emit_ctl(list_entry(d->ctl_q.next, struct vsk_conn, ctl_link), iov,
				     iovcnt);
		else if (!list_empty(&d->data_q) && cap > VSK_HDR_SIZE)
			n = emit_data(list_entry(d->data_q.next, struct vsk_conn, data_link), iov,
				      iovcnt, cap);
		else
			break;
	}
	/* the glue is filling already: no rx_ready from here */
	if (--d->depth == 0)
		d->notify = false;
	if (n > 0)
		d->st.to_guest_pkts++;
	return n;
}

bool vsk_dev_rx_pending(const struct vsk_dev *d)
{
	return d->ring_len > 0 || !list_empty(&d->ctl_q) || !list_empty(&d->data_q);
}
