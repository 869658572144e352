/* SPDX-License-Identifier: MIT */
/*
 * ic.h - the integration services' wire format
 * (docs/integration-services.md): heartbeat, shutdown and key-value
 * exchange now; time synchronization and filesystem freeze use the same
 * framing, HELLO, ERROR and STATE.
 *
 * One vsock stream per service, opened by vmsvc-agent in the guest to the
 * host (CID 2) from a privileged source port, to the service's port below.
 * The same frames also travel between the guest's `vmsvc kvp` and the
 * agent over a Unix socket.
 *
 * Framing is the session protocol's (session.h: le16 type, le16 chan = 0,
 * le32 len, a payload of TLV fields, unknown tags skipped) with a smaller
 * frame limit, IC_MAX_FRAME. A field with tag IC_TAG_TAIL and len 0 ends
 * the field list: the rest of the payload is raw bytes (a KVP value, which
 * may be longer than a TLV field's 65,535 bytes). Frames without a value
 * skip a tail like an unknown field.
 *
 * Each ic_enc_* appends one frame to b. It refuses what its decoder would
 * refuse: b->err = -EINVAL (a bad value) or -E2BIG (over a limit below),
 * -EMSGSIZE for a frame over IC_MAX_FRAME, and nothing is appended. Each
 * ic_dec_* returns 0 or -EPROTO (ic_dec_kvp also -E2BIG), checks the
 * frame's type, and takes a frame found by ic_frame_parse.
 *
 * Pure: no fds, no I/O, libc only (the agent links it statically). Decoded
 * strings and byte ranges point into the frame's payload. A string limit
 * counts the bytes before the NUL.
 */
#ifndef VMSVC_IC_H
#define VMSVC_IC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"

/* The in-box integration services: Hyper-V's integration-component GUIDs,
 * our ports (all below 1024). Time sync and VSS are reserved for the next
 * services and not served yet. */
#define IC_HEARTBEAT_GUID "57164f39-9115-4e78-ab55-382f3bd5422d"
#define IC_HEARTBEAT_PORT 701
#define IC_SHUTDOWN_GUID  "0e0b6031-5213-4934-818b-38d90ced39db"
#define IC_SHUTDOWN_PORT  702
#define IC_TIMESYNC_GUID  "9527e630-d0ae-497b-adce-e80ab0175caf"
#define IC_TIMESYNC_PORT  703
#define IC_KVP_GUID	  "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6"
#define IC_KVP_PORT	  704
#define IC_VSS_GUID	  "35fa2e29-ea23-4236-96ae-3a6ebacba440"
#define IC_VSS_PORT	  705

/* Protocol versions this build speaks (one range for every service). */
#define IC_VERSION_MIN 1
#define IC_VERSION_MAX 1

/* Largest payload of an integration frame; larger ends the connection. */
#define IC_MAX_FRAME (80 * 1024)

#define IC_TAG_TAIL 0xffff

/* Frame types. 1-15 are common to every service; each service has its own
 * range. An unknown type gets ERROR (EOPNOTSUPP), never a disconnect. */
enum ic_type {
	IC_HELLO = 1, /* both ways, first: the version */
	IC_ERROR = 2, /* a request failed, or an unknown frame */
	IC_STATE = 3, /* host -> agent: the service on or off, its interval */

	IC_HB_BEAT = 16, /* agent -> host */
	IC_HB_ACK = 17,	 /* host -> agent */

	IC_SD_REQUEST = 32, /* host -> agent: shut down or reboot */
	IC_SD_REPLY = 33,   /* agent -> host, within 1 s */

	IC_KVP_SET = 48,    /* one key's value (both ways) */
	IC_KVP_DELETE = 49, /* one key gone (both ways) */
	IC_KVP_BEGIN = 50,  /* a whole pool follows (SETs), then COMMIT */
	IC_KVP_COMMIT = 51, /* the whole pool is complete: replace yours */
	/* The guest's `vmsvc kvp` to the agent (Unix socket) only: */
	IC_KVP_GET = 52,     /* -> VALUE or ERROR */
	IC_KVP_VALUE = 53,   /* a key's value (reply to GET, LIST) */
	IC_KVP_LIST = 54,    /* -> VALUE..., then DONE */
	IC_KVP_WATCH = 55,   /* -> DONE, then SET/DELETE as they happen */
	IC_KVP_DONE = 56,    /* the request seq succeeded */
	IC_KVP_SET_REQ = 57, /* -> DONE or ERROR */
	IC_KVP_DEL_REQ = 58, /* -> DONE or ERROR */

