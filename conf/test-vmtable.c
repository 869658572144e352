/* SPDX-License-Identifier: MIT */
/*
 * test-vmtable.c - unit tests of the VM table (vmtable.c): names, parsing,
 * loading with broken and conflicting definitions, add (id and CID
 * allocation, conflicts) and remove, descriptions an INI reader keeps,
 * DisabledServices= and its writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test-confdir.h"

#include "vmtable.h"

#define ID1 "5b0d3f2e-8f4c-4c1e-9a51-0e6f2b7c9d11"
#define ID2 "6c1e4a3f-9a5d-4d2f-8b62-1f7a3c8dae22"

static void write_file(const char *dir, const char *rel, const char *text)
{
	confdir_write(dir, "vms.d", rel, text);
}

static bool has_problem(const struct vmt_table *t, const char *file, unsigned line,
			const char *needle)
{
	const struct conf_problems *p = vmt_problems(t);

	for (size_t i = 0; i < p->count; i++)
		if (strcmp(p->items[i].file, file) == 0 && p->items[i].line == line &&
		    strstr(p->items[i].message, needle))
			return true;
	for (size_t i = 0; i < p->count; i++)
		print_message("problem: %s:%u: %s\n", p->items[i].file, p->items[i].line,
			      p->items[i].message);
	return false;
}

static void names_follow_the_socket_file_rule(void **state)
{
	char why[CONF_WHY_SIZE], name[80];

	(void)state;
	assert_int_equal(vmt_check_name("web", why), 0);
	assert_int_equal(vmt_check_name("Web-1.test_x", why), 0);
	assert_int_equal(vmt_check_name("9", why), 0);
	memset(name, 'a', 64);
	name[64] = '\0';
	assert_int_equal(vmt_check_name(name, why), 0);
	name[64] = 'a', name[65] = '\0';
	assert_int_equal(vmt_check_name(name, why), -EINVAL);
	assert_int_equal(vmt_check_name("", why), -EINVAL);
	assert_int_equal(vmt_check_name("-web", why), -EINVAL);
	assert_int_equal(vmt_check_name(".web", why), -EINVAL);
	assert_int_equal(vmt_check_name("a/b", why), -EINVAL);
	assert_int_equal(vmt_check_name("a b", why), -EINVAL);
	assert_int_equal(vmt_check_name("caf\xc3\xa9", why), -EINVAL);
}

static void parse_accepts_valid_and_reports_broken_definitions(void **state)
{
	static const char good[] = "[VM]\nId=" ID1 "\nCid=3\nDescription=runner\n";
	struct conf_problems p = { 0 };
	struct vmt_vm vm;

	(void)state;
	assert_int_equal(vmt_parse_entry(good, strlen(good), "web", "f", &vm, &p), 0);
	assert_string_equal(vm.name, "web");
	assert_int_equal(vm.cid, 3);
	assert_string_equal(vm.description, "runner");
	vmt_vm_clear(&vm);
#define BROKEN(text, ln, needle)                                                           \
	do {                                                                               \
		assert_int_equal(vmt_parse_entry(text, strlen(text), "web", "f", &vm, &p), \
				 -EINVAL);                                                 \
		assert_int_equal(p.items[0].line, ln);                                     \
		assert_non_null(strstr(p.items[0].message, needle));                       \
		conf_problems_clear(&p);                                                   \
	} while (0)
	BROKEN("[VM]\nId=" ID1 "\nCid=2\n", 3, "out of range");
	BROKEN("[VM]\nId=" ID1 "\nCid=4294967295\n", 3, "out of range");
	BROKEN("[VM]\nId=" ID1 "\nCid=x\n", 3, "not a decimal number");
	BROKEN("[VM]\nId=12x\nCid=3\n", 2, "'12x' is not a GUID");
	BROKEN("[VM]\nId=a42e7cda-d03f-480c-9cc2-a4de20abb878\nCid=3\n", 2, "reserved GUID");
	BROKEN("[VM]\nCid=3\n", 0, "Id= is missing");
	BROKEN("[VM]\nId=" ID1 "\n", 0, "Cid= is missing");
	BROKEN("[VM]\nId=" ID1 "\nCid=3\nCID=4\n", 4, "did you mean 'Cid'");
	BROKEN("[Service]\nId=" ID1 "\nCid=3\n", 1, "expected [VM]");
#undef BROKEN
}

static void load_skips_broken_and_conflicting_definitions(void **state)
{
	struct vmt_table *t = NULL;
	hv_guid_t id1;

	write_file(*state, "a.conf", "[VM]\nId=" ID1 "\nCid=3\n");
	write_file(*state, "b.conf", "[VM]\nCid=3\nId=" ID2 "\n"); /* CID of a */
	write_file(*state, "c.conf", "[VM]\nId=" ID1 "\nCid=4\n"); /* Id of a */
	write_file(*state, "bad name.conf", "[VM]\nId=" ID2 "\nCid=9\n");
	write_file(*state, "d.conf", "[VM]\nId=" ID2 "\nCid=5\nOops\n");
	write_file(*state, "e.conf", "[VM]\nId=" ID2 "\nCid=6\n");
	assert_int_equal(vmt_load(*state, &t), 0);
	assert_int_equal(vmt_count(t), 2);
	assert_string_equal(vmt_at(t, 0)->name, "a");
	assert_string_equal(vmt_at(t, 1)->name, "e");
	assert_true(has_problem(t, "vms.d/b.conf", 2, "Cid 3 is already used by vms.d/a.conf"));
	assert_true(has_problem(t, "vms.d/c.conf", 2, "is already used by vms.d/a.conf"));
	assert_true(has_problem(t, "vms.d/bad name.conf", 0, "VM name 'bad name'"));
	assert_true(has_problem(t, "vms.d/d.conf", 4, "expected 'Key=Value'"));
	assert_true(vmt_is_broken(t, "d"));
	assert_false(vmt_is_broken(t, "e"));
	assert_int_equal(hv_guid_parse(ID1, &id1), 0);
	assert_string_equal(vmt_find_id(t, &id1)->name, "a");
	assert_string_equal(vmt_find_cid(t, 6)->name, "e");
	assert_null(vmt_find_cid(t, 4));
	assert_null(vmt_find_name(t, "b"));
	vmt_table_free(t);
}

