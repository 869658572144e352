/* SPDX-License-Identifier: MIT */
/*
 * test-hvsock.c - the hv_* calls: address handling (which transport for
 * which VmId, wildcard/ZERO/PARENT rules, sockaddr checks), options,
 * hv_socket's type refusal, and connect/listen/accept against a fake vmsvcd
 * (a thread speaking docs/control-protocol.md on a private control.sock).
 *
 * socket() is wrapped (-Wl,--wrap=socket): an AF_VSOCK socket is refused
 * and counted, so no test can ever reach the development machine's vsock.
 */
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <cmocka.h>

#include <vmsvc/vmsvc.h>

#include "ctlproto.h"
#include "hvsock-int.h"
#include "util.h"

/* ---- the socket() guard ---- */

static int vsock_attempts;
int __real_socket(int domain, int type, int protocol);
int __wrap_socket(int domain, int type, int protocol);

int __wrap_socket(int domain, int type, int protocol)
{
	if (domain == AF_VSOCK) {
		vsock_attempts++;
		errno = EPERM;
		return -1;
	}
	return __real_socket(domain, type, protocol);
}

/* ---- helpers ---- */

static const hv_guid_t svc_guid =
	HV_GUID_INIT(0x00000ac9, 0xfacb, 0x11e6, 0xbd, 0x58, 0x64, 0x00, 0x6a, 0x79, 0x86, 0xd3);
static const hv_guid_t vm_guid =
	HV_GUID_INIT(0x5b0d3f2e, 0x1111, 0x4222, 0x83, 0x33, 0x44, 0x44, 0x55, 0x55, 0x66, 0x66);

static struct sockaddr_hv addr_of(const hv_guid_t *vm, const hv_guid_t *svc)
{
	return (struct sockaddr_hv){ .Family = AF_HYPERV, .VmId = *vm, .ServiceId = *svc };
}

static short poll_one(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, ms) > 0 ? p.revents : 0;
}

static uint32_t get_timeout(int fd)
{
	uint32_t v = 0;
	socklen_t len = sizeof(v);

	assert_int_equal(hv_getsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, &v, &len), 0);
	assert_int_equal(len, sizeof(v));
	return v;
}

static int so_error(int fd)
{
	int e = -1;
	socklen_t len = sizeof(e);

	assert_int_equal(hv_getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len), 0);
	return e;
}

/* ---- the fake vmsvcd ---- */

/* cmocka's asserts belong to the main thread; the fake aborts instead. */
#define FAKE_CHECK(x)                                                                        \
	do {                                                                                 \
		if (!(x)) {                                                                  \
			fprintf(stderr, "fake vmsvcd: %s failed (line %d)\n", #x, __LINE__); \
			abort();                                                             \
		}                                                                            \
	} while (0)
#define FAKE_EQ(a, b) FAKE_CHECK((a) == (b))

enum fake_mode {
	FAKE_OK,	 /* reply ok, then release the filler */
	FAKE_OK_DELAYED, /* the same after a 'g' on the go pipe */
	FAKE_ERROR,	 /* reply the error, then close B */
	FAKE_CLOSE_THEN_ERROR /* close B first, reply 200 ms later */,
	FAKE_SILENT, /* never reply; quit on 'q' */
	FAKE_LISTEN, /* reply ok; 'i' incoming, 'x' junk + incoming, 'q' */
};

struct fake {
	char dir[64];
	int lfd;
	int go[2];
	pthread_t th;
	enum fake_mode mode;
	const char *error;
	/* what the fake saw and kept */
	char op[16];
	hv_guid_t vm;
	int64_t timeout_ms, filler, backlog, sndbuf;
	unsigned nfds;
	int peer; /* B of a connect, or the fake's end of an incoming stream */
};

static struct fake fk;

static void fake_send_reply(int c, const char *error)
{
	json_object *o = json_object_new_object();
	char s[HV_GUID_STRSIZE];

	json_object_object_add(o, "ok", json_object_new_boolean(!error));
	if (error) {
		json_object_object_add(o, "error", json_object_new_string(error));
		json_object_object_add(o, "message", json_object_new_string("fake says no"));
	} else if (strcmp(fk.op, "connect") == 0) {
		hv_guid_format(&fk.vm, s, sizeof(s));
		json_object_object_add(o, "vm", json_object_new_string(s));
		hv_guid_format(&svc_guid, s, sizeof(s));
		json_object_object_add(o, "service", json_object_new_string(s));
	}
	FAKE_EQ(ctl_send(c, o, -1), 0);
	json_object_put(o);
}

static char fake_wait_go(void)
{
	char ch = 'q';

	if (read(fk.go[0], &ch, 1) != 1)
		return 'q';
	return ch;
}

static int64_t req_int(json_object *req, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(req, key, &v) ? json_object_get_int64(v) : -1;
}

/* Reads the request and its fds; returns B and the duplicate of A. */
static void fake_read_request(int c, int *b, int *a_dup)
{
	json_object *req = NULL, *v;
	int fds[CTL_MAX_FDS];

	FAKE_CHECK(poll_one(c, POLLIN, 5000) & POLLIN);
	FAKE_EQ(ctl_recv_fds(c, &req, fds, 2, &fk.nfds), 1);
	FAKE_CHECK(json_object_object_get_ex(req, "op", &v));
	snprintf(fk.op, sizeof(fk.op), "%s", json_object_get_string(v));
	FAKE_CHECK(json_object_object_get_ex(req, "vm", &v));
	FAKE_EQ(hv_guid_parse(json_object_get_string(v), &fk.vm), 0);
	fk.timeout_ms = req_int(req, "timeout_ms");
	fk.filler = req_int(req, "filler");
	fk.backlog = req_int(req, "backlog");
	*b = fk.nfds > 0 ? fds[0] : -1;
	*a_dup = fk.nfds > 1 ? fds[1] : -1;
	fk.sndbuf = req_int(req, "sndbuf");
	json_object_put(req);
}

/* What vmsvcd does once a connection is up: restore A's send buffer and
 * drain the filler from B. */
static void fake_release(int b, int a_dup)
{
	int half = (int)fk.sndbuf / 2; /* the kernel doubles it */
	char buf[4096];

	FAKE_EQ(setsockopt(a_dup, SOL_SOCKET, SO_SNDBUF, &half, sizeof(half)), 0);
	for (int64_t left = fk.filler; left > 0;) {
		ssize_t n =
			recv(b, buf, left < (int64_t)sizeof(buf) ? (size_t)left : sizeof(buf), 0);
		FAKE_CHECK(n > 0);
		left -= n;
	}
}

static void fake_incoming(int c, bool junk)
{
	json_object *o = json_object_new_object();
	char s[HV_GUID_STRSIZE];
	int sv[2];

	if (junk) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "op", json_object_new_string("nonsense"));
		FAKE_EQ(ctl_send(c, j, -1), 0);
		json_object_put(j);
	}
	FAKE_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	safe_close(fk.peer);
	fk.peer = sv[0];		   /* before the message: the test uses it once accepted */
	fcntl(sv[1], F_SETFL, O_NONBLOCK); /* the daemon's ends are non-blocking */
	json_object_object_add(o, "op", json_object_new_string("incoming"));
	hv_guid_format(&vm_guid, s, sizeof(s));
	json_object_object_add(o, "vm", json_object_new_string(s));
	hv_guid_format(&svc_guid, s, sizeof(s));
	json_object_object_add(o, "service", json_object_new_string(s));
	FAKE_EQ(ctl_send(c, o, sv[1]), 0);
	json_object_put(o);
	close(sv[1]);
}

