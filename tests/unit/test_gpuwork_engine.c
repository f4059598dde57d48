// SPDX-License-Identifier: GPL-2.0
/*
 * gpuwork's CUDA engine against a fake driver that keeps the real one's
 * state rules and injects every failure it can return: the engine must
 * refuse what cannot work before touching the process, time its steps,
 * build the full UUID map for a migration, and after any failed step leave
 * the process running (or checkpointed and restorable), never locked.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "gpuwork/gw_internal.h"
#include "helpers/gw_fake.h"

#define PID	100
#define GIB	(1ULL << 30)

static char *root;
static struct fake_cuda_proc *proc;

static int setup_n(int ngpus, const unsigned int *chips)
{
	static const char *const nodes[] = { "/dev/nvidiactl", "/dev/nvidia0",
					     "/dev/nvidia1", "/dev/nvidia-uvm", NULL };

	root = gwt_tmpdir();
	fake_cuda_reset(ngpus);
	gwt_fake_system(root, ngpus, chips);
	gwt_fake_proc(root, PID, "trainer", nodes);
	proc = fake_cuda_add_proc(PID, 0, 4 * GIB);
	fake_cuda_install();
	return 0;
}

static int setup(void **state)
{
	return setup_n(2, NULL);
}

static int setup3(void **state)
{
	return setup_n(3, NULL);
}

static int setup_mixed(void **state)
{
	static const unsigned int chips[] = { 0x2335, 0x2330 };	/* H200, H100 */

	return setup_n(2, chips);
}

static int teardown(void **state)
{
	fake_cuda_uninstall();
	gwt_rmtree(root);
	unsetenv("EGPUHP_LIBCUDA");
	return 0;
}

static struct gw_opts opts(const char *to)
{
	struct gw_opts o = { .to = to };

	return o;
}

static bool record_exists(void)
{
	struct gw_record rec;

	return gw_record_load(PID, &rec) == 0;
}

/* --- checkpoint / restore ------------------------------------------------- */

static void checkpoint_then_restore(void **state)
{
	struct gw_opts o = opts(NULL);
	struct gw_report r;
	struct gw_record rec;

	o.timeout_ms = 2500;
	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_OK);
	assert_true(r.ok);
	assert_string_equal(fake_cuda.log, "state lock ckpt");
	assert_int_equal(fake_cuda.last_lock_timeout, 2500);
	assert_int_equal(proc->state, GW_CU_STATE_CHECKPOINTED);
	assert_int_equal(r.state_before, GW_CU_STATE_RUNNING);
	assert_int_equal(r.state_after, GW_CU_STATE_CHECKPOINTED);
	assert_string_equal(r.from_pci, "0000:01:00.0");
	assert_int_equal(r.gpu_bytes, 4 * GIB);
	assert_true(r.step[GW_STEP_PREFLIGHT].ran && r.step[GW_STEP_LOCK].ok &&
		    r.step[GW_STEP_CHECKPOINT].ok);
	assert_false(r.step[GW_STEP_RESTORE].ran);
	assert_true(r.step[GW_STEP_CHECKPOINT].ms >= 0);
	assert_int_equal(gw_record_load(PID, &rec), 0);
	assert_string_equal(rec.pci, "0000:01:00.0");
	assert_int_equal(rec.device, 0x2335);
	assert_int_equal(rec.gpu_bytes, 4 * GIB);

	fake_cuda.log[0] = '\0';
	assert_int_equal(gw_engine_restore(PID, &o, &r), GW_OK);
	assert_true(r.ok);
	assert_string_equal(fake_cuda.log, "state restore unlock");
	assert_int_equal(fake_cuda.last_pairs_count, 0);
	assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
	assert_int_equal(r.state_after, GW_CU_STATE_RUNNING);
	assert_string_equal(r.to_pci, "0000:01:00.0");
	assert_false(record_exists());
}

static void default_lock_timeout(void **state)
{
	struct gw_opts o = opts(NULL);
	struct gw_report r;

	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_OK);
	assert_int_equal(fake_cuda.last_lock_timeout, GW_DEFAULT_LOCK_TIMEOUT_MS);
}

static void lock_timeout_leaves_running(void **state)
{
	static const int errs[] = { GW_CU_NOT_READY, GW_CU_TIMEOUT, GW_CU_ILLEGAL_STATE,
				    GW_CU_INVALID_VALUE, GW_CU_NOT_INITIALIZED,
				    GW_CU_NOT_SUPPORTED };
	struct gw_opts o = opts(NULL);
	struct gw_report r;
	size_t i;

	for (i = 0; i < GW_ARRAY_SIZE(errs); i++) {
		fake_cuda.log[0] = '\0';
		fake_cuda_inject(FAKE_CU_LOCK, errs[i]);
		assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_FAIL);
		assert_false(r.ok);
		assert_false(r.refused);
		assert_non_null(strstr(r.reason, "lock failed"));
		assert_int_equal(r.step[GW_STEP_LOCK].cu_err, errs[i]);
		assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
		assert_int_equal(r.state_after, GW_CU_STATE_RUNNING);
		assert_null(strstr(fake_cuda.log, "ckpt"));
		assert_false(record_exists());
	}
}

