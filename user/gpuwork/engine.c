// SPDX-License-Identifier: GPL-2.0
/*
 * The CUDA checkpoint engine: one process at a time through the driver's
 * states RUNNING -> LOCKED -> CHECKPOINTED -> (restore) LOCKED -> RUNNING.
 *
 * Rules it keeps:
 *  - refuse before touching the process what cannot work: no or too old a
 *    driver, managed memory, a target of another chip or without room for
 *    the process' device memory, too little host memory for the copy;
 *  - time each step;
 *  - after a failed step leave the process RUNNING (unlock what we locked,
 *    restore what we checkpointed when the move cannot finish) or, when
 *    even that fails, CHECKPOINTED (restorable later), never LOCKED.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpuwork/gw_internal.h"

double gw_eng_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

const char *gw_state_name(int state)
{
	switch (state) {
	case GW_CU_STATE_RUNNING: return "running";
	case GW_CU_STATE_LOCKED: return "locked";
	case GW_CU_STATE_CHECKPOINTED: return "checkpointed";
	case GW_CU_STATE_FAILED: return "failed";
	}
	return "unknown";
}

const char *gw_step_name(enum gw_step s)
{
	static const char *const names[GW_STEP_NR] = {
		"preflight", "lock", "checkpoint", "restore", "unlock", "recover",
	};

	return s < GW_STEP_NR ? names[s] : "?";
}

void gw_report_init(struct gw_report *r, pid_t pid, const char *op)
{
	memset(r, 0, sizeof(*r));
	r->pid = pid;
	r->op = op;
	r->state_before = -1;
	r->state_after = -1;
}

int gw_eng_fail(struct gw_report *r, bool refused, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	r->ok = false;
	r->refused = refused;
	return GW_FAIL;
}

int gw_eng_state_of(const struct gw_cuda_api *api, pid_t pid)
{
	int st = -1;

	if (api->get_state(pid, &st) != GW_CU_SUCCESS)
		return -1;
	return st;
}

void gw_eng_step_done(struct gw_report *r, enum gw_step s, double t0, gw_cures err)
{
	r->step[s].ran = true;
	r->step[s].ms += gw_eng_now_ms() - t0;
	r->step[s].cu_err = err;
	r->step[s].ok = err == GW_CU_SUCCESS;
}

gw_cures gw_eng_unlock(const struct gw_cuda_api *api, pid_t pid, struct gw_report *r,
			    enum gw_step s)
{
	struct gw_cu_plain_args ua;
	double t0 = gw_eng_now_ms();
	gw_cures err;

	memset(&ua, 0, sizeof(ua));
	err = api->unlock(pid, &ua);
	gw_eng_step_done(r, s, t0, err);
	return err;
}

gw_cures gw_eng_restore(const struct gw_cuda_api *api, pid_t pid, struct gw_report *r,
			     struct gw_gpu_pair *pairs, int n, enum gw_step s)
{
	struct gw_cu_restore_args ra;
	double t0 = gw_eng_now_ms();
	gw_cures err;

	memset(&ra, 0, sizeof(ra));
	ra.gpu_pairs = n > 0 ? pairs : NULL;
	ra.gpu_pairs_count = n > 0 ? (unsigned int)n : 0;
	err = api->restore(pid, &ra);
	gw_eng_step_done(r, s, t0, err);
	return err;
}

/* Driver present, new enough for the operation, pid known to it. */
int gw_eng_preflight_driver(const struct gw_cuda_api **apip, pid_t pid, int min_version,
			    struct gw_report *r)
{
	const struct gw_cuda_api *api;
	char why[160] = "", e[48];
	int version = 0;
	gw_cures err;

