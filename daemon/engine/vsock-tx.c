/* SPDX-License-Identifier: MIT */
/*
 * vsock-tx.c - packets from the guest's tx queue: validation, the RST
 * rules, connection requests and the per-state handling of each op. Guest
 * data goes to the host stream from here. Invariants: vsock-int.h.
 *
 * Protocol decisions (Linux net/vmw_vsock/virtio_transport_common.c and
 * Firecracker's vsock muxer are the references):
 * - Only src_cid == guest CID and dst_cid == 2 pass (like vhost-vsock);
 *   others are dropped without a reply, so a forged address gets nothing.
 * - RST answers a non-STREAM packet, a packet for no connection and a
 *   refused REQUEST, with the addresses swapped; an RST is never answered.
 *   RSTs without a connection go to a bounded ring (full: dropped, counted).
 * - A REQUEST for a live (local, peer) pair resets the old connection and
 *   is answered with RST. Linux ignores it, leaving the guest's connect to
 *   time out and a stale connection behind; the guest only reuses a port it
 *   has released, so ours is stale, and failing fast frees it.
 * - In CONNECTING (our REQUEST) only RESPONSE or RST are valid; anything
 *   else resets with -EPROTO (Linux: virtio_transport_recv_connecting).
 * - Guest data goes straight to host_write() from guest memory; what the
 *   stream does not take is copied to txq, bounded by our buf_alloc (a
 *   guest that overruns it is reset: Linux's rule for its own sockets).
 *   Once txq holds bytes, new data queues behind them (order) and goes out
 *   on host writability.
 */
#include <errno.h>
#include <stdint.h>

#include "vsock-int.h"

/* RST from cid for a packet that has no connection (never for an RST). */
static void queue_rst_from(struct vsk_dev *d, const struct vsk_hdr *h, uint64_t cid)
{
	struct vsk_rst *r;

	if (h->op == VSK_OP_RST)
		return;
	if (d->ring_len == VSK_RST_RING) {
		d->st.rst_dropped++;
		return;
	}
	r = &d->ring[(d->ring_head + d->ring_len) % VSK_RST_RING];
	r->cid = cid;
	r->lport = h->dst_port;
	r->pport = h->src_port;
	r->type = h->type;
	d->ring_len++;
	d->notify = true;
}

unsigned vsk_dev_reset_journal(struct vsk_dev *d, struct vsk_journal *j)
{
	uint32_t lport, pport;
	unsigned n = 0;

	vsk_enter(d);
	while (d->ring_len < VSK_RST_RING && vjr_pop(j, &lport, &pport)) {
		const struct vsk_hdr h = { .src_port = pport,
					   .dst_port = lport,
					   .type = VSK_TYPE_STREAM,
					   .op = VSK_OP_RW };

		/* one of ours only if a connection of this device has it now */
		if (vsk_tbl_find(d, vsk_conn_key(lport, pport)))
			continue;
		queue_rst_from(d, &h, VSK_CID_HOST);
		n++;
	}
	vsk_leave(d);
	return n;
}

static void queue_rst(struct vsk_dev *d, const struct vsk_hdr *h)
{
	queue_rst_from(d, h, VSK_CID_HOST);
}

static void update_credit(struct vsk_conn *c, const struct vsk_hdr *h)
{
	if (c->peer_buf_alloc != h->buf_alloc || c->peer_fwd_cnt != h->fwd_cnt)
		c->credit_asked = false;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
}

static void guest_request(struct vsk_dev *d, const struct vsk_hdr *h)
{
	struct vsk_conn *c;
	int r;

	if (d->nconns >= d->lim.max_conns) {
		d->st.conn_limit++;
		vsk_warn_once(d, VSK_WARN_CONN_LIMIT,
			      "vsock cid %llu: %u connections, the limit: port %u refused",
			      (unsigned long long)d->cid, d->nconns, h->dst_port);
		queue_rst(d, h);
		return;
	}
	if (vsk_conn_new(d, h->dst_port, h->src_port, &c) < 0) {
		queue_rst(d, h);
		return;
	}
	update_credit(c, h);
	r = d->ops->guest_connect ? d->ops->guest_connect(d->opaque, c, h->dst_port, h->src_port)
				  : -ECONNREFUSED;
	if (r < 0) {
		d->st.refused++;
		vsk_conn_free(c);
		queue_rst(d, h);
		return;
	}
	if (c->state == VSK_ZOMBIE) /* the glue broke the rules and reset it */
		return;
	c->state = VSK_ESTABLISHED;
	c->ctl |= CTL_RESPONSE;
	d->st.conns_opened++;
	vsk_conn_sched(c);
}

/* (A guest that shut both ways with txq empty is closed already, so an
 * RST here always cuts something short.) */
static void guest_rst(struct vsk_conn *c)
{
	vsk_conn_kill(c, c->state == VSK_CONNECTING ? -ECONNREFUSED : -ECONNRESET, VSK_KILL_SILENT);
}

