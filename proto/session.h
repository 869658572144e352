/* SPDX-License-Identifier: MIT */
/*
 * session.h - the VM Session wire format (docs/session-protocol.md): the
 * frames spoken on one vsock stream between vmsvcd / the vmsvc CLI on the
 * host and vmsvc-agent in the guest, for exec, shell and cp.
 *
 * Pure: no fds, no I/O, libc only (the agent links it statically). Every
 * decoder is size-exact and bounds every count and length; strings travel
 * with their terminating NUL and are checked to hold no other NUL, so a
 * decoded message points into the frame's payload (valid as long as it).
 *
 * Frame: le16 type, le16 chan, le32 len, then len bytes of payload. DATA
 * frames carry raw bytes of channel chan; every other frame is a control
 * frame on channel 0 whose payload is a list of TLV fields (le16 tag, le16
 * len, value). Unknown tags are skipped (a newer minor version may add
 * fields); a missing required field is -EPROTO.
 */
#ifndef VMSVC_SESSION_H
#define VMSVC_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The agent's vsock port (below 1024: only root in the guest can listen
 * there, and vmsvcd connects from a host port below 1024 too). */
#define SESS_PORT 640

#define SESS_VERSION_MAJOR 1
#define SESS_VERSION_MINOR 0

#define SESS_HDR_SIZE 8
/* Largest payload of any frame; a larger length ends the session. */
#define SESS_MAX_FRAME (1024 * 1024)
/* Largest DATA payload a sender uses (a receiver accepts up to
 * SESS_MAX_FRAME), and the default receive window of each channel. */
#define SESS_DATA_CHUNK	    (64 * 1024)
#define SESS_DEFAULT_WINDOW (256 * 1024)

/* Bounds of decoded lists (documented limits of the protocol). */
#define SESS_MAX_ARGS	4096
#define SESS_MAX_ENV	4096
#define SESS_MAX_GROUPS 256

enum sess_type {
	SESS_PEER = 1,	/* vmsvcd -> agent, first frame: who is calling */
	SESS_HELLO = 2, /* both ways: version, window */
	SESS_EXEC = 16, /* host -> agent: run a command */
	SESS_STARTED = 17,
	SESS_ERROR = 18, /* agent -> host: the request failed (session ends) */
	SESS_EXIT = 19,	 /* agent -> host: after the last output */
	SESS_DATA = 32,	 /* raw bytes of channel chan */
	SESS_EOF = 33,	 /* channel chan has ended */
	SESS_CREDIT = 34,
	SESS_RESIZE = 35,
	SESS_SIGNAL = 36,
	SESS_PUT = 48,	  /* host -> agent: a file (or tree entry) comes */
	SESS_GET = 49,	  /* host -> agent: send me a file or a tree */
	SESS_META = 50,	  /* the sender's description of one entry */
	SESS_END = 51,	  /* one entry's data is complete: its SHA-256 */
	SESS_RESULT = 52, /* the receiver's verdict on one entry or the copy */
	SESS_PING = 64,
	SESS_PONG = 65,
};

enum sess_chan {
	SESS_CH_CONTROL = 0,
	SESS_CH_STDIN = 1,
	SESS_CH_STDOUT = 2,
	SESS_CH_STDERR = 3,
	SESS_CH_FILE = 4,
	SESS_NCHANS = 5,
};

/* One frame as found in a buffer; payload points into that buffer. */
struct sess_frame {
	uint16_t type;
	uint16_t chan;
	uint32_t len;
	const uint8_t *payload;
};

/**
 * Finds the first frame in buf[0..size). Returns the bytes it spans (header
 * and payload) with *f set, 0 when more bytes are needed, or -EPROTO (a
 * length over SESS_MAX_FRAME, a channel over SESS_NCHANS, a control frame
 * on a data channel): then end the session.
 */
long sess_frame_parse(const uint8_t *buf, size_t size, struct sess_frame *f);

/* ---- building frames ---- */

/* A growing output buffer. Errors stick (ENOMEM, a field too long): check
 * b->err once after building. */
struct sess_buf {
	uint8_t *data;
	size_t len, cap;
	size_t frame; /* offset of the frame being built */
	int err;      /* 0 or a negative errno */
};

void sess_buf_free(struct sess_buf *b);
/* Drops the first n bytes (written out). */
void sess_buf_consume(struct sess_buf *b, size_t n);

