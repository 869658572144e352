/* SPDX-License-Identifier: MIT */
/*
 * agent-systemd.c - systemd and logind over sd-bus (agent-systemd.h).
 *
 * logind's flags: PowerOffWithFlags() and friends exist since systemd 248
 * (Debian 12 has 252). SD_LOGIND_ROOT_CHECK_INHIBITORS makes logind refuse
 * root too while a block inhibitor is held, closing the window between our
 * ListInhibitors and the call. With force we pass no flag: root, holding
 * CAP_SYS_BOOT, goes past block inhibitors (logind checks the capability
 * before polkit); SD_LOGIND_SKIP_INHIBITORS only came in systemd 256.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-systemd.h"
#include "ic.h"

#ifdef HAVE_LIBSYSTEMD

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#define SD_LOGIND_ROOT_CHECK_INHIBITORS (UINT64_C(1) << 0)

#define MGR_DEST  "org.freedesktop.systemd1"
#define MGR_PATH  "/org/freedesktop/systemd1"
#define MGR_IFACE "org.freedesktop.systemd1.Manager"
#define LD_DEST	  "org.freedesktop.login1"
#define LD_PATH	  "/org/freedesktop/login1"
#define LD_IFACE  "org.freedesktop.login1.Manager"

struct asys {
	sd_bus *mgr;   /* systemd: private socket or system bus */
	sd_bus *login; /* the system bus, for logind */
};

struct asys *asys_new(void)
{
	if (sd_booted() <= 0)
		return NULL;
	return calloc(1, sizeof(struct asys));
}

struct asys *asys_free(struct asys *s)
{
	if (s) {
		sd_bus_flush_close_unref(s->mgr);
		sd_bus_flush_close_unref(s->login);
		free(s);
	}
	return NULL;
}

static int open_private(sd_bus **out)
{
	sd_bus *b = NULL;
	int r = sd_bus_new(&b);

	if (r >= 0)
		r = sd_bus_set_address(b, "unix:path=/run/systemd/private");
	if (r >= 0)
		r = sd_bus_start(b);
	if (r < 0) {
		sd_bus_unref(b);
		return r;
	}
	*out = b;
	return 0;
}

static int manager(struct asys *s, sd_bus **out)
{
	int r = 0;

	if (!s->mgr && open_private(&s->mgr) < 0)
		r = sd_bus_open_system(&s->mgr);
	if (r < 0)
		return s->mgr = NULL, r;
	sd_bus_set_method_call_timeout(s->mgr, ASYS_CALL_TIMEOUT_MS * 1000ULL);
	*out = s->mgr;
	return 0;
}

static int logind(struct asys *s, sd_bus **out)
{
	int r = 0;

	if (!s->login)
		r = sd_bus_open_system(&s->login);
	if (r < 0)
		return s->login = NULL, -ENOENT;
	sd_bus_set_method_call_timeout(s->login, ASYS_CALL_TIMEOUT_MS * 1000ULL);
	*out = s->login;
	return 0;
}

/* After a failed call: drop a connection that broke (reopened next time);
 * the errno of the call. */
static int failed(sd_bus **bus, int r)
{
	if (*bus && !sd_bus_is_open(*bus))
		*bus = sd_bus_flush_close_unref(*bus);
	return r;
}

/* -ENOENT when the call failed because logind is not there: not
 * running, or its activation failed (masked, as in our Debian test
 * image). */
static int no_logind(const sd_bus_error *e, int r)
{
	if (r >= 0 || !e->name)
		return r;
	if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN,
				   SD_BUS_ERROR_NAME_HAS_NO_OWNER) ||
	    strncmp(e->name, "org.freedesktop.DBus.Error.Spawn.", 33) == 0 ||
	    strncmp(e->name, "org.freedesktop.systemd1.", 25) == 0)
		return -ENOENT;
	return r;
}

static int get_string(sd_bus *b, const char *path, const char *iface, const char *prop, char *buf,
		      size_t size)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char *v = NULL;
	int r = sd_bus_get_property_string(b, MGR_DEST, path, iface, prop, &e, &v);

	sd_bus_error_free(&e);
	if (r < 0)
		return r;
	snprintf(buf, size, "%s", v);
	free(v);
	return 0;
}

int asys_system_state(struct asys *s, char *buf, size_t size)
{
	sd_bus *b;
	int r = manager(s, &b);

	if (r < 0)
		return r;
	r = get_string(b, MGR_PATH, MGR_IFACE, "SystemState", buf, size);
	return r < 0 ? failed(&s->mgr, r) : 0;
}

int asys_failed_units(struct asys *s, void (*each)(void *ctx, const char *unit), void *ctx)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	const char *id, *x;
	uint32_t u;
	sd_bus *b;
	int r = manager(s, &b), n = 0;

	if (r < 0)
		return r;
	r = sd_bus_call_method(b, MGR_DEST, MGR_PATH, MGR_IFACE, "ListUnitsFiltered", &e, &m, "as",
			       1, "failed");
	sd_bus_error_free(&e);
	if (r >= 0)
		r = sd_bus_message_enter_container(m, 'a', "(ssssssouso)");
	while (r >= 0 && (r = sd_bus_message_read(m, "(ssssssouso)", &id, &x, &x, &x, &x, &x, &x,
						  &u, &x, &x)) > 0) {
		each(ctx, id);
		n++;
	}
	sd_bus_message_unref(m);
	return r < 0 ? failed(&s->mgr, r) : n;
}

int asys_unit_state(struct asys *s, const char *unit, char *buf, size_t size)
{
	char *path = NULL;
	sd_bus *b;
	int r = manager(s, &b);

	if (r < 0)
		return r;
	r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, &path);
	if (r < 0)
		return r;
	r = get_string(b, path, "org.freedesktop.systemd1.Unit", "ActiveState", buf, size);
	free(path);
	return r < 0 ? failed(&s->mgr, r) : 0;
}

