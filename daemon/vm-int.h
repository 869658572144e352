/* SPDX-License-Identifier: MIT */
/*
 * vm-int.h - struct vm and the host streams, shared by vm.c (QEMU side:
 * vhost-user, virtqueues) and stream.c (host side: streams, hybrid socket,
 * admission).
 *
 * Handle lifetime: every uv handle lives in a heap object that is freed
 * from the handle's close callback; vm->handles counts the VM's open
 * handles and the VM itself is freed when it is stopped and the count
 * reaches zero.
 */
#ifndef VMSVCD_VM_INT_H
#define VMSVCD_VM_INT_H

#include <stdarg.h>

#include "daemon.h"
#include "hybrid.h"
#include "vhost-user.h"
#include "vm.h"
#include "vsock.h"

/* A watched fd: the poll handle and the fd it watches (owned). */
struct watch {
	uv_poll_t poll;
	int fd;
	struct vm *vm;
	int events; /* UV_READABLE | UV_WRITABLE now polled for */
	uv_poll_cb cb;
};

enum hs_state {
	HS_LINE,       /* hybrid client: reading "CONNECT <port>\n" */
	HS_CONNECTING, /* hybrid client: REQUEST sent, waiting for the guest */
	HS_OPEN,       /* connected: data flows */
	HS_CLOSED,     /* closing; freed from the close callback */
};

/* The host end of one connection (a Unix stream). */
struct hstream {
	struct watch w;
	struct list_head link; /* vm->streams */
	struct vsk_conn *conn; /* NULL once the engine closed it */
	enum hs_state state;
	struct hyb_line line;
	bool has_svc; /* svc: the registered service, for counters */
	bool active;  /* counted as active */
	hv_guid_t svc;
	struct pconn *pc;     /* pending hv_connect, NULL for hybrid clients */
	uint64_t deadline_ms; /* HS_CONNECTING: when to give up */
};

struct vm {
	struct list_head link; /* daemon->vms */
	struct daemon *d;
	char *name;
	hv_guid_t id;
	uint32_t cid;
	char *vhost_path;  /* RUNDIR/vms/NAME.vhost */
	char *hybrid_path; /* RUNDIR/vms/NAME.vsock; guest ports: hybrid_path_P */

	struct watch *vhost_listen;
	struct watch *hybrid_listen;
	struct watch *qemu; /* the vhost-user connection, NULL when none */
	struct watch *kick[VU_NUM_QUEUES];
	uv_idle_t *more; /* more queue work after a budget ran out */

	struct vu_dev *vu;
	struct vsk_dev *vsk;
	struct vu_msg *msg, *reply;

	struct list_head streams;
	unsigned handles;
	bool stopping;
	bool in_rx;		   /* guards rx processing against re-entry */
	bool accept_paused;	   /* listeners paused after accept() failed */
	uint64_t accept_warned_ms; /* when that was last logged */
	struct counters count;
};

/* stream.c */
extern const struct vsk_ops stream_vsk_ops;
/* Accepts hybrid clients on the VM's NAME.vsock listener. */
void stream_hybrid_accept(struct vm *vm);
/* Times out host connections whose guest did not answer in time. */
void vm_tick_streams(struct vm *vm, uint64_t now_ms);
/* Closes every stream still waiting for its CONNECT line. */
void stream_close_pending(struct vm *vm);
/* Resets every connection with RST to the guest (so that its sockets fail
 * at once instead of hanging once the device is gone) and flushes the RSTs
 * into the guest's rx buffers. */
void stream_reset_all(struct vm *vm);

/* vm.c helpers used by stream.c */
/* Starts watching fd (owned by the watch from now on) for events with cb. */
struct watch *watch_new(struct vm *vm, int fd, size_t size, uv_poll_cb cb);
/* Changes the events polled for (0 stops polling). */
void watch_set(struct watch *w, int events);
/* Stops watching, closes the fd and frees the object (asynchronously). */
void watch_close(struct watch *w);
/* Fills the guest's rx buffers with what the engine has. */
void vm_process_rx(struct vm *vm);
/* The vsock engine's log callback. */
void vm_vsk_log(void *opaque, enum log_level level, const char *fmt, va_list ap);
/* accept() on listener (at path) failed with err: unless it is transient,
 * pause the listener until the next tick, logging at most every 5 s. */
void vm_accept_failed(struct vm *vm, struct watch *listener, const char *path, int err);
/* Whether the guest's driver is running (rx and tx queues started). */
bool vm_running(const struct vm *vm);

#endif
