/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - vmsvcd's context: one libuv loop, the folders, the service
 * registry (kept fresh), the counters per service, the tick hooks and the
 * helpers every module listens with.
 *
 * Layering (docs/architecture.md): daemon.c calls no other daemon module;
 * the others call it. The VM list, the control socket and the route table
 * live here as data but belong to vm.c, control.c and route.c.
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
struct control;

/* Per-uid limits of the control socket (root is exempt). */
#define DAEMON_DEFAULT_MAX_CLIENTS  64
#define DAEMON_DEFAULT_MAX_CONNECTS 64

struct daemon {
	uv_loop_t *loop;
	char *config_dir;
	char *runtime_dir;
	char *vms_dir;	 /* RUNDIR/vms */
	char *state_dir; /* what survives restarts (the KVP host pools) */

	struct reg_table *reg; /* NULL until loaded */
	int reg_inotify;       /* inotify fd on services.d, -1 without */
	uv_poll_t reg_poll;
	struct timespec reg_stamp; /* services.d mtime (used without inotify) */
	bool reg_loaded;
	bool reg_watch_lost; /* services.d went away: use its mtime */

	struct list_head vms;		  /* vm.c */
	struct list_head routes;	  /* route.c */
	struct list_head ticks;		  /* struct daemon_tick */
	struct control *ctl;		  /* control.c */
	struct counter_table *svc_counts; /* per service GUID */
	uv_timer_t tick;

	unsigned max_clients_per_uid;
	unsigned max_connects_per_uid;
	gid_t sock_gid; /* group "vmsvc" if it exists, else 0 (root only) */
	mode_t sock_mode;
	bool stopping;
};

/* A function run every DAEMON_TICK_MS (timeouts, retries). */
#define DAEMON_TICK_MS 100
struct daemon_tick {
	void (*fn)(void *opaque, uint64_t now_ms);
	void *opaque;
	struct list_head link;
};

/* Sets up d (folders already parsed into it): runtime folders, registry,
 * its watch, the tick timer. 0 or a negative errno (logged). */
int daemon_init(struct daemon *d);
/* Closes the daemon's own handles (the loop then ends once the modules
 * closed theirs). */
void daemon_stop(struct daemon *d);
/* Frees what daemon_init allocated, after the loop ended. */
void daemon_free(struct daemon *d);

/* Registers t (storage owned by the caller, until daemon_untick). */
void daemon_on_tick(struct daemon *d, struct daemon_tick *t);
void daemon_untick(struct daemon_tick *t);

/*
 * Makes d->reg what services.d holds now. With inotify, one non-blocking
 * read tells whether anything changed since the last load (the kernel
 * queues the event before the writer's rename() or write() returns, so a
 * `vmsvc service disable` is in force for the very next connection, and
 * in-place edits count too); without it, the folder's mtime is compared.
 */
void daemon_refresh_registry(struct daemon *d);
/* Forces a reload now (SIGHUP). */
void daemon_reload_registry(struct daemon *d);

/* Creates a listening Unix stream socket at path (replacing a stale one),
 * with the daemon's socket mode and group. Returns the fd (caller closes)
 * or a negative errno. */
int daemon_listen_unix(struct daemon *d, const char *path);

/* The counters of service id (never NULL: a static sink on ENOMEM). */
struct counters *daemon_service_counters(struct daemon *d, const hv_guid_t *id);

/* asprintf("%s/%s") or NULL. */
char *path_join(const char *a, const char *b);

#endif
