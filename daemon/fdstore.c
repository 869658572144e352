/* SPDX-License-Identifier: MIT */
/*
 * fdstore.c - sd_notify(3) FDSTORE and sd_listen_fds(3), without
 * libsystemd: one datagram per request to $NOTIFY_SOCKET ('@' = abstract
 * namespace) with the fd as SCM_RIGHTS, and the passed fds read from
 * LISTEN_FDS (starting at 3) and LISTEN_FDNAMES (':'-separated).
 */
#include "fdstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define FDSTORE_MAX 4096 /* passed fds we look at */

static struct {
	int *fd;
	char **name;
	unsigned n;
} passed;

static bool keep;

void fdstore_keep(void)
{
	keep = true;
}

bool fdstore_enabled(void)
{
	const char *p = getenv("NOTIFY_SOCKET");

	return p && (p[0] == '/' || p[0] == '@');
}

static bool fdstore_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] < 0x21 || name[i] > 0x7e || name[i] == ':')
			return false;
	return true;
}

/* Sends text to the manager, with fd unless it is -1. */
static int fdstore_send(const char *text, int fd)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c = {};
	struct iovec iov = { .iov_base = (void *)text, .iov_len = strlen(text) };
	struct msghdr mh = { .msg_name = &sa, .msg_iov = &iov, .msg_iovlen = 1 };
	_cleanup_close_ int s = -1;
	size_t len;

	if (!fdstore_enabled())
		return -ENOTCONN;
	len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	mh.msg_namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if (fd >= 0) {
		mh.msg_control = c.buf;
		mh.msg_controllen = sizeof(c.buf);
		c.h.cmsg_level = SOL_SOCKET;
		c.h.cmsg_type = SCM_RIGHTS;
		c.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&c.h), &fd, sizeof(int));
	}
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (sendmsg(s, &mh, MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

int fdstore_put(const char *name, int fd)
{
	char text[300];

	if (!fdstore_name_ok(name) || fd < 0)
		return -EINVAL;
	snprintf(text, sizeof(text), "FDSTORE=1\nFDNAME=%s\n", name);
	return fdstore_send(text, fd);
}

int fdstore_remove(const char *name)
{
	char text[300];

	if (!fdstore_name_ok(name))
		return -EINVAL;
	if (keep)
		return 0;
	snprintf(text, sizeof(text), "FDSTOREREMOVE=1\nFDNAME=%s\n", name);
	return fdstore_send(text, -1);
}

/* The decimal in variable var, or -1. */
static long fdstore_env_long(const char *var)
{
	const char *s = getenv(var);
	char *end = NULL;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	return errno || *end || v < 0 ? -1 : v;
}

/* Splits names (':'-separated) into passed.name[0..n). */
static int fdstore_names(const char *names, unsigned n)
{
	const char *p = names;

	for (unsigned i = 0; i < n; i++) {
		const char *e = p ? strchr(p, ':') : NULL;
		size_t len = p ? (e ? (size_t)(e - p) : strlen(p)) : 0;

		passed.name[i] = strndup(p ? p : "", len);
		if (!passed.name[i])
			return -ENOMEM;
		p = e ? e + 1 : NULL;
	}
	return 0;
}

int fdstore_load(void)
{
	long pid = fdstore_env_long("LISTEN_PID"), n = fdstore_env_long("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	int r;

	if (pid != (long)getpid() || n <= 0) {
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		return 0;
	}
	if (n > FDSTORE_MAX)
		n = FDSTORE_MAX;
	passed.fd = calloc((size_t)n, sizeof(int));
	passed.name = calloc((size_t)n, sizeof(char *));
	if (!passed.fd || !passed.name)
		return -ENOMEM;
	passed.n = (unsigned)n;
	for (unsigned i = 0; i < passed.n; i++) {
		passed.fd[i] = 3 + (int)i;
		fcntl(passed.fd[i], F_SETFD, FD_CLOEXEC);
	}
	r = fdstore_names(names, passed.n);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	log_info("the service manager passed %u stored fd(s)", passed.n);
	return r;
}

int fdstore_take(const char *name)
{
	for (unsigned i = 0; i < passed.n; i++)
		if (passed.fd[i] >= 0 && passed.name[i] && strcmp(passed.name[i], name) == 0)
			return TAKE_FD(passed.fd[i]);
	return -1;
}

unsigned fdstore_close_rest(void)
{
	unsigned left = 0;

	for (unsigned i = 0; i < passed.n; i++) {
		if (passed.fd[i] >= 0) {
			left++;
			if (passed.name[i])
				fdstore_remove(passed.name[i]);
			passed.fd[i] = safe_close(passed.fd[i]);
		}
		free(passed.name[i]);
	}
	free(passed.fd);
	free(passed.name);
	passed.fd = NULL;
	passed.name = NULL;
	passed.n = 0;
	return left;
}
