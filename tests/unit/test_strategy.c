// SPDX-License-Identifier: GPL-2.0
/*
 * Warnings -> strategies, against the fake libcuda: lazy does nothing,
 * eager evacuates on the first warning, preemptive when N warnings came
 * within T; evacuate-to picks host, a named GPU or the same chip's GPU with
 * the most free memory (none: host, "no GPU target: fall back to CPU");
 * libegpu watchers hear LEAVING with the reason before the evacuation and
 * CHECKPOINTED/MIGRATED with the target after it; warnings come from link
 * events, the watchdog and rising AER counters; one log line per decision.
 * A process protecting itself by libegpu snapshots gets LEAVING and is left
 * to its final snapshot instead of the driver checkpoint (the evacuation
 * waits for it, at most eject-grace-ms; without it, it is checkpointed).
 */
// unit-test-links: egpud/strategy.c egpud/records.c egpud/jobs.c egpud/snapshots.c
#define EGPU_TEST_LINKS_STRATEGY
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "common/config.h"
#include "common/sysfs.h"
#include "egpud/egpud.h"
#include "gpuwork/gw_internal.h"
#include "helpers/egpud_loop_stubs.h"
#include "helpers/gw_fake.h"
#include "helpers/log_capture.h"
#include "helpers/watcher_client.h"

#define GIB	(1ULL << 30)
#define S	1000ULL

static char *root;
static struct egpud d;
static struct egpu_config *cfg;
static struct egpuhp_dev devs[2];

/* What the watchers were told, line after line. */
static char told[2048];

void egpud_watchers_send(struct egpud *dd, const char *pci, const char *group,
			 const char *line, bool monitors, const uid_t *owner)
{
	size_t l = strlen(told);

	snprintf(told + l, sizeof(told) - l, "%s", line);
}

static uint64_t now;

uint64_t egpud_now_ms(void)
{
	return now;
}

/* eject.c's, tested in test_snapshot_daemon.c: no eject runs here */
void egpud_eject_client_ack(struct egpud *dd, const struct egpud_client *c)
{
}

void egpud_eject_client_final(struct egpud *dd, const struct egpud_client *c)
{
}

static int setup_n(int ngpus)
{
	static const char *const nodes[] = { "/dev/nvidiactl", "/dev/nvidia0",
					     "/dev/nvidia-uvm", NULL };
	char sys[512];
	int i;

	root = gwt_tmpdir();
	fake_cuda_reset(ngpus);
	gwt_fake_system(root, ngpus, NULL);
	gwt_fake_proc(root, 500, "ollama_runner", nodes);
	fake_cuda_add_proc(500, 0, 2 * GIB);
	fake_cuda.free_mem[1] = 20ULL << 30;
	fake_cuda_install();
	gw_set_inprocess(true);
	snprintf(sys, sizeof(sys), "%s/sys", root);
	egpu_sysfs_set_root(sys);
	memset(&d, 0, sizeof(d));
	cfg = egpu_config_new();
	d.cfg = cfg;
	memset(devs, 0, sizeof(devs));
	for (i = 0; i < 2; i++) {
		snprintf(devs[i].name, sizeof(devs[i].name), "0000:0%d:00.%d", 1, i);
		devs[i].vendor = 0x10de;
		devs[i].device = i ? 0x22e8 : 0x2335;
		snprintf(devs[i].group, sizeof(devs[i].group), "0000:01:00.0");
		snprintf(devs[i].port, sizeof(devs[i].port), "0000:00:07.0");
		snprintf(devs[i].router_uid, sizeof(devs[i].router_uid), "d0ck-0001");
	}
	devs[0].is_gpu = true;
	snprintf(devs[0].driver, sizeof(devs[0].driver), "nvidia");
	d.tracker.devs = devs;
	d.tracker.n_devs = 2;
	told[0] = '\0';
	now = 1000 * S;
	return cfg ? 0 : -1;
}

static int setup(void **state)
{
	return setup_n(2);
}

