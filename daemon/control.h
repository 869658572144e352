/* SPDX-License-Identifier: MIT */
/*
 * control.h - vmsvcd's control socket RUNDIR/control.sock (lib/ctlproto.h,
 * docs/control-protocol.md): hv_* listen and connect, status, stats. Its
 * hv_* listeners are the ROUTE_HV route of the admission table.
 */
#ifndef VMSVCD_CONTROL_H
#define VMSVCD_CONTROL_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <json-c/json.h>

#include <vmsvc/vmsvc.h>

#include "list.h"

struct daemon;
struct ctl_client;
struct uid_use;

/*
 * An operation of another module (a daemon-internal service): called with
 * the request and the fds that came with it (the caller closes them after
 * the call; dup what you keep). Returns the reply, or NULL when the answer
 * comes later through a struct ctl_pending.
 */
typedef json_object *ctl_op_fn(struct daemon *d, struct ctl_client *c, json_object *req,
			       const int *fds, unsigned nfds);
/* Registers op `name` (a static string) before control_start(). 0 or
 * -ENOSPC. */
int control_add_op(const char *name, ctl_op_fn *run);

/*
 * A request answered later. While pending it counts against the caller's
 * uid (max_connects_per_uid); if the client goes away first, client
 * becomes NULL and the reply is dropped.
 */
struct ctl_pending {
	struct ctl_client *client; /* NULL once the client went away */
	struct uid_use *use;	   /* charged for it, NULL for root */
	struct list_head link;
};
/* Starts p for client c. 0, or -EAGAIN over the caller's limit. */
int ctl_pending_begin(struct ctl_pending *p, struct ctl_client *c);
/* Sends reply (not taken; NULL: none) with fd (>= 0: passed, still ours)
 * if the client is still there, and ends p. Safe to call twice. */
void ctl_pending_end(struct ctl_pending *p, json_object *reply, int fd);

/* Root or the vmsvc group: may connect into guests and read the daemon's
 * state. */
bool ctl_client_privileged(const struct ctl_client *c);
/* The caller, from SO_PEERCRED and SO_PEERGROUPS at connect time. */
const struct ucred *ctl_client_cred(const struct ctl_client *c);
bool ctl_client_in_group(const struct ctl_client *c, gid_t gid);
void ctl_client_groups(const struct ctl_client *c, const gid_t **groups, unsigned *n);
/* Replies in the protocol's form ("ok", "error", "message"). */
json_object *ctl_reply_error(int err, const char *message);
json_object *ctl_reply_ok(void);
/* Adds GUID g to o under key, in its canonical form. */
void ctl_add_guid(json_object *o, const char *key, const hv_guid_t *g);

/* Creates and starts serving RUNDIR/control.sock. 0 or a negative errno. */
int control_start(struct daemon *d);
/* Closes the listener and every client; removes the socket file. Pending
 * connects go on and end without an answer. */
void control_stop(struct daemon *d);
/* Frees what is left, after the loop ended. */
void control_free(struct daemon *d);

#endif