	IC_TS_REQUEST = 64, /* agent -> host: t1 */
	IC_TS_REPLY = 65,   /* host -> agent: t1, t2, t3 and the host clock's state */
	IC_TS_SYNC = 66,    /* host -> agent, unsolicited: step now (resume) */
	IC_TS_REPORT = 67,  /* agent -> host: its mode and last sample */

	IC_FZ_FREEZE = 80, /* host -> agent: freeze (hooks, sync, FIFREEZE) */
	IC_FZ_FROZEN = 81, /* agent -> host: what was frozen, each failure */
	IC_FZ_THAW = 82,   /* host -> agent: thaw (then the thaw hooks) */
	IC_FZ_THAWED = 83, /* agent -> host */
	IC_FZ_STATUS = 84, /* agent -> host: after HELLO, and on every change */
};

/* Finds the first frame of buf like sess_frame_parse, with IC_MAX_FRAME
 * as the limit: bytes spanned, 0 (need more) or -EPROTO. */
long ic_frame_parse(const uint8_t *buf, size_t size, struct sess_frame *f);
/* A frame type's name ("HELLO", ..., "unknown"). */
const char *ic_type_name(uint16_t type);

/* ---- common ---- */

/* HELLO: the agent sends its range first; the host answers with the
 * version chosen (min == max == chosen), or with ERROR
 * EPROTONOSUPPORT when the ranges do not meet (the host then keeps the
 * connection open and reports Protocol Mismatch until it ends).
 * min and max are required, 1 <= min <= max. */
struct ic_hello {
	uint32_t min, max;
	uint64_t features;    /* none defined yet */
	const char *software; /* "vmsvc-agent 0.3.0" / "vmsvcd 0.3.0"; NULL: none */
};
void ic_enc_hello(struct sess_buf *b, const struct ic_hello *h);
int ic_dec_hello(const struct sess_frame *f, struct ic_hello *h);
/* The highest version both ranges hold, or 0 when none. */
uint32_t ic_version_pick(uint32_t amin, uint32_t amax, uint32_t bmin, uint32_t bmax);

/* ERROR: seq of the request it answers (0: none), the type of the frame
 * it answers, a positive errno and a message for humans. type and err are
 * required; a missing message decodes as "". */
struct ic_error {
	uint32_t seq;
	uint32_t type;
	uint32_t err;
	const char *message;
};
void ic_enc_error(struct sess_buf *b, const struct ic_error *e);
int ic_dec_error(const struct sess_frame *f, struct ic_error *e);

/* STATE: sent by the host after HELLO and whenever it changes. A disabled
 * service's agent side stops (no beats, no pool updates) but keeps the
 * connection. interval_ms: the heartbeat's (0 for other services).
 * enabled is required. */
struct ic_state {
	bool enabled;
	uint32_t interval_ms;
};
void ic_enc_state(struct sess_buf *b, const struct ic_state *s);
int ic_dec_state(const struct sess_frame *f, struct ic_state *s);

/* ---- heartbeat (port 701) ---- */

enum ic_app_state { IC_APP_UNKNOWN = 0, IC_APP_HEALTHY = 1, IC_APP_CRITICAL = 2 };

#define IC_HB_DEFAULT_INTERVAL_MS 2000
#define IC_HB_MIN_INTERVAL_MS	  200
#define IC_HB_MAX_INTERVAL_MS	  60000
/* Longest string field of BEAT (a longer one is -EPROTO). */
#define IC_HB_MAX_STR 1024

struct ic_beat {
	uint64_t n;	       /* counts from 1 per connection */
	uint64_t uptime_ms;    /* the guest's CLOCK_BOOTTIME */
	uint32_t app_state;    /* enum ic_app_state */
	const char *boot_id;   /* /proc/sys/kernel/random/boot_id */
	const char *sys_state; /* systemd SystemState, "none" without systemd */
	const char *critical;  /* why critical: failed units, ", "-separated; NULL: none */
	const char *hostname;
	const char *os_name;	/* os-release PRETTY_NAME */
	const char *os_id;	/* os-release ID */
	const char *os_version; /* os-release VERSION_ID */
	const char *kernel;	/* uname -r */
	const char *agent;	/* the agent's version */
};
void ic_enc_beat(struct sess_buf *b, const struct ic_beat *x);
/* n and boot_id are required, app_state at most IC_APP_CRITICAL; every
 * other string may be absent (NULL). */
int ic_dec_beat(const struct sess_frame *f, struct ic_beat *x);

/* Both fields required. */
struct ic_hb_ack {
	uint64_t n;
	uint32_t interval_ms; /* the next beat's interval */
};
void ic_enc_hb_ack(struct sess_buf *b, const struct ic_hb_ack *a);
int ic_dec_hb_ack(const struct sess_frame *f, struct ic_hb_ack *a);

