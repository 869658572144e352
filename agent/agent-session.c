/* SPDX-License-Identifier: MIT */
/*
 * agent-session.c - the session's handshake and its request: policy, user,
 * environment, start (agent-session.h). The running command is
 * agent-exec.c's.
 *
 * Identity: PEER is the first frame and comes from vmsvcd (only the host can
 * reach the agent's privileged port; the listener checked the CID and the
 * source port). A second PEER is a protocol error.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent-conf.h"
#include "agent-copy.h"
#include "agent-exec.h"
#include "agent-log.h"
#include "agent-session.h"
#include "agent-spawn.h"
#include "agent-users.h"
#include "util.h"

/* PEER, HELLO and the request must come within this time. */
#define HANDSHAKE_MS 30000

struct session {
	struct aconn c;
	const struct asess_ctx *ctx;
	struct aconf conf;
	char host[160]; /* "host user 'alice' (uid 1000)", for messages */
	char *host_user;
	uint32_t host_uid;
	char *vm;
	uint32_t peer_window;
	int sigfd;
	uint64_t deadline;
};

/* The next frame of the handshake: 1, or a negative errno. */
static int wait_frame(struct session *s, struct sess_frame *f)
{
	for (;;) {
		struct pollfd p = { .fd = s->c.sock };
		uint64_t now = now_ms();
		int r = aconn_next(&s->c, f);

		if (r != 0)
			return r;
		if (s->c.eof)
			return s->c.err ? s->c.err : -ECONNRESET;
		if (now >= s->deadline)
			return -ETIMEDOUT;
		p.events = aconn_events(&s->c);
		if (poll(&p, 1, (int)(s->deadline - now)) > 0)
			aconn_io(&s->c, p.revents);
	}
}

static int protocol_error(struct session *s, const char *what)
{
	alog("protocol error: %s", what);
	aconn_error(&s->c, SESS_STAGE_PROTOCOL, EPROTO, "%s", what);
	return -EPROTO;
}

static int handshake(struct session *s)
{
	struct sess_frame f;
	struct sess_peer peer;
	struct sess_hello h;
	int r = wait_frame(s, &f);

	if (r < 0)
		return r;
	if (f.type != SESS_PEER || sess_dec_peer(&f, &peer) < 0)
		return protocol_error(s, "the first frame must be PEER (written by vmsvcd)");
	s->host_user = strdup(peer.user);
	s->vm = strdup(peer.vm);
	if (!s->host_user || !s->vm)
		return -ENOMEM;
	s->host_uid = peer.uid;
	if (*peer.user)
		snprintf(s->host, sizeof(s->host), "host user '%s' (uid %u)", peer.user, peer.uid);
	else
		snprintf(s->host, sizeof(s->host), "host uid %u", peer.uid);
	r = wait_frame(s, &f);
	if (r < 0)
		return r;
	if (f.type == SESS_PEER)
		return protocol_error(s, "a second PEER frame");
	if (f.type != SESS_HELLO || sess_dec_hello(&f, &h) < 0)
		return protocol_error(s, "HELLO expected after PEER");
	if (h.major != SESS_VERSION_MAJOR) {
		aconn_error(&s->c, SESS_STAGE_PROTOCOL, EPROTONOSUPPORT,
			    "the agent speaks VM Session protocol %u.%u, the host %u.%u",
			    SESS_VERSION_MAJOR, SESS_VERSION_MINOR, h.major, h.minor);
		return -EPROTONOSUPPORT;
	}
	s->peer_window = h.window;
	sess_enc_hello(&s->c.out, &(struct sess_hello){ .major = SESS_VERSION_MAJOR,
							.minor = SESS_VERSION_MINOR,
							.window = SESS_DEFAULT_WINDOW });
	return 0;
}

/* ---- exec ---- */

static int refuse(struct session *s, int stage, int err, const char *msg)
{
	alog("%s on VM '%s': refused: %s", s->host, s->vm, msg);
	aconn_error(&s->c, stage, err, "%s", msg);
	return -err;
}

/* The guest user want (NULL: the mapped default), if the policy allows
 * it: 0 and *u, or an ERROR queued. */
