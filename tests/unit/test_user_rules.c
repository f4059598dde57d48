// SPDX-License-Identifier: GPL-2.0
/*
 * Rule matching and authorization decisions, and the sysfs side of them on
 * a fake sysfs tree (a directory of plain files).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "helpers/file_tree.h"

#include "common/config.h"
#include "common/rules.h"
#include "common/sysfs.h"

static struct egpu_config *cfg(const char *text)
{
	char err[256];
	struct egpu_config *c = egpu_config_parse("t.conf", text, err, sizeof(err));

	if (!c)
		fail_msg("%s", err);
	return c;
}

static struct egpuhp_router router(const char *uid, const char *vendor,
				   const char *device, unsigned int gen, uint8_t iommu)
{
	struct egpuhp_router r = { .name = "0-1", .depth = 1, .generation = gen,
				   .iommu_prot = iommu, .security = "user" };

	snprintf(r.unique_id, sizeof(r.unique_id), "%s", uid);
	snprintf(r.vendor_name, sizeof(r.vendor_name), "%s", vendor);
	snprintf(r.device_name, sizeof(r.device_name), "%s", device);
	return r;
}

static enum egpu_auth_verdict decide(const struct egpu_config *c,
				     const struct egpuhp_router *r,
				     enum egpu_policy stored, bool boltd, bool requested,
				     char *reason)
{
	struct egpu_auth_input in = { .router = r, .stored_policy = stored,
				      .boltd_running = boltd, .requested = requested };
	struct egpu_auth_decision d;

	egpu_auth_decide(c, &in, &d);
	if (reason)
		strcpy(reason, d.reason);
	return d.verdict;
}

static void test_auth_rule_match(void **state)
{
	struct egpu_config *c = cfg(
		"[authorize-rule]\nunique-id = 1234\nvendor-name = Razer*\ndevice-name = Core X*\ngeneration = 3\npolicy = auto\n"
		"[authorize-rule]\nunique-id = dead*\npolicy = deny\n"
		"[authorize-rule]\nvendor-name = *\npolicy = manual\n");
	struct egpuhp_router r;
	const struct egpu_auth_rule *m;

	r = router("1234", "Razer Inc.", "Core X Chroma", 3, 0);
	m = egpu_match_auth_rule(c, &r);
	assert_non_null(m);
	assert_int_equal(m->policy, EGPU_POLICY_AUTO);
	r.generation = 4;	/* generation must match */
	m = egpu_match_auth_rule(c, &r);
	assert_int_equal(m->policy, EGPU_POLICY_MANUAL);
	r = router("deadbeef", "Razer Inc.", "Other", 3, 0);
	assert_int_equal(egpu_match_auth_rule(c, &r)->policy, EGPU_POLICY_DENY);
	egpu_config_free(c);

	c = cfg("");
	assert_null(egpu_match_auth_rule(c, &r));
	egpu_config_free(c);
}

