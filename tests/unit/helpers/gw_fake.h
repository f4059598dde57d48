/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test doubles for user/gpuwork: a fake CUDA driver and NVML (function
 * tables handed to gw_cuda_override()/gw_nvml_override()) that keep a
 * per-process checkpoint state machine like the real driver's and inject
 * any CUresult on any call; and a builder of fake /proc, /sys trees.
 */
#ifndef EGPUHP_TEST_GW_FAKE_H
#define EGPUHP_TEST_GW_FAKE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "gpuwork/gw_internal.h"

enum fake_cuda_call {
	FAKE_CU_GET_STATE,
	FAKE_CU_LOCK,
	FAKE_CU_CHECKPOINT,
	FAKE_CU_RESTORE,
	FAKE_CU_UNLOCK,
	FAKE_CU_NCALLS,
};

#define FAKE_MAX_GPUS	8
#define FAKE_MAX_PROCS	8
#define FAKE_MAX_ERRS	4

struct fake_cuda_proc {
	int pid;
	int state;		/* enum gw_cu_state */
	int gpu;		/* index of the GPU its memory is on */
	uint64_t bytes;		/* device memory (NVML) */
	bool managed;		/* checkpoint answers NOT_SUPPORTED, stays LOCKED */
	bool sees_one_gpu;	/* CUDA_VISIBLE_DEVICES=<its GPU>: maps name it only */
	int fail[FAKE_CU_NCALLS];	/* this process' calls of a kind answer this */
	/* The GPUs present when it was checkpointed (its restore map's old side). */
	int nseen;
	struct gw_uuid seen[FAKE_MAX_GPUS];
	struct gw_uuid on;		/* UUID of its GPU when checkpointed */
};

struct fake_cuda {
	int version;			/* cuDriverGetVersion */
	bool no_checkpoint_api;		/* entry points missing (driver < 570) */
	int ngpus;
	struct gw_uuid uuid[FAKE_MAX_GPUS];
	char pci[FAKE_MAX_GPUS][GW_PCI_LEN];	/* as cuDeviceGetPCIBusId says */
	uint64_t free_mem[FAKE_MAX_GPUS];	/* NVML */
	bool nvml_missing;
	struct fake_cuda_proc proc[FAKE_MAX_PROCS];
	int nprocs;
	/* Errors to return, in order, from the next calls of each kind. */
	int err[FAKE_CU_NCALLS][FAKE_MAX_ERRS];
	int nerr[FAKE_CU_NCALLS];
	/* An injected lock error comes after the lock took effect. */
	bool lock_error_after_locking;
	/* What happened. */
	int calls[FAKE_CU_NCALLS];
	char log[512];			/* "state lock ckpt restore unlock ..." */
	unsigned int last_lock_timeout;
	int last_pairs_count;
	struct gw_gpu_pair last_pairs[FAKE_MAX_GPUS];
};

extern struct fake_cuda fake_cuda;

/* Reset to: driver 13000, n GPUs "GPU-000000NN-..." at 0000:0N:00.0, 80 GiB free. */
void fake_cuda_reset(int ngpus);
struct fake_cuda_proc *fake_cuda_add_proc(int pid, int gpu, uint64_t bytes);
void fake_cuda_inject(enum fake_cuda_call call, int err);
/* Install the fakes into gpuwork (and remove them again). */
void fake_cuda_install(void);
void fake_cuda_uninstall(void);
/* The UUID string of fake GPU i. */
const char *fake_cuda_uuid_str(int i);

/* --- fake trees -------------------------------------------------------- */

/* A fresh temporary directory; returns its path (static storage per call). */
char *gwt_tmpdir(void);
/* Remove a tree (rm -rf). */
void gwt_rmtree(const char *dir);
/* Write root/rel (creating parent directories) with the given text. */
void gwt_write(const char *root, const char *rel, const char *text);
/* Make root/rel a symlink to target (parents created). */
void gwt_symlink(const char *root, const char *rel, const char *target);
void gwt_mkdir(const char *root, const char *rel);

/*
 * A fake system under root: root/proc, root/sys, root/run; nvidia GPUs
 * 0..n-1 of fake_cuda at their PCI addresses, minors 0..n-1, chip
 * 10de:2335 (chip_of[i] overrides when non-zero), and gpuwork's roots
 * pointed at them.  meminfo says 256 GiB available.
 */
void gwt_fake_system(const char *root, int ngpus, const unsigned int *chip_of);
/* A process pid (comm) holding fds to the given /dev paths, start time 4242. */
void gwt_fake_proc(const char *root, int pid, const char *comm, const char *const *nodes);
/*
 * Give pid (made by gwt_fake_proc) a parent, a session and a cgroup
 * (NULL: none).  A process made by gwt_fake_proc alone is a child of pid 1
 * leading its own session.
 */
void gwt_fake_proc_family(const char *root, int pid, const char *comm, int ppid, int sid,
			  const char *cgroup);

/* gw_dispatch_local() as root, its output returned (malloc'ed); *rc its status. */
char *gwt_run_verb(const char *verb, int argc, char **argv, bool json, int *rc);

#endif /* EGPUHP_TEST_GW_FAKE_H */
