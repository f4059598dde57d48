// SPDX-License-Identifier: GPL-2.0
/*
 * libegpu's side of a requested eject: the "leaving ... orderly,requested"
 * line egpud sends before anything is removed, and egpu_ack() answering it;
 * after a cable pull, the workload-lost line and egpu_event_detail().
 */
// unit-test-links: libegpu/egpu.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "helpers/unix_listener.h"
#include "common/egpud_proto.h"
#include "libegpu/egpu.h"

static void requested_leaving_line(void **state)
{
	struct egpu_event ev;

	assert_int_equal(egpu_parse_line("event leaving 0000:05:00.1 0 orderly,requested "
					 "0000:05:00.0", &ev), 0);
	assert_int_equal(ev.kind, EGPU_EVENT_LEAVING);
	assert_string_equal(ev.pci, "0000:05:00.1");
	assert_string_equal(ev.group, "0000:05:00.0");
	assert_int_equal(ev.seq, 0);
	assert_true(ev.orderly);
	assert_false(ev.surprise);
}

/* A stand-in egpud: sends LEAVING, expects "ack", then REMOVED. */
static void ack_reaches_egpud(void **state)
{
	char dir[] = "/tmp/egpu-ack-XXXXXX", path[128];
	struct egpu_event ev;
	struct egpu *e;
	int lfd, status;
	pid_t pid;

	lfd = unix_listener(dir, path, sizeof(path));
	pid = fork();
	if (pid == 0) {
		static const char hello[] = "ok\nevent leaving 0000:05:00.0 0 orderly,requested "
					    "0000:05:00.0\n";
		static const char gone[] = "event removed 0000:05:00.0 10 orderly 0000:05:00.0\n";
		char buf[128] = "";
		int fd = accept(lfd, NULL, NULL);
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		if (n <= 0 || strcmp(buf, "watch 0000:05:00.0\n"))
			_exit(3);
		if (write(fd, hello, sizeof(hello) - 1) < 0)
			_exit(4);
		memset(buf, 0, sizeof(buf));
		alarm(5);
		n = read(fd, buf, sizeof(buf) - 1);
		if (n != 4 || strcmp(buf, "ack\n"))
			_exit(5);
		if (write(fd, gone, sizeof(gone) - 1) < 0)
			_exit(6);
		/* the client closes: EOF here */
		n = read(fd, buf, sizeof(buf));
		_exit(n == 0 ? 0 : 7);
	}
	e = egpu_open(path, "0000:05:00.0");
	assert_non_null(e);
	assert_int_equal(egpu_next(e, &ev, 2000), 1);
	assert_int_equal(ev.kind, EGPU_EVENT_LEAVING);
	assert_int_equal(egpu_ack(e), 0);
	assert_int_equal(egpu_next(e, &ev, 2000), 1);
	assert_int_equal(ev.kind, EGPU_EVENT_REMOVED);
	assert_true(ev.orderly);
	egpu_close(e);
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(lfd);
	unlink(path);
	rmdir(dir);
}

/* After LOST: what egpud did to a process that still held the GPU. */
static void workload_lost_detail(void **state)
{
	char dir[] = "/tmp/egpu-lost-XXXXXX", path[128];
	struct egpu_event ev;
	struct egpu *e;
	int lfd, status;
	pid_t pid;

	lfd = unix_listener(dir, path, sizeof(path));
	pid = fork();
	if (pid == 0) {
		static const char lines[] =
			"ok\nevent lost 0000:05:00.0 7 surprise 0000:05:00.0\n"
			"event workload-lost 0000:05:00.0 7 surprise 0000:05:00.0 pid=321 "
			"action=sigterm node=/dev/dri/renderD128 comm=ollama\n";
		char buf[128];
		int fd = accept(lfd, NULL, NULL);

		if (read(fd, buf, sizeof(buf)) <= 0 || write(fd, lines, sizeof(lines) - 1) < 0)
			_exit(3);
		_exit(read(fd, buf, sizeof(buf)) == 0 ? 0 : 4);
	}
	e = egpu_open(path, NULL);
	assert_non_null(e);
	assert_int_equal(egpu_next(e, &ev, 2000), 1);
	assert_int_equal(ev.kind, EGPU_EVENT_LOST);
	assert_string_equal(egpu_event_detail(e), "");
	assert_int_equal(egpu_next(e, &ev, 2000), 1);
	assert_int_equal(ev.kind, EGPU_EVENT_WORKLOAD_LOST);
	assert_string_equal(egpu_event_kind_name(ev.kind), "workload-lost");
	assert_int_equal(ev.seq, 7);
	assert_true(ev.surprise);
	assert_string_equal(egpu_event_detail(e),
			    "pid=321 action=sigterm node=/dev/dri/renderD128 comm=ollama");
	egpu_close(e);
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(lfd);
	unlink(path);
	rmdir(dir);
}

/* egpud gone: egpu_ack() says so, no SIGPIPE. */
static void ack_after_egpud_left(void **state)
{
	char dir[] = "/tmp/egpu-ack-XXXXXX", path[128];
	struct egpu *e;
	int lfd, status, r;
	pid_t pid;

	lfd = unix_listener(dir, path, sizeof(path));
	pid = fork();
	if (pid == 0) {
		char buf[128];
		int fd = accept(lfd, NULL, NULL);

		if (read(fd, buf, sizeof(buf)) <= 0 || write(fd, "ok\n", 3) != 3)
			_exit(3);
		_exit(0);
	}
	e = egpu_open(path, NULL);
	assert_non_null(e);
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	r = egpu_ack(e);
	if (r == 0)	/* the first send may still land in the dead socket */
		r = egpu_ack(e);
	assert_true(r == -EPIPE || r == -ECONNRESET);
	egpu_close(e);
	close(lfd);
	unlink(path);
	rmdir(dir);
}

/*
 * The request code egpuctl and libegpu share, with SIGPIPE at its default
 * (a host program that never heard of it): egpud gone before the request
 * is written must be an error, never the death of the program.
 */
static void request_to_closed_egpud_no_sigpipe(void **state)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[1] = { (char *)"status" };
		int sv[2];

		signal(SIGPIPE, SIG_DFL);
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			_exit(3);
		close(sv[1]);
		_exit(egpud_send_request(sv[0], false, 1, argv) == -EPIPE ? 0 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_false(WIFSIGNALED(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A reply that never comes ends at the reader's deadline, with what came so far. */
static void reply_read_has_deadline(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], "half a reply", 12), 12);
	assert_int_equal(egpud_read_reply_timeout(sv[0], out, 50), -ETIMEDOUT);
	fclose(out);
	assert_string_equal(text, "half a reply");
	free(text);
	/* the rest arrives: a whole reply is read as before */
	text = NULL;
	out = open_memstream(&text, &len);
	assert_int_equal(write(sv[1], "\n\0" "0\n", 4), 4);
	assert_int_equal(egpud_read_reply_timeout(sv[0], out, 1000), 0);
	fclose(out);
	assert_string_equal(text, "\n");
	free(text);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(requested_leaving_line),
		cmocka_unit_test(ack_reaches_egpud),
		cmocka_unit_test(ack_after_egpud_left),
		cmocka_unit_test(workload_lost_detail),
		cmocka_unit_test(request_to_closed_egpud_no_sigpipe),
		cmocka_unit_test(reply_read_has_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
