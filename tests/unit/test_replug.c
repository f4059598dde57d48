// SPDX-License-Identifier: GPL-2.0
/*
 * Re-plug brings the work back, against the fake libcuda: records name the
 * GPU a process came from (PCI, UUID, chip, router) and survive a restart
 * of egpud; a record goes, with a log line, when its process exits (a real
 * child, watched by pidfd); restore-on-replug = same | same-chip | no
 * decides which GPU may take the work; a GPU that binds starts the restore
 * of the workloads it may take (a real job), which maps every GPU the
 * process saw onto those present.
 */
// unit-test-links: egpud/records.c egpud/replug.c egpud/jobs.c
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "common/config.h"
#include "common/rules.h"
#include "egpud/egpud.h"
#include "gpuwork/gw_internal.h"
#include "helpers/egpud_loop_stubs.h"
#include "helpers/gw_fake.h"
#include "helpers/log_capture.h"

#define GIB	(1ULL << 30)

static char *root;
static struct egpud d;
static struct egpu_config *cfg;

static int setup(void **state)
{
	static const char *const nodes[] = { "/dev/nvidiactl", "/dev/nvidia0",
					     "/dev/nvidia-uvm", NULL };

	root = gwt_tmpdir();
	fake_cuda_reset(2);
	gwt_fake_system(root, 2, NULL);
	gwt_fake_proc(root, 500, "ollama_runner", nodes);
	fake_cuda_add_proc(500, 0, 2 * GIB);
	fake_cuda_install();
	gw_set_inprocess(true);
	memset(&d, 0, sizeof(d));
	cfg = egpu_config_new();
	d.cfg = cfg;
	return cfg ? 0 : -1;
}

static int teardown(void **state)
{
	egpud_records_unwatch_all(&d);
	egpu_config_free(cfg);
	fake_cuda_uninstall();
	gwt_rmtree(root);
	return 0;
}

static struct egpuhp_dev gpu_dev(const char *pci, unsigned int device, const char *router)
{
	struct egpuhp_dev dev;

	memset(&dev, 0, sizeof(dev));
	snprintf(dev.name, sizeof(dev.name), "%s", pci);
	dev.vendor = 0x10de;
	dev.device = (uint16_t)device;
	dev.is_gpu = true;
	snprintf(dev.driver, sizeof(dev.driver), "nvidia");
	snprintf(dev.router_uid, sizeof(dev.router_uid), "%s", router);
	return dev;
}

static void fake_libcuda_record_keeps_where_it_came_from(void **state)
{
	struct gw_opts o = { 0 };
	struct egpuhp_dev dev = gpu_dev("0000:01:00.0", 0x2335, "d0ck-0001");
	struct gw_report r;
	struct gw_record rec;

	d.tracker.devs = &dev;
	d.tracker.n_devs = 1;
	assert_int_equal(gw_engine_checkpoint(500, &o, &r), GW_OK);
	/* what the eject child adds: the router carrying the GPU */
	egpud_records_annotate(&d);
	d.tracker.devs = NULL;
	d.tracker.n_devs = 0;
	/* a restart of egpud: nothing in memory, the record is read back */
	assert_int_equal(gw_record_load(500, &rec), 0);
	assert_string_equal(rec.pci, "0000:01:00.0");
	assert_string_equal(rec.uuid, fake_cuda_uuid_str(0));
	assert_int_equal(rec.vendor, 0x10de);
	assert_int_equal(rec.device, 0x2335);
	assert_string_equal(rec.router, "d0ck-0001");
	assert_string_equal(rec.workload, "tree:500");
	assert_int_equal(rec.nseen, 2);
	assert_true(gw_uuid_equal(&rec.seen[1], &fake_cuda.uuid[1]));
}