	api = gw_cuda_get(why, sizeof(why));
	if (!api)
		return gw_eng_fail(r, true, "%s", why[0] ? why : "no NVIDIA CUDA driver");
	if (api->driver_get_version(&version) != GW_CU_SUCCESS)
		version = 0;
	if (!api->get_state || !api->lock || !api->checkpoint || !api->restore ||
	    !api->unlock || version < GW_CUDA_MIN_CHECKPOINT)
		return gw_eng_fail(r, true, "driver too old: CUDA %d.%d has no process checkpoint "
			    "(needs driver 570 / CUDA 12.8)", version / 1000, version % 1000 / 10);
	if (version < min_version)
		return gw_eng_fail(r, true, "driver too old: CUDA %d.%d cannot restore onto another "
			    "GPU (needs driver 580 / CUDA 13.0)", version / 1000,
			    version % 1000 / 10);
	err = api->get_state(pid, &r->state_before);
	if (err != GW_CU_SUCCESS) {
		r->state_before = -1;
		return gw_eng_fail(r, true, "process %d is not a CUDA process the driver knows: %s",
			    (int)pid, gw_cuda_errname(err, e, sizeof(e)));
	}
	r->state_after = r->state_before;
	*apip = api;
	return GW_OK;
}

/*
 * The GPU whose memory pid uses.  With NVML: the GPUs where it holds
 * memory; without: the /dev/nvidiaN node it holds, if only one.  Fills
 * gpu/bytes; returns the number of GPUs it has memory on (0: unknown).
 */
static int locate(pid_t pid, const struct gw_gpus *gpus, const struct gw_gpu **gpu,
		  uint64_t *bytes)
{
	struct gw_users u;
	int held = 0, with_mem = 0, nvml_ok = 0;
	const struct gw_gpu *only_held = NULL, *only_mem = NULL;
	size_t i;

	*gpu = NULL;
	*bytes = 0;
	if (gw_find_users_of_pid(pid, &u))
		return 0;
	for (i = 0; i < u.n; i++) {
		uint64_t b = 0;

		if (u.v[i].kind != GW_NODE_NVIDIA)
			continue;
		held++;
		only_held = gw_gpus_find(gpus, u.v[i].pci);
		if (gw_nvml_proc_mem(u.v[i].pci, pid, &b))
			continue;
		nvml_ok++;
		if (b) {
			with_mem++;
			only_mem = gw_gpus_find(gpus, u.v[i].pci);
			*bytes += b;
		}
	}
	gw_users_free(&u);
	if (nvml_ok && with_mem) {
		*gpu = with_mem == 1 ? only_mem : NULL;
		return with_mem;
	}
	/* Without NVML several held nodes say nothing (CUDA opens them all). */
	*gpu = held == 1 ? only_held : NULL;
	return held == 1 ? 1 : 0;
}

static void fill_gpu(char *pci, char *uuid, const struct gw_gpu *g)
{
	gw_copy(pci, GW_PCI_LEN, g->pci);
	gw_copy(uuid, GW_UUID_LEN, g->uuid);
}

/* Checks on the process and host shared by checkpoint and migrate. */
int gw_eng_preflight_process(pid_t pid, const struct gw_opts *o, const struct gw_gpus *gpus,
			     const struct gw_gpu **src, int *nsrc, struct gw_report *r)
{
	uint64_t avail = 0;
	int managed;

	if (r->state_before != GW_CU_STATE_RUNNING)
		return gw_eng_fail(r, true, "process %d is %s, not running", (int)pid,
			    gw_state_name(r->state_before));
	managed = gw_proc_uses_managed(pid);
	if (managed > 0)
		return gw_eng_fail(r, true, "process %d uses managed (unified) memory, which the "
			    "driver cannot checkpoint", (int)pid);
	*nsrc = locate(pid, gpus, src, &r->gpu_bytes);
	if (*src)
		fill_gpu(r->from_pci, r->from_uuid, *src);
	if (!o->force && r->gpu_bytes && !gw_host_mem_available(&avail) &&
	    r->gpu_bytes + GW_CHECKPOINT_OVERHEAD > avail)
		return gw_eng_fail(r, true, "not enough host memory: the checkpoint needs %" PRIu64
			    " MiB, %" PRIu64 " MiB available (--force skips this check)",
			    (uint64_t)((r->gpu_bytes + GW_CHECKPOINT_OVERHEAD) >> 20), avail >> 20);
	return GW_OK;
}

