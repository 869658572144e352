/* SPDX-License-Identifier: MIT */
/*
 * agent-worker.c - the integration services' worker process
 * (agent-worker.h): heartbeat (with systemd's view of the guest's health
 * when PID 1 is systemd and the agent is built with libsystemd),
 * shutdown (logind, or the commands) and the key-value exchange (its
 * link, and its socket, files and facts in the guest: agent-kvp-run.h),
 * dialing the host over vsock.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-dial.h"
#include "agent-fz.h"
#include "agent-hb.h"
#include "agent-icw.h"
#include "agent-kvp-files.h"
#include "agent-kvp-run.h"
#include "agent-kvp-sock.h"
#include "agent-log.h"
#include "agent-power.h"
#include "agent-sd.h"
#include "agent-systemd.h"
#include "agent-ts.h"
#include "agent-users.h"
#include "agent-worker.h"
#include "util.h"

#define SOFTWARE "vmsvc-agent " VMSVC_VERSION

enum { SVC_HEARTBEAT, SVC_SHUTDOWN, SVC_KVP, SVC_VSS, SVC_TIMESYNC, NSVCS };

struct worker {
	int sigfd;
	struct ahb hb;
	struct ahb_systemd probe;
	struct asd sd;
	struct akvr *kvp;
	struct afz fz;
	struct ats ts;
	struct aicw_service svcs[NSVCS];
	size_t fz_nfds; /* of the last extra_fill */
};

/* The loop's other fds: the freeze hooks' report (only while no VSS
 * connection is up), then the key-value exchange's. */
static size_t extra_fill(void *ctx, struct pollfd *p, size_t max, int *timeout_ms, uint64_t now)
{
	struct worker *w = ctx;

	w->fz_nfds = afz_fill(&w->fz, p, max);
	return w->fz_nfds + akvr_fill(w->kvp, p + w->fz_nfds, max - w->fz_nfds, timeout_ms, now);
}

static void extra_io(void *ctx, const struct pollfd *p, size_t n, uint64_t now)
{
	struct worker *w = ctx;

	if (w->fz_nfds)
		afz_io(&w->fz, p[0].revents, now);
	akvr_io(w->kvp, p + w->fz_nfds, n - w->fz_nfds, now);
}

static void reconfigure(void *ctx, const struct aconf *c, struct aicw_service *svcs, size_t n)
{
	struct worker *w = ctx;

	w->probe.units = c->critical;
	w->probe.nunits = c->ncritical;
	svcs[SVC_HEARTBEAT].wanted = c->hb_enabled;
	/* Shutdown stays connected when off in agent.conf: the host hears
	 * "refused by the guest's configuration", not "no agent". */
	svcs[SVC_SHUTDOWN].wanted = true;
	svcs[SVC_KVP].wanted = c->kvp_enabled;
	akvr_configure(w->kvp, c, now_ms());
	svcs[SVC_VSS].wanted = c->fz_enabled;
	snprintf(w->fz.hook_dir, sizeof(w->fz.hook_dir), "%s", c->fz_hook_dir);
	svcs[SVC_TIMESYNC].wanted = c->ts_enabled;
	ats_configure(&w->ts, c->ts_takeover, c->ts_step_threshold);
}

