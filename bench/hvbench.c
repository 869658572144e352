/* SPDX-License-Identifier: MIT */
/*
 * hvbench: the hv_* part of the vmsvc benchmark (bench/run, issue 4). It
 * measures what a program sees through libvmsvc next to a raw Unix socket
 * in the same process and the same run:
 *
 *   loopback-throughput SECONDS  a thread hv_bind(HV_GUID_LOOPBACK, SERVICE)
 *       + hv_listen + hv_accept and reads to EOF; the main thread
 *       hv_connect()s and writes 64 KiB blocks for SECONDS (bench.h's
 *       sender: SHUT_WR, then the peer's EOF). Then the same over a plain
 *       socketpair(AF_UNIX, SOCK_STREAM). Goal: hv >= 0.95x socketpair.
 *   loopback-cps SECONDS  connect, read the first byte, close, in a loop
 *       for SECONDS; a thread accepts, writes one byte, closes. Through
 *       hv_* (HV_GUID_LOOPBACK, SERVICE), then a raw Unix listener (an
 *       abstract address) for reference.
 *   guest-cps VMID SERVICE SECONDS  the same client loop through hv_* into
 *       a guest listener that writes one byte per connection (vsock-bench
 *       lat-serve vsock:PORT in the test guest).
 *
 * SERVICE is a GUID or a vsock port (its VSOCK-template GUID). For the
 * loopback commands it is given with -s (default 5204) and must be
 * registered and enabled first (vmsvc service add NAME --port 5204): hvbench
 * registers nothing. -r ROUNDS (default 3) alternates hv and the raw socket
 * ROUNDS times; the best round of each counts. -t SECONDS: give up (exit 3).
 *
 * Output: one line per round and a last line
 *   result op=loopback-throughput hv_mb_s=X unix_mb_s=Y ratio=X/Y
 *   result op=loopback-cps hv_cps=X unix_cps=Y ratio=X/Y
 *   result op=guest-cps n=N cps=X
 * MB/s are 10^6 bytes per second.
 *
 * Safety: hvbench sets VMSVC_GUEST=0 before any hv_* call, so libvmsvc can
 * never use AF_VSOCK here; every hv_* connection goes through vmsvcd.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/un.h>

#include <vmsvc/vmsvc.h>

#include "bench.h"

struct opts {
	hv_guid_t service;
	uint64_t rounds;
};

/* Which API a socket belongs to: hv_* closes with hv_close. */
static void sock_close(int *fd, bool hv)
{
	if (*fd >= 0)
		hv ? hv_close(*fd) : close(*fd);
	*fd = -1;
}

static int sock_accept(int lfd, bool hv, int *fd)
{
	int s;

	if (!hv)
		return bench_accept(lfd, fd);
	do
		s = hv_accept(lfd, NULL);
	while (s < 0 && errno == EINTR);
	if (s < 0)
		return -errno;
	*fd = s;
	return 0;
}

/* ---- endpoints ------------------------------------------------------------ */

/* A client target: hv_* address or a Unix address. */
struct target {
	bool hv;
	struct sockaddr_hv hv_addr;
	struct sockaddr_un un;
	socklen_t un_len;
};

/* An hv_* listener for addr in *fd (the caller closes it with hv_close). */
static int hv_listener(const struct sockaddr_hv *addr, int *fd)
{
	int r, s = hv_socket(SOCK_STREAM | SOCK_CLOEXEC, HV_PROTOCOL_RAW);

	if (s < 0)
		return -errno;
	if (hv_bind(s, addr) < 0 || hv_listen(s, 1024) < 0) {
		r = -errno;
		hv_close(s);
		return r;
	}
	*fd = s;
	return 0;
}

/* A raw Unix listener on an abstract address, stored in t (caller closes). */
static int unix_listener(struct target *t, int *fd)
{
	int r, s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int len;

	if (s < 0)
		return -errno;
	memset(t, 0, sizeof(*t));
	t->un.sun_family = AF_UNIX;
	len = snprintf(t->un.sun_path + 1, sizeof(t->un.sun_path) - 1, "hvbench-%d", getpid());
	t->un_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
	if (bind(s, (const struct sockaddr *)&t->un, t->un_len) < 0 || listen(s, 1024) < 0) {
		r = -errno;
		close(s);
		return r;
	}
	*fd = s;
	return 0;
}

