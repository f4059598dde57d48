// SPDX-License-Identifier: GPL-2.0
/*
 * libegpu snapshots against the FAKE CUDA driver (tests/fakecuda/):
 * registration, dirty tracking over alternating slots, double buffering,
 * the ordering against the program's stream, restore onto the other fake
 * GPU, a failure injected at every driver call the library makes, and the
 * GPU lost in the middle of a snapshot.  The test plays the program: it
 * holds the primary context of fake GPU 0, allocates the buffers and
 * writes them (through the fake's host-memory pointers, or memsets
 * enqueued on its stream as its "kernels").
 */
// unit-test-links: libegpu/egpu.c libegpu/snapshot.c libegpu/snapshot_buffers.c libegpu/snapshot_copy.c libegpu/snapshot_cuda.c libegpu/snapshot_report.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "helpers/fakecuda_ctl.h"
#include "libegpu/egpu_snapshot.h"

#define CH		EGPU_SNAP_CHUNK
/* five whole chunks and a partial one: runs, and a short last chunk */
#define A_BYTES		(5 * (size_t)CH + 1000)
#define B_BYTES		((size_t)333)

static struct fakecuda_ctl fc;
static void *ctx0, *ctx1;

static int setup(void **state)
{
	fakecuda_ctl_load(&fc);
	assert_int_equal(fc.primary_retain(&ctx0, 0), 0);
	assert_int_equal(fc.primary_retain(&ctx1, 1), 0);
	assert_int_equal(fc.ctx_set_current(ctx0), 0);
	return 0;
}

static int teardown(void **state)
{
	fc.ctx_set_current(NULL);
	fc.primary_release(0);
	fc.primary_release(1);
	return 0;
}

static uint64_t dev_alloc(size_t n, unsigned char fill)
{
	uint64_t d = 0;

	assert_int_equal(fc.mem_alloc(&d, n), 0);
	memset(fakecuda_mem(d), fill, n);
	return d;
}

/* host_copy of name equals want, byte for byte */
static void assert_host(struct egpu_snap *s, const char *name, const unsigned char *want,
			size_t n)
{
	uint64_t bytes = 0;
	const unsigned char *h = egpu_snap_host_copy(s, name, &bytes);

	assert_non_null(h);
	assert_int_equal(bytes, n);
	assert_memory_equal(h, want, n);
}

static void assert_host_fill(struct egpu_snap *s, const char *name, unsigned char v, size_t n)
{
	unsigned char *want = malloc(n);

	assert_non_null(want);
	memset(want, v, n);
	assert_host(s, name, want, n);
	free(want);
}

/* Poll (no clock) until stream has n ops left; the fake's worker runs them. */
static void wait_pending(void *stream, long n)
{
	unsigned long spins;

	for (spins = 0; fc.pending(stream) != n; spins++) {
		assert_true(spins < 100000000ul);
		sched_yield();
	}
}