/* SIGCHLD: reaps the shutdown helper; SIGTERM, SIGINT: stop. */
static bool on_signal(void *ctx)
{
	struct worker *w = ctx;
	struct signalfd_siginfo si;
	bool stop = false;

	while (read(w->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			stop = true;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return stop;
}

/* The freeze service, after thawing what a previous agent left frozen. */
static void fz_setup(struct afz *z, const char *config)
{
	struct afz_backend be;
	struct aconf conf;
	char err[512];

	afz_backend_ioctl(&be);
	afz_init(z, be);
	if (aconf_load(config, &conf, err, sizeof(err)) == 0)
		snprintf(z->hook_dir, sizeof(z->hook_dir), "%s", conf.fz_hook_dir);
	aconf_clear(&conf);
	afz_recover(z);
}

int aworker_main(const struct aworker_opts *o)
{
	struct worker w = { .sigfd = -1 };
	struct aicw loop = {
		.config = o->config,
		.hello = { .min = o->vmin, .max = o->vmax, .software = SOFTWARE },
		.dial = adial_vsock,
		.svcs = w.svcs,
		.nsvcs = NSVCS,
		.reconfigure = reconfigure,
		.ctx = &w,
		.on_stop_fd = on_signal,
	};
	sigset_t set;
	int r;

	prctl(PR_SET_NAME, "vmsvc-agent-ic");
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != o->parent)
		return 0; /* the main process is gone already */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_SETMASK, &set, NULL);
	w.sigfd = loop.stop_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (w.sigfd < 0) {
		alog("integration services: signalfd: %s", strerror(errno));
		return 1;
	}
	w.probe.sys = asys_new();
	fz_setup(&w.fz, o->config);
	ahb_init(&w.hb, ahb_probe_systemd, &w.probe, VMSVC_VERSION);
	w.sd.config = o->config;
	apow_backend(&w.sd.be, w.probe.sys);
	w.kvp = akvr_new(&(struct akvr_paths){
		.guest_file = AKVF_GUEST_FILE,
		.socket = AKVS_SOCKET,
		.run_dir = AKVF_RUN_DIR,
		.group_file = AU_GROUP_FILE,
		.config = o->config,
		.src = { .agent_version = VMSVC_VERSION },
	});
	if (!w.kvp) {
		alog("integration services: out of memory");
		close(w.sigfd);
		asys_free(w.probe.sys);
		return 1;
	}
	w.svcs[SVC_HEARTBEAT] = (struct aicw_service){ .ops = &ahb_ops, .svc = &w.hb };
	w.svcs[SVC_SHUTDOWN] = (struct aicw_service){ .ops = &asd_ops, .svc = &w.sd };
	w.svcs[SVC_KVP] = (struct aicw_service){ .ops = &akvp_ops, .svc = akvr_store(w.kvp) };
	w.svcs[SVC_VSS] = (struct aicw_service){ .ops = &afz_ops, .svc = &w.fz };
	loop.extra = (struct aicw_extra){
		.max = akvr_max_fds() + 1, .fill = extra_fill, .io = extra_io, .ctx = &w
	};
	ats_init(&w.ts);
	w.svcs[SVC_TIMESYNC] = (struct aicw_service){ .ops = &ats_ops, .svc = &w.ts };
	alog_debug("integration services: heartbeat, shutdown, kvp, vss, timesync (versions "
		   "%u-%u%s)",
		   o->vmin, o->vmax, w.probe.sys ? ", systemd" : "");
	r = aicw_run(&loop);
	if (r < 0)
		alog("integration services: %s", strerror(-r));
	/* Not before the hooks end: the unit's KillMode=process leaves this
	 * process be once the main process has gone. */
	afz_finish(&w.fz);
	ats_fini(&w.ts);
	akvr_free(w.kvp);
	asys_free(w.probe.sys);
	close(w.sigfd);
	return r < 0 ? 1 : 0;
}

int aworker_report(const char *config)
{
	struct ahb_systemd probe = { .sys = asys_new() };
	struct ahb_health h = { .sys_state = "none" };
	char host[256], err[512], *blockers[IC_SD_MAX_BLOCKERS];
	struct aconf conf;
	struct afacts f;
	int n;

	if (aconf_load(config, &conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "vmsvc-agent: %s\n", err);
		asys_free(probe.sys);
		return 1;
	}
	probe.units = conf.critical;
	probe.nunits = conf.ncritical;
	afacts_read(&f, NULL);
	afacts_hostname(host, sizeof(host));
	ahb_probe_systemd(&probe, &h);
	printf("heartbeat:       %s\n", conf.hb_enabled ? "on" : "off (agent.conf)");
	printf("boot id:         %s\nuptime:          %llu ms\nhost name:       %s\n", f.boot_id,
	       (unsigned long long)afacts_uptime_ms(), host);
	printf("os:              %s (%s %s)\nkernel:          %s\nagent:           %s\n", f.os_name,
	       f.os_id, f.os_version, f.kernel, VMSVC_VERSION);
	printf("system state:    %s\napplication:     %s%s%s\n", h.sys_state,
	       h.app_state == IC_APP_CRITICAL  ? "critical"
	       : h.app_state == IC_APP_HEALTHY ? "healthy"
					       : "unknown",
	       h.critical[0] ? ": " : "", h.critical);
	for (size_t i = 0; i < conf.ncritical; i++)
		printf("critical unit:   %s\n", conf.critical[i]);
	printf("shutdown:        %s\n", conf.shutdown_enabled ? "on" : "off (agent.conf)");
	n = probe.sys ? asys_blockers(probe.sys, blockers, IC_SD_MAX_BLOCKERS) : 0;
	if (n == -ENOENT || !probe.sys)
		printf("inhibitors:      none (%s)\n", probe.sys ? "no logind" : "no systemd");
	else if (n < 0)
		printf("inhibitors:      cannot ask logind: %s\n", strerror(-n));
	for (int i = 0; i < n; i++) {
		printf("blocked by:      %s\n", blockers[i]);
		free(blockers[i]);
	}
	aconf_clear(&conf);
	asys_free(probe.sys);
	return 0;
}