/* Whether a colon-separated "what" list holds "shutdown". */
static bool covers_shutdown(const char *what)
{
	size_t n = strlen("shutdown");

	for (const char *p = what; p; p = strchr(p, ':'), p = p ? p + 1 : NULL)
		if (strncmp(p, "shutdown", n) == 0 && (p[n] == ':' || p[n] == '\0'))
			return true;
	return false;
}

int asys_blockers(struct asys *s, char **out, size_t max)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	const char *what, *who, *why, *mode;
	uint32_t uid, pid;
	size_t n = 0;
	sd_bus *b;
	int r = logind(s, &b);

	if (r < 0)
		return r;
	r = sd_bus_call_method(b, LD_DEST, LD_PATH, LD_IFACE, "ListInhibitors", &e, &m, "");
	r = no_logind(&e, r);
	sd_bus_error_free(&e);
	if (r >= 0)
		r = sd_bus_message_enter_container(m, 'a', "(ssssuu)");
	while (r >= 0 &&
	       (r = sd_bus_message_read(m, "(ssssuu)", &what, &who, &why, &mode, &uid, &pid)) > 0) {
		if (strcmp(mode, "block") != 0 || !covers_shutdown(what) || n == max)
			continue;
		if (asprintf(&out[n], "%s (uid %u, pid %u): %s", who, uid, pid, why) < 0) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	sd_bus_message_unref(m);
	if (r < 0) {
		while (n)
			free(out[--n]);
		return failed(&s->login, r);
	}
	return (int)n;
}

int asys_wall(struct asys *s, const char *msg)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus *b;
	int r = logind(s, &b);

	if (r < 0)
		return r;
	r = sd_bus_call_method(b, LD_DEST, LD_PATH, LD_IFACE, "SetWallMessage", &e, NULL, "sb", msg,
			       1);
	r = no_logind(&e, r);
	sd_bus_error_free(&e);
	return r < 0 ? failed(&s->login, r) : 0;
}

static const char *const methods[] = {
	[IC_SD_POWEROFF] = "PowerOff", [IC_SD_REBOOT] = "Reboot", [IC_SD_HALT] = "Halt"
};
static const char *const targets[] = { [IC_SD_POWEROFF] = "poweroff.target",
				       [IC_SD_REBOOT] = "reboot.target",
				       [IC_SD_HALT] = "halt.target" };

static int logind_power(struct asys *s, uint32_t action, bool force, char *why, size_t whysize)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char method[32];
	sd_bus *b;
	int r = logind(s, &b);

	if (r < 0)
		return r;
	snprintf(method, sizeof(method), "%sWithFlags", methods[action]);
	r = sd_bus_call_method(b, LD_DEST, LD_PATH, LD_IFACE, method, &e, NULL, "t",
			       force ? (uint64_t)0 : SD_LOGIND_ROOT_CHECK_INHIBITORS);
	if (r < 0 && sd_bus_error_has_name(&e, SD_BUS_ERROR_UNKNOWN_METHOD)) {
		sd_bus_error_free(&e);
		r = sd_bus_call_method(b, LD_DEST, LD_PATH, LD_IFACE, methods[action], &e, NULL,
				       "b", 0);
	}
	r = no_logind(&e, r);
	if (r < 0 && r != -ENOENT) {
		snprintf(why, whysize, "logind %s: %s", methods[action],
			 e.message ? e.message : strerror(-r));
		if (e.name && strstr(e.name, "Inhibitor"))
			r = -EBUSY;
	}
	sd_bus_error_free(&e);
	return r < 0 ? failed(&s->login, r) : 0;
}

int asys_power(struct asys *s, uint32_t action, bool force, char *why, size_t whysize)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus *b;
	int r;

	if (action < IC_SD_POWEROFF || action > IC_SD_HALT)
		return -EINVAL;
	r = logind_power(s, action, force, why, whysize);
	if (r != -ENOENT)
		return r;
	/* No logind (no D-Bus daemon): what systemctl does without it. */
	r = manager(s, &b);
	if (r < 0) {
		snprintf(why, whysize, "cannot reach systemd: %s", strerror(-r));
		return r;
	}
	r = sd_bus_call_method(b, MGR_DEST, MGR_PATH, MGR_IFACE, "StartUnit", &e, NULL, "ss",
			       targets[action], "replace-irreversibly");
	if (r < 0)
		snprintf(why, whysize, "systemd StartUnit %s: %s", targets[action],
			 e.message ? e.message : strerror(-r));
	sd_bus_error_free(&e);
	return r < 0 ? failed(&s->mgr, r) : 0;
}

#else /* !HAVE_LIBSYSTEMD: the static agent */

struct asys *asys_new(void)
{
	return NULL;
}

struct asys *asys_free(struct asys *s)
{
	return NULL;
}

int asys_system_state(struct asys *s, char *buf, size_t size)
{
	return -ENOSYS;
}

int asys_failed_units(struct asys *s, void (*each)(void *ctx, const char *unit), void *ctx)
{
	return -ENOSYS;
}

int asys_unit_state(struct asys *s, const char *unit, char *buf, size_t size)
{
	return -ENOSYS;
}

int asys_blockers(struct asys *s, char **out, size_t max)
{
	return -ENOENT;
}

int asys_wall(struct asys *s, const char *msg)
{
	return -ENOENT;
}

int asys_power(struct asys *s, uint32_t action, bool force, char *why, size_t whysize)
{
	snprintf(why, whysize, "built without systemd support");
	return -ENOSYS;
}

#endif
