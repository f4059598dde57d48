/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading a directory into an array of records, one an entry: the store's
 * devices, sysfs's routers, gpuwork's checkpoint records.
 */
#ifndef EGPU_DIR_LIST_H
#define EGPU_DIR_LIST_H

#include <stddef.h>

/*
 * For each entry of dir whose name does not start with '.' (".", "..",
 * hidden and temporary files), load(name, elem, ctx) fills elem, one
 * elem_size-byte (> 0) element of a new array; it returns 0 to keep the entry,
 * anything else to pass over it.  *out (free() it) holds the *n kept ones
 * in readdir() order; it is NULL when none was kept.
 *
 * A dir that does not exist is an empty list, not an error: 0.  Another
 * opendir() error is -errno, and running out of memory -ENOMEM with what
 * was read freed; on an error *out is NULL and *n 0.
 */
int egpu_dir_list(const char *dir, size_t elem_size,
		  int (*load)(const char *name, void *elem, void *ctx), void *ctx,
		  void **out, size_t *n);

#endif /* EGPU_DIR_LIST_H */
