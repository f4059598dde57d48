// SPDX-License-Identifier: GPL-2.0
/*
 * libegpu snapshots on a watch connection, with the FAKE CUDA driver and
 * the test standing in for egpud on the socket: attach sends the
 * "snapshot ..." line, egpud's "snapshot-interval" is applied (and never
 * returned as an event; malformed ones are ignored), LEAVING for the
 * set's GPU takes a final snapshot and sends "... final=1" before
 * egpu_next() returns the event, LEAVING for another GPU does not, and
 * detaching says "snapshot-off".
 */
// unit-test-links: libegpu/egpu.c libegpu/snapshot.c libegpu/snapshot_buffers.c libegpu/snapshot_copy.c libegpu/snapshot_cuda.c libegpu/snapshot_report.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "helpers/fakecuda_ctl.h"
#include "helpers/unix_listener.h"
#include "libegpu/egpu_internal.h"
#include "libegpu/egpu_snapshot.h"

#define BYTES	((size_t)3 * EGPU_SNAP_CHUNK + 5)

static struct fakecuda_ctl fc;
static void *ctx0;

static int setup(void **state)
{
	/* the fake's own injection from the environment: see the first test */
	setenv("FAKECUDA_FAIL", "cuStreamCreate:1:2", 1);
	fakecuda_ctl_load(&fc);
	assert_int_equal(fc.primary_retain(&ctx0, 0), 0);
	assert_int_equal(fc.ctx_set_current(ctx0), 0);
	return 0;
}

static int teardown(void **state)
{
	fc.ctx_set_current(NULL);
	fc.primary_release(0);
	return 0;
}

struct stand_in {
	int lfd;
	int fd;		/* egpud's end of the watch connection */
	char request[128];
};

/* egpud's half of the handshake: the "watch" request, then "ok". */
static void *accept_watch(void *arg)
{
	struct stand_in *si = arg;
	ssize_t n;

	si->fd = accept(si->lfd, NULL, NULL);
	if (si->fd < 0)
		return NULL;
	n = read(si->fd, si->request, sizeof(si->request) - 1);
	if (n > 0)
		si->request[n] = '\0';
	if (write(si->fd, "ok\n", 3) != 3) {
		close(si->fd);
		si->fd = -1;
	}
	return NULL;
}

static struct egpu *open_watch(struct stand_in *si, char *dir, char *path, size_t len)
{
	struct egpu *e;
	pthread_t t;

	si->lfd = unix_listener(dir, path, len);
	si->fd = -1;
	assert_int_equal(pthread_create(&t, NULL, accept_watch, si), 0);
	e = egpu_open(path, FAKECUDA_PCI0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_non_null(e);
	assert_true(si->fd >= 0);
	assert_string_equal(si->request, "watch " FAKECUDA_PCI0 "\n");
	return e;
}

static void close_watch(struct stand_in *si, char *dir, char *path)
{
	close(si->fd);
	close(si->lfd);
	unlink(path);
	rmdir(dir);
}

/* One line from the client, or "" if none is there (already sent). */
static void read_line_now(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 0) <= 0)
			break;
		r = recv(fd, buf + n, 1, 0);
		if (r <= 0)
			break;
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return;
		}
		n++;
	}
	buf[n] = '\0';
	assert_int_equal(n, 0);		/* never half a line */
}

static void send_line(int fd, const char *line)
{
	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
}

