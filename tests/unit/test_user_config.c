// SPDX-License-Identifier: GPL-2.0
/* egpud.conf parser: every error path, with its exact FILE:LINE:COL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/config.h"

static void expect_error(const char *text, const char *want)
{
	char err[512];
	struct egpu_config *c = egpu_config_parse("t.conf", text, err, sizeof(err));

	if (c) {
		egpu_config_free(c);
		fail_msg("accepted: %s", text);
	}
	assert_string_equal(err, want);
}

static void expect_ok(const char *text)
{
	char err[512];
	struct egpu_config *c = egpu_config_parse("t.conf", text, err, sizeof(err));

	if (!c)
		fail_msg("refused: %s: %s", text, err);
	egpu_config_free(c);
}

static void test_section_errors(void **state)
{
	expect_error("[daemon", "t.conf:1:8: missing ']'");
	expect_error("  [daemon", "t.conf:1:10: missing ']'");
	expect_error("[daemon] x", "t.conf:1:9: unexpected text after ']'");
	expect_error("[]", "t.conf:1:2: empty section name");
	expect_error("\n[bogus]", "t.conf:2:2: unknown section [bogus]");
	expect_error("  [Daemon]", "t.conf:1:4: unknown section [Daemon]");
	expect_error("[hooks]\n[daemon]\n[hooks]",
		     "t.conf:3:2: section [hooks] repeated (first at line 1)");
}

static void test_line_errors(void **state)
{
	expect_error("store = /x", "t.conf:1:1: \"store\" outside of any [section]");
	expect_error("# c\n  store = /x", "t.conf:2:3: \"store\" outside of any [section]");
	expect_error("[daemon]\njust text", "t.conf:2:1: expected \"key = value\"");
	expect_error("[daemon]\n\t  text", "t.conf:2:4: expected \"key = value\"");
	expect_error("[daemon]\n= v", "t.conf:2:1: missing key before '='");
	expect_error("[daemon]\nfoo = 1", "t.conf:2:1: unknown key \"foo\" in [daemon]");
	expect_error("[hooks]\n  policy = auto", "t.conf:2:3: unknown key \"policy\" in [hooks]");
	expect_error("[daemon]\nstore = /a\nstore = /b",
		     "t.conf:3:1: duplicate key \"store\" in [daemon]");
	expect_error("[daemon]\nstore =", "t.conf:2:8: empty value for \"store\"");
	expect_error("[daemon]\nstore =   ", "t.conf:2:8: empty value for \"store\"");
	{
		char big[1100];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		expect_error(big, "t.conf:1:1024: line longer than 1023 bytes");
	}
}

static void test_daemon_values(void **state)
{
	expect_error("[daemon]\nstore = rel", "t.conf:2:9: store must be an absolute path");
	expect_error("[daemon]\nsocket = x.sock", "t.conf:2:10: socket must be an absolute path");
	expect_error("[daemon]\nsysfs = sys", "t.conf:2:9: sysfs must be an absolute path");
	expect_error("[daemon]\nnetlink-rcvbuf = -5",
		     "t.conf:2:18: netlink-rcvbuf: expected a byte count, got \"-5\"");
	expect_error("[daemon]\nnetlink-rcvbuf = 99999999999",
		     "t.conf:2:18: netlink-rcvbuf: expected a byte count, got \"99999999999\"");
	expect_error("[daemon]\nload-module = maybe",
		     "t.conf:2:15: load-module: expected yes or no, got \"maybe\"");
	expect_error("[daemon]\non-lost = hup",
		     "t.conf:2:11: on-lost: expected keep, term or kill, got \"hup\"");
	expect_error("[daemon]\nlost-grace-ms = 600001",
		     "t.conf:2:17: lost-grace-ms: expected milliseconds 0..600000, got \"600001\"");
	expect_error("[daemon]\non-lost = kill\non-lost = keep",
		     "t.conf:3:1: duplicate key \"on-lost\" in [daemon]");
}

static void test_lost_values(void **state)
{
	char err[256];
	struct egpu_config *c = egpu_config_parse("t.conf",
						  "[daemon]\nlost-grace-ms = 0\non-lost = kill\n",
						  err, sizeof(err));

	assert_non_null(c);
	assert_int_equal(c->lost_grace_ms, 0);
	assert_int_equal(c->on_lost, EGPU_ON_LOST_KILL);
	assert_string_equal(egpu_on_lost_name(c->on_lost), "kill");
	egpu_config_free(c);
	c = egpu_config_parse("t.conf", "[daemon]\non-lost = keep\n", err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->on_lost, EGPU_ON_LOST_KEEP);
	egpu_config_free(c);
	expect_ok("[hooks]\nevents = workload-lost gpu-ready\n");
	expect_ok("[hooks]\nevents = pci-slow\n");
}

static void test_authorization_values(void **state)
{
	expect_error("[authorization]\npolicy = sometimes",
		     "t.conf:2:10: policy: expected auto, iommu, manual or deny, got \"sometimes\"");
	expect_error("[authorization]\nowner = bolt",
		     "t.conf:2:9: owner: expected auto, egpud or none, got \"bolt\"");
	expect_error("[authorize-rule]\npolicy = auto\ngeneration = x",
		     "t.conf:3:14: generation: expected a number 0..10, got \"x\"");
	expect_error("[authorize-rule]\npolicy = auto\ngeneration = 11",
		     "t.conf:3:14: generation: expected a number 0..10, got \"11\"");
	expect_error("[authorize-rule]\npolicy = yes",
		     "t.conf:2:10: policy: expected auto, iommu, manual or deny, got \"yes\"");
	/* auto only for one device named by its exact unique_id (DROM names are no identity) */
	expect_error("[authorize-rule]\nvendor-name = Razer*\ndevice-name = Core X*\npolicy = auto\n",
		     "t.conf:1:1: [authorize-rule] with policy auto needs a unique-id without globs (vendor-name, device-name and generation can be claimed by any device)");
	expect_error("[authorize-rule]\nunique-id = c6030000-*\npolicy = auto\n",
		     "t.conf:1:1: [authorize-rule] with policy auto needs a unique-id without globs (vendor-name, device-name and generation can be claimed by any device)");
	expect_ok("[authorize-rule]\nunique-id = c6030000-0060-6c0e-0001\nvendor-name = Razer*\npolicy = auto\n");
	expect_ok("[authorize-rule]\nvendor-name = Razer*\npolicy = manual\n");
	/* a rule without its policy: reported at its header */
	expect_error("[daemon]\n[authorize-rule]\nunique-id = *\n[hooks]",
		     "t.conf:2:1: [authorize-rule] without a \"policy\" key");
	expect_error("[authorize-rule]\nunique-id = *\n",
		     "t.conf:1:1: [authorize-rule] without a \"policy\" key");
}

