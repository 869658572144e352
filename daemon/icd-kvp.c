/* SPDX-License-Identifier: MIT */
/*
 * icd-kvp.c - the Key-Value Pair Exchange's host side
 * (docs/integration-services.md, "Key-value exchange"; the control
 * operations "kvp" and "kvp-watch" of docs/control-protocol.md).
 *
 * Per VM, a struct kvs (kvpstate.c) holds the host pool, which vmsvcd owns
 * and stores in STATEDIR/kvp/NAME.host (pool files of SET frames written
 * with atomicfile: a change is on disk before its reply, and undone when it
 * cannot be stored), and the copies of the agent's guest and intrinsic
 * pools (memory only: the agent sends them whole after each connect).
 *
 * On the agent's connection: once STATE said enabled, the host pool goes
 * out whole (BEGIN, SETs, COMMIT), then each change; the agent's frames go
 * to kvs_agent_frame, whose refusals are sent back as ERROR. While the
 * service is off for the VM nothing is sent and the agent's pool frames
 * are ignored; the connection stays. When the connection ends (or the
 * service is turned off) the guest and intrinsic copies are kept but
 * marked stale ("stale": true in list and get replies) until the agent
 * sends them again: a VM shut down still shows what its guest said last.
 *
 * Clients read through line streams (lstream.c): a list is made lazily as
 * the client reads (a cursor by pool and key, so it costs one chunk of
 * memory at a time and sees changes made meanwhile after its position); a
 * watch gets one line per change, with a 1 MiB queue, then
 * {"op":"overflow"} and its end. Each user but root may hold
 * KVP_STREAMS_PER_UID streams.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "access.h"
#include "atomicfile.h"
#include "control.h"
#include "daemon.h"
#include "icd-int.h"
#include "icd.h"
#include "kvpjson.h"
#include "kvpstate.h"
#include "log.h"
#include "lstream.h"
#include "util.h"
#include "vm.h"

/* What may wait for an agent that does not read: a whole host pool as
 * frames (1 MiB and 4096 frame headers) and changes behind it. */
#define KVP_OUT_MAX	    (3 * 1024 * 1024)
#define KVP_WATCH_QUEUE	    (1024 * 1024)
#define KVP_STREAMS_PER_UID 16
/* A pool file is at most 1 MiB of keys and values and 4096 frames of
 * fields: larger is no pool file of ours. */
#define KVP_FILE_MAX (2 * 1024 * 1024)

static const char overflow_line[] = "{\"op\":\"overflow\"}\n";

struct kvp_vm {
	struct icd_vm *iv;
	struct kvs s;
	struct list_head streams; /* struct kstream */
	bool copy_sent;		  /* the ready connection has the host pool */
};

/* A client's list or watch of one VM's pools. */
struct kstream {
	struct list_head link; /* kvp_vm.streams */
	struct kvp_vm *k;
	struct lstream *ls;
	bool list;
	uint32_t pool; /* IC_POOL_ALL: every pool */
	uint8_t *prefix;
	size_t plen;
	/* a list's position: the next key after last in pool at */
	uint32_t at;
	bool have_last;
	uint32_t last_len;
	uint8_t last[IC_KVP_MAX_KEY];
};

static const struct icd_service kvp_service;
static char *kvp_dir; /* STATEDIR/kvp */

/* ---- the host pool's file ---- */

static int store(const char *vm, const void *data, size_t len)
{
	_cleanup_close_ int dir = -1, lock = -1;
	char name[128];

	if (!kvp_dir)
		return -ENOENT;
	snprintf(name, sizeof(name), "%s.host", vm);
	dir = open(kvp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	lock = af_lock(dir);
	if (lock < 0)
		return lock;
	return af_write(dir, name, data, len, 0600);
}

static int kvp_save(void *opaque, const struct kvpool *host)
{
	struct kvp_vm *k = opaque;
	const char *vm = vm_name(icd_vm(k->iv));
	struct sess_buf b = { 0 };
	int r;

	kvpool_encode(host, IC_POOL_HOST, &b);
	r = b.err ? b.err : store(vm, b.data, b.len);
	sess_buf_free(&b);
	if (r < 0)
		log_err("VM %s: kvp: cannot store the host pool in %s/%s.host: %s; the change is "
			"refused",
			vm, kvp_dir ? kvp_dir : "(no state folder)", vm, strerror(-r));
	/* the cause is logged; to the caller it is an I/O error, never the
	 * pool's ENOSPC or ENOENT */
	return r < 0 ? -EIO : 0;
}

/* Reads path (at most KVP_FILE_MAX bytes) into *buf (caller frees). */
static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size > KVP_FILE_MAX)
		return -EFBIG;
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	*len = got;
	return 0;
}

