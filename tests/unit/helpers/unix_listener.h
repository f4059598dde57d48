/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A listening AF_UNIX stream socket at DIR/s, DIR a fresh directory made
 * from the mkdtemp() template @dir, for the tests that put a stand-in
 * egpud (or a real client) on the other end.  @path gets the socket's
 * path; the caller closes the socket, unlinks @path and removes @dir.
 * Include after <cmocka.h>.
 */
#ifndef EGPU_TEST_UNIX_LISTENER_H
#define EGPU_TEST_UNIX_LISTENER_H

#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

static inline int unix_listener(char *dir, char *path, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, len, "%s/s", dir);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

#endif
