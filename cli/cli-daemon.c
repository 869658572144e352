/* SPDX-License-Identifier: MIT */
/* cli-daemon.c - talking to vmsvcd from the CLI: errors people can act on. */
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "ctlproto.h"

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

static json_object *daemon_status(void)
{
	json_object *req, *reply = NULL, *ok;

	if (status_asked)
		return status_cache;
	status_asked = true;
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("status"));
	if (ctl_call(cli_runtime_dir(), req, 5000, &reply, NULL) == 0 &&
	    json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok))
		status_cache = reply;
	else if (reply && json_object_object_get_ex(reply, "error", &ok) &&
		 strcmp(json_object_get_string(ok), "EACCES") == 0)
		cli_error("VM states are not shown: vmsvcd tells them only to root and "
			  "members of the 'vmsvc' group");
	if (reply != status_cache)
		json_object_put(reply);
	json_object_put(req);
	return status_cache;
}

void cli_vm_state(const char *name, const char **state, unsigned *connections)
{
	json_object *st = daemon_status(), *vms, *v;

	*state = "stopped";
	*connections = 0;
	if (!st || !json_object_object_get_ex(st, "vms", &vms))
		return;
	for (size_t i = 0; i < json_object_array_length(vms); i++) {
		json_object *vm = json_object_array_get_idx(vms, i);
		if (!json_object_object_get_ex(vm, "name", &v) ||
		    strcmp(json_object_get_string(v), name) != 0)
			continue;
		if (json_object_object_get_ex(vm, "state", &v))
			*state = json_object_get_string(v);
		if (json_object_object_get_ex(vm, "connections", &v))
			*connections = (unsigned)json_object_get_int64(v);
	}
}