/* Without a driver, egpu_snap_new() fails with ENOSYS and says why. */
static void fakecuda_no_driver_is_enosys(void **state)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct egpu_snap *s;

		/* a fresh process image of libegpu: the driver is not loaded yet */
		setenv("EGPUHP_LIBCUDA", "/nonexistent/libcuda.so.1", 1);
		s = egpu_snap_new(0, 0);
		_exit(!s && errno == ENOSYS && strstr(egpu_snap_last_error(NULL), "no CUDA driver")
		      ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void fakecuda_registration(void **state)
{
	uint64_t a = dev_alloc(A_BYTES, 1), b = dev_alloc(B_BYTES, 2), bytes = 0;
	char longname[EGPU_SNAP_NAME_MAX + 1];
	unsigned long live = fc.live();
	struct egpu_snap_info info;
	struct egpu_snap *s;

	assert_null(egpu_snap_new(0, 0x80));
	assert_int_equal(errno, EINVAL);
	assert_null(egpu_snap_new(7, 0));
	assert_int_equal(errno, ENODEV);
	assert_non_null(strstr(egpu_snap_last_error(NULL), "cuDeviceGet"));

	s = egpu_snap_new(0, 0);
	assert_non_null(s);
	assert_int_equal(egpu_snap_take(s, NULL, NULL, NULL), -ENODATA);
	assert_int_equal(egpu_snap_register(s, NULL, a, A_BYTES), -EINVAL);
	assert_int_equal(egpu_snap_register(s, "", a, A_BYTES), -EINVAL);
	assert_int_equal(egpu_snap_register(s, "two words", a, A_BYTES), -EINVAL);
	assert_int_equal(egpu_snap_register(s, "tab\t", a, A_BYTES), -EINVAL);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[EGPU_SNAP_NAME_MAX] = '\0';
	assert_int_equal(egpu_snap_register(s, longname, a, A_BYTES), -EINVAL);
	longname[EGPU_SNAP_NAME_MAX - 1] = '\0';	/* the longest allowed */
	assert_int_equal(egpu_snap_register(s, longname, b, B_BYTES), 0);
	assert_int_equal(egpu_snap_register(s, "a", 0, A_BYTES), -EINVAL);
	assert_int_equal(egpu_snap_register(s, "a", a, 0), -EINVAL);
	assert_int_equal(egpu_snap_register(s, "a", a, A_BYTES), 0);
	assert_int_equal(egpu_snap_register(s, "a", b, B_BYTES), -EEXIST);
	assert_non_null(strstr(egpu_snap_last_error(s), "already"));
	assert_string_equal(egpu_snap_buffer_name(s, 0), longname);
	assert_string_equal(egpu_snap_buffer_name(s, 1), "a");
	assert_null(egpu_snap_buffer_name(s, 2));
	assert_int_equal(egpu_snap_buffer_dptr(s, "a"), a);
	assert_int_equal(egpu_snap_buffer_dptr(s, "nope"), 0);

	/* nothing complete yet */
	assert_null(egpu_snap_host_copy(s, "a", &bytes));
	assert_int_equal(errno, ENODATA);
	assert_int_equal(bytes, A_BYTES);
	assert_null(egpu_snap_host_copy(s, "nope", NULL));
	assert_int_equal(errno, ENOENT);
	egpu_snap_info(s, &info);
	assert_int_equal(info.buffers, 2);
	assert_int_equal(info.bytes, A_BYTES + B_BYTES);
	assert_int_equal(info.generation, 0);
	assert_int_equal(info.taken_ns, 0);

	assert_int_equal(egpu_snap_mark_dirty(s, "a", A_BYTES, 1), -EINVAL);
	assert_int_equal(egpu_snap_mark_dirty(s, "a", 10, A_BYTES), -EINVAL);
	assert_int_equal(egpu_snap_mark_dirty(s, "nope", 0, 0), -ENOENT);
	assert_int_equal(egpu_snap_mark_dirty(s, NULL, 1, 0), -EINVAL);
	assert_int_equal(egpu_snap_mark_dirty(s, "a", A_BYTES - 1, 1), 0);
	assert_int_equal(egpu_snap_unregister(s, "nope"), -ENOENT);
	assert_int_equal(egpu_snap_unregister(s, longname), 0);
	assert_int_equal(egpu_snap_unregister(s, longname), -ENOENT);
	assert_string_equal(egpu_snap_buffer_name(s, 0), "a");
	/* a name unregistered is free again */
	assert_int_equal(egpu_snap_register(s, longname, b, B_BYTES), 0);

	assert_int_equal(egpu_snap_take_wait(s, NULL), 0);
	assert_host_fill(s, "a", 1, A_BYTES);
	assert_host_fill(s, longname, 2, B_BYTES);
	egpu_snap_info(s, &info);
	assert_int_equal(info.generation, 1);
	assert_true(info.taken_ns > 0);
	assert_int_equal(info.last_copied, A_BYTES + B_BYTES);
	assert_int_equal(info.in_progress, 0);
	assert_int_equal(info.device, 0);
	egpu_snap_free(s);
	/* every pinned slot, stream and event libegpu made is gone */
	assert_int_equal(fc.live(), live);
	assert_int_equal(fc.primary_refs(0), 1);	/* the test's own */
	egpu_snap_free(NULL);
	fc.mem_free(a);
	fc.mem_free(b);
}

/*
 * EGPU_SNAP_EXPLICIT_DIRTY: each snapshot copies exactly the chunks
 * written since the generation its slot holds -- checked against a model
 * of the two slots -- and both slots are byte-exact after alternating.
 */
static void fakecuda_dirty_chunks_alternating_slots(void **state)
{
	const size_t nch = (A_BYTES + CH - 1) / CH;
	uint64_t a = dev_alloc(A_BYTES, 0x10), stamp[8], slot_gen[2] = { 0, 0 }, gen;
	unsigned char *dev = fakecuda_mem(a), *image[2];
	struct egpu_snap_info info;
	struct egpu_snap *s;
	int k = 0, round;

	/* per round: which chunks the program writes and marks */
	static const unsigned int writes[][3] = {
		{ 1, 99, 99 }, { 3, 4, 99 }, { 1, 99, 99 }, { 99, 99, 99 }, { 0, 5, 2 },
		{ 5, 99, 99 },
	};

	image[0] = calloc(1, A_BYTES);
	image[1] = calloc(1, A_BYTES);
	assert_non_null(image[0]);
	assert_non_null(image[1]);
	s = egpu_snap_new(0, EGPU_SNAP_EXPLICIT_DIRTY);
	assert_non_null(s);
	assert_int_equal(egpu_snap_register(s, "a", a, A_BYTES), 0);
	for (gen = 0; gen < nch; gen++)
		stamp[gen] = 1;
	for (round = 0; round < 8; round++) {
		uint64_t want = 0;
		size_t c;

		gen = (uint64_t)round + 1;
		if (round >= 1 && round - 1 < (int)(sizeof(writes) / sizeof(writes[0]))) {
			for (c = 0; c < 3; c++) {
				unsigned int w = writes[round - 1][c];
				size_t off = (size_t)w * CH, len = CH;

				if (w == 99)
					continue;
				if (off + len > A_BYTES)
					len = A_BYTES - off;
				/* a short write in the middle of the chunk marks all of it */
				memset(dev + off + 7, (int)(0x20 + round * 8 + c), len - 7);
				assert_int_equal(egpu_snap_mark_dirty(s, "a", off + 7, len - 7), 0);
				stamp[w] = gen;
			}
		}
		/* the slot not holding the last complete one; its chunks older than stamps */
		for (c = 0; c < nch; c++) {
			size_t len = c == nch - 1 ? A_BYTES - c * CH : CH;

			if (!slot_gen[k] || stamp[c] > slot_gen[k])
				want += len;
		}
		assert_int_equal(egpu_snap_take_wait(s, NULL), 0);
		egpu_snap_info(s, &info);
		assert_int_equal(info.generation, gen);
		assert_int_equal(info.last_copied, want);
		memcpy(image[k], dev, A_BYTES);
		slot_gen[k] = gen;
		assert_host(s, "a", image[k], A_BYTES);
		k = 1 - k;
	}
	/* a write not marked is not copied (that is what the flag means) */
	memset(dev, 0x77, 10);
	assert_int_equal(egpu_snap_take_wait(s, NULL), 0);
	assert_host(s, "a", image[1 - k], A_BYTES);
	assert_true(((const unsigned char *)egpu_snap_host_copy(s, "a", NULL))[0] != 0x77);
	egpu_snap_free(s);

	/* without the flag every snapshot is whole: the unmarked write is in */
	s = egpu_snap_new(0, 0);
	assert_non_null(s);
	assert_int_equal(egpu_snap_register(s, "a", a, A_BYTES), 0);
	assert_int_equal(egpu_snap_take_wait(s, NULL), 0);
	memset(dev + A_BYTES - 3, 0x66, 3);
	assert_int_equal(egpu_snap_take_wait(s, NULL), 0);
	assert_int_equal(egpu_snap_take_wait(s, NULL), 0);
	egpu_snap_info(s, &info);
	assert_int_equal(info.last_copied, A_BYTES);
	assert_host(s, "a", dev, A_BYTES);
	egpu_snap_free(s);
	free(image[0]);
	free(image[1]);
	fc.mem_free(a);
}

static int done_calls, done_status;

static void on_done(struct egpu_snap *s, int status, void *arg)
{
	done_calls++;
	done_status = status;
	assert_ptr_equal(arg, &done_calls);
}

/*
 * A snapshot in progress, or one that failed at its start or on the
 * device, never changes the last complete one.
 */
static void fakecuda_double_buffering(void **state)
{
	uint64_t a = dev_alloc(A_BYTES, 0x31), b = dev_alloc(B_BYTES, 0x32);
	struct egpu_snap_info info;
	struct egpu_snap *s = egpu_snap_new(0, 0);

	assert_non_null(s);
	assert_int_equal(egpu_snap_register(s, "a", a, A_BYTES), 0);
	assert_int_equal(egpu_snap_register(s, "b", b, B_BYTES), 0);
	assert_int_equal(egpu_snap_take_wait(s, NULL), 0);

	/* in progress: held streams do no work */
	memset(fakecuda_mem(a), 0x41, A_BYTES);
	memset(fakecuda_mem(b), 0x42, B_BYTES);
	fc.hold_all(1);
	done_calls = 0;
	assert_int_equal(egpu_snap_take(s, NULL, on_done, &done_calls), 0);
	assert_int_equal(egpu_snap_poll(s), 1);
	assert_int_equal(egpu_snap_wait(s, 0), -ETIMEDOUT);
	assert_int_equal(egpu_snap_take(s, NULL, NULL, NULL), -EBUSY);
	assert_int_equal(egpu_snap_unregister(s, "a"), -EBUSY);
	assert_int_equal(egpu_snap_register(s, "c", a, 1), -EBUSY);
	egpu_snap_info(s, &info);
	assert_int_equal(info.in_progress, 1);
	assert_int_equal(info.generation, 1);
	assert_host_fill(s, "a", 0x31, A_BYTES);
	assert_host_fill(s, "b", 0x32, B_BYTES);
	assert_int_equal(done_calls, 0);
	fc.hold_all(0);
	assert_int_equal(egpu_snap_wait(s, -1), 0);
	assert_int_equal(done_calls, 1);
	assert_int_equal(done_status, 0);
	assert_host_fill(s, "a", 0x41, A_BYTES);
	assert_host_fill(s, "b", 0x42, B_BYTES);

	/* b's copy fails after a's was enqueued: a's slot is not taken for complete */
	memset(fakecuda_mem(a), 0x51, A_BYTES);
	memset(fakecuda_mem(b), 0x52, B_BYTES);
	assert_int_equal(fc.inject("cuMemcpyDtoHAsync", 2, FAKECUDA_ILLEGAL_ADDRESS), 0);
	assert_int_equal(egpu_snap_take(s, NULL, NULL, NULL), -ENODEV);
	assert_non_null(strstr(egpu_snap_last_error(s), "cuMemcpyDtoHAsync"));
	assert_non_null(strstr(egpu_snap_last_error(s), "ILLEGAL_ADDRESS"));
	egpu_snap_info(s, &info);
	assert_int_equal(info.generation, 2);
	assert_int_equal(info.last_error, -ENODEV);
	assert_host_fill(s, "a", 0x41, A_BYTES);
	assert_host_fill(s, "b", 0x42, B_BYTES);

	/* the done event reports a failure: the same */
	assert_int_equal(fc.inject("cuEventSynchronize", 1, 999), 0);
	assert_int_equal(egpu_snap_take(s, NULL, NULL, NULL), 0);
	assert_int_equal(egpu_snap_wait(s, -1), -EIO);
	assert_host_fill(s, "a", 0x41, A_BYTES);
	assert_host_fill(s, "b", 0x42, B_BYTES);
	/* and the next one succeeds, into the slot the failures wrote */
	assert_int_equal(egpu_snap_take_wait(s, NULL), 0);
	assert_host_fill(s, "a", 0x51, A_BYTES);
	assert_host_fill(s, "b", 0x52, B_BYTES);
	egpu_snap_info(s, &info);
	assert_int_equal(info.generation, 4);
	assert_int_equal(info.last_error, 0);
	egpu_snap_free(s);
	fc.mem_free(a);
	fc.mem_free(b);
}

/*
 * The ordering guarantee: a write the program enqueued before take() is in
 * the snapshot, one enqueued after is not -- and the program's stream
 * waits for the copy on the device, not the calling thread.
 */
static void fakecuda_ordering_program_stream_waits(void **state)
{
	uint64_t a = dev_alloc(A_BYTES, 0x01);
	struct egpu_snap *s = egpu_snap_new(0, 0);
	void *ps;

	assert_non_null(s);
	assert_int_equal(fc.stream_create(&ps, 0), 0);
	assert_int_equal(egpu_snap_register(s, "a", a, A_BYTES), 0);
	fc.hold_all(1);
	assert_int_equal(fc.memset_async(a, 0x22, A_BYTES, ps), 0);	/* before */
	assert_int_equal(egpu_snap_take(s, ps, NULL, NULL), 0);
	assert_int_equal(fc.memset_async(a, 0x33, A_BYTES, ps), 0);	/* after */
	/*
	 * Only the program's stream runs: it does the first write, records
	 * its event, and stops at the wait for libegpu's copy -- the second
	 * write (and the wait) are left.
	 */
	assert_int_equal(fc.hold_stream(ps, 0), 0);
	wait_pending(ps, 2);
	assert_int_equal(fakecuda_mem(a)[0], 0x22);
	assert_int_equal(fakecuda_mem(a)[A_BYTES - 1], 0x22);
	assert_int_equal(egpu_snap_poll(s), 1);
	fc.hold_all(0);
	assert_int_equal(fc.hold_stream(ps, -1), 0);
	assert_int_equal(egpu_snap_wait(s, -1), 0);
	assert_host_fill(s, "a", 0x22, A_BYTES);
	assert_int_equal(fc.stream_synchronize(ps), 0);
	assert_int_equal(fakecuda_mem(a)[0], 0x33);

	/*
	 * The other way round: libegpu's stream may run but the program's is
	 * held: the copy waits for the program's earlier write.
	 */
	fc.hold_all(0);
	assert_int_equal(fc.hold_stream(ps, 1), 0);
	assert_int_equal(fc.memset_async(a, 0x44, A_BYTES, ps), 0);
	assert_int_equal(egpu_snap_take(s, ps, NULL, NULL), 0);
	assert_int_equal(egpu_snap_poll(s), 1);
	assert_host_fill(s, "a", 0x22, A_BYTES);
	assert_int_equal(fc.hold_stream(ps, -1), 0);
	assert_int_equal(egpu_snap_wait(s, -1), 0);
	assert_host_fill(s, "a", 0x44, A_BYTES);
	egpu_snap_free(s);
	assert_int_equal(fc.stream_destroy(ps), 0);
	fc.mem_free(a);
}

/* Several streams, and the quiesced variant. */
static void fakecuda_streams_and_quiesced(void **state)
{
	uint64_t a = dev_alloc(A_BYTES, 0x01), b = dev_alloc(B_BYTES, 0x02);
	struct egpu_snap *s = egpu_snap_new(0, 0);
	void *ps[2];

	assert_non_null(s);
	assert_int_equal(fc.stream_create(&ps[0], 0), 0);
	assert_int_equal(fc.stream_create(&ps[1], 0), 0);
	assert_int_equal(egpu_snap_register(s, "a", a, A_BYTES), 0);
	assert_int_equal(egpu_snap_register(s, "b", b, B_BYTES), 0);
	assert_int_equal(egpu_snap_take_streams(s, ps, 0, NULL, NULL), -EINVAL);
	/* libegpu's stream held until both writes are queued behind */
	fc.hold_all(1);
	assert_int_equal(fc.memset_async(a, 0x61, A_BYTES, ps[0]), 0);
	assert_int_equal(fc.memset_async(b, 0x62, B_BYTES, ps[1]), 0);
	assert_int_equal(egpu_snap_take_streams(s, ps, 2, NULL, NULL), 0);
	assert_int_equal(fc.memset_async(a, 0x63, A_BYTES, ps[0]), 0);
	assert_int_equal(fc.memset_async(b, 0x64, B_BYTES, ps[1]), 0);
	fc.hold_all(0);
	assert_int_equal(egpu_snap_wait(s, -1), 0);
	assert_host_fill(s, "a", 0x61, A_BYTES);
	assert_host_fill(s, "b", 0x62, B_BYTES);

	/* quiesced: the whole context finishes first, then the copy */
	assert_int_equal(fc.memset_async(a, 0x71, A_BYTES, ps[1]), 0);
	assert_int_equal(fc.memset_async(b, 0x72, B_BYTES, ps[0]), 0);
	assert_int_equal(egpu_snap_take_quiesced(s), 0);
	assert_host_fill(s, "a", 0x71, A_BYTES);
	assert_host_fill(s, "b", 0x72, B_BYTES);
	egpu_snap_free(s);
	assert_int_equal(fc.stream_destroy(ps[0]), 0);
	assert_int_equal(fc.stream_destroy(ps[1]), 0);
	fc.mem_free(a);
	fc.mem_free(b);
}

/* Periodic snapshots: only from egpu_snap_maybe(), only when due. */
static void fakecuda_periodic_maybe(void **state)
{
	uint64_t a = dev_alloc(B_BYTES, 0x05);
	struct egpu_snap_info info;
	struct egpu_snap *s = egpu_snap_new(0, 0);

	assert_non_null(s);
	assert_int_equal(egpu_snap_maybe(s, NULL), 0);	/* no buffers, no interval */
	assert_int_equal(egpu_snap_register(s, "a", a, B_BYTES), 0);
	assert_int_equal(egpu_snap_maybe(s, NULL), 0);	/* no interval */
	assert_int_equal(egpu_snap_set_interval(s, 3600 * 1000), 0);
	egpu_snap_info(s, &info);
	assert_int_equal(info.interval_ms, 3600 * 1000);
	assert_int_equal(egpu_snap_maybe(s, NULL), 1);	/* none yet: due now */
	assert_int_equal(egpu_snap_wait(s, -1), 0);
	assert_int_equal(egpu_snap_maybe(s, NULL), 0);	/* not an hour later */
	egpu_snap_info(s, &info);
	assert_int_equal(info.generation, 1);
	assert_host_fill(s, "a", 0x05, B_BYTES);
	egpu_snap_free(s);
	fc.mem_free(a);
}

/*
 * The GPU is lost while the snapshot's copies are queued: the snapshot
 * fails with -ENODEV, the last complete one is intact, and it is restored
 * onto the other fake GPU (allocated by libegpu) and into memory the
 * program allocated there; snapshots then read the new memory.
 */
static void fakecuda_lost_mid_snapshot_restore_elsewhere(void **state)
{
	uint64_t a = dev_alloc(A_BYTES, 0x81), b = dev_alloc(B_BYTES, 0x82), na, mine;
	unsigned long live = fc.live();
	struct egpu_snap_info info;
	struct egpu_snap *s = egpu_snap_new(0, EGPU_SNAP_EXPLICIT_DIRTY);
	void *ps1;

	assert_non_null(s);
	assert_int_equal(egpu_snap_register(s, "a", a, A_BYTES), 0);
	assert_int_equal(egpu_snap_register(s, "b", b, B_BYTES), 0);
	assert_int_equal(egpu_snap_take_wait(s, NULL), 0);
	memset(fakecuda_mem(a), 0x91, A_BYTES);
	memset(fakecuda_mem(b), 0x92, B_BYTES);
	assert_int_equal(egpu_snap_mark_dirty(s, NULL, 0, 0), 0);
	fc.hold_all(1);
	assert_int_equal(egpu_snap_take(s, NULL, NULL, NULL), 0);
	fc.lose(0, FAKECUDA_DEVICE_UNAVAILABLE);
	fc.hold_all(0);
	assert_int_equal(egpu_snap_wait(s, -1), -ENODEV);
	assert_non_null(strstr(egpu_snap_last_error(s), "DEVICE_UNAVAILABLE"));
	assert_host_fill(s, "a", 0x81, A_BYTES);
	assert_host_fill(s, "b", 0x82, B_BYTES);
	/* nothing more from the lost GPU */
	assert_int_equal(egpu_snap_take(s, NULL, NULL, NULL), -ENODEV);
	assert_host_fill(s, "a", 0x81, A_BYTES);

	/* the CPU fallback needs nothing from the device */
	assert_int_equal(((const unsigned char *)egpu_snap_host_copy(s, "b", NULL))[0], 0x82);

	assert_int_equal(egpu_snap_restore(s, 1), 0);
	egpu_snap_info(s, &info);
	assert_int_equal(info.device, 1);
	na = egpu_snap_buffer_dptr(s, "a");
	assert_true(na != 0 && na != a);
	assert_int_equal(fakecuda_mem(na)[0], 0x81);
	assert_int_equal(fakecuda_mem(na)[A_BYTES - 1], 0x81);
	assert_int_equal(fakecuda_mem(egpu_snap_buffer_dptr(s, "b"))[B_BYTES - 1], 0x82);

	/* snapshots now read the new GPU's memory */
	memset(fakecuda_mem(na) + CH, 0xa1, 10);
	assert_int_equal(egpu_snap_mark_dirty(s, "a", CH, 10), 0);
	assert_int_equal(egpu_snap_take_wait(s, NULL), 0);
	assert_int_equal(((const unsigned char *)egpu_snap_host_copy(s, "a", NULL))[CH], 0xa1);

	/* into the program's own memory on GPU 1, on its stream */
	assert_int_equal(fc.ctx_set_current(ctx1), 0);
	assert_int_equal(fc.stream_create(&ps1, 0), 0);
	mine = dev_alloc(A_BYTES, 0);
	assert_int_equal(egpu_snap_restore_into(s, "a", 0, ps1), -EINVAL);
	assert_int_equal(egpu_snap_restore_into(s, "zz", mine, ps1), -ENOENT);
	assert_int_equal(egpu_snap_restore_into(s, "a", mine, ps1), 0);
	assert_memory_equal(fakecuda_mem(mine), egpu_snap_host_copy(s, "a", NULL), A_BYTES);
	assert_int_equal(egpu_snap_buffer_dptr(s, "a"), mine);
	memset(fakecuda_mem(mine), 0xb1, 5);
	assert_int_equal(egpu_snap_mark_dirty(s, "a", 0, 5), 0);
	assert_int_equal(egpu_snap_take_wait(s, ps1), 0);
	assert_int_equal(((const unsigned char *)egpu_snap_host_copy(s, "a", NULL))[0], 0xb1);
	egpu_snap_free(s);
	/* libegpu's allocation on GPU 1 freed, the program's kept */
	assert_int_equal(fc.live(), live + 2);	/* mine and ps1 */
	assert_int_equal(fc.stream_destroy(ps1), 0);
	fc.mem_free(mine);
	assert_int_equal(fc.ctx_set_current(ctx0), 0);
	fc.reset();
	fc.mem_free(a);
	fc.mem_free(b);
}

/* --- a failure injected at every driver call the library makes ------------ */

/* Every entry point libegpu's snapshot code loads. */
static const char *const driver_calls[] = {
	"cuInit", "cuDeviceGet", "cuDeviceGetPCIBusId", "cuDevicePrimaryCtxRetain",
	"cuDevicePrimaryCtxRelease", "cuCtxGetCurrent", "cuCtxGetDevice", "cuCtxPushCurrent",
	"cuCtxPopCurrent", "cuCtxSynchronize", "cuMemAlloc", "cuMemFree", "cuMemHostAlloc",
	"cuMemFreeHost", "cuStreamCreate", "cuStreamDestroy", "cuStreamSynchronize",
	"cuStreamWaitEvent", "cuEventCreate", "cuEventDestroy", "cuEventRecord", "cuEventQuery",
	"cuEventSynchronize", "cuMemcpyDtoHAsync", "cuMemcpyHtoDAsync",
};
#define NCALLS	(sizeof(driver_calls) / sizeof(driver_calls[0]))

/* A failure of these can only be reported: never swallowed as cleanup. */
static bool must_fail(const char *name)
{
	static const char *const hard[] = {
		"cuDeviceGet", "cuDevicePrimaryCtxRetain", "cuCtxSynchronize", "cuMemAlloc",
		"cuMemHostAlloc", "cuStreamCreate", "cuStreamWaitEvent", "cuEventCreate",
		"cuEventRecord", "cuEventQuery", "cuEventSynchronize", "cuMemcpyDtoHAsync",
		"cuMemcpyHtoDAsync",
	};
	size_t i;

	for (i = 0; i < sizeof(hard) / sizeof(hard[0]); i++)
		if (!strcmp(hard[i], name))
			return true;
	return false;
}

/* Calls that release something: their failure leaves it with the driver. */
static bool releases(const char *name)
{
	return !strcmp(name, "cuMemFree") || !strcmp(name, "cuMemFreeHost") ||
	       !strcmp(name, "cuStreamDestroy") || !strcmp(name, "cuEventDestroy") ||
	       !strcmp(name, "cuDevicePrimaryCtxRelease");
}

/* The scenario's buffers: a of two chunks and a bit (runs, a short last chunk). */
#define SA_BYTES	(2 * (size_t)CH + 100)

struct scenario {
	uint64_t a, b;		/* the program's buffers on GPU 0 */
	uint64_t a1;		/* its memory for "a" on GPU 1 */
	void *ps, *ps1;		/* its streams on GPU 0 and 1 */
	unsigned char *want_a, *want_b;	/* the last complete snapshot's contents */
	bool have;		/* there is one */
	int failed_step;	/* the step that returned an error, 0 */
};

/* After a step: the last complete snapshot is what the model says. */
static void check_complete(struct egpu_snap *s, struct scenario *sc)
{
	if (!sc->have) {
		assert_null(egpu_snap_host_copy(s, "a", NULL));
		return;
	}
	assert_host(s, "a", sc->want_a, SA_BYTES);
	if (egpu_snap_host_copy(s, "b", NULL) || errno != ENOENT)
		assert_host(s, "b", sc->want_b, B_BYTES);
}

static void completed(struct egpu_snap *s, struct scenario *sc, uint64_t a, uint64_t b)
{
	sc->have = true;
	memcpy(sc->want_a, fakecuda_mem(a), SA_BYTES);
	if (b)
		memcpy(sc->want_b, fakecuda_mem(b), B_BYTES);
}

/*
 * A set's whole life: new, register, snapshots (sync, polled, several
 * streams, quiesced), restore on GPU 1, restore_into, unregister, free.
 * Returns after the first step that fails (checked), or at the end.  The
 * test itself makes no driver call in here: the nth call counted is
 * always the library's.
 */
static void run_scenario(struct scenario *sc)
{
	void *both[2] = { sc->ps, NULL };
	struct egpu_snap *s;
	int step = 0, r = 0;

	sc->have = false;
	sc->failed_step = 0;
	memset(fakecuda_mem(sc->a), 0x11, SA_BYTES);
	memset(fakecuda_mem(sc->b), 0x12, B_BYTES);
	s = egpu_snap_new(0, EGPU_SNAP_EXPLICIT_DIRTY);
	if (!s) {
		assert_true(errno > 0);
		assert_true(egpu_snap_last_error(NULL)[0] != '\0');
		sc->failed_step = -1;
		return;
	}
#define STEP(call) do {							\
		step++;							\
		r = (call);						\
		if (r < 0)						\
			goto failed;					\
	} while (0)
	STEP(egpu_snap_register(s, "a", sc->a, SA_BYTES));
	STEP(egpu_snap_register(s, "b", sc->b, B_BYTES));
	STEP(egpu_snap_take_wait(s, sc->ps));
	completed(s, sc, sc->a, sc->b);

	memset(fakecuda_mem(sc->a) + 1 * CH, 0x13, 100);
	STEP(egpu_snap_mark_dirty(s, "a", 1 * CH, 100));
	STEP(egpu_snap_take(s, sc->ps, NULL, NULL));
	/* the fake's stream threads need the CPU this loop would take */
	while ((r = egpu_snap_poll(s)) == 1)
		sched_yield();
	STEP(r);
	completed(s, sc, sc->a, sc->b);

	memset(fakecuda_mem(sc->b), 0x14, B_BYTES);
	memset(fakecuda_mem(sc->a), 0x14, CH);
	STEP(egpu_snap_mark_dirty(s, NULL, 0, 0));
	STEP(egpu_snap_take_streams(s, both, 2, NULL, NULL));
	STEP(egpu_snap_wait(s, -1));
	completed(s, sc, sc->a, sc->b);

	STEP(egpu_snap_restore(s, 1));
	assert_memory_equal(fakecuda_mem(egpu_snap_buffer_dptr(s, "a")), sc->want_a, SA_BYTES);
	STEP(egpu_snap_restore_into(s, "a", sc->a1, sc->ps1));
	assert_memory_equal(fakecuda_mem(sc->a1), sc->want_a, SA_BYTES);

	memset(fakecuda_mem(sc->a1) + SA_BYTES - 10, 0x15, 10);
	STEP(egpu_snap_mark_dirty(s, "a", SA_BYTES - 10, 0));
	STEP(egpu_snap_take_wait(s, sc->ps1));
	completed(s, sc, sc->a1, egpu_snap_buffer_dptr(s, "b"));

	STEP(egpu_snap_unregister(s, "b"));
	memset(fakecuda_mem(sc->a1), 0x16, 1);
	STEP(egpu_snap_mark_dirty(s, "a", 0, 1));
	STEP(egpu_snap_take_quiesced(s));
	completed(s, sc, sc->a1, 0);
	check_complete(s, sc);
	egpu_snap_free(s);
	return;
failed:
	sc->failed_step = step;
	assert_true(egpu_snap_last_error(s)[0] != '\0');
	if (egpu_snap_poll(s) == 1)
		egpu_snap_wait(s, -1);
	check_complete(s, sc);
	egpu_snap_free(s);
#undef STEP
}