/* A zombie waits for its RST to go out, or for the guest's RST. */
static void zombie_packet(struct vsk_conn *c, const struct vsk_hdr *h)
{
	if (h->op == VSK_OP_RST) {
		vsk_conn_free(c);
		return;
	}
	/* after our SHUTDOWN both: the guest closing too, or reusing the
	 * ports, wants our RST now */
	if (c->closing && (h->op == VSK_OP_REQUEST ||
			   (h->op == VSK_OP_SHUTDOWN && (h->flags & VSK_SHUTDOWN_SEND)))) {
		c->closing = false;
		c->timer = TIMER_OFF;
		c->ctl = CTL_RST;
		vsk_conn_sched(c);
	}
}

static void connecting_packet(struct vsk_conn *c, const struct vsk_hdr *h)
{
	struct vsk_dev *d = c->dev;

	if (h->op != VSK_OP_RESPONSE) {
		d->st.bad_op++;
		vsk_conn_kill(c, -EPROTO, VSK_KILL_RST);
		return;
	}
	c->state = VSK_ESTABLISHED;
	c->timer = TIMER_OFF;
	d->st.conns_opened++;
	if (d->ops->connected)
		d->ops->connected(d->opaque, c); /* may call vsk_conn_host_closed(c) */
	vsk_conn_sched(c);
}

/* Keeps what the host stream did not take, within the device's and the
 * daemon's caps; false when c was reset instead. */
static bool buffer(struct vsk_conn *c, const struct iovec *iov, int iovcnt, size_t off, size_t len)
{
	struct vsk_dev *d = c->dev;
	uint32_t old = c->txq.mem;
	int r;

	if (!vsk_buffer_room(d, VSK_BUFQ_GROWTH(len))) {
		d->st.buffer_limit++;
		vsk_warn_once(d, VSK_WARN_BUFFER,
			      "vsock cid %llu: guest data waiting for host streams reached the cap "
			      "(%u KiB on this VM); port %u reset",
			      (unsigned long long)d->cid, d->txq_mem / 1024, c->pport);
		vsk_conn_kill(c, -ENOBUFS, VSK_KILL_RST);
		return false;
	}
	r = vsk_bufq_append(&c->txq, iov, iovcnt, off, len);
	vsk_conn_txq_account(c, old);
	if (r < 0) {
		vsk_conn_kill(c, -ENOMEM, VSK_KILL_RST);
		return false;
	}
	return true;
}

static void guest_rw(struct vsk_conn *c, const struct vsk_hdr *h, const struct iovec *iov,
		     int iovcnt)
{
	struct vsk_dev *d = c->dev;
	size_t done = 0;

	if (h->len == 0 || c->guest_shut_send) {
		d->st.bad_op += h->len > 0;
		return;
	}
	if ((uint64_t)c->txq.bytes + h->len > d->lim.buf_alloc) {
		d->st.credit_violations++;
		vsk_warn_once(d, VSK_WARN_CREDIT,
			      "vsock cid %llu: port %u overran its credit (%u bytes buffered, %u "
			      "more); connection reset",
			      (unsigned long long)d->cid, c->pport, c->txq.bytes, h->len);
		vsk_conn_kill(c, -ENOBUFS, VSK_KILL_RST);
		return;
	}
	c->rx_cnt += h->len;
	if (c->txq.bytes == 0) {
		ssize_t r = d->ops->host_write(d->opaque, c, iov, iovcnt);

		if (r < 0 && !vsk_is_transient(r)) {
			vsk_conn_kill(c, (int)r, VSK_KILL_RST);
			return;
		}
		done = r > 0 ? ((size_t)r < h->len ? (size_t)r : h->len) : 0;
		vsk_conn_account_written(c, done);
	}
	if (done < h->len && !buffer(c, iov, iovcnt, done, h->len - done))
		return;
	vsk_conn_credit_check(c, false);
	vsk_conn_sched(c);
}

static void guest_shutdown(struct vsk_conn *c, uint32_t flags)
{
	if (flags & VSK_SHUTDOWN_RCV) {
		c->guest_shut_rcv = true;
		vsk_conn_stage_free(c);
	}
	if (flags & VSK_SHUTDOWN_SEND)
		c->guest_shut_send = true;
	if (vsk_conn_check_finished(c))
		return;
	/* closed by the guest, but txq not flushed yet: linger, bounded */
	if (c->guest_shut_rcv && c->guest_shut_send && c->timer == TIMER_OFF)
		c->timer = TIMER_ARMED;
	vsk_conn_sched(c);
}

static void established_packet(struct vsk_conn *c, const struct vsk_hdr *h, const struct iovec *iov,
			       int iovcnt)
{
	struct vsk_dev *d = c->dev;

	switch (h->op) {
	case VSK_OP_RW:
		guest_rw(c, h, iov, iovcnt);
		return;
	case VSK_OP_SHUTDOWN:
		guest_shutdown(c, h->flags);
		return;
	case VSK_OP_CREDIT_REQUEST:
		c->ctl |= CTL_CREDIT_UPDATE;
		break;
	case VSK_OP_CREDIT_UPDATE:
		break; /* the credit was taken from the header */
	case VSK_OP_REQUEST:
		d->st.bad_op++;
		vsk_conn_kill(c, -ECONNRESET, VSK_KILL_RST);
		return;
	default:
		d->st.bad_op++;
		vsk_log(d, LOG_LVL_DEBUG, "vsock cid %llu: unexpected %s on port %u ignored",
			(unsigned long long)d->cid, vsk_op_name(h->op), c->pport);
		break;
	}
	vsk_conn_sched(c);
}

