/* SPDX-License-Identifier: MIT */
/*
 * bench.h - the measuring loops shared by the guest benchmark program
 * (bench/guest/vsock-bench.c, static, runs inside the test guest) and its
 * host counterpart (bench/hostbench.c). Header-only, like stream.h, so that
 * both sides move bytes, time them and compute statistics the same way.
 * Nothing here knows the address family: the programs open the sockets.
 *
 * - An AMOUNT is "BYTES" (with an optional K, M or G suffix, powers of 2)
 *   or "SECONDSs" (e.g. "3s", "0.5s"): a sender stops at whichever it is.
 * - A sender writes BENCH_CHUNK (64 KiB) blocks of a constant pattern, then
 *   SHUT_WR, then reads until the peer's EOF: its time covers every byte
 *   being consumed by the receiver. A receiver reads 64 KiB at a time until
 *   EOF, then closes; its time runs from its start to that EOF.
 * - Results are one line "result op=OP key=value ..." on stdout, which
 *   bench/run parses: transfers give bytes, ns and MB/s (10^6 bytes per
 *   second); latency loops give min, p50, p99, max and mean in microseconds
 *   and, when asked, a line "samples_ns T1 T2 ..." for pooling several runs.
 */
#ifndef VMSVC_GUEST_BENCH_H
#define VMSVC_GUEST_BENCH_H

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_CHUNK 65536

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct bench_amount {
	uint64_t bytes; /* UINT64_MAX: no byte limit */
	uint64_t ns;	/* UINT64_MAX: no time limit */
};

/* "123", "64K", "512M", "2G" or "3s", "0.5s". 0 or -EINVAL. */
static inline int bench_parse_amount(const char *s, struct bench_amount *a)
{
	char *end = NULL;
	size_t len = strlen(s);

	a->bytes = UINT64_MAX;
	a->ns = UINT64_MAX;
	if (len > 1 && s[len - 1] == 's') {
		double secs = strtod(s, &end);

		if (end != s + len - 1 || !(secs > 0 && secs < 86400))
			return -EINVAL;
		a->ns = (uint64_t)(secs * 1e9);
		return 0;
	}
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned int shift = 0;

	if (errno != 0 || end == s || s[0] == '-')
		return -EINVAL;
	if (*end == 'K' || *end == 'M' || *end == 'G')
		shift = *end == 'K' ? 10 : *end == 'M' ? 20 : 30;
	if ((shift && end[1] != '\0') || (!shift && *end != '\0') || v == 0 ||
	    v > (UINT64_MAX >> 31))
		return -EINVAL;
	a->bytes = (uint64_t)v << shift;
	return 0;
}

/* Unsigned decimal up to max. 0 or -EINVAL. */
static inline int bench_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static inline const char *bench_errname(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "EUNKNOWN";
}

static inline int bench_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One transfer: what moved and when. */
struct bench_xfer {
	uint64_t bytes;
	uint64_t t0, t1;
};

/* Reads and discards until EOF, counting into *bytes. 0 or -errno. */
static inline int bench_drain(int fd, uint64_t *bytes)
{
	static uint8_t buf[BENCH_CHUNK];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		*bytes += (uint64_t)n;
	}
}

/* Sender: 64 KiB writes until the amount, SHUT_WR, then the peer's EOF. */
static inline int bench_send(int fd, const struct bench_amount *a, struct bench_xfer *x)
{
	static uint8_t buf[BENCH_CHUNK];
	uint64_t ignored = 0;
	int r = 0;

	memset(buf, 0x5a, sizeof(buf));
	x->bytes = 0;
	x->t0 = bench_now_ns();
	while (x->bytes < a->bytes && (a->ns == UINT64_MAX || bench_now_ns() - x->t0 < a->ns)) {
		size_t n = sizeof(buf);

		if (a->bytes - x->bytes < n)
			n = (size_t)(a->bytes - x->bytes);
		r = bench_write_all(fd, buf, n);
		if (r < 0)
			break;
		x->bytes += n;
	}
	if (r == 0 && shutdown(fd, SHUT_WR) < 0)
		r = -errno;
	if (r == 0)
		r = bench_drain(fd, &ignored);
	x->t1 = bench_now_ns();
	return r;
}