static void test_policies(void **state)
{
	struct egpu_config *c = cfg("");	/* default: iommu, owner auto */
	struct egpuhp_router r = router("1234", "V", "D", 3, 1);
	char why[200];

	/* iommu: only while the domain protects */
	assert_int_equal(decide(c, &r, EGPU_POLICY_UNSET, false, false, why), EGPU_AUTH_ALLOW);
	assert_string_equal(why, "policy iommu (default): domain iommu_dma_protection=1");
	r.iommu_prot = 0;
	assert_int_equal(decide(c, &r, EGPU_POLICY_UNSET, false, false, why), EGPU_AUTH_WAIT);
	/* enrolled with auto: authorized regardless */
	assert_int_equal(decide(c, &r, EGPU_POLICY_AUTO, false, false, why), EGPU_AUTH_ALLOW);
	assert_string_equal(why, "policy auto (enrolled)");
	/* a user request wins over manual/iommu, never over deny */
	assert_int_equal(decide(c, &r, EGPU_POLICY_MANUAL, false, false, NULL), EGPU_AUTH_WAIT);
	assert_int_equal(decide(c, &r, EGPU_POLICY_MANUAL, false, true, NULL), EGPU_AUTH_ALLOW);
	assert_int_equal(decide(c, &r, EGPU_POLICY_DENY, false, true, why), EGPU_AUTH_REFUSE);
	/* boltd running: defer, unless owner = egpud */
	r.iommu_prot = 1;
	assert_int_equal(decide(c, &r, EGPU_POLICY_UNSET, true, false, why), EGPU_AUTH_DEFER);
	assert_non_null(strstr(why, "boltd"));
	/* already authorized, host router, security none: nothing to do */
	r.authorized = 1;
	assert_int_equal(decide(c, &r, EGPU_POLICY_UNSET, false, false, NULL), EGPU_AUTH_NOTHING);
	r.authorized = 0;
	strcpy(r.security, "none");
	assert_int_equal(decide(c, &r, EGPU_POLICY_UNSET, false, false, NULL), EGPU_AUTH_NOTHING);
	strcpy(r.security, "secure");
	assert_int_equal(decide(c, &r, EGPU_POLICY_UNSET, false, false, NULL), EGPU_AUTH_ALLOW);
	r.depth = 0;
	assert_int_equal(decide(c, &r, EGPU_POLICY_UNSET, false, false, NULL), EGPU_AUTH_NOTHING);
	egpu_config_free(c);

	c = cfg("[authorization]\npolicy = auto\nowner = egpud\n"
		"[authorize-rule]\nunique-id = 1234\npolicy = deny\n");
	r = router("1234", "V", "D", 3, 1);
	/* a rule beats the enrollment */
	assert_int_equal(decide(c, &r, EGPU_POLICY_AUTO, true, false, why), EGPU_AUTH_REFUSE);
	assert_string_equal(why, "policy deny (rule at line 4)");
	r = router("5678", "V", "D", 3, 0);
	assert_int_equal(decide(c, &r, EGPU_POLICY_UNSET, true, false, why), EGPU_AUTH_ALLOW);
	egpu_config_free(c);

	c = cfg("[authorization]\npolicy = manual\nowner = none\n");
	assert_int_equal(decide(c, &r, EGPU_POLICY_UNSET, false, false, NULL), EGPU_AUTH_DEFER);
	assert_int_equal(decide(c, &r, EGPU_POLICY_UNSET, false, true, NULL), EGPU_AUTH_ALLOW);
	egpu_config_free(c);
}

static void test_driver_rules(void **state)
{
	struct egpu_config *c = cfg(
		"[driver-rule]\nids = 1002:687f\ndriver = vfio-pci\n"
		"[driver-rule]\nids = 10de:*\nrouter = c603*\ndriver = nouveau\n"
		"[driver-rule]\nslot = 0000:00:1c.*\ndriver = amdgpu\n");
	struct egpuhp_dev d = { .name = "0000:05:00.0", .vendor = 0x1002, .device = 0x687f,
				.is_gpu = true };

	assert_string_equal(egpu_match_driver_rule(c, &d)->driver, "vfio-pci");
	d.device = 0x1234;
	assert_null(egpu_match_driver_rule(c, &d));
	d.vendor = 0x10de;
	assert_null(egpu_match_driver_rule(c, &d));	/* no router */
	strcpy(d.router_uid, "c6030000-aaaa");
	assert_string_equal(egpu_match_driver_rule(c, &d)->driver, "nouveau");
	strcpy(d.router_uid, "ffff");
	strcpy(d.port, "0000:00:1c.4");
	assert_string_equal(egpu_match_driver_rule(c, &d)->driver, "amdgpu");
	egpu_config_free(c);
}

/* --- fake sysfs --- */

static char root[64];

static void put(const char *rel, const char *val)
{
	file_tree_put(root, rel, val);
}

static void get(const char *rel, char *buf, size_t len)
{
	assert_int_equal(egpu_sysfs_read(rel, buf, len), 0);
}

