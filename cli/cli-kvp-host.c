/* SPDX-License-Identifier: MIT */
/*
 * cli-kvp-host.c - vmsvc kvp VM ...: the pools of a VM through vmsvcd's
 * control socket (docs/control-protocol.md, "kvp" and "kvp-watch").
 *
 * Keys travel as "key" (UTF-8) or "key_b64", values as "value_b64" (set)
 * and come back as "value" or "value_b64". A prefix that is not UTF-8 is
 * not sent: the keys are then filtered here (always, to be safe). vmsvcd
 * answers ENOENT both for an unknown VM and for a missing key: when the VM
 * is defined in the config folder, it was the key.
 *
 * list and watch read a stream vmsvcd passes with its reply: one JSON
 * object per line (so a list's size is not bound by the control message
 * limit); a list ends at the end of the stream, a watch ends there too but
 * that is vmsvcd ending it.
 */
#include <errno.h>
#include <json-c/json.h>
#include <string.h>
#include <unistd.h>

#include <vmsvc/vmsvc.h>

#include "cli-kvp.h"
#include "cli.h"
#include "ctlproto.h"
#include "ic.h"
#include "util.h"
#include "vmtable.h"

#define CALL_TIMEOUT_MS 10000
/* The longest line of a list or watch: a 64 KiB value and a 512-byte key
 * (vmsvcd sends text that json-c escapes to at most twice its length, and
 * anything else in base64), and room to spare. */
#define LINE_MAX_BYTES (256 * 1024)

static const char *str_field(json_object *o, const char *key, const char *def)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : def;
}

/* Whether VM arg (a name or VmId) is defined in the config folder. */
static bool vm_defined(const char *arg)
{
	_cleanup_(vmt_table_freep) struct vmt_table *t = NULL;
	hv_guid_t id;

	if (vmt_load(cli_config_dir(), &t) < 0)
		return false;
	if (hv_guid_parse(arg, &id) == 0)
		return vmt_find_id(t, &id) != NULL;
	return vmt_find_name(t, arg) != NULL;
}

static json_object *new_request(const struct cli_kvp_args *a, const char *op)
{
	json_object *req = json_object_new_object();
	size_t plen = strlen(a->prefix ? a->prefix : "");

	json_object_object_add(req, "op", json_object_new_string(op));
	json_object_object_add(req, "vm", json_object_new_string(a->vm));
	if (strcmp(op, "kvp") == 0)
		json_object_object_add(req, "action",
				       json_object_new_string(cli_kvp_action_name(a->action)));
	if (a->pool != IC_POOL_ALL)
		json_object_object_add(req, "pool", json_object_new_string(ic_pool_name(a->pool)));
	if (plen && cli_kvp_utf8_ok((const uint8_t *)a->prefix, plen))
		json_object_object_add(req, "prefix", json_object_new_string(a->prefix));
	if (a->key)
		cli_kvp_json_add_bytes(req, "key", (const uint8_t *)a->key, strlen(a->key));
	return req;
}

static int not_found(const struct cli_kvp_args *a)
{
	_cleanup_free_ char *key =
		cli_kvp_escape_str((const uint8_t *)a->key, strlen(a->key), true);
	const char *k = key ? key : "?";

	if (a->action == CLI_KVP_DELETE)
		cli_error("no key '%s' in the host pool of VM '%s'", k, a->vm);
	else if (a->pool != IC_POOL_ALL)
		cli_error("no key '%s' in the %s pool of VM '%s'", k, ic_pool_name(a->pool), a->vm);
	else
		cli_error("no key '%s' in VM '%s' (pools host, guest, intrinsic)", k, a->vm);
	return CLI_KVP_EXIT_NOT_FOUND;
}

/* A failure reply: the daemon's message and what to do about it. */
static int reply_error(const struct cli_kvp_args *a, json_object *reply)
{
	const char *err = str_field(reply, "error", "EPROTO");
	const char *msg = str_field(reply, "message", NULL);

	if (strcmp(err, "ENOENT") == 0 &&
	    (a->action == CLI_KVP_GET || a->action == CLI_KVP_DELETE) && vm_defined(a->vm))
		return not_found(a);
	cli_error("%s", msg ? msg : err);
	if (strcmp(err, "EOPNOTSUPP") == 0 || strcmp(err, "ENOTSUP") == 0)
		cli_error("the key-value exchange is turned off for VM '%s' (see 'vmsvc service "
			  "list' and 'vmsvc vm integration %s')",
			  a->vm, a->vm);
	else if (strcmp(err, "EACCES") == 0)
		cli_error("reading VM '%s''s pools takes root, the 'vmsvc' group or the VM's "
			  "SessionUsers=/SessionGroups=; writing, root or SessionUsers=",
			  a->vm);
	else if (strcmp(err, "E2BIG") == 0 || strcmp(err, "ENOSPC") == 0)
		cli_error("limits: keys 1-%d bytes, values up to %d bytes, %d keys and %d bytes "
			  "(keys and values) per pool",
			  IC_KVP_MAX_KEY, IC_KVP_MAX_VALUE, IC_KVP_MAX_KEYS, IC_KVP_MAX_POOL);
	return CLI_KVP_EXIT_FAIL;
}

