/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - vmsvcd's shared state: the daemon (one libuv loop, the
 * registry, the VM table) and one struct vm per defined VM.
 *
 * Ownership: the daemon owns its VMs; a VM owns its sockets, its vhost-user
 * device, its vsock engine and its host streams. Everything with a uv handle
 * is freed from the handle's close callback.
 */
#ifndef VMSVCD_DAEMON_H
#define VMSVCD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include <vmsvc/vmsvc.h>

#include "counters.h"
#include "list.h"

struct reg_table;
struct vm;

struct daemon {
	uv_loop_t *loop;
	char *config_dir;
	char *runtime_dir;
	char *vms_dir; /* RUNDIR/vms */

	struct reg_table *reg;
	struct timespec reg_stamp; /* services.d mtime at the last load */
	bool reg_loaded;

	struct list_head vms;

	uv_signal_t sig_term, sig_int, sig_hup;
	uv_fs_event_t watch_services, watch_vms;
	bool watching_services, watching_vms;
	uv_timer_t tick;

	int ctl_fd; /* RUNDIR/control.sock listener, -1 when none */
	uv_poll_t ctl_poll;
	struct list_head ctl_clients;
	struct counter_table *svc_counts; /* per service GUID */

	gid_t sock_gid; /* group "vmsvc" if it exists, else 0 (root only) */
	mode_t sock_mode;
	bool stopping;
};

/* Reloads the registry if services.d changed since the last load (one stat
 * per call, so the connect path always sees the registry as on disk). */
void daemon_refresh_registry(struct daemon *d);

/* Creates a listening Unix stream socket at path (replacing a stale one),
 * with the daemon's socket mode and group. Returns the fd (caller closes)
 * or a negative errno. */
int daemon_listen_unix(struct daemon *d, const char *path);

/* The counters of service id (never NULL: a static sink on ENOMEM). */
struct counters *daemon_service_counters(struct daemon *d, const hv_guid_t *id);

/* The served VM named name, or with VmId id (either may be NULL); NULL if
 * none. */
struct vm *daemon_find_vm(struct daemon *d, const char *name, const hv_guid_t *id);

/* Milliseconds since an arbitrary start (monotonic). */
uint64_t daemon_now_ms(struct daemon *d);

#endif
