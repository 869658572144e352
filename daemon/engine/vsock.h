/* SPDX-License-Identifier: MIT */
/*
 * vsock.h - the virtio-vsock connection engine of one VM: packets from the
 * guest's tx queue go in (vsk_dev_guest_tx), packets for the guest's rx
 * queue come out (vsk_dev_fill_rx), and host-side streams are reached only
 * through callbacks (struct vsk_ops). The engine owns no fd, no timer and
 * no event loop, so tests drive it with plain memory.
 *
 * Calling rules for the glue:
 * - Everything runs on one thread. A callback must not call back into the
 *   engine, except vsk_conn_get_data/set_data/local_port/peer_port; from
 *   rx_ready, vsk_dev_fill_rx/vsk_dev_rx_pending; from connected(c),
 *   vsk_conn_host_closed(c)/vsk_conn_close(c) (e.g. the "OK" line failed).
 * - rx_ready is called at most once per engine call, as its last action,
 *   when packets for the guest were queued during it (never from
 *   vsk_dev_fill_rx). Also fill rx buffers whenever the guest adds some.
 * - closed(c, err) is the end of c for the glue: close the host stream and
 *   forget c. It may come from every engine call that takes the device or
 *   a connection, vsk_dev_fill_rx included.
 * - Readiness: the engine says what to poll with host_want(); it starts
 *   with nothing wanted. Polling must be level-triggered; the engine turns
 *   read interest off while it knows the stream is readable.
 */
#ifndef VMSVCD_VSOCK_H
#define VMSVCD_VSOCK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "loglevel.h"
#include "vsock-pkt.h"

/* vsk_dev_host_connect(): pick a free local port in [2^30, 2^31). */
#define VSK_PORT_ANY UINT32_MAX
/* vsk_dev_host_connect(): pick a free privileged local port, in [512, 1024):
 * for the daemon's in-box services, whose guest side accepts only those. */
#define VSK_PORT_PRIVILEGED (UINT32_MAX - 1)

/*
 * Bytes held in the engines' own memory by several devices together (the
 * daemon-wide cap, docs/limits.md): guest data waiting for host streams and
 * host->guest staging. Shared by pointer through struct vsk_limits; the
 * engines only add and subtract, one thread at a time.
 */
struct vsk_budget {
	uint64_t cap;  /* bytes */
	uint64_t used; /* bytes held now */
};

/* Limits of one device; a field left 0 takes the default shown. */
struct vsk_limits {
	uint32_t max_conns;	     /* 1024 connections, closing ones included */
	uint32_t buf_alloc;	     /* 256 KiB: our receive buffer per connection */
	uint32_t connect_timeout_ms; /* 2000: host connect waiting for RESPONSE */
	uint32_t close_timeout_ms;   /* 8000: waiting for the guest's RST */
	uint32_t stage_budget;	     /* 4 MiB: host->guest staging, whole device */
	/* 16 MiB: guest data buffered for host streams that have not taken
	 * it, whole device. A packet that would go beyond it (or beyond the
	 * shared budget) resets its connection, like a credit violation. */
	uint32_t buffer_cap;
	struct vsk_budget *shared; /* NULL: no cap shared with other devices */
};

/* Counters of one device since vsk_dev_new(). */
struct vsk_stats {
	uint64_t to_host_bytes;	    /* guest payload written to host streams */
	uint64_t to_guest_bytes;    /* host payload put into rx buffers */
	uint64_t from_guest_pkts;   /* packets passed to vsk_dev_guest_tx() */
	uint64_t to_guest_pkts;	    /* packets put into rx buffers */
	uint64_t malformed;	    /* bad length: vsk_dev_guest_tx() said -EPROTO */
	uint64_t bad_addr;	    /* src_cid not the guest's or dst_cid not 2: dropped */
	uint64_t bad_type;	    /* type not STREAM: RST */
	uint64_t bad_op;	    /* op unexpected in the connection's state */
	uint64_t unknown_conn;	    /* packet (not REQUEST) for no connection: RST */
	uint64_t credit_violations; /* guest sent beyond our buf_alloc: reset */
	uint64_t buffer_limit;	    /* buffer_cap or the shared cap reached: reset */
	uint64_t rst_dropped;	    /* device RST ring full: RST not sent */
	uint64_t refused;	    /* guest_connect() refused: RST */
	uint64_t conn_limit;	    /* REQUEST over max_conns: RST */
	uint64_t conns_opened;	    /* connections established */
	uint64_t conns_closed;	    /* closed(…, 0) */
	uint64_t conns_failed;	    /* closed(…, err < 0) */
	uint32_t conns;		    /* connections now, closing ones included */
	uint32_t staged;	    /* bytes of host->guest staging now */
	uint32_t buffered;	    /* guest bytes waiting for host streams now */
};

