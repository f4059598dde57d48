// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The CUDA driver API for snapshots, found at run time: dlopen() of
 * $EGPUHP_LIBCUDA or "libcuda.so.1" and dlsym() of the entry points, so
 * that libegpu and the programs linking it need no CUDA to build or run.
 *
 * Not gpuwork/cudaapi.c's loader: that one is egpud's (it clears
 * CUDA_VISIBLE_DEVICES to see every GPU, which a library must never do to
 * its host program, and loads the checkpoint API); this one loads the
 * memory, stream and event API a program's own process uses.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cuda_errname.h"
#include "libegpu/snap_internal.h"

static pthread_once_t cuda_once = PTHREAD_ONCE_INIT;
static struct snap_cuda cuda;
static bool cuda_ok;
static char cuda_why[200];

/* Assign dlsym() to a function pointer without a cast between the two. */
#define LOAD(field, name) do {						\
		void *p_ = dlsym(h, name);				\
		memcpy(&cuda.field, &p_, sizeof(p_));			\
		if (!p_ && !missing[0])					\
			snprintf(missing, sizeof(missing), "%s", name);	\
	} while (0)

static void load(void)
{
	const char *lib = getenv("EGPUHP_LIBCUDA");
	char missing[64] = "";
	snap_cures err;
	void *h;

	if (!lib || !*lib)
		lib = "libcuda.so.1";
	h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(cuda_why, sizeof(cuda_why), "no CUDA driver: %s", dlerror());
		return;
	}
	LOAD(init, "cuInit");
	LOAD(device_get, "cuDeviceGet");
	LOAD(device_get_pci_bus_id, "cuDeviceGetPCIBusId");
	LOAD(get_error_name, "cuGetErrorName");
	LOAD(primary_ctx_retain, "cuDevicePrimaryCtxRetain");
	LOAD(primary_ctx_release, "cuDevicePrimaryCtxRelease_v2");
	LOAD(ctx_get_current, "cuCtxGetCurrent");
	LOAD(ctx_get_device, "cuCtxGetDevice");
	LOAD(ctx_push, "cuCtxPushCurrent_v2");
	LOAD(ctx_pop, "cuCtxPopCurrent_v2");
	LOAD(ctx_synchronize, "cuCtxSynchronize");
	LOAD(mem_alloc, "cuMemAlloc_v2");
	LOAD(mem_free, "cuMemFree_v2");
	LOAD(mem_host_alloc, "cuMemHostAlloc");
	LOAD(mem_free_host, "cuMemFreeHost");
	LOAD(stream_create, "cuStreamCreate");
	LOAD(stream_destroy, "cuStreamDestroy_v2");
	LOAD(stream_synchronize, "cuStreamSynchronize");
	LOAD(stream_wait_event, "cuStreamWaitEvent");
	LOAD(event_create, "cuEventCreate");
	LOAD(event_destroy, "cuEventDestroy_v2");
	LOAD(event_record, "cuEventRecord");
	LOAD(event_query, "cuEventQuery");
	LOAD(event_synchronize, "cuEventSynchronize");
	LOAD(memcpy_dtoh_async, "cuMemcpyDtoHAsync_v2");
	LOAD(memcpy_htod_async, "cuMemcpyHtoDAsync_v2");
	if (missing[0]) {
		snprintf(cuda_why, sizeof(cuda_why), "%s lacks %s", lib, missing);
		dlclose(h);
		return;
	}
	err = cuda.init(0);
	if (err != SNAP_CU_SUCCESS) {
		char b[64];

		snprintf(cuda_why, sizeof(cuda_why), "cuInit: %s",
			 snap_cuda_errname(&cuda, err, b, sizeof(b)));
		dlclose(h);
		return;
	}
	/* The handle stays open: the driver is the process's from now on. */
	cuda_ok = true;
}

const struct snap_cuda *snap_cuda_get(char *why, size_t len)
{
	pthread_once(&cuda_once, load);
	if (cuda_ok)
		return &cuda;
	snprintf(why, len, "%s", cuda_why);
	return NULL;
}

int snap_cuda_errno(snap_cures err)
{
	switch (err) {
	case SNAP_CU_SUCCESS:
		return 0;
	case 1:		/* CUDA_ERROR_INVALID_VALUE */
		return -EINVAL;
	case 2:		/* CUDA_ERROR_OUT_OF_MEMORY */
		return -ENOMEM;
	case 3:		/* CUDA_ERROR_NOT_INITIALIZED */
	case 4:		/* CUDA_ERROR_DEINITIALIZED */
	case 46:	/* CUDA_ERROR_DEVICE_UNAVAILABLE */
	case 100:	/* CUDA_ERROR_NO_DEVICE */
	case 101:	/* CUDA_ERROR_INVALID_DEVICE */
	case 214:	/* CUDA_ERROR_ECC_UNCORRECTABLE */
	case 700:	/* CUDA_ERROR_ILLEGAL_ADDRESS */
	case 709:	/* CUDA_ERROR_CONTEXT_IS_DESTROYED */
	case 719:	/* CUDA_ERROR_LAUNCH_FAILED */
		return -ENODEV;
	case SNAP_CU_NOT_READY:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

const char *snap_cuda_errname(const struct snap_cuda *cu, snap_cures err, char *buf, size_t len)
{
	return egpu_cuda_errname(err, cu ? cu->get_error_name : NULL, buf, len);
}
