/* SPDX-License-Identifier: MIT */
/*
 * hstream.h - the host ends of a VM's connections, for the modules that
 * open connections into guests (the control socket, the hybrid socket,
 * daemon-internal services) and report on them.
 *
 * Guest to host, a connection is admitted through the route table
 * (route.h) and its host stream is whatever fd the route opened. Host to
 * guest, the owner gives a stream fd and a done() callback, and gets a
 * plain stream: hstream writes nothing of its own into it.
 */
#ifndef VMSVCD_HSTREAM_H
#define VMSVCD_HSTREAM_H

#include <stdint.h>

#include <vmsvc/vmsvc.h>

#include "counters.h"
#include "vsock.h"

struct vm;

/*
 * The owner's callback of a host-to-guest connect, called exactly once
 * (never from inside hs_connect): err 0 when the guest accepted, then fd
 * is our end of the stream (still owned by the stream; the owner may write
 * to it or read from it now, before data flows) and local_port the host
 * port of the connection; or a negative errno (-ECONNREFUSED: refused, or
 * the VM went away; -ETIMEDOUT), then fd is about to be closed.
 * Returning a negative errno from a successful done() resets the
 * connection.
 */
typedef int hs_done_fn(void *opaque, int err, int fd, uint32_t local_port);

/*
 * Connects to guest port `port` from local_port (VSK_PORT_ANY: any free
 * port; VSK_PORT_PRIVILEGED: one below 1024, which only the daemon's own
 * services use; or a given port); fd (a connected Unix stream socket,
 * non-blocking) becomes the host end of the connection and is taken (closed
 * on failure too). deadline_ms (monotonic, now_ms()) is when to give up.
 * Returns 0 (done() follows) or a negative errno (-ENETUNREACH when the
 * guest's driver is not running; done() is then never called).
 */
int hs_connect(struct vm *vm, uint32_t port, uint32_t local_port, int fd, uint64_t deadline_ms,
	       hs_done_fn *done, void *opaque);

/* Adds the live byte counts of vm's open connections into *live (only
 * those of service svc when svc is not NULL). */
void hs_live_bytes(const struct vm *vm, const hv_guid_t *svc, struct counters *live);

#endif
