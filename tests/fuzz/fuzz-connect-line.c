/* SPDX-License-Identifier: MIT */
/* fuzz-connect-line.c - libFuzzer harness for the hybrid CONNECT line: a
 * complete line must be exactly "CONNECT <port>[\r]\n" with the port
 * printed back identically. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hybrid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hyb_line l = { 0 };
	uint32_t port = 0;

	for (size_t i = 0; i < size; i++) {
		int r = hyb_line_feed(&l, data[i], &port);
		if (r < 0)
			return 0;
		if (r == 1) {
			char expect[32];
			int n = snprintf(expect, sizeof(expect), "CONNECT %u", port);
			if (l.len < (size_t)n || memcmp(l.buf, expect, (size_t)n) != 0)
				abort();
			return 0;
		}
		if (l.len > HYB_LINE_MAX)
			abort();
	}
	return 0;
}
