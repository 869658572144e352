/* SPDX-License-Identifier: MIT */
/*
 * route.h - where a guest's connection goes: the admission table.
 *
 * route_admit() checks the registry first (not registered or disabled: the
 * connection is refused, RST, counted), then asks the routes in class
 * order, each class in registration order:
 *   ROUTE_INTERNAL  daemon-internal services (heartbeat, time sync, ...)
 *   ROUTE_HV        hv_* listeners on the control socket (control.c)
 *   ROUTE_PATH      RUNDIR/vms/NAME.vsock_P listeners (hybsock.c)
 * The first route that opens a host stream takes the connection. Each route
 * is registered by the module that owns it; hstream.c knows none of them.
 */
#ifndef VMSVCD_ROUTE_H
#define VMSVCD_ROUTE_H

#include <stdint.h>

#include <vmsvc/vmsvc.h>

#include "counters.h"
#include "list.h"

struct daemon;
struct reg_service;

enum route_class { ROUTE_INTERNAL, ROUTE_HV, ROUTE_PATH, ROUTE_NCLASSES };

/* One guest connection request. */
struct route_req {
	const hv_guid_t *vm_id;
	const char *vm_name;
	uint32_t port;		       /* the host port the guest asked for */
	uint32_t src_port;	       /* the guest's port */
	const struct reg_service *svc; /* set by route_admit before routes run */
};

struct route {
	const char *name;
	enum route_class cls;
	/*
	 * Opens the host end of req's stream: returns an fd (a connected
	 * stream socket; the caller owns it), -ENOENT when the route does not
	 * take it (the next one is asked; *hint may say why, e.g.
	 * REFUSED_WRONG_VM), -EACCES (ROUTE_INTERNAL only) when the route owns
	 * the port and refuses
	 * (no later route is asked; *hint says why: an in-box service's port
	 * from an unprivileged guest port), or another negative errno
	 * (treated as -ENOENT).
	 */
	int (*open)(void *opaque, const struct route_req *req, enum refusal *hint);
	void *opaque;
	struct list_head link; /* d->routes, kept in class order */
};

/* Registers r (its storage belongs to the caller until route_del). */
void route_add(struct daemon *d, struct route *r);
void route_del(struct route *r);

/*
 * Admits req: returns the host stream's fd (caller owns it), or
 * -ECONNREFUSED after counting the refusal in vm_count and the service's
 * counters and logging why. *svc_id gets the service's GUID on success.
 */
int route_admit(struct daemon *d, struct route_req *req, struct counters *vm_count,
		hv_guid_t *svc_id);

#endif
