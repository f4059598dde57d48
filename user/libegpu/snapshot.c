// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libegpu snapshot sets: their device, context and stream, errors, info,
 * and moving to (restoring on) another device.  See egpu_snapshot.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libegpu/snap_internal.h"

/* The ABI bindings (the Python one) rely on: it only grows at its end. */
_Static_assert(sizeof(struct egpu_snap_info) == 96, "struct egpu_snap_info layout");
_Static_assert(offsetof(struct egpu_snap_info, buffers) == 40, "struct egpu_snap_info layout");

/* Why the calling thread's last egpu_snap_new() failed. */
static __thread char new_error[200];

uint64_t snap_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int snap_fail(struct egpu_snap *s, int neg_errno, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return neg_errno;
}

int snap_fail_cuda(struct egpu_snap *s, const char *what, snap_cures err)
{
	char name[64];

	return snap_fail(s, snap_cuda_errno(err), "%s: %s", what,
			 snap_cuda_errname(s->cu, err, name, sizeof(name)));
}

int snap_ctx_enter(struct egpu_snap *s)
{
	snap_cures err = s->cu->ctx_push(s->ctx);

	return err ? snap_fail_cuda(s, "cuCtxPushCurrent", err) : 0;
}

bool snap_ctx_enter_cleanup(struct egpu_snap *s)
{
	return s->ctx && s->cu->ctx_push(s->ctx) == SNAP_CU_SUCCESS;
}

void snap_ctx_leave(struct egpu_snap *s)
{
	void *ctx;

	/* Only fails if the stack is empty, and we pushed. */
	s->cu->ctx_pop(&ctx);
}

/* The device's context, stream and done event into s (s->device set). */
static int open_device(struct egpu_snap *s, int ordinal)
{
	snap_cures err;
	char pci[32];
	int r;

	if (s->flags & EGPU_SNAP_CURRENT_CTX) {
		err = s->cu->ctx_get_current(&s->ctx);
		if (err)
			return snap_fail_cuda(s, "cuCtxGetCurrent", err);
		if (!s->ctx)
			return snap_fail(s, -EINVAL, "EGPU_SNAP_CURRENT_CTX: no current context");
		err = s->cu->ctx_get_device(&s->cu_dev);
		if (err)
			return snap_fail_cuda(s, "cuCtxGetDevice", err);
		s->primary = false;
	} else {
		err = s->cu->device_get(&s->cu_dev, ordinal);
		if (err)
			return snap_fail_cuda(s, "cuDeviceGet", err);
		err = s->cu->primary_ctx_retain(&s->ctx, s->cu_dev);
		if (err)
			return snap_fail_cuda(s, "cuDevicePrimaryCtxRetain", err);
		s->primary = true;
	}
	s->device = ordinal;
	r = snap_ctx_enter(s);
	if (r)
		goto release;
	err = s->cu->stream_create(&s->stream, SNAP_CU_STREAM_NON_BLOCKING);
	if (err) {
		r = snap_fail_cuda(s, "cuStreamCreate", err);
		goto leave;
	}
	err = s->cu->event_create(&s->done_event, SNAP_CU_EVENT_DISABLE_TIMING);
	if (err) {
		r = snap_fail_cuda(s, "cuEventCreate", err);
		goto stream;
	}
	/* Only to match LEAVING to this device: without it, any LEAVING counts. */
	if (s->cu->device_get_pci_bus_id(pci, sizeof(pci), s->cu_dev) == SNAP_CU_SUCCESS)
		snprintf(s->pci, sizeof(s->pci), "%s", pci);
	else
		s->pci[0] = '\0';
	snap_ctx_leave(s);
	return 0;
stream:
	s->cu->stream_destroy(s->stream);
	s->stream = NULL;
leave:
	snap_ctx_leave(s);
release:
	if (s->primary)
		s->cu->primary_ctx_release(s->cu_dev);
	s->ctx = NULL;
	return r;
}

/*
 * Let go of the set's device: its events, stream and the memory libegpu
 * allocated there, then the context.  Failures (a lost device) are
 * ignored: there is nothing left to save on it.
 */
