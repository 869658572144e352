/* SPDX-License-Identifier: MIT */
/*
 * conftable.h - the machinery shared by the INI-backed tables of the config
 * folder (services.d: registry.c, vms.d: vmtable.c), driven by a small
 * per-table descriptor (struct ctab_desc): folder, section and keys, entry
 * init/check/clear/format, the fields that must be unique.
 *
 * Loading reads every "*.conf" of the folder in file-name order, so the
 * outcome of a conflict (a unique field set in two files) does not depend on
 * readdir order: the first file wins and the other is reported and skipped.
 * A broken entry is reported with file and line and skipped; loading fails
 * only when the folder cannot be read or memory runs out. The table is then
 * sorted by name. Writers open the folder, take its lock (atomicfile.h),
 * reload, check and replace files atomically. Nothing here prints.
 */
#ifndef VMSVC_CONFTABLE_H
#define VMSVC_CONFTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conffile.h"

/* Room for an entry's file name inside its folder ("NAME.conf"). */
#define CTAB_FNAME_SIZE 128

/* The type of an entry field that ctab_find compares. */
enum ctab_type {
	CTAB_STR,  /* char *, compared with strcmp */
	CTAB_GUID, /* hv_guid_t */
	CTAB_U32,  /* uint32_t */
};

/* A field no two loaded entries may share. Problems about it name the
 * line of key (an index into the descriptor's keys) and read "LABEL 'x'"
 * (CTAB_STR), "LABEL <guid>" or "LABEL 42". */
struct ctab_unique {
	const char *label;
	enum ctab_type type;
	size_t offset;
	unsigned key;
};

/* Where things are in an entry file (1-based lines, 0 = absent). */
struct ctab_lines {
	unsigned key[CONF_MAX_KEYS]; /* same order as the descriptor's keys */
	unsigned section;
};

/* What the shared code needs to know about one kind of table. */
struct ctab_desc {
	const char *dir;     /* sub-folder of CONFIG ("services.d") */
	const char *section; /* the one section of an entry, without brackets */
	const struct conf_key *keys;
	size_t nkeys;
	size_t size;	    /* of an entry struct */
	size_t name_offset; /* of the entry's char *name, the sort order */
	const struct ctab_unique *unique;
	size_t nunique; /* checked in this order */
	/* Sets an empty entry up from its file name ("x.conf") before the file
	 * is read: defaults and what the name says. Returns 0, -EINVAL with why
	 * (CONF_WHY_SIZE) set when the name is not acceptable, or -ENOMEM. */
	int (*init)(void *entry, const char *fname, char *why);
	/* Checks what spans keys after conf_parse. Returns the number of
	 * problems it added to p->problems, or -ENOMEM. */
	int (*check)(const struct conf_parser *p, const void *entry);
	/* Frees what entry owns and zeroes it. */
	void (*clear)(void *entry);
	/* Formats entry as a file; a heap string or NULL (ENOMEM). */
	char *(*format)(const void *entry);
	/* Names the file that holds entry in conflict problems
	 * ("services.d/<guid>.conf (service 'x')"). */
	void (*owner)(const void *entry, char *buf, size_t size);
};

/* A loaded table, meant to be embedded in the typed table of a module
 * (struct reg_table, struct vmt_table). Zero-initialise. */
struct ctab {
	const struct ctab_desc *desc;
	void *items; /* count entries of desc->size bytes, sorted by name */
	size_t count;
	struct conf_problems problems;
};

/*
 * Parses size bytes of data, the entry file that problems call file, into
 * entry (set up by desc->init or by the caller): conf_parse with the
 * descriptor's section and keys, then desc->check. Fills *lines (may be
 * NULL). Returns 0 (entry filled), -EINVAL after adding at least one problem
 * or -ENOMEM (entry cleared in both cases).
 */
int ctab_parse(const struct ctab_desc *d, const char *data, size_t size, const char *file,
	       void *entry, struct conf_problems *problems, struct ctab_lines *lines);

/*
 * Loads the open folder dirfd into the zeroed t, or with dirfd -1 the folder
 * CONFIG/d->dir, where a missing folder gives an empty table. Returns 0, or
 * a negative errno if the folder cannot be opened or listed or memory runs
 * out (t then holds what was loaded; ctab_clear it).
 */
int ctab_load(struct ctab *t, const struct ctab_desc *d, const char *config_dir, int dirfd);

/*
 * Adds entry e (taken over: zeroed), which no file holds (a built-in entry;
 * what names it in problems: "built-in service 'x'"), unless a unique field
 * of it is taken: then the conflict is reported against what and e is left
 * to the caller. Keeps t sorted. Returns 0, 1 (conflict) or -ENOMEM.
 */
int ctab_insert(struct ctab *t, void *e, const char *what);

/* Frees what t holds and zeroes it. */
void ctab_clear(struct ctab *t);

/* Entry i of t, or NULL if i >= t->count. */
const void *ctab_at(const struct ctab *t, size_t i);

/* The first entry whose field at offset (of the given type) equals *key
 * (for CTAB_STR: key is the string itself), or NULL. */
const void *ctab_find(const struct ctab *t, enum ctab_type type, size_t offset, const void *key);

/* True if t reported a problem for file ("services.d/x.conf"). */
bool ctab_is_broken(const struct ctab *t, const char *file);

/*
 * Opens CONFIG/d->dir (with create, making CONFIG and it first) into *dirfd
 * and takes its writers' lock. Returns the lock fd (>= 0); the caller closes
 * both fds, the lock last or together. On failure returns a negative errno
 * and *dirfd is -1.
 */
int ctab_lock(const char *config_dir, const struct ctab_desc *d, bool create, int *dirfd);

/* True if dirfd holds fname (loaded, broken or not an entry at all). */
bool ctab_file_exists(int dirfd, const char *fname);

/* Formats entry with d->format and replaces dirfd/fname by it (mode 0644).
 * Call with the lock held. Returns 0 or a negative errno. */
int ctab_write(const struct ctab_desc *d, int dirfd, const char *fname, const void *entry);

/*
 * Edits one line of an entry file's text (size bytes): with line (1-based)
 * set, replaces that line by text, or removes it (and its newline) when
 * text is NULL; with line 0, inserts text as a new line after line after
 * (0: at the top). Everything else stays as it is, comments included.
 * Returns a heap string, or NULL (ENOMEM).
 */
char *ctab_edit_line(const char *data, size_t size, unsigned line, unsigned after,
		     const char *text);

/* Removes CONFIG/d->dir/fname (even a broken entry) under the lock. Returns
 * 0, -ENOENT, or another negative errno. */
int ctab_remove(const char *config_dir, const struct ctab_desc *d, const char *fname);

#endif /* VMSVC_CONFTABLE_H */
