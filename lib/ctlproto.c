/* SPDX-License-Identifier: MIT */
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ctlproto.h"
#include "util.h"

int ctl_decode(const char *buf, size_t size, json_object **out)
{
	json_tokener *tok;
	json_object *o;

	if (size == 0 || size > CTL_MSG_MAX || memchr(buf, '\0', size))
		return -EPROTO;
	tok = json_tokener_new_ex(16);
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, buf, (int)size);
	/* The whole buffer must be exactly one complete object. */
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != size || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		json_tokener_free(tok);
		return -EPROTO;
	}
	json_tokener_free(tok);
	*out = o;
	return 0;
}

int ctl_sock_bufs(int sock)
{
	/* The kernel doubles what is set, and a message needs its length
	 * plus 32 bytes of the send buffer. */
	int want = CTL_MSG_MAX + 4096, have = 0;
	socklen_t len = sizeof(have);

	if (getsockopt(sock, SOL_SOCKET, SO_SNDBUF, &have, &len) < 0)
		return -errno;
	if (have >= 2 * want)
		return 0;
	if (setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want)) < 0)
		return -errno;
	len = sizeof(have);
	if (getsockopt(sock, SOL_SOCKET, SO_SNDBUF, &have, &len) == 0 && have >= 2 * want)
		return 0;
	/* capped by net.core.wmem_max: only root may go past it */
	setsockopt(sock, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want));
	len = sizeof(have);
	if (getsockopt(sock, SOL_SOCKET, SO_SNDBUF, &have, &len) < 0)
		return -errno;
	return have >= CTL_MSG_MAX + 32 ? 0 : -ENOBUFS;
}

int ctl_send_fds(int sock, json_object *msg, const int *fds, unsigned nfds)
{
	size_t len;
	const char *s = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN, &len);
	struct iovec iov = { .iov_base = (void *)s, .iov_len = len };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(CTL_MAX_FDS * sizeof(int))];
	} c;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (len > CTL_MSG_MAX)
		return -EMSGSIZE;
	if (nfds > CTL_MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		memset(&c, 0, sizeof(c));
		mh.msg_control = c.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0;
}

int ctl_send(int sock, json_object *msg, int fd)
{
	return ctl_send_fds(sock, msg, &fd, fd >= 0 ? 1 : 0);
}

/* Takes the fds out of a received message: up to max into fds[], every
 * other one is closed. */
static void take_fds(struct msghdr *mh, int *fds, unsigned max, unsigned *nfds)
{
	*nfds = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int f;
			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*nfds < max)
				fds[(*nfds)++] = f;
			else
				close(f);
		}
	}
}

static void close_fds(int *fds, unsigned *nfds)
{
	for (unsigned i = 0; i < *nfds; i++)
		fds[i] = safe_close(fds[i]);
	*nfds = 0;
}

int ctl_recv_fds(int sock, json_object **out, int *fds, unsigned max, unsigned *nfds)
{
	_cleanup_free_ char *buf = malloc(CTL_MSG_MAX + 1);
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(CTL_MAX_FDS * sizeof(int))];
	} c;
	struct iovec iov = { .iov_base = buf, .iov_len = CTL_MSG_MAX + 1 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = c.buf,
			     .msg_controllen = sizeof(c.buf) };
	ssize_t n;

	*nfds = 0;
	if (!buf)
		return -ENOMEM;
	if (max > CTL_MAX_FDS)
		max = CTL_MAX_FDS;
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	take_fds(&mh, fds, max, nfds);
	if (n == 0) {
		close_fds(fds, nfds);
		return 0;
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || ctl_decode(buf, (size_t)n, out) < 0) {
		close_fds(fds, nfds);
		return (mh.msg_flags & MSG_TRUNC) || n > CTL_MSG_MAX ? -EMSGSIZE
		       : mh.msg_flags & MSG_CTRUNC		     ? -ETOOMANYREFS
								     : -EPROTO;
	}
	return 1;
}

int ctl_recv(int sock, json_object **out, int *fd)
{
	int fds[1] = { -1 };
	unsigned n = 0;
	int r = ctl_recv_fds(sock, out, fds, fd ? 1 : 0, &n);

	if (fd)
		*fd = n ? fds[0] : -1;
	return r;
}

int ctl_call(const char *runtime_dir, json_object *req, int timeout_ms, json_object **reply,
	     int *fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int s = -1;
	struct pollfd p;
	int r;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", runtime_dir, CTL_SOCKET_NAME) >=
	    (int)sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	ctl_sock_bufs(s); /* best effort: a request too large fails as -EMSGSIZE */
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	int sent = ctl_send(s, req, -1);
	/* A daemon that refuses the connection itself (a per-user limit)
	 * says why and closes: our send then fails, but its message waits. */
	if (sent < 0 && sent != -EPIPE && sent != -ECONNRESET)
		return sent;
	p = (struct pollfd){ .fd = s, .events = POLLIN };
	r = poll(&p, 1, sent < 0 ? 0 : timeout_ms);
	if (r < 0)
		return -errno;
	if (r == 0)
		return sent < 0 ? sent : -ETIMEDOUT;
	r = ctl_recv(s, reply, fd);
	if (r == 0)
		return -ECONNRESET;
	return r < 0 ? r : 0;
}
