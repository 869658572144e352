/* SPDX-License-Identifier: MIT */
/*
 * registry.h - the service registry: CONFIG/services.d/<guid>.conf, one VM
 * service per file (internal API shared by the CLI and vmsvcd).
 *
 * An entry file, named by the lower-case canonical GUID of the service:
 *
 *   [Service]
 *   ElementName=backup        # friendly name, unique (required)
 *   Enabled=true              # true/false, yes/no, on/off, 1/0 (default true)
 *   Port=2761                 # vsock port, unique, 1..4294967294 (required;
 *                             # must equal the GUID's port for a template GUID)
 *   User=alice                # who may listen for it on the host, besides
 *   Group=staff               # root (both optional)
 *   Description=nightly backup
 *
 * Loading never fails because of one entry: a broken entry (malformed line,
 * unknown key, bad value, missing ElementName= or Port=, file name not a
 * lower-case GUID) is skipped and reported as a problem with file and line.
 * When two entries claim the same name or port, the one whose file name sorts
 * first wins and the other is reported as a conflict and skipped.
 *
 * Writers (reg_add, reg_set_enabled, reg_remove) take services.d/.lock,
 * reload, check uniqueness and replace files atomically (atomicfile.h), so
 * concurrent writers never lose or tear an entry. Nothing here prints.
 */
#ifndef VMSVC_REGISTRY_H
#define VMSVC_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <vmsvc/vmsvc.h>

#include "conffile.h"

/* Sub-folder of the config folder that holds the entries. */
#define REG_DIR "services.d"
/* Longest ElementName, Description and User/Group, in bytes. */
#define REG_NAME_MAX	    CONF_VALUE_MAX
#define REG_DESCRIPTION_MAX CONF_VALUE_MAX
#define REG_ACCOUNT_MAX	    64
/* Ports usable by a service: 0 and VMADDR_PORT_ANY (0xffffffff) are not. */
#define REG_PORT_MIN 1u
#define REG_PORT_MAX 0xfffffffeu
/* Range of the ports reg_add picks when asked to choose. */
#define REG_AUTO_PORT_MIN 1024u
#define REG_AUTO_PORT_MAX 0x7fffffffu
/* Size of the buffer for reg_entry_file ("services.d/<guid>.conf"). */
#define REG_FILE_SIZE (sizeof(REG_DIR "/.conf") + HV_GUID_STRLEN)

/* One registered service. Strings are heap copies owned by the struct;
 * user, group and description are NULL when unset. uid and gid are User=
 * and Group= as reg_resolve_owners() found them, REG_NO_ID until then and
 * when unset or unknown. */
struct reg_service {
	hv_guid_t id;
	char *name;
	bool enabled;
	uint32_t port;
	char *user;
	char *group;
	char *description;
	uid_t uid;
	gid_t gid;
	bool inbox; /* one of vmsvc's in-box services (reg_inbox) */
};

#define REG_NO_ID ((unsigned)-1)

/* A loaded registry (opaque). */
struct reg_table;

/* What reg_add collided with. */
enum reg_conflict_kind {
	REG_CONFLICT_NONE,
	REG_CONFLICT_NAME, /* the name is taken by entry */
	REG_CONFLICT_GUID, /* the GUID is taken by entry (or by a broken file) */
	REG_CONFLICT_PORT, /* the port is taken by entry */
};

struct reg_conflict {
	enum reg_conflict_kind kind;
	bool broken;  /* GUID conflict with a file that does not load */
	hv_guid_t id; /* the existing entry */
	uint32_t port;
	char name[REG_NAME_MAX + 1];
};

/*
 * Loads CONFIG/services.d. A missing folder gives an empty table. Returns 0
 * and a table to free with reg_table_free, or a negative errno if the folder
 * cannot be read (-ENOTDIR, -EACCES, ...) or memory runs out.
 */
int reg_load(const char *config_dir, struct reg_table **out);

/* Frees a table (NULL is fine); returns NULL. */
struct reg_table *reg_table_free(struct reg_table *t);
static inline void reg_table_freep(struct reg_table **t)
{
	*t = reg_table_free(*t);
}

/* Number of valid entries, and entry i (0 <= i < count), sorted by name. */
size_t reg_count(const struct reg_table *t);
const struct reg_service *reg_at(const struct reg_table *t, size_t i);

/* The problems found while loading (broken entries, conflicts), by file. */
const struct conf_problems *reg_problems(const struct reg_table *t);

/* Lookups; each returns the entry or NULL. */
const struct reg_service *reg_find_guid(const struct reg_table *t, const hv_guid_t *id);
const struct reg_service *reg_find_name(const struct reg_table *t, const char *name);
const struct reg_service *reg_find_port(const struct reg_table *t, uint32_t port);
/* By GUID if key parses as one, else by name (names never parse as GUIDs). */
const struct reg_service *reg_lookup(const struct reg_table *t, const char *key);

