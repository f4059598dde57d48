/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Requested eject ("egpuctl eject"): take an eGPU away in an order that
 * protects what runs on it.
 *
 *   1. notify   libegpu watchers of the group get LEAVING; egpud waits up to
 *               the grace period (eject-grace-ms, or --timeout) or until each
 *               of them acked (egpu_ack()) or closed its connection; a
 *               watcher that protects its process by snapshots (libegpu's
 *               egpu_snap_attach(), snapshots.c) sends its final snapshot
 *               ("snapshot ... final=1") before its ack;
 *   2. evacuate every process using a GPU function of the group is
 *               checkpointed (or migrated with --to) by gpuwork, except the
 *               ones whose final snapshot came: they let go of the GPU
 *               themselves (a protected one without a final snapshot in
 *               the grace period is checkpointed like the rest); the other
 *               members of a workload such a process belongs to are still
 *               locked and checkpointed as one; a user that
 *               cannot be moved (VFIO = a VM, DRM) refuses the eject unless
 *               --force; then gw_shutdown() so our own helper lets go;
 *   3. remove   EGPUHP_CMD_EJECT: the module announces orderly REMOVE events,
 *               then removes the functions;
 *   4. deauthorize the carrying Thunderbolt router (where the domain allows
 *               de-authorization), so the enclosure can be unplugged.
 *
 * Step 1 runs inside egpud's loop (eject.c: a small state machine, nothing
 * blocks); steps 2-4 may take seconds and run in a forked worker.  The
 * sequencing of steps 2-4 (eject_steps.c) and the group resolution
 * (eject_plan.c) take their inputs and effects as parameters, so unit tests
 * drive them with fakes.
 */
#ifndef EGPUD_EJECT_H
#define EGPUD_EJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/egpuhp_nl.h"
#include "gpuwork/gpuwork.h"

#define EGPU_EJECT_MAX_FN	32
#define EGPU_EJECT_DEFAULT_GRACE_MS	2000

/* What an eject takes away. */
struct egpu_eject_plan {
	char target[64];			/* as the user wrote it */
	size_t n_fn;				/* every function that goes */
	char fn[EGPU_EJECT_MAX_FN][EGPUHP_PCI_NAME_LEN];
	size_t n_gpu;				/* functions to evacuate */
	char gpu[EGPU_EJECT_MAX_FN][EGPUHP_PCI_NAME_LEN];
	size_t n_head;				/* what EGPUHP_CMD_EJECT is sent for */
	char head[EGPU_EJECT_MAX_FN][EGPUHP_PCI_NAME_LEN];
	char router[EGPUHP_ROUTER_NAME_LEN];	/* "" if none carries it */
};

/*
 * Resolve target (a PCI function "0000:05:00.0" or "05:00.0", a router name
 * "0-1" or a router's unique_id) against the tracked functions and
 * routers.  A function brings its eGPU group (the GPU function and its
 * siblings) and whatever is below it; a router brings every function
 * carrying its unique_id (none known: refused, since de-authorizing it
 * would pull them by surprise).  router_opt (may be NULL) names the router
 * to de-authorize explicitly, for functions whose router egpuhp cannot tell.
 * Returns 0, or -ENODEV/-EINVAL/-E2BIG with why filled.
 */
int egpu_eject_plan(const struct egpuhp_dev *devs, size_t n_devs,
		    const struct egpuhp_router *routers, size_t n_routers,
		    const char *target, const char *router_opt,
		    struct egpu_eject_plan *plan, char *why, size_t len);

/* Does the plan contain function pci? */
bool egpu_eject_plan_has(const struct egpu_eject_plan *plan, const char *pci);

/* Options of one eject. */
struct egpu_eject_opts {
	const char *to;		/* --to: migrate instead of checkpoint */
	bool force;		/* --force: go on past unmovable users */
	bool json;
};

/* The effects of steps 2-4 (eject_ops.c has the real ones). */
struct egpu_eject_ops {
	/* users of the GPU at pci; 0 or -errno (gw_find_users) */
	int (*find_users)(void *ctx, const char *pci, struct gw_users *out);
	/* GW_OK or GW_FAIL, details to log (gw_evacuate); skip: left alone */
	int (*evacuate)(void *ctx, const char *pci, const char *to, const pid_t *skip,
			size_t n_skip, FILE *log);
	void (*shutdown)(void *ctx);		/* gw_shutdown */
	/* EGPUHP_CMD_EJECT for pci: 0 or -errno, the kernel's message in msg */
	int (*module_eject)(void *ctx, const char *pci, char *msg, size_t len);
	/* 1 if router's domain allows de-authorization, 0 if not, -errno */
	int (*deauth_allowed)(void *ctx, const char *router);
	int (*deauthorize)(void *ctx, const char *router);	/* 0 or -errno */
	uint64_t (*now_ms)(void *ctx);
};

