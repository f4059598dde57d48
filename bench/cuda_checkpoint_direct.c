// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmark's baseline: the smallest direct use of the driver's
 * checkpoint API on one process, no egpuhp code in between.
 *
 *   cuda_checkpoint_direct PID
 *
 * cuInit, then lock -> checkpoint -> restore -> unlock, each timed with
 * CLOCK_MONOTONIC around the driver call alone.  Prints one JSON object.
 * Built against CUDA's cuda.h and libcuda (bench only; egpuhp itself
 * loads the driver at run time).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cuda.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int check(CUresult r, const char *what)
{
	const char *name = NULL;

	if (r == CUDA_SUCCESS)
		return 0;
	cuGetErrorName(r, &name);
	fprintf(stderr, "%s: %s (%d)\n", what, name ? name : "?", (int)r);
	return 1;
}

int main(int argc, char **argv)
{
	CUcheckpointLockArgs la;
	CUcheckpointCheckpointArgs ca;
	CUcheckpointRestoreArgs ra;
	CUcheckpointUnlockArgs ua;
	double t0, t_lock, t_ckpt, t_rest, t_unlock;
	int pid;

	pid = argc == 2 ? atoi(argv[1]) : 0;
	if (pid <= 0) {
		fprintf(stderr, "usage: %s PID\n", argv[0]);
		return 2;
	}
	memset(&la, 0, sizeof(la));
	memset(&ca, 0, sizeof(ca));
	memset(&ra, 0, sizeof(ra));
	memset(&ua, 0, sizeof(ua));
	la.timeoutMs = 10000;
	if (check(cuInit(0), "cuInit"))
		return 1;
	t0 = now_ms();
	if (check(cuCheckpointProcessLock(pid, &la), "lock"))
		return 1;
	t_lock = now_ms() - t0;
	t0 = now_ms();
	if (check(cuCheckpointProcessCheckpoint(pid, &ca), "checkpoint")) {
		cuCheckpointProcessUnlock(pid, &ua);
		return 1;
	}
	t_ckpt = now_ms() - t0;
	t0 = now_ms();
	if (check(cuCheckpointProcessRestore(pid, &ra), "restore"))
		return 1;
	t_rest = now_ms() - t0;
	t0 = now_ms();
	if (check(cuCheckpointProcessUnlock(pid, &ua), "unlock"))
		return 1;
	t_unlock = now_ms() - t0;
	printf("{\"pid\":%d,\"lock_ms\":%.3f,\"checkpoint_ms\":%.3f,\"restore_ms\":%.3f,"
	       "\"unlock_ms\":%.3f}\n", pid, t_lock, t_ckpt, t_rest, t_unlock);
	return 0;
}
