/* SPDX-License-Identifier: MIT */
/*
 * test-registry.c - unit tests of the service registry (registry.c) and of
 * the INI dialect under it (conffile.c over libinih): parsing of valid,
 * broken and hand-edited entries, exact lines and libinih's limits, loading
 * a folder, lookups, uniqueness, writers.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test-confdir.h"

#include <ini.h>

#include "registry.h"
#include "util.h"

#define G2761	"00000ac9-facb-11e6-bd58-64006a7986d3"
#define G22	"00000016-facb-11e6-bd58-64006a7986d3"
#define G_OTHER "3b1c1cf9-7f45-4d2e-9b35-0f5c2e8a7d61"

/* --- helpers --- */

/* The entries that come from files: every loaded registry also holds the
 * in-box services (tested on their own below). */
static size_t user_count(const struct reg_table *t)
{
	size_t n = 0;

	for (size_t i = 0; i < reg_count(t); i++)
		n += !reg_at(t, i)->inbox;
	return n;
}

static const struct reg_service *user_at(const struct reg_table *t, size_t k)
{
	for (size_t i = 0; i < reg_count(t); i++)
		if (!reg_at(t, i)->inbox && k-- == 0)
			return reg_at(t, i);
	return NULL;
}

static hv_guid_t guid(const char *s)
{
	hv_guid_t g;

	assert_int_equal(hv_guid_parse(s, &g), 0);
	return g;
}

/* Parses text as the entry of GUID gs; returns reg_parse_entry's result. */
static int parse(const char *gs, const char *text, struct reg_service *out,
		 struct conf_problems *problems)
{
	hv_guid_t g = guid(gs);

	return reg_parse_entry(text, strlen(text), &g, "services.d/x.conf", out, problems);
}

/* Asserts that text is broken with a problem at line whose message holds
 * needle. */
static void assert_problem(const char *gs, const char *text, unsigned line, const char *needle)
{
	struct conf_problems p = { 0 };
	struct reg_service s = { 0 };
	bool found = false;

	assert_int_equal(parse(gs, text, &s, &p), -EINVAL);
	assert_null(s.name);
	for (size_t i = 0; i < p.count; i++)
		if (p.items[i].line == line && strstr(p.items[i].message, needle))
			found = true;
	if (!found)
		for (size_t i = 0; i < p.count; i++)
			print_message("problem: %u: %s\n", p.items[i].line, p.items[i].message);
	assert_true(found);
	conf_problems_clear(&p);
}

static void write_file(const char *dir, const char *rel, const char *text)
{
	confdir_write(dir, "services.d", rel, text);
}

static char *read_entry_text(const char *dir, const char *gs)
{
	char path[512], *buf = calloc(1, 65536);
	FILE *f;

	snprintf(path, sizeof(path), "%s/services.d/%s.conf", dir, gs);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_true(fread(buf, 1, 65535, f) > 0);
	fclose(f);
	return buf;
}

static bool has_problem(const struct reg_table *t, const char *file, unsigned line,
			const char *needle)
{
	const struct conf_problems *p = reg_problems(t);

	for (size_t i = 0; i < p->count; i++)
		if (strcmp(p->items[i].file, file) == 0 && p->items[i].line == line &&
		    strstr(p->items[i].message, needle))
			return true;
	return false;
}

/* --- parsing one entry --- */

static void parse_accepts_every_key(void **state)
{
	struct conf_problems p = { 0 };
	struct reg_service s;

	(void)state;
	assert_int_equal(parse(G2761,
			       "# comment\n; also a comment\n\n[Service]\n"
			       "ElementName = backup service\nEnabled=no\nPort=2761\n"
			       "User=alice\nGroup=staff\nDescription=nightly; at 3:00\n",
			       &s, &p),
			 0);
	assert_int_equal(p.count, 0);
	assert_string_equal(s.name, "backup service");
	assert_false(s.enabled);
	assert_int_equal(s.port, 2761);
	assert_string_equal(s.user, "alice");
	assert_string_equal(s.group, "staff");
	assert_string_equal(s.description, "nightly; at 3:00");
	reg_service_clear(&s);
}

static void parse_defaults_enabled_and_leaves_optional_keys_null(void **state)
{
	struct conf_problems p = { 0 };
	struct reg_service s;

	(void)state;
	assert_int_equal(parse(G22, "[Service]\nElementName=ssh\nPort=22\nUser=\n", &s, &p), 0);
	assert_true(s.enabled);
	assert_null(s.user);
	assert_null(s.group);
	assert_null(s.description);
	reg_service_clear(&s);
}

static void parse_accepts_every_boolean_spelling(void **state)
{
	static const char *const yes[] = { "true", "YES", "On", "1" };
	static const char *const no[] = { "false", "No", "OFF", "0" };
	struct conf_problems p = { 0 };
	struct reg_service s;
	char text[128];

	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "[Service]\nElementName=a\nPort=22\nEnabled=%s\n",
			 yes[i]);
		assert_int_equal(parse(G22, text, &s, &p), 0);
		assert_true(s.enabled);
		reg_service_clear(&s);
		snprintf(text, sizeof(text), "[Service]\nElementName=a\nPort=22\nEnabled=%s\n",
			 no[i]);
		assert_int_equal(parse(G22, text, &s, &p), 0);
		assert_false(s.enabled);
		reg_service_clear(&s);
	}
	assert_problem(G22, "[Service]\nElementName=a\nPort=22\nEnabled=maybe\n", 4,
		       "not a boolean");
}

static void parse_reports_unknown_key_with_line_and_suggestion(void **state)
{
	(void)state;
	assert_problem(G22, "[Service]\nElementName=a\nport=22\n", 3,
		       "unknown key 'port' (did you mean 'Port'?)");
	assert_problem(G22, "[Service]\nElementName=a\nPort=22\nPrto=1\n", 4, "unknown key 'Prto'");
}

