/* SPDX-License-Identifier: MIT */
/*
 * hvsock.c - the hv_* socket calls (include/vmsvc/vmsvc.h).
 *
 * - hv_socket returns an unconnected AF_UNIX stream socket as a placeholder,
 *   so the fd is a real socket from the start. hv_bind (AF_VSOCK),
 *   hv_connect and hv_listen later dup3() the real socket onto the same fd
 *   number, keeping its O_NONBLOCK and FD_CLOEXEC.
 * - The per-fd table (hvsock-fdtab.c) keeps what the kernel cannot: the
 *   Hyper-V addresses, the options and a pending connect's control
 *   connection.
 * - Connect through vmsvcd (docs/control-protocol.md): a socket pair A/B. A
 *   gets a minimal send buffer and filler bytes until it would block, then
 *   becomes fd; B and a duplicate of A go to vmsvcd with the request. The
 *   daemon drains the filler when the connection is up, so fd turns
 *   writable exactly then, like a TCP socket. The reply arrives on the
 *   control connection, which the entry keeps until someone reads the result
 *   (the blocking wait, SO_ERROR, or another hv_connect).
 * - Listen through vmsvcd: the control connection itself becomes fd; each
 *   connection arrives as an "incoming" message carrying the stream's fd.
 * - AF_VSOCK (hvsock-vsock.c) only for HV_GUID_PARENT, or with
 *   VMSVC_GUEST=1 (hvs_route in hvsock-proto.c); never probed: nothing here
 *   opens /dev/vsock.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <vmsvc/vmsvc.h>

#include "ctlproto.h"
#include "hvsock-int.h"
#include "util.h"

/* Extra wait on top of the connect timeout: the daemon answers ETIMEDOUT
 * itself, this only covers a stuck daemon. */
#define CONNECT_SLACK_MS 1000
/* How long to wait for a reply the daemon has already decided on. */
#define IMMINENT_MS	1000
#define LISTEN_REPLY_MS 5000
#define DEFAULT_BACKLOG 128
#define MAX_BACKLOG	4096
/* The daemon accepts at most this much filler. */
#define FILLER_MAX 65536
/* Bits of a socket type that are the type itself (SOCK_TYPE_MASK). */
#define TYPE_MASK 0xf

/* ---- fd helpers ---- */

static bool is_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && (fl & O_NONBLOCK);
}

/* Polls one fd; 1 ready (*revents), 0 timeout, or -errno. With intr,
 * -EINTR is returned; otherwise a signal restarts the wait. */
static int wait_fd(int fd, short events, int timeout_ms, bool intr, short *revents)
{
	int64_t end = (int64_t)now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int left = timeout_ms < 0 ? -1 : (int)(end - (int64_t)now_ms());
		int r = poll(&p, 1, timeout_ms < 0 ? -1 : (left > 0 ? left : 0));
		if (r < 0 && errno == EINTR && !intr)
			continue;
		if (r < 0)
			return -errno;
		if (revents)
			*revents = p.revents;
		return r;
	}
}

/* ---- the control connection ---- */

/* Connects to vmsvcd. Returns the fd (caller closes) or -errno; -ENOENT
 * when the daemon is not running (no socket, or a stale one). Our requests
 * (connect, listen) are a few hundred bytes, far below any SO_SNDBUF, and
 * what we read is bounded by CTL_MSG_MAX (ctl_recv's buffer; the daemon
 * sizes its own send buffer): nothing to raise here. */
static int ctl_open(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int c = -1;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", hvs_runtime_dir(),
		     CTL_SOCKET_NAME) >= (int)sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c < 0)
		return -errno;
	if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return errno == ECONNREFUSED ? -ENOENT : -errno;
	return TAKE_FD(c);
}

static void add_guid(json_object *o, const char *key, const hv_guid_t *g)
{
	char s[HV_GUID_STRSIZE];

	hv_guid_format(g, s, sizeof(s));
	json_object_object_add(o, key, json_object_new_string(s));
}

