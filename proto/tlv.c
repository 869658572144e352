/* SPDX-License-Identifier: MIT */
/*
 * tlv.c - the frame header and field walker shared by session.c and ic.c
 * (tlv.h). Every length is checked against what is left before it is used.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "tlv.h"

long tlv_frame_read(const uint8_t *buf, size_t size, uint32_t max, struct sess_frame *f)
{
	uint16_t w[2];
	uint32_t len;

	if (size < SESS_HDR_SIZE)
		return 0;
	memcpy(w, buf, sizeof(w));
	memcpy(&len, buf + 4, sizeof(len));
	f->type = le16toh(w[0]);
	f->chan = le16toh(w[1]);
	f->len = le32toh(len);
	if (f->len > max)
		return -EPROTO;
	f->payload = size - SESS_HDR_SIZE < f->len ? NULL : buf + SESS_HDR_SIZE;
	return (long)(SESS_HDR_SIZE + f->len);
}

void tlv_init(struct tlv_it *it, const struct sess_frame *f)
{
	*it = (struct tlv_it){ .p = f->payload, .left = f->len };
}

void tlv_init_tail(struct tlv_it *it, const struct sess_frame *f)
{
	tlv_init(it, f);
	it->tail_ends = true;
}

int tlv_next(struct tlv_it *it)
{
	uint16_t h[2];

	if (it->left == 0)
		return 0;
	if (it->left < TLV_HDR)
		return -EPROTO;
	memcpy(h, it->p, sizeof(h));
	it->tag = le16toh(h[0]);
	it->len = le16toh(h[1]);
	if (it->left - TLV_HDR < it->len)
		return -EPROTO;
	if (it->tail_ends && it->tag == TLV_TAG_TAIL) {
		if (it->len != 0)
			return -EPROTO;
		it->tail = it->p + TLV_HDR;
		it->tail_len = it->left - TLV_HDR;
		it->left = 0;
		return 0;
	}
	it->val = it->p + TLV_HDR;
	it->p += TLV_HDR + it->len;
	it->left -= TLV_HDR + (size_t)it->len;
	return 1;
}

int tlv_get_u32(const struct tlv_it *it, uint32_t *v)
{
	uint32_t le;

	if (it->len != sizeof(le))
		return -EPROTO;
	memcpy(&le, it->val, sizeof(le));
	*v = le32toh(le);
	return 0;
}

int tlv_get_u64(const struct tlv_it *it, uint64_t *v)
{
	uint64_t le;

	if (it->len != sizeof(le))
		return -EPROTO;
	memcpy(&le, it->val, sizeof(le));
	*v = le64toh(le);
	return 0;
}

int tlv_get_bool(const struct tlv_it *it, bool *v)
{
	uint32_t u;

	if (tlv_get_u32(it, &u) < 0 || u > 1)
		return -EPROTO;
	*v = u == 1;
	return 0;
}

int tlv_get_str(const struct tlv_it *it, const char **s)
{
	if (it->len == 0 || it->val[it->len - 1] != '\0' ||
	    memchr(it->val, '\0', it->len - 1u) != NULL)
		return -EPROTO;
	*s = (const char *)it->val;
	return 0;
}

int tlv_expect_type(const struct sess_frame *f, uint16_t type)
{
	return f->type == type ? 0 : -EPROTO;
}
