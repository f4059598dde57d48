// SPDX-License-Identifier: GPL-2.0
/*
 * gpuwork discovery on fake /proc and /sys trees: which process holds
 * which GPU through /dev/nvidiaN, DRM nodes, /dev/kfd and VFIO groups;
 * the NVIDIA GPU table; host and process facts the engine checks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gpuwork/gw_internal.h"
#include "helpers/gw_fake.h"

static char *root;

/*
 * The system: NVIDIA GPUs 0000:01:00.0 (nvidia0) and 0000:02:00.0 (nvidia1);
 * an AMD GPU 0000:03:00.0 (card1/renderD129, kfd node); 0000:04:00.0 bound
 * to vfio-pci in IOMMU group 12 with its audio function 0000:04:00.1.
 */
static int setup(void **state)
{
	static const char *const p100[] = { "/dev/nvidiactl", "/dev/nvidia0",
					    "/dev/nvidia-uvm", "/dev/null", NULL };
	static const char *const p101[] = { "/dev/nvidia0", "/dev/nvidia1", NULL };
	static const char *const p200[] = { "/dev/vfio/vfio", "/dev/vfio/12", NULL };
	static const char *const p300[] = { "/dev/dri/card1", "/dev/dri/renderD129", NULL };
	static const char *const p301[] = { "/dev/dri/renderD129", NULL };
	static const char *const p400[] = { "/dev/kfd", "/dev/dri/renderD129", NULL };
	static const char *const p500[] = { "/dev/nvidiactl", "/dev/nvidia-uvm",
					    "/dev/nvidia7", "/tmp/x", NULL };
	static const char *const p600[] = { "/dev/vfio/devices/vfio0", NULL };
	/* an engine helper left by an egpud that was killed: no workload */
	static const char *const p700[] = { "/dev/nvidiactl", "/dev/nvidia0", NULL };

	root = gwt_tmpdir();
	fake_cuda_reset(2);
	gwt_fake_system(root, 2, NULL);
	gwt_fake_proc(root, 100, "trainer", p100);
	gwt_fake_proc(root, 101, "two-gpus", p101);
	gwt_fake_proc(root, 200, "qemu-system-x86", p200);
	gwt_fake_proc(root, 300, "Xorg", p300);
	gwt_fake_proc(root, 301, "glxgears", p301);
	gwt_fake_proc(root, 400, "rocm-app", p400);
	gwt_fake_proc(root, 500, "nvidia-smi", p500);
	gwt_fake_proc(root, 600, "cloud-hv", p600);
	gwt_fake_proc(root, 700, "egpud-gpuwork", p700);
	gwt_mkdir(root, "proc/self");	/* not a pid: skipped */
	gwt_symlink(root, "sys/class/drm/card1/device", "../../../0000:03:00.0");
	gwt_symlink(root, "sys/class/drm/renderD129/device", "../../../0000:03:00.0");
	gwt_write(root, "sys/class/kfd/kfd/topology/nodes/0/properties",
		  "cpu_cores_count 16\nsimd_count 0\nlocation_id 0\ndomain 0\n");
	/* location_id = bus << 8 | devfn: 03:00.0 */
	gwt_write(root, "sys/class/kfd/kfd/topology/nodes/1/properties",
		  "cpu_cores_count 0\nsimd_count 256\nlocation_id 768\ndomain 0\n");
	gwt_mkdir(root, "sys/kernel/iommu_groups/12/devices/0000:04:00.0");
	gwt_mkdir(root, "sys/kernel/iommu_groups/12/devices/0000:04:00.1");
	gwt_symlink(root, "sys/class/vfio-dev/vfio0/device", "../../../0000:05:00.0");
	fake_cuda_add_proc(100, 0, 3ULL << 30);
	fake_cuda_add_proc(101, 1, 1ULL << 30);
	fake_cuda_install();
	*state = root;
	return 0;
}

static int teardown(void **state)
{
	fake_cuda_uninstall();
	gwt_rmtree(root);
	return 0;
}

static const struct gw_user *find(const struct gw_users *u, pid_t pid, const char *pci)
{
	size_t i;

	for (i = 0; i < u->n; i++)
		if (u->v[i].pid == pid && !strcmp(u->v[i].pci, pci))
			return &u->v[i];
	return NULL;
}

