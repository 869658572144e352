/* SPDX-License-Identifier: MIT */
/*
 * vsock-tool: the AF_VSOCK test helper of the vmsvc test guest. Built static
 * by tools/mkguest and run INSIDE the guest only (never on the host).
 *
 * Every subcommand prints one clear result line (two for `send`) and exits
 * non-zero on failure:
 *   cid                          local CID (IOCTL_VM_SOCKETS_GET_LOCAL_CID)
 *   connect CID PORT             "ok MS" | "error ERRNAME MS"
 *   send CID PORT BYTES SEED     "sent N sha256 HEX" + "recv N sha256 HEX"
 *   listen PORT echo|sink|source BYTES SEED
 *                                "accepted cid=C port=P", then the result
 *   halfclose CID PORT           write "ping\n", SHUT_WR, "recv N ESCAPED"
 *   many CID PORT N BYTES        N concurrent echo round trips, "ok N"
 *   serve PORT                   echo server for any number of connections,
 *                                runs until killed
 * Global option -t SECONDS: give up (exit 3, "error TIMEOUT") after SECONDS.
 * Global option -m: once the command succeeded, print "ms N": milliseconds
 * from the start (before connecting) to the end (for timing tests).
 * Listening commands print "listening port=P" on stderr once bound.
 * Streams are those of stream.h: `streamgen` on the host makes the same bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "bench.h"
#include "stream.h"

#define SEND_CHUNK_MAX 65536
#define MANY_CHUNK_MAX 16384

static uint64_t start_ns;
static bool print_ms;

static unsigned long elapsed_ms(void)
{
	return (unsigned long)((bench_now_ns() - start_ns) / 1000000ULL);
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;
	int r = parse_u64(s, UINT32_MAX, &v);

	if (r == 0)
		*out = (uint32_t)v;
	return r;
}

/* Connected stream socket to CID:PORT in *fd (caller closes); 0 or -errno. */
static int vsock_connect(uint32_t cid, uint32_t port, bool nonblock, int *fd)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    !(nonblock && errno == EINPROGRESS)) {
		int e = errno;

		close(s);
		return -e;
	}
	*fd = s;
	return 0;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/*
 * One stream connection driven by poll: sends `to_send` bytes of the SEED
 * stream with random write sizes, then SHUT_WR; receives either until EOF
 * (hashing) or exactly `expect` bytes (checking against the same stream).
 */
struct conn {
	int fd;
	bool connecting, shut, eof, done, verify;
	uint64_t to_send, sent, recvd, expect;
	size_t chunk_max;
	struct stream tx, rxcheck;
	struct sha256 txh, rxh;
	uint8_t *pend;
	size_t pend_len, pend_off;
	int err;      /* first error, negative errno */
	uint64_t bad; /* verify: offset of the first mismatch, or UINT64_MAX */
};

static int conn_init(struct conn *c, int fd, uint64_t bytes, uint64_t seed, size_t chunk_max)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->to_send = bytes;
	c->chunk_max = chunk_max;
	c->bad = UINT64_MAX;
	stream_init(&c->tx, seed);
	stream_init(&c->rxcheck, seed);
	sha256_init(&c->txh);
	sha256_init(&c->rxh);
	c->pend = malloc(chunk_max);
	return c->pend ? 0 : -ENOMEM;
}

static void conn_fail(struct conn *c, int err)
{
	if (c->err == 0)
		c->err = err;
	c->done = true;
}

static void conn_writable(struct conn *c)
{
	while (!c->done) {
		if (c->pend_off == c->pend_len) {
			uint64_t left = c->to_send - c->sent;
			size_t n;

			if (left == 0) {
				if (!c->shut && shutdown(c->fd, SHUT_WR) < 0)
					conn_fail(c, -errno);
				c->shut = true;
				return;
			}
			n = stream_chunk(&c->tx, c->chunk_max);
			if (n > left)
				n = (size_t)left;
			stream_fill(&c->tx, c->pend, n);
			sha256_update(&c->txh, c->pend, n);
			c->pend_len = n;
			c->pend_off = 0;
		}
		ssize_t w =
			send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (w < 0) {
			conn_fail(c, -errno);
			return;
		}
		c->pend_off += (size_t)w;
		c->sent += (uint64_t)w;
	}
}