/* A lock that fails but leaves the process LOCKED anyway is undone. */
static void lock_error_but_locked_is_unlocked(void **state)
{
	struct gw_opts o = opts(NULL);
	struct gw_report r;

	fake_cuda.lock_error_after_locking = true;
	fake_cuda_inject(FAKE_CU_LOCK, GW_CU_UNKNOWN);
	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_FAIL);
	assert_string_equal(fake_cuda.log, "state lock state unlock state");
	assert_true(r.step[GW_STEP_RECOVER].ran && r.step[GW_STEP_RECOVER].ok);
	assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
	assert_int_equal(r.state_after, GW_CU_STATE_RUNNING);
}

/* Only a RUNNING process is checkpointed. */
static void locked_process_refused(void **state)
{
	struct gw_opts o = opts(NULL);
	struct gw_report r;

	proc->state = GW_CU_STATE_LOCKED;
	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_FAIL);
	assert_true(r.refused);
	assert_non_null(strstr(r.reason, "is locked, not running"));
	assert_int_equal(fake_cuda.calls[FAKE_CU_LOCK], 0);
	proc->state = GW_CU_STATE_FAILED;
	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_FAIL);
	assert_non_null(strstr(r.reason, "is failed"));
	assert_int_equal(gw_engine_restore(PID, &o, &r), GW_FAIL);
	assert_true(r.refused);
}

static void checkpoint_errors_unlock(void **state)
{
	static const int errs[] = { GW_CU_NOT_SUPPORTED, GW_CU_OUT_OF_MEMORY,
				    GW_CU_INVALID_VALUE, GW_CU_ILLEGAL_STATE, GW_CU_UNKNOWN };
	struct gw_opts o = opts(NULL);
	struct gw_report r;
	size_t i;

	for (i = 0; i < GW_ARRAY_SIZE(errs); i++) {
		fake_cuda.log[0] = '\0';
		fake_cuda_inject(FAKE_CU_CHECKPOINT, errs[i]);
		assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_FAIL);
		assert_false(r.refused);
		assert_non_null(strstr(r.reason, "checkpoint failed"));
		assert_string_equal(fake_cuda.log, "state lock ckpt state unlock state");
		assert_true(r.step[GW_STEP_RECOVER].ran && r.step[GW_STEP_RECOVER].ok);
		assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
		assert_int_equal(r.state_after, GW_CU_STATE_RUNNING);
		assert_false(record_exists());
	}
}

/* Managed memory the pre-flight check missed: the driver's 801, then unlock. */
static void managed_refused_by_driver(void **state)
{
	struct gw_opts o = opts(NULL);
	struct gw_report r;

	proc->managed = true;
	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_FAIL);
	assert_non_null(strstr(r.reason, "CUDA_ERROR_NOT_SUPPORTED"));
	assert_non_null(strstr(r.reason, "managed memory"));
	assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
}

static void checkpoint_and_unlock_fail(void **state)
{
	struct gw_opts o = opts(NULL);
	struct gw_report r;

	fake_cuda_inject(FAKE_CU_CHECKPOINT, GW_CU_UNKNOWN);
	fake_cuda_inject(FAKE_CU_UNLOCK, GW_CU_UNKNOWN);
	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_FAIL);
	assert_non_null(strstr(r.reason, "unlock failed too"));
	assert_int_equal(r.state_after, GW_CU_STATE_LOCKED);
	/* "restore" of a LOCKED process unlocks it. */
	fake_cuda.log[0] = '\0';
	assert_int_equal(gw_engine_restore(PID, &o, &r), GW_OK);
	assert_string_equal(fake_cuda.log, "state unlock state");
	assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
}

static void managed_refused_before_lock(void **state)
{
	struct gw_opts o = opts(NULL);
	struct gw_report r;

	gwt_write(root, "proc/100/maps",
		  "7f483e000000-7f484e000000 rw-s 7f483e000000 00:06 177  /dev/nvidia-uvm\n");
	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_FAIL);
	assert_true(r.refused);
	assert_non_null(strstr(r.reason, "managed"));
	assert_int_equal(fake_cuda.calls[FAKE_CU_LOCK], 0);
	o.to = "0000:02:00.0";
	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_FAIL);
	assert_true(r.refused);
	assert_int_equal(fake_cuda.calls[FAKE_CU_LOCK], 0);
}