/* ---- shutdown (port 702) ---- */

enum ic_sd_action { IC_SD_POWEROFF = 1, IC_SD_REBOOT = 2, IC_SD_HALT = 3 };
#define IC_SD_FORCE	   0x1u /* skip inhibitors */
#define IC_SD_MAX_MESSAGE  2048
#define IC_SD_MAX_BLOCKERS 32

struct ic_sd_request {
	uint32_t seq;
	uint32_t action; /* enum ic_sd_action */
	uint32_t flags;
	uint32_t timeout_s;    /* how long the host will wait (informative) */
	const char *message;   /* to the guest's users and journal; NULL: none */
	const char *requester; /* "uid 0 (root) on the host"; NULL: none */
};
/* seq and action (an enum ic_sd_action) are required. */
void ic_enc_sd_request(struct sess_buf *b, const struct ic_sd_request *r);
int ic_dec_sd_request(const struct sess_frame *f, struct ic_sd_request *r);

/* REPLY: err 0 accepted (the guest goes down next); EBUSY blocked by the
 * blockers listed (each "WHO (uid U, pid P): WHY"); EPERM refused by the
 * agent's configuration; other errnos as they come. seq and err are
 * required; message may be absent (NULL). */
struct ic_sd_reply {
	uint32_t seq;
	uint32_t err;
	const char *message;
	uint32_t nblockers;
	const char *blockers[IC_SD_MAX_BLOCKERS];
};
void ic_enc_sd_reply(struct sess_buf *b, const struct ic_sd_reply *r);
int ic_dec_sd_reply(const struct sess_frame *f, struct ic_sd_reply *r);

/* ---- key-value exchange (port 704) ---- */

enum ic_kvp_pool {
	IC_POOL_HOST = 0,      /* written on the host, read in the guest */
	IC_POOL_GUEST = 1,     /* written in the guest, read on the host */
	IC_POOL_INTRINSIC = 2, /* filled by the agent */
	IC_NPOOLS = 3,
};
#define IC_POOL_ALL 0xffffffffu /* LIST/WATCH: every pool */

#define IC_KVP_MAX_KEY	 512
#define IC_KVP_MAX_VALUE (64 * 1024)
#define IC_KVP_MAX_KEYS	 4096
#define IC_KVP_MAX_POOL	 (1024 * 1024) /* keys + values of one pool */

/* "host", "guest", "intrinsic"; NULL for others. And back: -1 unknown. */
const char *ic_pool_name(uint32_t pool);
int ic_pool_parse(const char *name);
/* A key: 1..IC_KVP_MAX_KEY bytes, no NUL. */
bool ic_kvp_key_ok(const void *key, size_t len);

/*
 * One record, for SET, DELETE, VALUE, GET, SET_REQ, DEL_REQ, LIST, WATCH,
 * BEGIN, COMMIT and DONE: which fields each carries is in the doc. Keys
 * and values are bytes (not NUL-terminated); the value travels in the
 * tail. seq is 0 on the vsock stream and the request's on the Unix socket
 * (required there, in 52-58).
 */
struct ic_kvp {
	uint32_t seq;
	uint32_t pool; /* enum ic_kvp_pool or IC_POOL_ALL */
	const uint8_t *key;
	uint32_t key_len; /* LIST/WATCH: a prefix, may be 0 */
	const uint8_t *value;
	uint32_t value_len;
	uint64_t gen; /* the pool's generation after the change (0: unknown) */
};
void ic_enc_kvp(struct sess_buf *b, uint16_t type, const struct ic_kvp *k);
/* Checks what type requires (pool range, key_ok, value size); the fields
 * its type does not carry are skipped and left 0. -E2BIG: a key or value
 * over its limit (the receiver answers ERROR E2BIG); -EPROTO otherwise. */
int ic_dec_kvp(const struct sess_frame *f, struct ic_kvp *k);

/* ---- time synchronization (port 703) ---- */

/*
 * NTP's four timestamps, CLOCK_REALTIME in ns since the epoch: t1 the
 * agent's send, t2 vmsvcd's receive (when it took the request off the
 * virtqueue), t3 vmsvcd's send (just before the reply goes on the
 * virtqueue), t4 the agent's receive. offset = ((t2 - t1) + (t3 - t4)) / 2,
 * delay = (t4 - t1) - (t3 - t2).
 */
#define IC_TS_MAX_MODE	  32   /* REPORT's mode, bytes */
#define IC_TS_MAX_MESSAGE 1024 /* REPORT's message, bytes */

