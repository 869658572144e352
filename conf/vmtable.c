/* SPDX-License-Identifier: MIT */
/*
 * vmtable.c - the VM table, CONFIG/vms.d/NAME.conf (format and rules:
 * vmtable.h). The table machinery is conftable.c's, driven by vmt_desc, as
 * for registry.c: load in file-name order (first file wins a conflict),
 * writers lock, reload, check and write atomically.
 */
#include <stddef.h>
#include <string.h>

#include "atomicfile.h"
#include "conftable.h"
#include "registry.h"
#include "util.h"
#include "vmtable.h"

/* A table of struct vmt_vm, sorted by name. */
struct vmt_table {
	struct ctab tab;
};

enum {
	K_ID,
	K_CID,
	K_DESCRIPTION,
	K_SESSION_USERS,
	K_SESSION_GROUPS,
	K_DISABLED_SERVICES,
	K_COUNT
};

static const struct ctab_desc vmt_desc;

static const char entry_header[] =
	"# vmsvc VM definition (see 'vmsvc vm --help'). Keep Id= as it is: it is the\n"
	"# VM's identity for services and policies.\n";

int vmt_check_name(const char *name, char *why)
{
	size_t len = strlen(name);

	if (len == 0 || len > VMT_NAME_MAX) {
		snprintf(why, CONF_WHY_SIZE, "must be 1 to %d characters long", VMT_NAME_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool alnum =
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || !strchr("_.-", c))) {
			snprintf(why, CONF_WHY_SIZE,
				 "must match [A-Za-z0-9][A-Za-z0-9_.-]* (it names socket files)");
			return -EINVAL;
		}
	}
	return 0;
}

int vmt_check_id(const hv_guid_t *id, char *why)
{
	const char *name = hv_guid_well_known_name(id);

	if (name || hv_guid_equal(id, &HV_GUID_ZERO) || hv_guid_equal(id, &HV_GUID_BROADCAST)) {
		snprintf(why, CONF_WHY_SIZE, "is a reserved GUID (%s), not usable as a VM id",
			 name ? name : "zero or broadcast");
		return -EINVAL;
	}
	return 0;
}

int vmt_check_cid(uint32_t cid)
{
	return cid >= VMT_CID_MIN && cid <= VMT_CID_MAX ? 0 : -ERANGE;
}

static int key_id(void *obj, const char *value, char *why)
{
	struct vmt_vm *vm = obj;

	if (hv_guid_parse(value, &vm->id) < 0) {
		snprintf(why, CONF_WHY_SIZE,
			 "'%.40s' is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
			 value);
		return -EINVAL;
	}
	return vmt_check_id(&vm->id, why);
}

static int key_cid(void *obj, const char *value, char *why)
{
	uint32_t cid;
	int r = conf_parse_u32(value, &cid);

	if (r == -EINVAL) {
		snprintf(why, CONF_WHY_SIZE, "'%.32s' is not a decimal number", value);
		return -EINVAL;
	}
	if (r < 0 || vmt_check_cid(cid) < 0) {
		snprintf(why, CONF_WHY_SIZE, "%.32s is out of range (%u..%u)", value, VMT_CID_MIN,
			 VMT_CID_MAX);
		return -EINVAL;
	}
	((struct vmt_vm *)obj)->cid = cid;
	return 0;
}

static int key_description(void *obj, const char *value, char *why)
{
	struct vmt_vm *vm = obj;
	char *s;

	if (!*value)
		return 0;
	if (conf_check_text(value, VMT_DESCRIPTION_MAX, why) < 0)
		return -EINVAL;
	s = strdup(value);
	if (!s)
		return -ENOMEM;
	free(vm->description);
	vm->description = s;
	return 0;
}

/* A list of account names, separated by blanks or commas, kept with single
 * blanks. */
