/* SPDX-License-Identifier: MIT */
/*
 * cli-kvp.h - vmsvc kvp: the key-value exchange's pools
 * (docs/integration-services.md), from the host through vmsvcd's control
 * socket (cli-kvp-host.c: the "kvp" and "kvp-watch" operations) or inside a
 * guest through vmsvc-agent's Unix socket (cli-kvp-guest.c: the frames of
 * proto/ic.h).
 *
 * Keys and values are bytes: a key 1..IC_KVP_MAX_KEY bytes without NUL, a
 * value 0..IC_KVP_MAX_VALUE bytes of anything. Both modes turn what they
 * receive into struct cli_kvp_item and print it the same way (cli-kvp-fmt.c).
 *
 * Everything here is cli_kvp_ / CLI_KVP_: proto's kvpool.h owns kvp_, and
 * vmsvc-static links proto's every source.
 */
#ifndef VMSVC_CLI_KVP_H
#define VMSVC_CLI_KVP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct json_object;

/* Exit codes of vmsvc kvp (besides EXIT_OK 0 and EXIT_USAGE 2). */
enum {
	CLI_KVP_EXIT_NOT_FOUND = 1, /* get, delete: no such key */
	CLI_KVP_EXIT_FAIL = 125,    /* everything else (no daemon or agent, refused, limits) */
};

enum cli_kvp_action { CLI_KVP_LIST, CLI_KVP_GET, CLI_KVP_SET, CLI_KVP_DELETE, CLI_KVP_WATCH };

/* The command line (argv[0] = "kvp"), as cli_kvp_parse_args found it. */
struct cli_kvp_args {
	bool guest;	/* no VM: talk to the agent in this guest */
	const char *vm; /* host: a VM's name or VmId */
	enum cli_kvp_action action;
	uint32_t pool;	    /* IC_POOL_ALL: every pool (get: host, guest, intrinsic) */
	const char *prefix; /* list, watch: "" for every key */
	const char *key;    /* get, set, delete */
	const char *value;  /* set KEY VALUE; NULL with --file */
	const char *file;   /* set --file F ("-": stdin) */
	bool json;	    /* list, watch */
};

/* The subcommand words: "list", ..., "watch"; NULL for no such action. */
const char *cli_kvp_action_name(enum cli_kvp_action a);
/* True when s names a subcommand (then `vmsvc kvp s ...` is guest mode). */
bool cli_kvp_is_action(const char *s);

/*
 * Parses `kvp [VM] ACTION [OPTIONS] [ARGS]`. Returns 0 with *a filled in,
 * 1 when --help or -h was given (nothing else is checked), or -1 with
 * why in err (a usage error). getopt's state is reset; prints nothing.
 */
int cli_kvp_parse_args(int argc, char **argv, struct cli_kvp_args *a, char *err, size_t size);

/* One key of a pool, or one change (deleted: a DELETE event, no value).
 * The buffers are the item's own (cli_kvp_item_clear frees them). */
struct cli_kvp_item {
	uint32_t pool; /* enum ic_kvp_pool */
	uint8_t *key;
	size_t key_len;
	uint8_t *value;
	size_t value_len;
	uint64_t gen;
	bool deleted;
	bool stale; /* vmsvcd's copy of a guest pool, not current (host mode) */
};
void cli_kvp_item_clear(struct cli_kvp_item *it);
/* Sets *it from borrowed bytes (copies them). 0 or -ENOMEM. */
int cli_kvp_item_set(struct cli_kvp_item *it, uint32_t pool, const void *key, size_t key_len,
		     const void *value, size_t value_len, uint64_t gen);

/* A growing list of items (the result of list). */
struct cli_kvp_list {
	struct cli_kvp_item *v;
	size_t n, cap;
};
void cli_kvp_list_clear(struct cli_kvp_list *l);
/* Moves *it (emptied) to the end of l. 0 or -ENOMEM. */
int cli_kvp_list_push(struct cli_kvp_list *l, struct cli_kvp_item *it);
/* True when key starts with prefix (both NUL-free; "" matches everything). */
bool cli_kvp_has_prefix(const uint8_t *key, size_t key_len, const char *prefix);