static int setup1(void **state)
{
	return setup_n(1);
}

static int teardown(void **state)
{
	egpud_jobs_wait(&d);
	egpu_sysfs_set_root(NULL);
	egpu_config_free(cfg);
	fake_cuda_uninstall();
	gwt_rmtree(root);
	return 0;
}

static void strategy_decisions(void **state)
{
	struct egpu_workload_policy p = { .strategy = EGPU_STRATEGY_LAZY, .warnings = 3,
					  .within_s = 600 };
	struct egpud_health h = { 0 };
	char why[160];

	assert_int_equal(egpud_strategy_decide(&p, &h, 0, why, sizeof(why)),
			 EGPUD_DECIDE_NOTHING);
	assert_string_equal(why, "strategy lazy: nothing until it is lost");
	p.strategy = EGPU_STRATEGY_EAGER;
	assert_int_equal(egpud_strategy_decide(&p, &h, 1 * S, why, sizeof(why)),
			 EGPUD_DECIDE_EVACUATE);
	h.evacuated = true;
	assert_int_equal(egpud_strategy_decide(&p, &h, 2 * S, why, sizeof(why)),
			 EGPUD_DECIDE_NOTHING);
	assert_string_equal(why, "evacuated already");

	/* preemptive: 3 within 600 s */
	memset(&h, 0, sizeof(h));
	p.strategy = EGPU_STRATEGY_PREEMPTIVE;
	assert_int_equal(egpud_strategy_decide(&p, &h, 0, why, sizeof(why)),
			 EGPUD_DECIDE_NOTHING);
	assert_string_equal(why, "strategy preemptive: 1 of 3 warnings within 600 s");
	assert_int_equal(egpud_strategy_decide(&p, &h, 700 * S, why, sizeof(why)),
			 EGPUD_DECIDE_NOTHING);
	/* the first is out of the window: 2 recent */
	assert_int_equal(egpud_strategy_decide(&p, &h, 1000 * S, why, sizeof(why)),
			 EGPUD_DECIDE_NOTHING);
	assert_string_equal(why, "strategy preemptive: 2 of 3 warnings within 600 s");
	assert_int_equal(egpud_strategy_decide(&p, &h, 1200 * S, why, sizeof(why)),
			 EGPUD_DECIDE_EVACUATE);
	assert_string_equal(why, "strategy preemptive: 3 warnings within 600 s (limit 3)");
	/* the history is bounded */
	for (now = 0; now < 3 * EGPUD_WARN_HISTORY; now++)
		egpud_strategy_decide(&p, &h, now, why, sizeof(why));
	assert_int_equal(h.n, EGPUD_WARN_HISTORY);
}

static void fake_libcuda_lazy_does_nothing(void **state)
{
	const char *log;

	log_capture_start(root);
	egpud_strategy_warn(&d, &devs[0], EGPUD_WARN_LINK, "link at 2500 Mb/s x4");
	log = log_capture_end();
	assert_non_null(strstr(log, "strategy: 0000:01:00.0: warning link (link at 2500 Mb/s "
			       "x4): strategy lazy: nothing until it is lost: nothing done"));
	assert_false(egpud_jobs_running(&d));
	assert_string_equal(told, "");
	assert_int_equal(egpud_strategy_timeout_ms(&d), -1);	/* idle: no AER timer */
}

/* What an eager strategy logs on one warning of devs[0], its evacuation done. */
static const char *eager_warning(enum egpud_warning w, const char *why)
{
	cfg->workloads.strategy = EGPU_STRATEGY_EAGER;
	log_capture_start(root);
	egpud_strategy_warn(&d, &devs[0], w, why);
	egpud_jobs_wait(&d);
	return log_capture_end();
}

