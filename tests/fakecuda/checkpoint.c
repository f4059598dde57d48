// SPDX-License-Identifier: GPL-2.0
/*
 * FAKE CUDA driver library, the checkpoint entry points
 * (cuCheckpointProcess{GetState,Lock,Checkpoint,Restore,Unlock}), acting
 * on OTHER processes as the real driver does.  The processes are "fake
 * CUDA processes" (tests/eject/fakecuda_proc.c): each registers itself in
 * $FAKECUDA_STATE_DIR as a file named by its pid, one line of words:
 *
 *   state=running|locked|checkpointed gpu=ORDINAL [fail=CALL:CODE]
 *   [managed=1] [on=UUID seen=UUID,UUID,...]
 *
 * gpu is the device (its ordinal) its memory is on; fail makes
 * its calls of one kind (lock, checkpoint, restore, unlock, state) answer
 * CUresult CODE; managed=1 is UVM memory (checkpoint: NOT_SUPPORTED, left
 * LOCKED).  A checkpoint records the GPU it was on (on) and the GPUs the
 * driver showed (seen), the old side of a restore's map.  Every update
 * goes through a temporary file and rename(), so a reader never sees half
 * a line.  Every call is appended to $FAKECUDA_STATE_DIR/calls as
 * "CALL PID RESULT" (one write(2) with O_APPEND each), which is how a test
 * sees the order of the engine's calls over a whole workload.
 *
 * State rules are the real driver's (and tests/unit/helpers/gw_fake_cuda.c's):
 * RUNNING -lock-> LOCKED -checkpoint-> CHECKPOINTED -restore-> LOCKED
 * -unlock-> RUNNING, CUDA_ERROR_ILLEGAL_STATE out of order; reserved
 * argument fields must be zero (INVALID_VALUE); a restore map must name
 * every GPU the process saw once, onto distinct GPUs present now
 * (INVALID_VALUE), and without a map its own GPU must be present by UUID
 * (INVALID_DEVICE).  A pid that never registered: GetState says
 * NOT_INITIALIZED, the others INVALID_VALUE.
 *
 * The argument layouts are written out here from cuda.h (CUDA 13), not
 * taken from gpuwork, so that a layout mistake there shows as a refusal.
 * The devices are the library's own (fc_device_at(): $FAKECUDA_DEVICES,
 * device.c); each call goes through fc_call() (cuInit first, $FAKECUDA_FAIL).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakecuda.h"
#include "state_file.h"

#define FC_ERROR_ILLEGAL_STATE		401
#define FC_ERROR_NOT_SUPPORTED		801

enum fc_state { FC_RUNNING, FC_LOCKED, FC_CHECKPOINTED, FC_FAILED };

typedef struct { unsigned char bytes[16]; } fc_uuid;

struct fc_lock_args {		/* CUcheckpointLockArgs */
	unsigned int timeoutMs;
	unsigned int reserved0;
	uint64_t reserved1[7];
};

struct fc_plain_args {		/* CUcheckpointCheckpointArgs, CUcheckpointUnlockArgs */
	uint64_t reserved[8];
};

struct fc_pair {		/* CUcheckpointGpuPair */
	fc_uuid oldUuid;
	fc_uuid newUuid;
};

struct fc_restore_args {	/* CUcheckpointRestoreArgs */
	struct fc_pair *gpuPairs;
	unsigned int gpuPairsCount;
	char reserved[52 - sizeof(void *)];
	uint64_t reserved1;
};

_Static_assert(sizeof(struct fc_lock_args) == 64, "CUcheckpointLockArgs");
_Static_assert(sizeof(struct fc_plain_args) == 64, "CUcheckpointCheckpointArgs");
_Static_assert(sizeof(struct fc_restore_args) == 64, "CUcheckpointRestoreArgs");
_Static_assert(sizeof(struct fc_pair) == 32, "CUcheckpointGpuPair");

#define FC_MAX_SEEN	FC_MAX_DEVICES

