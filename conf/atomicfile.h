/* SPDX-License-Identifier: MIT */
/*
 * atomicfile.h - crash-safe updates of files in a config folder: one writer at
 * a time (flock on DIR/.lock), replacement by rename of a fully written and
 * fsynced temporary file, fsync of the folder afterwards.
 *
 * Readers never lock: they see either the old or the new file. Temporary
 * files are named ".NAME.tmp-XXXXXXXX" (hidden, never ending in the entry
 * suffix), and the next writer removes those a killed writer left behind.
 */
#ifndef VMSVC_ATOMICFILE_H
#define VMSVC_ATOMICFILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Takes the writers' lock of the folder dirfd (DIR/.lock, created with mode
 * 0600, so only its owner can lock it), waiting for other writers, then
 * removes stale temporary files. Returns the lock fd, which the caller closes
 * to release the lock, or a negative errno.
 */
int af_lock(int dirfd);

/*
 * Replaces dirfd/name by size bytes of data with the given mode: writes a
 * temporary file in the same folder, fsyncs it, renames it over name and
 * fsyncs the folder. On failure name is unchanged and the temporary file is
 * gone. Returns 0 or a negative errno. Call with the lock held.
 */
int af_write(int dirfd, const char *name, const void *data, size_t size, mode_t mode);

/* Removes dirfd/name and fsyncs the folder. Returns 0 or a negative errno
 * (-ENOENT if it did not exist). Call with the lock held. */
int af_unlink(int dirfd, const char *name);

/* True if name is a temporary file of af_write. */
int af_is_temp_name(const char *name);

#endif /* VMSVC_ATOMICFILE_H */