static void fake_libcuda_eager_evacuates_to_host(void **state)
{
	struct gw_record rec;
	const char *log;
	char *leaving, *after;

	log = eager_warning(EGPUD_WARN_WATCHDOG, "not answering");
	assert_non_null(strstr(log, "strategy eager: first warning: evacuating to host"));
	assert_non_null(strstr(log, "evacuated: checkpointed to host memory"));
	/* watchers: LEAVING with the reason first, then CHECKPOINTED to host */
	leaving = strstr(told, "event leaving 0000:01:00.0 0 warning 0000:01:00.0 "
			 "reason=watchdog: not answering\n");
	after = strstr(told, "event checkpointed 0000:01:00.0 0 warning 0000:01:00.0 to=host\n");
	assert_non_null(leaving);
	assert_non_null(after);
	assert_true(leaving < after);
	/* the process is checkpointed (its record is on disk), the router added */
	assert_int_equal(gw_record_load(500, &rec), 0);
	assert_string_equal(rec.router, "d0ck-0001");
	/* once per life of the GPU */
	told[0] = '\0';
	log_capture_start(root);
	egpud_strategy_warn(&d, &devs[0], EGPUD_WARN_WATCHDOG, "not answering");
	log = log_capture_end();
	assert_non_null(strstr(log, "evacuated already: nothing done"));
	assert_string_equal(told, "");
}

static void fake_libcuda_same_chip_picks_a_gpu(void **state)
{
	const char *log;

	cfg->workloads.evacuate = EGPU_EVAC_SAME_CHIP;
	log = eager_warning(EGPUD_WARN_AER, "3 new correctable AER errors");
	assert_non_null(strstr(log, "evacuating to same-chip"));
	assert_non_null(strstr(log, "evacuated: migrated to 0000:02:00.0"));
	assert_non_null(strstr(told, "event migrated 0000:01:00.0 0 warning 0000:01:00.0 "
			       "to=0000:02:00.0\n"));
}

static void fake_libcuda_same_chip_without_gpu_falls_back_to_cpu(void **state)
{
	const char *log;

	cfg->workloads.evacuate = EGPU_EVAC_SAME_CHIP;
	log = eager_warning(EGPUD_WARN_LINK, "link at 2500 Mb/s x4");
	assert_non_null(strstr(log, "(no GPU target: fall back to CPU)"));
	assert_non_null(strstr(told, "event checkpointed 0000:01:00.0 0 warning 0000:01:00.0 "
			       "to=host reason=no GPU target: fall back to CPU\n"));
}

static void fake_libcuda_failed_evacuation_leaves_work_running(void **state)
{
	const char *log;

	fake_cuda.proc[0].fail[FAKE_CU_LOCK] = GW_CU_TIMEOUT;
	log = eager_warning(EGPUD_WARN_LINK, "link at 2500 Mb/s x4");
	assert_non_null(strstr(log, "evacuation to host failed"));
	assert_non_null(strstr(told, "event ready 0000:01:00.0 0 warning 0000:01:00.0 "
			       "reason=evacuation failed: still on this GPU\n"));
}

/* The module's PCI_SLOW is a watchdog warning naming the read's time. */
static void slow_answer_warns(void **state)
{
	struct egpuhp_nl_event ev = { .event = EGPUHP_EV_PCI_SLOW, .has_dev = true,
				      .answer_us = 51234 };
	const char *log;

	ev.dev = devs[0];
	log_capture_start(root);
	egpud_strategy_event(&d, &ev);
	log = log_capture_end();
	assert_non_null(strstr(log, "strategy: 0000:01:00.0: warning watchdog (slow answer: "
			       "51234 us): strategy lazy: nothing until it is lost: nothing done"));
	assert_string_equal(told, "");
}