static void add_gives_lowest_free_cid_and_a_fresh_kept_id(void **state)
{
	struct vmt_vm a = { .name = "a" }, b = { .name = "b", .cid = 5 }, c = { .name = "c" },
		      d = { .name = "d" }, e = { .name = "e" };
	struct vmt_conflict k;
	struct vmt_table *t = NULL;

	assert_int_equal(vmt_add(*state, &a, &k), 0);
	assert_int_equal(a.cid, 3);
	assert_false(hv_guid_equal(&a.id, &HV_GUID_ZERO));
	assert_int_equal(vmt_add(*state, &b, &k), 0);
	assert_int_equal(vmt_add(*state, &c, &k), 0);
	assert_int_equal(c.cid, 4);
	assert_int_equal(vmt_add(*state, &d, &k), 0);
	assert_int_equal(d.cid, 6); /* 5 is b's */
	assert_int_equal(vmt_remove(*state, "a"), 0);
	assert_int_equal(vmt_add(*state, &e, &k), 0);
	assert_int_equal(e.cid, 3); /* freed by a */
	assert_false(hv_guid_equal(&a.id, &e.id));
	assert_int_equal(vmt_load(*state, &t), 0);
	assert_int_equal(vmt_count(t), 4);
	assert_true(hv_guid_equal(&vmt_find_name(t, "c")->id, &c.id)); /* kept on disk */
	vmt_table_free(t);
}