static void driver_missing_or_old(void **state)
{
	struct gw_opts o = opts(NULL);
	struct gw_report r;

	/* no driver at all */
	fake_cuda_uninstall();
	setenv("EGPUHP_LIBCUDA", "/nonexistent/libcuda.so.1", 1);
	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_FAIL);
	assert_true(r.refused);
	assert_non_null(strstr(r.reason, "no NVIDIA CUDA driver"));
	unsetenv("EGPUHP_LIBCUDA");
	/* driver without the checkpoint API (< 570) */
	fake_cuda.no_checkpoint_api = true;
	fake_cuda_install();
	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_FAIL);
	assert_true(r.refused);
	assert_non_null(strstr(r.reason, "driver too old"));
	fake_cuda_reset(2);
	proc = fake_cuda_add_proc(PID, 0, 4 * GIB);
	fake_cuda_install();
	/* API present, version says 12.4 */
	fake_cuda.version = 12040;
	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_FAIL);
	assert_non_null(strstr(r.reason, "driver too old"));
	/* 12.8 checkpoints, but cannot migrate */
	fake_cuda.version = 12080;
	o.to = "0000:02:00.0";
	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_FAIL);
	assert_true(r.refused);
	assert_non_null(strstr(r.reason, "cannot restore onto another GPU"));
	o.to = NULL;
	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_OK);
	assert_int_equal(gw_engine_restore(PID, &o, &r), GW_OK);
	assert_int_equal(fake_cuda.calls[FAKE_CU_LOCK], 1);
}

static void not_a_cuda_process(void **state)
{
	struct gw_opts o = opts(NULL);
	struct gw_report r;

	assert_int_equal(gw_engine_checkpoint(4711, &o, &r), GW_FAIL);
	assert_true(r.refused);
	assert_non_null(strstr(r.reason, "not a CUDA process"));
	fake_cuda_inject(FAKE_CU_GET_STATE, GW_CU_NOT_PERMITTED);
	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_FAIL);
	assert_non_null(strstr(r.reason, "CUDA_ERROR_NOT_PERMITTED"));
	assert_int_equal(fake_cuda.calls[FAKE_CU_LOCK], 0);
}

static void host_memory_check(void **state)
{
	struct gw_opts o = opts(NULL);
	struct gw_report r;

	gwt_write(root, "proc/meminfo", "MemAvailable:    4194304 kB\n");	/* 4 GiB */
	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_FAIL);
	assert_true(r.refused);
	assert_non_null(strstr(r.reason, "not enough host memory"));
	assert_int_equal(fake_cuda.calls[FAKE_CU_LOCK], 0);
	o.force = true;
	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_OK);
}

static void restore_refusals(void **state)
{
	struct gw_opts o = opts(NULL);
	struct gw_report r;

	/* running: nothing to restore */
	assert_int_equal(gw_engine_restore(PID, &o, &r), GW_FAIL);
	assert_true(r.refused);
	assert_non_null(strstr(r.reason, "not checkpointed"));
	/* checkpointed, but no record of where from: --to refused */
	proc->state = GW_CU_STATE_CHECKPOINTED;
	o.to = "0000:02:00.0";
	assert_int_equal(gw_engine_restore(PID, &o, &r), GW_FAIL);
	assert_non_null(strstr(r.reason, "no record"));
	/* ...while a plain restore works */
	o.to = NULL;
	assert_int_equal(gw_engine_restore(PID, &o, &r), GW_OK);
	assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
}

static void restore_failures(void **state)
{
	struct gw_opts o = opts(NULL);
	struct gw_report r;

	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_OK);
	fake_cuda_inject(FAKE_CU_RESTORE, GW_CU_OUT_OF_MEMORY);
	assert_int_equal(gw_engine_restore(PID, &o, &r), GW_FAIL);
	assert_int_equal(proc->state, GW_CU_STATE_CHECKPOINTED);
	assert_non_null(strstr(r.reason, "restorable"));
	assert_true(record_exists());
	/* unlock fails once: retried */
	fake_cuda_inject(FAKE_CU_UNLOCK, GW_CU_NOT_READY);
	assert_int_equal(gw_engine_restore(PID, &o, &r), GW_OK);
	assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
	/* unlock fails twice: reported, and a second restore unlocks */
	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_OK);
	fake_cuda_inject(FAKE_CU_UNLOCK, GW_CU_UNKNOWN);
	fake_cuda_inject(FAKE_CU_UNLOCK, GW_CU_UNKNOWN);
	assert_int_equal(gw_engine_restore(PID, &o, &r), GW_FAIL);
	assert_non_null(strstr(r.reason, "unlock failed"));
	assert_int_equal(proc->state, GW_CU_STATE_LOCKED);
	assert_int_equal(gw_engine_restore(PID, &o, &r), GW_OK);
	assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
}

