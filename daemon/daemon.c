/* SPDX-License-Identifier: MIT */
/*
 * daemon.c - vmsvcd's context: folders, the registry kept as on disk, the
 * service counters, the tick timer and hooks, and the listening helper.
 *
 * Registry freshness: an inotify watch on services.d sees renames (the
 * CLI's atomic writes) and in-place edits alike. The event is queued by the
 * kernel before the writer's syscall returns, so the connect path asks the
 * inotify fd (one non-blocking read) and reloads when anything is queued:
 * a change is in force for the very next connection after the command
 * that made it returned. The poll handle on the same fd reloads in the
 * background when no connection asks (in-place edits within one loop
 * iteration). Without inotify, the folder's mtime is compared instead.
 */
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "daemon.h"
#include "log.h"
#include "registry.h"
#include "util.h"

#define REG_EVENTS                                                                          \
	(IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | \
	 IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF)

char *path_join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		return NULL;
	return p;
}

struct counters *daemon_service_counters(struct daemon *d, const hv_guid_t *id)
{
	static struct counters sink;
	struct counters *c = counters_service(&d->svc_counts, id);

	return c ? c : &sink;
}

/* User= and Group= are looked up here, once per load (the lookups may
 * block), not for every listen. */
static void resolve_owners(struct reg_table *t)
{
	reg_resolve_owners(t);
	for (size_t i = 0; i < reg_count(t); i++) {
		const struct reg_service *s = reg_at(t, i);

		if (s->user && s->uid == REG_NO_ID)
			log_warn("service '%s': User=%s is not a known user (ignored until the "
				 "registry is reloaded)",
				 s->name, s->user);
		if (s->group && s->gid == REG_NO_ID)
			log_warn("service '%s': Group=%s is not a known group (ignored until the "
				 "registry is reloaded)",
				 s->name, s->group);
	}
}

static void reg_load_now(struct daemon *d)
{
	struct reg_table *t = NULL;
	int r = reg_load(d->config_dir, &t);

	if (r < 0) {
		log_err("cannot read the service registry in %s/services.d: %s; keeping the "
			"previous one",
			d->config_dir, strerror(-r));
		return;
	}
	const struct conf_problems *pr = reg_problems(t);
	for (size_t i = 0; i < pr->count; i++)
		log_warn("%s:%u: %s (entry ignored)", pr->items[i].file, pr->items[i].line,
			 pr->items[i].message);
	resolve_owners(t);
	reg_table_free(d->reg);
	d->reg = t;
	d->reg_loaded = true;
	log_debug("registry loaded: %zu service(s)", reg_count(t));
}

static bool reg_stamp_changed(struct daemon *d);

/* After the watched folder itself went (IN_IGNORED): watch it again if it
 * is back, else fall back to its mtime until it is. */
static void reg_rewatch(struct daemon *d)
{
	_cleanup_free_ char *dir = path_join(d->config_dir, "services.d");

	d->reg_watch_lost = !dir || inotify_add_watch(d->reg_inotify, dir, REG_EVENTS) < 0;
}

/* Drains the inotify queue; whether anything was in it (or it broke). */
static bool reg_events_pending(struct daemon *d)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false, lost = false;
	ssize_t n;

	while ((n = read(d->reg_inotify, buf, sizeof(buf))) > 0) {
		any = true;
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
			const struct inotify_event *ev = (const void *)(buf + off);
			lost |= (ev->mask & IN_IGNORED) != 0;
			off += (ssize_t)sizeof(*ev) + ev->len;
		}
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		any = true; /* cannot tell: reload to be safe */
	if (lost || d->reg_watch_lost)
		reg_rewatch(d);
	if (d->reg_watch_lost)
		any |= reg_stamp_changed(d);
	return any;
}

/* Whether services.d's mtime moved since the last load (no inotify). */
static bool reg_stamp_changed(struct daemon *d)
{
	_cleanup_free_ char *dir = path_join(d->config_dir, "services.d");
	struct stat st;
	struct timespec now = { 0 };

	if (dir && stat(dir, &st) == 0)
		now = st.st_mtim;
	if (d->reg_loaded && now.tv_sec == d->reg_stamp.tv_sec &&
	    now.tv_nsec == d->reg_stamp.tv_nsec)
		return false;
	d->reg_stamp = now;
	return true;
}

