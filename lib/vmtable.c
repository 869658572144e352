/* SPDX-License-Identifier: MIT */
/*
 * vmtable.c - the VM table, CONFIG/vms.d/NAME.conf (format and rules:
 * vmtable.h). Same shape as registry.c: load in file-name order (first file
 * wins a conflict), writers lock, reload, check and write atomically.
 */
#include <fcntl.h>
#include <string.h>

#include "atomicfile.h"
#include "util.h"
#include "vmtable.h"

struct vmt_table {
	struct vmt_vm *items; /* sorted by name (file-name order) */
	size_t count;
	struct conf_problems problems;
};

enum { K_ID, K_CID, K_DESCRIPTION, K_COUNT };

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

static const struct conf_key vm_keys[K_COUNT] = {
	[K_ID] = { "Id", key_id },
	[K_CID] = { "Cid", key_cid },
	[K_DESCRIPTION] = { "Description", key_description },
};

void vmt_vm_clear(struct vmt_vm *vm)
{
	free(vm->name);
	free(vm->description);
	*vm = (struct vmt_vm){ 0 };
}

/* vmt_parse_entry, also giving the line of each key (K_COUNT, may be NULL). */
static int parse_entry(const char *data, size_t size, const char *name, const char *file,
		       struct vmt_vm *out, struct conf_problems *problems, unsigned *lines)
{
	struct vmt_vm vm = { 0 };
	struct conf_parser p = { .file = file,
				 .section = "VM",
				 .keys = vm_keys,
				 .nkeys = K_COUNT,
				 .problems = problems };
	char why[CONF_WHY_SIZE];
	int n;

	n = conf_parse(&p, data, size, &vm);
	if (n >= 0 && vmt_check_name(name, why) < 0)
		n = conf_problem_add(problems, file, 0, "file name: VM name '%.64s' %s", name,
				     why) < 0
			    ? -ENOMEM
			    : n + 1;
	if (n >= 0 && p.section_line && !p.key_lines[K_ID])
		n = conf_problem_add(problems, file, 0,
				     "Id= is missing (every VM needs a fixed GUID; 'vmsvc vm add' "
				     "writes one)") < 0
			    ? -ENOMEM
			    : n + 1;
	if (n >= 0 && p.section_line && !p.key_lines[K_CID])
		n = conf_problem_add(problems, file, 0, "Cid= is missing") < 0 ? -ENOMEM : n + 1;
	if (n == 0 && !(vm.name = strdup(name)))
		n = -ENOMEM;
	if (n != 0) {
		vmt_vm_clear(&vm);
		return n < 0 ? n : -EINVAL;
	}
	if (lines)
		memcpy(lines, p.key_lines, K_COUNT * sizeof(*lines));
	*out = vm;
	return 0;
}

int vmt_parse_entry(const char *data, size_t size, const char *name, const char *file,
		    struct vmt_vm *out, struct conf_problems *problems)
{
	return parse_entry(data, size, name, file, out, problems, NULL);
}

char *vmt_format_entry(const struct vmt_vm *vm)
{
	char guid[HV_GUID_STRSIZE], *text = NULL;

	hv_guid_format(&vm->id, guid, sizeof(guid));
	if (asprintf(&text, "%s[VM]\nId=%s\nCid=%u\n%s%s%s", entry_header, guid, vm->cid,
		     vm->description ? "Description=" : "", vm->description ? vm->description : "",
		     vm->description ? "\n" : "") < 0)
		return NULL;
	return text;
}

/* --- the table --- */

struct vmt_table *vmt_table_free(struct vmt_table *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->count; i++)
		vmt_vm_clear(&t->items[i]);
	free(t->items);
	conf_problems_clear(&t->problems);
	free(t);
	return NULL;
}

size_t vmt_count(const struct vmt_table *t)
{
	return t->count;
}

const struct vmt_vm *vmt_at(const struct vmt_table *t, size_t i)
{
	return i < t->count ? &t->items[i] : NULL;
}

const struct conf_problems *vmt_problems(const struct vmt_table *t)
{
	return &t->problems;
}

const struct vmt_vm *vmt_find_name(const struct vmt_table *t, const char *name)
{
	for (size_t i = 0; i < t->count; i++)
		if (strcmp(t->items[i].name, name) == 0)
			return &t->items[i];
	return NULL;
}

const struct vmt_vm *vmt_find_id(const struct vmt_table *t, const hv_guid_t *id)
{
	for (size_t i = 0; i < t->count; i++)
		if (hv_guid_equal(&t->items[i].id, id))
			return &t->items[i];
	return NULL;
}

const struct vmt_vm *vmt_find_cid(const struct vmt_table *t, uint32_t cid)
{
	for (size_t i = 0; i < t->count; i++)
		if (t->items[i].cid == cid)
			return &t->items[i];
	return NULL;
}

bool vmt_is_broken(const struct vmt_table *t, const char *name)
{
	_cleanup_free_ char *file = NULL;

	if (asprintf(&file, VMT_DIR "/%s.conf", name) < 0)
		return false;
	for (size_t i = 0; i < t->problems.count; i++)
		if (strcmp(t->problems.items[i].file, file) == 0)
			return true;
	return false;
}