static void fake_connect(int c, int b, int a_dup)
{
	switch (fk.mode) {
	case FAKE_OK_DELAYED:
		fake_wait_go();
		/* fall through */
	case FAKE_OK:
		fake_send_reply(c, NULL);
		fake_release(b, a_dup);
		fk.peer = b;
		b = -1;
		break;
	case FAKE_ERROR:
		fake_send_reply(c, fk.error);
		break;
	case FAKE_CLOSE_THEN_ERROR:
		b = safe_close(b);
		a_dup = safe_close(a_dup);
		usleep(200 * 1000);
		fake_send_reply(c, fk.error);
		break;
	default:
		fake_wait_go();
		break;
	}
	safe_close(b);
	safe_close(a_dup);
}

static void *fake_main(void *arg)
{
	int c = accept4(fk.lfd, NULL, NULL, SOCK_CLOEXEC), b, a_dup;
	char ch;

	(void)arg;
	FAKE_CHECK(c >= 0);
	fake_read_request(c, &b, &a_dup);
	if (fk.mode != FAKE_LISTEN) {
		fake_connect(c, b, a_dup);
	} else if (fk.error) {
		fake_send_reply(c, fk.error);
	} else {
		fake_send_reply(c, NULL);
		while ((ch = fake_wait_go()) != 'q')
			fake_incoming(c, ch == 'x');
	}
	close(c);
	return NULL;
}

