/* SPDX-License-Identifier: MIT */
/*
 * cmd-nc.c - vmsvc nc TARGET SERVICE: connect to a VM service and bridge it
 * to stdin/stdout.
 */
#include <getopt.h>
#include <string.h>
#include <sys/socket.h>

#include <vmsvc/vmsvc.h>

#include "cli.h"
#include "registry.h"
#include "util.h"

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
