/* SPDX-License-Identifier: MIT */
/*
 * cmd-service.c - vmsvc service: the service registry
 * (CONFIG/services.d/<guid>.conf, see conf/registry.h).
 *
 * Exit codes: 2 for a malformed command line or argument (bad GUID, port out
 * of range, invalid name), 1 when the operation fails (unknown service,
 * duplicate, unknown user, unwritable folder). Bad input changes nothing.
 */
#include <getopt.h>
#include <grp.h>
#include <json-c/json.h>
#include <pwd.h>
#include <string.h>

#include <vmsvc/vmsvc.h>

#include "cli.h"
#include "registry.h"
#include "util.h"

#define CMD "service"

static void service_usage(FILE *out)
{
	fprintf(out,
		"Usage: vmsvc service add NAME [--guid GUID | --port N] [--user USER]\n"
		"                    [--group GROUP] [--description TEXT] [--disabled]\n"
		"       vmsvc service list [--json]\n"
		"       vmsvc service show NAME|GUID [--json]\n"
		"       vmsvc service enable|disable NAME|GUID\n"
		"       vmsvc service remove NAME|GUID\n\n"
		"Registers the VM services that guests may reach (CONFIG/services.d/GUID.conf,\n"
		"CONFIG = $VMSVC_CONFIG_DIR, --config-dir or /etc/vmsvc).\n\n"
		"  add      register NAME and print its GUID. Without --guid and --port the\n"
		"           GUID is the VSOCK-template GUID of a random free port in\n"
		"           1024..2147483647; --port N uses the template GUID of port N;\n"
		"           --guid takes a template GUID (its port is implied) or any other\n"
		"           GUID together with --port. Ports are 1..4294967294 (below 1024\n"
		"           only privileged guest programs can use them).\n"
		"           --user/--group: who may listen for the service on the host\n"
		"           (root always may). --disabled: register it switched off.\n"
		"  list     NAME GUID PORT STATE OWNER of every valid entry (OWNER in-box:\n"
		"           registered out of the box, such as the VM Session Service)\n"
		"  show     one entry\n"
		"  enable, disable  switch an entry on or off (comments in the file stay)\n"
		"  remove   delete an entry (also a broken one, given its GUID)\n\n"
		"NAME: 1 to 160 bytes of UTF-8 without control characters, no blank at\n"
		"either end or before ';', not starting with '-', not a GUID; case-sensitive.\n"
		"The in-box integration services also go by their short names (session,\n"
		"heartbeat, shutdown) in any case: 'vmsvc service disable heartbeat'.\n"
		"Entries with mistakes (a typo in a key, a bad value) are reported as\n"
		"'FILE:LINE: problem' warnings and skipped; the others keep working. Of two\n"
		"entries with the same name or port, the one whose file name sorts first\n"
		"is used and the other is reported.\n\n"
		"Exit status: 0 success, 1 failure, 2 wrong usage.\n");
}

/* --- how list, show and add print a service --- */

static json_object *json_string_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *service_json(const void *entry)
{
	const struct reg_service *s = entry;
	json_object *o = json_object_new_object();
	char guid[HV_GUID_STRSIZE];

	hv_guid_format(&s->id, guid, sizeof(guid));
	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "guid", json_object_new_string(guid));
	json_object_object_add(o, "port", json_object_new_int64(s->port));
	json_object_object_add(o, "enabled", json_object_new_boolean(s->enabled));
	json_object_object_add(o, "user", json_string_or_null(s->user));
	json_object_object_add(o, "group", json_string_or_null(s->group));
	json_object_object_add(o, "description", json_string_or_null(s->description));
	json_object_object_add(o, "inbox", json_object_new_boolean(s->inbox));
	return o;
}

/* "user", "user:group", ":group", "root", or "in-box" (vmsvc's own). */
static void format_owner(const struct reg_service *s, char *buf, size_t size)
{
	if (s->inbox)
		snprintf(buf, size, "in-box");
	else if (!s->user && !s->group)
		snprintf(buf, size, "root");
	else
		snprintf(buf, size, "%s%s%s", s->user ? s->user : "", s->group ? ":" : "",
			 s->group ? s->group : "");
}

static const char *service_name(const void *entry)
{
	return ((const struct reg_service *)entry)->name;
}

