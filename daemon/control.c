/* SPDX-License-Identifier: MIT */
/*
 * control.c - the daemon side of the control protocol (lib/ctlproto.h):
 * one SOCK_SEQPACKET listener, one small object per client, one request
 * answered at a time. The socket is world-connectable; each operation
 * decides from SO_PEERCRED whether the client may do it, and each uid but
 * root may hold at most max_clients_per_uid connections and
 * max_connects_per_uid pending hv_connects (so that one local user cannot
 * exhaust the daemon's fds). hv_* listeners are the ROUTE_HV route of the
 * admission table.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "control.h"
#include "ctlproto.h"
#include "daemon.h"
#include "fdwatch.h"
#include "hstream.h"
#include "log.h"
#include "registry.h"
#include "route.h"
#include "util.h"
#include "vm.h"

#define MAX_PEER_GROUPS 256

/* What one uid holds (root is not counted). */
struct uid_use {
	uid_t uid;
	unsigned clients, connects;
	struct list_head link;
};

struct control {
	struct daemon *d;
	struct watch *listen;
	char *path;
	struct list_head clients;
	struct list_head uses; /* struct uid_use */
	struct route route;    /* ROUTE_HV */
};

struct ctl_client {
	struct watch w; /* fd: the client's connection */
	struct control *ctl;
	struct uid_use *use; /* NULL for root */
	struct ucred cred;
	gid_t groups[MAX_PEER_GROUPS]; /* SO_PEERGROUPS at connect time */
	unsigned ngroups;
	struct list_head link;
	struct list_head pending; /* struct ctl_pending: requests answered later */
	bool listening;
	hv_guid_t l_vm, l_svc;
};

/* A pending hv_connect (docs/control-protocol.md). */
struct pconn {
	struct ctl_pending pend;
	int a_dup;	 /* duplicate of the caller's end: restores SO_SNDBUF */
	uint32_t filler; /* bytes to drain from our end before data */
	int sndbuf;
	hv_guid_t svc;
	hv_guid_t vm; /* the peer */
};

static json_object *reply_error(int err, const char *message)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(false));
	json_object_object_add(o, "error", json_object_new_string(strerrorname_np(err) ?: "EIO"));
	json_object_object_add(o, "message", json_object_new_string(message));
	return o;
}

/* ---- request fields ---- */

static int get_guid(json_object *req, const char *key, hv_guid_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string) ||
	    hv_guid_parse(json_object_get_string(v), out) < 0)
		return -EINVAL;
	return 0;
}

/* An optional integer field in [lo, hi]; def when absent. */
static int get_int(json_object *req, const char *key, int64_t lo, int64_t hi, int64_t def,
		   int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(req, key, &v)) {
		*out = def;
		return 0;
	}
	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	*out = json_object_get_int64(v);
	return *out < lo || *out > hi ? -EINVAL : 0;
}

void ctl_add_guid(json_object *o, const char *key, const hv_guid_t *g)
{
	char s[HV_GUID_STRSIZE];

	hv_guid_format(g, s, sizeof(s));
	json_object_object_add(o, key, json_object_new_string(s));
}

static json_object *reply_ok(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(true));
	return o;
}

/* ---- identity ---- */

