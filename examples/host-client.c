/* SPDX-License-Identifier: MIT */
/*
 * host-client.c - a host program that talks to guest-service.c in a VM:
 * connects to the VM's VmId, prints the greeting and the echo of a message.
 *
 *   host-client VMID|loopback [SERVICE-GUID [MESSAGE]]
 *
 * 'vmsvc vm show NAME' prints a VM's VmId. 'loopback' (HV_GUID_LOOPBACK)
 * reaches a listener on this host instead, e.g. host-service.c. Connecting
 * into guests needs root or the group 'vmsvc'.
 * Build: cc host-client.c $(pkg-config --cflags --libs vmsvc)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vmsvc/vmsvc.h>

static const char *default_service = "3049197c-facb-11e6-bd58-64006a7986d3";

int main(int argc, char **argv)
{
	struct sockaddr_hv vm = { .Family = AF_HYPERV };
	const char *service = argc > 2 ? argv[2] : default_service;
	const char *message = argc > 3 ? argv[3] : "ping from the host\n";
	char buf[4096];
	ssize_t n;
	int fd;

	/* a VmId, or a well-known name such as "loopback" */
	if (argc < 2 ||
	    (hv_guid_parse(argv[1], &vm.VmId) < 0 && hv_guid_lookup_name(argv[1], &vm.VmId) < 0) ||
	    hv_guid_parse(service, &vm.ServiceId) < 0) {
		fprintf(stderr, "usage: host-client VMID|loopback [SERVICE-GUID [MESSAGE]]\n");
		return 2;
	}
	fd = hv_socket(SOCK_STREAM, HV_PROTOCOL_RAW);
	if (fd < 0)
		return 1;
	if (hv_connect(fd, &vm) < 0) {
		/* EHOSTUNREACH: no such VM; ENETUNREACH: it is not running;
		 * ECONNREFUSED: nobody listens; ENOENT: vmsvcd is not running */
		fprintf(stderr, "host-client: connect: %s\n", strerror(errno));
		return 1;
	}
	if (write(fd, message, strlen(message)) < 0 || shutdown(fd, SHUT_WR) < 0) {
		fprintf(stderr, "host-client: send: %s\n", strerror(errno));
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	hv_close(fd);
	return n < 0 ? 1 : 0;
}
