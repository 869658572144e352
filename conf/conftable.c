/* SPDX-License-Identifier: MIT */
/*
 * conftable.c - load, lookup and write machinery of the config tables
 * (rules: conftable.h). Lookups are linear: a table holds tens of entries,
 * not thousands. Entries are stored by value, desc->size bytes each.
 */
#include <fcntl.h>
#include <string.h>

#include <vmsvc/vmsvc.h>

#include "atomicfile.h"
#include "conftable.h"
#include "util.h"

int ctab_parse(const struct ctab_desc *d, const char *data, size_t size, const char *file,
	       void *entry, struct conf_problems *problems, struct ctab_lines *lines)
{
	struct conf_parser p = { .file = file,
				 .section = d->section,
				 .keys = d->keys,
				 .nkeys = d->nkeys,
				 .problems = problems };
	int n, m;

	n = conf_parse(&p, data, size, entry);
	m = n < 0 ? n : d->check(&p, entry);
	if (n < 0 || m < 0 || n + m > 0) {
		d->clear(entry);
		return n < 0 || m < 0 ? -ENOMEM : -EINVAL;
	}
	if (lines) {
		memcpy(lines->key, p.key_lines, sizeof(lines->key));
		lines->section = p.section_line;
	}
	return 0;
}

static void *item(const struct ctab *t, size_t i)
{
	return (char *)t->items + i * t->desc->size;
}

static const void *field(const void *entry, size_t offset)
{
	return (const char *)entry + offset;
}

static bool field_equal(enum ctab_type type, const void *f, const void *key)
{
	switch (type) {
	case CTAB_STR:
		return strcmp(*(char *const *)f, key) == 0;
	case CTAB_GUID:
		return hv_guid_equal(f, key);
	case CTAB_U32:
		return *(const uint32_t *)f == *(const uint32_t *)key;
	}
	return false;
}

const void *ctab_find(const struct ctab *t, enum ctab_type type, size_t offset, const void *key)
{
	for (size_t i = 0; i < t->count; i++)
		if (field_equal(type, field(item(t, i), offset), key))
			return item(t, i);
	return NULL;
}

const void *ctab_at(const struct ctab *t, size_t i)
{
	return i < t->count ? item(t, i) : NULL;
}

bool ctab_is_broken(const struct ctab *t, const char *file)
{
	for (size_t i = 0; i < t->problems.count; i++)
		if (strcmp(t->problems.items[i].file, file) == 0)
			return true;
	return false;
}

void ctab_clear(struct ctab *t)
{
	for (size_t i = 0; i < t->count; i++)
		t->desc->clear(item(t, i));
	free(t->items);
	conf_problems_clear(&t->problems);
	*t = (struct ctab){ 0 };
}

/* --- loading --- */

/* Writes "LABEL 'x'", "LABEL <guid>" or "LABEL 42" for field u of e. */
static void describe(const struct ctab_unique *u, const void *e, char *buf, size_t size)
{
	const void *f = field(e, u->offset);
	char guid[HV_GUID_STRSIZE];

	switch (u->type) {
	case CTAB_STR:
		snprintf(buf, size, "%s '%s'", u->label, *(char *const *)f);
		break;
	case CTAB_GUID:
		hv_guid_format(f, guid, sizeof(guid));
		snprintf(buf, size, "%s %s", u->label, guid);
		break;
	case CTAB_U32:
		snprintf(buf, size, "%s %u", u->label, *(const uint32_t *)f);
		break;
	}
}

/* Adds the parsed entry e (taken over: zeroed) unless a unique field of it
 * is taken; then reports the conflict instead. */
static int add_entry(struct ctab *t, void *e, const char *file, const struct ctab_lines *lines)
{
	const struct ctab_desc *d = t->desc;
	char what[CONF_WHY_SIZE], other[2 * CONF_WHY_SIZE];
	void *items;

	for (size_t i = 0; i < d->nunique; i++) {
		const struct ctab_unique *u = &d->unique[i];
		const void *key = field(e, u->offset);
		const void *w = ctab_find(t, u->type, u->offset,
					  u->type == CTAB_STR ? *(char *const *)key : key);

		if (!w)
			continue;
		describe(u, e, what, sizeof(what));
		d->owner(w, other, sizeof(other));
		return conf_problem_add(&t->problems, file, lines->key[u->key],
					"%s is already used by %s; this entry is ignored", what,
					other);
	}
	items = reallocarray(t->items, t->count + 1, d->size);
	if (!items)
		return -ENOMEM;
	t->items = items;
	memcpy(item(t, t->count++), e, d->size);
	memset(e, 0, d->size);
	return 0;
}

static int cmp_name(const void *a, const void *b, void *arg);

int ctab_insert(struct ctab *t, void *e, const char *what)
{
	struct ctab_lines lines = { 0 };
	size_t before = t->count;
	int r = add_entry(t, e, what, &lines);

	if (r < 0)
		return r;
	if (t->count == before)
		return 1;
	qsort_r(t->items, t->count, t->desc->size, cmp_name, (void *)t->desc);
	return 0;
}

