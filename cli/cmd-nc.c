/* SPDX-License-Identifier: MIT */
/*
 * cmd-nc.c - vmsvc nc TARGET SERVICE: connect to a VM service and bridge it
 * to stdin/stdout. Also the helpers cmd-listen.c shares: naming services and
 * VMs on the command line, explaining connection errors, and the bridge.
 */
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

#include <vmsvc/vmsvc.h>

#include "cli.h"
#include "registry.h"
#include "util.h"
#include "vmtable.h"

static void nc_usage(FILE *out)
{
	fprintf(out,
		"Usage: vmsvc nc [--timeout MS] TARGET SERVICE\n\n"
		"Connects to SERVICE in TARGET and copies stdin to the connection and the\n"
		"connection to stdout. At the end of stdin the sending side is closed (the\n"
		"peer reads end of stream); nc exits once the peer has closed its side too.\n\n"
		"  TARGET   a VM's name or VmId (host side), 'loopback' (a listener on this\n"
		"           host), or 'parent' (inside a guest: the host)\n"
		"  SERVICE  a registered service name, a service GUID, or a vsock port\n"
		"           (its VSOCK-template GUID)\n"
		"  -w, --timeout MS  connect timeout in milliseconds (default 2000, at most %d)\n\n"
		"Exit status: 0 success, 1 failure (connection refused, VM not running, ...),\n"
		"2 wrong usage.\n",
		HVSOCKET_CONNECT_TIMEOUT_MAX);
}

int cli_resolve_service(const char *arg, hv_guid_t *id, char *label, size_t size)
{
	struct reg_table *t = NULL;
	const struct reg_service *s = NULL;
	uint32_t port;

	if (reg_load(cli_config_dir(), &t) == 0)
		s = reg_lookup(t, arg);
	if (s) {
		*id = s->id;
		snprintf(label, size, "'%s'", s->name);
	} else if (hv_guid_parse(arg, id) == 0) {
		hv_guid_format(id, label, size);
	} else if (cli_parse_u32(arg, &port) == 0) {
		hv_guid_from_port(port, id);
		snprintf(label, size, "port %u", port);
	} else {
		reg_table_free(t);
		cli_error("unknown service '%s': not a registered name (see 'vmsvc service list'), "
			  "a GUID or a vsock port",
			  arg);
		return -ENOENT;
	}
	reg_table_free(t);
	return 0;
}

void cli_vm_label(const hv_guid_t *vm, char *label, size_t size)
{
	struct vmt_table *t = NULL;
	const struct vmt_vm *v = NULL;
	char s[HV_GUID_STRSIZE];

	if (hv_guid_equal(vm, &HV_GUID_LOOPBACK)) {
		snprintf(label, size, "the host (loopback)");
		return;
	}
	if (hv_guid_equal(vm, &HV_GUID_PARENT)) {
		snprintf(label, size, "the host");
		return;
	}
	hv_guid_format(vm, s, sizeof(s));
	if (vmt_load(cli_config_dir(), &t) == 0)
		v = vmt_find_id(t, vm);
	if (v)
		snprintf(label, size, "VM '%s'", v->name);
	else
		snprintf(label, size, "VM %s", s);
	vmt_table_free(t);
}

int cli_resolve_vm(const char *arg, hv_guid_t *id, char *label, size_t size)
{
	struct vmt_table *t = NULL;
	const struct vmt_vm *v = NULL;

	if (strcmp(arg, "loopback") == 0) {
		*id = HV_GUID_LOOPBACK;
	} else if (strcmp(arg, "parent") == 0) {
		*id = HV_GUID_PARENT;
	} else if (hv_guid_parse(arg, id) != 0) {
		if (vmt_load(cli_config_dir(), &t) == 0)
			v = vmt_find_name(t, arg);
		if (!v) {
			vmt_table_free(t);
			cli_error("no VM named '%s' (see 'vmsvc vm list'; 'loopback' is this host, "
				  "'parent' the host of a guest)",
				  arg);
			return -ENOENT;
		}
		*id = v->id;
		vmt_table_free(t);
	}
	cli_vm_label(id, label, size);
	return 0;
}

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

static int nc_connect(const hv_guid_t *vm, const char *vlabel, const hv_guid_t *svc,
		      const char *slabel, uint32_t timeout)
{
	struct sockaddr_hv addr = { .Family = AF_HYPERV, .VmId = *vm, .ServiceId = *svc };
	int fd = hv_socket(SOCK_STREAM | SOCK_CLOEXEC, HV_PROTOCOL_RAW);

	if (fd < 0) {
		cli_error("cannot create a Hyper-V socket: %s", strerror(errno));
		return -errno;
	}
	if (timeout && hv_setsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, &timeout,
				     sizeof(timeout)) < 0) {
		hv_close(fd);
		return -EINVAL;
	}
	if (hv_connect(fd, &addr) < 0) {
		int err = errno;
		cli_explain_hv_error(err, vm, vlabel, svc, slabel, false);
		hv_close(fd);
		return -err;
	}
	return fd;
}

int cmd_nc(int argc, char **argv)
{
	static const struct option opts[] = { { "timeout", required_argument, NULL, 'w' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	char vlabel[128], slabel[REG_NAME_MAX + 8];
	uint32_t timeout = 0;
	hv_guid_t vm, svc;
	int c, fd, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":hw:", opts, NULL)) != -1) {
		if (c == 'h') {
			nc_usage(stdout);
			return EXIT_OK;
		}
		if (c != 'w')
			return cli_option_error("nc", c, argv);
		if (cli_parse_u32(optarg, &timeout) < 0 || timeout == 0 ||
		    timeout > HVSOCKET_CONNECT_TIMEOUT_MAX)
			return cli_usage_error("nc", "--timeout wants milliseconds in 1..%d",
					       HVSOCKET_CONNECT_TIMEOUT_MAX);
	}
	if (argc - optind != 2)
		return cli_usage_error("nc", "expected TARGET and SERVICE");
	setenv("VMSVC_RUNTIME_DIR", cli_runtime_dir(), 1);
	if (cli_resolve_vm(argv[optind], &vm, vlabel, sizeof(vlabel)) < 0 ||
	    cli_resolve_service(argv[optind + 1], &svc, slabel, sizeof(slabel)) < 0)
		return EXIT_FAIL;
	fd = nc_connect(&vm, vlabel, &svc, slabel, timeout);
	if (fd < 0)
		return EXIT_FAIL;
	r = cli_bridge(fd, STDIN_FILENO, STDOUT_FILENO);
	hv_close(fd);
	return r;
}
