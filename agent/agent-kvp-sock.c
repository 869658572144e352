/* SPDX-License-Identifier: MIT */
/*
 * agent-kvp-sock.c - the guest's socket for `vmsvc kvp` (agent-kvp-sock.h).
 *
 * A connection's life: requests are taken from its input one at a time,
 * in order, and only while its queue is short and no LIST is under way,
 * so replies keep their order and a client that does not read stops
 * being read. A LIST remembers where it is (pool, last key sent) and goes
 * on as the queue drains: a full pool never sits in memory twice, and
 * changes made meanwhile show in the rest of the answer. Watch events are
 * queued as changes happen (push); they alone can make a queue grow
 * past AKVS_OUT_PAUSE, up to AKVS_MAX_BEHIND.
 *
 * Nothing a client sends ends more than its own connection: a malformed
 * header or an oversized frame gets an ERROR and the connection closes;
 * any other bad request gets an ERROR and the connection goes on.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent-kvp-files.h"
#include "agent-kvp-sock.h"
#include "agent-log.h"
#include "agent-users.h"
#include "ic.h"
#include "util.h"

#define IN_CAP		  (SESS_HDR_SIZE + IC_MAX_FRAME)
#define ACCEPTS_PER_ROUND 16

struct watch {
	uint32_t seq, pool;
	uint8_t prefix[IC_KVP_MAX_KEY];
	uint32_t plen;
};

/* A LIST being answered. */
struct cursor {
	bool active;
	uint32_t seq, pool; /* pool: one, or IC_POOL_ALL */
	uint32_t at;	    /* the pool being listed */
	uint8_t prefix[IC_KVP_MAX_KEY];
	uint32_t plen;
	bool started; /* last holds the last key sent from pool at */
	uint8_t last[IC_KVP_MAX_KEY];
	uint32_t last_len;
};

struct client {
	int fd;
	int pidx; /* its pollfd in the last fill, -1 */
	uint8_t *in;
	size_t start, end;
	struct sess_buf out;
	struct watch w[AKVS_MAX_WATCHES];
	size_t nw;
	struct cursor list;
	bool eof;     /* the client shut its side down */
	bool closing; /* dropped: close once out has left, or at close_at */
	uint64_t close_at;
	bool dead;
};

struct akvs {
	struct akvp *store;
	int lfd; /* listening, -1 */
	char *path;
	struct akvs_policy pol;
	akvs_cred_fn cred;
	void *cred_ctx;
	struct client *c[AKVS_MAX_CLIENTS];
	size_t n;
	int lidx; /* the listener's pollfd, -1 */
	bool logged_full;
};

static void on_change(void *ctx, uint32_t pool, const struct kvp_entry *e, bool deleted,
		      uint64_t gen);

/* A peer in more groups than c holds: the first AKVS_MAX_GROUPS of them
 * (len: the size the kernel asked for). */
static void more_groups(int fd, struct akvs_cred *c, socklen_t len)
{
	_cleanup_free_ gid_t *all = malloc(len);

	if (all && getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, all, &len) == 0) {
		c->ngroups = len / sizeof(gid_t) < AKVS_MAX_GROUPS ? len / sizeof(gid_t)
								   : AKVS_MAX_GROUPS;
		memcpy(c->groups, all, c->ngroups * sizeof(gid_t));
	}
}

int akvs_peer_cred(void *ctx, int fd, struct akvs_cred *c)
{
	struct ucred u;
	socklen_t len = sizeof(u);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &u, &len) < 0)
		return -errno;
	c->uid = u.uid;
	c->gid = u.gid;
	c->pid = u.pid;
	len = sizeof(c->groups);
	c->ngroups = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, c->groups, &len) == 0)
		c->ngroups = len / sizeof(gid_t);
	else if (errno == ERANGE)
		more_groups(fd, c, len);
	return 0;
}

