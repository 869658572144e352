/* SPDX-License-Identifier: MIT */
/*
 * icd-sd.c - the Shutdown's host side (docs/integration-services.md): the
 * control operation "shutdown" sends REQUEST on the agent's connection and
 * answers the caller with the agent's REPLY, or with why there is none.
 *
 * Who may: root and the users and groups in the VM's SessionUsers= and
 * SessionGroups= (the same policy as the VM Session Service: both act
 * inside the guest). The agent answers within 1 s; vmsvcd waits
 * SD_REPLY_TIMEOUT_MS. A request stays pending in the VM's state, charged
 * to its caller (ctl_pending), until the REPLY, an ERROR with its seq, the
 * connection's end, the timeout, or the VM going away.
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

#define SD_REPLY_TIMEOUT_MS 2000
#define SD_MAX_PENDING	    8 /* per VM */

struct sd_req {
	struct ctl_pending pend;
	struct list_head link; /* sd->pending */
	struct sd *sd;
	uint32_t seq;
	uint64_t deadline_ms;
};

struct sd {
	struct icd_vm *iv;
	uint32_t next_seq;
	struct list_head pending;
	unsigned npending;
};

static const struct icd_service sd_service;

static const char *const actions[] = {
	[IC_SD_POWEROFF] = "poweroff", [IC_SD_REBOOT] = "reboot", [IC_SD_HALT] = "halt"
};

/* Answers r's caller with reply (taken) and frees r. */
static void req_end(struct sd_req *r, json_object *reply)
{
	list_del(&r->link);
	r->sd->npending--;
	ctl_pending_end(&r->pend, reply, -1);
	json_object_put(reply);
	free(r);
}

static struct sd_req *req_find(struct sd *sd, uint32_t seq)
{
	struct list_head *p, *t;

	list_for_each_safe (p, t, &sd->pending) {
		struct sd_req *r = list_entry(p, struct sd_req, link);
		if (r->seq == seq)
			return r;
	}
	return NULL;
}

/* Ends every pending request with error err and message msg. */
static void fail_all(struct sd *sd, int err, const char *msg)
{
	while (!list_empty(&sd->pending))
		req_end(list_entry(sd->pending.next, struct sd_req, link),
			ctl_reply_error(err, msg));
}

static void *sd_attach(struct icd_vm *iv)
{
	struct sd *sd = calloc(1, sizeof(*sd));

	if (!sd) {
		log_err("VM %s: out of memory for its shutdown service", vm_name(icd_vm(iv)));
		return NULL;
	}
	sd->iv = iv;
	sd->next_seq = 1;
	list_init(&sd->pending);
	return sd;
}

static void sd_detach(void *st)
{
	struct sd *sd = st;
	char msg[128];

	snprintf(msg, sizeof(msg), "VM %s is no longer served by vmsvcd", vm_name(icd_vm(sd->iv)));
	fail_all(sd, ENETUNREACH, msg);
	free(sd);
}

static void sd_closed(void *st)
{
	struct sd *sd = st;
	char msg[160];

	snprintf(msg, sizeof(msg),
		 "the agent's shutdown connection in VM %s ended before it answered",
		 vm_name(icd_vm(sd->iv)));
	fail_all(sd, ECONNRESET, msg);
}

static void sd_tick(void *st, uint64_t now)
{
	struct sd *sd = st;
	struct list_head *p, *t;
	char msg[160];

	list_for_each_safe (p, t, &sd->pending) {
		struct sd_req *r = list_entry(p, struct sd_req, link);
		if (now < r->deadline_ms)
			continue;
		snprintf(msg, sizeof(msg), "the agent in VM %s did not answer within %d s",
			 vm_name(icd_vm(sd->iv)), SD_REPLY_TIMEOUT_MS / 1000);
		log_info("VM %s: shutdown request %u: no answer within %d ms",
			 vm_name(icd_vm(sd->iv)), r->seq, SD_REPLY_TIMEOUT_MS);
		req_end(r, ctl_reply_error(ETIMEDOUT, msg));
	}
}

/* The caller's reply for the agent's answer err (0: accepted). */
static json_object *answer(struct sd *sd, uint32_t err, const char *message,
			   const char *const *blockers, uint32_t nblockers)
{
	const char *vm = vm_name(icd_vm(sd->iv)), *boot_id;
	char text[IC_SD_MAX_MESSAGE + 1], msg[IC_SD_MAX_MESSAGE + 256], item[512];
	json_object *o, *list;

	if (err == 0) {
		o = ctl_reply_ok();
		json_object_object_add(o, "vm", json_object_new_string(vm));
		if ((boot_id = icd_hb_boot_id(sd->iv)))
			json_object_object_add(o, "boot_id", json_object_new_string(boot_id));
		return o;
	}
	icd_clean(message ? message : "", text, sizeof(text));
	if (err > 4095 || !strerrorname_np((int)err))
		err = EIO;
	if (err == EBUSY)
		snprintf(msg, sizeof(msg),
			 "VM %s did not shut down: blocked by inhibitors (force skips them)%s%s",
			 vm, text[0] ? ": " : "", text);
	else if (err == EPERM)
		snprintf(msg, sizeof(msg),
			 "the agent in VM %s refuses to shut it down (its configuration)%s%s", vm,
			 text[0] ? ": " : "", text);
	else
		snprintf(msg, sizeof(msg), "the agent in VM %s could not shut it down: %s", vm,
			 text[0] ? text : strerror((int)err));
	o = ctl_reply_error((int)err, msg);
	if (err == EBUSY) {
		list = json_object_new_array();
		for (uint32_t i = 0; i < nblockers && i < IC_SD_MAX_BLOCKERS; i++) {
			icd_clean(blockers[i], item, sizeof(item));
			json_object_array_add(list, json_object_new_string(item));
		}
		json_object_object_add(o, "blockers", list);
	}
	return o;
}

