/* SPDX-License-Identifier: MIT */
/*
 * cli-hv.c - the hv_* connections of 'vmsvc nc' and 'vmsvc listen': what an
 * hv_connect, hv_bind or hv_listen error means and what to do about it, and
 * the bridge between a connection and stdin/stdout.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vmsvc/vmsvc.h>

#include "cli.h"
#include "registry.h"

/* Says why a service may not be used, from the registry: not registered,
 * disabled, or (registered and enabled) not permitted. */
static void explain_eacces(const hv_guid_t *svc, const char *slabel, bool listening)
{
	struct reg_table *t = NULL;
	const struct reg_service *s = NULL;

	if (reg_load(cli_config_dir(), &t) == 0)
		s = reg_find_guid(t, svc);
	if (!s)
		cli_error("service %s is not registered; register it with 'vmsvc service add'",
			  slabel);
	else if (!s->enabled)
		cli_error("service %s is disabled in the registry; enable it with 'vmsvc service "
			  "enable %s'",
			  slabel, s->name);
	else if (listening)
		cli_error("not permitted to listen for service %s: only root, the service's User= "
			  "or a member of its Group= may ('vmsvc service show %s')",
			  slabel, s->name);
	else
		cli_error("not permitted: connecting into guests needs root or membership in the "
			  "group 'vmsvc'");
	reg_table_free(t);
}

void cli_explain_hv_error(int err, const hv_guid_t *vm, const char *vlabel, const hv_guid_t *svc,
			  const char *slabel, bool listening)
{
	bool parent = hv_guid_equal(vm, &HV_GUID_PARENT);
	bool loopback = hv_guid_equal(vm, &HV_GUID_LOOPBACK);

	if (err == ENOENT && !parent)
		cli_error("vmsvcd is not running (no %s/control.sock); start it with 'vmsvcd'",
			  cli_runtime_dir());
	else if (err == EACCES && (listening || loopback))
		explain_eacces(svc, slabel, listening);
	else if (err == EACCES)
		explain_eacces(svc, slabel, false);
	else if (err == ECONNREFUSED)
		cli_error("nobody listens for service %s %s %s", slabel, loopback ? "on" : "in",
			  loopback ? "this host" : vlabel);
	else if (err == ENETUNREACH && !parent)
		cli_error("%s is not running", vlabel);
	else if (err == EHOSTUNREACH && !parent)
		cli_error("vmsvcd serves no %s (is it defined with 'vmsvc vm add' and vmsvcd "
			  "restarted since?)",
			  vlabel);
	else if (err == ETIMEDOUT)
		cli_error("%s did not answer for service %s within the connect timeout", vlabel,
			  slabel);
	else if (err == ECONNRESET && parent)
		cli_error("the host refused service %s (not registered or disabled there)", slabel);
	else if (err == EADDRNOTAVAIL)
		cli_error("service %s cannot be used with %s: it has no vsock port (use a "
			  "VSOCK-template GUID, or register it with 'vmsvc service add --port')",
			  slabel, vlabel);
	else if (err == EADDRINUSE)
		cli_error("another listener is already bound to service %s for %s", slabel, vlabel);
	else if (parent)
		cli_error("cannot reach the host over vsock for service %s: %s", slabel,
			  strerror(err));
	else
		cli_error("service %s with %s: %s", slabel, vlabel, strerror(err));
}

/* Writes all of buf; 0 or -errno. */
static int write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w < 0 && errno == ENOTSOCK)
			w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One step of the bridge: copies what is readable on from to to. Returns
 * the bytes copied, 0 at end of stream, or -errno (-EPIPE: to is gone). */
static ssize_t pump(int from, int to, char *buf, size_t size)
{
	ssize_t n = read(from, buf, size);

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	if (n > 0) {
		int r = write_all(to, buf, (size_t)n);
		if (r < 0)
			return r == -ECONNRESET ? -EPIPE : r;
	}
	return n;
}

int cli_bridge(int sock, int in, int out)
{
	static char buf[65536];
	bool in_open = true, sock_open = true;

	signal(SIGPIPE, SIG_IGN);
	while (sock_open || in_open) {
		struct pollfd p[2] = { { .fd = sock, .events = sock_open ? POLLIN : 0 },
				       { .fd = in_open ? in : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return EXIT_FAIL;
		}
		if (!sock_open && (p[0].revents & (POLLHUP | POLLERR)))
			break; /* the peer is gone for good: what stdin has is moot */
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = pump(sock, out, buf, sizeof(buf));
			if (n == -EPIPE)
				return EXIT_OK; /* stdout closed (nc ... | head) */
			if (n == -ECONNRESET)
				n = 0; /* the peer closed without reading all we sent */
			if (n < 0) {
				cli_error("connection lost: %s", strerror((int)-n));
				return EXIT_FAIL;
			}
			sock_open = n > 0;
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = pump(in, sock, buf, sizeof(buf));
			if (n == 0 || n == -EPIPE) {
				shutdown(sock, SHUT_WR);
				in_open = false; /* end of stdin, or the peer reads no more */
			} else if (n < 0) {
				cli_error("reading stdin: %s", strerror((int)-n));
				return EXIT_FAIL;
			}
		}
	}
	return EXIT_OK;
}