static void parse_reports_bad_ports(void **state)
{
	(void)state;
	assert_problem(G_OTHER, "[Service]\nElementName=a\nPort=0\n", 3, "out of range");
	assert_problem(G_OTHER, "[Service]\nElementName=a\nPort=4294967295\n", 3, "out of range");
	assert_problem(G_OTHER, "[Service]\nElementName=a\nPort=99999999999\n", 3, "out of range");
	assert_problem(G_OTHER, "[Service]\nElementName=a\nPort=12x\n", 3, "not a decimal number");
	assert_problem(G_OTHER, "[Service]\nElementName=a\nPort=-1\n", 3, "not a decimal number");
	assert_problem(G_OTHER, "[Service]\nElementName=a\nPort=0x10\n", 3, "not a decimal number");
}

static void parse_reports_missing_required_keys(void **state)
{
	(void)state;
	assert_problem(G22, "[Service]\nPort=22\n", 0, "ElementName= is missing");
	assert_problem(G22, "[Service]\nElementName=a\n", 0, "add 'Port=22'");
	assert_problem(G_OTHER, "[Service]\nElementName=a\n", 0, "not a VSOCK template");
	assert_problem(G22, "# nothing\n", 0, "no [Service] section");
	assert_problem(G22, "", 0, "no [Service] section");
}

static void parse_reports_port_not_matching_template_guid(void **state)
{
	(void)state;
	assert_problem(G2761, "[Service]\nElementName=a\n\nPort=22\n", 4,
		       "Port=22 does not match the GUID");
}

static void parse_accepts_non_template_guid_with_explicit_port(void **state)
{
	struct conf_problems p = { 0 };
	struct reg_service s;

	(void)state;
	assert_int_equal(
		parse(G_OTHER, "[Service]\nElementName=VM Session Service\nPort=5\n", &s, &p), 0);
	assert_int_equal(s.port, 5);
	reg_service_clear(&s);
}

static void parse_rejects_unusable_guids(void **state)
{
	(void)state;
	assert_problem("00000000-0000-0000-0000-000000000000", "[Service]\nElementName=a\nPort=5\n",
		       0, "cannot be a service id");
	assert_problem("00000000-facb-11e6-bd58-64006a7986d3", "[Service]\nElementName=a\nPort=5\n",
		       0, "not usable");
	assert_problem("ffffffff-facb-11e6-bd58-64006a7986d3", "[Service]\nElementName=a\nPort=5\n",
		       0, "not usable");
}

static void parse_reports_syntax_errors_with_their_line(void **state)
{
	(void)state;
	assert_problem(G22, "ElementName=a\n[Service]\nPort=22\n", 1, "before the [Service]");
	assert_problem(G22, "[Service]\nElementName=a\nPort=22\n[Other]\nX=1\n", 4,
		       "unknown section [Other]");
	assert_problem(G22, "[Service]\nElementName=a\nPort=22\njunk\n", 4, "expected 'Key=Value'");
	assert_problem(G22, "[Service\nElementName=a\nPort=22\n", 1, "malformed section header");
	assert_problem(G22, "[Service]\nElementName=a\nPort=22\n=5\n", 4, "missing key name");
	assert_problem(G22, "[Service]\nElementName=a\nPort=22\nElementName=b\n", 4,
		       "set twice (first on line 2)");
	assert_problem(G22, "[Service]\nElementName=a\tb\nPort=22\n", 2, "tab inside");
}

static void parse_reports_nul_control_and_bad_utf8(void **state)
{
	static const char nul[] = "[Service]\nElementName=a\0b\nPort=22\n";
	struct conf_problems p = { 0 };
	struct reg_service s = { 0 };
	hv_guid_t g = guid(G22);

	(void)state;
	assert_int_equal(reg_parse_entry(nul, sizeof(nul) - 1, &g, "f", &s, &p), -EINVAL);
	assert_int_equal(p.items[0].line, 2);
	assert_non_null(strstr(p.items[0].message, "control character U+0000"));
	conf_problems_clear(&p);
	assert_problem(G22, "[Service]\nElementName=a\x1b[31m\nPort=22\n", 2, "U+001B");
	assert_problem(G22, "[Service]\nElementName=\xc3\x28\nPort=22\n", 2, "not valid UTF-8");
	assert_problem(G22, "[Service]\nElementName=\xc0\xaf\nPort=22\n", 2, "not valid UTF-8");
	assert_problem(G22, "[Service]\nElementName=\xed\xa0\x80\nPort=22\n", 2, "UTF-8");
}

static void parse_keeps_hand_edited_layout_meaning(void **state)
{
	struct conf_problems p = { 0 };
	struct reg_service s;
	char text[1024], name[CONF_VALUE_MAX + 2];

	(void)state;
	/* BOM, CRLF, indented keys (not continuations), no final newline */
	assert_int_equal(parse(G22,
			       "\xef\xbb\xbf[Service]\r\n  ElementName = caf\xc3\xa9 \r\n"
			       "\tPort\t=\t22\r\n    Enabled = no\r\nDescription = a; b #c;d",
			       &s, &p),
			 0);
	assert_string_equal(s.name, "caf\xc3\xa9");
	assert_int_equal(s.port, 22);
	assert_false(s.enabled);
	assert_string_equal(s.description, "a; b #c;d");
	reg_service_clear(&s);
	/* the longest name fits on its line, one byte more is reported */
	memset(name, 'n', CONF_VALUE_MAX);
	name[CONF_VALUE_MAX] = '\0';
	snprintf(text, sizeof(text), "[Service]\nElementName = %s\nPort=22\n", name);
	assert_int_equal(parse(G22, text, &s, &p), 0);
	assert_string_equal(s.name, name);
	reg_service_clear(&s);
	snprintf(text, sizeof(text), "[Service]\nElementName=%sn\nPort=22\n", name);
	assert_problem(G22, text, 2, "longer than 160 bytes");
	assert_int_equal(p.count, 0);
}

