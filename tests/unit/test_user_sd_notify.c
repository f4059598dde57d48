// SPDX-License-Identifier: GPL-2.0
/*
 * The readiness datagram reaches a socket named by $NOTIFY_SOCKET, a path
 * or an abstract name ("@..."), with exactly the text given; without
 * $NOTIFY_SOCKET nothing is sent and nothing fails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>

#include "common/sd_notify.h"

static int listener(struct sockaddr_un *sa, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)sa, len), 0);
	return fd;
}

static void expect_datagram(int fd, const char *want)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	assert_int_equal(n, (ssize_t)strlen(want));
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void test_path_socket(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/egpu-notify-XXXXXX";
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);
	fd = listener(&sa, sizeof(sa));
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);
	assert_int_equal(egpu_sd_notify("READY=1\nSTATUS=2 routers"), 0);
	expect_datagram(fd, "READY=1\nSTATUS=2 routers");
	close(fd);
	unlink(sa.sun_path);
	rmdir(dir);
	unsetenv("NOTIFY_SOCKET");
}

static void test_abstract_socket(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[64];
	int n, fd;

	n = snprintf(name, sizeof(name), "@egpu-notify-%d", (int)getpid());
	memcpy(sa.sun_path, name, (size_t)n);
	sa.sun_path[0] = '\0';
	fd = listener(&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(egpu_sd_notify("STOPPING=1"), 0);
	expect_datagram(fd, "STOPPING=1");
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

static void test_no_socket(void **state)
{
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(egpu_sd_notify("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "/nonexistent/notify", 1);
	assert_int_equal(egpu_sd_notify("READY=1"), -ENOENT);
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	assert_int_equal(egpu_sd_notify("READY=1"), -EAFNOSUPPORT);
	unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_socket),
		cmocka_unit_test(test_abstract_socket),
		cmocka_unit_test(test_no_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
