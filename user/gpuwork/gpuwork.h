/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpuwork: who uses a GPU, and moving CUDA work off it.
 *
 * Two parts:
 *  - discovery: processes holding a GPU's device nodes (/dev/nvidiaN,
 *    DRM card/render nodes, /dev/kfd) and VFIO groups (a VM with the GPU
 *    passed through: reported, never checkpointed);
 *  - the CUDA engine: checkpoint / restore / migrate one process through
 *    the driver's cuCheckpointProcess* API, loaded with dlopen() at run
 *    time, so nothing here needs CUDA to build or to run without NVIDIA.
 *
 * egpud serves the verbs to egpuctl by calling gw_dispatch(), from its main
 * process or from a worker child it forks per request (both are fine).
 * The CUDA engine itself runs in one helper process that gw_dispatch()
 * starts on first use and talks to over $EGPUHP_RUN_DIR/gpuwork.sock; it
 * serialises requests, exits by itself after GW_HELPER_IDLE_MS without
 * work, and keeps cuInit's cost out of all requests but the first.  So
 * egpud itself never opens /dev/nvidia* and never keeps a GPU from leaving.
 * Call gw_shutdown() only before a GPU is removed (eject), not after each
 * request: that would make every request pay for cuInit again.
 */
#ifndef EGPUHP_GPUWORK_H
#define EGPUHP_GPUWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* gw_dispatch() exit codes: the same as egpuctl's and egpud's. */
#define GW_OK		0
#define GW_FAIL		1
#define GW_USAGE	2

/*
 * The longest a caller waits for one verb (the helper's greeting and its
 * reply; $EGPUHP_GW_CALL_TIMEOUT_MS overrides): then the verb fails with a
 * reply saying the process' state is unknown.  egpud kills a worker that
 * outlives this (EGPUD_WORKER_TIMEOUT_S).
 */
#define GW_CALL_TIMEOUT_MS	300000

/* Default idle time after which the engine's helper process exits. */
#define GW_HELPER_IDLE_MS	30000

/*
 * Run one verb.  argv[0..argc-1] are the words AFTER the verb:
 *
 *   workloads [PCI|UUID|all]             users of one GPU or of all
 *   checkpoint PID [--timeout MS]        lock + checkpoint (GPU state to host)
 *   restore PID [--to PCI|UUID]          restore (same GPU, or remap) + unlock
 *   migrate PID --to PCI|UUID [--timeout MS]
 *                                        checkpoint + restore on the target
 *   gpus                                 the NVIDIA GPUs the driver reports
 *
 * Prints a human readable report, or one JSON object when json is true,
 * to out.  Returns GW_OK, GW_FAIL (refused or failed; the reason is in
 * the output) or GW_USAGE.
 */
int gw_dispatch(const char *verb, int argc, char **argv, FILE *out, bool json);

/*
 * gw_dispatch() on behalf of a caller of (effective) uid caller, e.g. a
 * client of egpud's socket (SO_PEERCRED): checkpoint, restore, migrate and
 * evacuate act only on processes caller may signal (kill(2): its real or
 * saved uid is caller); uid 0 acts on any.  gw_dispatch() is
 * gw_dispatch_as(0, ...): for callers that act as root themselves (egpud's
 * eject, egpuctl --direct run by root).
 */
int gw_dispatch_as(uid_t caller, const char *verb, int argc, char **argv, FILE *out,
		   bool json);

/*
 * gw_dispatch_as() in JSON, wrapped in the one envelope of egpud's and
 * egpuctl's replies (docs/egpuctl-json.md), for egpud's workers and
 * egpuctl --direct: the verb's JSON object is the envelope's data; what
 * it wrote as text instead (a usage error, a failure before any result)
 * is the envelope's messages.  Returns the exit status.
 */
int gw_dispatch_envelope(uid_t caller, const char *verb, int argc, char **argv, FILE *out);

/* True if verb is one of gw_dispatch()'s verbs. */
bool gw_is_verb(const char *verb);

/* True if verb changes a process' state (checkpoint, restore, migrate). */
bool gw_verb_is_mutating(const char *verb);

/* One line per verb, for help texts. */
const char *gw_usage(void);

/*
 * Stop the engine's helper process now (if any): egpud calls this before
 * a GPU is removed, so that no handle of ours stays open on it.  Not
 * needed after each request (the helper exits by itself when idle).
 */
