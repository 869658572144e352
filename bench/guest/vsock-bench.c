/* SPDX-License-Identifier: MIT */
/*
 * vsock-bench: the guest side of the vmsvc benchmark (bench/run). Built
 * static by tools/mkguest and run INSIDE the test guest only (never on the
 * host, which must not open AF_VSOCK sockets). Its host counterpart is
 * bench/hostbench.c; the loops and the output format are in bench.h.
 *
 * Endpoints: vsock:CID:PORT | tcp:A.B.C.D:PORT to connect,
 *            vsock:PORT | tcp:PORT to listen (any address).
 * AMOUNT: BYTES[K|M|G] or SECONDSs (see bench.h).
 *   send EP AMOUNT      connect, write 64 KiB blocks, SHUT_WR, wait for EOF
 *   recv EP             connect, read until EOF
 *   sink EP [N]         accept N connections (0: forever) in turn, read each
 *                       until EOF
 *   source EP AMOUNT [N]  accept N connections in turn, send AMOUNT to each
 *   lat EP N [samples]  N times: connect, read the first byte, close; with
 *                       "samples", also print every time (bench.h)
 *   lat-serve EP        accept, write one byte, close; until killed
 *   idle EP N           open N connections, print "result op=idle open=N",
 *                       hold them until killed
 * Global option -t SECONDS: give up (exit 3, "error TIMEOUT") after SECONDS.
 * Every command prints "result ..." lines (bench.h) or "error ..." and exits
 * non-zero on failure.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>

#include <linux/vm_sockets.h>

#include "bench.h"

struct ep {
	int family; /* AF_VSOCK or AF_INET */
	union {
		struct sockaddr_vm vm;
		struct sockaddr_in in;
	} sa;
	socklen_t len;
};

static int parse_port(const char *s, uint32_t max, uint32_t *port)
{
	uint64_t v;

	if (bench_parse_u64(s, max, &v) < 0)
		return -EINVAL;
	*port = (uint32_t)v;
	return 0;
}

/* vsock:CID:PORT, tcp:ADDR:PORT (connect) or vsock:PORT, tcp:PORT (listen). */
static int parse_ep(const char *s, bool listening, struct ep *ep)
{
	char host[64];
	const char *rest, *colon;
	uint32_t port = 0, cid = VMADDR_CID_ANY;

	memset(ep, 0, sizeof(*ep));
	if (strncmp(s, "vsock:", 6) != 0 && strncmp(s, "tcp:", 4) != 0)
		return -EINVAL;
	ep->family = s[0] == 'v' ? AF_VSOCK : AF_INET;
	rest = s + (s[0] == 'v' ? 6 : 4);
	colon = strrchr(rest, ':');
	if (listening != (colon == NULL))
		return -EINVAL;
	if (colon) {
		if ((size_t)(colon - rest) >= sizeof(host))
			return -EINVAL;
		memcpy(host, rest, (size_t)(colon - rest));
		host[colon - rest] = '\0';
		rest = colon + 1;
	}
	if (parse_port(rest, ep->family == AF_INET ? 65535 : UINT32_MAX, &port) < 0)
		return -EINVAL;
	if (ep->family == AF_VSOCK) {
		if (colon && parse_port(host, UINT32_MAX, &cid) < 0)
			return -EINVAL;
		ep->sa.vm = (struct sockaddr_vm){ .svm_family = AF_VSOCK,
						  .svm_cid = cid,
						  .svm_port = port };
		ep->len = sizeof(ep->sa.vm);
		return 0;
	}
	ep->sa.in = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port) };
	if (colon && inet_pton(AF_INET, host, &ep->sa.in.sin_addr) != 1)
		return -EINVAL;
	ep->len = sizeof(ep->sa.in);
	return 0;
}