struct akvs *akvs_new(struct akvp *store)
{
	struct akvs *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->store = store;
	s->lfd = -1;
	s->lidx = -1;
	s->cred = akvs_peer_cred;
	s->pol = (struct akvs_policy){ .enabled = true,
				       .config = AGENT_CONF_FILE,
				       .group_file = AU_GROUP_FILE };
	if (akvp_listen(store, on_change, s) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void client_free(struct client *c)
{
	safe_close(c->fd);
	free(c->in);
	sess_buf_free(&c->out);
	free(c);
}

struct akvs *akvs_free(struct akvs *s)
{
	if (!s)
		return NULL;
	akvp_unlisten(s->store, on_change, s);
	for (size_t i = 0; i < s->n; i++)
		client_free(s->c[i]);
	if (s->lfd >= 0 && s->path)
		unlink(s->path);
	safe_close(s->lfd);
	free(s->path);
	free(s);
	return NULL;
}

void akvs_set_policy(struct akvs *s, const struct akvs_policy *p)
{
	s->pol = *p;
}

void akvs_set_cred_fn(struct akvs *s, akvs_cred_fn fn, void *ctx)
{
	s->cred = fn;
	s->cred_ctx = ctx;
}

size_t akvs_clients(const struct akvs *s)
{
	return s->n;
}

size_t akvs_max_fds(void)
{
	return AKVS_MAX_CLIENTS + 1;
}

/* ---- the socket ---- */

int akvs_listen(struct akvs *s, const char *path, char *why, size_t size)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;
	int r;

	if (strlen(path) >= sizeof(a.sun_path) || !slash || slash == path)
		return snprintf(why, size, "%s: not a socket path", path), -EINVAL;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	r = akvf_make_dir(dir, 0755);
	if (r < 0) {
		snprintf(why, size, "cannot make %s: %s", dir, strerror(-r));
		return r;
	}
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		snprintf(why, size, "cannot listen on %s: something else than a socket is there",
			 path);
		return -EEXIST;
	}
	unlink(path); /* an earlier run's */
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || chmod(path, 0666) < 0 ||
	    listen(fd, 64) < 0)
		goto fail;
	free(s->path);
	if (!(s->path = strdup(path)))
		return snprintf(why, size, "out of memory"), -ENOMEM;
	safe_close(s->lfd);
	s->lfd = TAKE_FD(fd);
	return 0;
fail:
	r = -errno;
	snprintf(why, size, "cannot listen on %s: %s", path, strerror(-r));
	return r;
}

int akvs_add(struct akvs *s, int fd)
{
	struct client *c;

	if (s->n == AKVS_MAX_CLIENTS) {
		close(fd);
		return -EMFILE;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->in = malloc(IN_CAP))) {
		free(c);
		close(fd);
		return -ENOMEM;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	c->fd = fd;
	c->pidx = -1;
	s->c[s->n++] = c;
	return 0;
}

/* A connection over the limit: told so (best effort) and closed. */
static void refuse(int fd)
{
	struct sess_buf b = { 0 };

	ic_enc_error(&b, &(struct ic_error){
				 .type = 0,
				 .err = EAGAIN,
				 .message = "vmsvc-agent serves as many connections as it will; "
					    "try again later" });
	if (!b.err)
		(void)!send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	sess_buf_free(&b);
	close(fd);
}

static void accept_some(struct akvs *s)
{
	for (int i = 0; i < ACCEPTS_PER_ROUND; i++) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				alog("kvp: cannot accept on %s: %s", s->path, strerror(errno));
			return;
		}
		if (s->n == AKVS_MAX_CLIENTS) {
			if (!s->logged_full)
				alog("kvp: %d connections on %s: refusing more", AKVS_MAX_CLIENTS,
				     s->path);
			s->logged_full = true;
			refuse(fd);
			continue;
		}
		s->logged_full = false;
		if (akvs_add(s, fd) < 0)
			alog("kvp: out of memory for a connection on %s", s->path);
	}
}

/* ---- replies ---- */

static void reply_error(struct client *c, uint32_t seq, uint16_t type, int err, const char *fmt,
			...) __attribute__((format(printf, 5, 6)));