static void warnings_from_events(void **state)
{
	struct egpuhp_nl_event ev = { .event = EGPUHP_EV_LINK_CHANGE, .has_dev = true };
	const char *log;
	size_t i;

	/* preemptive 2 within 600 s: decisions are logged, nothing moves yet */
	cfg->workloads.strategy = EGPU_STRATEGY_PREEMPTIVE;
	cfg->workloads.warnings = 2;
	ev.dev = devs[1];	/* the audio function: its eGPU's GPU is warned */
	ev.dev.link = (struct egpuhp_link){ .valid = true, .cur_speed = 16000, .cur_width = 16,
					    .max_speed = 16000, .max_width = 16 };
	log_capture_start(root);
	egpud_strategy_event(&d, &ev);		/* at full speed: no warning */
	ev.dev.link.cur_width = 4;
	egpud_strategy_event(&d, &ev);
	log = log_capture_end();
	assert_non_null(strstr(log, "strategy: 0000:01:00.0: warning link (link at 16000 Mb/s "
			       "x4, capable of 16000 Mb/s x16): strategy preemptive: 1 of 2"));
	assert_null(strstr(log, "x16, capable"));

	/* AER: the counters are read only while a GPU is guarded; a rise warns */
	gwt_write(root, "sys/bus/pci/devices/0000:01:00.0/aer_dev_correctable",
		  "RxErr 0\nBadTLP 2\nTOTAL_ERR_COR 2\n");
	/* the first read comes at once: errors counted after it are a rise */
	assert_int_equal(egpud_strategy_timeout_ms(&d), 0);
	egpud_strategy_tick(&d);		/* first read: the base */
	gwt_write(root, "sys/bus/pci/devices/0000:01:00.0/aer_dev_correctable",
		  "RxErr 0\nBadTLP 5\nTOTAL_ERR_COR 5\n");
	assert_int_equal(egpud_strategy_timeout_ms(&d), 10 * S);
	now += 10 * S;
	log_capture_start(root);
	egpud_strategy_tick(&d);
	egpud_jobs_wait(&d);
	log = log_capture_end();
	assert_non_null(strstr(log, "warning aer (3 new correctable AER errors on 0000:01:00.0 "
			       "(5 in all)): strategy preemptive: 2 warnings within 600 s"));
	assert_non_null(strstr(log, "evacuated: checkpointed to host memory"));

	/* a new life of the GPU (bound again): its history starts over */
	ev.event = EGPUHP_EV_PCI_BOUND;
	ev.dev = devs[0];
	egpud_strategy_event(&d, &ev);
	for (i = 0; i < d.n_health; i++)
		assert_string_not_equal(d.health[i].pci, "0000:01:00.0");
}

/* A GPU bound on a link already below capability: warned at once, once. */
static void link_below_capability_at_bind_warns(void **state)
{
	struct egpuhp_nl_event ev = { .event = EGPUHP_EV_PCI_BOUND, .has_dev = true };
	const char *log;

	cfg->workloads.strategy = EGPU_STRATEGY_PREEMPTIVE;
	cfg->workloads.warnings = 2;
	ev.dev = devs[0];
	ev.dev.link = (struct egpuhp_link){ .valid = true, .cur_speed = 16000, .cur_width = 16,
					    .max_speed = 16000, .max_width = 16 };
	log_capture_start(root);
	egpud_strategy_event(&d, &ev);		/* full speed: nothing */
	ev.dev.link.cur_speed = 2500;
	ev.dev.link.cur_width = 1;
	egpud_strategy_event(&d, &ev);		/* bound again, on a bad link */
	ev.dev = devs[1];			/* its audio function: not warned again */
	ev.dev.link = devs[0].link;
	ev.dev.link.cur_width = 1;
	egpud_strategy_event(&d, &ev);
	log = log_capture_end();
	assert_non_null(strstr(log, "strategy: 0000:01:00.0: warning link (link at 2500 Mb/s "
			       "x1, capable of 16000 Mb/s x16): strategy preemptive: 1 of 2"));
	assert_null(strstr(log, "x16, capable"));
	assert_null(strstr(strstr(log, "1 of 2") + 1, "warning link"));
}