static void gpu_table(void **state)
{
	struct gw_gpus g;
	const struct gw_gpu *x;

	assert_int_equal(gw_gpus_load(&g), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[0].pci, "0000:01:00.0");
	assert_string_equal(g.v[0].uuid, fake_cuda_uuid_str(0));
	assert_string_equal(g.v[0].model, "NVIDIA H200");
	assert_int_equal(g.v[1].minor, 1);
	assert_int_equal(g.v[1].vendor, 0x10de);
	assert_int_equal(g.v[1].device, 0x2335);
	x = gw_gpus_find(&g, fake_cuda_uuid_str(1));
	assert_non_null(x);
	assert_string_equal(x->pci, "0000:02:00.0");
	x = gw_gpus_find(&g, "00000000:01:00.0");
	assert_non_null(x);
	assert_int_equal(x->minor, 0);
	assert_null(gw_gpus_find(&g, "0000:09:00.0"));
	assert_null(gw_gpus_find(&g, "bogus"));
	assert_ptr_equal(gw_gpus_by_minor(&g, 1), &g.v[1]);
	assert_null(gw_gpus_by_minor(&g, 7));
}

static void all_users(void **state)
{
	struct gw_users u;
	const struct gw_user *e;

	assert_int_equal(gw_find_users(NULL, &u), 0);
	/* 100@01, 101@01, 101@02, 200@04.0, 200@04.1, 300@03, 301@03, 400@03, 600@05 */
	assert_int_equal(u.n, 9);
	assert_null(find(&u, 700, "0000:01:00.0"));	/* another engine helper */

	e = find(&u, 100, "0000:01:00.0");
	assert_non_null(e);
	assert_int_equal(e->kind, GW_NODE_NVIDIA);
	assert_true(e->checkpointable);
	assert_string_equal(e->comm, "trainer");
	assert_string_equal(e->node, "/dev/nvidia0");
	assert_true(e->gpu_bytes_known);
	assert_int_equal(e->gpu_bytes, 3ULL << 30);

	assert_non_null(find(&u, 101, "0000:01:00.0"));
	e = find(&u, 101, "0000:02:00.0");
	assert_non_null(e);
	assert_int_equal(e->gpu_bytes, 1ULL << 30);

	e = find(&u, 200, "0000:04:00.0");
	assert_non_null(e);
	assert_int_equal(e->kind, GW_NODE_VFIO);
	assert_false(e->checkpointable);
	assert_string_equal(e->node, "/dev/vfio/12");
	assert_non_null(find(&u, 200, "0000:04:00.1"));

	e = find(&u, 300, "0000:03:00.0");
	assert_non_null(e);
	assert_int_equal(e->kind, GW_NODE_DRM_RENDER);	/* render beats card */
	assert_false(e->checkpointable);
	e = find(&u, 400, "0000:03:00.0");
	assert_non_null(e);
	assert_int_equal(e->kind, GW_NODE_KFD);
	assert_false(e->checkpointable);
	e = find(&u, 600, "0000:05:00.0");
	assert_non_null(e);
	assert_int_equal(e->kind, GW_NODE_VFIO);

	/* nvidiactl/uvm name no GPU; /dev/nvidia7 is not a GPU the driver has */
	assert_null(find(&u, 500, "0000:01:00.0"));
	/* sorted by GPU, then pid */
	assert_string_equal(u.v[0].pci, "0000:01:00.0");
	assert_int_equal(u.v[0].pid, 100);
	assert_string_equal(u.v[u.n - 1].pci, "0000:05:00.0");
	gw_users_free(&u);
	assert_null(u.v);
}

static void users_of_one_gpu(void **state)
{
	struct gw_users u;

	assert_int_equal(gw_find_users("0000:02:00.0", &u), 0);
	assert_int_equal(u.n, 1);
	assert_int_equal(u.v[0].pid, 101);
	gw_users_free(&u);
	assert_int_equal(gw_find_users("0000:04:00.1", &u), 0);
	assert_int_equal(u.n, 1);
	assert_int_equal(u.v[0].kind, GW_NODE_VFIO);
	gw_users_free(&u);
	assert_int_equal(gw_find_users("0000:0a:00.0", &u), 0);
	assert_int_equal(u.n, 0);
	gw_users_free(&u);
	assert_int_equal(gw_find_users("not-a-pci", &u), -EINVAL);
}

static void users_of_pid(void **state)
{
	struct gw_users u;

	assert_int_equal(gw_find_users_of_pid(101, &u), 0);
	assert_int_equal(u.n, 2);
	gw_users_free(&u);
	assert_int_equal(gw_find_users_of_pid(999, &u), 0);	/* gone */
	assert_int_equal(u.n, 0);
	gw_users_free(&u);
}

