/* SPDX-License-Identifier: MIT */
/*
 * hstream.c - the host side of a VM's connections.
 *
 * Guest to host: the engine reports a guest REQUEST; the route table
 * (route.c) checks the registry and opens the host end (an hv_* listener,
 * a RUNDIR/vms/NAME.vsock_P listener, a daemon-internal service), or the
 * guest gets an RST at once.
 *
 * Host to guest: hs_connect() sends REQUEST for a stream its owner gives,
 * and tells the owner through its done() callback when the guest accepted,
 * refused or did not answer in time. What goes into the stream before data
 * (the hybrid "OK" line, the control socket's filler) is the owner's.
 *
 * Each stream is one struct hstream; the vsock engine drives its I/O
 * through the callbacks at the end of this file.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "hstream.h"
#include "log.h"
#include "registry.h"
#include "route.h"
#include "util.h"
#include "vm-int.h"

enum hs_state {
	HS_CONNECTING, /* REQUEST sent, waiting for the guest */
	HS_OPEN,       /* connected: data flows */
	HS_CLOSED,     /* closing; freed from the close callback */
};

/* The host end of one connection (a Unix stream). */
struct hstream {
	struct watch w;
	struct vm *vm;
	struct list_head link; /* vm->streams */
	struct vsk_conn *conn; /* NULL once the engine closed it */
	enum hs_state state;
	bool has_svc; /* svc: the registered service, for counters */
	bool active;  /* counted as active */
	hv_guid_t svc;
	hs_done_fn *done; /* the owner of a host connect, until called */
	void *done_opaque;
	uint64_t deadline_ms; /* HS_CONNECTING: when to give up */
};

static void on_stream(uv_poll_t *p, int status, int events);

static struct hstream *hs_new(struct vm *vm, int fd, enum hs_state state)
{
	struct hstream *hs = (struct hstream *)vm_watch_new(vm, fd, sizeof(*hs), on_stream);

	if (!hs)
		return NULL;
	hs->vm = vm;
	hs->state = state;
	list_add_tail(&hs->link, &vm->streams);
	return hs;
}

/* Counts hs as an established connection of its VM and service. */
static void hs_count_open(struct hstream *hs)
{
	struct vm *vm = hs->vm;

	hs->active = true;
	vm->count.accepted++;
	vm->count.active++;
	if (hs->has_svc) {
		struct counters *c = daemon_service_counters(vm->d, &hs->svc);
		c->accepted++;
		c->active++;
	}
}

/* Moves the final byte counts of c into the VM's and service's counters. */
static void hs_count_close(struct hstream *hs, struct vsk_conn *c)
{
	struct vm *vm = hs->vm;
	struct vsk_conn_stats st;
	struct counters *sc = hs->has_svc ? daemon_service_counters(vm->d, &hs->svc) : NULL;

	if (!hs->active)
		return;
	hs->active = false;
	vsk_conn_get_stats(c, &st);
	vm->count.active--;
	vm->count.bytes_to_host += st.to_host_bytes;
	vm->count.bytes_to_guest += st.to_guest_bytes;
	if (sc) {
		sc->active--;
		sc->bytes_to_host += st.to_host_bytes;
		sc->bytes_to_guest += st.to_guest_bytes;
	}
}

void hs_live_bytes(const struct vm *vm, const hv_guid_t *svc, struct counters *live)
{
	struct list_head *p, *t;

	list_for_each_safe (p, t, (struct list_head *)&vm->streams) {
		struct hstream *hs = list_entry(p, struct hstream, link);
		struct vsk_conn_stats st;

		if (!hs->conn || !hs->active ||
		    (svc && (!hs->has_svc || !hv_guid_equal(svc, &hs->svc))))
			continue;
		vsk_conn_get_stats(hs->conn, &st);
		live->bytes_to_host += st.to_host_bytes;
		live->bytes_to_guest += st.to_guest_bytes;
	}
}