/* Receiver: reads until EOF. */
static inline int bench_recv(int fd, struct bench_xfer *x)
{
	int r;

	x->bytes = 0;
	x->t0 = bench_now_ns();
	r = bench_drain(fd, &x->bytes);
	x->t1 = bench_now_ns();
	return r;
}

static inline void bench_print_xfer(const char *op, const struct bench_xfer *x)
{
	uint64_t ns = x->t1 > x->t0 ? x->t1 - x->t0 : 1;

	printf("result op=%s bytes=%" PRIu64 " ns=%" PRIu64 " mb_s=%.1f\n", op, x->bytes, ns,
	       (double)x->bytes * 1e3 / (double)ns);
	fflush(stdout);
}

static inline int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts ns[0..n) and prints the latency line (p99: nearest rank). */
static inline void bench_print_lat(const char *op, uint64_t *ns, size_t n)
{
	double sum = 0;
	size_t p99;

	if (n == 0)
		return;
	qsort(ns, n, sizeof(ns[0]), bench_cmp_u64);
	for (size_t i = 0; i < n; i++)
		sum += (double)ns[i];
	p99 = (n * 99 + 99) / 100;
	printf("result op=%s n=%zu min_us=%.1f p50_us=%.1f p99_us=%.1f max_us=%.1f "
	       "mean_us=%.1f\n",
	       op, n, (double)ns[0] / 1e3, (double)ns[n / 2] / 1e3, (double)ns[p99 - 1] / 1e3,
	       (double)ns[n - 1] / 1e3, sum / (double)n / 1e3);
	fflush(stdout);
}

/* With the lat command's "samples" argument: every time, on one line. */
static inline void bench_print_samples(const uint64_t *ns, size_t n)
{
	fputs("samples_ns", stdout);
	for (size_t i = 0; i < n; i++)
		printf(" %" PRIu64, ns[i]);
	putchar('\n');
	fflush(stdout);
}

/* Reads the one "first byte" of a latency probe. 0 or -errno (-EPIPE: EOF). */
static inline int bench_read_byte(int fd)
{
	uint8_t c;

	for (;;) {
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		return n == 1 ? 0 : -EPIPE;
	}
}

/* Accepts one connection on lfd into *fd (the caller closes it), retrying
 * on EINTR. 0 or -errno. */
static inline int bench_accept(int lfd, int *fd)
{
	int s;

	do
		s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (s < 0 && errno == EINTR);
	if (s < 0)
		return -errno;
	*fd = s;
	return 0;
}

/* sink (a == NULL) or source on the listening socket lfd, which it closes:
 * serves n connections in turn (0: forever), printing a result for each.
 * 0 or the -errno that stopped it. */
static inline int bench_serve_xfer(int lfd, const struct bench_amount *a, uint64_t n)
{
	int r = 0;

	for (uint64_t i = 0; n == 0 || i < n; i++) {
		struct bench_xfer x;
		int fd = -1;

		r = bench_accept(lfd, &fd);
		if (r < 0)
			break;
		r = a ? bench_send(fd, a, &x) : bench_recv(fd, &x);
		close(fd);
		if (r < 0)
			break;
		bench_print_xfer(a ? "source" : "sink", &x);
	}
	close(lfd);
	return r;
}

/* The latency probes' server on lfd: accept, write one byte, close; until
 * the process is killed. */
__attribute__((noreturn)) static inline void bench_lat_serve(int lfd)
{
	static const uint8_t one = '1';

	for (;;) {
		int fd = -1;

		if (bench_accept(lfd, &fd) < 0)
			continue;
		bench_write_all(fd, &one, 1);
		close(fd);
	}
}

static inline void bench_on_alarm(int sig)
{
	static const char msg[] = "error TIMEOUT -t expired\n";
	ssize_t r;

	(void)sig;
	r = write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	(void)r;
	_exit(3);
}

/* For the global option -t SECONDS: after secs, print "error TIMEOUT -t
 * expired" on stdout and exit 3. */
static inline void bench_arm_timeout(uint64_t secs)
{
	signal(SIGALRM, bench_on_alarm);
	alarm((unsigned int)secs);
}

static inline void bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

#endif
