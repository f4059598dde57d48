// SPDX-License-Identifier: GPL-2.0
/*
 * Checkpoint records at egpud's start: the record of a live process stays
 * (it can still be restored), that of a process that exited goes; other
 * files are left alone.
 */
// unit-test-links: egpud/records.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "egpud/egpud.h"
#include "helpers/egpud_loop_stubs.h"

static void touch(const char *dir, const char *name)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/gpuwork/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("starttime=1\n", f);
	fclose(f);
}

static bool exists(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/gpuwork/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void test_prune(void **state)
{
	char dir[] = "/tmp/egpu-records-XXXXXX", sub[64], me[16], gone[16], cmd[96];
	pid_t child = fork();

	if (child == 0)
		_exit(0);
	assert_true(child > 0);
	assert_int_equal(waitpid(child, NULL, 0), child);	/* reaped: gone */
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/gpuwork", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(me, sizeof(me), "%d", (int)getpid());
	snprintf(gone, sizeof(gone), "%d", (int)child);
	touch(dir, me);
	touch(dir, gone);
	touch(dir, "gpuwork.sock.lock");
	assert_int_equal(egpud_checkpoint_records_prune(dir), 1);
	assert_true(exists(dir, me));
	assert_false(exists(dir, gone));
	assert_true(exists(dir, "gpuwork.sock.lock"));
	/* from the environment, as gpuwork finds it */
	touch(dir, gone);
	setenv("EGPUHP_RUN_DIR", dir, 1);
	assert_int_equal(egpud_checkpoint_records_prune(NULL), 1);
	unsetenv("EGPUHP_RUN_DIR");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prune),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
