/* SPDX-License-Identifier: MIT */
/*
 * vmsvc.c - the vmsvc command: global options, then a table of subcommands,
 * one file each (cmd-*.c).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli-kvp.h"
#include "cli.h"
#include "util.h"

static const struct cli_command commands[] = {
	{ "service", cmd_service, "register, list, enable, disable and remove VM services" },
	{ "vm", cmd_vm, "define VMs, see their heartbeat, shut them down, print QEMU options" },
	{ "exec", cmd_exec, "run a command in a VM through its guest agent (no network)" },
	{ "shell", cmd_shell, "a login shell in a VM through its guest agent" },
	{ "cp", cmd_cp, "copy files and folders between the host and a VM (verified, atomic)" },
	{ "nc", cmd_nc, "connect to a VM service and bridge it to stdin/stdout" },
	{ "listen", cmd_listen, "listen for a VM service (bridge, --echo or --exec)" },
	{ "stats", cmd_stats, "connection counters per service and per VM (vmsvcd)" },
	{ "guid", cmd_guid, "make and inspect service GUIDs (VSOCK template)" },
	{ "kvp", cmd_kvp, "a VM's key-value pairs, from the host or inside the guest" },
};

static const char *config_dir_opt;
static const char *runtime_dir_opt;

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("vmsvc: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("vmsvc: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vmsvc %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
	return EXIT_USAGE;
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

const char *cli_config_dir(void)
{
	const char *env = getenv("VMSVC_CONFIG_DIR");

	if (config_dir_opt)
		return config_dir_opt;
	return env && *env ? env : "/etc/vmsvc";
}

const char *cli_runtime_dir(void)
{
	const char *env = getenv("VMSVC_RUNTIME_DIR");

	if (runtime_dir_opt)
		return runtime_dir_opt;
	return env && *env ? env : "/run/vmsvc";
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: vmsvc [--config-dir DIR] [--runtime-dir DIR] COMMAND [ARGS...]\n\n"
		     "Hyper-V style VM services for Linux hosts and guests.\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\nOptions:\n"
		"  --config-dir DIR   registry and VM definitions (default $VMSVC_CONFIG_DIR or "
		"/etc/vmsvc)\n"
		"  --runtime-dir DIR  vmsvcd's sockets (default $VMSVC_RUNTIME_DIR or /run/vmsvc)\n"
		"  -h, --help         this help; 'vmsvc COMMAND --help' for a command\n"
		"  --version          print the version\n\n"
		"Exit status: 0 success, 1 failure, 2 wrong usage.\n");
}

/* Consumes the global options before the command name; returns the index of
 * the command, or a negative exit code (as -(code+1)) when done. */
static int global_options(int argc, char **argv)
{
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return -(EXIT_OK + 1);
		} else if (strcmp(a, "--version") == 0) {
			printf("vmsvc %s\n", VMSVC_VERSION);
			return -(EXIT_OK + 1);
		} else if (strcmp(a, "--config-dir") == 0 || strcmp(a, "--runtime-dir") == 0) {
			if (i + 1 >= argc)
				return -(cli_usage_error(NULL, "%s needs a folder", a) + 1);
			if (a[2] == 'c')
				config_dir_opt = argv[i + 1];
			else
				runtime_dir_opt = argv[i + 1];
			i += 2;
		} else {
			return -(cli_usage_error(NULL, "unknown option '%s'", a) + 1);
		}
	}
	return i;
}

int main(int argc, char **argv)
{
	int i = global_options(argc, argv);

	if (i < 0)
		return -i - 1;
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t c = 0; c < ARRAY_SIZE(commands); c++)
		if (strcmp(argv[i], commands[c].name) == 0)
			return commands[c].run(argc - i, argv + i);
	return cli_usage_error(NULL, "unknown command '%s'", argv[i]);
}