/* Counters of one connection. */
struct vsk_conn_stats {
	uint64_t to_host_bytes;	 /* written to the host stream */
	uint64_t to_guest_bytes; /* sent to the guest */
	uint32_t buffered;	 /* guest bytes waiting for the host stream */
	uint32_t staged;	 /* host bytes read but not yet sent to the guest */
};

struct vsk_dev;	    /* one per VM */
struct vsk_journal; /* vsock-journal.h */
struct vsk_conn;    /* one per connection */

struct vsk_ops {
	/*
	 * The guest asks for host port `port` from its port `src_port`.
	 * Return 0 to accept, after connecting a host stream and attaching
	 * it with vsk_conn_set_data() (the engine sends RESPONSE), or a
	 * negative errno to refuse (the engine sends RST; closed() will not
	 * be called for c). Must not block. NULL refuses everything.
	 */
	int (*guest_connect)(void *opaque, struct vsk_conn *c, uint32_t port, uint32_t src_port);
	/* Writes to the host stream (writev): bytes written (may be short),
	 * -EAGAIN, or another negative errno (the connection is reset). */
	ssize_t (*host_write)(void *opaque, struct vsk_conn *c, const struct iovec *iov,
			      int iovcnt);
	/* Reads from the host stream: > 0 bytes, 0 at end of stream (the
	 * host shut its write side), -EAGAIN, or another negative errno (the
	 * connection is reset). */
	ssize_t (*host_read)(void *opaque, struct vsk_conn *c, void *buf, size_t len);
	/* The guest will send no more: shutdown(SHUT_WR) the host stream. */
	void (*host_shutdown_write)(void *opaque, struct vsk_conn *c);
	/* Which readiness of the host stream to poll for from now on. */
	void (*host_want)(void *opaque, struct vsk_conn *c, bool read, bool write);
	/* A connection of vsk_dev_host_connect() was accepted by the guest
	 * (optional). */
	void (*connected)(void *opaque, struct vsk_conn *c);
	/*
	 * c is gone: err 0 for an orderly close, else -ECONNRESET (reset by
	 * the guest or by vsk_conn_host_closed), -ECONNREFUSED (the guest
	 * refused a host connect), -ETIMEDOUT, -EPROTO, -ENOBUFS (the guest
	 * overran its credit), -ENOMEM, or a host_read/host_write errno.
	 * Close the host stream; c must not be used after this returns.
	 */
	void (*closed)(void *opaque, struct vsk_conn *c, int err);
	/* Packets for the guest are waiting: fill rx buffers (optional). */
	void (*rx_ready)(void *opaque);
	/* A log line (optional). */
	eng_log_fn *log;
};

/**
 * Creates the engine of the VM whose CID is guest_cid (3 .. 2^32-2). ops is
 * not copied and must outlive the device; opaque is passed to every
 * callback; lim NULL means the defaults. Returns 0 and *out, -EINVAL (bad
 * CID, missing host_read/host_write/host_want/closed) or -ENOMEM.
 */
int vsk_dev_new(struct vsk_dev **out, uint64_t guest_cid, const struct vsk_ops *ops, void *opaque,
		const struct vsk_limits *lim);

/**
 * Closes every connection (closed(c, -ECONNRESET), no packet sent) and
 * frees d. Accepts NULL; returns NULL.
 */
struct vsk_dev *vsk_dev_free(struct vsk_dev *d);

/**
 * The guest's driver was reset or QEMU went away: every connection is
 * closed with -ECONNRESET, every queued packet is dropped, no packet is
 * sent. Counters are kept.
 */
void vsk_dev_reset(struct vsk_dev *d);

/**
 * Handles one packet of the guest's tx queue: hdr is its 44-byte header,
 * payload the iovecs that follow it (guest memory, used only during the
 * call, at most VSK_MAX_IOV). Returns 0 when the packet was consumed (also
 * when it was dropped or answered with RST), or -EPROTO when it is
 * malformed (len not the payload size, or over 64 KiB): dropped, counted,
 * the glue may log it.
 */
int vsk_dev_guest_tx(struct vsk_dev *d, const void *hdr, const struct iovec *payload, int iovcnt);