static void service_row(const void *entry, struct cli_row *row)
{
	const struct reg_service *s = entry;

	_Static_assert(sizeof(row->last) >= 2 * REG_ACCOUNT_MAX + 8, "room for USER:GROUP");
	row->name = s->name;
	row->id = s->id;
	row->number = s->port;
	row->state = s->enabled ? "enabled" : "disabled";
	format_owner(s, row->last, sizeof(row->last));
}

static void service_show(const void *entry)
{
	const struct reg_service *s = entry;
	char guid[HV_GUID_STRSIZE], file[REG_FILE_SIZE];

	hv_guid_format(&s->id, guid, sizeof(guid));
	reg_entry_file(&s->id, file);
	printf("name:         %s\n"
	       "guid:         %s\n"
	       "port:         %u\n"
	       "state:        %s\n"
	       "user:         %s\n"
	       "group:        %s\n"
	       "description:  %s\n"
	       "in-box:       %s\n"
	       "file:         %s/%s\n",
	       s->name, guid, s->port, s->enabled ? "enabled" : "disabled", s->user ? s->user : "-",
	       s->group ? s->group : "-", s->description ? s->description : "-",
	       s->inbox ? "yes (registered out of the box; can be disabled, not removed)" : "no",
	       cli_config_dir(), file);
}

static const struct cli_table table = {
	.cmd = CMD,
	.dir = REG_DIR,
	.what = "service",
	.needs = "a service NAME or GUID",
	.usage = service_usage,
	.columns = { "NAME", "GUID", "PORT", "STATE", "OWNER" },
	.name = service_name,
	.row = service_row,
	.json = service_json,
	.show = service_show,
};

/* Loads the registry and prints its problems. Returns 0 or EXIT_FAIL. */
static int load_table(struct reg_table **t)
{
	int r = reg_load(cli_config_dir(), t);

	return cli_table_loaded(&table, r, r < 0 ? NULL : reg_problems(*t));
}

/* Finds NAME|GUID or explains why not. */
static const struct reg_service *lookup(const struct reg_table *t, const char *key)
{
	const struct reg_service *s = reg_lookup(t, key);
	const struct reg_inbox *b = s ? NULL : reg_inbox_lookup(key);
	char file[REG_FILE_SIZE];
	hv_guid_t id;

	/* An in-box service also by its short name ("heartbeat"), any case. */
	if (b && hv_guid_parse(b->guid, &id) == 0)
		s = reg_find_guid(t, &id);
	if (s)
		return s;
	if (hv_guid_parse(key, &id) == 0 && reg_is_broken(t, &id)) {
		reg_entry_file(&id, file);
		cli_error("%s/%s is broken (see the warnings above); fix it or remove it with "
			  "'vmsvc service remove %s'",
			  cli_config_dir(), file, key);
	} else {
		cli_error("no service '%s' in the registry (see 'vmsvc service list')", key);
	}
	return NULL;
}

/* --- add --- */

struct add_args {
	struct reg_service svc;
	bool have_guid, have_port;
};

static int check_text_arg(const char *what, const char *v, int (*check)(const char *, char *))
{
	char why[CONF_WHY_SIZE];

	if (check(v, why) < 0)
		return cli_usage_error(CMD, "invalid %s '%s': %s", what, v, why);
	return 0;
}

/* Checks the address options and fills in svc.id/port where given. */
static int check_address(struct add_args *a, const char *guid_arg)
{
	uint32_t tport;

	if (a->have_guid && (hv_guid_equal(&a->svc.id, &HV_GUID_ZERO) ||
			     hv_guid_equal(&a->svc.id, &HV_GUID_BROADCAST)))
		return cli_usage_error(CMD, "GUID %s cannot be a service id", guid_arg);
	if (a->have_guid && hv_guid_to_port(&a->svc.id, &tport) == 0) {
		if (reg_check_port(tport) < 0)
			return cli_usage_error(CMD,
					       "GUID %s is the VSOCK template of port %u, "
					       "which is not usable",
					       guid_arg, tport);
		if (a->have_port && a->svc.port != tport)
			return cli_usage_error(CMD,
					       "--port %u disagrees with --guid %s, the VSOCK "
					       "template GUID of port %u (give one of them)",
					       a->svc.port, guid_arg, tport);
	} else if (a->have_guid && !a->have_port) {
		return cli_usage_error(CMD,
				       "GUID %s is not a VSOCK-template GUID, so it needs "
				       "--port N (the vsock port guests connect to)",
				       guid_arg);
	}
	return 0;
}

