/* SPDX-License-Identifier: MIT */
/*
 * test-agent-conf.c - agent.conf: defaults, features, the user map and its
 * policy, the integration services' settings, and errors that name the
 * file and line.
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

#include "agent-conf.h"

static char path[] = "/tmp/test-agent-conf.XXXXXX";

static int load_text(const char *text, struct aconf *c, char *err, size_t size)
{
	int fd = mkstemp(path);
	FILE *fp;
	int r;

	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
	r = aconf_load(path, c, err, size);
	unlink(path);
	strcpy(path, "/tmp/test-agent-conf.XXXXXX");
	return r;
}

static void missing_file_gives_the_defaults(void **state)
{
	struct aconf c;
	char err[256];

	assert_int_equal(aconf_load("/nonexistent/agent.conf", &c, err, sizeof(err)), 0);
	assert_true(c.exec && c.shell && c.copy);
	assert_int_equal(c.max_sessions, AGENT_MAX_SESSIONS_DEFAULT);
	assert_int_equal(aconf_may_run_as(&c, "root", 0, "bob"), 0);
	assert_int_equal(aconf_may_run_as(&c, "alice", 1000, "alice"), -EPERM);
	assert_string_equal(aconf_default_user(&c, "root", 0), "root");
	assert_null(aconf_default_user(&c, "alice", 1000));
	assert_true(c.hb_enabled);
	assert_true(c.shutdown_enabled);
	assert_int_equal(c.ncritical, 0);
	assert_true(c.kvp_enabled);
	assert_string_equal(c.kvp_read_group, "");
	assert_string_equal(c.kvp_write_group, "");
	aconf_clear(&c);
}

static void features_and_limits_are_read(void **state)
{
	struct aconf c;
	char err[256];

	assert_int_equal(load_text("[Session]\nExec = no\nShell=off\nCopy = yes\n"
				   "[Agent]\nMaxSessions = 7\n",
				   &c, err, sizeof(err)),
			 0);
	assert_false(c.exec);
	assert_false(c.shell);
	assert_true(c.copy);
	assert_int_equal(c.max_sessions, 7);
	aconf_clear(&c);
}

static void user_map_by_name_and_uid(void **state)
{
	struct aconf c;
	char err[256];

	assert_int_equal(load_text("[Users]\nalice = alice, www-data\n1001 = bob\nops = *\n"
				   "root = root\n",
				   &c, err, sizeof(err)),
			 0);
	assert_int_equal(aconf_may_run_as(&c, "alice", 1000, "alice"), 0);
	assert_int_equal(aconf_may_run_as(&c, "alice", 1000, "www-data"), 0);
	assert_int_equal(aconf_may_run_as(&c, "alice", 1000, "root"), -EPERM);
	assert_string_equal(aconf_default_user(&c, "alice", 1000), "alice");
	/* uid key, for a host user with no name or another name */
	assert_int_equal(aconf_may_run_as(&c, "", 1001, "bob"), 0);
	assert_int_equal(aconf_may_run_as(&c, "carol", 1001, "bob"), 0);
	assert_string_equal(aconf_default_user(&c, "", 1001), "bob");
	/* * = any; the default is the host user's own name */
	assert_int_equal(aconf_may_run_as(&c, "ops", 1002, "anyone"), 0);
	assert_string_equal(aconf_default_user(&c, "ops", 1002), "ops");
	/* a line for root replaces its default */
	assert_int_equal(aconf_may_run_as(&c, "root", 0, "root"), 0);
	assert_int_equal(aconf_may_run_as(&c, "root", 0, "alice"), -EPERM);
	/* unmapped users: nothing */
	assert_int_equal(aconf_may_run_as(&c, "mallory", 1003, "mallory"), -EPERM);
	assert_null(aconf_default_user(&c, "mallory", 1003));
	aconf_clear(&c);
}