/* lock + checkpoint; on failure the process is RUNNING again if at all possible. */
static int do_checkpoint(const struct gw_cuda_api *api, pid_t pid, const struct gw_opts *o,
			 struct gw_report *r)
{
	struct gw_cu_lock_args la;
	struct gw_cu_plain_args ca;
	char e[48], e2[48];
	gw_cures err, uerr;
	double t0;
	int st;

	memset(&la, 0, sizeof(la));
	la.timeout_ms = o->timeout_ms ? o->timeout_ms : GW_DEFAULT_LOCK_TIMEOUT_MS;
	t0 = gw_eng_now_ms();
	err = api->lock(pid, &la);
	gw_eng_step_done(r, GW_STEP_LOCK, t0, err);
	if (err != GW_CU_SUCCESS) {
		st = gw_eng_state_of(api, pid);
		if (st == GW_CU_STATE_LOCKED)
			gw_eng_unlock(api, pid, r, GW_STEP_RECOVER);
		r->state_after = gw_eng_state_of(api, pid);
		return gw_eng_fail(r, false, "lock failed: %s%s; process left %s",
			    gw_cuda_errname(err, e, sizeof(e)),
			    err == GW_CU_NOT_READY || err == GW_CU_TIMEOUT ?
			    " (busy past the timeout)" : "", gw_state_name(r->state_after));
	}
	memset(&ca, 0, sizeof(ca));
	t0 = gw_eng_now_ms();
	err = api->checkpoint(pid, &ca);
	gw_eng_step_done(r, GW_STEP_CHECKPOINT, t0, err);
	if (err == GW_CU_SUCCESS) {
		r->state_after = GW_CU_STATE_CHECKPOINTED;
		return GW_OK;
	}
	/* The driver leaves the process LOCKED (or, oddly, checkpointed): undo. */
	st = gw_eng_state_of(api, pid);
	uerr = GW_CU_SUCCESS;
	if (st == GW_CU_STATE_CHECKPOINTED &&
	    gw_eng_restore(api, pid, r, NULL, 0, GW_STEP_RECOVER) == GW_CU_SUCCESS)
		st = GW_CU_STATE_LOCKED;
	if (st == GW_CU_STATE_LOCKED)
		uerr = gw_eng_unlock(api, pid, r, GW_STEP_RECOVER);
	r->state_after = gw_eng_state_of(api, pid);
	if (uerr != GW_CU_SUCCESS)
		return gw_eng_fail(r, false, "checkpoint failed: %s; unlock failed too: %s; process "
			    "is %s", gw_cuda_errname(err, e, sizeof(e)),
			    gw_cuda_errname(uerr, e2, sizeof(e2)),
			    gw_state_name(r->state_after));
	return gw_eng_fail(r, false, "checkpoint failed: %s%s; process left %s",
		    gw_cuda_errname(err, e, sizeof(e)),
		    err == GW_CU_NOT_SUPPORTED ?
		    " (the driver cannot checkpoint this process: managed memory or "
		    "another unsupported feature)" : "",
		    gw_state_name(r->state_after));
}

static int cuda_gpus(const struct gw_cuda_api *api, struct gw_uuid *uuids,
		     char (*pcis)[GW_PCI_LEN], int max);

/*
 * Remember where pid was checkpointed from: the GPU (PCI, UUID, chip,
 * model), every GPU the driver showed it (the old side of a UUID map
 * after a re-plug), and its workload.  The carrying router is added by
 * egpud, which knows it (egpud/replug.c).
 */
