/* SPDX-License-Identifier: MIT */
/*
 * icd.h - the host side of the integration services
 * (docs/integration-services.md): the framework in icd.c (a route that
 * takes the agent's connections to the in-box integration ports, per-VM
 * state, HELLO/STATE/ERROR, the control operation "integration"), the
 * Heartbeat in icd-hb.c, the Shutdown in icd-sd.c ("shutdown") and the
 * Key-Value Pair Exchange in icd-kvp.c ("kvp", "kvp-watch").
 */
#ifndef VMSVCD_ICD_H
#define VMSVCD_ICD_H

#include <json-c/json.h>

struct daemon;
struct vm;

/* Starts the framework: its route, its per-VM state and the "integration"
 * operation. Call before vm_table_start() and control_start(). 0 or a
 * negative errno. */
int icd_start(struct daemon *d);
/* Registers the Heartbeat and the Shutdown services, after icd_start(). */
int icd_hb_start(struct daemon *d);
int icd_sd_start(struct daemon *d);
/* Registers the Key-Value Pair Exchange (icd-kvp.c) and its "kvp" and
 * "kvp-watch" operations, after icd_start(); makes STATEDIR/kvp. */
int icd_kvp_start(struct daemon *d);
/* Registers the VSS service (icd-fz.c, filesystem freeze) and its "freeze"
 * and "thaw" operations, after icd_start(). */
int icd_fz_start(struct daemon *d);
/* Registers Time Synchronization (icd-ts.c), after icd_start(). */
int icd_ts_start(struct daemon *d);
/* Adds "timesync" {status, mode, offset_ns, ...} to vm's "status" entry. */
void icd_ts_status_json(struct vm *vm, json_object *v);
/* Ends every kvp list and watch stream (vmsvcd stops), before the VMs. */
void icd_kvp_stop(struct daemon *d);

/* Adds what the "status" operation says about vm's integration services to
 * its entry v: "paused" and "heartbeat" {...}. */
void icd_status_json(struct vm *vm, json_object *v);

#endif
