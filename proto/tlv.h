/* SPDX-License-Identifier: MIT */
/*
 * tlv.h - private to proto/: the frame header and TLV field walking that
 * the VM Session codec (session.c) and the integration services' codec
 * (ic.c) share. Not installed, not for callers outside proto/.
 *
 * A field is le16 tag, le16 len, then len bytes; integers little-endian;
 * a string is its bytes and one terminating NUL. The walker never reads
 * past the payload: a field that does not fit is -EPROTO.
 */
#ifndef VMSVC_TLV_H
#define VMSVC_TLV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"

#define TLV_HDR	     4
#define TLV_MAX_LEN  0xffffu
#define TLV_TAG_TAIL 0xffffu /* with tlv_init_tail: the rest is raw bytes */

/**
 * Reads the frame header at buf into f (type, chan, len) and checks len
 * against max. Returns the bytes the frame spans, 0 when size does not
 * hold the header, or -EPROTO (len over max). f->payload is set when
 * buf[0..size) holds the whole frame, NULL otherwise: the caller checks its
 * own header rules first, then waits for the payload.
 */
long tlv_frame_read(const uint8_t *buf, size_t size, uint32_t max, struct sess_frame *f);

/* A walk over a frame's fields: after tlv_next returns 1, tag, len and val
 * describe the field. */
struct tlv_it {
	const uint8_t *p;
	size_t left;
	bool tail_ends;	     /* a TLV_TAG_TAIL field ends the list */
	const uint8_t *tail; /* after the walk: the raw tail, NULL when none */
	size_t tail_len;
	uint16_t tag, len;
	const uint8_t *val;
};

void tlv_init(struct tlv_it *it, const struct sess_frame *f);
/* Like tlv_init, and a field with tag TLV_TAG_TAIL and len 0 ends the
 * list: it->tail and it->tail_len are then the rest of the payload. */
void tlv_init_tail(struct tlv_it *it, const struct sess_frame *f);
/* 1: a field, 0: the end, -EPROTO: a field runs past the frame (or a tail
 * field has a length). */
int tlv_next(struct tlv_it *it);

/* The current field as a value: 0, or -EPROTO when its size is wrong. A
 * bool is a u32 0 or 1. A string is a non-empty field whose only NUL is
 * its last byte (*s points into the frame). */
int tlv_get_u32(const struct tlv_it *it, uint32_t *v);
int tlv_get_u64(const struct tlv_it *it, uint64_t *v);
int tlv_get_bool(const struct tlv_it *it, bool *v);
int tlv_get_str(const struct tlv_it *it, const char **s);

/* 0 when f is of type, -EPROTO otherwise. */
int tlv_expect_type(const struct sess_frame *f, uint16_t type);

#endif /* VMSVC_TLV_H */
