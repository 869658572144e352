/* SPDX-License-Identifier: MIT */
/*
 * guest-client.c - runs in a guest and talks to host-service.c on its host:
 * connects to HV_GUID_PARENT, prints the greeting and the echo of a message.
 *
 *   guest-client [SERVICE-GUID [MESSAGE]]
 *
 * Build: meson builds examples/guest-client-static, which runs in any guest;
 * by hand, from the source tree:
 *   cc -static -D_GNU_SOURCE -Iinclude -Ilib examples/guest-client.c lib/guid.c \
 *      lib/ctlproto.c lib/hvsock*.c $(pkg-config --static --libs json-c) -pthread
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
	/* From a guest, HV_GUID_PARENT is the host (AF_VSOCK CID 2, port = Data1). */
	struct sockaddr_hv host = { .Family = AF_HYPERV, .VmId = HV_GUID_PARENT };
	const char *service = argc > 1 ? argv[1] : default_service;
	const char *message = argc > 2 ? argv[2] : "ping from the guest\n";
	uint32_t timeout_ms = 5000;
	char buf[4096];
	ssize_t n;
	int fd;

	if (hv_guid_parse(service, &host.ServiceId) < 0) {
		fprintf(stderr, "usage: guest-client [SERVICE-GUID [MESSAGE]]\n");
		return 2;
	}
	fd = hv_socket(SOCK_STREAM, HV_PROTOCOL_RAW);
	if (fd < 0)
		return 1;
	/* Optional: wait up to 5 s instead of the default 2 s. */
	hv_setsockopt(fd, HV_PROTOCOL_RAW, HVSOCKET_CONNECT_TIMEOUT, &timeout_ms,
		      sizeof(timeout_ms));
	if (hv_connect(fd, &host) < 0) {
		/* ECONNRESET: the host refused (service not registered or disabled);
		 * ECONNREFUSED: registered, but nobody listens; ETIMEDOUT */
		fprintf(stderr, "guest-client: connect to the host: %s\n", strerror(errno));
		return 1;
	}
	/* Send the message, then half-close: the service echoes until it sees
	 * the end of our stream, then closes its side. */
	if (write(fd, message, strlen(message)) < 0 || shutdown(fd, SHUT_WR) < 0) {
		fprintf(stderr, "guest-client: send: %s\n", strerror(errno));
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	hv_close(fd);
	return n < 0 ? 1 : 0;
}
