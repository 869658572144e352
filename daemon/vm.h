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

#include "counters.h"
#include "list.h"

struct daemon;
struct vm;

enum vm_state { VM_STOPPED, VM_CONNECTED, VM_RUNNING };

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
/* The VM's counters, and the live byte counts of its open connections
 * (added per service into *svc_live when svc is not NULL and matches). */
const struct counters *vm_counters(const struct vm *vm);
void vm_live_bytes(const struct vm *vm, const hv_guid_t *svc, struct counters *live);

struct pconn;
/*
 * Opens a host connection to guest port `port` whose host stream is fd
 * (taken: closed on failure too). pc (may be NULL) is the pending hv_connect
 * it completes (control_connect_done() is called exactly once, possibly
 * before this returns); deadline_ms is when to give up. Returns 0 or a
 * negative errno (then pc was not completed).
 */
int vm_host_connect(struct vm *vm, uint32_t port, int fd, struct pconn *pc, uint64_t deadline_ms);

#endif
