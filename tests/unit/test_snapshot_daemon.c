// SPDX-License-Identifier: GPL-2.0
/*
 * egpud's side of libegpu snapshots (egpud/snapshots.c, eject.c): the
 * watcher line parser (strict, bounded, malformed lines logged once per
 * client), the per-watcher snapshot state written over a real socket, the
 * configured "snapshot-interval" sent back, `workloads` showing the state
 * (text and JSON, a protected process discovery cannot see included), and
 * an eject that waits for the final snapshot and then leaves that process
 * to it while the rest of its tree is checkpointed by the fake libcuda
 * (helpers/gw_fake_cuda.c); with no final snapshot in the grace period the
 * driver checkpoint is the fallback.  The eject's worker is a real fork
 * running the real steps in-process against the fake driver; they stop at
 * the module step here (no egpuhp module).
 */
// unit-test-links: egpud/snapshots.c egpud/eject.c egpud/eject_plan.c egpud/eject_steps.c egpud/eject_ops.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "common/egpud_proto.h"
#include "common/log.h"
#include "egpud/egpud.h"
#include "helpers/eject_requester.h"
#include "helpers/eject_worker_stubs.h"
#include "helpers/gw_fake.h"
#include "helpers/log_capture.h"
#include "helpers/watcher_client.h"

#define GPU	"0000:01:00.0"
#define SESSION	"/user.slice/user-1000.slice/session-2.scope"

/* --- fixture --- */
static struct egpud d;
static char *root;
static int requester[2];

static void proc(int pid, const char *comm, int ppid, bool gpu)
{
	const char *nodes[] = { "/dev/nvidiactl", "/dev/nvidia0", NULL };

	gwt_fake_proc(root, pid, comm, gpu ? nodes : NULL);
	gwt_fake_proc_family(root, pid, comm, ppid, 300, SESSION);
}

/*
 * A shell 300 started train.py 301 (protects itself by snapshots) with two
 * data loaders 302 and 303: one workload, tree:301.  500: a protected
 * program whose GPU discovery cannot see (no device node open).
 */
static int setup(void **state)
{
	struct egpuhp_dev dev;

	memset(&d, 0, sizeof(d));
	d.cfg = egpu_config_new();
	assert_non_null(d.cfg);
	d.cfg->eject_grace_ms = 3000;
	egpu_tracker_init(&d.tracker, NULL, NULL);
	memset(&dev, 0, sizeof(dev));
	snprintf(dev.name, sizeof(dev.name), GPU);
	snprintf(dev.group, sizeof(dev.group), GPU);
	snprintf(dev.parent, sizeof(dev.parent), "0000:00:1c.0");
	dev.is_gpu = true;
	egpu_tracker_resync(&d.tracker, 0, &dev, 1, NULL, 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, requester), 0);
	clock_ms = 1000;
	child_pid = 0;
	root = strdup(gwt_tmpdir());
	fake_cuda_reset(1);
	gwt_fake_system(root, 1, NULL);
	proc(300, "bash", 1, false);
	proc(301, "train.py", 300, true);
	proc(302, "loader", 301, true);
	proc(303, "loader", 301, true);
	proc(500, "cpu_sim", 1, false);
	fake_cuda_add_proc(301, 0, 4ULL << 30);
	fake_cuda_add_proc(302, 0, 1ULL << 30);
	fake_cuda_add_proc(303, 0, 1ULL << 30);
	fake_cuda_install();
	gw_set_inprocess(true);
	return 0;
}

static int teardown(void **state)
{
	size_t i;

	for (i = 0; i < EGPUD_MAX_CLIENTS; i++) {
		if (d.clients[i]) {
			close(d.clients[i]->fd);
			free(d.clients[i]);
			d.clients[i] = NULL;
		}
	}
	close(requester[1]);
	egpu_tracker_free(&d.tracker);
	egpu_config_free(d.cfg);
	free(d.eject);
	fake_cuda_uninstall();
	gwt_rmtree(root);
	free(root);
	return 0;
}

/* A watcher connection of process pid (as accept() fills it in), uid unprivileged. */
static struct egpud_client *watcher(pid_t pid, const char *filter, int *peer)
{
	return watcher_client(&d, pid, 1000, filter, peer);
}

/* The program sends text; egpud reads what arrived (the loop's wake-up). */
static int say(struct egpud_client *c, int peer, const char *text)
{
	int pending = 0, ret;

	assert_int_equal(send(peer, text, strlen(text), 0), (ssize_t)strlen(text));
	/* the loop is woken again while unread bytes are left (level-triggered) */
	do {
		ret = egpud_watcher_read(&d, c);
	} while (!ret && !ioctl(c->fd, FIONREAD, &pending) && pending > 0);
	return ret;
}

