/* SPDX-License-Identifier: MIT */
/*
 * agent-conf.c - agent.conf with libinih, and the host-to-guest user map
 * (agent-conf.h).
 *
 * A host uid is written as plain digits, not "#1000": inih takes a line
 * that starts with '#' for a comment.
 *
 * CriticalUnits= is a list as systemd writes them: names separated by
 * blanks (commas accepted too); the key may repeat (or continue on an
 * indented line) to add more, and an empty value clears the list. A name
 * without a suffix means NAME.service, as for systemctl.
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent-conf.h"

struct load_ctx {
	struct aconf *c;
	char *err;
	size_t errsize;
	int bad; /* a handler failed: err says why (the line comes from inih) */
};

static int fail(struct load_ctx *x, const char *fmt, const char *a, const char *b)
{
	if (!x->bad)
		snprintf(x->err, x->errsize, fmt, a, b);
	x->bad = 1;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(v, no[i]) == 0)
			return *out = false, 0;
	}
	return -EINVAL;
}

static int session_key(struct load_ctx *x, const char *name, const char *value)
{
	bool *dst = strcasecmp(name, "Exec") == 0    ? &x->c->exec
		    : strcasecmp(name, "Shell") == 0 ? &x->c->shell
		    : strcasecmp(name, "Copy") == 0  ? &x->c->copy
						     : NULL;

	if (!dst)
		return fail(x, "unknown key '%s' in [Session] (Exec, Shell, Copy)%s", name, "");
	if (parse_bool(value, dst) < 0)
		return fail(x, "%s = '%s': want yes or no", name, value);
	return 1;
}

static int agent_key(struct load_ctx *x, const char *name, const char *value)
{
	char *end;
	unsigned long v;

	if (strcasecmp(name, "MaxSessions") != 0)
		return fail(x, "unknown key '%s' in [Agent] (MaxSessions)%s", name, "");
	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || *end || end == value || v < 1 || v > AGENT_MAX_SESSIONS_LIMIT)
		return fail(x, "MaxSessions = '%s': want a number in 1..4096%s", value, "");
	x->c->max_sessions = (unsigned)v;
	return 1;
}

/* Enabled = yes/no of section ("[Shutdown] (Enabled)" for the message). */
static int enabled_key(struct load_ctx *x, const char *section, bool *dst, const char *name,
		       const char *value)
{
	if (strcasecmp(name, "Enabled") != 0)
		return fail(x, "unknown key '%s' in %s", name, section);
	if (parse_bool(value, dst) < 0)
		return fail(x, "Enabled = '%s': want yes or no%s", value, "");
	return 1;
}

static bool unit_name_ok(const char *n, size_t len)
{
	if (len == 0 || len > AGENT_MAX_UNIT_NAME - strlen(".service"))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.\\@-",
			    n[i]))
			return false;
	return n[0] != '.' && n[0] != '@';
}

static void units_clear(struct aconf *c)
{
	for (size_t i = 0; i < c->ncritical; i++)
		free(c->critical[i]);
	free(c->critical);
	c->critical = NULL;
	c->ncritical = 0;
}

/* Appends one unit name of len bytes at n (".service" added without a
 * suffix). */
static int add_unit(struct load_ctx *x, const char *n, size_t len)
{
	struct aconf *c = x->c;
	char name[AGENT_MAX_UNIT_NAME + 1], **u;

	snprintf(name, sizeof(name), "%.*s", (int)(len < 64 ? len : 64), n);
	if (!unit_name_ok(n, len))
		return fail(x, "CriticalUnits: '%s' is not a unit name%s", name, "");
	snprintf(name, sizeof(name), "%.*s%s", (int)len, n, memchr(n, '.', len) ? "" : ".service");
	for (size_t i = 0; i < c->ncritical; i++)
		if (strcmp(c->critical[i], name) == 0)
			return 1;
	if (c->ncritical == AGENT_MAX_CRITICAL_UNITS)
		return fail(x, "CriticalUnits: more than %s units%s", "64", "");
	u = realloc(c->critical, (c->ncritical + 1) * sizeof(*u));
	if (!u)
		return fail(x, "out of memory%s%s", "", "");
	c->critical = u;
	if (!(c->critical[c->ncritical] = strdup(name)))
		return fail(x, "out of memory%s%s", "", "");
	c->ncritical++;
	return 1;
}