void gw_shutdown(void);

/*
 * Run the engine in the calling process instead of a helper (egpuctl
 * --direct, unit tests).  Also set by the environment variable
 * EGPUHP_GW_INPROCESS=1.
 */
void gw_set_inprocess(bool inprocess);

/*
 * Where discovery looks.  NULL keeps the default ("/proc", "/sys",
 * "/dev"); the environment variables EGPUHP_PROC_ROOT, EGPUHP_SYS_ROOT,
 * EGPUHP_DEV_ROOT set the defaults (unit tests point them at fake trees).
 * /proc/driver/nvidia is read below the proc root, or from
 * $EGPUHP_NVIDIA_PROC_DIR when set (and no proc root was set here).
 */
void gw_set_roots(const char *proc_root, const char *sys_root, const char *dev_root);

/*
 * egpuctl's side of a verb: argv[0] is the verb.  With --direct among the
 * arguments (or EGPUHP_DIRECT=1 in the environment) the verb runs here, in
 * this process (root, no daemon needed); otherwise daemon(ctx, argc, argv)
 * sends it to egpud.  Returns the exit status.
 */
int gw_ctl(int argc, char **argv, bool json,
	   int (*daemon)(void *ctx, int argc, char **argv), void *ctx);

/* --- discovery ---------------------------------------------------------- */

enum gw_node_kind {
	GW_NODE_NVIDIA,		/* /dev/nvidiaN */
	GW_NODE_DRM_CARD,	/* /dev/dri/cardN */
	GW_NODE_DRM_RENDER,	/* /dev/dri/renderDN */
	GW_NODE_KFD,		/* /dev/kfd (AMD compute) */
	GW_NODE_VFIO,		/* /dev/vfio/N: a VM or a userspace driver */
};

#define GW_PCI_LEN	16	/* "0000:00:00.0" */
#define GW_UUID_LEN	48	/* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
#define GW_COMM_LEN	32

/* One process holding one GPU (a process using two GPUs appears twice). */
struct gw_user {
	pid_t pid;
	char comm[GW_COMM_LEN];
	char pci[GW_PCI_LEN];		/* the GPU's PCI function */
	enum gw_node_kind kind;		/* strongest node kind held */
	char node[64];			/* e.g. "/dev/nvidia0" */
	bool checkpointable;		/* CUDA on NVIDIA: the engine may move it */
	bool gpu_bytes_known;		/* NVML answered for this GPU */
	uint64_t gpu_bytes;		/* device memory the process holds there */
};

struct gw_users {
	struct gw_user *v;
	size_t n, cap;
};

/*
 * Users of the GPU at pci (NULL: of every GPU).  Returns 0 or -errno;
 * processes that vanish or cannot be read while scanning are skipped.
 */
int gw_find_users(const char *pci, struct gw_users *out);
void gw_users_free(struct gw_users *u);
const char *gw_node_kind_name(enum gw_node_kind kind);

/*
 * Checkpoint every checkpointable user of the GPU at pci, or migrate them
 * to the GPU named by to (PCI or UUID) when to is not NULL.  Users that
 * cannot be moved (VFIO, DRM) are reported to log and counted as failures.
 * The n_skip processes in skip are left alone: they protect themselves
 * (libegpu snapshots) and let go of the GPU; the rest of a workload they
 * belong to is still checkpointed as one (locked together, all or
 * nothing).  Returns GW_OK if every user was handled, else GW_FAIL.
 */
int gw_evacuate(const char *pci, const char *to, const pid_t *skip, size_t n_skip, FILE *log,
		bool json);

/*
 * "workloads ... --snapshots TABLE": egpud passes what its libegpu watchers
 * reported about their snapshot sets (egpud refuses the word from its
 * clients).  TABLE is "PID:BYTES:BUFFERS:TAKEN_NS:GPU" entries separated
 * by ',', TAKEN_NS on CLOCK_MONOTONIC (0: no snapshot yet), GPU the
 * function the program watches or "-" for all.
 */
#define GW_SNAPSHOTS_ARG	"--snapshots"
#define GW_SKIP_ARG		"--skip"	/* evacuate PCI ... --skip PID,PID */

#endif /* EGPUHP_GPUWORK_H */
