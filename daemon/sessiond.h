/* SPDX-License-Identifier: MIT */
/*
 * sessiond.h - the host side of the VM Session Service: the control
 * operation "session" (sessiond.c, docs/session-protocol.md).
 */
#ifndef VMSVCD_SESSIOND_H
#define VMSVCD_SESSIOND_H

struct daemon;

/* Registers the "session" operation; call before control_start(). 0 or a
 * negative errno. */
int session_start(struct daemon *d);

#endif
