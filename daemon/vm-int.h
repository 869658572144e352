/* SPDX-License-Identifier: MIT */
/*
 * vm-int.h - struct vm, shared by the two halves of a VM: vm.c (QEMU side:
 * vhost-user, virtqueues) and hstream.c (host side: its streams).
 *
 * Handle lifetime: every uv handle lives in a heap object that is freed
 * from the handle's close callback; vm->handles counts the VM's open
 * handles and the VM itself is freed when it is stopped and the count
 * reaches zero.
 */
#ifndef VMSVCD_VM_INT_H
#define VMSVCD_VM_INT_H

#include <stdarg.h>

#include "access.h"
#include "daemon.h"
#include "fdwatch.h"
#include "vhost-user-io.h"
#include "vhost-user-state.h"
#include "vhost-user.h"
#include "vm.h"
#include "vsock.h"

struct vm {
	struct list_head link; /* daemon->vms */
	struct daemon *d;
	char *name;
	hv_guid_t id;
	uint32_t cid;
	char *vhost_path; /* RUNDIR/vms/NAME.vhost */

	struct watch *vhost_listen;
	struct watch *qemu; /* the vhost-user connection, NULL when none */
	struct watch *kick[VU_NUM_QUEUES];
	uv_idle_t *more; /* more queue work after a budget ran out */

	struct vu_dev *vu;
	struct vu_io *io; /* QEMU's partial message and unread reply */
	struct vsk_dev *vsk;
	struct vu_msg *reply;
	/* Since when (now_ms()) QEMU owes the rest of a message or has not
	 * read a reply; 0 when it owes nothing. */
	uint64_t qemu_wait_ms;

	struct list_head streams; /* struct hstream (hstream.c) */
	void *ext[VM_MAX_EXTS];	  /* vm_ext states */
	unsigned handles;
	bool stopping;
	bool in_rx; /* guards rx processing against re-entry */
	struct counters count;
	struct access session;	 /* SessionUsers=, SessionGroups= */
	char *disabled_services; /* DisabledServices=, or NULL */
	uint64_t generation;	 /* vm_generation() */
	uint64_t pause_gen;	 /* generation when it was paused */
	bool paused;		 /* as last logged */
	struct vm_handover *ho;	 /* vm-handover.c, NULL without a store */
};

/* hstream.c, for vm.c */
extern const struct vsk_ops hs_vsk_ops;
/* Times out host connections whose guest did not answer in time. */
void hs_tick(struct vm *vm, uint64_t now_ms);
/* Resets every connection with RST to the guest (so that its sockets fail
 * at once instead of hanging once the device is gone), flushes the RSTs
 * into the guest's rx buffers, and closes streams without a connection. */
void hs_reset_all(struct vm *vm);

/* vm-handover.c, for vm.c: the VM's vhost-user connection in the service
 * manager's fd store, for a successor. */
/* QEMU attached: store its socket and our state (with $NOTIFY_SOCKET). */
void vm_ho_connected(struct vm *vm);
/* After vhost-user requests: store the device's state and fds again. */
void vm_ho_save(struct vm *vm);
/* QEMU gone: remove everything stored for the VM. */
void vm_ho_disconnected(struct vm *vm);
/* What a killed predecessor stored for a VM, taken out of the store. */
struct vm_takeover {
	int qemu;    /* the vhost-user socket */
	int journal; /* memfd: its connections */
	int err;     /* reading the state failed */
	struct vu_state st;
	int fds[VU_STATE_MAX_FDS];
	unsigned n;
};
/* At the VM's start: takes what a predecessor stored into *t; false if
 * nothing. */
bool vm_ho_take(struct vm *vm, struct vm_takeover *t);
/* Rebuilds vm->vu (QEMU attached on t->qemu) from *t, which it empties.
 * 0 or a negative errno. */
int vm_ho_import(struct vm *vm, struct vm_takeover *t);
/* Closes what *t holds. */
void vm_ho_takeover_drop(struct vm_takeover *t);
/* Queues RSTs for what is left of the predecessor's connections; returns
 * how many (then fill the rx queue and call again). */
unsigned vm_ho_reset_old(struct vm *vm);

/* vm.c, for hstream.c */
/* Starts watching fd (taken) for the VM; counted in vm->handles. */
struct watch *vm_watch_new(struct vm *vm, int fd, size_t size, uv_poll_cb cb);
/* Fills the guest's rx buffers with what the engine has. */
void vm_process_rx(struct vm *vm);
/* The vsock engine's log callback. */
void vm_vsk_log(void *opaque, enum log_level level, const char *fmt, va_list ap);

#endif
