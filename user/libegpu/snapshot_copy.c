// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libegpu snapshots: taking one, ordered against the program's streams,
 * and finishing it.
 *
 *   program stream:  ... work | record P |  wait D  | later work ...
 *   libegpu stream:            wait P | copies D2H | record D
 *
 * Everything the program enqueued before the call is copied; nothing it
 * enqueues after runs before the copies are done (its stream waits for D,
 * on the GPU: the calling thread never blocks).  Completion is found by
 * querying D from the thread using the set (poll/wait/maybe), which runs
 * the done callback there.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libegpu/snap_internal.h"

unsigned int snap_interval(const struct egpu_snap *s)
{
	return s->egpu && s->egpud_interval_ms ? s->egpud_interval_ms : s->interval_ms;
}

/* Enough events to record one on each of n program streams. */
static int prog_events(struct egpu_snap *s, unsigned int n)
{
	void **grown;
	snap_cures err;

	if (n <= s->nprog_events)
		return 0;
	grown = realloc(s->prog_events, n * sizeof(*grown));
	if (!grown)
		return snap_fail(s, -ENOMEM, "out of memory");
	s->prog_events = grown;
	while (s->nprog_events < n) {
		err = s->cu->event_create(&s->prog_events[s->nprog_events],
					  SNAP_CU_EVENT_DISABLE_TIMING);
		if (err)
			return snap_fail_cuda(s, "cuEventCreate", err);
		s->nprog_events++;
	}
	return 0;
}

/* The slots a failed start wrote to are not valid copies (already 0). */
static void abandon(struct egpu_snap *s)
{
	unsigned int i;

	for (i = 0; i < s->nbufs; i++)
		s->bufs[i]->writing = -1;
}

int snap_take(struct egpu_snap *s, void *const *streams, unsigned int n, egpu_snap_done_fn done,
	      void *arg)
{
	uint64_t copied = 0, start = snap_now_ns();
	snap_cures err;
	unsigned int i;
	int r;

	if (s->busy)
		return snap_fail(s, -EBUSY, "a snapshot is in progress");
	if (!s->nbufs)
		return snap_fail(s, -ENODATA, "no buffers registered");
	r = snap_ctx_enter(s);
	if (r)
		return r;
	r = prog_events(s, n);
	for (i = 0; !r && i < n; i++) {
		err = s->cu->event_record(s->prog_events[i], streams[i]);
		if (err)
			r = snap_fail_cuda(s, "cuEventRecord", err);
	}
	for (i = 0; !r && i < n; i++) {
		err = s->cu->stream_wait_event(s->stream, s->prog_events[i], 0);
		if (err)
			r = snap_fail_cuda(s, "cuStreamWaitEvent", err);
	}
	for (i = 0; !r && i < s->nbufs; i++) {
		struct snap_buffer *b = s->bufs[i];
		uint64_t c;

		/* never the slot of the last complete snapshot */
		b->writing = b->complete < 0 ? 0 : 1 - b->complete;
		r = snap_buffer_copy(s, b, b->writing, &c);
		copied += c;
	}
	if (!r) {
		err = s->cu->event_record(s->done_event, s->stream);
		if (err)
			r = snap_fail_cuda(s, "cuEventRecord", err);
	}
	/*
	 * A program stream that failed to wait could overwrite a buffer
	 * being copied: the snapshot is abandoned (the streams that did wait
	 * are held only until the copies end).
	 */
	for (i = 0; !r && i < n; i++) {
		err = s->cu->stream_wait_event(streams[i], s->done_event, 0);
		if (err)
			r = snap_fail_cuda(s, "cuStreamWaitEvent", err);
	}
	/*
	 * A failed start leaves no copy in flight: they would write a slot
	 * that unregister or free may release (a failure here means a lost
	 * device, whose copies stop anyway).
	 */
	if (r)
		s->cu->stream_synchronize(s->stream);
	snap_ctx_leave(s);
	s->last_start_ns = start;
	if (r) {
		abandon(s);
		s->last_status = r;
		return r;
	}
	s->busy = true;
	s->busy_gen = s->next_gen++;
	s->busy_ns = start;
	s->busy_copied = copied;
	s->done = done;
	s->done_arg = arg;
	return 0;
}