static int key_accounts(char **dst, const char *value, char *why)
{
	_cleanup_free_ char *copy = strdup(value), *out = NULL;
	size_t len = 0, n = 0;
	char *save = NULL;

	if (!copy || !(out = calloc(1, strlen(value) + 1)))
		return -ENOMEM;
	for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
		if (conf_check_text(w, 64, why) < 0)
			return -EINVAL;
		if (strchr(w, ':')) {
			snprintf(why, CONF_WHY_SIZE, "'%.64s' is not a user or group name", w);
			return -EINVAL;
		}
		if (++n > VMT_MAX_ACCOUNTS) {
			snprintf(why, CONF_WHY_SIZE, "more than %d names", VMT_MAX_ACCOUNTS);
			return -EINVAL;
		}
		len += (size_t)sprintf(out + len, "%s%s", len ? " " : "", w);
	}
	free(*dst);
	*dst = n ? TAKE_PTR(out) : NULL;
	return 0;
}

static int key_session_users(void *obj, const char *value, char *why)
{
	return key_accounts(&((struct vmt_vm *)obj)->session_users, value, why);
}

static int key_session_groups(void *obj, const char *value, char *why)
{
	return key_accounts(&((struct vmt_vm *)obj)->session_groups, value, why);
}

/* An in-box service's short name, or NULL. */
static const char *inbox_short(const char *word)
{
	for (size_t i = 0; i < reg_inbox_count(); i++)
		if (strcmp(word, reg_inbox_at(i)->short_name) == 0)
			return reg_inbox_at(i)->short_name;
	return NULL;
}

/* True if the single-blank list holds word. */
static bool list_has(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; p && *p;) {
		const char *e = strchrnul(p, ' ');
		if ((size_t)(e - p) == n && memcmp(p, word, n) == 0)
			return true;
		p = *e ? e + 1 : e;
	}
	return false;
}

/* Short names of in-box services, separated by blanks or commas; kept with
 * single blanks, repeats dropped. */
static int key_disabled_services(void *obj, const char *value, char *why)
{
	struct vmt_vm *vm = obj;
	_cleanup_free_ char *copy = strdup(value), *out = NULL;
	size_t len = 0;
	char *save = NULL;

	if (!copy || !(out = calloc(1, strlen(value) + 1)))
		return -ENOMEM;
	for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
		if (!inbox_short(w)) {
			char names[128];
			size_t n = 0;

			for (size_t i = 0; i < reg_inbox_count() && n < sizeof(names); i++)
				n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s",
						      i ? ", " : "", reg_inbox_at(i)->short_name);
			snprintf(why, CONF_WHY_SIZE, "'%.40s' is not an in-box service (%s)", w,
				 names);
			return -EINVAL;
		}
		if (!list_has(out, w))
			len += (size_t)sprintf(out + len, "%s%s", len ? " " : "", w);
	}
	free(vm->disabled_services);
	vm->disabled_services = len ? TAKE_PTR(out) : NULL;
	return 0;
}

bool vmt_service_disabled(const struct vmt_vm *vm, const char *short_name)
{
	return list_has(vm->disabled_services, short_name);
}

static const struct conf_key vm_keys[K_COUNT] = {
	[K_ID] = { "Id", key_id },
	[K_CID] = { "Cid", key_cid },
	[K_DESCRIPTION] = { "Description", key_description },
	[K_SESSION_USERS] = { "SessionUsers", key_session_users },
	[K_SESSION_GROUPS] = { "SessionGroups", key_session_groups },
	[K_DISABLED_SERVICES] = { "DisabledServices", key_disabled_services },
};

void vmt_vm_clear(struct vmt_vm *vm)
{
	free(vm->name);
	free(vm->description);
	free(vm->session_users);
	free(vm->session_groups);
	free(vm->disabled_services);
	*vm = (struct vmt_vm){ 0 };
}

/* Checks the file name and the required keys. Returns the number of
 * problems added, or -ENOMEM. */
static int check_entry(const struct conf_parser *p, const void *entry)
{
	const struct vmt_vm *vm = entry;
	char why[CONF_WHY_SIZE];
	int n = 0;

#define ADD(...)                                                                \
	do {                                                                    \
		if (conf_problem_add(p->problems, p->file, 0, __VA_ARGS__) < 0) \
			return -ENOMEM;                                         \
		n++;                                                            \
	} while (0)
	if (vmt_check_name(vm->name, why) < 0)
		ADD("file name: VM name '%.64s' %s", vm->name, why);
	if (p->section_line && !p->key_lines[K_ID])
		ADD("Id= is missing (every VM needs a fixed GUID; 'vmsvc vm add' writes one)");
	if (p->section_line && !p->key_lines[K_CID])
		ADD("Cid= is missing");
#undef ADD
	return n;
}

