/* SPDX-License-Identifier: MIT */
/*
 * vsock-pkt.c - virtio-vsock header codec, iovec helpers and the chunked
 * byte queue that holds guest data the host stream could not take yet.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vsock-pkt.h"

#define CHUNK_MIN 4096u
#define CHUNK_MAX (64u * 1024)

struct vsk_chunk {
	struct vsk_chunk *next;
	uint32_t start, end, cap; /* bytes [start, end) of data[cap] are queued */
	unsigned char data[];
};

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

int vsk_hdr_decode(const void *buf, size_t len, struct vsk_hdr *h)
{
	const unsigned char *p = buf;

	if (!buf || len < VSK_HDR_SIZE)
		return -EINVAL;
	h->src_cid = get64(p);
	h->dst_cid = get64(p + 8);
	h->src_port = get32(p + 16);
	h->dst_port = get32(p + 20);
	h->len = get32(p + 24);
	h->type = get16(p + 28);
	h->op = get16(p + 30);
	h->flags = get32(p + 32);
	h->buf_alloc = get32(p + 36);
	h->fwd_cnt = get32(p + 40);
	return 0;
}

void vsk_hdr_encode(const struct vsk_hdr *h, void *buf)
{
	unsigned char *p = buf;

	put64(p, h->src_cid);
	put64(p + 8, h->dst_cid);
	put32(p + 16, h->src_port);
	put32(p + 20, h->dst_port);
	put32(p + 24, h->len);
	put16(p + 28, h->type);
	put16(p + 30, h->op);
	put32(p + 32, h->flags);
	put32(p + 36, h->buf_alloc);
	put32(p + 40, h->fwd_cnt);
}

const char *vsk_op_name(unsigned op)
{
	static const char *const names[] = { "INVALID",	      "REQUEST",       "RESPONSE",
					     "RST",	      "SHUTDOWN",      "RW",
					     "CREDIT_UPDATE", "CREDIT_REQUEST" };

	return op < sizeof(names) / sizeof(names[0]) ? names[op] : "op?";
}

static struct vsk_chunk *chunk_new(size_t want)
{
	size_t cap = (want + CHUNK_MIN - 1) / CHUNK_MIN * CHUNK_MIN;
	struct vsk_chunk *k;

	if (cap > CHUNK_MAX)
		cap = CHUNK_MAX;
	k = malloc(sizeof(*k) + cap);
	if (!k)
		return NULL;
	k->next = NULL;
	k->start = k->end = 0;
	k->cap = (uint32_t)cap;
	return k;
}

int vsk_bufq_append(struct vsk_bufq *q, const struct iovec *iov, int iovcnt, size_t off, size_t len)
{
	while (len > 0) {
		struct vsk_chunk *k = q->tail;
		size_t n;

		if (!k || k->end == k->cap) {
			k = chunk_new(len);
			if (!k)
				return -ENOMEM;
			q->mem += k->cap;
			if (q->tail)
				q->tail->next = k;
			else
				q->head = k;
			q->tail = k;
		}
		n = k->cap - k->end;
		if (n > len)
			n = len;
		n = iov_to_buf(iov, iovcnt, off, k->data + k->end, n);
		if (n == 0)
			return -EINVAL; /* the iovecs ended early: caller's bug */
		k->end += (uint32_t)n;
		q->bytes += (uint32_t)n;
		off += n;
		len -= n;
	}
	return 0;
}

int vsk_bufq_peek(const struct vsk_bufq *q, struct iovec *out, int max)
{
	int n = 0;

	for (const struct vsk_chunk *k = q->head; k && n < max; k = k->next) {
		out[n].iov_base = (void *)(k->data + k->start);
		out[n].iov_len = k->end - k->start;
		n++;
	}
	return n;
}

void vsk_bufq_consume(struct vsk_bufq *q, size_t n)
{
	while (n > 0 && q->head) {
		struct vsk_chunk *k = q->head;
		size_t have = k->end - k->start;

		if (n < have) {
			k->start += (uint32_t)n;
			q->bytes -= (uint32_t)n;
			return;
		}
		n -= have;
		q->bytes -= (uint32_t)have;
		q->mem -= k->cap;
		q->head = k->next;
		free(k);
	}
	if (!q->head)
		q->tail = NULL;
}

void vsk_bufq_clear(struct vsk_bufq *q)
{
	while (q->head) {
		struct vsk_chunk *k = q->head;

		q->head = k->next;
		free(k);
	}
	q->tail = NULL;
	q->bytes = 0;
	q->mem = 0;
}
