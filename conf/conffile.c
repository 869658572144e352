/* SPDX-License-Identifier: MIT */
/*
 * conffile.c - strict INI parser and folder helpers for services.d and vms.d
 * (dialect: conffile.h).
 *
 * libinih (Debian's libinih1, ini_parse_stream) tokenizes. Our reader
 * callback hands it one line of the in-memory file per call, so the reader's
 * count is libinih's line number (Debian builds inih without
 * INI_HANDLER_LINENO) and the handler knows the line of every key. Before a
 * line goes to libinih, a pre-check reports what Debian's build would
 * silently change or accept outside the dialect (measured on libinih 55-1;
 * test-registry.c keeps checking the library against it):
 *   - lines over CONF_LINE_MAX (197) bytes: libinih reads at most 199 bytes
 *     a line (INI_MAX_LINE 200 with the NUL) and parses the rest as a new
 *     line; 197 leaves room for "\r\n", so every libinih reader (ini_parse,
 *     ini_parse_string) sees the same lines as we do;
 *   - a blank (space or tab) followed by ';' outside a comment line: libinih
 *     ends the value there (inline comment; ';' is the only inline prefix of
 *     Debian's build, "a #b" is kept, "a;b" too);
 *   - NUL, invalid UTF-8, control characters: a NUL would end libinih's
 *     line early, and none of them belongs in a hand-edited text file;
 *   - ':' before the first '=': libinih reads "Key: Value" as a pair;
 *   - section headers, checked here to be exactly "[Section]": libinih
 *     ignores text after ']', cuts names at 49 bytes, and never tells the
 *     handler about a section without keys (INI_CALL_HANDLER_ON_NEW_SECTION
 *     is off).
 * The reader also strips the blanks at both ends of a line: libinih would
 * join an indented line to the previous value (multi-line values, which the
 * dialect does not have, while indentation has always been allowed).
 *
 * A line that fails the pre-check is reported and handed over empty, so the
 * line count stays in step. A Key=Value line for which libinih does not call
 * the handler is one it rejected (libinih returns only the first such line
 * number): the reader reports it when libinih asks for the next line. Every
 * problem is recorded and parsing goes on, so one run reports every typo of
 * a file, in line order. Debian's runtime switches (ini_allow_multiline and
 * friends) are left alone: they are process-wide and Debian-only. libinih
 * tests blanks with isspace(); vmsvc never calls setlocale(), so that is
 * ASCII only and agrees with the pre-check.
 */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <ini.h>

#include "conffile.h"
#include "util.h"

static int problem_vadd(struct conf_problems *p, const char *file, unsigned line, const char *fmt,
			va_list ap) __attribute__((format(printf, 4, 0)));
static int problem_vadd(struct conf_problems *p, const char *file, unsigned line, const char *fmt,
			va_list ap)
{
	struct conf_problem *items;
	char *msg = NULL, *f;

	if (vasprintf(&msg, fmt, ap) < 0)
		return -ENOMEM;
	f = strdup(file ? file : "");
	items = reallocarray(p->items, p->count + 1, sizeof(*items));
	if (!f || !items) {
		free(msg);
		free(f);
		if (items)
			p->items = items;
		return -ENOMEM;
	}
	p->items = items;
	p->items[p->count++] = (struct conf_problem){ .file = f, .line = line, .message = msg };
	return 0;
}

int conf_problem_add(struct conf_problems *p, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = problem_vadd(p, file, line, fmt, ap);
	va_end(ap);
	return r;
}

void conf_problems_clear(struct conf_problems *p)
{
	for (size_t i = 0; i < p->count; i++) {
		free(p->items[i].file);
		free(p->items[i].message);
	}
	free(p->items);
	p->items = NULL;
	p->count = 0;
}

/* Decodes one UTF-8 sequence of at most n bytes; returns its length, or 0 if
 * it is malformed, overlong, a surrogate or above U+10FFFF. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t v, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2, v = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, v = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4, v = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

/* Scans len bytes: 0 if clean, -EILSEQ for bad UTF-8, -EINVAL for a control
 * character (stored in *bad). */
static int text_scan(const char *s, size_t len, bool allow_tab, uint32_t *bad)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(u + i, len - i, &cp);
		if (n == 0)
			return -EILSEQ;
		if ((cp < 0x20 && !(allow_tab && cp == '\t')) || (cp >= 0x7f && cp < 0xa0)) {
			*bad = cp;
			return -EINVAL;
		}
		i += n;
	}
	return 0;
}

bool conf_text_ok(const char *s, size_t len)
{
	uint32_t bad;

	return text_scan(s, len, false, &bad) == 0;
}