static void test_driver_values(void **state)
{
	expect_error("[driver-rule]\ndriver = vfio-pci\nids = 10de",
		     "t.conf:3:7: ids: expected VVVV:DDDD (hex, or * for any), got \"10de\"");
	expect_error("[driver-rule]\ndriver = vfio-pci\nids = 10de:25x4",
		     "t.conf:3:14: ids: expected VVVV:DDDD (hex, or * for any), got \"10de:25x4\"");
	expect_error("[driver-rule]\ndriver = vfio-pci\nids = 10d:2504",
		     "t.conf:3:7: ids: expected VVVV:DDDD (hex, or * for any), got \"10d:2504\"");
	expect_error("[driver-rule]\ndriver = ../x",
		     "t.conf:2:10: driver: \"../x\" is not a driver name");
	expect_error("[driver-rule]\nids = *:*\n\n[daemon]",
		     "t.conf:1:1: [driver-rule] without a \"driver\" key");
}

static void test_hooks_values(void **state)
{
	expect_error("[hooks]\ntimeout = 0", "t.conf:2:11: timeout: expected seconds 1..3600, got \"0\"");
	expect_error("[hooks]\ntimeout = 5s", "t.conf:2:11: timeout: expected seconds 1..3600, got \"5s\"");
	expect_error("[hooks]\nevents = gpu-ready, bogus",
		     "t.conf:2:21: unknown hook event \"bogus\"");
	expect_error("[hooks]\ndir = hooks", "t.conf:2:7: dir must be an absolute path");
	{
		char text[700];

		snprintf(text, sizeof(text), "[hooks]\nevents = all %0600d", 7);
		expect_error(text, "t.conf:2:14: event name too long");
	}
}

