/* SPDX-License-Identifier: MIT */
/*
 * vmsvc.h - the libvmsvc API: GUID helpers for Hyper-V style service ids.
 *
 * Conventions: functions return 0 (or a documented non-negative value) on
 * success and -1 with errno set on failure, like POSIX calls. The library
 * never prints, never exits and owns no thread.
 */
#ifndef VMSVC_VMSVC_H
#define VMSVC_VMSVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmsvc/hvsocket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Length of a canonical GUID string, without the terminating NUL. */
#define HV_GUID_STRLEN 36
/* Buffer size for hv_guid_format(). */
#define HV_GUID_STRSIZE (HV_GUID_STRLEN + 1)

/*
 * Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (any case), optionally in
 * braces "{...}". Nothing else is accepted: no leading or trailing space, no
 * missing dashes. Returns 0, or -1 with errno EINVAL (malformed) or EFAULT
 * (NULL argument).
 */
int hv_guid_parse(const char *text, hv_guid_t *out);

/*
 * Writes the lower-case canonical form (36 characters and a NUL) into buf,
 * which holds size bytes. Returns 0, or -1 with errno ENOSPC if size is below
 * HV_GUID_STRSIZE.
 */
int hv_guid_format(const hv_guid_t *guid, char *buf, size_t size);

/* 16 bytes in Windows order (Data1..Data3 little-endian) to and from a GUID. */
void hv_guid_to_windows_bytes(const hv_guid_t *guid, uint8_t out[16]);
void hv_guid_from_windows_bytes(const uint8_t in[16], hv_guid_t *out);

/* 16 bytes in RFC 4122 order (all fields big-endian, as libuuid stores them). */
void hv_guid_to_rfc4122_bytes(const hv_guid_t *guid, uint8_t out[16]);
void hv_guid_from_rfc4122_bytes(const uint8_t in[16], hv_guid_t *out);

/*
 * A fresh random (version 4, RFC 4122 variant) GUID from getrandom(2).
 * Returns 0, or -1 with errno from getrandom.
 */
int hv_guid_generate(hv_guid_t *out);

/* The VSOCK-template service id for a vsock port (Data1 = port). */
void hv_guid_from_port(uint32_t port, hv_guid_t *out);

/*
 * The vsock port of a VSOCK-template service id. Returns 0 and stores the
 * port, or -1 with errno EINVAL if guid is not of the template's form.
 */
int hv_guid_to_port(const hv_guid_t *guid, uint32_t *port);

/* True if guid matches the VSOCK template in its last 12 bytes. */
bool hv_guid_is_vsock_template(const hv_guid_t *guid);

/* True if a and b are the same GUID. */
bool hv_guid_equal(const hv_guid_t *a, const hv_guid_t *b);

/*
 * Well-known GUIDs by name. Names are matched without case and with or
 * without the "HV_GUID_" prefix: "HV_GUID_PARENT", "parent", "LOOPBACK", ...
 * plus "VM_SESSION_SERVICE" (PowerShell Direct's service id).
 * hv_guid_lookup_name returns 0 and stores the GUID, or -1 with errno ENOENT.
 * hv_guid_well_known_name returns the canonical name ("HV_GUID_PARENT") of a
 * well-known GUID, or NULL. HV_GUID_ZERO and HV_GUID_WILDCARD share a value;
 * the name returned for it is "HV_GUID_ZERO".
 */
int hv_guid_lookup_name(const char *name, hv_guid_t *out);
const char *hv_guid_well_known_name(const hv_guid_t *guid);

#ifdef __cplusplus
}
#endif
#endif /* VMSVC_VMSVC_H */