/* {"op":op,"vm":...,"service":...} or NULL (ENOMEM). */
static json_object *request(const char *op, const struct sockaddr_hv *a)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "op", json_object_new_string(op));
	add_guid(o, "vm", &a->VmId);
	add_guid(o, "service", &a->ServiceId);
	return o;
}

/* Reads one reply within timeout_ms (0: only if already there). Returns 0
 * and *rep, -EAGAIN when none came, -ECONNRESET when the daemon closed the
 * connection, -EINTR (with intr), or another -errno. */
static int read_reply(int c, int timeout_ms, bool intr, struct hvs_reply *rep)
{
	json_object *o = NULL;
	int r = wait_fd(c, POLLIN, timeout_ms, intr, NULL);

	if (r <= 0)
		return r == 0 ? -EAGAIN : r;
	r = ctl_recv(c, &o, NULL);
	if (r <= 0)
		return r == 0 ? -ECONNRESET : r;
	r = hvs_parse_reply(o, rep);
	json_object_put(o);
	return r;
}

/* ---- connect through vmsvcd ---- */

/*
 * A stream pair for a connect: *a, the caller's end, gets the smallest
 * send buffer and filler until it would block; *b goes to the daemon. The
 * caller closes both, also on failure.
 */
static int make_pair(int *a, int *b, uint32_t *filler, int *sndbuf)
{
	static const char zeros[4096];
	socklen_t len = sizeof(*sndbuf);
	int sv[2], one = 1;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	*a = sv[0];
	*b = sv[1];
	if (getsockopt(*a, SOL_SOCKET, SO_SNDBUF, sndbuf, &len) < 0 ||
	    setsockopt(*a, SOL_SOCKET, SO_SNDBUF, &one, sizeof(one)) < 0)
		return -errno;
	for (*filler = 0;;) {
		ssize_t n = send(*a, zeros, sizeof(zeros), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		*filler += (uint32_t)n;
		if (*filler > FILLER_MAX)
			return -ENOBUFS;
	}
}

/* Sends the connect request with B and a duplicate of A (in that order). */
static int send_connect(int c, const struct sockaddr_hv *addr, uint32_t timeout, int a, int b,
			uint32_t filler, int sndbuf)
{
	json_object *req = request("connect", addr);
	const int fds[2] = { b, a };
	int r;

	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "timeout_ms", json_object_new_int64(timeout));
	json_object_object_add(req, "filler", json_object_new_int64(filler));
	json_object_object_add(req, "sndbuf", json_object_new_int64(sndbuf));
	r = ctl_send_fds(c, req, fds, 2);
	json_object_put(req);
	return r;
}

/* Puts a fresh placeholder socket at fd after a failed connect, so that
 * the fd is an unconnected socket again (the old one has a dead peer). */
static void reset_placeholder(int fd)
{
	_cleanup_close_ int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (u >= 0)
		hvs_fd_replace(fd, u);
}

/* Records the outcome of fd's pending connect (err 0: connected, peer from
 * rep when it has one). Returns -err. */
static int connect_finish(int fd, int err, const struct hvs_reply *rep)
{
	struct hvs_sock *p;

	if (err)
		reset_placeholder(fd);
	p = hvs_sock_lock(fd);

	if (p && err == 0) {
		p->state = HVS_ST_CONNECTED;
		p->has_peer = true;
		if (rep && rep->has_addr) {
			p->peer.VmId = rep->vm;
			p->peer.ServiceId = rep->service;
		}
	} else if (p) {
		p->state = HVS_ST_OPEN;
		p->has_peer = false;
	}
	hvs_tab_unlock();
	return -err;
}

/* Turns a read_reply result into the connect's errno (0 connected). */
static int reply_errno(int r, const struct hvs_reply *rep)
{
	if (r == -EAGAIN)
		return ECONNRESET; /* the daemon gave up on us without a word */
	return r < 0 ? -r : rep->err;
}

/*
 * Checks fd's pending connect without blocking for long. Returns 1 while it
 * is pending, 0 once connected, or the failure's -errno. When fd turned
 * writable or hung up the daemon has decided: its reply is imminent, so it
 * is waited for (the daemon may close its ends just before replying).
 */
