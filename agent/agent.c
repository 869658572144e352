/* SPDX-License-Identifier: MIT */
/*
 * agent.c - vmsvc-agent: the guest side of the VM Session Service and of
 * the integration services. Listens on vsock port SESS_PORT, accepts only
 * the host (CID 2) from a privileged port, and serves each session in a
 * process of its own (agent-session.c), so that a crash in one cannot
 * touch another. The integration services (heartbeat, shutdown) run in a
 * worker process of their own (agent-worker.c), which dials the host; the
 * main process restarts it with a backoff when it dies. The main process
 * only accepts, counts, reaps and restarts.
 *
 *   vmsvc-agent [--config FILE] [--verbose]   listen (foreground, logs to stderr)
 *   vmsvc-agent --inetd [--config FILE]        serve one session on stdin
 *   vmsvc-agent --health [--config FILE]       what the heartbeat would report
 *   --ic-version MIN-MAX                       (tests) claim other IC versions
 *
 * --inetd is for a supervisor that accepted the connection (systemd's
 * Accept=yes, tests with a socket pair): a vsock stream on stdin gets the
 * same host check; any other stream is trusted as the supervisor's, which
 * could only have run the agent as itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "agent-conf.h"
#include "agent-log.h"
#include "agent-session.h"
#include "agent-users.h"
#include "agent-worker.h"
#include "ic.h"
#include "session.h"
#include "util.h"

/* The worker's restarts: 1 s after a death, doubling up to 60 s; back to
 * 1 s once one has run for 60 s. */
#define WORKER_RESTART_FIRST_MS 1000
#define WORKER_RESTART_MAX_MS	60000

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vmsvc-agent [--config FILE] [--verbose]\n"
		"       vmsvc-agent --inetd [--config FILE] [--verbose]\n"
		"       vmsvc-agent --health [--config FILE]\n\n"
		"The guest side of vmsvc's VM Session Service (vmsvc exec, vmsvc shell): listens\n"
		"on vsock port %d for the host and runs its commands. Foreground; logs to "
		"stderr.\n\n"
		"  --config FILE  the configuration (default %s; missing = defaults)\n"
		"  --inetd        serve one session on stdin (a connected stream) and exit\n"
		"  --verbose      log every session's steps\n"
		"  --health       print what the heartbeat tells the host now (facts, systemd's\n"
		"                 state, critical units) and what blocks a shutdown, and exit\n"
		"  --ic-version MIN-MAX\n"
		"                 (tests) claim these integration protocol versions (this agent\n"
		"                 speaks %d-%d), to show a protocol mismatch on the host\n\n"
		"The integration services (heartbeat, shutdown) connect to the host from a worker\n"
		"process (vsock ports %d, %d).\n\n"
		"Exit status: 0 (also when this VM has no vsock device), 1 failure, 2 usage.\n",
		SESS_PORT, AGENT_CONF_FILE, IC_VERSION_MIN, IC_VERSION_MAX, IC_HEARTBEAT_PORT,
		IC_SHUTDOWN_PORT);
}

/* Why a peer may not open a session, or NULL if it is the host. */
static const char *refusal(const struct sockaddr_vm *peer, unsigned local_cid)
{
	if (peer->svm_family != AF_VSOCK)
		return "not a vsock peer";
	if (peer->svm_cid == VMADDR_CID_LOCAL)
		return "vsock loopback (a process in this guest)";
	if (peer->svm_cid == local_cid)
		return "this guest's own CID (a process in this guest)";
	if (peer->svm_cid != VMADDR_CID_HOST)
		return "not the host (only CID 2 may open a session)";
	if (peer->svm_port >= 1024)
		return "an unprivileged source port (vmsvcd connects from a port below 1024)";
	return NULL;
}

/* This guest's CID, from /dev/vsock: 0 with *why set when the guest has no
 * vsock device that reaches a host. */
static unsigned local_cid(const char **why)
{
	unsigned cid = VMADDR_CID_ANY;
	int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		*why = "/dev/vsock is missing (no vsock driver loaded)";
		return 0;
	}
	if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
		cid = VMADDR_CID_ANY;
	close(fd);
	if (cid == VMADDR_CID_ANY || cid <= VMADDR_CID_HOST) {
		*why = "no vsock device reaches a host (only loopback, or none)";
		return 0;
	}
	return cid;
}

static int listen_vsock(int *fd_out)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_cid = VMADDR_CID_ANY,
				 .svm_port = SESS_PORT };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	*fd_out = fd;
	return 0;
}