static int heartbeat_key(struct load_ctx *x, const char *name, const char *value)
{
	const char *p = value;

	if (strcasecmp(name, "CriticalUnits") != 0)
		return enabled_key(x, "[Heartbeat] (Enabled, CriticalUnits)", &x->c->hb_enabled,
				   name, value);
	if (!*value)
		units_clear(x->c);
	while (*(p += strspn(p, " \t,"))) {
		size_t len = strcspn(p, " \t,");

		if (!add_unit(x, p, len))
			return 0;
		p += len;
	}
	return 1;
}

/* A group as passwd/group files spell them: letters, digits, '_', '-',
 * '.', not starting with '-' (or all digits: a gid). */
static bool group_name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > AGENT_MAX_GROUP_NAME || n[0] == '-')
		return false;
	return strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
	       len;
}

static int kvp_key(struct load_ctx *x, const char *name, const char *value)
{
	char *dst = strcasecmp(name, "ReadGroup") == 0	  ? x->c->kvp_read_group
		    : strcasecmp(name, "WriteGroup") == 0 ? x->c->kvp_write_group
							  : NULL;

	if (!dst)
		return enabled_key(x, "[KVP] (Enabled, ReadGroup, WriteGroup)", &x->c->kvp_enabled,
				   name, value);
	if (*value && !group_name_ok(value))
		return fail(x, "%s = '%s': want a group name or gid (or nothing)", name, value);
	snprintf(dst, AGENT_MAX_GROUP_NAME + 1, "%s", value);
	return 1;
}

static int freeze_key(struct load_ctx *x, const char *name, const char *value)
{
	if (strcasecmp(name, "HookDir") != 0)
		return enabled_key(x, "[Freeze] (Enabled, HookDir)", &x->c->fz_enabled, name,
				   value);
	if (value[0] != '/' || strlen(value) > AGENT_MAX_PATH)
		return fail(x, "HookDir = '%s': want an absolute path of at most 255 bytes%s",
			    value, "");
	snprintf(x->c->fz_hook_dir, sizeof(x->c->fz_hook_dir), "%s", value);
	return 1;
}

static void map_free(struct aconf_map *m)
{
	for (size_t i = 0; i < m->nguests; i++)
		free(m->guests[i]);
	free(m->guests);
	free(m->host);
}

/* "a, b ,c" into m->guests; false on an empty name or no memory. */
static bool split_users(struct aconf_map *m, const char *value)
{
	char *copy = strdup(value), *rest = copy, *t;
	bool ok = copy != NULL;

	while (ok && (t = strsep(&rest, ",")) != NULL) {
		char **g;
		size_t len;

		t += strspn(t, " \t");
		len = strlen(t);
		while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
			t[--len] = '\0';
		g = realloc(m->guests, (m->nguests + 1) * sizeof(*g));
		ok = len > 0 && strpbrk(t, " \t:") == NULL && g != NULL;
		if (g)
			m->guests = g;
		if (ok)
			ok = (m->guests[m->nguests++] = strdup(t)) != NULL;
	}
	free(copy);
	return ok && m->nguests > 0;
}

static int users_key(struct load_ctx *x, const char *name, const char *value)
{
	struct aconf *c = x->c;
	struct aconf_map m = { .host = strdup(name) }, *maps;

	for (size_t i = 0; i < c->nmaps; i++)
		if (strcmp(c->maps[i].host, name) == 0) {
			free(m.host);
			return fail(x, "host user '%s' is mapped twice%s", name, "");
		}
	if (!m.host || !split_users(&m, value)) {
		map_free(&m);
		return fail(x, "%s = '%s': want guest user names separated by commas, or *", name,
			    value);
	}
	maps = realloc(c->maps, (c->nmaps + 1) * sizeof(*maps));
	if (!maps) {
		map_free(&m);
		return fail(x, "out of memory%s%s", "", "");
	}
	c->maps = maps;
	c->maps[c->nmaps++] = m;
	return 1;
}