/* A stream socket of ep's family in *fd (caller closes). 0 or -errno. */
static int ep_socket(const struct ep *ep, int *fd)
{
	int one = 1;
	int s = socket(ep->family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -errno;
	if (ep->family == AF_INET) {
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	*fd = s;
	return 0;
}

/* Connected socket in *fd (caller closes). 0 or -errno. */
static int ep_connect(const struct ep *ep, int *fd)
{
	int s = -1, r = ep_socket(ep, &s);

	if (r < 0)
		return r;
	while (connect(s, (const struct sockaddr *)&ep->sa, ep->len) < 0) {
		if (errno == EINTR)
			continue;
		r = -errno;
		close(s);
		return r;
	}
	*fd = s;
	return 0;
}

/* Listening socket in *fd (caller closes). 0 or -errno. */
static int ep_listen(const struct ep *ep, int *fd)
{
	int s = -1, r = ep_socket(ep, &s);

	if (r < 0)
		return r;
	if (bind(s, (const struct sockaddr *)&ep->sa, ep->len) < 0 || listen(s, 128) < 0) {
		r = -errno;
		close(s);
		return r;
	}
	fprintf(stderr, "listening\n");
	*fd = s;
	return 0;
}

static int fail(const char *what, int r)
{
	printf("error %s %s\n", what, bench_errname(-r));
	return 1;
}

static int cmd_send(const struct ep *ep, const struct bench_amount *a)
{
	struct bench_xfer x;
	int fd = -1, r = ep_connect(ep, &fd);

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
	int fd = -1, r = ep_connect(ep, &fd);

	if (r < 0)
		return fail("connect", r);
	r = bench_recv(fd, &x);
	close(fd);
	if (r < 0)
		return fail("recv", r);
	bench_print_xfer("recv", &x);
	return 0;
}

/* sink (a == NULL) or source: serves n connections in turn (0: forever). */
static int cmd_serve_xfer(const struct ep *ep, const struct bench_amount *a, uint64_t n)
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
		int fd = -1;

		r = ep_connect(ep, &fd);
		if (r == 0) {
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

static int cmd_lat_serve(const struct ep *ep)
{
	int lfd = -1, r = ep_listen(ep, &lfd);

	if (r < 0)
		return fail("listen", r);
	bench_lat_serve(lfd);
}

static int cmd_idle(const struct ep *ep, uint64_t n)
{
	uint64_t t0 = bench_now_ns();

	bench_raise_nofile();
	for (uint64_t i = 0; i < n; i++) {
		int fd = -1, r = ep_connect(ep, &fd);

		if (r < 0) {
			printf("error connect %s after %" PRIu64 "\n", bench_errname(-r), i);
			return 1;
		}
		/* fd stays open until the process ends */
	}
	printf("result op=idle open=%" PRIu64 " ms=%" PRIu64 "\n", n,
	       (bench_now_ns() - t0) / 1000000);
	fflush(stdout);
	for (;;)
		pause();
}

static int usage(void)
{
	fprintf(stderr, "usage: vsock-bench [-t SECONDS] COMMAND ...\n"
			"  send EP AMOUNT | recv EP | sink EP [N] | source EP AMOUNT [N]\n"
			"  lat EP N [samples] | lat-serve EP | idle EP N\n"
			"EP: vsock:CID:PORT | tcp:ADDR:PORT (connect), vsock:PORT | tcp:PORT "
			"(listen)\n"
			"AMOUNT: BYTES[K|M|G] | SECONDSs\n");
	return 2;
}

static int dispatch(int argc, char **argv)
{
	const char *cmd = argv[0];
	bool listening = strcmp(cmd, "sink") == 0 || strcmp(cmd, "source") == 0 ||
			 strcmp(cmd, "lat-serve") == 0;
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
	if (argc < 3 || bench_parse_u64(argv[2], 1000000, &n) < 0 || n == 0)
		return usage();
	if (strcmp(cmd, "lat") == 0 && (argc == 3 || (argc == 4 && !strcmp(argv[3], "samples"))))
		return cmd_lat(&ep, n, argc == 4);
	if (strcmp(cmd, "idle") == 0 && argc == 3)
		return cmd_idle(&ep, n);
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
