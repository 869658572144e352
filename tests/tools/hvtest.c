/* SPDX-License-Identifier: MIT */
/*
 * hvtest: the hv_* test program of the end-to-end tests (tests/e2e-hv*.bats,
 * tests/daemon-hv.bats). Built against libvmsvc for the host, and statically
 * (hvtest-static, no sanitizers) for the test guest, where it is the guest
 * program that uses hv_connect(HV_GUID_PARENT, ...) and hv_bind(PARENT).
 *
 *   hvtest [OPTIONS] connect VM SERVICE
 *       first line "ok MS" or "error ERRNAME MS" (MS: from hv_connect to the
 *       result); then, with -p, "pending so_error=E again=ERRNAME", with -n
 *       "epoll EVENTS"; when connected "peer VMID" (hv_getpeername) and
 *       with -s/-g the data lines below.
 *   hvtest [OPTIONS] listen VM SERVICE
 *       binds VM/SERVICE, listens, prints "listening" (stdout and stderr) or
 *       "error ERRNAME"; then per connection "accepted N VMID" and the mode's
 *       result line.
 *
 *   VM       a GUID or a well-known name: wildcard, zero, children,
 *            loopback, parent, broadcast, silohost
 *   SERVICE  a GUID, or a vsock port (its VSOCK-template GUID)
 *   -t MS    HVSOCKET_CONNECT_TIMEOUT
 *   -n       non-blocking: connect expects EINPROGRESS, waits in epoll for
 *            the fd to turn writable, then reads hv_getsockopt(SO_ERROR)
 *            (the "epoll EVENTS" line); listen puts the fd in O_NONBLOCK, checks
 *            that hv_accept gives EAGAIN ("accept EAGAIN" line) and accepts
 *            from an epoll loop until EAGAIN
 *   -p       with -n: right after EINPROGRESS print "pending so_error=E
 *            again=ERRNAME" (SO_ERROR and a second hv_connect)
 *   -s TEXT  connect: send TEXT (\n escapes), SHUT_WR, read to EOF:
 *            "data ESCAPED"
 *   -g BYTES:SEED  connect: send that test stream (tests/guest/stream.h)
 *            while reading to EOF: "sent N sha256 HEX", "recv N sha256 HEX"
 *   -m MODE  listen: echo (default; echo to EOF: "echoed N BYTES"), greet
 *            ("hello VMID\n", then echo), sink ("recv N BYTES sha256 HEX")
 *   -c N     listen: exit after N connections (default: run until killed)
 *   -d MS    listen: wait MS before the first accept (peers queue up)
 *   -w SEC   give up after SEC seconds ("error TIMEOUT", exit 3; default 60)
 *
 * Safety: unless VMSVC_GUEST=1 is set (only in the guest), hvtest sets
 * VMSVC_GUEST=0 before any hv_* call, so the library can never take the
 * AF_VSOCK path on the host.
 * Exit status: 0 ok, 1 the operation failed, 2 usage, 3 -w expired.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <vmsvc/vmsvc.h>

#include "stream.h"

#define CHUNK 65536

struct opts {
	uint32_t timeout_ms; /* 0: the library's default */
	bool nonblock, probe;
	const char *send_text;
	bool gen;
	uint64_t gen_bytes, gen_seed;
	const char *mode;
	unsigned long count; /* 0: forever */
	unsigned delay_ms;   /* listen: before the first accept */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *errname(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "EUNKNOWN";
}

static void on_alarm(int sig)
{
	static const char msg[] = "error TIMEOUT -w expired\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	_exit(3);
}

static int usage(void)
{
	fprintf(stderr, "usage: hvtest [-t MS] [-n] [-p] [-s TEXT] [-g BYTES:SEED] [-m MODE] "
			"[-c N] [-d MS] [-w SEC] connect|listen VM SERVICE\n");
	return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_vm(const char *s, hv_guid_t *out)
{
	if (hv_guid_parse(s, out) == 0 || hv_guid_lookup_name(s, out) == 0)
		return 0;
	return -EINVAL;
}

static int parse_service(const char *s, hv_guid_t *out)
{
	uint64_t port;

	if (hv_guid_parse(s, out) == 0)
		return 0;
	if (parse_u64(s, &port) < 0 || port > UINT32_MAX)
		return -EINVAL;
	hv_guid_from_port((uint32_t)port, out);
	return 0;
}

/* "\n" escapes in a command-line text; returns a malloc'd copy (len in *n). */
static char *unescape(const char *s, size_t *n)
{
	char *out = malloc(strlen(s) + 1);
	size_t j = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; s[i]; i++) {
		if (s[i] == '\\' && s[i + 1] == 'n') {
			out[j++] = '\n';
			i++;
		} else {
			out[j++] = s[i];
		}
	}
	*n = j;
	return out;
}