static void replug_policy_matching(void **state)
{
	struct egpuhp_dev same = gpu_dev("0000:07:00.0", 0x2335, "d0ck-0001");
	struct egpuhp_dev other_router = gpu_dev("0000:07:00.0", 0x2335, "d0ck-0002");
	struct egpuhp_dev other_chip = gpu_dev("0000:07:00.0", 0x2330, "d0ck-0001");
	struct gw_record rec;
	char why[320];

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.uuid, sizeof(rec.uuid), "GPU-aaaa");
	snprintf(rec.router, sizeof(rec.router), "d0ck-0001");
	rec.vendor = 0x10de;
	rec.device = 0x2335;
	/* same: by UUID when it can be read, else router + chip */
	assert_true(egpud_replug_allows(EGPU_REPLUG_SAME, &rec, &same, "GPU-aaaa", why,
					sizeof(why)));
	assert_false(egpud_replug_allows(EGPU_REPLUG_SAME, &rec, &same, "GPU-bbbb", why,
					 sizeof(why)));
	assert_non_null(strstr(why, "restore-on-replug = same"));
	assert_true(egpud_replug_allows(EGPU_REPLUG_SAME, &rec, &same, "", why, sizeof(why)));
	assert_false(egpud_replug_allows(EGPU_REPLUG_SAME, &rec, &other_router, "", why,
					 sizeof(why)));
	/* same-chip: any GPU of the chip */
	assert_true(egpud_replug_allows(EGPU_REPLUG_SAME_CHIP, &rec, &other_router,
					"GPU-bbbb", why, sizeof(why)));
	/* never another chip, never with "no" */
	assert_false(egpud_replug_allows(EGPU_REPLUG_SAME_CHIP, &rec, &other_chip, "GPU-bbbb",
					 why, sizeof(why)));
	assert_non_null(strstr(why, "same chip"));
	assert_false(egpud_replug_allows(EGPU_REPLUG_NO, &rec, &same, "GPU-aaaa", why,
					 sizeof(why)));
	assert_string_equal(why, "restore-on-replug = no");
}

static void replug_policy_from_rules(void **state)
{
	static const char conf[] =
		"[workloads]\nrestore-on-replug = no\nstrategy = eager\n"
		"[workload-rule]\nrouter = d0ck-*\nrestore-on-replug = same-chip\n";
	struct egpuhp_dev dock = gpu_dev("0000:07:00.0", 0x2335, "d0ck-0001");
	struct egpuhp_dev other = gpu_dev("0000:08:00.0", 0x2335, "zzzz");
	struct egpu_workload_policy pol;
	struct egpu_config *c;
	char err[256];

	c = egpu_config_parse("t.conf", conf, err, sizeof(err));
	assert_non_null(c);
	assert_non_null(egpu_workload_policy_for(c, &dock, &pol));
	assert_int_equal(pol.replug, EGPU_REPLUG_SAME_CHIP);
	assert_int_equal(pol.strategy, EGPU_STRATEGY_EAGER);	/* from [workloads] */
	assert_null(egpu_workload_policy_for(c, &other, &pol));
	assert_int_equal(pol.replug, EGPU_REPLUG_NO);
	egpu_config_free(c);
	/* a bad value: its position and the values allowed */
	assert_null(egpu_config_parse("t.conf", "[workloads]\nrestore-on-replug = maybe\n", err,
				      sizeof(err)));
	assert_string_equal(err, "t.conf:2:21: restore-on-replug: expected same, same-chip or "
			    "no, got \"maybe\"");
	assert_null(egpu_config_parse("t.conf", "[workload-rule]\nwarnings = 0\n", err,
				      sizeof(err)));
	assert_non_null(strstr(err, "t.conf:2:12: warnings: expected a count"));
}

