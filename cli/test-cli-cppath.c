/* SPDX-License-Identifier: MIT */
/*
 * test-cli-cppath.c - vmsvc cp's operands: VM:PATH or a local path, the
 * direction, and the usage errors (both sides or neither in a VM, sources
 * in two VMs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "cli-cppath.h"

static void test_split(void **state)
{
	char vm[CP_VM_MAX];
	const char *path;

	(void)state;
	assert_true(cp_split("g1:/etc/passwd", vm, sizeof(vm), &path));
	assert_string_equal(vm, "g1");
	assert_string_equal(path, "/etc/passwd");
	assert_true(cp_split("g1:", vm, sizeof(vm), &path));
	assert_string_equal(path, ".");
	assert_true(cp_split("g1:a:b", vm, sizeof(vm), &path));
	assert_string_equal(path, "a:b");
	assert_false(cp_split("./a:b", vm, sizeof(vm), &path));
	assert_false(cp_split("/x/y:z", vm, sizeof(vm), &path));
	assert_false(cp_split(":x", vm, sizeof(vm), &path));
	assert_false(cp_split("plain", vm, sizeof(vm), &path));
	assert_false(cp_split("averyveryverylongname:x", vm, 8, &path));
}

static void test_plan(void **state)
{
	char *put[] = { "a", "./b:c", "g1:/tmp" };
	char *get[] = { "g1:/x", "g1:y", "." };
	char *both[] = { "g1:/x", "g2:/y" };
	char *none[] = { "a", "b" };
	char *two[] = { "g1:/x", "g2:/y", "." };
	char err[256];
	struct cp_plan p;

	(void)state;
	assert_int_equal(cp_plan(3, put, &p, err, sizeof(err)), 0);
	assert_true(p.put);
	assert_string_equal(p.vm, "g1");
	assert_string_equal(p.dst, "/tmp");
	assert_int_equal(p.nsrc, 2);
	assert_string_equal(p.src[1], "./b:c");
	assert_int_equal(cp_plan(3, get, &p, err, sizeof(err)), 0);
	assert_false(p.put);
	assert_string_equal(p.src[0], "/x");
	assert_string_equal(p.src[1], "y");
	assert_string_equal(p.dst, ".");
	assert_int_equal(cp_plan(2, both, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "both sides"));
	assert_int_equal(cp_plan(2, none, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "neither side"));
	assert_int_equal(cp_plan(3, two, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "same VM"));
	assert_int_equal(cp_plan(1, none, &p, err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_plan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