/* Fills the host pool from its file; a damaged file is set aside. */
static void load(struct kvp_vm *k)
{
	const char *vm = vm_name(icd_vm(k->iv));
	_cleanup_free_ char *path = NULL, *aside = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if (!kvp_dir || asprintf(&path, "%s/%s.host", kvp_dir, vm) < 0)
		return;
	r = read_file(path, &buf, &len);
	if (r == -ENOENT)
		return;
	if (r == 0)
		r = kvs_host_load(&k->s, buf, len);
	if (r == 0) {
		log_info("VM %s: kvp: host pool loaded (%zu keys)", vm, k->s.pool[IC_POOL_HOST].n);
		return;
	}
	if (asprintf(&aside, "%s.damaged", path) >= 0 && rename(path, aside) == 0)
		log_err("VM %s: kvp: %s is no pool file (%s): moved to %s; the host pool starts "
			"empty",
			vm, path, strerror(-r), aside);
	else
		log_err("VM %s: kvp: cannot read %s (%s); the host pool starts empty", vm, path,
			strerror(-r));
}

/* ---- changes: to watchers and to the agent ---- */

static void send_to_agent(struct kvp_vm *k, const struct kvp_entry *e, bool deleted, uint64_t gen)
{
	struct icd_conn *c = icd_conn(k->iv, &kvp_service);
	struct sess_buf b = { 0 };

	if (!c || !k->copy_sent)
		return;
	ic_enc_kvp(&b, deleted ? IC_KVP_DELETE : IC_KVP_SET,
		   &(struct ic_kvp){ .pool = IC_POOL_HOST,
				     .key = e->key,
				     .key_len = e->key_len,
				     .value = e->value,
				     .value_len = deleted ? 0 : e->value_len,
				     .gen = gen });
	icd_send(c, &b);
	sess_buf_free(&b);
}

static bool watches(const struct kstream *st, uint32_t pool, const struct kvp_entry *e)
{
	return !st->list && (st->pool == IC_POOL_ALL || st->pool == pool) &&
	       kvp_has_prefix(e, st->prefix, st->plen);
}

static void on_change(void *opaque, uint32_t pool, const struct kvp_entry *e, bool deleted,
		      uint64_t gen)
{
	struct kvp_vm *k = opaque;
	struct list_head *p, *t;
	char *line = NULL;
	size_t len = 0;

	list_for_each_safe (p, t, &k->streams) {
		struct kstream *st = list_entry(p, struct kstream, link);
		if (!watches(st, pool, e))
			continue;
		if (!line &&
		    !(line = kvj_line(pool, e, gen, deleted ? KVJ_DELETE : KVJ_SET, false, &len)))
			break;
		lst_write(st->ls, line, len); /* a full queue ends that watch */
	}
	free(line);
	if (pool == IC_POOL_HOST)
		send_to_agent(k, e, deleted, gen);
}

/* ---- the service ---- */

static void *kvp_attach(struct icd_vm *iv)
{
	struct kvp_vm *k = calloc(1, sizeof(*k));

	if (!k) {
		log_err("VM %s: out of memory for its key-value exchange", vm_name(icd_vm(iv)));
		return NULL;
	}
	k->iv = iv;
	list_init(&k->streams);
	kvs_init(&k->s, &(struct kvs_hooks){ .change = on_change, .save = kvp_save, .opaque = k });
	load(k);
	return k;
}

