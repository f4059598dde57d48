// SPDX-License-Identifier: GPL-2.0
/*
 * Re-plug brings the work back.  An eject (or a warning's evacuation to
 * host) leaves processes checkpointed, each with a record of the GPU it
 * came from (gpuwork/state.c; the router's unique_id added by egpud).
 * When a GPU function's driver binds (one of the policy's compute-drivers,
 * default nvidia), the workloads waiting for a GPU go onto it if
 * restore-on-replug allows:
 *
 *   same       the same GPU (its UUID), or where the UUID cannot be read,
 *              the same router carrying the same chip;
 *   same-chip  any GPU of the chip it ran on (the driver restores only onto
 *              the same chip), through the full UUID map gpuwork builds;
 *   no         never by itself; egpuctl restore still works.
 *
 * The restore runs in a job (it takes seconds); a workload whose members
 * ran on GPUs still present keeps those (restore --replug).  A failed
 * restore leaves every member checkpointed and restorable (tree.c) and
 * says why in the log.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rules.h"
#include "egpud/egpud.h"
#include "gpuwork/gw_internal.h"

bool egpud_replug_allows(enum egpu_replug policy, const struct gw_record *rec,
			 const struct egpuhp_dev *dev, const char *uuid, char *why, size_t len)
{
	if (policy == EGPU_REPLUG_NO) {
		snprintf(why, len, "restore-on-replug = no");
		return false;
	}
	if (!rec->vendor || rec->vendor != dev->vendor || rec->device != dev->device) {
		snprintf(why, len, "%s is chip %04x:%04x, the work ran on %04x:%04x (the "
			 "driver restores only onto the same chip)", dev->name, dev->vendor,
			 dev->device, rec->vendor, rec->device);
		return false;
	}
	if (policy == EGPU_REPLUG_SAME_CHIP) {
		snprintf(why, len, "restore-on-replug = same-chip: %s is chip %04x:%04x",
			 dev->name, dev->vendor, dev->device);
		return true;
	}
	if (rec->uuid[0] && uuid[0]) {
		if (!strcmp(rec->uuid, uuid)) {
			snprintf(why, len, "the same GPU %s", uuid);
			return true;
		}
		snprintf(why, len, "restore-on-replug = same: %s is %s, the work ran on %s",
			 dev->name, uuid, rec->uuid);
		return false;
	}
	if (rec->router[0] && dev->router_uid[0] && !strcmp(rec->router, dev->router_uid)) {
		snprintf(why, len, "the same router %s with the same chip", rec->router);
		return true;
	}
	snprintf(why, len, "restore-on-replug = same: cannot tell that %s is the GPU the "
		 "work ran on (no UUID, router %s)", dev->name,
		 dev->router_uid[0] ? dev->router_uid : "unknown");
	return false;
}

/* What a replug job restores: a member to name the workload by, and where. */
struct replug_job {
	pid_t pid;
	char gpu[EGPUHP_PCI_NAME_LEN];
	char workload[GW_WL_KEY_LEN];
};

static int replug_work(void *arg, FILE *out)
{
	struct replug_job *rj = arg;
	char pid[16];
	char *argv[4] = { pid, (char *)"--to", rj->gpu, (char *)"--replug" };

	snprintf(pid, sizeof(pid), "%d", (int)rj->pid);
	return gw_dispatch("restore", 4, argv, out, false);
}

/* The first "reason:" of the report, for the log line. */
static void first_reason(const char *text, char *buf, size_t len)
{
	const char *p = text ? strstr(text, "reason: ") : NULL;

	if (!p) {
		snprintf(buf, len, "%s", "see egpuctl workloads");
		return;
	}
	p += 8;
	snprintf(buf, len, "%.*s", (int)strcspn(p, "\n"), p);
}

static void replug_done(struct egpud *d, struct egpud_job *j)
{
	struct replug_job *rj = j->ctx;
	char why[256];

	if (j->status == 0) {
		egpu_log("replug: workload %s (pid %d) restored onto %s", rj->workload,
			 (int)rj->pid, rj->gpu);
	} else {
		first_reason(j->text, why, sizeof(why));
		egpu_log("replug: restoring workload %s (pid %d) onto %s failed: %s; it stays "
			 "checkpointed (egpuctl restore %d)", rj->workload, (int)rj->pid, rj->gpu,
			 why, (int)rj->pid);
	}
	egpud_records_watch(d);
}

