/* SPDX-License-Identifier: MIT */
/*
 * vmtable.h - the VM table: CONFIG/vms.d/NAME.conf, one VM served by vmsvcd
 * per file (internal API shared by the CLI and vmsvcd).
 *
 *   [VM]
 *   Id=5b0d3f2e-...           # VmId, generated once by 'vmsvc vm add' and kept
 *   Cid=3                     # guest CID, unique, 3..4294967294
 *   Description=build runner  # optional
 *   SessionUsers=alice bob    # optional: host users who may open VM sessions
 *   SessionGroups=ops         # optional: host groups who may (root always may)
 *   DisabledServices=shutdown # optional: in-box services turned off for this
 *                             # VM (short names: reg_inbox, registry.h)
 *
 * NAME matches [A-Za-z0-9][A-Za-z0-9_.-]{0,63}; it names the VM's sockets
 * (RUNDIR/vms/NAME.vhost, NAME.vsock). Same machinery and rules as the
 * registry (registry.h): broken entries are reported with file:line and
 * skipped; of two entries with the same Id or Cid, the one whose file name
 * sorts first wins; writers lock vms.d/.lock and write atomically.
 */
#ifndef VMSVC_VMTABLE_H
#define VMSVC_VMTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmsvc/vmsvc.h>

#include "conffile.h"

#define VMT_DIR		    "vms.d"
#define VMT_NAME_MAX	    64
#define VMT_DESCRIPTION_MAX CONF_VALUE_MAX
/* CIDs 0 (hypervisor), 1 (local) and 2 (host) and VMADDR_CID_ANY are not
 * guest CIDs. */
#define VMT_CID_MIN 3u
#define VMT_CID_MAX 0xfffffffeu

/* Most names in SessionUsers= or SessionGroups=. */
#define VMT_MAX_ACCOUNTS 32

/* One VM. name, description and the lists (NULL when unset) are owned
 * heap strings; a list holds names separated by single blanks. */
struct vmt_vm {
	char *name;
	hv_guid_t id;
	uint32_t cid;
	char *description;
	char *session_users;
	char *session_groups;
	char *disabled_services; /* short names of in-box services, no repeats */
};

/* A loaded VM table (opaque). */
struct vmt_table;

enum vmt_conflict_kind {
	VMT_CONFLICT_NONE,
	VMT_CONFLICT_NAME, /* vms.d/NAME.conf exists (maybe broken) */
	VMT_CONFLICT_ID,   /* the Id is taken by VM name */
	VMT_CONFLICT_CID,  /* the Cid is taken by VM name */
};

struct vmt_conflict {
	enum vmt_conflict_kind kind;
	bool broken; /* NAME conflict with a file that does not load */
	char name[VMT_NAME_MAX + 1];
	hv_guid_t id;
	uint32_t cid;
};

/* Loads CONFIG/vms.d (missing folder: empty table). Returns 0 and a table
 * to free with vmt_table_free, or a negative errno if the folder cannot be
 * read. */
int vmt_load(const char *config_dir, struct vmt_table **out);

/* Frees a table (NULL is fine); returns NULL. */
struct vmt_table *vmt_table_free(struct vmt_table *t);
static inline void vmt_table_freep(struct vmt_table **t)
{
	*t = vmt_table_free(*t);
}

/* Number of valid VMs and VM i, sorted by name. */
size_t vmt_count(const struct vmt_table *t);
const struct vmt_vm *vmt_at(const struct vmt_table *t, size_t i);

/* Problems found while loading (broken entries, conflicts). */
const struct conf_problems *vmt_problems(const struct vmt_table *t);

/* Lookups; each returns the VM or NULL. */
const struct vmt_vm *vmt_find_name(const struct vmt_table *t, const char *name);
const struct vmt_vm *vmt_find_id(const struct vmt_table *t, const hv_guid_t *id);
const struct vmt_vm *vmt_find_cid(const struct vmt_table *t, uint32_t cid);

/* True if the table reported a problem for vms.d/NAME.conf. */
bool vmt_is_broken(const struct vmt_table *t, const char *name);

/* Checks a VM name against [A-Za-z0-9][A-Za-z0-9_.-]{0,63}. Returns 0, or
 * -EINVAL with why (CONF_WHY_SIZE bytes) set. */
int vmt_check_name(const char *name, char *why);

/* Checks a VM id: not zero, not broadcast, no well-known VmId (parent,
 * loopback, children, ...). Returns 0 or -EINVAL with why set. */
int vmt_check_id(const hv_guid_t *id, char *why);

/* Checks a CID: VMT_CID_MIN..VMT_CID_MAX. Returns 0 or -ERANGE. */
int vmt_check_cid(uint32_t cid);

/*
 * Parses the text of vms.d/NAME.conf (size bytes) for VM name; file names
 * it in problems. Returns 0 and fills *out (free with vmt_vm_clear), -EINVAL
 * after adding at least one problem, or -ENOMEM.
 */
int vmt_parse_entry(const char *data, size_t size, const char *name, const char *file,
		    struct vmt_vm *out, struct conf_problems *problems);

/* Formats vm as an entry file; returns a heap string or NULL (ENOMEM). */
char *vmt_format_entry(const struct vmt_vm *vm);

/* Frees the strings of vm and zeroes it. */
void vmt_vm_clear(struct vmt_vm *vm);

/*
 * Defines vm under the lock. A zero vm->id gets a fresh random GUID; a zero
 * vm->cid gets the lowest free CID >= 3. On success fills them in and
 * returns 0. Returns -EINVAL for an invalid vm, -EEXIST with *conflict
 * filled when the name, id or CID is taken, or another negative errno when
 * CONFIG/vms.d cannot be written. Creates CONFIG and vms.d if needed.
 */
int vmt_add(const char *config_dir, struct vmt_vm *vm, struct vmt_conflict *conflict);

/* True if vm's DisabledServices= lists the in-box service short_name. */
bool vmt_service_disabled(const struct vmt_vm *vm, const char *short_name);

/*
 * Turns the in-box service short_name ("heartbeat") on or off for VM name:
 * rewrites DisabledServices= of vms.d/NAME.conf under the lock, atomically,
 * keeping every other line as it is. Returns 0 (also when nothing
 * changed), -ENOENT (no such VM), -EINVAL (unknown service, or the entry
 * is broken) or another negative errno.
 */
int vmt_set_service(const char *config_dir, const char *name, const char *short_name, bool enabled);

/* Removes vms.d/NAME.conf (even a broken one) under the lock. Returns 0,
 * -ENOENT, -EINVAL (bad name) or another negative errno. */
int vmt_remove(const char *config_dir, const char *name);

#endif /* VMSVC_VMTABLE_H */
