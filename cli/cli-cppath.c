/* SPDX-License-Identifier: MIT */
/*
 * cli-cppath.c - what the operands of vmsvc cp name (cli-cppath.h): pure,
 * no I/O, unit-tested in test-cli-cppath.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-cppath.h"

bool cp_split(const char *arg, char *vm, size_t size, const char **path)
{
	const char *colon = strchr(arg, ':');
	size_t n;

	if (!colon || colon == arg || memchr(arg, '/', (size_t)(colon - arg)))
		return false;
	n = (size_t)(colon - arg);
	if (n >= size)
		return false;
	memcpy(vm, arg, n);
	vm[n] = '\0';
	*path = colon[1] ? colon + 1 : ".";
	return true;
}

static int plan_error(char *err, size_t size, const char *msg, const char *arg)
{
	snprintf(err, size, msg, arg);
	return -1;
}

int cp_plan(int n, char **operands, struct cp_plan *p, char *err, size_t size)
{
	char vm[CP_VM_MAX];
	const char *path;
	bool dst_remote;

	if (n < 2)
		return plan_error(err, size, "%s", "cp needs a source and a destination");
	*p = (struct cp_plan){ .nsrc = n - 1, .src = (const char **)operands };
	dst_remote = cp_split(operands[n - 1], p->vm, sizeof(p->vm), &path);
	p->put = dst_remote;
	p->dst = dst_remote ? path : operands[n - 1];
	for (int i = 0; i < n - 1; i++) {
		bool remote = cp_split(operands[i], vm, sizeof(vm), &path);

		if (remote && dst_remote)
			return plan_error(err, size,
					  "'%s': both sides are in a VM (one side must be local)",
					  operands[i]);
		if (!remote && !dst_remote)
			return plan_error(err, size,
					  "'%s': neither side is VM:PATH (a local name with ':' "
					  "is written ./a:b)",
					  operands[i]);
		if (remote && i > 0 && strcmp(vm, p->vm) != 0)
			return plan_error(err, size, "'%s': all sources must be in the same VM",
					  operands[i]);
		if (remote)
			snprintf(p->vm, sizeof(p->vm), "%s", vm);
	}
	if (!dst_remote)
		for (int i = 0; i < n - 1; i++)
			cp_split(operands[i], vm, sizeof(vm), &p->src[i]);
	return 0;
}
