/* SPDX-License-Identifier: MIT */
/*
 * ctlstate.c - the control operations that report the daemon's state:
 * "status" (the VMs) and "stats" (counters per service and per VM). Only
 * root and the vmsvc group may read them (docs/control-protocol.md).
 */
#include "control.h"
#include "ctlstate.h"
#include "daemon.h"
#include "hstream.h"
#include "icd.h"
#include "registry.h"
#include "vm.h"

static json_object *service_stats(struct daemon *d, const hv_guid_t *id, const char *name,
				  uint32_t port, bool has_port)
{
	json_object *o = json_object_new_object();
	struct counters live = { 0 }, *c = daemon_service_counters(d, id);

	for (struct vm *vm = vm_first(d); vm; vm = vm_next(d, vm))
		hs_live_bytes(vm, id, &live);
	json_object_object_add(o, "name", name ? json_object_new_string(name) : NULL);
	ctl_add_guid(o, "guid", id);
	json_object_object_add(o, "port", has_port ? json_object_new_int64(port) : NULL);
	counters_to_json(c, &live, o);
	return o;
}

static json_object *refuse_state(void)
{
	return ctl_reply_error(EACCES, "not permitted: reading VM state and counters needs root or "
				       "the 'vmsvc' group");
}

static json_object *op_stats(struct daemon *d, struct ctl_client *c, json_object *req,
			     const int *fds, unsigned nfds)
{
	json_object *o, *svcs, *vms;

	(void)req, (void)fds, (void)nfds;
	if (!ctl_client_privileged(c))
		return refuse_state();
	o = ctl_reply_ok();
	svcs = json_object_new_array();
	vms = json_object_new_array();
	daemon_refresh_registry(d);
	for (size_t i = 0; d->reg && i < reg_count(d->reg); i++) {
		const struct reg_service *s = reg_at(d->reg, i);
		json_object_array_add(svcs, service_stats(d, &s->id, s->name, s->port, true));
	}
	for (size_t i = 0; i < counter_table_count(d->svc_counts); i++) {
		hv_guid_t id;
		counter_table_at(d->svc_counts, i, &id);
		if (!d->reg || !reg_find_guid(d->reg, &id))
			json_object_array_add(svcs, service_stats(d, &id, NULL, 0, false));
	}
	for (struct vm *vm = vm_first(d); vm; vm = vm_next(d, vm)) {
		json_object *v = json_object_new_object();
		struct counters live = { 0 };

		hs_live_bytes(vm, NULL, &live);
		json_object_object_add(v, "name", json_object_new_string(vm_name(vm)));
		ctl_add_guid(v, "id", vm_id(vm));
		counters_to_json(vm_counters(vm), &live, v);
		json_object_array_add(vms, v);
	}
	json_object_object_add(o, "services", svcs);
	json_object_object_add(o, "vms", vms);
	return o;
}

static json_object *op_status(struct daemon *d, struct ctl_client *c, json_object *req,
			      const int *fds, unsigned nfds)
{
	json_object *o, *vms;

	(void)req, (void)fds, (void)nfds;
	if (!ctl_client_privileged(c))
		return refuse_state();
	o = json_object_new_object();
	vms = json_object_new_array();
	for (struct vm *vm = vm_first(d); vm; vm = vm_next(d, vm)) {
		json_object *v = json_object_new_object();

		json_object_object_add(v, "name", json_object_new_string(vm_name(vm)));
		ctl_add_guid(v, "id", vm_id(vm));
		json_object_object_add(v, "cid", json_object_new_int64(vm_cid(vm)));
		json_object_object_add(v, "state",
				       json_object_new_string(vm_state_name(vm_state(vm))));
		json_object_object_add(v, "connections", json_object_new_int64(vm_connections(vm)));
		icd_status_json(vm, v);
		icd_ts_status_json(vm, v);
		json_object_array_add(vms, v);
	}
	json_object_object_add(o, "ok", json_object_new_boolean(true));
	json_object_object_add(o, "vms", vms);
	return o;
}

int ctlstate_start(struct daemon *d)
{
	int r;

	(void)d;
	r = control_add_op("status", op_status);
	return r < 0 ? r : control_add_op("stats", op_stats);
}
