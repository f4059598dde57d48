// SPDX-License-Identifier: GPL-2.0
/*
 * Workloads as process trees, against the fake libcuda (the driver double
 * of helpers/gw_fake_cuda.c) and a fake /proc: which processes make one
 * workload (a systemd service, a job under a shell), and the all-or-nothing
 * tree engine: every member locked before any is checkpointed, a failure
 * in any member (injected per process) leaves every member running; a
 * failed restore leaves every member checkpointed and restorable.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gpuwork/gw_internal.h"
#include "helpers/gw_fake.h"

#define GIB	(1ULL << 30)
#define SERVICE	"/system.slice/ollama.service"
#define SESSION	"/user.slice/user-1000.slice/session-2.scope"

static char *root;
static struct fake_cuda_proc *runner1, *runner2, *helper, *trainer, *loader, *lone;

static void proc(int pid, const char *comm, int ppid, int sid, const char *cgroup, int gpu)
{
	const char *nodes[] = { "/dev/nvidiactl", gpu == 1 ? "/dev/nvidia1" : "/dev/nvidia0",
				"/dev/nvidia-uvm", NULL };

	gwt_fake_proc(root, pid, comm, gpu >= 0 ? nodes : NULL);
	gwt_fake_proc_family(root, pid, comm, ppid, sid, cgroup);
}

/*
 * ollama.service: "ollama serve" (200, no GPU node of its own) with runners
 * 201 (GPU 0) and 202 (GPU 1), and 203 on GPU 0 that double-forked (parent
 * pid 1) but stays in the service.  A login shell 300 started train.py 301
 * with a data loader 302 (both GPU 0).  400: a lone CUDA process.
 */
static int setup(void **state)
{
	root = gwt_tmpdir();
	fake_cuda_reset(2);
	gwt_fake_system(root, 2, NULL);
	proc(200, "ollama", 1, 200, SERVICE, -1);
	proc(201, "ollama_runner", 200, 200, SERVICE, 0);
	proc(202, "ollama_runner", 200, 200, SERVICE, 1);
	proc(203, "ollama_helper", 1, 203, SERVICE, 0);
	proc(300, "bash", 1, 300, SESSION, -1);
	proc(301, "python3", 300, 300, SESSION, 0);
	proc(302, "pt_data_worker", 301, 300, SESSION, 0);
	proc(400, "trainer", 1, 400, SESSION, 0);
	runner1 = fake_cuda_add_proc(201, 0, 2 * GIB);
	runner2 = fake_cuda_add_proc(202, 1, 3 * GIB);
	helper = fake_cuda_add_proc(203, 0, 1 * GIB);
	trainer = fake_cuda_add_proc(301, 0, 4 * GIB);
	loader = fake_cuda_add_proc(302, 0, 1 * GIB);
	lone = fake_cuda_add_proc(400, 0, 1 * GIB);
	fake_cuda_install();
	gw_set_inprocess(true);
	return 0;
}

static int teardown(void **state)
{
	fake_cuda_uninstall();
	gwt_rmtree(root);
	return 0;
}

/* Position of the first / last word w in the fake driver's call log. */
static int first_of(const char *w)
{
	const char *p = strstr(fake_cuda.log, w);

	return p ? (int)(p - fake_cuda.log) : -1;
}

static int last_of(const char *w)
{
	const char *p = fake_cuda.log, *q, *last = NULL;

	while ((q = strstr(p, w))) {
		last = q;
		p = q + 1;
	}
	return last ? (int)(last - fake_cuda.log) : -1;
}