static void stream_free(struct kstream *st)
{
	list_del(&st->link);
	free(st->prefix);
	free(st);
}

static void kvp_detach(void *opaque)
{
	struct kvp_vm *k = opaque;

	/* lists finish from what there is now; watches write what they
	 * have, then end */
	while (!list_empty(&k->streams)) {
		struct kstream *st = list_entry(k->streams.next, struct kstream, link);
		lst_release(st->ls);
		stream_free(st);
	}
	kvs_clear(&k->s);
	free(k);
}

static void kvp_state_sent(void *opaque, bool enabled)
{
	struct kvp_vm *k = opaque;
	struct icd_conn *c = icd_conn(k->iv, &kvp_service);
	struct sess_buf b = { 0 };

	if (!enabled) {
		kvs_agent_gone(&k->s);
		k->copy_sent = false;
		return;
	}
	kvs_host_copy(&k->s, &b);
	if (b.err)
		log_err("VM %s: kvp: cannot encode the host pool for the agent: %s",
			vm_name(icd_vm(k->iv)), strerror(-b.err));
	else if (c)
		icd_send(c, &b);
	k->copy_sent = c && !b.err;
	sess_buf_free(&b);
}

static void kvp_closed(void *opaque)
{
	struct kvp_vm *k = opaque;

	kvs_agent_gone(&k->s);
	k->copy_sent = false;
}

static int kvp_frame(void *opaque, const struct sess_frame *f, uint64_t now)
{
	struct kvp_vm *k = opaque;
	struct icd_conn *c = icd_conn(k->iv, &kvp_service);
	struct kvs_error e;
	int r;

	(void)now;
	if (f->type >= IC_KVP_SET && f->type <= IC_KVP_COMMIT &&
	    !icd_enabled(k->iv, &kvp_service, NULL, NULL))
		return 0; /* turned off: ignored, unanswered */
	r = kvs_agent_frame(&k->s, f, &e);
	if (r == 0 && e.err && c) {
		log_debug("VM %s: kvp: %s from the agent refused: %s", vm_name(icd_vm(k->iv)),
			  ic_type_name(f->type), e.message);
		icd_send_error(c, e.seq, f->type, (int)e.err, e.message);
	}
	return r;
}

static void kvp_status_json(void *opaque, enum icd_link link, json_object *o, uint64_t now)
{
	struct kvp_vm *k = opaque;
	json_object *pools = json_object_new_object();

	(void)link;
	(void)now;
	for (uint32_t i = 0; i < IC_NPOOLS; i++) {
		json_object *p = json_object_new_object();
		json_object_object_add(p, "keys", json_object_new_int64((int64_t)k->s.pool[i].n));
		json_object_object_add(p, "bytes",
				       json_object_new_int64((int64_t)k->s.pool[i].bytes));
		if (i != IC_POOL_HOST)
			json_object_object_add(p, "stale", json_object_new_boolean(k->s.stale[i]));
		json_object_object_add(pools, ic_pool_name(i), p);
	}
	json_object_object_add(o, "pools", pools);
}

static const struct icd_service kvp_service = {
	.short_name = "kvp",
	.port = IC_KVP_PORT,
	.attach = kvp_attach,
	.detach = kvp_detach,
	.state_sent = kvp_state_sent,
	.frame = kvp_frame,
	.closed = kvp_closed,
	.status_json = kvp_status_json,
	.out_max = KVP_OUT_MAX,
};

/* ---- the control operations ---- */

enum kvp_action { A_LIST, A_GET, A_SET, A_DELETE, A_WATCH };

struct kvp_req {
	const char *vm;
	enum kvp_action action;
	uint32_t pool; /* IC_POOL_ALL: not given */
	uint8_t *prefix, *key, *value;
	size_t plen, klen, vlen;
};

static void req_clear(struct kvp_req *r)
{
	free(r->prefix);
	free(r->key);
	free(r->value);
}

static const char *const action_names[] = {
	[A_LIST] = "list", [A_GET] = "get", [A_SET] = "set", [A_DELETE] = "delete"
};