/* The snapshot in progress ended with status (0: its copies are all done). */
static int finish(struct egpu_snap *s, int status)
{
	egpu_snap_done_fn done = s->done;
	unsigned int i;

	for (i = 0; i < s->nbufs; i++) {
		struct snap_buffer *b = s->bufs[i];

		if (!status) {
			b->slot_gen[b->writing] = s->busy_gen;
			b->complete = b->writing;
		}
		b->writing = -1;
	}
	s->busy = false;
	s->done = NULL;
	s->last_status = status;
	if (!status) {
		s->complete_gen = s->busy_gen;
		s->complete_ns = s->busy_ns;
		s->complete_copied = s->busy_copied;
		snap_report_completed(s);
	}
	if (done)
		done(s, status, s->done_arg);
	return status;
}

/* Query the done event once: 1 not yet, else what finish() returns. */
static int check(struct egpu_snap *s, bool block)
{
	snap_cures err;
	int r;

	r = snap_ctx_enter(s);
	if (r)
		return finish(s, r);
	err = block ? s->cu->event_synchronize(s->done_event) : s->cu->event_query(s->done_event);
	snap_ctx_leave(s);
	if (err == SNAP_CU_NOT_READY)
		return 1;
	if (err)
		return finish(s, snap_fail_cuda(s, block ? "cuEventSynchronize" : "cuEventQuery",
						err));
	return finish(s, 0);
}

EGPU_EXPORT int egpu_snap_poll(struct egpu_snap *s)
{
	int r = s->busy ? check(s, false) : 0;

	snap_report_flush(s);
	return r;
}

EGPU_EXPORT int egpu_snap_wait(struct egpu_snap *s, int timeout_ms)
{
	uint64_t deadline = snap_now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000u;
	int r;

	if (!s->busy)
		return 0;
	if (timeout_ms < 0)
		return check(s, true);
	for (;;) {
		struct timespec nap = { 0, 200 * 1000 };

		r = check(s, false);
		if (r != 1)
			return r;
		if (snap_now_ns() >= deadline)
			return snap_fail(s, -ETIMEDOUT, "the snapshot is still in progress");
		/* the driver has no event wait with a timeout: short naps */
		nanosleep(&nap, NULL);
	}
}

EGPU_EXPORT int egpu_snap_take(struct egpu_snap *s, void *stream, egpu_snap_done_fn done,
			       void *arg)
{
	return snap_take(s, &stream, 1, done, arg);
}

EGPU_EXPORT int egpu_snap_take_streams(struct egpu_snap *s, void *const *streams,
				       unsigned int nstreams, egpu_snap_done_fn done, void *arg)
{
	if (!nstreams || !streams)
		return snap_fail(s, -EINVAL, "no streams");
	return snap_take(s, streams, nstreams, done, arg);
}

EGPU_EXPORT int egpu_snap_take_quiesced(struct egpu_snap *s)
{
	snap_cures err;
	int r;

	if (s->busy)
		return snap_fail(s, -EBUSY, "a snapshot is in progress");
	r = snap_ctx_enter(s);
	if (r)
		return r;
	err = s->cu->ctx_synchronize();
	snap_ctx_leave(s);
	if (err) {
		s->last_status = snap_fail_cuda(s, "cuCtxSynchronize", err);
		return s->last_status;
	}
	/* the context is idle: no program stream to order against */
	r = snap_take(s, NULL, 0, NULL, NULL);
	return r ? r : egpu_snap_wait(s, -1);
}

EGPU_EXPORT int egpu_snap_take_wait(struct egpu_snap *s, void *stream)
{
	int r = egpu_snap_take(s, stream, NULL, NULL);

	return r ? r : egpu_snap_wait(s, -1);
}

EGPU_EXPORT int egpu_snap_set_interval(struct egpu_snap *s, unsigned int interval_ms)
{
	s->interval_ms = interval_ms;
	return 0;
}

EGPU_EXPORT int egpu_snap_maybe(struct egpu_snap *s, void *stream)
{
	unsigned int interval = snap_interval(s);
	int r = egpu_snap_poll(s);

	if (r < 0)
		return r;
	if (s->busy || !interval || !s->nbufs)
		return 0;
	if (s->last_start_ns && snap_now_ns() - s->last_start_ns < (uint64_t)interval * 1000000u)
		return 0;
	r = egpu_snap_take(s, stream, NULL, NULL);
	return r ? r : 1;
}
