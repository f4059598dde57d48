// SPDX-License-Identifier: GPL-2.0
/* Reading a directory into an array of records (see dir_list.h). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/dir_list.h"

int egpu_dir_list(const char *dir, size_t elem_size,
		  int (*load)(const char *name, void *elem, void *ctx), void *ctx,
		  void **out, size_t *n)
{
	char *v = NULL, *t;
	size_t cnt = 0, cap = 0;
	struct dirent *e;
	DIR *d;

	*out = NULL;
	*n = 0;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		/* load() fills the slot past the last kept one: room first */
		if (cnt == cap) {
			size_t grown = cap ? 2 * cap : 8;

			t = grown <= SIZE_MAX / elem_size ? realloc(v, grown * elem_size) : NULL;
			if (!t) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = t;
			cap = grown;
		}
		if (load(e->d_name, v + cnt * elem_size, ctx) == 0)
			cnt++;
	}
	closedir(d);
	if (!cnt) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = cnt;
	return 0;
}