/* Starts the fake daemon for one client in a fresh runtime folder. */
static void fake_start(enum fake_mode mode, const char *error)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	fk.mode = mode;
	fk.error = error;
	fk.peer = -1;
	fk.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	FAKE_CHECK(fk.lfd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", fk.dir);
	unlink(sa.sun_path);
	FAKE_EQ(bind(fk.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	FAKE_EQ(listen(fk.lfd, 4), 0);
	FAKE_EQ(pipe2(fk.go, O_CLOEXEC), 0);
	FAKE_EQ(pthread_create(&fk.th, NULL, fake_main, NULL), 0);
}

static void fake_go(char ch)
{
	assert_int_equal(write(fk.go[1], &ch, 1), 1);
}

/* Ends the fake (after its current step) and keeps fk.peer. */
static void fake_join(void)
{
	fake_go('q');
	pthread_join(fk.th, NULL);
	fk.lfd = safe_close(fk.lfd);
	fk.go[0] = safe_close(fk.go[0]);
	fk.go[1] = safe_close(fk.go[1]);
}

static void fake_stop(void)
{
	fake_join();
	fk.peer = safe_close(fk.peer);
}

static int setup(void **state)
{
	(void)state;
	snprintf(fk.dir, sizeof(fk.dir), "/tmp/test-hvsock.XXXXXX");
	assert_non_null(mkdtemp(fk.dir));
	setenv("VMSVC_RUNTIME_DIR", fk.dir, 1);
	setenv("VMSVC_GUEST", "0", 1); /* belt and braces: never AF_VSOCK */
	vsock_attempts = 0;
	return 0;
}

static int teardown(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/control.sock", fk.dir);
	unlink(path);
	rmdir(fk.dir);
	assert_int_equal(vsock_attempts, 0);
	return 0;
}

/* ---- address handling ---- */

static void test_route_picks_transport_by_vmid_and_mode(void **state)
{
	static const struct {
		hv_guid_t vm;
		enum hvs_op op;
		enum hvs_mode mode;
		int r;
		enum hvs_transport t;
		bool only_parent;
	} cases[] = {
		/* connect from a host (or unknown place) */
		{ HV_GUID_PARENT_INIT, HVS_OP_CONNECT, HVS_MODE_AUTO, 0, HVS_T_VSOCK, false },
		{ HV_GUID_PARENT_INIT, HVS_OP_CONNECT, HVS_MODE_HOST, -ENETUNREACH, 0, false },
		{ HV_GUID_LOOPBACK_INIT, HVS_OP_CONNECT, HVS_MODE_AUTO, 0, HVS_T_CTL, false },
		{ HV_GUID_LOOPBACK_INIT, HVS_OP_CONNECT, HVS_MODE_HOST, 0, HVS_T_CTL, false },
		{ HV_GUID_INIT(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), HVS_OP_CONNECT, HVS_MODE_AUTO, 0,
		  HVS_T_CTL, false },
		{ HV_GUID_ZERO_INIT, HVS_OP_CONNECT, HVS_MODE_AUTO, -EHOSTUNREACH, 0, false },
		{ HV_GUID_ZERO_INIT, HVS_OP_CONNECT, HVS_MODE_HOST, -EHOSTUNREACH, 0, false },
		{ HV_GUID_CHILDREN_INIT, HVS_OP_CONNECT, HVS_MODE_AUTO, -EADDRNOTAVAIL, 0, false },
		{ HV_GUID_BROADCAST_INIT, HVS_OP_CONNECT, HVS_MODE_AUTO, -EADDRNOTAVAIL, 0, false },
		{ HV_GUID_SILOHOST_INIT, HVS_OP_CONNECT, HVS_MODE_AUTO, -EADDRNOTAVAIL, 0, false },
		/* connect from a guest: ZERO means the parent too */
		{ HV_GUID_ZERO_INIT, HVS_OP_CONNECT, HVS_MODE_GUEST, 0, HVS_T_VSOCK, false },
		{ HV_GUID_PARENT_INIT, HVS_OP_CONNECT, HVS_MODE_GUEST, 0, HVS_T_VSOCK, false },
		{ HV_GUID_LOOPBACK_INIT, HVS_OP_CONNECT, HVS_MODE_GUEST, -EHOSTUNREACH, 0, false },
		{ HV_GUID_INIT(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), HVS_OP_CONNECT, HVS_MODE_GUEST,
		  -EHOSTUNREACH, 0, false },
		/* bind on a host: the wildcards go to vmsvcd */
		{ HV_GUID_WILDCARD_INIT, HVS_OP_BIND, HVS_MODE_AUTO, 0, HVS_T_CTL, false },
		{ HV_GUID_CHILDREN_INIT, HVS_OP_BIND, HVS_MODE_HOST, 0, HVS_T_CTL, false },
		{ HV_GUID_LOOPBACK_INIT, HVS_OP_BIND, HVS_MODE_AUTO, 0, HVS_T_CTL, false },
		{ HV_GUID_INIT(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), HVS_OP_BIND, HVS_MODE_AUTO, 0,
		  HVS_T_CTL, false },
		{ HV_GUID_BROADCAST_INIT, HVS_OP_BIND, HVS_MODE_AUTO, -EADDRNOTAVAIL, 0, false },
		{ HV_GUID_SILOHOST_INIT, HVS_OP_BIND, HVS_MODE_AUTO, -EADDRNOTAVAIL, 0, false },
		{ HV_GUID_PARENT_INIT, HVS_OP_BIND, HVS_MODE_HOST, -EADDRNOTAVAIL, 0, false },
		/* bind in a guest: PARENT accepts the host only */
		{ HV_GUID_PARENT_INIT, HVS_OP_BIND, HVS_MODE_AUTO, 0, HVS_T_VSOCK, true },
		{ HV_GUID_PARENT_INIT, HVS_OP_BIND, HVS_MODE_GUEST, 0, HVS_T_VSOCK, true },
		{ HV_GUID_WILDCARD_INIT, HVS_OP_BIND, HVS_MODE_GUEST, 0, HVS_T_VSOCK, false },
		{ HV_GUID_CHILDREN_INIT, HVS_OP_BIND, HVS_MODE_GUEST, -EADDRNOTAVAIL, 0, false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct hvs_route rt;
		int r = hvs_route(&cases[i].vm, cases[i].op, cases[i].mode, &rt);
		if (r != cases[i].r || (r == 0 && (rt.transport != cases[i].t ||
						   rt.only_parent != cases[i].only_parent)))
			fail_msg("case %zu: r=%d transport=%d only_parent=%d", i, r, rt.transport,
				 rt.only_parent);
	}
}

static void test_mode_comes_from_vmsvc_guest(void **state)
{
	(void)state;
	setenv("VMSVC_GUEST", "1", 1);
	assert_int_equal(hvs_mode_from_env(), HVS_MODE_GUEST);
	setenv("VMSVC_GUEST", "0", 1);
	assert_int_equal(hvs_mode_from_env(), HVS_MODE_HOST);
	setenv("VMSVC_GUEST", "yes", 1);
	assert_int_equal(hvs_mode_from_env(), HVS_MODE_AUTO);
	unsetenv("VMSVC_GUEST");
	assert_int_equal(hvs_mode_from_env(), HVS_MODE_AUTO);
	setenv("VMSVC_GUEST", "0", 1);
}

static void test_runtime_dir_defaults_to_run_vmsvc(void **state)
{
	(void)state;
	unsetenv("VMSVC_RUNTIME_DIR");
	assert_string_equal(hvs_runtime_dir(), "/run/vmsvc");
	setenv("VMSVC_RUNTIME_DIR", "", 1);
	assert_string_equal(hvs_runtime_dir(), "/run/vmsvc");
	setenv("VMSVC_RUNTIME_DIR", fk.dir, 1);
	assert_string_equal(hvs_runtime_dir(), fk.dir);
}

static void test_sockaddr_needs_af_hyperv_and_zero_reserved(void **state)
{
	struct sockaddr_hv a = addr_of(&HV_GUID_WILDCARD, &svc_guid);
	int fd = hv_socket(SOCK_STREAM, HV_PROTOCOL_RAW);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(hvs_check_addr(&a), 0);
	assert_int_equal(hv_bind(fd, NULL), -1);
	assert_int_equal(errno, EFAULT);
	a.Family = AF_UNIX;
	assert_int_equal(hv_bind(fd, &a), -1);
	assert_int_equal(errno, EAFNOSUPPORT);
	assert_int_equal(hv_connect(fd, &a), -1);
	assert_int_equal(errno, EAFNOSUPPORT);
	a.Family = AF_HYPERV;
	a.Reserved = 1;
	assert_int_equal(hv_bind(fd, &a), -1);
	assert_int_equal(errno, EINVAL);
	a.Reserved = 0;
	assert_int_equal(hv_bind(fd, &a), 0);
	assert_int_equal(hv_bind(fd, &a), -1); /* bound already */
	assert_int_equal(errno, EINVAL);
	struct sockaddr_hv got;
	assert_int_equal(hv_getsockname(fd, &got), 0);
	assert_memory_equal(&got, &a, sizeof(a));
	assert_int_equal(hv_getpeername(fd, &got), -1);
	assert_int_equal(errno, ENOTCONN);
	assert_int_equal(hv_close(fd), 0);
}

static void test_calls_on_foreign_fds_fail_with_enotsock(void **state)
{
	struct sockaddr_hv a = addr_of(&HV_GUID_LOOPBACK, &svc_guid);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	(void)state;
	assert_int_equal(hv_connect(fd, &a), -1);
	assert_int_equal(errno, ENOTSOCK);
	assert_int_equal(hv_listen(fd, 1), -1);
	assert_int_equal(errno, ENOTSOCK);
	assert_int_equal(hv_bind(-1, &a), -1);
	assert_int_equal(errno, EBADF);
	close(fd);
}

static void test_unusable_vmids_fail_without_touching_vsock(void **state)
{
	int fd = hv_socket(SOCK_STREAM, 0);
	struct sockaddr_hv a = addr_of(&HV_GUID_PARENT, &svc_guid);

	(void)state;
	/* VMSVC_GUEST=0 (setup): PARENT is refused, never AF_VSOCK */
	assert_int_equal(hv_connect(fd, &a), -1);
	assert_int_equal(errno, ENETUNREACH);
	assert_int_equal(hv_bind(fd, &a), -1);
	assert_int_equal(errno, EADDRNOTAVAIL);
	a.VmId = HV_GUID_ZERO;
	assert_int_equal(hv_connect(fd, &a), -1);
	assert_int_equal(errno, EHOSTUNREACH);
	a.VmId = HV_GUID_CHILDREN;
	assert_int_equal(hv_connect(fd, &a), -1);
	assert_int_equal(errno, EADDRNOTAVAIL);
	assert_int_equal(vsock_attempts, 0);
	hv_close(fd);
}

/* ---- hv_socket ---- */

static void test_socket_refuses_datagram_and_raw_types(void **state)
{
	(void)state;
	assert_int_equal(hv_socket(SOCK_DGRAM, 0), -1);
	assert_int_equal(errno, ESOCKTNOSUPPORT);
	assert_int_equal(hv_socket(SOCK_RAW, HV_PROTOCOL_RAW), -1);
	assert_int_equal(errno, ESOCKTNOSUPPORT);
	assert_int_equal(hv_socket(SOCK_SEQPACKET | SOCK_CLOEXEC, 0), -1);
	assert_int_equal(errno, ESOCKTNOSUPPORT);
	assert_int_equal(hv_socket(SOCK_STREAM, 2), -1);
	assert_int_equal(errno, EPROTONOSUPPORT);
	assert_int_equal(hv_socket(SOCK_STREAM | 0x100000, 0), -1);
	assert_int_equal(errno, EINVAL);
}

static void test_socket_is_a_real_socket_with_the_requested_flags(void **state)
{
	int a = hv_socket(SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, HV_PROTOCOL_RAW);
	int b = hv_socket(SOCK_STREAM, 0);
	struct stat st;

	(void)state;
	assert_true(a >= 0 && b >= 0);
	assert_int_equal(fstat(a, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_true(fcntl(a, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(a, F_GETFD) & FD_CLOEXEC);
	assert_false(fcntl(b, F_GETFL) & O_NONBLOCK);
	assert_false(fcntl(b, F_GETFD) & FD_CLOEXEC);
	struct sockaddr_hv got;
	assert_int_equal(hv_getsockname(b, &got), 0);
	assert_int_equal(got.Family, AF_HYPERV);
	assert_true(hv_guid_equal(&got.VmId, &HV_GUID_ZERO));
	hv_close(a);
	hv_close(b);
}

static void test_close_forgets_the_socket_and_reuse_resets_it(void **state)
{
	uint32_t v = 5000;
	int fd = hv_socket(SOCK_STREAM, 0), fd2;

	(void)state;
	assert_int_equal(hv_setsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, &v, 4), 0);
	close(fd); /* plain close: the entry stays until the number is reused */
	fd2 = hv_socket(SOCK_STREAM, 0);
	assert_int_equal(fd2, fd);
	assert_int_equal(get_timeout(fd2), 2000);
	assert_int_equal(hv_close(fd2), 0);
	assert_int_equal(hv_setsockopt(fd2, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, &v, 4), -1);
	assert_int_equal(errno, ENOTSOCK);
}

/* ---- options ---- */

static void test_connect_timeout_defaults_to_2s_and_is_bounded(void **state)
{
	int fd = hv_socket(SOCK_STREAM, 0);
	uint32_t v;

	(void)state;
	assert_int_equal(get_timeout(fd), 2000);
	v = 0;
	assert_int_equal(hv_setsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, &v, 4), -1);
	assert_int_equal(errno, EINVAL);
	v = HVSOCKET_CONNECT_TIMEOUT_MAX + 1;
	assert_int_equal(hv_setsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, &v, 4), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(get_timeout(fd), 2000);
	v = HVSOCKET_CONNECT_TIMEOUT_MAX;
	assert_int_equal(hv_setsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, &v, 4), 0);
	assert_int_equal(get_timeout(fd), HVSOCKET_CONNECT_TIMEOUT_MAX);
	v = 1;
	assert_int_equal(hv_setsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, &v, 4), 0);
	assert_int_equal(get_timeout(fd), 1);
	hv_close(fd);
}

static void test_other_hvsocket_options_are_kept(void **state)
{
	static const int names[] = { HVSOCKET_CONTAINER_PASSTHRU, HVSOCKET_HIGH_VTL };
	int fd = hv_socket(SOCK_STREAM, 0);
	uint32_t v = 1;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		uint32_t got = 7;
		socklen_t len = sizeof(got);
		assert_int_equal(hv_getsockopt(fd, HV_PROTOCOL_RAW, names[i], &got, &len), 0);
		assert_int_equal(got, 0);
		assert_int_equal(hv_setsockopt(fd, HV_PROTOCOL_RAW, names[i], &v, 4), 0);
		assert_int_equal(hv_getsockopt(fd, HV_PROTOCOL_RAW, names[i], &got, &len), 0);
		assert_int_equal(got, 1);
	}
	/* write-only where it collides with SO_ERROR (both levels are 1) */
	assert_int_equal(hv_setsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECTED_SUSPEND, &v, 4), 0);
	hv_close(fd);
}

