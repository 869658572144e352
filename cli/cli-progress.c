/* SPDX-License-Identifier: MIT */
/*
 * cli-progress.c - vmsvc cp's progress bar (cli.h): bytes, rate and time
 * left on one line of stderr, redrawn in place with '\r'.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "util.h"
#include "xfer.h"

void cli_progress_start(struct cli_progress *b, const char *name, uint64_t total)
{
	const char *slash = strrchr(name, '/');

	*b = (struct cli_progress){ .name = slash && slash[1] ? slash + 1 : name,
				    .total = total,
				    .t0 = now_ms() };
}

static void human(char *buf, size_t size, double v)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	size_t u = 0;

	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void cli_progress_draw(struct cli_progress *b, const struct xfer_progress *p, bool final)
{
	uint64_t now = now_ms(), total = b->total ? b->total : p->total;
	double secs = (double)(now - b->t0) / 1000.0, rate = secs > 0 ? p->bytes / secs : 0;
	char done[32], all[32], speed[32], eta[32] = "--:--";

	if (!final && now - b->last < 250)
		return;
	b->last = now;
	human(done, sizeof(done), (double)p->bytes);
	human(all, sizeof(all), (double)total);
	human(speed, sizeof(speed), rate);
	if (rate > 0 && total >= p->bytes) {
		unsigned left = (unsigned)((double)(total - p->bytes) / rate + 0.5);

		snprintf(eta, sizeof(eta), "%02u:%02u", left / 60, left % 60);
	}
	fprintf(stderr, "\r%-24.24s %10s / %-10s %10s/s  ETA %-6s", b->name, done, all, speed,
		final ? "00:00" : eta);
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}