static void fake_libcuda_bound_gpu_restores_waiting_work(void **state)
{
	struct gw_opts o = { 0 };
	struct egpuhp_dev dev;
	struct gw_report r;
	struct gw_record rec;
	const char *log;
	char gone[512];

	assert_int_equal(gw_engine_checkpoint(500, &o, &r), GW_OK);
	/*
	 * The eGPU (GPU 0) left; another H200 came back in its place at
	 * 0000:07:00.0 with another UUID.
	 */
	gw_uuid_parse("GPU-000000ee-1111-2222-3333-444455550000", &fake_cuda.uuid[0]);
	snprintf(fake_cuda.pci[0], GW_PCI_LEN, "0000:07:00.0");
	snprintf(gone, sizeof(gone), "%s/proc/driver/nvidia/gpus/0000:01:00.0", root);
	gwt_rmtree(gone);
	gwt_write(root, "proc/driver/nvidia/gpus/0000:07:00.0/information",
		  "Model: \t\t NVIDIA H200\nGPU UUID: \t GPU-000000ee-1111-2222-3333-444455550000\n"
		  "Bus Location: \t 0000:07:00.0\nDevice Minor: \t 0\n");
	gwt_write(root, "sys/bus/pci/devices/0000:07:00.0/vendor", "0x10de\n");
	gwt_write(root, "sys/bus/pci/devices/0000:07:00.0/device", "0x2335\n");
	dev = gpu_dev("0000:07:00.0", 0x2335, "d0ck-0002");

	/* same (the default): another GPU, so the work keeps waiting */
	log_capture_start(root);
	egpud_replug_gpu_bound(&d, &dev);
	log = log_capture_end();
	assert_non_null(strstr(log, "workload tree:500 (pid 500) keeps waiting: "
			       "restore-on-replug = same"));
	assert_false(egpud_jobs_running(&d));

	/* same-chip: restored onto it through the map old GPU 0 -> new GPU */
	cfg->workloads.replug = EGPU_REPLUG_SAME_CHIP;
	log_capture_start(root);
	egpud_replug_gpu_bound(&d, &dev);
	assert_true(egpud_jobs_running(&d));
	egpud_jobs_wait(&d);
	log = log_capture_end();
	assert_non_null(strstr(log, "restoring workload tree:500 (pid 500) onto it"));
	assert_non_null(strstr(log, "replug: workload tree:500 (pid 500) restored onto "
			       "0000:07:00.0"));
	/* restored: the record went (in the job's child, on disk) */
	assert_int_equal(gw_record_load(500, &rec), -ENOENT);

	/* a driver that is not CUDA's (vfio-pci for a VM) restores nothing */
	assert_int_equal(gw_engine_restore(500, &o, &r), GW_FAIL);
	snprintf(dev.driver, sizeof(dev.driver), "vfio-pci");
	egpud_replug_gpu_bound(&d, &dev);
	assert_false(egpud_jobs_running(&d));
}

static void fake_libcuda_failed_replug_restore_says_why(void **state)
{
	struct gw_opts o = { 0 };
	struct egpuhp_dev dev = gpu_dev("0000:01:00.0", 0x2335, "d0ck-0001");
	struct gw_report r;
	struct gw_record rec;
	const char *log;

	assert_int_equal(gw_engine_checkpoint(500, &o, &r), GW_OK);
	/* the same GPU comes back, but its restore fails */
	fake_cuda.proc[0].fail[FAKE_CU_RESTORE] = GW_CU_OUT_OF_MEMORY;
	log_capture_start(root);
	egpud_replug_gpu_bound(&d, &dev);
	egpud_jobs_wait(&d);
	log = log_capture_end();
	assert_non_null(strstr(log, "the same GPU " ));
	assert_non_null(strstr(log, "onto 0000:01:00.0 failed: restore failed: "));
	assert_non_null(strstr(log, "it stays checkpointed (egpuctl restore 500)"));
	/* still there to restore by hand */
	assert_int_equal(gw_record_load(500, &rec), 0);
}

