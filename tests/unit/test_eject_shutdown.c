// SPDX-License-Identifier: GPL-2.0
/*
 * Which routers the shutdown command (egpuctl deauthorize --all) picks
 * (common/egpu_routers.c): only those carrying an eGPU, never a dock or a
 * Thunderbolt SSD; from the module's view, else from a fake sysfs tree.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/egpu_routers.h"
#include "common/sysfs.h"
#include "helpers/gw_fake.h"

static char *root;

static int setup(void **state)
{
	root = gwt_tmpdir();
	gwt_mkdir(root, "bus/pci/devices");
	egpu_sysfs_set_root(root);
	return 0;
}

static int teardown(void **state)
{
	gwt_rmtree(root);
	return 0;
}

static struct egpuhp_router router(const char *name, const char *uid, unsigned int depth,
				   unsigned int authorized)
{
	struct egpuhp_router r;

	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.unique_id, sizeof(r.unique_id), "%s", uid);
	r.depth = depth;
	r.authorized = authorized;
	return r;
}

static void pci_fn(const char *bdf, const char *class, bool removable)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/class", bdf);
	gwt_write(root, rel, class);
	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/removable", bdf);
	gwt_write(root, rel, removable ? "removable\n" : "fixed\n");
}

/* host 0-0; dock 0-1 (SSD behind it); eGPU 0-3; a router chained behind the eGPU 0-103 */
static struct egpuhp_router v[4];

static void routers(void)
{
	v[0] = router("0-0", "host", 0, 1);
	v[1] = router("0-1", "dock", 1, 1);
	v[2] = router("0-3", "egpu", 1, 1);
	v[3] = router("0-103", "chained", 2, 1);
}

static void module_view_picks_the_egpu_router(void **state)
{
	struct egpuhp_dev devs[2];
	bool pick[4];
	char why[256];

	routers();
	memset(devs, 0, sizeof(devs));
	snprintf(devs[0].router_uid, sizeof(devs[0].router_uid), "EGPU");	/* case */
	devs[0].is_gpu = true;
	snprintf(devs[1].router_uid, sizeof(devs[1].router_uid), "dock");	/* an NVMe */
	assert_int_equal(egpu_pick_egpu_routers(v, 4, devs, 2, pick, why, sizeof(why)), 2);
	assert_false(pick[0]);
	assert_false(pick[1]);		/* the dock with the SSD stays */
	assert_true(pick[2]);
	assert_true(pick[3]);		/* cut off by the eGPU's anyway */
	/* de-authorized already: nothing to do, and it says so */
	v[2].authorized = 0;
	v[3].authorized = 0;
	assert_int_equal(egpu_pick_egpu_routers(v, 4, devs, 2, pick, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "not authorized"));
}

static void sysfs_needs_a_display_function(void **state)
{
	struct egpuhp_dev gpu;
	bool pick[4];
	char why[256];

	routers();
	v[2].authorized = 0;
	v[3].authorized = 0;
	/* only the dock: an NVMe and a fixed (internal) GPU are no eGPU */
	pci_fn("0000:00:02.0", "0x030000\n", false);
	pci_fn("0000:05:00.0", "0x010802\n", true);
	assert_int_equal(egpu_pick_egpu_routers(v, 4, NULL, 0, pick, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "no eGPU"));
	assert_false(pick[1]);
	/* a removable display function with one authorized device router: that one */
	pci_fn("0000:07:00.0", "0x030200\n", true);
	assert_int_equal(egpu_pick_egpu_routers(v, 4, NULL, 0, pick, why, sizeof(why)), 1);
	assert_true(pick[1]);
	/* two device routers, no module: cannot tell, leaves both */
	v[2].authorized = 1;
	assert_int_equal(egpu_pick_egpu_routers(v, 4, NULL, 0, pick, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "cannot tell which carries the eGPU"));
	assert_false(pick[1] || pick[2]);
	/* the module is there but linked the GPU to no router (two docks): the same */
	memset(&gpu, 0, sizeof(gpu));
	gpu.is_gpu = true;
	assert_int_equal(egpu_pick_egpu_routers(v, 4, &gpu, 1, pick, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "did not link the GPU"));
	assert_false(pick[1] || pick[2]);
}

static void below(void **state)
{
	routers();
	assert_true(egpu_tb_router_below(&v[2], &v[2]));
	assert_true(egpu_tb_router_below(&v[2], &v[3]));
	assert_false(egpu_tb_router_below(&v[1], &v[3]));
	assert_false(egpu_tb_router_below(&v[3], &v[2]));
	v[3] = router("1-103", "other-domain", 2, 1);
	assert_false(egpu_tb_router_below(&v[2], &v[3]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(module_view_picks_the_egpu_router, setup, teardown),
		cmocka_unit_test_setup_teardown(sysfs_needs_a_display_function, setup, teardown),
		cmocka_unit_test_setup_teardown(below, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