static void fake_libcuda_tree_grouping(void **state)
{
	struct gw_workload w;
	char key[GW_WL_KEY_LEN];
	pid_t top;

	assert_int_equal(gw_workload_key(202, key, sizeof(key), &top), 0);
	assert_string_equal(key, "service:" SERVICE);
	assert_int_equal(top, 200);
	/* the shell is not part of the job it started */
	assert_int_equal(gw_workload_key(302, key, sizeof(key), &top), 0);
	assert_string_equal(key, "tree:301");
	assert_int_equal(gw_workload_key(400, key, sizeof(key), &top), 0);
	assert_string_equal(key, "tree:400");

	/* any member names the whole service, double-forked helper included */
	assert_int_equal(gw_workload_of(202, false, &w), 0);
	assert_int_equal(w.n, 3);
	assert_int_equal(w.pid[0], 201);
	assert_int_equal(w.pid[1], 202);
	assert_int_equal(w.pid[2], 203);
	assert_int_equal(w.root, 200);
	assert_int_equal(gw_workload_of(302, false, &w), 0);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.pid[0], 301);
	assert_int_equal(w.pid[1], 302);
	assert_string_equal(w.comm[1], "pt_data_worker");
	/* --only */
	assert_int_equal(gw_workload_of(302, true, &w), 0);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.pid[0], 302);
	assert_int_equal(gw_workload_of(400, false, &w), 0);
	assert_int_equal(w.n, 1);
	assert_int_equal(gw_workload_of(99999, false, &w), -ESRCH);
}

static void fake_libcuda_tree_checkpoint_restore(void **state)
{
	struct gw_tree_report t;
	struct gw_opts o = { 0 };
	struct gw_workload w;
	struct gw_record rec;

	assert_int_equal(gw_workload_of(201, false, &w), 0);
	assert_int_equal(gw_tree_checkpoint(&w, &o, &t), GW_OK);
	assert_true(t.ok);
	assert_int_equal(runner1->state, GW_CU_STATE_CHECKPOINTED);
	assert_int_equal(runner2->state, GW_CU_STATE_CHECKPOINTED);
	assert_int_equal(helper->state, GW_CU_STATE_CHECKPOINTED);
	assert_int_equal(trainer->state, GW_CU_STATE_RUNNING);
	/* every lock before the first checkpoint */
	assert_true(last_of("lock") < first_of("ckpt"));
	assert_int_equal(fake_cuda.calls[FAKE_CU_LOCK], 3);
	/* records name the GPU, the chip, the GPUs seen and the workload */
	assert_int_equal(gw_record_load(202, &rec), 0);
	assert_string_equal(rec.pci, "0000:02:00.0");
	assert_string_equal(rec.uuid, fake_cuda_uuid_str(1));
	assert_int_equal(rec.vendor, 0x10de);
	assert_int_equal(rec.device, 0x2335);
	assert_string_equal(rec.model, "NVIDIA H200");
	assert_string_equal(rec.workload, "service:" SERVICE);
	assert_int_equal(rec.nseen, 2);

	/* restore: every member restored before any is unlocked */
	fake_cuda.log[0] = '\0';
	assert_int_equal(gw_workload_of(203, false, &w), 0);
	assert_int_equal(w.n, 3);
	assert_int_equal(gw_tree_restore(&w, &o, &t), GW_OK);
	assert_true(last_of("restore") < first_of("unlock"));
	assert_int_equal(runner1->state, GW_CU_STATE_RUNNING);
	assert_int_equal(runner2->state, GW_CU_STATE_RUNNING);
	assert_int_equal(helper->state, GW_CU_STATE_RUNNING);
	assert_int_equal(gw_record_load(202, &rec), -ENOENT);
}