static int sd_frame(void *st, const struct sess_frame *f, uint64_t now)
{
	struct sd *sd = st;
	struct ic_sd_reply x;
	struct sd_req *r;

	(void)now;
	if (f->type != IC_SD_REPLY)
		return -EOPNOTSUPP;
	if (ic_dec_sd_reply(f, &x) < 0)
		return -EPROTO;
	r = req_find(sd, x.seq);
	if (!r) {
		log_info("VM %s: shutdown: REPLY for no pending request (seq %u) ignored",
			 vm_name(icd_vm(sd->iv)), x.seq);
		return 0;
	}
	log_info("VM %s: shutdown request %u: %s", vm_name(icd_vm(sd->iv)), x.seq,
		 x.err == 0 ? "accepted by the agent" : strerrorname_np((int)x.err) ?: "refused");
	req_end(r, answer(sd, x.err, x.message, x.blockers, x.nblockers));
	return 0;
}

/* ERROR for a pending REQUEST (e.g. EOPNOTSUPP from an older agent). */
static void sd_error(void *st, const struct ic_error *e)
{
	struct sd *sd = st;
	struct sd_req *r = e->type == IC_SD_REQUEST ? req_find(sd, e->seq) : NULL;

	if (r)
		req_end(r, answer(sd, e->err ? e->err : EIO, e->message, NULL, 0));
}

/* ---- the "shutdown" operation ---- */

struct sd_args {
	const char *vm;
	uint32_t action, flags, timeout_s;
	const char *message;
};

/* Parses the request; NULL, or the reply saying what is wrong. */
static json_object *parse(json_object *req, struct sd_args *a)
{
	json_object *v;

	*a = (struct sd_args){ .action = IC_SD_POWEROFF };
	if (!json_object_object_get_ex(req, "vm", &v) || !json_object_is_type(v, json_type_string))
		return ctl_reply_error(EINVAL, "shutdown needs \"vm\" (a VM name or VmId)");
	a->vm = json_object_get_string(v);
	if (json_object_object_get_ex(req, "action", &v)) {
		a->action = 0;
		for (uint32_t i = 1; i < ARRAY_SIZE(actions); i++)
			if (json_object_is_type(v, json_type_string) &&
			    strcmp(json_object_get_string(v), actions[i]) == 0)
				a->action = i;
		if (!a->action)
			return ctl_reply_error(EINVAL, "\"action\" is poweroff, reboot or halt");
	}
	if (json_object_object_get_ex(req, "force", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			return ctl_reply_error(EINVAL, "\"force\" is true or false");
		a->flags = json_object_get_boolean(v) ? IC_SD_FORCE : 0;
	}
	if (json_object_object_get_ex(req, "timeout_s", &v)) {
		int64_t t = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || t < 0 || t > 86400)
			return ctl_reply_error(EINVAL, "\"timeout_s\" is 0..86400 seconds");
		a->timeout_s = (uint32_t)t;
	}
	if (json_object_object_get_ex(req, "message", &v)) {
		if (!json_object_is_type(v, json_type_string) ||
		    json_object_get_string_len(v) > IC_SD_MAX_MESSAGE ||
		    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
			return ctl_reply_error(EINVAL, "\"message\" is a string of at most 2048 "
						       "bytes");
		a->message = json_object_get_string(v);
	}
	return NULL;
}

/* Root, or a user or group the VM's SessionUsers=/SessionGroups= allow. */
static json_object *check_caller(struct ctl_client *c, const char *arg, struct vm *vm)
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
	/* the same answer whether the VM exists or not: no probing */
	access_user_name(cred->uid, user, sizeof(user));
	snprintf(msg, sizeof(msg),
		 "not permitted: %s%s(uid %u) may not shut down VM %.64s; root and the users and "
		 "groups in SessionUsers= and SessionGroups= of vms.d/%.64s.conf may",
		 user, user[0] ? " " : "", (unsigned)cred->uid, vm ? vm_name(vm) : arg,
		 vm ? vm_name(vm) : arg);
	return ctl_reply_error(EACCES, msg);
}