static void restore_after_gpu_gone(void **state)
{
	struct gw_opts o = opts(NULL);
	struct gw_report r;
	char path[512];

	assert_int_equal(gw_engine_checkpoint(PID, &o, &r), GW_OK);
	/* The eGPU left: the driver no longer lists 0000:01:00.0. */
	snprintf(path, sizeof(path), "%s/proc/driver/nvidia/gpus/0000:01:00.0", root);
	gwt_rmtree(path);
	assert_int_equal(gw_engine_restore(PID, &o, &r), GW_FAIL);
	assert_true(r.refused);
	assert_non_null(strstr(r.reason, "is gone"));
	assert_int_equal(proc->state, GW_CU_STATE_CHECKPOINTED);
	/* onto the other GPU of the same chip */
	o.to = fake_cuda_uuid_str(1);
	assert_int_equal(gw_engine_restore(PID, &o, &r), GW_OK);
	assert_int_equal(proc->gpu, 1);
	assert_int_equal(fake_cuda.last_pairs_count, 2);
	assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
}

static void stale_record_ignored(void **state)
{
	struct gw_opts o = opts("0000:02:00.0");
	struct gw_report r;
	struct gw_record rec = { .pid = PID, .starttime = 1, .pci = "0000:01:00.0",
				 .vendor = 0x10de, .device = 0x2335 };

	gw_copy(rec.uuid, sizeof(rec.uuid), fake_cuda_uuid_str(0));
	/* a record of an earlier process with the same pid */
	assert_int_equal(gw_record_save(&rec), 0);
	assert_int_equal(gw_record_load(PID, &rec), -ESRCH);
	proc->state = GW_CU_STATE_CHECKPOINTED;
	assert_int_equal(gw_engine_restore(PID, &o, &r), GW_FAIL);
	assert_non_null(strstr(r.reason, "no record"));
}

/* --- migrate ---------------------------------------------------------------- */

static void migrate_two_gpus(void **state)
{
	struct gw_opts o = opts("0000:02:00.0");
	struct gw_report r;

	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_OK);
	assert_true(r.ok);
	assert_string_equal(fake_cuda.log, "state lock ckpt restore-map unlock");
	assert_int_equal(proc->gpu, 1);
	assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
	assert_int_equal(r.pairs, 2);
	assert_int_equal(fake_cuda.last_pairs_count, 2);
	assert_true(gw_uuid_equal(&fake_cuda.last_pairs[0].old_uuid, &fake_cuda.uuid[0]));
	assert_true(gw_uuid_equal(&fake_cuda.last_pairs[0].new_uuid, &fake_cuda.uuid[1]));
	assert_true(gw_uuid_equal(&fake_cuda.last_pairs[1].new_uuid, &fake_cuda.uuid[0]));
	assert_string_equal(r.from_pci, "0000:01:00.0");
	assert_string_equal(r.to_pci, "0000:02:00.0");
	assert_string_equal(r.to_uuid, fake_cuda_uuid_str(1));
	assert_true(r.step[GW_STEP_RESTORE].ok && r.step[GW_STEP_UNLOCK].ok);
	assert_false(r.step[GW_STEP_RECOVER].ran);
	assert_false(record_exists());
}

static void migrate_three_gpus_by_uuid(void **state)
{
	struct gw_opts o = opts(fake_cuda_uuid_str(2));
	struct gw_report r;

	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_OK);
	assert_int_equal(proc->gpu, 2);
	assert_int_equal(fake_cuda.last_pairs_count, 3);
	/* GPU1 is not involved: it maps onto itself */
	assert_true(gw_uuid_equal(&fake_cuda.last_pairs[1].old_uuid, &fake_cuda.uuid[1]));
	assert_true(gw_uuid_equal(&fake_cuda.last_pairs[1].new_uuid, &fake_cuda.uuid[1]));
}