static void reply_error(struct client *c, uint32_t seq, uint16_t type, int err, const char *fmt,
			...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ic_enc_error(&c->out,
		     &(struct ic_error){
			     .seq = seq, .type = type, .err = (uint32_t)err, .message = msg });
}

static void reply_kvp(struct client *c, uint16_t type, const struct ic_kvp *k)
{
	ic_enc_kvp(&c->out, type, k);
}

static void reply_done(struct client *c, uint32_t seq)
{
	reply_kvp(c, IC_KVP_DONE, &(struct ic_kvp){ .seq = seq });
}

/* ---- who may ---- */

static bool member(const struct akvs_cred *cr, gid_t g)
{
	if (cr->gid == g)
		return true;
	for (size_t i = 0; i < cr->ngroups; i++)
		if (cr->groups[i] == g)
			return true;
	return false;
}

/* Whether the asker may read (write false) or write the guest pool: 0, or
 * -EPERM with why. */
static int may(const struct akvs *s, const struct akvs_cred *cr, bool write, char *why, size_t size)
{
	const char *group = write ? s->pol.write_group : s->pol.read_group;
	const char *what = write ? "write the guest pool" : "read the pools";
	const char *key = write ? "WriteGroup" : "ReadGroup";
	gid_t g;

	if (cr->uid == 0 || (!write && !*group))
		return 0;
	if (!*group) {
		snprintf(why, size,
			 "only root may %s (you are uid %u; [KVP] %s= in %s names a "
			 "group that may too)",
			 what, (unsigned)cr->uid, key, s->pol.config);
		return -EPERM;
	}
	if (au_group_gid(s->pol.group_file, group, &g) < 0) {
		snprintf(why, size,
			 "only root may %s: [KVP] %s = %s in %s names no group of this "
			 "guest",
			 what, key, group, s->pol.config);
		return -EPERM;
	}
	if (member(cr, g))
		return 0;
	snprintf(why, size, "only root or group %s may %s (you are uid %u)", group, what,
		 (unsigned)cr->uid);
	return -EPERM;
}

/* ---- requests ---- */

static const struct kvpool *pool_of(const struct akvs *s, uint32_t pool)
{
	return akvp_pool(s->store, pool);
}

static void do_get(struct akvs *s, struct client *c, const struct ic_kvp *x)
{
	const struct kvpool *p = pool_of(s, x->pool);
	const struct kvp_entry *e = kvpool_get(p, x->key, x->key_len);

	if (!e) {
		reply_error(c, x->seq, IC_KVP_GET, ENOENT, "no such key in the %s pool",
			    ic_pool_name(x->pool));
		return;
	}
	reply_kvp(c, IC_KVP_VALUE,
		  &(struct ic_kvp){ .seq = x->seq,
				    .pool = x->pool,
				    .key = e->key,
				    .key_len = e->key_len,
				    .value = e->value,
				    .value_len = e->value_len,
				    .gen = p->gen });
}

/* Where the cursor goes on in p: after the last key sent, or at the
 * first key with the prefix. */
static size_t cursor_index(const struct cursor *l, const struct kvpool *p)
{
	size_t i;

	if (!l->started)
		return kvpool_find_prefix(p, l->prefix, l->plen);
	i = kvpool_find_prefix(p, l->last, l->last_len);
	if (i < p->n && p->e[i].key_len == l->last_len &&
	    memcmp(p->e[i].key, l->last, l->last_len) == 0)
		i++;
	return i;
}