/* ---- cli-kvp-fmt.c: bytes for people and for JSON ---- */

/* True when p[0..n) is valid UTF-8 (no overlong forms, no surrogates)
 * without NUL: then JSON carries it as a string, else as *_b64. */
bool cli_kvp_utf8_ok(const uint8_t *p, size_t n);

/*
 * Writes p[0..n) to out for a line of text: backslash as \\, newline,
 * carriage return and tab as \n \r \t, every other control byte (below
 * 0x20, 0x7f, and the C1 controls U+0080..U+009F) and every byte that is
 * not part of valid UTF-8 as \xHH (lower-case hex). With field set (a key),
 * a blank is \x20 too, so that the key is one blank-free word.
 */
void cli_kvp_escape(FILE *out, const uint8_t *p, size_t n, bool field);
/* The same into a malloc'd string (NULL when out of memory), for messages. */
char *cli_kvp_escape_str(const uint8_t *p, size_t n, bool field);

/* Base64 (nettle, standard alphabet with padding). encode: a malloc'd
 * NUL-terminated string or NULL. decode: 0 with *out (malloc'd, caller
 * frees) and *n, -EINVAL when s is no valid base64, -ENOMEM. */
char *cli_kvp_b64_encode(const uint8_t *p, size_t n);
int cli_kvp_b64_decode(const char *s, size_t len, uint8_t **out, size_t *n);

/* Adds name (a string) or name_b64 to o, as cli_kvp_utf8_ok decides. */
void cli_kvp_json_add_bytes(struct json_object *o, const char *name, const uint8_t *p, size_t n);
/* Reads name or name_b64 of o: 0 with *out (malloc'd; at least one byte
 * allocated, so never NULL on success) and *n; -ENOENT when neither is
 * there; -EPROTO when it is not a string or not base64; -ENOMEM. */
int cli_kvp_json_get_bytes(struct json_object *o, const char *name, uint8_t **out, size_t *n);

/* An item as JSON: {"pool","key"|"key_b64","value"|"value_b64","gen"};
 * with op (watch): "op":"set"|"delete" too, and no value for a delete;
 * "stale":true when the item is. */
struct json_object *cli_kvp_item_json(const struct cli_kvp_item *it, bool op);

/* list: POOL KEY VALUE lines (cli_kvp_escape; an empty value ends the line
 * after KEY), or with json one pretty JSON array. */
void cli_kvp_print_list(FILE *out, const struct cli_kvp_list *l, bool json);
/* watch: "set POOL KEY VALUE" or "delete POOL KEY", or one JSON object
 * per line (cli_kvp_item_json with op); flushed. */
void cli_kvp_print_event(FILE *out, const struct cli_kvp_item *it, bool json);

/* ---- cmd-kvp.c, cli-kvp-host.c, cli-kvp-guest.c: running a request ---- */

/* The value of set (from the command line, a file or stdin). */
struct cli_kvp_value {
	const uint8_t *p;
	size_t n;
};

/* Runs a (host mode) through vmsvcd. Returns an exit code, with a message
 * on stderr for every failure. */
int cli_kvp_host_run(const struct cli_kvp_args *a, const struct cli_kvp_value *v);

/* The agent's socket in this guest: $VMSVC_KVP_SOCKET, else
 * CLI_KVP_AGENT_SOCKET. */
#define CLI_KVP_AGENT_SOCKET "/run/vmsvc/kvp.sock"
const char *cli_kvp_agent_socket(void);
/* Runs a (guest mode) against the agent's socket. Returns an exit code. */
int cli_kvp_guest_run(const struct cli_kvp_args *a, const struct cli_kvp_value *v);
/* The same over an open stream to the agent (the caller keeps and closes
 * fd); output goes to out. For the tests' fake agent. */
int cli_kvp_guest_run_fd(int fd, const struct cli_kvp_args *a, const struct cli_kvp_value *v,
			 FILE *out);

/* The subcommand (vmsvc.c's table). */
int cmd_kvp(int argc, char **argv);

#endif /* VMSVC_CLI_KVP_H */
