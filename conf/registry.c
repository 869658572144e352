/* SPDX-License-Identifier: MIT */
/*
 * registry.c - the service registry, CONFIG/services.d/<guid>.conf (file
 * format and rules: registry.h; INI dialect: conffile.h).
 *
 * Loading, lookups and locking are the shared table machinery of
 * conftable.c, driven by reg_desc: a conflict (same name or port in two
 * files) goes to the file that sorts first.
 *
 * Writers follow one pattern: open services.d (creating it for reg_add),
 * take the lock, reload from disk, check, write with af_write. A check made
 * on a table loaded before the lock would race with other writers.
 */
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "atomicfile.h"
#include "conftable.h"
#include "ic.h"
#include "registry.h"
#include "util.h"

/* A table of struct reg_service. */
struct reg_table {
	struct ctab tab;
};

enum { K_NAME, K_ENABLED, K_PORT, K_USER, K_GROUP, K_DESCRIPTION, K_COUNT };

static const struct ctab_desc reg_desc;

static const char entry_header[] =
	"# vmsvc service registry entry (see 'vmsvc service --help'). Hand edits are\n"
	"# fine; 'vmsvc service list' reports mistakes with their line number.\n";

/* --- value checks --- */

int reg_check_name(const char *name, char *why)
{
	hv_guid_t g;

	if (conf_check_text(name, REG_NAME_MAX, why) < 0)
		return -EINVAL;
	if (name[0] == '-') {
		snprintf(why, CONF_WHY_SIZE, "must not start with '-'");
		return -EINVAL;
	}
	if (hv_guid_parse(name, &g) == 0) {
		snprintf(why, CONF_WHY_SIZE, "must not be a GUID (GUIDs name services by id)");
		return -EINVAL;
	}
	return 0;
}

int reg_check_account(const char *name, char *why)
{
	if (conf_check_text(name, REG_ACCOUNT_MAX, why) < 0)
		return -EINVAL;
	if (strpbrk(name, " :")) {
		snprintf(why, CONF_WHY_SIZE, "must not contain a blank or ':'");
		return -EINVAL;
	}
	return 0;
}

int reg_check_description(const char *text, char *why)
{
	return conf_check_text(text, REG_DESCRIPTION_MAX, why);
}

int reg_check_port(uint32_t port)
{
	return port >= REG_PORT_MIN && port <= REG_PORT_MAX ? 0 : -ERANGE;
}

/* --- key parsers (obj is a struct reg_service) --- */