static char *peer_read(int fd)
{
	static char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void parse_lines(void **state)
{
	struct egpud_watch_line m;
	char why[96];
	static const char *const bad[] = {
		"snapshot",
		"snapshot ",
		"snapshot bytes=1 buffers=1 taken-ns=1",			/* interval-ms= missing */
		"snapshot bytes=1 buffers=1 taken-ns=1 interval-ms=1 bytes=2",	/* twice */
		"snapshot bytes=-1 buffers=1 taken-ns=1 interval-ms=1",
		"snapshot bytes=+1 buffers=1 taken-ns=1 interval-ms=1",
		"snapshot bytes=18446744073709551616 buffers=1 taken-ns=1 interval-ms=1",
		"snapshot bytes=1 buffers=4294967296 taken-ns=1 interval-ms=1",
		"snapshot bytes=1 buffers=1 taken-ns=1 interval-ms=1 final=0",
		"snapshot bytes=1 buffers=1 taken-ns=1 interval-ms=1 final=",
		"snapshot bytes=1  buffers=1 taken-ns=1 interval-ms=1",
		"snapshot bytes=1 buffers=1 taken-ns=1 interval-ms=1 ",
		"snapshot bytes=1 buffers=1 taken-ns=1 interval-ms=0x1",
		"snapshot bytes=1 buffers=1 taken-ns=1 interval-ms=1 junk",
		"snapshot bytes=1 buffers=1\ttaken-ns=1 interval-ms=1",
		"ack now",
		"snapshot-offline",
	};
	size_t i;

	assert_int_equal(egpud_watch_parse("ack", &m, why, sizeof(why)), EGPUD_WATCH_ACK);
	assert_int_equal(egpud_watch_parse("snapshot-off", &m, why, sizeof(why)),
			 EGPUD_WATCH_SNAPSHOT_OFF);
	assert_int_equal(egpud_watch_parse("snapshot bytes=9500000000 buffers=12 "
					   "taken-ns=18446744073709551615 interval-ms=4294967295 "
					   "final=1", &m, why, sizeof(why)), EGPUD_WATCH_SNAPSHOT);
	assert_true(m.bytes == 9500000000ULL);
	assert_int_equal(m.buffers, 12);
	assert_true(m.taken_ns == UINT64_MAX);
	assert_int_equal(m.interval_ms, UINT32_MAX);
	assert_true(m.final);
	/* any order; a newer libegpu's keys are ignored; a pid= is just such a key */
	assert_int_equal(egpud_watch_parse("snapshot interval-ms=0 pid=1 taken-ns=0 buffers=0 "
					   "bytes=0 future=x", &m, why, sizeof(why)),
			 EGPUD_WATCH_SNAPSHOT);
	assert_false(m.final);
	assert_int_equal(egpud_watch_parse("progress 50%", &m, why, sizeof(why)),
			 EGPUD_WATCH_UNKNOWN);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (egpud_watch_parse(bad[i], &m, why, sizeof(why)) != EGPUD_WATCH_MALFORMED)
			fail_msg("not refused: \"%s\"", bad[i]);
	}
}