/* Adds vm (taken over) unless its id or CID is taken. */
static int add_entry(struct vmt_table *t, struct vmt_vm *vm, const char *file,
		     const unsigned *lines)
{
	const struct vmt_vm *w;
	struct vmt_vm *items;
	char guid[HV_GUID_STRSIZE];

	if ((w = vmt_find_id(t, &vm->id))) {
		hv_guid_format(&vm->id, guid, sizeof(guid));
		return conf_problem_add(&t->problems, file, lines[K_ID],
					"Id %s is already used by " VMT_DIR
					"/%s.conf; this entry is ignored",
					guid, w->name);
	}
	if ((w = vmt_find_cid(t, vm->cid)))
		return conf_problem_add(&t->problems, file, lines[K_CID],
					"Cid %u is already used by " VMT_DIR
					"/%s.conf; this entry is ignored",
					vm->cid, w->name);
	items = reallocarray(t->items, t->count + 1, sizeof(*items));
	if (!items)
		return -ENOMEM;
	t->items = items;
	t->items[t->count++] = *vm;
	*vm = (struct vmt_vm){ 0 };
	return 0;
}

static int load_one(struct vmt_table *t, int dirfd, const char *fname)
{
	_cleanup_free_ char *data = NULL, *file = NULL, *name = NULL;
	struct vmt_vm vm = { 0 };
	unsigned lines[K_COUNT];
	size_t size;
	int r;

	if (asprintf(&file, VMT_DIR "/%s", fname) < 0 ||
	    !(name = strndup(fname, strlen(fname) - strlen(".conf"))))
		return -ENOMEM;
	r = conf_read_file(dirfd, fname, &data, &size);
	if (r == -ENOENT)
		return 0;
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return conf_problem_add(&t->problems, file, 0, "cannot read it: %s",
					r == -EFBIG    ? "larger than 64 KiB"
					: r == -EINVAL ? "not a regular file"
						       : strerror(-r));
	r = parse_entry(data, size, name, file, &vm, &t->problems, lines);
	if (r < 0)
		return r == -ENOMEM ? r : 0;
	r = add_entry(t, &vm, file, lines);
	vmt_vm_clear(&vm);
	return r;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct vmt_vm *)a)->name, ((const struct vmt_vm *)b)->name);
}

/* Loads the entries of the open vms.d folder dirfd (-1: none). */
static int load_at(int dirfd, struct vmt_table **out)
{
	_cleanup_(vmt_table_freep) struct vmt_table *t = calloc(1, sizeof(*t));
	char **names = NULL;
	size_t n = 0;
	int r = 0;

	if (!t)
		return -ENOMEM;
	if (dirfd >= 0) {
		r = conf_list_dir(dirfd, ".conf", &names, &n);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n && r >= 0; i++)
			r = load_one(t, dirfd, names[i]);
		conf_strv_free(names);
		if (r < 0)
			return r;
	}
	if (t->count) /* "a-b.conf" sorts before "a.conf" */
		qsort(t->items, t->count, sizeof(*t->items), cmp_name);
	*out = TAKE_PTR(t);
	return 0;
}

int vmt_load(const char *config_dir, struct vmt_table **out)
{
	_cleanup_close_ int dirfd = conf_open_dir(config_dir, VMT_DIR, false);

	if (dirfd < 0 && dirfd != -ENOENT)
		return dirfd;
	return load_at(dirfd, out);
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
	if (faccessat(dirfd, fname, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
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
	_cleanup_free_ char *text = NULL, *fname = NULL;
	int r;

	conflict->kind = VMT_CONFLICT_NONE;
	if (validate_new(vm) < 0)
		return -EINVAL;
	if (asprintf(&fname, "%s.conf", vm->name) < 0)
		return -ENOMEM;
	dirfd = conf_open_dir(config_dir, VMT_DIR, true);
	if (dirfd < 0)
		return dirfd;
	lockfd = af_lock(dirfd);
	if (lockfd < 0)
		return lockfd;
	r = load_at(dirfd, &t);
	if (r == 0)
		r = complete_and_check(t, dirfd, fname, vm, conflict);
	if (r < 0)
		return r;
	text = vmt_format_entry(vm);
	if (!text)
		return -ENOMEM;
	return af_write(dirfd, fname, text, strlen(text), 0644);
}

int vmt_remove(const char *config_dir, const char *name)
{
	_cleanup_close_ int dirfd = -1, lockfd = -1;
	_cleanup_free_ char *fname = NULL;
	char why[CONF_WHY_SIZE];

	if (vmt_check_name(name, why) < 0)
		return -EINVAL;
	if (asprintf(&fname, "%s.conf", name) < 0)
		return -ENOMEM;
	dirfd = conf_open_dir(config_dir, VMT_DIR, false);
	if (dirfd < 0)
		return dirfd;
	lockfd = af_lock(dirfd);
	if (lockfd < 0)
		return lockfd;
	return af_unlink(dirfd, fname);
}