int conf_check_text(const char *s, size_t max, char *why)
{
	size_t len = strlen(s);
	uint32_t bad = 0;
	int r;

	if (len == 0) {
		snprintf(why, CONF_WHY_SIZE, "must not be empty");
		return -EINVAL;
	}
	if (max > CONF_VALUE_MAX)
		max = CONF_VALUE_MAX;
	if (len > max) {
		snprintf(why, CONF_WHY_SIZE, "is longer than %zu bytes", max);
		return -EINVAL;
	}
	r = text_scan(s, len, false, &bad);
	if (r == -EILSEQ) {
		snprintf(why, CONF_WHY_SIZE, "is not valid UTF-8");
		return -EINVAL;
	}
	if (r < 0) {
		snprintf(why, CONF_WHY_SIZE, "contains a control character (U+%04X)", bad);
		return -EINVAL;
	}
	if (s[0] == ' ' || s[len - 1] == ' ') {
		snprintf(why, CONF_WHY_SIZE, "must not start or end with a blank");
		return -EINVAL;
	}
	if (strstr(s, " ;")) {
		snprintf(why, CONF_WHY_SIZE,
			 "must not have a blank before ';' (INI files take ' ;' as the start of "
			 "a comment)");
		return -EINVAL;
	}
	return 0;
}

int conf_parse_u32(const char *s, uint32_t *out)
{
	uint64_t v = 0;
	bool range = false;

	if (!*s)
		return -EINVAL;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*c - '0');
		if (v > UINT32_MAX) {
			range = true;
			v = UINT32_MAX + 1ULL;
		}
	}
	if (range)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int conf_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* --- the parser: libinih tokenizes, the pre-check guards it --- */

static_assert(CONF_LINE_MAX + 3 <= INI_MAX_LINE, "a line and its \"\\r\\n\" must fit libinih");

struct parse_state {
	struct conf_parser *p;
	void *obj;
	const char *data;
	size_t size, pos;
	unsigned line;	   /* lines handed to libinih so far: its line number */
	const char *text;  /* the current line without blanks at its ends (in data) */
	size_t len;	   /* its length */
	bool pair;	   /* it went to libinih as a Key=Value line */
	bool handled;	   /* libinih called the handler for it */
	unsigned rejected; /* first line libinih rejected, 0 if none */
	bool section_seen; /* any header so far */
	bool in_other;	   /* inside an unknown section (already reported) */
	int problems;	   /* problems added */
	int err;	   /* -ENOMEM, or -EOVERFLOW (already reported): stop */
};