static void test_valid(void **state)
{
	static const char text[] =
		"# egpud test configuration\n"
		"[daemon]\n"
		"socket = /tmp/s.sock\n"
		"socket-group = egpu\n"
		"store = /tmp/store\n"
		"netlink-rcvbuf = 4096\n"
		"load-module = no\n"
		"\n"
		"[authorization]\n"
		"policy = manual\n"
		"owner = egpud\n"
		"[authorize-rule]\n"
		"vendor-name = Razer*\n"
		"generation = 3\n"
		"policy = manual\n"
		"[authorize-rule]\n"
		"unique-id = dead*\n"
		"policy = deny\n"
		"[driver-rule]\n"
		"ids = 1002:687f\n"
		"driver = vfio-pci\n"
		"[driver-rule]\n"
		"ids = 10de:*\n"
		"slot = 0000:00:1c.*\n"
		"driver = nvidia\n"
		"[hooks]\n"
		"dir = /etc/h\n"
		"timeout = 7\n"
		"events = gpu-ready pci-remove,authorized\n";
	char err[256];
	struct egpu_config *c = egpu_config_parse("t.conf", text, err, sizeof(err));

	assert_non_null(c);
	assert_string_equal(c->socket_path, "/tmp/s.sock");
	assert_string_equal(c->socket_group, "egpu");
	assert_string_equal(c->store_dir, "/tmp/store");
	assert_int_equal(c->netlink_rcvbuf, 4096);
	assert_false(c->load_module);
	assert_int_equal(c->policy, EGPU_POLICY_MANUAL);
	assert_int_equal(c->owner, EGPU_OWNER_EGPUD);
	assert_int_equal(c->n_auth_rules, 2);
	assert_string_equal(c->auth_rules[0].vendor_name, "Razer*");
	assert_int_equal(c->auth_rules[0].generation, 3);
	assert_int_equal(c->auth_rules[0].policy, EGPU_POLICY_MANUAL);
	assert_int_equal(c->auth_rules[0].line, 12);
	assert_int_equal(c->auth_rules[1].policy, EGPU_POLICY_DENY);
	assert_int_equal(c->n_driver_rules, 2);
	assert_int_equal(c->driver_rules[0].vendor, 0x1002);
	assert_int_equal(c->driver_rules[0].device, 0x687f);
	assert_int_equal(c->driver_rules[1].device, -1);
	assert_string_equal(c->driver_rules[1].slot, "0000:00:1c.*");
	assert_string_equal(c->hooks_dir, "/etc/h");
	assert_int_equal(c->hook_timeout_s, 7);
	assert_int_equal(c->hook_events, (1U << EGPU_HOOK_GPU_READY) |
			 (1U << EGPU_HOOK_PCI_REMOVE) | (1U << EGPU_HOOK_AUTHORIZED));
	egpu_config_free(c);
}

static void test_defaults(void **state)
{
	char err[256];
	struct egpu_config *c = egpu_config_parse("t.conf", "", err, sizeof(err));

	assert_non_null(c);
	assert_int_equal(c->policy, EGPU_POLICY_IOMMU);
	assert_int_equal(c->owner, EGPU_OWNER_AUTO);
	assert_string_equal(c->store_dir, "/var/lib/egpuhp");
	assert_true(c->load_module);
	assert_null(c->socket_group);
	assert_int_equal(c->on_lost, EGPU_ON_LOST_TERM);
	assert_int_equal(c->lost_grace_ms, 5000);
	egpu_config_free(c);
}