static void state_over_a_socket_and_interval_sent(void **state)
{
	struct egpud_client *c, *other;
	int peer, peer2;
	const char *log;

	d.cfg->workloads.snapshot_interval_set = true;
	d.cfg->workloads.snapshot_interval_ms = 5000;
	c = watcher(301, GPU, &peer);
	other = watcher(302, "", &peer2);
	log_capture_start(root);
	/* split across reads, then two lines in one */
	assert_int_equal(say(c, peer, "snapshot bytes=95000"), 0);
	assert_false(c->snap.on);
	assert_int_equal(say(c, peer, "00000 buffers=3 taken-ns=0 interval-ms=1000\nsnapsh"), 0);
	assert_true(c->snap.on);
	assert_true(c->snap.bytes == 9500000000ULL);
	assert_int_equal(c->snap.buffers, 3);
	assert_true(egpud_snap_protects(c));
	/* attached: egpud's configured period goes back once */
	assert_string_equal(peer_read(peer), "snapshot-interval 5000\n");
	assert_int_equal(say(c, peer, "ot bytes=1 buffers=3 taken-ns=77 interval-ms=1000\n"), 0);
	assert_true(c->snap.taken_ns == 77);
	assert_string_equal(peer_read(peer), "");
	/* garbage: ignored, the state stays, one log line per client */
	assert_int_equal(say(c, peer, "snapshot bytes=x\nsnapshot bytes=y\n"), 0);
	assert_true(c->snap.bytes == 1);
	{
		char huge[3 * EGPUD_WATCH_LINE_MAX];

		memset(huge, 'a', sizeof(huge) - 1);
		huge[sizeof(huge) - 1] = '\0';
		assert_int_equal(say(c, peer, huge), 0);
		assert_int_equal(say(c, peer, huge), 0);
		/* the overlong line ends here; the next one counts again */
		assert_int_equal(say(c, peer, "\nsnapshot bytes=2 buffers=3 taken-ns=78 "
				     "interval-ms=1000\n"), 0);
	}
	assert_true(c->snap.bytes == 2);
	assert_int_equal(say(other, peer2, "snapshot bytes=1 buffers=1 taken-ns=1\n"), 0);
	assert_false(other->snap.on);
	log = log_capture_end();
	assert_non_null(strstr(log, "watcher pid 301 (uid 1000): malformed line ignored "
			       "(bad value in \"bytes=x\")"));
	assert_null(strstr(log, "bytes=y"));	/* once per client */
	assert_null(strstr(log, "line too long"));
	assert_non_null(strstr(log, "watcher pid 302 (uid 1000): malformed line ignored "
			       "(interval-ms= missing)"));
	/* a reload that changes the period tells the watcher */
	d.cfg->workloads.snapshot_interval_ms = 0;
	egpud_snap_reconfigured(&d);
	assert_string_equal(peer_read(peer), "snapshot-interval 0\n");
	egpud_snap_reconfigured(&d);
	assert_string_equal(peer_read(peer), "");
	/* detached */
	assert_int_equal(say(c, peer, "snapshot-off\n"), 0);
	assert_false(c->snap.on);
	assert_false(egpud_snap_protects(c));
	/* EOF: the program is gone */
	close(peer);
	assert_int_equal(egpud_watcher_read(&d, c), -1);
	close(peer2);
}

/* snapshot-interval-ms of [workloads] and of a [workload-rule] (an explicit 0 too). */
static void interval_from_the_configuration(void **state)
{
	static const char conf[] =
		"[workloads]\nsnapshot-interval-ms = 5000\n"
		"[workload-rule]\nslot = " GPU "\nsnapshot-interval-ms = 0\n"
		"[workload-rule]\nslot = 0000:09:00.0\nstrategy = eager\n";
	struct egpud_client *mine, *all;
	struct egpu_config *c;
	int peer, peer2;
	char err[256];

	c = egpu_config_parse("t.conf", conf, err, sizeof(err));
	assert_non_null(c);
	egpu_config_free(d.cfg);
	d.cfg = c;
	mine = watcher(301, GPU, &peer);
	all = watcher(302, "", &peer2);
	assert_int_equal(say(mine, peer, "snapshot bytes=1 buffers=1 taken-ns=0 interval-ms=0\n"),
			 0);
	assert_int_equal(say(all, peer2, "snapshot bytes=1 buffers=1 taken-ns=0 interval-ms=0\n"),
			 0);
	assert_string_equal(peer_read(peer), "");	/* the rule leaves it to the program */
	assert_string_equal(peer_read(peer2), "snapshot-interval 5000\n");
	close(peer);
	close(peer2);
	/* bad values: where, and what is allowed */
	assert_null(egpu_config_parse("t.conf", "[workloads]\nsnapshot-interval-ms = 1s\n", err,
				      sizeof(err)));
	assert_string_equal(err, "t.conf:2:24: snapshot-interval-ms: expected milliseconds "
			    "0..86400000 (0: the program's own), got \"1s\"");
	assert_null(egpu_config_parse("t.conf", "[workload-rule]\nsnapshot-interval-ms = "
				      "86400001\n", err, sizeof(err)));
}

static void only_its_own_process(void **state)
{
	struct egpud_client *c;
	int peer;

	c = watcher(301, GPU, &peer);
	assert_int_equal(say(c, peer, "snapshot bytes=1 buffers=1 taken-ns=1 interval-ms=0\n"), 0);
	assert_true(egpud_snap_protects(c));
	/* pid 301 is another process now (start time differs): protects nothing */
	c->starttime = 999;
	assert_false(egpud_snap_protects(c));
	c->starttime = 0;	/* unknown at connect time */
	assert_false(egpud_snap_protects(c));
	c->starttime = 4242;
	c->snap.buffers = 0;	/* attached but empty */
	assert_false(egpud_snap_protects(c));
	close(peer);
}