static int find_user(struct session *s, const char *want, struct au_user *u)
{
	const char *cf = s->ctx->config;
	char msg[512];
	int r;

	if (!want)
		want = aconf_default_user(&s->conf, s->host_user, s->host_uid);
	if (!want) {
		snprintf(msg, sizeof(msg), "%s may run as no guest user: map it in [Users] of %s",
			 s->host, cf);
		return refuse(s, SESS_STAGE_POLICY, EPERM, msg);
	}
	r = au_user_find(s->ctx->passwd, want, u);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "no user '%s' in this guest (%s: %s)", want,
			 s->ctx->passwd, r == -ENOENT ? "no such entry" : strerror(-r));
		return refuse(s, SESS_STAGE_USER, -r, msg);
	}
	if (aconf_may_run_as(&s->conf, s->host_user, s->host_uid, u->name) < 0) {
		snprintf(msg, sizeof(msg), "%s may not run as guest user '%s' ([Users] of %s)",
			 s->host, u->name, cf);
		au_user_clear(u);
		return refuse(s, SESS_STAGE_POLICY, EPERM, msg);
	}
	return 0;
}

/* The guest user of an EXEC, if exec (or shell) is on: as find_user. */
static int pick_user(struct session *s, const struct sess_exec *e, struct au_user *u)
{
	bool login = e->flags & SESS_EXEC_LOGIN;
	char msg[512];

	if (!login ? !s->conf.exec : !s->conf.shell) {
		snprintf(msg, sizeof(msg), "%s may not %s in this guest: %s=no in [Session] of %s",
			 s->host, login ? "open a shell" : "run commands", login ? "Shell" : "Exec",
			 s->ctx->config);
		return refuse(s, SESS_STAGE_POLICY, EPERM, msg);
	}
	return find_user(s, e->user, u);
}

/* env: the user's basics, TERM on a terminal, then the request's (each
 * replaces an entry of the same name, as env(1) does). NULL-terminated,
 * heap strings. */
static char **make_env(const struct sess_exec *e, const struct au_user *u)
{
	size_t n = 0, cap = 8 + e->envc;
	char **env = calloc(cap, sizeof(*env));
	const char *path = u->uid == 0
				   ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
				   : "/usr/local/bin:/usr/bin:/bin";
	bool ok = env != NULL;

	ok = ok && asprintf(&env[n++], "HOME=%s", u->home) > 0;
	ok = ok && asprintf(&env[n++], "USER=%s", u->name) > 0;
	ok = ok && asprintf(&env[n++], "LOGNAME=%s", u->name) > 0;
	ok = ok && asprintf(&env[n++], "SHELL=%s", u->shell) > 0;
	ok = ok && asprintf(&env[n++], "PATH=%s", path) > 0;
	if (ok && (e->flags & SESS_EXEC_PTY))
		ok = asprintf(&env[n++], "TERM=%s", e->term && *e->term ? e->term : "vt220") > 0;
	for (uint32_t i = 0; ok && i < e->envc; i++) {
		size_t k = (size_t)(strchr(e->env[i], '=') - e->env[i]) + 1, j;

		for (j = 0; j < n && strncmp(env[j], e->env[i], k) != 0; j++)
			;
		if (j < n)
			free(env[j]);
		else
			n++;
		ok = (env[j] = strdup(e->env[i])) != NULL;
	}
	if (!ok && env) {
		for (size_t i = 0; i < cap; i++)
			free(env[i]);
		free(env);
		return NULL;
	}
	return env;
}