static void router_warnings(void **state)
{
	struct egpuhp_nl_event ev = { .event = EGPUHP_EV_ROUTER_CHANGE, .has_router = true };
	const char *log;

	snprintf(ev.router.name, sizeof(ev.router.name), "0-1");
	snprintf(ev.router.unique_id, sizeof(ev.router.unique_id), "d0ck-0001");
	ev.router.rx_speed = 20;
	ev.router.rx_lanes = 2;
	log_capture_start(root);
	egpud_strategy_event(&d, &ev);		/* first sight: the base */
	ev.router.rx_lanes = 1;
	egpud_strategy_event(&d, &ev);
	egpud_strategy_router_deauthorized(&d, "d0ck-0001", "0-1");
	log = log_capture_end();
	assert_non_null(strstr(log, "warning router-link (router 0-1 link 20 Gb/s x1, was 20 "
			       "Gb/s x2)"));
	assert_non_null(strstr(log, "warning router-deauthorized (router 0-1 de-authorized by "
			       "someone else)"));
	assert_int_equal(egpud_warning_from_name("router-link"), EGPUD_WARN_ROUTER_LINK);
	assert_int_equal(egpud_warning_from_name("nonsense"), -1);
}

/*
 * The router's link changed before the GPU arrived (its authorization
 * opened the tunnel): the first change after the GPU is there is already
 * a warning, measured against the router as the GPU found it.
 */
static void router_warning_on_first_change_after_arrival(void **state)
{
	struct egpuhp_nl_event ev = { .event = EGPUHP_EV_PCI_ADD, .has_dev = true };
	struct egpuhp_router routers[1];
	const char *log;

	memset(routers, 0, sizeof(routers));
	snprintf(routers[0].name, sizeof(routers[0].name), "0-1");
	snprintf(routers[0].unique_id, sizeof(routers[0].unique_id), "d0ck-0001");
	routers[0].rx_speed = 20;
	routers[0].rx_lanes = 2;
	d.tracker.routers = routers;
	d.tracker.n_routers = 1;
	log_capture_start(root);
	ev.dev = devs[0];
	egpud_strategy_event(&d, &ev);		/* arrives behind 0-1 at 20 Gb/s x2 */
	ev.event = EGPUHP_EV_PCI_BOUND;
	egpud_strategy_event(&d, &ev);		/* a new life: the base is kept */
	memset(&ev, 0, sizeof(ev));
	ev.event = EGPUHP_EV_ROUTER_CHANGE;
	ev.has_router = true;
	ev.router = routers[0];
	ev.router.rx_speed = 10;
	egpud_strategy_event(&d, &ev);
	log = log_capture_end();
	d.tracker.routers = NULL;
	d.tracker.n_routers = 0;
	assert_non_null(strstr(log, "warning router-link (router 0-1 link 10 Gb/s x2, was 20 "
			       "Gb/s x2)"));
}

/*
 * pid 500 protects itself by snapshots (a watcher of every GPU); 501 does
 * not.  Then devs[0] gets a watchdog warning under the eager strategy,
 * the log captured from there on.
 */
static struct egpud_client *warned_protected_runner(int *peer)
{
	static const char *const nodes[] = { "/dev/nvidiactl", "/dev/nvidia0", NULL };
	static const char line[] = "snapshot bytes=9500000000 buffers=4 taken-ns=5 interval-ms=0\n";
	struct egpud_client *c;

	gwt_fake_proc(root, 501, "ollama_runner", nodes);
	fake_cuda_add_proc(501, 0, 1 * GIB);
	c = watcher_client(&d, 500, 0, "", peer);
	assert_ptr_equal(d.clients[0], c);	/* drop_runner() empties slot 0 */
	assert_int_equal(egpud_watcher_input(&d, c, line, sizeof(line) - 1), 0);
	assert_true(egpud_snap_protects(c));
	cfg->workloads.strategy = EGPU_STRATEGY_EAGER;
	cfg->eject_grace_ms = 2000;
	log_capture_start(root);
	egpud_strategy_warn(&d, &devs[0], EGPUD_WARN_WATCHDOG, "not answering");
	return c;
}

static void drop_runner(struct egpud_client *c, int peer)
{
	d.clients[0] = NULL;
	close(c->fd);
	close(peer);
	free(c);
}

