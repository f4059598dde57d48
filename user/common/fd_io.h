/* SPDX-License-Identifier: GPL-2.0 OR LGPL-2.1-or-later */
/*
 * File descriptor helpers, one of each for user/: whole-buffer writes and
 * reads, and connecting to an AF_UNIX stream socket.
 */
#ifndef EGPU_FD_IO_H
#define EGPU_FD_IO_H

#include <stddef.h>

/*
 * Write all len bytes of buf to fd; EINTR is retried.  A socket is written
 * with send(MSG_NOSIGNAL): a peer that closed is -EPIPE, never SIGPIPE
 * (egpud may close first, and libegpu must not kill its host program);
 * anything else (a file, a pipe) with write(2).  0, or -errno.
 */
int egpu_write_all(int fd, const void *buf, size_t len);

/*
 * Read exactly len bytes from fd; EINTR is retried.  -ECONNRESET when the
 * other end closed first, -ETIMEDOUT when a receive timeout (SO_RCVTIMEO)
 * ran out; 0, or -errno.
 */
int egpu_read_all(int fd, void *buf, size_t len);

/*
 * Connect to the AF_UNIX stream socket at path (close-on-exec).  With
 * timeout_ms > 0, sends and receives on it time out after that long
 * (SO_SNDTIMEO, SO_RCVTIMEO; set before connecting, so connect() to a
 * full backlog is bounded too).  The fd, or -errno.
 */
int egpu_unix_connect(const char *path, int timeout_ms);

#endif /* EGPU_FD_IO_H */