/* REQUEST: seq and t1 are required. REPLY: seq, t1, t2 and t3 are
 * required, leap at most 2. SYNC: generation is required. REPORT: mode is
 * required (at most IC_TS_MAX_MODE bytes), synced 0 or 1, message at most
 * IC_TS_MAX_MESSAGE bytes (NULL: none). Unknown flag bits are kept. */
struct ic_ts_request {
	uint32_t seq;
	int64_t t1;
};
void ic_enc_ts_request(struct sess_buf *b, const struct ic_ts_request *r);
int ic_dec_ts_request(const struct sess_frame *f, struct ic_ts_request *r);

#define IC_TS_HOST_SYNCED 0x1u /* the host's clock is synchronised (no STA_UNSYNC) */
#define IC_TS_SYNC_NOW	  0x2u /* step now: the VM was paused or is new */

struct ic_ts_reply {
	uint32_t seq;
	int64_t t1, t2, t3;
	uint32_t flags;	      /* IC_TS_* */
	uint32_t leap;	      /* 0 none, 1 insert, 2 delete (adjtimex TIME_INS/DEL) */
	uint64_t esterror_ns; /* the host clock's estimated error (adjtimex) */
	uint64_t maxerror_ns; /* and its maximum error */
	uint64_t generation;  /* counts the VM's pauses/resumes (vm_generation) */
};
void ic_enc_ts_reply(struct sess_buf *b, const struct ic_ts_reply *r);
int ic_dec_ts_reply(const struct sess_frame *f, struct ic_ts_reply *r);

/* SYNC: the VM was resumed (or its clock is otherwise suspect): the agent
 * takes a burst and steps at once. */
struct ic_ts_sync {
	uint64_t generation;
	uint64_t paused_ns; /* how long the VM was stopped, 0 if unknown */
};
void ic_enc_ts_sync(struct sess_buf *b, const struct ic_ts_sync *s);
int ic_dec_ts_sync(const struct sess_frame *f, struct ic_ts_sync *s);

/* REPORT: what the agent does with the samples, after each burst. */
struct ic_ts_report {
	const char *mode;    /* "chrony", "monitor", "discipline", "off" */
	int64_t offset_ns;   /* the guest clock minus the host's, last burst */
	uint64_t delay_ns;   /* that sample's round trip */
	uint32_t synced;     /* the agent considers the guest clock synchronised */
	uint64_t steps;	     /* clock steps since the agent started */
	const char *message; /* e.g. "timesyncd is active: stepping only on resume" */
};
void ic_enc_ts_report(struct sess_buf *b, const struct ic_ts_report *r);
int ic_dec_ts_report(const struct sess_frame *f, struct ic_ts_report *r);

/* ---- filesystem freeze (port 705) ---- */

#define IC_FZ_MAX_MOUNTS	 64
#define IC_FZ_MAX_PATH		 4096
#define IC_FZ_DEFAULT_TIMEOUT_MS 10000
#define IC_FZ_MAX_TIMEOUT_MS	 600000

/* FREEZE: the mounts to freeze (none: every writable block filesystem),
 * and how long until the agent thaws by itself. */
struct ic_fz_freeze {
	uint32_t seq;
	uint32_t timeout_ms;
	uint32_t nmounts;
	const char *mounts[IC_FZ_MAX_MOUNTS];
};
void ic_enc_fz_freeze(struct sess_buf *b, const struct ic_fz_freeze *f);
int ic_dec_fz_freeze(const struct sess_frame *f, struct ic_fz_freeze *z);

/* FROZEN / THAWED / STATUS: err 0 all went well; mounts: the filesystems
 * frozen now (FROZEN, STATUS) or thawed (THAWED); failures: "MOUNT: why"
 * (a failed FREEZE has thawed everything again). */
enum ic_fz_state { IC_FZ_THAWED_STATE = 0, IC_FZ_FROZEN_STATE = 1 };
struct ic_fz_result {
	uint32_t seq;
	uint32_t err;
	uint32_t state; /* enum ic_fz_state (STATUS; FROZEN and THAWED too) */
	const char *message;
	uint64_t thaw_in_ms; /* frozen: when the agent will thaw by itself */
	uint32_t nmounts;
	const char *mounts[IC_FZ_MAX_MOUNTS];
	uint32_t nfailures;
	const char *failures[IC_FZ_MAX_MOUNTS];
};
void ic_enc_fz_result(struct sess_buf *b, uint16_t type, const struct ic_fz_result *r);
int ic_dec_fz_result(const struct sess_frame *f, struct ic_fz_result *r);
/* THAW carries seq only. */
void ic_enc_fz_thaw(struct sess_buf *b, uint32_t seq);
int ic_dec_fz_thaw(const struct sess_frame *f, uint32_t *seq);

#endif /* VMSVC_IC_H */
