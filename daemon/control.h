/* SPDX-License-Identifier: MIT */
/* control.h - vmsvcd's control socket RUNDIR/control.sock (lib/ctlproto.h). */
#ifndef VMSVCD_CONTROL_H
#define VMSVCD_CONTROL_H

#include <stdbool.h>

#include <vmsvc/vmsvc.h>

struct daemon;

/* Creates and starts serving RUNDIR/control.sock. 0 or a negative errno. */
int control_start(struct daemon *d);
/* Closes the listener and every client; removes the socket file. */
void control_stop(struct daemon *d);

struct ctl_client;
struct pconn;

/*
 * The hv_* listener for service svc that a connection from VM vm_id (NULL:
 * from the host, loopback) goes to, by precedence: the VM's own VmId, then
 * CHILDREN, then WILDCARD (guests); LOOPBACK, then WILDCARD (host). NULL if
 * none; *wrong_vm (may be NULL) tells whether a listener bound to another
 * VM's VmId exists.
 */
struct ctl_client *control_find_listener(struct daemon *d, const hv_guid_t *svc,
					 const hv_guid_t *vm_id, bool *wrong_vm);

/* Hands the connected stream fd (the caller keeps its copy) to listener l as
 * an incoming connection from peer_vm. 0, or -ECONNREFUSED when its queue
 * is full or it is gone. */
int control_deliver(struct ctl_client *l, const hv_guid_t *peer_vm, const hv_guid_t *svc, int fd);

/* Completes a pending hv_connect: err 0 (connected, peer_vm is the peer,
 * stream_fd our end of the stream, from which the filler is drained) or a
 * negative errno. Replies to the client if it is still there, makes its
 * socket writable, frees pc. */
void control_connect_done(struct pconn *pc, int err, const hv_guid_t *peer_vm, int stream_fd);

#endif
