/* SPDX-License-Identifier: MIT */
/*
 * icd-fz.c - the VSS (filesystem freeze) service's host side
 * (docs/integration-services.md, port 705): the control operations
 * "freeze" and "thaw", and the agent's STATUS kept per VM for "status",
 * "integration" and `vmsvc vm show`.
 *
 * One request at a time per VM (a second gets EBUSY). A freeze waits for
 * the agent's FROZEN; a freeze whose caller goes away before FROZEN (the
 * CLI killed), or that is not answered within FZ_FREEZE_WAIT_MS, is
 * followed by a THAW at once, so nothing stays frozen for a caller that
 * can no longer thaw it (the agent's own watchdog thaws anyway when the
 * timeout passes). THAW waits for THAWED.
 *
 * Who may: root and the users and groups in the VM's SessionUsers= and
 * SessionGroups= (as for shutdown: both act inside the guest).
 */
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "control.h"
#include "daemon.h"
#include "icd-int.h"
#include "icd.h"
#include "log.h"
#include "util.h"
#include "vm.h"

#define FZ_FREEZE_WAIT_MS 90000 /* hooks, sync() and FIFREEZE */
#define FZ_THAW_WAIT_MS	  30000 /* FITHAW and the thaw hooks */
#define FZ_TEXT		  (IC_FZ_MAX_PATH + 512)

enum fz_kind { FZ_NONE, FZ_FREEZING, FZ_THAWING };

/* The agent's last STATUS (or FROZEN/THAWED), cleaned for JSON. */
struct fz_status {
	bool known;
	uint32_t state;	     /* enum ic_fz_state */
	uint64_t thaw_at_ms; /* frozen: when the agent thaws by itself */
	char *message;
	uint32_t nmounts, nfailures;
	char *mounts[IC_FZ_MAX_MOUNTS];
	char *failures[IC_FZ_MAX_MOUNTS];
};

struct fz {
	struct icd_vm *iv;
	uint32_t next_seq;
	/* the request under way */
	enum fz_kind kind;
	struct ctl_pending pend;
	uint32_t seq;
	uint64_t deadline_ms;
	struct fz_status st;
};

static const struct icd_service fz_service;

static const char *vmn(const struct fz *z)
{
	return vm_name(icd_vm(z->iv));
}

static void status_clear(struct fz_status *s)
{
	free(s->message);
	for (uint32_t i = 0; i < s->nmounts; i++)
		free(s->mounts[i]);
	for (uint32_t i = 0; i < s->nfailures; i++)
		free(s->failures[i]);
	*s = (struct fz_status){ 0 };
}

static char *clean_dup(const char *s)
{
	char buf[FZ_TEXT];

	icd_clean(s ? s : "", buf, sizeof(buf));
	return strdup(buf);
}

static void status_take(struct fz_status *s, const struct ic_fz_result *r, uint64_t now)
{
	status_clear(s);
	s->known = true;
	s->state = r->state;
	s->thaw_at_ms = r->state == IC_FZ_FROZEN_STATE ? now + r->thaw_in_ms : 0;
	s->message = r->message ? clean_dup(r->message) : NULL;
	for (uint32_t i = 0; i < r->nmounts; i++)
		if ((s->mounts[s->nmounts] = clean_dup(r->mounts[i])))
			s->nmounts++;
	for (uint32_t i = 0; i < r->nfailures; i++)
		if ((s->failures[s->nfailures] = clean_dup(r->failures[i])))
			s->nfailures++;
}

static json_object *strs_json(char *const *s, uint32_t n)
{
	json_object *a = json_object_new_array();

	for (uint32_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(s[i]));
	return a;
}

static const char *state_name(const struct fz *z)
{
	if (z->kind == FZ_FREEZING)
		return "freezing";
	if (z->kind == FZ_THAWING)
		return "thawing";
	if (!z->st.known)
		return "unknown";
	return z->st.state == IC_FZ_FROZEN_STATE ? "frozen" : "thawed";
}

