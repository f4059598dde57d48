// SPDX-License-Identifier: GPL-2.0
/*
 * egpud's children (egpud/hooks.c): hooks run only from a hooks directory
 * and files only root can change; hooks and gpuwork/eject workers have
 * separate budgets in the child table; a worker past its deadline is
 * killed and its client still gets a reply.  Real forks and execs; the
 * loop's clock (main.c) and the eject's reaper (eject.c) are stubbed.
 */
// unit-test-links: egpud/hooks.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "common/egpud_proto.h"
#include "common/json.h"
#include "egpud/egpud.h"

/* --- stubs of main.c and eject.c --- */
static uint64_t clock_ms = 1000;

uint64_t egpud_now_ms(void)
{
	return clock_ms;
}

void egpud_eject_reaped(struct egpud *d, int pid, int status)
{
}

/* --- fixture --- */
static struct egpud d;
static struct egpu_config cfg;
static char dir[] = "/tmp/egpu-hooks-XXXXXX";
static char hooks[128];

static int setup(void **state)
{
	memset(&d, 0, sizeof(d));
	memset(&cfg, 0, sizeof(cfg));
	assert_non_null(mkdtemp(dir));
	snprintf(hooks, sizeof(hooks), "%s/hooks.d", dir);
	assert_int_equal(mkdir(hooks, 0755), 0);
	cfg.hooks_dir = hooks;
	cfg.hook_events = ~0U;
	cfg.hook_timeout_s = 60;
	d.cfg = &cfg;
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	strcpy(dir, "/tmp/egpu-hooks-XXXXXX");
	return 0;
}

static void write_hook(const char *name, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", hooks, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\ntouch %s/ran.%s\n", dir, name);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

/* Run the hooks for one event and wait for all of them. */
static void run_hooks(void)
{
	struct egpud_hook_env env = { .event = "authorized" };
	int status;

	egpud_hooks_run(&d, EGPU_HOOK_AUTHORIZED, &env);
	while (d.n_children) {
		pid_t pid = d.children[0].pid;

		assert_int_equal(waitpid(pid, &status, 0), pid);
		d.children[0] = d.children[--d.n_children];
	}
}

static bool ran(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/ran.%s", dir, name);
	return access(path, F_OK) == 0;
}

