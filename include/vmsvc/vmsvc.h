/* SPDX-License-Identifier: MIT */
/*
 * vmsvc.h - the libvmsvc API: GUID helpers for Hyper-V style service ids and
 * the hv_* socket calls.
 *
 * Conventions: functions return 0 (or a documented non-negative value) on
 * success and -1 with errno set on failure, like POSIX calls. The library
 * never prints, never exits and owns no thread.
 */
#ifndef VMSVC_VMSVC_H
#define VMSVC_VMSVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <vmsvc/hvsocket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Length of a canonical GUID string, without the terminating NUL. */
#define HV_GUID_STRLEN 36
/* Buffer size for hv_guid_format(). */
#define HV_GUID_STRSIZE (HV_GUID_STRLEN + 1)

/*
 * Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (any case), optionally in
 * braces "{...}". Nothing else is accepted: no leading or trailing space, no
 * missing dashes. Returns 0, or -1 with errno EINVAL (malformed) or EFAULT
 * (NULL argument).
 */
int hv_guid_parse(const char *text, hv_guid_t *out);

/*
 * Writes the lower-case canonical form (36 characters and a NUL) into buf,
 * which holds size bytes. Returns 0, or -1 with errno ENOSPC if size is below
 * HV_GUID_STRSIZE.
 */
int hv_guid_format(const hv_guid_t *guid, char *buf, size_t size);

/* 16 bytes in Windows order (Data1..Data3 little-endian) to and from a GUID. */
void hv_guid_to_windows_bytes(const hv_guid_t *guid, uint8_t out[16]);
void hv_guid_from_windows_bytes(const uint8_t in[16], hv_guid_t *out);

/* 16 bytes in RFC 4122 order (all fields big-endian, as libuuid stores them). */
void hv_guid_to_rfc4122_bytes(const hv_guid_t *guid, uint8_t out[16]);
void hv_guid_from_rfc4122_bytes(const uint8_t in[16], hv_guid_t *out);

/*
 * A fresh random (version 4, RFC 4122 variant) GUID from getrandom(2).
 * Returns 0, or -1 with errno from getrandom.
 */
int hv_guid_generate(hv_guid_t *out);

/* The VSOCK-template service id for a vsock port (Data1 = port). */
void hv_guid_from_port(uint32_t port, hv_guid_t *out);

/*
 * The vsock port of a VSOCK-template service id. Returns 0 and stores the
 * port, or -1 with errno EINVAL if guid is not of the template's form.
 */
int hv_guid_to_port(const hv_guid_t *guid, uint32_t *port);

/* True if guid matches the VSOCK template in its last 12 bytes. */
bool hv_guid_is_vsock_template(const hv_guid_t *guid);

/* True if a and b are the same GUID. */
bool hv_guid_equal(const hv_guid_t *a, const hv_guid_t *b);

/*
 * Well-known GUIDs by name. Names are matched without case and with or
 * without the "HV_GUID_" prefix: "HV_GUID_PARENT", "parent", "LOOPBACK", ...
 * plus "VM_SESSION_SERVICE" (PowerShell Direct's service id).
 * hv_guid_lookup_name returns 0 and stores the GUID, or -1 with errno ENOENT.
 * hv_guid_well_known_name returns the canonical name ("HV_GUID_PARENT") of a
 * well-known GUID, or NULL. HV_GUID_ZERO and HV_GUID_WILDCARD share a value;
 * the name returned for it is "HV_GUID_ZERO".
 */
int hv_guid_lookup_name(const char *name, hv_guid_t *out);
const char *hv_guid_well_known_name(const hv_guid_t *guid);

/*
 * ---- Hyper-V sockets ----
 *
 * The calls below work like their POSIX namesakes on a struct sockaddr_hv.
 * Every socket is a real file descriptor: read, write, send, recv,
 * shutdown, poll and epoll work on it; a zero-length read is the end of the
 * stream and shutdown(fd, SHUT_WR) half-closes. Close it with hv_close()
 * (plain close() works too, but leaves the library's small per-fd record
 * behind until the fd number is reused by hv_socket or hv_accept).
 *
 * hv_bind (AF_VSOCK), hv_connect and hv_listen put the real socket behind
 * the fd number (dup3), so add the fd to an epoll set after they return
 * (poll and select are not affected).
 *
 * The transport follows the VmId (docs/guide.md):
 *   - HV_GUID_PARENT (from a guest): kernel AF_VSOCK to CID 2, port =
 *     ServiceId.Data1 (the ServiceId must be a VSOCK-template GUID). A
 *     listener bound to HV_GUID_PARENT accepts only the host.
 *   - any other VmId: vmsvcd's control socket, $VMSVC_RUNTIME_DIR (default
 *     /run/vmsvc)/control.sock. Host-to-host (HV_GUID_LOOPBACK) connections
 *     are a socket pair the daemon hands to both sides; it is not in their
 *     data path.
 * The library cannot tell a guest from a host safely (a host may itself be a
 * VM), so the environment variable VMSVC_GUEST says it: VMSVC_GUEST=1 makes
 * HV_GUID_ZERO in hv_connect mean the parent and makes hv_bind with
 * HV_GUID_WILDCARD listen on AF_VSOCK; VMSVC_GUEST=0 refuses HV_GUID_PARENT
 * (ENETUNREACH / EADDRNOTAVAIL) so that nothing ever uses AF_VSOCK; unset,
 * HV_GUID_PARENT uses AF_VSOCK and everything else goes to vmsvcd.
 *
 * Errors (errno) a program can act on:
 *   ENOENT        vmsvcd is not running (no control.sock)
 *   EHOSTUNREACH  no VM has this VmId
 *   ENETUNREACH   the VM is known but not running
 *   ECONNREFUSED  nobody listens for the service (reported at once)
 *   ETIMEDOUT     no answer within HVSOCKET_CONNECT_TIMEOUT
 *   EACCES        host listener: service not registered, disabled, or the
 *                 caller may not listen for it; host connect into a guest:
 *                 the caller is neither root nor in group vmsvc
 *   ECONNRESET    guest connect: the host refused (service not registered
 *                 or disabled)
 *   EADDRNOTAVAIL the ServiceId has no vsock port, or the VmId cannot be
 *                 used this way (connect to CHILDREN, bind to BROADCAST...)
 *   ENOTSOCK      the fd does not come from hv_socket or hv_accept
 * All calls are thread-safe; one socket should not be used by two calls at
 * the same time (as with any socket).
 */

