/* SPDX-License-Identifier: MIT */
/*
 * cli-tty.c - the host terminal for exec -t and shell: raw mode, and its
 * restoration on every way out (normal return, error, the signals the
 * session turns into a return, and exit() through atexit).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

static struct termios saved;
static int saved_fd = -1;

void cli_tty_restore(void)
{
	if (saved_fd < 0)
		return;
	tcsetattr(saved_fd, TCSADRAIN, &saved);
	saved_fd = -1;
}

int cli_tty_raw(int fd)
{
	static bool registered;
	struct termios t;

	if (tcgetattr(fd, &saved) < 0)
		return -errno;
	t = saved;
	cfmakeraw(&t);
	/* Output processing stays as it was: the guest's terminal already
	 * turned its newlines into CR LF. */
	t.c_oflag = saved.c_oflag & ~(tcflag_t)OPOST;
	if (!registered) {
		atexit(cli_tty_restore);
		registered = true;
	}
	if (tcsetattr(fd, TCSADRAIN, &t) < 0)
		return -errno;
	saved_fd = fd;
	return 0;
}

int cli_tty_size(int fd, struct winsize *ws)
{
	if (ioctl(fd, TIOCGWINSZ, ws) < 0 || ws->ws_row == 0 || ws->ws_col == 0)
		return -errno ? -errno : -EINVAL;
	return 0;
}