/* Starts a frame of type on chan; fields or raw bytes follow; end it. */
void sess_begin(struct sess_buf *b, uint16_t type, uint16_t chan);
void sess_end(struct sess_buf *b);
void sess_put_u32(struct sess_buf *b, uint16_t tag, uint32_t v);
void sess_put_u64(struct sess_buf *b, uint16_t tag, uint64_t v);
void sess_put_i64(struct sess_buf *b, uint16_t tag, int64_t v);
/* A NUL-terminated string (s must hold no NUL; at most 65534 bytes). */
void sess_put_str(struct sess_buf *b, uint16_t tag, const char *s);
void sess_put_bytes(struct sess_buf *b, uint16_t tag, const void *p, size_t n);
void sess_put_raw(struct sess_buf *b, const void *p, size_t n);

/* Whole frames of the simple kinds. */
void sess_frame_data(struct sess_buf *b, uint16_t chan, const void *p, size_t n);
void sess_frame_eof(struct sess_buf *b, uint16_t chan);
void sess_frame_credit(struct sess_buf *b, uint16_t chan, uint32_t bytes);
void sess_frame_signal(struct sess_buf *b, uint32_t signo);
void sess_frame_resize(struct sess_buf *b, uint32_t rows, uint32_t cols, uint32_t xpix,
		       uint32_t ypix);
void sess_frame_error(struct sess_buf *b, uint32_t stage, uint32_t err, const char *msg);

/* ---- messages ---- */

/* PEER: written by vmsvcd (never by a host client) before any byte of the
 * client's. The agent trusts it because only the host (CID 2) can connect
 * to its privileged port and vmsvcd is the host's vsock device. */
struct sess_peer {
	uint32_t uid, gid;
	uint32_t ngroups;
	uint32_t groups[SESS_MAX_GROUPS];
	const char *user; /* host user name ("" when the uid has none) */
	uint32_t pid;
	const char *vm; /* the VM's name on the host */
};
void sess_enc_peer(struct sess_buf *b, const struct sess_peer *p);
int sess_dec_peer(const struct sess_frame *f, struct sess_peer *p);

struct sess_hello {
	uint32_t major, minor;
	uint32_t features; /* none defined yet */
	uint32_t window;   /* receive window per data channel, bytes */
};
void sess_enc_hello(struct sess_buf *b, const struct sess_hello *h);
int sess_dec_hello(const struct sess_frame *f, struct sess_hello *h);

#define SESS_EXEC_PTY	     0x1u /* a pseudo-terminal for stdin/out/err */
#define SESS_EXEC_STDIN_NULL 0x2u /* stdin from /dev/null */
#define SESS_EXEC_LOGIN	     0x4u /* the user's login shell, argv ignored */

struct sess_exec {
	uint32_t flags;
	uint32_t argc, envc;
	const char **argv; /* argc + NULL, heap (sess_exec_clear) */
	const char **env;  /* envc + NULL, "NAME=VALUE" */
	const char *user;  /* name or decimal uid; NULL: the mapped default */
	const char *cwd;   /* NULL: the user's home */
	const char *term;  /* PTY only */
	uint32_t rows, cols, xpix, ypix;
	uint32_t timeout_ms; /* 0: none */
	uint32_t linger_ms;  /* wait for output EOF after exit; 0: default */
};
void sess_enc_exec(struct sess_buf *b, const struct sess_exec *e);
/* Fills *e (argv/env allocated: sess_exec_clear). 0, -EPROTO or -ENOMEM. */
int sess_dec_exec(const struct sess_frame *f, struct sess_exec *e);
void sess_exec_clear(struct sess_exec *e);

struct sess_started {
	uint32_t pid;
	uint32_t uid, gid;
	const char *user;
};
void sess_enc_started(struct sess_buf *b, const struct sess_started *s);
int sess_dec_started(const struct sess_frame *f, struct sess_started *s);

/* Where a request failed (ERROR's stage). */
enum sess_stage {
	SESS_STAGE_PROTOCOL = 1, /* malformed or unexpected frame */
	SESS_STAGE_POLICY = 2,	 /* the agent's configuration refuses it */
	SESS_STAGE_USER = 3,	 /* no such guest user, cannot switch */
	SESS_STAGE_CWD = 4,	 /* cannot enter the directory */
	SESS_STAGE_EXEC = 5,	 /* cannot execute (errno: ENOENT -> 127) */
	SESS_STAGE_FILE = 6,	 /* a copy failed (errno says why) */
	SESS_STAGE_INTERNAL = 7,
};
struct sess_error {
	uint32_t stage;
	uint32_t err; /* a positive errno */
	const char *message;
};
int sess_dec_error(const struct sess_frame *f, struct sess_error *e);

