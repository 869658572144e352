/* SPDX-License-Identifier: MIT */
/*
 * guest-service.c - a VM service inside a guest, for host programs
 * (host-client.c): listens bound to HV_GUID_PARENT, so only the host may
 * connect, greets it and echoes what it sends.
 *
 *   guest-service [--once] [SERVICE-GUID]
 *
 * The host must have the service registered and enabled: vmsvcd refuses
 * connections to services it does not know. Ports below 1024 need root in
 * the guest (no unprivileged guest user can then take the service's place).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <vmsvc/vmsvc.h>

static const char *default_service = "3049197c-facb-11e6-bd58-64006a7986d3";

int main(int argc, char **argv)
{
	/* Bound to HV_GUID_PARENT: AF_VSOCK port Data1, connections from CID 2 only. */
	struct sockaddr_hv addr = { .Family = AF_HYPERV, .VmId = HV_GUID_PARENT };
	int once = argc > 1 && strcmp(argv[1], "--once") == 0;
	const char *service = argc > 1 + once ? argv[1 + once] : default_service;
	static const char greeting[] = "Hello from the guest!\n";
	int fd;

	if (hv_guid_parse(service, &addr.ServiceId) < 0) {
		fprintf(stderr, "usage: guest-service [--once] [SERVICE-GUID]\n");
		return 2;
	}
	fd = hv_socket(SOCK_STREAM, HV_PROTOCOL_RAW);
	if (fd < 0 || hv_bind(fd, &addr) < 0 || hv_listen(fd, 4) < 0) {
		fprintf(stderr, "guest-service: cannot listen for %s: %s\n", service,
			strerror(errno));
		return 1;
	}
	fprintf(stderr, "guest-service: listening for %s\n", service);
	do {
		char buf[4096];
		ssize_t n;
		int conn = hv_accept(fd, NULL);

		if (conn < 0) {
			fprintf(stderr, "guest-service: accept: %s\n", strerror(errno));
			return 1;
		}
		if (write(conn, greeting, sizeof(greeting) - 1) > 0)
			while ((n = read(conn, buf, sizeof(buf))) > 0)
				if (write(conn, buf, (size_t)n) != n)
					break;
		hv_close(conn);
	} while (!once);
	hv_close(fd);
	return 0;
}