static void parse_rejects_names_that_look_like_guids_or_options(void **state)
{
	char why[CONF_WHY_SIZE];

	(void)state;
	assert_problem(G22, "[Service]\nElementName=" G2761 "\nPort=22\n", 2, "must not be a GUID");
	assert_problem(G22, "[Service]\nElementName=-x\nPort=22\n", 2, "must not start with '-'");
	assert_problem(G22, "[Service]\nElementName=\nPort=22\n", 2, "must not be empty");
	assert_int_equal(reg_check_name(" a", why), -EINVAL);
	assert_int_equal(reg_check_name("a\x7f", why), -EINVAL);
	assert_int_equal(reg_check_name("a\xc2\x85", why), -EINVAL); /* C1 NEL */
	assert_int_equal(reg_check_name("VM Session Service", why), 0);
	assert_int_equal(reg_check_account("a:b", why), -EINVAL);
	assert_int_equal(reg_check_account("a b", why), -EINVAL);
	assert_int_equal(reg_check_account("www-data", why), 0);
}

static void format_then_parse_gives_the_same_entry(void **state)
{
	struct reg_service in = { .id = guid(G_OTHER),
				  .name = "x = [y];#z: w",
				  .enabled = false,
				  .port = 4294967294u,
				  .group = "g",
				  .description = "# not a comment; =:[x]" };
	struct conf_problems p = { 0 };
	struct reg_service out;
	char *text = reg_format_entry(&in);

	(void)state;
	assert_non_null(text);
	assert_int_equal(reg_parse_entry(text, strlen(text), &in.id, "f", &out, &p), 0);
	assert_string_equal(out.name, in.name);
	assert_false(out.enabled);
	assert_int_equal(out.port, in.port);
	assert_null(out.user);
	assert_string_equal(out.group, "g");
	assert_string_equal(out.description, in.description);
	reg_service_clear(&out);
	free(text);
}

/* --- the INI dialect over libinih (conffile.c) --- */

/* A section [S] with keys A, B and Cee that store their values. */
struct abc {
	char v[3][CONF_LINE_MAX + 1];
};

static int key_a(void *obj, const char *value, char *why)
{
	(void)why;
	snprintf(((struct abc *)obj)->v[0], CONF_LINE_MAX + 1, "%s", value);
	return 0;
}

static int key_b(void *obj, const char *value, char *why)
{
	(void)why;
	snprintf(((struct abc *)obj)->v[1], CONF_LINE_MAX + 1, "%s", value);
	return 0;
}

static int key_c(void *obj, const char *value, char *why)
{
	(void)why;
	snprintf(((struct abc *)obj)->v[2], CONF_LINE_MAX + 1, "%s", value);
	return 0;
}

static const struct conf_key abc_keys[] = { { "A", key_a }, { "B", key_b }, { "Cee", key_c } };

static int parse_abc(const char *text, size_t size, struct conf_parser *cp, struct abc *out,
		     struct conf_problems *p)
{
	*cp = (struct conf_parser){
		.file = "t.conf", .section = "S", .keys = abc_keys, .nkeys = 3, .problems = p
	};
	memset(out, 0, sizeof(*out));
	return conf_parse(cp, text, size, out);
}

static void dialect_gives_each_key_its_exact_line_through_libinih(void **state)
{
	char text[1024], comment[CONF_LINE_MAX + 1];
	struct conf_problems p = { 0 };
	struct conf_parser cp;
	struct abc v;

	(void)state;
	memset(comment, '#', CONF_LINE_MAX);
	comment[CONF_LINE_MAX] = '\0';
	snprintf(text, sizeof(text),
		 "\xef\xbb\xbf# comment\r\n" /* 1 */
		 "\r\n"			     /* 2 */
		 "; other comment\n"	     /* 3 */
		 "   # indented comment\n"   /* 4 */
		 "[S]\n"		     /* 5 */
		 "\n"			     /* 6 */
		 "A = 1\n"		     /* 7 */
		 "\t\n"			     /* 8 */
		 "   B=two words  \r\n"	     /* 9: indented, not a continuation */
		 "%s\r\n"		     /* 10: a comment of CONF_LINE_MAX bytes */
		 "Cee=;x #y",		     /* 11: no final newline */
		 comment);
	assert_int_equal(parse_abc(text, strlen(text), &cp, &v, &p), 0);
	assert_int_equal(cp.section_line, 5);
	assert_int_equal(cp.key_lines[0], 7);
	assert_int_equal(cp.key_lines[1], 9);
	assert_int_equal(cp.key_lines[2], 11);
	assert_string_equal(v.v[0], "1");
	assert_string_equal(v.v[1], "two words");
	assert_string_equal(v.v[2], ";x #y");
}

static void dialect_reports_every_problem_on_its_line_and_keeps_counting(void **state)
{
	static const struct {
		unsigned line;
		const char *needle;
	} want[] = {
		{ 2, "expected 'Key=Value', '[Section]' or a comment, not 'junk'" },
		{ 4, "line is 198 bytes long, more than 197" },
		{ 6, "not 'more junk'" },
		{ 7, "blank before ';'" },
		{ 8, "not 'continued'" },
		{ 9, "not 'Cee: x'" },
		{ 10, "':' cannot be part of a key" },
		{ 11, "malformed section header (expected [S])" },
		{ 12, "unknown section [T] (expected [S])" },
		{ 14, "control character U+0000" },
		{ 15, "A= is set twice (first on line 3)" },
		{ 16, "unknown key 'b' (did you mean 'B'?)" },
	};
	enum { NWANT = sizeof(want) / sizeof(want[0]) };
	char text[1024], line4[CONF_LINE_MAX + 2];
	struct conf_problems p = { 0 };
	struct conf_parser cp;
	struct abc v;
	int n;

	(void)state;
	memset(line4, 'x', CONF_LINE_MAX + 1);
	line4[CONF_LINE_MAX + 1] = '\0';
	n = snprintf(text, sizeof(text),
		     "[S]\njunk\nA=1\n%s\nB=after the long line\nmore junk\nCee = a ; b\n"
		     "  continued\nCee: x\nA:b = c\n[S] x\n[T]\n[S]\nCee=%c\nA=2\nb=3\n",
		     line4, '\0');
	n = parse_abc(text, (size_t)n, &cp, &v, &p);
	for (size_t i = 0; i < p.count; i++)
		if (i >= NWANT || p.items[i].line != want[i].line ||
		    !strstr(p.items[i].message, want[i].needle))
			print_message("problem %zu: %u: %s\n", i, p.items[i].line,
				      p.items[i].message);
	assert_int_equal(n, NWANT);
	for (size_t i = 0; i < NWANT; i++) {
		assert_int_equal(p.items[i].line, want[i].line);
		assert_non_null(strstr(p.items[i].message, want[i].needle));
	}
	assert_int_equal(cp.key_lines[0], 3);
	assert_int_equal(cp.key_lines[1], 5); /* libinih would have made it line 6 */
	assert_int_equal(cp.key_lines[2], 0);
	assert_string_equal(v.v[1], "after the long line");
	conf_problems_clear(&p);
}