enum egpu_eject_step {
	EGPU_EJECT_NOTIFY,
	EGPU_EJECT_EVACUATE,
	EGPU_EJECT_SHUTDOWN,
	EGPU_EJECT_REMOVE,
	EGPU_EJECT_DEAUTHORIZE,
	EGPU_EJECT__STEPS,
};

enum egpu_eject_outcome {
	EGPU_STEP_NOT_RUN,
	EGPU_STEP_OK,
	EGPU_STEP_SKIPPED,	/* nothing to do, or not allowed (said why) */
	EGPU_STEP_FAILED,
};

struct egpu_eject_step_result {
	enum egpu_eject_outcome outcome;
	uint64_t ms;
	char detail[512];
};

#define EGPU_EJECT_MAX_SNAP	16

/* A process protecting itself by snapshots that the eject told LEAVING. */
struct egpu_eject_snap {
	int pid;
	bool final;		/* its final snapshot came: it is not checkpointed */
	uint64_t bytes;		/* of the final snapshot */
	uint64_t ms;		/* from LEAVING to the final snapshot */
	char why[96];		/* !final: why the driver checkpoint is its fallback */
};

struct egpu_eject_result {
	size_t n_snap;
	struct egpu_eject_snap snap[EGPU_EJECT_MAX_SNAP];
	struct egpu_eject_step_result step[EGPU_EJECT__STEPS];
	int stopped_at;			/* enum egpu_eject_step, -1: none */
	bool removed;			/* the module removed the functions */
	bool safe_to_unplug;
	size_t n_restore;		/* processes left checkpointed */
	int restore_pid[64];
	char state[256];		/* where things stand after a stop */
};

const char *egpu_eject_step_name(enum egpu_eject_step s);

/* Initialise res (every step NOT_RUN, stopped_at -1). */
void egpu_eject_result_init(struct egpu_eject_result *res);

/*
 * Run steps 2-4 of plan (step 1's record must already be in res).  Prints
 * one line per step to out as it ends (unless o->json).  Returns 0 when the
 * group is gone (and the router de-authorized where that applies), 1 when a
 * step stopped the flow (res->stopped_at, res->state say where and how).
 */
int egpu_eject_run(const struct egpu_eject_plan *plan,
		   const struct egpu_eject_opts *o,
		   const struct egpu_eject_ops *ops, void *ctx,
		   struct egpu_eject_result *res, FILE *out);

/* One line for step s (nothing in JSON mode). */
void egpu_eject_step_print(const struct egpu_eject_result *res, enum egpu_eject_step s,
			   const struct egpu_eject_opts *o, FILE *out);

/* The final report: the summary line(s), or the JSON object. */
void egpu_eject_report(const struct egpu_eject_plan *plan,
		       const struct egpu_eject_opts *o,
		       const struct egpu_eject_result *res, FILE *out);

/* Real ops: gpuwork, a fresh netlink socket, sysfs (eject_ops.c). */
extern const struct egpu_eject_ops egpu_eject_real_ops;

/* --- egpud's side (eject.c) --- */
struct egpud;
struct egpud_client;

/*
 * "eject TARGET [--to X] [--force] [--timeout MS] [--router R]": check the
 * arguments and resolve the group.  Returns 0 with the eject pending
 * (egpud_eject_begin() must follow), or the exit status with the reason
 * written to out.
 */
int egpud_eject_prepare(struct egpud *d, int argc, char **argv, bool json, FILE *out);
/* Start the pending eject; fd (the requester's connection) is taken over. */
void egpud_eject_begin(struct egpud *d, int fd);
/* A client connection closes / a watcher sent a line ("ack"). */
void egpud_eject_client_gone(struct egpud *d, const struct egpud_client *c);
void egpud_eject_client_ack(struct egpud *d, const struct egpud_client *c);
/* A watcher sent its final snapshot ("snapshot ... final=1"). */
void egpud_eject_client_final(struct egpud *d, const struct egpud_client *c);
/* Loop integration: ms until the grace period ends (-1: none), and progress. */
int egpud_eject_timeout_ms(struct egpud *d);
void egpud_eject_tick(struct egpud *d);
/* The worker child pid ended. */
void egpud_eject_reaped(struct egpud *d, int pid, int status);

#endif /* EGPUD_EJECT_H */
