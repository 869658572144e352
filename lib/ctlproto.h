/* SPDX-License-Identifier: MIT */
/*
 * ctlproto.h - vmsvcd's control protocol on RUNDIR/control.sock.
 *
 * A SOCK_SEQPACKET Unix socket: each message is one JSON object (at most
 * CTL_MSG_MAX bytes, no NUL), with up to CTL_MAX_FDS fds passed by
 * SCM_RIGHTS. Requests carry "op"; replies carry "ok" (boolean) and, on
 * failure, "error" (an errno name such as "EACCES") and "message" (for
 * people). The client's identity comes from SO_PEERCRED, never from the
 * payload.
 *
 * Operations (docs/control-protocol.md has the fields and errors):
 *   status   the VMs and their state (root and the vmsvc group only)
 *   stats    counters per service and per VM (root and the vmsvc group)
 *   connect  hv_connect: two fds (a socket pair's ends) in, answered when
 *            the peer accepted or refused
 *   listen   hv_listen: the connection then carries "incoming" messages,
 *            each with one fd
 */
#ifndef VMSVC_CTLPROTO_H
#define VMSVC_CTLPROTO_H

#include <json-c/json.h>

#define CTL_SOCKET_NAME "control.sock"
/* The largest message: room for a key-value exchange request or reply
 * with a 64 KiB value (87 KiB in base64, up to 128 KiB as an escaped JSON
 * string). A SOCK_SEQPACKET message must fit its sender's SO_SNDBUF (less
 * 32 bytes): both ends raise it with ctl_sock_bufs(). */
#define CTL_MSG_MAX (192 * 1024)

/*
 * Decodes one message: a JSON object of size bytes (no trailing data, no
 * NUL, nesting depth <= 16). Returns 0 and *out (caller puts it), or
 * -EPROTO.
 */
int ctl_decode(const char *buf, size_t size, json_object **out);

/*
 * Raises sock's SO_SNDBUF so that one CTL_MSG_MAX message (and a second one
 * queued behind it) fits; the receiver's SO_RCVBUF does not limit an
 * AF_UNIX SOCK_SEQPACKET message. Above net.core.wmem_max it tries
 * SO_SNDBUFFORCE (root). Returns 0, or -ENOBUFS when the buffer stays too
 * small for a CTL_MSG_MAX message (sending one then fails with -EMSGSIZE).
 */
int ctl_sock_bufs(int sock);

/* Most fds one message carries. */
#define CTL_MAX_FDS 4

/* Sends msg, with fd if fd >= 0 (the caller keeps its fd). 0 or -errno. */
int ctl_send(int sock, json_object *msg, int fd);

/* Sends msg with nfds (<= CTL_MAX_FDS) fds; the caller keeps its fds.
 * 0 or -errno (-EAGAIN on a full non-blocking socket). */
int ctl_send_fds(int sock, json_object *msg, const int *fds, unsigned nfds);

/*
 * Receives one message with up to max fds (<= CTL_MAX_FDS) into fds[]
 * (*nfds set; the caller closes them; extra fds are closed). Returns 1, 0
 * at end of stream, or a negative errno (-EPROTO: not one JSON object,
 * -EMSGSIZE: over CTL_MSG_MAX bytes, -ETOOMANYREFS: over CTL_MAX_FDS fds;
 * the socket goes on after each of those three; -EAGAIN). On every failure
 * no fd is left open.
 */
int ctl_recv_fds(int sock, json_object **out, int *fds, unsigned max, unsigned *nfds);

/*
 * Receives one message into *out (caller puts it); a passed fd goes to
 * *fd (caller closes; -1 when none; extra fds are closed). Returns 1, 0 at
 * end of stream, or a negative errno (-EPROTO: undecodable, -EAGAIN).
 */
int ctl_recv(int sock, json_object **out, int *fd);

/*
 * Client side: connects to RUNDIR/control.sock, sends req, waits up to
 * timeout_ms for the reply. Returns 0 and *reply (caller puts it) and, if
 * fd is not NULL, a passed fd in *fd; or a negative errno: -ENOENT or
 * -ECONNREFUSED when the daemon is not running, -ETIMEDOUT, -EPROTO.
 */
int ctl_call(const char *runtime_dir, json_object *req, int timeout_ms, json_object **reply,
	     int *fd);

#endif
