// SPDX-License-Identifier: GPL-2.0
/*
 * egpud's eject verb (egpud/eject.c): argument checks, one eject at a
 * time, LEAVING lines to the right watchers, the grace period ending on
 * acks/closes or at its deadline (never blocking), and the worker's report
 * reaching the requester.  The loop's helpers (clock, children) are stubbed
 * here; the worker is a real fork running the real steps, which stop at the
 * module step on this machine (no egpuhp module, no such device).
 */
// unit-test-links: egpud/eject.c egpud/eject_plan.c egpud/eject_steps.c egpud/eject_ops.c egpud/snapshots.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "common/log.h"
#include "egpud/egpud.h"
#include "helpers/eject_requester.h"
#include "helpers/eject_worker_stubs.h"
#include "helpers/gw_fake.h"
#include "helpers/watcher_client.h"

/* --- fixture --- */
static struct egpud d;
static char *proc_root;
static int requester[2];	/* [0] egpud's end, [1] egpuctl's */

static struct egpud_client *watcher(const char *filter, int *peer)
{
	return watcher_client(&d, 0, 0, filter, peer);
}

static void drop_client(struct egpud_client *c)
{
	size_t i;

	egpud_eject_client_gone(&d, c);
	for (i = 0; i < EGPUD_MAX_CLIENTS; i++)
		if (d.clients[i] == c)
			d.clients[i] = NULL;
	close(c->fd);
	free(c);
}

static void dev(struct egpuhp_dev *v, const char *name, bool gpu, const char *group)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->group, sizeof(v->group), "%s", group);
	snprintf(v->parent, sizeof(v->parent), "0000:00:1c.0");
	v->is_gpu = gpu;
}

static int setup(void **state)
{
	struct egpuhp_dev devs[3];

	memset(&d, 0, sizeof(d));
	d.cfg = egpu_config_new();
	assert_non_null(d.cfg);
	d.cfg->eject_grace_ms = 3000;
	egpu_tracker_init(&d.tracker, NULL, NULL);
	dev(&devs[0], "0000:05:00.0", true, "0000:05:00.0");
	dev(&devs[1], "0000:05:00.1", false, "0000:05:00.0");
	dev(&devs[2], "0000:0a:00.0", false, "");
	egpu_tracker_resync(&d.tracker, 0, devs, 3, NULL, 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, requester), 0);
	clock_ms = 1000;
	child_pid = 0;
	/* the worker looks for GPU users in an empty fake /proc */
	proc_root = strdup(gwt_tmpdir());
	setenv("EGPUHP_PROC_ROOT", proc_root, 1);
	setenv("EGPUHP_RUN_DIR", proc_root, 1);
	return 0;
}

static int teardown(void **state)
{
	size_t i;

	for (i = 0; i < EGPUD_MAX_CLIENTS; i++)
		if (d.clients[i])
			drop_client(d.clients[i]);
	close(requester[1]);
	egpu_tracker_free(&d.tracker);
	egpu_config_free(d.cfg);
	free(d.eject);
	gwt_rmtree(proc_root);
	free(proc_root);
	return 0;
}

static int prepare(const char *line, char **text)
{
	return eject_prepare_line(&d, line, text);
}

