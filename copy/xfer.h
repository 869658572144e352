/* SPDX-License-Identifier: MIT */
/*
 * xfer.h - vmsvc cp's two engines, shared by both ends of a copy
 * (docs/session-protocol.md, "cp"): the sender turns a file or a tree into
 * META, DATA (channel 4) and END frames; the receiver turns those frames
 * back into files, each written to a temporary file in its target folder,
 * checked against the sender's SHA-256 and only then renamed into place.
 * The host CLI sends for PUT and receives for GET; the agent the other way
 * round.
 *
 * The engines do file I/O but no socket I/O: frames come in as parsed
 * struct sess_frame and go out into a struct sess_buf, so the session loops
 * (agent/agent-copy.c, cli/cli-copy.c) and the unit tests drive them alike.
 *
 * Safety: below the destination's root folder every path is resolved one
 * component at a time relative to a folder fd (openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where the kernel has it, else
 * openat with O_NOFOLLOW per component): a symbolic link, pre-existing or
 * sent, is never followed. The sender never follows one below its root.
 *
 * Errors: 0 or a positive result, or a negative errno with a message for a
 * person in the engine's message buffer (xfer_*_message).
 */
#ifndef VMSVC_XFER_H
#define VMSVC_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"

#define XFER_MSG_SIZE 1024

/* ---- safe paths (xfer-fs.c) ---- */

/*
 * Whether name is a relative path the receiver may create below a tree's
 * root: components separated by single '/', none empty, "." or "..", not
 * absolute. one: a single component only (the root's own name).
 */
bool xfer_name_ok(const char *name, bool one);

/*
 * Opens the folder at relative path rel below the folder dirfd (rel ""
 * is dirfd itself, dup'ed) without following any symbolic link and
 * without leaving dirfd. Returns a new fd (the caller closes it) or a
 * negative errno (-ELOOP: a component is a symbolic link).
 */
int xfer_open_beneath(int dirfd, const char *rel);

/*
 * A temporary file in folder dirfd for data that is not yet committed:
 * O_TMPFILE when the file system has it (*name set to ""), else a new file
 * with an unpredictable name (O_CREAT | O_EXCL, name in *name). Mode 0600.
 * Returns the fd (the caller closes it) or a negative errno.
 */
int xfer_tmp_open(int dirfd, char name[32]);

/*
 * Commits temporary file fd (from xfer_tmp_open; tmpname as it set it) as
 * name in dirfd, replacing what is there: fsync, link or rename, fsync of
 * the folder. Takes no ownership of fd. 0 or a negative errno (then no
 * temporary name is left behind).
 */
int xfer_tmp_commit(int fd, int dirfd, char tmpname[32], const char *name);

/* An unpredictable temporary name: ".vmsvc-cp." and 16 random hex digits. */
void xfer_tmp_name(char name[32]);

/* Drops an uncommitted temporary file: closes fd, removes tmpname if
 * it has one. Returns -1 (for fd = xfer_tmp_drop(...)). */
int xfer_tmp_drop(int fd, int dirfd, char tmpname[32]);

/* ---- the receiver (xfer-recv.c) ---- */

struct xfer_recv;

struct xfer_progress {
	uint64_t bytes; /* file data so far */
	uint64_t total; /* the size announced so far (META) */
	uint64_t files; /* entries committed */
};

/*
 * A receiver for the destination path dest (as a person wrote it: a
 * relative path is relative to the current folder) with SESS_PUT_* flags.
 * If dest is an existing folder (or ends in '/': then it must be one), the
 * source goes into it under its own name, as cp does; else it becomes
 * dest. Returns 0 and *out, or a negative errno (message in msg).
 */
int xfer_recv_new(const char *dest, uint32_t flags, struct xfer_recv **out,
		  char msg[XFER_MSG_SIZE]);

/*
 * One frame from the sender (META, DATA on channel 4, END); CREDIT for the
 * bytes written is queued in out. Returns 0 (more to come), 1 (the copy is
 * complete and committed), or a negative errno (the message says what;
 * what was not committed is gone).
 */
int xfer_recv_frame(struct xfer_recv *r, const struct sess_frame *f, struct sess_buf *out);

/* Abandons the copy: the temporary file of an unfinished entry is removed.
 * Returns NULL; accepts NULL. */
struct xfer_recv *xfer_recv_free(struct xfer_recv *r);

const char *xfer_recv_message(const struct xfer_recv *r);
const struct xfer_progress *xfer_recv_progress(const struct xfer_recv *r);

/* ---- the sender (xfer-send.c) ---- */

struct xfer_send;

/*
 * A sender of path src with SESS_PUT_* flags: without SESS_PUT_TREE a
 * regular file (a symbolic link to one is followed, as cp does; a folder
 * is -EISDIR); with it, the file, link or folder tree at src, whose links
 * are sent as links. Returns 0 and *out, or a negative errno (message in
 * msg).
 */
int xfer_send_new(const char *src, uint32_t flags, struct xfer_send **out, char msg[XFER_MSG_SIZE]);

/*
 * Queues the next frame into out, DATA only within *credit (which it
 * lowers). Returns 1 while more is to come, 2 when the next frame is DATA
 * and *credit is 0 (nothing queued: wait for CREDIT), 0 once the last
 * frame is queued, or a negative errno (the message says what).
 */
int xfer_send_step(struct xfer_send *s, struct sess_buf *out, uint64_t *credit);

struct xfer_send *xfer_send_free(struct xfer_send *s);

const char *xfer_send_message(const struct xfer_send *s);
const struct xfer_progress *xfer_send_progress(const struct xfer_send *s);

/* The size of the regular files at src (a tree with SESS_PUT_TREE), for a
 * progress bar's total; 0 when unknown. */
uint64_t xfer_total_size(const char *src, uint32_t flags);

#endif /* VMSVC_XFER_H */
