/* SPDX-License-Identifier: MIT */
/*
 * cli-config.c - helpers shared by the subcommands that read the config
 * folder (service, vm): problem reports, JSON output, option errors, and
 * the parts of a table command family (cli_table_*) that they share, list
 * and show among them.
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

int cli_table_dispatch(const struct cli_table *c, const struct cli_subcommand *sub, size_t n,
		       int argc, char **argv)
{
	char names[256] = "";

	if (argc < 2) {
		for (size_t i = 0; i < n; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", sub[i].name);
		return cli_usage_error(c->cmd, "missing subcommand (%s)", names);
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		c->usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(argv[1], sub[i].name) == 0)
			return sub[i].run(argc - 1, argv + 1);
	return cli_usage_error(c->cmd, "unknown subcommand '%s'", argv[1]);
}

int cli_table_getopt_done(const struct cli_table *c, int opt, char **argv)
{
	if (opt == 'h') {
		c->usage(stdout);
		return EXIT_OK;
	}
	return cli_option_error(c->cmd, opt, argv);
}

int cli_table_parse_simple(const struct cli_table *c, int argc, char **argv, bool allow_json,
			   bool *json, int nargs)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	int opt;

	optind = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (opt == 'j' && allow_json)
			*json = true;
		else if (opt == 'j')
			return cli_usage_error(c->cmd, "%s has no --json", argv[0]);
		else
			return cli_table_getopt_done(c, opt, argv);
	}
	if (argc - optind < nargs)
		return cli_usage_error(c->cmd, "%s needs %s", argv[0], c->needs);
	if (argc - optind > nargs)
		return cli_usage_error(c->cmd, "unexpected argument '%s'", argv[optind + nargs]);
	return -1;
}

int cli_table_loaded(const struct cli_table *c, int r, const struct conf_problems *p)
{
	if (r < 0) {
		cli_error("cannot read %s/%s: %s", cli_config_dir(), c->dir, strerror(-r));
		return EXIT_FAIL;
	}
	cli_print_problems(p, c->what);
	return 0;
}

void cli_table_write_error(const struct cli_table *c, int err)
{
	cli_error("cannot write %s/%s: %s", cli_config_dir(), c->dir, strerror(-err));
}

void cli_table_list(const struct cli_table *c, const void *t, size_t n,
		    const void *(*at)(const void *t, size_t i), bool json)
{
	int w = 4;

	if (json) {
		json_object *a = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			json_object_array_add(a, c->json(at(t, i)));
		cli_print_json(a);
		json_object_put(a);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if ((int)strlen(c->name(at(t, i))) > w)
			w = (int)strlen(c->name(at(t, i)));
	/* The fifth column is as wide as its header when a sixth follows. */
	int w5 = c->columns[5] ? (int)strlen(c->columns[4]) : 0;
	printf("%-*s  %-36s  %-10s  %-8s  %-*s%s%s\n", w, c->columns[0], c->columns[1],
	       c->columns[2], c->columns[3], w5, c->columns[4], w5 ? "  " : "",
	       w5 ? c->columns[5] : "");
	for (size_t i = 0; i < n; i++) {
		struct cli_row row = { 0 };
		char id[HV_GUID_STRSIZE];
		c->row(at(t, i), &row);
		hv_guid_format(&row.id, id, sizeof(id));
		printf("%-*s  %-36s  %-10u  %-8s  %-*s%s%s\n", w, row.name, id, row.number,
		       row.state, w5, row.last, w5 ? "  " : "", w5 ? row.extra : "");
	}
}

void cli_table_show(const struct cli_table *c, const void *entry, bool json)
{
	if (json) {
		json_object *o = c->json(entry);
		cli_print_json(o);
		json_object_put(o);
	} else {
		c->show(entry);
	}
}
