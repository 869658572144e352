/* SPDX-License-Identifier: MIT */
/*
 * cmd-shell.c - vmsvc shell VM [-u USER]: a login shell in a VM on a
 * terminal, through its guest agent (PowerShell Direct's Enter-PSSession).
 */
#include <getopt.h>
#include <unistd.h>

#include "cli.h"
#include "session.h"

static void shell_usage(FILE *out)
{
	fprintf(out, "Usage: vmsvc shell VM [-u USER]\n\n"
		     "Opens USER's login shell in VM on a terminal, through the guest's\n"
		     "vmsvc-agent (no network needed). The host terminal is raw while the shell\n"
		     "runs (Ctrl-C goes to the guest's foreground job) and is restored on every\n"
		     "way out; its size follows the host window.\n\n"
		     "  VM               a VM's name or VmId\n"
		     "  -u, --user USER  the guest user (name or uid; default: the one the\n"
		     "                   guest's agent.conf maps you to, root for root)\n\n"
		     "SIGTERM or SIGHUP (the terminal closed) end the session: the guest hangs\n"
		     "up the shell, and the status is 128+N.\n\n"
		     "Exit status: the shell's; 125 vmsvc failed (VM unknown or not running, no\n"
		     "agent, not permitted, the connection lost); 2 wrong usage.\n");
}

int cmd_shell(int argc, char **argv)
{
	static const struct option opts[] = { { "user", required_argument, NULL, 'u' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	static const char *no_args[] = { NULL };
	struct cli_session s = { .cmd = "shell",
				 .argv = no_args,
				 .flags = SESS_EXEC_PTY | SESS_EXEC_LOGIN,
				 .shell = true };
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":u:h", opts, NULL)) != -1) {
		if (c == 'h') {
			shell_usage(stdout);
			return EXIT_OK;
		}
		if (c != 'u')
			return cli_option_error("shell", c, argv);
		s.user = optarg;
	}
	if (argc - optind != 1)
		return cli_usage_error("shell", "%s", argc - optind ? "one VM only" : "which VM?");
	s.vm = argv[optind];
	return cli_session_run(&s);
}
