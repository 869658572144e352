/* SPDX-License-Identifier: MIT */
/*
 * fdstore.h - the service manager's file descriptor store (systemd's
 * sd_notify(3) FDSTORE=1 / FDSTOREREMOVE=1 and sd_listen_fds(3)
 * LISTEN_FDS / LISTEN_FDNAMES), spoken directly on $NOTIFY_SOCKET.
 *
 * vmsvcd keeps each VM's vhost-user connection there (vm-handover.c), so
 * that a vmsvcd started in place of a killed one takes it over and QEMU,
 * which cannot reconnect a vhost-user-vsock device, never notices. Without
 * $NOTIFY_SOCKET nothing is stored. The unit needs FileDescriptorStoreMax=
 * (README, "Upgrading vmsvcd").
 */
#ifndef VMSVCD_FDSTORE_H
#define VMSVCD_FDSTORE_H

#include <stdbool.h>

/** Whether a service manager takes fds ($NOTIFY_SOCKET is set). */
bool fdstore_enabled(void);

/**
 * Stores a copy of fd under name (printable ASCII, no ':'). The manager
 * keeps it until fdstore_remove(name) or the service is stopped for good.
 * 0 or a negative errno.
 */
int fdstore_put(const char *name, int fd);

/** Drops every fd stored under name. 0 or a negative errno. */
/* (After fdstore_keep(), nothing is dropped any more.) */
int fdstore_remove(const char *name);

/** From now on fdstore_remove() does nothing: what is stored stays for a
 * successor (vmsvcd stopping on SIGUSR1). */
void fdstore_keep(void);

/**
 * Takes the fds the manager passed at start (LISTEN_PID, LISTEN_FDS,
 * LISTEN_FDNAMES; the variables are unset) into this module. 0 or a
 * negative errno; no fds is 0.
 */
int fdstore_load(void);

/** The fd passed under name, taken (the caller closes it), or -1. It
 * stays in the manager's store. */
int fdstore_take(const char *name);

/** Closes the passed fds nobody took, and says how many there were. */
unsigned fdstore_close_rest(void);

#endif