int vmt_parse_entry(const char *data, size_t size, const char *name, const char *file,
		    struct vmt_vm *out, struct conf_problems *problems)
{
	struct vmt_vm vm = { .name = strdup(name) };
	int r;

	if (!vm.name)
		return -ENOMEM;
	r = ctab_parse(&vmt_desc, data, size, file, &vm, problems, NULL);
	if (r == 0)
		*out = vm;
	return r;
}

char *vmt_format_entry(const struct vmt_vm *vm)
{
	char guid[HV_GUID_STRSIZE], *text = NULL;

	hv_guid_format(&vm->id, guid, sizeof(guid));
#define OPT(key, v) (v) ? key "=" : "", (v) ? (v) : "", (v) ? "\n" : ""
	if (asprintf(&text, "%s[VM]\nId=%s\nCid=%u\n%s%s%s%s%s%s%s%s%s%s%s%s", entry_header, guid,
		     vm->cid, OPT("Description", vm->description),
		     OPT("SessionUsers", vm->session_users),
		     OPT("SessionGroups", vm->session_groups),
		     OPT("DisabledServices", vm->disabled_services)) < 0)
		return NULL;
#undef OPT
	return text;
}

/* --- the table --- */

static int init_entry(void *entry, const char *fname, char *why)
{
	struct vmt_vm *vm = entry;

	(void)why; /* any name loads; check_entry reports a bad one */
	vm->name = strndup(fname, strlen(fname) - strlen(".conf"));
	return vm->name ? 0 : -ENOMEM;
}

static void clear_entry(void *entry)
{
	vmt_vm_clear(entry);
}

static char *format_entry(const void *entry)
{
	return vmt_format_entry(entry);
}

static void entry_owner(const void *entry, char *buf, size_t size)
{
	snprintf(buf, size, VMT_DIR "/%s.conf", ((const struct vmt_vm *)entry)->name);
}

static const struct ctab_unique vm_unique[] = {
	{ "Id", CTAB_GUID, offsetof(struct vmt_vm, id), K_ID },
	{ "Cid", CTAB_U32, offsetof(struct vmt_vm, cid), K_CID },
};

static const struct ctab_desc vmt_desc = {
	.dir = VMT_DIR,
	.section = "VM",
	.keys = vm_keys,
	.nkeys = K_COUNT,
	.size = sizeof(struct vmt_vm),
	.name_offset = offsetof(struct vmt_vm, name),
	.unique = vm_unique,
	.nunique = ARRAY_SIZE(vm_unique),
	.init = init_entry,
	.check = check_entry,
	.clear = clear_entry,
	.format = format_entry,
	.owner = entry_owner,
};

struct vmt_table *vmt_table_free(struct vmt_table *t)
{
	if (t)
		ctab_clear(&t->tab);
	free(t);
	return NULL;
}

/* Loads the open vms.d folder dirfd, or with -1 CONFIG/vms.d. */
static int load_at(const char *config_dir, int dirfd, struct vmt_table **out)
{
	_cleanup_(vmt_table_freep) struct vmt_table *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	r = ctab_load(&t->tab, &vmt_desc, config_dir, dirfd);
	if (r < 0)
		return r;
	*out = TAKE_PTR(t);
	return 0;
}

int vmt_load(const char *config_dir, struct vmt_table **out)
{
	return load_at(config_dir, -1, out);
}

size_t vmt_count(const struct vmt_table *t)
{
	return t->tab.count;
}

const struct vmt_vm *vmt_at(const struct vmt_table *t, size_t i)
{
	return ctab_at(&t->tab, i);
}

const struct conf_problems *vmt_problems(const struct vmt_table *t)
{
	return &t->tab.problems;
}

const struct vmt_vm *vmt_find_name(const struct vmt_table *t, const char *name)
{
	return ctab_find(&t->tab, CTAB_STR, offsetof(struct vmt_vm, name), name);
}

