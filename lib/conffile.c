/* SPDX-License-Identifier: MIT */
/*
 * conffile.c - strict INI parser and folder helpers for services.d and vms.d
 * (dialect and rationale: conffile.h).
 *
 * The parser copies one line at a time into a private buffer, so a line has
 * no length limit other than the file's (CONF_FILE_MAX) and line numbers are
 * exact. Every problem is recorded and parsing goes on, so one run reports
 * every typo of a file.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "conffile.h"
#include "util.h"

int conf_problem_add(struct conf_problems *p, const char *file, unsigned line, const char *fmt, ...)
{
	struct conf_problem *items;
	char *msg = NULL, *f;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
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

/* --- the parser --- */

struct parse_state {
	unsigned line;
	bool section_seen; /* any header so far */
	bool in_other;	   /* inside an unknown section (already reported) */
};

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* Adds a problem at the current line; returns 1 (one problem) or -ENOMEM. */
#define PROBLEM(p, st, ...) \
	(conf_problem_add((p)->problems, (p)->file, (st)->line, __VA_ARGS__) < 0 ? -ENOMEM : 1)

static int parse_header(struct conf_parser *p, struct parse_state *st, char *s)
{
	size_t len = strlen(s);

	st->section_seen = true;
	if (len < 2 || s[len - 1] != ']') {
		st->in_other = true;
		return PROBLEM(p, st, "malformed section header (expected [%s])", p->section);
	}
	s[len - 1] = '\0';
	if (strcmp(s + 1, p->section) != 0) {
		st->in_other = true;
		return PROBLEM(p, st, "unknown section [%.64s] (expected [%s])", s + 1, p->section);
	}
	st->in_other = false;
	if (!p->section_line)
		p->section_line = st->line;
	return 0;
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

static int parse_assignment(struct conf_parser *p, struct parse_state *st, char *key, char *value,
			    void *obj)
{
	char why[CONF_WHY_SIZE];
	int i, r;

	if (!st->section_seen)
		return PROBLEM(p, st, "'%.64s=' comes before the [%s] line", key, p->section);
	if (st->in_other)
		return 0;
	if (!*key)
		return PROBLEM(p, st, "missing key name before '='");
	i = find_key(p, key);
	if (i < 0) {
		i = suggest_key(p, key);
		if (i >= 0)
			return PROBLEM(p, st, "unknown key '%.64s' (did you mean '%s'?)", key,
				       p->keys[i].name);
		return PROBLEM(p, st, "unknown key '%.64s' in [%s]", key, p->section);
	}
	if (p->key_lines[i])
		return PROBLEM(p, st, "%s= is set twice (first on line %u)", p->keys[i].name,
			       p->key_lines[i]);
	p->key_lines[i] = st->line;
	if (strchr(value, '\t'))
		return PROBLEM(p, st, "%s: tab inside the value (use spaces)", p->keys[i].name);
	why[0] = '\0';
	r = p->keys[i].parse(obj, value, why);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return PROBLEM(p, st, "%s: %s", p->keys[i].name, why);
	return 0;
}

static int parse_line(struct conf_parser *p, struct parse_state *st, char *line, size_t len,
		      void *obj)
{
	uint32_t bad = 0;
	char *s, *eq;
	int r;

	r = text_scan(line, len, true, &bad);
	if (r == -EILSEQ)
		return PROBLEM(p, st, "not valid UTF-8");
	if (r < 0)
		return PROBLEM(p, st, "control character U+%04X in the line", bad);
	s = trim(line);
	if (!*s || *s == '#' || *s == ';')
		return 0;
	if (*s == '[')
		return parse_header(p, st, s);
	eq = strchr(s, '=');
	if (!eq)
		return PROBLEM(p, st, "expected 'Key=Value', '[Section]' or a comment, not '%.40s'",
			       s);
	*eq = '\0';
	return parse_assignment(p, st, trim(s), trim(eq + 1), obj);
}

int conf_parse(struct conf_parser *p, const char *data, size_t size, void *obj)
{
	_cleanup_free_ char *line = malloc(size + 1);
	struct parse_state st = { 0 };
	size_t pos = 0;
	int n = 0, r;

	if (!line || p->nkeys > CONF_MAX_KEYS)
		return -ENOMEM;
	memset(p->key_lines, 0, sizeof(p->key_lines));
	p->section_line = 0;
	if (size >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < size) {
		const char *nl = memchr(data + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;

		memcpy(line, data + pos, len);
		pos += len + (nl ? 1 : 0);
		if (len && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		st.line++;
		r = parse_line(p, &st, line, len, obj);
		if (r < 0)
			return r;
		n += r;
	}
	if (!p->section_line && !st.section_seen) {
		if (conf_problem_add(p->problems, p->file, 0, "no [%s] section", p->section) < 0)
			return -ENOMEM;
		n++;
	}
	return n;
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