static void conn_check(struct conn *c, const uint8_t *buf, size_t n)
{
	static uint8_t want[SEND_CHUNK_MAX];

	if (c->recvd + n > c->expect) {
		conn_fail(c, -EPROTO);
		return;
	}
	stream_fill(&c->rxcheck, want, n);
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != want[i]) {
			c->bad = c->recvd + i;
			conn_fail(c, -EBADMSG);
			return;
		}
	}
}

static void conn_readable(struct conn *c)
{
	static uint8_t buf[SEND_CHUNK_MAX];

	while (!c->done && !c->eof) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			conn_fail(c, -errno);
			return;
		}
		if (n == 0) {
			c->eof = true;
			break;
		}
		if (c->verify)
			conn_check(c, buf, (size_t)n);
		else
			sha256_update(&c->rxh, buf, (size_t)n);
		c->recvd += (uint64_t)n;
		if (c->verify && c->recvd == c->expect)
			break;
	}
	if (c->verify && c->eof && c->recvd != c->expect)
		conn_fail(c, -EPIPE);
}

static bool conn_finished(const struct conn *c)
{
	if (c->verify)
		return c->shut && c->recvd == c->expect;
	return c->shut && c->eof;
}

static short conn_events(const struct conn *c)
{
	if (c->connecting)
		return POLLOUT;
	return (short)((c->eof ? 0 : POLLIN) | (c->shut ? 0 : POLLOUT));
}

static void conn_connected(struct conn *c)
{
	int e = 0;
	socklen_t len = sizeof(e);

	c->connecting = false;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	if (e != 0)
		conn_fail(c, -e);
}

static void conn_event(struct conn *c, short revents)
{
	if (c->connecting) {
		if (revents & (POLLOUT | POLLERR | POLLHUP))
			conn_connected(c);
		return;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR))
		conn_readable(c);
	if (!c->done && (revents & (POLLOUT | POLLERR)))
		conn_writable(c);
	if (!c->done && conn_finished(c))
		c->done = true;
}

static void conn_free(struct conn *c)
{
	free(c->pend);
	c->pend = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void print_sha(const char *what, uint64_t n, struct sha256 *h)
{
	char hex[65];

	sha256_hex(h, hex);
	printf("%s %" PRIu64 " sha256 %s\n", what, n, hex);
}

static int cmd_cid(void)
{
	unsigned int cid = 0;
	int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0) {
		printf("error %s\n", bench_errname(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	close(fd);
	printf("%u\n", cid);
	return 0;
}

static int cmd_connect(uint32_t cid, uint32_t port)
{
	int fd = -1;
	int r = vsock_connect(cid, port, false, &fd);

	if (r < 0) {
		printf("error %s %lu\n", bench_errname(-r), elapsed_ms());
		return 1;
	}
	printf("ok %lu\n", elapsed_ms());
	close(fd);
	return 0;
}

static int run_one(struct conn *c)
{
	while (!c->done) {
		struct pollfd p = { .fd = c->fd, .events = conn_events(c) };

		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		conn_event(c, p.revents);
	}
	return c->err;
}

static int cmd_send(uint32_t cid, uint32_t port, uint64_t bytes, uint64_t seed)
{
	struct conn c;
	int fd = -1;
	int r = vsock_connect(cid, port, false, &fd);

	if (r < 0) {
		printf("error %s %lu\n", bench_errname(-r), elapsed_ms());
		return 1;
	}
	if (set_nonblock(fd) < 0 || conn_init(&c, fd, bytes, seed, SEND_CHUNK_MAX) < 0) {
		printf("error setup\n");
		close(fd);
		return 1;
	}
	r = run_one(&c);
	if (r < 0) {
		printf("error %s sent %" PRIu64 " recv %" PRIu64 "\n", bench_errname(-r), c.sent,
		       c.recvd);
		conn_free(&c);
		return 1;
	}
	print_sha("sent", c.sent, &c.txh);
	print_sha("recv", c.recvd, &c.rxh);
	conn_free(&c);
	return 0;
}

/* Listening socket on any CID, PORT in *fd (caller closes); 0 or -errno. */
static int vsock_listen(uint32_t port, int backlog, int *fd)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
				  .svm_cid = VMADDR_CID_ANY,
				  .svm_port = port };
	int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -errno;
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, backlog) < 0) {
		int e = errno;

		close(s);
		return -e;
	}
	fprintf(stderr, "listening port=%u\n", port);
	*fd = s;
	return 0;
}

