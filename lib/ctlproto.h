/* SPDX-License-Identifier: MIT */
/*
 * ctlproto.h - vmsvcd's control protocol on RUNDIR/control.sock.
 *
 * A SOCK_SEQPACKET Unix socket: each message is one JSON object (at most
 * CTL_MSG_MAX bytes, no NUL), optionally with one fd passed by SCM_RIGHTS.
 * Requests carry "op"; replies carry "ok" (boolean) and, on failure,
 * "error" (an errno name such as "EACCES") and "message" (for people).
 * The client's identity comes from SO_PEERCRED, never from the payload.
 *
 * Operations so far:
 *   {"op":"status"} -> {"ok":true,"vms":[{"name","id","cid","state",
 *                       "connections"}...]}
 */
#ifndef VMSVC_CTLPROTO_H
#define VMSVC_CTLPROTO_H

#include <json-c/json.h>

#define CTL_SOCKET_NAME "control.sock"
#define CTL_MSG_MAX 65536

/*
 * Decodes one message: a JSON object of size bytes (no trailing data, no
 * NUL, nesting depth <= 16). Returns 0 and *out (caller puts it), or
 * -EPROTO.
 */
int ctl_decode(const char *buf, size_t size, json_object **out);

/* Sends msg, with fd if fd >= 0 (the caller keeps its fd). 0 or -errno. */
int ctl_send(int sock, json_object *msg, int fd);

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