static int check_accounts(const struct reg_service *s)
{
	if (s->user && !getpwnam(s->user)) {
		cli_error("user '%s' does not exist", s->user);
		return EXIT_FAIL;
	}
	if (s->group && !getgrnam(s->group)) {
		cli_error("group '%s' does not exist", s->group);
		return EXIT_FAIL;
	}
	return 0;
}

static int parse_port_arg(const char *v, uint32_t *port)
{
	int r = conf_parse_u32(v, port);

	if (r == -EINVAL)
		return cli_usage_error(CMD, "port '%s' is not a decimal number", v);
	if (r < 0 || reg_check_port(*port) < 0)
		return cli_usage_error(CMD,
				       "port %s is out of range: use 1..4294967294 (0 and "
				       "4294967295, VMADDR_PORT_ANY, are not usable)",
				       v);
	return 0;
}

/* Returns -1 to go on, or an exit code. */
static int parse_add_args(int argc, char **argv, struct add_args *a)
{
	static const struct option opts[] = { { "guid", required_argument, NULL, 'g' },
					      { "port", required_argument, NULL, 'p' },
					      { "user", required_argument, NULL, 'u' },
					      { "group", required_argument, NULL, 'G' },
					      { "description", required_argument, NULL, 'd' },
					      { "disabled", no_argument, NULL, 'D' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	const char *guid_arg = NULL;
	int c, r;

	a->svc.enabled = true;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		r = 0;
		switch (c) {
		case 'g':
			guid_arg = optarg;
			a->have_guid = true;
			r = cli_parse_guid(optarg, &a->svc.id) < 0 ? EXIT_USAGE : 0;
			break;
		case 'p':
			a->have_port = true;
			r = parse_port_arg(optarg, &a->svc.port);
			break;
		case 'u':
			r = check_text_arg("user", optarg, reg_check_account);
			a->svc.user = optarg;
			break;
		case 'G':
			r = check_text_arg("group", optarg, reg_check_account);
			a->svc.group = optarg;
			break;
		case 'd':
			r = check_text_arg("description", optarg, reg_check_description);
			a->svc.description = optarg;
			break;
		case 'D':
			a->svc.enabled = false;
			break;
		default:
			return cli_table_getopt_done(&table, c, argv);
		}
		if (r)
			return r;
	}
	if (optind == argc)
		return cli_usage_error(CMD, "add needs a NAME");
	if (optind + 1 < argc)
		return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind + 1]);
	a->svc.name = argv[optind];
	r = check_text_arg("service name", a->svc.name, reg_check_name);
	if (!r)
		r = check_address(a, guid_arg);
	return r ? r : -1;
}

static void conflict_error(const struct add_args *a, const struct reg_conflict *c)
{
	const struct reg_service *svc = &a->svc;
	char file[REG_FILE_SIZE], guid[HV_GUID_STRSIZE];

	reg_entry_file(&c->id, file);
	hv_guid_format(&c->id, guid, sizeof(guid));
	if (c->kind == REG_CONFLICT_NAME)
		cli_error("service '%s' already exists (%s)", c->name, file);
	else if (c->kind == REG_CONFLICT_GUID && c->broken)
		cli_error("%s already exists but does not load (see 'vmsvc service list'); fix "
			  "or remove it first",
			  file);
	else if (c->kind == REG_CONFLICT_GUID && a->have_guid)
		cli_error("GUID %s is already registered as service '%s' (%s)", guid, c->name,
			  file);
	else /* a port conflict, or a GUID implied by the port */
		cli_error("port %u is already used by service '%s' (%s)", svc->port, c->name, file);
}

