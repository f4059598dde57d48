// SPDX-License-Identifier: GPL-2.0
/*
 * Fleet health from egpud's snapshot: the Prometheus text (families, label
 * escaping, counters by kind), the health verdict (a removed eGPU is
 * absent, not unhealthy; lost, driverless and degraded ones are
 * problems), AER's aer_dev_correctable format (the config keys are in
 * test_user_config.c).
 * The real node_exporter and promtool read egpud's file in
 * tests/fleet/test_fleet.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/metrics.h"

static char *render(const struct egpu_metrics *m)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	egpu_metrics_write(f, m);
	fclose(f);
	return text;
}

static void expect_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *s = text;

	while ((s = strstr(s, line))) {
		if ((s == text || s[-1] == '\n') && (s[n] == '\n' || s[n] == '\0'))
			return;
		s += n;
	}
	fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void expect_no(const char *text, const char *what)
{
	if (strstr(text, what))
		fail_msg("\"%s\" should not be in:\n%s", what, text);
}

static struct egpu_metrics_fn gpu_fn(const char *pci, const char *driver)
{
	struct egpu_metrics_fn f = { 0 };

	snprintf(f.dev.name, sizeof(f.dev.name), "%s", pci);
	snprintf(f.dev.driver, sizeof(f.dev.driver), "%s", driver);
	snprintf(f.dev.router_uid, sizeof(f.dev.router_uid), "c6030000-0060-6c0e");
	f.dev.vendor = 0x10de;
	f.dev.device = 0x2204;
	f.dev.class_code = 0x030000;
	f.dev.is_gpu = true;
	f.dev.has_present = true;
	f.dev.present = 1;
	f.dev.link = (struct egpuhp_link){ .valid = true, .cur_speed = 8000, .cur_width = 4,
					   .max_speed = 8000, .max_width = 4 };
	return f;
}

static void test_families(void **state)
{
	struct egpu_metrics_fn fns[2] = { gpu_fn("0000:05:00.0", "vfio-pci") };
	struct egpu_metrics_router rs[2] = { 0 };
	struct egpu_metrics m = { .egpud_up = true, .module_connected = true,
				  .watchdog_known = true, .watchdog_ms = 1500,
				  .fns = fns, .n_fns = 2, .routers = rs, .n_routers = 2,
				  .checkpointed = 2, .protected_programs = 1 };
	struct egpuhp_nl_event ev = { .event = EGPUHP_EV_PCI_REMOVE, .flags = EGPUHP_F_SURPRISE };
	char *t;

	fns[1] = gpu_fn("0000:05:00.1", "");
	fns[1].dev.is_gpu = false;
	fns[1].dev.link.valid = false;
	fns[1].dev.has_present = false;
	fns[0].has_aer = true;
	fns[0].aer_correctable = 7;
	snprintf(rs[0].r.name, sizeof(rs[0].r.name), "0-1");
	snprintf(rs[0].r.unique_id, sizeof(rs[0].r.unique_id), "c6030000-0060-6c0e");
	/* DROM names are any bytes: quotes, a backslash, a newline, bad UTF-8 */
	snprintf(rs[0].r.vendor_name, sizeof(rs[0].r.vendor_name), "Ra\"zer\\\n\xff");
	snprintf(rs[0].r.device_name, sizeof(rs[0].r.device_name), "Core X");
	rs[0].r.generation = 3;
	rs[0].r.authorized = 1;
	rs[0].r.rx_speed = 20;
	rs[0].r.rx_lanes = 2;
	rs[0].r.tx_speed = 10;
	rs[0].r.tx_lanes = 1;
	rs[0].connected = true;
	snprintf(rs[1].r.unique_id, sizeof(rs[1].r.unique_id), "d0d0");
	rs[1].enrolled = true;

	egpu_metrics_count_event(&m.counters, &ev);
	ev.flags = EGPUHP_F_ORDERLY;
	egpu_metrics_count_event(&m.counters, &ev);
	egpu_metrics_count_event(&m.counters, &ev);
	ev = (struct egpuhp_nl_event){ .event = EGPUHP_EV_PCI_LOST };
	egpu_metrics_count_event(&m.counters, &ev);
	ev = (struct egpuhp_nl_event){ .event = EGPUHP_EV_PCI_SLOW, .answer_us = 50000 };
	egpu_metrics_count_event(&m.counters, &ev);
	egpu_metrics_count_event(&m.counters, &ev);
	ev = (struct egpuhp_nl_event){ .event = EGPUHP_EV_RESET_END,
				       .reset = { .valid = true, .method = EGPUHP_RESET_BUS,
						  .result = -5 } };
	egpu_metrics_count_event(&m.counters, &ev);
	ev.reset.method = 99;	/* from a newer module: not counted, no overflow */
	egpu_metrics_count_event(&m.counters, &ev);
	ev = (struct egpuhp_nl_event){ .event = EGPUHP_EV_QUIRK_APPLIED };
	egpu_metrics_count_event(&m.counters, &ev);

	t = render(&m);
	expect_line(t, "# TYPE egpuhp_egpud_up gauge");
	expect_line(t, "egpuhp_egpud_up 1");
	expect_line(t, "egpuhp_module_connected 1");
	expect_line(t, "egpuhp_watchdog_period_seconds 1.500");
	expect_line(t, "egpuhp_router_present{unique_id=\"c6030000-0060-6c0e\"} 1");
	expect_line(t, "egpuhp_router_present{unique_id=\"d0d0\"} 0");
	expect_line(t, "egpuhp_router_info{unique_id=\"c6030000-0060-6c0e\",router=\"0-1\","
		    "vendor_name=\"Ra\\\"zer\\\\\\n\xef\xbf\xbd\",device_name=\"Core X\","
		    "generation=\"3\"} 1");
	expect_line(t, "egpuhp_router_authorized{unique_id=\"c6030000-0060-6c0e\"} 1");
	expect_no(t, "egpuhp_router_authorized{unique_id=\"d0d0\"}");
	expect_line(t, "egpuhp_router_link_speed_bytes_per_second{unique_id=\"c6030000-0060-6c0e\","
		    "direction=\"rx\"} 2500000000");
	expect_line(t, "egpuhp_router_link_lanes{unique_id=\"c6030000-0060-6c0e\","
		    "direction=\"tx\"} 1");
	expect_line(t, "egpuhp_pci_function_info{pci=\"0000:05:00.0\",vendor=\"10de\","
		    "device=\"2204\",class=\"030000\",driver=\"vfio-pci\","
		    "router_unique_id=\"c6030000-0060-6c0e\",gpu=\"true\",quirks=\"0x0\"} 1");
	expect_line(t, "egpuhp_pci_present{pci=\"0000:05:00.0\"} 1");
	expect_no(t, "egpuhp_pci_present{pci=\"0000:05:00.1\"}");
	expect_line(t, "egpuhp_pci_link_speed_transfers_per_second{pci=\"0000:05:00.0\"} 8000000000");
	expect_line(t, "egpuhp_pci_link_max_width_lanes{pci=\"0000:05:00.0\"} 4");
	expect_no(t, "egpuhp_pci_link_width_lanes{pci=\"0000:05:00.1\"}");
	expect_line(t, "# TYPE egpuhp_pci_aer_correctable_errors_total counter");
	expect_line(t, "egpuhp_pci_aer_correctable_errors_total{pci=\"0000:05:00.0\"} 7");
	expect_no(t, "egpuhp_pci_aer_correctable_errors_total{pci=\"0000:05:00.1\"}");
	expect_line(t, "egpuhp_pci_removals_total{kind=\"surprise\"} 1");
	expect_line(t, "egpuhp_pci_removals_total{kind=\"orderly\"} 2");
	expect_line(t, "egpuhp_pci_removals_total{kind=\"unknown\"} 0");
	expect_line(t, "egpuhp_pci_lost_total 1");
	expect_line(t, "egpuhp_pci_slow_total 2");
	expect_line(t, "egpuhp_resets_total{method=\"bus\",result=\"failed\"} 1");
	expect_line(t, "egpuhp_resets_total{method=\"bus\",result=\"ok\"} 0");
	expect_line(t, "egpuhp_resets_total{method=\"pm\",result=\"ok\"} 0");
	expect_line(t, "egpuhp_quirks_applied_total 1");
	expect_line(t, "egpuhp_workloads_checkpointed 2");
	expect_line(t, "egpuhp_workloads_protected 1");
	free(t);
}