/* {"state", "mounts", "thaw_in_ms", "failures", "message"} */
static json_object *freeze_json(const struct fz *z, uint64_t now)
{
	json_object *o = json_object_new_object();
	bool frozen = z->st.known && z->st.state == IC_FZ_FROZEN_STATE;

	json_object_object_add(o, "state", json_object_new_string(state_name(z)));
	json_object_object_add(o, "mounts", strs_json(z->st.mounts, frozen ? z->st.nmounts : 0));
	if (frozen)
		json_object_object_add(
			o, "thaw_in_ms",
			json_object_new_int64(
				z->st.thaw_at_ms > now ? (int64_t)(z->st.thaw_at_ms - now) : 0));
	if (z->st.nfailures)
		json_object_object_add(o, "failures", strs_json(z->st.failures, z->st.nfailures));
	if (z->st.message && z->st.message[0])
		json_object_object_add(o, "message", json_object_new_string(z->st.message));
	return o;
}

/* Answers the request under way with reply (taken). */
static void req_end(struct fz *z, json_object *reply)
{
	z->kind = FZ_NONE;
	ctl_pending_end(&z->pend, reply, -1);
	json_object_put(reply);
}

static void send_thaw(struct fz *z, const char *why)
{
	struct icd_conn *c = icd_conn(z->iv, &fz_service);
	struct sess_buf b = { 0 };

	if (!c)
		return;
	log_info("VM %s: freeze: sending THAW (%s)", vmn(z), why);
	ic_enc_fz_thaw(&b, z->next_seq++ ?: z->next_seq++);
	icd_send(c, &b);
	sess_buf_free(&b);
}

static void *fz_attach(struct icd_vm *iv)
{
	struct fz *z = calloc(1, sizeof(*z));

	if (!z) {
		log_err("VM %s: out of memory for its VSS service", vm_name(icd_vm(iv)));
		return NULL;
	}
	z->iv = iv;
	z->next_seq = 1;
	return z;
}

static void fz_detach(void *st)
{
	struct fz *z = st;
	char msg[128];

	if (z->kind != FZ_NONE) {
		snprintf(msg, sizeof(msg), "VM %s is no longer served by vmsvcd", vmn(z));
		req_end(z, ctl_reply_error(ENETUNREACH, msg));
	}
	status_clear(&z->st);
	free(z);
}

static void fz_closed(void *st)
{
	struct fz *z = st;
	char msg[200];

	/* the agent thaws by itself when this connection ends */
	status_clear(&z->st);
	if (z->kind == FZ_NONE)
		return;
	snprintf(msg, sizeof(msg),
		 "the agent's VSS connection in VM %s ended before it answered (the agent thaws "
		 "when it ends)",
		 vmn(z));
	req_end(z, ctl_reply_error(ECONNRESET, msg));
}

static void fz_tick(void *st, uint64_t now)
{
	struct fz *z = st;
	char msg[200];

	if (z->kind == FZ_FREEZING && !z->pend.client) {
		z->kind = FZ_NONE;
		ctl_pending_end(&z->pend, NULL, -1);
		send_thaw(z, "the freeze's caller went away before FROZEN");
		return;
	}
	if (z->kind == FZ_NONE || now < z->deadline_ms)
		return;
	snprintf(msg, sizeof(msg), "the agent in VM %s did not answer within %d s", vmn(z),
		 (z->kind == FZ_FREEZING ? FZ_FREEZE_WAIT_MS : FZ_THAW_WAIT_MS) / 1000);
	if (z->kind == FZ_FREEZING)
		send_thaw(z, "no FROZEN in time");
	req_end(z, ctl_reply_error(ETIMEDOUT, msg));
}

