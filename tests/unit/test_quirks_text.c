// SPDX-License-Identifier: GPL-2.0
/*
 * Quirk entry text (egpuctl quirks add, same syntax as the module's
 * quirks= parameter) and the tunnel cycle's refusals on a fake sysfs tree.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <linux/egpuhp.h>

#include "common/quirk_text.h"
#include "common/reset_tunnel.h"
#include "common/sysfs.h"

static void parse_ok(const char *text, struct egpu_quirk_entry *q)
{
	const char *why = "unset";

	if (egpu_quirk_parse(text, q, &why))
		fail_msg("refused \"%s\": %s", text, why);
	assert_null(why);
}

static void parse_bad(const char *text, const char *want_why)
{
	struct egpu_quirk_entry q;
	const char *why = NULL;

	if (!egpu_quirk_parse(text, &q, &why))
		fail_msg("accepted \"%s\"", text);
	assert_non_null(why);
	assert_string_equal(why, want_why);
}

static void test_parse_forms(void **state)
{
	struct egpu_quirk_entry q;
	char buf[256];

	parse_ok("1002:687f:no_flr+no_d3cold", &q);
	assert_int_equal(q.vendor, 0x1002);
	assert_int_equal(q.device, 0x687f);
	assert_int_equal(q.subsys_vendor, EGPUHP_QUIRK_ANY_ID);
	assert_int_equal(q.subsys_device, EGPUHP_QUIRK_ANY_ID);
	assert_int_equal(q.class_mask, 0);
	assert_int_equal(q.actions, EGPUHP_QUIRK_NO_FLR | EGPUHP_QUIRK_NO_D3COLD);
	assert_string_equal(egpu_quirk_match_str(&q, buf, sizeof(buf)), "1002:687f:*:*");

	parse_ok("1002:*:1458:2313:no_bus_reset", &q);
	assert_int_equal(q.device, EGPUHP_QUIRK_ANY_ID);
	assert_int_equal(q.subsys_vendor, 0x1458);
	assert_int_equal(q.subsys_device, 0x2313);

	parse_ok("*:*:*:*:030000:ff0000:d3hot_delay=120+d3cold_delay=0", &q);
	assert_int_equal(q.vendor, EGPUHP_QUIRK_ANY_ID);
	assert_int_equal(q.class_code, 0x030000);
	assert_int_equal(q.class_mask, 0xff0000);
	assert_int_equal(q.d3hot_delay_ms, 120);
	assert_int_equal(q.d3cold_delay_ms, 0);
	assert_string_equal(egpu_quirk_match_str(&q, buf, sizeof(buf)),
			    "*:*:*:*:030000:ff0000");

	parse_ok("10de:1eb8:reset_order=bus/pm+egpuhp_reset", &q);
	assert_string_equal(q.reset_order, "bus/pm");
	assert_int_equal(q.nsteps, 1);
	assert_int_equal(q.reset_steps[0], EGPUHP_RESET_BUS);
	parse_ok("10de:1eb8:egpuhp_reset=slot_power", &q);
	assert_int_equal(q.nsteps, 1);
	assert_int_equal(q.reset_steps[0], EGPUHP_RESET_SLOT_POWER);
	parse_ok("10de:1eb8:d3hot_delay=10000", &q);
	assert_int_equal(q.nsteps, 0);
	assert_int_equal(q.match_flags, 0);

	/* "external" is a match condition written among the actions */
	parse_ok("10de:*:*:*:030000:ff0000:external+no_d3cold", &q);
	assert_int_equal(q.match_flags, EGPUHP_QUIRK_MATCH_EXTERNAL);
	assert_int_equal(q.actions, EGPUHP_QUIRK_NO_D3COLD);
	assert_string_equal(egpu_quirk_actions_str(&q, buf, sizeof(buf)),
			    "external+no_d3cold");
	parse_ok("10de:*:no_d3cold+external", &q);
	assert_int_equal(q.match_flags, EGPUHP_QUIRK_MATCH_EXTERNAL);
	assert_int_equal(q.actions, EGPUHP_QUIRK_NO_D3COLD);
}

