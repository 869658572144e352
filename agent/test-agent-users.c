/* SPDX-License-Identifier: MIT */
/*
 * test-agent-users.c - the passwd and group readers on temporary files:
 * lookups by name and uid, defaults for empty fields, malformed and NIS
 * lines skipped, supplementary groups once each, primary first.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent-users.h"

static char pw[] = "/tmp/test-agent-passwd.XXXXXX";
static char gr[] = "/tmp/test-agent-group.XXXXXX";

static void write_tmp(char *tmpl, const char *text)
{
	int fd = mkstemp(tmpl);
	FILE *fp;

	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
}

static int setup(void **state)
{
	write_tmp(pw, "root:x:0:0:root:/root:/bin/sh\n"
		      "broken line\n"
		      "+nis:x:5:5::/:/bin/sh\n"
		      "bad:x:notanumber:1::/home/bad:/bin/sh\n"
		      "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
		      "1001:x:1002:1002::/home/n:/bin/sh\n"
		      "bob:x:1001:100:::\n"
		      "long:x:1003:1003:" /* a long gecos */
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx:"
		      "/home/long:/bin/sh");
	write_tmp(gr, "root:x:0:\n"
		      "users:x:100:alice,bob\n"
		      "wheel:x:10:carol,alice\n"
		      "junk\n"
		      "again:x:10:alice\n"
		      "audio:x:29:bobby\n");
	return 0;
}

static int teardown(void **state)
{
	unlink(pw);
	unlink(gr);
	return 0;
}

static void users_found_by_name(void **state)
{
	struct au_user u;

	assert_int_equal(au_user_find(pw, "alice", &u), 0);
	assert_string_equal(u.name, "alice");
	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 1000);
	assert_string_equal(u.home, "/home/alice");
	assert_string_equal(u.shell, "/bin/bash");
	au_user_clear(&u);
	/* empty home and shell get / and /bin/sh; the last line has no newline */
	assert_int_equal(au_user_find(pw, "bob", &u), 0);
	assert_string_equal(u.home, "/");
	assert_string_equal(u.shell, "/bin/sh");
	au_user_clear(&u);
	assert_int_equal(au_user_find(pw, "long", &u), 0);
	assert_string_equal(u.home, "/home/long");
	au_user_clear(&u);
}

static void digits_are_a_name_first_then_a_uid(void **state)
{
	struct au_user u;

	assert_int_equal(au_user_find(pw, "1001", &u), 0);
	assert_string_equal(u.name, "1001"); /* a user named 1001 wins */
	au_user_clear(&u);
	assert_int_equal(au_user_find(pw, "1000", &u), 0);
	assert_string_equal(u.name, "alice");
	au_user_clear(&u);
	assert_int_equal(au_user_by_uid(pw, 0, &u), 0);
	assert_string_equal(u.name, "root");
	au_user_clear(&u);
}

static void unknown_malformed_and_nis_entries_are_not_found(void **state)
{
	struct au_user u;

	assert_int_equal(au_user_find(pw, "nobody", &u), -ENOENT);
	assert_int_equal(au_user_find(pw, "bad", &u), -ENOENT);
	assert_int_equal(au_user_find(pw, "+nis", &u), -ENOENT);
	assert_int_equal(au_user_find(pw, "broken line", &u), -ENOENT);
	assert_int_equal(au_user_find(pw, "99999", &u), -ENOENT);
	assert_int_equal(au_user_find("/nonexistent/passwd", "root", &u), -ENOENT);
}

static void groups_primary_first_each_once(void **state)
{
	gid_t g[8];

	assert_int_equal(au_groups(gr, "alice", 1000, g, 8), 3);
	assert_int_equal(g[0], 1000);
	assert_int_equal(g[1], 100);
	assert_int_equal(g[2], 10);
	/* members match whole names only; the primary is not repeated */
	assert_int_equal(au_groups(gr, "bob", 100, g, 8), 1);
	assert_int_equal(g[0], 100);
	/* at most max */
	assert_int_equal(au_groups(gr, "alice", 1000, g, 2), 2);
	/* no group file: only the primary group, and the error */
	assert_int_equal(au_groups("/nonexistent/group", "alice", 7, g, 8), -ENOENT);
	assert_int_equal(g[0], 7);
}

static void group_gid_by_name_or_digits(void **state)
{
	gid_t g = 0;

	assert_int_equal(au_group_gid(gr, "wheel", &g), 0);
	assert_int_equal(g, 10);
	assert_int_equal(au_group_gid(gr, "users", &g), 0);
	assert_int_equal(g, 100);
	assert_int_equal(au_group_gid(gr, "nope", &g), -ENOENT);
	assert_int_equal(au_group_gid(gr, "junk", &g), -ENOENT); /* a malformed line */
	/* digits: the gid, listed or not, also without a group file */
	assert_int_equal(au_group_gid(gr, "4242", &g), 0);
	assert_int_equal(g, 4242);
	assert_int_equal(au_group_gid("/nonexistent/group", "77", &g), 0);
	assert_int_equal(g, 77);
	assert_int_equal(au_group_gid("/nonexistent/group", "wheel", &g), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(users_found_by_name),
		cmocka_unit_test(digits_are_a_name_first_then_a_uid),
		cmocka_unit_test(unknown_malformed_and_nis_entries_are_not_found),
		cmocka_unit_test(groups_primary_first_each_once),
		cmocka_unit_test(group_gid_by_name_or_digits),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