/* The caller's reply for FROZEN or THAWED r. */
static json_object *answer(struct fz *z, const struct ic_fz_result *r, bool freeze)
{
	char text[FZ_TEXT], msg[FZ_TEXT + 256];
	uint32_t err = r->err;
	json_object *o;

	if (err == 0) {
		o = ctl_reply_ok();
	} else {
		icd_clean(r->message ? r->message : "", text, sizeof(text));
		if (err > 4095 || !strerrorname_np((int)err))
			err = EIO;
		snprintf(msg, sizeof(msg), "the agent in VM %s could not %s: %s", vmn(z),
			 freeze ? "freeze its filesystems" : "thaw its filesystems",
			 text[0] ? text : strerror((int)err));
		o = ctl_reply_error((int)err, msg);
		json_object_object_add(o, "in_guest", json_object_new_boolean(true));
	}
	json_object_object_add(o, "vm", json_object_new_string(vmn(z)));
	json_object_object_add(o, "freeze", freeze_json(z, now_ms()));
	json_object_object_add(o, "mounts", strs_json(z->st.mounts, z->st.nmounts));
	json_object_object_add(o, "failures", strs_json(z->st.failures, z->st.nfailures));
	return o;
}

static int fz_frame(void *st, const struct sess_frame *f, uint64_t now)
{
	struct fz *z = st;
	struct ic_fz_result r;
	bool freeze = f->type == IC_FZ_FROZEN;

	if (f->type != IC_FZ_FROZEN && f->type != IC_FZ_THAWED && f->type != IC_FZ_STATUS)
		return -EOPNOTSUPP;
	if (ic_dec_fz_result(f, &r) < 0)
		return -EPROTO;
	status_take(&z->st, &r, now);
	if (f->type == IC_FZ_STATUS)
		return 0;
	log_info("VM %s: %s seq %u: %s (%u mount%s, %u failure%s)", vmn(z), ic_type_name(f->type),
		 r.seq, r.err ? strerrorname_np((int)r.err) ?: "error" : "ok", r.nmounts,
		 r.nmounts == 1 ? "" : "s", r.nfailures, r.nfailures == 1 ? "" : "s");
	if (z->kind != (freeze ? FZ_FREEZING : FZ_THAWING) || r.seq != z->seq)
		return 0;  /* answers a request nobody waits for any more */
	z->kind = FZ_NONE; /* the reply's "freeze" says what is, not "freezing" */
	if (freeze && !z->pend.client && r.err == 0) { /* the tick has not seen it yet */
		ctl_pending_end(&z->pend, NULL, -1);
		send_thaw(z, "the freeze's caller went away");
		return 0;
	}
	req_end(z, answer(z, &r, freeze));
	return 0;
}

/* ERROR for the request under way (e.g. EOPNOTSUPP from an older agent). */
static void fz_error(void *st, const struct ic_error *e)
{
	struct fz *z = st;
	char text[512], msg[768];

	if (z->kind == FZ_NONE || e->seq != z->seq ||
	    (e->type != IC_FZ_FREEZE && e->type != IC_FZ_THAW))
		return;
	icd_clean(e->message, text, sizeof(text));
	snprintf(msg, sizeof(msg), "the agent in VM %s refused the %s: %s", vmn(z),
		 e->type == IC_FZ_FREEZE ? "freeze" : "thaw", text[0] ? text : "(no reason)");
	req_end(z,
		ctl_reply_error(e->err > 4095 || !strerrorname_np((int)e->err) ? EIO : (int)e->err,
				msg));
}

static void fz_status_json(void *st, enum icd_link link, json_object *o, uint64_t now)
{
	(void)link;
	json_object_object_add(o, "freeze", freeze_json(st, now));
}

/* ---- the "freeze" and "thaw" operations ---- */

struct fz_args {
	const char *vm;
	uint32_t timeout_ms;
	uint32_t nmounts;
	const char *mounts[IC_FZ_MAX_MOUNTS];
};

static json_object *parse_mounts(json_object *v, struct fz_args *a)
{
	if (!json_object_is_type(v, json_type_array) ||
	    json_object_array_length(v) > IC_FZ_MAX_MOUNTS)
		return ctl_reply_error(EINVAL, "\"mounts\" is a list of at most 64 absolute paths");
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *m = json_object_array_get_idx(v, i);
		const char *s = json_object_get_string(m);

		if (!json_object_is_type(m, json_type_string) || s[0] != '/' ||
		    json_object_get_string_len(m) > IC_FZ_MAX_PATH ||
		    strlen(s) != (size_t)json_object_get_string_len(m))
			return ctl_reply_error(EINVAL, "\"mounts\" holds absolute paths of at "
						       "most 4096 bytes");
		a->mounts[a->nmounts++] = s;
	}
	return NULL;
}

