// SPDX-License-Identifier: GPL-2.0
/*
 * A fake CUDA driver and NVML for gpuwork's unit tests.  The checkpoint
 * calls follow the real driver's state rules (RUNNING -> LOCKED ->
 * CHECKPOINTED -> LOCKED -> RUNNING; ILLEGAL_STATE otherwise; restore maps
 * must be a full permutation of the driver's GPUs, else INVALID_VALUE;
 * managed memory: NOT_SUPPORTED with the process left LOCKED), and any
 * call can be made to fail with any CUresult.
 */
#include <stdio.h>
#include <string.h>

#include "helpers/gw_fake.h"

struct fake_cuda fake_cuda;

static void logc(const char *what)
{
	size_t l = strlen(fake_cuda.log);

	snprintf(fake_cuda.log + l, sizeof(fake_cuda.log) - l, "%s%s", l ? " " : "", what);
}

static struct fake_cuda_proc *find(int pid)
{
	int i;

	for (i = 0; i < fake_cuda.nprocs; i++)
		if (fake_cuda.proc[i].pid == pid)
			return &fake_cuda.proc[i];
	return NULL;
}

/* Injected error for this call, if any (consumed), or the process' own. */
static int injected(enum fake_cuda_call c, const struct fake_cuda_proc *p)
{
	int e;

	fake_cuda.calls[c]++;
	if (!fake_cuda.nerr[c])
		return p ? p->fail[c] : 0;
	e = fake_cuda.err[c][0];
	memmove(&fake_cuda.err[c][0], &fake_cuda.err[c][1],
		sizeof(int) * (FAKE_MAX_ERRS - 1));
	fake_cuda.nerr[c]--;
	return e;
}

void fake_cuda_inject(enum fake_cuda_call call, int err)
{
	if (fake_cuda.nerr[call] < FAKE_MAX_ERRS)
		fake_cuda.err[call][fake_cuda.nerr[call]++] = err;
}

static gw_cures f_init(unsigned int flags)
{
	return GW_CU_SUCCESS;
}

static gw_cures f_version(int *v)
{
	*v = fake_cuda.version;
	return GW_CU_SUCCESS;
}

static gw_cures f_count(int *n)
{
	*n = fake_cuda.ngpus;
	return GW_CU_SUCCESS;
}

static gw_cures f_get(int *dev, int ordinal)
{
	if (ordinal < 0 || ordinal >= fake_cuda.ngpus)
		return GW_CU_INVALID_DEVICE;
	*dev = ordinal;
	return GW_CU_SUCCESS;
}

static gw_cures f_uuid(struct gw_uuid *u, int dev)
{
	*u = fake_cuda.uuid[dev];
	return GW_CU_SUCCESS;
}

static gw_cures f_busid(char *buf, int len, int dev)
{
	unsigned int b;

	/* The driver's own spelling: upper case, 8-digit domain. */
	if (sscanf(fake_cuda.pci[dev], "%*x:%x", &b) != 1)
		return GW_CU_INVALID_DEVICE;
	snprintf(buf, len, "00000000:%02X:00.0", b);
	return GW_CU_SUCCESS;
}

static gw_cures f_errname(gw_cures e, const char **name)
{
	return GW_CU_INVALID_VALUE;
}

static gw_cures f_state(int pid, int *st)
{
	struct fake_cuda_proc *p = find(pid);
	int e = injected(FAKE_CU_GET_STATE, p);

	logc("state");
	if (e)
		return e;
	if (!p)
		return GW_CU_NOT_INITIALIZED;
	*st = p->state;
	return GW_CU_SUCCESS;
}

static gw_cures f_lock(int pid, struct gw_cu_lock_args *a)
{
	struct fake_cuda_proc *p = find(pid);
	int e = injected(FAKE_CU_LOCK, p);

	logc("lock");
	fake_cuda.last_lock_timeout = a->timeout_ms;
	if (e && fake_cuda.lock_error_after_locking && p && p->state == GW_CU_STATE_RUNNING)
		p->state = GW_CU_STATE_LOCKED;
	if (e)
		return e;
	if (!p)
		return GW_CU_INVALID_VALUE;
	if (p->state != GW_CU_STATE_RUNNING)
		return GW_CU_ILLEGAL_STATE;
	p->state = GW_CU_STATE_LOCKED;
	return GW_CU_SUCCESS;
}

/*
 * The start of a call that moves pid on from state from: logged, then the
 * injected error, an unknown pid or another state refused; *pp its process.
 */
static gw_cures f_enter(int pid, enum fake_cuda_call c, const char *what, int from,
			struct fake_cuda_proc **pp)
{
	struct fake_cuda_proc *p = find(pid);
	int e = injected(c, p);

	logc(what);
	*pp = p;
	if (e)
		return e;
	if (!p)
		return GW_CU_INVALID_VALUE;
	if (p->state != from)
		return GW_CU_ILLEGAL_STATE;
	return GW_CU_SUCCESS;
}