/* Connects a new socket to t; *fd (close with sock_close(fd, t->hv)). */
static int target_connect(const struct target *t, int *fd)
{
	int r, s;

	if (t->hv) {
		s = hv_socket(SOCK_STREAM | SOCK_CLOEXEC, HV_PROTOCOL_RAW);
		r = s < 0 || hv_connect(s, &t->hv_addr) < 0 ? -errno : 0;
	} else {
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		r = s < 0 || connect(s, (const struct sockaddr *)&t->un, t->un_len) < 0 ? -errno
											: 0;
	}
	if (r < 0) {
		sock_close(&s, t->hv);
		return r;
	}
	*fd = s;
	return 0;
}

/* ---- throughput ----------------------------------------------------------- */

/* The receiving thread: accepts one connection on lfd (if fd < 0), reads it
 * to EOF with its own buffer, closes it. */
struct sink {
	int lfd; /* owned by the caller */
	int fd;	 /* owned (closed) by the thread */
	bool hv;
	int err;
	uint64_t bytes;
};

static void *sink_main(void *arg)
{
	struct sink *s = arg;
	uint8_t *buf = malloc(BENCH_CHUNK);
	ssize_t n = 1;

	if (!buf)
		s->err = -ENOMEM;
	if (buf && s->fd < 0)
		s->err = sock_accept(s->lfd, s->hv, &s->fd);
	while (s->err == 0 && n != 0) {
		n = read(s->fd, buf, BENCH_CHUNK);
		if (n < 0 && errno != EINTR)
			s->err = -errno;
		else if (n > 0)
			s->bytes += (uint64_t)n;
	}
	sock_close(&s->fd, s->hv);
	free(buf);
	return NULL;
}

/* One transfer from fd (closed here) into the running sink thread. */
static int xfer_run(int fd, bool hv, struct sink *s, pthread_t th, uint64_t secs, double *mb_s)
{
	struct bench_amount a = { .bytes = UINT64_MAX, .ns = secs * 1000000000ULL };
	struct bench_xfer x;
	int r = bench_send(fd, &a, &x);

	sock_close(&fd, hv);
	pthread_join(th, NULL);
	if (r == 0)
		r = s->err;
	if (r == 0 && s->bytes != x.bytes)
		r = -EPROTO;
	*mb_s = (double)x.bytes * 1e3 / (double)(x.t1 > x.t0 ? x.t1 - x.t0 : 1);
	return r;
}

static int xfer_hv(int lfd, const struct sockaddr_hv *addr, uint64_t secs, double *mb_s)
{
	struct sink s = { .lfd = lfd, .fd = -1, .hv = true };
	pthread_t th;
	int fd = -1, r = pthread_create(&th, NULL, sink_main, &s);

	if (r != 0)
		return -r;
	fd = hv_socket(SOCK_STREAM | SOCK_CLOEXEC, HV_PROTOCOL_RAW);
	if (fd < 0 || hv_connect(fd, addr) < 0) {
		/* the thread waits in hv_accept: give it a connection to end */
		r = -errno;
		sock_close(&fd, true);
		pthread_cancel(th);
		pthread_join(th, NULL);
		return r;
	}
	return xfer_run(fd, true, &s, th, secs, mb_s);
}

static int xfer_socketpair(uint64_t secs, double *mb_s)
{
	struct sink s = { .lfd = -1, .hv = false };
	pthread_t th;
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	s.fd = sv[1];
	r = pthread_create(&th, NULL, sink_main, &s);
	if (r != 0) {
		close(sv[0]);
		close(sv[1]);
		return -r;
	}
	return xfer_run(sv[0], false, &s, th, secs, mb_s);
}

