// SPDX-License-Identifier: GPL-2.0
/*
 * egpud's JSON replies (docs/egpuctl-json.md): the envelope (ok and error
 * forms, messages one per line, hostile text escaped), status data with
 * decisions and the enrolled devices that are not connected, info by
 * router name and by unique_id of an absent device.  Each document is
 * checked to be valid JSON by python3's json module.
 */
// unit-test-links: egpud/auth.c egpud/jobs.c egpud/replies.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers/daemon_fixture.h"
#include "helpers/egpud_loop_stubs.h"
#include "helpers/file_tree.h"

#include "common/store.h"
#include "common/sysfs.h"
#include "egpud/egpud.h"

static char root[64], sys_root[96], store[96];

static void put(const char *rel, const char *val)
{
	file_tree_put(sys_root, rel, val);
}

/* python3 parses doc as JSON and evaluates expr (doc is "j") to True. */
static void json_check(const char *doc, const char *expr)
{
	char path[128], cmd[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/doc.json", root);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(doc, f);
	fclose(f);
	setenv("EGPU_JSON_EXPR", expr, 1);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import json,os,sys; j=json.load(open(sys.argv[1])); "
		 "sys.exit(0 if eval(os.environ[\"EGPU_JSON_EXPR\"]) else 1)' %s", path);
	if (system(cmd) != 0)
		fail_msg("%s\nnot: %s", doc, expr);
}

static char *capture(void (*fn)(FILE *f, void *arg), void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f, arg);
	fclose(f);
	return buf;
}

static int setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/egpu-replies-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(sys_root, sizeof(sys_root), "%s/sys", root);
	snprintf(store, sizeof(store), "%s/store", root);
	egpu_sysfs_set_root(sys_root);
	file_tree_tb_domain(sys_root);
	put("bus/thunderbolt/devices/0-1/unique_id", "aaaa-0001");
	put("bus/thunderbolt/devices/0-1/vendor_name", "Razer \"Core\"\x01");
	put("bus/thunderbolt/devices/0-1/vendor", "0x127");
	put("bus/thunderbolt/devices/0-1/authorized", "0");
	return egpu_store_init(store);
}

static int teardown(void **state)
{
	char cmd[128];

	egpu_sysfs_set_root(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void envelope_error(FILE *f, void *arg)
{
	egpud_json_envelope(f, "authorize", EGPUD_R_NOT_FOUND, NULL,
			    "no Thunderbolt router 0-9\nsecond \"line\"\t\n");
}

static void envelope_ok(FILE *f, void *arg)
{
	egpud_json_envelope(f, "ping", EGPUD_R_OK, "{\"x\":1}", "pong\n");
}

static void test_envelope(void **state)
{
	char *doc = capture(envelope_error, NULL);

	json_check(doc, "j == {'version': 1, 'verb': 'authorize', 'ok': False, 'status': 1, "
		   "'error': 'no Thunderbolt router 0-9', 'code': 'not-found', "
		   "'messages': ['no Thunderbolt router 0-9', 'second \"line\"\\t']}");
	assert_int_equal(doc[strlen(doc) - 1], '\n');
	assert_ptr_equal(strchr(doc, '\n'), doc + strlen(doc) - 1);	/* one line */
	free(doc);
	doc = capture(envelope_ok, NULL);
	json_check(doc, "j == {'version': 1, 'verb': 'ping', 'ok': True, 'status': 0, "
		   "'data': {'x': 1}, 'messages': ['pong']}");
	free(doc);
	assert_int_equal(egpud_result_status(EGPUD_R_USAGE), 2);
	assert_int_equal(egpud_result_status(EGPUD_R_POLICY), 1);
	assert_string_equal(egpud_result_code(EGPUD_R_REFUSED), "refused");
}

static struct egpud *new_daemon(void)
{
	char text[512];
	struct egpud *d;

	snprintf(text, sizeof(text), "[daemon]\nstore = %s\nsysfs = %s\n"
		 "[authorization]\npolicy = manual\nowner = egpud\n", store, sys_root);
	d = daemon_fixture_new(text);
	d->config_path = "t.conf";
	return d;
}

static void status_doc(FILE *f, void *arg)
{
	egpud_status_json(arg, f);
}

struct info_args {
	struct egpud *d;
	const char *what;
	enum egpud_result r;
};

static void info_doc(FILE *f, void *arg)
{
	struct info_args *a = arg;
	char *argv[] = { "info", (char *)a->what };

	a->r = egpud_info(a->d, 2, argv, stderr, f);
}

static void test_status_and_info(void **state)
{
	struct egpu_store_dev gone = {
		.unique_id = "bbbb-0002", .name = "0-3", .vendor_name = "Sonnet",
		.device_name = "Breakaway", .generation = 3, .policy = EGPU_POLICY_AUTO,
		.enrolled = 1700000000,
	};
	struct egpud *d = new_daemon();
	struct info_args a = { .d = d };
	char *doc;

	assert_int_equal(egpu_store_put_dev(store, &gone), 0);
	assert_int_equal(egpud_auth_router(d, "0-1", false, NULL), 0);	/* manual: wait */
	doc = capture(status_doc, d);
	json_check(doc, "j['policy'] == 'manual' and j['owner'] == 'egpud' and "
		   "j['routers'] == [{'name': '0-1', 'unique_id': 'aaaa-0001', 'policy': 'manual', "
		   "'decision': 'wait', 'reason': j['routers'][0]['reason']}] and "
		   "j['enrolled'] == [{'unique_id': 'bbbb-0002', 'name': '0-3', "
		   "'vendor_name': 'Sonnet', 'device_name': 'Breakaway', 'generation': 3, "
		   "'policy': 'auto', 'enrolled_time': 1700000000, 'key': False, "
		   "'connected': False}]");
	free(doc);

	a.what = "0-1";
	doc = capture(info_doc, &a);
	assert_int_equal(a.r, EGPUD_R_OK);
	json_check(doc, "j['name'] == '0-1' and j['connected'] and j['vendor'] == '0127' and "
		   "j['vendor_name'] == 'Razer \"Core\"\\x01' and j['decision'] == 'wait' and "
		   "not j['enrolled'] and j['authorized'] == 0");
	free(doc);
	a.what = "bbbb-0002";
	doc = capture(info_doc, &a);
	assert_int_equal(a.r, EGPUD_R_OK);
	json_check(doc, "j == {'unique_id': 'bbbb-0002', 'connected': False, "
		   "'vendor_name': 'Sonnet', 'device_name': 'Breakaway', 'generation': 3, "
		   "'enrolled': True, 'enrolled_policy': 'auto', 'enrolled_time': 1700000000, "
		   "'key': False}");
	free(doc);
	a.what = "cccc-0003";
	doc = capture(info_doc, &a);
	assert_int_equal(a.r, EGPUD_R_NOT_FOUND);
	free(doc);

	/* a de-authorization kept for a router shows as the user's decision */
	egpud_auth_note_deauthorized(d, "0-1", "user");
	doc = capture(status_doc, d);
	json_check(doc, "j['routers'][0]['user_decision'] == 'deauthorized' and "
		   "j['routers'][0]['user_decision_by'] == 'user'");
	free(doc);
	daemon_fixture_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_envelope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_and_info, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
