/* SPDX-License-Identifier: MIT */
/*
 * vm.h - one VM served by vmsvcd: its vhost-user socket (QEMU), its vsock
 * engine, its hybrid socket (host to guest) and the host streams of its
 * connections.
 */
#ifndef VMSVCD_VM_H
#define VMSVCD_VM_H

#include <stdint.h>
#include <uv.h>

#include <vmsvc/vmsvc.h>

#include "list.h"

struct daemon;
struct vm;

enum vm_state { VM_STOPPED, VM_CONNECTED, VM_RUNNING };

/* Guest connections refused, by reason (counters). */
enum vm_refusal {
	REFUSED_NOT_REGISTERED,
	REFUSED_DISABLED,
	REFUSED_NO_LISTENER,
	REFUSED_WRONG_VM,
	REFUSED_NOT_PERMITTED,
	REFUSED_MAX
};

/* Creates the VM's sockets under RUNDIR/vms and starts serving it.
 * Returns 0 and *out, or a negative errno. */
int vm_start(struct daemon *d, const char *name, const hv_guid_t *id, uint32_t cid,
	     struct vm **out);

/* Stops serving: every connection is reset, QEMU's socket closed, the
 * socket files removed, and the VM taken off the daemon's list. The memory
 * goes once libuv has closed every handle. */
void vm_stop(struct vm *vm);

/* Advances the vsock engine's timers. */
void vm_tick(struct vm *vm, uint64_t now_ms);

struct list_head *vm_link(struct vm *vm);
struct vm *vm_from_link(struct list_head *l);
const char *vm_name(const struct vm *vm);
uint32_t vm_cid(const struct vm *vm);
const hv_guid_t *vm_id(const struct vm *vm);
enum vm_state vm_state(const struct vm *vm);
const char *vm_state_name(enum vm_state s);
/* Connections now open (closing ones included). */
unsigned vm_connections(const struct vm *vm);

#endif