static int fail(const char *what, int r)
{
	printf("error %s %s\n", what, bench_errname(-r));
	fflush(stdout);
	return 1;
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

static int cmd_throughput(const struct opts *o, uint64_t secs)
{
	struct sockaddr_hv addr = { .Family = AF_HYPERV,
				    .VmId = HV_GUID_LOOPBACK,
				    .ServiceId = o->service };
	double hv = 0, ux = 0, best_hv = 0, best_ux = 0;
	int lfd = -1, r = hv_listener(&addr, &lfd);

	if (r < 0)
		return fail("hv_listen", r);
	for (uint64_t i = 1; i <= o->rounds && r == 0; i++) {
		r = xfer_hv(lfd, &addr, secs, &hv);
		if (r < 0)
			fail("hv-transfer", r);
		else if ((r = xfer_socketpair(secs, &ux)) < 0)
			fail("socketpair-transfer", r);
		if (r < 0)
			break;
		printf("round %" PRIu64 " hv_mb_s=%.1f unix_mb_s=%.1f\n", i, hv, ux);
		fflush(stdout);
		best_hv = hv > best_hv ? hv : best_hv;
		best_ux = ux > best_ux ? ux : best_ux;
	}
	sock_close(&lfd, true);
	if (r < 0)
		return 1;
	printf("result op=loopback-throughput hv_mb_s=%.1f unix_mb_s=%.1f ratio=%.3f\n", best_hv,
	       best_ux, ratio(best_hv, best_ux));
	return 0;
}

/* ---- connections per second ----------------------------------------------- */

/* The serving thread: accept, write one byte, close; until stop is set
 * (the client then makes one last connection to wake it). */
struct server {
	int lfd; /* owned by the caller */
	bool hv;
	atomic_bool stop;
	int err;
};

static void *server_main(void *arg)
{
	static const uint8_t one = '1';
	struct server *s = arg;

	while (!atomic_load(&s->stop)) {
		int fd = -1, r = sock_accept(s->lfd, s->hv, &fd);

		if (r < 0) {
			s->err = r;
			break;
		}
		if (!atomic_load(&s->stop))
			bench_write_all(fd, &one, 1);
		sock_close(&fd, s->hv);
	}
	return NULL;
}

/* connect + first byte + close to t for secs; the count in *n. */
static int cps_loop(const struct target *t, uint64_t secs, uint64_t *n, double *cps)
{
	uint64_t t0 = bench_now_ns(), t1 = t0, ns = secs * 1000000000ULL;
	int r = 0;

	*n = 0;
	while (r == 0 && (t1 = bench_now_ns()) - t0 < ns) {
		int fd = -1;

		r = target_connect(t, &fd);
		if (r == 0) {
			r = bench_read_byte(fd);
			sock_close(&fd, t->hv);
		}
		if (r == 0)
			++*n;
	}
	*cps = (double)*n * 1e9 / (double)(t1 > t0 ? t1 - t0 : 1);
	return r;
}

/* One cps round against a local listener lfd served by a thread. */
static int cps_local(int lfd, const struct target *t, uint64_t secs, double *cps)
{
	struct server s = { .lfd = lfd, .hv = t->hv };
	uint64_t n;
	pthread_t th;
	int fd = -1, r = pthread_create(&th, NULL, server_main, &s);

	if (r != 0)
		return -r;
	r = cps_loop(t, secs, &n, cps);
	atomic_store(&s.stop, true);
	if (target_connect(t, &fd) == 0)
		sock_close(&fd, t->hv);
	else
		pthread_cancel(th); /* it cannot be woken: stop it in accept */
	pthread_join(th, NULL);
	return r < 0 ? r : s.err;
}

static int cmd_loopback_cps(const struct opts *o, uint64_t secs)
{
	struct target hv = { .hv = true,
			     .hv_addr = { .Family = AF_HYPERV,
					  .VmId = HV_GUID_LOOPBACK,
					  .ServiceId = o->service } };
	struct target ux;
	double c_hv = 0, c_ux = 0, best_hv = 0, best_ux = 0;
	int hv_lfd = -1, ux_lfd = -1, r = hv_listener(&hv.hv_addr, &hv_lfd);

	if (r < 0)
		return fail("hv_listen", r);
	if ((r = unix_listener(&ux, &ux_lfd)) < 0) {
		sock_close(&hv_lfd, true);
		return fail("listen", r);
	}
	for (uint64_t i = 1; i <= o->rounds && r == 0; i++) {
		if ((r = cps_local(hv_lfd, &hv, secs, &c_hv)) < 0)
			fail("hv-cps", r);
		else if ((r = cps_local(ux_lfd, &ux, secs, &c_ux)) < 0)
			fail("unix-cps", r);
		if (r < 0)
			break;
		printf("round %" PRIu64 " hv_cps=%.0f unix_cps=%.0f\n", i, c_hv, c_ux);
		fflush(stdout);
		best_hv = c_hv > best_hv ? c_hv : best_hv;
		best_ux = c_ux > best_ux ? c_ux : best_ux;
	}
	sock_close(&hv_lfd, true);
	sock_close(&ux_lfd, false);
	if (r < 0)
		return 1;
	printf("result op=loopback-cps hv_cps=%.0f unix_cps=%.0f ratio=%.3f\n", best_hv, best_ux,
	       ratio(best_hv, best_ux));
	return 0;
}

static int cmd_guest_cps(const hv_guid_t *vm, const hv_guid_t *service, uint64_t secs)
{
	struct target t = {
		.hv = true, .hv_addr = { .Family = AF_HYPERV, .VmId = *vm, .ServiceId = *service }
	};
	uint64_t n;
	double cps;
	int r = cps_loop(&t, secs, &n, &cps);

	if (r < 0)
		return fail("guest-cps", r);
	printf("result op=guest-cps n=%" PRIu64 " cps=%.0f\n", n, cps);
	return 0;
}

/* ---- command line --------------------------------------------------------- */

static int parse_service(const char *s, hv_guid_t *out)
{
	uint64_t port;

	if (hv_guid_parse(s, out) == 0)
		return 0;
	if (bench_parse_u64(s, UINT32_MAX, &port) < 0)
		return -EINVAL;
	hv_guid_from_port((uint32_t)port, out);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: hvbench [-t SECONDS] [-r ROUNDS] [-s SERVICE] COMMAND ...\n"
			"  loopback-throughput SECONDS | loopback-cps SECONDS\n"
			"  guest-cps VMID SERVICE SECONDS\n"
			"SERVICE: GUID or vsock port (-s: default 5204, must be registered)\n");
	return 2;
}