void daemon_refresh_registry(struct daemon *d)
{
	bool changed = d->reg_inotify >= 0 ? reg_events_pending(d) : reg_stamp_changed(d);

	if (changed || !d->reg_loaded)
		reg_load_now(d);
}

void daemon_reload_registry(struct daemon *d)
{
	if (d->reg_inotify >= 0)
		reg_events_pending(d);
	else
		reg_stamp_changed(d);
	reg_load_now(d);
}

static void on_reg_event(uv_poll_t *p, int status, int events)
{
	(void)status, (void)events;
	daemon_refresh_registry(p->data);
}

/* Watches services.d (created if missing). Without inotify, changes are
 * still seen through the folder's mtime on each connection. */
static void reg_watch(struct daemon *d)
{
	_cleanup_free_ char *dir = path_join(d->config_dir, "services.d");
	_cleanup_close_ int fd = -1;

	d->reg_inotify = -1;
	if (!dir)
		return;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		log_warn("cannot create %s: %s", dir, strerror(errno));
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0 || inotify_add_watch(fd, dir, REG_EVENTS) < 0 ||
	    uv_poll_init(d->loop, &d->reg_poll, fd) < 0) {
		log_warn("cannot watch %s (%s): registry changes are seen by its mtime only", dir,
			 strerror(errno));
		return;
	}
	d->reg_poll.data = d;
	uv_poll_start(&d->reg_poll, UV_READABLE, on_reg_event);
	d->reg_inotify = TAKE_FD(fd);
}

void daemon_on_tick(struct daemon *d, struct daemon_tick *t)
{
	list_add_tail(&t->link, &d->ticks);
}

void daemon_untick(struct daemon_tick *t)
{
	list_del(&t->link);
}

static void on_tick(uv_timer_t *timer)
{
	struct daemon *d = timer->data;
	struct list_head *p, *tmp;
	uint64_t now = now_ms();

	list_for_each_safe (p, tmp, &d->ticks) {
		struct daemon_tick *t = list_entry(p, struct daemon_tick, link);
		t->fn(t->opaque, now);
	}
}

static int make_runtime_dirs(struct daemon *d)
{
	struct group *g = getgrnam("vmsvc");

	d->sock_gid = g ? g->gr_gid : 0;
	d->sock_mode = g ? 0660 : 0600;
	if (!g)
		log_info("no 'vmsvc' group: sockets are for root only");
	if (mkdir(d->runtime_dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mkdir(d->vms_dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int daemon_init(struct daemon *d)
{
	int r;

	list_init(&d->vms);
	list_init(&d->routes);
	list_init(&d->ticks);
	d->reg_inotify = -1;
	r = make_runtime_dirs(d);
	if (r < 0) {
		log_err("cannot create %s: %s", d->vms_dir, strerror(-r));
		return r;
	}
	reg_watch(d);
	daemon_refresh_registry(d);
	uv_timer_init(d->loop, &d->tick);
	d->tick.data = d;
	uv_timer_start(&d->tick, on_tick, DAEMON_TICK_MS, DAEMON_TICK_MS);
	return 0;
}

static void reg_poll_closed(uv_handle_t *h)
{
	struct daemon *d = h->data;

	d->reg_inotify = safe_close(d->reg_inotify);
}

void daemon_stop(struct daemon *d)
{
	d->stopping = true;
	uv_close((uv_handle_t *)&d->tick, NULL);
	if (d->reg_inotify >= 0)
		uv_close((uv_handle_t *)&d->reg_poll, reg_poll_closed);
}

void daemon_free(struct daemon *d)
{
	d->reg = reg_table_free(d->reg);
	d->svc_counts = counter_table_free(d->svc_counts);
	free(d->config_dir);
	free(d->runtime_dir);
	free(d->vms_dir);
	free(d->state_dir);
}

int daemon_listen_unix(struct daemon *d, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (chown(path, 0, d->sock_gid) < 0 && errno != EPERM)
		return -errno;
	if (chmod(path, d->sock_mode) < 0)
		return -errno;
	if (listen(fd, 128) < 0)
		return -errno;
	return TAKE_FD(fd);
}
