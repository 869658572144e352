/* SPDX-License-Identifier: MIT */
/*
 * cmd-stats.c - vmsvc stats: vmsvcd's connection counters per service (by
 * friendly name) and per VM, as a table, JSON, or OpenMetrics (with the
 * VMs' heartbeat and time sync too: cli-openmetrics.c).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "util.h"

static void stats_usage(FILE *out)
{
	fprintf(out,
		"Usage: vmsvc stats [--format=table|json|openmetrics | --json]\n\n"
		"Connection counters of the running vmsvcd, per service and per VM:\n"
		"connections accepted, refused (by reason: not registered, disabled, no\n"
		"listener, wrong VM, not permitted), active, and bytes each way.\n"
		"Loopback (host to host) connections count as accepted; their bytes do not\n"
		"pass through vmsvcd and are not counted.\n\n"
		"  --format=FORMAT  table (the default), json (vmsvcd's counters as they\n"
		"                   are) or openmetrics: the counters and, per VM, its\n"
		"                   state, heartbeat status, application health and time\n"
		"                   sync (status, mode, offset, delay) in the OpenMetrics\n"
		"                   text format, for Prometheus and node_exporter's textfile\n"
		"                   collector (vmsvc_* metrics, ending with '# EOF')\n"
		"  --json           the same as --format=json\n\n"
		"Exit status: 0 success, 1 failure (e.g. vmsvcd not running), 2 wrong usage.\n");
}

static int64_t field(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : "-";
}

/* A row's name: the entry's name, else its GUID. */
static const char *row_name(json_object *o)
{
	return strcmp(str(o, "name"), "-") ? str(o, "name") : str(o, "guid");
}

/* The first column's width: its title and every name of both tables. */
static int name_width(json_object *reply)
{
	static const char *const lists[] = { "services", "vms" };
	int w = (int)strlen("SERVICE");
	json_object *a;

	for (size_t l = 0; l < 2; l++)
		if (json_object_object_get_ex(reply, lists[l], &a))
			for (size_t i = 0; i < json_object_array_length(a); i++) {
				int n = (int)strlen(row_name(json_object_array_get_idx(a, i)));
				w = n > w ? n : w;
			}
	return w;
}

static void print_row(json_object *o, int w)
{
	json_object *ref = NULL;

	json_object_object_get_ex(o, "refused", &ref);
	printf("%-*s %8" PRId64 " %6" PRId64 " %14" PRId64 " %14" PRId64 "   %" PRId64 "/%" PRId64
	       "/%" PRId64 "/%" PRId64 "/%" PRId64 "\n",
	       w, row_name(o), field(o, "accepted"), field(o, "active"), field(o, "bytes_to_host"),
	       field(o, "bytes_to_guest"), field(ref, "not_registered"), field(ref, "disabled"),
	       field(ref, "no_listener"), field(ref, "wrong_vm"), field(ref, "not_permitted"));
}

static void print_table(json_object *reply)
{
	static const char head[] = "%-*s %8s %6s %14s %14s   %s\n";
	int w = name_width(reply);
	json_object *a;

	printf(head, w, "SERVICE", "ACCEPTED", "ACTIVE", "BYTES_TO_HOST", "BYTES_TO_GUEST",
	       "REFUSED unreg/disabled/nolistener/wrongvm/denied");
	if (json_object_object_get_ex(reply, "services", &a))
		for (size_t i = 0; i < json_object_array_length(a); i++)
			print_row(json_object_array_get_idx(a, i), w);
	printf("\n");
	printf(head, w, "VM", "ACCEPTED", "ACTIVE", "BYTES_TO_HOST", "BYTES_TO_GUEST",
	       "REFUSED unreg/disabled/nolistener/wrongvm/denied");
	if (json_object_object_get_ex(reply, "vms", &a))
		for (size_t i = 0; i < json_object_array_length(a); i++)
			print_row(json_object_array_get_idx(a, i), w);
}

enum stats_format { FMT_TABLE, FMT_JSON, FMT_OPENMETRICS };

/* The command line: 0 and *fmt, or an exit code. */
static int stats_args(int argc, char **argv, enum stats_format *fmt)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "format", required_argument, NULL, 'f' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	static const char *const names[] = { "table", "json", "openmetrics" };
	int opt;

	optind = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (opt == 'h') {
			stats_usage(stdout);
			return EXIT_OK;
		} else if (opt == 'j') {
			*fmt = FMT_JSON;
		} else if (opt == 'f') {
			size_t k = 0;
			while (k < ARRAY_SIZE(names) && strcmp(optarg, names[k]) != 0)
				k++;
			if (k == ARRAY_SIZE(names))
				return cli_usage_error("stats",
						       "unknown format '%s' (table, json or "
						       "openmetrics)",
						       optarg);
			*fmt = (enum stats_format)k;
		} else {
			return cli_option_error("stats", opt, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("stats", "unexpected argument '%s'", argv[optind]);
	return -1;
}

/* vmsvcd's reply to op ("stats", "status"): 0 and *reply, or EXIT_FAIL
 * after saying why. */
static int ask(const char *op, json_object **reply)
{
	int r = cli_daemon_call(op, reply);

	if (r == -EACCES || r == -EPROTO) {
		cli_error("vmsvcd refused: %s", str(*reply, "message"));
		json_object_put(*reply);
		*reply = NULL;
		return EXIT_FAIL;
	}
	if (r < 0) {
		cli_daemon_error(r);
		return EXIT_FAIL;
	}
	json_object_object_del(*reply, "ok");
	return 0;
}

int cmd_stats(int argc, char **argv)
{
	enum stats_format fmt = FMT_TABLE;
	json_object *reply = NULL, *status = NULL;
	int r = stats_args(argc, argv, &fmt);

	if (r >= 0)
		return r;
	if (ask("stats", &reply))
		return EXIT_FAIL;
	if (fmt == FMT_OPENMETRICS && ask("status", &status)) {
		json_object_put(reply);
		return EXIT_FAIL;
	}
	if (fmt == FMT_JSON)
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
	else if (fmt == FMT_OPENMETRICS)
		cli_openmetrics_print(stdout, reply, status);
	else
		print_table(reply);
	json_object_put(status);
	json_object_put(reply);
	return EXIT_OK;
}
