/* SPDX-License-Identifier: MIT */
/* route.c - the admission table for guest connections (route.h). */
#include "route.h"
#include "daemon.h"
#include "log.h"
#include "registry.h"
#include "util.h"

/* Refusals are logged one line each, but a guest that floods REQUESTs for
 * refused ports must not be logged once per packet: each VM has a bucket of
 * LOG_BURST lines, refilled by one every LOG_REFILL_MS; refusals beyond it
 * are counted (vmsvc stats) and summed up in one line when it refills. */
#define LOG_BURST     20
#define LOG_REFILL_MS 1000

static bool refusal_logged(struct counters *c, const char *vm)
{
	uint64_t now = now_ms(), n;

	if (c->log_ms == 0) {
		c->log_ms = now;
		c->log_tokens = LOG_BURST;
	}
	n = (now - c->log_ms) / LOG_REFILL_MS;
	if (n > 0) {
		c->log_ms += n * LOG_REFILL_MS;
		c->log_tokens =
			n >= LOG_BURST - c->log_tokens ? LOG_BURST : c->log_tokens + (uint32_t)n;
	}
	if (c->log_tokens == 0) {
		c->log_quiet++;
		return false;
	}
	if (c->log_quiet > 0)
		log_info("VM %s: %u more guest connections were refused (not logged one by one)",
			 vm, c->log_quiet);
	c->log_quiet = 0;
	c->log_tokens--;
	return true;
}

void route_add(struct daemon *d, struct route *r)
{
	struct list_head *p, *t;

	/* Before the first route of a later class: classes stay in order,
	 * routes of one class in registration order. */
	list_for_each_safe (p, t, &d->routes) {
		struct route *o = list_entry(p, struct route, link);
		if (o->cls > r->cls) {
			list_add_tail(&r->link, p);
			return;
		}
	}
	list_add_tail(&r->link, &d->routes);
}

void route_del(struct route *r)
{
	list_del(&r->link);
}

static int refuse(struct daemon *d, struct counters *vm_count, const struct reg_service *svc,
		  enum refusal why)
{
	vm_count->refused[why]++;
	if (svc)
		daemon_service_counters(d, &svc->id)->refused[why]++;
	return -ECONNREFUSED;
}

int route_admit(struct daemon *d, struct route_req *req, struct counters *vm_count,
		hv_guid_t *svc_id)
{
	const struct reg_service *svc;
	enum refusal why = REFUSED_NO_LISTENER;
	struct list_head *p, *t;

	daemon_refresh_registry(d);
	svc = d->reg ? reg_find_port(d->reg, req->port) : NULL;
	if ((!svc || !svc->enabled) && refusal_logged(vm_count, req->vm_name)) {
		log_info("VM %s: guest port %u -> host port %u refused: %s", req->vm_name,
			 req->src_port, req->port,
			 svc ? "service disabled" : "no service registered for this port");
	}
	if (!svc || !svc->enabled)
		return refuse(d, vm_count, svc, svc ? REFUSED_DISABLED : REFUSED_NOT_REGISTERED);
	req->svc = svc;
	list_for_each_safe (p, t, &d->routes) {
		struct route *r = list_entry(p, struct route, link);
		int fd = r->open(r->opaque, req, &why);
		if (fd == -EACCES && r->cls == ROUTE_INTERNAL)
			return refuse(d, vm_count, svc, why); /* the route logged why */
		if (fd >= 0) {
			*svc_id = svc->id;
			log_debug("VM %s: guest port %u connected to service '%s' (%s)",
				  req->vm_name, req->src_port, svc->name, r->name);
			return fd;
		}
	}
	if (refusal_logged(vm_count, req->vm_name))
		log_info("VM %s: guest connection to service '%s' (port %u) refused: %s",
			 req->vm_name, svc->name, req->port,
			 why == REFUSED_WRONG_VM ? "its only listeners are bound to other VMs"
			 : why == REFUSED_NOT_PERMITTED ? "not permitted from this guest port"
							: "nobody listens (no hv listener, no "
							  "RUNDIR/vms/NAME.vsock_PORT)");
	return refuse(d, vm_count, svc, why);
}