static int svc_add(int argc, char **argv)
{
	struct add_args a = { 0 };
	struct reg_conflict conflict;
	char guid[HV_GUID_STRSIZE];
	int r = parse_add_args(argc, argv, &a);

	if (r >= 0)
		return r;
	if (check_accounts(&a.svc))
		return EXIT_FAIL;
	r = reg_add(cli_config_dir(), &a.svc, &conflict);
	if (r == -EEXIST) {
		conflict_error(&a, &conflict);
		return EXIT_FAIL;
	}
	if (r == -ENOSPC) {
		cli_error("found no free port; give one with --port");
		return EXIT_FAIL;
	}
	if (r < 0) {
		cli_table_write_error(&table, r);
		return EXIT_FAIL;
	}
	hv_guid_format(&a.svc.id, guid, sizeof(guid));
	printf("%s\n", guid);
	return EXIT_OK;
}

/* --- list, show --- */

static const void *service_at(const void *t, size_t i)
{
	return reg_at(t, i);
}

static int svc_list(int argc, char **argv)
{
	_cleanup_(reg_table_freep) struct reg_table *t = NULL;
	bool json = false;
	int r = cli_table_parse_simple(&table, argc, argv, true, &json, 0);

	if (r >= 0)
		return r;
	if (load_table(&t))
		return EXIT_FAIL;
	cli_table_list(&table, t, reg_count(t), service_at, json);
	return EXIT_OK;
}

static int svc_show(int argc, char **argv)
{
	_cleanup_(reg_table_freep) struct reg_table *t = NULL;
	const struct reg_service *s;
	bool json = false;
	int r = cli_table_parse_simple(&table, argc, argv, true, &json, 1);

	if (r >= 0)
		return r;
	if (load_table(&t))
		return EXIT_FAIL;
	s = lookup(t, argv[optind]);
	if (!s)
		return EXIT_FAIL;
	cli_table_show(&table, s, json);
	return EXIT_OK;
}

/* --- enable, disable, remove --- */

static int svc_set(int argc, char **argv, bool enabled)
{
	_cleanup_(reg_table_freep) struct reg_table *t = NULL;
	const struct reg_service *s;
	bool json = false;
	int r = cli_table_parse_simple(&table, argc, argv, false, &json, 1);

	if (r >= 0)
		return r;
	if (load_table(&t))
		return EXIT_FAIL;
	s = lookup(t, argv[optind]);
	if (!s)
		return EXIT_FAIL;
	r = reg_set_enabled(cli_config_dir(), &s->id, enabled);
	if (r == -ENOENT) {
		cli_error("service '%s' was removed meanwhile", s->name);
		return EXIT_FAIL;
	}
	if (r == -EBADMSG) {
		cli_error("the entry of service '%s' changed and no longer loads; see 'vmsvc "
			  "service list'",
			  s->name);
		return EXIT_FAIL;
	}
	if (r < 0) {
		cli_table_write_error(&table, r);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int svc_enable(int argc, char **argv)
{
	return svc_set(argc, argv, true);
}

static int svc_disable(int argc, char **argv)
{
	return svc_set(argc, argv, false);
}

static int svc_remove(int argc, char **argv)
{
	_cleanup_(reg_table_freep) struct reg_table *t = NULL;
	const struct reg_service *s;
	const char *key;
	bool json = false;
	hv_guid_t id;
	int r = cli_table_parse_simple(&table, argc, argv, false, &json, 1);

	if (r >= 0)
		return r;
	if (load_table(&t))
		return EXIT_FAIL;
	key = argv[optind];
	s = reg_lookup(t, key);
	if (s && s->inbox) {
		cli_error("service '%s' is in-box: it cannot be removed; turn it off with 'vmsvc "
			  "service disable \"%s\"'",
			  s->name, s->name);
		return EXIT_FAIL;
	}
	if (s)
		id = s->id;
	else if (hv_guid_parse(key, &id) < 0 || !reg_is_broken(t, &id))
		return lookup(t, key) ? EXIT_OK : EXIT_FAIL; /* explains */
	r = reg_remove(cli_config_dir(), &id);
	if (r == -ENOENT)
		return EXIT_OK; /* removed meanwhile: the outcome asked for */
	if (r < 0) {
		cli_table_write_error(&table, r);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int cmd_service(int argc, char **argv)
{
	static const struct cli_subcommand sub[] = {
		{ "add", svc_add },	  { "list", svc_list },	      { "show", svc_show },
		{ "enable", svc_enable }, { "disable", svc_disable }, { "remove", svc_remove }
	};

	return cli_table_dispatch(&table, sub, ARRAY_SIZE(sub), argc, argv);
}
