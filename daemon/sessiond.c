/* SPDX-License-Identifier: MIT */
/*
 * sessiond.c - the host side of the VM Session Service
 * (docs/session-protocol.md): the control operation "session".
 *
 * vmsvcd checks who is calling (SO_PEERCRED against root and the VM's
 * SessionUsers=/SessionGroups=), opens the vsock stream to the agent from a
 * privileged host port (which no host client can choose), writes the PEER
 * frame that tells the agent who is calling, and only then hands the stream
 * to the caller: the caller never holds the stream before PEER is in it, so
 * it cannot claim another identity.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "access.h"
#include "control.h"
#include "daemon.h"
#include "hstream.h"
#include "log.h"
#include "registry.h"
#include "session.h"
#include "sessiond.h"
#include "util.h"
#include "vm.h"

/* How long the agent has to accept the connection. */
#define SESSION_CONNECT_TIMEOUT_MS 5000

/* One session being opened. */
struct opening {
	struct ctl_pending pend;
	struct daemon *d;
	int client_end; /* handed to the caller once PEER is in the stream */
	char vm[64];
	hv_guid_t vm_id, svc;
	struct sess_peer peer;
	char user[64];
};

static struct opening *opening_free(struct opening *o)
{
	if (!o)
		return NULL;
	ctl_pending_end(&o->pend, NULL, -1);
	safe_close(o->client_end);
	free(o);
	return NULL;
}

/* Writes PEER into our end of the caller's socket pair (empty, so the
 * small frame fits at once). */
