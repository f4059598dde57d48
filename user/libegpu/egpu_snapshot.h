/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libegpu snapshots: keep a recent copy of a CUDA program's device buffers
 * in pinned host memory, so that the program survives its external GPU
 * leaving (a final copy before it lets go) or being lost (the last copy
 * stays in host memory), and can rebuild on another GPU or on the CPU.
 *
 *   struct egpu_snap *s = egpu_snap_new(0, 0);
 *   egpu_snap_register(s, "weights", (uint64_t)d_weights, bytes);
 *   egpu_snap_set_interval(s, 5000);
 *   egpu_snap_attach(s, e);              // e from egpu_open()
 *   for (;;) {
 *           train_step(stream);
 *           egpu_snap_maybe(s, stream);  // at the step boundary
 *           while (egpu_next(e, &ev, 0) > 0)
 *                   if (ev.kind == EGPU_EVENT_LEAVING)   // final copy done
 *                           release_gpu(), egpu_ack(e);
 *                   else if (ev.kind == EGPU_EVENT_LOST)
 *                           egpu_snap_restore(s, other_gpu);
 *   }
 *
 * The CUDA driver (libcuda.so.1, or $EGPUHP_LIBCUDA) is loaded at run
 * time: a program linking libegpu runs without CUDA, and egpu_snap_new()
 * then fails with -ENOSYS.
 *
 * Consistency: a snapshot is ordered against the program's stream.
 * egpu_snap_take() records an event on that stream; libegpu's own
 * (non-blocking) stream waits for it, copies every buffer device to host,
 * and records a done event; the program's stream then waits for the done
 * event.  So everything the program enqueued on its stream before the call
 * is in the snapshot, nothing enqueued after it is, and the program's later
 * kernels cannot overwrite a buffer while it is being copied: its stream
 * pauses only for the copy, the calling thread does not block.  A program
 * writing the buffers from several streams uses egpu_snap_take_streams()
 * (the same, with every stream), or egpu_snap_take_quiesced().
 *
 * Double buffering: each buffer has two pinned host slots.  A snapshot is
 * written into the slot that does not hold the last complete snapshot, and
 * becomes the last complete one only when all of its copies have finished
 * without error: a snapshot that fails, or is still in progress, or is cut
 * short by the GPU being lost, never changes the last complete one.
 *
 * Incremental snapshots (EGPU_SNAP_EXPLICIT_DIRTY): buffers are tracked in
 * chunks of EGPU_SNAP_CHUNK bytes, each with the generation it was last
 * marked dirty in; a slot copies every chunk written since the generation
 * it holds, so both slots stay correct.  Without the flag every snapshot
 * copies every buffer whole (a program that does not say what it wrote
 * still gets a correct snapshot).
 *
 * Errors: functions return 0 (or a count) or a negative errno; CUDA errors
 * are mapped (-ENODEV: the device is gone or unusable, -ENOMEM: out of
 * device or pinned memory, -EIO: any other CUDA error) and
 * egpu_snap_last_error() says which driver call failed with which
 * CUresult.  Nothing aborts the program.
 *
 * Threads: a set is used from one thread at a time (the caller serialises);
 * completion callbacks run in that thread, inside egpu_snap_poll(),
 * egpu_snap_wait(), egpu_snap_maybe() or egpu_snap_take*() -- never in a
 * thread of libegpu.  Different sets may be used from different threads.
 * An attached set is driven by egpu_next() on the same struct egpu too, so
 * the thread calling egpu_next() must be the one using the set.
 *
 * Link with -legpu; #include <egpu_snapshot.h> (it includes <egpu.h>).
 */
#ifndef EGPU_SNAPSHOT_H
#define EGPU_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "egpu.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest buffer name, with its terminating NUL. */
#define EGPU_SNAP_NAME_MAX	64

/* Granularity of dirty tracking (EGPU_SNAP_EXPLICIT_DIRTY). */
#define EGPU_SNAP_CHUNK		(2u << 20)

/* Flags of egpu_snap_new(). */
enum egpu_snap_flags {
	/*
	 * Use the CUDA context current on the calling thread instead of the
	 * device's primary context (the one the runtime API and PyTorch
	 * use, so their pointers are valid in it: the default).
	 */
	EGPU_SNAP_CURRENT_CTX = 1u << 0,
	/*
	 * Copy only what egpu_snap_mark_dirty() marked (plus, once, each
	 * newly registered buffer whole).
	 */
	EGPU_SNAP_EXPLICIT_DIRTY = 1u << 1,
};

struct egpu_snap;

/*
 * What egpu_snap_info() reports.  The layout only grows at its end
 * (reserved fields are zero).
 */
