/* SPDX-License-Identifier: MIT */
/*
 * cmd-kvp.c - vmsvc kvp [VM] list|get|set|delete|watch: the key-value
 * exchange's pools (docs/integration-services.md). With a VM, on the host
 * through vmsvcd (cli-kvp-host.c); without one, inside a guest through
 * vmsvc-agent (cli-kvp-guest.c). The same binary does both: the first word
 * after kvp decides.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cli-kvp.h"
#include "cli.h"
#include "ic.h"
#include "util.h"

static void cli_kvp_usage(FILE *out)
{
	fprintf(out,
		"Usage: vmsvc kvp VM list [--pool P] [--prefix S] [--json]\n"
		"       vmsvc kvp VM get [--pool P] KEY\n"
		"       vmsvc kvp VM set KEY VALUE | vmsvc kvp VM set KEY --file F\n"
		"       vmsvc kvp VM delete KEY\n"
		"       vmsvc kvp VM watch [--pool P] [PREFIX] [--json]\n"
		"In a guest the same without VM: vmsvc kvp list, vmsvc kvp get KEY, ...\n\n"
		"The key-value exchange: three pools of keys and values per VM. 'host' is\n"
		"written on the host and read in the guest, 'guest' the other way round,\n"
		"'intrinsic' is filled by the guest's agent (HostName, OSName,\n"
		"NetworkAddressIPv4/eth0, ...). set and delete write the host pool on the\n"
		"host and the guest pool in a guest.\n\n"
		"  VM          a VM's name or VmId. When the first word after kvp is a\n"
		"              subcommand, vmsvc talks to vmsvc-agent in this guest\n"
		"              ($VMSVC_KVP_SOCKET, default %s); give a VM named\n"
		"              like a subcommand by its VmId\n"
		"  list        POOL KEY VALUE, a line per key, sorted by pool, then key\n"
		"  get         the value's bytes to stdout as they are (no newline added);\n"
		"              without --pool from the first pool that holds KEY: host,\n"
		"              guest, intrinsic\n"
		"  set         set KEY to VALUE, or to the bytes of file F (- for stdin)\n"
		"  delete      remove KEY\n"
		"  watch       a line per change, 'set POOL KEY VALUE' or 'delete POOL KEY',\n"
		"              until interrupted or the stream ends\n"
		"  --pool P    host, guest or intrinsic (default: all)\n"
		"  --prefix S  only the keys that start with S (watch: or PREFIX)\n"
		"  --json      exact data: list a JSON array, watch a JSON object per line;\n"
		"              keys and values are strings when they are UTF-8, else\n"
		"              key_b64/value_b64 (base64); on the host \"stale\": true\n"
		"              marks vmsvcd's last copy of a guest pool while the agent\n"
		"              is not connected\n"
		"  --file F    set: the value from F, any bytes (- for stdin)\n\n"
		"Text output escapes: \\\\ a backslash; \\n \\r \\t; \\xHH other control bytes\n"
		"(also DEL and U+0080-U+009F) and bytes that are not UTF-8; in a key, a\n"
		"blank is \\x20 too, so a list line splits at its first two blanks (watch:\n"
		"three). An empty value ends the line after KEY. Put -- before a KEY or\n"
		"VALUE starting with '-'.\n\n"
		"Limits: keys 1-%d bytes without NUL, values 0-%d bytes of any kind,\n"
		"%d keys and 1 MiB (keys + values) per pool. Who may: on the host, reading\n"
		"root, the 'vmsvc' group and the VM's SessionUsers=/SessionGroups=,\n"
		"writing root and SessionUsers=; in a guest, reading anyone (or root and\n"
		"the agent's [KVP] ReadGroup=), writing root and [KVP] WriteGroup=.\n\n"
		"Exit status: 0 success; 1 no such key (get, delete); 2 wrong usage;\n"
		"125 the request failed (vmsvcd or vmsvc-agent not running, unknown VM,\n"
		"not permitted, over a limit: the message says which). watch ends only\n"
		"with 125 (its stream ended) or by a signal.\n",
		CLI_KVP_AGENT_SOCKET, IC_KVP_MAX_KEY, IC_KVP_MAX_VALUE, IC_KVP_MAX_KEYS);
}

/* Reads set's value from path ("-": stdin) into *buf (the caller frees),
 * at most IC_KVP_MAX_VALUE bytes. 0 or an exit code. */
static int read_value(const char *path, uint8_t **buf, size_t *len)
{
	bool in = strcmp(path, "-") == 0;
	_cleanup_close_ int fd = in ? -1 : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t cap = IC_KVP_MAX_VALUE + 1;

	if (!in && fd < 0) {
		cli_error("cannot read the value from %s: %s", path, strerror(errno));
		return CLI_KVP_EXIT_FAIL;
	}
	*len = 0;
	*buf = malloc(cap);
	if (!*buf)
		return cli_error("out of memory"), CLI_KVP_EXIT_FAIL;
	while (*len < cap) {
		ssize_t n = read(in ? STDIN_FILENO : fd, *buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_error("cannot read the value from %s: %s", in ? "stdin" : path,
				  strerror(errno));
			return CLI_KVP_EXIT_FAIL;
		}
		if (n == 0)
			return 0;
		*len += (size_t)n;
	}
	cli_error("the value in %s is longer than %d bytes, the most a value may hold",
		  in ? "stdin" : path, IC_KVP_MAX_VALUE);
	return CLI_KVP_EXIT_FAIL;
}

/* The limits of a key and a value, before anything is sent. */
static int check_limits(const struct cli_kvp_args *a, const struct cli_kvp_value *v)
{
	size_t klen = a->key ? strlen(a->key) : 0;

	if (klen > IC_KVP_MAX_KEY) {
		cli_error("the key is %zu bytes long; keys are 1 to %d bytes", klen,
			  IC_KVP_MAX_KEY);
		return CLI_KVP_EXIT_FAIL;
	}
	if (v->n > IC_KVP_MAX_VALUE) {
		cli_error("the value is %zu bytes long; values hold at most %d bytes", v->n,
			  IC_KVP_MAX_VALUE);
		return CLI_KVP_EXIT_FAIL;
	}
	return 0;
}

int cmd_kvp(int argc, char **argv)
{
	struct cli_kvp_args a;
	struct cli_kvp_value v = { 0 };
	_cleanup_free_ uint8_t *buf = NULL;
	char err[256];
	int r = cli_kvp_parse_args(argc, argv, &a, err, sizeof(err));

	if (r > 0)
		return cli_kvp_usage(stdout), EXIT_OK;
	if (r < 0)
		return cli_usage_error("kvp", "%s", err);
	if (a.action == CLI_KVP_SET && a.file) {
		r = read_value(a.file, &buf, &v.n);
		if (r)
			return r;
		v.p = buf;
	} else if (a.action == CLI_KVP_SET) {
		v.p = (const uint8_t *)a.value;
		v.n = strlen(a.value);
	}
	r = check_limits(&a, &v);
	if (r)
		return r;
	return a.guest ? cli_kvp_guest_run(&a, &v) : cli_kvp_host_run(&a, &v);
}