static void test_sol_socket_and_hv_protocol_raw_share_level_1(void **state)
{
	int fd = hv_socket(SOCK_STREAM, 0), type = 0;
	uint32_t v = 1;
	socklen_t len = sizeof(type);

	(void)state;
	if (HV_PROTOCOL_RAW != SOL_SOCKET)
		skip(); /* hvsocket.h gave the Hyper-V options their own level */
	/* HVSOCKET_HIGH_VTL is 8, SO_RCVBUF too: the Hyper-V option wins */
	assert_int_equal(hv_setsockopt(fd, SOL_SOCKET, HVSOCKET_HIGH_VTL, &v, 4), 0);
	assert_int_equal(hv_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
	assert_int_equal(type, SOCK_STREAM);
	assert_int_equal(so_error(fd), 0);
	hv_close(fd);
}

static void test_unknown_options_are_enoprotoopt(void **state)
{
	int fd = hv_socket(SOCK_STREAM, 0);
	uint32_t v = 1;
	socklen_t len = sizeof(v);

	(void)state;
	/* neither an HVSOCKET_* nor an SO_* name */
	assert_int_equal(hv_setsockopt(fd, HV_PROTOCOL_RAW, 0x7ff0, &v, 4), -1);
	assert_int_equal(errno, ENOPROTOOPT);
	assert_int_equal(hv_getsockopt(fd, HV_PROTOCOL_RAW, 0x7ff0, &v, &len), -1);
	assert_int_equal(errno, ENOPROTOOPT);
	assert_int_equal(hv_setsockopt(fd, 99, HVSOCKET_CONNECT_TIMEOUT, &v, 4), -1);
	assert_int_equal(errno, ENOPROTOOPT);
	assert_int_equal(hv_getsockopt(fd, 99, HVSOCKET_CONNECT_TIMEOUT, &v, &len), -1);
	assert_int_equal(errno, ENOPROTOOPT);
	hv_close(fd);
}

static void test_option_with_wrong_length_is_einval(void **state)
{
	int fd = hv_socket(SOCK_STREAM, 0);
	uint64_t big = 1000;
	uint16_t small = 1000;
	uint32_t v;
	socklen_t len = 2;

	(void)state;
	assert_int_equal(hv_setsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, &big, 8), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(hv_setsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, &small, 2),
			 -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(hv_setsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, NULL, 4), -1);
	assert_int_equal(errno, EFAULT);
	assert_int_equal(hv_getsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, &v, &len),
			 -1);
	assert_int_equal(errno, EINVAL);
	len = sizeof(big);
	assert_int_equal(hv_getsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, &big, &len),
			 0);
	assert_int_equal(len, 4);
	hv_close(fd);
}