struct egpu_snap_info {
	uint64_t generation;	/* of the last complete snapshot, 0: none yet */
	uint64_t bytes;		/* registered bytes (what a snapshot holds) */
	uint64_t taken_ns;	/* CLOCK_MONOTONIC when the last complete one was taken, 0 */
	uint64_t age_ns;	/* now - taken_ns, 0 if none */
	uint64_t last_copied;	/* bytes the last complete snapshot copied */
	uint32_t buffers;	/* registered buffers */
	uint32_t interval_ms;	/* periodic interval in effect, 0: none */
	int32_t in_progress;	/* 1 while a snapshot is being taken */
	int32_t last_error;	/* -errno of the last failed snapshot, 0 if none */
	int32_t device;		/* CUDA device ordinal the set reads from */
	int32_t attached;	/* 1 if attached to a struct egpu */
	uint64_t reserved[4];
};

/*
 * egpu_snap_done_fn - a snapshot finished
 * @s: the set
 * @status: 0 (it is now the last complete snapshot) or -errno
 * @arg: the argument given to egpu_snap_take*()
 *
 * Runs in the thread that called egpu_snap_poll(), egpu_snap_wait(),
 * egpu_snap_maybe(), egpu_snap_take*() or egpu_next(); it may call
 * egpu_snap_info() and egpu_snap_host_copy() but not start a snapshot or
 * free the set.
 */
typedef void (*egpu_snap_done_fn)(struct egpu_snap *s, int status, void *arg);

/**
 * egpu_snap_new() - a snapshot set reading buffers of one CUDA device
 * @cuda_device: CUDA device ordinal (as cuDeviceGet takes it)
 * @flags: enum egpu_snap_flags
 *
 * Loads the CUDA driver if needed, retains the device's primary context
 * (or takes the current one, EGPU_SNAP_CURRENT_CTX: then @cuda_device is
 * only what egpu_snap_info() reports, and the set cannot move to another
 * device) and creates libegpu's own stream in it.
 *
 * Return: the set, or NULL with errno set (ENOSYS: no CUDA driver, ENODEV:
 * no such device, EINVAL: unknown flags); egpu_snap_last_error(NULL) says
 * why in words.
 */
struct egpu_snap *egpu_snap_new(int cuda_device, unsigned int flags);

/**
 * egpu_snap_free() - wait for a snapshot in progress, detach, free
 * @s: the set, or NULL
 *
 * Frees the pinned host slots, the device memory egpu_snap_restore()
 * allocated, libegpu's stream and events, and releases the context.  An
 * attached set first says "snapshot-off" to egpud.  The program's own
 * device buffers are never freed.
 */
void egpu_snap_free(struct egpu_snap *s);

/**
 * egpu_snap_register() - protect a device buffer
 * @s: the set
 * @name: unique name, 1 to EGPU_SNAP_NAME_MAX - 1 bytes, no space or
 *        control character (it may go into egpud's logs)
 * @dptr: device pointer (CUdeviceptr; a tensor's data_ptr())
 * @bytes: its size, > 0
 *
 * Allocates the buffer's two pinned host slots (2 * @bytes of host memory).
 * The buffer is in the next snapshot whole.
 *
 * Return: 0, -EINVAL (bad name, dptr 0 or bytes 0), -EEXIST (name taken),
 * -EBUSY (a snapshot is in progress), -ENOMEM (no pinned memory), or a
 * mapped CUDA error.
 */
int egpu_snap_register(struct egpu_snap *s, const char *name, uint64_t dptr, uint64_t bytes);

/**
 * egpu_snap_unregister() - stop protecting a buffer, free its host slots
 * @s: the set
 * @name: a registered name
 *
 * Return: 0, -ENOENT, or -EBUSY while a snapshot is in progress.
 */
int egpu_snap_unregister(struct egpu_snap *s, const char *name);

/**
 * egpu_snap_mark_dirty() - say that a range of a buffer was written
 * @s: the set
 * @name: a registered name, or NULL for every buffer
 * @offset: first byte written
 * @len: bytes written; 0 means to the end of the buffer
 *
 * Only matters with EGPU_SNAP_EXPLICIT_DIRTY.  The range counts for the
 * next snapshot taken; while one is in progress it counts for the one
 * after (what the stream ordering puts after the current one).
 *
 * Return: 0, -ENOENT, or -EINVAL (range outside the buffer).
 */
int egpu_snap_mark_dirty(struct egpu_snap *s, const char *name, uint64_t offset, uint64_t len);