static int setup_sysfs(void **state)
{
	snprintf(root, sizeof(root), "/tmp/egpu-sysfs-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	egpu_sysfs_set_root(root);
	put("bus/thunderbolt/devices/domain0/security", "secure");
	put("bus/thunderbolt/devices/domain0/iommu_dma_protection", "1");
	put("bus/thunderbolt/devices/0-0/unique_id", "host-0000");
	put("bus/thunderbolt/devices/0-0/authorized", "1");
	put("bus/thunderbolt/devices/0-1/unique_id", "c6030000-0060-6c0e");
	put("bus/thunderbolt/devices/0-1/vendor_name", "Razer");
	put("bus/thunderbolt/devices/0-1/device_name", "Core X");
	put("bus/thunderbolt/devices/0-1/generation", "3");
	put("bus/thunderbolt/devices/0-1/vendor", "0x1532");
	put("bus/thunderbolt/devices/0-1/authorized", "0");
	put("bus/thunderbolt/devices/0-1/key", "");
	put("bus/thunderbolt/devices/0-301/unique_id", "d0d0-0001");
	put("bus/thunderbolt/devices/0-301/authorized", "0");
	put("bus/thunderbolt/devices/0-1.1/prtcid", "1");	/* a service, not a router */
	put("bus/pci/devices/0000:05:00.0/driver_override", "(null)");
	put("bus/pci/devices/0000:05:00.1/driver_override", "(null)");
	put("bus/pci/devices/0000:06:00.0/driver_override", "(null)");
	put("bus/pci/drivers_probe", "");
	return 0;
}

static int teardown_sysfs(void **state)
{
	char cmd[128];

	egpu_sysfs_set_root(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_sysfs_routers(void **state)
{
	struct egpuhp_router r, *v;
	char buf[128];
	size_t n;

	assert_true(egpu_tb_is_router_name("0-1"));
	assert_true(egpu_tb_is_router_name("1-301"));
	assert_false(egpu_tb_is_router_name("domain0"));
	assert_false(egpu_tb_is_router_name("0-1.1"));
	assert_false(egpu_tb_is_router_name("0-0:1.1"));

	assert_int_equal(egpu_tb_read_router("0-1", &r), 0);
	assert_string_equal(r.unique_id, "c6030000-0060-6c0e");
	assert_string_equal(r.vendor_name, "Razer");
	assert_int_equal(r.vendor, 0x1532);
	assert_int_equal(r.generation, 3);
	assert_int_equal(r.depth, 1);
	assert_string_equal(r.security, "secure");
	assert_int_equal(r.iommu_prot, 1);
	assert_string_equal(r.domain, "domain0");
	assert_int_equal(egpu_tb_read_router("0-9", &r), -ENOENT);

	assert_int_equal(egpu_tb_list_routers(&v, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].name, "0-0");	/* by depth */
	assert_int_equal(v[0].depth, 0);
	assert_string_equal(v[1].name, "0-1");
	assert_string_equal(v[2].name, "0-301");
	assert_int_equal(v[2].depth, 2);
	free(v);
	assert_int_equal(egpu_tb_find_by_uid("D0D0-0001", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0-301");

	/* secure level: key first, then authorized */
	assert_int_equal(egpu_tb_authorize("0-1", "00ff", 2), 0);
	get("bus/thunderbolt/devices/0-1/key", buf, sizeof(buf));
	assert_string_equal(buf, "00ff");
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "2");
	assert_int_equal(egpu_tb_deauthorize("0-1"), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
}

static void test_sysfs_pci(void **state)
{
	char names[8][EGPUHP_PCI_NAME_LEN], buf[64], path[512];
	int n;

	n = egpu_pci_slot_functions("0000:05:00.0", names, 8);
	assert_int_equal(n, 2);
	/* no driver link in a fake tree: override written, probe requested, not bound */
	assert_int_equal(egpu_pci_set_driver("0000:05:00.1", "vfio-pci"), -ENXIO);
	get("bus/pci/devices/0000:05:00.1/driver_override", buf, sizeof(buf));
	assert_string_equal(buf, "vfio-pci");
	get("bus/pci/drivers_probe", buf, sizeof(buf));
	assert_string_equal(buf, "0000:05:00.1");
	/* bound already (a symlink named driver): nothing is unbound */
	assert_false(egpu_pci_driver_registered("vfio-pci"));
	mkdir(strcat(strcpy(path, root), "/bus/pci/drivers"), 0755);
	mkdir(strcat(path, "/vfio-pci"), 0755);
	/* registered: egpud's binding skips libkmod; never a path out of drivers/ */
	assert_true(egpu_pci_driver_registered("vfio-pci"));
	assert_false(egpu_pci_driver_registered("../drivers/vfio-pci"));
	assert_false(egpu_pci_driver_registered("pci-stub"));
	snprintf(buf, sizeof(buf), "../../drivers/vfio-pci");
	{
		char link[512];

		snprintf(link, sizeof(link), "%s/bus/pci/devices/0000:06:00.0/driver", root);
		assert_int_equal(symlink(buf, link), 0);
	}
	assert_int_equal(egpu_pci_driver("0000:06:00.0", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "vfio-pci");
	assert_int_equal(egpu_pci_set_driver("0000:06:00.0", "vfio-pci"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_rule_match),
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_driver_rules),
		cmocka_unit_test_setup_teardown(test_sysfs_routers, setup_sysfs, teardown_sysfs),
		cmocka_unit_test_setup_teardown(test_sysfs_pci, setup_sysfs, teardown_sysfs),
	};

	return cmocka_run_group_tests_name("user_rules", tests, NULL, NULL);
}
