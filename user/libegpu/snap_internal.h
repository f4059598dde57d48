/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libegpu snapshots, inside: the CUDA driver entry points (snapshot_cuda.c),
 * the set and its buffers (snapshot.c, snapshot_buffers.c), the copies
 * (snapshot_copy.c) and what is said to egpud (snapshot_report.c).
 */
#ifndef EGPU_SNAP_INTERNAL_H
#define EGPU_SNAP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "libegpu/egpu_internal.h"
#include "libegpu/egpu_snapshot.h"

/* --- the CUDA driver API, loaded at run time (snapshot_cuda.c) ------------ */

typedef int snap_cures;

/* CUresult values acted upon, and flags (cuda.h's numbers). */
#define SNAP_CU_SUCCESS			0
#define SNAP_CU_NOT_READY		600
#define SNAP_CU_STREAM_NON_BLOCKING	0x1
#define SNAP_CU_EVENT_DISABLE_TIMING	0x2
#define SNAP_CU_MEMHOSTALLOC_PORTABLE	0x1

struct snap_cuda {
	snap_cures (*init)(unsigned int flags);
	snap_cures (*device_get)(int *dev, int ordinal);
	snap_cures (*device_get_pci_bus_id)(char *buf, int len, int dev);
	snap_cures (*get_error_name)(snap_cures err, const char **name);
	snap_cures (*primary_ctx_retain)(void **ctx, int dev);
	snap_cures (*primary_ctx_release)(int dev);
	snap_cures (*ctx_get_current)(void **ctx);
	snap_cures (*ctx_get_device)(int *dev);
	snap_cures (*ctx_push)(void *ctx);
	snap_cures (*ctx_pop)(void **ctx);
	snap_cures (*ctx_synchronize)(void);
	snap_cures (*mem_alloc)(uint64_t *dptr, size_t bytes);
	snap_cures (*mem_free)(uint64_t dptr);
	snap_cures (*mem_host_alloc)(void **p, size_t bytes, unsigned int flags);
	snap_cures (*mem_free_host)(void *p);
	snap_cures (*stream_create)(void **stream, unsigned int flags);
	snap_cures (*stream_destroy)(void *stream);
	snap_cures (*stream_synchronize)(void *stream);
	snap_cures (*stream_wait_event)(void *stream, void *event, unsigned int flags);
	snap_cures (*event_create)(void **event, unsigned int flags);
	snap_cures (*event_destroy)(void *event);
	snap_cures (*event_record)(void *event, void *stream);
	snap_cures (*event_query)(void *event);
	snap_cures (*event_synchronize)(void *event);
	snap_cures (*memcpy_dtoh_async)(void *dst, uint64_t src, size_t bytes, void *stream);
	snap_cures (*memcpy_htod_async)(uint64_t dst, const void *src, size_t bytes,
					void *stream);
};

/*
 * The driver: dlopen($EGPUHP_LIBCUDA or "libcuda.so.1") and cuInit once
 * per process.  NULL with why filled when there is none.
 */
EGPU_INTERNAL const struct snap_cuda *snap_cuda_get(char *why, size_t len);

/* -errno for a CUresult (-ENODEV: the device is gone, -ENOMEM, -EINVAL, -EIO). */
EGPU_INTERNAL int snap_cuda_errno(snap_cures err);

/* "CUDA_ERROR_ILLEGAL_ADDRESS (700)" into buf: egpu_cuda_errname() with cu's driver. */
EGPU_INTERNAL const char *snap_cuda_errname(const struct snap_cuda *cu, snap_cures err,
					    char *buf, size_t len);

/* --- the set ----------------------------------------------------------------- */

struct snap_buffer {
	char name[EGPU_SNAP_NAME_MAX];
	uint64_t dptr;		/* 0: none on the set's device yet */
	uint64_t bytes;
	bool owned;		/* dptr was allocated by egpu_snap_restore() */
	void *slot[2];		/* pinned host copies */
	/* the snapshot generation a slot holds whole, 0: not a valid copy */
	uint64_t slot_gen[2];
	int complete;		/* the slot of the last complete snapshot, -1: none */
	int writing;		/* the slot the snapshot in progress writes, -1 */
	/* per EGPU_SNAP_CHUNK: the generation of the first snapshot after its last write */
	uint64_t *chunk_gen;
	size_t nchunks;
};

