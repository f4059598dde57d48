// SPDX-License-Identifier: GPL-2.0
/*
 * FAKE CUDA driver: initialisation, devices, primary contexts, error
 * names, and the failure injection every entry point goes through.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakecuda.h"

#define FC_MAX_INJECT	64

struct fc_injection {
	char name[48];
	unsigned long at;	/* fails when the call count reaches this */
	fc_result err;
};

struct fc_counter {
	char name[48];
	unsigned long calls;
};

static pthread_mutex_t fc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fc_once = PTHREAD_ONCE_INIT;
static struct fc_device devices[FC_MAX_DEVICES];
static struct fc_ctx primary[FC_MAX_DEVICES];
static int ndevices;
static bool initialised;
static struct fc_injection inject[FC_MAX_INJECT];
static int ninject;
static struct fc_counter counters[128];
static int ncounters;
static __thread struct fc_ctx *current;

/* "cuMemAlloc_v2" counts as "cuMemAlloc". */
static void base_name(const char *name, char *out, size_t len)
{
	size_t n = strlen(name);

	if (n > 3 && !strcmp(name + n - 3, "_v2"))
		n -= 3;
	if (n >= len)
		n = len - 1;
	memcpy(out, name, n);
	out[n] = '\0';
}

static struct fc_counter *counter(const char *base)
{
	int i;

	for (i = 0; i < ncounters; i++)
		if (!strcmp(counters[i].name, base))
			return &counters[i];
	if (ncounters == (int)(sizeof(counters) / sizeof(counters[0])))
		return NULL;
	snprintf(counters[ncounters].name, sizeof(counters[0].name), "%s", base);
	counters[ncounters].calls = 0;
	return &counters[ncounters++];
}

static int add_injection(const char *name, unsigned long at, fc_result err)
{
	if (ninject == FC_MAX_INJECT)
		return -1;
	base_name(name, inject[ninject].name, sizeof(inject[0].name));
	inject[ninject].at = at;
	inject[ninject].err = err;
	ninject++;
	return 0;
}

/* A UUID from the PCI address: the same address always gives the same one. */
static void derive_uuid(const char *pci, unsigned char uuid[16])
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */
	int i;

	for (i = 0; i < 16; i++) {
		const char *p;

		for (p = pci; *p; p++)
			h = (h ^ (unsigned char)*p ^ (uint64_t)i) * 1099511628211ull;
		uuid[i] = (unsigned char)(h >> 32);
	}
}

static void load_env(void)
{
	const char *env = getenv("FAKECUDA_DEVICES");
	char list[256], *save = NULL, *tok;

	snprintf(list, sizeof(list), "%s", env && *env ? env : "0000:05:00.0");
	for (tok = strtok_r(list, ",", &save); tok && ndevices < FC_MAX_DEVICES;
	     tok = strtok_r(NULL, ",", &save)) {
		struct fc_device *d = &devices[ndevices];

		snprintf(d->pci, sizeof(d->pci), "%s", tok);
		derive_uuid(d->pci, d->uuid);
		primary[ndevices].device = ndevices;
		ndevices++;
	}
	env = getenv("FAKECUDA_FAIL");
	snprintf(list, sizeof(list), "%s", env ? env : "");
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char name[48];
		unsigned long nth;
		int err = FC_ERROR_UNKNOWN;

		if (sscanf(tok, "%47[^:]:%lu:%d", name, &nth, &err) >= 2 && nth > 0)
			add_injection(name, nth, err);
		else
			fprintf(stderr, "libcuda-fake: FAKECUDA_FAIL: ignoring \"%s\"\n", tok);
	}
}

static void once(void)
{
	load_env();
}

int fc_device_count(void)
{
	pthread_once(&fc_once, once);
	return ndevices;
}

struct fc_device *fc_device_at(int ordinal)
{
	pthread_once(&fc_once, once);
	return ordinal >= 0 && ordinal < ndevices ? &devices[ordinal] : NULL;
}