static int connect_check(int fd)
{
	struct hvs_reply rep;
	short ev = 0;
	int c = hvs_sock_take_ctl(fd), r;

	if (c < 0)
		return -EALREADY;
	r = read_reply(c, 0, false, &rep);
	if (r == -EAGAIN) {
		if (wait_fd(fd, POLLOUT, 0, false, &ev) < 0 ||
		    !(ev & (POLLOUT | POLLHUP | POLLERR)))
			goto pending;
		r = read_reply(c, IMMINENT_MS, false, &rep);
		if (r == -EAGAIN && !(ev & (POLLHUP | POLLERR)))
			goto pending;
	}
	safe_close(c);
	return connect_finish(fd, reply_errno(r, &rep), &rep);
pending:;
	struct hvs_sock *p = hvs_sock_lock(fd);
	if (p)
		p->ctl = TAKE_FD(c);
	hvs_tab_unlock();
	safe_close(c);
	return 1;
}

/* Blocks for fd's pending connect up to timeout_ms. 0 or -errno; -EINTR
 * leaves it pending. */
static int connect_wait(int fd, int timeout_ms)
{
	struct hvs_reply rep;
	int c = hvs_sock_take_ctl(fd), r;

	if (c < 0)
		return -EALREADY;
	r = read_reply(c, timeout_ms, true, &rep);
	if (r == -EINTR) {
		struct hvs_sock *p = hvs_sock_lock(fd);
		if (p)
			p->ctl = TAKE_FD(c);
		hvs_tab_unlock();
		safe_close(c);
		return -EINTR;
	}
	safe_close(c);
	r = connect_finish(fd, r == -EAGAIN ? ETIMEDOUT : reply_errno(r, &rep), &rep);
	if (r == 0) /* the daemon drains the filler right after its reply */
		wait_fd(fd, POLLOUT, IMMINENT_MS, false, NULL);
	return r;
}

static int ctl_connect(int fd, const struct hvs_sock *s, const struct sockaddr_hv *addr)
{
	_cleanup_close_ int c = -1, a = -1, b = -1;
	uint32_t filler = 0;
	int sndbuf = 0, r;

	c = ctl_open();
	if (c < 0)
		return c;
	r = make_pair(&a, &b, &filler, &sndbuf);
	if (r < 0)
		return r;
	r = send_connect(c, addr, s->opt[HVS_OPT_TIMEOUT], a, b, filler, sndbuf);
	if (r < 0)
		return r;
	r = hvs_fd_replace(fd, a);
	if (r < 0)
		return r;
	struct hvs_sock *p = hvs_sock_lock(fd);
	if (p) {
		p->state = HVS_ST_CONNECTING;
		p->transport = HVS_T_CTL;
		p->peer = *addr;
		p->has_peer = false;
		p->ctl = TAKE_FD(c);
	}
	hvs_tab_unlock();
	if (!p)
		return -EBADF; /* closed under our feet */
	if (is_nonblocking(fd))
		return -EINPROGRESS;
	return connect_wait(fd, (int)s->opt[HVS_OPT_TIMEOUT] + CONNECT_SLACK_MS);
}

/* ---- listen and accept through vmsvcd ---- */

static int ctl_listen(int fd, const struct sockaddr_hv *local, int backlog)
{
	_cleanup_close_ int c = -1;
	struct hvs_reply rep;
	json_object *req;
	int r;

	c = ctl_open();
	if (c < 0)
		return c;
	req = request("listen", local);
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "backlog", json_object_new_int64(backlog));
	r = ctl_send(c, req, -1);
	json_object_put(req);
	if (r < 0)
		return r;
	r = read_reply(c, LISTEN_REPLY_MS, false, &rep);
	if (r < 0)
		return r == -EAGAIN ? -ETIMEDOUT : r;
	if (rep.err)
		return -rep.err;
	return hvs_fd_replace(fd, c);
}

