/* SPDX-License-Identifier: MIT */
/*
 * hvsocket.h - Hyper-V socket definitions, wire-compatible with Windows'
 * <hvsocket.h>: the 36-byte SOCKADDR_HV, the well-known VmIds and the
 * HVSOCKET_* socket options.
 *
 * GUIDs are stored the Windows way: Data1, Data2 and Data3 little-endian,
 * Data4 as written. On little-endian Linux that is the native layout of
 * hv_guid_t, so a struct sockaddr_hv can be copied to or from a Windows peer
 * byte for byte.
 */
#ifndef VMSVC_HVSOCKET_H
#define VMSVC_HVSOCKET_H

#include <stddef.h>
#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "struct sockaddr_hv matches the Windows layout only on little-endian hosts"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Address family number Windows uses for Hyper-V sockets. Linux has no
 * AF_HYPERV; libvmsvc uses the value only inside struct sockaddr_hv. */
#define AF_HYPERV 34
/* The only protocol of AF_HYPERV; also the level of the HVSOCKET_* options. */
#define HV_PROTOCOL_RAW 1

/* Socket options at level HV_PROTOCOL_RAW; every value is a uint32_t. */
#define HVSOCKET_CONNECT_TIMEOUT     0x01 /* connect timeout, milliseconds */
#define HVSOCKET_CONTAINER_PASSTHRU  0x02 /* accepted, no effect on Linux */
#define HVSOCKET_CONNECTED_SUSPEND   0x04 /* keep connections over VM pause */
#define HVSOCKET_HIGH_VTL	     0x08 /* accepted, no effect on Linux */
#define HVSOCKET_CONNECT_TIMEOUT_MAX 300000

/* A GUID in Windows layout (16 bytes, no padding). */
typedef struct hv_guid {
	uint32_t Data1;
	uint16_t Data2;
	uint16_t Data3;
	uint8_t Data4[8];
} hv_guid_t;

/* Windows spells the same type GUID. */
typedef hv_guid_t HV_GUID;

/* The Hyper-V socket address: 36 bytes, Windows offsets. */
struct sockaddr_hv {
	uint16_t Family;     /* AF_HYPERV */
	uint16_t Reserved;   /* zero */
	hv_guid_t VmId;	     /* partition: a VM's id or a wildcard below */
	hv_guid_t ServiceId; /* the service, registered on the host */
};

typedef struct sockaddr_hv SOCKADDR_HV;

_Static_assert(sizeof(hv_guid_t) == 16, "hv_guid_t must be 16 bytes");
_Static_assert(sizeof(struct sockaddr_hv) == 36, "SOCKADDR_HV must be 36 bytes");
_Static_assert(offsetof(struct sockaddr_hv, Family) == 0, "Family at 0");
_Static_assert(offsetof(struct sockaddr_hv, Reserved) == 2, "Reserved at 2");
_Static_assert(offsetof(struct sockaddr_hv, VmId) == 4, "VmId at 4");
_Static_assert(offsetof(struct sockaddr_hv, ServiceId) == 20, "ServiceId at 20");

#define HV_GUID_INIT(d1, d2, d3, a, b, c, d, e, f, g, h)       \
	{                                                      \
		(d1), (d2), (d3),                              \
		{                                              \
			(a), (b), (c), (d), (e), (f), (g), (h) \
		}                                              \
	}

/* 00000000-0000-0000-0000-000000000000 */
#define HV_GUID_ZERO_INIT HV_GUID_INIT(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
/* Listener: accept from every partition. Same bits as HV_GUID_ZERO. */
#define HV_GUID_WILDCARD_INIT HV_GUID_ZERO_INIT
/* ffffffff-ffff-ffff-ffff-ffffffffffff */
#define HV_GUID_BROADCAST_INIT \
	HV_GUID_INIT(0xffffffff, 0xffff, 0xffff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
/* 90db8b89-0d35-4f79-8ce9-49ea0ac8b7cd: listener accepts from its VMs */
#define HV_GUID_CHILDREN_INIT \
	HV_GUID_INIT(0x90db8b89, 0x0d35, 0x4f79, 0x8c, 0xe9, 0x49, 0xea, 0x0a, 0xc8, 0xb7, 0xcd)
/* e0e16197-dd56-4a10-9195-5ee7a155a838: the same partition (host to host) */
#define HV_GUID_LOOPBACK_INIT \
	HV_GUID_INIT(0xe0e16197, 0xdd56, 0x4a10, 0x91, 0x95, 0x5e, 0xe7, 0xa1, 0x55, 0xa8, 0x38)
/* a42e7cda-d03f-480c-9cc2-a4de20abb878: from a VM, its host */
#define HV_GUID_PARENT_INIT \
	HV_GUID_INIT(0xa42e7cda, 0xd03f, 0x480c, 0x9c, 0xc2, 0xa4, 0xde, 0x20, 0xab, 0xb8, 0x78)
/* 36bd0c5c-7276-4223-88ba-7d03b654c568: the silo host of a container */
#define HV_GUID_SILOHOST_INIT \
	HV_GUID_INIT(0x36bd0c5c, 0x7276, 0x4223, 0x88, 0xba, 0x7d, 0x03, 0xb6, 0x54, 0xc5, 0x68)
/* 00000000-facb-11e6-bd58-64006a7986d3: ServiceId template; Data1 = vsock port */
#define HV_GUID_VSOCK_TEMPLATE_INIT \
	HV_GUID_INIT(0x00000000, 0xfacb, 0x11e6, 0xbd, 0x58, 0x64, 0x00, 0x6a, 0x79, 0x86, 0xd3)

static const hv_guid_t HV_GUID_ZERO __attribute__((unused)) = HV_GUID_ZERO_INIT;
static const hv_guid_t HV_GUID_WILDCARD __attribute__((unused)) = HV_GUID_WILDCARD_INIT;
static const hv_guid_t HV_GUID_BROADCAST __attribute__((unused)) = HV_GUID_BROADCAST_INIT;
static const hv_guid_t HV_GUID_CHILDREN __attribute__((unused)) = HV_GUID_CHILDREN_INIT;
static const hv_guid_t HV_GUID_LOOPBACK __attribute__((unused)) = HV_GUID_LOOPBACK_INIT;
static const hv_guid_t HV_GUID_PARENT __attribute__((unused)) = HV_GUID_PARENT_INIT;
static const hv_guid_t HV_GUID_SILOHOST __attribute__((unused)) = HV_GUID_SILOHOST_INIT;
static const hv_guid_t HV_GUID_VSOCK_TEMPLATE __attribute__((unused)) = HV_GUID_VSOCK_TEMPLATE_INIT;

#ifdef __cplusplus
}
#endif
#endif /* VMSVC_HVSOCKET_H */