static int write_peer(struct opening *o)
{
	struct sess_buf b = { 0 };
	ssize_t n;
	int r;

	sess_enc_peer(&b, &o->peer);
	r = b.err;
	if (r == 0) {
		n = send(o->client_end, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
		r = n == (ssize_t)b.len ? 0 : n < 0 ? -errno : -EIO;
	}
	sess_buf_free(&b);
	return r;
}

static json_object *open_error(const struct opening *o, int err)
{
	char msg[256];

	if (err == -ECONNREFUSED)
		snprintf(msg, sizeof(msg),
			 "no agent answers in VM %s: is vmsvc-agent running in the guest? (it "
			 "listens on vsock port %u)",
			 o->vm, REG_SESSION_PORT);
	else if (err == -ETIMEDOUT)
		snprintf(msg, sizeof(msg), "the agent in VM %s did not answer within %d s", o->vm,
			 SESSION_CONNECT_TIMEOUT_MS / 1000);
	else
		snprintf(msg, sizeof(msg), "cannot open a session in VM %s: %s", o->vm,
			 strerror(-err));
	return ctl_reply_error(-err, msg);
}

/* hs_connect's done(): the agent accepted (write PEER, hand the stream
 * over) or not (say why). */
static int on_open(void *opaque, int err, int fd, uint32_t local_port)
{
	struct opening *o = opaque;
	struct counters *sc = daemon_service_counters(o->d, &o->svc);
	json_object *reply;
	int r = err;

	(void)fd;
	if (r == 0 && !o->pend.client)
		r = -ECONNRESET; /* the caller went away meanwhile */
	if (r == 0)
		r = write_peer(o);
	if (r == 0) {
		reply = ctl_reply_ok();
		json_object_object_add(reply, "vm", json_object_new_string(o->vm));
		ctl_add_guid(reply, "id", &o->vm_id);
		sc->accepted++;
		log_info("session: uid %u (%s) pid %u opened a session in VM %s (host port %u)",
			 o->peer.uid, o->user[0] ? o->user : "?", o->peer.pid, o->vm, local_port);
	} else {
		reply = open_error(o, r);
		sc->refused[REFUSED_NO_LISTENER]++;
		log_info("session: uid %u: no session in VM %s: %s", o->peer.uid, o->vm,
			 strerror(-r));
	}
	ctl_pending_end(&o->pend, reply, r == 0 ? o->client_end : -1);
	json_object_put(reply);
	opening_free(o);
	return err == 0 && r < 0 ? r : 0;
}

/* Who is calling, for PEER. */
static void fill_peer(struct opening *o, struct ctl_client *c)
{
	const struct ucred *cred = ctl_client_cred(c);
	const gid_t *groups;
	unsigned n;

	ctl_client_groups(c, &groups, &n);
	access_user_name(cred->uid, o->user, sizeof(o->user));
	o->peer = (struct sess_peer){ .uid = cred->uid,
				      .gid = cred->gid,
				      .pid = (uint32_t)cred->pid,
				      .user = o->user,
				      .vm = o->vm };
	for (unsigned i = 0; i < n && i < SESS_MAX_GROUPS; i++)
		o->peer.groups[o->peer.ngroups++] = groups[i];
}

/* Root, or a user or group the VM's definition allows. */
static bool may_open(struct ctl_client *c, const struct vm *vm)
{
	const struct ucred *cred = ctl_client_cred(c);
	const gid_t *groups;
	unsigned n;

	ctl_client_groups(c, &groups, &n);
	return access_allows(vm_session_access(vm), cred->uid, cred->gid, groups, n);
}

static json_object *refuse(struct ctl_client *c, const char *vm_arg, const struct vm *vm)
{
	const struct ucred *cred = ctl_client_cred(c);
	char msg[384], user[64];

	access_user_name(cred->uid, user, sizeof(user));
	snprintf(msg, sizeof(msg),
		 "not permitted: %s%s(uid %u) may not open sessions in VM %s; root and the "
		 "users and groups in SessionUsers= and SessionGroups= of vms.d/%s.conf may",
		 user, user[0] ? " " : "", (unsigned)cred->uid, vm ? vm_name(vm) : vm_arg,
		 vm ? vm_name(vm) : vm_arg);
	return ctl_reply_error(EACCES, msg);
}

/* The session service's entry, or a reply saying why there is none. */
static json_object *check_service(struct daemon *d, const struct reg_service **svc)
{
	hv_guid_t id;

	hv_guid_parse(REG_SESSION_GUID, &id);
	daemon_refresh_registry(d);
	*svc = d->reg ? reg_find_guid(d->reg, &id) : NULL;
	if (*svc && (*svc)->enabled)
		return NULL;
	daemon_service_counters(d, &id)
		->refused[*svc ? REFUSED_DISABLED : REFUSED_NOT_REGISTERED]++;
	return ctl_reply_error(ENOTSUP, "the VM Session Service is disabled in the registry; "
					"turn it on with 'vmsvc service enable \"VM Session "
					"Service\"'");
}

/* DisabledServices=session in the VM's definition. */
static json_object *refuse_disabled(struct daemon *d, struct vm *vm, const struct reg_service *svc)
{
	char msg[320];

	daemon_service_counters(d, &svc->id)->refused[REFUSED_DISABLED]++;
	vm_counters(vm)->refused[REFUSED_DISABLED]++;
	snprintf(msg, sizeof(msg),
		 "the VM Session Service is disabled for VM %s (DisabledServices= in "
		 "vms.d/%s.conf); turn it on with 'vmsvc vm integration %s enable session'",
		 vm_name(vm), vm_name(vm), vm_name(vm));
	return ctl_reply_error(EOPNOTSUPP, msg);
}

static json_object *start(struct daemon *d, struct ctl_client *c, struct vm *vm,
			  const struct reg_service *svc)
{
	struct opening *o = calloc(1, sizeof(*o));
	int sv[2], r;

	if (!o)
		return ctl_reply_error(ENOMEM, "out of memory");
	o->d = d;
	o->client_end = -1;
	o->vm_id = *vm_id(vm);
	o->svc = svc->id;
	snprintf(o->vm, sizeof(o->vm), "%s", vm_name(vm));
	fill_peer(o, c);
	if (ctl_pending_begin(&o->pend, c) < 0) {
		opening_free(o);
		return ctl_reply_error(EAGAIN, "too many pending connects from this user; wait "
					       "for them to complete");
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		opening_free(o);
		return ctl_reply_error(-r, "cannot create a socket pair");
	}
	o->client_end = sv[1];
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	r = hs_connect(vm, svc->port, VSK_PORT_PRIVILEGED, sv[0],
		       now_ms() + SESSION_CONNECT_TIMEOUT_MS, on_open, o);
	if (r < 0) {
		json_object *e = open_error(o, r);
		opening_free(o);
		return e;
	}
	return NULL; /* on_open() answers */
}

static json_object *op_session(struct daemon *d, struct ctl_client *c, json_object *req,
			       const int *fds, unsigned nfds)
{
	const struct reg_service *svc;
	json_object *arg, *o;
	const char *name;
	hv_guid_t id;
	struct vm *vm;

	(void)fds;
	if (nfds != 0 || !json_object_object_get_ex(req, "vm", &arg) ||
	    !json_object_is_type(arg, json_type_string))
		return ctl_reply_error(EINVAL,
				       "session needs \"vm\" (a VM name or VmId) and no fds");
	name = json_object_get_string(arg);
	if ((o = check_service(d, &svc)))
		return o;
	vm = hv_guid_parse(name, &id) == 0 ? vm_find(d, NULL, &id) : vm_find(d, name, NULL);
	/* Permission before existence for non-root callers, so that they
	 * cannot probe which VMs exist. */
	if (!vm || !may_open(c, vm)) {
		if (!vm && ctl_client_cred(c)->uid == 0) {
			char msg[160];
			snprintf(msg, sizeof(msg), "no VM '%.64s' (see 'vmsvc vm list')", name);
			return ctl_reply_error(ENOENT, msg);
		}
		return refuse(c, name, vm);
	}
	if (vm_service_disabled(vm, "session"))
		return refuse_disabled(d, vm, svc);
	if (vm_state(vm) != VM_RUNNING) {
		char msg[160];
		snprintf(msg, sizeof(msg),
			 "VM %s is not running (its guest's vsock driver is not up)", vm_name(vm));
		return ctl_reply_error(ENETUNREACH, msg);
	}
	return start(d, c, vm, svc);
}

int session_start(struct daemon *d)
{
	(void)d;
	return control_add_op("session", op_session);
}
