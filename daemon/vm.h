/* SPDX-License-Identifier: MIT */
/*
 * vm.h - the VMs served by vmsvcd: the VM table (kept equal to vms.d),
 * lookup, and per VM its vhost-user socket (QEMU) and vsock engine. The
 * host side of its connections is hstream.h.
 */
#ifndef VMSVCD_VM_H
#define VMSVCD_VM_H

#include <stdbool.h>
#include <stdint.h>

#include <vmsvc/vmsvc.h>

#include "counters.h"

struct access;
struct daemon;
struct vm;

enum vm_state { VM_STOPPED, VM_CONNECTED, VM_RUNNING };

/* Loads vms.d, starts serving its VMs and keeps watching it. 0 or -errno. */
int vm_table_start(struct daemon *d);
/* Makes the served VMs equal to vms.d again (SIGHUP). */
void vm_table_sync(struct daemon *d);
/* Stops every VM and the watch (shutdown). */
void vm_table_stop(struct daemon *d);

/* The served VM named name, or with VmId id (either may be NULL); NULL if
 * none. */
struct vm *vm_find(struct daemon *d, const char *name, const hv_guid_t *id);
/* Iteration over the served VMs: vm_first(d), then vm_next(d, vm); NULL
 * at the end. The VM returned must not be stopped during the loop. */
struct vm *vm_first(struct daemon *d);
struct vm *vm_next(struct daemon *d, struct vm *vm);

/*
 * Per-VM state of another module (the hybrid socket, in-box services):
 * attach() runs when a VM starts being served and returns the module's
 * state (NULL: failure, logged by the module; the VM is served without
 * it), detach() when it stops, tick() every DAEMON_TICK_MS.
 */
struct vm_ext {
	const char *name;
	void *(*attach)(struct vm *vm);
	void (*detach)(void *state);
	void (*tick)(void *state, uint64_t now_ms); /* may be NULL */
};
/* Registers ext for every VM started from now on (at most VM_MAX_EXTS). */
#define VM_MAX_EXTS 8
int vm_ext_register(const struct vm_ext *ext);
/* The state ext's attach() returned for vm, or NULL (none, or ext is not
 * registered). */
void *vm_ext_state(const struct vm *vm, const struct vm_ext *ext);

struct daemon *vm_daemon(const struct vm *vm);
const char *vm_name(const struct vm *vm);
uint32_t vm_cid(const struct vm *vm);
const hv_guid_t *vm_id(const struct vm *vm);
enum vm_state vm_state(const struct vm *vm);
const char *vm_state_name(enum vm_state s);
/* Whether the guest's driver is running (rx and tx queues started). */
bool vm_running(const struct vm *vm);
/* Whether QEMU has paused the device (QMP stop: rings stopped, QEMU still
 * attached, connections kept until it resumes; vhost-user.h). */
bool vm_paused(const struct vm *vm);
/* Changes whenever the VM's connections were all dropped (driver reset,
 * QEMU gone, broken device): a connection opened under another
 * generation no longer exists. */
uint64_t vm_generation(const struct vm *vm);
/* Connections now open (closing ones included). */
unsigned vm_connections(const struct vm *vm);
/* Who may open VM sessions in it, besides root (vms.d SessionUsers=,
 * SessionGroups=; access.h). */
const struct access *vm_session_access(const struct vm *vm);
/* Whether vms.d turns the in-box service short_name ("heartbeat") off for
 * this VM (DisabledServices=; kept equal to vms.d like the access lists). */
bool vm_service_disabled(const struct vm *vm, const char *short_name);
/* The VM's counters. */
struct counters *vm_counters(struct vm *vm);

#endif