static void fakecuda_attach_interval_leaving_final(void **state)
{
	char dir[] = "/tmp/egpu-snapw-XXXXXX", path[128], line[256], want[256];
	unsigned long long taken;
	struct egpu_snap_info info;
	struct stand_in si;
	struct egpu_event ev;
	struct egpu_snap *s;
	struct egpu *e;
	uint64_t a = 0;
	void *ps;

	e = open_watch(&si, dir, path, sizeof(path));
	assert_int_equal(fc.mem_alloc(&a, BYTES), 0);
	memset(fakecuda_mem(a), 0x01, BYTES);
	assert_int_equal(fc.stream_create(&ps, 0), 0);
	s = egpu_snap_new(0, 0);
	assert_non_null(s);
	assert_int_equal(egpu_snap_register(s, "weights", a, BYTES), 0);
	assert_int_equal(egpu_snap_set_interval(s, 5000), 0);

	/* attach: the line goes out at once, nothing complete yet */
	assert_int_equal(egpu_snap_attach(s, e), 0);
	read_line_now(si.fd, line, sizeof(line));
	snprintf(want, sizeof(want), "snapshot bytes=%zu buffers=1 taken-ns=0 interval-ms=5000",
		 BYTES);
	assert_string_equal(line, want);
	egpu_snap_info(s, &info);
	assert_int_equal(info.attached, 1);

	/* egpud's interval: applied, not an event; bad ones are ignored */
	send_line(si.fd, "snapshot-interval 250\nsnapshot-interval 12x\n"
		  "snapshot-interval 99999999999\nsnapshot-interval\nsnapshot-frobnicate 1\n"
		  "snapshot-interval -5\n");
	/* an event after them, so egpu_next() has read them all when it returns */
	send_line(si.fd, "event ready " FAKECUDA_PCI0 " 3 - " FAKECUDA_PCI0 "\n");
	assert_int_equal(egpu_next(e, &ev, -1), 1);
	assert_int_equal(ev.kind, EGPU_EVENT_READY);
	egpu_snap_info(s, &info);
	assert_int_equal(info.interval_ms, 250);
	assert_int_equal(info.generation, 0);

	/* LEAVING of another GPU: no snapshot, no line */
	send_line(si.fd, "event leaving 0000:09:00.0 4 orderly,requested 0000:09:00.0\n");
	assert_int_equal(egpu_next(e, &ev, -1), 1);
	assert_int_equal(ev.kind, EGPU_EVENT_LEAVING);
	egpu_snap_info(s, &info);
	assert_int_equal(info.generation, 0);
	read_line_now(si.fd, line, sizeof(line));
	assert_string_equal(line, "");

	/*
	 * LEAVING of ours (the event names a function of its eGPU, the group
	 * is the GPU): the program's last write, still queued on its stream,
	 * is in the final snapshot, and the final line is on the socket
	 * before egpu_next() returns.
	 */
	assert_int_equal(fc.memset_async(a, 0x5a, BYTES, ps), 0);
	send_line(si.fd, "event leaving 0000:05:00.1 5 orderly,requested " FAKECUDA_PCI0 "\n");
	assert_int_equal(egpu_next(e, &ev, -1), 1);
	assert_int_equal(ev.kind, EGPU_EVENT_LEAVING);
	egpu_snap_info(s, &info);
	assert_int_equal(info.generation, 1);
	assert_int_equal(((const unsigned char *)egpu_snap_host_copy(s, "weights", NULL))[BYTES - 1],
			 0x5a);
	read_line_now(si.fd, line, sizeof(line));
	assert_int_equal(sscanf(line, "snapshot bytes=%*u buffers=1 taken-ns=%llu interval-ms=250 "
				"final=1", &taken), 1);
	assert_int_equal(taken, info.taken_ns);
	snprintf(want, sizeof(want), "snapshot bytes=%zu buffers=1 taken-ns=%llu interval-ms=250 "
		 "final=1", BYTES, taken);
	assert_string_equal(line, want);
	/* then the program lets go and acks: after the final line */
	assert_int_equal(egpu_ack(e), 0);
	read_line_now(si.fd, line, sizeof(line));
	assert_string_equal(line, "ack");

	/* detach: snapshot-off, egpud's interval no longer applies */
	assert_int_equal(egpu_snap_attach(s, NULL), 0);
	read_line_now(si.fd, line, sizeof(line));
	assert_string_equal(line, "snapshot-off");
	egpu_snap_info(s, &info);
	assert_int_equal(info.interval_ms, 5000);
	assert_int_equal(info.attached, 0);

	/* one set per connection */
	{
		struct egpu_snap *other = egpu_snap_new(0, 0);

		assert_non_null(other);
		assert_int_equal(egpu_snap_attach(s, e), 0);
		read_line_now(si.fd, line, sizeof(line));
		assert_int_equal(strncmp(line, "snapshot bytes=", 15), 0);
		assert_int_equal(egpu_snap_attach(other, e), -EBUSY);
		egpu_snap_free(other);
	}
	/* the connection closes first: the set forgets it, then frees cleanly */
	egpu_close(e);
	egpu_snap_info(s, &info);
	assert_int_equal(info.attached, 0);
	egpu_snap_free(s);
	fc.stream_destroy(ps);
	fc.mem_free(a);
	close_watch(&si, dir, path);
}