static bool is_stream_socket(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

/* Waits until the listening fd is readable; -EAGAIN if it is non-blocking. */
static int wait_incoming(int fd)
{
	int r;

	if (is_nonblocking(fd))
		return -EAGAIN;
	r = wait_fd(fd, POLLIN, -1, true, NULL);
	return r < 0 ? r : 0;
}

static int ctl_accept(int fd, const struct hvs_sock *ls, struct sockaddr_hv *peer)
{
	for (;;) {
		json_object *m = NULL;
		int sfd[1] = { -1 };
		unsigned n = 0;
		hv_guid_t vm, svc;
		int r = ctl_recv_fds(fd, &m, sfd, 1, &n);

		if (r == -EAGAIN) {
			r = wait_incoming(fd);
			if (r < 0)
				return r;
			continue;
		}
		if (r == 0)
			return -ENETDOWN; /* vmsvcd closed the listener */
		if (r == -EPROTO || r == -EMSGSIZE || r == -ETOOMANYREFS)
			continue; /* skip what we cannot read */
		if (r < 0)
			return r;
		r = hvs_parse_incoming(m, &vm, &svc);
		json_object_put(m);
		if (r < 0 || n != 1 || !is_stream_socket(sfd[0])) {
			safe_close(sfd[0]);
			continue;
		}
		return hvs_accepted(sfd[0], HVS_T_CTL, ls, &vm, peer);
	}
}

/* ---- the API ---- */

VMSVC_EXPORT int hv_socket(int type, int protocol)
{
	const int flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
	struct hvs_sock s = hvs_sock_init;
	int fd, r;

	if (type & ~(TYPE_MASK | flags))
		return posix_ret(-EINVAL);
	/* Hyper-V sockets carry a data stream only: no datagrams, no raw. */
	if ((type & TYPE_MASK) != SOCK_STREAM)
		return posix_ret(-ESOCKTNOSUPPORT);
	if (protocol != 0 && protocol != HV_PROTOCOL_RAW)
		return posix_ret(-EPROTONOSUPPORT);
	fd = socket(AF_UNIX, SOCK_STREAM | (type & flags), 0);
	if (fd < 0)
		return -1;
	r = hvs_sock_new(fd, &s);
	if (r < 0) {
		safe_close(fd);
		return posix_ret(r);
	}
	return fd;
}

static int do_bind(int fd, const struct sockaddr_hv *addr)
{
	struct hvs_route rt;
	struct hvs_sock s;
	int r = hvs_check_addr(addr);

	if (r < 0 || (r = hvs_sock_get(fd, &s)) < 0)
		return r;
	if (s.bound || s.state != HVS_ST_OPEN)
		return -EINVAL;
	r = hvs_route(&addr->VmId, HVS_OP_BIND, hvs_mode_from_env(), &rt);
	if (r < 0)
		return r;
	if (rt.transport == HVS_T_VSOCK && (r = hvs_vsock_bind(fd, &s, addr)) < 0)
		return r;
	struct hvs_sock *p = hvs_sock_lock(fd);
	if (p) {
		p->bound = true;
		p->local = *addr;
		p->transport = rt.transport;
		p->only_parent = rt.only_parent;
	}
	hvs_tab_unlock();
	return p ? 0 : -EBADF;
}

VMSVC_EXPORT int hv_bind(int fd, const struct sockaddr_hv *addr)
{
	return posix_ret(do_bind(fd, addr));
}

static int do_listen(int fd, int backlog)
{
	struct hvs_sock s;
	int r = hvs_sock_get(fd, &s);

	if (r < 0)
		return r;
	if (s.state == HVS_ST_LISTENING)
		return 0;
	if (!s.bound || s.state != HVS_ST_OPEN)
		return -EINVAL;
	if (backlog <= 0)
		backlog = DEFAULT_BACKLOG;
	if (backlog > MAX_BACKLOG)
		backlog = MAX_BACKLOG;
	if (s.transport == HVS_T_VSOCK)
		r = listen(fd, backlog) < 0 ? -errno : 0;
	else
		r = ctl_listen(fd, &s.local, backlog);
	if (r < 0)
		return r;
	struct hvs_sock *p = hvs_sock_lock(fd);
	if (p)
		p->state = HVS_ST_LISTENING;
	hvs_tab_unlock();
	return 0;
}

VMSVC_EXPORT int hv_listen(int fd, int backlog)
{
	return posix_ret(do_listen(fd, backlog));
}

static int do_accept(int fd, struct sockaddr_hv *peer)
{
	struct hvs_sock s;
	int r = hvs_sock_get(fd, &s);

	if (r < 0)
		return r;
	if (s.state != HVS_ST_LISTENING)
		return -EINVAL;
	if (s.transport == HVS_T_VSOCK)
		return hvs_vsock_accept(fd, &s, peer);
	return ctl_accept(fd, &s, peer);
}

VMSVC_EXPORT int hv_accept(int fd, struct sockaddr_hv *peer)
{
	return posix_ret(do_accept(fd, peer));
}

/* hv_connect on a socket whose connect is in progress, like TCP: EALREADY
 * while it runs (a blocking fd waits), then its result once. */
static int connect_again(int fd, const struct hvs_sock *s)
{
	int r;

	if (s->transport == HVS_T_VSOCK)
		return hvs_vsock_connect_again(fd, s);
	r = connect_check(fd);
	if (r != 1)
		return r;
	if (is_nonblocking(fd))
		return -EALREADY;
	return connect_wait(fd, (int)s->opt[HVS_OPT_TIMEOUT] + CONNECT_SLACK_MS);
}

static int do_connect(int fd, const struct sockaddr_hv *addr)
{
	struct hvs_route rt;
	struct hvs_sock s;
	int r = hvs_check_addr(addr);

	if (r < 0 || (r = hvs_sock_get(fd, &s)) < 0)
		return r;
	if (s.state == HVS_ST_CONNECTING)
		return connect_again(fd, &s);
	if (s.state == HVS_ST_CONNECTED)
		return -EISCONN;
	if (s.state == HVS_ST_LISTENING)
		return -EINVAL;
	r = hvs_route(&addr->VmId, HVS_OP_CONNECT, hvs_mode_from_env(), &rt);
	if (r < 0)
		return r;
	if (rt.transport == HVS_T_VSOCK)
		return hvs_vsock_connect(fd, &s, addr);
	return ctl_connect(fd, &s, addr);
}

VMSVC_EXPORT int hv_connect(int fd, const struct sockaddr_hv *addr)
{
	return posix_ret(do_connect(fd, addr));
}

/*
 * The slot of a Hyper-V option, or -1 for a kernel (SOL_SOCKET) option.
 * Windows numbers the HVSOCKET_* options 1, 2, 4, 8 at level
 * HV_PROTOCOL_RAW (1), and on Linux level 1 is also SOL_SOCKET, where those
 * numbers are SO_DEBUG, SO_REUSEADDR, SO_ERROR and SO_RCVBUF. At that level
 * the Hyper-V meaning wins, except that reading SO_ERROR stays SO_ERROR
 * (HVSOCKET_CONNECTED_SUSPEND is write-only then). The kernel's options
 * remain reachable with plain getsockopt/setsockopt on the fd.
 */
static int opt_slot(int level, int name, bool get)
{
	if (level != HV_PROTOCOL_RAW)
		return -1;
	if (get && level == SOL_SOCKET && name == SO_ERROR)
		return -1;
	switch (name) {
	case HVSOCKET_CONNECT_TIMEOUT:
		return HVS_OPT_TIMEOUT;
	case HVSOCKET_CONTAINER_PASSTHRU:
		return HVS_OPT_PASSTHRU;
	case HVSOCKET_CONNECTED_SUSPEND:
		return HVS_OPT_SUSPEND;
	case HVSOCKET_HIGH_VTL:
		return HVS_OPT_HIGH_VTL;
	default:
		return -1;
	}
}

static int do_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct hvs_sock s;
	uint32_t v;
	int r = hvs_sock_get(fd, &s), slot;

	if (r < 0)
		return r;
	slot = opt_slot(level, name, false);
	if (slot < 0 && level == SOL_SOCKET)
		return setsockopt(fd, level, name, val, len) < 0 ? -errno : 0;
	if (slot < 0)
		return -ENOPROTOOPT;
	if (!val)
		return -EFAULT;
	if (len != sizeof(uint32_t))
		return -EINVAL;
	memcpy(&v, val, sizeof(v));
	if (slot == HVS_OPT_TIMEOUT && (v == 0 || v > HVSOCKET_CONNECT_TIMEOUT_MAX))
		return -EINVAL;
	struct hvs_sock *p = hvs_sock_lock(fd);
	if (p)
		p->opt[slot] = v;
	hvs_tab_unlock();
	return p ? 0 : -EBADF;
}

