/* SPDX-License-Identifier: MIT */
/*
 * hvsock-int.h - internals of the hv_* calls, not exported from libvmsvc:
 * the pure parts (hvsock-proto.c: address routing, control protocol
 * replies) for the unit tests and the fuzz harness; the per-fd table
 * (hvsock-fdtab.c) that both transports use; the AF_VSOCK transport
 * (hvsock-vsock.c) that hvsock.c calls. hvsock-vsock.c calls only the table.
 */
#ifndef VMSVC_HVSOCK_INT_H
#define VMSVC_HVSOCK_INT_H

#include <json-c/json.h>
#include <stdbool.h>

#include <vmsvc/vmsvc.h>

/* Where a call goes. */
enum hvs_transport {
	HVS_T_NONE = 0,
	HVS_T_CTL,   /* vmsvcd's control socket */
	HVS_T_VSOCK, /* kernel AF_VSOCK (guest side) */
};

/* What VMSVC_GUEST says: unset, "1" or "0". */
enum hvs_mode {
	HVS_MODE_AUTO = 0,
	HVS_MODE_GUEST,
	HVS_MODE_HOST,
};

enum hvs_op {
	HVS_OP_CONNECT,
	HVS_OP_BIND,
};

struct hvs_route {
	enum hvs_transport transport;
	bool only_parent; /* a vsock listener that accepts CID 2 only */
};

/* The mode from $VMSVC_GUEST. */
enum hvs_mode hvs_mode_from_env(void);

/*
 * Picks the transport for VmId vm (DESIGN.md "Addresses and wildcards").
 * Returns 0 and *out, or -EADDRNOTAVAIL (a VmId that cannot be used for
 * op), -EHOSTUNREACH (no such partition from here) or -ENETUNREACH
 * (HV_GUID_PARENT with VMSVC_GUEST=0).
 */
int hvs_route(const hv_guid_t *vm, enum hvs_op op, enum hvs_mode mode, struct hvs_route *out);

/* Checks a caller's address: -EFAULT (NULL), -EAFNOSUPPORT (Family not
 * AF_HYPERV), -EINVAL (Reserved not zero), or 0. */
int hvs_check_addr(const struct sockaddr_hv *a);

/* The errno of a name such as "ECONNREFUSED"; 0 if unknown. */
int hvs_errno_from_name(const char *name);

/* A decoded reply of vmsvcd. */
struct hvs_reply {
	int err;       /* 0, or the positive errno of "error" (EIO if unknown) */
	bool has_addr; /* vm and service were present */
	hv_guid_t vm;
	hv_guid_t service;
};

/* Decodes a reply ({"ok":bool,...}). Returns 0 and *out, or -EPROTO when o
 * is not a well-formed reply. */
int hvs_parse_reply(json_object *o, struct hvs_reply *out);

/* Decodes {"op":"incoming","vm":GUID,"service":GUID}. Returns 0 or -EPROTO. */
int hvs_parse_incoming(json_object *o, hv_guid_t *vm, hv_guid_t *service);

/* The runtime folder: $VMSVC_RUNTIME_DIR, else /run/vmsvc. */
const char *hvs_runtime_dir(void);

/* ---- hvsock-fdtab.c: the per-fd table, used by both transports ---- */

#define HVS_DEFAULT_CONNECT_TIMEOUT_MS 2000

enum hvs_state { HVS_ST_OPEN = 0, HVS_ST_CONNECTING, HVS_ST_CONNECTED, HVS_ST_LISTENING };

/* Option slots, in the order of the HVSOCKET_* bits. */
enum { HVS_OPT_TIMEOUT, HVS_OPT_PASSTHRU, HVS_OPT_SUSPEND, HVS_OPT_HIGH_VTL, HVS_OPT_COUNT };

/* What the library keeps per fd. */
struct hvs_sock {
	bool used;
	enum hvs_state state;
	enum hvs_transport transport;
	bool bound;
	bool only_parent;
	bool has_peer;
	struct sockaddr_hv local;
	struct sockaddr_hv peer; /* the target while connecting */
	uint32_t opt[HVS_OPT_COUNT];
	int ctl; /* a pending connect's control connection (owned), or -1 */
};

/* A new entry: open, unbound, the default connect timeout, no ctl. */
extern const struct hvs_sock hvs_sock_init;

/* Locks the table and returns fd's entry, or NULL; the table stays locked
 * either way until hvs_tab_unlock(). */
struct hvs_sock *hvs_sock_lock(int fd);
void hvs_tab_unlock(void);

/* Copies fd's entry into *s (its ctl stays owned by the table). 0,
 * -EBADF or -ENOTSOCK (not a socket of ours). */
int hvs_sock_get(int fd, struct hvs_sock *s);

/* Makes *s the entry of fd, a new fd number of ours; a stale entry left by
 * a plain close() is replaced (its ctl, never reused by anyone, is closed).
 * 0 or -ENOMEM. */
int hvs_sock_new(int fd, const struct hvs_sock *s);

/* Takes a pending connect's control connection out of fd's entry: the
 * caller closes it. -1 if there is none. */
int hvs_sock_take_ctl(int fd);

/* Puts the socket src at fd's number, keeping fd's O_NONBLOCK and
 * FD_CLOEXEC. The caller still closes src. 0 or -errno. */
int hvs_fd_replace(int fd, int src);

/* Registers an accepted stream nfd of listener ls (nfd is taken: closed on
 * failure), made blocking, and fills *peer (if not NULL) with VmId vm and
 * the listener's ServiceId. Returns nfd or -errno. */
int hvs_accepted(int nfd, enum hvs_transport t, const struct hvs_sock *ls, const hv_guid_t *vm,
		 struct sockaddr_hv *peer);

/* hvsock-vsock.c: the AF_VSOCK transport. s is a copy of fd's entry. Each
 * returns 0 (or an fd) or -errno. */
int hvs_vsock_bind(int fd, const struct hvs_sock *s, const struct sockaddr_hv *addr);
int hvs_vsock_connect(int fd, const struct hvs_sock *s, const struct sockaddr_hv *addr);
int hvs_vsock_connect_again(int fd, const struct hvs_sock *s);
int hvs_vsock_accept(int fd, const struct hvs_sock *ls, struct sockaddr_hv *peer);
int hvs_vsock_peername(int fd, const struct hvs_sock *s, struct sockaddr_hv *addr);

#endif /* VMSVC_HVSOCK_INT_H */
