/* SPDX-License-Identifier: MIT */
/*
 * vmsvcd.c - the vmsvc host daemon: options, folders, signals, readiness
 * notification, and keeping the set of served VMs equal to vms.d.
 *
 * Everything runs on one libuv loop in one thread. Config changes are seen
 * through inotify (uv_fs_event) on services.d and vms.d; the registry is
 * also re-checked by mtime on every guest connection request, so a change
 * is in force for the very next connection.
 */
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "control.h"
#include "ctlproto.h"
#include "daemon.h"
#include "log.h"
#include "registry.h"
#include "util.h"
#include "vm.h"
#include "vmtable.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vmsvcd [--foreground] [--verbose] [--config-dir DIR] [--runtime-dir "
		"DIR]\n\n"
		"The vmsvc host daemon: the vhost-user vsock device of every VM in\n"
		"CONFIG/vms.d, enforcing the service registry CONFIG/services.d.\n\n"
		"  -f, --foreground    stay in the foreground (vmsvcd never forks; accepted\n"
		"                      for compatibility with service managers)\n"
		"  -v, --verbose       debug logging\n"
		"  --config-dir DIR    default $VMSVC_CONFIG_DIR or /etc/vmsvc\n"
		"  --runtime-dir DIR   default $VMSVC_RUNTIME_DIR or /run/vmsvc\n\n"
		"Sockets: RUNDIR/vms/NAME.vhost (QEMU), RUNDIR/vms/NAME.vsock (host to guest,\n"
		"Firecracker CONNECT protocol), guest connections to port P go to a listener at\n"
		"RUNDIR/vms/NAME.vsock_P. Logs go to stderr. SIGTERM stops cleanly.\n");
}

uint64_t daemon_now_ms(struct daemon *d)
{
	(void)d;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct counters *daemon_service_counters(struct daemon *d, const hv_guid_t *id)
{
	static struct counters sink;
	struct counters *c = counters_service(&d->svc_counts, id);

	return c ? c : &sink;
}

static char *path_join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		return NULL;
	return p;
}