static void fakecuda_failure_at_every_driver_call(void **state)
{
	unsigned long before[NCALLS], count[NCALLS], live;
	struct scenario sc = { 0 };
	unsigned int injected = 0;
	int refs0, refs1;
	size_t i;

	sc.a = dev_alloc(SA_BYTES, 0);
	sc.b = dev_alloc(B_BYTES, 0);
	assert_int_equal(fc.stream_create(&sc.ps, 0), 0);
	assert_int_equal(fc.ctx_set_current(ctx1), 0);
	sc.a1 = dev_alloc(SA_BYTES, 0);
	assert_int_equal(fc.stream_create(&sc.ps1, 0), 0);
	assert_int_equal(fc.ctx_set_current(ctx0), 0);
	sc.want_a = malloc(SA_BYTES);
	sc.want_b = malloc(B_BYTES);
	assert_non_null(sc.want_a);
	assert_non_null(sc.want_b);
	live = fc.live();
	refs0 = fc.primary_refs(0);
	refs1 = fc.primary_refs(1);

	/* the reference run: which calls, how many times */
	for (i = 0; i < NCALLS; i++)
		before[i] = fc.calls(driver_calls[i]);
	run_scenario(&sc);
	assert_int_equal(sc.failed_step, 0);
	for (i = 0; i < NCALLS; i++)
		count[i] = fc.calls(driver_calls[i]) - before[i];
	assert_int_equal(fc.live(), live);

	for (i = 0; i < NCALLS; i++) {
		unsigned long nth;

		for (nth = 1; nth <= count[i]; nth++) {
			assert_int_equal(fc.inject(driver_calls[i], (unsigned int)nth, 999), 0);
			run_scenario(&sc);
			/* not consumed if the run stopped before that call */
			fc.inject(driver_calls[i], 0, 0);
			if (must_fail(driver_calls[i]) && !sc.failed_step)
				fail_msg("%s call %lu failed and nothing said so",
					 driver_calls[i], nth);
			/*
			 * Nothing leaked, every context reference given back --
			 * but what the driver itself refuses to release stays
			 * with it (there is nothing a caller can do); the fake's
			 * count shows that, not a leak of libegpu's.
			 */
			injected++;
			if (releases(driver_calls[i])) {
				live = fc.live();
				refs0 = fc.primary_refs(0);
				refs1 = fc.primary_refs(1);
				continue;
			}
			if (fc.live() != live || fc.primary_refs(0) != refs0 ||
			    fc.primary_refs(1) != refs1)
				fail_msg("%s call %lu: %ld fake objects, %d + %d context references leaked",
					 driver_calls[i], nth, (long)(fc.live() - live),
					 fc.primary_refs(0) - refs0, fc.primary_refs(1) - refs1);
		}
	}
	printf("# %u runs, each with one driver call failing\n", injected);
	/* the scenario does reach the driver broadly */
	assert_true(injected > 40);
	for (i = 0; i < NCALLS; i++)
		if (strcmp(driver_calls[i], "cuInit") && strcmp(driver_calls[i], "cuCtxGetCurrent") &&
		    strcmp(driver_calls[i], "cuCtxGetDevice"))
			assert_true(count[i] > 0);
	free(sc.want_a);
	free(sc.want_b);
	fc.stream_destroy(sc.ps);
	fc.mem_free(sc.a);
	fc.mem_free(sc.b);
	fc.stream_destroy(sc.ps1);
	fc.mem_free(sc.a1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fakecuda_no_driver_is_enosys),
		cmocka_unit_test(fakecuda_registration),
		cmocka_unit_test(fakecuda_dirty_chunks_alternating_slots),
		cmocka_unit_test(fakecuda_double_buffering),
		cmocka_unit_test(fakecuda_ordering_program_stream_waits),
		cmocka_unit_test(fakecuda_streams_and_quiesced),
		cmocka_unit_test(fakecuda_periodic_maybe),
		cmocka_unit_test(fakecuda_lost_mid_snapshot_restore_elsewhere),
		cmocka_unit_test(fakecuda_failure_at_every_driver_call),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
