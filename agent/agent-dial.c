/* SPDX-License-Identifier: MIT */
/*
 * agent-dial.c - the vsock dial-out (agent-dial.h).
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "agent-dial.h"
#include "util.h"

/* Binds fd to the highest free port in ADIAL_PORT_HIGH..LOW. */
static int bind_privileged(int fd)
{
	for (unsigned p = ADIAL_PORT_HIGH; p >= ADIAL_PORT_LOW; p--) {
		struct sockaddr_vm a = { .svm_family = AF_VSOCK,
					 .svm_cid = VMADDR_CID_ANY,
					 .svm_port = p };

		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return 0;
		if (errno != EADDRINUSE)
			return -errno;
	}
	return -EADDRINUSE;
}

int adial_vsock(void *ctx, uint16_t port, int *out)
{
	struct sockaddr_vm host = { .svm_family = AF_VSOCK,
				    .svm_cid = VMADDR_CID_HOST,
				    .svm_port = port };
	_cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int r;

	if (fd < 0)
		return -errno;
	r = bind_privileged(fd);
	if (r < 0)
		return r;
	if (connect(fd, (struct sockaddr *)&host, sizeof(host)) < 0 && errno != EINPROGRESS)
		return -errno;
	*out = TAKE_FD(fd);
	return 0;
}