struct listener {
	int fd, sigfd;
	unsigned cid;
	unsigned sessions;
	struct asess_ctx ctx;
	const char *config;
	uint32_t ic_min, ic_max;
	pid_t worker;	       /* -1: not running */
	uint64_t worker_since; /* when it started */
	uint64_t worker_at;    /* when to start it again (worker -1) */
	unsigned worker_delay;
};

static void start_worker(struct listener *l)
{
	struct aworker_opts o = {
		.config = l->config, .vmin = l->ic_min, .vmax = l->ic_max, .parent = getpid()
	};
	sigset_t none;
	pid_t pid = fork();

	if (pid == 0) {
		close(l->fd);
		close(l->sigfd);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		_exit(aworker_main(&o));
	}
	l->worker_since = now_ms();
	if (pid < 0) {
		alog("cannot fork the integration services worker: %s", strerror(errno));
		l->worker_at = l->worker_since + WORKER_RESTART_MAX_MS;
		return;
	}
	l->worker = pid;
	alog_debug("integration services worker: pid %d", (int)pid);
}

/* The worker ended with status st: say why, and when it starts again. */
static void worker_ended(struct listener *l, int st)
{
	uint64_t now = now_ms();
	char why[64];

	if (WIFSIGNALED(st))
		snprintf(why, sizeof(why), "was killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(why, sizeof(why), "exited with status %d", WEXITSTATUS(st));
	if (now - l->worker_since >= WORKER_RESTART_MAX_MS || !l->worker_delay)
		l->worker_delay = WORKER_RESTART_FIRST_MS;
	else if ((l->worker_delay *= 2) > WORKER_RESTART_MAX_MS)
		l->worker_delay = WORKER_RESTART_MAX_MS;
	alog("the integration services worker (pid %d) %s; restarting it in %u s", (int)l->worker,
	     why, l->worker_delay / 1000);
	l->worker = -1;
	l->worker_at = now + l->worker_delay;
}

/* Stops the worker (SIGTERM: it sends what it has queued), waiting at
 * most 1 s. */
static void stop_worker(struct listener *l)
{
	uint64_t end = now_ms() + 1000;

	if (l->worker < 0)
		return;
	kill(l->worker, SIGTERM);
	while (waitpid(l->worker, NULL, WNOHANG) == 0 && now_ms() < end)
		usleep(20000);
	l->worker = -1;
}

static int max_sessions(const struct listener *l)
{
	struct aconf c;
	char err[512];
	int n;

	if (aconf_load(l->config, &c, err, sizeof(err)) < 0) {
		alog("%s", err);
		return AGENT_MAX_SESSIONS_DEFAULT;
	}
	n = (int)c.max_sessions;
	aconf_clear(&c);
	return n;
}

/* One session process for fd (closed here in the listener). */
static void fork_session(struct listener *l, int fd)
{
	sigset_t none;
	pid_t pid = fork();

	if (pid == 0) {
		close(l->fd);
		close(l->sigfd);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGTERM, SIG_DFL);
		_exit(asess_serve(fd, &l->ctx) < 0 ? 1 : 0);
	}
	if (pid < 0)
		alog("cannot fork a session process: %s", strerror(errno));
	else
		l->sessions++;
	close(fd);
}

static void on_accept(struct listener *l)
{
	struct sockaddr_vm peer = { 0 };
	socklen_t len = sizeof(peer);
	const char *why;
	int fd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			alog("accept: %s", strerror(errno));
		if (errno == EMFILE || errno == ENFILE)
			usleep(100000);
		return;
	}
	why = refusal(&peer, l->cid);
	if (why) {
		alog("refused a connection from CID %u port %u: %s", peer.svm_cid, peer.svm_port,
		     why);
		close(fd);
		return;
	}
	if ((int)l->sessions >= max_sessions(l)) {
		struct sess_buf b = { 0 };

		alog("refused a session from port %u: %u sessions run already (MaxSessions)",
		     peer.svm_port, l->sessions);
		sess_frame_error(
			&b, SESS_STAGE_INTERNAL, EAGAIN,
			"the agent runs its MaxSessions sessions already; try again later");
		(void)!send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		sess_buf_free(&b);
		close(fd);
		return;
	}
	alog_debug("session from host port %u", peer.svm_port);
	fork_session(l, fd);
}

/* SIGCHLD: reap sessions; SIGTERM/SIGINT: 1 (stop listening). */
static int on_signal(struct listener *l)
{
	struct signalfd_siginfo si;
	int stop = 0, st;
	pid_t p;

	while (read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			stop = 1;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		if (p == l->worker) {
			worker_ended(l, st);
			continue;
		}
		if (l->sessions)
			l->sessions--;
		if (WIFSIGNALED(st))
			alog("session process %d died of signal %d", (int)p, WTERMSIG(st));
	}
	return stop;
}

