/* SPDX-License-Identifier: MIT */
/*
 * stream.c - the host side of a VM's connections.
 *
 * Guest to host: a guest REQUEST to port P is admitted only if a service
 * with port P is registered and enabled; the connection then goes to the
 * host program listening at RUNDIR/vms/NAME.vsock_P (Firecracker's
 * convention). Anything else is refused at once with RST, so the guest's
 * connect() fails with ECONNRESET instead of timing out.
 *
 * Host to guest: a client of RUNDIR/vms/NAME.vsock writes
 * "CONNECT <port>\n"; the line is read one byte at a time so that data
 * sent right after it stays in the socket. Once the guest accepts, the
 * client reads "OK <hostport>\n" and the stream is the connection; if the
 * guest refuses or does not answer in time, the stream is closed.
 *
 * Each stream is one struct hstream; the vsock engine drives its I/O
 * through the callbacks at the end of this file.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <fcntl.h>

#include "control.h"
#include "log.h"
#include "registry.h"
#include "util.h"
#include "vm-int.h"

static void on_stream(uv_poll_t *p, int status, int events);

/* How long a hybrid client may take to send its CONNECT line. */
#define HYBRID_LINE_TIMEOUT_MS 5000

static struct hstream *hs_new(struct vm *vm, int fd, enum hs_state state)
{
	struct hstream *hs = (struct hstream *)watch_new(vm, fd, sizeof(*hs), on_stream);

	if (!hs)
		return NULL;
	hs->state = state;
	list_add_tail(&hs->link, &vm->streams);
	return hs;
}

/* Counts hs as an established connection of its VM and service. */
static void hs_count_open(struct hstream *hs)
{
	struct vm *vm = hs->w.vm;

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
	struct vm *vm = hs->w.vm;
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

void vm_live_bytes(const struct vm *vm, const hv_guid_t *svc, struct counters *live)
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

/* Completes the pending hv_connect of hs, if any. */
static void hs_connect_done(struct hstream *hs, int err)
{
	struct pconn *pc = hs->pc;

	if (!pc)
		return;
	hs->pc = NULL;
	control_connect_done(pc, err, &hs->w.vm->id, hs->w.fd);
}

/* Ends the host side of a stream; the engine's connection must be gone. */
static void hs_close(struct hstream *hs)
{
	if (hs->state == HS_CLOSED)
		return;
	hs_connect_done(hs, -ECONNREFUSED);
	hs->state = HS_CLOSED;
	hs->conn = NULL;
	list_del(&hs->link);
	watch_close(&hs->w);
}

void stream_close_pending(struct vm *vm)
{
	struct list_head *p, *t;

	list_for_each_safe (p, t, &vm->streams) {
		struct hstream *hs = list_entry(p, struct hstream, link);
		if (!hs->conn)
			hs_close(hs);
	}
}

void stream_reset_all(struct vm *vm)
{
	/* Restart from the head each time: closing one connection may end
	 * others (closed() can come from any engine call). Each round ends
	 * one stream, so the list bounds the loop. */
	for (;;) {
		struct hstream *hs = NULL;
		struct list_head *p, *t;

		list_for_each_safe (p, t, &vm->streams) {
			struct hstream *h = list_entry(p, struct hstream, link);
			if (h->conn) {
				hs = h;
				break;
			}
		}
		if (!hs)
			break;
		struct vsk_conn *c = hs->conn;
		vsk_conn_host_closed(c); /* RST to the guest; closed() follows */
		if (hs->conn == c) {
			/* Not expected: closed() must have come. */
			hs->conn = NULL;
			hs_close(hs);
		}
	}
	vm_process_rx(vm);
}

/* ---- host to guest: the hybrid CONNECT handshake ---- */

void stream_hybrid_accept(struct vm *vm)
{
	for (int n = 0; n < 64; n++) {
		int fd = accept4(vm->hybrid_listen->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			vm_accept_failed(vm, vm->hybrid_listen, vm->hybrid_path, errno);
			return;
		}
		struct hstream *hs = hs_new(vm, fd, HS_LINE);
		if (hs) {
			hs->deadline_ms = daemon_now_ms(vm->d) + HYBRID_LINE_TIMEOUT_MS;
			watch_set(&hs->w, UV_READABLE);
		}
	}
}

/* Looks up the registered service of port, for counters. */
static void hs_set_service(struct hstream *hs, uint32_t port)
{
	struct daemon *d = hs->w.vm->d;
	const struct reg_service *svc;

	daemon_refresh_registry(d);
	svc = d->reg ? reg_find_port(d->reg, port) : NULL;
	if (svc) {
		hs->svc = svc->id;
		hs->has_svc = true;
	}
}

/* Sends REQUEST for hs (HS_CONNECTING) to guest port. 0 or -errno. */
static int hs_start_connect(struct hstream *hs, uint32_t port, uint64_t deadline_ms)
{
	struct vm *vm = hs->w.vm;
	int r;

	if (!vm_running(vm))
		return -ENETUNREACH;
	watch_set(&hs->w, 0);
	hs->state = HS_CONNECTING;
	hs->deadline_ms = deadline_ms;
	hs_set_service(hs, port);
	r = vsk_dev_host_connect(vm->vsk, port, VSK_PORT_ANY, hs, &hs->conn);
	if (r < 0) {
		hs->conn = NULL;
		return r;
	}
	vm_process_rx(vm);
	return 0;
}

int vm_host_connect(struct vm *vm, uint32_t port, int fd, struct pconn *pc, uint64_t deadline_ms)
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
	r = hs_start_connect(hs, port, deadline_ms);
	if (r < 0) {
		hs_close(hs);
		return r;
	}
	hs->pc = pc;
	return 0;
}

