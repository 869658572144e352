/* SPDX-License-Identifier: MIT */
/*
 * vmsvcd.c - the vmsvc host daemon's main: options, signals, readiness
 * notification, and starting the modules in order (docs/architecture.md).
 *
 * Everything runs on one libuv loop in one thread.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "conffile.h"
#include "control.h"
#include "ctlproto.h"
#include "daemon.h"
#include "fdstore.h"
#include "fdwatch.h"
#include "guestmem.h"
#include "ctlstate.h"
#include "hybsock.h"
#include "icd.h"
#include "sessiond.h"
#include "log.h"
#include "util.h"
#include "vm.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vmsvcd [--foreground] [--verbose] [--config-dir DIR] [--runtime-dir "
		"DIR]\n"
		"              [--state-dir DIR] [--max-clients-per-user N]\n"
		"              [--max-connects-per-user N]\n\n"
		"The vmsvc host daemon: the vhost-user vsock device of every VM in\n"
		"CONFIG/vms.d, enforcing the service registry CONFIG/services.d.\n\n"
		"  -f, --foreground    stay in the foreground (vmsvcd never forks; accepted\n"
		"                      for compatibility with service managers)\n"
		"  -v, --verbose       debug logging\n"
		"  --config-dir DIR    default $VMSVC_CONFIG_DIR or /etc/vmsvc\n"
		"  --runtime-dir DIR   default $VMSVC_RUNTIME_DIR or /run/vmsvc\n"
		"  --state-dir DIR     what survives restarts (STATEDIR/kvp: the key-value\n"
		"                      exchange's host pools), created with mode 0700;\n"
		"                      default $VMSVC_STATE_DIR or /var/lib/vmsvc\n"
		"  --max-clients-per-user N   control-socket connections one user (not\n"
		"                      root) may hold, default %u\n"
		"  --max-connects-per-user N  pending hv_connects one user (not root) may\n"
		"                      have, default %u\n\n"
		"Sockets: RUNDIR/vms/NAME.vhost (QEMU), RUNDIR/vms/NAME.vsock (host to guest,\n"
		"Firecracker CONNECT protocol), guest connections to port P go to a listener at\n"
		"RUNDIR/vms/NAME.vsock_P. Logs go to stderr. SIGTERM stops cleanly.\n\n"
		"Under a service manager with a file descriptor store ($NOTIFY_SOCKET,\n"
		"FileDescriptorStoreMax=), each VM's QEMU connection is kept there: a vmsvcd\n"
		"started after this one was killed, or after SIGUSR1 (stop for a successor:\n"
		"the guests' connections are reset, the QEMU connections stay stored), takes\n"
		"them over without QEMU noticing. SIGTERM removes them (QEMU is disconnected).\n",
		DAEMON_DEFAULT_MAX_CLIENTS, DAEMON_DEFAULT_MAX_CONNECTS);
}

static uv_signal_t sigs[4];

static void stop_all(struct daemon *d)
{
	control_stop(d);
	icd_kvp_stop(d);
	vm_table_stop(d);
	daemon_stop(d);
	watch_shutdown();
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		uv_close((uv_handle_t *)&sigs[i], NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	if (signum == SIGHUP) {
		log_info("SIGHUP: reloading configuration");
		daemon_reload_registry(d);
		vm_table_sync(d);
		return;
	}
	if (d->stopping)
		return;
	if (signum == SIGUSR1) {
		log_info("SIGUSR1: stopping for a successor; QEMU connections stay in the service "
			 "manager's store");
		fdstore_keep();
	} else {
		log_info("%s: stopping", strsignal(signum));
	}
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

/* A per-user limit: a decimal number >= 1. */
static int parse_limit(const char *opt, const char *s, unsigned *out)
{
	uint32_t v;

	if (conf_parse_u32(s, &v) < 0 || v == 0) {
		fprintf(stderr, "vmsvcd: %s wants a number >= 1, not '%s'\n", opt, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_args(struct daemon *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "config-dir", required_argument, NULL, 'c' },
		{ "runtime-dir", required_argument, NULL, 'r' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "max-clients-per-user", required_argument, NULL, 'C' },
		{ "max-connects-per-user", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *cfg = getenv("VMSVC_CONFIG_DIR"), *run = getenv("VMSVC_RUNTIME_DIR");
	const char *state = getenv("VMSVC_STATE_DIR");
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
		case 's':
			state = optarg;
			break;
		case 'C':
		case 'P':
			if (parse_limit(c == 'C' ? "--max-clients-per-user"
						 : "--max-connects-per-user",
					optarg,
					c == 'C' ? &d->max_clients_per_uid
						 : &d->max_connects_per_uid) < 0)
				return -EINVAL;
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
	d->state_dir = strdup(state && *state ? state : "/var/lib/vmsvc");
	return d->config_dir && d->vms_dir && d->state_dir ? 0 : -ENOMEM;
}

/* Every VM may hold max_conns host streams (docs/limits.md): take the hard
 * limit on fds as the soft one (libuv uses epoll, never select). */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("cannot raise the fd limit: %s", strerror(errno));
	}
}

static void start_signals(struct daemon *d)
{
	int nums[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };

	for (size_t i = 0; i < ARRAY_SIZE(nums); i++) {
		uv_signal_init(d->loop, &sigs[i]);
		sigs[i].data = d;
		uv_signal_start(&sigs[i], on_signal, nums[i]);
	}
}

int main(int argc, char **argv)
{
	struct daemon d = { .max_clients_per_uid = DAEMON_DEFAULT_MAX_CLIENTS,
			    .max_connects_per_uid = DAEMON_DEFAULT_MAX_CONNECTS };
	int r;

	signal(SIGPIPE, SIG_IGN);
	r = parse_args(&d, argc, argv);
	if (r != 0)
		return r > 0 ? 0 : 2;
	/* First, before anything opens an fd: what a predecessor stored. */
	if (fdstore_load() < 0)
		log_err("cannot read the fds the service manager passed");
	d.loop = uv_default_loop();
	if (daemon_init(&d) < 0)
		return 1;
	raise_fd_limit();
	r = gm_guard_install();
	if (r < 0) {
		log_err("cannot install the guest memory guard (SIGBUS): %s", strerror(-r));
		return 1;
	}
	start_signals(&d);
	r = hybsock_init(&d);
	if (r == 0)
		r = session_start(&d);
	if (r == 0)
		r = ctlstate_start(&d);
	if (r == 0)
		r = icd_start(&d);
	if (r == 0)
		r = icd_hb_start(&d);
	if (r == 0)
		r = icd_sd_start(&d);
	if (r == 0)
		r = icd_kvp_start(&d);
	if (r == 0)
		r = icd_fz_start(&d);
	if (r == 0)
		r = icd_ts_start(&d);
	if (r == 0)
		r = vm_table_start(&d);
	if (fdstore_close_rest() > 0)
		log_info("stored fds of VMs no longer defined were closed");
	if (r == 0) {
		r = control_start(&d);
		if (r < 0)
			log_err("cannot listen on %s/%s: %s", d.runtime_dir, CTL_SOCKET_NAME,
				strerror(-r));
	}
	if (r == 0) {
		log_info("serving (config %s, runtime %s, state %s)", d.config_dir, d.runtime_dir,
			 d.state_dir);
		notify_ready();
	} else {
		stop_all(&d);
	}
	uv_run(d.loop, UV_RUN_DEFAULT);
	uv_loop_close(d.loop);
	control_free(&d);
	daemon_free(&d);
	log_info("stopped");
	return r == 0 ? 0 : 1;
}
