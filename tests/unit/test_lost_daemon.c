// SPDX-License-Identifier: GPL-2.0
/*
 * egpud's side of a cable pull (egpud/lost.c) on fake /sys and /proc trees
 * with a stand-in clock: nothing happens before lost-grace-ms, then the
 * holder (a real child process, which the fake /proc shows holding the
 * GPU's node) gets on-lost through a pidfd, with one watcher line and one
 * workload-lost hook run; keep leaves it running; an orderly removal and a
 * removal of no GPU start nothing; the report when the GPU is bound again
 * is given once.
 */
// unit-test-links: egpud/lost.c egpud/lost_scan.c egpud/snapshots.c
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "common/log.h"
#include "common/sysfs.h"
#include "egpud/egpud.h"
#include "helpers/gw_fake.h"
#include "helpers/log_capture.h"

#define GPU	"0000:05:00.0"

/* --- stand-ins for main.c, hooks.c and server.c --- */

static uint64_t now_ms;
static char hook_vars[4][128];
static int hook_runs;
static char watcher_line[512];
static int watcher_lines;

uint64_t egpud_now_ms(void)
{
	return now_ms;
}

void egpud_hooks_run(struct egpud *d, enum egpu_hook_event ev,
		     const struct egpud_hook_env *env)
{
	size_t i;

	if (ev != EGPU_HOOK_WORKLOAD_LOST)
		return;
	hook_runs++;
	for (i = 0; i < 4 && env->vars && env->vars[i]; i++)
		snprintf(hook_vars[i], sizeof(hook_vars[i]), "%s", env->vars[i]);
}

void egpud_watchers_send(struct egpud *d, const char *pci, const char *group,
			 const char *line, bool monitors, const uid_t *owner)
{
	assert_true(monitors);
	assert_non_null(owner);
	watcher_lines++;
	snprintf(watcher_line, sizeof(watcher_line), "%s", line);
}

/* eject.c's and strategy.c's (snapshots.c tells them of acks): no eject here */
void egpud_eject_client_ack(struct egpud *dd, const struct egpud_client *c)
{
}

void egpud_eject_client_final(struct egpud *dd, const struct egpud_client *c)
{
}

void egpud_strategy_client_final(struct egpud *dd, const struct egpud_client *c)
{
}

void egpud_strategy_client_ack(struct egpud *dd, const struct egpud_client *c)
{
}

/* --- the fake system --- */

static char *root;
static struct egpud d;
static struct egpuhp_dev gpu;

static pid_t holder(const char *comm)
{
	const char *const nodes[] = { "/dev/zero", NULL };
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);	/* never outlives a failed test */
		for (;;)
			pause();
	}
	gwt_fake_proc(root, pid, comm, nodes);
	return pid;
}

static int setup(void **state)
{
	struct stat st;
	char rel[256], text[32];

	assert_int_equal(stat("/dev/zero", &st), 0);
	root = gwt_tmpdir();
	snprintf(text, sizeof(text), "%u:%u\n", major(st.st_rdev), minor(st.st_rdev));
	gwt_write(root, "sys/bus/pci/devices/" GPU "/misc/node/dev", text);
	snprintf(rel, sizeof(rel), "sys/dev/char/%u:%u", major(st.st_rdev), minor(st.st_rdev));
	gwt_symlink(root, rel, "../../devices/x");
	snprintf(rel, sizeof(rel), "%s/sys", root);
	egpu_sysfs_set_root(rel);
	snprintf(rel, sizeof(rel), "%s/proc", root);
	setenv("EGPUHP_PROC_ROOT", rel, 1);

	memset(&d, 0, sizeof(d));
	d.cfg = egpu_config_new();
	d.cfg->lost_grace_ms = 1000;
	memset(&gpu, 0, sizeof(gpu));
	snprintf(gpu.name, sizeof(gpu.name), GPU);
	snprintf(gpu.group, sizeof(gpu.group), GPU);
	snprintf(gpu.driver, sizeof(gpu.driver), "egpuhp_testdrv");
	gpu.is_gpu = true;
	now_ms = 100;
	hook_runs = watcher_lines = 0;
	memset(hook_vars, 0, sizeof(hook_vars));
	watcher_line[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	egpud_lost_free(&d);
	egpu_config_free(d.cfg);
	gwt_rmtree(root);
	unsetenv("EGPUHP_PROC_ROOT");
	return 0;
}

static void pull(uint32_t flags)
{
	struct egpuhp_nl_event ev = { .event = EGPUHP_EV_PCI_REMOVE, .seq = 9,
				      .flags = flags, .has_dev = true, .dev = gpu };

	egpud_lost_removed(&d, &ev);
}

static void term_after_grace(void **state)
{
	char want[160], report[256];
	pid_t pid;
	int status;

	egpud_lost_note_bound(&d, &gpu);
	pid = holder("worker");
	pull(EGPUHP_F_SURPRISE);
	assert_int_equal(egpud_lost_timeout_ms(&d), 1000);
	now_ms += 999;
	egpud_lost_tick(&d);
	assert_int_equal(watcher_lines, 0);
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);	/* still running */

	now_ms += 1;
	assert_int_equal(egpud_lost_timeout_ms(&d), 0);
	egpud_lost_tick(&d);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	assert_int_equal(watcher_lines, 1);
	snprintf(want, sizeof(want), "event workload-lost " GPU " 9 surprise " GPU
		 " pid=%d action=sigterm node=/dev/zero comm=worker\n", (int)pid);
	assert_string_equal(watcher_line, want);
	assert_int_equal(hook_runs, 1);
	snprintf(want, sizeof(want), "EGPUHP_PID=%d", (int)pid);
	assert_string_equal(hook_vars[0], want);
	assert_string_equal(hook_vars[3], "EGPUHP_ACTION=sigterm");
	assert_int_equal(egpud_lost_timeout_ms(&d), -1);	/* nothing left */

	/* the GPU is bound again: the report, once */
	snprintf(want, sizeof(want), "%d:worker:sigterm", (int)pid);
	assert_non_null(egpud_lost_report(&d, &gpu, report, sizeof(report)));
	assert_string_equal(report, want);
	assert_null(egpud_lost_report(&d, &gpu, report, sizeof(report)));
}

