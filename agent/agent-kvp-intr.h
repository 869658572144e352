/* SPDX-License-Identifier: MIT */
/*
 * agent-kvp-intr.h - the intrinsic pool: what the agent tells about the
 * guest (docs/integration-services.md, "Key-value exchange"):
 *
 *   HostName                  gethostname
 *   FullyQualifiedDomainName  the host name when it has a dot; else the
 *                             first dotted name of its /etc/hosts line
 *                             that starts with it (or any dotted name
 *                             there); else HOST.DOMAIN with uname's NIS
 *                             domain; else the host name (no NSS: the
 *                             static agent has none)
 *   OSName, OSId, OSVersion   os-release PRETTY_NAME (else NAME), ID,
 *                             VERSION_ID; without os-release, its own
 *                             defaults: "Linux", "linux", no OSVersion
 *   KernelVersion             uname -r
 *   Architecture              uname -m
 *   NetworkAddressIPv4/IFACE  the interface's addresses, blank-separated,
 *   NetworkAddressIPv6/IFACE  in the kernel's order (loopback left out)
 *   AgentVersion              this agent's version
 *   BootTime                  /proc/stat btime, RFC 3339 UTC
 *
 * A fact that is unknown (no address, no btime, ...) has no key. Kept current:
 * rtnetlink address and link events (from the kernel only), hostname
 * changes (poll on /proc/sys/kernel/hostname), and the caller's rescan;
 * a burst of events is one recomputation, AKVI_SETTLE_MS after its first.
 */
#ifndef VMSVC_AGENT_KVP_INTR_H
#define VMSVC_AGENT_KVP_INTR_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "agent-kvp.h"
#include "kvpool.h"

#define AKVI_SETTLE_MS	   50
#define AKVI_HOSTNAME_FILE "/proc/sys/kernel/hostname"

/* Where the facts come from (NULL: the system's files). */
struct akvi_src {
	const char *os_release; /* /etc/os-release, else /usr/lib/os-release */
	const char *hosts;	/* /etc/hosts */
	const char *agent_version;
};

/* Fills the empty pool p with the facts now. */
void akvi_compute(struct kvpool *p, const struct akvi_src *src);

/* The FQDN of host from a hosts file's text and a NIS domain (NULL or
 * "(none)": none), into buf. */
void akvi_fqdn(const char *host, const char *hosts_text, const char *domain, char *buf,
	       size_t size);
/* Seconds since 1970 as RFC 3339 UTC ("2024-05-01T08:30:00Z"). */
void akvi_rfc3339(int64_t t, char *buf, size_t size);

/* The watcher: keeps the store's intrinsic pool current. */
struct akvi;

struct akvi *akvi_new(struct akvp *store, const struct akvi_src *src);
struct akvi *akvi_free(struct akvi *v);
/* Opens the event sources and recomputes at once / closes them. */
void akvi_start(struct akvi *v, uint64_t now);
void akvi_stop(struct akvi *v);
/* Recomputes now (the rescan). */
void akvi_refresh(struct akvi *v);

#define AKVI_MAX_FDS 2
size_t akvi_fill(struct akvi *v, struct pollfd *p, size_t max, int *timeout_ms, uint64_t now);
void akvi_io(struct akvi *v, const struct pollfd *p, size_t n, uint64_t now);

#endif /* VMSVC_AGENT_KVP_INTR_H */
