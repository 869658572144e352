/* SPDX-License-Identifier: MIT */
/*
 * hybrid.h - the Firecracker hybrid vsock handshake: a host program connects
 * to RUNDIR/vms/NAME.vsock, writes "CONNECT <port>\n" and reads
 * "OK <hostport>\n" once the guest accepted; then the stream is the
 * connection.
 *
 * The parser is fed byte by byte; the caller decides how it reads them
 * (vmsvcd peeks, then reads exactly up to the newline, so that payload the
 * client sent right after it stays in the socket).
 */
#ifndef VMSVCD_HYBRID_H
#define VMSVCD_HYBRID_H

#include <stddef.h>
#include <stdint.h>

/* Longest accepted line: "CONNECT 4294967294\r\n" is 20 bytes. */
#define HYB_LINE_MAX 32

struct hyb_line {
	char buf[HYB_LINE_MAX];
	size_t len;
};

/*
 * Feeds one byte. Returns 0 when more bytes are needed, 1 when the line is
 * complete (*port set), or -EPROTO for a malformed line (not "CONNECT",
 * port not decimal, out of range, too long, or a NUL/control byte). An
 * optional '\r' before the '\n' is accepted.
 */
int hyb_line_feed(struct hyb_line *l, uint8_t c, uint32_t *port);

/* Writes "OK <hostport>\n" into buf (size >= 16); returns its length. */
size_t hyb_format_ok(uint32_t host_port, char *buf, size_t size);

#endif
