/* SPDX-License-Identifier: MIT */
/*
 * cmd-listen.c - vmsvc listen [--vm WHO] SERVICE [--echo | --exec CMD]:
 * a host (or guest) listener for a VM service. Without --echo or --exec it
 * takes one connection and bridges it to stdin/stdout; with them it serves
 * every connection in a child process of its own until killed.
 */
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <vmsvc/vmsvc.h>

#include "cli.h"
#include "registry.h"
#include "util.h"

static void listen_usage(FILE *out)
{
	fprintf(out,
		"Usage: vmsvc listen [--vm NAME|VMID|any|children|loopback|parent] SERVICE\n"
		"                    [--echo | --exec CMD]\n\n"
		"Listens for connections to SERVICE (a registered name, a GUID or a vsock\n"
		"port) and prints each peer on stderr. The service must be registered and\n"
		"enabled, and you must be root, its User= or a member of its Group=.\n\n"
		"  --vm WHO    whom to accept: 'any' (every VM and this host, the default),\n"
		"              'children' (every VM), 'loopback' (processes on this host), a\n"
		"              VM's name or VmId (that VM only), or 'parent' (inside a guest:\n"
		"              the host only)\n"
		"  --echo      send back whatever each connection sends (many at once)\n"
		"  --exec CMD  run '/bin/sh -c CMD' per connection, with the connection as\n"
		"              its stdin and stdout; VMSVC_PEER_VMID and VMSVC_PEER tell it\n"
		"              who connected\n"
		"Without --echo or --exec: one connection, bridged to stdin/stdout.\n\n"
		"Exit status: 0 success, 1 failure, 2 wrong usage.\n");
}

/* --vm WHO: the VmId to bind to. */
static int listen_target(const char *who, hv_guid_t *vm, char *label, size_t size)
{
	if (strcmp(who, "any") == 0 || strcmp(who, "wildcard") == 0) {
		*vm = HV_GUID_WILDCARD;
		snprintf(label, size, "any VM and this host");
		return 0;
	}
	if (strcmp(who, "children") == 0) {
		*vm = HV_GUID_CHILDREN;
		snprintf(label, size, "any VM");
		return 0;
	}
	return cli_resolve_vm(who, vm, label, size);
}

static int open_listener(const hv_guid_t *vm, const char *vlabel, const hv_guid_t *svc,
			 const char *slabel)
{
	struct sockaddr_hv addr = { .Family = AF_HYPERV, .VmId = *vm, .ServiceId = *svc };
	int fd = hv_socket(SOCK_STREAM | SOCK_CLOEXEC, HV_PROTOCOL_RAW);

	if (fd < 0) {
		cli_error("cannot create a Hyper-V socket: %s", strerror(errno));
		return -1;
	}
	if (hv_bind(fd, &addr) < 0 || hv_listen(fd, 0) < 0) {
		cli_explain_hv_error(errno, vm, vlabel, svc, slabel, true);
		hv_close(fd);
		return -1;
	}
	fprintf(stderr, "vmsvc: listening for service %s from %s\n", slabel, vlabel);
	return fd;
}

/* Echoes conn until its end of stream, then closes our side. */
static int echo_conn(int conn)
{
	char buf[65536];

	for (;;) {
		ssize_t n = read(conn, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? EXIT_OK : EXIT_FAIL;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = send(conn, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return EXIT_FAIL;
			off += w;
		}
	}
}

static void exec_conn(int conn, const char *cmd, const hv_guid_t *peer, const char *plabel)
{
	char id[HV_GUID_STRSIZE];

	hv_guid_format(peer, id, sizeof(id));
	setenv("VMSVC_PEER_VMID", id, 1);
	setenv("VMSVC_PEER", plabel, 1);
	if (dup2(conn, STDIN_FILENO) < 0 || dup2(conn, STDOUT_FILENO) < 0)
		_exit(127);
	if (conn > STDOUT_FILENO)
		close(conn);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	fprintf(stderr, "vmsvc: cannot run /bin/sh: %s\n", strerror(errno));
	_exit(127);
}

/* Serves every connection in a child process (echo, or cmd when set). */
static int serve_forever(int lfd, const char *cmd)
{
	signal(SIGCHLD, SIG_IGN); /* children reap themselves */
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		struct sockaddr_hv peer;
		char plabel[128];
		int conn = hv_accept(lfd, &peer);
		if (conn < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (conn < 0) {
			cli_error("accepting a connection: %s%s", strerror(errno),
				  errno == ENETDOWN ? " (vmsvcd stopped)" : "");
			return EXIT_FAIL;
		}
		cli_vm_label(&peer.VmId, plabel, sizeof(plabel));
		fprintf(stderr, "vmsvc: connection from %s\n", plabel);
		pid_t pid = fork();
		if (pid == 0) {
			hv_close(lfd);
			if (cmd)
				exec_conn(conn, cmd, &peer.VmId, plabel);
			_exit(echo_conn(conn));
		}
		if (pid < 0)
			cli_error("cannot fork for a connection: %s", strerror(errno));
		hv_close(conn);
	}
}

/* Takes one connection and bridges it to stdin/stdout. */
static int serve_one(int lfd)
{
	struct sockaddr_hv peer;
	char plabel[128];
	int conn, r;

	do
		conn = hv_accept(lfd, &peer);
	while (conn < 0 && errno == EINTR);
	if (conn < 0) {
		cli_error("accepting a connection: %s", strerror(errno));
		return EXIT_FAIL;
	}
	hv_close(lfd);
	cli_vm_label(&peer.VmId, plabel, sizeof(plabel));
	fprintf(stderr, "vmsvc: connection from %s\n", plabel);
	r = cli_bridge(conn, STDIN_FILENO, STDOUT_FILENO);
	hv_close(conn);
	return r;
}

int cmd_listen(int argc, char **argv)
{
	static const struct option opts[] = { { "vm", required_argument, NULL, 'v' },
					      { "echo", no_argument, NULL, 'e' },
					      { "exec", required_argument, NULL, 'x' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	const char *who = "any", *cmd = NULL;
	char vlabel[128], slabel[REG_NAME_MAX + 8];
	bool echo = false;
	hv_guid_t vm, svc;
	int c, lfd;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":hv:ex:", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			listen_usage(stdout);
			return EXIT_OK;
		case 'v':
			who = optarg;
			break;
		case 'e':
			echo = true;
			break;
		case 'x':
			cmd = optarg;
			break;
		default:
			return cli_option_error("listen", c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("listen", "expected one SERVICE");
	if (echo && cmd)
		return cli_usage_error("listen", "--echo and --exec exclude each other");
	setenv("VMSVC_RUNTIME_DIR", cli_runtime_dir(), 1);
	if (listen_target(who, &vm, vlabel, sizeof(vlabel)) < 0 ||
	    cli_resolve_service(argv[optind], &svc, slabel, sizeof(slabel)) < 0)
		return EXIT_FAIL;
	lfd = open_listener(&vm, vlabel, &svc, slabel);
	if (lfd < 0)
		return EXIT_FAIL;
	if (echo || cmd)
		return serve_forever(lfd, cmd);
	return serve_one(lfd);
}