/* Accepted connection in *fd (caller closes), announced on stdout. */
static int vsock_accept(int lfd, int *fd)
{
	struct sockaddr_vm sa;
	socklen_t len = sizeof(sa);
	int s;

	do
		s = accept4(lfd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC);
	while (s < 0 && errno == EINTR);
	if (s < 0)
		return -errno;
	printf("accepted cid=%u port=%u\n", sa.svm_cid, sa.svm_port);
	fflush(stdout);
	*fd = s;
	return 0;
}

static int mode_echo(int fd)
{
	static uint8_t buf[SEND_CHUNK_MAX];
	uint64_t total = 0;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			printf("error %s echoed %" PRIu64 "\n", bench_errname(errno), total);
			return 1;
		}
		if (n == 0)
			break;
		r = bench_write_all(fd, buf, (size_t)n);
		if (r < 0) {
			printf("error %s echoed %" PRIu64 "\n", bench_errname(-r), total);
			return 1;
		}
		total += (uint64_t)n;
	}
	shutdown(fd, SHUT_WR);
	printf("echoed %" PRIu64 "\n", total);
	return 0;
}

static int mode_sink(int fd)
{
	static uint8_t buf[SEND_CHUNK_MAX];
	struct sha256 h;
	uint64_t total = 0;

	sha256_init(&h);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			printf("error %s recv %" PRIu64 "\n", bench_errname(errno), total);
			return 1;
		}
		if (n == 0)
			break;
		sha256_update(&h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	print_sha("recv", total, &h);
	return 0;
}

static int mode_source(int fd, uint64_t bytes, uint64_t seed)
{
	static uint8_t buf[SEND_CHUNK_MAX];
	struct stream s;
	struct sha256 h;
	uint64_t sent = 0;

	stream_init(&s, seed);
	sha256_init(&h);
	while (sent < bytes) {
		size_t n = stream_chunk(&s, SEND_CHUNK_MAX);
		int r;

		if (n > bytes - sent)
			n = (size_t)(bytes - sent);
		stream_fill(&s, buf, n);
		r = bench_write_all(fd, buf, n);
		if (r < 0) {
			printf("error %s sent %" PRIu64 "\n", bench_errname(-r), sent);
			return 1;
		}
		sha256_update(&h, buf, n);
		sent += n;
	}
	shutdown(fd, SHUT_WR);
	print_sha("sent", sent, &h);
	return 0;
}

static int cmd_listen(uint32_t port, int argc, char **argv)
{
	uint64_t bytes = 0, seed = 0;
	int lfd = -1, fd = -1, r, rc;
	bool source = argc == 3 && strcmp(argv[0], "source") == 0;

	if (!(argc == 1 && (strcmp(argv[0], "echo") == 0 || strcmp(argv[0], "sink") == 0)) &&
	    !(source && parse_u64(argv[1], UINT64_MAX, &bytes) == 0 &&
	      parse_u64(argv[2], UINT64_MAX, &seed) == 0)) {
		fprintf(stderr, "usage: listen PORT echo|sink|source BYTES SEED\n");
		return 2;
	}
	r = vsock_listen(port, 1, &lfd);
	if (r == 0) {
		r = vsock_accept(lfd, &fd);
		close(lfd);
	}
	if (r < 0) {
		printf("error %s\n", bench_errname(-r));
		return 1;
	}
	if (source)
		rc = mode_source(fd, bytes, seed);
	else if (strcmp(argv[0], "echo") == 0)
		rc = mode_echo(fd);
	else
		rc = mode_sink(fd);
	close(fd);
	return rc;
}

static void print_escaped(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n')
			fputs("\\n", stdout);
		else if (p[i] == '\\')
			fputs("\\\\", stdout);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
}