/* egpuhp_reset=STEP/STEP...: the sequence, in order, as the module parses it. */
static void test_reset_steps(void **state)
{
	static const char *const step_why =
		"egpuhp_reset step must be bus, link_retrain, pm or slot_power";
	struct egpu_quirk_entry q;
	char buf[256];

	parse_ok("1002:731f:egpuhp_reset=pm/bus+no_d3cold", &q);
	assert_int_equal(q.actions, EGPUHP_QUIRK_EGPUHP_RESET | EGPUHP_QUIRK_NO_D3COLD);
	assert_int_equal(q.nsteps, 2);
	assert_int_equal(q.reset_steps[0], EGPUHP_RESET_PM);
	assert_int_equal(q.reset_steps[1], EGPUHP_RESET_BUS);
	assert_string_equal(egpu_quirk_actions_str(&q, buf, sizeof(buf)),
			    "no_d3cold+egpuhp_reset=pm/bus");

	/* the same method twice is a sequence too; reset_order's '/' is its own */
	parse_ok("1002:731f:egpuhp_reset=link_retrain/pm/link_retrain+reset_order=bus/flr", &q);
	assert_int_equal(q.nsteps, 3);
	assert_int_equal(q.reset_steps[0], EGPUHP_RESET_LINK_RETRAIN);
	assert_int_equal(q.reset_steps[1], EGPUHP_RESET_PM);
	assert_int_equal(q.reset_steps[2], EGPUHP_RESET_LINK_RETRAIN);
	assert_string_equal(q.reset_order, "bus/flr");

	parse_ok("1:2:egpuhp_reset=bus/pm/bus/pm/bus/pm/bus/slot_power", &q);
	assert_int_equal(q.nsteps, EGPUHP_RESET_MAX_STEPS);
	assert_int_equal(q.reset_steps[7], EGPUHP_RESET_SLOT_POWER);
	assert_string_equal(egpu_quirk_actions_str(&q, buf, sizeof(buf)),
			    "egpuhp_reset=bus/pm/bus/pm/bus/pm/bus/slot_power");

	parse_bad("1:2:egpuhp_reset=bus/pm/bus/pm/bus/pm/bus/pm/bus",
		  "more than 8 egpuhp_reset steps");
	parse_bad("1:2:egpuhp_reset=", "egpuhp_reset needs =STEP[/STEP...]");
	parse_bad("1:2:egpuhp_reset=pm//bus", "empty step in egpuhp_reset");
	parse_bad("1:2:egpuhp_reset=pm/", "empty step in egpuhp_reset");
	parse_bad("1:2:egpuhp_reset=/bus", "empty step in egpuhp_reset");
	parse_bad("1:2:egpuhp_reset=pm/baco", step_why);
	/* methods that are not steps: the kernel's order, the tunnel, itself */
	parse_bad("1:2:egpuhp_reset=auto", step_why);
	parse_bad("1:2:egpuhp_reset=pm/tunnel", step_why);
	parse_bad("1:2:egpuhp_reset=egpuhp", step_why);
	/* exactly the module's names ("egpuctl reset --method" takes '-') */
	parse_bad("1:2:egpuhp_reset=link-retrain", step_why);
	parse_bad("1:2:egpuhp_reset=pm,bus", step_why);

	assert_string_equal(egpu_reset_step_name(EGPUHP_RESET_LINK_RETRAIN), "link_retrain");
	assert_string_equal(egpu_reset_step_name(EGPUHP_RESET_TUNNEL), "?");
}

/* A buffer too small for the sequence: cut, NUL-terminated, no overrun. */
static void test_steps_truncated(void **state)
{
	struct egpu_quirk_entry q;
	char buf[20];

	parse_ok("1:2:no_flr+egpuhp_reset=slot_power/slot_power/slot_power", &q);
	memset(buf, 'x', sizeof(buf));
	egpu_quirk_actions_str(&q, buf, sizeof(buf));
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_string_equal(buf, "no_flr+egpuhp_reset");
}