/* The seconds of "snapshot S.s s old" in text (-1: not there). */
static double age_in(const char *text, const char *after)
{
	const char *p = strstr(text, after);
	double s;

	p = p ? strstr(p, "snapshot ") : NULL;
	if (!p || sscanf(p, "snapshot %lf s old", &s) != 1)
		return -1;
	return s;
}

static void workloads_show_snapshots(void **state)
{
	struct egpud_client *c, *sim;
	char line[160], table[4096], *argv[2] = { (char *)GW_SNAPSHOTS_ARG, table }, *out;
	const char *p;
	int peer, peer2, rc;
	long long age_ms;

	c = watcher(301, GPU, &peer);
	sim = watcher(500, "", &peer2);
	/* completed 3.2 s ago (on egpud's own clock) */
	snprintf(line, sizeof(line), "snapshot bytes=9500000000 buffers=12 taken-ns=%" PRIu64
		 " interval-ms=0\n", egpud_now_ns() - (uint64_t)3200000000u);
	assert_int_equal(say(c, peer, line), 0);
	assert_int_equal(say(sim, peer2, "snapshot bytes=0 buffers=2 taken-ns=0 interval-ms=0\n"),
			 0);
	assert_true(egpud_snap_table(&d, table, sizeof(table)));

	out = gwt_run_verb("workloads", 2, argv, false, &rc);
	assert_int_equal(rc, GW_OK);
	/* the users table and the tree listing both say it; age only grows */
	assert_non_null(strstr(out, "s old, 9.5 GB"));
	assert_true(age_in(out, "/dev/nvidia0") >= 3.2);
	assert_true(age_in(out, "running on " GPU ", ") >= 3.2);
	/* its loaders protect nothing */
	assert_non_null(strstr(out, "loader           running on " GPU "\n"));
	/* 500 opened no GPU node: shown from its watcher's word, said so */
	assert_non_null(strstr(out, "cpu_sim          -          (none seen)"));
	assert_non_null(strstr(out, "cpu_sim          running, no snapshot yet (2 buffers) "
			       "(no GPU device node seen)"));
	free(out);

	out = gwt_run_verb("workloads", 2, argv, true, &rc);
	assert_int_equal(rc, GW_OK);
	p = strstr(out, "{\"pid\":301,");
	assert_non_null(p);
	p = strstr(p, "\"snapshot_bytes\":9500000000,\"snapshot_buffers\":12,\"snapshot_age_ms\":");
	assert_non_null(p);
	assert_int_equal(sscanf(strchr(p, ':') ? strstr(p, "age_ms\":") + 8 : p, "%lld", &age_ms),
			 1);
	assert_true(age_ms >= 3200);
	assert_non_null(strstr(out, "{\"pid\":500,\"comm\":\"cpu_sim\",\"pci\":null,\"kind\":null,"
			       "\"node\":null,\"checkpointable\":false,\"gpu_bytes\":null,"
			       "\"snapshot_bytes\":0,\"snapshot_buffers\":2,"
			       "\"snapshot_age_ms\":null}"));
	assert_non_null(strstr(out, "\"state\":\"running\",\"gpu_node_seen\":false,"
			       "\"snapshot_bytes\":0"));
	/* a loader is no snapshot's */
	p = strstr(out, "{\"pid\":302,");
	assert_non_null(p);
	assert_null(strstr(p, "snapshot") < strchr(p, '}') ? strstr(p, "snapshot") : NULL);
	free(out);
	/* a table from anyone else is checked as strictly */
	snprintf(table, sizeof(table), "301:1:1:1");
	out = gwt_run_verb("workloads", 2, argv, false, &rc);
	assert_int_equal(rc, GW_USAGE);
	free(out);
	close(peer);
	close(peer2);
}

static int prepare(const char *line)
{
	char *t = NULL;
	int rc = eject_prepare_line(&d, line, &t);

	free(t);
	return rc;
}

static char *requester_reply(int *status)
{
	return eject_reply_read(requester[1], status);
}

/* train.py 301 watches GPU and has sent a (not final) snapshot; then GPU's eject begins. */
static struct egpud_client *snapshotting_watcher_then_eject(int *peer)
{
	struct egpud_client *c = watcher(301, GPU, peer);

	assert_int_equal(say(c, *peer, "snapshot bytes=9500000000 buffers=12 taken-ns=5 "
			     "interval-ms=0\n"), 0);
	assert_int_equal(prepare("eject " GPU), 0);
	egpud_eject_begin(&d, requester[0]);
	return c;
}