static void add_reports_conflicts_and_rejects_invalid_vms(void **state)
{
	struct vmt_vm a = { .name = "a", .cid = 7 }, v;
	struct vmt_conflict k;

	assert_int_equal(hv_guid_parse(ID1, &a.id), 0);
	assert_int_equal(vmt_add(*state, &a, &k), 0);
	v = (struct vmt_vm){ .name = "a" };
	assert_int_equal(vmt_add(*state, &v, &k), -EEXIST);
	assert_int_equal(k.kind, VMT_CONFLICT_NAME);
	v = (struct vmt_vm){ .name = "b", .id = a.id };
	assert_int_equal(vmt_add(*state, &v, &k), -EEXIST);
	assert_int_equal(k.kind, VMT_CONFLICT_ID);
	assert_string_equal(k.name, "a");
	v = (struct vmt_vm){ .name = "b", .cid = 7 };
	assert_int_equal(vmt_add(*state, &v, &k), -EEXIST);
	assert_int_equal(k.kind, VMT_CONFLICT_CID);
	assert_int_equal(k.cid, 7);
	write_file(*state, "broken.conf", "junk\n");
	v = (struct vmt_vm){ .name = "broken" };
	assert_int_equal(vmt_add(*state, &v, &k), -EEXIST);
	assert_true(k.broken);
	v = (struct vmt_vm){ .name = "b", .cid = 2 };
	assert_int_equal(vmt_add(*state, &v, &k), -EINVAL);
	v = (struct vmt_vm){ .name = "b/c" };
	assert_int_equal(vmt_add(*state, &v, &k), -EINVAL);
	v = (struct vmt_vm){ .name = "b", .id = HV_GUID_LOOPBACK };
	assert_int_equal(vmt_add(*state, &v, &k), -EINVAL);
	assert_int_equal(vmt_remove(*state, "broken"), 0);
	assert_int_equal(vmt_remove(*state, "broken"), -ENOENT);
	assert_int_equal(vmt_remove(*state, "../x"), -EINVAL);
}

static void session_lists_are_normalised_checked_and_kept(void **state)
{
	static const char good[] = "[VM]\nId=" ID1 "\nCid=3\nSessionUsers= alice,bob  carol\n"
				   "SessionGroups=ops\n";
	struct conf_problems p = { 0 };
	struct vmt_vm vm, back;
	char *text;

	(void)state;
	assert_int_equal(vmt_parse_entry(good, strlen(good), "web", "f", &vm, &p), 0);
	assert_string_equal(vm.session_users, "alice bob carol");
	assert_string_equal(vm.session_groups, "ops");
	text = vmt_format_entry(&vm);
	assert_non_null(strstr(text, "\nSessionUsers=alice bob carol\nSessionGroups=ops\n"));
	assert_int_equal(vmt_parse_entry(text, strlen(text), "web", "f", &back, &p), 0);
	assert_string_equal(back.session_users, vm.session_users);
	vmt_vm_clear(&back);
	vmt_vm_clear(&vm);
	free(text);
	static const char colon[] = "[VM]\nId=" ID1 "\nCid=3\nSessionUsers=a:b\n";
	assert_int_equal(vmt_parse_entry(colon, strlen(colon), "web", "f", &vm, &p), -EINVAL);
	assert_int_equal(p.items[0].line, 4);
	assert_non_null(strstr(p.items[0].message, "'a:b' is not a user or group name"));
	conf_problems_clear(&p);
}

static void format_then_parse_gives_the_same_vm(void **state)
{
	struct vmt_vm in = { .name = "web", .cid = 4294967294u, .description = "# x; y" }, out;
	struct conf_problems p = { 0 };
	char *text;

	(void)state;
	assert_int_equal(hv_guid_parse(ID2, &in.id), 0);
	text = vmt_format_entry(&in);
	assert_non_null(text);
	assert_int_equal(vmt_parse_entry(text, strlen(text), "web", "f", &out, &p), 0);
	assert_true(hv_guid_equal(&in.id, &out.id));
	assert_int_equal(out.cid, in.cid);
	assert_string_equal(out.description, in.description);
	vmt_vm_clear(&out);
	free(text);
}