static void no_nvidia_driver(void **state)
{
	struct gw_users u;
	char sysroot[256];

	/* Without /proc/driver/nvidia the other kinds are still found. */
	gwt_rmtree(strcat(strcpy(sysroot, root), "/proc/driver"));
	assert_int_equal(gw_find_users(NULL, &u), 0);
	assert_null(find(&u, 100, "0000:01:00.0"));
	assert_non_null(find(&u, 200, "0000:04:00.0"));
	gw_users_free(&u);
	teardown(state);
	setup(state);
}

static void workloads_verb(void **state)
{
	char *argv[1] = { (char *)"0000:04:00.0" };
	char *t;
	int rc;

	t = gwt_run_verb("workloads", 0, NULL, true, &rc);
	assert_int_equal(rc, GW_OK);
	assert_non_null(strstr(t, "{\"workloads\":[{\"pid\":100,\"comm\":\"trainer\","
			       "\"pci\":\"0000:01:00.0\",\"kind\":\"nvidia\",\"node\":"
			       "\"/dev/nvidia0\",\"checkpointable\":true,\"gpu_bytes\":3221225472}"));
	assert_non_null(strstr(t, "\"kind\":\"vfio\""));
	assert_non_null(strstr(t, "\"gpu_bytes\":null"));
	free(t);
	t = gwt_run_verb("workloads", 1, argv, false, &rc);
	assert_int_equal(rc, GW_OK);
	assert_non_null(strstr(t, "qemu-system-x86"));
	assert_non_null(strstr(t, "passed through: not checkpointable"));
	assert_null(strstr(t, "trainer"));
	free(t);
	/* by UUID */
	argv[0] = (char *)fake_cuda_uuid_str(1);
	t = gwt_run_verb("workloads", 1, argv, false, &rc);
	assert_int_equal(rc, GW_OK);
	assert_non_null(strstr(t, "two-gpus"));
	free(t);
	argv[0] = (char *)"GPU-nope";
	t = gwt_run_verb("workloads", 1, argv, false, &rc);
	assert_int_equal(rc, GW_USAGE);
	free(t);
	t = gwt_run_verb("gpus", 0, NULL, true, &rc);
	assert_int_equal(rc, GW_OK);
	assert_non_null(strstr(t, "\"chip\":\"10de:2335\""));
	free(t);
	t = gwt_run_verb("nonsense", 0, NULL, false, &rc);
	assert_int_equal(rc, GW_USAGE);
	free(t);
}

static void host_facts(void **state)
{
	unsigned long long start;
	uint64_t avail;
	char comm[32];

	assert_int_equal(gw_host_mem_available(&avail), 0);
	assert_int_equal(avail, 256ULL << 30);
	assert_int_equal(gw_proc_starttime(100, &start), 0);
	assert_int_equal(start, 4242);
	assert_int_equal(gw_proc_starttime(999, &start), -ENOENT);
	assert_int_equal(gw_proc_comm(300, comm, sizeof(comm)), 0);
	assert_string_equal(comm, "Xorg");
	/* Only the driver's 2 MiB windows of nvidia-uvm: not managed. */
	assert_int_equal(gw_proc_uses_managed(100), 0);
	gwt_write(root, "proc/100/maps",
		  "204a00000-204c00000 rw-s 204a00000 00:06 177    /dev/nvidia-uvm\n"
		  "7f483e000000-7f484e000000 rw-s 7f483e000000 00:06 177  /dev/nvidia-uvm\n");
	assert_int_equal(gw_proc_uses_managed(100), 1);
	setenv("EGPUHP_GW_NO_MANAGED_CHECK", "1", 1);
	assert_int_equal(gw_proc_uses_managed(100), 0);
	unsetenv("EGPUHP_GW_NO_MANAGED_CHECK");
	assert_int_equal(gw_proc_uses_managed(999), -ENOENT);
	gwt_write(root, "proc/meminfo", "MemTotal: 100 kB\n");
	assert_int_equal(gw_host_mem_available(&avail), -ENODATA);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(gpu_table, setup, teardown),
		cmocka_unit_test_setup_teardown(all_users, setup, teardown),
		cmocka_unit_test_setup_teardown(users_of_one_gpu, setup, teardown),
		cmocka_unit_test_setup_teardown(users_of_pid, setup, teardown),
		cmocka_unit_test_setup_teardown(no_nvidia_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(workloads_verb, setup, teardown),
		cmocka_unit_test_setup_teardown(host_facts, setup, teardown),
	};

	return cmocka_run_group_tests_name("gpuwork_discovery", tests, NULL, NULL);
}