/* Why a request cannot go to the agent now (NULL: it can). */
static json_object *check_reachable(struct icd_vm *iv)
{
	const char *vm = vm_name(icd_vm(iv));
	const struct icd_service *hb = icd_service_find("heartbeat");
	char msg[512];
	bool global, for_vm;
	enum icd_link link;

	if (!icd_enabled(iv, &sd_service, &global, &for_vm)) {
		if (!global)
			snprintf(msg, sizeof(msg),
				 "the Shutdown service is disabled in the registry; turn it on "
				 "with 'vmsvc service enable Shutdown'");
		else
			snprintf(msg, sizeof(msg),
				 "the Shutdown service is disabled for VM %s (DisabledServices= in "
				 "vms.d/%s.conf); turn it on with 'vmsvc vm integration %s enable "
				 "shutdown'",
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
	if (icd_conn(iv, &sd_service))
		return NULL;
	if (icd_link(iv, &sd_service) == ICD_MISMATCH) {
		snprintf(msg, sizeof(msg),
			 "the agent in VM %s speaks no protocol version vmsvcd speaks (Protocol "
			 "Mismatch): update vmsvc-agent or vmsvc",
			 vm);
		return ctl_reply_error(EPROTONOSUPPORT, msg);
	}
	snprintf(msg, sizeof(msg),
		 "no agent is connected in VM %s (heartbeat: %s): vmsvc cannot shut it down "
		 "without vmsvc-agent; use your VM manager, e.g. QMP system_powerdown (vmsvc "
		 "tried no fallback)",
		 vm, hb ? icd_status_title(icd_status_name(iv, hb, &link, now_ms())) : "unknown");
	return ctl_reply_error(ENOTCONN, msg);
}

/* Sends REQUEST and leaves the answer to the REPLY. */
static json_object *send_request(struct sd *sd, struct ctl_client *c, const struct sd_args *a)
{
	const struct ucred *cred = ctl_client_cred(c);
	struct sd_req *r = calloc(1, sizeof(*r));
	struct sess_buf b = { 0 };
	char user[64], requester[128];

	if (!r)
		return ctl_reply_error(ENOMEM, "out of memory");
	if (sd->npending >= SD_MAX_PENDING || ctl_pending_begin(&r->pend, c) < 0) {
		free(r);
		return ctl_reply_error(EAGAIN, "too many pending shutdown requests; wait for them "
					       "to complete");
	}
	access_user_name(cred->uid, user, sizeof(user));
	snprintf(requester, sizeof(requester), "uid %u (%s) on the host", (unsigned)cred->uid,
		 user[0] ? user : "?");
	r->sd = sd;
	r->seq = sd->next_seq++ ?: sd->next_seq++;
	r->deadline_ms = now_ms() + SD_REPLY_TIMEOUT_MS;
	list_add_tail(&r->link, &sd->pending);
	sd->npending++;
	ic_enc_sd_request(&b, &(struct ic_sd_request){ .seq = r->seq,
						       .action = a->action,
						       .flags = a->flags,
						       .timeout_s = a->timeout_s,
						       .message = a->message,
						       .requester = requester });
	log_info("VM %s: shutdown request %u (%s%s) from %s", vm_name(icd_vm(sd->iv)), r->seq,
		 actions[a->action], a->flags & IC_SD_FORCE ? ", force" : "", requester);
	if (b.err) {
		req_end(r, ctl_reply_error(-b.err, "cannot encode the request"));
		sess_buf_free(&b);
		return NULL;
	}
	icd_send(icd_conn(sd->iv, &sd_service), &b);
	sess_buf_free(&b);
	return NULL; /* the REPLY, its absence or the connection's end answers */
}

static json_object *op_shutdown(struct daemon *d, struct ctl_client *c, json_object *req,
				const int *fds, unsigned nfds)
{
	struct sd_args a;
	json_object *o;
	struct icd_vm *iv;
	struct sd *sd;
	struct vm *vm;
	hv_guid_t id;

	(void)fds;
	if (nfds != 0)
		return ctl_reply_error(EINVAL, "shutdown takes no fds");
	if ((o = parse(req, &a)))
		return o;
	vm = hv_guid_parse(a.vm, &id) == 0 ? vm_find(d, NULL, &id) : vm_find(d, a.vm, NULL);
	if ((o = check_caller(c, a.vm, vm)))
		return o;
	iv = icd_of(vm);
	sd = iv ? icd_state(iv, &sd_service) : NULL;
	if (!sd)
		return ctl_reply_error(ENOMEM, "out of memory for the VM's shutdown service");
	if ((o = check_reachable(iv)))
		return o;
	return send_request(sd, c, &a);
}

static const struct icd_service sd_service = {
	.short_name = "shutdown",
	.port = IC_SHUTDOWN_PORT,
	.attach = sd_attach,
	.detach = sd_detach,
	.frame = sd_frame,
	.error = sd_error,
	.closed = sd_closed,
	.tick = sd_tick,
};

int icd_sd_start(struct daemon *d)
{
	int r;

	(void)d;
	r = icd_register(&sd_service);
	return r < 0 ? r : control_add_op("shutdown", op_shutdown);
}