/* How long a hybrid CONNECT waits for the guest (Firecracker's 2 s). */
#define HYBRID_CONNECT_TIMEOUT_MS 2000

static void hs_connect_guest(struct hstream *hs, uint32_t port)
{
	struct vm *vm = hs->w.vm;
	int r = hs_start_connect(hs, port, daemon_now_ms(vm->d) + HYBRID_CONNECT_TIMEOUT_MS);

	if (r < 0) {
		log_info("VM %s: CONNECT %u refused: %s", vm->name, port,
			 r == -ENETUNREACH ? "the guest's vsock driver is not running"
					   : strerror(-r));
		hs_close(hs);
	}
}

/* The first stream whose deadline has passed, or NULL. */
static struct hstream *expired_stream(struct vm *vm, uint64_t now_ms)
{
	struct list_head *p, *t;

	list_for_each_safe (p, t, &vm->streams) {
		struct hstream *hs = list_entry(p, struct hstream, link);

		if (((hs->state == HS_CONNECTING && hs->conn) || hs->state == HS_LINE) &&
		    now_ms >= hs->deadline_ms)
			return hs;
	}
	return NULL;
}

void vm_tick_streams(struct vm *vm, uint64_t now_ms)
{
	struct hstream *hs;

	/* Closing one connection can close others (closed() may come from
	 * any engine call), so look again from the head after each one; every
	 * round ends one stream. */
	while ((hs = expired_stream(vm, now_ms))) {
		if (hs->state == HS_LINE) {
			log_info("VM %s: hybrid client sent no CONNECT line within %d ms; closed",
				 vm->name, HYBRID_LINE_TIMEOUT_MS);
			hs_close(hs);
			continue;
		}
		log_info("VM %s: connection to guest port %u timed out", vm->name,
			 vsk_conn_peer_port(hs->conn));
		hs_connect_done(hs, -ETIMEDOUT);
		struct vsk_conn *c = hs->conn;
		vsk_conn_host_closed(c); /* RST to the guest; closed() follows */
		if (hs->conn == c) {
			hs->conn = NULL; /* not expected: closed() must have come */
			hs_close(hs);
		}
	}
}

/* Reads the CONNECT line without taking anything after its newline: peek,
 * then read exactly up to the newline (two syscalls instead of one per
 * byte). */
static void hs_read_line(struct hstream *hs)
{
	struct vm *vm = hs->w.vm;
	char buf[HYB_LINE_MAX + 1];
	uint32_t port;
	ssize_t n = recv(hs->w.fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	char *nl;
	int r = 0;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		hs_close(hs);
		return;
	}
	nl = memchr(buf, '\n', (size_t)n);
	/* Without a newline, take what is there (it is all line) and wait. */
	n = recv(hs->w.fd, buf, nl ? (size_t)(nl - buf + 1) : (size_t)n, MSG_DONTWAIT);
	for (ssize_t i = 0; i < n && r == 0; i++)
		r = hyb_line_feed(&hs->line, (uint8_t)buf[i], &port);
	if (n <= 0 || r < 0) {
		if (r < 0)
			log_info("VM %s: malformed hybrid request refused (expected "
				 "'CONNECT <port>\\n')",
				 vm->name);
		hs_close(hs);
	} else if (r == 1) {
		hs_connect_guest(hs, port);
	}
}