static void migrate_refusals(void **state)
{
	struct gw_opts o = opts("0000:01:00.0");
	struct gw_report r;

	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_FAIL);	/* its own GPU */
	assert_true(r.refused);
	assert_non_null(strstr(r.reason, "is the GPU the process is on"));
	o.to = "0000:09:00.0";
	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_FAIL);
	assert_non_null(strstr(r.reason, "not an NVIDIA GPU"));
	o.to = "0000:02:00.0";
	fake_cuda.free_mem[1] = 2 * GIB;	/* needs 4 GiB */
	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_FAIL);
	assert_non_null(strstr(r.reason, "MiB free"));
	fake_cuda.free_mem[1] = 80 * GIB;
	fake_cuda.nvml_missing = true;
	fake_cuda_install();
	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_FAIL);
	assert_true(r.refused);
	fake_cuda.nvml_missing = false;
	proc->state = GW_CU_STATE_CHECKPOINTED;
	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_FAIL);
	assert_non_null(strstr(r.reason, "not running"));
	assert_int_equal(fake_cuda.calls[FAKE_CU_LOCK], 0);
	assert_int_equal(fake_cuda.calls[FAKE_CU_CHECKPOINT], 0);
	o.to = NULL;
	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_FAIL);
}

static void migrate_other_chip_refused(void **state)
{
	struct gw_opts o = opts("0000:02:00.0");
	struct gw_report r;

	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_FAIL);
	assert_true(r.refused);
	assert_non_null(strstr(r.reason, "another chip"));
	assert_int_equal(fake_cuda.calls[FAKE_CU_LOCK], 0);
}

static void migrate_ambiguous_source(void **state)
{
	struct gw_opts o = opts("0000:02:00.0");
	struct gw_report r;

	/* memory on both GPUs */
	fake_cuda_add_proc(PID, 1, GIB);
	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_FAIL);
	assert_non_null(strstr(r.reason, "several GPUs"));
	/* no NVML and two nodes held: cannot tell */
	fake_cuda.nprocs = 1;
	fake_cuda.nvml_missing = true;
	fake_cuda_install();
	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_FAIL);
	assert_non_null(strstr(r.reason, "cannot tell"));
	assert_int_equal(fake_cuda.calls[FAKE_CU_LOCK], 0);
}

static void migrate_restore_fails_falls_back(void **state)
{
	struct gw_opts o = opts("0000:02:00.0");
	struct gw_report r;

	fake_cuda_inject(FAKE_CU_RESTORE, GW_CU_INVALID_VALUE);
	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_FAIL);
	/* full map, then the single pair, then back onto its own GPU */
	assert_string_equal(fake_cuda.log,
			    "state lock ckpt restore-map restore-map restore unlock state");
	assert_non_null(strstr(r.reason, "restored on its own GPU"));
	assert_int_equal(proc->gpu, 0);
	assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
	assert_int_equal(r.state_after, GW_CU_STATE_RUNNING);
	assert_false(record_exists());
}

/* A process that sees only its own GPU: the full map is refused, one pair works. */
static void migrate_process_seeing_one_gpu(void **state)
{
	struct gw_opts o = opts("0000:02:00.0");
	struct gw_report r;

	proc->sees_one_gpu = true;
	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_OK);
	assert_string_equal(fake_cuda.log, "state lock ckpt restore-map restore-map unlock");
	assert_int_equal(r.pairs, 1);
	assert_int_equal(fake_cuda.last_pairs_count, 1);
	assert_true(gw_uuid_equal(&fake_cuda.last_pairs[0].old_uuid, &fake_cuda.uuid[0]));
	assert_true(gw_uuid_equal(&fake_cuda.last_pairs[0].new_uuid, &fake_cuda.uuid[1]));
	assert_int_equal(proc->gpu, 1);
	assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
}

static void migrate_restore_and_fallback_fail(void **state)
{
	struct gw_opts o = opts("0000:02:00.0");
	struct gw_report r;

	fake_cuda_inject(FAKE_CU_RESTORE, GW_CU_OUT_OF_MEMORY);
	fake_cuda_inject(FAKE_CU_RESTORE, GW_CU_UNKNOWN);
	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_FAIL);
	assert_int_equal(proc->state, GW_CU_STATE_CHECKPOINTED);
	assert_int_equal(r.state_after, GW_CU_STATE_CHECKPOINTED);
	assert_non_null(strstr(r.reason, "restorable"));
	assert_true(record_exists());
	/* later: restore it onto the target by hand */
	assert_int_equal(gw_engine_restore(PID, &o, &r), GW_OK);
	assert_int_equal(proc->gpu, 1);
	assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
}

static void migrate_checkpoint_fails(void **state)
{
	struct gw_opts o = opts("0000:02:00.0");
	struct gw_report r;

	fake_cuda_inject(FAKE_CU_CHECKPOINT, GW_CU_NOT_SUPPORTED);
	assert_int_equal(gw_engine_migrate(PID, &o, &r), GW_FAIL);
	assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
	assert_int_equal(proc->gpu, 0);
	assert_null(strstr(fake_cuda.log, "restore"));
}

/* --- verbs and output -------------------------------------------------------- */

