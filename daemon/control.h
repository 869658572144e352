/* SPDX-License-Identifier: MIT */
/* control.h - vmsvcd's control socket RUNDIR/control.sock (lib/ctlproto.h). */
#ifndef VMSVCD_CONTROL_H
#define VMSVCD_CONTROL_H

struct daemon;

/* Creates and starts serving RUNDIR/control.sock. 0 or a negative errno. */
int control_start(struct daemon *d);
/* Closes the listener and every client; removes the socket file. */
void control_stop(struct daemon *d);

#endif
