/* SPDX-License-Identifier: MIT */
/*
 * tsprobe - the time sync tests' own clock check, independent of
 * vmsvc-agent and of vmsvcd's time sync service (tests/e2e-timesync.bats).
 * Built statically and run inside the test guest: it connects to the host
 * (CID 2) on PORT, where vmsvcd relays the stream to the host's Unix
 * listener tests/tools/tsresponder.py, and runs NTP-style exchanges:
 *
 *   guest -> host  le64 seq, le64 t1         (t1: guest CLOCK_REALTIME, ns)
 *   host -> guest  le64 seq, le64 t2, le64 t3 (host CLOCK_REALTIME, ns)
 *
 * Every INTERVAL ms it takes a burst of N exchanges and prints the one
 * with the lowest delay:
 *
 *   HOST_MS OFFSET_NS DELAY_NS
 *
 * HOST_MS is the host's clock (t3) in ms, OFFSET_NS the guest clock minus
 * the host's, DELAY_NS the round trip without the host's time: the true
 * offset lies within OFFSET_NS ± DELAY_NS/2.
 *
 *   tsprobe [-n N] [-i INTERVAL_MS] [-d DURATION_MS] PORT
 *   tsprobe -S SECONDS       moves the guest's clock by SECONDS and exits
 *
 * Refuses to run unless VMSVC_GUEST=1: never open AF_VSOCK on the host.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int full(int fd, void *p, size_t n, int writing)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = writing ? write(fd, (char *)p + done, n - done)
				    : read(fd, (char *)p + done, n - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* One exchange: 0 with *off, *delay, *host (t3), or -1. */
static int exchange(int fd, uint64_t seq, int64_t *off, int64_t *delay, int64_t *host)
{
	uint64_t q[2], a[3];
	int64_t t1, t2, t3, t4;

	t1 = clock_ns(CLOCK_REALTIME);
	q[0] = htole64(seq);
	q[1] = htole64((uint64_t)t1);
	if (full(fd, q, sizeof(q), 1) < 0 || full(fd, a, sizeof(a), 0) < 0)
		return -1;
	t4 = clock_ns(CLOCK_REALTIME);
	if (le64toh(a[0]) != seq)
		return -1;
	t2 = (int64_t)le64toh(a[1]);
	t3 = (int64_t)le64toh(a[2]);
	*off = -(((t2 - t1) / 2) + ((t3 - t4) / 2));
	*delay = (t4 - t1) - (t3 - t2);
	*host = t3;
	return 0;
}

/* Moves CLOCK_REALTIME by secs (the tests' "clock set 30 s wrong"). */
static int shift_clock(long long secs)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += secs;
	if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
		fprintf(stderr, "tsprobe: clock_settime: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long n = 4, interval = 200, duration = 10000;
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST };
	int64_t start, next;
	uint64_t seq = 0;
	int fd, c;

	if (!getenv("VMSVC_GUEST") || strcmp(getenv("VMSVC_GUEST"), "1") != 0) {
		fprintf(stderr, "tsprobe: runs in the test guest only (VMSVC_GUEST=1)\n");
		return 2;
	}
	while ((c = getopt(argc, argv, "n:i:d:S:")) != -1) {
		if (c == 'S')
			return shift_clock(atoll(optarg));
		if (c == 'n')
			n = atol(optarg);
		else if (c == 'i')
			interval = atol(optarg);
		else if (c == 'd')
			duration = atol(optarg);
		else
			return 2;
	}
	if (optind != argc - 1 || n < 1 || interval < 1)
		return 2;
	a.svm_port = (unsigned)atol(argv[optind]);
	fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "tsprobe: connect: %s\n", strerror(errno));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	start = next = clock_ns(CLOCK_MONOTONIC);
	while (clock_ns(CLOCK_MONOTONIC) - start < duration * 1000000LL) {
		int64_t best_off = 0, best_delay = INT64_MAX, host = 0, off, delay, h;
		struct timespec ts;

		for (long i = 0; i < n; i++) {
			if (exchange(fd, ++seq, &off, &delay, &h) < 0) {
				fprintf(stderr, "tsprobe: exchange failed\n");
				return 1;
			}
			if (delay < best_delay) {
				best_off = off, best_delay = delay, host = h;
			}
		}
		printf("%lld %lld %lld\n", (long long)(host / 1000000), (long long)best_off,
		       (long long)best_delay);
		next += interval * 1000000LL;
		ts.tv_sec = next / 1000000000;
		ts.tv_nsec = next % 1000000000;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	return 0;
}