void daemon_refresh_registry(struct daemon *d)
{
	_cleanup_free_ char *dir = path_join(d->config_dir, "services.d");
	struct reg_table *t = NULL;
	struct stat st;
	int r;

	if (!dir)
		return;
	if (stat(dir, &st) == 0) {
		if (d->reg_loaded && st.st_mtim.tv_sec == d->reg_stamp.tv_sec &&
		    st.st_mtim.tv_nsec == d->reg_stamp.tv_nsec)
			return;
		d->reg_stamp = st.st_mtim;
	} else {
		d->reg_stamp = (struct timespec){ 0 };
	}
	r = reg_load(d->config_dir, &t);
	if (r < 0) {
		log_err("cannot read the service registry in %s: %s; keeping the previous one", dir,
			strerror(-r));
		return;
	}
	const struct conf_problems *pr = reg_problems(t);
	for (size_t i = 0; i < pr->count; i++)
		log_warn("%s:%u: %s (entry ignored)", pr->items[i].file, pr->items[i].line,
			 pr->items[i].message);
	reg_table_free(d->reg);
	d->reg = t;
	d->reg_loaded = true;
	log_debug("registry loaded: %zu service(s)", reg_count(t));
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

struct vm *daemon_find_vm(struct daemon *d, const char *name, const hv_guid_t *id)
{
	struct list_head *p, *t;

	list_for_each_safe (p, t, &d->vms) {
		struct vm *vm = vm_from_link(p);
		if ((name && strcmp(vm_name(vm), name) == 0) ||
		    (id && hv_guid_equal(vm_id(vm), id)))
			return vm;
	}
	return NULL;
}

/* Makes the served VMs equal to vms.d: new ones start, removed or changed
 * ones (another CID or VmId) stop. */
static void sync_vms(struct daemon *d)
{
	struct vmt_table *t = NULL;
	struct list_head *p, *tmp;
	int r = vmt_load(d->config_dir, &t);

	if (r < 0) {
		log_err("cannot read VM definitions in %s/vms.d: %s", d->config_dir, strerror(-r));
		return;
	}
	const struct conf_problems *pr = vmt_problems(t);
	for (size_t i = 0; i < pr->count; i++)
		log_warn("%s:%u: %s (VM ignored)", pr->items[i].file, pr->items[i].line,
			 pr->items[i].message);
	list_for_each_safe (p, tmp, &d->vms) {
		struct vm *vm = vm_from_link(p);
		const struct vmt_vm *def = vmt_find_name(t, vm_name(vm));
		if (!def || def->cid != vm_cid(vm) || !hv_guid_equal(&def->id, vm_id(vm))) {
			log_info("VM %s: definition removed or changed, stopping", vm_name(vm));
			vm_stop(vm);
		}
	}
	for (size_t i = 0; i < vmt_count(t); i++) {
		const struct vmt_vm *def = vmt_at(t, i);
		if (daemon_find_vm(d, def->name, NULL))
			continue;
		struct vm *vm = NULL;
		r = vm_start(d, def->name, &def->id, def->cid, &vm);
		if (r < 0) {
			log_err("VM %s: cannot start: %s", def->name, strerror(-r));
			continue;
		}
		list_add_tail(vm_link(vm), &d->vms);
	}
	vmt_table_free(t);
}

static void on_config_change(uv_fs_event_t *h, const char *file, int events, int status)
{
	struct daemon *d = h->data;

	(void)file;
	(void)events;
	(void)status;
	if (h == &d->watch_vms)
		sync_vms(d);
	else
		daemon_refresh_registry(d);
}

static int watch_dir(struct daemon *d, uv_fs_event_t *h, const char *sub, bool *active)
{
	_cleanup_free_ char *dir = path_join(d->config_dir, sub);
	int r;

	if (!dir)
		return -ENOMEM;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		log_warn("cannot create %s: %s", dir, strerror(errno));
	uv_fs_event_init(d->loop, h);
	h->data = d;
	r = uv_fs_event_start(h, on_config_change, dir, 0);
	if (r < 0) {
		log_warn("cannot watch %s (%s): changes need SIGHUP", dir, uv_strerror(r));
		uv_close((uv_handle_t *)h, NULL);
		return 0;
	}
	*active = true;
	return 0;
}

static void on_tick(uv_timer_t *t)
{
	struct daemon *d = t->data;
	struct list_head *p, *tmp;
	uint64_t now = daemon_now_ms(d);

	list_for_each_safe (p, tmp, &d->vms)
		vm_tick(vm_from_link(p), now);
}

static void stop_all(struct daemon *d)
{
	struct list_head *p, *tmp;

	d->stopping = true;
	control_stop(d);
	list_for_each_safe (p, tmp, &d->vms)
		vm_stop(vm_from_link(p));
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
	uv_close((uv_handle_t *)&d->tick, NULL);
	if (d->watching_services)
		uv_close((uv_handle_t *)&d->watch_services, NULL);
	if (d->watching_vms)
		uv_close((uv_handle_t *)&d->watch_vms, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	if (signum == SIGHUP) {
		log_info("SIGHUP: reloading configuration");
		d->reg_loaded = false;
		daemon_refresh_registry(d);
		sync_vms(d);
		return;
	}
	if (d->stopping)
		return;
	log_info("%s: stopping", strsignal(signum));
	stop_all(d);
}

/* Tells a service manager we are ready (sd_notify protocol: one datagram
 * "READY=1" to $NOTIFY_SOCKET; '@' means the abstract namespace). */
static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static const char msg[] = "READY=1\nSTATUS=serving\n";
	_cleanup_close_ int fd = -1;
	size_t len;

	if (!path || !*path)
		return;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) {
		log_warn("NOTIFY_SOCKET '%s' is not a socket path; not notifying", path);
		return;
	}
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL, (struct sockaddr *)&sa,
			     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		log_warn("cannot notify the service manager at %s: %s", path, strerror(errno));
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

static int parse_args(struct daemon *d, int argc, char **argv)
{
	static const struct option opts[] = { { "foreground", no_argument, NULL, 'f' },
					      { "verbose", no_argument, NULL, 'v' },
					      { "config-dir", required_argument, NULL, 'c' },
					      { "runtime-dir", required_argument, NULL, 'r' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	const char *cfg = getenv("VMSVC_CONFIG_DIR"), *run = getenv("VMSVC_RUNTIME_DIR");
	int c;

	while ((c = getopt_long(argc, argv, "fvh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'c':
			cfg = optarg;
			break;
		case 'r':
			run = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			fprintf(stderr, "Try 'vmsvcd --help'.\n");
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vmsvcd: unexpected argument '%s'\nTry 'vmsvcd --help'.\n",
			argv[optind]);
		return -EINVAL;
	}
	d->config_dir = strdup(cfg && *cfg ? cfg : "/etc/vmsvc");
	d->runtime_dir = strdup(run && *run ? run : "/run/vmsvc");
	d->vms_dir = d->runtime_dir ? path_join(d->runtime_dir, "vms") : NULL;
	return d->config_dir && d->vms_dir ? 0 : -ENOMEM;
}

static void start_handles(struct daemon *d)
{
	uv_signal_t *sigs[] = { &d->sig_term, &d->sig_int, &d->sig_hup };
	int nums[] = { SIGTERM, SIGINT, SIGHUP };

	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		uv_signal_init(d->loop, sigs[i]);
		sigs[i]->data = d;
		uv_signal_start(sigs[i], on_signal, nums[i]);
	}
	uv_timer_init(d->loop, &d->tick);
	d->tick.data = d;
	uv_timer_start(&d->tick, on_tick, 100, 100);
	watch_dir(d, &d->watch_services, "services.d", &d->watching_services);
	watch_dir(d, &d->watch_vms, "vms.d", &d->watching_vms);
}

int main(int argc, char **argv)
{
	struct daemon d = { .ctl_fd = -1 };
	int r;

	signal(SIGPIPE, SIG_IGN);
	list_init(&d.vms);
	r = parse_args(&d, argc, argv);
	if (r != 0)
		return r > 0 ? 0 : 2;
	d.loop = uv_default_loop();
	r = make_runtime_dirs(&d);
	if (r < 0) {
		log_err("cannot create %s: %s", d.vms_dir, strerror(-r));
		return 1;
	}
	start_handles(&d);
	daemon_refresh_registry(&d);
	sync_vms(&d);
	r = control_start(&d);
	if (r < 0) {
		log_err("cannot listen on %s/%s: %s", d.runtime_dir, CTL_SOCKET_NAME, strerror(-r));
		stop_all(&d);
		uv_run(d.loop, UV_RUN_DEFAULT);
		return 1;
	}
	log_info("serving (config %s, runtime %s)", d.config_dir, d.runtime_dir);
	notify_ready();
	uv_run(d.loop, UV_RUN_DEFAULT);
	uv_loop_close(d.loop);
	reg_table_free(d.reg);
	counter_table_free(d.svc_counts);
	free(d.config_dir);
	free(d.runtime_dir);
	free(d.vms_dir);
	log_info("stopped");
	return 0;
}
