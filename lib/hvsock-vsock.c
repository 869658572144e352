/* SPDX-License-Identifier: MIT */
/*
 * hvsock-vsock.c - the AF_VSOCK transport of the hv_* calls, used from a
 * guest: HV_GUID_PARENT is CID 2, the service's vsock port is Data1 of its
 * VSOCK-template GUID (the mapping Linux guests use on Hyper-V).
 */
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <vmsvc/vmsvc.h>

#include "hvsock-int.h"
#include "util.h"

/* The vsock port of a service: Data1 of a VSOCK-template GUID. */
static int vsock_port(const struct sockaddr_hv *a, uint32_t *port)
{
	return hv_guid_to_port(&a->ServiceId, port) < 0 ? -EADDRNOTAVAIL : 0;
}

/* Makes fd an AF_VSOCK stream socket (unless it is one already). */
static int vsock_install(int fd, const struct hvs_sock *s)
{
	_cleanup_close_ int v = -1;

	if (s->transport == HVS_T_VSOCK)
		return 0;
	v = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (v < 0)
		return -errno;
	return hvs_fd_replace(fd, v);
}

int hvs_vsock_bind(int fd, const struct hvs_sock *s, const struct sockaddr_hv *addr)
{
	struct sockaddr_vm svm = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY };
	int r = vsock_port(addr, &svm.svm_port);

	if (r < 0)
		return r;
	r = vsock_install(fd, s);
	if (r < 0)
		return r;
	return bind(fd, (struct sockaddr *)&svm, sizeof(svm)) < 0 ? -errno : 0;
}

int hvs_vsock_connect(int fd, const struct hvs_sock *s, const struct sockaddr_hv *addr)
{
	struct sockaddr_vm svm = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST };
	uint32_t ms = s->opt[HVS_OPT_TIMEOUT];
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	int r = vsock_port(addr, &svm.svm_port);

	if (r < 0)
		return r;
	r = vsock_install(fd, s);
	if (r < 0)
		return r;
	setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv));
	r = connect(fd, (struct sockaddr *)&svm, sizeof(svm)) < 0 ? -errno : 0;
	struct hvs_sock *p = hvs_sock_lock(fd);
	if (p) {
		p->transport = HVS_T_VSOCK;
		p->peer = *addr;
		p->peer.VmId = HV_GUID_PARENT;
		p->state = r == 0	       ? HVS_ST_CONNECTED
			   : r == -EINPROGRESS ? HVS_ST_CONNECTING
					       : HVS_ST_OPEN;
		p->has_peer = r == 0 || r == -EINPROGRESS;
	}
	hvs_tab_unlock();
	return r;
}

/* A repeated connect on a vsock socket whose connect is in progress: the
 * kernel knows the answer. */
int hvs_vsock_connect_again(int fd, const struct hvs_sock *s)
{
	struct sockaddr_vm svm = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST };
	int r;

	vsock_port(&s->peer, &svm.svm_port);
	r = connect(fd, (struct sockaddr *)&svm, sizeof(svm)) < 0 ? -errno : 0;
	if (r == 0 || r == -EISCONN || (r != -EALREADY && r != -EINPROGRESS)) {
		struct hvs_sock *p = hvs_sock_lock(fd);
		if (p)
			p->state = r == 0 || r == -EISCONN ? HVS_ST_CONNECTED : HVS_ST_OPEN;
		hvs_tab_unlock();
	}
	return r;
}

/* The VmId a guest sees for a vsock peer CID. */
static hv_guid_t vm_of_cid(uint32_t cid)
{
	if (cid == VMADDR_CID_HOST)
		return HV_GUID_PARENT;
	if (cid == VMADDR_CID_LOCAL)
		return HV_GUID_LOOPBACK;
	return HV_GUID_ZERO; /* another VM: it has no VmId we could know */
}

int hvs_vsock_accept(int fd, const struct hvs_sock *ls, struct sockaddr_hv *peer)
{
	for (;;) {
		struct sockaddr_vm svm = { 0 };
		socklen_t len = sizeof(svm);
		int n = accept4(fd, (struct sockaddr *)&svm, &len, SOCK_CLOEXEC);
		if (n < 0)
			return -errno;
		if (ls->only_parent && svm.svm_cid != VMADDR_CID_HOST) {
			safe_close(n); /* bound to PARENT: the host only */
			continue;
		}
		hv_guid_t vm = vm_of_cid(svm.svm_cid);
		return hvs_accepted(n, HVS_T_VSOCK, ls, &vm, peer);
	}
}

int hvs_vsock_peername(int fd, const struct hvs_sock *s, struct sockaddr_hv *addr)
{
	struct sockaddr_vm svm = { 0 };
	socklen_t len = sizeof(svm);

	if (getpeername(fd, (struct sockaddr *)&svm, &len) < 0)
		return -errno;
	*addr = (struct sockaddr_hv){ .Family = AF_HYPERV,
				      .VmId = vm_of_cid(svm.svm_cid),
				      .ServiceId = s->peer.ServiceId };
	return 0;
}
