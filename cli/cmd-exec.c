/* SPDX-License-Identifier: MIT */
/*
 * cmd-exec.c - vmsvc exec VM [OPTIONS] -- CMD [ARG...]: run a command in a
 * VM through its guest agent (the VM Session Service), with stdin, stdout
 * and stderr streamed and the command's exit status as ours.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "session.h"

static void exec_usage(FILE *out)
{
	fprintf(out,
		"Usage: vmsvc exec VM [OPTIONS] [--] CMD [ARG...]\n\n"
		"Runs CMD in VM through the guest's vmsvc-agent (no network needed): stdin,\n"
		"stdout and stderr are streamed as they come, and the exit status is CMD's.\n\n"
		"  VM                  a VM's name or VmId\n"
		"  -u, --user USER     run as this guest user (name or uid; default: the one\n"
		"                      the guest's agent.conf maps you to, root for root)\n"
		"  -w, --workdir DIR   start in DIR (default: the user's home)\n"
		"  -e, --env NAME=VALUE  set a variable (repeatable); -e NAME passes ours\n"
		"  -t, --tty           run CMD on a terminal (stdout and stderr merged)\n"
		"  -T, --no-tty        never a terminal (default: a terminal only when stdin\n"
		"                      and stdout are terminals)\n"
		"  -n, --no-stdin      stdin from /dev/null (keeps ours for a loop around us)\n"
		"      --timeout S     stop CMD after S seconds (SIGHUP, SIGKILL 2 s later);\n"
		"                      exit status 124\n\n"
		"SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are passed on to CMD's\n"
		"process group (three SIGINTs close the session); if vmsvc dies, the guest\n"
		"hangs up CMD. Only root and the users the VM's definition allows\n"
		"(SessionUsers=, SessionGroups=) may open a session.\n\n"
		"Exit status: CMD's; 128+N when CMD was killed by signal N; 124 timeout;\n"
		"125 vmsvc failed (VM unknown or not running, no agent, not permitted);\n"
		"126 CMD cannot be executed; 127 CMD not found; 2 wrong usage.\n");
}

struct exec_opts {
	struct cli_session s;
	const char **env;
	bool tty, no_tty;
};

/* Adds a heap copy of NAME=VALUE (or NAME=ours for -e NAME) to o->env. */
static int add_env(struct exec_opts *o, const char *arg)
{
	const char **env = realloc(o->env, (o->s.envc + 2) * sizeof(*env));
	const char *val = getenv(arg);
	char *v;

	if (!env)
		return -ENOMEM;
	o->env = env;
	if (arg[0] == '=' || arg[0] == '\0')
		return cli_usage_error("exec", "-e wants NAME=VALUE, not '%s'", arg), -EINVAL;
	if (!strchr(arg, '=') && !val)
		return cli_usage_error("exec", "-e %s: no such variable here", arg), -EINVAL;
	if ((strchr(arg, '=') ? (v = strdup(arg)) == NULL : asprintf(&v, "%s=%s", arg, val) < 0))
		return -ENOMEM;
	env[o->s.envc++] = v;
	env[o->s.envc] = NULL;
	return 0;
}

static int parse_timeout(struct exec_opts *o, const char *arg)
{
	char *end;
	double s = strtod(arg, &end);

	if (*end || end == arg || !(s > 0) || s > 4294967.0)
		return cli_usage_error("exec", "--timeout wants seconds (e.g. 30 or 0.5), not '%s'",
				       arg);
	o->s.timeout_ms = (uint32_t)(s * 1000 + 0.5);
	if (!o->s.timeout_ms)
		o->s.timeout_ms = 1;
	return -1;
}

/* Options until the first operand: -1 to go on, or an exit code. */
static int parse_options(struct exec_opts *o, int argc, char **argv)
{
	static const struct option opts[] = { { "user", required_argument, NULL, 'u' },
					      { "workdir", required_argument, NULL, 'w' },
					      { "env", required_argument, NULL, 'e' },
					      { "tty", no_argument, NULL, 't' },
					      { "no-tty", no_argument, NULL, 'T' },
					      { "no-stdin", no_argument, NULL, 'n' },
					      { "timeout", required_argument, NULL, 'O' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	int c;

	while ((c = getopt_long(argc, argv, "+:u:w:e:tTnh", opts, NULL)) != -1) {
		if (c == 'h')
			return exec_usage(stdout), EXIT_OK;
		if (c == 'u')
			o->s.user = optarg;
		else if (c == 'w')
			o->s.cwd = optarg;
		else if (c == 'e' && add_env(o, optarg) < 0)
			return EXIT_USAGE;
		else if (c == 't')
			o->tty = true;
		else if (c == 'T')
			o->no_tty = true;
		else if (c == 'n')
			o->s.flags |= SESS_EXEC_STDIN_NULL;
		else if (c == 'O' && parse_timeout(o, optarg) >= 0)
			return EXIT_USAGE;
		else if (c == '?' || c == ':')
			return cli_option_error("exec", c, argv);
	}
	return -1;
}

int cmd_exec(int argc, char **argv)
{
	struct exec_opts o = { .s = { .cmd = "exec" } };
	int r;

	optind = 1;
	/* Options may come before and after VM; CMD's own options are CMD's. */
	r = parse_options(&o, argc, argv);
	if (r < 0 && optind < argc && strcmp(argv[optind - 1], "--") != 0) {
		o.s.vm = argv[optind];
		optind++;
		r = parse_options(&o, argc, argv);
	} else if (r < 0 && optind < argc) {
		o.s.vm = argv[optind++];
	}
	if (r >= 0)
		goto out;
	r = EXIT_USAGE;
	if (!o.s.vm)
		cli_usage_error("exec", "which VM? (vmsvc exec VM [OPTIONS] -- CMD [ARG...])");
	else if (optind >= argc)
		cli_usage_error("exec", "no command to run (vmsvc exec %s -- CMD [ARG...])",
				o.s.vm);
	else if (o.tty && o.no_tty)
		cli_usage_error("exec", "-t and -T exclude each other");
	else
		r = -1;
	if (r >= 0)
		goto out;
	o.s.argv = (const char **)argv + optind;
	o.s.argc = (uint32_t)(argc - optind);
	o.s.env = o.env;
	if (o.tty || (!o.no_tty && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)))
		o.s.flags |= SESS_EXEC_PTY;
	r = cli_session_run(&o.s);
out:
	for (uint32_t i = 0; i < o.s.envc; i++)
		free((char *)o.env[i]);
	free(o.env);
	return r;
}
