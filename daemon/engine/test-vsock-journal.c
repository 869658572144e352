/* SPDX-License-Identifier: MIT */
/*
 * test-vsock-journal.c - the connection journal: add, delete, read back
 * from the same memory (a successor), full table, and deletion that keeps
 * every other pair findable (backward shift).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vsock-journal.h"

#define CONNS 64

static struct vjr_slot mem[2 * CONNS];

/* Pops everything; returns how many pairs there were, checks each one is
 * (i, 1000 + i) for an i with want[i] set, once. */
static unsigned drain(struct vsk_journal *j, bool *want, unsigned n)
{
	uint32_t l, p;
	unsigned got = 0;

	while (vjr_pop(j, &l, &p)) {
		assert_true(l < n);
		assert_int_equal(p, 1000 + l);
		assert_true(want[l]);
		want[l] = false;
		got++;
	}
	assert_int_equal(j->n, 0);
	return got;
}

static void test_size_holds_max_conns_at_half_load(void **state)
{
	(void)state;
	assert_int_equal(vjr_size(CONNS), sizeof(mem));
	assert_int_equal(vjr_size(1000), 2048 * sizeof(struct vjr_slot));
}

static void test_added_pairs_come_back_after_a_restart_deleted_ones_do_not(void **state)
{
	struct vsk_journal j, again;
	bool want[CONNS] = { false };

	(void)state;
	assert_int_equal(vjr_init(&j, mem, sizeof(mem), true), 0);
	for (uint32_t i = 0; i < CONNS; i++)
		assert_int_equal(vjr_add(&j, i, 1000 + i), 0);
	assert_int_equal(vjr_add(&j, 7, 1007), 0); /* twice: once in the table */
	assert_int_equal(j.n, CONNS);
	/* full at half load: no more */
	assert_int_equal(vjr_add(&j, 5000, 5001), -ENOSPC);
	for (uint32_t i = 0; i < CONNS; i += 3)
		vjr_del(&j, i, 1000 + i);
	vjr_del(&j, 9999, 9999); /* not there: nothing */
	for (uint32_t i = 0; i < CONNS; i++)
		want[i] = i % 3 != 0;
	/* a successor maps the same memory without clearing it */
	assert_int_equal(vjr_init(&again, mem, sizeof(mem), false), 0);
	assert_int_equal(again.n, CONNS - (CONNS + 2) / 3);
	assert_int_equal(drain(&again, want, CONNS), CONNS - (CONNS + 2) / 3);
}

static void test_deleting_keeps_colliding_pairs_findable(void **state)
{
	struct vsk_journal j;
	bool want[CONNS];

	(void)state;
	/* many rounds of add/delete in a small table: every probe chain must
	 * survive the backward shift */
	assert_int_equal(vjr_init(&j, mem, 16 * sizeof(struct vjr_slot), true), 0);
	srand(7);
	memset(want, 0, sizeof(want));
	for (int round = 0; round < 5000; round++) {
		uint32_t i = (uint32_t)rand() % 12;

		if (want[i]) {
			vjr_del(&j, i, 1000 + i);
			want[i] = false;
		} else if (vjr_add(&j, i, 1000 + i) == 0) {
			want[i] = true;
		}
		/* deleting what is absent never removes another pair */
		vjr_del(&j, 100 + i, 0);
	}
	unsigned n = 0;
	for (int i = 0; i < 12; i++)
		n += want[i];
	assert_int_equal(j.n, n);
	assert_int_equal(drain(&j, want, 12), n);
}

static void test_a_full_table_read_back_drains_and_ends(void **state)
{
	struct vsk_journal j;
	bool want[16];

	(void)state;
	/* written by someone else: every slot taken (more than we ever fill) */
	for (uint32_t i = 0; i < 16; i++) {
		mem[i] = (struct vjr_slot){ i, 1000 + i };
		want[i] = true;
	}
	assert_int_equal(vjr_init(&j, mem, 16 * sizeof(struct vjr_slot), false), 0);
	assert_int_equal(j.n, 16);
	assert_int_equal(vjr_add(&j, 99, 99), -ENOSPC);
	assert_int_equal(drain(&j, want, 16), 16);
}

static void test_too_small_memory_is_refused(void **state)
{
	struct vsk_journal j;

	(void)state;
	assert_int_equal(vjr_init(&j, mem, sizeof(struct vjr_slot), true), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_holds_max_conns_at_half_load),
		cmocka_unit_test(test_added_pairs_come_back_after_a_restart_deleted_ones_do_not),
		cmocka_unit_test(test_deleting_keeps_colliding_pairs_findable),
		cmocka_unit_test(test_a_full_table_read_back_drains_and_ends),
		cmocka_unit_test(test_too_small_memory_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