struct sess_exit {
	bool signaled;
	uint32_t code; /* exit status, or the signal number */
	bool core;
	bool output_open; /* output still open when the linger ran out */
	uint64_t utime_us, stime_us;
	uint64_t maxrss_kb;
};
void sess_enc_exit(struct sess_buf *b, const struct sess_exit *x);
int sess_dec_exit(const struct sess_frame *f, struct sess_exit *x);

/* CREDIT, RESIZE, SIGNAL, EOF and DATA carry what their frame builders
 * above take. */
int sess_dec_credit(const struct sess_frame *f, uint32_t *bytes);
int sess_dec_signal(const struct sess_frame *f, uint32_t *signo);
int sess_dec_resize(const struct sess_frame *f, uint32_t *rows, uint32_t *cols, uint32_t *xpix,
		    uint32_t *ypix);

/* ---- files ---- */

enum sess_ftype { SESS_F_REG = 1, SESS_F_DIR = 2, SESS_F_LINK = 3 };

#define SESS_PUT_PRESERVE 0x1u /* mtime and (as root) owner */
#define SESS_PUT_TREE	  0x2u /* a tree follows: META entries, then END */

/* PUT: host -> agent, the destination of what follows. GET: the source the
 * agent should send. */
struct sess_xfer {
	const char *path;
	uint32_t flags;
};
void sess_enc_xfer(struct sess_buf *b, uint16_t type, const struct sess_xfer *x);
int sess_dec_xfer(const struct sess_frame *f, struct sess_xfer *x);

/* META: one entry; its data (SESS_F_REG) follows on SESS_CH_FILE, then END. */
struct sess_meta {
	uint32_t type;	  /* enum sess_ftype */
	const char *name; /* relative path inside a tree ("" for a single file) */
	uint64_t size;
	uint32_t mode; /* permission bits */
	uint32_t uid, gid;
	int64_t mtime_ns;
	const char *link; /* SESS_F_LINK: the target */
};
/* Whether name can be a tree entry's name: relative, no "." or ".."
 * component, no empty component ("a//b", "a/"); "" (the root) passes. */
bool sess_name_ok(const char *name);
void sess_enc_meta(struct sess_buf *b, const struct sess_meta *m);
int sess_dec_meta(const struct sess_frame *f, struct sess_meta *m);

#define SESS_SHA256_SIZE 32
/* END: the entry's data is complete, with its SHA-256 (for a tree's final
 * END: no entry, count of entries sent). */
struct sess_end {
	uint8_t sha256[SESS_SHA256_SIZE];
	bool has_sha;
	uint64_t count;
};
void sess_enc_end(struct sess_buf *b, const struct sess_end *e);
int sess_dec_end(const struct sess_frame *f, struct sess_end *e);

/* RESULT: the receiver's verdict (err 0: committed). */
struct sess_result {
	uint32_t err;
	const char *message;
	uint64_t bytes;
};
void sess_enc_result(struct sess_buf *b, const struct sess_result *r);
int sess_dec_result(const struct sess_frame *f, struct sess_result *r);

/* ---- flow control ---- */

/*
 * Per-channel credit. The receiver of a data channel announces a window in
 * HELLO; the sender may have at most that many bytes of the channel in
 * flight; the receiver returns CREDIT as it consumes. A sender with no
 * credit stops reading the source (the guest process blocks); control
 * frames never wait for credit.
 */
struct sess_credit {
	uint64_t avail[SESS_NCHANS]; /* bytes we may still send */
};
void sess_credit_init(struct sess_credit *c, uint32_t window);
/* Accounts n sent bytes of chan; -EPROTO if it had less credit. */
int sess_credit_take(struct sess_credit *c, uint16_t chan, uint32_t n);
/* Adds a CREDIT received for chan; -EPROTO past 2^32 outstanding. */
int sess_credit_give(struct sess_credit *c, uint16_t chan, uint32_t n);

#endif /* VMSVC_SESSION_H */