/* verb v with up to three arguments on behalf of uid caller; its output */
static char *verb_by(uid_t caller, const char *v, const char *a1, const char *a2,
		     const char *a3, bool json, int *rc)
{
	char *argv[3] = { (char *)a1, (char *)a2, (char *)a3 };
	int argc = a3 ? 3 : a2 ? 2 : a1 ? 1 : 0;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	*rc = gw_dispatch_as(caller, v, argc, argv, out, json);
	fclose(out);
	return text;
}

static char *verb(const char *v, const char *a1, const char *a2, const char *a3, bool json,
		  int *rc)
{
	return verb_by(0, v, a1, a2, a3, json, rc);
}

static void verbs_and_json(void **state)
{
	char *t;
	int rc;

	t = verb("checkpoint", "100", NULL, NULL, true, &rc);
	assert_int_equal(rc, GW_OK);
	assert_non_null(strstr(t, "{\"op\":\"checkpoint\",\"pid\":100,\"ok\":true,"
			       "\"refused\":false,\"reason\":\"\",\"state_before\":\"running\","
			       "\"state_after\":\"checkpointed\""));
	assert_non_null(strstr(t, "\"steps\":{\"preflight\":{"));
	assert_non_null(strstr(t, "\"gpu_bytes\":4294967296"));
	free(t);
	t = verb("restore", "100", NULL, NULL, false, &rc);
	assert_int_equal(rc, GW_OK);
	assert_non_null(strstr(t, "restore pid 100: ok (checkpointed -> running)"));
	free(t);
	t = verb("migrate", "100", "--to", "0000:02:00.0", true, &rc);
	assert_int_equal(rc, GW_OK);
	assert_non_null(strstr(t, "\"gpu_pairs\":2"));
	free(t);
	/* usage errors */
	t = verb("checkpoint", NULL, NULL, NULL, false, &rc);
	assert_int_equal(rc, GW_USAGE);
	free(t);
	t = verb("checkpoint", "abc", NULL, NULL, false, &rc);
	assert_int_equal(rc, GW_USAGE);
	free(t);
	t = verb("checkpoint", "-5", NULL, NULL, false, &rc);
	assert_int_equal(rc, GW_USAGE);
	free(t);
	t = verb("checkpoint", "100", "--to", "0000:02:00.0", false, &rc);
	assert_int_equal(rc, GW_USAGE);
	free(t);
	t = verb("migrate", "100", NULL, NULL, false, &rc);
	assert_int_equal(rc, GW_USAGE);
	free(t);
	t = verb("migrate", "100", "--to", NULL, false, &rc);
	assert_int_equal(rc, GW_USAGE);
	free(t);
	t = verb("checkpoint", "100", "--timeout", "0", false, &rc);
	assert_int_equal(rc, GW_USAGE);
	free(t);
	t = verb("checkpoint", "100", "--timeout", "99999999999", false, &rc);
	assert_int_equal(rc, GW_USAGE);
	free(t);
	t = verb("checkpoint", "100", "200", NULL, false, &rc);
	assert_int_equal(rc, GW_USAGE);
	free(t);
	assert_true(gw_is_verb("migrate"));
	assert_false(gw_is_verb("list"));
	assert_true(gw_verb_is_mutating("restore"));
	assert_false(gw_verb_is_mutating("workloads"));
}

static void json_escaping(void **state)
{
	struct gw_report r;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	gw_report_init(&r, 7, "checkpoint");
	gw_copy(r.reason, sizeof(r.reason), "a \"quoted\" \\ reason\nwith\tcontrol");
	gw_report_print(&r, out, true);
	fclose(out);
	assert_non_null(strstr(text, "\"reason\":\"a \\\"quoted\\\" \\\\ reason\\nwith"
				"\\tcontrol\""));
	free(text);
}

/* Evacuate every CUDA user of a GPU; VFIO users are reported, not moved. */
static void evacuate_gpu(void **state)
{
	static const char *const vm[] = { "/dev/vfio/3", NULL };
	char *t;
	int rc;

	gwt_mkdir(root, "sys/kernel/iommu_groups/3/devices/0000:01:00.0");
	t = verb("evacuate", "0000:01:00.0", "--to", "0000:02:00.0", true, &rc);
	assert_int_equal(rc, GW_OK);
	assert_int_equal(proc->gpu, 1);
	free(t);
	gwt_fake_proc(root, 300, "qemu", vm);
	t = verb("evacuate", "0000:01:00.0", NULL, NULL, false, &rc);
	assert_int_equal(rc, GW_FAIL);
	assert_non_null(strstr(t, "vfio user (/dev/vfio/3) cannot be checkpointed"));
	free(t);
}