struct fc_ctx *fc_primary_ctx(int ordinal)
{
	return fc_device_at(ordinal) ? &primary[ordinal] : NULL;
}

struct fc_ctx *fc_current(void)
{
	return current;
}

bool fc_initialised(void)
{
	bool r;

	pthread_mutex_lock(&fc_lock);
	r = initialised;
	pthread_mutex_unlock(&fc_lock);
	return r;
}

fc_result fc_call(const char *name)
{
	char base[48];
	struct fc_counter *c;
	fc_result err = 0;
	int i;

	pthread_once(&fc_once, once);
	base_name(name, base, sizeof(base));
	pthread_mutex_lock(&fc_lock);
	c = counter(base);
	if (c)
		c->calls++;
	for (i = 0; c && i < ninject; i++) {
		if (strcmp(inject[i].name, base) || inject[i].at != c->calls)
			continue;
		err = inject[i].err;
		inject[i] = inject[--ninject];
		break;
	}
	if (!err && !initialised && strcmp(base, "cuInit") && strcmp(base, "cuGetErrorName") &&
	    strcmp(base, "cuDriverGetVersion"))
		err = FC_ERROR_NOT_INITIALIZED;
	pthread_mutex_unlock(&fc_lock);
	return err;
}

fc_result fc_lost(int ordinal)
{
	fc_result r;

	if (!fc_device_at(ordinal))
		return FC_ERROR_INVALID_DEVICE;
	pthread_mutex_lock(&fc_lock);
	r = devices[ordinal].lost;
	pthread_mutex_unlock(&fc_lock);
	return r;
}

FC_EXPORT int fakecuda_fail(const char *name, unsigned int nth, int err)
{
	char base[48];
	struct fc_counter *c;
	int i, r = 0;

	pthread_once(&fc_once, once);
	base_name(name, base, sizeof(base));
	pthread_mutex_lock(&fc_lock);
	if (!nth) {
		for (i = ninject - 1; i >= 0; i--)
			if (!strcmp(inject[i].name, base))
				inject[i] = inject[--ninject];
	} else {
		c = counter(base);
		r = c ? add_injection(base, c->calls + nth, err) : -1;
	}
	pthread_mutex_unlock(&fc_lock);
	return r;
}

FC_EXPORT unsigned long fakecuda_calls(const char *name)
{
	char base[48];
	unsigned long n = 0;
	int i;

	base_name(name, base, sizeof(base));
	pthread_mutex_lock(&fc_lock);
	for (i = 0; i < ncounters; i++)
		if (!strcmp(counters[i].name, base))
			n = counters[i].calls;
	pthread_mutex_unlock(&fc_lock);
	return n;
}

FC_EXPORT void fakecuda_lose(int ordinal, int err)
{
	if (!fc_device_at(ordinal))
		return;
	pthread_mutex_lock(&fc_lock);
	devices[ordinal].lost = err;
	pthread_mutex_unlock(&fc_lock);
	fc_memory_wake();
}

FC_EXPORT void fakecuda_reset(void)
{
	int i;

	pthread_once(&fc_once, once);
	pthread_mutex_lock(&fc_lock);
	ninject = 0;
	ncounters = 0;
	for (i = 0; i < ndevices; i++)
		devices[i].lost = 0;
	pthread_mutex_unlock(&fc_lock);
	fc_memory_wake();
}

/* --- the driver's entry points ------------------------------------------ */

FC_EXPORT fc_result cuInit(unsigned int flags)
{
	fc_result r = fc_call("cuInit");

	if (r)
		return r;
	if (flags)
		return FC_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fc_lock);
	initialised = true;
	pthread_mutex_unlock(&fc_lock);
	return FC_SUCCESS;
}

FC_EXPORT fc_result cuDriverGetVersion(int *version)
{
	fc_result r = fc_call("cuDriverGetVersion");

	if (r)
		return r;
	if (!version)
		return FC_ERROR_INVALID_VALUE;
	*version = 13000;
	return FC_SUCCESS;
}

