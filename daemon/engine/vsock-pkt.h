/* SPDX-License-Identifier: MIT */
/*
 * vsock-pkt.h - the virtio-vsock wire format (virtio spec "Socket Device",
 * linux/virtio_vsock.h) and the small buffer helpers of the vsock engine:
 * iovec copies and a chunked byte queue.
 *
 * The header is 44 bytes, packed, little-endian; struct vsk_hdr holds it
 * decoded in host byte order. Nothing here trusts its input: decoders
 * check sizes, copies stop at the end of the iovecs.
 */
#ifndef VMSVCD_VSOCK_PKT_H
#define VMSVCD_VSOCK_PKT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "iov.h"

#define VSK_HDR_SIZE	44
#define VSK_CID_HOST	2
#define VSK_MAX_PAYLOAD (64u * 1024) /* largest payload of one packet */
#define VSK_MAX_IOV	128	     /* iovecs accepted per guest packet */

enum vsk_type {
	VSK_TYPE_STREAM = 1,
	VSK_TYPE_SEQPACKET = 2,
};

enum vsk_op {
	VSK_OP_INVALID = 0,
	VSK_OP_REQUEST = 1,
	VSK_OP_RESPONSE = 2,
	VSK_OP_RST = 3,
	VSK_OP_SHUTDOWN = 4,
	VSK_OP_RW = 5,
	VSK_OP_CREDIT_UPDATE = 6,
	VSK_OP_CREDIT_REQUEST = 7,
};

/* SHUTDOWN flags: the sender will receive (RCV) / send (SEND) no more. */
#define VSK_SHUTDOWN_RCV  1u
#define VSK_SHUTDOWN_SEND 2u

/* A packet header in host byte order. */
struct vsk_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len; /* payload bytes after the header */
	uint16_t type, op;
	uint32_t flags;
	uint32_t buf_alloc, fwd_cnt;
};

/**
 * Decodes the 44-byte little-endian header at buf into h. Returns 0, or
 * -EINVAL if len < VSK_HDR_SIZE (h untouched). Fields are not judged here.
 */
int vsk_hdr_decode(const void *buf, size_t len, struct vsk_hdr *h);

/** Encodes h as 44 little-endian bytes at buf. */
void vsk_hdr_encode(const struct vsk_hdr *h, void *buf);

/** A short name of op for logs ("RW", "RST", ..., "op?"). */
const char *vsk_op_name(unsigned op);

/*
 * A FIFO of bytes in heap chunks of 4-64 KiB: memory follows the bytes
 * held and an empty queue holds none. Zero-initialise before use.
 */
struct vsk_chunk;
struct vsk_bufq {
	struct vsk_chunk *head, *tail;
	uint32_t bytes;
	uint32_t mem; /* data capacity of the chunks held (>= bytes): what it costs */
};

/* The most one append of len bytes can add to mem. */
#define VSK_BUFQ_GROWTH(len) ((uint64_t)(len) + 4096u)

/**
 * Appends bytes [off, off + len) of the iovecs. Returns 0 or -ENOMEM (then
 * a prefix may have been appended; the caller discards the queue).
 */
int vsk_bufq_append(struct vsk_bufq *q, const struct iovec *iov, int iovcnt, size_t off,
		    size_t len);

/** Fills out with up to max iovecs describing the head of q; returns the count. */
int vsk_bufq_peek(const struct vsk_bufq *q, struct iovec *out, int max);

/** Drops the first n bytes of q (n <= q->bytes), freeing emptied chunks. */
void vsk_bufq_consume(struct vsk_bufq *q, size_t n);

/** Drops everything. */
void vsk_bufq_clear(struct vsk_bufq *q);

#endif /* VMSVCD_VSOCK_PKT_H */