/* What a peer got so far (non-blocking). */
static char *peer_read(int fd)
{
	static char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* The whole reply of the worker: text, NUL, status. */
static char *requester_reply(int *status)
{
	return eject_reply_read(requester[1], status);
}

static void argument_checks(void **state)
{
	char *t = NULL;

	assert_int_equal(prepare("eject", &t), 2);
	assert_non_null(strstr(t, "needs a PCI function"));
	free(t);
	assert_int_equal(prepare("eject 0000:05:00.0 --timeout soon", &t), 2);
	assert_non_null(strstr(t, "--timeout needs milliseconds"));
	free(t);
	assert_int_equal(prepare("eject 0000:05:00.0 --to", &t), 2);
	assert_non_null(strstr(t, "unexpected argument '--to'"));
	free(t);
	assert_int_equal(prepare("eject 0000:05:00.0 0000:0a:00.0", &t), 2);
	free(t);
	assert_int_equal(prepare("eject 0000:05:00.0 --frobnicate", &t), 2);
	free(t);
	assert_int_equal(prepare("eject 0000:66:00.0", &t), 1);
	assert_non_null(strstr(t, "0000:66:00.0 is not a PCI function egpuhp tracks"));
	free(t);
	assert_null(d.eject);
}

static void one_at_a_time(void **state)
{
	char *t = NULL;

	assert_int_equal(prepare("eject 0000:05:00.0 --timeout 100", &t), 0);
	free(t);
	t = NULL;
	assert_int_equal(prepare("eject 0000:0a:00.0", &t), 1);
	assert_non_null(strstr(t, "another eject (0000:05:00.0) is still running"));
	free(t);
}

static void grace_ends_on_acks_closes_or_deadline(void **state)
{
	int p_gpu, p_audio, p_other, p_all, status;
	struct egpud_client *w_gpu, *w_audio, *w_all;
	char *t = NULL, *s;

	w_gpu = watcher("0000:05:00.0", &p_gpu);	/* the group */
	w_audio = watcher("0000:05:00.1", &p_audio);	/* one function */
	watcher("0000:0a:00.0", &p_other);		/* another device */
	w_all = watcher("", &p_all);			/* everything */
	assert_int_equal(prepare("eject 05:00.1", &t), 0);
	free(t);
	egpud_eject_begin(&d, requester[0]);

	s = peer_read(p_gpu);
	assert_non_null(strstr(s, "event leaving 0000:05:00.0 0 orderly,requested 0000:05:00.0\n"));
	assert_non_null(strstr(s, "event leaving 0000:05:00.1 0 orderly,requested 0000:05:00.0\n"));
	s = peer_read(p_audio);
	assert_string_equal(s, "event leaving 0000:05:00.1 0 orderly,requested 0000:05:00.0\n");
	assert_string_equal(peer_read(p_other), "");
	assert_non_null(strstr(peer_read(p_all), "event leaving 0000:05:00.0"));

	/* waiting: the loop sleeps until the deadline, nothing forked yet */
	assert_int_equal(egpud_eject_timeout_ms(&d), 3000);
	assert_int_equal(child_pid, 0);
	clock_ms += 1000;
	egpud_eject_client_ack(&d, w_gpu);
	egpud_eject_client_ack(&d, w_gpu);	/* twice counts once */
	drop_client(w_audio);
	egpud_eject_tick(&d);
	assert_int_equal(child_pid, 0);		/* w_all has not answered */
	assert_int_equal(egpud_eject_timeout_ms(&d), 2000);
	(void)w_all;
	clock_ms += 2000;
	assert_int_equal(egpud_eject_timeout_ms(&d), 0);
	egpud_eject_tick(&d);
	assert_true(child_pid > 0);
	assert_int_equal(egpud_eject_timeout_ms(&d), -1);	/* the loop sleeps again */

	s = requester_reply(&status);
	assert_non_null(strstr(s, "eject 05:00.1: 0000:05:00.1 0000:05:00.0\n"));
	assert_non_null(strstr(s, "notify      ok       3000 ms  3 watchers told LEAVING: "
			       "1 acked, 1 closed, 1 still watching when the grace period "
			       "(3000 ms) ended"));
	assert_non_null(strstr(s, "no GPU workloads on 0000:05:00.0"));
	/* no egpuhp module here: the flow stops at the module and says so */
	assert_non_null(strstr(s, "stopped at remove"));
	assert_int_equal(status, 1);
	eject_worker_finish(&d);
	/* the next eject may go */
	assert_int_equal(prepare("eject 0000:0a:00.0", &t), 0);
	free(t);
}

static void all_acked_goes_on_at_once(void **state)
{
	struct egpud_client *w;
	int peer, status;
	char *t = NULL, *s;

	w = watcher("", &peer);
	assert_int_equal(prepare("eject 0000:0a:00.0 --force", &t), 0);
	free(t);
	egpud_eject_begin(&d, requester[0]);
	assert_non_null(strstr(peer_read(peer), "event leaving 0000:0a:00.0 0 orderly,requested "
				 "0000:0a:00.0\n"));
	assert_int_equal(child_pid, 0);
	egpud_eject_client_ack(&d, w);
	assert_int_equal(egpud_eject_timeout_ms(&d), 0);	/* wake up now */
	egpud_eject_tick(&d);
	assert_true(child_pid > 0);
	s = requester_reply(&status);
	assert_non_null(strstr(s, "notify      ok          0 ms  1 watcher told LEAVING: "
			       "1 acked, 0 closed\n"));
	eject_worker_finish(&d);
	close(peer);
}

static void no_watchers_json(void **state)
{
	char *t = NULL, *s, argv0[] = "eject", argv1[] = "0000:05:00.0";
	char *argv[] = { argv0, argv1 };
	size_t len = 0;
	FILE *out = open_memstream(&t, &len);
	int status;

	assert_int_equal(egpud_eject_prepare(&d, 2, argv, true, out), 0);
	fclose(out);
	free(t);
	egpud_eject_begin(&d, requester[0]);
	assert_true(child_pid > 0);	/* nobody to wait for */
	s = requester_reply(&status);
	assert_int_equal(strncmp(s, "{\"version\":1,\"verb\":\"eject\",", 28), 0);
	assert_non_null(strstr(s, "\"data\":{\"target\":\"0000:05:00.0\""));
	assert_non_null(strstr(s, "{\"step\":\"notify\",\"outcome\":\"skipped\",\"ms\":0,"
			       "\"detail\":\"no libegpu program watches it\"}"));
	assert_non_null(strstr(s, "\"stopped_at\":\"remove\""));
	eject_worker_finish(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(argument_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(one_at_a_time, setup, teardown),
		cmocka_unit_test_setup_teardown(grace_ends_on_acks_closes_or_deadline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(all_acked_goes_on_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(no_watchers_json, setup, teardown),
	};

	egpu_log_init("test", false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
