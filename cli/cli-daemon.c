/* SPDX-License-Identifier: MIT */
/* cli-daemon.c - talking to vmsvcd from the CLI: errors people can act on. */
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "ctlproto.h"

void cli_daemon_error(int err)
{
	if (err == -ENOENT || err == -ECONNREFUSED)
		cli_error("vmsvcd is not running (no %s/%s); start it with 'vmsvcd'",
			  cli_runtime_dir(), CTL_SOCKET_NAME);
	else if (err == -EACCES)
		cli_error("cannot reach vmsvcd at %s/%s: permission denied", cli_runtime_dir(),
			  CTL_SOCKET_NAME);
	else
		cli_error("cannot talk to vmsvcd at %s/%s: %s", cli_runtime_dir(), CTL_SOCKET_NAME,
			  strerror(-err));
}
