/* SPDX-License-Identifier: MIT */
/*
 * conffile.h - the strict INI dialect of vmsvc's config folders (services.d,
 * vms.d): problems with file:line, a table-driven parser, value checks and
 * folder helpers. Used by the registry (registry.c) and the VM table
 * (vmtable.c); never prints.
 *
 * The dialect, one line at a time ('\n' or "\r\n"), tokenized by libinih
 * (conffile.c says how it is kept from changing what a file means):
 *   - blank lines, and lines whose first non-blank character is '#' or ';',
 *     are comments;
 *   - "[Section]" starts a section; a file has exactly one known section;
 *   - "Key = Value": blanks around Key and Value are stripped; a value runs
 *     to the end of the line (no continuation lines, no quoting); ';' in a
 *     value is kept, but a blank before ';' is a problem, since INI readers
 *     take " ;" as the start of an inline comment;
 *   - a line holds at most CONF_LINE_MAX bytes (without its "\r\n"), what
 *     Debian's libinih reads as one line;
 *   - indentation is allowed and removed (it never continues a value);
 *   - every byte must be valid UTF-8 without control characters (tab is a
 *     blank); a UTF-8 byte-order mark at the start is skipped.
 * Unknown keys, unknown sections, keys set twice and malformed lines are
 * problems, so that typos in hand-edited files are caught.
 */
#ifndef VMSVC_CONFFILE_H
#define VMSVC_CONFFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest entry file read; bigger files are problems. */
#define CONF_FILE_MAX (64 * 1024)
/* Most keys a section may declare. */
#define CONF_MAX_KEYS 16
/* Size of the buffer a key parser writes its explanation into. */
#define CONF_WHY_SIZE 256
/* Longest line, in bytes without "\r\n": libinih's INI_MAX_LINE (200)
 * minus "\r\n" and the NUL, as ini.h documents. */
#define CONF_LINE_MAX 197
/* Longest free-text value (conf_check_text): fits on a line after a key of
 * up to 34 bytes and " = ". */
#define CONF_VALUE_MAX 160

/* A problem in a config file. file is relative to the config folder
 * ("services.d/x.conf"); line is 1-based, 0 for the file as a whole. */
struct conf_problem {
	char *file;
	unsigned line;
	char *message;
};

/* A growable list of problems, in the order found. Zero-initialise. */
struct conf_problems {
	struct conf_problem *items;
	size_t count;
};

/* Appends a problem (printf format). Returns 0 or -ENOMEM. */
int conf_problem_add(struct conf_problems *p, const char *file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Frees every problem and leaves an empty list. */
void conf_problems_clear(struct conf_problems *p);

/* One key of a section. parse() stores value in obj and returns 0, or writes
 * why (CONF_WHY_SIZE bytes, e.g. "'x' is not a number") and returns -EINVAL,
 * or returns -ENOMEM. value is valid UTF-8 without control characters. */
struct conf_key {
	const char *name;
	int (*parse)(void *obj, const char *value, char *why);
};

/* Parser settings and results; set the first five fields, zero the rest. */
struct conf_parser {
	const char *file;    /* name used in problems */
	const char *section; /* the one section allowed, without brackets */
	const struct conf_key *keys;
	size_t nkeys; /* <= CONF_MAX_KEYS */
	struct conf_problems *problems;
	/* out: 1-based line of each key (same order as keys), 0 if absent */
	unsigned key_lines[CONF_MAX_KEYS];
	/* out: line of the first section header, 0 if absent */
	unsigned section_line;
};

/*
 * Parses size bytes of data (no NUL needed; a NUL byte is a problem) and
 * hands each known key to its parse(). Adds a problem for each error and goes
 * on with the next line. Returns the number of problems added, or -ENOMEM.
 */
int conf_parse(struct conf_parser *p, const char *data, size_t size, void *obj);

/* Checks that s is valid UTF-8 (no overlong forms, surrogates or code points
 * above U+10FFFF) without control characters (C0, DEL, C1; tab included).
 * Returns true if so. */
bool conf_text_ok(const char *s, size_t len);

/*
 * Checks a free-text value a user gives (names, descriptions) so that an
 * entry file holds it unchanged: 1..max bytes and at most CONF_VALUE_MAX,
 * conf_text_ok, no blank at either end, no blank before a ';'. Returns 0, or
 * -EINVAL with why (CONF_WHY_SIZE bytes) set.
 */
int conf_check_text(const char *s, size_t max, char *why);

/* Parses a decimal u32: digits only, at most 10, value <= UINT32_MAX.
 * Returns 0, -EINVAL (not decimal digits) or -ERANGE. */
int conf_parse_u32(const char *s, uint32_t *out);

/* Parses true/false, yes/no, on/off, 1/0 (any case). Returns 0 or -EINVAL. */
int conf_parse_bool(const char *s, bool *out);

/*
 * Opens the folder CONFIG_DIR/SUB for reading (O_DIRECTORY). With create,
 * makes CONFIG_DIR and SUB first (mode 0755) if missing. Returns an fd the
 * caller closes, or a negative errno (-ENOENT: missing, without create).
 */
int conf_open_dir(const char *config_dir, const char *sub, bool create);

/*
 * Lists the names in the folder dirfd that end in suffix and do not start
 * with '.', sorted with strcmp. *names is a NULL-terminated array the caller
 * frees with conf_strv_free. Returns 0 or a negative errno.
 */
int conf_list_dir(int dirfd, const char *suffix, char ***names, size_t *count);

/* Frees a NULL-terminated array of strings; returns NULL. */
char **conf_strv_free(char **v);

/*
 * Reads the regular file name under dirfd (following symlinks, never
 * blocking on FIFOs) into a NUL-terminated buffer the caller frees.
 * Returns 0, -EFBIG if it exceeds CONF_FILE_MAX, -EISDIR/-EINVAL if it is
 * not a regular file, or another negative errno.
 */
int conf_read_file(int dirfd, const char *name, char **data, size_t *size);

/* True if name ends in suffix (and is longer than it). */
bool conf_has_suffix(const char *name, const char *suffix);

#endif /* VMSVC_CONFFILE_H */