/* The helper process path: same verbs, answered over the helper's socket. */
/* gw_dispatch() of verb v (the helper process when not in-process); its output. */
static char *dispatched(const char *v, int argc, char **argv, bool json, int *rc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	*rc = gw_dispatch(v, argc, argv, out, json);
	fclose(out);
	return text;
}

static void through_helper(void **state)
{
	char *text;
	int rc;
	char *argv[1] = { (char *)"100" };

	setenv("EGPUHP_GW_IDLE_MS", "2000", 1);
	gw_set_inprocess(false);
	text = dispatched("checkpoint", 1, argv, true, &rc);
	assert_int_equal(rc, GW_OK);
	assert_non_null(strstr(text, "\"ok\":true"));
	free(text);
	/*
	 * The helper's fake driver (a forked copy) now holds the state;
	 * restore through the same helper.
	 */
	text = dispatched("restore", 1, argv, true, &rc);
	assert_int_equal(rc, GW_OK);
	assert_non_null(strstr(text, "\"state_after\":\"running\""));
	free(text);
	text = dispatched("bogus", 0, NULL, false, &rc);
	assert_int_equal(rc, GW_USAGE);
	free(text);
	gw_shutdown();
	gw_set_inprocess(true);
	unsetenv("EGPUHP_GW_IDLE_MS");
}

/* --- who may act on a process (kill(2) semantics) --------------------------- */

static void set_uids(int pid, unsigned int r, unsigned int e, unsigned int sv)
{
	char rel[64], text[160];

	snprintf(rel, sizeof(rel), "proc/%d/status", pid);
	snprintf(text, sizeof(text), "Name:\ttrainer\nUmask:\t0022\nState:\tS (sleeping)\n"
		 "Tgid:\t%d\nUid:\t%u\t%u\t%u\t%u\nGid:\t100\t100\t100\t100\n", pid, r, e, sv,
		 e);
	gwt_write(root, rel, text);
}

static char *verb_as(uid_t caller, const char *v, const char *a1, int *rc)
{
	return verb_by(caller, v, a1, NULL, NULL, true, rc);
}

/* caller runs v on PID: expect rc and the process' state afterwards */
static void expect(uid_t caller, const char *v, int want_rc, int want_state)
{
	int rc;
	char *t = verb_as(caller, v, "100", &rc);

	assert_int_equal(rc, want_rc);
	assert_int_equal(proc->state, want_state);
	if (want_rc == GW_FAIL)
		assert_non_null(strstr(t, "\"refused\":true"));
	free(t);
}

/* Only root or the process' owner (real or saved uid) may checkpoint it. */
static void only_owner_or_root_acts(void **state)
{
	char *t;
	int rc;

	set_uids(PID, 1000, 1000, 1000);
	t = verb_as(1001, "checkpoint", "100", &rc);
	assert_non_null(strstr(t, "belongs to uid 1000"));
	free(t);
	assert_int_equal(fake_cuda.calls[FAKE_CU_LOCK], 0);	/* untouched */
	/* the effective uid of the target does not count (kill(2)) */
	set_uids(PID, 1000, 1003, 1000);
	expect(1003, "checkpoint", GW_FAIL, GW_CU_STATE_RUNNING);
	/* its saved uid does */
	set_uids(PID, 1000, 1000, 1002);
	expect(1002, "checkpoint", GW_OK, GW_CU_STATE_CHECKPOINTED);
	/* the owner restores; a stranger may not */
	expect(1001, "restore", GW_FAIL, GW_CU_STATE_CHECKPOINTED);
	set_uids(PID, 1000, 1000, 1000);
	expect(1000, "restore", GW_OK, GW_CU_STATE_RUNNING);
	/* root acts on anyone's */
	expect(0, "checkpoint", GW_OK, GW_CU_STATE_CHECKPOINTED);
}

/* An owner that cannot be read is not an owner. */
static void unknown_owner_refused(void **state)
{
	int rc;
	char *t = verb_by(1000, "migrate", "100", "--to", "0000:02:00.0", false, &rc);

	assert_int_equal(rc, GW_FAIL);
	assert_non_null(strstr(t, "cannot read the owner of process 100"));
	assert_int_equal(proc->gpu, 0);
	free(t);
}

/* evacuate on behalf of a user moves only that user's processes. */
static void evacuate_only_own(void **state)
{
	static const char *const nodes[] = { "/dev/nvidia0", NULL };
	struct fake_cuda_proc *other;
	char *t;
	int rc;

	gwt_fake_proc(root, 200, "other", nodes);
	other = fake_cuda_add_proc(200, 0, GIB);
	set_uids(PID, 1000, 1000, 1000);
	set_uids(200, 2000, 2000, 2000);
	t = verb_by(1000, "evacuate", "0000:01:00.0", NULL, NULL, false, &rc);
	assert_int_equal(rc, GW_FAIL);
	assert_int_equal(proc->state, GW_CU_STATE_CHECKPOINTED);
	assert_int_equal(other->state, GW_CU_STATE_RUNNING);
	assert_non_null(strstr(t, "process 200 belongs to uid 2000"));
	free(t);
}

