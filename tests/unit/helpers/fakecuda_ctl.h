/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The FAKE CUDA driver (tests/fakecuda/, libcuda-fake.so.1) from a unit
 * test: point libegpu at it ($EGPUHP_LIBCUDA, two fake GPUs) and reach its
 * control functions and the driver calls a test plays the program with.
 * FAKECUDA_LIB is its path (user/Makefile passes it).  Include after
 * <cmocka.h>.
 */
#ifndef EGPU_TEST_FAKECUDA_CTL_H
#define EGPU_TEST_FAKECUDA_CTL_H

#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FAKECUDA_PCI0	"0000:05:00.0"
#define FAKECUDA_PCI1	"0000:06:00.0"
#define FAKECUDA_DEVICE_UNAVAILABLE	46
#define FAKECUDA_ILLEGAL_ADDRESS	700

struct fakecuda_ctl {
	int (*inject)(const char *name, unsigned int nth, int err);
	unsigned long (*calls)(const char *name);
	void (*lose)(int ordinal, int err);
	void (*reset)(void);
	void (*hold_all)(int on);
	int (*hold_stream)(void *stream, int on);
	long (*pending)(void *stream);
	unsigned long (*live)(void);
	int (*primary_refs)(int ordinal);
	/* the driver, as the program under test uses it */
	int (*init)(unsigned int flags);
	int (*primary_retain)(void **ctx, int dev);
	int (*primary_release)(int dev);
	int (*ctx_set_current)(void *ctx);
	int (*mem_alloc)(uint64_t *dptr, size_t bytes);
	int (*mem_free)(uint64_t dptr);
	int (*stream_create)(void **stream, unsigned int flags);
	int (*stream_destroy)(void *stream);
	int (*stream_synchronize)(void *stream);
	int (*memset_async)(uint64_t dptr, unsigned char value, size_t n, void *stream);
};

#define FAKECUDA_SYM(h, c, field, name) do {				\
		void *p_ = dlsym(h, name);				\
		assert_non_null(p_);					\
		memcpy(&(c)->field, &p_, sizeof(p_));			\
	} while (0)

/* Load the fake (before libegpu does) and fill c. */
static inline void fakecuda_ctl_load(struct fakecuda_ctl *c)
{
	void *h;

	setenv("EGPUHP_LIBCUDA", FAKECUDA_LIB, 1);
	setenv("FAKECUDA_DEVICES", FAKECUDA_PCI0 "," FAKECUDA_PCI1, 1);
	h = dlopen(FAKECUDA_LIB, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	FAKECUDA_SYM(h, c, inject, "fakecuda_fail");
	FAKECUDA_SYM(h, c, calls, "fakecuda_calls");
	FAKECUDA_SYM(h, c, lose, "fakecuda_lose");
	FAKECUDA_SYM(h, c, reset, "fakecuda_reset");
	FAKECUDA_SYM(h, c, hold_all, "fakecuda_hold_all");
	FAKECUDA_SYM(h, c, hold_stream, "fakecuda_hold_stream");
	FAKECUDA_SYM(h, c, pending, "fakecuda_stream_pending");
	FAKECUDA_SYM(h, c, live, "fakecuda_live");
	FAKECUDA_SYM(h, c, primary_refs, "fakecuda_primary_refs");
	FAKECUDA_SYM(h, c, init, "cuInit");
	FAKECUDA_SYM(h, c, primary_retain, "cuDevicePrimaryCtxRetain");
	FAKECUDA_SYM(h, c, primary_release, "cuDevicePrimaryCtxRelease_v2");
	FAKECUDA_SYM(h, c, ctx_set_current, "cuCtxSetCurrent");
	FAKECUDA_SYM(h, c, mem_alloc, "cuMemAlloc_v2");
	FAKECUDA_SYM(h, c, mem_free, "cuMemFree_v2");
	FAKECUDA_SYM(h, c, stream_create, "cuStreamCreate");
	FAKECUDA_SYM(h, c, stream_destroy, "cuStreamDestroy_v2");
	FAKECUDA_SYM(h, c, stream_synchronize, "cuStreamSynchronize");
	FAKECUDA_SYM(h, c, memset_async, "cuMemsetD8Async");
	assert_int_equal(c->init(0), 0);
}

/*
 * The fake's device memory is host memory: a test reads and writes it
 * through the pointer while no stream touches it (no driver call, so no
 * injected failure is spent on it).
 */
static inline unsigned char *fakecuda_mem(uint64_t dptr)
{
	return (unsigned char *)(uintptr_t)dptr;
}

#endif
