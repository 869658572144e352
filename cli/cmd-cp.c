/* SPDX-License-Identifier: MIT */
/*
 * cmd-cp.c - vmsvc cp [-r] [-p] SRC... DST: copy files and trees between
 * the host and a VM through its guest agent, one session per source
 * (cli-copy.c), each file verified (SHA-256) and committed atomically.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli-cppath.h"
#include "cli.h"
#include "session.h"

static void cp_usage(FILE *out)
{
	fprintf(out,
		"Usage: vmsvc cp [-r] [-p] [--progress|--no-progress] SRC... DST\n\n"
		"Copies files between the host and a VM through the guest's vmsvc-agent (no\n"
		"network needed). Exactly one side is VM:PATH (VM: a name or VmId; a relative\n"
		"PATH is in the guest user's home; write ./a:b for a local name with ':').\n"
		"With several SRC, DST must be a folder; a folder DST receives SRC under its\n"
		"own name, as cp does.\n\n"
		"  -r, -R, --recursive  copy folders (links are copied as links, never followed)\n"
		"  -p, --preserve       keep the modification time and (as root) the owner\n"
		"      --progress       a progress bar on stderr (default: when it is a terminal)\n"
		"      --no-progress    no progress bar\n\n"
		"Each file is written to a temporary file, checked against the sender's SHA-256\n"
		"and only then renamed into place: an interrupted copy leaves the old file.\n"
		"The mode is kept. In the guest, the files are read and written as the guest\n"
		"user the agent maps you to (agent.conf).\n\n"
		"Exit status: 0 copied; 1 a copy failed; 2 wrong usage; 125 no session (VM\n"
		"unknown or not running, no agent, not permitted); 128+N interrupted by signal "
		"N.\n");
}

struct cp_opts {
	uint32_t flags;
	int progress; /* -1: when stderr is a terminal */
};

static int parse_options(struct cp_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "recursive", no_argument, NULL, 'r' }, { "preserve", no_argument, NULL, 'p' },
		{ "progress", no_argument, NULL, 'P' },	 { "no-progress", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },	 {}
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":rRph", opts, NULL)) != -1) {
		if (c == 'h')
			return cp_usage(stdout), EXIT_OK;
		if (c == 'r' || c == 'R')
			o->flags |= SESS_PUT_TREE;
		else if (c == 'p')
			o->flags |= SESS_PUT_PRESERVE;
		else if (c == 'P' || c == 'N')
			o->progress = c == 'P';
		else
			return cli_option_error("cp", c, argv);
	}
	return -1;
}

/* With several sources the destination must be a folder: "DST/" (the
 * agent then refuses anything else); a local one is checked here. */
static char *folder_dst(const struct cp_plan *p)
{
	struct stat st;
	char *d;

	if (!p->put && (stat(p->dst, &st) < 0 || !S_ISDIR(st.st_mode))) {
		cli_error("target '%s' is not a folder (several sources go into a folder)", p->dst);
		return NULL;
	}
	if (asprintf(&d, "%s%s", p->dst, p->dst[strlen(p->dst) - 1] == '/' ? "" : "/") < 0)
		return NULL;
	return d;
}

static int copy_all(const struct cp_plan *p, const struct cp_opts *o)
{
	char *dst = p->nsrc > 1 ? folder_dst(p) : NULL;
	int code = EXIT_OK;

	if (p->nsrc > 1 && !dst)
		return EXIT_FAIL;
	for (int i = 0; i < p->nsrc; i++) {
		int r = cli_copy_run(&(struct cli_copy){
			.vm = p->vm,
			.put = p->put,
			.local = p->put ? p->src[i] : (dst ? dst : p->dst),
			.remote = p->put ? (dst ? dst : p->dst) : p->src[i],
			.flags = o->flags,
			.progress = o->progress < 0 ? isatty(STDERR_FILENO) : o->progress,
		});

		if (r == EXIT_SESSION_FAIL || r > 128) {
			code = r;
			break;
		}
		if (r != EXIT_OK)
			code = EXIT_FAIL;
	}
	free(dst);
	return code;
}

int cmd_cp(int argc, char **argv)
{
	struct cp_opts o = { .progress = -1 };
	struct cp_plan p;
	char err[512];
	int r = parse_options(&o, argc, argv);

	if (r >= 0)
		return r;
	if (cp_plan(argc - optind, argv + optind, &p, err, sizeof(err)) < 0)
		return cli_usage_error("cp", "%s", err);
	return copy_all(&p, &o);
}