/* Parses the request; NULL, or the reply saying what is wrong. */
static json_object *parse(json_object *req, struct fz_args *a, bool freeze)
{
	json_object *v;

	*a = (struct fz_args){ .timeout_ms = IC_FZ_DEFAULT_TIMEOUT_MS };
	if (!json_object_object_get_ex(req, "vm", &v) || !json_object_is_type(v, json_type_string))
		return ctl_reply_error(EINVAL, freeze ? "freeze needs \"vm\" (a VM name or VmId)"
						      : "thaw needs \"vm\" (a VM name or VmId)");
	a->vm = json_object_get_string(v);
	if (!freeze)
		return NULL;
	if (json_object_object_get_ex(req, "timeout_ms", &v)) {
		int64_t t = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || t < 1 || t > IC_FZ_MAX_TIMEOUT_MS)
			return ctl_reply_error(EINVAL, "\"timeout_ms\" is 1..600000 milliseconds");
		a->timeout_ms = (uint32_t)t;
	}
	if (json_object_object_get_ex(req, "mounts", &v))
		return parse_mounts(v, a);
	return NULL;
}

/* Root, or a user or group the VM's SessionUsers=/SessionGroups= allow. */
static json_object *check_caller(struct ctl_client *c, const char *arg, struct vm *vm, bool freeze)
{
	const struct ucred *cred = ctl_client_cred(c);
	const gid_t *groups;
	char msg[384], user[64];
	unsigned n;

	ctl_client_groups(c, &groups, &n);
	if (vm && access_allows(vm_session_access(vm), cred->uid, cred->gid, groups, n))
		return NULL;
	if (!vm && cred->uid == 0) {
		snprintf(msg, sizeof(msg), "no VM '%.64s' (see 'vmsvc vm list')", arg);
		return ctl_reply_error(ENOENT, msg);
	}
	access_user_name(cred->uid, user, sizeof(user));
	snprintf(msg, sizeof(msg),
		 "not permitted: %s%s(uid %u) may not %s VM %.64s; root and the users and groups "
		 "in SessionUsers= and SessionGroups= of vms.d/%.64s.conf may",
		 user, user[0] ? " " : "", (unsigned)cred->uid, freeze ? "freeze" : "thaw",
		 vm ? vm_name(vm) : arg, vm ? vm_name(vm) : arg);
	return ctl_reply_error(EACCES, msg);
}

/* Why a request cannot go to the agent now (NULL: it can). */
static json_object *check_reachable(struct icd_vm *iv)
{
	const char *vm = vm_name(icd_vm(iv));
	char msg[512];
	bool global;

	if (!icd_enabled(iv, &fz_service, &global, NULL)) {
		if (!global)
			snprintf(msg, sizeof(msg),
				 "the VSS service is disabled in the registry; turn it on with "
				 "'vmsvc service enable VSS'");
		else
			snprintf(msg, sizeof(msg),
				 "the VSS service is disabled for VM %s (DisabledServices= in "
				 "vms.d/%s.conf); turn it on with 'vmsvc vm integration %s enable "
				 "vss'",
				 vm, vm, vm);
		return ctl_reply_error(EOPNOTSUPP, msg);
	}
	if (vm_paused(icd_vm(iv)) || !vm_running(icd_vm(iv))) {
		snprintf(msg, sizeof(msg), "VM %s is %s", vm,
			 vm_paused(icd_vm(iv))
				 ? "paused (QEMU stopped it): resume it first (QMP cont)"
				 : "not running (its guest's vsock driver is not up)");
		return ctl_reply_error(ENETUNREACH, msg);
	}
	if (icd_conn(iv, &fz_service))
		return NULL;
	if (icd_link(iv, &fz_service) == ICD_MISMATCH)
		snprintf(msg, sizeof(msg),
			 "the agent in VM %s speaks no protocol version vmsvcd speaks (Protocol "
			 "Mismatch): update vmsvc-agent or vmsvc",
			 vm);
	else
		snprintf(msg, sizeof(msg),
			 "no agent is connected to the VSS service in VM %s: freezing needs "
			 "vmsvc-agent with [Freeze] Enabled=yes",
			 vm);
	return ctl_reply_error(ENOTCONN, msg);
}