static void print_escaped(const char *prefix, const uint8_t *p, size_t n)
{
	fputs(prefix, stdout);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n')
			fputs("\\n", stdout);
		else if (p[i] == '\\')
			fputs("\\\\", stdout);
		else if (p[i] >= 32 && p[i] < 127)
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
	putchar('\n');
}

static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- connect: the data phase ---- */

struct sender {
	int fd;
	const struct opts *o;
	uint64_t sent;
	struct sha256 h;
	int err;
};

/* Sends -s TEXT or the -g stream, then SHUT_WR (runs in its own thread). */
static void *send_thread(void *arg)
{
	struct sender *s = arg;
	static uint8_t buf[CHUNK];
	struct stream st;

	sha256_init(&s->h);
	if (s->o->send_text) {
		size_t n = 0;
		char *t = unescape(s->o->send_text, &n);
		s->err = t ? write_all(s->fd, t, n) : -ENOMEM;
		s->sent = s->err ? 0 : n;
		free(t);
	} else {
		stream_init(&st, s->o->gen_seed);
		while (s->sent < s->o->gen_bytes && s->err == 0) {
			size_t n = stream_chunk(&st, CHUNK);
			if (n > s->o->gen_bytes - s->sent)
				n = (size_t)(s->o->gen_bytes - s->sent);
			stream_fill(&st, buf, n);
			sha256_update(&s->h, buf, n);
			s->err = write_all(s->fd, buf, n);
			s->sent += n;
		}
	}
	if (s->err == 0 && shutdown(s->fd, SHUT_WR) < 0)
		s->err = -errno;
	return NULL;
}

/* Sends and reads to EOF at the same time; prints the data lines. */
static int exchange(int fd, const struct opts *o)
{
	struct sender s = { .fd = fd, .o = o };
	static uint8_t buf[CHUNK];
	uint8_t *keep = NULL;
	size_t kept = 0;
	uint64_t got = 0;
	struct sha256 h;
	pthread_t t;
	ssize_t n;
	char hex[65];

	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0 ||
	    pthread_create(&t, NULL, send_thread, &s) != 0)
		return -EIO;
	sha256_init(&h);
	while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
		if (n < 0)
			continue;
		got += (uint64_t)n;
		sha256_update(&h, buf, (size_t)n);
		if (!o->gen && kept < 65536) {
			uint8_t *k = realloc(keep, kept + (size_t)n);
			if (k) {
				memcpy(k + kept, buf, (size_t)n);
				keep = k;
				kept += (size_t)n;
			}
		}
	}
	int rerr = n < 0 ? errno : 0;
	pthread_join(t, NULL);
	if (o->gen) {
		sha256_hex(&s.h, hex);
		printf("sent %" PRIu64 " sha256 %s\n", s.sent, hex);
		sha256_hex(&h, hex);
		printf("recv %" PRIu64 " sha256 %s\n", got, hex);
	} else {
		print_escaped("data ", keep ? keep : (const uint8_t *)"", kept);
	}
	free(keep);
	if (rerr || s.err)
		printf("error %s data\n", errname(rerr ? rerr : -s.err));
	return rerr || s.err ? -EIO : 0;
}

/* ---- connect ---- */

static void print_peer(int fd)
{
	struct sockaddr_hv peer;
	char id[HV_GUID_STRSIZE];

	if (hv_getpeername(fd, &peer) < 0) {
		printf("peer error %s\n", errname(errno));
		return;
	}
	hv_guid_format(&peer.VmId, id, sizeof(id));
	printf("peer %s\n", id);
}

/* What -n and -p saw, printed after the result line. */
static char note_pending[64], note_epoll[64];

/* -n -p: the state of a pending connect, right after EINPROGRESS. */
static void probe_pending(int fd, const struct sockaddr_hv *addr)
{
	int err = -1;
	socklen_t len = sizeof(err);
	int r = hv_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	int r2 = hv_connect(fd, addr);

	snprintf(note_pending, sizeof(note_pending), "pending so_error=%d again=%s",
		 r < 0 ? -errno : err, r2 < 0 ? errname(errno) : "0");
}

/* Non-blocking connect: EINPROGRESS, epoll for EPOLLOUT, then SO_ERROR.
 * Returns 0 or the errno of the connect. */
