// SPDX-License-Identifier: GPL-2.0
/*
 * egpu_dir_list(), the directory-to-array reader of the store's device
 * list, sysfs's router list and gpuwork's records: what is kept and passed
 * over, growth past the first allocation, and the errors (a missing
 * directory is an empty list; not a directory and out of memory are errors
 * that leave nothing allocated).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/dir_list.h"
#include "helpers/file_tree.h"

struct entry {
	int number;
	char name[32];
};

static char tmpdir[64];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/egpu-dirlist-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* an entry of tmpdir (a plain file: only its name matters) */
static void touch(const char *name)
{
	file_tree_put(tmpdir, name, "");
}

/* Keeps "nN" entries (N into number), passes over the rest; counts calls. */
static int load_numbered(const char *name, void *elem, void *ctx)
{
	struct entry *e = elem;
	int *calls = ctx;

	(*calls)++;
	if (name[0] != 'n')
		return -EINVAL;
	e->number = atoi(name + 1);
	snprintf(e->name, sizeof(e->name), "%s", name);
	return 0;
}

static int by_number(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return x->number - y->number;
}

static void test_keeps_and_skips(void **state)
{
	struct entry *v;
	char name[16];
	void *out;
	size_t n;
	int calls = 0, i;

	/* more than the first allocation holds, so the array must grow */
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		touch(name);
	}
	touch("other");
	touch(".hidden");
	touch(".n99.tmp");
	assert_int_equal(egpu_dir_list(tmpdir, sizeof(*v), load_numbered, &calls, &out, &n), 0);
	v = out;
	assert_int_equal(n, 40);
	/* "." , "..", ".hidden" and ".n99.tmp" never reach load */
	assert_int_equal(calls, 41);
	qsort(v, n, sizeof(*v), by_number);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(v[i].number, i);
		assert_string_equal(v[i].name, name);
	}
	free(v);
}

static void test_none_kept(void **state)
{
	void *out = (void *)1;
	size_t n = 7;
	int calls = 0;

	/* an empty directory, then one whose only entry is passed over */
	assert_int_equal(egpu_dir_list(tmpdir, sizeof(struct entry), load_numbered, &calls,
				       &out, &n), 0);
	assert_null(out);
	assert_int_equal(n, 0);
	assert_int_equal(calls, 0);
	touch("other");
	n = 7;
	assert_int_equal(egpu_dir_list(tmpdir, sizeof(struct entry), load_numbered, &calls,
				       &out, &n), 0);
	assert_null(out);
	assert_int_equal(n, 0);
	assert_int_equal(calls, 1);
}

static void test_errors(void **state)
{
	char path[256];
	void *out = (void *)1;
	size_t n = 7;
	int calls = 0;

	/* a missing directory is an empty list: nothing is enrolled yet */
	snprintf(path, sizeof(path), "%s/absent", tmpdir);
	assert_int_equal(egpu_dir_list(path, sizeof(struct entry), load_numbered, &calls,
				       &out, &n), 0);
	assert_null(out);
	assert_int_equal(n, 0);

	/* a file where the directory should be is an error */
	touch("file");
	snprintf(path, sizeof(path), "%s/file", tmpdir);
	out = (void *)1;
	n = 7;
	assert_int_equal(egpu_dir_list(path, sizeof(struct entry), load_numbered, &calls,
				       &out, &n), -ENOTDIR);
	assert_null(out);
	assert_int_equal(n, 0);

	/* an array too large to allocate is -ENOMEM (ASan: nothing leaks) */
	touch("n1");
	out = (void *)1;
	n = 7;
	assert_int_equal(egpu_dir_list(tmpdir, SIZE_MAX / 2, load_numbered, &calls, &out, &n),
			 -ENOMEM);
	assert_null(out);
	assert_int_equal(n, 0);
	assert_int_equal(calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keeps_and_skips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_none_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