/* Answers the LIST under way while the queue is short: VALUEs, DONE. */
static void list_more(struct akvs *s, struct client *c)
{
	struct cursor *l = &c->list;

	while (l->active && c->out.len < AKVS_OUT_PAUSE) {
		const struct kvpool *p = pool_of(s, l->at);
		size_t i = cursor_index(l, p), first = i;

		for (; i < p->n && kvp_has_prefix(&p->e[i], l->prefix, l->plen) &&
		       c->out.len < AKVS_OUT_PAUSE;
		     i++)
			reply_kvp(c, IC_KVP_VALUE,
				  &(struct ic_kvp){ .seq = l->seq,
						    .pool = l->at,
						    .key = p->e[i].key,
						    .key_len = p->e[i].key_len,
						    .value = p->e[i].value,
						    .value_len = p->e[i].value_len,
						    .gen = p->gen });
		if (i < p->n && kvp_has_prefix(&p->e[i], l->prefix, l->plen)) {
			if (i > first) { /* the queue is full: go on later */
				memcpy(l->last, p->e[i - 1].key, p->e[i - 1].key_len);
				l->last_len = p->e[i - 1].key_len;
				l->started = true;
			}
			return;
		}
		if (l->pool != IC_POOL_ALL || l->at == IC_NPOOLS - 1) {
			l->active = false;
			reply_done(c, l->seq);
			return;
		}
		l->at++;
		l->started = false;
	}
}

static void do_list(struct akvs *s, struct client *c, const struct ic_kvp *x)
{
	c->list = (struct cursor){ .active = true,
				   .seq = x->seq,
				   .pool = x->pool,
				   .at = x->pool == IC_POOL_ALL ? 0 : x->pool,
				   .plen = x->key_len };
	if (x->key_len)
		memcpy(c->list.prefix, x->key, x->key_len);
	list_more(s, c);
}

static void do_watch(struct client *c, const struct ic_kvp *x)
{
	struct watch *w;

	if (c->nw == AKVS_MAX_WATCHES) {
		reply_error(c, x->seq, IC_KVP_WATCH, EMFILE,
			    "a connection watches at most %d times: open another",
			    AKVS_MAX_WATCHES);
		return;
	}
	w = &c->w[c->nw++];
	*w = (struct watch){ .seq = x->seq, .pool = x->pool, .plen = x->key_len };
	if (x->key_len)
		memcpy(w->prefix, x->key, x->key_len);
	reply_done(c, x->seq);
}

static void do_change(struct akvs *s, struct client *c, uint16_t type, const struct ic_kvp *x)
{
	char why[512];
	int r;

	if (x->pool != IC_POOL_GUEST) {
		reply_error(c, x->seq, type, EPERM,
			    "the %s pool is %s: a guest writes only the guest pool",
			    ic_pool_name(x->pool),
			    x->pool == IC_POOL_HOST ? "written on the host"
						    : "filled by the agent");
		return;
	}
	if (type == IC_KVP_SET_REQ)
		r = akvp_guest_set(s->store, x->key, x->key_len, x->value, x->value_len, why,
				   sizeof(why));
	else
		r = akvp_guest_delete(s->store, x->key, x->key_len, why, sizeof(why));
	if (r < 0)
		reply_error(c, x->seq, type, r == -EINVAL ? EPROTO : -r, "%s", why);
	else
		reply_done(c, x->seq);
}

static bool is_write(uint16_t type)
{
	return type == IC_KVP_SET_REQ || type == IC_KVP_DEL_REQ;
}

/* Decodes the request f and checks who asks: 0 with *x, or -1 with the
 * ERROR queued. */
static int admit(struct akvs *s, struct client *c, const struct sess_frame *f, struct ic_kvp *x)
{
	struct akvs_cred cr = { 0 };
	char why[512];
	int r;

	if (f->type < IC_KVP_GET || f->type > IC_KVP_DEL_REQ || f->type == IC_KVP_VALUE ||
	    f->type == IC_KVP_DONE) {
		reply_error(c, 0, f->type, EOPNOTSUPP,
			    "frame type %u is not a request (GET, LIST, WATCH, SET_REQ, DEL_REQ)",
			    f->type);
		return -1;
	}
	r = ic_dec_kvp(f, x);
	if (r < 0) {
		reply_error(c, 0, f->type, -r, "%s",
			    r == -E2BIG ? "a key is at most 512 bytes and a value at most 65536"
					: "a malformed request");
		return -1;
	}
	if (!s->pol.enabled) {
		reply_error(c, x->seq, f->type, EPERM,
			    "the key-value exchange is turned off in this guest ([KVP] Enabled = "
			    "no in %s)",
			    s->pol.config);
		return -1;
	}
	r = s->cred(s->cred_ctx, c->fd, &cr);
	if (r < 0) {
		reply_error(c, x->seq, f->type, EPERM, "cannot tell who is asking: %s",
			    strerror(-r));
		return -1;
	}
	if ((r = may(s, &cr, is_write(f->type), why, sizeof(why))) < 0) {
		reply_error(c, x->seq, f->type, -r, "%s", why);
		return -1;
	}
	return 0;
}