static json_object *parse_action(json_object *req, struct kvp_req *r)
{
	json_object *v;

	if (!json_object_object_get_ex(req, "action", &v) ||
	    !json_object_is_type(v, json_type_string))
		return ctl_reply_error(EINVAL, "kvp needs \"action\": list, get, set or delete");
	for (size_t i = 0; i < ARRAY_SIZE(action_names); i++)
		if (strcmp(json_object_get_string(v), action_names[i]) == 0) {
			r->action = (enum kvp_action)i;
			return NULL;
		}
	return ctl_reply_error(EINVAL, "\"action\" is list, get, set or delete");
}

static json_object *parse_key(json_object *req, struct kvp_req *r)
{
	int e = kvj_get_bytes(req, "key", IC_KVP_MAX_KEY, &r->key, &r->klen);

	if (e == -E2BIG)
		return ctl_reply_error(E2BIG, "the key is longer than 512 bytes");
	if (e == -ENOMEM)
		return ctl_reply_error(ENOMEM, "out of memory");
	if (e < 0 || !ic_kvp_key_ok(r->key, r->klen))
		return ctl_reply_error(EINVAL, "kvp get, set and delete need \"key\" (or "
					       "\"key_b64\"): 1 to 512 bytes without NUL");
	if (r->action != A_SET)
		return NULL;
	e = kvj_get_bytes(req, "value", IC_KVP_MAX_VALUE, &r->value, &r->vlen);
	if (e == -E2BIG)
		return ctl_reply_error(E2BIG, "the value is longer than 65536 bytes");
	if (e == -ENOMEM)
		return ctl_reply_error(ENOMEM, "out of memory");
	if (e < 0)
		return ctl_reply_error(EINVAL, "kvp set needs \"value_b64\" (base64) or \"value\"");
	return NULL;
}

/* The request's fields (op is "kvp" or "kvp-watch"); NULL, or the reply
 * saying what is wrong. */
static json_object *parse(json_object *req, bool watch, struct kvp_req *r)
{
	json_object *v, *o;
	int e;

	*r = (struct kvp_req){ .pool = IC_POOL_ALL, .action = A_WATCH };
	if (!json_object_object_get_ex(req, "vm", &v) || !json_object_is_type(v, json_type_string))
		return ctl_reply_error(EINVAL, "kvp needs \"vm\" (a VM name or VmId)");
	r->vm = json_object_get_string(v);
	if (!watch && (o = parse_action(req, r)))
		return o;
	if (json_object_object_get_ex(req, "pool", &v)) {
		int p = json_object_is_type(v, json_type_string)
				? ic_pool_parse(json_object_get_string(v))
				: -1;
		if (p < 0)
			return ctl_reply_error(EINVAL, "\"pool\" is host, guest or intrinsic");
		r->pool = (uint32_t)p;
	}
	e = kvj_get_bytes(req, "prefix", IC_KVP_MAX_KEY, &r->prefix, &r->plen);
	if (e == -ENOMEM)
		return ctl_reply_error(ENOMEM, "out of memory");
	if (e < 0 && e != -ENOENT)
		return ctl_reply_error(EINVAL, "\"prefix\" is a string of at most 512 bytes");
	if (r->action == A_LIST || r->action == A_WATCH)
		return NULL;
	return parse_key(req, r);
}

/* Whether the caller may read (or write) vm's pools; NULL, or the reply
 * saying no: the same whether the VM exists or not, but for root and the
 * vmsvc group, who may see which VMs there are. */