static int dispatch(const struct opts *o, int argc, char **argv)
{
	hv_guid_t vm, service;
	uint64_t secs;

	if (argc < 2 || bench_parse_u64(argv[argc - 1], 3600, &secs) < 0 || secs == 0)
		return usage();
	if (strcmp(argv[0], "loopback-throughput") == 0 && argc == 2)
		return cmd_throughput(o, secs);
	if (strcmp(argv[0], "loopback-cps") == 0 && argc == 2)
		return cmd_loopback_cps(o, secs);
	if (strcmp(argv[0], "guest-cps") == 0 && argc == 4 && hv_guid_parse(argv[1], &vm) == 0 &&
	    parse_service(argv[2], &service) == 0)
		return cmd_guest_cps(&vm, &service, secs);
	return usage();
}

int main(int argc, char **argv)
{
	struct opts o = { .rounds = 3 };
	uint64_t v;
	int c;

	/* Never AF_VSOCK on the host: every hv_* call goes to vmsvcd. */
	setenv("VMSVC_GUEST", "0", 1);
	signal(SIGPIPE, SIG_IGN);
	hv_guid_from_port(5204, &o.service);
	while ((c = getopt(argc, argv, "+t:r:s:")) != -1) {
		if (c == 't' && bench_parse_u64(optarg, 86400, &v) == 0)
			bench_arm_timeout(v);
		else if (c == 'r' && bench_parse_u64(optarg, 100, &v) == 0 && v > 0)
			o.rounds = v;
		else if (c != 's' || parse_service(optarg, &o.service) < 0)
			return usage();
	}
	if (optind >= argc)
		return usage();
	return dispatch(&o, argc - optind, argv + optind);
}