static void free_env(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

static int spawn_error(struct session *s, const struct aspawn_res *r, const char *file,
		       const struct au_user *u, const char *cwd)
{
	char msg[600];

	if (r->stage == SESS_STAGE_EXEC && r->errnum == ENOENT)
		snprintf(msg, sizeof(msg), "'%s': command not found", file);
	else if (r->stage == SESS_STAGE_EXEC && r->errnum == EACCES)
		snprintf(msg, sizeof(msg), "'%s': permission denied (not an executable file?)",
			 file);
	else if (r->stage == SESS_STAGE_EXEC)
		snprintf(msg, sizeof(msg), "'%s': cannot execute: %s", file, strerror(r->errnum));
	else if (r->stage == SESS_STAGE_CWD)
		snprintf(msg, sizeof(msg), "cannot enter folder '%s' as user '%s': %s", cwd,
			 u->name, strerror(r->errnum));
	else if (r->stage == SESS_STAGE_USER)
		snprintf(msg, sizeof(msg), "cannot become user '%s' (uid %u): %s", u->name,
			 (unsigned)u->uid, strerror(r->errnum));
	else
		snprintf(msg, sizeof(msg), "cannot start '%s': %s", file, strerror(r->errnum));
	alog("%s on VM '%s': %s", s->host, s->vm, msg);
	aconn_error(&s->c, r->stage, r->errnum, "%s", msg);
	return -r->errnum;
}

/* Starts the command and runs it to its end. */
static int start(struct session *s, const struct sess_exec *e, const struct au_user *u, char **env)
{
	gid_t groups[AU_MAX_GROUPS];
	char argv0[256];
	char *login_argv[2] = { argv0, NULL };
	bool login = e->flags & SESS_EXEC_LOGIN;
	const char *base = strrchr(u->shell, '/');
	struct aspawn_res res;
	struct aspawn_req q = {
		.uid = u->uid,
		.gid = u->gid,
		.groups = groups,
		.file = login ? u->shell : e->argv[0],
		.argv = login ? login_argv : (char *const *)e->argv,
		.envp = env,
		.cwd = e->cwd ? e->cwd : u->home,
		.cwd_fallback = !e->cwd,
		.pty = e->flags & SESS_EXEC_PTY,
		.stdin_null = e->flags & SESS_EXEC_STDIN_NULL,
		.ws = { .ws_row = (unsigned short)(e->rows ? e->rows : 24),
			.ws_col = (unsigned short)(e->cols ? e->cols : 80),
			.ws_xpixel = (unsigned short)e->xpix,
			.ws_ypixel = (unsigned short)e->ypix },
	};
	int n = au_groups(s->ctx->group, u->name, u->gid, groups, AU_MAX_GROUPS);

	snprintf(argv0, sizeof(argv0), "-%s", base ? base + 1 : u->shell);
	q.ngroups = n > 0 ? (size_t)n : 1;
	if (aspawn_start(&q, &res) < 0)
		return spawn_error(s, &res, q.file, u, q.cwd);
	sess_enc_started(&s->c.out, &(struct sess_started){
					    .pid = (uint32_t)res.pid,
					    .uid = u->uid,
					    .gid = u->gid,
					    .user = u->name,
				    });
	alog("%s on VM '%s': %s '%s' as %s: pid %d%s", s->host, s->vm, login ? "shell" : "exec",
	     q.file, u->name, (int)res.pid, q.pty ? " (pty)" : "");
	return aexec_run(&s->c,
			 &(struct aexec_cfg){ .pid = res.pid,
					      .in = res.in,
					      .out = res.out,
					      .err = res.err,
					      .pty = q.pty,
					      .peer_window = s->peer_window,
					      .window = SESS_DEFAULT_WINDOW,
					      .linger_ms = e->linger_ms ? e->linger_ms
									: AEXEC_LINGER_MS_DEFAULT,
					      .timeout_ms = e->timeout_ms },
			 s->sigfd);
}

static int run_exec(struct session *s, const struct sess_frame *f)
{
	struct sess_exec e;
	struct au_user u = { 0 };
	char **env;
	int r = sess_dec_exec(f, &e);

	if (r < 0)
		return protocol_error(s, "malformed EXEC");
	r = pick_user(s, &e, &u);
	if (r == 0) {
		env = make_env(&e, &u);
		r = env ? start(s, &e, &u, env) : -ENOMEM;
		free_env(env);
	}
	au_user_clear(&u);
	sess_exec_clear(&e);
	return r;
}

/* ---- cp ---- */

/* The session process becomes guest user u for good (no way back to
 * root): the kernel checks every file access of the copy. In u's home. */
static int become(struct session *s, const struct au_user *u)
{
	gid_t groups[AU_MAX_GROUPS];
	int n = au_groups(s->ctx->group, u->name, u->gid, groups, AU_MAX_GROUPS);
	char msg[512];

	if (n < 1) {
		groups[0] = u->gid;
		n = 1;
	}
	if (geteuid() != u->uid &&
	    (setgroups((size_t)n, groups) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0)) {
		snprintf(msg, sizeof(msg), "cannot become user '%s' (uid %u): %s", u->name,
			 (unsigned)u->uid, strerror(errno));
		return refuse(s, SESS_STAGE_USER, errno, msg);
	}
	if (chdir(u->home) < 0 && chdir("/") < 0)
		alog("cannot enter '%s' or '/' as '%s'", u->home, u->name);
	return 0;
}

static int run_copy(struct session *s, const struct sess_frame *f)
{
	uint16_t type = f->type;
	struct sess_xfer q;
	struct au_user u = { 0 };
	char msg[512], who[400];
	_cleanup_free_ char *path = NULL;
	int r;

	if (sess_dec_xfer(f, &q) < 0)
		return protocol_error(s, "malformed PUT or GET");
	if (!s->conf.copy) {
		snprintf(msg, sizeof(msg),
			 "%s may not copy files in this guest: Copy=no in "
			 "[Session] of %s",
			 s->host, s->ctx->config);
		return refuse(s, SESS_STAGE_POLICY, EPERM, msg);
	}
	path = strdup(q.path); /* q points into the frame, gone at the next read */
	r = path ? find_user(s, NULL, &u) : -ENOMEM;
	if (r == 0)
		r = become(s, &u);
	if (r == 0) {
		snprintf(who, sizeof(who), "%s on VM '%s' as '%s'", s->host, s->vm, u.name);
		r = acopy_run(&s->c, &(struct acopy_req){ .type = type,
							  .path = path,
							  .flags = q.flags,
							  .peer_window = s->peer_window,
							  .who = who });
	}
	au_user_clear(&u);
	return r;
}

static int request(struct session *s)
{
	struct sess_frame f;
	char err[512];
	int r;

	for (;;) {
		r = wait_frame(s, &f);
		if (r < 0)
			return r;
		if (f.type != SESS_PING)
			break;
		sess_begin(&s->c.out, SESS_PONG, SESS_CH_CONTROL);
		sess_end(&s->c.out);
	}
	/* Read afresh: an edit applies to the next session, no restart. */
	r = aconf_load(s->ctx->config, &s->conf, err, sizeof(err));
	if (r < 0) {
		alog("%s", err);
		aconn_error(&s->c, SESS_STAGE_INTERNAL, -r,
			    "the agent's configuration is broken: %s", err);
		return r;
	}
	switch (f.type) {
	case SESS_EXEC:
		return run_exec(s, &f);
	case SESS_PUT:
	case SESS_GET:
		return run_copy(s, &f);
	case SESS_PEER:
		return protocol_error(s, "a second PEER frame");
	default:
		return protocol_error(s, "EXEC, PUT or GET expected after HELLO");
	}
}

static int open_sigfd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int asess_serve(int sock, const struct asess_ctx *ctx)
{
	struct session s = { .ctx = ctx, .sigfd = -1, .deadline = now_ms() + HANDSHAKE_MS };
	int r;

	signal(SIGPIPE, SIG_IGN);
	aconf_defaults(&s.conf);
	if (aconn_init(&s.c, sock) < 0) {
		close(sock);
		return -ENOMEM;
	}
	/* Orphans of the command come to us: we reap them and know when the
	 * process group is gone. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	s.sigfd = open_sigfd();
	r = s.sigfd < 0 ? -errno : handshake(&s);
	if (r == 0)
		r = request(&s);
	if (r == -ETIMEDOUT)
		alog("no request within %d s: closed", HANDSHAKE_MS / 1000);
	aconn_finish(&s.c, 2000);
	if (s.sigfd >= 0)
		close(s.sigfd);
	aconn_free(&s.c);
	aconf_clear(&s.conf);
	free(s.host_user);
	free(s.vm);
	return r;
}
