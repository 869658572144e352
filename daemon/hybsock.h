/* SPDX-License-Identifier: MIT */
/*
 * hybsock.h - Firecracker's hybrid vsock convention, both ways:
 * RUNDIR/vms/NAME.vsock takes "CONNECT <port>\n" from host programs and
 * answers "OK <hostport>\n" once the guest accepted (host to guest), and
 * guest connections to port P go to a listener at RUNDIR/vms/NAME.vsock_P
 * (a ROUTE_PATH route, after the hv_* listeners).
 */
#ifndef VMSVCD_HYBSOCK_H
#define VMSVCD_HYBSOCK_H

struct daemon;

/* Registers the per-VM hybrid socket and the path route. 0 or -errno. */
int hybsock_init(struct daemon *d);

#endif
