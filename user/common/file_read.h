/* SPDX-License-Identifier: GPL-2.0 */
/* Reading a small file (a sysfs or /proc attribute, a state or key file). */
#ifndef EGPU_FILE_READ_H
#define EGPU_FILE_READ_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Read path into buf, at most len - 1 bytes, NUL terminated.  Returns the
 * number of bytes read, or -errno (-EINVAL if len is 0).
 */
ssize_t egpu_read_small_file(const char *path, char *buf, size_t len);

#endif /* EGPU_FILE_READ_H */
