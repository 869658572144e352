/* SPDX-License-Identifier: MIT */
/*
 * control.h - vmsvcd's control socket RUNDIR/control.sock (lib/ctlproto.h,
 * docs/control-protocol.md): hv_* listen and connect, status, stats. Its
 * hv_* listeners are the ROUTE_HV route of the admission table.
 */
#ifndef VMSVCD_CONTROL_H
#define VMSVCD_CONTROL_H

struct daemon;

/* Creates and starts serving RUNDIR/control.sock. 0 or a negative errno. */
int control_start(struct daemon *d);
/* Closes the listener and every client; removes the socket file. Pending
 * connects go on and end without an answer. */
void control_stop(struct daemon *d);
/* Frees what is left, after the loop ended. */
void control_free(struct daemon *d);

#endif