static void test_parse_errors(void **state)
{
	const char *shape = "expected VENDOR:DEVICE[:SUBVENDOR:SUBDEVICE[:CLASS:CLASSMASK]]:ACTIONS";

	parse_bad("1002:no_flr", shape);
	parse_bad("1002:687f:1:no_flr", shape);
	parse_bad("1002:687f:1:2:3:no_flr", shape);
	parse_bad("1:2:3:4:5:6:7:no_flr", shape);
	parse_bad("10021:687f:no_flr", "bad hexadecimal ID (1-4 digits or *)");
	parse_bad("zz:687f:no_flr", "bad hexadecimal ID (1-4 digits or *)");
	parse_bad(":687f:no_flr", "bad hexadecimal ID (1-4 digits or *)");
	parse_bad("-1:687f:no_flr", "bad hexadecimal ID (1-4 digits or *)");
	parse_bad("1:2:3:4:1000000:ff:no_flr", "bad class or class mask (1-6 hexadecimal digits)");
	parse_bad("1:2:", "no action");
	parse_bad("1:2:no_flr+", "empty action");
	parse_bad("1:2:no_flr++no_d3", "empty action");
	parse_bad("1:2:no_flrr", "unknown action");
	parse_bad("1:2:no_flr=1", "this action takes no value");
	parse_bad("1:2:external=1+no_flr", "external takes no value");
	parse_bad("1:2:d3hot_delay", "delay needs =MS, 0..10000");
	parse_bad("1:2:d3hot_delay=10001", "delay needs =MS, 0..10000");
	parse_bad("1:2:d3cold_delay=-1", "delay needs =MS, 0..10000");
	parse_bad("1:2:d3cold_delay=5ms", "delay needs =MS, 0..10000");
	parse_bad("1:2:reset_order=", "reset_order needs =METHOD/METHOD...");
	parse_bad("1:2:egpuhp_reset=baco",
		  "egpuhp_reset step must be bus, link_retrain, pm or slot_power");
}

static void test_too_long(void **state)
{
	char text[400];

	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	parse_bad(text, "entry too long");
}

/* What egpuctl prints parses back to the same entry. */
static void test_round_trip(void **state)
{
	static const char *const texts[] = {
		"1002:687f:no_flr+no_bus_reset+no_pm_reset+no_d3+no_d3cold",
		"8086:*:aspm_l0s_off+aspm_l1_off+d3hot_delay=20+d3cold_delay=100",
		"*:*:*:*:040300:ffff00:reset_order=pm/bus+egpuhp_reset=pm",
		"10de:*:no_d3cold+egpuhp_reset=link_retrain/pm/bus/slot_power",
		"10de:*:*:*:030000:ff0000:external+no_d3cold",
	};
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct egpu_quirk_entry a, b;
		char m[64], acts[256], again[400];

		parse_ok(texts[i], &a);
		snprintf(again, sizeof(again), "%s:%s",
			 egpu_quirk_match_str(&a, m, sizeof(m)),
			 egpu_quirk_actions_str(&a, acts, sizeof(acts)));
		parse_ok(again, &b);
		assert_memory_equal(&a, &b, sizeof(a));
	}
}

static void test_names(void **state)
{
	uint32_t m = 99;

	assert_string_equal(egpu_quirk_action_name(EGPUHP_QUIRK_NO_FLR), "no_flr");
	assert_string_equal(egpu_quirk_action_name(EGPUHP_QUIRK_EGPUHP_RESET), "egpuhp_reset");
	assert_null(egpu_quirk_action_name(1U << 30));
	assert_string_equal(egpu_quirk_source_name(EGPUHP_QUIRK_SRC_PARAM), "param");
	assert_string_equal(egpu_quirk_source_name(77), "?");
	assert_int_equal(egpu_reset_method_parse("pm", &m), 0);
	assert_int_equal(m, EGPUHP_RESET_PM);
	assert_int_equal(egpu_reset_method_parse("slot-power", &m), 0);
	assert_int_equal(m, EGPUHP_RESET_SLOT_POWER);
	assert_int_equal(egpu_reset_method_parse("flr", &m), -EINVAL);
}

/* ---- tunnel cycle refusals on a fake sysfs tree ---- */

static char root[256];