/* Tells the owner of a host connect how it ended, once. Returns what the
 * owner returned (negative: reset the connection). */
static int hs_done(struct hstream *hs, int err, uint32_t local_port)
{
	hs_done_fn *done = hs->done;

	if (!done)
		return 0;
	hs->done = NULL;
	return done(hs->done_opaque, err, hs->w.fd, local_port);
}

/* Ends the host side of a stream; the engine's connection must be gone. */
static void hs_close(struct hstream *hs)
{
	if (hs->state == HS_CLOSED)
		return;
	hs_done(hs, -ECONNREFUSED, 0);
	hs->state = HS_CLOSED;
	hs->conn = NULL;
	list_del(&hs->link);
	watch_close(&hs->w);
}

/* Resets hs's connection with RST to the guest; the engine's closed()
 * callback follows and closes the stream. */
static void hs_reset(struct hstream *hs)
{
	struct vsk_conn *c = hs->conn;

	vsk_conn_host_closed(c);
	if (hs->conn == c) {
		/* Not expected: closed() must have come. */
		hs->conn = NULL;
		hs_close(hs);
	}
}

void hs_reset_all(struct vm *vm)
{
	struct list_head *p, *t;

	/* Restart from the head each time: closing one connection may end
	 * others (closed() can come from any engine call). Each round ends
	 * one stream, so the list bounds the loop. */
	for (;;) {
		struct hstream *hs = NULL;

		list_for_each_safe (p, t, &vm->streams) {
			struct hstream *h = list_entry(p, struct hstream, link);
			if (h->conn) {
				hs = h;
				break;
			}
		}
		if (!hs)
			break;
		hs_reset(hs);
	}
	vm_process_rx(vm);
	list_for_each_safe (p, t, &vm->streams)
		hs_close(list_entry(p, struct hstream, link));
}

/* ---- host to guest ---- */

/* Looks up the registered service of port, for counters. */
static void hs_set_service(struct hstream *hs, uint32_t port)
{
	struct daemon *d = hs->vm->d;
	const struct reg_service *svc;

	daemon_refresh_registry(d);
	svc = d->reg ? reg_find_port(d->reg, port) : NULL;
	if (svc) {
		hs->svc = svc->id;
		hs->has_svc = true;
	}
}

int hs_connect(struct vm *vm, uint32_t port, uint32_t local_port, int fd, uint64_t deadline_ms,
	       hs_done_fn *done, void *opaque)
{
	struct hstream *hs;
	int r;

	if (!vm_running(vm)) {
		safe_close(fd);
		return -ENETUNREACH;
	}
	hs = hs_new(vm, fd, HS_CONNECTING);
	if (!hs)
		return -ENOMEM;
	hs->deadline_ms = deadline_ms;
	hs_set_service(hs, port);
	r = vsk_dev_host_connect(vm->vsk, port, local_port, hs, &hs->conn);
	if (r < 0) {
		hs->conn = NULL;
		hs_close(hs);
		return r;
	}
	hs->done = done;
	hs->done_opaque = opaque;
	vm_process_rx(vm);
	return 0;
}

/* The first connecting stream whose deadline has passed, or NULL. */
static struct hstream *expired_stream(struct vm *vm, uint64_t now_ms)
{
	struct list_head *p, *t;

	list_for_each_safe (p, t, &vm->streams) {
		struct hstream *hs = list_entry(p, struct hstream, link);

		if (hs->state == HS_CONNECTING && hs->conn && now_ms >= hs->deadline_ms)
			return hs;
	}
	return NULL;
}

void hs_tick(struct vm *vm, uint64_t now_ms)
{
	struct hstream *hs;

	/* Closing one connection can close others (closed() may come from
	 * any engine call), so look again from the head after each one; every
	 * round ends one stream. */
	while ((hs = expired_stream(vm, now_ms))) {
		log_info("VM %s: connection to guest port %u timed out", vm->name,
			 vsk_conn_peer_port(hs->conn));
		hs_done(hs, -ETIMEDOUT, 0);
		hs_reset(hs); /* RST to the guest */
	}
}

