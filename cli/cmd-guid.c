/* SPDX-License-Identifier: MIT */
/*
 * cmd-guid.c - vmsvc guid: make and inspect service GUIDs.
 */
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/random.h>

#include <vmsvc/vmsvc.h>

#include "cli.h"
#include "registry.h"
#include "util.h"

static void guid_usage(FILE *out)
{
	fprintf(out, "Usage: vmsvc guid new [--port N]\n"
		     "       vmsvc guid from-port N\n"
		     "       vmsvc guid port GUID\n"
		     "       vmsvc guid show GUID|NAME [--json]\n\n"
		     "  new        a fresh service GUID in VSOCK-template form; with --port, the\n"
		     "             template GUID of that port, else of a random port not used by\n"
		     "             any registered service\n"
		     "  from-port  the VSOCK-template GUID of vsock port N (decimal or 0x hex)\n"
		     "  port       the vsock port of a VSOCK-template GUID (fails for others)\n"
		     "  show       canonical form, Windows and RFC 4122 byte orders, port and\n"
		     "             well-known name; NAME is a well-known name such as 'parent'\n\n"
		     "GUIDs are accepted with or without braces, in any case.\n"
		     "Exit status: 0 success, 1 failure, 2 wrong usage.\n");
}

static void print_guid_line(const hv_guid_t *g)
{
	char s[HV_GUID_STRSIZE];

	hv_guid_format(g, s, sizeof(s));
	printf("%s\n", s);
}

static int random_free_port(uint32_t *port)
{
	struct reg_table *t = NULL;
	int r = reg_load(cli_config_dir(), &t);

	if (r < 0 && r != -ENOENT) {
		cli_error("cannot read the registry in %s: %s", cli_config_dir(), strerror(-r));
		return r;
	}
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t v;
		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			break;
		v = 1024 + v % (0x7fffffffu - 1024);
		if (!t || !reg_find_port(t, v)) {
			*port = v;
			reg_table_free(t);
			return 0;
		}
	}
	reg_table_free(t);
	cli_error("could not find a free port");
	return -EAGAIN;
}

static int guid_new(int argc, char **argv)
{
	static const struct option opts[] = { { "port", required_argument, NULL, 'p' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	uint32_t port = 0;
	bool have_port = false;
	hv_guid_t g;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+hp:", opts, NULL)) != -1) {
		if (c == 'h') {
			guid_usage(stdout);
			return EXIT_OK;
		}
		if (c != 'p')
			return cli_usage_error("guid", "bad option");
		if (cli_parse_u32(optarg, &port) < 0)
			return cli_usage_error("guid", "port '%s' is not a number in 0..4294967295",
					       optarg);
		have_port = true;
	}
	if (optind != argc)
		return cli_usage_error("guid", "unexpected argument '%s'", argv[optind]);
	if (!have_port && random_free_port(&port) < 0)
		return EXIT_FAIL;
	hv_guid_from_port(port, &g);
	print_guid_line(&g);
	return EXIT_OK;
}

static int guid_from_port(int argc, char **argv)
{
	uint32_t port;
	hv_guid_t g;

	if (argc != 2)
		return cli_usage_error("guid", "from-port needs one port number");
	if (cli_parse_u32(argv[1], &port) < 0)
		return cli_usage_error("guid", "port '%s' is not a number in 0..4294967295",
				       argv[1]);
	hv_guid_from_port(port, &g);
	print_guid_line(&g);
	return EXIT_OK;
}

static int guid_port(int argc, char **argv)
{
	hv_guid_t g;
	uint32_t port;

	if (argc != 2)
		return cli_usage_error("guid", "port needs one GUID");
	if (cli_parse_guid(argv[1], &g) < 0)
		return EXIT_USAGE;
	if (hv_guid_to_port(&g, &port) < 0) {
		cli_error("%s is not a VSOCK-template GUID (xxxxxxxx-facb-11e6-bd58-64006a7986d3), "
			  "so it maps to no vsock port; register it with an explicit --port",
			  argv[1]);
		return EXIT_FAIL;
	}
	printf("%" PRIu32 "\n", port);
	return EXIT_OK;
}

static void hex16(const uint8_t b[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static int guid_show(int argc, char **argv)
{
	bool json = false;
	const char *arg = NULL;
	char s[HV_GUID_STRSIZE], win[33], rfc[33];
	uint8_t b[16];
	hv_guid_t g;
	uint32_t port;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (argv[i][0] == '-' || arg)
			return cli_usage_error("guid", "unexpected argument '%s'", argv[i]);
		else
			arg = argv[i];
	}
	if (!arg)
		return cli_usage_error("guid", "show needs a GUID or a well-known name");
	if (hv_guid_parse(arg, &g) < 0 && hv_guid_lookup_name(arg, &g) < 0) {
		cli_error("'%s' is neither a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) nor a "
			  "well-known name (parent, loopback, children, wildcard, ...)",
			  arg);
		return EXIT_USAGE;
	}
	hv_guid_format(&g, s, sizeof(s));
	hv_guid_to_windows_bytes(&g, b);
	hex16(b, win);
	hv_guid_to_rfc4122_bytes(&g, b);
	hex16(b, rfc);
	bool has_port = hv_guid_to_port(&g, &port) == 0;
	const char *name = hv_guid_well_known_name(&g);
	if (json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "guid", json_object_new_string(s));
		json_object_object_add(o, "windows_bytes", json_object_new_string(win));
		json_object_object_add(o, "rfc4122_bytes", json_object_new_string(rfc));
		json_object_object_add(o, "port", has_port ? json_object_new_int64(port) : NULL);
		json_object_object_add(o, "name", name ? json_object_new_string(name) : NULL);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
		return EXIT_OK;
	}
	printf("guid:           %s\n", s);
	printf("windows bytes:  %s\n", win);
	printf("rfc4122 bytes:  %s\n", rfc);
	if (has_port)
		printf("vsock port:     %" PRIu32 "\n", port);
	else
		printf("vsock port:     none (not a VSOCK-template GUID)\n");
	if (name)
		printf("well-known:     %s\n", name);
	return EXIT_OK;
}

int cmd_guid(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} sub[] = { { "new", guid_new },
		    { "from-port", guid_from_port },
		    { "port", guid_port },
		    { "show", guid_show } };

	if (argc < 2)
		return cli_usage_error("guid", "missing subcommand (new, from-port, port, show)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		guid_usage(stdout);
		return EXIT_OK;
	}
	if (cli_wants_help(argc - 1, argv + 1)) {
		guid_usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(sub); i++)
		if (strcmp(argv[1], sub[i].name) == 0)
			return sub[i].run(argc - 1, argv + 1);
	return cli_usage_error("guid", "unknown subcommand '%s'", argv[1]);
}