VMSVC_EXPORT int hv_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	return posix_ret(do_setsockopt(fd, level, name, val, len));
}

/* SO_ERROR of a connect through vmsvcd that is in progress: its result
 * once known (and then the socket is connected or open again), else 0. */
static int pending_so_error(int fd, void *val, socklen_t *len)
{
	int r, err;

	if (*len < sizeof(int))
		return -EINVAL;
	r = connect_check(fd);
	err = r < 0 ? -r : 0;
	memcpy(val, &err, sizeof(err));
	*len = sizeof(err);
	return 0;
}

static int do_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct hvs_sock s;
	int r = hvs_sock_get(fd, &s), slot;

	if (r < 0)
		return r;
	if (!val || !len)
		return -EFAULT;
	slot = opt_slot(level, name, true);
	if (slot < 0 && level == SOL_SOCKET && name == SO_ERROR && s.state == HVS_ST_CONNECTING &&
	    s.transport == HVS_T_CTL)
		return pending_so_error(fd, val, len);
	if (slot < 0 && level == SOL_SOCKET)
		return getsockopt(fd, level, name, val, len) < 0 ? -errno : 0;
	if (slot < 0)
		return -ENOPROTOOPT;
	if (*len < sizeof(uint32_t))
		return -EINVAL;
	memcpy(val, &s.opt[slot], sizeof(uint32_t));
	*len = sizeof(uint32_t);
	return 0;
}