static int serve(struct listener *l)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	l->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->sigfd < 0) {
		alog("signalfd: %s", strerror(errno));
		return 1;
	}
	alog("listening on vsock port %d (this guest is CID %u)", SESS_PORT, l->cid);
	start_worker(l);
	for (;;) {
		struct pollfd p[2] = { { .fd = l->fd, .events = POLLIN },
				       { .fd = l->sigfd, .events = POLLIN } };
		uint64_t now = now_ms();
		int timeout = -1;

		if (l->worker < 0)
			timeout = l->worker_at > now ? (int)(l->worker_at - now) : 0;
		if (poll(p, 2, timeout) < 0 && errno != EINTR)
			return 1;
		if (p[1].revents && on_signal(l)) {
			stop_worker(l);
			alog("stopping: %u sessions keep running", l->sessions);
			return 0;
		}
		if (l->worker < 0 && now_ms() >= l->worker_at)
			start_worker(l);
		if (p[0].revents)
			on_accept(l);
	}
}

static int inetd(struct listener *l)
{
	struct sockaddr_vm peer = { 0 };
	socklen_t len = sizeof(peer);
	const char *why;

	if (getpeername(0, (struct sockaddr *)&peer, &len) == 0 && peer.svm_family == AF_VSOCK) {
		l->cid = local_cid(&why);
		why = refusal(&peer, l->cid);
		if (why) {
			alog("refused a connection from CID %u port %u: %s", peer.svm_cid,
			     peer.svm_port, why);
			return 1;
		}
	}
	return asess_serve(0, &l->ctx) < 0 ? 1 : 0;
}

/* "MIN-MAX" or "N": 0, or -EINVAL. */
static int parse_versions(const char *s, uint32_t *min, uint32_t *max)
{
	char *end;
	unsigned long a = strtoul(s, &end, 10), b = a;

	if (end == s || s[0] == '-')
		return -EINVAL;
	if (*end == '-') {
		s = end + 1;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		b = strtoul(s, &end, 10);
	}
	if (*end || a < 1 || b < a || b > UINT32_MAX)
		return -EINVAL;
	*min = (uint32_t)a;
	*max = (uint32_t)b;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
					      { "verbose", no_argument, NULL, 'v' },
					      { "inetd", no_argument, NULL, 'i' },
					      { "ic-version", required_argument, NULL, 'V' },
					      { "health", no_argument, NULL, 'H' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	struct listener l = { .fd = -1,
			      .sigfd = -1,
			      .config = AGENT_CONF_FILE,
			      .ic_min = IC_VERSION_MIN,
			      .ic_max = IC_VERSION_MAX,
			      .worker = -1 };
	struct aconf conf;
	const char *why = NULL;
	char err[512];
	bool once = false, health = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "c:vihV:H", opts, NULL)) != -1) {
		if (c == 'c')
			l.config = optarg;
		else if (c == 'v')
			agent_verbose = true;
		else if (c == 'i')
			once = true;
		else if (c == 'H')
			health = true;
		else if (c == 'V') {
			if (parse_versions(optarg, &l.ic_min, &l.ic_max) < 0) {
				fprintf(stderr, "vmsvc-agent: --ic-version '%s': want MIN-MAX\n",
					optarg);
				return 2;
			}
		} else if (c == 'h')
			return usage(stdout), 0;
		else
			return usage(stderr), 2;
	}
	if (optind != argc)
		return usage(stderr), 2;
	setvbuf(stderr, NULL, _IOLBF, 0);
	if (health)
		return aworker_report(l.config);
	if (aconf_load(l.config, &conf, err, sizeof(err)) < 0) {
		alog("%s", err);
		return 1;
	}
	aconf_clear(&conf);
	l.ctx = (struct asess_ctx){ .config = l.config,
				    .passwd = AU_PASSWD_FILE,
				    .group = AU_GROUP_FILE };
	signal(SIGPIPE, SIG_IGN);
	if (once)
		return inetd(&l);
	l.cid = local_cid(&why);
	if (!l.cid) {
		alog("%s: no VM Session Service in this guest", why);
		return 0;
	}
	r = listen_vsock(&l.fd);
	if (r == -EAFNOSUPPORT || r == -ENODEV) {
		alog("no vsock support (%s): no VM Session Service in this guest", strerror(-r));
		return 0;
	}
	if (r < 0) {
		alog("cannot listen on vsock port %d: %s", SESS_PORT, strerror(-r));
		return 1;
	}
	return serve(&l);
}