void gw_eng_save_record(const struct gw_cuda_api *api, pid_t pid, const struct gw_gpu *src,
			const struct gw_report *r)
{
	char pcis[GW_MAX_GPUS][GW_PCI_LEN];
	struct gw_record rec;
	int n;

	memset(&rec, 0, sizeof(rec));
	rec.pid = pid;
	if (gw_proc_starttime(pid, &rec.starttime))
		return;
	if (src) {
		fill_gpu(rec.pci, rec.uuid, src);
		rec.vendor = src->vendor;
		rec.device = src->device;
		gw_copy(rec.model, sizeof(rec.model), src->model);
	}
	rec.gpu_bytes = r->gpu_bytes;
	n = api ? cuda_gpus(api, rec.seen, pcis, GW_MAX_GPUS) : -ENODEV;
	rec.nseen = n > 0 ? n : 0;
	gw_workload_key(pid, rec.workload, sizeof(rec.workload), NULL);
	gw_record_save(&rec);
}

int gw_engine_checkpoint(pid_t pid, const struct gw_opts *o, struct gw_report *r)
{
	const struct gw_cuda_api *api = NULL;
	const struct gw_gpu *src = NULL;
	struct gw_gpus *gpus;
	double t0 = gw_eng_now_ms();
	int nsrc = 0, rc;

	gw_report_init(r, pid, "checkpoint");
	gpus = calloc(1, sizeof(*gpus));
	if (!gpus)
		return gw_eng_fail(r, true, "out of memory");
	gw_gpus_load(gpus);
	rc = gw_eng_preflight_driver(&api, pid, GW_CUDA_MIN_CHECKPOINT, r);
	if (rc == GW_OK)
		rc = gw_eng_preflight_process(pid, o, gpus, &src, &nsrc, r);
	gw_eng_step_done(r, GW_STEP_PREFLIGHT, t0, rc == GW_OK ? GW_CU_SUCCESS : GW_CU_UNKNOWN);
	if (rc == GW_OK)
		rc = do_checkpoint(api, pid, o, r);
	if (rc == GW_OK) {
		gw_eng_save_record(api, pid, src, r);
		r->ok = true;
	}
	free(gpus);
	return rc;
}

/* The GPUs the driver sees, in its order: UUIDs and normalised PCI addresses. */
static int cuda_gpus(const struct gw_cuda_api *api, struct gw_uuid *uuids,
		     char (*pcis)[GW_PCI_LEN], int max)
{
	int count = 0, i;

	if (api->device_get_count(&count) != GW_CU_SUCCESS || count <= 0)
		return -ENODEV;
	if (count > max)
		return -E2BIG;
	for (i = 0; i < count; i++) {
		char bus[64];
		int dev;

		if (api->device_get(&dev, i) != GW_CU_SUCCESS ||
		    api->device_get_uuid(&uuids[i], dev) != GW_CU_SUCCESS ||
		    api->device_get_pci_bus_id(bus, sizeof(bus), dev) != GW_CU_SUCCESS ||
		    gw_pci_normalise(bus, pcis[i], GW_PCI_LEN))
			return -EIO;
	}
	return count;
}

/*
 * Pairs moving the work of src to dst over every GPU the driver sees, and
 * the single pair src -> dst in one.  When src is no longer among them
 * (its eGPU left and another, or the same on another port, came), the map
 * goes from the GPUs the process saw when it was checkpointed (rec, may
 * be NULL) to those present now.  Returns the count or fails the report.
 */
int gw_eng_make_pairs(const struct gw_cuda_api *api, const char *src_uuid, const char *dst_pci,
		      const struct gw_record *rec, struct gw_gpu_pair *pairs,
		      struct gw_gpu_pair *one, struct gw_report *r)
{
	struct gw_uuid all[GW_MAX_GPUS], src, dst;
	char pcis[GW_MAX_GPUS][GW_PCI_LEN];
	int n, i, d = -1;