/* Sends FREEZE or THAW and leaves the answer to FROZEN or THAWED. */
static json_object *send_request(struct fz *z, struct ctl_client *c, const struct fz_args *a,
				 bool freeze)
{
	const struct ucred *cred = ctl_client_cred(c);
	struct sess_buf b = { 0 };

	if (z->kind != FZ_NONE)
		return ctl_reply_error(EBUSY, z->kind == FZ_FREEZING
						      ? "a freeze of this VM is under way"
						      : "a thaw of this VM is under way");
	if (ctl_pending_begin(&z->pend, c) < 0)
		return ctl_reply_error(EAGAIN, "too many pending requests; wait for them");
	z->seq = z->next_seq++ ?: z->next_seq++;
	z->kind = freeze ? FZ_FREEZING : FZ_THAWING;
	z->deadline_ms = now_ms() + (freeze ? FZ_FREEZE_WAIT_MS : FZ_THAW_WAIT_MS);
	if (freeze) {
		struct ic_fz_freeze q = { .seq = z->seq, .timeout_ms = a->timeout_ms };

		q.nmounts = a->nmounts;
		memcpy(q.mounts, a->mounts, sizeof(a->mounts[0]) * a->nmounts);
		ic_enc_fz_freeze(&b, &q);
	} else {
		ic_enc_fz_thaw(&b, z->seq);
	}
	log_info("VM %s: %s %u (%u mount%s, timeout %u ms) from uid %u", vmn(z),
		 freeze ? "freeze" : "thaw", z->seq, a->nmounts, a->nmounts == 1 ? "" : "s",
		 a->timeout_ms, (unsigned)cred->uid);
	if (b.err) {
		req_end(z, ctl_reply_error(-b.err, "cannot encode the request"));
		sess_buf_free(&b);
		return NULL;
	}
	icd_send(icd_conn(z->iv, &fz_service), &b);
	sess_buf_free(&b);
	return NULL;
}

static json_object *op_common(struct daemon *d, struct ctl_client *c, json_object *req,
			      unsigned nfds, bool freeze)
{
	struct fz_args a;
	json_object *o;
	struct icd_vm *iv;
	struct fz *z;
	struct vm *vm;
	hv_guid_t id;

	if (nfds != 0)
		return ctl_reply_error(EINVAL, "freeze and thaw take no fds");
	if ((o = parse(req, &a, freeze)))
		return o;
	vm = hv_guid_parse(a.vm, &id) == 0 ? vm_find(d, NULL, &id) : vm_find(d, a.vm, NULL);
	if ((o = check_caller(c, a.vm, vm, freeze)))
		return o;
	iv = icd_of(vm);
	z = iv ? icd_state(iv, &fz_service) : NULL;
	if (!z)
		return ctl_reply_error(ENOMEM, "out of memory for the VM's VSS service");
	if ((o = check_reachable(iv)))
		return o;
	return send_request(z, c, &a, freeze);
}

static json_object *op_freeze(struct daemon *d, struct ctl_client *c, json_object *req,
			      const int *fds, unsigned nfds)
{
	(void)fds;
	return op_common(d, c, req, nfds, true);
}

static json_object *op_thaw(struct daemon *d, struct ctl_client *c, json_object *req,
			    const int *fds, unsigned nfds)
{
	(void)fds;
	return op_common(d, c, req, nfds, false);
}

static const struct icd_service fz_service = {
	.short_name = "vss",
	.port = IC_VSS_PORT,
	.attach = fz_attach,
	.detach = fz_detach,
	.frame = fz_frame,
	.error = fz_error,
	.closed = fz_closed,
	.tick = fz_tick,
	.status_json = fz_status_json,
};

int icd_fz_start(struct daemon *d)
{
	int r;

	(void)d;
	r = icd_register(&fz_service);
	if (r == 0)
		r = control_add_op("freeze", op_freeze);
	return r < 0 ? r : control_add_op("thaw", op_thaw);
}