/* One request: decoded, checked, answered. */
static void request(struct akvs *s, struct client *c, const struct sess_frame *f)
{
	struct ic_kvp x;

	if (admit(s, c, f, &x) < 0)
		return;
	switch (f->type) {
	case IC_KVP_GET:
		do_get(s, c, &x);
		break;
	case IC_KVP_LIST:
		do_list(s, c, &x);
		break;
	case IC_KVP_WATCH:
		do_watch(c, &x);
		break;
	default:
		do_change(s, c, f->type, &x);
	}
}

/* ---- watch events ---- */

static void do_write(struct client *c);

static void drop(struct client *c, const struct watch *w)
{
	alog_debug("kvp: a watcher fell %zu bytes behind: dropped", c->out.len);
	reply_error(c, w->seq, IC_KVP_WATCH, ENOBUFS,
		    "this watch fell more than 1 MiB of changes behind: it ends here, watch again");
	c->nw = 0;
	c->list.active = false;
	c->closing = true;
	c->close_at = now_ms() + AKVS_LINGER_MS;
}

static void event(struct client *c, const struct watch *w, uint32_t pool, const struct kvp_entry *e,
		  bool deleted, uint64_t gen)
{
	if (c->out.len > AKVS_MAX_BEHIND)
		do_write(c);
	if (c->out.len > AKVS_MAX_BEHIND) {
		drop(c, w);
		return;
	}
	reply_kvp(c, deleted ? IC_KVP_DELETE : IC_KVP_SET,
		  &(struct ic_kvp){ .seq = w->seq,
				    .pool = pool,
				    .key = e->key,
				    .key_len = e->key_len,
				    .value = e->value,
				    .value_len = deleted ? 0 : e->value_len,
				    .gen = gen });
}

static void on_change(void *ctx, uint32_t pool, const struct kvp_entry *e, bool deleted,
		      uint64_t gen)
{
	struct akvs *s = ctx;

	for (size_t i = 0; i < s->n; i++) {
		struct client *c = s->c[i];

		for (size_t j = 0; j < c->nw && !c->closing && !c->dead; j++) {
			const struct watch *w = &c->w[j];

			if ((w->pool == IC_POOL_ALL || w->pool == pool) &&
			    kvp_has_prefix(e, w->prefix, w->plen))
				event(c, w, pool, e, deleted, gen);
		}
	}
}

/* ---- a connection's I/O ---- */