const struct vmt_vm *vmt_find_id(const struct vmt_table *t, const hv_guid_t *id)
{
	return ctab_find(&t->tab, CTAB_GUID, offsetof(struct vmt_vm, id), id);
}

const struct vmt_vm *vmt_find_cid(const struct vmt_table *t, uint32_t cid)
{
	return ctab_find(&t->tab, CTAB_U32, offsetof(struct vmt_vm, cid), &cid);
}

bool vmt_is_broken(const struct vmt_table *t, const char *name)
{
	_cleanup_free_ char *file = NULL;

	if (asprintf(&file, VMT_DIR "/%s.conf", name) < 0)
		return false;
	return ctab_is_broken(&t->tab, file);
}

/* --- writers --- */

static int validate_new(struct vmt_vm *vm)
{
	char why[CONF_WHY_SIZE];

	if (!vm->name || vmt_check_name(vm->name, why) < 0)
		return -EINVAL;
	if (vm->description && conf_check_text(vm->description, VMT_DESCRIPTION_MAX, why) < 0)
		return -EINVAL;
	if (vm->cid && vmt_check_cid(vm->cid) < 0)
		return -EINVAL;
	if (!hv_guid_equal(&vm->id, &HV_GUID_ZERO) && vmt_check_id(&vm->id, why) < 0)
		return -EINVAL;
	return 0;
}

static void set_conflict(struct vmt_conflict *c, enum vmt_conflict_kind kind,
			 const struct vmt_vm *e)
{
	*c = (struct vmt_conflict){ .kind = kind, .id = e->id, .cid = e->cid };
	snprintf(c->name, sizeof(c->name), "%s", e->name);
}

/* Fills in a zero id or CID, then checks for conflicts. */
static int complete_and_check(const struct vmt_table *t, int dirfd, const char *fname,
			      struct vmt_vm *vm, struct vmt_conflict *c)
{
	const struct vmt_vm *e;

	if ((e = vmt_find_name(t, vm->name))) {
		set_conflict(c, VMT_CONFLICT_NAME, e);
		return -EEXIST;
	}
	if (ctab_file_exists(dirfd, fname)) {
		*c = (struct vmt_conflict){ .kind = VMT_CONFLICT_NAME, .broken = true };
		snprintf(c->name, sizeof(c->name), "%s", vm->name);
		return -EEXIST;
	}
	while (hv_guid_equal(&vm->id, &HV_GUID_ZERO) || vmt_find_id(t, &vm->id)) {
		if (!hv_guid_equal(&vm->id, &HV_GUID_ZERO)) { /* given and taken */
			set_conflict(c, VMT_CONFLICT_ID, vmt_find_id(t, &vm->id));
			return -EEXIST;
		}
		if (hv_guid_generate(&vm->id) < 0)
			return -errno;
	}
	if (vm->cid == 0) {
		for (vm->cid = VMT_CID_MIN; vmt_find_cid(t, vm->cid); vm->cid++)
			;
	} else if ((e = vmt_find_cid(t, vm->cid))) {
		set_conflict(c, VMT_CONFLICT_CID, e);
		return -EEXIST;
	}
	return 0;
}

int vmt_add(const char *config_dir, struct vmt_vm *vm, struct vmt_conflict *conflict)
{
	_cleanup_close_ int dirfd = -1, lockfd = -1;
	_cleanup_(vmt_table_freep) struct vmt_table *t = NULL;
	char fname[CTAB_FNAME_SIZE];
	int r;

	conflict->kind = VMT_CONFLICT_NONE;
	if (validate_new(vm) < 0)
		return -EINVAL;
	snprintf(fname, sizeof(fname), "%s.conf", vm->name);
	lockfd = ctab_lock(config_dir, &vmt_desc, true, &dirfd);
	if (lockfd < 0)
		return lockfd;
	r = load_at(config_dir, dirfd, &t);
	if (r == 0)
		r = complete_and_check(t, dirfd, fname, vm, conflict);
	if (r < 0)
		return r;
	return ctab_write(&vmt_desc, dirfd, fname, vm);
}