static void test_sol_socket_options_reach_the_kernel(void **state)
{
	int fd = hv_socket(SOCK_STREAM, 0), v = 65536, got = 0;
	socklen_t len = sizeof(got);

	(void)state;
	assert_int_equal(hv_setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), 0);
	assert_int_equal(hv_getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &len), 0);
	assert_true(got >= v);
	assert_int_equal(so_error(fd), 0);
	hv_close(fd);
}

/* ---- control protocol replies ---- */

static json_object *parse(const char *s)
{
	json_object *o = NULL;

	assert_int_equal(ctl_decode(s, strlen(s), &o), 0);
	return o;
}

static void test_reply_parser_maps_error_names_to_errno(void **state)
{
	static const struct {
		const char *json;
		int r, err;
	} cases[] = {
		{ "{\"ok\":true}", 0, 0 },
		{ "{\"ok\":false,\"error\":\"ECONNREFUSED\",\"message\":\"x\"}", 0, ECONNREFUSED },
		{ "{\"ok\":false,\"error\":\"EHOSTUNREACH\"}", 0, EHOSTUNREACH },
		{ "{\"ok\":false,\"error\":\"ENETUNREACH\"}", 0, ENETUNREACH },
		{ "{\"ok\":false,\"error\":\"ETIMEDOUT\"}", 0, ETIMEDOUT },
		{ "{\"ok\":false,\"error\":\"EACCES\"}", 0, EACCES },
		{ "{\"ok\":false,\"error\":\"EADDRINUSE\"}", 0, EADDRINUSE },
		{ "{\"ok\":false,\"error\":\"EBOGUS\"}", 0, EIO },
		{ "{\"ok\":false}", 0, EIO },
		{ "{\"ok\":false,\"error\":5}", -EPROTO, 0 },
		{ "{\"ok\":1}", -EPROTO, 0 },
		{ "{\"op\":\"incoming\"}", -EPROTO, 0 },
		{ "{\"ok\":true,\"vm\":\"not-a-guid\",\"service\":"
		  "\"00000ac9-facb-11e6-bd58-64006a7986d3\"}",
		  -EPROTO, 0 },
		{ "{\"ok\":true,\"vm\":\"e0e16197-dd56-4a10-9195-5ee7a155a838\"}", -EPROTO, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_object *o = parse(cases[i].json);
		struct hvs_reply rep;
		int r = hvs_parse_reply(o, &rep);
		json_object_put(o);
		if (r != cases[i].r || (r == 0 && rep.err != cases[i].err))
			fail_msg("case %zu (%s): r=%d err=%d", i, cases[i].json, r, rep.err);
	}
}

static void test_reply_parser_reads_the_peer_address(void **state)
{
	json_object *o = parse("{\"ok\":true,\"vm\":\"e0e16197-dd56-4a10-9195-5ee7a155a838\","
			       "\"service\":\"00000ac9-facb-11e6-bd58-64006a7986d3\"}");
	struct hvs_reply rep;
	hv_guid_t vm, svc;

	(void)state;
	assert_int_equal(hvs_parse_reply(o, &rep), 0);
	assert_true(rep.has_addr);
	assert_true(hv_guid_equal(&rep.vm, &HV_GUID_LOOPBACK));
	assert_true(hv_guid_equal(&rep.service, &svc_guid));
	assert_int_equal(hvs_parse_incoming(o, &vm, &svc), -EPROTO);
	json_object_put(o);
	o = parse("{\"op\":\"incoming\",\"vm\":\"e0e16197-dd56-4a10-9195-5ee7a155a838\","
		  "\"service\":\"00000ac9-facb-11e6-bd58-64006a7986d3\"}");
	assert_int_equal(hvs_parse_incoming(o, &vm, &svc), 0);
	assert_true(hv_guid_equal(&vm, &HV_GUID_LOOPBACK));
	json_object_put(o);
}

/* ---- connect and listen against the fake vmsvcd ---- */

static void test_connect_without_daemon_is_enoent(void **state)
{
	struct sockaddr_hv a = addr_of(&vm_guid, &svc_guid);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = hv_socket(SOCK_STREAM, 0), stale;

	(void)state;
	assert_int_equal(hv_connect(fd, &a), -1);
	assert_int_equal(errno, ENOENT);
	/* a stale control.sock left by a daemon that died */
	stale = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", fk.dir);
	assert_int_equal(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(stale);
	assert_int_equal(hv_connect(fd, &a), -1);
	assert_int_equal(errno, ENOENT);
	a.VmId = HV_GUID_WILDCARD;
	assert_int_equal(hv_bind(fd, &a), 0);
	assert_int_equal(hv_listen(fd, 0), -1);
	assert_int_equal(errno, ENOENT);
	hv_close(fd);
}

static void test_blocking_connect_carries_data_both_ways(void **state)
{
	struct sockaddr_hv a = addr_of(&vm_guid, &svc_guid), got;
	int fd = hv_socket(SOCK_STREAM, 0);
	char buf[16];

	(void)state;
	fake_start(FAKE_OK, NULL);
	assert_int_equal(hv_connect(fd, &a), 0);
	assert_string_equal(fk.op, "connect");
	assert_true(hv_guid_equal(&fk.vm, &vm_guid));
	assert_int_equal(fk.nfds, 2);
	assert_int_equal(fk.timeout_ms, 2000);
	assert_true(fk.filler > 0 && fk.filler <= 65536);
	fake_join();
	assert_true(poll_one(fd, POLLOUT, 0) & POLLOUT); /* writable once connected */
	assert_int_equal(hv_getpeername(fd, &got), 0);
	assert_memory_equal(&got, &a, sizeof(a));
	assert_int_equal(hv_connect(fd, &a), -1);
	assert_int_equal(errno, EISCONN);
	assert_int_equal(write(fd, "ping", 4), 4);
	assert_int_equal(read(fk.peer, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(write(fk.peer, "pong", 4), 4);
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "pong", 4);
	/* half-close: the peer sees the end, and can still answer */
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	assert_int_equal(read(fk.peer, buf, sizeof(buf)), 0);
	assert_int_equal(write(fk.peer, "bye", 3), 3);
	close(fk.peer);
	fk.peer = -1;
	assert_int_equal(read(fd, buf, sizeof(buf)), 3);
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);
	hv_close(fd);
}

static void test_connect_errors_from_the_daemon_become_errno(void **state)
{
	static const struct {
		const char *name;
		int err;
	} cases[] = {
		{ "ECONNREFUSED", ECONNREFUSED },
		{ "EHOSTUNREACH", EHOSTUNREACH },
		{ "ENETUNREACH", ENETUNREACH },
		{ "ETIMEDOUT", ETIMEDOUT },
		{ "EACCES", EACCES },
		{ "EADDRNOTAVAIL", EADDRNOTAVAIL },
		{ "EWHATEVER", EIO },
	};
	struct sockaddr_hv a = addr_of(&vm_guid, &svc_guid), got;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int fd = hv_socket(SOCK_STREAM | SOCK_CLOEXEC, 0);
		fake_start(FAKE_ERROR, cases[i].name);
		assert_int_equal(hv_connect(fd, &a), -1);
		assert_int_equal(errno, cases[i].err);
		assert_int_equal(hv_getpeername(fd, &got), -1);
		assert_int_equal(errno, ENOTCONN);
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC); /* kept across dup3 */
		fake_stop();
		hv_close(fd);
	}
}

