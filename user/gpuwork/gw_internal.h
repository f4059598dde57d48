/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpuwork internals shared by its files and its unit tests.
 */
#ifndef EGPUHP_GW_INTERNAL_H
#define EGPUHP_GW_INTERNAL_H

/* The engine helper's process name (helper.c), which discovery skips. */
#define GW_HELPER_COMM	"egpud-gpuwork"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "gpuwork/gpuwork.h"

/* --- roots (roots.c) ------------------------------------------------------ */

enum gw_root { GW_ROOT_PROC, GW_ROOT_SYS, GW_ROOT_DEV, GW_ROOT_RUN };

/* Path below a root: gw_path(buf, len, GW_ROOT_PROC, "%d/fd", pid). */
int gw_path(char *buf, size_t len, enum gw_root root, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
const char *gw_root_dir(enum gw_root root);
/*
 * Path of rel below the nvidia driver's proc directory: $EGPUHP_NVIDIA_PROC_DIR
 * (a fake driver's files: the dock's tests) unless gw_set_roots() named a
 * proc root, else <proc root>/driver/nvidia.
 */
int gw_nvidia_path(char *buf, size_t len, const char *rel);

#define GW_ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Copy a string into a fixed buffer, truncating (always NUL terminated). */
static inline void gw_copy(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* --- UUIDs (uuid.c) ------------------------------------------------------- */

/* The driver's 16-byte GPU UUID (CUuuid). */
struct gw_uuid {
	unsigned char b[16];
};

/* Parse "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (the "GPU-" is optional). */
int gw_uuid_parse(const char *s, struct gw_uuid *u);
void gw_uuid_format(const struct gw_uuid *u, char *buf, size_t len);
bool gw_uuid_equal(const struct gw_uuid *a, const struct gw_uuid *b);

/* The driver's CUcheckpointGpuPair: old UUID, new UUID. */
struct gw_gpu_pair {
	struct gw_uuid old_uuid;
	struct gw_uuid new_uuid;
};

/*
 * Build the remapping for a restore that moves the work of GPU src to
 * GPU dst: a full permutation of all n GPUs the driver sees (it refuses a
 * partial one): src -> dst, dst -> src, every other GPU onto itself.
 * pairs must hold n entries.  Returns the number of pairs, or -EINVAL
 * (src or dst not among all, duplicates in all, n == 0).
 */
int gw_build_pairs(const struct gw_uuid *all, int n, const struct gw_uuid *src,
		   const struct gw_uuid *dst, struct gw_gpu_pair *pairs);

/* Is u among all[0..n-1]? */
bool gw_uuid_in(const struct gw_uuid *all, int n, const struct gw_uuid *u);

/*
 * The map for a restore after a re-plug: the process saw old[0..nold-1]
 * when it was checkpointed, the driver sees now[0..nnow-1]; src (gone)
 * becomes dst (new: not among old), every other old GPU must still be
 * there and maps onto itself.  pairs must hold nold entries.  Returns
 * nold, or -EINVAL when no such map exists.
 */
int gw_build_replug_pairs(const struct gw_uuid *old, int nold, const struct gw_uuid *now,
			  int nnow, const struct gw_uuid *src, const struct gw_uuid *dst,
			  struct gw_gpu_pair *pairs);

/* Normalise a PCI address ("0000:01:00.0", "00000000:01:00.0", upper case). */
int gw_pci_normalise(const char *in, char *out, size_t len);

/* --- NVIDIA GPU table (gpus.c) ---------------------------------------------- */

struct gw_gpu {
	char pci[GW_PCI_LEN];
	char uuid[GW_UUID_LEN];
	char model[64];
	int minor;			/* N of /dev/nvidiaN, -1 unknown */
	unsigned int vendor, device;	/* PCI ids: the chip */
};

#define GW_MAX_GPUS	64
#define GW_WL_KEY_LEN	300	/* "service:" + a cgroup path */

struct gw_gpus {
	struct gw_gpu v[GW_MAX_GPUS];
	int n;
};

/* Read /proc/driver/nvidia/gpus/ * /information and the PCI ids from sysfs. */
int gw_gpus_load(struct gw_gpus *g);
/* Find by PCI address or UUID string; NULL if none. */
const struct gw_gpu *gw_gpus_find(const struct gw_gpus *g, const char *pci_or_uuid);
const struct gw_gpu *gw_gpus_by_minor(const struct gw_gpus *g, int minor);
/*
 * Another GPU of the chip of the GPU at pci, the one with the most free
 * memory (NVML): the balanced target of an evacuation.  Its PCI address
 * into out; 0, or -ENODEV when there is none.
 */
int gw_pick_same_chip(const char *pci, char *out, size_t len);

/* --- the driver API, loaded at run time (cudaapi.c) ----------------------- */

/* Values of CUresult and CUprocessState that the engine acts upon. */
#define GW_CU_SUCCESS			0
#define GW_CU_INVALID_VALUE		1
#define GW_CU_OUT_OF_MEMORY		2
#define GW_CU_NOT_INITIALIZED		3
#define GW_CU_NO_DEVICE			100
#define GW_CU_INVALID_DEVICE		101
#define GW_CU_ILLEGAL_STATE		401
#define GW_CU_NOT_FOUND			500
#define GW_CU_NOT_READY			600
#define GW_CU_NOT_PERMITTED		800
#define GW_CU_NOT_SUPPORTED		801
#define GW_CU_TIMEOUT			909
#define GW_CU_UNKNOWN			999

enum gw_cu_state {
	GW_CU_STATE_RUNNING = 0,
	GW_CU_STATE_LOCKED = 1,
	GW_CU_STATE_CHECKPOINTED = 2,
	GW_CU_STATE_FAILED = 3,
};

/*
 * Argument blocks with the driver ABI's layouts (cuda.h of CUDA 13):
 * reserved fields must be zero.
 */
struct gw_cu_lock_args {
	unsigned int timeout_ms;
	unsigned int reserved0;
	uint64_t reserved1[7];
};

struct gw_cu_plain_args {	/* CUcheckpointCheckpointArgs / UnlockArgs */
	uint64_t reserved[8];
};

struct gw_cu_restore_args {
	struct gw_gpu_pair *gpu_pairs;
	unsigned int gpu_pairs_count;
	char reserved[52 - sizeof(void *)];
	uint64_t reserved1;
};

_Static_assert(sizeof(struct gw_cu_lock_args) == 64, "CUcheckpointLockArgs");
_Static_assert(sizeof(struct gw_cu_plain_args) == 64, "CUcheckpointCheckpointArgs");
_Static_assert(sizeof(struct gw_cu_restore_args) == 64, "CUcheckpointRestoreArgs");
_Static_assert(sizeof(struct gw_gpu_pair) == 32, "CUcheckpointGpuPair");

typedef int gw_cures;

struct gw_cuda_api {
	gw_cures (*init)(unsigned int flags);
	gw_cures (*driver_get_version)(int *version);
	gw_cures (*device_get_count)(int *count);
	gw_cures (*device_get)(int *dev, int ordinal);
	gw_cures (*device_get_uuid)(struct gw_uuid *uuid, int dev);
	gw_cures (*device_get_pci_bus_id)(char *buf, int len, int dev);
	gw_cures (*get_error_name)(gw_cures err, const char **name);
	/* Checkpoint API: NULL when the driver is older than 570. */
	gw_cures (*get_state)(int pid, int *state);
	gw_cures (*lock)(int pid, struct gw_cu_lock_args *args);
	gw_cures (*checkpoint)(int pid, struct gw_cu_plain_args *args);
	gw_cures (*restore)(int pid, struct gw_cu_restore_args *args);
	gw_cures (*unlock)(int pid, struct gw_cu_plain_args *args);
};

/*
 * The loaded driver: dlopen($EGPUHP_LIBCUDA or "libcuda.so.1") and cuInit
 * once.  Returns NULL with why filled when there is no usable driver.
 */
const struct gw_cuda_api *gw_cuda_get(char *why, size_t len);
/* Use api instead of the real driver (tests); NULL returns to the real one. */
void gw_cuda_override(const struct gw_cuda_api *api);
/*
 * Name of a CUresult ("CUDA_ERROR_NOT_SUPPORTED (801)") or its number:
 * egpu_cuda_errname() with the driver in use's cuGetErrorName.
 */
const char *gw_cuda_errname(gw_cures err, char *buf, size_t len);

/* Lowest driver (cuDriverGetVersion) with the checkpoint API / with gpuPairs. */
#define GW_CUDA_MIN_CHECKPOINT	12080
#define GW_CUDA_MIN_MIGRATE	13000

/* --- NVML, loaded at run time (nvml.c) --------------------------------------- */

struct gw_nvml_api {
	int (*init)(void);
	int (*shutdown)(void);
	int (*get_handle_by_pci)(const char *pci, void **dev);
	int (*get_memory_info)(void *dev, uint64_t mem[3]);	/* total, free, used */
	int (*get_compute_procs)(void *dev, unsigned int *count, void *infos);
};

/* Free device memory of the GPU at pci; -errno when NVML cannot tell. */
int gw_nvml_free_mem(const char *pci, uint64_t *free_bytes, uint64_t *total_bytes);
/* Device memory pid holds on the GPU at pci (0 if none); -errno when unknown. */
int gw_nvml_proc_mem(const char *pci, pid_t pid, uint64_t *bytes);
void gw_nvml_override(const struct gw_nvml_api *api);

/* --- host facts (host.c) -------------------------------------------------- */

/* MemAvailable in bytes, or -errno. */
int gw_host_mem_available(uint64_t *bytes);
/*
 * Does pid map managed (UVM) memory?  1 yes, 0 no, -errno unknown.
 * Read from /proc/PID/maps: managed allocations are mappings of
 * /dev/nvidia-uvm.
 */
int gw_proc_uses_managed(pid_t pid);
/*
 * Read /proc/PID/stat into buf; returns where field 3 (state) starts, past
 * the comm (which may hold spaces and ')'), or NULL.
 */
const char *gw_proc_stat(pid_t pid, char *buf, size_t len);
/* Process start time (field 22 of /proc/PID/stat), to recognise a pid. */
int gw_proc_starttime(pid_t pid, unsigned long long *start);
int gw_proc_comm(pid_t pid, char *buf, size_t len);
/* Real and saved uid of pid (the Uid: line of /proc/PID/status). */
int gw_proc_uids(pid_t pid, uid_t *ruid, uid_t *suid);
/*
 * May a caller of (effective) uid caller change pid's state?  kill(2)'s rule:
 * root may act on any process; anyone else only on a process whose real or
 * saved uid is caller.  On false, why says so.
 */
bool gw_caller_may_act(uid_t caller, pid_t pid, char *why, size_t len);

/* --- discovery of one process (discover.c) --------------------------------- */

/* The GPUs pid holds (no NVML query; gpu_bytes not filled). */
int gw_find_users_of_pid(pid_t pid, struct gw_users *out);

/* --- engine (engine.c) ------------------------------------------------------ */

enum gw_step {
	GW_STEP_PREFLIGHT,
	GW_STEP_LOCK,
	GW_STEP_CHECKPOINT,
	GW_STEP_RESTORE,
	GW_STEP_UNLOCK,
	GW_STEP_RECOVER,
	GW_STEP_NR,
};

struct gw_step_result {
	bool ran;
	bool ok;
	double ms;
	int cu_err;		/* CUresult of the step's driver call */
};

struct gw_report {
	pid_t pid;
	const char *op;			/* "checkpoint", "restore", "migrate" */
	bool ok;
	bool refused;			/* refused before anything was changed */
	char reason[256];		/* why it failed or was refused */
	char from_pci[GW_PCI_LEN], from_uuid[GW_UUID_LEN];
	char to_pci[GW_PCI_LEN], to_uuid[GW_UUID_LEN];
	uint64_t gpu_bytes;		/* device memory moved (0 unknown) */
	int state_before, state_after;	/* enum gw_cu_state, -1 unknown */
	struct gw_step_result step[GW_STEP_NR];
	int pairs;			/* UUID pairs passed to restore */
};

struct gw_opts {
	unsigned int timeout_ms;	/* lock timeout */
	const char *to;			/* target GPU: PCI or UUID, NULL same */
	bool force;			/* skip the host RAM check */
	bool replug;			/* restore: only processes whose GPU is gone go to "to" */
};

#define GW_DEFAULT_LOCK_TIMEOUT_MS	10000
/* Host memory a checkpoint needs beyond the device memory it copies. */
#define GW_CHECKPOINT_OVERHEAD		((uint64_t)512 << 20)

void gw_report_init(struct gw_report *r, pid_t pid, const char *op);
int gw_engine_checkpoint(pid_t pid, const struct gw_opts *o, struct gw_report *r);
int gw_engine_restore(pid_t pid, const struct gw_opts *o, struct gw_report *r);
int gw_engine_migrate(pid_t pid, const struct gw_opts *o, struct gw_report *r);
const char *gw_state_name(int state);
const char *gw_step_name(enum gw_step s);

/* What the engine remembers of a checkpointed process (state.c). */
struct gw_record {
	pid_t pid;
	unsigned long long starttime;
	char pci[GW_PCI_LEN];
	char uuid[GW_UUID_LEN];
	unsigned int vendor, device;	/* the chip it ran on */
	char model[64];
	char router[64];		/* unique_id of the carrying router, "" none/unknown */
	char workload[GW_WL_KEY_LEN];	/* gw_workload_key() when checkpointed */
	uint64_t gpu_bytes;
	int nseen;			/* the GPUs the driver showed it */
	struct gw_uuid seen[GW_MAX_GPUS];
};

int gw_record_save(const struct gw_record *rec);
int gw_record_load(pid_t pid, struct gw_record *rec);
void gw_record_drop(pid_t pid);
/*
 * The records of live processes (stale ones are dropped as load does);
 * *out is malloc'ed.  Returns the count or -errno.
 */
int gw_records_list(struct gw_record **out);

/*
 * Where a restore with options o puts the process of rec: o->to, or NULL
 * (its own GPU) when o->to names that GPU (by UUID: re-plugged, maybe at
 * another address) or, with o->replug, when its GPU is present.
 */
const char *gw_eng_restore_target(const struct gw_gpus *gpus, const struct gw_opts *o,
				  const struct gw_record *rec);

/* Steps of the engine, shared with the tree engine (tree.c). */
double gw_eng_now_ms(void);
int gw_eng_fail(struct gw_report *r, bool refused, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int gw_eng_state_of(const struct gw_cuda_api *api, pid_t pid);
void gw_eng_step_done(struct gw_report *r, enum gw_step s, double t0, gw_cures err);
gw_cures gw_eng_unlock(const struct gw_cuda_api *api, pid_t pid, struct gw_report *r,
		       enum gw_step s);
gw_cures gw_eng_restore(const struct gw_cuda_api *api, pid_t pid, struct gw_report *r,
			struct gw_gpu_pair *pairs, int n, enum gw_step s);
int gw_eng_preflight_driver(const struct gw_cuda_api **apip, pid_t pid, int min_version,
			    struct gw_report *r);
int gw_eng_preflight_process(pid_t pid, const struct gw_opts *o, const struct gw_gpus *gpus,
			     const struct gw_gpu **src, int *nsrc, struct gw_report *r);
void gw_eng_save_record(const struct gw_cuda_api *api, pid_t pid, const struct gw_gpu *src,
			const struct gw_report *r);
int gw_eng_make_pairs(const struct gw_cuda_api *api, const char *src_uuid, const char *dst_pci,
		      const struct gw_record *rec, struct gw_gpu_pair *pairs,
		      struct gw_gpu_pair *one, struct gw_report *r);
int gw_eng_preflight_target(const struct gw_gpus *gpus, const char *to, const char *src_uuid,
			    unsigned int vendor, unsigned int device, uint64_t bytes,
			    const struct gw_gpu **dstp, struct gw_report *r);
int gw_eng_finish_restore(const struct gw_cuda_api *api, pid_t pid, struct gw_gpu_pair *pairs,
			  int n, struct gw_gpu_pair *one, bool fallback_same,
			  struct gw_report *r);

/* --- workloads: process trees (tree.c) ------------------------------------ */

/* Members of one workload the engine acts on at most. */
#define GW_WL_MAX	32

struct gw_proc_info {
	pid_t pid, ppid, pgrp, sid;
	char cgroup[256];	/* the unified hierarchy's path ("0::" line) */
};

/* ppid, process group, session and cgroup of pid. */
int gw_proc_info(pid_t pid, struct gw_proc_info *pi);

/*
 * The name of pid's workload: "service:<cgroup>" for a process of a systemd
 * service (every process of the service), else "tree:<root>", root being
 * the topmost ancestor reached without leaving pid's cgroup, stepping onto
 * a session leader (a shell) or onto pid 1.  *root (may be NULL) gets the
 * root pid.  Returns 0 or -errno.
 */
int gw_workload_key(pid_t pid, char *key, size_t len, pid_t *root);

struct gw_workload {
	char key[GW_WL_KEY_LEN];
	pid_t root;
	size_t n;
	pid_t pid[GW_WL_MAX];		/* members, ascending */
	char comm[GW_WL_MAX][GW_COMM_LEN];
	bool checkpointed[GW_WL_MAX];	/* from a record, not a GPU user now */
};

/*
 * The workload that pid belongs to: the running GPU users with its key
 * and the checkpointed processes whose records carry it.  With only, pid
 * alone.  Returns 0, -ESRCH (pid is neither), -E2BIG (too many members).
 */
int gw_workload_of(pid_t pid, bool only, struct gw_workload *w);

/* Reports of one tree operation, one per member. */
struct gw_tree_report {
	const char *op;
	bool ok, refused;
	char reason[256];
	size_t n;
	struct gw_report r[GW_WL_MAX];
};

/*
 * All or nothing over a workload: checkpoint locks every member first,
 * then checkpoints each; after any failure every member is running again.
 * restore restores every member (onto o->to when set), then unlocks them
 * all; after a failed restore every member is checkpointed again (still
 * restorable).  migrate is checkpoint then restore --to, falling back to
 * the members' own GPU.
 */
int gw_tree_checkpoint(const struct gw_workload *w, const struct gw_opts *o,
		       struct gw_tree_report *t);
int gw_tree_restore(const struct gw_workload *w, const struct gw_opts *o,
		    struct gw_tree_report *t);
int gw_tree_migrate(const struct gw_workload *w, const struct gw_opts *o,
		    struct gw_tree_report *t);
void gw_tree_report_print(const struct gw_tree_report *t, const struct gw_workload *w,
			  FILE *out, bool json);

/* --- what egpud's watchers said of their snapshots (snaptable.c) ----------- */

#define GW_SNAP_MAX	128

struct gw_snap {
	pid_t pid;
	uint64_t bytes;
	uint32_t buffers;
	uint64_t taken_ns;	/* CLOCK_MONOTONIC; 0: none yet */
	char gpu[GW_PCI_LEN];	/* watched function, "" all */
};

struct gw_snaps {
	size_t n;
	struct gw_snap v[GW_SNAP_MAX];
};

/* Parse a GW_SNAPSHOTS_ARG table (gpuwork.h); 0 or -EINVAL. */
int gw_snaps_parse(const char *table, struct gw_snaps *out);
const struct gw_snap *gw_snaps_find(const struct gw_snaps *s, pid_t pid);
/* Age in ms at now_ns, -1 when there is no snapshot yet. */
int64_t gw_snap_age_ms(const struct gw_snap *s, uint64_t now_ns);
uint64_t gw_now_ns(void);
/* "snapshot 3.2 s old, 9.5 GB" or "no snapshot yet (4 buffers)" */
void gw_snap_describe(const struct gw_snap *s, uint64_t now_ns, char *buf, size_t len);
/* ,"snapshot_bytes":..,"snapshot_buffers":..,"snapshot_age_ms":..|null */
void gw_snap_json(const struct gw_snap *s, uint64_t now_ns, FILE *out);
/* A PID list "1,2,3" (GW_SKIP_ARG); at most max; count or -EINVAL. */
int gw_pid_list_parse(const char *list, pid_t *out, size_t max);

/* --- output (report.c) ------------------------------------------------------ */

void gw_report_print(const struct gw_report *r, FILE *out, bool json);

/* --- the engine's helper process (helper.c) --------------------------------- */

/* Run verb in the helper (start it if needed); like gw_dispatch_as(). */
int gw_helper_call(uid_t caller, const char *verb, int argc, char **argv, FILE *out,
		   bool json);
/* gw_dispatch_as() without the helper. */
int gw_dispatch_local(uid_t caller, const char *verb, int argc, char **argv, FILE *out,
		      bool json);

#endif /* EGPUHP_GW_INTERNAL_H */