/* The caller's uid travels to the helper process: refused there too. */
static void helper_gets_caller(void **state)
{
	char *t;
	int rc;

	set_uids(PID, 1000, 1000, 1000);
	setenv("EGPUHP_GW_IDLE_MS", "2000", 1);
	gw_set_inprocess(false);
	t = verb_as(1001, "checkpoint", "100", &rc);
	assert_int_equal(rc, GW_FAIL);
	assert_non_null(strstr(t, "belongs to uid 1000"));
	free(t);
	t = verb_as(1000, "checkpoint", "100", &rc);
	assert_int_equal(rc, GW_OK);
	assert_non_null(strstr(t, "\"ok\":true"));
	free(t);
	gw_shutdown();
	gw_set_inprocess(true);
	unsetenv("EGPUHP_GW_IDLE_MS");
}

/* --- deadlines ------------------------------------------------------------- */

/*
 * A stand-in helper at the helper's socket: greets (or not) and then never
 * answers.  The caller must give up at its deadline with a reply.
 */
static pid_t stuck_helper(bool greet)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd, c;
	pid_t pid;

	assert_int_equal(gw_path(sa.sun_path, sizeof(sa.sun_path), GW_ROOT_RUN,
				 "gpuwork.sock"), 0);
	gwt_mkdir(root, "run");
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	unlink(sa.sun_path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (;;) {
			c = accept(lfd, NULL, NULL);
			if (c >= 0 && greet && write(c, "H", 1) != 1)
				_exit(1);
		}
	}
	close(lfd);
	return pid;
}

static void stuck_helper_call_times_out(void **state)
{
	bool greet;

	setenv("EGPUHP_GW_CALL_TIMEOUT_MS", "300", 1);
	gw_set_inprocess(false);
	for (greet = false; ; greet = true) {
		pid_t pid = stuck_helper(greet);
		int rc, status;
		char *t = verb_as(0, "checkpoint", "100", &rc);

		assert_int_equal(rc, GW_FAIL);
		assert_non_null(strstr(t, greet ? "did not answer within 300 ms" :
				       "Connection timed out"));
		free(t);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (greet)
			break;
	}
	assert_int_equal(proc->state, GW_CU_STATE_RUNNING);
	gw_set_inprocess(true);
	unsetenv("EGPUHP_GW_CALL_TIMEOUT_MS");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(checkpoint_then_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(default_lock_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_timeout_leaves_running, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_error_but_locked_is_unlocked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(locked_process_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(checkpoint_errors_unlock, setup, teardown),
		cmocka_unit_test_setup_teardown(managed_refused_by_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(checkpoint_and_unlock_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(managed_refused_before_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(driver_missing_or_old, setup, teardown),
		cmocka_unit_test_setup_teardown(not_a_cuda_process, setup, teardown),
		cmocka_unit_test_setup_teardown(host_memory_check, setup, teardown),
		cmocka_unit_test_setup_teardown(restore_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(restore_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(restore_after_gpu_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(stale_record_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(migrate_two_gpus, setup, teardown),
		cmocka_unit_test_setup_teardown(migrate_three_gpus_by_uuid, setup3, teardown),
		cmocka_unit_test_setup_teardown(migrate_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(migrate_other_chip_refused, setup_mixed,
						teardown),
		cmocka_unit_test_setup_teardown(migrate_ambiguous_source, setup, teardown),
		cmocka_unit_test_setup_teardown(migrate_restore_fails_falls_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(migrate_process_seeing_one_gpu, setup, teardown),
		cmocka_unit_test_setup_teardown(migrate_restore_and_fallback_fail, setup,
						teardown),
		cmocka_unit_test_setup_teardown(migrate_checkpoint_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(verbs_and_json, setup, teardown),
		cmocka_unit_test_setup_teardown(json_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(evacuate_gpu, setup, teardown),
		cmocka_unit_test_setup_teardown(through_helper, setup, teardown),
		cmocka_unit_test_setup_teardown(only_owner_or_root_acts, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_owner_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(evacuate_only_own, setup, teardown),
		cmocka_unit_test_setup_teardown(helper_gets_caller, setup, teardown),
		cmocka_unit_test_setup_teardown(stuck_helper_call_times_out, setup, teardown),
	};

	gw_set_inprocess(true);
	return cmocka_run_group_tests_name("gpuwork_engine", tests, NULL, NULL);
}