/* [TimeSync] Enabled, TakeOver (yes/no), StepThreshold (seconds, 0.001-3600). */
static int timesync_key(struct load_ctx *x, const char *name, const char *value)
{
	char *end;
	double v;

	if (strcasecmp(name, "TakeOver") == 0) {
		if (parse_bool(value, &x->c->ts_takeover) < 0)
			return fail(x, "TakeOver = '%s': want yes or no%s", value, "");
		return 1;
	}
	if (strcasecmp(name, "StepThreshold") != 0)
		return enabled_key(x, "[TimeSync] (Enabled, TakeOver, StepThreshold)",
				   &x->c->ts_enabled, name, value);
	errno = 0;
	v = strtod(value, &end);
	if (errno || end == value || *end || !(v >= 0.001 && v <= 3600))
		return fail(x, "StepThreshold = '%s': want seconds in 0.001..3600%s", value, "");
	x->c->ts_step_threshold = v;
	return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *x = user;

	if (!name)
		return 1; /* a section header alone */
	if (strcasecmp(section, "Session") == 0)
		return session_key(x, name, value);
	if (strcasecmp(section, "Agent") == 0)
		return agent_key(x, name, value);
	if (strcasecmp(section, "Users") == 0)
		return users_key(x, name, value);
	if (strcasecmp(section, "Heartbeat") == 0)
		return heartbeat_key(x, name, value);
	if (strcasecmp(section, "Shutdown") == 0)
		return enabled_key(x, "[Shutdown] (Enabled)", &x->c->shutdown_enabled, name, value);
	if (strcasecmp(section, "KVP") == 0)
		return kvp_key(x, name, value);
	if (strcasecmp(section, "Freeze") == 0)
		return freeze_key(x, name, value);
	if (strcasecmp(section, "TimeSync") == 0)
		return timesync_key(x, name, value);
	return fail(x,
		    "unknown section [%s] (Agent, Session, Users, Heartbeat, Shutdown, KVP, "
		    "Freeze, TimeSync)%s",
		    section, "");
}

void aconf_defaults(struct aconf *c)
{
	*c = (struct aconf){
		.exec = true,
		.shell = true,
		.copy = true,
		.max_sessions = AGENT_MAX_SESSIONS_DEFAULT,
		.hb_enabled = true,
		.shutdown_enabled = true,
		.kvp_enabled = true,
		.fz_enabled = true,
		.fz_hook_dir = AGENT_FREEZE_HOOK_DIR,
		.ts_enabled = true,
		.ts_step_threshold = 1.0,
	};
}

void aconf_clear(struct aconf *c)
{
	for (size_t i = 0; i < c->nmaps; i++)
		map_free(&c->maps[i]);
	free(c->maps);
	units_clear(c);
	aconf_defaults(c);
}

int aconf_load(const char *path, struct aconf *c, char *err, size_t errsize)
{
	char why[256] = "";
	struct load_ctx x = { .c = c, .err = why, .errsize = sizeof(why) };
	FILE *fp;
	int line;

	aconf_defaults(c);
	fp = fopen(path, "re");
	if (!fp) {
		int e = errno;

		if (e == ENOENT)
			return 0;
		snprintf(err, errsize, "%s: cannot read: %s", path, strerror(e));
		return -e;
	}
	line = ini_parse_file(fp, handler, &x);
	fclose(fp);
	if (line == 0 && !x.bad)
		return 0;
	if (!x.bad)
		snprintf(why, sizeof(why), "not an INI line");
	snprintf(err, errsize, "%s:%d: %s", path, line, why);
	aconf_clear(c);
	return -EINVAL;
}

static bool is_uid_key(const char *k, uint32_t uid)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u", uid);
	return strcmp(k, buf) == 0;
}

const struct aconf_map *aconf_map_for(const struct aconf *c, const char *host_user,
				      uint32_t host_uid)
{
	if (host_user && *host_user)
		for (size_t i = 0; i < c->nmaps; i++)
			if (strcmp(c->maps[i].host, host_user) == 0)
				return &c->maps[i];
	for (size_t i = 0; i < c->nmaps; i++)
		if (is_uid_key(c->maps[i].host, host_uid))
			return &c->maps[i];
	return NULL;
}

int aconf_may_run_as(const struct aconf *c, const char *host_user, uint32_t host_uid,
		     const char *guest)
{
	const struct aconf_map *m = aconf_map_for(c, host_user, host_uid);

	if (!m)
		return host_uid == 0 ? 0 : -EPERM;
	for (size_t i = 0; i < m->nguests; i++)
		if (strcmp(m->guests[i], "*") == 0 || strcmp(m->guests[i], guest) == 0)
			return 0;
	return -EPERM;
}

const char *aconf_default_user(const struct aconf *c, const char *host_user, uint32_t host_uid)
{
	const struct aconf_map *m = aconf_map_for(c, host_user, host_uid);

	if (!m)
		return host_uid == 0 ? "root" : NULL;
	if (strcmp(m->guests[0], "*") != 0)
		return m->guests[0];
	if (host_uid == 0)
		return "root";
	return host_user && *host_user ? host_user : NULL;
}