static void test_down_and_empty(void **state)
{
	struct egpu_metrics m = { .egpud_up = false };
	char *t = render(&m);

	/* egpud's last word: up 0 and nothing that would look current */
	assert_string_equal(t, "# HELP egpuhp_egpud_up 1 while egpud runs; 0 is written by egpud as it stops.\n"
			       "# TYPE egpuhp_egpud_up gauge\negpuhp_egpud_up 0\n");
	free(t);
	m.egpud_up = true;
	t = render(&m);
	expect_line(t, "egpuhp_module_connected 0");
	/* no family without a sample */
	expect_no(t, "egpuhp_router_present");
	expect_no(t, "egpuhp_pci_function_info");
	expect_no(t, "egpuhp_watchdog_period_seconds");
	expect_line(t, "egpuhp_pci_removals_total{kind=\"surprise\"} 0");
	free(t);
}

static void test_health(void **state)
{
	struct egpu_metrics_fn fns[2] = { gpu_fn("0000:05:00.0", "vfio-pci"),
					  gpu_fn("0000:06:00.0", "nvidia") };
	struct egpu_metrics m = { .egpud_up = true, .module_connected = true,
				  .fns = fns, .n_fns = 2 };
	char msg[256];

	assert_int_equal(egpu_health_eval(&m, msg, sizeof(msg)), EGPU_HEALTH_OK);
	assert_string_equal(msg, "ok: 2 eGPUs ready: 0000:05:00.0 vfio-pci; 0000:06:00.0 nvidia");

	/* lost: the watchdog says it stopped answering */
	fns[1].dev.present = 0;
	assert_int_equal(egpu_health_eval(&m, msg, sizeof(msg)), EGPU_HEALTH_PROBLEM);
	assert_string_equal(msg, "problem: 0000:06:00.0 lost (not answering)");

	/* ... then unplugged: absent, and the node is healthy again */
	m.n_fns = 1;
	assert_int_equal(egpu_health_eval(&m, msg, sizeof(msg)), EGPU_HEALTH_OK);
	assert_string_equal(msg, "ok: 1 eGPU ready: 0000:05:00.0 vfio-pci");
	m.n_fns = 0;
	assert_int_equal(egpu_health_eval(&m, msg, sizeof(msg)), EGPU_HEALTH_OK);
	assert_string_equal(msg, "ok: no eGPU connected");

	/* degraded link, no driver: problems; non-GPU functions do not count */
	m.n_fns = 2;
	fns[1] = gpu_fn("0000:06:00.0", "nvidia");
	fns[0].dev.link.cur_speed = 2500;
	fns[0].dev.link.cur_width = 1;
	assert_int_equal(egpu_health_eval(&m, msg, sizeof(msg)), EGPU_HEALTH_PROBLEM);
	assert_string_equal(msg, "problem: 0000:05:00.0 degraded (link 2.5 GT/s x1 of 8 GT/s x4)");
	assert_int_equal(egpu_gpu_state_of(&fns[0].dev), EGPU_GPU_DEGRADED);
	fns[0] = gpu_fn("0000:05:00.0", "");
	assert_int_equal(egpu_health_eval(&m, msg, sizeof(msg)), EGPU_HEALTH_PROBLEM);
	assert_string_equal(msg, "problem: 0000:05:00.0 not ready (no driver bound)");
	fns[0].dev.is_gpu = false;
	assert_int_equal(egpu_health_eval(&m, msg, sizeof(msg)), EGPU_HEALTH_OK);

	/* without the module egpud sees nothing: a problem, not "no eGPU" */
	m.module_connected = false;
	assert_int_equal(egpu_health_eval(&m, msg, sizeof(msg)), EGPU_HEALTH_PROBLEM);
	assert_non_null(strstr(msg, "not connected to the egpuhp module"));

	/* a short buffer: truncated, still terminated */
	m.module_connected = true;
	fns[0].dev.is_gpu = true;
	assert_int_equal(egpu_health_eval(&m, msg, 12), EGPU_HEALTH_PROBLEM);
	assert_int_equal(strlen(msg), 11);
}

