// SPDX-License-Identifier: GPL-2.0
/*
 * FAKE CUDA driver: device memory, pinned host memory, streams and events.
 *
 * Device memory is host memory (malloc), so ASan checks every copy's
 * bounds; a CUdeviceptr is its address.  Each stream has a worker thread
 * that runs its queue in order -- copies, memsets, event records, waits for
 * events -- so "async" is real: a call returns before its work is done and
 * ordering between streams holds only through events.  Tests can hold
 * streams (fakecuda_hold_*) to pin down an interleaving without sleeping.
 * The legacy default stream (NULL, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD)
 * is one stream per device here; it does not synchronise with other
 * streams (the fake has no blocking-stream semantics).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fakecuda.h"

enum fc_op_kind { FC_OP_COPY, FC_OP_SET, FC_OP_RECORD, FC_OP_WAIT, FC_OP_MARK };

struct fc_event {
	int device;
	int refs;		/* the user's handle + queued ops naming it */
	uint64_t recorded;	/* the last cuEventRecord's number */
	uint64_t completed;	/* the last record the stream got to */
};

struct fc_op {
	enum fc_op_kind kind;
	void *dst;
	const void *src;
	size_t n;
	unsigned char value;
	struct fc_event *event;
	uint64_t seq;		/* FC_OP_RECORD/WAIT: which record */
	bool *done;		/* FC_OP_MARK: set when reached */
	struct fc_op *next;
};

struct fc_stream {
	int device;
	int hold;		/* -1: as fakecuda_hold_all(), 0: runs, 1: held */
	bool stop;		/* destroyed: drain and exit */
	bool busy;		/* the worker is doing an op outside the lock */
	unsigned long pending;	/* ops queued or being done */
	fc_result sticky;	/* the first failure of its work */
	struct fc_op *head, **tail;
	pthread_t thread;
	struct fc_stream *next;
};