/* True if the table reported a problem for the entry file of id. */
bool reg_is_broken(const struct reg_table *t, const hv_guid_t *id);

/*
 * The in-box services: registered out of the box, as on Hyper-V. Without
 * an entry file a loaded registry holds them enabled; a file for the GUID
 * (written by `vmsvc service disable`) may turn one off or describe it,
 * but keeps its name and port. They cannot be removed.
 */
struct reg_inbox {
	const char *guid;
	const char *name;	/* ElementName */
	const char *short_name; /* "session", "heartbeat": for vms.d and the CLI */
	uint32_t port;
	const char *description;
};
#define REG_SESSION_GUID "999e53d4-3d5c-4c3e-8779-bed06ec056e1"
#define REG_SESSION_PORT 640
/* The in-box service with GUID id, or NULL. */
const struct reg_inbox *reg_inbox_find(const hv_guid_t *id);
/* The in-box services, in a fixed order: the integration services
 * (proto/ic.h holds their GUIDs and ports), then the VM Session Service. */
size_t reg_inbox_count(void);
/* In-box service i (0 <= i < reg_inbox_count()), else NULL. */
const struct reg_inbox *reg_inbox_at(size_t i);
/* The in-box service whose short name is key, whose ElementName is key
 * (any case), or whose GUID key parses as; else NULL. */
const struct reg_inbox *reg_inbox_lookup(const char *key);

/**
 * Looks up every entry's User= and Group= in the user and group databases
 * and stores the ids in the entries. getpwnam()/getgrnam() may block (LDAP,
 * sssd): call this once after loading, so that permission checks never do.
 */
void reg_resolve_owners(struct reg_table *t);

/* Writes "services.d/<guid>.conf" into buf (REG_FILE_SIZE bytes). */
void reg_entry_file(const hv_guid_t *id, char buf[REG_FILE_SIZE]);

/*
 * Checks a service name: 1..REG_NAME_MAX bytes of UTF-8 without control
 * characters, no blank at either end or before ';' (INI comments), not
 * starting with '-', not a GUID.
 * Returns 0, or -EINVAL with why (CONF_WHY_SIZE bytes) set.
 */
int reg_check_name(const char *name, char *why);

/* Checks a User=/Group= value: 1..REG_ACCOUNT_MAX bytes, no blank, ':' or
 * control character. Existence is not checked. Returns 0 or -EINVAL + why. */
int reg_check_account(const char *name, char *why);

/* Checks a description: 1..REG_DESCRIPTION_MAX bytes, as for names but any
 * first character. Returns 0 or -EINVAL + why. */
int reg_check_description(const char *text, char *why);

/* Checks a port: REG_PORT_MIN..REG_PORT_MAX. Returns 0 or -ERANGE. */
int reg_check_port(uint32_t port);

/*
 * Parses the text of one entry file (size bytes, NUL not needed) for the
 * service id (from the file name); file names the entry in problems.
 * Returns 0 and fills *out (free with reg_service_clear), -EINVAL after
 * adding at least one problem (*out is then empty), or -ENOMEM.
 */
int reg_parse_entry(const char *data, size_t size, const hv_guid_t *id, const char *file,
		    struct reg_service *out, struct conf_problems *problems);

/* Formats s as an entry file; returns a heap string, or NULL (ENOMEM). */
char *reg_format_entry(const struct reg_service *s);

/* Frees the strings of s and zeroes it. */
void reg_service_clear(struct reg_service *s);

/*
 * Registers svc under the lock. svc->id and svc->port select the address:
 * both zero: a VSOCK-template GUID of a random free port in
 * REG_AUTO_PORT_MIN..REG_AUTO_PORT_MAX; a template id: its port (svc->port
 * must be 0 or equal); another id: svc->port is required. On success fills
 * in svc->id and svc->port and returns 0. Returns -EINVAL for an invalid
 * svc, -EEXIST with *conflict filled when the name, GUID or port is taken,
 * or another negative errno when CONFIG/services.d cannot be written.
 * Creates CONFIG and services.d if needed.
 */
int reg_add(const char *config_dir, struct reg_service *svc, struct reg_conflict *conflict);

/*
 * Sets Enabled= of the entry id under the lock, keeping the rest of the file
 * (comments included) as it is; an in-box service without a file gets one.
 * Returns 0 (also when nothing changed), -ENOENT if there is no such file,
 * -EBADMSG if the entry is broken, or another negative errno.
 */
int reg_set_enabled(const char *config_dir, const hv_guid_t *id, bool enabled);

/* Removes the entry file of id (even a broken one) under the lock. Returns
 * 0, -ENOENT, -EPERM for an in-box service (disable it instead), or
 * another negative errno. */
int reg_remove(const char *config_dir, const hv_guid_t *id);

#endif /* VMSVC_REGISTRY_H */