/**
 * egpu_snap_take() - start a snapshot ordered against the program's stream
 * @s: the set
 * @stream: the program's CUstream, NULL for the legacy default stream
 * @done: called once when it finishes (may be NULL)
 * @arg: for @done
 *
 * Does not block: the copy runs on libegpu's stream after everything
 * enqueued on @stream so far, and work enqueued on @stream afterwards waits
 * for the copy.  Finish it with egpu_snap_poll() or egpu_snap_wait().
 *
 * Return: 0 started, -EBUSY (one is in progress), -ENODATA (no buffers),
 * -ENXIO (a buffer has no device memory since egpu_snap_set_device()), or
 * a mapped CUDA error (nothing started, the last complete snapshot
 * unchanged).
 */
int egpu_snap_take(struct egpu_snap *s, void *stream, egpu_snap_done_fn done, void *arg);

/**
 * egpu_snap_take_streams() - egpu_snap_take() for a program with several
 *                            streams writing the buffers
 * @s: the set
 * @streams: the program's CUstreams (NULL entries: the legacy stream)
 * @nstreams: 1 or more
 * @done: as for egpu_snap_take()
 * @arg: for @done
 *
 * The copy waits for the work enqueued so far on every one of @streams,
 * and each of them waits for the copy.
 *
 * Return: as egpu_snap_take(); -EINVAL if @nstreams is 0.
 */
int egpu_snap_take_streams(struct egpu_snap *s, void *const *streams, unsigned int nstreams,
			   egpu_snap_done_fn done, void *arg);

/**
 * egpu_snap_take_quiesced() - snapshot after the whole context is idle
 * @s: the set
 *
 * For programs that cannot name their streams: synchronises the context
 * (cuCtxSynchronize: every stream's work finishes), then copies and waits
 * for the copy.  Blocks the calling thread; the program must not enqueue
 * writes to the buffers from other threads meanwhile.
 *
 * Return: 0 (the last complete snapshot is this one), or -errno.
 */
int egpu_snap_take_quiesced(struct egpu_snap *s);

/**
 * egpu_snap_poll() - finish a snapshot if its copies are done
 * @s: the set
 *
 * Runs the done callback of a snapshot that finished.
 *
 * Return: 1 one is still in progress, 0 none is (any finished one
 * succeeded), or the -errno of the snapshot that finished in this call.
 */
int egpu_snap_poll(struct egpu_snap *s);

/**
 * egpu_snap_wait() - wait until no snapshot is in progress
 * @s: the set
 * @timeout_ms: -1 forever, 0 poll
 *
 * Return: 0, -ETIMEDOUT (still in progress), or the -errno of the snapshot
 * that finished in this call.
 */
int egpu_snap_wait(struct egpu_snap *s, int timeout_ms);

/**
 * egpu_snap_take_wait() - egpu_snap_take() then egpu_snap_wait(s, -1)
 * @s: the set
 * @stream: the program's CUstream, NULL for the legacy default stream
 *
 * Return: 0 (the last complete snapshot is this one), or -errno.
 */
int egpu_snap_take_wait(struct egpu_snap *s, void *stream);

/**
 * egpu_snap_set_interval() - the program's own periodic interval
 * @s: the set
 * @interval_ms: 0 for none
 *
 * egpud's "snapshot-interval" (when attached and not 0) takes precedence.
 *
 * Return: 0.
 */
int egpu_snap_set_interval(struct egpu_snap *s, unsigned int interval_ms);

/**
 * egpu_snap_maybe() - the periodic snapshot, at the program's step boundary
 * @s: the set
 * @stream: the program's CUstream, NULL for the legacy default stream
 *
 * Finishes a snapshot in progress if it is done (egpu_snap_poll()), and
 * starts one with egpu_snap_take() when none is in progress and the
 * interval in effect has elapsed since the last one started.  libegpu
 * never snapshots from a thread of its own: only a point the program
 * chooses is consistent across its buffers.
 *
 * Return: 1 a snapshot was started, 0 not, or -errno (of the start, or of
 * a snapshot that finished in this call).
 */
int egpu_snap_maybe(struct egpu_snap *s, void *stream);

/**
 * egpu_snap_attach() - report to egpud through a watch connection
 * @s: the set
 * @e: from egpu_open(), or NULL to detach
 *
 * Sends "snapshot bytes=... buffers=... taken-ns=... interval-ms=..." now
 * and after completed snapshots (at most one such line a second), applies
 * egpud's "snapshot-interval" lines, and makes egpu_next() take a final
 * snapshot (and wait for it, and send "... final=1") when LEAVING comes
 * for the set's GPU, before it returns the event.  One set per struct egpu;
 * @e must outlive the attachment (detach or free the set before
 * egpu_close()).  Detaching sends "snapshot-off".
 *
 * Return: 0, -EBUSY (@e has another set attached), or -errno of sending.
 */
