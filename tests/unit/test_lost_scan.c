// SPDX-License-Identifier: GPL-2.0
/*
 * After a cable pull (egpud/lost_scan.c), on fake /sys and /proc trees:
 * which character devices belong to a PCI function (class devices below
 * it, its vfio group, nvidia's minor), which processes hold them (open
 * files and mappings, compared by device number, never by name), and what
 * on-lost does to each.  The fake trees' links point at the host's /dev
 * nodes (null, zero, full, urandom) for real device numbers.
 */
// unit-test-links: egpud/lost_scan.c
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <cmocka.h>

#include "egpud/lost.h"
#include "helpers/gw_fake.h"

#define GPU	"0000:05:00.0"

static char *root;
static char sys_root[512], proc_root[512];
static dev_t dev_null, dev_zero, dev_full, dev_urandom;

static dev_t rdev_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	return st.st_rdev;
}

/* sys/.../REL/dev = "M:m" of rdev, and /sys/dev/char knows it (unless block) */
static void class_dev(const char *rel, dev_t rdev, bool block)
{
	char path[512], text[32];

	snprintf(text, sizeof(text), "%u:%u\n", major(rdev), minor(rdev));
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/dev", rel);
	gwt_write(root, path, text);
	snprintf(path, sizeof(path), "sys/dev/%s/%u:%u", block ? "block" : "char",
		 major(rdev), minor(rdev));
	gwt_symlink(root, path, "../../devices/somewhere");
}

/*
 * GPU 0000:05:00.0: the test driver's node (zero), a DRM render node
 * (full), a block device below it, a PCI child with a node of its own
 * (null: not the GPU's), a "subsystem" link that must not be followed,
 * IOMMU group 7 whose vfio group node is urandom, and nvidia minor 3.
 */
static int setup(void **state)
{
	static const char *const holder[] = { "/dev/null", "/dev/zero", NULL };
	static const char *const bystander[] = { "/dev/null", NULL };
	static const char *const plain[] = { "/etc/hostname", NULL };
	char text[64];

	dev_null = rdev_of("/dev/null");
	dev_zero = rdev_of("/dev/zero");
	dev_full = rdev_of("/dev/full");
	dev_urandom = rdev_of("/dev/urandom");
	root = gwt_tmpdir();
	snprintf(sys_root, sizeof(sys_root), "%s/sys", root);
	snprintf(proc_root, sizeof(proc_root), "%s/proc", root);

	class_dev(GPU "/misc/egpuhp_testdrv!" GPU, dev_zero, false);
	class_dev(GPU "/drm/renderD128", dev_full, false);
	class_dev(GPU "/block/sda", makedev(8, 0), true);
	class_dev(GPU "/0000:06:00.0/misc/other", dev_null, false);
	gwt_write(root, "sys/elsewhere/x/dev", "1:3\n");
	gwt_symlink(root, "sys/bus/pci/devices/" GPU "/subsystem", "../../../../elsewhere");
	gwt_symlink(root, "sys/bus/pci/devices/" GPU "/iommu_group",
		    "../../../kernel/iommu_groups/7");
	snprintf(text, sizeof(text), "%u:%u\n", major(dev_urandom), minor(dev_urandom));
	gwt_write(root, "sys/class/vfio/7/dev", text);
	snprintf(text, sizeof(text), "sys/dev/char/%u:%u", major(dev_urandom),
		 minor(dev_urandom));
	gwt_symlink(root, text, "../../devices/virtual/vfio/7");
	gwt_write(root, "proc/devices",
		  "Character devices:\n  1 mem\n195 nvidia-frontend\n\nBlock devices:\n  8 sd\n");
	gwt_write(root, "proc/driver/nvidia/gpus/" GPU "/information",
		  "Model: \t\t NVIDIA H200\nDevice Minor: \t 3\n");

	gwt_fake_proc(root, 100, "cuda app", holder);		/* holds zero */
	gwt_fake_proc(root, 101, "bash", bystander);		/* null only */
	gwt_fake_proc(root, 102, "mapper", NULL);		/* a mapping of urandom */
	gwt_symlink(root, "proc/102/map_files/7f00-7f10", "/dev/urandom");
	gwt_fake_proc(root, 103, "reader", plain);		/* a regular file */
	gwt_mkdir(root, "proc/104");				/* exited: no fd/ */
	gwt_mkdir(root, "proc/self/fd");			/* not a pid */
	gwt_symlink(root, "proc/self/fd/3", "/dev/zero");
	return 0;
}

static int teardown(void **state)
{
	gwt_rmtree(root);
	return 0;
}

static void test_find_nodes(void **state)
{
	struct egpud_lost_nodes n = { 0 };

	assert_int_equal(egpud_lost_find_nodes(sys_root, proc_root, GPU, &n), 4);
	assert_int_equal(n.n, 4);
	assert_true(egpud_lost_nodes_has(&n, dev_zero));	/* test driver */
	assert_true(egpud_lost_nodes_has(&n, dev_full));	/* DRM */
	assert_true(egpud_lost_nodes_has(&n, dev_urandom));	/* vfio group */
	assert_true(egpud_lost_nodes_has(&n, makedev(195, 3)));	/* nvidia */
	/* the PCI child's node, the link's and the block device are not its */
	assert_false(egpud_lost_nodes_has(&n, dev_null));
	assert_false(egpud_lost_nodes_has(&n, makedev(1, 3)));
	assert_false(egpud_lost_nodes_has(&n, makedev(8, 0)));
	/* again: nothing new */
	assert_int_equal(egpud_lost_find_nodes(sys_root, proc_root, GPU, &n), 0);
	assert_int_equal(n.n, 4);
}