static void description_must_survive_the_ini_reader(void **state)
{
	char text[512], desc[CONF_VALUE_MAX + 2], why[CONF_WHY_SIZE];
	struct conf_problems p = { 0 };
	struct vmt_table *t = NULL;
	struct vmt_conflict k;
	struct vmt_vm vm;

	/* read back: a blank before ';' and over-long lines are reported */
	snprintf(text, sizeof(text), "[VM]\nId=%s\nCid=3\nDescription=a ; b\n", ID1);
	assert_int_equal(vmt_parse_entry(text, strlen(text), "web", "f", &vm, &p), -EINVAL);
	assert_int_equal(p.items[0].line, 4);
	assert_non_null(strstr(p.items[0].message, "blank before ';'"));
	conf_problems_clear(&p);
	memset(desc, 'd', CONF_VALUE_MAX + 1);
	desc[CONF_VALUE_MAX + 1] = '\0';
	snprintf(text, sizeof(text), "[VM]\nDescription=%s%s\nId=%s\nCid=3\n", desc, desc + 120,
		 ID1);
	assert_int_equal(vmt_parse_entry(text, strlen(text), "web", "f", &vm, &p), -EINVAL);
	assert_int_equal(p.items[0].line, 2);
	assert_non_null(strstr(p.items[0].message, "more than 197"));
	assert_int_equal(p.count, 1); /* Id and Cid still found on lines 3 and 4 */
	conf_problems_clear(&p);
	/* written: the longest description loads, one byte more is refused */
	vm = (struct vmt_vm){ .name = "a", .description = desc };
	assert_int_equal(vmt_add(*state, &vm, &k), -EINVAL);
	assert_int_equal(conf_check_text(desc, VMT_DESCRIPTION_MAX, why), -EINVAL);
	desc[CONF_VALUE_MAX] = '\0';
	vm = (struct vmt_vm){ .name = "b", .description = desc };
	assert_int_equal(vmt_add(*state, &vm, &k), 0);
	vm = (struct vmt_vm){ .name = "c", .description = "x ; y" };
	assert_int_equal(vmt_add(*state, &vm, &k), -EINVAL);
	assert_int_equal(vmt_load(*state, &t), 0);
	assert_int_equal(vmt_count(t), 1);
	assert_string_equal(vmt_find_name(t, "b")->description, desc);
	vmt_table_free(t);
}

static void disabled_services_are_checked_normalised_and_kept(void **state)
{
	static const char good[] = "[VM]\nId=" ID1 "\nCid=3\nDisabledServices= shutdown,heartbeat "
				   "shutdown\n";
	static const char bad[] =
		"[VM]\nId=" ID1 "\nCid=3\n# c\nDisabledServices=heartbeat printer\n";
	struct conf_problems p = { 0 };
	struct vmt_vm vm, back;
	char *text;

	(void)state;
	assert_int_equal(vmt_parse_entry(good, strlen(good), "web", "f", &vm, &p), 0);
	assert_string_equal(vm.disabled_services, "shutdown heartbeat");
	assert_true(vmt_service_disabled(&vm, "shutdown"));
	assert_true(vmt_service_disabled(&vm, "heartbeat"));
	assert_false(vmt_service_disabled(&vm, "session"));
	assert_false(vmt_service_disabled(&vm, "shut"));
	text = vmt_format_entry(&vm);
	assert_non_null(strstr(text, "\nDisabledServices=shutdown heartbeat\n"));
	assert_int_equal(vmt_parse_entry(text, strlen(text), "web", "f", &back, &p), 0);
	assert_string_equal(back.disabled_services, vm.disabled_services);
	vmt_vm_clear(&back);
	vmt_vm_clear(&vm);
	free(text);
	/* an unknown name is a problem with its line, naming the known ones */
	assert_int_equal(vmt_parse_entry(bad, strlen(bad), "web", "vms.d/web.conf", &vm, &p),
			 -EINVAL);
	assert_int_equal(p.count, 1);
	assert_int_equal(p.items[0].line, 5);
	assert_non_null(strstr(p.items[0].message, "'printer' is not an in-box service ("));
	assert_non_null(strstr(p.items[0].message, "heartbeat, shutdown, kvp"));
	conf_problems_clear(&p);
	/* unset and empty: nothing disabled */
	static const char none[] = "[VM]\nId=" ID1 "\nCid=3\nDisabledServices=\n";
	assert_int_equal(vmt_parse_entry(none, strlen(none), "web", "f", &vm, &p), 0);
	assert_null(vm.disabled_services);
	assert_false(vmt_service_disabled(&vm, "heartbeat"));
	vmt_vm_clear(&vm);
}

