/* SPDX-License-Identifier: MIT */
/*
 * hvsock-proto.c - the pure parts of the hv_* calls: which transport a VmId
 * takes (DESIGN.md "Addresses and wildcards"), address checks, and the
 * decoding of vmsvcd's replies (docs/control-protocol.md). No I/O.
 */
#include <stdlib.h>
#include <string.h>

#include <vmsvc/vmsvc.h>

#include "hvsock-int.h"
#include "util.h"

enum hvs_mode hvs_mode_from_env(void)
{
	const char *v = getenv("VMSVC_GUEST");

	if (v && strcmp(v, "1") == 0)
		return HVS_MODE_GUEST;
	if (v && strcmp(v, "0") == 0)
		return HVS_MODE_HOST;
	return HVS_MODE_AUTO;
}

const char *hvs_runtime_dir(void)
{
	const char *v = getenv("VMSVC_RUNTIME_DIR");

	return v && *v ? v : "/run/vmsvc";
}

static bool is(const hv_guid_t *a, const hv_guid_t *b)
{
	return hv_guid_equal(a, b);
}

static int route_connect(const hv_guid_t *vm, enum hvs_mode mode, struct hvs_route *out)
{
	if (is(vm, &HV_GUID_PARENT)) {
		if (mode == HVS_MODE_HOST)
			return -ENETUNREACH;
		out->transport = HVS_T_VSOCK;
	} else if (mode == HVS_MODE_GUEST) {
		/* The original guide: from a guest, ZERO also means the host. */
		if (!is(vm, &HV_GUID_ZERO))
			return -EHOSTUNREACH;
		out->transport = HVS_T_VSOCK;
	} else if (is(vm, &HV_GUID_ZERO)) {
		return -EHOSTUNREACH; /* no partition has VmId ZERO on a host */
	} else if (is(vm, &HV_GUID_BROADCAST) || is(vm, &HV_GUID_CHILDREN) ||
		   is(vm, &HV_GUID_SILOHOST)) {
		return -EADDRNOTAVAIL; /* listener-only or unsupported wildcards */
	} else {
		out->transport = HVS_T_CTL; /* LOOPBACK or a VM's VmId */
	}
	return 0;
}

static int route_bind(const hv_guid_t *vm, enum hvs_mode mode, struct hvs_route *out)
{
	if (is(vm, &HV_GUID_PARENT)) {
		if (mode == HVS_MODE_HOST)
			return -EADDRNOTAVAIL;
		out->transport = HVS_T_VSOCK;
		out->only_parent = true;
	} else if (mode == HVS_MODE_GUEST) {
		if (!is(vm, &HV_GUID_WILDCARD))
			return -EADDRNOTAVAIL;
		out->transport = HVS_T_VSOCK;
	} else if (is(vm, &HV_GUID_BROADCAST) || is(vm, &HV_GUID_SILOHOST)) {
		return -EADDRNOTAVAIL;
	} else {
		out->transport = HVS_T_CTL; /* WILDCARD, CHILDREN, LOOPBACK, a VmId */
	}
	return 0;
}

int hvs_route(const hv_guid_t *vm, enum hvs_op op, enum hvs_mode mode, struct hvs_route *out)
{
	*out = (struct hvs_route){ .transport = HVS_T_NONE };
	return op == HVS_OP_CONNECT ? route_connect(vm, mode, out) : route_bind(vm, mode, out);
}

int hvs_check_addr(const struct sockaddr_hv *a)
{
	if (!a)
		return -EFAULT;
	if (a->Family != AF_HYPERV)
		return -EAFNOSUPPORT;
	return a->Reserved != 0 ? -EINVAL : 0;
}

#define ERRNO_NAME(e) \
	{             \
#e, e \
	}
static const struct {
	const char *name;
	int value;
} errno_names[] = {
	ERRNO_NAME(EACCES),	  ERRNO_NAME(EPERM),	       ERRNO_NAME(ECONNREFUSED),
	ERRNO_NAME(ECONNRESET),	  ERRNO_NAME(ECONNABORTED),    ERRNO_NAME(ETIMEDOUT),
	ERRNO_NAME(EHOSTUNREACH), ERRNO_NAME(EHOSTDOWN),       ERRNO_NAME(ENETUNREACH),
	ERRNO_NAME(ENETDOWN),	  ERRNO_NAME(EADDRNOTAVAIL),   ERRNO_NAME(EADDRINUSE),
	ERRNO_NAME(EINVAL),	  ERRNO_NAME(EPROTO),	       ERRNO_NAME(EOPNOTSUPP),
	ERRNO_NAME(EISCONN),	  ERRNO_NAME(ENOMEM),	       ERRNO_NAME(ENOBUFS),
	ERRNO_NAME(EMFILE),	  ERRNO_NAME(ENFILE),	       ERRNO_NAME(EIO),
	ERRNO_NAME(ENOENT),	  ERRNO_NAME(ENODEV),	       ERRNO_NAME(EBUSY),
	ERRNO_NAME(EAGAIN),	  ERRNO_NAME(EPROTONOSUPPORT), ERRNO_NAME(EAFNOSUPPORT),
	ERRNO_NAME(ENOSPC),	  ERRNO_NAME(EMSGSIZE),	       ERRNO_NAME(ESHUTDOWN),
};

int hvs_errno_from_name(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(errno_names); i++)
		if (strcmp(name, errno_names[i].name) == 0)
			return errno_names[i].value;
	return 0;
}

/* A GUID field; -EPROTO when absent or malformed. */
static int json_guid(json_object *o, const char *key, hv_guid_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string) ||
	    hv_guid_parse(json_object_get_string(v), out) < 0)
		return -EPROTO;
	return 0;
}

int hvs_parse_reply(json_object *o, struct hvs_reply *out)
{
	json_object *ok, *e;
	bool has_vm, has_svc;

	*out = (struct hvs_reply){ 0 };
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "ok", &ok) || !json_object_is_type(ok, json_type_boolean))
		return -EPROTO;
	if (!json_object_get_boolean(ok)) {
		out->err = EIO;
		if (!json_object_object_get_ex(o, "error", &e))
			return 0;
		if (!json_object_is_type(e, json_type_string))
			return -EPROTO;
		out->err = hvs_errno_from_name(json_object_get_string(e)) ?: EIO;
		return 0;
	}
	has_vm = json_object_object_get_ex(o, "vm", NULL);
	has_svc = json_object_object_get_ex(o, "service", NULL);
	if (!has_vm && !has_svc)
		return 0;
	if (json_guid(o, "vm", &out->vm) < 0 || json_guid(o, "service", &out->service) < 0)
		return -EPROTO;
	out->has_addr = true;
	return 0;
}

int hvs_parse_incoming(json_object *o, hv_guid_t *vm, hv_guid_t *service)
{
	json_object *op;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "op", &op) ||
	    !json_object_is_type(op, json_type_string) ||
	    strcmp(json_object_get_string(op), "incoming") != 0)
		return -EPROTO;
	if (json_guid(o, "vm", vm) < 0 || json_guid(o, "service", service) < 0)
		return -EPROTO;
	return 0;
}
