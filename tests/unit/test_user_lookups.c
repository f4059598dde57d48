// SPDX-License-Identifier: GPL-2.0
/*
 * egpud's blocking lookups run as jobs, not on its loop (egpud/lookups.c):
 * a group lookup (NSS) or a boltd check (D-Bus) that does not answer does
 * not hold up the caller; until it answers, only root may act and boltd
 * stays as last seen; the answer then lands; an answer for a group a
 * reload has replaced is dropped; boltd coming re-applies the policy.
 * The stand-in lookups wait for a file the test makes, so what is
 * checked is order (the caller returned while the lookup was still
 * blocked), never time.
 */
// unit-test-links: egpud/lookups.c egpud/jobs.c egpud/auth.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/config.h"
#include "common/sysfs.h"
#include "egpud/egpud.h"
#include "helpers/daemon_fixture.h"
#include "helpers/egpud_loop_stubs.h"
#include "helpers/gw_fake.h"

static char *root;
static char gate[256];	/* the stand-ins answer once this file exists */

/*
 * In the job's child (which keeps no fd of ours: jobs.c closes them), so
 * the gate is a file: poll for it, the state it waits for.
 */
static void wait_gate(void)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };

	while (access(gate, F_OK) != 0)
		nanosleep(&ts, NULL);
}

static int slow_group(const char *name, gid_t *gid)
{
	wait_gate();
	if (strcmp(name, "egpu") && strcmp(name, "other"))
		return -ENOENT;
	*gid = !strcmp(name, "egpu") ? 4242 : 4343;
	return 0;
}

static int slow_boltd(void)
{
	wait_gate();
	return 1;
}

static struct egpud *new_daemon(const char *group)
{
	char text[512];

	snprintf(text, sizeof(text), "[daemon]\nsysfs = %s\n%s%s\n", root,
		 group ? "socket-group = " : "", group ? group : "");
	return daemon_fixture_new(text);
}

/* the job has not answered: its pipe has nothing to read yet */
static void still_blocked(struct egpud_job *j)
{
	struct pollfd p = { .fd = j->fd, .events = POLLIN };

	assert_int_equal(poll(&p, 1, 0), 0);
}

static void let_go(void)
{
	gwt_write(root, "gate", "open\n");
}

static int setup(void **state)
{
	root = gwt_tmpdir();
	gwt_mkdir(root, "bus/thunderbolt/devices");
	egpu_sysfs_set_root(root);
	snprintf(gate, sizeof(gate), "%s/gate", root);
	egpud_lookups_set_ops(slow_group, slow_boltd);
	return 0;
}

static int teardown(void **state)
{
	egpud_lookups_set_ops(NULL, NULL);
	gwt_rmtree(root);
	return 0;
}

static void slow_group_lookup_does_not_block(void **state)
{
	struct egpud *d = new_daemon("egpu");
	struct egpud_job *j;

	d->admin_gid = 7;	/* what an earlier configuration had */
	egpud_admin_group_resolve(d);
	/* back here while the lookup is still blocked; meanwhile only root acts */
	j = egpud_job_for(d, "group egpu");
	assert_non_null(j);
	still_blocked(j);
	assert_int_equal(d->admin_gid, (gid_t)-1);
	let_go();
	egpud_job_wait(d, j);
	assert_int_equal(d->admin_gid, 4242);
	daemon_fixture_free(d);
}

static void stale_group_answer_is_dropped(void **state)
{
	struct egpud *d = new_daemon("egpu");
	struct egpud_job *old, *cur;
	char err[256], text[512];

	egpud_admin_group_resolve(d);
	old = egpud_job_for(d, "group egpu");
	assert_non_null(old);
	/* a reload names another group before the first lookup answered */
	egpu_config_free(d->cfg);
	snprintf(text, sizeof(text), "[daemon]\nsysfs = %s\nsocket-group = other\n", root);
	d->cfg = egpu_config_parse("t.conf", text, err, sizeof(err));
	assert_non_null(d->cfg);
	egpud_admin_group_resolve(d);
	cur = egpud_job_for(d, "group other");
	assert_non_null(cur);
	let_go();
	egpud_job_wait(d, old);
	assert_int_equal(d->admin_gid, (gid_t)-1);	/* egpu's gid is not other's */
	egpud_job_wait(d, cur);
	assert_int_equal(d->admin_gid, 4343);
	daemon_fixture_free(d);
}

static void unknown_group_only_root(void **state)
{
	struct egpud *d = new_daemon("nosuchgroup");
	struct egpud_job *j;

	egpud_admin_group_resolve(d);
	j = egpud_job_for(d, "group nosuchgroup");
	assert_non_null(j);
	let_go();
	egpud_job_wait(d, j);
	assert_int_equal(d->admin_gid, (gid_t)-1);
	daemon_fixture_free(d);
	/* no socket group: no lookup at all */
	d = new_daemon(NULL);
	egpud_admin_group_resolve(d);
	assert_false(egpud_jobs_running(d));
	assert_int_equal(d->admin_gid, (gid_t)-1);
	daemon_fixture_free(d);
}

static void slow_boltd_check_does_not_block(void **state)
{
	struct egpud *d = new_daemon(NULL);
	struct egpud_job *j;

	egpud_boltd_refresh(d);
	j = egpud_job_for(d, "boltd");
	assert_non_null(j);
	egpud_boltd_refresh(d);		/* one check at a time */
	assert_ptr_equal(egpud_job_for(d, "boltd"), j);
	still_blocked(j);
	assert_false(d->boltd_running);	/* as last seen until it answers */
	let_go();
	egpud_job_wait(d, j);
	assert_true(d->boltd_running);	/* and the policy was re-applied (no routers here) */
	daemon_fixture_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(slow_group_lookup_does_not_block, setup, teardown),
		cmocka_unit_test_setup_teardown(stale_group_answer_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_group_only_root, setup, teardown),
		cmocka_unit_test_setup_teardown(slow_boltd_check_does_not_block, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