static void do_read(struct client *c)
{
	ssize_t n;

	if (c->start > 0) {
		memmove(c->in, c->in + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	if (c->end == IN_CAP || c->eof)
		return;
	n = recv(c->fd, c->in + c->end, IN_CAP - c->end, 0);
	if (n > 0)
		c->end += (size_t)n;
	else if (n == 0)
		c->eof = true;
	else if (errno != EAGAIN && errno != EINTR)
		c->dead = true;
}

static void do_write(struct client *c)
{
	ssize_t n;

	if (!c->out.len || c->dead)
		return;
	n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0)
		sess_buf_consume(&c->out, (size_t)n);
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		c->dead = true;
}

/* Whether c may take its next request now. */
static bool ready_for_request(const struct client *c)
{
	return !c->closing && !c->dead && !c->list.active && c->out.len < AKVS_OUT_PAUSE;
}

/* Handles the complete requests c may take now: how many. */
static int take_requests(struct akvs *s, struct client *c)
{
	struct sess_frame f;
	int n = 0;

	while (ready_for_request(c)) {
		long k = ic_frame_parse(c->in + c->start, c->end - c->start, &f);

		if (k == 0)
			break;
		if (k < 0) {
			reply_error(c, 0, 0, EPROTO,
				    "a malformed frame header, or a frame over %d bytes: closing",
				    IC_MAX_FRAME);
			c->closing = true;
			c->close_at = now_ms() + AKVS_LINGER_MS;
			break;
		}
		c->start += (size_t)k;
		request(s, c, &f);
		n++;
	}
	return n;
}

/* True when c has something to do without waiting for poll. */
static bool pending(const struct client *c)
{
	struct sess_frame f;

	if (c->dead || c->closing)
		return false;
	if (c->list.active)
		return c->out.len < AKVS_OUT_PAUSE;
	return ready_for_request(c) && ic_frame_parse(c->in + c->start, c->end - c->start, &f) != 0;
}

/* Moves c on: requests, the LIST under way, writes; a few rounds. */
static void step(struct akvs *s, struct client *c)
{
	for (int round = 0; round < 4 && !c->dead; round++) {
		if (c->list.active)
			list_more(s, c);
		take_requests(s, c);
		do_write(c);
		if (c->out.err)
			c->dead = true; /* out of memory: nothing sane to send */
		if (!pending(c))
			break;
	}
	if (c->closing && (!c->out.len || now_ms() >= c->close_at))
		c->dead = true;
	/* a client that shut down its side and waits for nothing more */
	if (c->eof && !c->out.len && !c->list.active && !c->nw && !pending(c))
		c->dead = true;
}

static short client_events(const struct client *c)
{
	short ev = 0;

	if (!c->eof && !c->closing && c->end < IN_CAP)
		ev |= POLLIN;
	if (c->out.len)
		ev |= POLLOUT;
	return ev;
}

size_t akvs_fill(struct akvs *s, struct pollfd *p, size_t max, int *timeout_ms, uint64_t now)
{
	size_t k = 0;

	s->lidx = -1;
	if (s->lfd >= 0 && k < max) {
		s->lidx = (int)k;
		p[k++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
	}
	for (size_t i = 0; i < s->n; i++) {
		struct client *c = s->c[i];

		c->pidx = -1;
		if (k == max)
			continue;
		c->pidx = (int)k;
		p[k++] = (struct pollfd){ .fd = c->fd, .events = client_events(c) };
		if (pending(c))
			*timeout_ms = 0;
		if (c->closing) {
			int t = c->close_at > now ? (int)(c->close_at - now) : 0;

			if (*timeout_ms < 0 || t < *timeout_ms)
				*timeout_ms = t;
		}
	}
	return k;
}

static void reap(struct akvs *s)
{
	size_t j = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (s->c[i]->dead)
			client_free(s->c[i]);
		else
			s->c[j++] = s->c[i];
	}
	s->n = j;
}

void akvs_io(struct akvs *s, const struct pollfd *p, size_t n, uint64_t now)
{
	size_t count = s->n;

	for (size_t i = 0; i < count; i++) {
		struct client *c = s->c[i];
		short rev = c->pidx >= 0 && (size_t)c->pidx < n ? p[c->pidx].revents : 0;

		if (rev & (POLLIN | POLLERR))
			do_read(c);
		if ((rev & POLLHUP) && !(rev & POLLIN))
			c->dead = true; /* gone altogether */
		if (rev & POLLNVAL)
			c->dead = true;
		step(s, c);
		if ((rev & POLLHUP) && c->eof)
			c->dead = true; /* read to its end, and gone */
	}
	if (s->lidx >= 0 && (size_t)s->lidx < n && (p[s->lidx].revents & POLLIN))
		accept_some(s);
	reap(s);
}