/*
 * A LEAVING whose final snapshot fails (the copy is refused): no final=1
 * line -- egpud then falls back to the driver's checkpoint -- and the
 * event still reaches the program.
 */
static void fakecuda_failed_final_snapshot_no_final_line(void **state)
{
	char dir[] = "/tmp/egpu-snapf-XXXXXX", path[128], line[256];
	struct stand_in si;
	struct egpu_event ev;
	struct egpu_snap *s;
	struct egpu *e;
	uint64_t a = 0;

	e = open_watch(&si, dir, path, sizeof(path));
	assert_int_equal(fc.mem_alloc(&a, BYTES), 0);
	s = egpu_snap_new(0, 0);
	assert_non_null(s);
	assert_int_equal(egpu_snap_register(s, "a", a, BYTES), 0);
	assert_int_equal(egpu_snap_attach(s, e), 0);
	read_line_now(si.fd, line, sizeof(line));
	assert_int_equal(strncmp(line, "snapshot bytes=", 15), 0);
	assert_int_equal(fc.inject("cuMemcpyDtoHAsync", 1, FAKECUDA_ILLEGAL_ADDRESS), 0);
	send_line(si.fd, "event leaving " FAKECUDA_PCI0 " 9 orderly,requested " FAKECUDA_PCI0 "\n");
	assert_int_equal(egpu_next(e, &ev, -1), 1);
	assert_int_equal(ev.kind, EGPU_EVENT_LEAVING);
	read_line_now(si.fd, line, sizeof(line));
	assert_string_equal(line, "");
	assert_non_null(strstr(egpu_snap_last_error(s), "cuMemcpyDtoHAsync"));
	egpu_snap_free(s);
	read_line_now(si.fd, line, sizeof(line));
	assert_string_equal(line, "snapshot-off");
	egpu_close(e);
	fc.mem_free(a);
	close_watch(&si, dir, path);
}

/*
 * FAKECUDA_FAIL="cuStreamCreate:1:2": the first stream creation (this
 * set's own) fails with CUDA_ERROR_OUT_OF_MEMORY; the set is not made and
 * gives back the context it retained.
 */
static void fakecuda_env_injection_new_fails_cleanly(void **state)
{
	struct egpu_snap *s;

	assert_int_equal(fc.primary_refs(0), 1);
	assert_null(egpu_snap_new(0, 0));
	assert_int_equal(errno, ENOMEM);
	assert_non_null(strstr(egpu_snap_last_error(NULL), "cuStreamCreate"));
	assert_non_null(strstr(egpu_snap_last_error(NULL), "CUDA_ERROR_OUT_OF_MEMORY"));
	assert_int_equal(fc.primary_refs(0), 1);
	s = egpu_snap_new(0, 0);
	assert_non_null(s);
	assert_string_equal(egpu_snap_last_error(NULL), "");
	egpu_snap_free(s);
	assert_int_equal(fc.primary_refs(0), 1);
}

static void snapshot_interval_parse(void **state)
{
	assert_int_equal(egpu_parse_snapshot_interval("snapshot-interval 0"), 0);
	assert_int_equal(egpu_parse_snapshot_interval("snapshot-interval 86400000"), 86400000);
	assert_int_equal(egpu_parse_snapshot_interval("snapshot-interval 86400001"), -1);
	assert_int_equal(egpu_parse_snapshot_interval("snapshot-interval "), -1);
	assert_int_equal(egpu_parse_snapshot_interval("snapshot-interval 1 2"), -1);
	assert_int_equal(egpu_parse_snapshot_interval("snapshot-interval +1"), -1);
	assert_int_equal(egpu_parse_snapshot_interval("snapshot-intervals 1"), -1);
	assert_int_equal(egpu_parse_snapshot_interval("event leaving x"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fakecuda_env_injection_new_fails_cleanly),
		cmocka_unit_test(snapshot_interval_parse),
		cmocka_unit_test(fakecuda_attach_interval_leaving_final),
		cmocka_unit_test(fakecuda_failed_final_snapshot_no_final_line),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