int vmt_remove(const char *config_dir, const char *name)
{
	char fname[CTAB_FNAME_SIZE], why[CONF_WHY_SIZE];

	if (vmt_check_name(name, why) < 0)
		return -EINVAL;
	snprintf(fname, sizeof(fname), "%s.conf", name);
	return ctab_remove(config_dir, &vmt_desc, fname);
}

/* The list with word added (enabled false) or removed (true); a heap
 * string, NULL when it ends up empty; *err -ENOMEM on failure. */
static char *list_with(const char *list, const char *word, bool enabled, int *err)
{
	size_t n = strlen(word), len = 0;
	char *out = calloc(1, (list ? strlen(list) : 0) + n + 2);

	*err = out ? 0 : -ENOMEM;
	if (!out)
		return NULL;
	for (const char *p = list; p && *p;) {
		const char *e = strchrnul(p, ' ');
		if ((size_t)(e - p) != n || memcmp(p, word, n) != 0)
			len += (size_t)sprintf(out + len, "%s%.*s", len ? " " : "", (int)(e - p),
					       p);
		p = *e ? e + 1 : e;
	}
	if (!enabled)
		len += (size_t)sprintf(out + len, "%s%s", len ? " " : "", word);
	if (len == 0) {
		free(out);
		out = NULL;
	}
	return out;
}

/* Parses vms.d/fname's text for VM name, telling where its keys are. */
static int parse_with_lines(const char *data, size_t size, const char *name, struct vmt_vm *out,
			    struct ctab_lines *lines)
{
	struct conf_problems problems = { 0 };
	char file[CTAB_FNAME_SIZE + sizeof(VMT_DIR)];
	struct vmt_vm vm = { .name = strdup(name) };
	int r;

	if (!vm.name)
		return -ENOMEM;
	snprintf(file, sizeof(file), VMT_DIR "/%s.conf", name);
	r = ctab_parse(&vmt_desc, data, size, file, &vm, &problems, lines);
	conf_problems_clear(&problems);
	if (r == 0)
		*out = vm;
	return r;
}

/* Sets DisabledServices= in the locked folder dirfd. */
static int set_service_at(int dirfd, const char *name, const char *svc, bool enabled)
{
	_cleanup_free_ char *data = NULL, *list = NULL, *line = NULL, *text = NULL;
	char fname[CTAB_FNAME_SIZE];
	struct vmt_vm vm = { 0 };
	struct ctab_lines lines;
	bool same;
	size_t size;
	int r;

	snprintf(fname, sizeof(fname), "%s.conf", name);
	r = conf_read_file(dirfd, fname, &data, &size);
	if (r < 0)
		return r;
	r = parse_with_lines(data, size, name, &vm, &lines);
	if (r < 0)
		return r; /* -EINVAL: broken */
	list = list_with(vm.disabled_services, svc, enabled, &r);
	same = (!list && !vm.disabled_services) ||
	       (list && vm.disabled_services && strcmp(list, vm.disabled_services) == 0);
	vmt_vm_clear(&vm);
	if (r < 0 || same)
		return r;
	if (list && asprintf(&line, "DisabledServices=%s", list) < 0)
		return -ENOMEM;
	text = ctab_edit_line(data, size, lines.key[K_DISABLED_SERVICES], lines.section, line);
	if (!text)
		return -ENOMEM;
	/* never write what would not load */
	r = parse_with_lines(text, strlen(text), name, &vm, &lines);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	same = vmt_service_disabled(&vm, svc) == !enabled;
	vmt_vm_clear(&vm);
	if (!same)
		return -EINVAL;
	return af_write(dirfd, fname, text, strlen(text), 0644);
}

int vmt_set_service(const char *config_dir, const char *name, const char *short_name, bool enabled)
{
	_cleanup_close_ int dirfd = -1, lockfd = -1;
	char why[CONF_WHY_SIZE];
	const char *svc = inbox_short(short_name);

	if (vmt_check_name(name, why) < 0)
		return -ENOENT; /* no VM can have that name */
	if (!svc)
		return -EINVAL;
	lockfd = ctab_lock(config_dir, &vmt_desc, false, &dirfd);
	if (lockfd < 0)
		return lockfd;
	return set_service_at(dirfd, name, svc, enabled);
}