static void dialect_line_limit_is_at_the_byte(void **state)
{
	char text[512], value[CONF_LINE_MAX];
	struct conf_problems p = { 0 };
	struct conf_parser cp;
	struct abc v;
	size_t len = CONF_LINE_MAX - strlen("Cee=");

	(void)state;
	memset(value, 'v', len);
	value[len] = '\0';
	snprintf(text, sizeof(text), "[S]\r\nCee=%s\r\nA=1\r\n", value);
	assert_int_equal(parse_abc(text, strlen(text), &cp, &v, &p), 0);
	assert_string_equal(v.v[2], value);
	assert_int_equal(cp.key_lines[0], 3);
	snprintf(text, sizeof(text), "[S]\nCee=%sv\nA=1\n", value);
	assert_int_equal(parse_abc(text, strlen(text), &cp, &v, &p), 1);
	assert_int_equal(p.items[0].line, 2);
	assert_non_null(strstr(p.items[0].message, "more than 197"));
	assert_int_equal(cp.key_lines[0], 3);
	conf_problems_clear(&p);
}

/* libinih handler for the checks of the library itself: appends
 * "section/name=value|" to the buffer user. */
static int ini_collect(void *user, const char *section, const char *name, const char *value)
{
	char *buf = user;
	size_t n = strlen(buf);

	snprintf(buf + n, 1024 - n, "%s/%s=%s|", section, name, value);
	return 1;
}

static int reader_size;

static char *one_line_reader(char *str, int num, void *stream)
{
	int *calls = stream;

	reader_size = num;
	if ((*calls)++)
		return NULL;
	snprintf(str, (size_t)num, "[S]\n");
	return str;
}

/* "[S]\nA=vvv...\nB=1\n" with a second line of len bytes. */
static const char *long_line(char text[512], size_t len)
{
	memcpy(text, "[S]\nA=", 6);
	memset(text + 6, 'v', len - 2);
	strcpy(text + 4 + len, "\nB=1\n");
	return text;
}

/* The behaviours of Debian's libinih that conffile.c's pre-check is built
 * on; if one changes, the comment at the top of conffile.c must too. */
static void libinih_behaves_as_the_precheck_assumes(void **state)
{
	char out[1024] = "", text[512];
	int calls = 0;

	(void)state;
	/* the reader gets room for CONF_LINE_MAX bytes, "\r\n" and the NUL */
	assert_int_equal(ini_parse_stream(one_line_reader, &calls, ini_collect, out), 0);
	assert_true(reader_size >= CONF_LINE_MAX + 3);
	/* inline comments: ';' after a blank, nothing else */
	assert_int_equal(
		ini_parse_string("[S]\nA=x ;y\nB=x\t;y\nC=x;y\nD=x #y\nE=;y\n", ini_collect, out),
		0);
	assert_string_equal(out, "S/A=x|S/B=x|S/C=x;y|S/D=x #y|S/E=;y|");
	/* an indented line continues the previous value; ':' separates */
	out[0] = '\0';
	assert_int_equal(ini_parse_string("[S]\nA=1\n  B=2\nC: 3\n", ini_collect, out), 0);
	assert_string_equal(out, "S/A=1|S/A=B=2|S/C=3|");
	/* text after ']' is ignored, long section names are cut */
	out[0] = '\0';
	assert_int_equal(ini_parse_string("[S] x\nA=1\n[" /* 60 bytes */
					  "012345678901234567890123456789"
					  "012345678901234567890123456789]\nB=2\n",
					  ini_collect, out),
			 0);
	assert_string_equal(out, "S/A=1|0123456789012345678901234567890123456789012345678/B=2|");
	/* a line of CONF_LINE_MAX + 2 bytes is read whole, one more is split */
	assert_int_equal(ini_parse_string(long_line(text, CONF_LINE_MAX + 2), ini_collect, out), 0);
	assert_int_equal(ini_parse_string(long_line(text, CONF_LINE_MAX + 3), ini_collect, out), 3);
}

static void check_text_refuses_what_a_file_would_change(void **state)
{
	char why[CONF_WHY_SIZE], text[CONF_VALUE_MAX + 2];

	(void)state;
	assert_int_equal(conf_check_text("a ; b", 100, why), -EINVAL);
	assert_non_null(strstr(why, "blank before ';'"));
	assert_int_equal(conf_check_text("a\t;b", 100, why), -EINVAL);
	assert_int_equal(conf_check_text("a; b;c #d", 100, why), 0);
	assert_int_equal(reg_check_description("backups ; nightly", why), -EINVAL);
	assert_int_equal(reg_check_name("x ;", why), -EINVAL);
	memset(text, 'd', CONF_VALUE_MAX);
	text[CONF_VALUE_MAX] = '\0';
	assert_int_equal(reg_check_description(text, why), 0);
	assert_int_equal(reg_check_name(text, why), 0);
	strcat(text, "d");
	assert_int_equal(reg_check_description(text, why), -EINVAL);
	assert_string_equal(why, "is longer than 160 bytes");
	assert_int_equal(reg_check_name(text, why), -EINVAL);
	assert_int_equal(conf_check_text(text + 100, 10, why), -EINVAL);
	assert_string_equal(why, "is longer than 10 bytes");
}

