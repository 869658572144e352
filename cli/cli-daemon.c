/* SPDX-License-Identifier: MIT */
/* cli-daemon.c - talking to vmsvcd from the CLI: errors people can act on. */
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "ctlproto.h"
#include "util.h"

void cli_daemon_error(int err)
{
	if (err == -ENOENT || err == -ECONNREFUSED)
		cli_error("vmsvcd is not running (no %s/%s); start it with 'vmsvcd'",
			  cli_runtime_dir(), CTL_SOCKET_NAME);
	else if (err == -EACCES)
		cli_error("cannot reach vmsvcd at %s/%s: permission denied", cli_runtime_dir(),
			  CTL_SOCKET_NAME);
	else
		cli_error("cannot talk to vmsvcd at %s/%s: %s", cli_runtime_dir(), CTL_SOCKET_NAME,
			  strerror(-err));
}

/* vmsvcd's status reply, asked once per process (NULL: not asked yet or
 * the daemon is not running). */
static json_object *status_cache;
static bool status_asked;

int cli_daemon_call(const char *op, json_object **reply)
{
	json_object *req = json_object_new_object(), *ok;
	int r;

	*reply = NULL;
	json_object_object_add(req, "op", json_object_new_string(op));
	r = ctl_call(cli_runtime_dir(), req, 5000, reply, NULL);
	json_object_put(req);
	if (r < 0)
		return r;
	if (json_object_object_get_ex(*reply, "ok", &ok) && json_object_get_boolean(ok))
		return 0;
	if (json_object_object_get_ex(*reply, "error", &ok) &&
	    strcmp(json_object_get_string(ok), "EACCES") == 0)
		return -EACCES;
	return -EPROTO;
}

int cli_daemon_status_now(json_object **reply)
{
	return cli_daemon_call("status", reply);
}

static json_object *daemon_status(void)
{
	json_object *reply = NULL;
	int r;

	if (status_asked)
		return status_cache;
	status_asked = true;
	r = cli_daemon_status_now(&reply);
	if (r == 0)
		status_cache = TAKE_PTR(reply);
	else if (r == -EACCES)
		cli_error("VM states are not shown: vmsvcd tells them only to root and "
			  "members of the 'vmsvc' group");
	json_object_put(reply);
	return status_cache;
}

json_object *cli_status_find(json_object *status, const char *name)
{
	json_object *vms, *v;

	if (!status || !json_object_object_get_ex(status, "vms", &vms) ||
	    !json_object_is_type(vms, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(vms); i++) {
		json_object *vm = json_object_array_get_idx(vms, i);
		const char *n = json_object_object_get_ex(vm, "name", &v)
					? json_object_get_string(v)
					: NULL;
		if (n && strcmp(n, name) == 0)
			return vm;
	}
	return NULL;
}

json_object *cli_vm_status(const char *name)
{
	return cli_status_find(daemon_status(), name);
}

void cli_vm_state(const char *name, const char **state, unsigned *connections)
{
	json_object *vm = cli_vm_status(name), *v;

	*state = "stopped";
	*connections = 0;
	if (!vm)
		return;
	if (json_object_object_get_ex(vm, "state", &v) && json_object_is_type(v, json_type_string))
		*state = json_object_get_string(v);
	if (json_object_object_get_ex(vm, "connections", &v))
		*connections = (unsigned)json_object_get_int64(v);
}
