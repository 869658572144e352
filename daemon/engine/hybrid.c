/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hybrid.h"

static int parse_line(const char *s, size_t len, uint32_t *port)
{
	static const char verb[] = "CONNECT ";
	uint64_t v = 0;
	size_t i = sizeof(verb) - 1;

	if (len <= i || memcmp(s, verb, i) != 0)
		return -EPROTO;
	if (len - i > 10 || (s[i] == '0' && len - i > 1))
		return -EPROTO; /* too long, or a leading zero */
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EPROTO;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	/* 0xffffffff is VMADDR_PORT_ANY, never a real port. */
	if (v >= UINT32_MAX)
		return -EPROTO;
	*port = (uint32_t)v;
	return 1;
}

int hyb_line_feed(struct hyb_line *l, uint8_t c, uint32_t *port)
{
	if (c == '\n') {
		size_t len = l->len;
		if (len > 0 && l->buf[len - 1] == '\r')
			len--;
		return parse_line(l->buf, len, port);
	}
	if (l->len >= sizeof(l->buf) || c == '\0' || (c < ' ' && c != '\r') || c >= 0x7f)
		return -EPROTO;
	if (l->len > 0 && l->buf[l->len - 1] == '\r')
		return -EPROTO; /* '\r' only right before '\n' */
	l->buf[l->len++] = (char)c;
	return 0;
}

size_t hyb_format_ok(uint32_t host_port, char *buf, size_t size)
{
	int n = snprintf(buf, size, "OK %u\n", host_port);

	return n < 0 ? 0 : (size_t)n;
}
