/* SPDX-License-Identifier: MIT */
/*
 * cli-config.c - helpers shared by the subcommands that read the config
 * folder (service, vm): problem reports, JSON output, option errors.
 */
#include <getopt.h>
#include <json-c/json.h>
#include <string.h>

#include "cli.h"
#include "conffile.h"

void cli_print_problems(const struct conf_problems *p, const char *what)
{
	size_t files = 0;

	for (size_t i = 0; i < p->count; i++) {
		const struct conf_problem *e = &p->items[i];
		if (e->line)
			fprintf(stderr, "vmsvc: warning: %s:%u: %s\n", e->file, e->line,
				e->message);
		else
			fprintf(stderr, "vmsvc: warning: %s: %s\n", e->file, e->message);
		if (i == 0 || strcmp(e->file, p->items[i - 1].file) != 0)
			files++;
	}
	if (files)
		fprintf(stderr, "vmsvc: warning: %zu %s %s skipped until fixed (files in %s)\n",
			files, what, files == 1 ? "entry is" : "entries are", cli_config_dir());
}

void cli_print_json(struct json_object *o)
{
	printf("%s\n",
	       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
}

int cli_option_error(const char *cmd, int c, char **argv)
{
	const char *opt = optind > 0 ? argv[optind - 1] : "?";

	if (c == ':')
		return cli_usage_error(cmd, "option '%s' needs a value", opt);
	if (optopt && strncmp(opt, "--", 2) != 0)
		return cli_usage_error(cmd, "unknown option '-%c'", optopt);
	return cli_usage_error(cmd, "unknown option '%s'", opt);
}