int egpu_snap_attach(struct egpu_snap *s, struct egpu *e);

/**
 * egpu_snap_info() - age, size and state of the set
 * @s: the set
 * @info: filled
 *
 * Return: 0.
 */
int egpu_snap_info(const struct egpu_snap *s, struct egpu_snap_info *info);

/**
 * egpu_snap_buffer_name() - the registered names, for enumerating
 * @s: the set
 * @index: 0 to info.buffers - 1 (registration order)
 *
 * Return: the name, or NULL past the end.
 */
const char *egpu_snap_buffer_name(const struct egpu_snap *s, unsigned int index);

/**
 * egpu_snap_buffer_dptr() - where a buffer lives now
 * @s: the set
 * @name: a registered name
 *
 * Return: its device pointer (the registered one, or the one
 * egpu_snap_restore() allocated or egpu_snap_restore_into() gave), 0 if
 * @name is unknown or the buffer has no device memory yet (after
 * egpu_snap_set_device()).
 */
uint64_t egpu_snap_buffer_dptr(const struct egpu_snap *s, const char *name);

/**
 * egpu_snap_host_copy() - the last complete snapshot of a buffer, in host
 *                         memory (the CPU fallback)
 * @s: the set
 * @name: a registered name
 * @bytes: set to its size (may be NULL)
 *
 * Return: a pointer into the pinned slot, valid until the set is freed or
 * the buffer unregistered, or until a snapshot started after this call
 * completes; NULL with errno ENOENT (unknown name) or ENODATA (no complete
 * snapshot of it yet).
 */
const void *egpu_snap_host_copy(const struct egpu_snap *s, const char *name, uint64_t *bytes);

/**
 * egpu_snap_set_device() - move the set to another CUDA device
 * @s: the set
 * @cuda_device: CUDA device ordinal (may be the current one)
 *
 * After LOST, or to go on on another GPU: waits for (or abandons, if the
 * old device fails) a snapshot in progress, then takes the new device's
 * primary context and creates libegpu's stream there.  The host slots and
 * the last complete snapshot are kept; every buffer is left without device
 * memory until egpu_snap_restore_into() gives it some (or use
 * egpu_snap_restore(), which does all of it).  Device memory libegpu
 * allocated on the old device is freed if the old device still answers.
 *
 * Return: 0 or -errno (the set stays on the old device).
 */
int egpu_snap_set_device(struct egpu_snap *s, int cuda_device);

/**
 * egpu_snap_restore() - rebuild every buffer on a device
 * @s: the set
 * @cuda_device: CUDA device ordinal (the current one, or another)
 *
 * egpu_snap_set_device() if @cuda_device is another one, then allocates
 * every buffer's device memory there (owned by the set, freed by
 * egpu_snap_free()) and copies the last complete snapshot into it; find
 * the new pointers with egpu_snap_buffer_dptr().  Later snapshots read the
 * new memory.  Synchronous.
 *
 * Return: 0, -ENODATA (no complete snapshot), or -errno (memory allocated
 * by a failed call is freed; the last complete snapshot is unchanged).
 */
int egpu_snap_restore(struct egpu_snap *s, int cuda_device);

/**
 * egpu_snap_restore_into() - copy a buffer's last snapshot into memory the
 *                            program allocated
 * @s: the set
 * @name: a registered name
 * @dptr: device memory of the set's device, at least the buffer's size
 * @stream: a CUstream to order the copy on (NULL: the legacy stream)
 *
 * The copy is enqueued on @stream and finished before the call returns;
 * from then on snapshots read @name from @dptr (memory libegpu allocated
 * for it before is freed).
 *
 * Return: 0, -ENOENT, -EINVAL (dptr 0), -ENODATA, -EBUSY (a snapshot in
 * progress), or a mapped CUDA error.
 */
int egpu_snap_restore_into(struct egpu_snap *s, const char *name, uint64_t dptr, void *stream);

/**
 * egpu_snap_last_error() - what went wrong last, in words
 * @s: the set, or NULL for the calling thread's last failed egpu_snap_new()
 *
 * Return: a message ("cuMemcpyDtoHAsync: CUDA_ERROR_ILLEGAL_ADDRESS (700)"),
 * "" if nothing failed; valid until the next call on @s.
 */
const char *egpu_snap_last_error(const struct egpu_snap *s);

#ifdef __cplusplus
}
#endif

#endif /* EGPU_SNAPSHOT_H */
