/* SPDX-License-Identifier: MIT */
/*
 * icd-int.h - the integration services framework (icd.c) as its services
 * (icd-hb.c, icd-sd.c; KVP, time sync and VSS next) see it.
 *
 * A service registers a struct icd_service before the VMs start. The
 * framework owns the connections: it takes the agent's connection to the
 * service's port (privileged source port only), keeps one per service and
 * VM (a new one replaces the old), negotiates HELLO, sends STATE after it
 * and whenever the service is turned on or off (registry or vms.d), and
 * answers unknown and malformed frames with ERROR. The service gets its
 * own frames (types 16 and up) once HELLO is done, and keeps its per-VM
 * state through attach()/detach().
 *
 * Services never keep a struct icd_conn across calls: icd_conn() gives the
 * ready connection of the moment.
 */
#ifndef VMSVCD_ICD_INT_H
#define VMSVCD_ICD_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "ic.h"

struct icd_vm;
struct icd_conn;
struct vm;

#define ICD_MAX_SERVICES 5

/* Where a service's connection stands, for status (strongest first). */
enum icd_link {
	ICD_DISABLED,	/* off in the registry or for this VM */
	ICD_OFF,	/* no QEMU, or the guest's driver is down */
	ICD_PAUSED,	/* QEMU stopped the device */
	ICD_MISMATCH,	/* connected, but no common protocol version */
	ICD_READY,	/* connected, HELLO done */
	ICD_ERROR,	/* the connection ended while the driver ran */
	ICD_NO_CONTACT, /* no agent connection since the driver started */
};

struct icd_service {
	const char *short_name; /* the in-box entry's (reg_inbox_lookup) */
	uint32_t port;
	/* Per-VM state: attach() returns it (NULL: out of memory, the VM is
	 * served without the service), detach() frees it. */
	void *(*attach)(struct icd_vm *iv);
	void (*detach)(void *st);
	/* HELLO is done on a new connection (STATE already sent). */
	void (*ready)(void *st, uint64_t now);
	/* STATE was just sent on the ready connection: after HELLO (before
	 * ready()) and whenever the service is turned on or off; enabled is
	 * what it said. A service that streams data to the agent starts or
	 * stops here (may be NULL). */
	void (*state_sent)(void *st, bool enabled);
	/* A frame of type >= 16 after HELLO: 0 handled, -EOPNOTSUPP a type
	 * the service does not know, -EPROTO malformed (the framework answers
	 * ERROR with that errno). */
	int (*frame)(void *st, const struct sess_frame *f, uint64_t now);
	/* ERROR from the agent (decoded; may be NULL). */
	void (*error)(void *st, const struct ic_error *e);
	/* The ready connection ended or was replaced (may be NULL). */
	void (*closed)(void *st);
	void (*tick)(void *st, uint64_t now); /* may be NULL */
	/* STATE's interval_ms (NULL: 0). */
	uint32_t (*interval_ms)(void *st);
	/* Status name for `integration` and `status` (NULL: the link's). */
	const char *(*status)(void *st, enum icd_link link, uint64_t now);
	/* Adds the service's own fields to its `integration` entry (may be
	 * NULL). */
	void (*status_json)(void *st, enum icd_link link, json_object *o, uint64_t now);
	/* Most bytes queued for an agent that does not read before its
	 * connection is cut off (0: ICD_OUT_MAX, 64 KiB, enough for small
	 * frames). */
	size_t out_max;
};

/* Registers s (static storage) before the VMs start. 0 or -ENOSPC. */
int icd_register(const struct icd_service *s);
/* A registered service by short name, or NULL. */
const struct icd_service *icd_service_find(const char *short_name);

/* The framework's state of vm (NULL: not served, or out of memory). */
struct icd_vm *icd_of(struct vm *vm);
struct vm *icd_vm(const struct icd_vm *iv);
/* s's per-VM state in iv (NULL if none). */
void *icd_state(const struct icd_vm *iv, const struct icd_service *s);

/* s's connection once HELLO is done, else NULL. */
struct icd_conn *icd_conn(const struct icd_vm *iv, const struct icd_service *s);
/* Where s stands in iv now. */
enum icd_link icd_link(struct icd_vm *iv, const struct icd_service *s);
/* Whether s is on for iv's VM: in the registry (*global) and in vms.d
 * (*for_vm); either pointer may be NULL. */
bool icd_enabled(struct icd_vm *iv, const struct icd_service *s, bool *global, bool *for_vm);
/* s's status name in iv ("ok", "lost-communication", ...: the service's
 * status(), else the link's), and its link. */
const char *icd_status_name(struct icd_vm *iv, const struct icd_service *s, enum icd_link *link,
			    uint64_t now);
/* "ok", "no-contact", ... and "OK", "No Contact", ... */
const char *icd_link_name(enum icd_link l);
const char *icd_link_title(enum icd_link l);
/* The title of a status name ("lost-communication" -> "Lost
 * Communication"). */
const char *icd_status_title(const char *name);

/* Queues the frames of b (built with ic_enc_*; nothing is sent when b->err
 * is set) on c. A peer that leaves too much unread (the service's out_max)
 * is cut off: c ends, asynchronously (the caller may go on using c in this
 * call). */
void icd_send(struct icd_conn *c, const struct sess_buf *b);
/* Sends ERROR {seq, type, err, message}. */
void icd_send_error(struct icd_conn *c, uint32_t seq, uint16_t type, int err, const char *msg);
/* When c connected (now_ms()). */
uint64_t icd_conn_since(const struct icd_conn *c);

/* The boot id of the last heartbeat of iv's VM, or NULL (icd-hb.c). */
const char *icd_hb_boot_id(struct icd_vm *iv);

/* Copies a string from the agent for logs and JSON: at most size - 1
 * bytes cut at a character boundary; a string that is not valid UTF-8
 * without control characters comes out as ASCII with '?' for the rest. */
void icd_clean(const char *s, char *buf, size_t size);

#endif