static void fake_libcuda_tree_checkpoint_failure_leaves_all_running(void **state)
{
	struct gw_tree_report t;
	struct gw_opts o = { 0 };
	struct gw_workload w;
	struct gw_record rec;

	/* the second member's checkpoint fails: the first is brought back too */
	runner2->fail[FAKE_CU_CHECKPOINT] = GW_CU_OUT_OF_MEMORY;
	assert_int_equal(gw_workload_of(201, false, &w), 0);
	assert_int_equal(gw_tree_checkpoint(&w, &o, &t), GW_FAIL);
	assert_false(t.ok);
	assert_false(t.refused);
	assert_non_null(strstr(t.reason, "checkpoint of member 202"));
	assert_non_null(strstr(t.reason, "every member running"));
	assert_int_equal(runner1->state, GW_CU_STATE_RUNNING);
	assert_int_equal(runner2->state, GW_CU_STATE_RUNNING);
	assert_int_equal(helper->state, GW_CU_STATE_RUNNING);
	assert_true(t.r[0].step[GW_STEP_RECOVER].ran);
	assert_int_equal(gw_record_load(201, &rec), -ENOENT);

	/* the last member's lock fails: nothing is checkpointed at all */
	runner2->fail[FAKE_CU_CHECKPOINT] = 0;
	helper->fail[FAKE_CU_LOCK] = GW_CU_TIMEOUT;
	memset(fake_cuda.calls, 0, sizeof(fake_cuda.calls));
	assert_int_equal(gw_tree_checkpoint(&w, &o, &t), GW_FAIL);
	assert_non_null(strstr(t.reason, "lock of member 203"));
	assert_non_null(strstr(t.reason, "busy past the timeout"));
	assert_int_equal(fake_cuda.calls[FAKE_CU_CHECKPOINT], 0);
	assert_int_equal(runner1->state, GW_CU_STATE_RUNNING);
	assert_int_equal(runner2->state, GW_CU_STATE_RUNNING);
	assert_int_equal(helper->state, GW_CU_STATE_RUNNING);

	/* refused before anything is touched: managed memory in one member */
	helper->fail[FAKE_CU_LOCK] = 0;
	gwt_write(root, "proc/203/maps",
		  "200000000-300000000 rw-s 0 00:06 177 /dev/nvidia-uvm\n");
	memset(fake_cuda.calls, 0, sizeof(fake_cuda.calls));
	assert_int_equal(gw_tree_checkpoint(&w, &o, &t), GW_FAIL);
	assert_true(t.refused);
	assert_non_null(strstr(t.reason, "member 203"));
	assert_non_null(strstr(t.reason, "no member was touched"));
	assert_int_equal(fake_cuda.calls[FAKE_CU_LOCK], 0);
}

static void fake_libcuda_tree_restore_failure_leaves_all_checkpointed(void **state)
{
	struct gw_tree_report t;
	struct gw_opts o = { 0 };
	struct gw_workload w;
	struct gw_record rec;

	assert_int_equal(gw_workload_of(301, false, &w), 0);
	assert_int_equal(gw_tree_checkpoint(&w, &o, &t), GW_OK);
	loader->fail[FAKE_CU_RESTORE] = GW_CU_UNKNOWN;
	assert_int_equal(gw_tree_restore(&w, &o, &t), GW_FAIL);
	assert_non_null(strstr(t.reason, "restore of member 302"));
	assert_non_null(strstr(t.reason, "every member checkpointed"));
	assert_int_equal(trainer->state, GW_CU_STATE_CHECKPOINTED);
	assert_int_equal(loader->state, GW_CU_STATE_CHECKPOINTED);
	assert_int_equal(fake_cuda.calls[FAKE_CU_UNLOCK], 0);
	/* still restorable: records kept, and a retry works */
	assert_int_equal(gw_record_load(301, &rec), 0);
	assert_int_equal(gw_record_load(302, &rec), 0);
	loader->fail[FAKE_CU_RESTORE] = 0;
	assert_int_equal(gw_tree_restore(&w, &o, &t), GW_OK);
	assert_int_equal(trainer->state, GW_CU_STATE_RUNNING);
	assert_int_equal(loader->state, GW_CU_STATE_RUNNING);
}

static void fake_libcuda_tree_migrate(void **state)
{
	struct gw_tree_report t;
	struct gw_opts o = { .to = "0000:02:00.0" };
	struct gw_workload w;

	assert_int_equal(gw_workload_of(302, false, &w), 0);
	assert_int_equal(gw_tree_migrate(&w, &o, &t), GW_OK);
	assert_int_equal(trainer->gpu, 1);
	assert_int_equal(loader->gpu, 1);
	assert_int_equal(trainer->state, GW_CU_STATE_RUNNING);
	/* the target refuses one member's restore: all back on GPU 0, running */
	o.to = "0000:01:00.0";
	loader->fail[FAKE_CU_RESTORE] = GW_CU_OUT_OF_MEMORY;
	assert_int_equal(gw_tree_migrate(&w, &o, &t), GW_FAIL);
	assert_non_null(strstr(t.reason, "failed"));
	/* its own restore fails as well (the failure is per process), so: */
	assert_int_equal(loader->state, GW_CU_STATE_CHECKPOINTED);
	assert_int_equal(trainer->state, GW_CU_STATE_CHECKPOINTED);
	loader->fail[FAKE_CU_RESTORE] = 0;
	o.to = NULL;
	assert_int_equal(gw_tree_restore(&w, &o, &t), GW_OK);
	assert_int_equal(loader->gpu, 1);
	assert_int_equal(loader->state, GW_CU_STATE_RUNNING);
}