static void fake_libcuda_compute_drivers_decide_which_bind_restores(void **state)
{
	struct gw_opts o = { 0 };
	struct egpuhp_dev dev = gpu_dev("0000:01:00.0", 0x2335, "d0ck-0001");
	struct gw_report r;
	struct gw_record rec;
	const char *log;
	char err[256];
	struct egpu_config *c2;

	/* the default: nvidia alone */
	assert_string_equal(cfg->workloads.compute_drivers, "nvidia");
	assert_int_equal(gw_engine_checkpoint(500, &o, &r), GW_OK);
	/* the same GPU, bound by a driver that is no compute driver: it waits */
	snprintf(dev.driver, sizeof(dev.driver), "egpuhp_testdrv");
	egpud_replug_gpu_bound(&d, &dev);
	assert_false(egpud_jobs_running(&d));
	assert_int_equal(gw_record_load(500, &rec), 0);

	/* named in compute-drivers (a rule's keys over [workloads]): restored */
	c2 = egpu_config_parse("t.conf", "[workloads]\ncompute-drivers = nvidia\n"
			       "[workload-rule]\nids = 10de:2335\n"
			       "compute-drivers = nvidia  egpuhp_testdrv\n", err, sizeof(err));
	assert_non_null(c2);
	d.cfg = c2;
	log_capture_start(root);
	egpud_replug_gpu_bound(&d, &dev);
	assert_true(egpud_jobs_running(&d));
	egpud_jobs_wait(&d);
	log = log_capture_end();
	assert_non_null(strstr(log, "replug: workload tree:500 (pid 500) restored onto "
			       "0000:01:00.0"));
	assert_int_equal(gw_record_load(500, &rec), -ENOENT);
	d.cfg = cfg;
	egpu_config_free(c2);

	/* a bad value: its position and what is allowed */
	assert_null(egpu_config_parse("t.conf", "[workloads]\ncompute-drivers = nv/idia\n",
				      err, sizeof(err)));
	assert_non_null(strstr(err, "t.conf:2:19: compute-drivers: expected driver names"));
	assert_null(egpu_config_parse("t.conf", "[workloads]\ncompute-drivers = \n", err,
				      sizeof(err)));
}

static void record_dropped_when_process_exits(void **state)
{
	struct gw_record rec = { 0 };
	struct pollfd pfd;
	const char *log;
	int p[2];
	pid_t child;
	char c;

	/* a real process (real /proc) with a record */
	unsetenv("EGPUHP_PROC_ROOT");
	gw_set_roots(NULL, NULL, NULL);
	assert_int_equal(pipe(p), 0);
	child = fork();
	if (child == 0) {
		close(p[1]);
		if (read(p[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(p[0]);
	rec.pid = child;
	assert_int_equal(gw_proc_starttime(child, &rec.starttime), 0);
	snprintf(rec.pci, sizeof(rec.pci), "0000:01:00.0");
	assert_int_equal(gw_record_save(&rec), 0);
	egpud_records_watch(&d);
	assert_int_equal(d.n_record_watch, 1);
	egpud_records_watch(&d);	/* once per record */
	assert_int_equal(d.n_record_watch, 1);
	/* it exits: its pidfd turns readable, and the record goes */
	close(p[1]);
	pfd.fd = d.record_watch[0].pidfd;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, -1), 1);
	log_capture_start(root);
	assert_true(egpud_records_readable(&d, pfd.fd));
	log = log_capture_end();
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_non_null(strstr(log, "dropped: the process exited while checkpointed"));
	assert_int_equal(gw_record_load(child, &rec), -ENOENT);
	assert_int_equal(d.n_record_watch, 0);
	assert_false(egpud_records_readable(&d, 12345));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(fake_libcuda_record_keeps_where_it_came_from,
						setup, teardown),
		cmocka_unit_test_setup_teardown(replug_policy_matching, setup, teardown),
		cmocka_unit_test_setup_teardown(replug_policy_from_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_bound_gpu_restores_waiting_work,
						setup, teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_failed_replug_restore_says_why,
						setup, teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_compute_drivers_decide_which_bind_restores,
						setup, teardown),
		cmocka_unit_test_setup_teardown(record_dropped_when_process_exits, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("re-plug restore (fake libcuda)", tests, NULL, NULL);
}