/* The text of CONFIG/vms.d/NAME.conf (heap). */
static char *read_entry(const char *dir, const char *name)
{
	char path[512], *buf = calloc(1, 4096);
	FILE *f;

	snprintf(path, sizeof(path), "%s/vms.d/%s.conf", dir, name);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(buf);
	buf[fread(buf, 1, 4095, f)] = '\0';
	fclose(f);
	return buf;
}

static void set_service_rewrites_only_disabled_services(void **state)
{
	static const char orig[] = "# my notes\n[VM]\nId=" ID1 "\nCid=3\n; more notes\n"
				   "SessionUsers=alice\n";
	struct vmt_table *t = NULL;
	char *text;

	write_file(*state, "web.conf", orig);
	assert_int_equal(vmt_set_service(*state, "web", "shutdown", false), 0);
	text = read_entry(*state, "web");
	assert_string_equal(text, "# my notes\n[VM]\nDisabledServices=shutdown\nId=" ID1
				  "\nCid=3\n; more notes\nSessionUsers=alice\n");
	free(text);
	/* a second one joins the line; disabling again changes nothing */
	assert_int_equal(vmt_set_service(*state, "web", "heartbeat", false), 0);
	assert_int_equal(vmt_set_service(*state, "web", "heartbeat", false), 0);
	text = read_entry(*state, "web");
	assert_non_null(strstr(text, "\nDisabledServices=shutdown heartbeat\nId="));
	free(text);
	assert_int_equal(vmt_load(*state, &t), 0);
	assert_true(vmt_service_disabled(vmt_find_name(t, "web"), "heartbeat"));
	assert_string_equal(vmt_find_name(t, "web")->session_users, "alice");
	t = vmt_table_free(t);
	/* enabling both removes the line: the file is as it was */
	assert_int_equal(vmt_set_service(*state, "web", "shutdown", true), 0);
	assert_int_equal(vmt_set_service(*state, "web", "heartbeat", true), 0);
	assert_int_equal(vmt_set_service(*state, "web", "heartbeat", true), 0);
	text = read_entry(*state, "web");
	assert_string_equal(text, orig);
	free(text);
}

static void set_service_reports_unknown_vms_services_and_broken_entries(void **state)
{
	static const char broken[] = "[VM]\nId=" ID1 "\nCid=3\nColour=blue\n";
	char *text;

	assert_int_equal(vmt_set_service(*state, "web", "shutdown", false), -ENOENT); /* no vms.d */
	write_file(*state, "web.conf", "[VM]\nId=" ID1 "\nCid=3\n");
	write_file(*state, "bad.conf", broken);
	assert_int_equal(vmt_set_service(*state, "nosuch", "shutdown", false), -ENOENT);
	assert_int_equal(vmt_set_service(*state, "../web", "shutdown", false), -ENOENT);
	assert_int_equal(vmt_set_service(*state, "web", "printer", false), -EINVAL);
	assert_int_equal(vmt_set_service(*state, "web", "Shutdown", false), -EINVAL);
	assert_int_equal(vmt_set_service(*state, "bad", "shutdown", false), -EINVAL);
	text = read_entry(*state, "bad");
	assert_string_equal(text, broken); /* never rewritten */
	free(text);
}

#define DIR_TEST(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_follow_the_socket_file_rule),
		cmocka_unit_test(parse_accepts_valid_and_reports_broken_definitions),
		cmocka_unit_test(format_then_parse_gives_the_same_vm),
		cmocka_unit_test(session_lists_are_normalised_checked_and_kept),
		cmocka_unit_test(disabled_services_are_checked_normalised_and_kept),
		DIR_TEST(load_skips_broken_and_conflicting_definitions),
		DIR_TEST(add_gives_lowest_free_cid_and_a_fresh_kept_id),
		DIR_TEST(add_reports_conflicts_and_rejects_invalid_vms),
		DIR_TEST(description_must_survive_the_ini_reader),
		DIR_TEST(set_service_rewrites_only_disabled_services),
		DIR_TEST(set_service_reports_unknown_vms_services_and_broken_entries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