static void format_of_longest_values_stays_within_the_line_limit(void **state)
{
	char name[CONF_VALUE_MAX + 1], user[REG_ACCOUNT_MAX + 1], desc[CONF_VALUE_MAX + 1];
	struct reg_service in = { .id = guid(G_OTHER),
				  .name = name,
				  .port = 7,
				  .user = user,
				  .group = user,
				  .description = desc },
			   out;
	struct conf_problems p = { 0 };
	char *text;

	(void)state;
	memset(name, 'n', CONF_VALUE_MAX);
	memset(user, 'u', REG_ACCOUNT_MAX);
	memset(desc, ';', CONF_VALUE_MAX);
	name[CONF_VALUE_MAX] = user[REG_ACCOUNT_MAX] = desc[CONF_VALUE_MAX] = '\0';
	text = reg_format_entry(&in);
	assert_non_null(text);
	for (const char *s = text; *s;) {
		size_t n = strcspn(s, "\n");
		assert_true(n <= CONF_LINE_MAX);
		s += n + (s[n] == '\n');
	}
	assert_int_equal(reg_parse_entry(text, strlen(text), &in.id, "f", &out, &p), 0);
	assert_string_equal(out.name, name);
	assert_string_equal(out.user, user);
	assert_string_equal(out.description, desc);
	reg_service_clear(&out);
	free(text);
}

/* --- loading a folder --- */

static void load_of_missing_folder_gives_empty_table(void **state)
{
	struct reg_table *t = NULL;

	assert_int_equal(reg_load(*state, &t), 0);
	assert_int_equal(user_count(t), 0);
	assert_int_equal(reg_problems(t)->count, 0);
	reg_table_free(t);
}

static void load_fails_when_services_d_is_a_file(void **state)
{
	char path[512];
	struct reg_table *t = NULL;

	snprintf(path, sizeof(path), "%s/services.d", (char *)*state);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	assert_int_equal(reg_load(*state, &t), -ENOTDIR);
	assert_null(t);
}

static void load_skips_broken_entries_and_keeps_the_others(void **state)
{
	struct reg_table *t = NULL;

	write_file(*state, G2761 ".conf", "[Service]\nElementName=good\nPort=2761\n");
	write_file(*state, G22 ".conf", "[Service]\nElementName=typo\nPort=22\nEnabeld=true\n");
	write_file(*state, "not-a-guid.conf", "[Service]\nElementName=x\nPort=7\n");
	write_file(*state, "00000AC9-FACB-11E6-BD58-64006A7986D4.conf", "[Service]\n");
	write_file(*state, "README", "ignored: not .conf\n");
	write_file(*state, "." G_OTHER ".conf.tmp-1234abcd", "ignored: hidden temp file\n");
	write_file(*state, G_OTHER ".conf~", "ignored: editor backup\n");
	assert_int_equal(reg_load(*state, &t), 0);
	assert_int_equal(user_count(t), 1);
	assert_string_equal(user_at(t, 0)->name, "good");
	assert_true(has_problem(t, "services.d/" G22 ".conf", 4, "did you mean 'Enabled'"));
	assert_true(has_problem(t, "services.d/not-a-guid.conf", 0, "file name is not a GUID"));
	assert_true(has_problem(t, "services.d/00000AC9-FACB-11E6-BD58-64006A7986D4.conf", 0,
				"rename it to services.d/00000ac9-facb-11e6-bd58-64006a7986d4"));
	assert_int_equal(reg_problems(t)->count, 3);
	assert_true(reg_is_broken(t, (hv_guid_t[]){ guid(G22) }));
	assert_false(reg_is_broken(t, (hv_guid_t[]){ guid(G2761) }));
	reg_table_free(t);
}

static void owners_are_unresolved_after_load_and_resolved_once_asked(void **state)
{
	struct reg_table *t = NULL;
	const struct reg_service *s;

	write_file(*state, G2761 ".conf",
		   "[Service]\nElementName=a\nPort=2761\nUser=root\nGroup=root\n");
	write_file(
		*state, G22 ".conf",
		"[Service]\nElementName=b\nPort=22\nUser=no-such-user-x\nGroup=no-such-group-x\n");
	assert_int_equal(reg_load(*state, &t), 0);
	s = reg_find_name(t, "a");
	assert_int_equal(s->uid, REG_NO_ID);
	assert_int_equal(s->gid, REG_NO_ID);
	reg_resolve_owners(t);
	assert_int_equal(s->uid, 0);
	assert_int_equal(s->gid, 0);
	s = reg_find_name(t, "b");
	assert_int_equal(s->uid, REG_NO_ID);
	assert_int_equal(s->gid, REG_NO_ID);
	reg_table_free(t);
}

static void load_reports_directory_named_like_an_entry(void **state)
{
	struct reg_table *t = NULL;
	char path[512];

	write_file(*state, G2761 ".conf", "[Service]\nElementName=good\nPort=2761\n");
	snprintf(path, sizeof(path), "%s/services.d/" G22 ".conf", (char *)*state);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(reg_load(*state, &t), 0);
	assert_int_equal(user_count(t), 1);
	assert_true(has_problem(t, "services.d/" G22 ".conf", 0, "cannot read it"));
	reg_table_free(t);
}

static void load_keeps_first_of_duplicate_names_and_ports(void **state)
{
	struct reg_table *t = NULL;

	write_file(*state, G22 ".conf", "[Service]\nElementName=same\nPort=22\n");
	write_file(*state, G2761 ".conf", "[Service]\nElementName=same\nPort=2761\n");
	write_file(*state, G_OTHER ".conf", "[Service]\nElementName=other\n\nPort=22\n");
	assert_int_equal(reg_load(*state, &t), 0);
	assert_int_equal(user_count(t), 1);
	assert_int_equal(user_at(t, 0)->port, 22);
	assert_true(has_problem(t, "services.d/" G2761 ".conf", 2,
				"ElementName 'same' is already used by services.d/" G22 ".conf"));
	assert_true(has_problem(t, "services.d/" G_OTHER ".conf", 4,
				"Port 22 is already used by services.d/" G22 ".conf"));
	reg_table_free(t);
}