	n = cuda_gpus(api, all, pcis, GW_MAX_GPUS);
	if (n < 0) {
		gw_eng_fail(r, true, "cannot list the driver's GPUs (%s)", strerror(-n));
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!strcmp(pcis[i], dst_pci))
			d = i;
	if (d < 0) {
		gw_eng_fail(r, true, "target %s is not a GPU the CUDA driver sees", dst_pci);
		return -1;
	}
	dst = all[d];
	gw_uuid_format(&dst, r->to_uuid, sizeof(r->to_uuid));
	if (gw_uuid_parse(src_uuid, &src)) {
		gw_eng_fail(r, true, "source GPU UUID unknown");
		return -1;
	}
	if (rec && rec->nseen > 0 && !gw_uuid_in(all, n, &src)) {
		n = gw_build_replug_pairs(rec->seen, rec->nseen, all, n, &src, &dst, pairs);
		if (n < 0) {
			gw_eng_fail(r, true, "no UUID map from the GPUs process %d saw onto "
				    "those present: another GPU it used is gone too",
				    (int)r->pid);
			return -1;
		}
	} else {
		n = gw_build_pairs(all, n, &src, &dst, pairs);
	}
	if (n < 0) {
		gw_eng_fail(r, true, "source GPU %s is not among the driver's GPUs", src_uuid);
		return -1;
	}
	one->old_uuid = src;
	one->new_uuid = dst;
	r->pairs = n;
	return n;
}

/* Target checks: exists, not the source, same chip, room for bytes. */
int gw_eng_preflight_target(const struct gw_gpus *gpus, const char *to, const char *src_uuid,
			    unsigned int vendor, unsigned int device, uint64_t bytes,
			    const struct gw_gpu **dstp, struct gw_report *r)
{
	const struct gw_gpu *dst = gw_gpus_find(gpus, to);
	uint64_t free_b = 0, total_b = 0;

	if (!dst)
		return gw_eng_fail(r, true, "target %s is not an NVIDIA GPU the driver reports", to);
	fill_gpu(r->to_pci, r->to_uuid, dst);
	/* By UUID: after a re-plug another GPU may sit at the old address. */
	if (src_uuid[0] && !strcmp(dst->uuid, src_uuid))
		return gw_eng_fail(r, true, "target %s is the GPU the process is on", dst->pci);
	if (vendor && (dst->vendor != vendor || dst->device != device))
		return gw_eng_fail(r, true, "target %s is another chip (%04x:%04x, source %04x:%04x); "
			    "the driver restores only onto the same chip", dst->pci,
			    dst->vendor, dst->device, vendor, device);
	if (!vendor)
		return gw_eng_fail(r, true, "chip of the source GPU unknown; cannot check the target");
	if (gw_nvml_free_mem(dst->pci, &free_b, &total_b))
		return gw_eng_fail(r, true, "cannot read free memory of %s (NVML unavailable)",
			    dst->pci);
	if (bytes > free_b)
		return gw_eng_fail(r, true, "target %s has %" PRIu64 " MiB free, the process needs %"
			    PRIu64 " MiB", dst->pci, free_b >> 20, bytes >> 20);
	*dstp = dst;
	return GW_OK;
}

/*
 * restore (with pairs when n > 0) + unlock; falls back as the rules say.
 * The map names every GPU the driver sees; driver 580.159 took that also
 * for a process started with CUDA_VISIBLE_DEVICES naming one GPU (tested
 * on 2 x H200).  Should a driver want only the process' own GPUs, a full
 * map refused with CUDA_ERROR_INVALID_VALUE (the process stays
 * CHECKPOINTED) is retried once with the single pair in one.
 */
int gw_eng_finish_restore(const struct gw_cuda_api *api, pid_t pid, struct gw_gpu_pair *pairs,
			  int n, struct gw_gpu_pair *one, bool fallback_same,
			  struct gw_report *r)
{
	char e[48], e2[48];
	gw_cures err, err2;