FC_EXPORT fc_result cuDeviceGetCount(int *count)
{
	fc_result r = fc_call("cuDeviceGetCount");

	if (r)
		return r;
	if (!count)
		return FC_ERROR_INVALID_VALUE;
	*count = fc_device_count();
	return FC_SUCCESS;
}

FC_EXPORT fc_result cuDeviceGet(int *dev, int ordinal)
{
	fc_result r = fc_call("cuDeviceGet");

	if (r)
		return r;
	if (!dev)
		return FC_ERROR_INVALID_VALUE;
	if (!fc_device_at(ordinal))
		return FC_ERROR_INVALID_DEVICE;
	*dev = ordinal;
	return FC_SUCCESS;
}

static fc_result get_uuid(const char *name, unsigned char *uuid, int dev)
{
	fc_result r = fc_call(name);

	if (r)
		return r;
	if (!uuid)
		return FC_ERROR_INVALID_VALUE;
	if (!fc_device_at(dev))
		return FC_ERROR_INVALID_DEVICE;
	memcpy(uuid, fc_device_at(dev)->uuid, 16);
	return FC_SUCCESS;
}

FC_EXPORT fc_result cuDeviceGetUuid(unsigned char *uuid, int dev)
{
	return get_uuid("cuDeviceGetUuid", uuid, dev);
}

FC_EXPORT fc_result cuDeviceGetUuid_v2(unsigned char *uuid, int dev)
{
	return get_uuid("cuDeviceGetUuid_v2", uuid, dev);
}

FC_EXPORT fc_result cuDeviceGetPCIBusId(char *buf, int len, int dev)
{
	fc_result r = fc_call("cuDeviceGetPCIBusId");

	if (r)
		return r;
	if (!buf || len <= 0)
		return FC_ERROR_INVALID_VALUE;
	if (!fc_device_at(dev))
		return FC_ERROR_INVALID_DEVICE;
	snprintf(buf, (size_t)len, "%s", fc_device_at(dev)->pci);
	return FC_SUCCESS;
}