static void lookups_find_by_name_guid_and_port(void **state)
{
	struct reg_table *t = NULL;
	hv_guid_t g = guid(G_OTHER);

	write_file(*state, G22 ".conf", "[Service]\nElementName=ssh\nPort=22\n");
	write_file(*state, G_OTHER ".conf", "[Service]\nElementName=session\nPort=5\n");
	assert_int_equal(reg_load(*state, &t), 0);
	assert_int_equal(user_count(t), 2);
	assert_string_equal(user_at(t, 0)->name, "session"); /* sorted by name */
	assert_string_equal(reg_find_guid(t, &g)->name, "session");
	assert_string_equal(reg_find_port(t, 22)->name, "ssh");
	assert_null(reg_find_port(t, 23));
	assert_string_equal(reg_find_name(t, "ssh")->name, "ssh");
	assert_null(reg_find_name(t, "SSH"));
	assert_string_equal(reg_lookup(t, "{00000016-FACB-11E6-BD58-64006A7986D3}")->name, "ssh");
	assert_string_equal(reg_lookup(t, "session")->name, "session");
	assert_null(reg_lookup(t, G2761));
	assert_null(user_at(t, 2));
	reg_table_free(t);
}

/* --- writers --- */

static void add_picks_distinct_free_ports_in_range(void **state)
{
	struct reg_conflict c;
	struct reg_table *t = NULL;
	char name[16];

	for (int i = 0; i < 20; i++) {
		struct reg_service s = { .name = name, .enabled = true };
		snprintf(name, sizeof(name), "svc%d", i);
		assert_int_equal(reg_add(*state, &s, &c), 0);
		assert_true(s.port >= REG_AUTO_PORT_MIN && s.port <= REG_AUTO_PORT_MAX);
		assert_true(hv_guid_is_vsock_template(&s.id));
	}
	assert_int_equal(reg_load(*state, &t), 0);
	assert_int_equal(user_count(t), 20);
	assert_int_equal(reg_problems(t)->count, 0);
	reg_table_free(t);
}

static void add_derives_port_or_guid_and_writes_a_loadable_entry(void **state)
{
	struct reg_service a = { .name = "by-port", .port = 2761, .user = "root" };
	struct reg_service b = { .id = guid(G22), .name = "by-guid" };
	struct reg_service c = { .id = guid(G_OTHER), .name = "explicit", .port = 9 };
	struct reg_conflict k;
	struct reg_table *t = NULL;

	assert_int_equal(reg_add(*state, &a, &k), 0);
	assert_true(hv_guid_equal(&a.id, (hv_guid_t[]){ guid(G2761) }));
	assert_int_equal(reg_add(*state, &b, &k), 0);
	assert_int_equal(b.port, 22);
	assert_int_equal(reg_add(*state, &c, &k), 0);
	assert_int_equal(reg_load(*state, &t), 0);
	assert_int_equal(user_count(t), 3);
	assert_string_equal(reg_find_port(t, 2761)->user, "root");
	assert_false(reg_find_port(t, 22)->enabled); /* .enabled was false */
	assert_string_equal(reg_find_port(t, 9)->name, "explicit");
	reg_table_free(t);
}

static void add_rejects_invalid_definitions(void **state)
{
	struct reg_service s;
	struct reg_conflict k;
	struct reg_table *t = NULL;

	s = (struct reg_service){ .id = guid(G_OTHER), .name = "no-port" };
	assert_int_equal(reg_add(*state, &s, &k), -EINVAL);
	s = (struct reg_service){ .id = guid(G2761), .name = "mismatch", .port = 22 };
	assert_int_equal(reg_add(*state, &s, &k), -EINVAL);
	s = (struct reg_service){ .name = "any", .port = 0xffffffffu };
	assert_int_equal(reg_add(*state, &s, &k), -EINVAL);
	s = (struct reg_service){ .name = G2761 };
	assert_int_equal(reg_add(*state, &s, &k), -EINVAL);
	s = (struct reg_service){ .name = "x", .user = "a:b" };
	assert_int_equal(reg_add(*state, &s, &k), -EINVAL);
	s = (struct reg_service){ .id = HV_GUID_BROADCAST, .name = "x", .port = 5 };
	assert_int_equal(reg_add(*state, &s, &k), -EINVAL);
	s = (struct reg_service){ .name = "x", .port = 5, .description = "a ; b" };
	assert_int_equal(reg_add(*state, &s, &k), -EINVAL);
	assert_int_equal(reg_load(*state, &t), 0);
	assert_int_equal(user_count(t), 0);
	reg_table_free(t);
}

static void add_reports_which_name_guid_or_port_is_taken(void **state)
{
	struct reg_service s = { .name = "first", .port = 2761 };
	struct reg_conflict k;

	assert_int_equal(reg_add(*state, &s, &k), 0);
	s = (struct reg_service){ .name = "first", .port = 22 };
	assert_int_equal(reg_add(*state, &s, &k), -EEXIST);
	assert_int_equal(k.kind, REG_CONFLICT_NAME);
	assert_string_equal(k.name, "first");
	s = (struct reg_service){ .id = guid(G2761), .name = "second" };
	assert_int_equal(reg_add(*state, &s, &k), -EEXIST);
	assert_int_equal(k.kind, REG_CONFLICT_GUID);
	assert_false(k.broken);
	s = (struct reg_service){ .id = guid(G_OTHER), .name = "third", .port = 2761 };
	assert_int_equal(reg_add(*state, &s, &k), -EEXIST);
	assert_int_equal(k.kind, REG_CONFLICT_PORT);
	assert_string_equal(k.name, "first");
	assert_int_equal(k.port, 2761);
	/* a broken file holds its GUID: adding must not overwrite a hand edit */
	write_file(*state, G22 ".conf", "[Service]\nElementName=typo\nPrt=22\n");
	s = (struct reg_service){ .name = "fourth", .port = 22 };
	assert_int_equal(reg_add(*state, &s, &k), -EEXIST);
	assert_int_equal(k.kind, REG_CONFLICT_GUID);
	assert_true(k.broken);
}

static void add_fails_cleanly_when_folder_is_not_writable(void **state)
{
	char path[512];
	struct reg_service s = { .name = "x", .port = 5 };
	struct reg_conflict k;

	snprintf(path, sizeof(path), "%s/services.d", (char *)*state);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	assert_int_equal(reg_add(*state, &s, &k), -ENOTDIR);
}

