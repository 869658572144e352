/* SPDX-License-Identifier: MIT */
/*
 * cli-cppath.h - the operands of vmsvc cp: which is VM:PATH, which way the
 * copy goes. Pure (no I/O).
 */
#ifndef VMSVC_CLI_CPPATH_H
#define VMSVC_CLI_CPPATH_H

#include <stdbool.h>
#include <stddef.h>

#define CP_VM_MAX 128

/*
 * Whether arg is VM:PATH: a ':' with a non-empty VM before it and no '/'
 * before it (so "./a:b" and "/x:y" are local paths). Sets vm and *path
 * (into arg; "." for "VM:", the guest user's home). A VM name of size or
 * more bytes is no VM.
 */
bool cp_split(const char *arg, char *vm, size_t size, const char **path);

struct cp_plan {
	bool put; /* host -> guest (the destination is VM:PATH) */
	char vm[CP_VM_MAX];
	const char **src; /* nsrc paths, the VM: prefix removed (into operands) */
	int nsrc;
	const char *dst; /* the destination, the VM: prefix removed */
};

/*
 * Plans a copy of operands[0..n-2] to operands[n-1]: exactly one side is
 * VM:PATH, every source in the same VM. Rewrites the source pointers of
 * operands in place (p->src is operands). 0, or -1 with why in err.
 */
int cp_plan(int n, char **operands, struct cp_plan *p, char *err, size_t size);

#endif /* VMSVC_CLI_CPPATH_H */
