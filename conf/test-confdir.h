/* SPDX-License-Identifier: MIT */
/*
 * test-confdir.h - a private config folder for the registry and VM-table
 * unit tests (cmocka): setup_dir/teardown_dir make and remove a temporary
 * folder passed as the test state; confdir_write writes SUB/REL in it.
 * Include after <cmocka.h>.
 */
#ifndef VMSVC_TEST_CONFDIR_H
#define VMSVC_TEST_CONFDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int confdir_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int setup_dir(void **state)
{
	char *dir = strdup("/tmp/vmsvc-test-conf-XXXXXX");

	assert_non_null(mkdtemp(dir));
	*state = dir;
	return 0;
}

static int teardown_dir(void **state)
{
	nftw(*state, confdir_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(*state);
	return 0;
}

/* Writes text to DIR/SUB/REL, creating DIR/SUB if needed. */
static void confdir_write(const char *dir, const char *sub, const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

#endif
