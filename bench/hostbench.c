/* SPDX-License-Identifier: MIT */
/*
 * hostbench: the host side of the vmsvc benchmark (bench/run); the guest
 * side is bench/guest/vsock-bench.c, and both share the loops and output
 * format of bench/guest/bench.h. Host transports only: Unix sockets (the
 * NAME.vsock_P listeners and the NAME.vsock hybrid socket of vmsvcd) and
 * TCP on 127.0.0.1. It never opens an AF_VSOCK socket.
 *
 * Endpoints: unix:PATH (listen or connect), tcp:PORT (127.0.0.1; listening
 * on port 0 picks a free port), hybrid:PATH:PORT (connect only: vmsvcd's
 * Firecracker-style "CONNECT PORT\n" -> "OK HOSTPORT\n" handshake).
 * AMOUNT: BYTES[K|M|G] or SECONDSs (see bench.h).
 *   send EP AMOUNT      connect, write 64 KiB blocks, SHUT_WR, wait for EOF
 *   recv EP             connect, read until EOF
 *   sink EP [N]         accept N connections (0: forever) in turn, read each
 *                       until EOF
 *   source EP AMOUNT [N]  accept N connections in turn, send AMOUNT to each
 *   lat EP N [samples]  N times: connect (and handshake), read the first
 *                       data byte, close; with "samples", also print every
 *                       time (bench.h)
 *   lat-serve EP        accept, write one byte, close; until killed
 *   hold EP             accept connections and keep them open until killed,
 *                       printing "result op=hold held=N" after each
 * Listening commands print "listening EP" (with the real port) on stdout.
 * Global option -t SECONDS: give up (exit 3) after SECONDS.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/un.h>

#include "bench.h"

enum ep_kind { EP_UNIX, EP_TCP, EP_HYBRID };

struct ep {
	enum ep_kind kind;
	union {
		struct sockaddr_un un;
		struct sockaddr_in in;
	} sa;
	socklen_t len;
	uint32_t guest_port; /* EP_HYBRID */
};

static int set_unix_path(struct ep *ep, const char *path, size_t len)
{
	if (len == 0 || len >= sizeof(ep->sa.un.sun_path))
		return -ENAMETOOLONG;
	ep->sa.un.sun_family = AF_UNIX;
	memcpy(ep->sa.un.sun_path, path, len);
	ep->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	return 0;
}