FC_EXPORT fc_result cuGetErrorName(fc_result err, const char **name)
{
	static const struct { fc_result v; const char *n; } names[] = {
		{ FC_SUCCESS, "CUDA_SUCCESS" },
		{ FC_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE" },
		{ FC_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY" },
		{ FC_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED" },
		{ FC_ERROR_DEINITIALIZED, "CUDA_ERROR_DEINITIALIZED" },
		{ FC_ERROR_DEVICE_UNAVAILABLE, "CUDA_ERROR_DEVICE_UNAVAILABLE" },
		{ FC_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE" },
		{ FC_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE" },
		{ FC_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT" },
		{ FC_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE" },
		{ FC_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND" },
		{ FC_ERROR_NOT_READY, "CUDA_ERROR_NOT_READY" },
		{ FC_ERROR_ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS" },
		{ FC_ERROR_CONTEXT_IS_DESTROYED, "CUDA_ERROR_CONTEXT_IS_DESTROYED" },
		{ FC_ERROR_UNKNOWN, "CUDA_ERROR_UNKNOWN" },
	};
	size_t i;

	/* Not counted or injected: error paths call it. */
	if (!name)
		return FC_ERROR_INVALID_VALUE;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].v == err) {
			*name = names[i].n;
			return FC_SUCCESS;
		}
	}
	*name = NULL;
	return FC_ERROR_INVALID_VALUE;
}

/* --- primary contexts and the current one -------------------------------- */

FC_EXPORT fc_result cuDevicePrimaryCtxRetain(struct fc_ctx **ctx, int dev)
{
	fc_result r = fc_call("cuDevicePrimaryCtxRetain");

	if (r)
		return r;
	if (!ctx)
		return FC_ERROR_INVALID_VALUE;
	if (!fc_device_at(dev))
		return FC_ERROR_INVALID_DEVICE;
	r = fc_lost(dev);
	if (r)
		return r;
	pthread_mutex_lock(&fc_lock);
	devices[dev].primary_refs++;
	pthread_mutex_unlock(&fc_lock);
	*ctx = &primary[dev];
	return FC_SUCCESS;
}

static fc_result release_primary(const char *name, int dev)
{
	fc_result r = fc_call(name);

	if (r)
		return r;
	if (!fc_device_at(dev))
		return FC_ERROR_INVALID_DEVICE;
	pthread_mutex_lock(&fc_lock);
	if (devices[dev].primary_refs > 0)
		devices[dev].primary_refs--;
	else
		r = FC_ERROR_INVALID_CONTEXT;
	pthread_mutex_unlock(&fc_lock);
	return r;
}

FC_EXPORT fc_result cuDevicePrimaryCtxRelease(int dev)
{
	return release_primary("cuDevicePrimaryCtxRelease", dev);
}

FC_EXPORT fc_result cuDevicePrimaryCtxRelease_v2(int dev)
{
	return release_primary("cuDevicePrimaryCtxRelease_v2", dev);
}

/* A context the fake handed out: one of the primary ones. */
static bool valid_ctx(const struct fc_ctx *ctx)
{
	return ctx >= &primary[0] && ctx < &primary[fc_device_count()];
}

FC_EXPORT fc_result cuCtxSetCurrent(struct fc_ctx *ctx)
{
	fc_result r = fc_call("cuCtxSetCurrent");

	if (r)
		return r;
	if (ctx && !valid_ctx(ctx))
		return FC_ERROR_INVALID_CONTEXT;
	current = ctx;
	return FC_SUCCESS;
}

FC_EXPORT fc_result cuCtxGetCurrent(struct fc_ctx **ctx)
{
	fc_result r = fc_call("cuCtxGetCurrent");

	if (r)
		return r;
	if (!ctx)
		return FC_ERROR_INVALID_VALUE;
	*ctx = current;
	return FC_SUCCESS;
}

/*
 * The context stack, one deep beyond the current context: enough for a
 * library that pushes its context around its calls and pops it after.
 */
static __thread struct fc_ctx *stack[8];
static __thread int depth;

FC_EXPORT fc_result cuCtxPushCurrent_v2(struct fc_ctx *ctx)
{
	fc_result r = fc_call("cuCtxPushCurrent_v2");

	if (r)
		return r;
	if (!valid_ctx(ctx))
		return FC_ERROR_INVALID_CONTEXT;
	if (depth == (int)(sizeof(stack) / sizeof(stack[0])))
		return FC_ERROR_UNKNOWN;
	stack[depth++] = current;
	current = ctx;
	return FC_SUCCESS;
}

FC_EXPORT fc_result cuCtxPopCurrent_v2(struct fc_ctx **ctx)
{
	fc_result r = fc_call("cuCtxPopCurrent_v2");

	if (r)
		return r;
	if (!current)
		return FC_ERROR_INVALID_CONTEXT;
	if (ctx)
		*ctx = current;
	current = depth ? stack[--depth] : NULL;
	return FC_SUCCESS;
}

FC_EXPORT fc_result cuCtxGetDevice(int *dev)
{
	fc_result r = fc_call("cuCtxGetDevice");

	if (r)
		return r;
	if (!dev)
		return FC_ERROR_INVALID_VALUE;
	if (!current)
		return FC_ERROR_INVALID_CONTEXT;
	*dev = current->device;
	return FC_SUCCESS;
}

FC_EXPORT int fakecuda_primary_refs(int ordinal)
{
	int n;

	if (!fc_device_at(ordinal))
		return -1;
	pthread_mutex_lock(&fc_lock);
	n = devices[ordinal].primary_refs;
	pthread_mutex_unlock(&fc_lock);
	return n;
}