static void keep_leaves_it_running(void **state)
{
	pid_t pid;
	int status;

	d.cfg->on_lost = EGPU_ON_LOST_KEEP;
	pid = holder("llm");
	pull(EGPUHP_F_SURPRISE);	/* nodes read at removal (nothing cached) */
	now_ms += 1000;
	egpud_lost_tick(&d);
	assert_int_equal(watcher_lines, 1);
	assert_non_null(strstr(watcher_line, "action=kept"));
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void nothing_without_a_surprise_removal_of_a_gpu(void **state)
{
	pid_t pid = holder("worker");
	int status;

	pull(EGPUHP_F_ORDERLY);
	assert_int_equal(egpud_lost_timeout_ms(&d), -1);
	gpu.is_gpu = false;		/* the audio function */
	pull(EGPUHP_F_SURPRISE);
	assert_int_equal(egpud_lost_timeout_ms(&d), -1);
	now_ms += 100000;
	egpud_lost_tick(&d);
	assert_int_equal(watcher_lines, 0);
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

static void holder_that_let_go_is_not_signalled(void **state)
{
	char path[600];
	pid_t pid = holder("closer");
	int status;

	pull(EGPUHP_F_SURPRISE);
	/* it closed the node on LOST, before the grace period ended */
	snprintf(path, sizeof(path), "%s/proc/%d/fd/3", root, (int)pid);
	assert_int_equal(unlink(path), 0);
	now_ms += 1000;
	egpud_lost_tick(&d);
	assert_int_equal(watcher_lines, 0);
	assert_int_equal(hook_runs, 0);
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

/*
 * A program protecting itself by snapshots still holds the node: on-lost
 * applies all the same (the driver waits for it), and the log line says
 * what it had in its own memory.
 */
static void snapshot_holder_is_named_as_such(void **state)
{
	static const char line[] = "snapshot bytes=9500000000 buffers=3 taken-ns=1 "
				   "interval-ms=0\n";
	struct egpud_client c = { .fd = -1, .watching = true, .starttime = 4242 };
	const char *log;
	pid_t pid;
	int status;

	d.cfg->on_lost = EGPU_ON_LOST_KEEP;
	pid = holder("trainer");
	c.pid = pid;
	d.clients[0] = &c;
	assert_int_equal(egpud_watcher_input(&d, &c, line, sizeof(line) - 1), 0);
	pull(EGPUHP_F_SURPRISE);
	now_ms += 1000;
	log_capture_start(root);
	egpud_lost_tick(&d);
	log = log_capture_end();
	assert_non_null(strstr(log, "left running (on-lost = keep); it protected itself by "
			       "snapshots, last snapshot "));
	assert_non_null(strstr(log, " s old, 9.5 GB"));
	d.clients[0] = NULL;
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(term_after_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(keep_leaves_it_running, setup, teardown),
		cmocka_unit_test_setup_teardown(nothing_without_a_surprise_removal_of_a_gpu,
						setup, teardown),
		cmocka_unit_test_setup_teardown(holder_that_let_go_is_not_signalled,
						setup, teardown),
		cmocka_unit_test_setup_teardown(snapshot_holder_is_named_as_such, setup, teardown),
	};

	egpu_log_init("test", false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