static void guest_packet(struct vsk_dev *d, const struct vsk_hdr *h, const struct iovec *iov,
			 int iovcnt)
{
	struct vsk_conn *c = vsk_tbl_find(d, vsk_conn_key(h->dst_port, h->src_port));

	if (h->type != VSK_TYPE_STREAM) {
		d->st.bad_type++;
		vsk_warn_once(d, VSK_WARN_BAD_TYPE,
			      "vsock cid %llu: packet of type %u (not STREAM)",
			      (unsigned long long)d->cid, h->type);
		if (c && h->op != VSK_OP_RST)
			vsk_conn_kill(c, -EPROTO, VSK_KILL_RST);
		else if (!c)
			queue_rst(d, h);
		return;
	}
	if (!c) {
		if (h->op == VSK_OP_REQUEST) {
			guest_request(d, h);
		} else {
			d->st.unknown_conn++;
			queue_rst(d, h);
		}
		return;
	}
	if (c->state == VSK_ZOMBIE) {
		zombie_packet(c, h);
		return;
	}
	if (h->op == VSK_OP_RST) {
		guest_rst(c);
		return;
	}
	update_credit(c, h);
	if (c->state == VSK_CONNECTING)
		connecting_packet(c, h);
	else
		established_packet(c, h, iov, iovcnt);
}

int vsk_dev_guest_tx(struct vsk_dev *d, const void *hdr, const struct iovec *payload, int iovcnt)
{
	struct vsk_hdr h;

	d->st.from_guest_pkts++;
	if (vsk_hdr_decode(hdr, VSK_HDR_SIZE, &h) < 0 || iovcnt < 0 || iovcnt > VSK_MAX_IOV ||
	    (iovcnt > 0 && !payload) || h.len > VSK_MAX_PAYLOAD ||
	    iov_size(payload, iovcnt) != h.len) {
		/* a header that does not match its descriptors: dropped */
		d->st.malformed++;
		vsk_warn_once(d, VSK_WARN_MALFORMED,
			      "vsock cid %llu: malformed tx packet dropped: len %u, %zu bytes "
			      "after the header",
			      (unsigned long long)d->cid, h.len,
			      iovcnt >= 0 && iovcnt <= VSK_MAX_IOV ? iov_size(payload, iovcnt) : 0);
		return -EPROTO;
	}
	if (h.src_cid != d->cid || h.dst_cid != VSK_CID_HOST) {
		d->st.bad_addr++;
		/* a REQUEST to another CID is a guest's everyday mistake */
		if (h.src_cid != d->cid || h.op != VSK_OP_REQUEST)
			vsk_warn_once(d, VSK_WARN_BAD_ADDR,
				      "vsock cid %llu: packet %llu -> %llu dropped",
				      (unsigned long long)d->cid, (unsigned long long)h.src_cid,
				      (unsigned long long)h.dst_cid);
		/* A guest asking for any CID but the host's (another guest, the
		 * hypervisor) is told "nobody there" at once, by an RST that
		 * seems to come from that CID, so its connect() fails fast with
		 * ECONNRESET instead of a 2 s timeout; nothing else reaches that
		 * CID. Packets with a forged source are dropped silently. */
		if (h.src_cid == d->cid && h.op == VSK_OP_REQUEST) {
			vsk_enter(d);
			queue_rst_from(d, &h, h.dst_cid);
			vsk_leave(d);
		}
		return 0;
	}
	vsk_enter(d);
	guest_packet(d, &h, payload, iovcnt);
	vsk_leave(d);
	return 0;
}

int vsk_dev_guest_tx_iov(struct vsk_dev *d, const struct iovec *iov, int iovcnt)
{
	unsigned char hdr[VSK_HDR_SIZE];
	struct iovec payload[VSK_MAX_IOV];
	size_t total = iovcnt >= 0 ? iov_size(iov, iovcnt) : 0;
	int n = -1;

	if (total != SIZE_MAX && total >= VSK_HDR_SIZE &&
	    iov_to_buf(iov, iovcnt, 0, hdr, VSK_HDR_SIZE) == VSK_HDR_SIZE)
		n = iov_slice(iov, iovcnt, VSK_HDR_SIZE, total - VSK_HDR_SIZE, payload,
			      VSK_MAX_IOV);
	if (n < 0) {
		d->st.from_guest_pkts++;
		d->st.malformed++;
		vsk_warn_once(d, VSK_WARN_MALFORMED,
			      "vsock cid %llu: malformed tx packet dropped: a chain of %zu bytes "
			      "in %d pieces",
			      (unsigned long long)d->cid, total == SIZE_MAX ? 0 : total,
			      iovcnt > 0 ? iovcnt : 0);
		return -EPROTO;
	}
	return vsk_dev_guest_tx(d, hdr, payload, n);
}