static void test_load_files(void **state)
{
	char dir[] = "/tmp/egpu-conf-XXXXXX";
	char path[256], err[512];
	struct egpu_config *c;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	c = egpu_config_load(path, false, err, sizeof(err));
	assert_null(c);
	assert_true(strstr(err, "No such file or directory") != NULL);
	c = egpu_config_load(path, true, err, sizeof(err));
	assert_non_null(c);
	egpu_config_free(c);

	snprintf(path, sizeof(path), "%s/nul.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fwrite("[daemon]\nst\0re = /x\n", 1, 20, f);
	fclose(f);
	c = egpu_config_load(path, false, err, sizeof(err));
	assert_null(c);
	{
		char want[300];

		snprintf(want, sizeof(want), "%s:2:3: NUL byte in file", path);
		assert_string_equal(err, want);
	}
	unlink(path);

	snprintf(path, sizeof(path), "%s/big.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 100000; i++)
		fputs("# padding...\n", f);
	fclose(f);
	c = egpu_config_load(path, false, err, sizeof(err));
	assert_null(c);
	{
		char want[300];

		snprintf(want, sizeof(want), "%s: file too large (more than 1048576 bytes)", path);
		assert_string_equal(err, want);
	}
	unlink(path);

	snprintf(path, sizeof(path), "%s/ok.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[authorization]\npolicy = deny\n", f);
	fclose(f);
	c = egpu_config_load(path, false, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->policy, EGPU_POLICY_DENY);
	egpu_config_free(c);
	unlink(path);
	rmdir(dir);
}

static void test_metrics_values(void **state)
{
	struct egpu_config *c;
	char err[512];

	c = egpu_config_parse("t.conf", "", err, sizeof(err));
	assert_non_null(c);
	assert_null(c->metrics_textfile);	/* off unless configured */
	assert_int_equal(c->metrics_refresh_s, 60);
	egpu_config_free(c);
	c = egpu_config_parse("t.conf", "[daemon]\nmetrics-textfile = /var/lib/prometheus/"
			      "node-exporter/egpuhp.prom\nmetrics-refresh = 0\n", err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->metrics_textfile, "/var/lib/prometheus/node-exporter/egpuhp.prom");
	assert_int_equal(c->metrics_refresh_s, 0);
	egpu_config_free(c);
	expect_error("[daemon]\nmetrics-textfile = egpuhp.prom",
		     "t.conf:2:20: metrics-textfile: expected an absolute path of a file named *.prom, got \"egpuhp.prom\"");
	expect_error("[daemon]\nmetrics-textfile = /tmp/egpuhp.txt",
		     "t.conf:2:20: metrics-textfile: expected an absolute path of a file named *.prom, got \"/tmp/egpuhp.txt\"");
	expect_error("[daemon]\nmetrics-textfile = /tmp/.prom",
		     "t.conf:2:20: metrics-textfile: expected an absolute path of a file named *.prom, got \"/tmp/.prom\"");
	expect_error("[daemon]\nmetrics-refresh = 86401",
		     "t.conf:2:19: metrics-refresh: expected seconds 0..86400, got \"86401\"");
	expect_error("[daemon]\nmetrics-refresh = -1",
		     "t.conf:2:19: metrics-refresh: expected seconds 0..86400, got \"-1\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_section_errors),
		cmocka_unit_test(test_line_errors),
		cmocka_unit_test(test_daemon_values),
		cmocka_unit_test(test_lost_values),
		cmocka_unit_test(test_authorization_values),
		cmocka_unit_test(test_driver_values),
		cmocka_unit_test(test_hooks_values),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_load_files),
		cmocka_unit_test(test_metrics_values),
	};

	return cmocka_run_group_tests_name("user_config", tests, NULL, NULL);
}
