/* SPDX-License-Identifier: MIT */
/*
 * control.c - the daemon side of the control protocol (lib/ctlproto.h):
 * one SOCK_SEQPACKET listener, one small object per client, one request
 * answered at a time. The socket is world-connectable; each operation
 * decides from SO_PEERCRED whether the client may do it.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "control.h"
#include "ctlproto.h"
#include "daemon.h"
#include "log.h"
#include "util.h"
#include "vm.h"

struct ctl_client {
	uv_poll_t poll;
	int fd;
	struct ucred cred;
	struct list_head link;
};

static json_object *reply_error(int err, const char *message)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(false));
	json_object_object_add(o, "error", json_object_new_string(strerrorname_np(err) ?: "EIO"));
	json_object_object_add(o, "message", json_object_new_string(message));
	return o;
}

static json_object *op_status(struct daemon *d, struct ctl_client *c, json_object *req)
{
	json_object *o = json_object_new_object(), *vms = json_object_new_array();
	struct list_head *p, *t;

	(void)c;
	(void)req;
	list_for_each_safe(p, t, &d->vms)
	{
		struct vm *vm = vm_from_link(p);
		json_object *v = json_object_new_object();
		char id[HV_GUID_STRSIZE];

		hv_guid_format(vm_id(vm), id, sizeof(id));
		json_object_object_add(v, "name", json_object_new_string(vm_name(vm)));
		json_object_object_add(v, "id", json_object_new_string(id));
		json_object_object_add(v, "cid", json_object_new_int64(vm_cid(vm)));
		json_object_object_add(v, "state",
				       json_object_new_string(vm_state_name(vm_state(vm))));
		json_object_object_add(v, "connections",
				       json_object_new_int64(vm_connections(vm)));
		json_object_array_add(vms, v);
	}
	json_object_object_add(o, "ok", json_object_new_boolean(true));
	json_object_object_add(o, "vms", vms);
	return o;
}

static const struct {
	const char *name;
	json_object *(*run)(struct daemon *d, struct ctl_client *c, json_object *req);
} ops[] = {
	{ "status", op_status },
};

static json_object *dispatch(struct daemon *d, struct ctl_client *c, json_object *req)
{
	json_object *op;
	const char *name;

	if (!json_object_object_get_ex(req, "op", &op) || !json_object_is_type(op, json_type_string))
		return reply_error(EINVAL, "request without a string \"op\"");
	name = json_object_get_string(op);
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		if (strcmp(name, ops[i].name) == 0)
			return ops[i].run(d, c, req);
	return reply_error(EOPNOTSUPP, "unknown operation");
}

static void client_closed(uv_handle_t *h)
{
	struct ctl_client *c = h->data;

	c->fd = safe_close(c->fd);
	free(c);
}

static void client_close(struct ctl_client *c)
{
	list_del(&c->link);
	uv_close((uv_handle_t *)&c->poll, client_closed);
}

static void on_client(uv_poll_t *p, int status, int events)
{
	struct ctl_client *c = p->data;
	struct daemon *d = p->loop->data;
	json_object *req = NULL, *reply;
	int fd = -1, r;

	(void)events;
	if (status < 0) {
		client_close(c);
		return;
	}
	r = ctl_recv(c->fd, &req, &fd);
	if (r == -EAGAIN)
		return;
	fd = safe_close(fd); /* no operation takes an fd yet */
	if (r == 0 || (r < 0 && r != -EPROTO)) {
		client_close(c);
		return;
	}
	reply = r < 0 ? reply_error(EPROTO, "malformed request: expected one JSON object")
		      : dispatch(d, c, req);
	json_object_put(req);
	if (ctl_send(c->fd, reply, -1) < 0)
		client_close(c);
	json_object_put(reply);
}

static void on_listen(uv_poll_t *p, int status, int events)
{
	struct daemon *d = p->loop->data;

	(void)events;
	if (status < 0)
		return;
	for (int n = 0; n < 32; n++) {
		socklen_t len = sizeof(struct ucred);
		int fd = accept4(d->ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct ctl_client *c = calloc(1, sizeof(*c));
		if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0 ||
		    uv_poll_init(d->loop, &c->poll, fd) < 0) {
			free(c);
			safe_close(fd);
			continue;
		}
		c->fd = fd;
		c->poll.data = c;
		list_add_tail(&c->link, &d->ctl_clients);
		uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT, on_client);
	}
}

int control_start(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", d->runtime_dir, CTL_SOCKET_NAME) >=
	    (int)sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if ((unlink(sa.sun_path) < 0 && errno != ENOENT) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(sa.sun_path, 0666) < 0 ||
	    listen(fd, 64) < 0)
		return -errno;
	d->loop->data = d;
	list_init(&d->ctl_clients);
	if (uv_poll_init(d->loop, &d->ctl_poll, fd) < 0)
		return -EIO;
	d->ctl_fd = TAKE_FD(fd);
	uv_poll_start(&d->ctl_poll, UV_READABLE, on_listen);
	return 0;
}

static void listener_closed(uv_handle_t *h)
{
	struct daemon *d = h->loop->data;

	d->ctl_fd = safe_close(d->ctl_fd);
}

void control_stop(struct daemon *d)
{
	struct list_head *p, *t;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	if (d->ctl_fd < 0)
		return;
	snprintf(path, sizeof(path), "%s/%s", d->runtime_dir, CTL_SOCKET_NAME);
	unlink(path);
	list_for_each_safe(p, t, &d->ctl_clients)
	client_close(list_entry(p, struct ctl_client, link));
	uv_close((uv_handle_t *)&d->ctl_poll, listener_closed);
}