/*
 * Sends req and waits for the reply: 0 with *reply (ok true; the caller
 * puts it) and, with fd, the fd passed (the caller closes it), or an exit
 * code with the reason printed.
 */
static int call(const struct cli_kvp_args *a, json_object *req, json_object **reply, int *fd)
{
	json_object *ok;
	int r = ctl_call(cli_runtime_dir(), req, CALL_TIMEOUT_MS, reply, fd);

	json_object_put(req);
	if (r == -EMSGSIZE) {
		cli_error("the request is larger than vmsvcd's control messages (%d bytes)",
			  CTL_MSG_MAX);
		return CLI_KVP_EXIT_FAIL;
	}
	if (r < 0) {
		cli_daemon_error(r);
		return CLI_KVP_EXIT_FAIL;
	}
	if (!json_object_object_get_ex(*reply, "ok", &ok) || !json_object_get_boolean(ok)) {
		r = reply_error(a, *reply);
		json_object_put(*reply);
		*reply = NULL;
		if (fd)
			*fd = safe_close(*fd);
		return r;
	}
	return 0;
}

/* An item of a list or get reply, or of the watch stream (event). */
static int item_from_json(json_object *o, struct cli_kvp_item *it, bool event)
{
	const char *pool = str_field(o, "pool", "");
	const char *op = str_field(o, "op", "set");
	json_object *gen;
	int p = ic_pool_parse(pool), r;

	cli_kvp_item_clear(it);
	if (p < 0 || (strcmp(op, "set") != 0 && strcmp(op, "delete") != 0))
		return -EPROTO;
	it->pool = (uint32_t)p;
	it->deleted = event && strcmp(op, "delete") == 0;
	r = cli_kvp_json_get_bytes(o, "key", &it->key, &it->key_len);
	if (r == 0 && !ic_kvp_key_ok(it->key, it->key_len))
		r = -EPROTO;
	if (r == 0 && !it->deleted)
		r = cli_kvp_json_get_bytes(o, "value", &it->value, &it->value_len);
	if (r == 0 && json_object_object_get_ex(o, "gen", &gen))
		it->gen = (uint64_t)json_object_get_int64(gen);
	if (r == 0 && json_object_object_get_ex(o, "stale", &gen))
		it->stale = json_object_get_boolean(gen);
	if (r < 0)
		cli_kvp_item_clear(it);
	return r == -ENOENT ? -EPROTO : r;
}

static int bad_reply(const char *what)
{
	cli_error("vmsvcd's answer to %s does not decode (a vmsvcd of another version?)", what);
	return CLI_KVP_EXIT_FAIL;
}

/* Writes the value to stdout as it is. */
static int write_value(const uint8_t *p, size_t n)
{
	if (fwrite(p, 1, n, stdout) != n || fflush(stdout) != 0) {
		cli_error("cannot write the value to stdout: %s", strerror(errno));
		return CLI_KVP_EXIT_FAIL;
	}
	return EXIT_OK;
}

static int host_get(const struct cli_kvp_args *a)
{
	json_object *reply = NULL;
	_cleanup_free_ uint8_t *value = NULL;
	size_t len;
	int r = call(a, new_request(a, "kvp"), &reply, NULL);

	if (r)
		return r;
	/* Only the value matters here (pool, key and gen are not printed). */
	if (cli_kvp_json_get_bytes(reply, "value", &value, &len) < 0)
		r = bad_reply("get");
	else
		r = write_value(value, len);
	json_object_put(reply);
	return r;
}

static int host_change(const struct cli_kvp_args *a, const struct cli_kvp_value *v)
{
	json_object *req = new_request(a, "kvp"), *reply = NULL;
	int r;

	if (a->action == CLI_KVP_SET) {
		char *b64 = cli_kvp_b64_encode(v->p, v->n);
		if (!b64) {
			json_object_put(req);
			cli_error("out of memory");
			return CLI_KVP_EXIT_FAIL;
		}
		json_object_object_add(req, "value_b64", json_object_new_string(b64));
		free(b64);
	}
	r = call(a, req, &reply, NULL);
	json_object_put(reply);
	return r;
}