static void close_device(struct egpu_snap *s)
{
	unsigned int i;
	bool pushed;

	if (!s->ctx)
		return;
	pushed = snap_ctx_enter_cleanup(s);
	/* copies in flight write host slots: they must be done first */
	s->cu->stream_synchronize(s->stream);
	for (i = 0; i < s->nbufs; i++) {
		if (s->bufs[i]->owned)
			s->cu->mem_free(s->bufs[i]->dptr);
		s->bufs[i]->owned = false;
		s->bufs[i]->dptr = 0;
	}
	for (i = 0; i < s->nprog_events; i++)
		s->cu->event_destroy(s->prog_events[i]);
	s->cu->event_destroy(s->done_event);
	s->cu->stream_destroy(s->stream);
	if (pushed)
		snap_ctx_leave(s);
	free(s->prog_events);
	s->prog_events = NULL;
	s->nprog_events = 0;
	s->done_event = NULL;
	s->stream = NULL;
	if (s->primary)
		s->cu->primary_ctx_release(s->cu_dev);
	s->ctx = NULL;
}

EGPU_EXPORT struct egpu_snap *egpu_snap_new(int cuda_device, unsigned int flags)
{
	struct egpu_snap *s;
	int r;

	new_error[0] = '\0';
	if (flags & ~(unsigned int)(EGPU_SNAP_CURRENT_CTX | EGPU_SNAP_EXPLICIT_DIRTY)) {
		snprintf(new_error, sizeof(new_error), "unknown flags 0x%x", flags);
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(new_error, sizeof(new_error), "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	s->cu = snap_cuda_get(new_error, sizeof(new_error));
	if (!s->cu) {
		free(s);
		errno = ENOSYS;
		return NULL;
	}
	s->flags = flags;
	s->next_gen = 1;
	r = open_device(s, cuda_device);
	if (r) {
		snprintf(new_error, sizeof(new_error), "%s", s->err);
		free(s);
		errno = -r;
		return NULL;
	}
	return s;
}

EGPU_EXPORT void egpu_snap_free(struct egpu_snap *s)
{
	unsigned int i;

	if (!s)
		return;
	if (s->busy)
		egpu_snap_wait(s, -1);
	egpu_snap_attach(s, NULL);
	/* the stream first: no copy may still be writing a slot freed below */
	if (s->ctx) {
		bool pushed = snap_ctx_enter_cleanup(s);

		s->cu->stream_synchronize(s->stream);
		if (pushed)
			snap_ctx_leave(s);
	}
	for (i = 0; i < s->nbufs; i++)
		snap_buffer_free(s, s->bufs[i]);
	s->nbufs = 0;
	close_device(s);
	free(s->bufs);
	free(s);
}

EGPU_EXPORT const char *egpu_snap_last_error(const struct egpu_snap *s)
{
	return s ? s->err : new_error;
}

EGPU_EXPORT int egpu_snap_info(const struct egpu_snap *s, struct egpu_snap_info *info)
{
	unsigned int i;

	memset(info, 0, sizeof(*info));
	info->generation = s->complete_gen;
	for (i = 0; i < s->nbufs; i++)
		info->bytes += s->bufs[i]->bytes;
	info->taken_ns = s->complete_ns;
	if (s->complete_gen)
		info->age_ns = snap_now_ns() - s->complete_ns;
	info->last_copied = s->complete_copied;
	info->buffers = s->nbufs;
	info->interval_ms = snap_interval(s);
	info->in_progress = s->busy;
	info->last_error = s->last_status;
	info->device = s->device;
	info->attached = s->egpu != NULL;
	return 0;
}

EGPU_EXPORT int egpu_snap_set_device(struct egpu_snap *s, int cuda_device)
{
	struct egpu_snap next;
	unsigned int i;
	int r;

	if (s->flags & EGPU_SNAP_CURRENT_CTX)
		return snap_fail(s, -EINVAL, "a set on the current context cannot move");
	/* an unfinished snapshot of the old device: finished or abandoned */
	if (s->busy)
		egpu_snap_wait(s, -1);
	if (cuda_device == s->device) {
		bool pushed = snap_ctx_enter_cleanup(s);

		for (i = 0; i < s->nbufs; i++)
			if (s->bufs[i]->owned)
				s->cu->mem_free(s->bufs[i]->dptr);
		if (pushed)
			snap_ctx_leave(s);
		for (i = 0; i < s->nbufs; i++) {
			s->bufs[i]->owned = false;
			s->bufs[i]->dptr = 0;
		}
		return 0;
	}
	/* the new device opened in a copy, so a failure leaves s as it was */
	next = *s;
	next.prog_events = NULL;
	next.nprog_events = 0;
	r = open_device(&next, cuda_device);
	if (r) {
		memcpy(s->err, next.err, sizeof(s->err));
		return r;
	}
	close_device(s);
	s->device = next.device;
	s->cu_dev = next.cu_dev;
	s->ctx = next.ctx;
	s->primary = next.primary;
	s->stream = next.stream;
	s->done_event = next.done_event;
	memcpy(s->pci, next.pci, sizeof(s->pci));
	return 0;
}

EGPU_EXPORT int egpu_snap_restore(struct egpu_snap *s, int cuda_device)
{
	uint64_t *fresh;
	snap_cures err;
	unsigned int i, n = 0;
	int r;

	if (s->busy && egpu_snap_wait(s, -1) == -ETIMEDOUT)
		return -EBUSY;
	for (i = 0; i < s->nbufs; i++)
		if (s->bufs[i]->complete < 0)
			return snap_fail(s, -ENODATA, "%s: no complete snapshot",
					 s->bufs[i]->name);
	if (!s->nbufs)
		return snap_fail(s, -ENODATA, "no buffers");
	if (cuda_device != s->device) {
		r = egpu_snap_set_device(s, cuda_device);
		if (r)
			return r;
	}
	fresh = calloc(s->nbufs, sizeof(*fresh));
	if (!fresh)
		return snap_fail(s, -ENOMEM, "out of memory");
	r = snap_ctx_enter(s);
	if (r)
		goto out;
	for (n = 0; n < s->nbufs; n++) {
		err = s->cu->mem_alloc(&fresh[n], s->bufs[n]->bytes);
		if (err) {
			r = snap_fail_cuda(s, "cuMemAlloc", err);
			goto undo;
		}
	}
	for (i = 0; i < s->nbufs; i++) {
		struct snap_buffer *b = s->bufs[i];

		err = s->cu->memcpy_htod_async(fresh[i], b->slot[b->complete], b->bytes, s->stream);
		if (err) {
			r = snap_fail_cuda(s, "cuMemcpyHtoDAsync", err);
			goto undo;
		}
	}
	err = s->cu->stream_synchronize(s->stream);
	if (err) {
		r = snap_fail_cuda(s, "cuStreamSynchronize", err);
		goto undo;
	}
	for (i = 0; i < s->nbufs; i++) {
		struct snap_buffer *b = s->bufs[i];

		if (b->owned)
			s->cu->mem_free(b->dptr);
		b->dptr = fresh[i];
		b->owned = true;
		snap_buffer_restored(s, b);
	}
	n = 0;
	goto leave;
undo:
	/* the copies may still run: wait (or fail: lost) before freeing */
	s->cu->stream_synchronize(s->stream);
	while (n > 0)
		s->cu->mem_free(fresh[--n]);
leave:
	snap_ctx_leave(s);
out:
	free(fresh);
	return r;
}

EGPU_EXPORT int egpu_snap_restore_into(struct egpu_snap *s, const char *name, uint64_t dptr,
				       void *stream)
{
	struct snap_buffer *b = name ? snap_find(s, name) : NULL;
	snap_cures err;
	int r;

	if (!b)
		return snap_fail(s, -ENOENT, "no buffer \"%s\"", name ? name : "(null)");
	if (!dptr)
		return snap_fail(s, -EINVAL, "%s: device pointer 0", name);
	if (s->busy)
		return snap_fail(s, -EBUSY, "a snapshot is in progress");
	if (b->complete < 0)
		return snap_fail(s, -ENODATA, "%s: no complete snapshot", name);
	r = snap_ctx_enter(s);
	if (r)
		return r;
	err = s->cu->memcpy_htod_async(dptr, b->slot[b->complete], b->bytes, stream);
	if (err) {
		r = snap_fail_cuda(s, "cuMemcpyHtoDAsync", err);
		goto leave;
	}
	err = s->cu->stream_synchronize(stream);
	if (err) {
		r = snap_fail_cuda(s, "cuStreamSynchronize", err);
		goto leave;
	}
	if (b->owned && b->dptr != dptr)
		s->cu->mem_free(b->dptr);
	b->dptr = dptr;
	b->owned = false;
	snap_buffer_restored(s, b);
leave:
	snap_ctx_leave(s);
	return r;
}