static int set_string(char **dst, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static int key_name(void *obj, const char *value, char *why)
{
	if (reg_check_name(value, why) < 0)
		return -EINVAL;
	return set_string(&((struct reg_service *)obj)->name, value);
}

static int key_enabled(void *obj, const char *value, char *why)
{
	if (conf_parse_bool(value, &((struct reg_service *)obj)->enabled) < 0) {
		snprintf(why, CONF_WHY_SIZE,
			 "'%.32s' is not a boolean (true/false, yes/no, on/off, 1/0)", value);
		return -EINVAL;
	}
	return 0;
}

static int key_port(void *obj, const char *value, char *why)
{
	uint32_t port;
	int r = conf_parse_u32(value, &port);

	if (r == -EINVAL) {
		snprintf(why, CONF_WHY_SIZE, "'%.32s' is not a decimal number", value);
		return -EINVAL;
	}
	if (r < 0 || reg_check_port(port) < 0) {
		snprintf(why, CONF_WHY_SIZE, "%.32s is out of range (%u..%u)", value, REG_PORT_MIN,
			 REG_PORT_MAX);
		return -EINVAL;
	}
	((struct reg_service *)obj)->port = port;
	return 0;
}

static int key_account(char **dst, const char *value, char *why)
{
	if (!*value) /* "User=" means unset */
		return 0;
	if (reg_check_account(value, why) < 0)
		return -EINVAL;
	return set_string(dst, value);
}

static int key_user(void *obj, const char *value, char *why)
{
	return key_account(&((struct reg_service *)obj)->user, value, why);
}

static int key_group(void *obj, const char *value, char *why)
{
	return key_account(&((struct reg_service *)obj)->group, value, why);
}

static int key_description(void *obj, const char *value, char *why)
{
	if (!*value)
		return 0;
	if (reg_check_description(value, why) < 0)
		return -EINVAL;
	return set_string(&((struct reg_service *)obj)->description, value);
}

static const struct conf_key service_keys[K_COUNT] = {
	[K_NAME] = { "ElementName", key_name },
	[K_ENABLED] = { "Enabled", key_enabled },
	[K_PORT] = { "Port", key_port },
	[K_USER] = { "User", key_user },
	[K_GROUP] = { "Group", key_group },
	[K_DESCRIPTION] = { "Description", key_description },
};

/* --- parsing one entry --- */

void reg_service_clear(struct reg_service *s)
{
	free(s->name);
	free(s->user);
	free(s->group);
	free(s->description);
	*s = (struct reg_service){ 0 };
}

/* --- in-box services --- */

/* The integration services' GUIDs and ports are the wire contract's
 * (proto/ic.h): one source of truth for vmsvcd, the agent and the CLI.
 * Time sync and VSS join once something serves them. */
static const struct reg_inbox inbox[] = {
	{ .guid = IC_HEARTBEAT_GUID,
	  .name = "Heartbeat",
	  .short_name = "heartbeat",
	  .port = IC_HEARTBEAT_PORT,
	  .description = "the guest's health as vmsvc-agent reports it (vmsvc vm list)" },
	{ .guid = IC_SHUTDOWN_GUID,
	  .name = "Shutdown",
	  .short_name = "shutdown",
	  .port = IC_SHUTDOWN_PORT,
	  .description = "clean shutdown or reboot of the guest from the host (vmsvc-agent)" },
	{ .guid = IC_KVP_GUID,
	  .name = "Key-Value Pair Exchange",
	  .short_name = "kvp",
	  .port = IC_KVP_PORT,
	  .description = "key-value pools shared by the host and the guest (vmsvc kvp)" },
	{ .guid = REG_SESSION_GUID,
	  .name = "VM Session Service",
	  .short_name = "session",
	  .port = REG_SESSION_PORT,
	  .description = "exec, shell and cp into the VM (vmsvc-agent)" },
	{ .guid = IC_VSS_GUID,
	  .name = "VSS",
	  .short_name = "vss",
	  .port = IC_VSS_PORT,
	  .description = "filesystem freeze and thaw for backups (vmsvc vm freeze)" },
	{ .guid = IC_TIMESYNC_GUID,
	  .name = "Time Synchronization",
	  .short_name = "timesync",
	  .port = IC_TIMESYNC_PORT,
	  .description = "the guest's clock kept to the host's (vmsvc-agent, or chrony)" },
};

size_t reg_inbox_count(void)
{
	return ARRAY_SIZE(inbox);
}

const struct reg_inbox *reg_inbox_at(size_t i)
{
	return i < ARRAY_SIZE(inbox) ? &inbox[i] : NULL;
}

const struct reg_inbox *reg_inbox_lookup(const char *key)
{
	hv_guid_t id;

	if (hv_guid_parse(key, &id) == 0)
		return reg_inbox_find(&id);
	for (size_t i = 0; i < ARRAY_SIZE(inbox); i++)
		if (strcmp(key, inbox[i].short_name) == 0 || strcasecmp(key, inbox[i].name) == 0)
			return &inbox[i];
	return NULL;
}

const struct reg_inbox *reg_inbox_find(const hv_guid_t *id)
{
	for (size_t i = 0; i < ARRAY_SIZE(inbox); i++) {
		hv_guid_t g;

		if (hv_guid_parse(inbox[i].guid, &g) == 0 && hv_guid_equal(&g, id))
			return &inbox[i];
	}
	return NULL;
}

/* The entry of in-box service b as it is without a file (enabled). */
static int inbox_entry(const struct reg_inbox *b, struct reg_service *s)
{
	*s = (struct reg_service){
		.enabled = true, .port = b->port, .uid = REG_NO_ID, .gid = REG_NO_ID, .inbox = true
	};
	if (hv_guid_parse(b->guid, &s->id) < 0)
		return -EINVAL;
	s->name = strdup(b->name);
	s->description = strdup(b->description);
	if (!s->name || !s->description) {
		reg_service_clear(s);
		return -ENOMEM;
	}
	return 0;
}

static bool guid_is_reserved(const hv_guid_t *id)
{
	return hv_guid_equal(id, &HV_GUID_ZERO) || hv_guid_equal(id, &HV_GUID_BROADCAST);
}

/* Checks what spans keys (required keys, GUID against Port). Returns the
 * number of problems added, or -ENOMEM. */
static int check_entry(const struct conf_parser *p, const void *entry)
{
	const struct reg_service *s = entry;
	uint32_t tport;
	int n = 0;

#define ADD(line, ...)                                                             \
	do {                                                                       \
		if (conf_problem_add(p->problems, p->file, line, __VA_ARGS__) < 0) \
			return -ENOMEM;                                            \
		n++;                                                               \
	} while (0)
	if (guid_is_reserved(&s->id))
		ADD(0, "the GUID in the file name cannot be a service id");
	if (!p->section_line)
		return n; /* already reported; missing keys would be noise */
	if (!p->key_lines[K_NAME])
		ADD(0, "ElementName= is missing");
	if (hv_guid_to_port(&s->id, &tport) == 0) {
		if (reg_check_port(tport) < 0)
			ADD(0, "the GUID is the VSOCK template of port %u, which is not usable",
			    tport);
		else if (!p->key_lines[K_PORT])
			ADD(0,
			    "Port= is missing (this VSOCK template GUID means port %u: add "
			    "'Port=%u')",
			    tport, tport);
		else if (s->port && s->port != tport)
			ADD(p->key_lines[K_PORT],
			    "Port=%u does not match the GUID, the VSOCK template GUID of port %u",
			    s->port, tport);
	} else if (!p->key_lines[K_PORT]) {
		ADD(0, "Port= is missing (required: the GUID is not a VSOCK template GUID)");
	}
	const struct reg_inbox *b = reg_inbox_find(&s->id);
	if (b && p->key_lines[K_PORT] && s->port != b->port)
		ADD(p->key_lines[K_PORT], "the in-box %s has Port=%u", b->name, b->port);
	if (b && s->name && strcmp(s->name, b->name) != 0)
		ADD(p->key_lines[K_NAME], "the in-box service's ElementName is '%s'", b->name);
#undef ADD
	return n;
}

/* reg_parse_entry, also telling where the keys are (lines may be NULL). */
static int parse_entry(const char *data, size_t size, const hv_guid_t *id, const char *file,
		       struct reg_service *out, struct conf_problems *problems,
		       struct ctab_lines *lines)
{
	struct reg_service s = { .id = *id, .enabled = true };
	int r = ctab_parse(&reg_desc, data, size, file, &s, problems, lines);

	if (r == 0)
		*out = s;
	return r;
}

int reg_parse_entry(const char *data, size_t size, const hv_guid_t *id, const char *file,
		    struct reg_service *out, struct conf_problems *problems)
{
	return parse_entry(data, size, id, file, out, problems, NULL);
}

char *reg_format_entry(const struct reg_service *s)
{
	char guid[HV_GUID_STRSIZE], *text = NULL;
	int r;

	hv_guid_format(&s->id, guid, sizeof(guid));
	r = asprintf(&text, "%s[Service]\nElementName=%s\nEnabled=%s\nPort=%u\n%s%s%s%s%s%s%s%s%s",
		     entry_header, s->name, s->enabled ? "true" : "false", s->port,
		     s->user ? "User=" : "", s->user ? s->user : "", s->user ? "\n" : "",
		     s->group ? "Group=" : "", s->group ? s->group : "", s->group ? "\n" : "",
		     s->description ? "Description=" : "", s->description ? s->description : "",
		     s->description ? "\n" : "");
	return r < 0 ? NULL : text;
}

void reg_entry_file(const hv_guid_t *id, char buf[REG_FILE_SIZE])
{
	char guid[HV_GUID_STRSIZE];

	hv_guid_format(id, guid, sizeof(guid));
	snprintf(buf, REG_FILE_SIZE, REG_DIR "/%s.conf", guid);
}

/* --- the table --- */

/* Parses "<guid>.conf" as a file name; only the lower-case canonical form
 * is accepted, so that one GUID has one file. Returns 0, or -EINVAL and
 * writes the reason into why. */
static int parse_file_name(const char *name, hv_guid_t *id, char *why)
{
	char base[HV_GUID_STRSIZE + 2], canon[HV_GUID_STRSIZE];
	size_t len = strlen(name) - strlen(".conf");

	if (len < sizeof(base)) {
		memcpy(base, name, len);
		base[len] = '\0';
	}
	if (len >= sizeof(base) || hv_guid_parse(base, id) < 0) {
		snprintf(why, CONF_WHY_SIZE,
			 "file name is not a GUID (expected "
			 "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.conf); entry skipped");
		return -EINVAL;
	}
	hv_guid_format(id, canon, sizeof(canon));
	if (strcmp(base, canon) != 0) {
		snprintf(why, CONF_WHY_SIZE,
			 "file name is not the lower-case GUID; rename it to " REG_DIR "/%s.conf",
			 canon);
		return -EINVAL;
	}
	return 0;
}

static int init_entry(void *entry, const char *fname, char *why)
{
	struct reg_service *s = entry;

	s->enabled = true;
	s->uid = REG_NO_ID;
	s->gid = REG_NO_ID;
	return parse_file_name(fname, &s->id, why);
}

static void clear_entry(void *entry)
{
	reg_service_clear(entry);
}

static char *format_entry(const void *entry)
{
	return reg_format_entry(entry);
}

static void entry_owner(const void *entry, char *buf, size_t size)
{
	const struct reg_service *s = entry;
	char file[REG_FILE_SIZE];

	reg_entry_file(&s->id, file);
	snprintf(buf, size, "%s (service '%s')", file, s->name);
}

static const struct ctab_unique service_unique[] = {
	{ "ElementName", CTAB_STR, offsetof(struct reg_service, name), K_NAME },
	{ "Port", CTAB_U32, offsetof(struct reg_service, port), K_PORT },
};

static const struct ctab_desc reg_desc = {
	.dir = REG_DIR,
	.section = "Service",
	.keys = service_keys,
	.nkeys = K_COUNT,
	.size = sizeof(struct reg_service),
	.name_offset = offsetof(struct reg_service, name),
	.unique = service_unique,
	.nunique = ARRAY_SIZE(service_unique),
	.init = init_entry,
	.check = check_entry,
	.clear = clear_entry,
	.format = format_entry,
	.owner = entry_owner,
};

struct reg_table *reg_table_free(struct reg_table *t)
{
	if (t)
		ctab_clear(&t->tab);
	free(t);
	return NULL;
}

/* Marks the in-box services that have a file, and adds those that have
 * none (unless their file is broken: then they stay off). */
static int add_inbox(struct reg_table *t)
{
	for (size_t i = 0; i < t->tab.count; i++) {
		struct reg_service *s = (struct reg_service *)ctab_at(&t->tab, i);

		s->inbox = reg_inbox_find(&s->id) != NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(inbox); i++) {
		struct reg_service s;
		char what[128];
		int r = inbox_entry(&inbox[i], &s);

		if (r < 0)
			return r;
		if (reg_find_guid(t, &s.id) || reg_is_broken(t, &s.id)) {
			reg_service_clear(&s);
			continue;
		}
		snprintf(what, sizeof(what), "the in-box %s", inbox[i].name);
		r = ctab_insert(&t->tab, &s, what);
		reg_service_clear(&s);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Loads the open services.d folder dirfd, or with -1 CONFIG/services.d. */
static int load_at(const char *config_dir, int dirfd, struct reg_table **out)
{
	_cleanup_(reg_table_freep) struct reg_table *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	r = ctab_load(&t->tab, &reg_desc, config_dir, dirfd);
	if (r < 0)
		return r;
	r = add_inbox(t);
	if (r < 0)
		return r;
	*out = TAKE_PTR(t);
	return 0;
}

int reg_load(const char *config_dir, struct reg_table **out)
{
	return load_at(config_dir, -1, out);
}

size_t reg_count(const struct reg_table *t)
{
	return t->tab.count;
}

const struct reg_service *reg_at(const struct reg_table *t, size_t i)
{
	return ctab_at(&t->tab, i);
}

void reg_resolve_owners(struct reg_table *t)
{
	for (size_t i = 0; i < t->tab.count; i++) {
		struct reg_service *s = (struct reg_service *)ctab_at(&t->tab, i);
		const struct passwd *pw = s->user ? getpwnam(s->user) : NULL;
		const struct group *gr = s->group ? getgrnam(s->group) : NULL;

		s->uid = pw ? pw->pw_uid : REG_NO_ID;
		s->gid = gr ? gr->gr_gid : REG_NO_ID;
	}
}

const struct conf_problems *reg_problems(const struct reg_table *t)
{
	return &t->tab.problems;
}

const struct reg_service *reg_find_guid(const struct reg_table *t, const hv_guid_t *id)
{
	return ctab_find(&t->tab, CTAB_GUID, offsetof(struct reg_service, id), id);
}

const struct reg_service *reg_find_name(const struct reg_table *t, const char *name)
{
	return ctab_find(&t->tab, CTAB_STR, offsetof(struct reg_service, name), name);
}

const struct reg_service *reg_find_port(const struct reg_table *t, uint32_t port)
{
	return ctab_find(&t->tab, CTAB_U32, offsetof(struct reg_service, port), &port);
}

const struct reg_service *reg_lookup(const struct reg_table *t, const char *key)
{
	hv_guid_t id;

	if (hv_guid_parse(key, &id) == 0)
		return reg_find_guid(t, &id);
	return reg_find_name(t, key);
}

bool reg_is_broken(const struct reg_table *t, const hv_guid_t *id)
{
	char file[REG_FILE_SIZE];

	reg_entry_file(id, file);
	return ctab_is_broken(&t->tab, file);
}

/* --- writers --- */

/* Fills in svc->id and svc->port per reg_add's rules; sets *pick when the
 * port is to be chosen. Returns 0 or -EINVAL. */
static int resolve_address(struct reg_service *svc, bool *pick)
{
	uint32_t tport;

	*pick = false;
	if (hv_guid_equal(&svc->id, &HV_GUID_ZERO)) {
		if (svc->port == 0) {
			*pick = true;
			return 0;
		}
		if (reg_check_port(svc->port) < 0)
			return -EINVAL;
		hv_guid_from_port(svc->port, &svc->id);
		return 0;
	}
	if (guid_is_reserved(&svc->id))
		return -EINVAL;
	if (hv_guid_to_port(&svc->id, &tport) == 0) {
		if (reg_check_port(tport) < 0 || (svc->port && svc->port != tport))
			return -EINVAL;
		svc->port = tport;
		return 0;
	}
	return reg_check_port(svc->port) < 0 ? -EINVAL : 0;
}

static int validate_new(struct reg_service *svc, bool *pick)
{
	char why[CONF_WHY_SIZE];

	if (!svc->name || reg_check_name(svc->name, why) < 0)
		return -EINVAL;
	if (svc->user && reg_check_account(svc->user, why) < 0)
		return -EINVAL;
	if (svc->group && reg_check_account(svc->group, why) < 0)
		return -EINVAL;
	if (svc->description && reg_check_description(svc->description, why) < 0)
		return -EINVAL;
	return resolve_address(svc, pick);
}

/* The name of the entry file of id inside services.d. */
static const char *fname_of(const hv_guid_t *id, char file[REG_FILE_SIZE])
{
	reg_entry_file(id, file);
	return file + strlen(REG_DIR "/");
}

/* True if dirfd holds an entry file for id (loaded or broken). */
static bool file_exists(int dirfd, const hv_guid_t *id)
{
	char file[REG_FILE_SIZE];

	return ctab_file_exists(dirfd, fname_of(id, file));
}

static int pick_port(const struct reg_table *t, int dirfd, struct reg_service *svc)
{
	for (int tries = 0; tries < 10000; tries++) {
		uint32_t v;

		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			return -errno;
		v = REG_AUTO_PORT_MIN + v % (REG_AUTO_PORT_MAX - REG_AUTO_PORT_MIN + 1);
		hv_guid_from_port(v, &svc->id);
		if (!reg_find_port(t, v) && !file_exists(dirfd, &svc->id)) {
			svc->port = v;
			return 0;
		}
	}
	return -ENOSPC;
}

static void set_conflict(struct reg_conflict *c, enum reg_conflict_kind kind,
			 const struct reg_service *e)
{
	*c = (struct reg_conflict){ .kind = kind, .id = e->id, .port = e->port };
	snprintf(c->name, sizeof(c->name), "%s", e->name);
}

static int find_conflict(const struct reg_table *t, int dirfd, const struct reg_service *svc,
			 struct reg_conflict *c)
{
	const struct reg_service *e;

	if ((e = reg_find_name(t, svc->name))) {
		set_conflict(c, REG_CONFLICT_NAME, e);
	} else if ((e = reg_find_guid(t, &svc->id))) {
		set_conflict(c, REG_CONFLICT_GUID, e);
	} else if (file_exists(dirfd, &svc->id)) {
		*c = (struct reg_conflict){ .kind = REG_CONFLICT_GUID,
					    .broken = true,
					    .id = svc->id };
	} else if ((e = reg_find_port(t, svc->port))) {
		set_conflict(c, REG_CONFLICT_PORT, e);
	} else {
		c->kind = REG_CONFLICT_NONE;
		return 0;
	}
	return -EEXIST;
}

int reg_add(const char *config_dir, struct reg_service *svc, struct reg_conflict *conflict)
{
	_cleanup_close_ int dirfd = -1, lockfd = -1;
	_cleanup_(reg_table_freep) struct reg_table *t = NULL;
	char file[REG_FILE_SIZE];
	bool pick;
	int r;

	conflict->kind = REG_CONFLICT_NONE;
	if (validate_new(svc, &pick) < 0)
		return -EINVAL;
	lockfd = ctab_lock(config_dir, &reg_desc, true, &dirfd);
	if (lockfd < 0)
		return lockfd;
	r = load_at(config_dir, dirfd, &t);
	if (r == 0 && pick)
		r = pick_port(t, dirfd, svc);
	if (r == 0)
		r = find_conflict(t, dirfd, svc, conflict);
	if (r < 0)
		return r;
	return ctab_write(&reg_desc, dirfd, fname_of(&svc->id, file), svc);
}

/* Reads and parses the entry file of id; -EBADMSG if it is broken. */
static int read_entry(int dirfd, const hv_guid_t *id, char **data, size_t *size,
		      struct reg_service *s, struct ctab_lines *lines)
{
	struct conf_problems problems = { 0 };
	char file[REG_FILE_SIZE];
	int r;

	r = conf_read_file(dirfd, fname_of(id, file), data, size);
	if (r < 0)
		return r;
	r = parse_entry(*data, *size, id, file, s, &problems, lines);
	conf_problems_clear(&problems);
	if (r < 0) {
		free(*data);
		*data = NULL;
		return r == -EINVAL ? -EBADMSG : r;
	}
	return 0;
}

static int set_enabled_at(int dirfd, const hv_guid_t *id, bool enabled)
{
	_cleanup_free_ char *data = NULL, *text = NULL;
	struct conf_problems problems = { 0 };
	struct reg_service s = { 0 };
	struct ctab_lines lines;
	char file[REG_FILE_SIZE];
	bool was;
	size_t size;
	int r;

	r = read_entry(dirfd, id, &data, &size, &s, &lines);
	if (r < 0)
		return r;
	was = s.enabled;
	reg_service_clear(&s);
	if (was == enabled)
		return 0;
	text = ctab_edit_line(data, size, lines.key[K_ENABLED], lines.section,
			      enabled ? "Enabled=true" : "Enabled=false");
	if (!text)
		return -ENOMEM;
	reg_entry_file(id, file);
	r = parse_entry(text, strlen(text), id, file, &s, &problems, NULL);
	conf_problems_clear(&problems);
	was = s.enabled;
	reg_service_clear(&s);
	if (r < 0 || was != enabled) /* never write what would not load */
		return r == -ENOMEM ? r : -EBADMSG;
	return af_write(dirfd, fname_of(id, file), text, strlen(text), 0644);
}

int reg_set_enabled(const char *config_dir, const hv_guid_t *id, bool enabled)
{
	_cleanup_close_ int dirfd = -1, lockfd = -1;

	const struct reg_inbox *b = reg_inbox_find(id);
	char file[REG_FILE_SIZE];
	struct reg_service s;
	int r;

	lockfd = ctab_lock(config_dir, &reg_desc, b != NULL, &dirfd);
	if (lockfd < 0)
		return lockfd;
	r = set_enabled_at(dirfd, id, enabled);
	if (r != -ENOENT || !b || file_exists(dirfd, id))
		return r;
	/* an in-box service without a file: enabled as it is */
	if (enabled)
		return 0;
	r = inbox_entry(b, &s);
	if (r < 0)
		return r;
	s.enabled = false;
	r = ctab_write(&reg_desc, dirfd, fname_of(id, file), &s);
	reg_service_clear(&s);
	return r;
}

int reg_remove(const char *config_dir, const hv_guid_t *id)
{
	char file[REG_FILE_SIZE];

	if (reg_inbox_find(id))
		return -EPERM;

	return ctab_remove(config_dir, &reg_desc, fname_of(id, file));
}