/* One JSON object of a stream line (len bytes, no '\n'), or NULL. */
static json_object *parse_line(const char *line, size_t len)
{
	json_tokener *tok = json_tokener_new_ex(16);
	json_object *o = tok && len ? json_tokener_parse_ex(tok, line, (int)len) : NULL;

	if (o &&
	    (json_tokener_get_error(tok) != json_tokener_success ||
	     json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	if (tok)
		json_tokener_free(tok);
	return o;
}

/* What a stream's reader does with each line: -1 to go on, or an exit
 * code that ends the reading. */
typedef int line_fn(void *opaque, const struct cli_kvp_args *a, json_object *o);

/*
 * Reads the stream fd (the caller's, who closes it) line by line, handing
 * each line's object to fn, until fn returns an exit code (returned) or
 * the stream ends (*eof set, 0 returned). A line that does not decode or
 * a stream that ends inside a line is a bad reply (an exit code).
 */
static int read_lines(const struct cli_kvp_args *a, int fd, const char *what, line_fn *fn,
		      void *opaque, bool *eof)
{
	_cleanup_free_ char *buf = malloc(LINE_MAX_BYTES);
	size_t len = 0;

	*eof = false;
	if (!buf)
		return cli_error("out of memory"), CLI_KVP_EXIT_FAIL;
	for (;;) {
		ssize_t n = read(fd, buf + len, LINE_MAX_BYTES - len);
		char *nl, *start = buf;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_error("cannot read vmsvcd's %s of VM '%s': %s", what, a->vm,
				  strerror(errno));
			return CLI_KVP_EXIT_FAIL;
		}
		if (n == 0) {
			*eof = true;
			return len ? bad_reply(what) : 0;
		}
		len += (size_t)n;
		while ((nl = memchr(start, '\n', len - (size_t)(start - buf)))) {
			json_object *o = parse_line(start, (size_t)(nl - start));
			int r = o ? fn(opaque, a, o) : bad_reply(what);
			json_object_put(o);
			if (r >= 0)
				return r;
			start = nl + 1;
		}
		len -= (size_t)(start - buf);
		memmove(buf, start, len);
		if (len == LINE_MAX_BYTES)
			return bad_reply(what);
	}
}

/* A line of a list: an item kept in the list (opaque). */
static int list_line(void *opaque, const struct cli_kvp_args *a, json_object *o)
{
	struct cli_kvp_item it = { 0 };
	int r = -1;

	if (item_from_json(o, &it, false) < 0)
		r = bad_reply("list");
	else if (cli_kvp_has_prefix(it.key, it.key_len, a->prefix) &&
		 cli_kvp_list_push(opaque, &it) < 0)
		r = CLI_KVP_EXIT_FAIL, cli_error("out of memory");
	cli_kvp_item_clear(&it);
	return r;
}

static int host_list(const struct cli_kvp_args *a)
{
	json_object *reply = NULL;
	_cleanup_close_ int fd = -1;
	struct cli_kvp_list l = { 0 };
	bool eof;
	int r = call(a, new_request(a, "kvp"), &reply, &fd);

	json_object_put(reply);
	if (r)
		return r;
	if (fd < 0)
		return bad_reply("list");
	r = read_lines(a, fd, "list", list_line, &l, &eof);
	if (r == 0)
		cli_kvp_print_list(stdout, &l, a->json);
	cli_kvp_list_clear(&l);
	return r;
}

/* A line of a watch: printed. */
static int watch_line(void *opaque, const struct cli_kvp_args *a, json_object *o)
{
	struct cli_kvp_item it = { 0 };
	int r = -1;

	(void)opaque;
	if (strcmp(str_field(o, "op", ""), "overflow") == 0) {
		cli_error("the watch fell behind: vmsvcd queued more than 1 MiB of changes that "
			  "were not read in time, and ended it; start it again");
		r = CLI_KVP_EXIT_FAIL;
	} else if (item_from_json(o, &it, true) < 0) {
		r = bad_reply("watch");
	} else if (cli_kvp_has_prefix(it.key, it.key_len, a->prefix)) {
		cli_kvp_print_event(stdout, &it, a->json);
	}
	cli_kvp_item_clear(&it);
	return r;
}

static int host_watch(const struct cli_kvp_args *a)
{
	json_object *reply = NULL;
	_cleanup_close_ int fd = -1;
	int r = call(a, new_request(a, "kvp-watch"), &reply, &fd);

	json_object_put(reply);
	if (r)
		return r;
	if (fd < 0) {
		cli_error("vmsvcd answered the watch without a stream");
		return CLI_KVP_EXIT_FAIL;
	}
	bool eof;
	r = read_lines(a, fd, "watch", watch_line, NULL, &eof);
	if (r == 0 && eof) {
		cli_error("vmsvcd ended the watch of VM '%s' (vmsvcd stopped, or the VM's "
			  "definition was removed)",
			  a->vm);
		r = CLI_KVP_EXIT_FAIL;
	}
	return r;
}

int cli_kvp_host_run(const struct cli_kvp_args *a, const struct cli_kvp_value *v)
{
	switch (a->action) {
	case CLI_KVP_LIST:
		return host_list(a);
	case CLI_KVP_GET:
		return host_get(a);
	case CLI_KVP_SET:
	case CLI_KVP_DELETE:
		return host_change(a, v);
	case CLI_KVP_WATCH:
		return host_watch(a);
	}
	return CLI_KVP_EXIT_FAIL;
}
