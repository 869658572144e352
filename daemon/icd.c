/* SPDX-License-Identifier: MIT */
/*
 * icd.c - the integration services framework (icd-int.h,
 * docs/integration-services.md).
 *
 * A route of class ROUTE_INTERNAL takes the guest's connections to the
 * registered services' ports. Only a connection from a privileged source
 * port (below 1024: root in the guest, i.e. the agent) is taken; others are
 * refused as not permitted (counted by route_admit, logged once per VM and
 * minute). A taken connection is a socket pair: one end becomes the
 * connection's host stream (hstream.c relays it), the other is served here
 * without blocking, with bounded buffers: at most one frame in, at most
 * ICD_OUT_MAX bytes waiting to go out, beyond which the peer is cut off.
 *
 * Per VM (vm_ext), each service has one slot: its connection (a new one
 * replaces the old), the service's own state, and what the status needs:
 * whether the last connection ended while the guest's driver ran (Error),
 * and what STATE last told the agent. The tick sends STATE again when the
 * registry or vms.d turn the service on or off.
 *
 * A connection is HELLO (waiting for the agent's HELLO), READY, or
 * MISMATCH (no common version: everything but a new HELLO is ignored). A
 * malformed header ends it; anything else wrong gets an ERROR.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conffile.h"
#include "control.h"
#include "daemon.h"
#include "fdwatch.h"
#include "icd-int.h"
#include "icd.h"
#include "log.h"
#include "registry.h"
#include "route.h"
#include "util.h"
#include "vm.h"

/* Most bytes waiting for a peer that does not read, unless the service
 * says otherwise (out_max): our frames are small (the largest, a shutdown
 * REQUEST, is about 3 KiB); a KVP pool copy is not. */
#define ICD_OUT_MAX (64 * 1024)
#define ICD_IN_MAX  (SESS_HDR_SIZE + IC_MAX_FRAME)
/* Refusals of unprivileged source ports are logged once per VM and this. */
#define ICD_REFUSE_LOG_MS 60000

enum conn_state { C_HELLO, C_READY, C_MISMATCH };

struct icd_conn {
	struct watch w; /* first: owns our end of the socket pair */
	struct icd_vm *iv;
	unsigned idx; /* the service's slot */
	enum conn_state state;
	bool closing;
	uint64_t gen;	   /* vm_generation() when it connected */
	uint64_t since_ms; /* when it connected */
	uint8_t *out;	   /* out_cap bytes, doubling up to ICD_OUT_MAX (out_max) */
	size_t out_len, out_cap;
	size_t in_len;
	uint8_t in[ICD_IN_MAX];
};

struct icd_slot {
	struct icd_conn *conn;
	void *state;	  /* the service's */
	bool error;	  /* the last connection ended while the driver ran ... */
	uint64_t err_gen; /* ... in this generation */
	bool state_sent;  /* STATE told the agent sent_enabled, sent_interval */
	bool sent_enabled;
	uint32_t sent_interval;
};

struct icd_vm {
	struct vm *vm;
	struct daemon *d;
	struct icd_slot slot[ICD_MAX_SERVICES];
	uint64_t refuse_log_ms; /* last logged refusal; 0: none yet */
	unsigned refused;	/* refusals not logged since */
};

static const struct icd_service *services[ICD_MAX_SERVICES];
static unsigned n_services;
static const struct vm_ext icd_ext;
static struct daemon *icd_daemon;

/* ---- services and names ---- */

int icd_register(const struct icd_service *s)
{
	if (n_services == ICD_MAX_SERVICES)
		return -ENOSPC;
	services[n_services++] = s;
	return 0;
}

const struct icd_service *icd_service_find(const char *short_name)
{
	for (unsigned i = 0; i < n_services; i++)
		if (strcmp(services[i]->short_name, short_name) == 0)
			return services[i];
	return NULL;
}

static int service_index(const struct icd_service *s)
{
	for (unsigned i = 0; i < n_services; i++)
		if (services[i] == s)
			return (int)i;
	return -1;
}

