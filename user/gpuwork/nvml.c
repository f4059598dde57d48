// SPDX-License-Identifier: GPL-2.0
/*
 * NVML, found at run time (libnvidia-ml.so.1, or $EGPUHP_LIBNVML): free
 * device memory of a GPU and the device memory one process holds on it.
 * NVML creates no CUDA context, so asking costs the GPU nothing.  It is
 * initialised once and kept (nvmlInit costs tens of milliseconds): only the
 * engine's helper process or a short-lived egpuctl --direct ever loads it,
 * never egpud itself.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gpuwork/gw_internal.h"

/* nvmlProcessInfo_t as filled by the _v3 process queries. */
struct nvml_proc_info {
	unsigned int pid;
	unsigned long long used_gpu_memory;
	unsigned int gpu_instance_id;
	unsigned int compute_instance_id;
};

/* nvmlMemory_t */
struct nvml_memory {
	unsigned long long total, free, used;
};

#define NVML_VALUE_NOT_AVAILABLE	(~0ULL)
#define NVML_ERROR_INSUFFICIENT_SIZE	7

static const struct gw_nvml_api *override_api;
static struct gw_nvml_api real_api;
static bool real_loaded;

void gw_nvml_override(const struct gw_nvml_api *api)
{
	override_api = api;
}

#define LOAD(field, name) do {						\
		void *p_ = dlsym(h, name);				\
		memcpy(&real_api.field, &p_, sizeof(p_));		\
		if (!p_)						\
			ok = false;					\
	} while (0)

static const struct gw_nvml_api *nvml(void)
{
	const char *lib;
	bool ok = true;
	void *h;

	if (override_api)
		return override_api;
	if (real_loaded)
		return real_api.init ? &real_api : NULL;
	real_loaded = true;
	lib = getenv("EGPUHP_LIBNVML");
	h = dlopen(lib && *lib ? lib : "libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return NULL;
	LOAD(init, "nvmlInit_v2");
	LOAD(shutdown, "nvmlShutdown");
	LOAD(get_handle_by_pci, "nvmlDeviceGetHandleByPciBusId_v2");
	LOAD(get_memory_info, "nvmlDeviceGetMemoryInfo");
	LOAD(get_compute_procs, "nvmlDeviceGetComputeRunningProcesses_v3");
	if (!ok) {
		memset(&real_api, 0, sizeof(real_api));
		return NULL;
	}
	return &real_api;
}

static int open_dev(const struct gw_nvml_api *api, const char *pci, void **dev)
{
	static const struct gw_nvml_api *inited;

	if (inited != api) {
		if (api->init())
			return -ENODEV;
		inited = api;
	}
	return api->get_handle_by_pci(pci, dev) ? -ENODEV : 0;
}

int gw_nvml_free_mem(const char *pci, uint64_t *free_bytes, uint64_t *total_bytes)
{
	const struct gw_nvml_api *api = nvml();
	uint64_t mem[3];
	void *dev;
	int err;

	if (!api)
		return -ENOENT;
	err = open_dev(api, pci, &dev);
	if (err)
		return err;
	err = api->get_memory_info(dev, mem) ? -EIO : 0;
	if (err)
		return err;
	*total_bytes = mem[0];
	*free_bytes = mem[1];
	return 0;
}

int gw_nvml_proc_mem(const char *pci, pid_t pid, uint64_t *bytes)
{
	const struct gw_nvml_api *api = nvml();
	struct nvml_proc_info *infos = NULL;
	unsigned int count = 0, i;
	void *dev;
	int err, rc;

	if (!api)
		return -ENOENT;
	err = open_dev(api, pci, &dev);
	if (err)
		return err;
	*bytes = 0;
	rc = api->get_compute_procs(dev, &count, NULL);
	if (rc == NVML_ERROR_INSUFFICIENT_SIZE || (rc == 0 && count)) {
		count += 8;	/* room for processes that start meanwhile */
		infos = calloc(count, sizeof(*infos));
		if (!infos)
			return -ENOMEM;
		rc = api->get_compute_procs(dev, &count, infos);
	}
	if (rc) {
		err = -EIO;
	} else {
		for (i = 0; i < count; i++)
			if ((pid_t)infos[i].pid == pid &&
			    infos[i].used_gpu_memory != NVML_VALUE_NOT_AVAILABLE)
				*bytes += infos[i].used_gpu_memory;
	}
	free(infos);
	return err;
}
