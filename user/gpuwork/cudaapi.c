// SPDX-License-Identifier: GPL-2.0
/*
 * The CUDA driver API, found at run time: dlopen("libcuda.so.1") (or
 * $EGPUHP_LIBCUDA) and dlsym() of the few entry points the engine uses.
 * The checkpoint entry points exist from driver 570 on; without them the
 * engine refuses with "driver too old".  Nothing here needs CUDA headers:
 * the argument layouts are declared in gw_internal.h after the driver ABI.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cuda_errname.h"
#include "gpuwork/gw_internal.h"

static const struct gw_cuda_api *override_api;
static struct gw_cuda_api real_api;
static bool real_loaded;
static char real_why[160];

void gw_cuda_override(const struct gw_cuda_api *api)
{
	override_api = api;
}

static void *sym(void *h, const char *name)
{
	return dlsym(h, name);
}

/* Assign dlsym() to a function pointer without tripping -Wpedantic casts. */
#define LOAD(field, name) do {						\
		void *p_ = sym(h, name);				\
		memcpy(&real_api.field, &p_, sizeof(p_));		\
	} while (0)

static void load_real(void)
{
	const char *lib = getenv("EGPUHP_LIBCUDA");
	gw_cures err;
	void *h;

	real_loaded = true;
	/*
	 * The engine must see every GPU the driver knows (a restore map has
	 * to cover all of them), whatever the environment asked for.
	 */
	unsetenv("CUDA_VISIBLE_DEVICES");
	h = dlopen(lib && *lib ? lib : "libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(real_why, sizeof(real_why), "no NVIDIA CUDA driver (%s)",
			 lib && *lib ? lib : "libcuda.so.1 not found");
		return;
	}
	LOAD(init, "cuInit");
	LOAD(driver_get_version, "cuDriverGetVersion");
	LOAD(device_get_count, "cuDeviceGetCount");
	LOAD(device_get, "cuDeviceGet");
	LOAD(device_get_uuid, "cuDeviceGetUuid_v2");
	if (!real_api.device_get_uuid)
		LOAD(device_get_uuid, "cuDeviceGetUuid");
	LOAD(device_get_pci_bus_id, "cuDeviceGetPCIBusId");
	LOAD(get_error_name, "cuGetErrorName");
	LOAD(get_state, "cuCheckpointProcessGetState");
	LOAD(lock, "cuCheckpointProcessLock");
	LOAD(checkpoint, "cuCheckpointProcessCheckpoint");
	LOAD(restore, "cuCheckpointProcessRestore");
	LOAD(unlock, "cuCheckpointProcessUnlock");
	if (!real_api.init || !real_api.driver_get_version || !real_api.device_get_count ||
	    !real_api.device_get || !real_api.device_get_uuid ||
	    !real_api.device_get_pci_bus_id) {
		snprintf(real_why, sizeof(real_why), "libcuda lacks basic entry points");
		memset(&real_api, 0, sizeof(real_api));
		return;
	}
	/* Restore needs an initialised driver in the restoring process. */
	err = real_api.init(0);
	if (err != GW_CU_SUCCESS) {
		char b[48];

		snprintf(real_why, sizeof(real_why), "cuInit failed: %s",
			 gw_cuda_errname(err, b, sizeof(b)));
		memset(&real_api, 0, sizeof(real_api));
		return;
	}
	real_why[0] = '\0';
}

const struct gw_cuda_api *gw_cuda_get(char *why, size_t len)
{
	if (override_api)
		return override_api;
	if (!real_loaded)
		load_real();
	if (!real_api.init) {
		if (why)
			gw_copy(why, len, real_why);
		return NULL;
	}
	return &real_api;
}

const char *gw_cuda_errname(gw_cures err, char *buf, size_t len)
{
	const struct gw_cuda_api *api = override_api ? override_api :
		(real_api.init ? &real_api : NULL);

	return egpu_cuda_errname(err, api ? api->get_error_name : NULL, buf, len);
}