static int cmd_halfclose(uint32_t cid, uint32_t port)
{
	static const uint8_t ping[] = "ping\n";
	static uint8_t buf[4096];
	size_t got = 0;
	int fd = -1;
	int r = vsock_connect(cid, port, false, &fd);

	if (r == 0)
		r = bench_write_all(fd, ping, sizeof(ping) - 1);
	if (r == 0 && shutdown(fd, SHUT_WR) < 0)
		r = -errno;
	while (r == 0) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		if (n <= 0 || (got += (size_t)n) == sizeof(buf))
			break;
	}
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		printf("error %s %lu\n", bench_errname(-r), elapsed_ms());
		return 1;
	}
	printf("recv %zu%s", got, got ? " " : "");
	print_escaped(buf, got);
	putchar('\n');
	return 0;
}

static int many_report(const struct conn *c, unsigned int i)
{
	if (c->err == -EBADMSG)
		printf("error conn %u mismatch at %" PRIu64 "\n", i, c->bad);
	else
		printf("error conn %u %s sent %" PRIu64 " recv %" PRIu64 "\n", i,
		       bench_errname(-c->err), c->sent, c->recvd);
	return 1;
}

/* Start all N connections (seed i+1 for connection i). */
static int many_start(struct conn *cs, unsigned int n, uint32_t cid, uint32_t port, uint64_t bytes)
{
	for (unsigned int i = 0; i < n; i++) {
		int fd = -1;
		int r = vsock_connect(cid, port, true, &fd);

		if (r == 0)
			r = conn_init(&cs[i], fd, bytes, i + 1, MANY_CHUNK_MAX);
		if (r < 0) {
			printf("error conn %u %s\n", i, bench_errname(-r));
			if (fd >= 0)
				close(fd);
			for (unsigned int j = 0; j < i; j++)
				conn_free(&cs[j]);
			return 1;
		}
		cs[i].connecting = true;
		cs[i].verify = true;
		cs[i].expect = bytes;
	}
	return 0;
}

