/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A FAKE CUDA driver library (libcuda-fake.so.1) for tests on machines
 * without a GPU: the entry points a program dlopen()s from libcuda.so.1,
 * with the driver ABI's signatures, over host memory.  Point
 * $EGPUHP_LIBCUDA at build/<variant>/fakecuda/libcuda-fake.so.1.
 *
 * The fake GPUs come from $FAKECUDA_DEVICES ("PCI[,PCI...]", default one,
 * "0000:05:00.0"); each one's UUID is derived from its PCI address.
 *
 * Failure injection: $FAKECUDA_FAIL="NAME:NTH[:CURESULT][,...]" makes the
 * NTH call of NAME (counted from the library's load; the name without its
 * _v2 suffix, "cuMemcpyDtoHAsync") fail with CURESULT (default
 * CUDA_ERROR_UNKNOWN); tests call the fakecuda_*() control functions
 * below through dlsym().  Every file of the library shares this header;
 * each file owns a group of entry points (device.c: driver, devices,
 * contexts; memory.c: memory, streams, events).
 */
#ifndef FAKECUDA_H
#define FAKECUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_EXPORT __attribute__((visibility("default")))

/* CUresult values the fake returns (cuda.h's numbers). */
typedef int fc_result;
#define FC_SUCCESS			0
#define FC_ERROR_INVALID_VALUE		1
#define FC_ERROR_OUT_OF_MEMORY		2
#define FC_ERROR_NOT_INITIALIZED	3
#define FC_ERROR_DEINITIALIZED		4
#define FC_ERROR_DEVICE_UNAVAILABLE	46
#define FC_ERROR_NO_DEVICE		100
#define FC_ERROR_INVALID_DEVICE		101
#define FC_ERROR_INVALID_CONTEXT	201
#define FC_ERROR_CONTEXT_IS_DESTROYED	709
#define FC_ERROR_INVALID_HANDLE		400
#define FC_ERROR_NOT_FOUND		500
#define FC_ERROR_NOT_READY		600
#define FC_ERROR_ILLEGAL_ADDRESS	700
#define FC_ERROR_UNKNOWN		999

#define FC_MAX_DEVICES	8

/* One fake GPU and its primary context. */
struct fc_device {
	char pci[16];			/* "0000:05:00.0" */
	unsigned char uuid[16];
	int primary_refs;		/* cuDevicePrimaryCtxRetain minus Release */
	fc_result lost;			/* 0, or what every call touching it returns */
};

/* A context: the fake has only primary contexts, one per device. */
struct fc_ctx {
	int device;
};

/* The devices (parsed from $FAKECUDA_DEVICES once). */
int fc_device_count(void);
struct fc_device *fc_device_at(int ordinal);
struct fc_ctx *fc_primary_ctx(int ordinal);

/* The calling thread's current context, NULL if none. */
struct fc_ctx *fc_current(void);

/* cuInit was called (every other entry point needs it). */
bool fc_initialised(void);

/*
 * Count a call of name and say whether it fails: an injected failure
 * (consumed), NOT_INITIALIZED before cuInit, or 0.  Every entry point
 * calls it first.
 */
fc_result fc_call(const char *name);

/* What a call on device ordinal returns if it is lost, else 0. */
fc_result fc_lost(int ordinal);

/* Wake everything waiting for streams or events (a device was lost). */
void fc_memory_wake(void);

/* --- control functions for tests (dlsym them) --------------------------- */

/*
 * Make the nth call of name from now on (1: the next) fail with err; nth 0
 * clears every injection of name.  0, or -1 if the table is full.
 */
FC_EXPORT int fakecuda_fail(const char *name, unsigned int nth, int err);

/* How many times name was called since the load (or fakecuda_reset()). */
FC_EXPORT unsigned long fakecuda_calls(const char *name);

/*
 * Lose device ordinal: from now on every call touching it (its context,
 * memory, streams, events) returns err (CUDA_ERROR_DEVICE_UNAVAILABLE,
 * CUDA_ERROR_ILLEGAL_ADDRESS...); queued work on its streams is not done.
 * err 0 brings it back (tests only: a real lost GPU never comes back).
 */
FC_EXPORT void fakecuda_lose(int ordinal, int err);

/* cuDevicePrimaryCtxRetain minus Release calls of a device, -1 if none. */
FC_EXPORT int fakecuda_primary_refs(int ordinal);

/* Forget injections, counts and lost devices. */
FC_EXPORT void fakecuda_reset(void);

/*
 * memory.c: hold every stream (on 1) or let them run (0): a held stream
 * queues work but does none.  fakecuda_hold_stream() overrides it for one
 * stream (NULL: the legacy stream of the current context): 1 held, 0 runs,
 * -1 as fakecuda_hold_all(); 0, or -1 if stream is not one.
 */
FC_EXPORT void fakecuda_hold_all(int on);
FC_EXPORT int fakecuda_hold_stream(void *stream, int on);

/* Ops queued on a stream and not yet done, -1 if it is not a stream. */
FC_EXPORT long fakecuda_stream_pending(void *stream);

/* Live allocations (device and pinned host), streams and events. */
FC_EXPORT unsigned long fakecuda_live(void);

#endif /* FAKECUDA_H */
