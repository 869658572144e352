/* SPDX-License-Identifier: MIT */
/*
 * agent-kvp-files.h - the key-value exchange's files in the guest
 * (docs/integration-services.md, "Key-value exchange"):
 *
 *  - the guest pool's own file (AKVF_GUEST_FILE): kvpool_encode's SET
 *    frames, replaced atomically (a temporary file in the same folder,
 *    fsync, rename, fsync of the folder) and read back at start; a corrupt
 *    file is moved aside, never fatal;
 *  - the mirror for scripts (AKVF_RUN_DIR/POOL/NAME): one file per key
 *    holding its value, replaced atomically, removed with its key. NAME is
 *    the key with every byte outside [A-Za-z0-9._-] (and a leading '.')
 *    written %XX; a NAME over 255 bytes is cut to its first 200 bytes plus
 *    '~' and the first 16 hex digits of the key's SHA-256. A '~' never
 *    appears otherwise, and no NAME starts with '.', so the mirror's
 *    temporary files (".new") are never a key's.
 *
 * Modes follow [KVP] ReadGroup=: folders 0755 and files 0644, or 0750 and
 * 0640 with that group. The mirror never stops the exchange: a write that
 * fails is logged once and the whole mirror is made again later
 * (akvf_broken, akvf_sync).
 */
#ifndef VMSVC_AGENT_KVP_FILES_H
#define VMSVC_AGENT_KVP_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kvpool.h"

#define AKVF_RUN_DIR	"/run/vmsvc/kvp"
#define AKVF_GUEST_FILE "/var/lib/vmsvc/kvp/guest"

#define AKVF_NAME_MAX 255 /* a file name's limit */
#define AKVF_NAME_CUT 200 /* a longer NAME keeps this much, then ~HASH */
/* The largest pool file read: a full pool's frames are about 1.2 MiB. */
#define AKVF_MAX_POOL_FILE (4 * 1024 * 1024)

/* mkdir -p: dir with mode, the folders above it 0755. 0 or -errno. */
int akvf_make_dir(const char *dir, mode_t mode);

/* The mirror's file name of key into buf (AKVF_NAME_MAX + 1 bytes, NUL
 * terminated); its length. */
size_t akvf_name(const void *key, size_t len, char *buf);

/*
 * Writes pool p (number pool) to path atomically, mode 0600, making its
 * folder (0700) when missing: 0, or -errno with why (a sentence naming the
 * file).
 */
int akvf_save_pool(const char *path, const struct kvpool *p, uint32_t pool, char *why, size_t size);

/*
 * Reads path into the empty pool p: 0 (also when there is no file: p stays
 * empty), -EPROTO when the file is corrupt (moved aside to
 * PATH.corrupt-TIME; p stays empty; why says so), or -errno (unreadable;
 * p empty, why says so).
 */
int akvf_load_pool(const char *path, struct kvpool *p, uint32_t pool, char *why, size_t size);

/* The mirror of every pool under one folder. */
struct akvf;

/* A mirror under dir (made at the first akvf_sync; its parent too, 0755).
 * NULL when out of memory. */
struct akvf *akvf_new(const char *dir);
/* Closes the folders (the files stay); returns NULL; takes NULL. */
struct akvf *akvf_free(struct akvf *m);

/* Who may read: restricted (ReadGroup= set: gid) or everyone. A change
 * takes effect at the next akvf_sync (the caller calls it). */
void akvf_set_group(struct akvf *m, bool restricted, gid_t gid);
bool akvf_group_differs(const struct akvf *m, bool restricted, gid_t gid);

/* Makes the folder hold exactly the pools (pools[IC_NPOOLS]): missing or
 * different files written, others removed, modes set. 0 or -errno (then
 * akvf_broken). */
int akvf_sync(struct akvf *m, const struct kvpool *pools);
/* One key of pool set (e its entry) or deleted. */
void akvf_change(struct akvf *m, uint32_t pool, const struct kvp_entry *e, bool deleted);
/* True when a write failed since the last good akvf_sync. */
bool akvf_broken(const struct akvf *m);
/* Removes every file and folder of the mirror (the exchange turned off). */
void akvf_remove_all(struct akvf *m);

#endif /* VMSVC_AGENT_KVP_FILES_H */