static int connect_nonblock(int fd, const struct sockaddr_hv *addr, const struct opts *o)
{
	struct epoll_event ev = { .events = EPOLLOUT }, out = { 0 };
	int ep, n, err = 0;
	socklen_t len = sizeof(err);

	if (hv_connect(fd, addr) == 0) {
		snprintf(note_epoll, sizeof(note_epoll), "nonblock connected at once");
		return 0;
	}
	if (errno != EINPROGRESS)
		return errno;
	if (o->probe)
		probe_pending(fd, addr);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		return errno;
	do
		n = epoll_wait(ep, &out, 1, (int)(o->timeout_ms ? o->timeout_ms : 2000) + 3000);
	while (n < 0 && errno == EINTR);
	close(ep);
	if (n <= 0)
		return n == 0 ? EWOULDBLOCK : errno;
	snprintf(note_epoll, sizeof(note_epoll), "epoll%s%s%s",
		 out.events & EPOLLOUT ? " EPOLLOUT" : "", out.events & EPOLLHUP ? " EPOLLHUP" : "",
		 out.events & EPOLLERR ? " EPOLLERR" : "");
	if (hv_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

static int do_connect(const struct sockaddr_hv *addr, const struct opts *o)
{
	int fd = hv_socket(SOCK_STREAM | SOCK_CLOEXEC | (o->nonblock ? SOCK_NONBLOCK : 0),
			   HV_PROTOCOL_RAW);
	int64_t t0;
	int err;

	if (fd < 0) {
		printf("error %s 0 hv_socket\n", errname(errno));
		return 1;
	}
	if (o->timeout_ms && hv_setsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT,
					   &o->timeout_ms, sizeof(o->timeout_ms)) < 0) {
		printf("error %s 0 setsockopt\n", errname(errno));
		return 1;
	}
	t0 = now_ms();
	if (o->nonblock)
		err = connect_nonblock(fd, addr, o);
	else
		err = hv_connect(fd, addr) < 0 ? errno : 0;
	if (err)
		printf("error %s %" PRId64 "\n", errname(err), now_ms() - t0);
	else
		printf("ok %" PRId64 "\n", now_ms() - t0);
	if (note_pending[0])
		printf("%s\n", note_pending);
	if (note_epoll[0])
		printf("%s\n", note_epoll);
	if (err) {
		hv_close(fd);
		return 1;
	}
	print_peer(fd);
	err = (o->send_text || o->gen) ? exchange(fd, o) : 0;
	hv_close(fd);
	return err ? 1 : 0;
}

/* ---- listen ---- */

/* Serves one accepted connection in the listener's mode. */
static void serve(int c, unsigned long nr, const hv_guid_t *vm, const char *mode)
{
	static uint8_t buf[CHUNK];
	char id[HV_GUID_STRSIZE], hello[64], hex[65];
	uint64_t total = 0;
	struct sha256 h;
	ssize_t n;
	int err = 0;

	hv_guid_format(vm, id, sizeof(id));
	sha256_init(&h);
	if (strcmp(mode, "greet") == 0) {
		snprintf(hello, sizeof(hello), "hello %s\n", id);
		err = write_all(c, hello, strlen(hello));
	}
	while (err == 0 && ((n = read(c, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))) {
		if (n < 0)
			continue;
		total += (uint64_t)n;
		sha256_update(&h, buf, (size_t)n);
		if (strcmp(mode, "sink") != 0)
			err = write_all(c, buf, (size_t)n);
	}
	if (err == 0 && n < 0)
		err = -errno;
	if (err)
		printf("error %lu %s %" PRIu64 "\n", nr, errname(-err), total);
	else if (strcmp(mode, "sink") == 0) {
		sha256_hex(&h, hex);
		printf("recv %lu %" PRIu64 " sha256 %s\n", nr, total, hex);
	} else
		printf("echoed %lu %" PRIu64 "\n", nr, total);
}

/* Accepts one connection and serves it. 1 served, 0 EAGAIN, -errno. */
static int accept_one(int lfd, unsigned long nr, const char *mode)
{
	struct sockaddr_hv peer, pn;
	char id[HV_GUID_STRSIZE];
	int c = hv_accept(lfd, &peer);

	if (c < 0)
		return errno == EAGAIN ? 0 : -errno;
	hv_guid_format(&peer.VmId, id, sizeof(id));
	printf("accepted %lu %s\n", nr, id);
	if (hv_getpeername(c, &pn) < 0 || !hv_guid_equal(&pn.VmId, &peer.VmId))
		printf("error %lu getpeername-mismatch 0\n", nr);
	serve(c, nr, &peer.VmId, mode);
	hv_close(c);
	return 1;
}

/* Non-blocking accept from an epoll loop. 0 or -errno. */
static int accept_loop_epoll(int lfd, const struct opts *o)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	unsigned long nr = 0;
	int ep, r = hv_accept(lfd, NULL);

	printf("accept %s\n", r < 0 ? errname(errno) : "ready-at-once");
	if (r >= 0) /* not expected: nobody connected yet */
		hv_close(r);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		return -errno;
	while (o->count == 0 || nr < o->count) {
		if (epoll_wait(ep, &out, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while ((o->count == 0 || nr < o->count) &&
		       (r = accept_one(lfd, nr + 1, o->mode)) > 0)
			nr++;
		if (r < 0)
			return r;
	}
	close(ep);
	return 0;
}

static int do_listen(const struct sockaddr_hv *addr, const struct opts *o)
{
	int fd = hv_socket(SOCK_STREAM | SOCK_CLOEXEC | (o->nonblock ? SOCK_NONBLOCK : 0),
			   HV_PROTOCOL_RAW);
	int r = 0;

	if (fd < 0 || hv_bind(fd, addr) < 0 || hv_listen(fd, 16) < 0) {
		printf("error %s\n", errname(errno));
		return 1;
	}
	printf("listening\n");
	fprintf(stderr, "listening\n");
	if (o->delay_ms)
		usleep(o->delay_ms * 1000u);
	if (o->nonblock) {
		r = accept_loop_epoll(fd, o);
	} else {
		for (unsigned long nr = 1; r >= 0 && (o->count == 0 || nr <= o->count); nr++)
			while ((r = accept_one(fd, nr, o->mode)) == -EINTR)
				;
	}
	if (r < 0)
		printf("error %s accept\n", errname(-r));
	hv_close(fd);
	return r < 0 ? 1 : 0;
}

/* ---- main ---- */

static int parse_opts(int argc, char **argv, struct opts *o, unsigned *wait_s)
{
	uint64_t v;
	int c;

	while ((c = getopt(argc, argv, "t:nps:g:m:c:w:d:")) != -1) {
		switch (c) {
		case 't':
			if (parse_u64(optarg, &v) < 0 || v == 0 || v > UINT32_MAX)
				return -EINVAL;
			o->timeout_ms = (uint32_t)v;
			break;
		case 'n':
			o->nonblock = true;
			break;
		case 'p':
			o->probe = true;
			break;
		case 's':
			o->send_text = optarg;
			break;
		case 'g': {
			char *colon = strchr(optarg, ':');
			if (!colon)
				return -EINVAL;
			*colon = '\0';
			if (parse_u64(optarg, &o->gen_bytes) < 0 ||
			    parse_u64(colon + 1, &o->gen_seed) < 0)
				return -EINVAL;
			o->gen = true;
			break;
		}
		case 'm':
			o->mode = optarg;
			break;
		case 'c':
			if (parse_u64(optarg, &v) < 0 || v == 0)
				return -EINVAL;
			o->count = (unsigned long)v;
			break;
		case 'd':
			if (parse_u64(optarg, &v) < 0 || v > 60000)
				return -EINVAL;
			o->delay_ms = (unsigned)v;
			break;
		case 'w':
			if (parse_u64(optarg, &v) < 0 || v == 0 || v > 3600)
				return -EINVAL;
			*wait_s = (unsigned)v;
			break;
		default:
			return -EINVAL;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .mode = "echo" };
	struct sockaddr_hv addr = { .Family = AF_HYPERV };
	const char *g = getenv("VMSVC_GUEST");
	unsigned wait_s = 60;
	const char *cmd;

	/* Never AF_VSOCK on the host: only the guest sets VMSVC_GUEST=1. */
	if (!g || strcmp(g, "1") != 0)
		setenv("VMSVC_GUEST", "0", 1);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse_opts(argc, argv, &o, &wait_s) < 0 || argc - optind != 3)
		return usage();
	cmd = argv[optind];
	if (parse_vm(argv[optind + 1], &addr.VmId) < 0 ||
	    parse_service(argv[optind + 2], &addr.ServiceId) < 0)
		return usage();
	if (strcmp(o.mode, "echo") && strcmp(o.mode, "greet") && strcmp(o.mode, "sink"))
		return usage();
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	alarm(wait_s);
	if (strcmp(cmd, "connect") == 0)
		return do_connect(&addr, &o);
	if (strcmp(cmd, "listen") == 0)
		return do_listen(&addr, &o);
	return usage();
}