static const struct {
	const char *name, *title;
} link_names[] = {
	[ICD_DISABLED] = { "disabled", "Disabled" },
	[ICD_OFF] = { "off", "Off" },
	[ICD_PAUSED] = { "paused", "Paused" },
	[ICD_MISMATCH] = { "protocol-mismatch", "Protocol Mismatch" },
	[ICD_READY] = { "ok", "OK" },
	[ICD_ERROR] = { "error", "Error" },
	[ICD_NO_CONTACT] = { "no-contact", "No Contact" },
};

const char *icd_link_name(enum icd_link l)
{
	return link_names[l].name;
}

const char *icd_link_title(enum icd_link l)
{
	return link_names[l].title;
}

const char *icd_status_title(const char *name)
{
	if (strcmp(name, "lost-communication") == 0)
		return "Lost Communication";
	if (strcmp(name, "on-demand") == 0)
		return "On Demand";
	for (size_t i = 0; i < ARRAY_SIZE(link_names); i++)
		if (strcmp(name, link_names[i].name) == 0)
			return link_names[i].title;
	return name;
}

void icd_clean(const char *s, char *buf, size_t size)
{
	size_t len = strlen(s), n = len < size - 1 ? len : size - 1;

	if (conf_text_ok(s, len)) {
		/* cut at a character boundary */
		while (n < len && n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		memcpy(buf, s, n);
	} else {
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];
			buf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
	}
	buf[n] = '\0';
}

/* ---- per-VM state ---- */

struct icd_vm *icd_of(struct vm *vm)
{
	return vm ? vm_ext_state(vm, &icd_ext) : NULL;
}

struct vm *icd_vm(const struct icd_vm *iv)
{
	return iv->vm;
}

void *icd_state(const struct icd_vm *iv, const struct icd_service *s)
{
	int i = service_index(s);

	return i < 0 ? NULL : iv->slot[i].state;
}

struct icd_conn *icd_conn(const struct icd_vm *iv, const struct icd_service *s)
{
	int i = service_index(s);
	struct icd_conn *c = i < 0 ? NULL : iv->slot[i].conn;

	return c && c->state == C_READY && !c->closing ? c : NULL;
}

uint64_t icd_conn_since(const struct icd_conn *c)
{
	return c->since_ms;
}

bool icd_enabled(struct icd_vm *iv, const struct icd_service *s, bool *global, bool *for_vm)
{
	const struct reg_inbox *b = reg_inbox_lookup(s->short_name);
	const struct reg_service *e = NULL;
	hv_guid_t id;
	bool g, v;

	daemon_refresh_registry(iv->d);
	if (b && iv->d->reg && hv_guid_parse(b->guid, &id) == 0)
		e = reg_find_guid(iv->d->reg, &id);
	g = e && e->enabled && e->port == s->port;
	v = !vm_service_disabled(iv->vm, s->short_name);
	if (global)
		*global = g;
	if (for_vm)
		*for_vm = v;
	return g && v;
}

enum icd_link icd_link(struct icd_vm *iv, const struct icd_service *s)
{
	int i = service_index(s);
	struct icd_slot *sl = &iv->slot[i < 0 ? 0 : i];
	struct icd_conn *c = i < 0 ? NULL : sl->conn;

	if (i < 0 || !icd_enabled(iv, s, NULL, NULL))
		return ICD_DISABLED;
	if (vm_paused(iv->vm))
		return ICD_PAUSED;
	if (!vm_running(iv->vm))
		return ICD_OFF;
	if (c && c->gen == vm_generation(iv->vm)) {
		if (c->state == C_MISMATCH)
			return ICD_MISMATCH;
		return c->state == C_READY ? ICD_READY : ICD_NO_CONTACT;
	}
	if (sl->error && sl->err_gen == vm_generation(iv->vm))
		return ICD_ERROR;
	return ICD_NO_CONTACT;
}

/* ---- connections: output ---- */