struct fc_alloc {
	unsigned char *base;
	size_t size;
	int device;		/* -1: pinned host memory */
	struct fc_alloc *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct fc_alloc *allocs;
static struct fc_stream *streams;		/* live, not destroyed */
static struct fc_stream *legacy[FC_MAX_DEVICES];
static int hold_all;
static unsigned long live_allocs, live_streams, live_events;

#define LEGACY_STREAM		((struct fc_stream *)0x1)
#define PER_THREAD_STREAM	((struct fc_stream *)0x2)

void fc_memory_wake(void)
{
	pthread_mutex_lock(&lock);
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static void event_put(struct fc_event *ev)
{
	if (--ev->refs == 0) {
		free(ev);
	}
}

static bool held(const struct fc_stream *s)
{
	return s->hold < 0 ? hold_all : s->hold;
}

/* The next op can run now (called with the lock). */
static bool runnable(const struct fc_stream *s)
{
	const struct fc_op *op = s->head;

	if (!op)
		return false;
	if (fc_lost(s->device))
		return true;	/* dropped at once */
	if (held(s) && !s->stop)
		return false;
	return op->kind != FC_OP_WAIT || op->event->completed >= op->seq ||
	       fc_lost(op->event->device);
}

static void *worker(void *arg)
{
	struct fc_stream *s = arg;

	pthread_mutex_lock(&lock);
	for (;;) {
		struct fc_op *op;
		fc_result lost;

		while (!runnable(s) && !(s->stop && !s->head))
			pthread_cond_wait(&cond, &lock);
		if (!s->head)
			break;
		op = s->head;
		s->head = op->next;
		if (!s->head)
			s->tail = &s->head;
		lost = fc_lost(s->device);
		if (lost) {
			if (!s->sticky)
				s->sticky = lost;
		} else if (op->kind == FC_OP_COPY || op->kind == FC_OP_SET) {
			s->busy = true;
			pthread_mutex_unlock(&lock);
			if (op->kind == FC_OP_COPY)
				memcpy(op->dst, op->src, op->n);
			else
				memset(op->dst, op->value, op->n);
			pthread_mutex_lock(&lock);
			s->busy = false;
		} else if (op->kind == FC_OP_RECORD) {
			if (op->event->completed < op->seq)
				op->event->completed = op->seq;
		} else if (op->kind == FC_OP_MARK) {
			*op->done = true;
		}
		if (op->event)
			event_put(op->event);
		free(op);
		s->pending--;
		pthread_cond_broadcast(&cond);
	}
	pthread_mutex_unlock(&lock);
	free(s);
	return NULL;
}

static fc_result stream_new(int device, struct fc_stream **out)
{
	struct fc_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return FC_ERROR_OUT_OF_MEMORY;
	s->device = device;
	s->hold = -1;
	s->tail = &s->head;
	if (pthread_create(&s->thread, NULL, worker, s)) {
		free(s);
		return FC_ERROR_OUT_OF_MEMORY;
	}
	pthread_detach(s->thread);
	*out = s;
	return FC_SUCCESS;
}

/* The stream a handle names (lock held); NULL if it is not one. */
static struct fc_stream *stream_of(struct fc_stream *h)
{
	struct fc_stream *s;
	struct fc_ctx *ctx;

	if (!h || h == LEGACY_STREAM || h == PER_THREAD_STREAM) {
		ctx = fc_current();
		if (!ctx)
			return NULL;
		if (!legacy[ctx->device] && stream_new(ctx->device, &legacy[ctx->device]))
			return NULL;
		return legacy[ctx->device];
	}
	for (s = streams; s; s = s->next)
		if (s == h)
			return s;
	return NULL;
}

static void enqueue(struct fc_stream *s, struct fc_op *op)
{
	if (op->event)
		op->event->refs++;
	*s->tail = op;
	s->tail = &op->next;
	s->pending++;
	pthread_cond_broadcast(&cond);
}

/* The allocation holding [p, p + n), NULL if none (lock held). */
static struct fc_alloc *alloc_of(const void *p, size_t n, int want_device)
{
	const unsigned char *b = p;
	struct fc_alloc *a;

	for (a = allocs; a; a = a->next) {
		if (b < a->base || b >= a->base + a->size)
			continue;
		if (n > (size_t)(a->base + a->size - b))
			return NULL;
		if (want_device >= 0 ? a->device < 0 : a->device >= 0)
			return NULL;
		return a;
	}
	return NULL;
}

static fc_result need_ctx(void)
{
	struct fc_ctx *ctx = fc_current();

	if (!ctx)
		return FC_ERROR_INVALID_CONTEXT;
	return fc_lost(ctx->device);
}

static fc_result alloc_mem(void **out, size_t bytes, int device)
{
	struct fc_alloc *a;

	if (!out || !bytes)
		return FC_ERROR_INVALID_VALUE;
	a = calloc(1, sizeof(*a));
	if (!a)
		return FC_ERROR_OUT_OF_MEMORY;
	/* Not zeroed, like the driver's; a pattern makes stale reads visible. */
	a->base = malloc(bytes);
	if (!a->base) {
		free(a);
		return FC_ERROR_OUT_OF_MEMORY;
	}
	memset(a->base, 0xa5, bytes);
	a->size = bytes;
	a->device = device;
	pthread_mutex_lock(&lock);
	a->next = allocs;
	allocs = a;
	live_allocs++;
	pthread_mutex_unlock(&lock);
	*out = a->base;
	return FC_SUCCESS;
}

static fc_result free_mem(void *p, bool device)
{
	struct fc_alloc **pp, *a;
	fc_result r = FC_ERROR_INVALID_VALUE;

	pthread_mutex_lock(&lock);
	for (pp = &allocs; (a = *pp); pp = &a->next) {
		if (a->base != p || (a->device >= 0) != device)
			continue;
		*pp = a->next;
		/* A lost device's memory is gone all the same. */
		r = device ? fc_lost(a->device) : FC_SUCCESS;
		free(a->base);
		free(a);
		live_allocs--;
		break;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

FC_EXPORT fc_result cuMemAlloc_v2(uint64_t *dptr, size_t bytes)
{
	fc_result r = fc_call("cuMemAlloc_v2");
	void *p;

	if (!r)
		r = need_ctx();
	if (!r)
		r = alloc_mem(&p, bytes, fc_current()->device);
	if (!r)
		*dptr = (uint64_t)(uintptr_t)p;
	return r;
}

FC_EXPORT fc_result cuMemFree_v2(uint64_t dptr)
{
	fc_result r = fc_call("cuMemFree_v2");

	return r ? r : free_mem((void *)(uintptr_t)dptr, true);
}

FC_EXPORT fc_result cuMemHostAlloc(void **pp, size_t bytes, unsigned int flags)
{
	fc_result r = fc_call("cuMemHostAlloc");

	if (!r)
		r = need_ctx();
	return r ? r : alloc_mem(pp, bytes, -1);
}

FC_EXPORT fc_result cuMemFreeHost(void *p)
{
	fc_result r = fc_call("cuMemFreeHost");

	return r ? r : free_mem(p, false);
}

FC_EXPORT fc_result cuStreamCreate(struct fc_stream **out, unsigned int flags)
{
	fc_result r = fc_call("cuStreamCreate");
	struct fc_stream *s;

	if (!r)
		r = need_ctx();
	if (!r && !out)
		r = FC_ERROR_INVALID_VALUE;
	if (!r)
		r = stream_new(fc_current()->device, &s);
	if (r)
		return r;
	pthread_mutex_lock(&lock);
	s->next = streams;
	streams = s;
	live_streams++;
	pthread_mutex_unlock(&lock);
	*out = s;
	return FC_SUCCESS;
}

/* Like the driver: the stream's queued work still runs, then it goes. */
FC_EXPORT fc_result cuStreamDestroy_v2(struct fc_stream *h)
{
	fc_result r = fc_call("cuStreamDestroy_v2");
	struct fc_stream **pp, *s;

	if (r)
		return r;
	pthread_mutex_lock(&lock);
	for (pp = &streams; (s = *pp); pp = &s->next)
		if (s == h)
			break;
	if (s) {
		*pp = s->next;
		s->stop = true;
		live_streams--;
		r = fc_lost(s->device);
		pthread_cond_broadcast(&cond);
	} else {
		r = FC_ERROR_INVALID_HANDLE;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

static fc_result wait_idle(struct fc_stream *s)
{
	fc_result r;

	while (s->pending && !fc_lost(s->device))
		pthread_cond_wait(&cond, &lock);
	r = fc_lost(s->device);
	return r ? r : s->sticky;
}

FC_EXPORT fc_result cuStreamSynchronize(struct fc_stream *h)
{
	fc_result r = fc_call("cuStreamSynchronize");
	struct fc_stream *s;

	if (r)
		return r;
	pthread_mutex_lock(&lock);
	s = stream_of(h);
	r = s ? wait_idle(s) : FC_ERROR_INVALID_HANDLE;
	pthread_mutex_unlock(&lock);
	return r;
}

FC_EXPORT fc_result cuStreamQuery(struct fc_stream *h)
{
	fc_result r = fc_call("cuStreamQuery");
	struct fc_stream *s;

	if (r)
		return r;
	pthread_mutex_lock(&lock);
	s = stream_of(h);
	if (!s)
		r = FC_ERROR_INVALID_HANDLE;
	else
		r = fc_lost(s->device) ? fc_lost(s->device) :
		    s->sticky ? s->sticky : s->pending ? FC_ERROR_NOT_READY : FC_SUCCESS;
	pthread_mutex_unlock(&lock);
	return r;
}

FC_EXPORT fc_result cuCtxSynchronize(void)
{
	fc_result r = fc_call("cuCtxSynchronize");
	struct fc_stream *s;
	int dev;

	if (!r)
		r = need_ctx();
	if (r)
		return r;
	dev = fc_current()->device;
	pthread_mutex_lock(&lock);
	for (s = streams; s && !r; s = s->next)
		if (s->device == dev)
			r = wait_idle(s);
	if (!r && legacy[dev])
		r = wait_idle(legacy[dev]);
	pthread_mutex_unlock(&lock);
	return r;
}

FC_EXPORT fc_result cuEventCreate(struct fc_event **out, unsigned int flags)
{
	fc_result r = fc_call("cuEventCreate");
	struct fc_event *ev;

	if (!r)
		r = need_ctx();
	if (!r && !out)
		r = FC_ERROR_INVALID_VALUE;
	if (r)
		return r;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return FC_ERROR_OUT_OF_MEMORY;
	ev->device = fc_current()->device;
	ev->refs = 1;
	pthread_mutex_lock(&lock);
	live_events++;
	pthread_mutex_unlock(&lock);
	*out = ev;
	return FC_SUCCESS;
}

FC_EXPORT fc_result cuEventDestroy_v2(struct fc_event *ev)
{
	fc_result r = fc_call("cuEventDestroy_v2");

	if (r)
		return r;
	if (!ev)
		return FC_ERROR_INVALID_HANDLE;
	pthread_mutex_lock(&lock);
	live_events--;
	event_put(ev);
	pthread_mutex_unlock(&lock);
	return FC_SUCCESS;
}

/* Queue op on the stream h names, or say why not. */
static fc_result submit(struct fc_stream *h, struct fc_op *op)
{
	struct fc_stream *s = stream_of(h);
	fc_result r;

	if (!s) {
		r = h && h != LEGACY_STREAM && h != PER_THREAD_STREAM ? FC_ERROR_INVALID_HANDLE :
		    FC_ERROR_INVALID_CONTEXT;
	} else {
		r = fc_lost(s->device);
	}
	if (r) {
		free(op);
		return r;
	}
	enqueue(s, op);
	return FC_SUCCESS;
}

/* Queue a record or wait of ev's record seq on the stream h names; under lock. */
static fc_result submit_event_op(struct fc_stream *h, struct fc_event *ev,
				 enum fc_op_kind kind, uint64_t seq)
{
	fc_result r = fc_lost(ev->device);
	struct fc_op *op;

	if (r)
		return r;
	op = calloc(1, sizeof(*op));
	if (!op)
		return FC_ERROR_OUT_OF_MEMORY;
	op->kind = kind;
	op->event = ev;
	op->seq = seq;
	return submit(h, op);
}

FC_EXPORT fc_result cuEventRecord(struct fc_event *ev, struct fc_stream *h)
{
	fc_result r = fc_call("cuEventRecord");

	if (r)
		return r;
	if (!ev)
		return FC_ERROR_INVALID_HANDLE;
	pthread_mutex_lock(&lock);
	r = submit_event_op(h, ev, FC_OP_RECORD, ev->recorded + 1);
	if (!r)
		ev->recorded++;
	pthread_mutex_unlock(&lock);
	return r;
}

FC_EXPORT fc_result cuStreamWaitEvent(struct fc_stream *h, struct fc_event *ev,
				      unsigned int flags)
{
	fc_result r = fc_call("cuStreamWaitEvent");

	if (r)
		return r;
	if (!ev)
		return FC_ERROR_INVALID_HANDLE;
	pthread_mutex_lock(&lock);
	/* Waits for the record made last before this call (none: no wait). */
	r = submit_event_op(h, ev, FC_OP_WAIT, ev->recorded);
	pthread_mutex_unlock(&lock);
	return r;
}

FC_EXPORT fc_result cuEventQuery(struct fc_event *ev)
{
	fc_result r = fc_call("cuEventQuery");

	if (r)
		return r;
	if (!ev)
		return FC_ERROR_INVALID_HANDLE;
	pthread_mutex_lock(&lock);
	r = fc_lost(ev->device);
	if (!r && ev->completed < ev->recorded)
		r = FC_ERROR_NOT_READY;
	pthread_mutex_unlock(&lock);
	return r;
}

FC_EXPORT fc_result cuEventSynchronize(struct fc_event *ev)
{
	fc_result r = fc_call("cuEventSynchronize");

	if (r)
		return r;
	if (!ev)
		return FC_ERROR_INVALID_HANDLE;
	pthread_mutex_lock(&lock);
	while (!(r = fc_lost(ev->device)) && ev->completed < ev->recorded)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	return r;
}

/* A copy or memset: device ranges must lie in one device allocation. */
static fc_result queue_data(struct fc_stream *h, enum fc_op_kind kind, void *dst, bool dst_dev,
			    const void *src, bool src_dev, size_t n, unsigned char value,
			    bool sync)
{
	bool done = false;
	struct fc_op *op;
	fc_result r;

	if (!n)
		return FC_SUCCESS;
	if (!dst || (kind == FC_OP_COPY && !src))
		return FC_ERROR_INVALID_VALUE;
	op = calloc(1, sizeof(*op));
	if (!op)
		return FC_ERROR_OUT_OF_MEMORY;
	op->kind = kind;
	op->dst = dst;
	op->src = src;
	op->n = n;
	op->value = value;
	pthread_mutex_lock(&lock);
	if ((dst_dev && !alloc_of(dst, n, 0)) || (src_dev && !alloc_of(src, n, 0)) ||
	    (!dst_dev && alloc_of(dst, 1, -1) && !alloc_of(dst, n, -1)) ||
	    (!src_dev && src && alloc_of(src, 1, -1) && !alloc_of(src, n, -1))) {
		free(op);
		pthread_mutex_unlock(&lock);
		return FC_ERROR_INVALID_VALUE;
	}
	r = submit(h, op);
	if (!r && sync) {
		struct fc_op *mark = calloc(1, sizeof(*mark));
		struct fc_stream *s = stream_of(h);

		if (!mark) {
			r = wait_idle(s);
		} else {
			mark->kind = FC_OP_MARK;
			mark->done = &done;
			enqueue(s, mark);
			while (!done && !fc_lost(s->device))
				pthread_cond_wait(&cond, &lock);
			r = fc_lost(s->device);
		}
	}
	pthread_mutex_unlock(&lock);
	return r;
}

#define DPTR(d) ((void *)(uintptr_t)(d))

FC_EXPORT fc_result cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t n, struct fc_stream *h)
{
	fc_result r = fc_call("cuMemcpyDtoHAsync_v2");

	return r ? r : queue_data(h, FC_OP_COPY, dst, false, DPTR(src), true, n, 0, false);
}

FC_EXPORT fc_result cuMemcpyHtoDAsync_v2(uint64_t dst, const void *src, size_t n,
					 struct fc_stream *h)
{
	fc_result r = fc_call("cuMemcpyHtoDAsync_v2");

	return r ? r : queue_data(h, FC_OP_COPY, DPTR(dst), true, src, false, n, 0, false);
}

FC_EXPORT fc_result cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t n,
					 struct fc_stream *h)
{
	fc_result r = fc_call("cuMemcpyDtoDAsync_v2");

	return r ? r : queue_data(h, FC_OP_COPY, DPTR(dst), true, DPTR(src), true, n, 0, false);
}

FC_EXPORT fc_result cuMemcpyDtoH_v2(void *dst, uint64_t src, size_t n)
{
	fc_result r = fc_call("cuMemcpyDtoH_v2");

	return r ? r : queue_data(NULL, FC_OP_COPY, dst, false, DPTR(src), true, n, 0, true);
}

FC_EXPORT fc_result cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t n)
{
	fc_result r = fc_call("cuMemcpyHtoD_v2");

	return r ? r : queue_data(NULL, FC_OP_COPY, DPTR(dst), true, src, false, n, 0, true);
}

FC_EXPORT fc_result cuMemsetD8_v2(uint64_t dst, unsigned char value, size_t n)
{
	fc_result r = fc_call("cuMemsetD8_v2");

	return r ? r : queue_data(NULL, FC_OP_SET, DPTR(dst), true, NULL, false, n, value, true);
}

FC_EXPORT fc_result cuMemsetD8Async(uint64_t dst, unsigned char value, size_t n,
				    struct fc_stream *h)
{
	fc_result r = fc_call("cuMemsetD8Async");

	return r ? r : queue_data(h, FC_OP_SET, DPTR(dst), true, NULL, false, n, value, false);
}

/* --- control functions for tests ----------------------------------------- */

FC_EXPORT void fakecuda_hold_all(int on)
{
	pthread_mutex_lock(&lock);
	hold_all = !!on;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

FC_EXPORT int fakecuda_hold_stream(void *stream, int on)
{
	struct fc_stream *s;

	pthread_mutex_lock(&lock);
	s = stream_of(stream);
	if (s) {
		s->hold = on < 0 ? -1 : !!on;
		pthread_cond_broadcast(&cond);
	}
	pthread_mutex_unlock(&lock);
	return s ? 0 : -1;
}

FC_EXPORT long fakecuda_stream_pending(void *stream)
{
	struct fc_stream *s;
	long n;

	pthread_mutex_lock(&lock);
	s = stream_of(stream);
	n = s ? (long)s->pending : -1;
	pthread_mutex_unlock(&lock);
	return n;
}

FC_EXPORT unsigned long fakecuda_live(void)
{
	unsigned long n;

	pthread_mutex_lock(&lock);
	n = live_allocs + live_streams + live_events;
	pthread_mutex_unlock(&lock);
	return n;
}