/* UUID and model of the NVIDIA GPU at pci ("" when the driver does not list it). */
static void gpu_identity(const char *pci, char *uuid, size_t len)
{
	struct gw_gpus *g = calloc(1, sizeof(*g));
	const struct gw_gpu *x;

	uuid[0] = '\0';
	if (!g)
		return;
	if (!gw_gpus_load(g) && (x = gw_gpus_find(g, pci)))
		snprintf(uuid, len, "%s", x->uuid);
	free(g);
}

/* Is the GPU of rec still (or again) there, by UUID? */
static bool gpu_present(const struct gw_gpus *g, const struct gw_record *rec)
{
	return rec->uuid[0] && gw_gpus_find(g, rec->uuid);
}

void egpud_replug_gpu_bound(struct egpud *d, const struct egpuhp_dev *dev)
{
	struct egpu_workload_policy pol;
	struct gw_record *recs = NULL;
	struct gw_gpus *gpus;
	char uuid[GW_UUID_LEN], why[320], deny[320], key[48];
	int n, i, k;

	if (!dev->is_gpu)
		return;
	egpu_workload_policy_for(d->cfg, dev, &pol);
	if (!egpu_workload_compute_driver(&pol, dev->driver))
		return;		/* vfio-pci (a VM's GPU), or no CUDA driver */
	n = gw_records_list(&recs);
	if (n <= 0) {
		free(recs);
		return;
	}
	gpus = calloc(1, sizeof(*gpus));
	if (!gpus) {
		free(recs);
		return;
	}
	gw_gpus_load(gpus);
	gpu_identity(dev->name, uuid, sizeof(uuid));
	for (i = 0; i < n; i++) {
		struct replug_job *rj;
		struct egpud_job *j;
		bool allowed = true, waiting = false;

		/* one decision per workload, at its first record */
		for (k = 0; k < i && strcmp(recs[k].workload, recs[i].workload); k++)
			;
		if (k < i && recs[i].workload[0])
			continue;
		why[0] = deny[0] = '\0';
		for (k = i; k < n; k++) {
			if (k != i && (!recs[i].workload[0] ||
				       strcmp(recs[k].workload, recs[i].workload)))
				continue;
			if (gpu_present(gpus, &recs[k]) && strcmp(recs[k].uuid, uuid))
				continue;	/* its own GPU is here: restored in place */
			waiting = true;
			if (!egpud_replug_allows(pol.replug, &recs[k], dev, uuid, why,
						 sizeof(why)) && allowed) {
				allowed = false;
				memcpy(deny, why, sizeof(deny));
			}
		}
		if (!waiting)
			continue;
		if (!allowed) {
			egpu_log("replug: %s bound: workload %s (pid %d) keeps waiting: %s",
				 dev->name, recs[i].workload, (int)recs[i].pid, deny);
			continue;
		}
		rj = calloc(1, sizeof(*rj));
		if (!rj)
			break;
		rj->pid = recs[i].pid;
		snprintf(rj->gpu, sizeof(rj->gpu), "%s", dev->name);
		snprintf(rj->workload, sizeof(rj->workload), "%s", recs[i].workload);
		snprintf(key, sizeof(key), "replug %d", (int)rj->pid);
		if (egpud_job_for(d, key)) {
			free(rj);
			continue;	/* already under way */
		}
		egpu_log("replug: %s bound: restoring workload %s (pid %d) onto it: %s",
			 dev->name, recs[i].workload, (int)recs[i].pid, why);
		j = egpud_job_start(d, key, "replug restore", replug_work, rj, replug_done);
		if (!j) {
			egpu_log("replug: no job slot for workload %s; egpuctl restore %d",
				 recs[i].workload, (int)recs[i].pid);
			free(rj);
			continue;
		}
		j->ctx = rj;	/* freed with the job */
	}
	free(gpus);
	free(recs);
}