static void conn_end(struct icd_conn *c, const char *why, bool agent_side);

static void conn_watch(struct icd_conn *c)
{
	if (!c->closing)
		watch_set(&c->w, UV_READABLE | (c->out_len ? UV_WRITABLE : 0));
}

/* Writes what is queued; ends c on a write error. */
static void conn_flush(struct icd_conn *c)
{
	while (c->out_len && !c->closing) {
		ssize_t n = send(c->w.fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				conn_end(c, strerror(errno), true);
			break;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	if (c->out_len == 0 && c->out_cap > ICD_OUT_MAX) {
		/* a big burst (a KVP pool copy) is out: give its room back */
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	conn_watch(c);
}

void icd_send(struct icd_conn *c, const struct sess_buf *b)
{
	size_t max = services[c->idx]->out_max ? services[c->idx]->out_max : ICD_OUT_MAX;
	uint8_t *p;

	if (c->closing || b->err || b->len == 0)
		return;
	if (c->out_len + b->len > max) {
		log_warn("VM %s: the agent's %s connection does not read what vmsvcd sends "
			 "(%zu bytes waiting); cut off",
			 vm_name(c->iv->vm), services[c->idx]->short_name, c->out_len);
		conn_end(c, "cut off", true);
		return;
	}
	if (c->out_len + b->len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;

		while (cap < c->out_len + b->len)
			cap *= 2;
		p = realloc(c->out, cap < max ? cap : max);
		if (!p) {
			conn_end(c, "out of memory", true);
			return;
		}
		c->out = p;
		c->out_cap = cap < max ? cap : max;
	}
	memcpy(c->out + c->out_len, b->data, b->len);
	c->out_len += b->len;
	conn_flush(c);
}

void icd_send_error(struct icd_conn *c, uint32_t seq, uint16_t type, int err, const char *msg)
{
	struct sess_buf b = { 0 };

	ic_enc_error(&b, &(struct ic_error){
				 .seq = seq, .type = type, .err = (uint32_t)err, .message = msg });
	icd_send(c, &b);
	sess_buf_free(&b);
}

/* Sends STATE with what s is now for this VM. */
static void send_state(struct icd_conn *c)
{
	const struct icd_service *s = services[c->idx];
	struct icd_slot *sl = &c->iv->slot[c->idx];
	struct ic_state st = { .enabled = icd_enabled(c->iv, s, NULL, NULL) };
	struct sess_buf b = { 0 };

	if (s->interval_ms && sl->state)
		st.interval_ms = s->interval_ms(sl->state);
	ic_enc_state(&b, &st);
	icd_send(c, &b);
	sess_buf_free(&b);
	sl->state_sent = true;
	sl->sent_enabled = st.enabled;
	sl->sent_interval = st.interval_ms;
	if (s->state_sent && sl->state && c->state == C_READY && !c->closing)
		s->state_sent(sl->state, st.enabled);
}

/* ---- connections: input ---- */

static void on_hello(struct icd_conn *c, const struct sess_frame *f, uint64_t now)
{
	const struct icd_service *s = services[c->idx];
	struct icd_slot *sl = &c->iv->slot[c->idx];
	struct sess_buf b = { 0 };
	struct ic_hello h;
	char sw[80], msg[96];
	uint32_t v;

	if (ic_dec_hello(f, &h) < 0) {
		icd_send_error(c, 0, IC_HELLO, EPROTO, "malformed HELLO");
		return;
	}
	icd_clean(h.software ? h.software : "unnamed agent", sw, sizeof(sw));
	v = ic_version_pick(h.min, h.max, IC_VERSION_MIN, IC_VERSION_MAX);
	if (v == 0) {
		c->state = C_MISMATCH;
		sl->state_sent = false;
		snprintf(msg, sizeof(msg), "vmsvcd speaks versions %u-%u", IC_VERSION_MIN,
			 IC_VERSION_MAX);
		icd_send_error(c, 0, IC_HELLO, EPROTONOSUPPORT, msg);
		log_warn("VM %s: %s: the agent (%s) speaks versions %u-%u, vmsvcd %u-%u: protocol "
			 "mismatch",
			 vm_name(c->iv->vm), s->short_name, sw, h.min, h.max, IC_VERSION_MIN,
			 IC_VERSION_MAX);
		return;
	}
	c->state = C_READY;
	ic_enc_hello(&b,
		     &(struct ic_hello){ .min = v, .max = v, .software = "vmsvcd " VMSVC_VERSION });
	icd_send(c, &b);
	sess_buf_free(&b);
	send_state(c);
	log_info("VM %s: %s: agent connected (%s, version %u)", vm_name(c->iv->vm), s->short_name,
		 sw, v);
	if (s->ready && sl->state && !c->closing)
		s->ready(sl->state, now);
}

static void on_agent_error(struct icd_conn *c, const struct sess_frame *f)
{
	const struct icd_service *s = services[c->idx];
	struct icd_slot *sl = &c->iv->slot[c->idx];
	struct ic_error e;
	char msg[160];

	if (ic_dec_error(f, &e) < 0) {
		log_debug("VM %s: %s: malformed ERROR from the agent ignored", vm_name(c->iv->vm),
			  s->short_name);
		return; /* never answer an ERROR with an ERROR */
	}
	icd_clean(e.message, msg, sizeof(msg));
	log_info("VM %s: %s: the agent answered %s (seq %u) with %s: %s", vm_name(c->iv->vm),
		 s->short_name, ic_type_name((uint16_t)e.type), e.seq,
		 strerrorname_np((int)e.err) ?: "an unknown error", msg);
	if (c->state == C_READY && s->error && sl->state)
		s->error(sl->state, &e);
}

static void on_frame(struct icd_conn *c, const struct sess_frame *f, uint64_t now)
{
	const struct icd_service *s = services[c->idx];
	struct icd_slot *sl = &c->iv->slot[c->idx];
	char msg[96];
	int r;

	if (f->type == IC_HELLO) {
		on_hello(c, f, now);
		return;
	}
	if (c->state == C_MISMATCH)
		return; /* only a new HELLO counts */
	if (f->type == IC_ERROR) {
		on_agent_error(c, f);
		return;
	}
	if (f->type == IC_STATE || (f->type >= 16 && c->state == C_HELLO)) {
		icd_send_error(c, 0, f->type, EPROTO,
			       f->type == IC_STATE ? "STATE goes from the host to the agent"
						   : "HELLO comes first");
		return;
	}
	r = f->type >= 16 && s->frame && sl->state ? s->frame(sl->state, f, now) : -EOPNOTSUPP;
	if (r == -EOPNOTSUPP) {
		snprintf(msg, sizeof(msg), "vmsvcd's %s service knows no frame type %u",
			 s->short_name, f->type);
		icd_send_error(c, 0, f->type, EOPNOTSUPP, msg);
	} else if (r < 0) {
		snprintf(msg, sizeof(msg), "malformed %s", ic_type_name(f->type));
		icd_send_error(c, 0, f->type, -r, msg);
	}
}

/* Handles every complete frame in c->in. */
static void conn_frames(struct icd_conn *c)
{
	uint64_t now = now_ms();
	size_t off = 0;

	while (!c->closing) {
		struct sess_frame f;
		long n = ic_frame_parse(c->in + off, c->in_len - off, &f);

		if (n < 0) {
			log_info("VM %s: %s: malformed frame header from the agent; connection "
				 "closed",
				 vm_name(c->iv->vm), services[c->idx]->short_name);
			conn_end(c, "malformed frame", true);
			return;
		}
		if (n == 0)
			break;
		on_frame(c, &f, now);
		off += (size_t)n;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

static void conn_read(struct icd_conn *c)
{
	/* A few reads per wake-up: the buffer holds a frame at most, and a
	 * busy peer must not hold the loop. */
	for (int i = 0; i < 4 && !c->closing; i++) {
		ssize_t n =
			recv(c->w.fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_end(c, n == 0 ? "end of stream" : strerror(errno), true);
			return;
		}
		c->in_len += (size_t)n;
		conn_frames(c);
	}
}

static void on_conn(uv_poll_t *p, int status, int events)
{
	struct icd_conn *c = p->data;

	if (c->closing)
		return;
	if (status < 0) {
		conn_end(c, uv_strerror(status), true);
		return;
	}
	if (events & UV_WRITABLE)
		conn_flush(c);
	if (!c->closing && (events & UV_READABLE))
		conn_read(c);
}

/*
 * Ends c: closes our end (the guest sees the connection end) and frees c
 * from the loop's close callback. agent_side: the agent ended it, or broke
 * it; while the guest's driver still runs, that is the service's Error.
 */
static void conn_end(struct icd_conn *c, const char *why, bool agent_side)
{
	struct icd_vm *iv = c->iv;
	struct icd_slot *sl = &iv->slot[c->idx];
	const struct icd_service *s = services[c->idx];
	bool was_ready = c->state == C_READY;

	if (c->closing)
		return;
	c->closing = true;
	if (sl->conn == c) {
		sl->conn = NULL;
		sl->state_sent = false;
		if (agent_side && c->gen == vm_generation(iv->vm) &&
		    (vm_running(iv->vm) || vm_paused(iv->vm))) {
			sl->error = true;
			sl->err_gen = c->gen;
		}
		log_info("VM %s: %s: agent connection ended (%s)", vm_name(iv->vm), s->short_name,
			 why);
		if (was_ready && s->closed && sl->state)
			s->closed(sl->state);
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_cap = 0;
	watch_close(&c->w);
}

/* ---- the route ---- */

/* Logs a refused unprivileged connection, once per VM and minute. */
static void log_refusal(struct icd_vm *iv, const struct route_req *req, const struct icd_service *s)
{
	uint64_t now = now_ms();

	iv->refused++;
	if (iv->refuse_log_ms && now - iv->refuse_log_ms < ICD_REFUSE_LOG_MS)
		return;
	log_warn("VM %s: guest port %u -> host port %u (%s) refused: only root in the guest "
		 "(vmsvc-agent) may connect, from a port below 1024 (%u refused since the last "
		 "such message)",
		 req->vm_name, req->src_port, req->port, s->short_name, iv->refused);
	iv->refuse_log_ms = now;
	iv->refused = 0;
}

/* Starts serving fd (taken) as s's connection in iv, replacing the old
 * one. Returns 0 or a negative errno. */
static int conn_start(struct icd_vm *iv, unsigned idx, int fd)
{
	struct daemon *d = iv->d;
	struct icd_slot *sl = &iv->slot[idx];
	struct icd_conn *c;

	c = (struct icd_conn *)watch_new(d->loop, fd, sizeof(*c), on_conn, NULL, NULL);
	if (!c)
		return -ENOMEM;
	c->w.owner = c;
	c->iv = iv;
	c->idx = idx;
	c->state = C_HELLO;
	c->gen = vm_generation(iv->vm);
	c->since_ms = now_ms();
	if (sl->conn) {
		log_info("VM %s: %s: a new agent connection replaces the old one", vm_name(iv->vm),
			 services[idx]->short_name);
		conn_end(sl->conn, "replaced", false);
	}
	sl->conn = c;
	sl->error = false;
	conn_watch(c);
	return 0;
}

static int icd_open(void *opaque, const struct route_req *req, enum refusal *hint)
{
	struct daemon *d = opaque;
	struct icd_vm *iv = icd_of(vm_find(d, req->vm_name, NULL));
	const struct reg_inbox *b;
	hv_guid_t id;
	int sv[2], r, idx = -1;

	for (unsigned i = 0; i < n_services; i++)
		if (services[i]->port == req->port)
			idx = (int)i;
	if (idx < 0 || !iv || !req->svc)
		return -ENOENT;
	/* the port's registered service must be the in-box one */
	b = reg_inbox_lookup(services[idx]->short_name);
	if (!b || hv_guid_parse(b->guid, &id) < 0 || !hv_guid_equal(&id, &req->svc->id))
		return -ENOENT;
	if (req->src_port >= 1024) {
		*hint = REFUSED_NOT_PERMITTED;
		log_refusal(iv, req, services[idx]);
		return -EACCES; /* the port is ours: no other route may take it */
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	r = conn_start(iv, (unsigned)idx, sv[1]);
	if (r < 0) {
		safe_close(sv[0]);
		return r;
	}
	return sv[0];
}

static struct route icd_route = { .name = "integration services",
				  .cls = ROUTE_INTERNAL,
				  .open = icd_open };

/* ---- per-VM state ---- */

static void *icd_attach(struct vm *vm)
{
	struct icd_vm *iv = calloc(1, sizeof(*iv));

	if (!iv) {
		log_err("VM %s: out of memory for its integration services", vm_name(vm));
		return NULL;
	}
	iv->vm = vm;
	iv->d = vm_daemon(vm);
	for (unsigned i = 0; i < n_services; i++)
		iv->slot[i].state = services[i]->attach(iv);
	return iv;
}

static void icd_detach(void *state)
{
	struct icd_vm *iv = state;

	for (unsigned i = 0; i < n_services; i++) {
		if (iv->slot[i].conn)
			conn_end(iv->slot[i].conn, "VM no longer served", false);
		if (iv->slot[i].state)
			services[i]->detach(iv->slot[i].state);
	}
	free(iv);
}

/* Sends STATE again where the service was turned on or off (registry,
 * vms.d) or its interval changed. */
static void check_state(struct icd_vm *iv, unsigned i)
{
	struct icd_slot *sl = &iv->slot[i];
	const struct icd_service *s = services[i];
	bool on, global, for_vm;
	uint32_t interval;

	if (!sl->conn || sl->conn->state != C_READY || sl->conn->closing)
		return;
	on = icd_enabled(iv, s, &global, &for_vm);
	interval = s->interval_ms && sl->state ? s->interval_ms(sl->state) : 0;
	if (sl->state_sent && on == sl->sent_enabled && interval == sl->sent_interval)
		return;
	log_info("VM %s: %s %s%s; the agent is told so", vm_name(iv->vm), s->short_name,
		 on ? "turned on" : "turned off",
		 on	   ? ""
		 : !global ? " in the registry"
			   : " for this VM (vms.d)");
	send_state(sl->conn);
}

static void icd_tick(void *state, uint64_t now)
{
	struct icd_vm *iv = state;

	for (unsigned i = 0; i < n_services; i++) {
		check_state(iv, i);
		if (services[i]->tick && iv->slot[i].state)
			services[i]->tick(iv->slot[i].state, now);
	}
}

static const struct vm_ext icd_ext = {
	.name = "integration services",
	.attach = icd_attach,
	.detach = icd_detach,
	.tick = icd_tick,
};

/* ---- status and the "integration" operation ---- */

const char *icd_status_name(struct icd_vm *iv, const struct icd_service *s, enum icd_link *link,
			    uint64_t now)
{
	void *st = icd_state(iv, s);

	*link = icd_link(iv, s);
	return s->status && st ? s->status(st, *link, now) : icd_link_name(*link);
}

/* VSS: its "freeze" object (the agent's last STATUS) into v. */
static void icd_fz_status(struct icd_vm *iv, json_object *v, uint64_t now)
{
	const struct icd_service *fz = icd_service_find("vss");

	if (fz && fz->status_json && icd_state(iv, fz))
		fz->status_json(icd_state(iv, fz), icd_link(iv, fz), v, now);
}

void icd_status_json(struct vm *vm, json_object *v)
{
	struct icd_vm *iv = icd_of(vm);
	const struct icd_service *hb = icd_service_find("heartbeat");
	json_object *o;
	enum icd_link link;
	uint64_t now = now_ms();

	json_object_object_add(v, "paused", json_object_new_boolean(vm_paused(vm)));
	if (!iv || !hb)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "status",
			       json_object_new_string(icd_status_name(iv, hb, &link, now)));
	if (hb->status_json && icd_state(iv, hb))
		hb->status_json(icd_state(iv, hb), link, o, now);
	json_object_object_add(v, "heartbeat", o);
	icd_fz_status(iv, v, now);
}

/* One entry of "services" for in-box service b. */
static json_object *service_json(struct icd_vm *iv, const struct reg_inbox *b, uint64_t now)
{
	const struct icd_service *s = icd_service_find(b->short_name);
	json_object *o = json_object_new_object();
	struct daemon *d = iv->d;
	const struct reg_service *e = NULL;
	bool global, for_vm;
	enum icd_link link;
	hv_guid_t id;

	hv_guid_parse(b->guid, &id);
	daemon_refresh_registry(d);
	if (d->reg)
		e = reg_find_guid(d->reg, &id);
	global = e && e->enabled;
	for_vm = !vm_service_disabled(iv->vm, b->short_name);
	json_object_object_add(o, "name", json_object_new_string(b->name));
	json_object_object_add(o, "short", json_object_new_string(b->short_name));
	ctl_add_guid(o, "guid", &id);
	json_object_object_add(o, "port", json_object_new_int64(b->port));
	json_object_object_add(o, "enabled", json_object_new_boolean(global && for_vm));
	json_object_object_add(o, "enabled_global", json_object_new_boolean(global));
	json_object_object_add(o, "enabled_vm", json_object_new_boolean(for_vm));
	if (s) {
		json_object_object_add(o, "status",
				       json_object_new_string(icd_status_name(iv, s, &link, now)));
		if (s->status_json && icd_state(iv, s))
			s->status_json(icd_state(iv, s), link, o, now);
	} else {
		/* host-initiated (the VM Session Service): nothing to hold */
		json_object_object_add(
			o, "status",
			json_object_new_string(global && for_vm ? "on-demand" : "disabled"));
	}
	return o;
}

static json_object *op_integration(struct daemon *d, struct ctl_client *c, json_object *req,
				   const int *fds, unsigned nfds)
{
	json_object *arg, *o, *list;
	struct icd_vm *iv;
	const char *name;
	struct vm *vm;
	hv_guid_t id;
	char msg[160];

	(void)fds;
	if (nfds != 0 || !json_object_object_get_ex(req, "vm", &arg) ||
	    !json_object_is_type(arg, json_type_string))
		return ctl_reply_error(EINVAL,
				       "integration needs \"vm\" (a VM name or VmId) and no fds");
	if (!ctl_client_privileged(c))
		return ctl_reply_error(EACCES, "not permitted: reading VM state needs root or the "
					       "'vmsvc' group");
	name = json_object_get_string(arg);
	vm = hv_guid_parse(name, &id) == 0 ? vm_find(d, NULL, &id) : vm_find(d, name, NULL);
	if (!vm) {
		snprintf(msg, sizeof(msg), "no VM '%.64s' (see 'vmsvc vm list')", name);
		return ctl_reply_error(ENOENT, msg);
	}
	iv = icd_of(vm);
	if (!iv)
		return ctl_reply_error(ENOMEM, "out of memory for the VM's integration services");
	o = ctl_reply_ok();
	json_object_object_add(o, "vm", json_object_new_string(vm_name(vm)));
	list = json_object_new_array();
	for (size_t i = 0; i < reg_inbox_count(); i++)
		json_object_array_add(list, service_json(iv, reg_inbox_at(i), now_ms()));
	json_object_object_add(o, "services", list);
	return o;
}

int icd_start(struct daemon *d)
{
	icd_daemon = d;
	icd_route.opaque = d;
	route_add(d, &icd_route);
	int r = vm_ext_register(&icd_ext);
	return r < 0 ? r : control_add_op("integration", op_integration);
}
