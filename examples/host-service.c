/* SPDX-License-Identifier: MIT */
/*
 * host-service.c - a VM service on the host: greets every peer that connects
 * and echoes what it sends. The host half of the guide's first example
 * (docs/guide.md); its guest half is guest-client.c.
 *
 *   host-service [--once] [SERVICE-GUID]
 *
 * The service must be registered and enabled on the host first, e.g.
 *   vmsvc service add greeter --guid 3049197c-facb-11e6-bd58-64006a7986d3
 * Build: cc host-service.c $(pkg-config --cflags --libs vmsvc)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <vmsvc/vmsvc.h>

/* A VSOCK-template GUID: Linux guests reach it on vsock port 0x3049197c. */
static const char *default_service = "3049197c-facb-11e6-bd58-64006a7986d3";

/* Greets the peer, then echoes until it half-closes. */
static void serve(int conn, const struct sockaddr_hv *peer)
{
	char vm[HV_GUID_STRSIZE], msg[128], buf[4096];
	ssize_t n;

	hv_guid_format(&peer->VmId, vm, sizeof(vm));
	snprintf(msg, sizeof(msg), "Hello from the host, %s!\n", vm);
	if (write(conn, msg, strlen(msg)) < 0)
		return;
	while ((n = read(conn, buf, sizeof(buf))) > 0)
		if (write(conn, buf, (size_t)n) != n)
			return;
}

int main(int argc, char **argv)
{
	struct sockaddr_hv addr = { .Family = AF_HYPERV, .VmId = HV_GUID_WILDCARD };
	int once = argc > 1 && strcmp(argv[1], "--once") == 0;
	const char *service = argc > 1 + once ? argv[1 + once] : default_service;
	int fd;

	if (hv_guid_parse(service, &addr.ServiceId) < 0) {
		fprintf(stderr, "usage: host-service [--once] [SERVICE-GUID]\n");
		return 2;
	}
	/* SOCKET, BIND (HV_GUID_WILDCARD: every VM and the host), LISTEN */
	fd = hv_socket(SOCK_STREAM, HV_PROTOCOL_RAW);
	if (fd < 0 || hv_bind(fd, &addr) < 0 || hv_listen(fd, 16) < 0) {
		/* EACCES: not registered, disabled, or not ours; ENOENT: no vmsvcd */
		fprintf(stderr, "host-service: cannot listen for %s: %s\n", service,
			strerror(errno));
		return 1;
	}
	fprintf(stderr, "host-service: listening for %s\n", service);
	do {
		struct sockaddr_hv peer;
		int conn = hv_accept(fd, &peer);

		if (conn < 0) {
			fprintf(stderr, "host-service: accept: %s\n", strerror(errno));
			return 1;
		}
		serve(conn, &peer);
		hv_close(conn);
	} while (!once);
	hv_close(fd);
	return 0;
}