/* Adds a problem at the current line; a failure stops the parse. */
static void problem(struct parse_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void problem(struct parse_state *st, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = problem_vadd(st->p->problems, st->p->file, st->line, fmt, ap);
	va_end(ap);
	if (r < 0)
		st->err = r;
	else
		st->problems++;
}

static void malformed(struct parse_state *st, const char *why)
{
	problem(st, "expected 'Key=Value', '[Section]' or a comment, not '%.*s'%s",
		(int)(st->len < 40 ? st->len : 40), st->text, why);
}

/* A header line: it must be exactly "[Section]" (libinih would ignore text
 * after ']' and cut long names; it tells the handler nothing of sections). */
static void check_header(struct parse_state *st)
{
	const char *want = st->p->section;
	size_t n = st->len;

	st->section_seen = true;
	st->in_other = true;
	if (n < 2 || st->text[n - 1] != ']') {
		problem(st, "malformed section header (expected [%s])", want);
	} else if (n - 2 != strlen(want) || memcmp(st->text + 1, want, n - 2) != 0) {
		problem(st, "unknown section [%.*s] (expected [%s])",
			(int)(n - 2 < 64 ? n - 2 : 64), st->text + 1, want);
	} else {
		st->in_other = false;
		if (!st->p->section_line)
			st->p->section_line = st->line;
	}
}

/* Checks what libinih would change or accept outside the dialect, on the
 * current line (len bytes at s, line end removed); sets text, len and pair.
 * Returns true if the line may be handed to libinih (a problem was added
 * otherwise). */
static bool precheck_line(struct parse_state *st, const char *s, size_t len)
{
	const char *eq, *colon;
	uint32_t bad = 0;
	int r;

	if (len > CONF_LINE_MAX) {
		problem(st, "line is %zu bytes long, more than %d (INI readers split longer lines)",
			len, CONF_LINE_MAX);
		return false;
	}
	r = text_scan(s, len, true, &bad);
	if (r < 0) {
		if (r == -EILSEQ)
			problem(st, "not valid UTF-8");
		else
			problem(st, "control character U+%04X in the line", bad);
		return false;
	}
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	st->text = s, st->len = len;
	if (!len || *s == '#' || *s == ';')
		return true;
	for (size_t i = 1; i < len; i++)
		if (s[i] == ';' && (s[i - 1] == ' ' || s[i - 1] == '\t')) {
			problem(st, "blank before ';' (INI readers take ' ;' as the start of a "
				    "comment and drop the rest of the line)");
			return false;
		}
	if (*s == '[') {
		check_header(st);
		return !st->in_other;
	}
	eq = memchr(s, '=', len);
	colon = memchr(s, ':', len);
	if (colon && (!eq || colon < eq)) {
		malformed(st, eq ? " (':' cannot be part of a key)" : "");
		return false;
	}
	st->pair = true;
	return true;
}

/* Reports the current line if libinih rejected it: a Key=Value line for
 * which it did not call the handler. */
static void finish_line(struct parse_state *st)
{
	if (!st->pair || st->handled)
		return;
	st->pair = false;
	if (!st->rejected)
		st->rejected = st->line;
	malformed(st, "");
}

/* libinih's reader: hands over the next line of the file, checked, without
 * blanks at its ends, or an empty line in its place after a problem, so
 * that one call is one line. Returns NULL at the end or to stop. */
static char *read_line(char *buf, int size, void *stream)
{
	struct parse_state *st = stream;
	const char *s = st->data + st->pos, *nl;
	size_t len;

	finish_line(st);
	if (st->err || st->pos >= st->size)
		return NULL;
	if (size < CONF_LINE_MAX + 2) {
		problem(st, "libinih reads lines of at most %d bytes; vmsvc needs %d", size - 2,
			CONF_LINE_MAX);
		st->err = st->err ? st->err : -EOVERFLOW;
		return NULL;
	}
	nl = memchr(s, '\n', st->size - st->pos);
	len = nl ? (size_t)(nl - s) : st->size - st->pos;
	st->pos += len + (nl ? 1 : 0);
	if (len && s[len - 1] == '\r')
		len--;
	st->line++;
	st->text = s, st->len = 0;
	st->pair = st->handled = false;
	if (!precheck_line(st, s, len))
		st->len = 0;
	memcpy(buf, st->text, st->len);
	memcpy(buf + st->len, "\n", 2);
	return st->err ? NULL : buf;
}

static int find_key(const struct conf_parser *p, const char *key)
{
	for (size_t i = 0; i < p->nkeys; i++)
		if (strcmp(key, p->keys[i].name) == 0)
			return (int)i;
	return -1;
}

static int lower(char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Edit distance between a and b ignoring case, counting a swap of two
 * neighbours as one edit (optimal string alignment); capped inputs. */
static unsigned typo_distance(const char *a, const char *b)
{
	enum { MAX = 32 };
	unsigned d[MAX + 1][MAX + 1];
	size_t n = strlen(a), m = strlen(b);

	if (n > MAX || m > MAX)
		return MAX;
	for (size_t i = 0; i <= n; i++)
		for (size_t j = 0; j <= m; j++) {
			unsigned v;
			if (i == 0 || j == 0) {
				d[i][j] = (unsigned)(i + j);
				continue;
			}
			v = d[i - 1][j - 1] + (lower(a[i - 1]) != lower(b[j - 1]));
			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
			    lower(a[i - 2]) == lower(b[j - 1]) && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[n][m];
}

/* The known key closest to key (case ignored; at most 1 edit away from a
 * key of up to 3 letters, 2 from a longer one), or -1. */
static int suggest_key(const struct conf_parser *p, const char *key)
{
	unsigned best = UINT32_MAX;
	int found = -1;

	for (size_t i = 0; i < p->nkeys; i++) {
		unsigned dist = typo_distance(key, p->keys[i].name);
		unsigned limit = strlen(p->keys[i].name) <= 3 ? 1 : 2;
		if (dist <= limit && dist < best) {
			best = dist;
			found = (int)i;
		}
	}
	return found;
}

/* The known key's index, or -1 after reporting an unknown one. */
static int lookup_key(struct parse_state *st, const char *key)
{
	const struct conf_parser *p = st->p;
	int i = find_key(p, key);

	if (i >= 0)
		return i;
	if (!*key) {
		problem(st, "missing key name before '='");
		return -1;
	}
	i = suggest_key(p, key);
	if (i >= 0)
		problem(st, "unknown key '%.64s' (did you mean '%s'?)", key, p->keys[i].name);
	else
		problem(st, "unknown key '%.64s' in [%s]", key, p->section);
	return -1;
}

static void parse_assignment(struct parse_state *st, const char *key, const char *value)
{
	struct conf_parser *p = st->p;
	char why[CONF_WHY_SIZE];
	int i, r;

	if (!st->section_seen) {
		problem(st, "'%.64s=' comes before the [%s] line", key, p->section);
		return;
	}
	if (st->in_other || (i = lookup_key(st, key)) < 0)
		return;
	if (p->key_lines[i]) {
		problem(st, "%s= is set twice (first on line %u)", p->keys[i].name,
			p->key_lines[i]);
		return;
	}
	p->key_lines[i] = st->line;
	if (strchr(value, '\t')) {
		problem(st, "%s: tab inside the value (use spaces)", p->keys[i].name);
		return;
	}
	why[0] = '\0';
	r = p->keys[i].parse(st->obj, value, why);
	if (r == -ENOMEM)
		st->err = r;
	else if (r < 0)
		problem(st, "%s: %s", p->keys[i].name, why);
}

/* libinih's handler, called for each Key=Value line with its key and value
 * (blanks stripped); the line is st->line. The section comes from the
 * checked header lines (st), libinih's copy is not needed. */
static int on_pair(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;

	(void)section;
	if (st->err)
		return 0;
	if (!st->pair || st->handled) /* not a line we checked as one */
		malformed(st, "");
	else
		parse_assignment(st, name, value);
	st->handled = true;
	return 1;
}

int conf_parse(struct conf_parser *p, const char *data, size_t size, void *obj)
{
	struct parse_state st = { .p = p, .obj = obj, .data = data, .size = size };
	int r;

	if (p->nkeys > CONF_MAX_KEYS)
		return -ENOMEM;
	memset(p->key_lines, 0, sizeof(p->key_lines));
	p->section_line = 0;
	if (size >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		st.pos = 3;
	r = ini_parse_stream(read_line, &st, on_pair, &st);
	finish_line(&st);
	if (r > 0 && (unsigned)r != st.rejected && !st.err) {
		/* libinih found an error that the checks above did not */
		st.line = (unsigned)r;
		problem(&st, "malformed line: expected 'Key = Value' or '[Section]'");
	}
	if (r < -1 || st.err == -ENOMEM)
		return -ENOMEM;
	if (!st.err && !p->section_line && !st.section_seen) {
		st.line = 0;
		problem(&st, "no [%s] section", p->section);
	}
	return st.err == -ENOMEM ? -ENOMEM : st.problems;
}

/* --- folders and files --- */

bool conf_has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n > s && strcmp(name + n - s, suffix) == 0;
}

int conf_open_dir(const char *config_dir, const char *sub, bool create)
{
	_cleanup_free_ char *path = NULL;
	int fd;

	if (asprintf(&path, "%s/%s", config_dir, sub) < 0)
		return -ENOMEM;
	if (create) {
		if (mkdir(config_dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

char **conf_strv_free(char **v)
{
	if (v)
		for (char **s = v; *s; s++)
			free(*s);
	free(v);
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int conf_list_dir(int dirfd, const char *suffix, char ***names, size_t *count)
{
	char **v = NULL;
	size_t n = 0;
	int fd = -1; /* handed to d, closed by closedir */
	DIR *d;
	struct dirent *e;

	fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int r = -errno;
		safe_close(fd);
		return r;
	}
	v = calloc(1, sizeof(char *));
	if (!v) {
		closedir(d);
		return -ENOMEM;
	}
	rewinddir(d);
	while ((errno = 0, e = readdir(d))) {
		char **nv;
		if (e->d_name[0] == '.' || !conf_has_suffix(e->d_name, suffix))
			continue;
		nv = reallocarray(v, n + 2, sizeof(char *));
		if (nv)
			v = nv;
		if (!nv || !(v[n] = strdup(e->d_name))) {
			closedir(d);
			conf_strv_free(v);
			return -ENOMEM;
		}
		v[++n] = NULL;
	}
	if (errno) {
		int r = -errno;
		closedir(d);
		conf_strv_free(v);
		return r;
	}
	closedir(d);
	qsort(v, n, sizeof(char *), cmp_str);
	*names = v;
	*count = n;
	return 0;
}

int conf_read_file(int dirfd, const char *name, char **data, size_t *size)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t n = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_size > CONF_FILE_MAX)
		return -EFBIG;
	buf = malloc(CONF_FILE_MAX + 2);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r = read(fd, buf + n, CONF_FILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > CONF_FILE_MAX)
			return -EFBIG;
	}
	buf[n] = '\0';
	*data = TAKE_PTR(buf);
	*size = n;
	return 0;
}