/*
 * Creates a Hyper-V socket. type is SOCK_STREAM, optionally ORed with
 * SOCK_NONBLOCK and SOCK_CLOEXEC; protocol is HV_PROTOCOL_RAW or 0.
 * Hyper-V sockets carry a data stream only, so SOCK_DGRAM, SOCK_SEQPACKET
 * and SOCK_RAW fail with ESOCKTNOSUPPORT (EPROTONOSUPPORT for another
 * protocol, EINVAL for unknown flags). Returns the fd (the caller closes it
 * with hv_close), or -1 and errno.
 */
int hv_socket(int type, int protocol);

/*
 * Records the local address of fd. addr->Family must be AF_HYPERV
 * (EAFNOSUPPORT) and addr->Reserved zero (EINVAL); binding twice fails with
 * EINVAL. A VmId of HV_GUID_PARENT (or, with VMSVC_GUEST=1, the wildcard)
 * binds an AF_VSOCK socket to port ServiceId.Data1 at once (EADDRINUSE,
 * EACCES for ports below 1024 without CAP_NET_BIND_SERVICE); other VmIds
 * are checked by vmsvcd in hv_listen. Returns 0 or -1 and errno.
 */
int hv_bind(int fd, const struct sockaddr_hv *addr);

/*
 * Starts listening on the bound fd (EINVAL if not bound). backlog <= 0
 * means the default (128); larger values are capped at 4096. Through
 * vmsvcd: EACCES (service not registered, disabled, or listening not
 * permitted), EADDRINUSE (another listener has this VmId and ServiceId),
 * ENOENT (vmsvcd not running). The fd is readable when a connection waits.
 * Returns 0 or -1 and errno.
 */
int hv_listen(int fd, int backlog);

/*
 * Accepts a connection on a listening fd. If peer is not NULL it receives
 * the peer's address: the VmId of the VM that connected (HV_GUID_LOOPBACK
 * for a host process, HV_GUID_PARENT for the host seen from a guest) and
 * the ServiceId. Blocks unless fd is O_NONBLOCK (then EAGAIN when nothing
 * waits); ENETDOWN when vmsvcd went away. Returns a new blocking fd with
 * FD_CLOEXEC set (the caller closes it with hv_close), or -1 and errno.
 */
int hv_accept(int fd, struct sockaddr_hv *peer);

/*
 * Connects fd to addr. A blocking fd waits up to HVSOCKET_CONNECT_TIMEOUT
 * (default 2000 ms); an O_NONBLOCK fd returns -1/EINPROGRESS, turns
 * writable when the attempt is over, and hv_getsockopt(SOL_SOCKET,
 * SO_ERROR) then gives the result (0 or the errno), like TCP. A second call
 * while the attempt runs gives EALREADY; on a connected fd EISCONN.
 * Returns 0 or -1 and errno (see the list above).
 */
int hv_connect(int fd, const struct sockaddr_hv *addr);

/*
 * Socket options. Level HV_PROTOCOL_RAW: HVSOCKET_CONNECT_TIMEOUT (uint32_t
 * milliseconds, 1..HVSOCKET_CONNECT_TIMEOUT_MAX), HVSOCKET_CONNECTED_SUSPEND,
 * HVSOCKET_CONTAINER_PASSTHRU and HVSOCKET_HIGH_VTL (uint32_t, accepted and
 * reported back; connections survive a VM pause anyway). len must be
 * sizeof(uint32_t) (EINVAL); options of other levels give ENOPROTOOPT.
 * On Linux HV_PROTOCOL_RAW and SOL_SOCKET are both 1: at that level the
 * names above mean the Hyper-V options, except that hv_getsockopt(fd,
 * SOL_SOCKET, SO_ERROR, ...) is SO_ERROR (so HVSOCKET_CONNECTED_SUSPEND
 * cannot be read back); every other name goes to the kernel socket. On a
 * pending connect SO_ERROR reports the connect's result. For SO_DEBUG,
 * SO_REUSEADDR and SO_RCVBUF call plain getsockopt/setsockopt on the fd.
 * Returns 0 or -1 and errno.
 */
int hv_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int hv_getsockopt(int fd, int level, int name, void *val, socklen_t *len);

/*
 * The local address (as bound; Family AF_HYPERV and zeros when unbound) and
 * the peer's address (ENOTCONN unless connected or accepted) of fd.
 * Returns 0 or -1 and errno.
 */
int hv_getsockname(int fd, struct sockaddr_hv *addr);
int hv_getpeername(int fd, struct sockaddr_hv *addr);

/*
 * Closes fd and whatever the library keeps for it (a pending connect's
 * control connection). Returns close()'s result: 0 or -1 and errno.
 */
int hv_close(int fd);

#ifdef __cplusplus
}
#endif
#endif /* VMSVC_VMSVC_H */
