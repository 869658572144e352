/* SPDX-License-Identifier: MIT */
/*
 * agent-dial.h - the integration services' dial-out: an AF_VSOCK stream to
 * the host (CID 2) from a privileged source port, which only root (or
 * CAP_NET_BIND_SERVICE) can bind, so vmsvcd knows the agent from a guest
 * user (docs/integration-services.md).
 *
 * Only the agent's worker calls it, inside a guest. Tests dial Unix
 * sockets instead (struct aicw's dial hook).
 */
#ifndef VMSVC_AGENT_DIAL_H
#define VMSVC_AGENT_DIAL_H

#include <stdint.h>

/* Source ports tried, from the highest down (bindresvport's range). */
#define ADIAL_PORT_HIGH 1023
#define ADIAL_PORT_LOW	512

/*
 * Starts a non-blocking connect to the host's port from the highest free
 * privileged port: 0 with *fd (connecting or connected; the caller closes
 * it), or -errno: -EAFNOSUPPORT/-ENODEV without vsock, -EACCES without the
 * right to bind a privileged port, -EADDRINUSE when all are taken, or
 * connect's error. ctx is unused (the dial hook's signature).
 */
int adial_vsock(void *ctx, uint16_t port, int *fd);

#endif /* VMSVC_AGENT_DIAL_H */