static void set_enabled_keeps_comments_and_inserts_missing_key(void **state)
{
	struct reg_table *t = NULL;
	hv_guid_t g = guid(G22);
	char *text;

	write_file(*state, G22 ".conf",
		   "# keep me\n[Service]\n# and me\nElementName=ssh\nPort=22\nEnabled=yes\n");
	assert_int_equal(reg_set_enabled(*state, &g, false), 0);
	text = read_entry_text(*state, G22);
	assert_string_equal(text, "# keep me\n[Service]\n# and me\nElementName=ssh\nPort=22\n"
				  "Enabled=false\n");
	free(text);
	assert_int_equal(reg_set_enabled(*state, &g, true), 0);
	text = read_entry_text(*state, G22);
	assert_non_null(strstr(text, "\nEnabled=true\n"));
	free(text);
	/* absent key (default true): disabling inserts it after the header */
	write_file(*state, G22 ".conf", "[Service]\nElementName=ssh\nPort=22");
	assert_int_equal(reg_set_enabled(*state, &g, true), 0); /* no change needed */
	assert_int_equal(reg_set_enabled(*state, &g, false), 0);
	text = read_entry_text(*state, G22);
	assert_string_equal(text, "[Service]\nEnabled=false\nElementName=ssh\nPort=22");
	free(text);
	assert_int_equal(reg_load(*state, &t), 0);
	assert_false(user_at(t, 0)->enabled);
	reg_table_free(t);
}

static void set_enabled_refuses_broken_and_missing_entries(void **state)
{
	hv_guid_t g = guid(G22), h = guid(G2761);

	write_file(*state, G22 ".conf", "[Service]\nElementName=ssh\nPort=23\n");
	assert_int_equal(reg_set_enabled(*state, &g, false), -EBADMSG);
	assert_int_equal(reg_set_enabled(*state, &h, false), -ENOENT);
}

static void remove_deletes_entries_even_broken_ones(void **state)
{
	struct reg_service s = { .name = "x", .port = 2761 };
	struct reg_conflict k;
	struct reg_table *t = NULL;
	hv_guid_t g = guid(G22);

	assert_int_equal(reg_add(*state, &s, &k), 0);
	write_file(*state, G22 ".conf", "garbage\n");
	assert_int_equal(reg_remove(*state, &s.id), 0);
	assert_int_equal(reg_remove(*state, &g), 0);
	assert_int_equal(reg_remove(*state, &g), -ENOENT);
	assert_int_equal(reg_load(*state, &t), 0);
	assert_int_equal(user_count(t), 0);
	assert_int_equal(reg_problems(t)->count, 0);
	reg_table_free(t);
}

static void writers_leave_no_temp_files_and_clean_stale_ones(void **state)
{
	struct reg_service s = { .name = "x", .port = 2761 };
	struct reg_conflict k;
	char path[512];
	hv_guid_t g = guid(G2761);

	write_file(*state, "." G2761 ".conf.tmp-deadbeef", "[Service]\nElementName=torn");
	assert_int_equal(reg_add(*state, &s, &k), 0);
	assert_int_equal(reg_set_enabled(*state, &g, false), 0);
	snprintf(path, sizeof(path), "%s/services.d/." G2761 ".conf.tmp-deadbeef", (char *)*state);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/services.d/" G2761 ".conf", (char *)*state);
	assert_int_equal(access(path, F_OK), 0);
}

static void inbox_session_service_is_registered_out_of_the_box(void **state)
{
	struct reg_table *t = NULL;
	const struct reg_service *s;

	assert_int_equal(reg_load(*state, &t), 0);
	s = reg_find_guid(t, (hv_guid_t[]){ guid(REG_SESSION_GUID) });
	assert_non_null(s);
	assert_true(s->inbox);
	assert_true(s->enabled);
	assert_int_equal(s->port, REG_SESSION_PORT);
	assert_string_equal(s->name, "VM Session Service");
	assert_ptr_equal(reg_find_port(t, 640), s);
	assert_int_equal(reg_problems(t)->count, 0);
	reg_table_free(t);
}

static void inbox_service_disable_writes_a_file_and_enable_restores(void **state)
{
	hv_guid_t g = guid(REG_SESSION_GUID);
	struct reg_table *t = NULL;
	char path[512];

	assert_int_equal(reg_set_enabled(*state, &g, true), 0); /* already: no file */
	snprintf(path, sizeof(path), "%s/services.d/" REG_SESSION_GUID ".conf", (char *)*state);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(reg_set_enabled(*state, &g, false), 0);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(reg_load(*state, &t), 0);
	assert_false(reg_find_guid(t, &g)->enabled);
	assert_true(reg_find_guid(t, &g)->inbox);
	reg_table_free(t);
	assert_int_equal(reg_set_enabled(*state, &g, true), 0);
	assert_int_equal(reg_load(*state, &t), 0);
	assert_true(reg_find_guid(t, &g)->enabled);
	reg_table_free(t);
	assert_int_equal(reg_remove(*state, &g), -EPERM);
}

static void inbox_service_file_cannot_change_its_port_or_name(void **state)
{
	hv_guid_t g = guid(REG_SESSION_GUID);
	struct reg_table *t = NULL;

	write_file(*state, REG_SESSION_GUID ".conf", "[Service]\nElementName=mine\nPort=5000\n");
	assert_int_equal(reg_load(*state, &t), 0);
	assert_null(reg_find_guid(t, &g)); /* broken: off, not silently re-enabled */
	assert_true(has_problem(t, "services.d/" REG_SESSION_GUID ".conf", 3,
				"the in-box VM Session Service has Port=640"));
	assert_true(has_problem(t, "services.d/" REG_SESSION_GUID ".conf", 2,
				"ElementName is 'VM Session Service'"));
	reg_table_free(t);
}

