/* SPDX-License-Identifier: MIT */
/*
 * guid.c - GUID parsing, formatting, byte orders and the VSOCK template.
 *
 * hv_guid_t keeps the fields as numbers (Data1..Data3 host-endian integers,
 * Data4 bytes). The byte-order conversions spell out every byte, so they are
 * correct whatever the host's endianness.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <vmsvc/vmsvc.h>

#include "util.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses exactly 36 characters of 8-4-4-4-12 hex digits into RFC 4122 bytes. */
static int parse_canonical(const char *s, uint8_t out[16])
{
	static const int dash[] = { 8, 13, 18, 23 };
	size_t n = 0;

	for (size_t i = 0; i < HV_GUID_STRLEN; i++) {
		if (i == (size_t)dash[0] || i == (size_t)dash[1] || i == (size_t)dash[2] ||
		    i == (size_t)dash[3]) {
			if (s[i] != '-')
				return -EINVAL;
			continue;
		}
		int hi = hexval(s[i]);
		int lo = hi < 0 ? -1 : hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[n++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	return 0;
}

VMSVC_EXPORT int hv_guid_parse(const char *text, hv_guid_t *out)
{
	uint8_t bytes[16];
	size_t len;

	if (!text || !out)
		return posix_ret(-EFAULT);
	len = strlen(text);
	if (len == HV_GUID_STRLEN + 2 && text[0] == '{' && text[len - 1] == '}') {
		text++;
		len -= 2;
	}
	if (len != HV_GUID_STRLEN || parse_canonical(text, bytes) < 0)
		return posix_ret(-EINVAL);
	hv_guid_from_rfc4122_bytes(bytes, out);
	return 0;
}

VMSVC_EXPORT int hv_guid_format(const hv_guid_t *g, char *buf, size_t size)
{
	if (!g || !buf)
		return posix_ret(-EFAULT);
	if (size < HV_GUID_STRSIZE)
		return posix_ret(-ENOSPC);
	snprintf(buf, size, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", g->Data1, g->Data2,
		 g->Data3, g->Data4[0], g->Data4[1], g->Data4[2], g->Data4[3], g->Data4[4],
		 g->Data4[5], g->Data4[6], g->Data4[7]);
	return 0;
}

VMSVC_EXPORT void hv_guid_to_windows_bytes(const hv_guid_t *g, uint8_t out[16])
{
	out[0] = (uint8_t)g->Data1;
	out[1] = (uint8_t)(g->Data1 >> 8);
	out[2] = (uint8_t)(g->Data1 >> 16);
	out[3] = (uint8_t)(g->Data1 >> 24);
	out[4] = (uint8_t)g->Data2;
	out[5] = (uint8_t)(g->Data2 >> 8);
	out[6] = (uint8_t)g->Data3;
	out[7] = (uint8_t)(g->Data3 >> 8);
	memcpy(out + 8, g->Data4, 8);
}

VMSVC_EXPORT void hv_guid_from_windows_bytes(const uint8_t in[16], hv_guid_t *out)
{
	out->Data1 = (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 |
		     (uint32_t)in[3] << 24;
	out->Data2 = (uint16_t)(in[4] | in[5] << 8);
	out->Data3 = (uint16_t)(in[6] | in[7] << 8);
	memcpy(out->Data4, in + 8, 8);
}

VMSVC_EXPORT void hv_guid_to_rfc4122_bytes(const hv_guid_t *g, uint8_t out[16])
{
	out[0] = (uint8_t)(g->Data1 >> 24);
	out[1] = (uint8_t)(g->Data1 >> 16);
	out[2] = (uint8_t)(g->Data1 >> 8);
	out[3] = (uint8_t)g->Data1;
	out[4] = (uint8_t)(g->Data2 >> 8);
	out[5] = (uint8_t)g->Data2;
	out[6] = (uint8_t)(g->Data3 >> 8);
	out[7] = (uint8_t)g->Data3;
	memcpy(out + 8, g->Data4, 8);
}

VMSVC_EXPORT void hv_guid_from_rfc4122_bytes(const uint8_t in[16], hv_guid_t *out)
{
	out->Data1 = (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 |
		     (uint32_t)in[3];
	out->Data2 = (uint16_t)(in[4] << 8 | in[5]);
	out->Data3 = (uint16_t)(in[6] << 8 | in[7]);
	memcpy(out->Data4, in + 8, 8);
}

VMSVC_EXPORT int hv_guid_generate(hv_guid_t *out)
{
	uint8_t b[16];
	size_t got = 0;

	if (!out)
		return posix_ret(-EFAULT);
	while (got < sizeof(b)) {
		ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	hv_guid_from_rfc4122_bytes(b, out);
	return 0;
}

VMSVC_EXPORT void hv_guid_from_port(uint32_t port, hv_guid_t *out)
{
	*out = HV_GUID_VSOCK_TEMPLATE;
	out->Data1 = port;
}

VMSVC_EXPORT bool hv_guid_is_vsock_template(const hv_guid_t *g)
{
	return g && g->Data2 == HV_GUID_VSOCK_TEMPLATE.Data2 &&
	       g->Data3 == HV_GUID_VSOCK_TEMPLATE.Data3 &&
	       memcmp(g->Data4, HV_GUID_VSOCK_TEMPLATE.Data4, 8) == 0;
}

VMSVC_EXPORT int hv_guid_to_port(const hv_guid_t *g, uint32_t *port)
{
	if (!g || !port)
		return posix_ret(-EFAULT);
	if (!hv_guid_is_vsock_template(g))
		return posix_ret(-EINVAL);
	*port = g->Data1;
	return 0;
}

VMSVC_EXPORT bool hv_guid_equal(const hv_guid_t *a, const hv_guid_t *b)
{
	return a->Data1 == b->Data1 && a->Data2 == b->Data2 && a->Data3 == b->Data3 &&
	       memcmp(a->Data4, b->Data4, 8) == 0;
}

static const struct {
	const char *name;
	hv_guid_t guid;
} well_known[] = {
	/* First match wins in hv_guid_well_known_name: ZERO before WILDCARD. */
	{ "HV_GUID_ZERO", HV_GUID_ZERO_INIT },
	{ "HV_GUID_WILDCARD", HV_GUID_WILDCARD_INIT },
	{ "HV_GUID_BROADCAST", HV_GUID_BROADCAST_INIT },
	{ "HV_GUID_CHILDREN", HV_GUID_CHILDREN_INIT },
	{ "HV_GUID_LOOPBACK", HV_GUID_LOOPBACK_INIT },
	{ "HV_GUID_PARENT", HV_GUID_PARENT_INIT },
	{ "HV_GUID_SILOHOST", HV_GUID_SILOHOST_INIT },
	{ "HV_GUID_VSOCK_TEMPLATE", HV_GUID_VSOCK_TEMPLATE_INIT },
	{ "VM_SESSION_SERVICE", HV_GUID_INIT(0x999e53d4, 0x3d5c, 0x4c3e, 0x87, 0x79, 0xbe, 0xd0,
					     0x6e, 0xc0, 0x56, 0xe1) },
};

VMSVC_EXPORT int hv_guid_lookup_name(const char *name, hv_guid_t *out)
{
	if (!name || !out)
		return posix_ret(-EFAULT);
	for (size_t i = 0; i < ARRAY_SIZE(well_known); i++) {
		const char *full = well_known[i].name;
		const char *shrt = strncmp(full, "HV_GUID_", 8) == 0 ? full + 8 : full;
		if (strcasecmp(name, full) == 0 || strcasecmp(name, shrt) == 0) {
			*out = well_known[i].guid;
			return 0;
		}
	}
	return posix_ret(-ENOENT);
}

VMSVC_EXPORT const char *hv_guid_well_known_name(const hv_guid_t *g)
{
	for (size_t i = 0; i < ARRAY_SIZE(well_known); i++)
		if (hv_guid_equal(g, &well_known[i].guid))
			return well_known[i].name;
	return NULL;
}