struct fc_proc {
	int state;
	int gpu;
	char fail_call[16];
	int fail_code;
	int managed;
	int nseen;
	fc_uuid seen[FC_MAX_SEEN];
	fc_uuid on;
	int has_on;
};

static const char *const state_names[] = { "running", "locked", "checkpointed", "failed" };

static const char *state_dir(void)
{
	const char *d = getenv("FAKECUDA_STATE_DIR");

	return d && *d ? d : NULL;
}

static void hex_uuid(const fc_uuid *u, char *buf, size_t len)
{
	const unsigned char *b = u->bytes;

	snprintf(buf, len, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
		 b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static int parse_uuid(const char *s, size_t n, fc_uuid *u)
{
	size_t i = 0, k = 0;

	if (n >= 4 && !strncmp(s, "GPU-", 4))
		i = 4;
	for (; i < n && k < 32; i++) {
		unsigned int v;
		char c = s[i];

		if (c == '-')
			continue;
		if (c >= '0' && c <= '9')
			v = (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = (unsigned int)(c - 'A' + 10);
		else
			return -1;
		if (k % 2 == 0)
			u->bytes[k / 2] = (unsigned char)(v << 4);
		else
			u->bytes[k / 2] |= (unsigned char)v;
		k++;
	}
	return k == 32 && i == n ? 0 : -1;
}

static int dev_uuid(int ordinal, fc_uuid *u)
{
	const struct fc_device *d = fc_device_at(ordinal);

	if (!d)
		return -1;
	memcpy(u->bytes, d->uuid, sizeof(u->bytes));
	return 0;
}

/* Ordinal of the device with UUID u now, or -1. */
static int uuid_ordinal(const fc_uuid *u)
{
	int n = fc_device_count(), i;
	fc_uuid x;

	for (i = 0; i < n; i++)
		if (!dev_uuid(i, &x) && !memcmp(&x, u, sizeof(x)))
			return i;
	return -1;
}

static void log_call(const char *call, int pid, int res)
{
	char path[4096], line[96];
	const char *dir = state_dir();
	int fd, n;

	if (!dir || snprintf(path, sizeof(path), "%s/calls", dir) >= (int)sizeof(path))
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%s %d %d\n", call, pid, res);
	if (n > 0 && write(fd, line, (size_t)n) < 0)
		n = 0;
	close(fd);
}

/* Read pid's registration; -1 when it has none. */
static int proc_load(int pid, struct fc_proc *p)
{
	char text[2048], *w, *save = NULL;

	memset(p, 0, sizeof(*p));
	if (fc_state_file_read(state_dir(), pid, text, sizeof(text)))
		return -1;
	for (w = strtok_r(text, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
		if (!strncmp(w, "state=", 6)) {
			size_t i;

			for (i = 0; i < 4; i++)
				if (!strcmp(w + 6, state_names[i]))
					p->state = (int)i;
		} else if (!strncmp(w, "gpu=", 4)) {
			p->gpu = atoi(w + 4);
		} else if (!strncmp(w, "managed=", 8)) {
			p->managed = atoi(w + 8);
		} else if (!strncmp(w, "fail=", 5)) {
			char *colon = strchr(w + 5, ':');

			if (colon && (size_t)(colon - (w + 5)) < sizeof(p->fail_call)) {
				memcpy(p->fail_call, w + 5, (size_t)(colon - (w + 5)));
				p->fail_code = atoi(colon + 1);
			}
		} else if (!strncmp(w, "on=", 3)) {
			p->has_on = !parse_uuid(w + 3, strlen(w + 3), &p->on);
		} else if (!strncmp(w, "seen=", 5)) {
			const char *s = w + 5;

			while (*s && p->nseen < FC_MAX_SEEN) {
				size_t l = strcspn(s, ",");

				if (!parse_uuid(s, l, &p->seen[p->nseen]))
					p->nseen++;
				s += l + (s[l] == ',');
			}
		}
	}
	return 0;
}

/* Write pid's registration back, whole, through rename(). */
static int proc_save(int pid, const struct fc_proc *p)
{
	char path[4096], tmp[4096], text[2048], u[48];
	const char *dir = state_dir();
	size_t l;
	int fd, i, ok;

	if (!dir || snprintf(path, sizeof(path), "%s/%d", dir, pid) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%d.tmp", dir, pid) >= (int)sizeof(tmp))
		return -1;
	l = (size_t)snprintf(text, sizeof(text), "state=%s gpu=%d", state_names[p->state & 3],
			     p->gpu);
	if (p->fail_call[0])
		l += (size_t)snprintf(text + l, sizeof(text) - l, " fail=%s:%d", p->fail_call,
				      p->fail_code);
	if (p->managed)
		l += (size_t)snprintf(text + l, sizeof(text) - l, " managed=1");
	if (p->has_on) {
		hex_uuid(&p->on, u, sizeof(u));
		l += (size_t)snprintf(text + l, sizeof(text) - l, " on=%s seen=", u);
		for (i = 0; i < p->nseen && l < sizeof(text) - 50; i++) {
			hex_uuid(&p->seen[i], u, sizeof(u));
			l += (size_t)snprintf(text + l, sizeof(text) - l, "%s%s", i ? "," : "", u);
		}
	}
	l += (size_t)snprintf(text + l, sizeof(text) - l, "\n");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	ok = write(fd, text, l) == (ssize_t)l;
	ok &= !fsync(fd);
	ok &= !close(fd);
	if (!ok || rename(tmp, path)) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* The process' injected failure for call, else 0. */
static int failure(const struct fc_proc *p, const char *call)
{
	return p->fail_call[0] && !strcmp(p->fail_call, call) ? p->fail_code : 0;
}

static int done(const char *call, int pid, int res)
{
	log_call(call, pid, res);
	return res;
}

static int all_zero(const void *v, size_t n)
{
	const unsigned char *b = v;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

FC_EXPORT fc_result cuCheckpointProcessGetState(int pid, int *state)
{
	fc_result r;
	struct fc_proc p;
	int e;

	r = fc_call("cuCheckpointProcessGetState");
	if (r)
		return done("state", pid, r);
	if (!state)
		return done("state", pid, FC_ERROR_INVALID_VALUE);
	if (proc_load(pid, &p))
		return done("state", pid, FC_ERROR_NOT_INITIALIZED);
	e = failure(&p, "state");
	if (e)
		return done("state", pid, e);
	*state = p.state;
	return done("state", pid, FC_SUCCESS);
}

FC_EXPORT fc_result cuCheckpointProcessLock(int pid, struct fc_lock_args *a)
{
	fc_result r;
	struct fc_proc p;
	int e;

	r = fc_call("cuCheckpointProcessLock");
	if (r)
		return done("lock", pid, r);
	if (!a || a->reserved0 || !all_zero(a->reserved1, sizeof(a->reserved1)) ||
	    proc_load(pid, &p))
		return done("lock", pid, FC_ERROR_INVALID_VALUE);
	e = failure(&p, "lock");
	if (e)
		return done("lock", pid, e);
	if (p.state != FC_RUNNING)
		return done("lock", pid, FC_ERROR_ILLEGAL_STATE);
	p.state = FC_LOCKED;
	return done("lock", pid, proc_save(pid, &p) ? FC_ERROR_UNKNOWN : FC_SUCCESS);
}

FC_EXPORT fc_result cuCheckpointProcessCheckpoint(int pid, struct fc_plain_args *a)
{
	fc_result r;
	struct fc_proc p;
	int e, n, i;

	r = fc_call("cuCheckpointProcessCheckpoint");
	if (r)
		return done("checkpoint", pid, r);
	if (!a || !all_zero(a->reserved, sizeof(a->reserved)) || proc_load(pid, &p))
		return done("checkpoint", pid, FC_ERROR_INVALID_VALUE);
	e = failure(&p, "checkpoint");
	if (e)
		return done("checkpoint", pid, e);
	if (p.state != FC_LOCKED)
		return done("checkpoint", pid, FC_ERROR_ILLEGAL_STATE);
	if (p.managed)
		return done("checkpoint", pid, FC_ERROR_NOT_SUPPORTED);
	n = fc_device_count();
	if (n > FC_MAX_SEEN || dev_uuid(p.gpu, &p.on))
		return done("checkpoint", pid, FC_ERROR_INVALID_DEVICE);
	p.has_on = 1;
	p.nseen = 0;
	for (i = 0; i < n; i++)
		if (!dev_uuid(i, &p.seen[p.nseen]))
			p.nseen++;
	p.state = FC_CHECKPOINTED;
	return done("checkpoint", pid, proc_save(pid, &p) ? FC_ERROR_UNKNOWN : FC_SUCCESS);
}

FC_EXPORT fc_result cuCheckpointProcessRestore(int pid, struct fc_restore_args *a)
{
	fc_result r;
	int used_old[FC_MAX_SEEN] = { 0 }, used_new[FC_MAX_SEEN] = { 0 };
	struct fc_proc p;
	unsigned int i;
	int e, target;

	r = fc_call("cuCheckpointProcessRestore");
	if (r)
		return done("restore", pid, r);
	if (!a || !all_zero(a->reserved, sizeof(a->reserved)) || a->reserved1 ||
	    proc_load(pid, &p))
		return done("restore", pid, FC_ERROR_INVALID_VALUE);
	e = failure(&p, "restore");
	if (e)
		return done("restore", pid, e);
	if (p.state != FC_CHECKPOINTED || !p.has_on)
		return done("restore", pid, FC_ERROR_ILLEGAL_STATE);
	if (a->gpuPairsCount) {
		/* every GPU it saw exactly once, onto distinct GPUs present now */
		if (!a->gpuPairs || a->gpuPairsCount != (unsigned int)p.nseen)
			return done("restore", pid, FC_ERROR_INVALID_VALUE);
		target = -1;
		for (i = 0; i < a->gpuPairsCount; i++) {
			int o, n = uuid_ordinal(&a->gpuPairs[i].newUuid);

			for (o = 0; o < p.nseen; o++)
				if (!memcmp(&p.seen[o], &a->gpuPairs[i].oldUuid, sizeof(fc_uuid)))
					break;
			if (o == p.nseen || n < 0 || n >= FC_MAX_SEEN || used_old[o] ||
			    used_new[n])
				return done("restore", pid, FC_ERROR_INVALID_VALUE);
			used_old[o] = used_new[n] = 1;
			if (!memcmp(&p.seen[o], &p.on, sizeof(fc_uuid)))
				target = n;
		}
		if (target < 0)
			return done("restore", pid, FC_ERROR_INVALID_VALUE);
	} else {
		target = uuid_ordinal(&p.on);
		if (target < 0)
			return done("restore", pid, FC_ERROR_INVALID_DEVICE);
	}
	p.gpu = target;
	p.has_on = 0;
	p.nseen = 0;
	p.state = FC_LOCKED;
	return done("restore", pid, proc_save(pid, &p) ? FC_ERROR_UNKNOWN : FC_SUCCESS);
}

FC_EXPORT fc_result cuCheckpointProcessUnlock(int pid, struct fc_plain_args *a)
{
	fc_result r;
	struct fc_proc p;
	int e;

	r = fc_call("cuCheckpointProcessUnlock");
	if (r)
		return done("unlock", pid, r);
	if (!a || !all_zero(a->reserved, sizeof(a->reserved)) || proc_load(pid, &p))
		return done("unlock", pid, FC_ERROR_INVALID_VALUE);
	e = failure(&p, "unlock");
	if (e)
		return done("unlock", pid, e);
	if (p.state != FC_LOCKED)
		return done("unlock", pid, FC_ERROR_ILLEGAL_STATE);
	p.state = FC_RUNNING;
	return done("unlock", pid, proc_save(pid, &p) ? FC_ERROR_UNKNOWN : FC_SUCCESS);
}