static void fake_libcuda_verbs_name_the_tree(void **state)
{
	char *argv[3] = { (char *)"202", NULL, NULL };
	char *t;
	int rc;

	t = gwt_run_verb("checkpoint", 1, argv, false, &rc);
	assert_int_equal(rc, GW_OK);
	assert_non_null(strstr(t, "checkpoint workload service:" SERVICE " (3 processes): ok"));
	free(t);
	assert_int_equal(runner1->state, GW_CU_STATE_CHECKPOINTED);
	assert_int_equal(helper->state, GW_CU_STATE_CHECKPOINTED);

	/* workloads: the service waits, with the GPU each member came from */
	t = gwt_run_verb("workloads", 0, NULL, false, &rc);
	assert_int_equal(rc, GW_OK);
	assert_non_null(strstr(t, "workload service:" SERVICE ":"));
	assert_non_null(strstr(t, "checkpointed, waiting for NVIDIA H200 "));
	assert_non_null(strstr(t, fake_cuda_uuid_str(1)));
	assert_non_null(strstr(t, "workload tree:301:"));
	free(t);
	t = gwt_run_verb("workloads", 0, NULL, true, &rc);
	assert_non_null(strstr(t, "\"trees\":[{\"workload\":\"service:" SERVICE "\""));
	assert_non_null(strstr(t, "\"state\":\"checkpointed\",\"waiting_for\":{\"pci\":"
			       "\"0000:02:00.0\""));
	free(t);

	/* --only: one process of the tree */
	argv[0] = (char *)"201";
	argv[1] = (char *)"--only";
	t = gwt_run_verb("restore", 2, argv, false, &rc);
	assert_int_equal(rc, GW_OK);
	assert_non_null(strstr(t, "restore pid 201: ok"));
	free(t);
	assert_int_equal(runner1->state, GW_CU_STATE_RUNNING);
	assert_int_equal(runner2->state, GW_CU_STATE_CHECKPOINTED);
	/* the rest of the tree by any member */
	argv[0] = (char *)"203";
	t = gwt_run_verb("restore", 1, argv, true, &rc);
	assert_int_equal(rc, GW_OK);
	assert_non_null(strstr(t, "\"op\":\"restore\",\"workload\":\"service:" SERVICE "\""));
	free(t);
	assert_int_equal(runner2->state, GW_CU_STATE_RUNNING);
	assert_int_equal(helper->state, GW_CU_STATE_RUNNING);
}

static void fake_libcuda_evacuate_takes_whole_trees(void **state)
{
	char *argv[1] = { (char *)"0000:02:00.0" };
	char *t;
	int rc;

	/* only runner 202 is on GPU 1, but its whole service goes */
	t = gwt_run_verb("evacuate", 1, argv, true, &rc);
	assert_int_equal(rc, GW_OK);
	assert_non_null(strstr(t, "\"workload\":\"service:" SERVICE "\""));
	free(t);
	assert_int_equal(runner1->state, GW_CU_STATE_CHECKPOINTED);
	assert_int_equal(runner2->state, GW_CU_STATE_CHECKPOINTED);
	assert_int_equal(helper->state, GW_CU_STATE_CHECKPOINTED);
	assert_int_equal(lone->state, GW_CU_STATE_RUNNING);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(fake_libcuda_tree_grouping, setup, teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_tree_checkpoint_restore, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			fake_libcuda_tree_checkpoint_failure_leaves_all_running, setup, teardown),
		cmocka_unit_test_setup_teardown(
			fake_libcuda_tree_restore_failure_leaves_all_checkpointed, setup, teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_tree_migrate, setup, teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_verbs_name_the_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_evacuate_takes_whole_trees, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("gpuwork process trees (fake libcuda)", tests,
					   NULL, NULL);
}
