/* SPDX-License-Identifier: MIT */
/*
 * ctlstate.h - the control operations "status" and "stats" (ctlstate.c).
 */
#ifndef VMSVCD_CTLSTATE_H
#define VMSVCD_CTLSTATE_H

struct daemon;

/* Registers "status" and "stats"; call before control_start(). 0 or a
 * negative errno. */
int ctlstate_start(struct daemon *d);

#endif