static gw_cures f_checkpoint(int pid, struct gw_cu_plain_args *a)
{
	struct fake_cuda_proc *p;
	gw_cures e = f_enter(pid, FAKE_CU_CHECKPOINT, "ckpt", GW_CU_STATE_LOCKED, &p);

	if (e)
		return e;
	if (p->managed)
		return GW_CU_NOT_SUPPORTED;
	p->state = GW_CU_STATE_CHECKPOINTED;
	p->nseen = fake_cuda.ngpus;
	memcpy(p->seen, fake_cuda.uuid, sizeof(p->seen));
	p->on = fake_cuda.uuid[p->gpu];
	return GW_CU_SUCCESS;
}

static int uuid_idx(const struct gw_uuid *u)
{
	int i;

	for (i = 0; i < fake_cuda.ngpus; i++)
		if (gw_uuid_equal(u, &fake_cuda.uuid[i]))
			return i;
	return -1;
}

static int uuid_in(const struct gw_uuid *v, int n, const struct gw_uuid *u)
{
	int i;

	for (i = 0; i < n; i++)
		if (gw_uuid_equal(u, &v[i]))
			return i;
	return -1;
}

static gw_cures f_restore(int pid, struct gw_cu_restore_args *a)
{
	struct fake_cuda_proc *p = find(pid);
	int e = injected(FAKE_CU_RESTORE, p);
	bool seen_old[FAKE_MAX_GPUS] = { false }, seen_new[FAKE_MAX_GPUS] = { false };
	int i, target = p ? p->gpu : 0, nseen;
	static const char zero[sizeof(a->reserved)];
	const struct gw_uuid *seen;
	struct gw_uuid on;

	logc(a->gpu_pairs_count ? "restore-map" : "restore");
	fake_cuda.last_pairs_count = (int)a->gpu_pairs_count;
	if (a->gpu_pairs_count <= FAKE_MAX_GPUS && a->gpu_pairs)
		memcpy(fake_cuda.last_pairs, a->gpu_pairs,
		       a->gpu_pairs_count * sizeof(*a->gpu_pairs));
	if (e)
		return e;
	if (!p)
		return GW_CU_INVALID_VALUE;
	if (p->state != GW_CU_STATE_CHECKPOINTED)
		return GW_CU_ILLEGAL_STATE;
	if (memcmp(a->reserved, zero, sizeof(zero)) || a->reserved1)
		return GW_CU_INVALID_VALUE;
	/* checkpointed by a test's hand, not through f_checkpoint: as now */
	nseen = p->nseen ? p->nseen : fake_cuda.ngpus;
	seen = p->nseen ? p->seen : fake_cuda.uuid;
	on = p->nseen ? p->on : fake_cuda.uuid[p->gpu];
	if (a->gpu_pairs_count && p->sees_one_gpu) {
		/* Its only GPU, mapped onto another. */
		if (a->gpu_pairs_count != 1 || !a->gpu_pairs ||
		    uuid_idx(&a->gpu_pairs[0].old_uuid) != p->gpu ||
		    uuid_idx(&a->gpu_pairs[0].new_uuid) < 0)
			return GW_CU_INVALID_VALUE;
		target = uuid_idx(&a->gpu_pairs[0].new_uuid);
	} else if (a->gpu_pairs_count) {
		/*
		 * A full map of every GPU the process saw when checkpointed
		 * (the real driver refuses a partial one) onto distinct GPUs
		 * present now.
		 */
		if ((int)a->gpu_pairs_count != nseen || !a->gpu_pairs)
			return GW_CU_INVALID_VALUE;
		for (i = 0; i < nseen; i++) {
			int o = uuid_in(seen, nseen, &a->gpu_pairs[i].old_uuid);
			int n = uuid_idx(&a->gpu_pairs[i].new_uuid);

			if (o < 0 || n < 0 || seen_old[o] || seen_new[n])
				return GW_CU_INVALID_VALUE;
			seen_old[o] = seen_new[n] = true;
			if (gw_uuid_equal(&seen[o], &on))
				target = n;
		}
	} else {
		/* In place: its GPU must be back (by UUID; the address may differ). */
		target = uuid_idx(&on);
		if (target < 0)
			return GW_CU_INVALID_DEVICE;
	}
	p->gpu = target;
	p->state = GW_CU_STATE_LOCKED;
	return GW_CU_SUCCESS;
}

static gw_cures f_unlock(int pid, struct gw_cu_plain_args *a)
{
	struct fake_cuda_proc *p;
	gw_cures e = f_enter(pid, FAKE_CU_UNLOCK, "unlock", GW_CU_STATE_LOCKED, &p);

	if (e)
		return e;
	p->state = GW_CU_STATE_RUNNING;
	return GW_CU_SUCCESS;
}