static bool peer_in_group(const struct ctl_client *c, gid_t gid)
{
	if (c->cred.gid == gid)
		return true;
	for (unsigned i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

/* Root, the entry's User=, or a member of its Group= may listen. The
 * names were resolved when the registry was loaded (reg_resolve_owners):
 * no user database lookup on the event loop. */
static bool may_listen(const struct ctl_client *c, const struct reg_service *svc)
{
	if (c->cred.uid == 0)
		return true;
	if (svc->user && svc->uid != REG_NO_ID && svc->uid == c->cred.uid)
		return true;
	return svc->group && svc->gid != REG_NO_ID && peer_in_group(c, svc->gid);
}

/* Root or the vmsvc group may connect into guests and read the daemon's
 * state (VMs, VmIds, counters). */
static bool is_privileged(const struct ctl_client *c)
{
	gid_t gid = c->ctl->d->sock_gid;

	return c->cred.uid == 0 || (gid != 0 && peer_in_group(c, gid));
}

/* ---- listeners ---- */

static bool is_wildcard(const hv_guid_t *g)
{
	return hv_guid_equal(g, &HV_GUID_WILDCARD);
}

/*
 * The hv_* listener for service svc that a connection from VM vm_id (NULL:
 * from the host, loopback) goes to, by precedence: the VM's own VmId, then
 * CHILDREN, then WILDCARD (guests); LOOPBACK, then WILDCARD (host). NULL if
 * none; *wrong_vm (may be NULL) tells whether a listener bound to another
 * VM's VmId exists.
 */
static struct ctl_client *find_listener(struct control *ctl, const hv_guid_t *svc,
					const hv_guid_t *vm_id, bool *wrong_vm)
{
	struct ctl_client *best = NULL;
	int best_rank = 0;
	struct list_head *p, *t;

	if (wrong_vm)
		*wrong_vm = false;
	list_for_each_safe (p, t, &ctl->clients) {
		struct ctl_client *c = list_entry(p, struct ctl_client, link);
		int rank = 0;

		if (!c->listening || !hv_guid_equal(&c->l_svc, svc))
			continue;
		if (is_wildcard(&c->l_vm))
			rank = 1;
		else if (vm_id && hv_guid_equal(&c->l_vm, &HV_GUID_CHILDREN))
			rank = 2;
		else if (vm_id && hv_guid_equal(&c->l_vm, vm_id))
			rank = 3;
		else if (!vm_id && hv_guid_equal(&c->l_vm, &HV_GUID_LOOPBACK))
			rank = 2;
		else if (vm_id && !hv_guid_equal(&c->l_vm, &HV_GUID_LOOPBACK) &&
			 !hv_guid_equal(&c->l_vm, &HV_GUID_CHILDREN) && wrong_vm)
			*wrong_vm = true;
		if (rank > best_rank) {
			best = c;
			best_rank = rank;
		}
	}
	return best;
}

/* Hands the connected stream fd (the caller keeps its copy) to listener l as
 * an incoming connection from peer_vm. 0, or -ECONNREFUSED when its queue
 * is full or it is gone. */
static int deliver(struct ctl_client *l, const hv_guid_t *peer_vm, const hv_guid_t *svc, int fd)
{
	json_object *m = json_object_new_object();
	int r;

	json_object_object_add(m, "op", json_object_new_string("incoming"));
	ctl_add_guid(m, "vm", peer_vm);
	ctl_add_guid(m, "service", svc);
	r = ctl_send_fds(l->w.fd, m, &fd, 1);
	json_object_put(m);
	return r < 0 ? -ECONNREFUSED : 0;
}

/* The ROUTE_HV route: a guest connection goes to the best hv_* listener,
 * over a fresh socket pair. Returns our end or -ENOENT. */
static int hv_route_open(void *opaque, const struct route_req *req, enum refusal *hint)
{
	struct control *ctl = opaque;
	bool wrong_vm = false;
	struct ctl_client *l = find_listener(ctl, &req->svc->id, req->vm_id, &wrong_vm);
	int sp[2];

	if (wrong_vm)
		*hint = REFUSED_WRONG_VM;
	if (!l)
		return -ENOENT;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	int r = deliver(l, req->vm_id, &req->svc->id, sp[1]);
	safe_close(sp[1]);
	if (r < 0) {
		safe_close(sp[0]);
		return -ENOENT;
	}
	return sp[0];
}

static json_object *op_listen(struct daemon *d, struct ctl_client *c, json_object *req,
			      const int *fds, unsigned nfds)
{
	struct control *ctl = c->ctl;
	hv_guid_t vm, sid;
	int64_t backlog;
	const struct reg_service *svc;

	(void)fds;
	if (nfds || get_guid(req, "vm", &vm) < 0 || get_guid(req, "service", &sid) < 0 ||
	    get_int(req, "backlog", 0, 4096, 128, &backlog) < 0)
		return reply_error(EINVAL, "listen needs \"vm\" and \"service\" GUIDs");
	if (c->listening)
		return reply_error(EISCONN, "this connection already listens");
	if (hv_guid_equal(&vm, &HV_GUID_PARENT) || hv_guid_equal(&vm, &HV_GUID_BROADCAST) ||
	    hv_guid_equal(&vm, &HV_GUID_SILOHOST))
		return reply_error(EADDRNOTAVAIL, "a host listener binds to WILDCARD, CHILDREN, "
						  "LOOPBACK or a VM's VmId");
	daemon_refresh_registry(d);
	svc = d->reg ? reg_find_guid(d->reg, &sid) : NULL;
	if (!svc || !svc->enabled) {
		daemon_service_counters(d, &sid)
			->refused[svc ? REFUSED_DISABLED : REFUSED_NOT_REGISTERED]++;
		return reply_error(EACCES, svc ? "the service is disabled in the registry"
					       : "the service is not registered");
	}
	if (!may_listen(c, svc)) {
		daemon_service_counters(d, &sid)->refused[REFUSED_NOT_PERMITTED]++;
		return reply_error(EACCES, "not permitted: only root, the service's User= or a "
					   "member of its Group= may listen");
	}
	struct list_head *p, *t;
	list_for_each_safe (p, t, &ctl->clients) {
		struct ctl_client *o = list_entry(p, struct ctl_client, link);
		if (o->listening && hv_guid_equal(&o->l_svc, &sid) && hv_guid_equal(&o->l_vm, &vm))
			return reply_error(EADDRINUSE, "a listener is already bound to this "
						       "VmId and service");
	}
	c->listening = true;
	c->l_vm = vm;
	c->l_svc = sid;
	return reply_ok();
}

/* ---- per-uid limits ---- */

/* The use record of uid (created), NULL for root or on ENOMEM. */
static struct uid_use *use_get(struct control *ctl, uid_t uid)
{
	struct list_head *p, *t;
	struct uid_use *u;

	if (uid == 0)
		return NULL;
	list_for_each_safe (p, t, &ctl->uses) {
		u = list_entry(p, struct uid_use, link);
		if (u->uid == uid)
			return u;
	}
	u = calloc(1, sizeof(*u));
	if (u) {
		u->uid = uid;
		list_add_tail(&u->link, &ctl->uses);
	}
	return u;
}

static void use_put(struct uid_use *u)
{
	if (u && u->clients == 0 && u->connects == 0) {
		list_del(&u->link);
		free(u);
	}
}

/* ---- requests answered later, and other modules' operations ---- */

int ctl_pending_begin(struct ctl_pending *p, struct ctl_client *c)
{
	if (c->use && c->use->connects >= c->ctl->d->max_connects_per_uid)
		return -EAGAIN;
	p->client = c;
	p->use = c->use;
	if (p->use)
		p->use->connects++;
	list_add_tail(&p->link, &c->pending);
	return 0;
}

void ctl_pending_end(struct ctl_pending *p, json_object *reply, int fd)
{
	if (p->client) {
		if (reply)
			ctl_send(p->client->w.fd, reply, fd);
		list_del(&p->link);
		p->client = NULL;
	}
	if (p->use) {
		p->use->connects--;
		use_put(p->use);
		p->use = NULL;
	}
}

bool ctl_client_privileged(const struct ctl_client *c)
{
	return is_privileged(c);
}

const struct ucred *ctl_client_cred(const struct ctl_client *c)
{
	return &c->cred;
}

bool ctl_client_in_group(const struct ctl_client *c, gid_t gid)
{
	return peer_in_group(c, gid);
}

void ctl_client_groups(const struct ctl_client *c, const gid_t **groups, unsigned *n)
{
	*groups = c->groups;
	*n = c->ngroups;
}

json_object *ctl_reply_error(int err, const char *message)
{
	return reply_error(err, message);
}

json_object *ctl_reply_ok(void)
{
	return reply_ok();
}

#define MAX_EXTRA_OPS 16
static struct {
	const char *name;
	ctl_op_fn *run;
} extra_ops[MAX_EXTRA_OPS];

int control_add_op(const char *name, ctl_op_fn *run)
{
	for (size_t i = 0; i < MAX_EXTRA_OPS; i++)
		if (!extra_ops[i].name) {
			extra_ops[i].name = name;
			extra_ops[i].run = run;
			return 0;
		}
	return -ENOSPC;
}

/* ---- connect ---- */

static struct pconn *pconn_free(struct pconn *pc)
{
	if (!pc)
		return NULL;
	ctl_pending_end(&pc->pend, NULL, -1);
	safe_close(pc->a_dup);
	free(pc);
	return NULL;
}

/* Drains the filler from our end and restores the caller's SO_SNDBUF: the
 * caller's socket becomes writable. */
static int pconn_release(struct pconn *pc, int stream_fd)
{
	char buf[4096];
	uint32_t left = pc->filler;
	int half = pc->sndbuf / 2; /* the kernel doubles what we set */

	if (half > 0)
		setsockopt(pc->a_dup, SOL_SOCKET, SO_SNDBUF, &half, sizeof(half));
	while (left > 0) {
		ssize_t n =
			recv(stream_fd, buf, left < sizeof(buf) ? left : sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			return -EPROTO; /* the client sent less filler than it said */
		left -= (uint32_t)n;
	}
	return 0;
}

static void pconn_reply(struct pconn *pc, int err, const hv_guid_t *peer_vm)
{
	json_object *o;

	if (!pc->pend.client)
		return;
	if (err) {
		o = reply_error(-err, err == -ECONNREFUSED ? "nobody listens for this service"
				      : err == -ETIMEDOUT  ? "no answer within the connect timeout"
							   : strerror(-err));
	} else {
		o = reply_ok();
		ctl_add_guid(o, "vm", peer_vm);
		ctl_add_guid(o, "service", &pc->svc);
	}
	ctl_send(pc->pend.client->w.fd, o, -1);
	json_object_put(o);
}

/* hs_connect's done(): replies to the client if it is still there, makes
 * its socket writable, frees pc. */
static int pconn_done(void *opaque, int err, int stream_fd, uint32_t local_port)
{
	struct pconn *pc = opaque;

	(void)local_port;
	pconn_reply(pc, err, &pc->vm);
	if (err == 0 && pconn_release(pc, stream_fd) < 0)
		shutdown(stream_fd, SHUT_RDWR);
	pconn_free(pc);
	return 0;
}

static json_object *connect_loopback(struct control *ctl, struct pconn *pc, int b)
{
	struct daemon *d = ctl->d;
	const struct reg_service *svc = d->reg ? reg_find_guid(d->reg, &pc->svc) : NULL;
	struct counters *sc = daemon_service_counters(d, &pc->svc);
	struct ctl_client *l;

	if (!svc || !svc->enabled) {
		sc->refused[svc ? REFUSED_DISABLED : REFUSED_NOT_REGISTERED]++;
		return reply_error(EACCES, svc ? "the service is disabled in the registry"
					       : "the service is not registered");
	}
	l = find_listener(ctl, &pc->svc, NULL, NULL);
	if (!l || pconn_release(pc, b) < 0 || deliver(l, &HV_GUID_LOOPBACK, &pc->svc, b) < 0) {
		sc->refused[REFUSED_NO_LISTENER]++;
		return reply_error(ECONNREFUSED, "nobody listens for this service on the host");
	}
	sc->accepted++;
	json_object *o = reply_ok();
	ctl_add_guid(o, "vm", &HV_GUID_LOOPBACK);
	ctl_add_guid(o, "service", &pc->svc);
	return o;
}

/* The vsock port of a service: its template GUID, or its registry entry. */
static int service_port(struct daemon *d, const hv_guid_t *sid, uint32_t *port)
{
	const struct reg_service *svc = d->reg ? reg_find_guid(d->reg, sid) : NULL;

	if (svc) {
		*port = svc->port;
		return 0;
	}
	return hv_guid_to_port(sid, port) == 0 ? 0 : -EADDRNOTAVAIL;
}

static json_object *connect_guest(struct daemon *d, struct ctl_client *c, struct pconn **pcp,
				  int64_t timeout_ms, int *b)
{
	struct pconn *pc = *pcp;
	struct vm *vm = vm_find(d, NULL, &pc->vm);
	uint32_t port;
	int r;

	/* Permission first, so that an unprivileged caller cannot probe
	 * which VmIds exist. */
	if (!is_privileged(c))
		return reply_error(EACCES, "not permitted: connecting into guests needs root or "
					   "the 'vmsvc' group");
	if (!vm)
		return reply_error(EHOSTUNREACH, "no VM has this VmId");
	if (vm_state(vm) != VM_RUNNING)
		return reply_error(ENETUNREACH, "the VM is not running");
	if (service_port(d, &pc->svc, &port) < 0)
		return reply_error(EADDRNOTAVAIL, "the service GUID is not a VSOCK template and "
						  "is not registered with a port");
	if (ctl_pending_begin(&pc->pend, c) < 0)
		return reply_error(EAGAIN, "too many pending connects from this user; wait for "
					   "them to complete");
	r = hs_connect(vm, port, VSK_PORT_ANY, *b, now_ms() + (uint64_t)timeout_ms, pconn_done, pc);
	*b = -1; /* taken */
	if (r < 0)
		return reply_error(-r, "cannot connect");
	*pcp = NULL; /* answered later by pconn_done() */
	return NULL;
}

/* Whether fd is a connected AF_UNIX stream socket (what the protocol passes;
 * anything else from a client is refused before we use it). */
static bool is_unix_stream(int fd)
{
	int dom = 0, type = 0;
	socklen_t len = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) < 0)
		return false;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return false;
	return dom == AF_UNIX && type == SOCK_STREAM;
}

static json_object *op_connect(struct daemon *d, struct ctl_client *c, json_object *req,
			       const int *fds, unsigned nfds)
{
	hv_guid_t vm;
	int64_t timeout, filler, sndbuf;
	json_object *o;
	int b;

	if (nfds != 2 || get_guid(req, "vm", &vm) < 0 ||
	    get_int(req, "timeout_ms", 1, HVSOCKET_CONNECT_TIMEOUT_MAX, 2000, &timeout) < 0 ||
	    get_int(req, "filler", 0, 65536, 0, &filler) < 0 ||
	    get_int(req, "sndbuf", 0, INT32_MAX, 0, &sndbuf) < 0)
		return reply_error(EINVAL, "connect needs \"vm\", \"service\" and two fds");
	if (!is_unix_stream(fds[0]) || !is_unix_stream(fds[1]))
		return reply_error(EINVAL, "connect's fds must be the two ends of an AF_UNIX "
					   "stream socket pair");
	struct pconn *pc = calloc(1, sizeof(*pc));
	if (!pc)
		return reply_error(ENOMEM, "out of memory");
	pc->a_dup = fcntl(fds[1], F_DUPFD_CLOEXEC, 3);
	pc->filler = (uint32_t)filler;
	pc->sndbuf = (int)sndbuf;
	b = fcntl(fds[0], F_DUPFD_CLOEXEC, 3);
	if (get_guid(req, "service", &pc->svc) < 0 || pc->a_dup < 0 || b < 0) {
		safe_close(b);
		pconn_free(pc);
		return reply_error(EINVAL, "connect needs \"vm\", \"service\" and two fds");
	}
	fcntl(b, F_SETFL, fcntl(b, F_GETFL) | O_NONBLOCK);
	pc->vm = vm;
	daemon_refresh_registry(d);
	if (hv_guid_equal(&vm, &HV_GUID_LOOPBACK))
		o = connect_loopback(c->ctl, pc, b);
	else
		o = connect_guest(d, c, &pc, timeout, &b);
	safe_close(b);
	pconn_free(pc);
	return o;
}

static const struct {
	const char *name;
	json_object *(*run)(struct daemon *d, struct ctl_client *c, json_object *req,
			    const int *fds, unsigned nfds);
} ops[] = {
	{ "connect", op_connect },
	{ "listen", op_listen },
};

static json_object *dispatch(struct daemon *d, struct ctl_client *c, json_object *req,
			     const int *fds, unsigned nfds)
{
	json_object *op;
	const char *name;

	if (!json_object_object_get_ex(req, "op", &op) ||
	    !json_object_is_type(op, json_type_string))
		return reply_error(EINVAL, "request without a string \"op\"");
	name = json_object_get_string(op);
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		if (strcmp(name, ops[i].name) == 0)
			return ops[i].run(d, c, req, fds, nfds);
	for (size_t i = 0; i < MAX_EXTRA_OPS && extra_ops[i].name; i++)
		if (strcmp(name, extra_ops[i].name) == 0)
			return extra_ops[i].run(d, c, req, fds, nfds);
	return reply_error(EOPNOTSUPP, "unknown operation");
}

/* ---- clients ---- */

static void client_close(struct ctl_client *c)
{
	struct list_head *p, *t;

	list_for_each_safe (p, t, &c->pending) {
		struct ctl_pending *pend = list_entry(p, struct ctl_pending, link);
		list_del(&pend->link);
		pend->client = NULL; /* the request goes on; nobody to answer */
	}
	c->listening = false;
	list_del(&c->link);
	if (c->use) {
		c->use->clients--;
		use_put(c->use);
		c->use = NULL;
	}
	watch_close(&c->w);
}

/* The answer to a request that could not be read (ctl_recv_fds's -errno). */
static json_object *reply_unreadable(int r)
{
	char msg[96];

	if (r == -EMSGSIZE)
		snprintf(msg, sizeof(msg), "request over %d bytes", CTL_MSG_MAX);
	else if (r == -ETOOMANYREFS)
		snprintf(msg, sizeof(msg), "more than %d fds with one request", CTL_MAX_FDS);
	else
		snprintf(msg, sizeof(msg), "malformed request: expected one JSON object");
	return reply_error(-r, msg);
}

static void on_client(uv_poll_t *p, int status, int events)
{
	struct ctl_client *c = p->data;
	json_object *req = NULL, *reply;
	int fds[CTL_MAX_FDS];
	unsigned nfds = 0;
	int r;

	(void)events;
	if (status < 0) {
		client_close(c);
		return;
	}
	r = ctl_recv_fds(c->w.fd, &req, fds, 2, &nfds);
	if (r == -EAGAIN)
		return;
	if (r == 0 || (r < 0 && r != -EPROTO && r != -EMSGSIZE && r != -ETOOMANYREFS)) {
		client_close(c);
		return;
	}
	if (c->listening && r > 0) {
		/* A listener's connection carries no more requests. */
		json_object_put(req);
		req = NULL;
		r = -EPROTO;
	}
	reply = r < 0 ? reply_unreadable(r) : dispatch(c->ctl->d, c, req, fds, nfds);
	json_object_put(req);
	/* Reply before closing the received fds: a failed connect's caller
	 * sees its socket hang up only once the reply is there. */
	if (reply && ctl_send(c->w.fd, reply, -1) < 0)
		client_close(c);
	json_object_put(reply);
	for (unsigned i = 0; i < nfds; i++)
		safe_close(fds[i]);
}

/* Refuses a client over its uid's limit: it reads why, then end of stream. */
static void refuse_client(int fd, uid_t uid, unsigned max)
{
	char msg[160];
	json_object *o;

	snprintf(msg, sizeof(msg),
		 "too many connections to vmsvcd from uid %u (at most %u; vmsvcd "
		 "--max-clients-per-user)",
		 (unsigned)uid, max);
	o = reply_error(EUSERS, msg);
	ctl_send(fd, o, -1);
	json_object_put(o);
	/* Close without unread data: closing a Unix socket with its request
	 * still queued makes the client's recv fail with ECONNRESET before it
	 * reads why. After the shutdown nothing more can arrive. */
	shutdown(fd, SHUT_RDWR);
	while (recv(fd, msg, sizeof(msg), MSG_DONTWAIT) > 0)
		;
	safe_close(fd);
}

static void client_new(struct control *ctl, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct uid_use *use = NULL;
	struct ctl_client *c;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		safe_close(fd);
		return;
	}
	if (cred.uid != 0) {
		use = use_get(ctl, cred.uid);
		if (!use || use->clients >= ctl->d->max_clients_per_uid) {
			refuse_client(fd, cred.uid, ctl->d->max_clients_per_uid);
			use_put(use);
			return;
		}
	}
	c = (struct ctl_client *)watch_new(ctl->d->loop, fd, sizeof(*c), on_client, NULL, NULL);
	if (!c) {
		use_put(use);
		return;
	}
	/* Replies (a key-value exchange get) may be CTL_MSG_MAX bytes: room
	 * for one in the send buffer, whatever net.core.wmem_default is. */
	if (ctl_sock_bufs(fd) < 0)
		log_warn("control socket: cannot raise a client's send buffer to %d bytes; larger "
			 "replies will fail",
			 CTL_MSG_MAX);
	c->cred = cred;
	len = sizeof(c->groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, c->groups, &len) == 0)
		c->ngroups = len / sizeof(gid_t);
	c->ctl = ctl;
	c->use = use;
	if (use)
		use->clients++;
	list_init(&c->pending);
	list_add_tail(&c->link, &ctl->clients);
	watch_set(&c->w, UV_READABLE | UV_DISCONNECT);
}

