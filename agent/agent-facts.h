/* SPDX-License-Identifier: MIT */
/*
 * agent-facts.h - what the agent tells the host about the guest: boot id,
 * uptime, host name, the OS (os-release) and the kernel. The heartbeat
 * carries them; the key-value exchange's intrinsic pool will too.
 */
#ifndef VMSVC_AGENT_FACTS_H
#define VMSVC_AGENT_FACTS_H

#include <stddef.h>
#include <stdint.h>

#define AFACTS_OS_RELEASE     "/etc/os-release"
#define AFACTS_OS_RELEASE_USR "/usr/lib/os-release"

/* The facts that do not change while the guest runs ("" when unknown). */
struct afacts {
	char boot_id[40];    /* /proc/sys/kernel/random/boot_id */
	char os_name[256];   /* os-release PRETTY_NAME (else NAME) */
	char os_id[64];	     /* os-release ID */
	char os_version[64]; /* os-release VERSION_ID */
	char kernel[128];    /* uname -r */
};

/* Fills *f; os_release: the file to read (NULL: /etc/os-release, else
 * /usr/lib/os-release). Never fails: what cannot be read stays "". */
void afacts_read(struct afacts *f, const char *os_release);

/* The guest's host name now ("" when unknown). */
void afacts_hostname(char *buf, size_t size);

/* Milliseconds since boot, suspended time included (CLOCK_BOOTTIME). */
uint64_t afacts_uptime_ms(void);

/*
 * The value of key in an os-release text (KEY=value, value plain, '...'
 * or "..." with \\ escapes), written to buf: 0, or -ENOENT.
 */
int afacts_os_release_value(const char *text, const char *key, char *buf, size_t size);

#endif /* VMSVC_AGENT_FACTS_H */