static void integration_services_settings_are_read(void **state)
{
	struct aconf c;
	char err[256];

	assert_int_equal(load_text("[Heartbeat]\nEnabled = no\n"
				   "CriticalUnits = nginx postgresql@15-main.service\n"
				   "CriticalUnits = app.socket, nginx\n"
				   "[Shutdown]\nEnabled = off\n",
				   &c, err, sizeof(err)),
			 0);
	assert_false(c.hb_enabled);
	assert_false(c.shutdown_enabled);
	assert_int_equal(c.ncritical, 3);
	assert_string_equal(c.critical[0], "nginx.service"); /* no suffix: .service */
	assert_string_equal(c.critical[1], "postgresql@15-main.service");
	assert_string_equal(c.critical[2], "app.socket"); /* nginx once */
	aconf_clear(&c);
	/* an empty value clears the list */
	assert_int_equal(load_text("[Heartbeat]\nCriticalUnits = a b\nCriticalUnits =\n"
				   "CriticalUnits = c\n",
				   &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.ncritical, 1);
	assert_string_equal(c.critical[0], "c.service");
	aconf_clear(&c);
}

static void kvp_settings_are_read(void **state)
{
	struct aconf c;
	char err[256];

	assert_int_equal(load_text("[KVP]\nEnabled = no\nReadGroup = kvp-read\n"
				   "WriteGroup = 1001\n",
				   &c, err, sizeof(err)),
			 0);
	assert_false(c.kvp_enabled);
	assert_string_equal(c.kvp_read_group, "kvp-read");
	assert_string_equal(c.kvp_write_group, "1001");
	aconf_clear(&c);
	/* empty: unset again */
	assert_int_equal(load_text("[kvp]\nReadGroup = a\nReadGroup =\n", &c, err, sizeof(err)), 0);
	assert_true(c.kvp_enabled);
	assert_string_equal(c.kvp_read_group, "");
	aconf_clear(&c);
}

static void freeze_settings_are_read(void **state)
{
	struct aconf c;
	char err[256];

	assert_int_equal(load_text("", &c, err, sizeof(err)), 0);
	assert_true(c.fz_enabled);
	assert_string_equal(c.fz_hook_dir, "/etc/vmsvc/freeze-hook.d");
	aconf_clear(&c);
	assert_int_equal(
		load_text("[Freeze]\nEnabled = no\nHookDir = /srv/hooks\n", &c, err, sizeof(err)),
		0);
	assert_false(c.fz_enabled);
	assert_string_equal(c.fz_hook_dir, "/srv/hooks");
	aconf_clear(&c);
	assert_int_equal(load_text("[Freeze]\nHookDir = hooks\n", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "want an absolute path"));
	aconf_clear(&c);
}

static void timesync_settings_are_read(void **state)
{
	char err[256];
	struct aconf c;

	assert_int_equal(load_text("", &c, err, sizeof(err)), 0);
	assert_true(c.ts_enabled);
	assert_false(c.ts_takeover);
	assert_true(c.ts_step_threshold == 1.0);
	aconf_clear(&c);
	assert_int_equal(load_text("[TimeSync]\nEnabled = no\nTakeOver = yes\n"
				   "StepThreshold = 0.128\n",
				   &c, err, sizeof(err)),
			 0);
	assert_false(c.ts_enabled);
	assert_true(c.ts_takeover);
	assert_true(c.ts_step_threshold == 0.128);
	aconf_clear(&c);
}

static void broken_files_name_file_and_line(void **state)
{
	static const struct {
		const char *text;
		int line;
		const char *needle;
	} cases[] = {
		{ "[Session]\nExec = maybe\n", 2, "Exec = 'maybe': want yes or no" },
		{ "\n\n[Session]\nFly = yes\n", 4, "unknown key 'Fly'" },
		{ "[Nope]\nx = 1\n", 2, "unknown section [Nope]" },
		{ "[Users]\nalice = alice,,bob\n", 2, "guest user names" },
		{ "[Users]\nalice = a\nalice = b\n", 3, "mapped twice" },
		{ "[Agent]\nMaxSessions = 0\n", 2, "MaxSessions" },
		{ "[Session\n", 1, "not an INI line" },
		{ "[Heartbeat]\nEnabled = sometimes\n", 2, "Enabled = 'sometimes'" },
		{ "[Heartbeat]\nCriticalUnits = ok.service bad/unit\n", 2,
		  "'bad/unit' is not a unit" },
		{ "[Shutdown]\nForce = yes\n", 2, "unknown key 'Force' in [Shutdown]" },
		{ "[KVP]\nReadGroup = a:b\n", 2, "ReadGroup = 'a:b': want a group" },
		{ "[KVP]\nWriteGroup = -x\n", 2, "WriteGroup = '-x'" },
		{ "[KVP]\nPools = 3\n", 2, "unknown key 'Pools' in [KVP]" },
		{ "[TimeSync]\nStepThreshold = 0\n", 2, "StepThreshold = '0'" },
		{ "[TimeSync]\nStepThreshold = 1s\n", 2, "want seconds" },
		{ "[TimeSync]\nTakeOver = often\n", 2, "TakeOver = 'often'" },
		{ "[TimeSync]\nPoll = 2\n", 2, "unknown key 'Poll' in [TimeSync]" },
	};
	char err[256], want[64];
	struct aconf c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(load_text(cases[i].text, &c, err, sizeof(err)), -EINVAL);
		snprintf(want, sizeof(want), ":%d: ", cases[i].line);
		if (!strstr(err, want) || !strstr(err, cases[i].needle))
			fail_msg("case %zu: got '%s'", i, err);
		assert_true(strstr(err, "/tmp/test-agent-conf.") == err);
		/* a failed load leaves the defaults */
		assert_true(c.exec);
		aconf_clear(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(missing_file_gives_the_defaults),
		cmocka_unit_test(features_and_limits_are_read),
		cmocka_unit_test(user_map_by_name_and_uid),
		cmocka_unit_test(integration_services_settings_are_read),
		cmocka_unit_test(kvp_settings_are_read),
		cmocka_unit_test(freeze_settings_are_read),
		cmocka_unit_test(timesync_settings_are_read),
		cmocka_unit_test(broken_files_name_file_and_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
