/* SPDX-License-Identifier: MIT */
/*
 * cli-kvp-args.c - vmsvc kvp's command line: `kvp VM ACTION ...` on the
 * host, `kvp ACTION ...` in a guest (the first word after kvp is an action:
 * a VM named like one is given by its VmId). Pure: no I/O; errors come back
 * as text for the caller to print.
 */
#include <getopt.h>
#include <stdarg.h>
#include <string.h>

#include "cli-kvp.h"
#include "ic.h"
#include "util.h"

static const char *const action_names[] = {
	[CLI_KVP_LIST] = "list",     [CLI_KVP_GET] = "get",	[CLI_KVP_SET] = "set",
	[CLI_KVP_DELETE] = "delete", [CLI_KVP_WATCH] = "watch",
};

const char *cli_kvp_action_name(enum cli_kvp_action a)
{
	return (size_t)a < ARRAY_SIZE(action_names) ? action_names[a] : NULL;
}

static int action_parse(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(action_names); i++)
		if (strcmp(s, action_names[i]) == 0)
			return (int)i;
	return -1;
}

bool cli_kvp_is_action(const char *s)
{
	return action_parse(s) >= 0;
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return -1;
}

/* --help or -h before a "--": help wins over every other mistake. */
static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

/* Which options each action takes. */
enum { OPT_POOL = 1, OPT_PREFIX = 2, OPT_JSON = 4, OPT_FILE = 8 };
static const unsigned allowed[] = {
	[CLI_KVP_LIST] = OPT_POOL | OPT_PREFIX | OPT_JSON,
	[CLI_KVP_GET] = OPT_POOL,
	[CLI_KVP_SET] = OPT_FILE,
	[CLI_KVP_DELETE] = 0,
	[CLI_KVP_WATCH] = OPT_POOL | OPT_PREFIX | OPT_JSON,
};

static int set_pool(struct cli_kvp_args *a, const char *s, char *err, size_t size)
{
	int p = strcmp(s, "all") == 0 ? -2 : ic_pool_parse(s);

	if (p == -1)
		return fail(err, size, "unknown pool '%s' (host, guest, intrinsic or all)", s);
	a->pool = p == -2 ? IC_POOL_ALL : (uint32_t)p;
	return 0;
}

static const char *option_name(const struct option *opts, int c)
{
	for (; opts->name; opts++)
		if (opts->val == c)
			return opts->name;
	return "?";
}

/* The options after ACTION (argv[0] is the action's word). */
static int parse_options(struct cli_kvp_args *a, int argc, char **argv, char *err, size_t size)
{
	static const struct option opts[] = { { "pool", required_argument, NULL, OPT_POOL },
					      { "prefix", required_argument, NULL, OPT_PREFIX },
					      { "json", no_argument, NULL, OPT_JSON },
					      { "file", required_argument, NULL, OPT_FILE },
					      {} };
	const char *act = cli_kvp_action_name(a->action);
	int c;

	optind = 0; /* a full reset: permutation state too */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		const char *opt = argv[optind - 1];
		if (c > 0 && c <= OPT_FILE)
			opt = option_name(opts, c);
		if (c == ':')
			return fail(err, size, "option '%s' needs a value", opt);
		if (c == '?' && optopt && strncmp(opt, "--", 2) != 0)
			return fail(err, size, "unknown option '-%c'", optopt);
		if (c == '?')
			return fail(err, size, "unknown option '%s'", opt);
		if (!(allowed[a->action] & (unsigned)c))
			return fail(err, size, "%s does not take '--%s'%s", act, opt,
				    c == OPT_POOL ? " (set and delete write the host pool on the "
						    "host, the guest pool in a guest)"
						  : "");
		if (c == OPT_POOL && set_pool(a, optarg, err, size) < 0)
			return -1;
		if (c == OPT_PREFIX)
			a->prefix = optarg;
		else if (c == OPT_JSON)
			a->json = true;
		else if (c == OPT_FILE)
			a->file = optarg;
	}
	return 0;
}

/* The operands after the options: argv[first..argc). */
static int parse_operands(struct cli_kvp_args *a, int n, char **ops, char *err, size_t size)
{
	const char *act = cli_kvp_action_name(a->action);
	int want = 0;

	if (a->action == CLI_KVP_GET || a->action == CLI_KVP_DELETE || a->action == CLI_KVP_SET)
		want = 1;
	if (want && n < 1)
		return fail(err, size, "%s needs a KEY", act);
	if (want)
		a->key = ops[0];
	if (a->action == CLI_KVP_SET && n >= 2 && !a->file)
		a->value = ops[1], want = 2;
	if (a->action == CLI_KVP_SET && !a->value && !a->file)
		return fail(err, size, "set needs a VALUE or --file F (- for stdin)");
	if (a->action == CLI_KVP_WATCH && n >= 1) {
		if (a->prefix)
			return fail(err, size, "give the PREFIX or --prefix, not both");
		a->prefix = ops[0], want = 1;
	}
	if (n > want)
		return fail(err, size, "unexpected argument '%s'%s", ops[want],
			    a->action == CLI_KVP_SET && a->file ? " (the value comes from --file)"
								: "");
	if (a->key && !a->key[0])
		return fail(err, size, "a KEY is 1 to %d bytes, not empty", IC_KVP_MAX_KEY);
	if (!a->prefix)
		a->prefix = "";
	return 0;
}

int cli_kvp_parse_args(int argc, char **argv, struct cli_kvp_args *a, char *err, size_t size)
{
	static const char actions[] = "list, get, set, delete, watch";
	int first = 1, act;

	*a = (struct cli_kvp_args){ .pool = IC_POOL_ALL };
	err[0] = '\0';
	if (wants_help(argc, argv))
		return 1;
	if (argc < 2)
		return fail(err, size,
			    "which VM, and what? (vmsvc kvp VM %s; in a guest "
			    "without VM)",
			    actions);
	if (argv[1][0] == '-')
		return fail(err, size, "options come after the subcommand (vmsvc kvp [VM] %s)",
			    actions);
	a->guest = cli_kvp_is_action(argv[1]);
	if (!a->guest) {
		a->vm = argv[1];
		first = 2;
		if (argc < 3)
			return fail(err, size, "what about VM '%s'? (%s)", a->vm, actions);
	}
	act = action_parse(argv[first]);
	if (act < 0)
		return fail(err, size, "unknown subcommand '%s' (%s)", argv[first], actions);
	a->action = (enum cli_kvp_action)act;
	argc -= first;
	argv += first;
	if (parse_options(a, argc, argv, err, size) < 0)
		return -1;
	return parse_operands(a, argc - optind, argv + optind, err, size);
}