static void on_stream(uv_poll_t *p, int status, int events)
{
	struct hstream *hs = p->data;

	if (hs->state == HS_LINE) {
		if (status < 0)
			hs_close(hs);
		else
			hs_read_line(hs);
		return;
	}
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

/* ---- guest to host: admission ---- */

/* Connects to RUNDIR/vms/NAME.vsock_PORT without blocking. Returns the fd
 * (the caller owns it) or a negative errno. */
static int connect_listener(struct vm *vm, uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", vm->hybrid_path, port);

	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A Unix connect completes at once or fails (EAGAIN: backlog full). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return TAKE_FD(fd);
}

/* Counts a refused guest connection. */
static int refuse(struct vm *vm, const struct reg_service *svc, enum refusal why)
{
	vm->count.refused[why]++;
	if (svc)
		daemon_service_counters(vm->d, &svc->id)->refused[why]++;
	return -ECONNREFUSED;
}

/* Hands the guest connection to an hv_* listener over a fresh socket pair.
 * Returns our end (the caller owns it) or a negative errno. */
static int deliver_to_listener(struct vm *vm, struct ctl_client *l, const hv_guid_t *svc)
{
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	int r = control_deliver(l, &vm->id, svc, sp[1]);
	safe_close(sp[1]);
	if (r < 0) {
		safe_close(sp[0]);
		return r;
	}
	return sp[0];
}

static int cb_guest_connect(void *opaque, struct vsk_conn *c, uint32_t port, uint32_t src_port)
{
	struct vm *vm = opaque;
	const struct reg_service *svc;
	struct ctl_client *l;
	struct hstream *hs;
	bool wrong_vm = false;
	int fd;

	daemon_refresh_registry(vm->d);
	svc = vm->d->reg ? reg_find_port(vm->d->reg, port) : NULL;
	if (!svc || !svc->enabled) {
		log_info("VM %s: guest port %u -> host port %u refused: %s", vm->name, src_port,
			 port, svc ? "service disabled" : "no service registered for this port");
		return refuse(vm, svc, svc ? REFUSED_DISABLED : REFUSED_NOT_REGISTERED);
	}
	/* An hv_* listener names the VM or the service explicitly: it wins
	 * over the Firecracker-style NAME.vsock_P listener. */
	l = control_find_listener(vm->d, &svc->id, &vm->id, &wrong_vm);
	fd = l ? deliver_to_listener(vm, l, &svc->id) : -ENOENT;
	if (fd < 0)
		fd = connect_listener(vm, port);
	if (fd < 0) {
		log_info(
			"VM %s: guest connection to service '%s' (port %u) refused: %s", vm->name,
			svc->name, port,
			wrong_vm
				? "its only listeners are bound to other VMs"
				: "nobody listens (no hv listener, no RUNDIR/vms/NAME.vsock_PORT)");
		return refuse(vm, svc, wrong_vm ? REFUSED_WRONG_VM : REFUSED_NO_LISTENER);
	}
	hs = hs_new(vm, fd, HS_OPEN);
	if (!hs)
		return -ENOMEM;
	hs->svc = svc->id;
	hs->has_svc = true;
	hs->conn = c;
	vsk_conn_set_data(c, hs);
	hs_count_open(hs);
	log_debug("VM %s: guest port %u connected to service '%s'", vm->name, src_port, svc->name);
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
	char ok[32];
	size_t len;

	(void)opaque;
	hs->state = HS_OPEN;
	hs_count_open(hs);
	if (hs->pc) {
		hs_connect_done(hs, 0);
		return;
	}
	/* Hybrid client: a fresh socket's buffer always has room for this. */
	len = hyb_format_ok(vsk_conn_local_port(c), ok, sizeof(ok));
	if (send(hs->w.fd, ok, len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len)
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
		hs_connect_done(hs, err == -ETIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED);
	}
	hs_count_close(hs, c);
	vsk_conn_set_data(c, NULL);
	hs_close(hs);
}

static void cb_rx_ready(void *opaque)
{
	vm_process_rx(opaque);
}

const struct vsk_ops stream_vsk_ops = {
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