/* Reads and parses dir/fname into e (set up by desc->init). Returns 0 (e
 * filled), 1 (reported or gone: skip it) or -ENOMEM. */
static int read_one(struct ctab *t, int dirfd, const char *fname, const char *file, void *e,
		    struct ctab_lines *lines)
{
	_cleanup_free_ char *data = NULL;
	size_t size;
	int r;

	r = conf_read_file(dirfd, fname, &data, &size);
	if (r == -ENOENT) /* removed since the listing */
		return 1;
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return conf_problem_add(&t->problems, file, 0, "cannot read it: %s",
					r == -EFBIG    ? "larger than 64 KiB"
					: r == -EINVAL ? "not a regular file"
						       : strerror(-r)) < 0
			       ? -ENOMEM
			       : 1;
	r = ctab_parse(t->desc, data, size, file, e, &t->problems, lines);
	return r == -EINVAL ? 1 : r;
}

static int load_one(struct ctab *t, int dirfd, const char *fname)
{
	const struct ctab_desc *d = t->desc;
	_cleanup_free_ char *file = NULL;
	_cleanup_free_ void *e = calloc(1, d->size);
	char why[CONF_WHY_SIZE];
	struct ctab_lines lines;
	int r;

	if (!e || asprintf(&file, "%s/%s", d->dir, fname) < 0)
		return -ENOMEM;
	r = d->init(e, fname, why);
	if (r == -EINVAL)
		return conf_problem_add(&t->problems, file, 0, "%s", why);
	if (r == 0)
		r = read_one(t, dirfd, fname, file, e, &lines);
	if (r == 0)
		r = add_entry(t, e, file, &lines);
	d->clear(e);
	return r < 0 ? r : 0;
}

static int cmp_name(const void *a, const void *b, void *arg)
{
	const struct ctab_desc *d = arg;

	return strcmp(*(char *const *)field(a, d->name_offset),
		      *(char *const *)field(b, d->name_offset));
}

/* Loads the open folder dirfd (-1: a missing one) into t. */
static int load_at(struct ctab *t, int dirfd)
{
	char **names = NULL;
	size_t n = 0;
	int r;

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
		qsort_r(t->items, t->count, t->desc->size, cmp_name, (void *)t->desc);
	return 0;
}

int ctab_load(struct ctab *t, const struct ctab_desc *d, const char *config_dir, int dirfd)
{
	_cleanup_close_ int own = -1;

	t->desc = d;
	if (dirfd >= 0)
		return load_at(t, dirfd);
	own = conf_open_dir(config_dir, d->dir, false);
	if (own < 0 && own != -ENOENT)
		return own;
	return load_at(t, own);
}

/* --- writers --- */

int ctab_lock(const char *config_dir, const struct ctab_desc *d, bool create, int *dirfd)
{
	int lockfd;

	*dirfd = conf_open_dir(config_dir, d->dir, create);
	if (*dirfd < 0) {
		int r = *dirfd;
		*dirfd = -1;
		return r;
	}
	lockfd = af_lock(*dirfd);
	if (lockfd < 0)
		*dirfd = safe_close(*dirfd);
	return lockfd;
}

bool ctab_file_exists(int dirfd, const char *fname)
{
	return faccessat(dirfd, fname, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int ctab_write(const struct ctab_desc *d, int dirfd, const char *fname, const void *entry)
{
	_cleanup_free_ char *text = d->format(entry);

	if (!text)
		return -ENOMEM;
	return af_write(dirfd, fname, text, strlen(text), 0644);
}

int ctab_remove(const char *config_dir, const struct ctab_desc *d, const char *fname)
{
	_cleanup_close_ int dirfd = -1, lockfd = -1;

	lockfd = ctab_lock(config_dir, d, false, &dirfd);
	if (lockfd < 0)
		return lockfd;
	return af_unlink(dirfd, fname);
}

char *ctab_edit_line(const char *data, size_t size, unsigned line, unsigned after, const char *text)
{
	unsigned target = line ? line : after + 1;
	size_t start = 0, end;
	char *out = NULL;
	int r;

	for (unsigned l = 1; l < target && start < size; l++) {
		const char *nl = memchr(data + start, '\n', size - start);
		start = nl ? (size_t)(nl - data) + 1 : size;
	}
	end = start;
	if (line) {
		const char *nl = memchr(data + start, '\n', size - start);
		end = nl ? (size_t)(nl - data) : size;
		if (!text && end < size)
			end++; /* a removed line takes its newline along */
	}
	if (!text)
		r = asprintf(&out, "%.*s%.*s", (int)start, data, (int)(size - end), data + end);
	else
		r = asprintf(&out, "%.*s%s%s%s%.*s", (int)start, data,
			     !line && start == size && size && data[size - 1] != '\n' ? "\n" : "",
			     text, line ? "" : "\n", (int)(size - end), data + end);
	return r < 0 ? NULL : out;
}