static json_object *check_caller(struct ctl_client *c, const char *arg, struct vm *vm, bool write)
{
	const struct ucred *cred = ctl_client_cred(c);
	const gid_t *groups;
	char msg[448], user[64];
	unsigned n;

	ctl_client_groups(c, &groups, &n);
	if (vm && access_allows(vm_session_access(vm), cred->uid, cred->gid, groups, n))
		return NULL;
	if (vm && !write && ctl_client_privileged(c))
		return NULL;
	if (!vm && ctl_client_privileged(c)) {
		snprintf(msg, sizeof(msg), "no VM '%.64s' (see 'vmsvc vm list')", arg);
		return ctl_reply_error(ENOENT, msg);
	}
	access_user_name(cred->uid, user, sizeof(user));
	if (write)
		snprintf(msg, sizeof(msg),
			 "not permitted: %s%s(uid %u) may not write the host pool of VM %.64s; "
			 "root and the users and groups in SessionUsers= and SessionGroups= of "
			 "vms.d/%.64s.conf may",
			 user, user[0] ? " " : "", (unsigned)cred->uid, vm ? vm_name(vm) : arg,
			 vm ? vm_name(vm) : arg);
	else
		snprintf(msg, sizeof(msg),
			 "not permitted: %s%s(uid %u) may not read the key-value pools of VM "
			 "%.64s; root, the 'vmsvc' group and the users and groups in "
			 "SessionUsers= and SessionGroups= of vms.d/%.64s.conf may",
			 user, user[0] ? " " : "", (unsigned)cred->uid, vm ? vm_name(vm) : arg,
			 vm ? vm_name(vm) : arg);
	return ctl_reply_error(EACCES, msg);
}

/* EOPNOTSUPP when the service is off for k's VM, else NULL. */
static json_object *check_enabled(struct kvp_vm *k)
{
	const char *vm = vm_name(icd_vm(k->iv));
	bool global, for_vm;
	char msg[384];

	if (icd_enabled(k->iv, &kvp_service, &global, &for_vm))
		return NULL;
	if (!global)
		snprintf(msg, sizeof(msg),
			 "the Key-Value Pair Exchange is disabled in the registry; turn it on with "
			 "'vmsvc service enable kvp'");
	else
		snprintf(msg, sizeof(msg),
			 "the Key-Value Pair Exchange is disabled for VM %s (DisabledServices= in "
			 "vms.d/%s.conf); turn it on with 'vmsvc vm integration %s enable kvp'",
			 vm, vm, vm);
	return ctl_reply_error(EOPNOTSUPP, msg);
}

/* ---- get, set, delete ---- */

static json_object *do_get(struct kvp_vm *k, const struct kvp_req *r)
{
	char msg[128];

	for (uint32_t p = 0; p < IC_NPOOLS; p++) {
		const struct kvp_entry *e;
		json_object *o;
		if (r->pool != IC_POOL_ALL && r->pool != p)
			continue;
		if (!(e = kvpool_get(&k->s.pool[p], r->key, r->klen)))
			continue;
		o = kvj_item(p, e, k->s.pool[p].gen, KVJ_ITEM, k->s.stale[p]);
		if (!o)
			return ctl_reply_error(ENOMEM, "out of memory");
		json_object_object_add(o, "ok", json_object_new_boolean(true));
		return o;
	}
	snprintf(msg, sizeof(msg), "no such key in the %s of VM %s",
		 r->pool == IC_POOL_ALL ? "pools" : ic_pool_name(r->pool), vm_name(icd_vm(k->iv)));
	return ctl_reply_error(ENOENT, msg);
}

static json_object *do_change(struct kvp_vm *k, const struct kvp_req *r)
{
	const char *vm = vm_name(icd_vm(k->iv));
	json_object *o;
	char msg[256];
	int e;

	if (r->pool != IC_POOL_ALL && r->pool != IC_POOL_HOST) {
		snprintf(msg, sizeof(msg),
			 "the %s pool of VM %s is written in the guest; the host writes the host "
			 "pool only",
			 ic_pool_name(r->pool), vm);
		return ctl_reply_error(EPERM, msg);
	}
	if (r->action == A_SET)
		e = kvs_host_set(&k->s, r->key, r->klen, r->value, r->vlen);
	else
		e = kvs_host_delete(&k->s, r->key, r->klen);
	if (e >= 0) {
		log_debug("VM %s: kvp: host pool %s (%zu keys)", vm,
			  r->action == A_SET ? "set" : "delete", k->s.pool[IC_POOL_HOST].n);
		o = ctl_reply_ok();
		json_object_object_add(o, "gen",
				       json_object_new_uint64(k->s.pool[IC_POOL_HOST].gen));
		return o;
	}
	if (e == -ENOENT)
		snprintf(msg, sizeof(msg), "no such key in the host pool of VM %s", vm);
	else if (e == -ENOSPC)
		snprintf(msg, sizeof(msg),
			 "the host pool of VM %s is full: at most 4096 keys and 1 MiB of keys and "
			 "values; nothing changed",
			 vm);
	else if (e == -EIO)
		snprintf(msg, sizeof(msg),
			 "vmsvcd cannot store the host pool of VM %s in %s (its log says why); "
			 "nothing changed",
			 vm, kvp_dir ? kvp_dir : "its state folder");
	else
		snprintf(msg, sizeof(msg), "cannot change the host pool of VM %s: %s", vm,
			 strerror(-e));
	return ctl_reply_error(-e, msg);
}