	err = gw_eng_restore(api, pid, r, pairs, n, GW_STEP_RESTORE);
	if (err == GW_CU_INVALID_VALUE && n > 1) {
		err = gw_eng_restore(api, pid, r, one, 1, GW_STEP_RESTORE);
		if (err == GW_CU_SUCCESS)
			r->pairs = 1;
	}
	if (err != GW_CU_SUCCESS) {
		if (n > 0 && fallback_same &&
		    gw_eng_restore(api, pid, r, NULL, 0, GW_STEP_RECOVER) == GW_CU_SUCCESS) {
			err2 = gw_eng_unlock(api, pid, r, GW_STEP_RECOVER);
			r->state_after = gw_eng_state_of(api, pid);
			return gw_eng_fail(r, false, "restore on the target failed: %s; the process "
				    "was restored on its own GPU and is %s",
				    gw_cuda_errname(err, e, sizeof(e)),
				    err2 == GW_CU_SUCCESS ? "running" :
				    gw_state_name(r->state_after));
		}
		r->state_after = gw_eng_state_of(api, pid);
		return gw_eng_fail(r, false, "restore failed: %s; process is %s (restorable: egpuctl "
			    "restore %d [--to GPU])", gw_cuda_errname(err, e, sizeof(e)),
			    gw_state_name(r->state_after), (int)pid);
	}
	err = gw_eng_unlock(api, pid, r, GW_STEP_UNLOCK);
	if (err != GW_CU_SUCCESS) {
		/* One retry: an unlock racing the restore thread's start-up. */
		err2 = gw_eng_unlock(api, pid, r, GW_STEP_UNLOCK);
		if (err2 != GW_CU_SUCCESS) {
			r->state_after = gw_eng_state_of(api, pid);
			return gw_eng_fail(r, false, "unlock failed: %s, %s; process is %s (egpuctl "
				    "restore %d unlocks it)", gw_cuda_errname(err, e, sizeof(e)),
				    gw_cuda_errname(err2, e2, sizeof(e2)),
				    gw_state_name(r->state_after), (int)pid);
		}
	}
	r->state_after = GW_CU_STATE_RUNNING;
	r->ok = true;
	return GW_OK;
}

const char *gw_eng_restore_target(const struct gw_gpus *gpus, const struct gw_opts *o,
				  const struct gw_record *rec)
{
	const struct gw_gpu *g;

	if (!o->to || !rec || !rec->uuid[0])
		return o->to;
	if (o->replug && gw_gpus_find(gpus, rec->uuid))
		return NULL;
	g = gw_gpus_find(gpus, o->to);
	return g && !strcmp(g->uuid, rec->uuid) ? NULL : o->to;
}

int gw_engine_restore(pid_t pid, const struct gw_opts *o, struct gw_report *r)
{
	struct gw_opts eff = *o;
	struct gw_gpu_pair pairs[GW_MAX_GPUS], one;
	const struct gw_cuda_api *api = NULL;
	const struct gw_gpu *dst = NULL, *src;
	struct gw_record rec;
	struct gw_gpus *gpus;
	bool have_rec;
	double t0 = gw_eng_now_ms();
	int rc, n = 0;

	gw_report_init(r, pid, "restore");
	gpus = calloc(1, sizeof(*gpus));
	if (!gpus)
		return gw_eng_fail(r, true, "out of memory");
	gw_gpus_load(gpus);
	have_rec = !gw_record_load(pid, &rec);
	eff.to = gw_eng_restore_target(gpus, o, have_rec ? &rec : NULL);
	o = &eff;
	if (have_rec) {
		gw_copy(r->from_pci, sizeof(r->from_pci), rec.pci);
		gw_copy(r->from_uuid, sizeof(r->from_uuid), rec.uuid);
		r->gpu_bytes = rec.gpu_bytes;
	}
	rc = gw_eng_preflight_driver(&api, pid, o->to ? GW_CUDA_MIN_MIGRATE : GW_CUDA_MIN_CHECKPOINT, r);
	if (rc == GW_OK && r->state_before == GW_CU_STATE_LOCKED) {
		/* A lock left behind (ours or anyone's): unlocking is the restore. */
		gw_eng_step_done(r, GW_STEP_PREFLIGHT, t0, GW_CU_SUCCESS);
		rc = gw_eng_unlock(api, pid, r, GW_STEP_UNLOCK) == GW_CU_SUCCESS ? GW_OK :
			gw_eng_fail(r, false, "unlock failed");
		r->state_after = gw_eng_state_of(api, pid);
		r->ok = rc == GW_OK;
		free(gpus);
		return rc;
	}
	if (rc == GW_OK && r->state_before != GW_CU_STATE_CHECKPOINTED)
		rc = gw_eng_fail(r, true, "process %d is %s, not checkpointed", (int)pid,
			  gw_state_name(r->state_before));
	if (rc == GW_OK && o->to) {
		if (!have_rec)
			rc = gw_eng_fail(r, true, "no record of where process %d was checkpointed "
				  "from; restore it without --to", (int)pid);
		else
			rc = gw_eng_preflight_target(gpus, o->to, rec.uuid, rec.vendor, rec.device,
					      rec.gpu_bytes, &dst, r);
		if (rc == GW_OK) {
			n = gw_eng_make_pairs(api, rec.uuid, dst->pci, &rec, pairs, &one, r);
			if (n < 0)
				rc = GW_FAIL;
		}
	} else if (rc == GW_OK && have_rec && rec.pci[0]) {
		/* The same GPU by UUID: another may sit at its old address now. */
		src = gw_gpus_find(gpus, rec.uuid[0] ? rec.uuid : rec.pci);
		if (!src)
			rc = gw_eng_fail(r, true, "GPU %s the process ran on is gone; restore it with "
				  "--to a GPU of the same chip", rec.pci);
		else
			fill_gpu(r->to_pci, r->to_uuid, src);
	}
	gw_eng_step_done(r, GW_STEP_PREFLIGHT, t0, rc == GW_OK ? GW_CU_SUCCESS : GW_CU_UNKNOWN);
	if (rc == GW_OK)
		rc = gw_eng_finish_restore(api, pid, pairs, n, &one, false, r);
	if (rc == GW_OK)
		gw_record_drop(pid);
	free(gpus);
	return rc;
}