/* unix:PATH, tcp:PORT or (connect only) hybrid:PATH:PORT. */
static int parse_ep(const char *s, bool listening, struct ep *ep)
{
	uint64_t v;

	memset(ep, 0, sizeof(*ep));
	if (strncmp(s, "unix:", 5) == 0) {
		ep->kind = EP_UNIX;
		return set_unix_path(ep, s + 5, strlen(s + 5));
	}
	if (strncmp(s, "tcp:", 4) == 0) {
		if (bench_parse_u64(s + 4, 65535, &v) < 0 || (v == 0 && !listening))
			return -EINVAL;
		ep->kind = EP_TCP;
		ep->sa.in = (struct sockaddr_in){ .sin_family = AF_INET,
						  .sin_port = htons((uint16_t)v),
						  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		ep->len = sizeof(ep->sa.in);
		return 0;
	}
	if (strncmp(s, "hybrid:", 7) == 0 && !listening) {
		const char *colon = strrchr(s + 7, ':');

		if (!colon || bench_parse_u64(colon + 1, UINT32_MAX, &v) < 0)
			return -EINVAL;
		ep->kind = EP_HYBRID;
		ep->guest_port = (uint32_t)v;
		return set_unix_path(ep, s + 7, (size_t)(colon - (s + 7)));
	}
	return -EINVAL;
}

/* A stream socket for ep in *fd (caller closes). 0 or -errno. */
static int ep_socket(const struct ep *ep, int *fd)
{
	int one = 1;
	int s = socket(ep->kind == EP_TCP ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -errno;
	if (ep->kind == EP_TCP) {
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	*fd = s;
	return 0;
}

/*
 * Hybrid handshake on fd: "CONNECT PORT\n", then the "OK ...\n" line. Bytes
 * that came after the line in the same read are counted in *extra (the
 * stream's first data). 0 or -errno (-ECONNREFUSED: closed or not "OK").
 */
static int hybrid_handshake(int fd, uint32_t port, size_t *extra)
{
	char buf[128];
	size_t got = 0;
	int len = snprintf(buf, sizeof(buf), "CONNECT %u\n", port);
	int r = bench_write_all(fd, buf, (size_t)len);

	while (r == 0) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNREFUSED;
		got += (size_t)n;
		nl = memchr(buf, '\n', got);
		if (nl) {
			if (got < 3 || memcmp(buf, "OK ", 3) != 0)
				return -ECONNREFUSED;
			*extra = got - (size_t)(nl + 1 - buf);
			return 0;
		}
		if (got == sizeof(buf))
			return -EPROTO;
	}
	return r;
}

/* Connected (and for hybrid, handshaken) socket in *fd; caller closes.
 * *extra: data bytes already read with the handshake. 0 or -errno. */
static int ep_connect(const struct ep *ep, int *fd, size_t *extra)
{
	int s = -1, r = ep_socket(ep, &s);

	*extra = 0;
	if (r < 0)
		return r;
	while (connect(s, (const struct sockaddr *)&ep->sa, ep->len) < 0) {
		if (errno == EINTR)
			continue;
		r = -errno;
		close(s);
		return r;
	}
	if (ep->kind == EP_HYBRID && (r = hybrid_handshake(s, ep->guest_port, extra)) < 0) {
		close(s);
		return r;
	}
	*fd = s;
	return 0;
}

/* Listening socket in *fd (caller closes); prints the endpoint. */
static int ep_listen(struct ep *ep, int *fd)
{
	int s = -1, r = ep_socket(ep, &s);

	if (r < 0)
		return r;
	if (ep->kind == EP_UNIX)
		unlink(ep->sa.un.sun_path); /* a stale socket of an earlier run */
	if (bind(s, (const struct sockaddr *)&ep->sa, ep->len) < 0 || listen(s, 1024) < 0 ||
	    getsockname(s, (struct sockaddr *)&ep->sa, &ep->len) < 0) {
		r = -errno;
		close(s);
		return r;
	}
	if (ep->kind == EP_TCP)
		printf("listening tcp:%u\n", ntohs(ep->sa.in.sin_port));
	else
		printf("listening unix:%s\n", ep->sa.un.sun_path);
	fflush(stdout);
	*fd = s;
	return 0;
}

static int fail(const char *what, int r)
{
	printf("error %s %s\n", what, bench_errname(-r));
	fflush(stdout);
	return 1;
}

static int cmd_send(const struct ep *ep, const struct bench_amount *a)
{
	struct bench_xfer x;
	size_t extra;
	int fd = -1, r = ep_connect(ep, &fd, &extra);

	if (r < 0)
		return fail("connect", r);
	r = bench_send(fd, a, &x);
	close(fd);
	if (r < 0)
		return fail("send", r);
	bench_print_xfer("send", &x);
	return 0;
}

static int cmd_recv(const struct ep *ep)
{
	struct bench_xfer x;
	size_t extra;
	int fd = -1, r = ep_connect(ep, &fd, &extra);

	if (r < 0)
		return fail("connect", r);
	r = bench_recv(fd, &x);
	close(fd);
	if (r < 0)
		return fail("recv", r);
	x.bytes += extra;
	bench_print_xfer("recv", &x);
	return 0;
}

/* sink (a == NULL) or source: serves n connections in turn (0: forever). */
static int cmd_serve_xfer(struct ep *ep, const struct bench_amount *a, uint64_t n)
{
	int lfd = -1, r = ep_listen(ep, &lfd);

	if (r < 0)
		return fail("listen", r);
	r = bench_serve_xfer(lfd, a, n);
	return r < 0 ? fail(a ? "source" : "sink", r) : 0;
}

static int cmd_lat(const struct ep *ep, uint64_t n, bool samples)
{
	uint64_t *ns = calloc(n, sizeof(*ns));
	int r = 0;

	if (!ns)
		return fail("calloc", -ENOMEM);
	for (uint64_t i = 0; i < n && r == 0; i++) {
		uint64_t t0 = bench_now_ns();
		size_t extra = 0;
		int fd = -1;

		r = ep_connect(ep, &fd, &extra);
		if (r == 0) {
			if (extra == 0)
				r = bench_read_byte(fd);
			ns[i] = bench_now_ns() - t0;
			close(fd);
		}
	}
	if (r == 0)
		bench_print_lat("lat", ns, n);
	if (r == 0 && samples)
		bench_print_samples(ns, n);
	free(ns);
	return r < 0 ? fail("lat", r) : 0;
}

static int cmd_lat_serve(struct ep *ep)
{
	int lfd = -1, r = ep_listen(ep, &lfd);

	if (r < 0)
		return fail("listen", r);
	bench_lat_serve(lfd);
}

static int cmd_hold(struct ep *ep)
{
	uint64_t held = 0;
	int lfd = -1, r = ep_listen(ep, &lfd);

	if (r < 0)
		return fail("listen", r);
	bench_raise_nofile();
	for (;;) {
		int fd = -1;

		r = bench_accept(lfd, &fd);
		if (r < 0) {
			fail("accept", r);
			sleep(1);
			continue;
		}
		/* fd stays open until the process ends */
		printf("result op=hold held=%" PRIu64 "\n", ++held);
		fflush(stdout);
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: hostbench [-t SECONDS] COMMAND ...\n"
			"  send EP AMOUNT | recv EP | sink EP [N] | source EP AMOUNT [N]\n"
			"  lat EP N [samples] | lat-serve EP | hold EP\n"
			"EP: unix:PATH | tcp:PORT (127.0.0.1) | hybrid:PATH:PORT (connect)\n"
			"AMOUNT: BYTES[K|M|G] | SECONDSs\n");
	return 2;
}

static int dispatch(int argc, char **argv)
{
	const char *cmd = argv[0];
	bool listening = strcmp(cmd, "sink") == 0 || strcmp(cmd, "source") == 0 ||
			 strcmp(cmd, "lat-serve") == 0 || strcmp(cmd, "hold") == 0;
	struct bench_amount a;
	struct ep ep;
	uint64_t n = 0;

	if (argc < 2 || parse_ep(argv[1], listening, &ep) < 0)
		return usage();
	if (strcmp(cmd, "send") == 0 && argc == 3 && bench_parse_amount(argv[2], &a) == 0)
		return cmd_send(&ep, &a);
	if (strcmp(cmd, "recv") == 0 && argc == 2)
		return cmd_recv(&ep);
	if (strcmp(cmd, "sink") == 0 &&
	    (argc == 2 || (argc == 3 && bench_parse_u64(argv[2], UINT32_MAX, &n) == 0)))
		return cmd_serve_xfer(&ep, NULL, n);
	if (strcmp(cmd, "source") == 0 && argc >= 3 && argc <= 4 &&
	    bench_parse_amount(argv[2], &a) == 0 &&
	    (argc == 3 || bench_parse_u64(argv[3], UINT32_MAX, &n) == 0))
		return cmd_serve_xfer(&ep, &a, n);
	if (strcmp(cmd, "lat-serve") == 0 && argc == 2)
		return cmd_lat_serve(&ep);
	if (strcmp(cmd, "hold") == 0 && argc == 2)
		return cmd_hold(&ep);
	if (strcmp(cmd, "lat") == 0 && (argc == 3 || (argc == 4 && !strcmp(argv[3], "samples"))) &&
	    bench_parse_u64(argv[2], 1000000, &n) == 0 && n > 0)
		return cmd_lat(&ep, n, argc == 4);
	return usage();
}

int main(int argc, char **argv)
{
	uint64_t secs = 0;

	signal(SIGPIPE, SIG_IGN);
	argc--;
	argv++;
	if (argc >= 2 && strcmp(argv[0], "-t") == 0) {
		if (bench_parse_u64(argv[1], 86400, &secs) < 0)
			return usage();
		bench_arm_timeout(secs);
		argc -= 2;
		argv += 2;
	}
	if (argc < 1)
		return usage();
	return dispatch(argc, argv);
}