static void fake_libcuda_eject_waits_for_final_then_skips_checkpoint(void **state)
{
	struct egpud_client *c;
	int peer, status;
	char *s;

	c = snapshotting_watcher_then_eject(&peer);
	assert_non_null(strstr(peer_read(peer), "event leaving " GPU " 0 orderly,requested"));
	/* the final snapshot alone does not end the wait: the ack does */
	clock_ms += 120;
	assert_int_equal(say(c, peer, "snapshot bytes=9500000000 buffers=12 taken-ns=6 "
			     "interval-ms=0 final=1\n"), 0);
	egpud_eject_tick(&d);
	assert_int_equal(child_pid, 0);
	clock_ms += 5;
	assert_int_equal(say(c, peer, "ack\n"), 0);
	assert_int_equal(egpud_eject_timeout_ms(&d), 0);
	egpud_eject_tick(&d);
	assert_true(child_pid > 0);
	s = requester_reply(&status);
	assert_non_null(strstr(s, "1 watcher told LEAVING: 1 acked, 0 closed; 1 protected by "
			       "snapshots: 1 final snapshot\n"));
	/* 301 left to its snapshot; its loaders still go as one workload */
	assert_non_null(strstr(s, "pid 301 (train.py): left alone: it protects itself by its "
			       "own snapshot"));
	assert_null(strstr(s, "checkpoint pid 301"));
	assert_non_null(strstr(s, "2 CUDA processes checkpointed; 1 left to its own snapshot "
			       "(pid 301)"));
	assert_non_null(strstr(s, "pid 301: snapshot: 9500000000 bytes, final snapshot 120 ms "
			       "after LEAVING (no driver checkpoint)"));
	assert_non_null(strstr(s, "restore with: egpuctl restore 302"));
	assert_null(strstr(s, "egpuctl restore 301"));
	eject_worker_finish(&d);
	close(peer);
}

static void fake_libcuda_grace_expiry_falls_back_to_checkpoint(void **state)
{
	struct egpud_client *c;
	int peer, status;
	char *s;

	c = snapshotting_watcher_then_eject(&peer);
	clock_ms += 3000;
	egpud_eject_tick(&d);
	assert_true(child_pid > 0);
	/* too late: the worker has its list */
	assert_int_equal(say(c, peer, "snapshot bytes=1 buffers=12 taken-ns=6 interval-ms=0 "
			     "final=1\n"), 0);
	s = requester_reply(&status);
	assert_non_null(strstr(s, "1 protected by snapshots: 0 final snapshots"));
	assert_non_null(strstr(s, "3 CUDA processes checkpointed"));
	assert_non_null(strstr(s, "pid 301: protects itself by snapshots but no final snapshot "
			       "within the grace period (3000 ms): driver checkpoint instead"));
	assert_non_null(strstr(s, "restore with: egpuctl restore 301"));
	eject_worker_finish(&d);
	close(peer);
}

static void fake_libcuda_ack_without_final_is_checkpointed_json(void **state)
{
	char *argv[] = { (char *)"eject", (char *)GPU }, *t = NULL, *s;
	struct egpud_client *c;
	size_t len = 0;
	FILE *out = open_memstream(&t, &len);
	int peer, status;

	c = watcher(301, "", &peer);
	assert_int_equal(say(c, peer, "snapshot bytes=7 buffers=1 taken-ns=5 interval-ms=0\n"), 0);
	assert_int_equal(egpud_eject_prepare(&d, 2, argv, true, out), 0);
	fclose(out);
	free(t);
	egpud_eject_begin(&d, requester[0]);
	assert_int_equal(say(c, peer, "ack\nsnapshot bytes=7 buffers=1 taken-ns=6 interval-ms=0 "
			     "final=1\n"), 0);
	egpud_eject_tick(&d);
	s = requester_reply(&status);
	assert_non_null(strstr(s, "\"snapshots\":[{\"pid\":301,\"outcome\":\"checkpoint\","
			       "\"reason\":\"acked without a final snapshot\"}]"));
	eject_worker_finish(&d);
	close(peer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_lines),
		cmocka_unit_test_setup_teardown(state_over_a_socket_and_interval_sent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(interval_from_the_configuration, setup, teardown),
		cmocka_unit_test_setup_teardown(only_its_own_process, setup, teardown),
		cmocka_unit_test_setup_teardown(workloads_show_snapshots, setup, teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_eject_waits_for_final_then_skips_checkpoint,
						setup, teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_grace_expiry_falls_back_to_checkpoint,
						setup, teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_ack_without_final_is_checkpointed_json,
						setup, teardown),
	};

	egpu_log_init("test", false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