struct egpu_snap {
	const struct snap_cuda *cu;
	unsigned int flags;
	int device;		/* ordinal */
	int cu_dev;		/* CUdevice */
	char pci[32];		/* the device's PCI address, "" if unknown */
	void *ctx;
	bool primary;		/* ctx is the retained primary context of cu_dev */
	void *stream;		/* libegpu's own, non-blocking */
	void *done_event;	/* recorded on stream after a snapshot's copies */
	void **prog_events;	/* recorded on the program's streams */
	unsigned int nprog_events;

	struct snap_buffer **bufs;
	unsigned int nbufs, capbufs;

	uint64_t next_gen;	/* the generation the next snapshot gets */
	uint64_t complete_gen;	/* of the last complete snapshot, 0: none */
	uint64_t complete_ns;	/* CLOCK_MONOTONIC at its take */
	uint64_t complete_copied;
	int last_status;	/* of the last snapshot that finished */

	/* the snapshot in progress */
	bool busy;
	uint64_t busy_gen;
	uint64_t busy_ns;
	uint64_t busy_copied;
	egpu_snap_done_fn done;
	void *done_arg;
	uint64_t last_start_ns;	/* of the last snapshot started (periodic) */

	unsigned int interval_ms;	/* the program's own */
	unsigned int egpud_interval_ms;	/* egpud's "snapshot-interval", 0: none */

	struct egpu *egpu;	/* attached watch connection, NULL */
	bool report_pending;	/* a completed snapshot not yet reported */
	bool taking_final;	/* on LEAVING: its line is the final one, not this */
	uint64_t last_report_ns;

	char err[200];		/* egpu_snap_last_error() */
};

/* CLOCK_MONOTONIC in nanoseconds. */
EGPU_INTERNAL uint64_t snap_now_ns(void);

/* Record a failure: "what: CUresult name" (when err is a CUresult) into s->err. */
EGPU_INTERNAL int snap_fail_cuda(struct egpu_snap *s, const char *what, snap_cures err);
EGPU_INTERNAL int snap_fail(struct egpu_snap *s, int neg_errno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Make the set's context current around driver calls (push/pop). */
EGPU_INTERNAL int snap_ctx_enter(struct egpu_snap *s);
EGPU_INTERNAL void snap_ctx_leave(struct egpu_snap *s);
/*
 * For freeing: push the context if that works (true: pop it after), and
 * free all the same if not -- a failed push must not leak what is freed.
 */
EGPU_INTERNAL bool snap_ctx_enter_cleanup(struct egpu_snap *s);

/* snapshot_buffers.c */
EGPU_INTERNAL struct snap_buffer *snap_find(const struct egpu_snap *s, const char *name);
EGPU_INTERNAL void snap_buffer_free(struct egpu_snap *s, struct snap_buffer *b);
/* The device now holds the last complete snapshot of b (after a restore). */
EGPU_INTERNAL void snap_buffer_restored(struct egpu_snap *s, struct snap_buffer *b);
/*
 * Enqueue the copies that bring slot k of b up to date (every chunk
 * written since the generation it holds); the bytes enqueued into
 * *copied.  0 or -errno (some copies may have been enqueued).
 */
EGPU_INTERNAL int snap_buffer_copy(struct egpu_snap *s, struct snap_buffer *b, int k,
				   uint64_t *copied);

/* snapshot_copy.c */
EGPU_INTERNAL int snap_take(struct egpu_snap *s, void *const *streams, unsigned int n,
			    egpu_snap_done_fn done, void *arg);
EGPU_INTERNAL unsigned int snap_interval(const struct egpu_snap *s);

/* snapshot_report.c */
EGPU_INTERNAL void snap_report_completed(struct egpu_snap *s);
EGPU_INTERNAL void snap_report_flush(struct egpu_snap *s);

#endif /* EGPU_SNAP_INTERNAL_H */