static void on_stream(uv_poll_t *p, int status, int events)
{
	struct hstream *hs = p->data;

	if (hs->state != HS_OPEN || !hs->conn)
		return;
	if (status < 0) {
		vsk_conn_host_closed(hs->conn);
		return;
	}
	if (events & UV_WRITABLE)
		vsk_conn_host_writable(hs->conn);
	/* The engine may have closed the connection in the call above. */
	if ((events & UV_READABLE) && hs->conn)
		vsk_conn_host_readable(hs->conn);
}

/* ---- guest to host ---- */

static int cb_guest_connect(void *opaque, struct vsk_conn *c, uint32_t port, uint32_t src_port)
{
	struct vm *vm = opaque;
	struct route_req req = {
		.vm_id = &vm->id, .vm_name = vm->name, .port = port, .src_port = src_port
	};
	struct hstream *hs;
	hv_guid_t svc;
	int fd = route_admit(vm->d, &req, &vm->count, &svc);

	if (fd < 0)
		return fd;
	hs = hs_new(vm, fd, HS_OPEN);
	if (!hs)
		return -ENOMEM;
	hs->svc = svc;
	hs->has_svc = true;
	hs->conn = c;
	vsk_conn_set_data(c, hs);
	hs_count_open(hs);
	return 0;
}

/* ---- engine callbacks on a stream ---- */

static struct hstream *hs_of(struct vsk_conn *c)
{
	return vsk_conn_get_data(c);
}

static ssize_t cb_host_write(void *opaque, struct vsk_conn *c, const struct iovec *iov, int iovcnt)
{
	struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	ssize_t n = sendmsg(hs_of(c)->w.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)opaque;
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static ssize_t cb_host_read(void *opaque, struct vsk_conn *c, void *buf, size_t len)
{
	ssize_t n = recv(hs_of(c)->w.fd, buf, len, MSG_DONTWAIT);

	(void)opaque;
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static void cb_host_shutdown_write(void *opaque, struct vsk_conn *c)
{
	(void)opaque;
	shutdown(hs_of(c)->w.fd, SHUT_WR);
}

static void cb_host_want(void *opaque, struct vsk_conn *c, bool rd, bool wr)
{
	struct hstream *hs = hs_of(c);

	(void)opaque;
	if (hs && hs->state == HS_OPEN)
		watch_set(&hs->w, (rd ? UV_READABLE : 0) | (wr ? UV_WRITABLE : 0));
}

static void cb_connected(void *opaque, struct vsk_conn *c)
{
	struct hstream *hs = hs_of(c);

	(void)opaque;
	hs->state = HS_OPEN;
	hs_count_open(hs);
	if (hs_done(hs, 0, vsk_conn_local_port(c)) < 0)
		vsk_conn_host_closed(c);
}

static void cb_closed(void *opaque, struct vsk_conn *c, int err)
{
	struct hstream *hs = hs_of(c);
	struct vm *vm = opaque;

	if (!hs)
		return;
	if (hs->state == HS_CONNECTING) {
		log_info("VM %s: host connection to guest port %u failed: %s", vm->name,
			 vsk_conn_peer_port(c), strerror(-err));
		hs_done(hs, err == -ETIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED, 0);
	}
	hs_count_close(hs, c);
	vsk_conn_set_data(c, NULL);
	hs_close(hs);
}

static void cb_rx_ready(void *opaque)
{
	vm_process_rx(opaque);
}

const struct vsk_ops hs_vsk_ops = {
	.guest_connect = cb_guest_connect,
	.host_write = cb_host_write,
	.host_read = cb_host_read,
	.host_shutdown_write = cb_host_shutdown_write,
	.host_want = cb_host_want,
	.connected = cb_connected,
	.closed = cb_closed,
	.rx_ready = cb_rx_ready,
	.log = vm_vsk_log,
};