static void test_find_nodes_bad_input(void **state)
{
	struct egpud_lost_nodes n = { 0 };

	/* not a PCI name (no path games), a function that is gone */
	assert_int_equal(egpud_lost_find_nodes(sys_root, proc_root, "../../etc", &n), 0);
	assert_int_equal(egpud_lost_find_nodes(sys_root, proc_root, "0000:09:00.0", &n), 0);
	assert_int_equal(n.n, 0);
}

struct seen {
	struct egpud_lost_holder h[8];
	int n;
};

static void collect(const struct egpud_lost_holder *h, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 8);
	s->h[s->n++] = *h;
}

static const struct egpud_lost_holder *seen_pid(const struct seen *s, pid_t pid)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (s->h[i].pid == pid)
			return &s->h[i];
	return NULL;
}

static void test_scan_holders(void **state)
{
	struct egpud_lost_nodes n = { 0 };
	const struct egpud_lost_holder *h;
	struct seen s = { .n = 0 };

	egpud_lost_find_nodes(sys_root, proc_root, GPU, &n);
	assert_int_equal(egpud_lost_scan(proc_root, &n, collect, &s), 2);
	assert_int_equal(s.n, 2);
	h = seen_pid(&s, 100);
	assert_non_null(h);
	assert_string_equal(h->node, "/dev/zero");
	assert_string_equal(h->comm, "cuda_app");	/* no spaces in event lines */
	assert_int_equal(h->uid, getuid());		/* who may hear about it */
	h = seen_pid(&s, 102);
	assert_non_null(h);
	assert_string_equal(h->node, "/dev/urandom");	/* through its mapping */
	assert_null(seen_pid(&s, 101));
	assert_null(seen_pid(&s, 103));
}

static void test_closed_holder_is_left_alone(void **state)
{
	struct egpud_lost_nodes n = { 0 };
	struct egpud_lost_holder h;
	struct seen s = { .n = 0 };
	char path[600];

	egpud_lost_find_nodes(sys_root, proc_root, GPU, &n);
	assert_true(egpud_lost_pid_holds(proc_root, 100, &n, &h));
	/* pid 100 closes its node on LOST (a libegpu program) */
	snprintf(path, sizeof(path), "%s/100/fd/4", proc_root);
	assert_int_equal(unlink(path), 0);
	assert_false(egpud_lost_pid_holds(proc_root, 100, &n, &h));
	assert_int_equal(egpud_lost_scan(proc_root, &n, collect, &s), 1);
	assert_int_equal(s.h[0].pid, 102);
	/* a process that is gone holds nothing */
	assert_false(egpud_lost_pid_holds(proc_root, 104, &n, &h));
	assert_false(egpud_lost_pid_holds(proc_root, 999, &n, &h));
}

static void test_no_nodes_no_holders(void **state)
{
	struct egpud_lost_nodes n = { 0 };
	struct seen s = { .n = 0 };

	assert_int_equal(egpud_lost_scan(proc_root, &n, collect, &s), 0);
	assert_int_equal(egpud_lost_scan("/nonexistent/proc", &n, collect, &s), -ENOENT);
}

static void test_nodes_bounded(void **state)
{
	struct egpud_lost_nodes n = { 0 };
	unsigned int i;

	for (i = 0; i < EGPUD_LOST_MAX_NODES; i++)
		assert_true(egpud_lost_nodes_add(&n, makedev(200, i)));
	assert_true(egpud_lost_nodes_add(&n, makedev(200, 0)));	/* already there */
	assert_false(egpud_lost_nodes_add(&n, makedev(201, 0)));
	assert_int_equal(n.n, EGPUD_LOST_MAX_NODES);
}

static void test_decide(void **state)
{
	const char *why;

	assert_int_equal(egpud_lost_decide(EGPU_ON_LOST_KEEP, 100, 50, &why), EGPUD_LOST_KEEP);
	assert_non_null(why);
	assert_int_equal(egpud_lost_decide(EGPU_ON_LOST_TERM, 100, 50, &why), EGPUD_LOST_TERM);
	assert_null(why);
	assert_int_equal(egpud_lost_decide(EGPU_ON_LOST_KILL, 100, 50, &why), EGPUD_LOST_KILL);
	/* never init, never egpud itself, whatever the policy */
	assert_int_equal(egpud_lost_decide(EGPU_ON_LOST_KILL, 1, 50, &why), EGPUD_LOST_SPARE);
	assert_string_equal(why, "init is never signalled");
	assert_int_equal(egpud_lost_decide(EGPU_ON_LOST_TERM, 50, 50, &why), EGPUD_LOST_SPARE);
	assert_string_equal(egpud_lost_action_name(EGPUD_LOST_TERM), "sigterm");
	assert_string_equal(egpud_lost_action_name(EGPUD_LOST_KEEP), "kept");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_find_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_nodes_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_holders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_closed_holder_is_left_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_nodes_no_holders, setup, teardown),
		cmocka_unit_test(test_nodes_bounded),
		cmocka_unit_test(test_decide),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