static void on_listen(uv_poll_t *p, int status, int events)
{
	struct watch *l = p->data;
	struct control *ctl = l->owner;

	(void)events;
	if (status < 0)
		return;
	for (int n = 0; n < 32; n++) {
		int fd = watch_accept(l, ctl->path);
		if (fd < 0)
			return;
		client_new(ctl, fd);
	}
}

static int listen_seqpacket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if ((unlink(path) < 0 && errno != ENOENT) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0666) < 0 ||
	    listen(fd, 64) < 0)
		return -errno;
	return TAKE_FD(fd);
}

int control_start(struct daemon *d)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	int fd;

	if (!ctl || !(ctl->path = path_join(d->runtime_dir, CTL_SOCKET_NAME))) {
		free(ctl);
		return -ENOMEM;
	}
	ctl->d = d;
	list_init(&ctl->clients);
	list_init(&ctl->uses);
	d->ctl = ctl;
	fd = listen_seqpacket(ctl->path);
	if (fd < 0)
		return fd;
	ctl->listen = watch_new(d->loop, fd, sizeof(struct watch), on_listen, ctl, NULL);
	if (!ctl->listen)
		return -ENOMEM;
	watch_set(ctl->listen, UV_READABLE);
	ctl->route = (struct route){
		.name = "hv_* listener", .cls = ROUTE_HV, .open = hv_route_open, .opaque = ctl
	};
	route_add(d, &ctl->route);
	return 0;
}

void control_stop(struct daemon *d)
{
	struct control *ctl = d->ctl;
	struct list_head *p, *t;

	if (!ctl || !ctl->listen)
		return;
	route_del(&ctl->route);
	unlink(ctl->path);
	list_for_each_safe (p, t, &ctl->clients)
		client_close(list_entry(p, struct ctl_client, link));
	watch_close(ctl->listen);
	ctl->listen = NULL;
}

void control_free(struct daemon *d)
{
	struct control *ctl = d->ctl;
	struct list_head *p, *t;

	if (!ctl)
		return;
	list_for_each_safe (p, t, &ctl->uses)
		free(list_entry(p, struct uid_use, link));
	free(ctl->path);
	free(ctl);
	d->ctl = NULL;
}