/* ---- list and watch streams ---- */

/* The index of the first key after st's last one in pool p. */
static size_t list_next(const struct kstream *st, const struct kvpool *p)
{
	size_t i;

	if (!st->have_last)
		return kvpool_find_prefix(p, st->prefix, st->plen);
	i = kvpool_find_prefix(p, st->last, st->last_len); /* the first key >= last */
	if (i < p->n && p->e[i].key_len == st->last_len &&
	    memcmp(p->e[i].key, st->last, st->last_len) == 0)
		i++;
	return i;
}

/* lstream's filler: the next lines of a list, by pool then key. */
static bool list_fill(void *opaque, struct lstream *ls)
{
	struct kstream *st = opaque;
	size_t made = 0;

	while (made < LST_CHUNK && st->at < IC_NPOOLS) {
		const struct kvpool *p = &st->k->s.pool[st->at];
		size_t i = list_next(st, p), len;
		char *line;

		if ((st->pool != IC_POOL_ALL && st->pool != st->at) || i >= p->n ||
		    !kvp_has_prefix(&p->e[i], st->prefix, st->plen)) {
			st->at++;
			st->have_last = false;
			continue;
		}
		line = kvj_line(st->at, &p->e[i], p->gen, KVJ_ITEM, st->k->s.stale[st->at], &len);
		if (!line || lst_write(ls, line, len) < 0) {
			free(line);
			return false; /* the stream ends (out of memory) */
		}
		free(line);
		made += len;
		memcpy(st->last, p->e[i].key, p->e[i].key_len);
		st->last_len = p->e[i].key_len;
		st->have_last = true;
	}
	return st->at >= IC_NPOOLS;
}

static void stream_gone(void *opaque, struct lstream *ls)
{
	(void)ls;
	stream_free(opaque);
}

/* Starts a list or watch stream for r; its client end in *fd. NULL, or
 * the reply saying why not. */
static json_object *stream_start(struct daemon *d, struct ctl_client *c, struct kvp_vm *k,
				 struct kvp_req *r, int *fd)
{
	uid_t uid = ctl_client_cred(c)->uid;
	struct kstream *st;
	char msg[160];

	if (uid != 0 && lst_count(uid) >= KVP_STREAMS_PER_UID) {
		snprintf(msg, sizeof(msg),
			 "too many kvp lists and watches open for uid %u (at most %d); end some",
			 (unsigned)uid, KVP_STREAMS_PER_UID);
		return ctl_reply_error(EAGAIN, msg);
	}
	if (!(st = calloc(1, sizeof(*st))))
		return ctl_reply_error(ENOMEM, "out of memory");
	st->k = k;
	st->list = r->action == A_LIST;
	st->pool = r->pool;
	st->prefix = TAKE_PTR(r->prefix);
	st->plen = r->plen;
	st->at = st->list && r->pool != IC_POOL_ALL ? r->pool : 0;
	st->ls = lst_new(
		d->loop, uid, st->list ? 0 : KVP_WATCH_QUEUE, st->list ? NULL : overflow_line,
		&(struct lst_hooks){
			.fill = st->list ? list_fill : NULL, .gone = stream_gone, .opaque = st },
		fd);
	if (!st->ls) {
		free(st->prefix);
		free(st);
		return ctl_reply_error(ENOMEM, "cannot make a stream (out of fds or memory)");
	}
	list_add_tail(&st->link, &k->streams);
	return NULL;
}