static void inbox_integration_services_are_registered_with_short_names(void **state)
{
	static const struct {
		const char *guid, *name, *short_name;
		uint32_t port;
	} want[] = {
		{ "57164f39-9115-4e78-ab55-382f3bd5422d", "Heartbeat", "heartbeat", 701 },
		{ "0e0b6031-5213-4934-818b-38d90ced39db", "Shutdown", "shutdown", 702 },
		{ "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6", "Key-Value Pair Exchange", "kvp", 704 },
		{ REG_SESSION_GUID, "VM Session Service", "session", 640 },
		{ "35fa2e29-ea23-4236-96ae-3a6ebacba440", "VSS", "vss", 705 },
		{ "9527e630-d0ae-497b-adce-e80ab0175caf", "Time Synchronization", "timesync", 703 },
	};
	struct reg_table *t = NULL;

	assert_int_equal(reg_inbox_count(), ARRAY_SIZE(want));
	assert_null(reg_inbox_at(ARRAY_SIZE(want)));
	assert_int_equal(reg_load(*state, &t), 0);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		const struct reg_inbox *b = reg_inbox_at(i);
		const struct reg_service *s = reg_find_guid(t, (hv_guid_t[]){ guid(want[i].guid) });
		char why[CONF_WHY_SIZE];

		assert_string_equal(b->guid, want[i].guid);
		assert_string_equal(b->name, want[i].name);
		assert_string_equal(b->short_name, want[i].short_name);
		assert_int_equal(b->port, want[i].port);
		assert_int_equal(reg_check_description(b->description, why), 0);
		assert_non_null(s);
		assert_true(s->inbox && s->enabled);
		assert_int_equal(s->port, want[i].port);
		assert_string_equal(s->name, want[i].name);
		assert_string_equal(s->description, b->description);
		/* by short name, by ElementName in any case, by GUID */
		assert_ptr_equal(reg_inbox_lookup(want[i].short_name), b);
		assert_ptr_equal(reg_inbox_lookup(want[i].name), b);
		assert_ptr_equal(reg_inbox_lookup(want[i].guid), b);
	}
	assert_ptr_equal(reg_inbox_lookup("HEARTBEAT"), reg_inbox_at(0));
	assert_ptr_equal(reg_inbox_lookup("vm session service"), reg_inbox_at(3));
	assert_ptr_equal(reg_inbox_lookup("key-value pair exchange"), reg_inbox_at(2));
	assert_ptr_equal(reg_inbox_lookup("0E0B6031-5213-4934-818B-38D90CED39DB"), reg_inbox_at(1));
	assert_null(reg_inbox_lookup("KVP")); /* a short name is exact */
	assert_ptr_equal(reg_inbox_lookup("time synchronization"), reg_inbox_at(5));
	assert_ptr_equal(reg_inbox_lookup("vss"), reg_inbox_at(4));
	assert_null(reg_inbox_lookup(G2761));
	assert_null(reg_inbox_lookup(""));
	assert_int_equal(reg_problems(t)->count, 0);
	reg_table_free(t);
}

static void add_cannot_take_an_inbox_name_or_port(void **state)
{
	struct reg_service s = { .name = "VM Session Service", .port = 7000 };
	struct reg_conflict k;

	assert_int_equal(reg_add(*state, &s, &k), -EEXIST);
	assert_int_equal(k.kind, REG_CONFLICT_NAME);
	s = (struct reg_service){ .name = "other", .port = 640 };
	assert_int_equal(reg_add(*state, &s, &k), -EEXIST);
	assert_int_equal(k.kind, REG_CONFLICT_PORT);
	assert_string_equal(k.name, "VM Session Service");
}

#define DIR_TEST(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_accepts_every_key),
		cmocka_unit_test(parse_defaults_enabled_and_leaves_optional_keys_null),
		cmocka_unit_test(parse_accepts_every_boolean_spelling),
		cmocka_unit_test(parse_reports_unknown_key_with_line_and_suggestion),
		cmocka_unit_test(parse_reports_bad_ports),
		cmocka_unit_test(parse_reports_missing_required_keys),
		cmocka_unit_test(parse_reports_port_not_matching_template_guid),
		cmocka_unit_test(parse_accepts_non_template_guid_with_explicit_port),
		cmocka_unit_test(parse_rejects_unusable_guids),
		cmocka_unit_test(parse_reports_syntax_errors_with_their_line),
		cmocka_unit_test(parse_reports_nul_control_and_bad_utf8),
		cmocka_unit_test(parse_keeps_hand_edited_layout_meaning),
		cmocka_unit_test(parse_rejects_names_that_look_like_guids_or_options),
		cmocka_unit_test(format_then_parse_gives_the_same_entry),
		cmocka_unit_test(dialect_gives_each_key_its_exact_line_through_libinih),
		cmocka_unit_test(dialect_reports_every_problem_on_its_line_and_keeps_counting),
		cmocka_unit_test(dialect_line_limit_is_at_the_byte),
		cmocka_unit_test(libinih_behaves_as_the_precheck_assumes),
		cmocka_unit_test(check_text_refuses_what_a_file_would_change),
		cmocka_unit_test(format_of_longest_values_stays_within_the_line_limit),
		DIR_TEST(load_of_missing_folder_gives_empty_table),
		DIR_TEST(load_fails_when_services_d_is_a_file),
		DIR_TEST(load_skips_broken_entries_and_keeps_the_others),
		DIR_TEST(owners_are_unresolved_after_load_and_resolved_once_asked),
		DIR_TEST(inbox_session_service_is_registered_out_of_the_box),
		DIR_TEST(inbox_integration_services_are_registered_with_short_names),
		DIR_TEST(inbox_service_disable_writes_a_file_and_enable_restores),
		DIR_TEST(inbox_service_file_cannot_change_its_port_or_name),
		DIR_TEST(add_cannot_take_an_inbox_name_or_port),
		DIR_TEST(load_reports_directory_named_like_an_entry),
		DIR_TEST(load_keeps_first_of_duplicate_names_and_ports),
		DIR_TEST(lookups_find_by_name_guid_and_port),
		DIR_TEST(add_picks_distinct_free_ports_in_range),
		DIR_TEST(add_derives_port_or_guid_and_writes_a_loadable_entry),
		DIR_TEST(add_rejects_invalid_definitions),
		DIR_TEST(add_reports_which_name_guid_or_port_is_taken),
		DIR_TEST(add_fails_cleanly_when_folder_is_not_writable),
		DIR_TEST(set_enabled_keeps_comments_and_inserts_missing_key),
		DIR_TEST(set_enabled_refuses_broken_and_missing_entries),
		DIR_TEST(remove_deletes_entries_even_broken_ones),
		DIR_TEST(writers_leave_no_temp_files_and_clean_stale_ones),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