static void fake_libcuda_final_snapshot_instead_of_checkpoint(void **state)
{
	static const char final[] = "snapshot bytes=9500000000 buffers=4 taken-ns=6 "
				    "interval-ms=0 final=1\nack\n";
	struct egpud_client *c;
	struct gw_record rec;
	const char *log;
	int peer;

	c = warned_protected_runner(&peer);
	/* LEAVING went out; the evacuation waits for the final snapshot */
	assert_non_null(strstr(told, "event leaving 0000:01:00.0 0 warning 0000:01:00.0 "
			       "reason=watchdog: not answering\n"));
	assert_false(egpud_jobs_running(&d));
	assert_int_equal(egpud_strategy_timeout_ms(&d), 0);	/* the first AER read: */
	egpud_strategy_tick(&d);				/* due at once */
	assert_false(egpud_jobs_running(&d));
	assert_int_equal(egpud_strategy_timeout_ms(&d), 2000);
	now += 100;
	assert_int_equal(egpud_watcher_input(&d, c, final, sizeof(final) - 1), 0);
	assert_true(egpud_jobs_running(&d));
	egpud_jobs_wait(&d);
	log = log_capture_end();
	assert_non_null(strstr(log, "strategy: 0000:01:00.0: waiting up to 2000 ms for the final "
			       "snapshots of 1 process protecting itself"));
	assert_non_null(strstr(log, "pid 500 sent its final snapshot (9500000000 bytes): no "
			       "driver checkpoint for it"));
	assert_non_null(strstr(log, "1 process left to its own snapshot (no driver checkpoint)"));
	/* 501 was checkpointed, 500 not: no record of it */
	assert_int_equal(gw_record_load(501, &rec), 0);
	assert_int_not_equal(gw_record_load(500, &rec), 0);
	assert_non_null(strstr(told, "event checkpointed 0000:01:00.0 0 warning 0000:01:00.0 "
			       "to=host\n"));
	drop_runner(c, peer);
}

static void fake_libcuda_no_final_snapshot_is_checkpointed(void **state)
{
	struct egpud_client *c;
	struct gw_record rec;
	const char *log;
	int peer;

	c = warned_protected_runner(&peer);
	assert_false(egpud_jobs_running(&d));
	now += 1999;
	egpud_strategy_tick(&d);
	assert_false(egpud_jobs_running(&d));
	now += 1;
	assert_int_equal(egpud_strategy_timeout_ms(&d), 0);
	egpud_strategy_tick(&d);
	assert_true(egpud_jobs_running(&d));
	egpud_jobs_wait(&d);
	log = log_capture_end();
	assert_non_null(strstr(log, "pid 500 protects itself by snapshots but sent no final "
			       "snapshot within 2000 ms: driver checkpoint instead"));
	assert_int_equal(gw_record_load(500, &rec), 0);
	assert_int_equal(gw_record_load(501, &rec), 0);
	drop_runner(c, peer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(strategy_decisions, setup, teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_lazy_does_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_eager_evacuates_to_host, setup,
						teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_same_chip_picks_a_gpu, setup,
						teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_same_chip_without_gpu_falls_back_to_cpu,
						setup1, teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_failed_evacuation_leaves_work_running,
						setup, teardown),
		cmocka_unit_test_setup_teardown(slow_answer_warns, setup, teardown),
		cmocka_unit_test_setup_teardown(warnings_from_events, setup, teardown),
		cmocka_unit_test_setup_teardown(link_below_capability_at_bind_warns, setup, teardown),
		cmocka_unit_test_setup_teardown(router_warnings, setup, teardown),
		cmocka_unit_test_setup_teardown(router_warning_on_first_change_after_arrival, setup,
						teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_final_snapshot_instead_of_checkpoint,
						setup, teardown),
		cmocka_unit_test_setup_teardown(fake_libcuda_no_final_snapshot_is_checkpointed,
						setup, teardown),
	};

	return cmocka_run_group_tests_name("warnings -> strategies (fake libcuda)", tests, NULL,
					   NULL);
}