static void test_health_json(void **state)
{
	struct egpu_metrics_fn fns[1] = { gpu_fn("0000:05:00.0", "vfio-pci") };
	struct egpu_metrics m = { .egpud_up = true, .module_connected = true,
				  .fns = fns, .n_fns = 1 };
	char *text = NULL, msg[128];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	egpu_health_json(f, &m, egpu_health_eval(&m, msg, sizeof(msg)), msg);
	fclose(f);
	assert_string_equal(text, "{\"healthy\":true,\"message\":\"ok: 1 eGPU ready: 0000:05:00.0 vfio-pci\","
			    "\"module_connected\":true,\"gpus\":[{\"pci\":\"0000:05:00.0\",\"state\":\"ready\","
			    "\"driver\":\"vfio-pci\",\"router_unique_id\":\"c6030000-0060-6c0e\","
			    "\"cur_speed_mbps\":8000,\"cur_width\":4,\"max_speed_mbps\":8000,"
			    "\"max_width\":4}]}");
	free(text);
}

static void test_aer_parse(void **state)
{
	/* drivers/pci/pcie/aer.c: one "NAME COUNT" line per error, then the total */
	uint64_t v = 0;

	assert_int_equal(egpu_aer_parse_total("RxErr 0\nBadTLP 3\nBadDLLP 0\nRollover 0\n"
					      "Timeout 1\nNonFatalErr 0\nCorrIntErr 0\n"
					      "HeaderOF 0\nTOTAL_ERR_COR 4\n", &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(egpu_aer_parse_total("TOTAL_ERR_COR 18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(egpu_aer_parse_total("RxErr 0\n", &v), -22);
	assert_int_equal(egpu_aer_parse_total("TOTAL_ERR_CORX 5\n", &v), -22);
	assert_int_equal(egpu_aer_parse_total("TOTAL_ERR_COR -1\n", &v), -22);
	assert_int_equal(egpu_aer_parse_total("TOTAL_ERR_COR 5x\n", &v), -22);
	assert_int_equal(egpu_aer_parse_total("TOTAL_ERR_COR 99999999999999999999\n", &v), -22);
	assert_int_equal(egpu_aer_parse_total("", &v), -22);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_families),
		cmocka_unit_test(test_down_and_empty),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_health_json),
		cmocka_unit_test(test_aer_parse),
	};

	return cmocka_run_group_tests_name("fleet_metrics", tests, NULL, NULL);
}