/**
 * The same for a whole tx chain as the virtqueue gives it (header first,
 * in one or more iovecs, then the payload). -EPROTO also when the chain is
 * shorter than a header.
 */
int vsk_dev_guest_tx_iov(struct vsk_dev *d, const struct iovec *iov, int iovcnt);

/**
 * Fills ONE guest rx buffer (writable iovecs, any layout) with the next
 * packet: a 44-byte header then payload; data is split so that a packet
 * never exceeds the buffer. Returns the bytes used (the used length to
 * report), or 0 if there was nothing to send in a buffer that size (the
 * buffer is untouched: give it back, e.g. with vq_unpop()). Buffers under
 * 44 bytes are never used.
 */
size_t vsk_dev_fill_rx(struct vsk_dev *d, const struct iovec *iov, int iovcnt);

/** Whether packets are waiting for rx buffers. */
bool vsk_dev_rx_pending(const struct vsk_dev *d);

/**
 * Opens a connection from the host to guest_port (Firecracker CONNECT):
 * from local_port, or from a free port in [2^30, 2^31) with VSK_PORT_ANY,
 * or in [512, 1024) with VSK_PORT_PRIVILEGED.
 * data is attached to the connection. Sends REQUEST; later connected(c) or
 * closed(c, err). Returns 0 and *out, -EADDRINUSE, -EMFILE (max_conns) or
 * -ENOMEM.
 */
int vsk_dev_host_connect(struct vsk_dev *d, uint32_t guest_port, uint32_t local_port, void *data,
			 struct vsk_conn **out);

/**
 * Advances the timers; call every 100-250 ms with a monotonic clock. A
 * timer starts at the first tick after it is armed, so timeouts are late by
 * up to one tick period: host connects without RESPONSE are closed with
 * -ETIMEDOUT (RST to the guest), connections waiting for the guest's RST
 * longer than close_timeout_ms are reset.
 */
void vsk_dev_tick(struct vsk_dev *d, uint64_t now_ms);

/**
 * Records every connection of d in j from now on (and those it has now),
 * until d is freed or j replaced; NULL stops recording. j must outlive its
 * use by d.
 */
void vsk_dev_set_journal(struct vsk_dev *d, struct vsk_journal *j);

/**
 * Takes the connections of an earlier device (a killed daemon's journal)
 * out of j and queues an RST to the guest for each one d does not have,
 * as far as the device's RST ring takes them; returns how many were
 * queued. Call again (after the rx queue drained) while j is not empty.
 */
unsigned vsk_dev_reset_journal(struct vsk_dev *d, struct vsk_journal *j);

/** Copies the device counters into *st. */
void vsk_dev_get_stats(const struct vsk_dev *d, struct vsk_stats *st);

/** The device's connection limit (struct vsk_limits.max_conns, its
 * default filled in): a journal for d needs vjr_size() of it. */
uint32_t vsk_dev_max_conns(const struct vsk_dev *d);

/** The host stream polled readable (POLLIN, also POLLHUP/POLLERR). */
void vsk_conn_host_readable(struct vsk_conn *c);

/** The host stream polled writable (POLLOUT). */
void vsk_conn_host_writable(struct vsk_conn *c);

/**
 * The host stream failed beyond repair: the connection is reset (RST to
 * the guest) and closed(c, -ECONNRESET) is called before this returns.
 */
void vsk_conn_host_closed(struct vsk_conn *c);

/**
 * Orderly close from the host side, like close() on a Linux vsock socket:
 * unsent data is dropped, SHUTDOWN(RCV|SEND) goes to the guest and its RST
 * is awaited for up to close_timeout_ms (then RST). closed(c, 0) is called
 * before this returns; the host stream is not used any more.
 */
void vsk_conn_close(struct vsk_conn *c);

/** The glue's pointer attached to c (NULL at first). */
void *vsk_conn_get_data(const struct vsk_conn *c);

/** Attaches the glue's pointer to c. */
void vsk_conn_set_data(struct vsk_conn *c, void *data);

/** The host-side port of c. */
uint32_t vsk_conn_local_port(const struct vsk_conn *c);

/** The guest-side port of c. */
uint32_t vsk_conn_peer_port(const struct vsk_conn *c);

/** Copies the connection counters into *st. */
void vsk_conn_get_stats(const struct vsk_conn *c, struct vsk_conn_stats *st);

#endif /* VMSVCD_VSOCK_H */