static struct gw_cuda_api fake_api = {
	.init = f_init,
	.driver_get_version = f_version,
	.device_get_count = f_count,
	.device_get = f_get,
	.device_get_uuid = f_uuid,
	.device_get_pci_bus_id = f_busid,
	.get_error_name = f_errname,
	.get_state = f_state,
	.lock = f_lock,
	.checkpoint = f_checkpoint,
	.restore = f_restore,
	.unlock = f_unlock,
};

/* --- NVML ------------------------------------------------------------------ */

static int n_init(void)
{
	return fake_cuda.nvml_missing ? 9 : 0;
}

static int n_shutdown(void)
{
	return 0;
}

static int n_handle(const char *pci, void **dev)
{
	char norm[GW_PCI_LEN];
	int i;

	if (fake_cuda.nvml_missing)
		return 9;	/* NVML_ERROR_DRIVER_NOT_LOADED */
	if (gw_pci_normalise(pci, norm, sizeof(norm)))
		return 2;
	for (i = 0; i < fake_cuda.ngpus; i++)
		if (!strcmp(norm, fake_cuda.pci[i])) {
			*dev = &fake_cuda.pci[i];
			return 0;
		}
	return 6;	/* NVML_ERROR_NOT_FOUND */
}

static int dev_index(void *dev)
{
	return (int)(((char (*)[GW_PCI_LEN])dev) - fake_cuda.pci);
}

static int n_mem(void *dev, uint64_t mem[3])
{
	int i = dev_index(dev);

	mem[0] = 141ULL << 30;
	mem[1] = fake_cuda.free_mem[i];
	mem[2] = mem[0] - mem[1];
	return 0;
}

struct fake_nvml_proc {
	unsigned int pid;
	unsigned long long used;
	unsigned int gi, ci;
};

static int n_procs(void *dev, unsigned int *count, void *infos)
{
	struct fake_nvml_proc *out = infos;
	unsigned int n = 0, i;
	int g = dev_index(dev);

	for (i = 0; i < (unsigned int)fake_cuda.nprocs; i++)
		if (fake_cuda.proc[i].gpu == g &&
		    fake_cuda.proc[i].state != GW_CU_STATE_CHECKPOINTED)
			n++;
	if (!infos || *count < n) {
		*count = n;
		return n ? 7 : 0;	/* NVML_ERROR_INSUFFICIENT_SIZE */
	}
	n = 0;
	for (i = 0; i < (unsigned int)fake_cuda.nprocs; i++) {
		const struct fake_cuda_proc *p = &fake_cuda.proc[i];

		if (p->gpu != g || p->state == GW_CU_STATE_CHECKPOINTED)
			continue;
		out[n].pid = (unsigned int)p->pid;
		out[n].used = p->bytes;
		n++;
	}
	*count = n;
	return 0;
}

static struct gw_nvml_api fake_nvml = {
	.init = n_init,
	.shutdown = n_shutdown,
	.get_handle_by_pci = n_handle,
	.get_memory_info = n_mem,
	.get_compute_procs = n_procs,
};

/* --- set-up ------------------------------------------------------------------- */

void fake_cuda_reset(int ngpus)
{
	int i;

	memset(&fake_cuda, 0, sizeof(fake_cuda));
	fake_cuda.version = 13000;
	fake_cuda.ngpus = ngpus;
	for (i = 0; i < ngpus; i++) {
		gw_uuid_parse(fake_cuda_uuid_str(i), &fake_cuda.uuid[i]);
		snprintf(fake_cuda.pci[i], GW_PCI_LEN, "0000:%02x:00.0", (unsigned char)(i + 1));
		fake_cuda.free_mem[i] = 80ULL << 30;
	}
	fake_api.get_state = f_state;
	fake_api.lock = f_lock;
	fake_api.checkpoint = f_checkpoint;
	fake_api.restore = f_restore;
	fake_api.unlock = f_unlock;
}

const char *fake_cuda_uuid_str(int i)
{
	static char buf[FAKE_MAX_GPUS][GW_UUID_LEN];

	snprintf(buf[i], GW_UUID_LEN, "GPU-%08x-1111-2222-3333-44445555%04x", 0xa0 + i, i);
	return buf[i];
}

struct fake_cuda_proc *fake_cuda_add_proc(int pid, int gpu, uint64_t bytes)
{
	struct fake_cuda_proc *p = &fake_cuda.proc[fake_cuda.nprocs++];

	p->pid = pid;
	p->gpu = gpu;
	p->bytes = bytes;
	p->state = GW_CU_STATE_RUNNING;
	return p;
}

void fake_cuda_install(void)
{
	if (fake_cuda.no_checkpoint_api) {
		fake_api.get_state = NULL;
		fake_api.lock = NULL;
		fake_api.checkpoint = NULL;
		fake_api.restore = NULL;
		fake_api.unlock = NULL;
	}
	gw_cuda_override(&fake_api);
	gw_nvml_override(&fake_nvml);
}

void fake_cuda_uninstall(void)
{
	gw_cuda_override(NULL);
	gw_nvml_override(NULL);
}