static int many_loop(struct conn *cs, struct pollfd *ps, unsigned int n)
{
	unsigned int left = n;

	while (left > 0) {
		unsigned int np = 0;

		for (unsigned int i = 0; i < n; i++)
			if (!cs[i].done)
				ps[np++] = (struct pollfd){ .fd = cs[i].fd,
							    .events = conn_events(&cs[i]) };
		if (poll(ps, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (unsigned int i = 0, k = 0; i < n; i++) {
			if (cs[i].done)
				continue;
			conn_event(&cs[i], ps[k++].revents);
			if (!cs[i].done)
				continue;
			if (cs[i].err < 0)
				return many_report(&cs[i], i);
			left--;
		}
	}
	return 0;
}

static int cmd_many(uint32_t cid, uint32_t port, uint64_t n, uint64_t bytes)
{
	struct conn *cs = calloc(n ? n : 1, sizeof(*cs));
	struct pollfd *ps = calloc(n ? n : 1, sizeof(*ps));
	int rc;

	if (!cs || !ps) {
		printf("error ENOMEM\n");
		return 1;
	}
	bench_raise_nofile();
	rc = many_start(cs, (unsigned int)n, cid, port, bytes);
	if (rc == 0) {
		rc = many_loop(cs, ps, (unsigned int)n);
		if (rc < 0)
			printf("error poll %s\n", bench_errname(-rc));
		for (unsigned int i = 0; i < n; i++)
			conn_free(&cs[i]);
	}
	if (rc == 0)
		printf("ok %" PRIu64 "\n", n);
	free(cs);
	free(ps);
	return rc == 0 ? 0 : 1;
}

/* Echo server state for `serve`: one buffer per connection. */
struct echo {
	int fd;
	uint8_t buf[SEND_CHUNK_MAX];
	size_t len, off;
	bool eof;
};

/* Returns false when the connection is finished (closed by the caller). */
static bool echo_event(struct echo *e, short revents)
{
	if (e->off == e->len && !e->eof && (revents & (POLLIN | POLLHUP | POLLERR))) {
		ssize_t n = read(e->fd, e->buf, sizeof(e->buf));

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return false;
		if (n == 0)
			e->eof = true;
		if (n > 0) {
			e->len = (size_t)n;
			e->off = 0;
		}
	}
	if (e->off < e->len) {
		ssize_t n = send(e->fd, e->buf + e->off, e->len - e->off, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return false;
		if (n > 0)
			e->off += (size_t)n;
	}
	if (e->eof && e->off == e->len) {
		shutdown(e->fd, SHUT_WR);
		return false;
	}
	return true;
}

#define SERVE_MAX 1024

static int cmd_serve(uint32_t port)
{
	static struct echo *es[SERVE_MAX];
	static struct pollfd ps[SERVE_MAX + 1];
	unsigned int n = 0;
	int lfd = -1;
	int r = vsock_listen(port, 128, &lfd);

	if (r < 0) {
		printf("error %s\n", bench_errname(-r));
		return 1;
	}
	bench_raise_nofile();
	for (;;) {
		ps[0] = (struct pollfd){ .fd = lfd, .events = n < SERVE_MAX ? POLLIN : 0 };
		for (unsigned int i = 0; i < n; i++)
			ps[i + 1] = (struct pollfd){ .fd = es[i]->fd,
						     .events = es[i]->off < es[i]->len ? POLLOUT
										       : POLLIN };
		if (poll(ps, n + 1, -1) < 0 && errno != EINTR)
			return 1;
		for (unsigned int i = n; i-- > 0;) {
			if (!ps[i + 1].revents || echo_event(es[i], ps[i + 1].revents))
				continue;
			close(es[i]->fd);
			free(es[i]);
			es[i] = es[--n];
		}
		if (ps[0].revents & POLLIN) {
			int fd = -1;

			if (vsock_accept(lfd, &fd) < 0)
				continue;
			es[n] = calloc(1, sizeof(*es[n]));
			if (!es[n] || set_nonblock(fd) < 0) {
				free(es[n]);
				close(fd);
				continue;
			}
			es[n++]->fd = fd;
		}
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: vsock-tool [-t SECONDS] [-m] COMMAND ...\n"
			"  cid | connect CID PORT | send CID PORT BYTES SEED\n"
			"  listen PORT echo|sink|source BYTES SEED | halfclose CID PORT\n"
			"  many CID PORT N BYTES | serve PORT\n");
	return 2;
}

static int dispatch(int argc, char **argv)
{
	const char *cmd = argv[0];
	uint32_t cid = 0, port = 0;
	uint64_t a = 0, b = 0;

	if (strcmp(cmd, "cid") == 0 && argc == 1)
		return cmd_cid();
	if (strcmp(cmd, "listen") == 0 && argc >= 3 && parse_u32(argv[1], &port) == 0)
		return cmd_listen(port, argc - 2, argv + 2);
	if (strcmp(cmd, "serve") == 0 && argc == 2 && parse_u32(argv[1], &port) == 0)
		return cmd_serve(port);
	if (argc < 3 || parse_u32(argv[1], &cid) < 0 || parse_u32(argv[2], &port) < 0)
		return usage();
	if (strcmp(cmd, "connect") == 0 && argc == 3)
		return cmd_connect(cid, port);
	if (strcmp(cmd, "halfclose") == 0 && argc == 3)
		return cmd_halfclose(cid, port);
	if (argc != 5 || parse_u64(argv[3], UINT64_MAX, &a) < 0 ||
	    parse_u64(argv[4], UINT64_MAX, &b) < 0)
		return usage();
	if (strcmp(cmd, "send") == 0)
		return cmd_send(cid, port, a, b);
	if (strcmp(cmd, "many") == 0 && a > 0 && a <= 100000)
		return cmd_many(cid, port, a, b);
	return usage();
}

int main(int argc, char **argv)
{
	uint64_t secs = 0;
	int rc;

	start_ns = bench_now_ns();
	signal(SIGPIPE, SIG_IGN);
	argc--;
	argv++;
	if (argc >= 2 && strcmp(argv[0], "-t") == 0) {
		if (parse_u64(argv[1], 86400, &secs) < 0)
			return usage();
		bench_arm_timeout(secs);
		argc -= 2;
		argv += 2;
	}
	if (argc >= 1 && strcmp(argv[0], "-m") == 0) {
		print_ms = true;
		argc--;
		argv++;
	}
	if (argc < 1)
		return usage();
	rc = dispatch(argc, argv);
	if (rc == 0 && print_ms)
		printf("ms %lu\n", elapsed_ms());
	fflush(stdout);
	return rc;
}