/* Answers c with reply and the stream's client end fd (closed here). */
static json_object *reply_with_fd(struct ctl_client *c, json_object *reply, int fd)
{
	struct ctl_pending p;

	if (ctl_pending_begin(&p, c) < 0) {
		safe_close(fd);
		json_object_put(reply);
		return ctl_reply_error(EAGAIN, "too many pending requests from this user");
	}
	ctl_pending_end(&p, reply, fd);
	safe_close(fd);
	json_object_put(reply);
	return NULL;
}

/* ---- the operations ---- */

/* Finds r's VM and checks the caller and the service: *k, or the reply. */
static json_object *find(struct daemon *d, struct ctl_client *c, const struct kvp_req *r,
			 struct kvp_vm **k)
{
	bool write = r->action == A_SET || r->action == A_DELETE;
	json_object *o;
	struct vm *vm;
	hv_guid_t id;

	vm = hv_guid_parse(r->vm, &id) == 0 ? vm_find(d, NULL, &id) : vm_find(d, r->vm, NULL);
	if ((o = check_caller(c, r->vm, vm, write)))
		return o;
	*k = icd_of(vm) ? icd_state(icd_of(vm), &kvp_service) : NULL;
	if (!*k)
		return ctl_reply_error(ENOMEM, "out of memory for the VM's key-value exchange");
	return check_enabled(*k);
}

static json_object *run(struct daemon *d, struct ctl_client *c, json_object *req, bool watch,
			unsigned nfds)
{
	struct kvp_req r;
	struct kvp_vm *k = NULL;
	json_object *o;
	int fd = -1;

	if (nfds != 0)
		return ctl_reply_error(EINVAL, "kvp and kvp-watch take no fds");
	if (!(o = parse(req, watch, &r)) && !(o = find(d, c, &r, &k))) {
		if (r.action == A_GET) {
			o = do_get(k, &r);
		} else if (r.action == A_SET || r.action == A_DELETE) {
			o = do_change(k, &r);
		} else if (!(o = stream_start(d, c, k, &r, &fd))) {
			o = ctl_reply_ok();
			if (!watch)
				json_object_object_add(
					o, "vm", json_object_new_string(vm_name(icd_vm(k->iv))));
			o = reply_with_fd(c, o, fd);
		}
	}
	req_clear(&r);
	return o;
}

static json_object *op_kvp(struct daemon *d, struct ctl_client *c, json_object *req, const int *fds,
			   unsigned nfds)
{
	(void)fds;
	return run(d, c, req, false, nfds);
}

static json_object *op_kvp_watch(struct daemon *d, struct ctl_client *c, json_object *req,
				 const int *fds, unsigned nfds)
{
	(void)fds;
	return run(d, c, req, true, nfds);
}

/* Makes dir with mode 0700 unless it exists. */
static int make_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0 ||
	    (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
		return 0;
	return errno == EEXIST ? -ENOTDIR : -errno;
}

int icd_kvp_start(struct daemon *d)
{
	int r;

	kvp_dir = path_join(d->state_dir, "kvp");
	if (!kvp_dir)
		return -ENOMEM;
	r = make_dir(d->state_dir);
	if (r == 0)
		r = make_dir(kvp_dir);
	if (r < 0) {
		log_err("cannot create the state folder %s: %s; the key-value exchange's host "
			"pools cannot be stored (vmsvcd --state-dir)",
			kvp_dir, strerror(-r));
		free(kvp_dir);
		kvp_dir = NULL;
	}
	r = icd_register(&kvp_service);
	if (r == 0)
		r = control_add_op("kvp", op_kvp);
	return r < 0 ? r : control_add_op("kvp-watch", op_kvp_watch);
}

void icd_kvp_stop(struct daemon *d)
{
	(void)d;
	lst_close_all();
	free(kvp_dir);
	kvp_dir = NULL;
}