int gw_engine_migrate(pid_t pid, const struct gw_opts *o, struct gw_report *r)
{
	struct gw_gpu_pair pairs[GW_MAX_GPUS], one;
	const struct gw_cuda_api *api = NULL;
	const struct gw_gpu *src = NULL, *dst = NULL;
	struct gw_gpus *gpus;
	double t0 = gw_eng_now_ms();
	int rc, nsrc = 0, n = 0;

	gw_report_init(r, pid, "migrate");
	if (!o->to)
		return gw_eng_fail(r, true, "migrate needs --to PCI|UUID");
	gpus = calloc(1, sizeof(*gpus));
	if (!gpus)
		return gw_eng_fail(r, true, "out of memory");
	gw_gpus_load(gpus);
	rc = gw_eng_preflight_driver(&api, pid, GW_CUDA_MIN_MIGRATE, r);
	if (rc == GW_OK)
		rc = gw_eng_preflight_process(pid, o, gpus, &src, &nsrc, r);
	if (rc == GW_OK && !src)
		rc = gw_eng_fail(r, true, nsrc > 1 ? "process %d uses several GPUs; migrate moves "
			  "one" : "cannot tell which GPU process %d uses", (int)pid);
	if (rc == GW_OK)
		rc = gw_eng_preflight_target(gpus, o->to, src->uuid, src->vendor, src->device,
				      r->gpu_bytes, &dst, r);
	if (rc == GW_OK) {
		n = gw_eng_make_pairs(api, src->uuid, dst->pci, NULL, pairs, &one, r);
		if (n < 0)
			rc = GW_FAIL;
	}
	gw_eng_step_done(r, GW_STEP_PREFLIGHT, t0, rc == GW_OK ? GW_CU_SUCCESS : GW_CU_UNKNOWN);
	if (rc == GW_OK)
		rc = do_checkpoint(api, pid, o, r);
	if (rc == GW_OK) {
		gw_eng_save_record(api, pid, src, r);
		rc = gw_eng_finish_restore(api, pid, pairs, n, &one, true, r);
		if (r->state_after == GW_CU_STATE_RUNNING)
			gw_record_drop(pid);
	}
	free(gpus);
	return rc;
}