static void test_nonblocking_connect_works_like_tcp(void **state)
{
	struct sockaddr_hv a = addr_of(&HV_GUID_LOOPBACK, &svc_guid), got;
	int fd = hv_socket(SOCK_STREAM | SOCK_NONBLOCK, 0);
	char buf[8];

	(void)state;
	fake_start(FAKE_OK_DELAYED, NULL);
	assert_int_equal(hv_connect(fd, &a), -1);
	assert_int_equal(errno, EINPROGRESS);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK); /* kept across dup3 */
	assert_false(poll_one(fd, POLLOUT, 50) & POLLOUT);
	assert_int_equal(so_error(fd), 0); /* still in progress */
	assert_int_equal(hv_connect(fd, &a), -1);
	assert_int_equal(errno, EALREADY);
	assert_int_equal(hv_getpeername(fd, &got), -1);
	assert_int_equal(errno, ENOTCONN);
	fake_go('g');
	assert_true(poll_one(fd, POLLOUT, 5000) & POLLOUT);
	assert_int_equal(so_error(fd), 0);
	assert_int_equal(hv_getpeername(fd, &got), 0);
	assert_true(hv_guid_equal(&got.VmId, &HV_GUID_LOOPBACK));
	assert_int_equal(hv_connect(fd, &a), -1);
	assert_int_equal(errno, EISCONN);
	fake_join();
	assert_int_equal(write(fk.peer, "hi", 2), 2);
	assert_true(poll_one(fd, POLLIN, 5000) & POLLIN);
	assert_int_equal(read(fd, buf, sizeof(buf)), 2);
	assert_int_equal(read(fd, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	hv_close(fd);
	fk.peer = safe_close(fk.peer);
}

static void test_nonblocking_connect_refused_reports_so_error(void **state)
{
	struct sockaddr_hv a = addr_of(&vm_guid, &svc_guid), got;
	int fd = hv_socket(SOCK_STREAM | SOCK_NONBLOCK, 0);

	(void)state;
	/* the fake closes its ends 200 ms before its reply: SO_ERROR waits */
	fake_start(FAKE_CLOSE_THEN_ERROR, "ECONNREFUSED");
	assert_int_equal(hv_connect(fd, &a), -1);
	assert_int_equal(errno, EINPROGRESS);
	assert_true(poll_one(fd, POLLOUT, 5000) & (POLLOUT | POLLHUP));
	assert_int_equal(so_error(fd), ECONNREFUSED);
	assert_int_equal(so_error(fd), 0); /* reported once */
	assert_int_equal(hv_getpeername(fd, &got), -1);
	assert_int_equal(errno, ENOTCONN);
	fake_stop();
	/* the socket can try again */
	fake_start(FAKE_OK, NULL);
	assert_int_equal(hv_connect(fd, &a), -1);
	assert_int_equal(errno, EINPROGRESS);
	assert_true(poll_one(fd, POLLOUT, 5000) & POLLOUT);
	assert_int_equal(so_error(fd), 0);
	assert_int_equal(hv_getpeername(fd, &got), 0);
	fake_stop();
	hv_close(fd);
}

static void test_blocking_connect_times_out_without_answer(void **state)
{
	struct sockaddr_hv a = addr_of(&vm_guid, &svc_guid);
	int fd = hv_socket(SOCK_STREAM, 0);
	uint32_t ms = 100;
	uint64_t t0;

	(void)state;
	assert_int_equal(hv_setsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, &ms, 4), 0);
	fake_start(FAKE_SILENT, NULL);
	t0 = now_ms();
	assert_int_equal(hv_connect(fd, &a), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(fk.timeout_ms, 100);
	assert_true(now_ms() - t0 >= 1000 && now_ms() - t0 < 3000); /* timeout + 1 s slack */
	fake_stop();
	hv_close(fd);
}

static void test_listen_and_accept_deliver_connections(void **state)
{
	struct sockaddr_hv a = addr_of(&HV_GUID_WILDCARD, &svc_guid), peer, got;
	int fd = hv_socket(SOCK_STREAM | SOCK_NONBLOCK, HV_PROTOCOL_RAW), c;
	char buf[8];

	(void)state;
	fake_start(FAKE_LISTEN, NULL);
	assert_int_equal(hv_listen(fd, 5), -1); /* not bound */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(hv_bind(fd, &a), 0);
	assert_int_equal(hv_listen(fd, 0), 0);
	assert_string_equal(fk.op, "listen");
	assert_int_equal(fk.backlog, 128);
	assert_true(hv_guid_equal(&fk.vm, &HV_GUID_WILDCARD));
	assert_int_equal(hv_accept(fd, &peer), -1);
	assert_int_equal(errno, EAGAIN);
	assert_false(poll_one(fd, POLLIN, 0) & POLLIN);
	fake_go('x'); /* junk first, then a connection */
	assert_true(poll_one(fd, POLLIN, 5000) & POLLIN);
	do
		c = hv_accept(fd, &peer);
	while (c < 0 && errno == EAGAIN && poll_one(fd, POLLIN, 5000));
	assert_true(c >= 0);
	assert_int_equal(peer.Family, AF_HYPERV);
	assert_true(hv_guid_equal(&peer.VmId, &vm_guid));
	assert_true(hv_guid_equal(&peer.ServiceId, &svc_guid));
	assert_true(fcntl(c, F_GETFD) & FD_CLOEXEC);
	assert_false(fcntl(c, F_GETFL) & O_NONBLOCK);
	assert_int_equal(hv_getpeername(c, &got), 0);
	assert_memory_equal(&got, &peer, sizeof(peer));
	assert_int_equal(hv_getsockname(c, &got), 0);
	assert_memory_equal(&got, &a, sizeof(a));
	assert_int_equal(write(c, "abc", 3), 3);
	assert_int_equal(read(fk.peer, buf, sizeof(buf)), 3);
	assert_int_equal(write(fk.peer, "de", 2), 2);
	assert_int_equal(read(c, buf, sizeof(buf)), 2);
	hv_close(c);
	assert_int_equal(hv_accept(fd, NULL), -1);
	assert_int_equal(errno, EAGAIN);
	fake_stop(); /* the daemon goes away */
	assert_true(poll_one(fd, POLLIN, 5000) & (POLLIN | POLLHUP));
	assert_int_equal(hv_accept(fd, &peer), -1);
	assert_int_equal(errno, ENETDOWN);
	hv_close(fd);
}

static void test_listen_refused_by_the_daemon_is_eacces(void **state)
{
	struct sockaddr_hv a = addr_of(&HV_GUID_CHILDREN, &svc_guid);
	int fd = hv_socket(SOCK_STREAM, 0);

	(void)state;
	fake_start(FAKE_LISTEN, "EACCES");
	assert_int_equal(hv_bind(fd, &a), 0);
	assert_int_equal(hv_listen(fd, 10000), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(fk.backlog, 4096);
	assert_int_equal(hv_accept(fd, NULL), -1);
	assert_int_equal(errno, EINVAL);
	fake_stop();
	hv_close(fd);
}

static void test_blocking_accept_waits_for_a_connection(void **state)
{
	struct sockaddr_hv a = addr_of(&HV_GUID_LOOPBACK, &svc_guid), peer;
	int fd = hv_socket(SOCK_STREAM, 0), c;

	(void)state;
	fake_start(FAKE_LISTEN, NULL);
	assert_int_equal(hv_bind(fd, &a), 0);
	assert_int_equal(hv_listen(fd, 1), 0);
	fake_go('i'); /* may arrive before or during the wait */
	c = hv_accept(fd, &peer);
	assert_true(c >= 0);
	assert_true(hv_guid_equal(&peer.VmId, &vm_guid));
	hv_close(c);
	fake_stop();
	hv_close(fd);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_route_picks_transport_by_vmid_and_mode),
		T(test_mode_comes_from_vmsvc_guest),
		T(test_runtime_dir_defaults_to_run_vmsvc),
		T(test_sockaddr_needs_af_hyperv_and_zero_reserved),
		T(test_calls_on_foreign_fds_fail_with_enotsock),
		T(test_unusable_vmids_fail_without_touching_vsock),
		T(test_socket_refuses_datagram_and_raw_types),
		T(test_socket_is_a_real_socket_with_the_requested_flags),
		T(test_close_forgets_the_socket_and_reuse_resets_it),
		T(test_connect_timeout_defaults_to_2s_and_is_bounded),
		T(test_other_hvsocket_options_are_kept),
		T(test_sol_socket_and_hv_protocol_raw_share_level_1),
		T(test_unknown_options_are_enoprotoopt),
		T(test_option_with_wrong_length_is_einval),
		T(test_sol_socket_options_reach_the_kernel),
		T(test_reply_parser_maps_error_names_to_errno),
		T(test_reply_parser_reads_the_peer_address),
		T(test_connect_without_daemon_is_enoent),
		T(test_blocking_connect_carries_data_both_ways),
		T(test_connect_errors_from_the_daemon_become_errno),
		T(test_nonblocking_connect_works_like_tcp),
		T(test_nonblocking_connect_refused_reports_so_error),
		T(test_blocking_connect_times_out_without_answer),
		T(test_listen_and_accept_deliver_connections),
		T(test_listen_refused_by_the_daemon_is_eacces),
		T(test_blocking_accept_waits_for_a_connection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