VMSVC_EXPORT int hv_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	return posix_ret(do_getsockopt(fd, level, name, val, len));
}

static int do_getsockname(int fd, struct sockaddr_hv *addr)
{
	struct hvs_sock s;
	int r = hvs_sock_get(fd, &s);

	if (r < 0)
		return r;
	if (!addr)
		return -EFAULT;
	*addr = s.local; /* AF_HYPERV and zeros until bound */
	return 0;
}

VMSVC_EXPORT int hv_getsockname(int fd, struct sockaddr_hv *addr)
{
	return posix_ret(do_getsockname(fd, addr));
}

static int do_getpeername(int fd, struct sockaddr_hv *addr)
{
	struct hvs_sock s;
	int r = hvs_sock_get(fd, &s);

	if (r < 0)
		return r;
	if (!addr)
		return -EFAULT;
	if (s.transport == HVS_T_VSOCK && s.state != HVS_ST_LISTENING && s.has_peer)
		return hvs_vsock_peername(fd, &s, addr);
	if (s.state != HVS_ST_CONNECTED || !s.has_peer)
		return -ENOTCONN;
	*addr = s.peer;
	return 0;
}

VMSVC_EXPORT int hv_getpeername(int fd, struct sockaddr_hv *addr)
{
	return posix_ret(do_getpeername(fd, addr));
}

VMSVC_EXPORT int hv_close(int fd)
{
	struct hvs_sock *p = hvs_sock_lock(fd);
	int c = -1;

	if (p) {
		c = TAKE_FD(p->ctl);
		*p = (struct hvs_sock){ .ctl = -1 };
	}
	hvs_tab_unlock();
	safe_close(c);
	return close(fd);
}