/* A hooks dir or hook file someone else could write is not run. */
static void untrusted_hooks_refused(void **state)
{
	char path[256];

	write_hook("10-good", 0755);
	write_hook("20-world-writable", 0757);
	write_hook("30-group-writable", 0775);
	run_hooks();
	assert_true(ran("10-good"));
	assert_false(ran("20-world-writable"));
	assert_false(ran("30-group-writable"));

	/* the directory itself writable by others: nothing at all runs */
	snprintf(path, sizeof(path), "%s/ran.10-good", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(chmod(hooks, 0777), 0);
	run_hooks();
	assert_false(ran("10-good"));
	assert_int_equal(chmod(hooks, 0775), 0);
	run_hooks();
	assert_false(ran("10-good"));
	assert_int_equal(chmod(hooks, 0755), 0);
	run_hooks();
	assert_true(ran("10-good"));
}

/* A file of another owner is refused too (needs root to hand it over). */
static void foreign_owner_refused(void **state)
{
	char path[256];

	if (geteuid() != 0)
		skip();
	write_hook("10-nobody", 0755);
	snprintf(path, sizeof(path), "%s/10-nobody", hooks);
	assert_int_equal(chown(path, 65534, 65534), 0);
	run_hooks();
	assert_false(ran("10-nobody"));
	assert_int_equal(chown(path, 0, 0), 0);
	assert_int_equal(chown(hooks, 65534, 65534), 0);
	run_hooks();
	assert_false(ran("10-nobody"));
	assert_int_equal(chown(hooks, 0, 0), 0);
	run_hooks();
	assert_true(ran("10-nobody"));
}

/* Hooks cannot take the workers' places, nor workers the hooks'. */
static void separate_budgets(void **state)
{
	size_t i;

	for (i = 0; i < EGPUD_MAX_HOOKS; i++)
		assert_int_equal(egpud_child_add(&d, (pid_t)(100000 + i), EGPUD_CHILD_HOOK,
						 "hook", 1), 0);
	assert_false(egpud_child_room(&d, EGPUD_CHILD_HOOK));
	assert_int_equal(egpud_child_add(&d, 1, EGPUD_CHILD_HOOK, "hook", 1), -EAGAIN);
	assert_true(egpud_child_room(&d, EGPUD_CHILD_WORKER));
	assert_true(egpud_child_room(&d, EGPUD_CHILD_EJECT));
	for (i = 0; i < EGPUD_MAX_WORKERS; i++)
		assert_int_equal(egpud_child_add_worker(&d, (pid_t)(200000 + i),
							EGPUD_CHILD_WORKER, "workloads", 1,
							-1), 0);
	assert_false(egpud_child_room(&d, EGPUD_CHILD_WORKER));
	assert_int_equal(egpud_child_add_worker(&d, 2, EGPUD_CHILD_WORKER, "gpus", 1, -1),
			 -EAGAIN);
	/* an eject still has its place */
	assert_int_equal(egpud_child_add_worker(&d, 3, EGPUD_CHILD_EJECT, "eject", 1, -1), 0);
	d.n_children = 0;
}

/*
 * Start a worker that never ends, for a client on a socketpair; run the
 * clock past its deadline; return what its client read (status in *st).
 */
static char *kill_stuck_worker(const char *json_verb, int *st)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	int sv[2];
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[1]);
		for (;;)
			pause();
	}
	assert_int_equal(egpud_child_add_worker(&d, pid, EGPUD_CHILD_WORKER, "checkpoint",
						EGPUD_WORKER_TIMEOUT_S, sv[0]), 0);
	if (json_verb)
		egpud_child_reply_json(&d, pid, json_verb);
	close(sv[0]);		/* egpud's loop drops its client at once */
	/* before its deadline nothing happens */
	egpud_children_expire(&d);
	assert_false(d.children[0].killed);
	assert_int_equal(egpud_children_timeout_ms(&d), EGPUD_WORKER_TIMEOUT_S * 1000);
	clock_ms += EGPUD_WORKER_TIMEOUT_S * 1000ULL;
	assert_int_equal(egpud_children_timeout_ms(&d), 0);
	egpud_children_expire(&d);
	assert_true(d.children[0].killed);
	while (d.n_children) {	/* SIGCHLD would wake the loop */
		egpud_children_reap(&d);
		if (d.n_children)
			usleep(1000);
	}
	out = open_memstream(&text, &len);
	*st = egpud_read_reply_timeout(sv[1], out, 5000);
	fclose(out);
	close(sv[1]);
	return text;
}

/* A stuck worker is killed at its deadline and its client is answered. */
static void stuck_worker_killed_and_answered(void **state)
{
	int st;
	char *text = kill_stuck_worker(NULL, &st);

	assert_int_equal(st, 1);
	assert_non_null(strstr(text, "checkpoint: killed after its deadline"));
	free(text);
}

/* ... and a client that asked --json gets the envelope, not text. */
static void stuck_json_worker_answered_with_envelope(void **state)
{
	const struct egpu_jval *ok;
	struct egpu_jval *doc;
	int st;
	char *text = kill_stuck_worker("checkpoint", &st);

	assert_int_equal(st, 1);
	doc = egpu_json_parse(text, strlen(text));
	assert_non_null(doc);
	assert_string_equal(egpu_json_get_str(doc, "verb"), "checkpoint");
	assert_string_equal(egpu_json_get_str(doc, "code"), "timeout");
	ok = egpu_json_get(doc, "ok");
	assert_non_null(ok);
	assert_false(ok->b);
	assert_non_null(strstr(egpu_json_get_str(doc, "error"), "killed after its deadline"));
	egpu_json_free(doc);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(untrusted_hooks_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(foreign_owner_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(separate_budgets, setup, teardown),
		cmocka_unit_test_setup_teardown(stuck_worker_killed_and_answered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(stuck_json_worker_answered_with_envelope, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