static void put(const char *rel, const char *val)
{
	char path[512], dir[512], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	for (slash = strchr(dir + strlen(root) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(dir, 0755);
		*slash = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", val);
	fclose(f);
}

static void router(const char *name, const char *uid, const char *authorized)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "bus/thunderbolt/devices/%s/unique_id", name);
	put(rel, uid);
	snprintf(rel, sizeof(rel), "bus/thunderbolt/devices/%s/authorized", name);
	put(rel, authorized);
}

static int setup_tree(void **state)
{
	char cmd[300];

	snprintf(root, sizeof(root), "/tmp/egpuhp-unit-tunnel-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		return -1;
	mkdir(root, 0755);
	put("bus/pci/devices/0000:05:00.0/vendor", "0x1002");
	put("bus/pci/devices/0000:05:00.1/vendor", "0x1002");
	put("bus/thunderbolt/devices/domain0/security", "user");
	put("bus/thunderbolt/devices/domain0/deauthorization", "1");
	router("0-0", "host-uid", "1");
	router("0-1", "c0ffee00-0000-0000-0000-000000000001", "1");
	egpu_sysfs_set_root(root);
	return 0;
}

static int teardown_tree(void **state)
{
	char cmd[300];

	egpu_sysfs_set_root(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd) == 0 ? 0 : -1;
}

static int cycle(const char *dev, const char *router_name, const char *store,
		 struct egpu_tunnel_cycle *tc)
{
	memset(tc, 0, sizeof(*tc));
	tc->dev = dev;
	tc->router = router_name;
	tc->store_root = store;
	tc->timeout_ms = 200;
	return egpu_tunnel_cycle(tc);
}

static void test_tunnel_refusals(void **state)
{
	struct egpu_tunnel_cycle tc;
	char store[300];

	assert_int_equal(cycle("0000:09:00.0", NULL, NULL, &tc), -ENODEV);
	assert_string_equal(tc.err, "no PCI function 0000:09:00.0");

	assert_int_equal(cycle("0000:05:00.0", "0-0", NULL, &tc), -EINVAL);
	assert_string_equal(tc.err, "0-0 is a host router");

	/* de-authorization switched off in the domain: nothing is touched */
	put("bus/thunderbolt/devices/domain0/deauthorization", "0");
	assert_int_equal(cycle("0000:05:00.0", NULL, NULL, &tc), -EOPNOTSUPP);
	assert_string_equal(tc.router_name, "0-1");
	assert_string_equal(tc.err, "domain domain0 does not support de-authorization");
	put("bus/thunderbolt/devices/domain0/deauthorization", "1");

	/* secure level and no key in the store */
	put("bus/thunderbolt/devices/domain0/security", "secure");
	snprintf(store, sizeof(store), "%s/store", root);
	assert_int_equal(cycle("0000:05:00.0", "0-1", store, &tc), -ENOENT);
	assert_non_null(strstr(tc.err, "no stored key for c0ffee00-0000-0000-0000-000000000001"));
	put("bus/thunderbolt/devices/domain0/security", "user");

	/* two authorized routers: which one carries the device is ambiguous */
	router("0-3", "c0ffee00-0000-0000-0000-000000000003", "1");
	assert_int_equal(cycle("0000:05:00.0", NULL, NULL, &tc), -ENOENT);
	assert_string_equal(tc.err, "several authorized routers; name one with --router");

	/* an unauthorized router cannot be cycled */
	router("0-3", "c0ffee00-0000-0000-0000-000000000003", "0");
	assert_int_equal(cycle("0000:05:00.0", "0-3", NULL, &tc), -EINVAL);
	assert_string_equal(tc.err, "router 0-3 is not authorized");

	/* the functions never go away: a clear timeout, the router is named */
	assert_int_equal(cycle("0000:05:00.0", "0-1", NULL, &tc), -ETIMEDOUT);
	assert_int_equal(tc.nfn, 2);
	assert_non_null(strstr(tc.err, "still present 200 ms after de-authorizing 0-1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_forms),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_reset_steps),
		cmocka_unit_test(test_steps_truncated),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_tunnel_refusals, setup_tree, teardown_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
