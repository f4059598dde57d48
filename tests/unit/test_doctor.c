// SPDX-License-Identifier: GPL-2.0
/*
 * egpuctl doctor's checks on fixture trees (tests/doctor/fixtures/,
 * written by its mkfixtures.py): base is a healthy machine where no check
 * warns or fails; every other fixture is base with one failure, and the
 * check for that failure must report it with its fix, while base shows
 * the same check ok (so the fixture, not the check's default, makes the
 * difference).
 */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "doctor/doctor.h"

static char fixtures[512];

/* base, then the case's files over it, then what CASE.remove lists. */
static void assemble(const char *name, char *root, size_t len)
{
	char cmd[2048];

	snprintf(root, len, "/tmp/egpu-doctor-XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(cmd, sizeof(cmd), "cp -a '%s/base/.' '%s/'", fixtures, root);
	assert_int_equal(system(cmd), 0);
	if (strcmp(name, "base")) {
		/* a case that only takes away has no directory (git keeps none empty) */
		snprintf(cmd, sizeof(cmd), "cd '%s' && [ -d '%s' -o -f '%s.remove' ] && "
			 "{ [ ! -d '%s' ] || cp -a '%s/.' '%s/'; } && "
			 "{ [ ! -f '%s.remove' ] || (cd '%s' && xargs rm -rf) < '%s.remove'; }",
			 fixtures, name, name, name, name, root, name, root, name);
		assert_int_equal(system(cmd), 0);
	}
}

static void drop(const char *root)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

static void diagnose(struct doctor *d, const char *name, const char *target, char *root,
		     size_t len)
{
	char err[256] = "";

	assemble(name, root, len);
	assert_int_equal(doctor_init(d, root, target, err, sizeof(err)), 0);
	doctor_run(d);
}

static const struct doctor_finding *finding(const struct doctor *d, const char *check,
					    const char *subject)
{
	size_t i;

	for (i = 0; i < d->n_findings; i++)
		if (!strcmp(d->findings[i].check, check) &&
		    (!subject || !strcmp(d->findings[i].subject, subject)))
			return &d->findings[i];
	return NULL;
}

struct expect {
	const char *fixture;
	const char *check;
	const char *subject;		/* NULL: the first finding of check */
	enum doctor_verdict verdict;
	const char *seen;		/* substrings that must be there */
	const char *fix;		/* NULL: no fix expected */
};

/* Where check is ok: base, or where what it checks is there and done right. */
static const char *healthy_for(const char *check)
{
	if (!strcmp(check, "rt-pciehp"))
		return "rt-poll-mode";
	if (!strcmp(check, "vfio-binding"))
		return "vfio-whole-slot";
	return "base";
}

static const struct expect expected[] = {
	{ "usb-billboard", "usb-c-cable", NULL, DOCTOR_FAIL, "Billboard device 1532:1209",
	  "Thunderbolt 3/4 or USB4 40 Gb/s cable" },
	{ "usb-typec-no-tbt", "usb-c-cable", NULL, DOCTOR_WARN, "SVIDs ff01",
	  "Thunderbolt 3/4 or USB4 40 Gb/s cable" },
	{ "router-unauthorized", "router-authorized", "0-1", DOCTOR_FAIL, "is not authorized",
	  "egpuctl authorize 0-1" },
	{ "security-dponly", "thunderbolt-security", "domain0", DOCTOR_FAIL, "dponly",
	  "\"User Authorization\"" },
	{ "security-none", "thunderbolt-security", "domain0", DOCTOR_WARN, "level none",
	  "\"User Authorization\"" },
	{ "iommu-off", "iommu", NULL, DOCTOR_FAIL, "intel_iommu=off",
	  "take intel_iommu=off out of GRUB_CMDLINE_LINUX_DEFAULT and add intel_iommu=on" },
	{ "iommu-group-shared", "iommu-groups", "0000:05:00.0", DOCTOR_FAIL,
	  "group 18 with host devices 0000:00:14.0", "/sys/kernel/iommu_groups/18/devices" },
	{ "bar-unassigned", "bar-space", "0000:05:00.0", DOCTOR_FAIL, "can't assign; no space",
	  "pci=realloc,hpmmiosize=256M,hpmmioprefsize=32G" },
	{ "no-reset", "reset-method", "0000:05:00.0", DOCTOR_FAIL, "has no reset method",
	  "egpuctl quirks add 10de:2684:egpuhp_reset=pm/bus" },
	{ "reset-disabled", "reset-method", "0000:05:00.0", DOCTOR_FAIL,
	  "no reset method (reset_method empty)", "egpuhp_reset=pm/bus" },
	{ "reset-hook-unavailable", "reset-method", "egpuhp", DOCTOR_WARN,
	  "reset hook is not installed", "egpuctl reset DEV --method egpuhp" },
	{ "amd-no-flr", "reset-method", "0000:05:00.0", DOCTOR_WARN, "has no FLR",
	  "egpuctl quirks add 1002:687f:egpuhp_reset=pm/bus" },
	{ "vendor-reset-inactive", "reset-method", "0000:05:00.0", DOCTOR_WARN,
	  "vendor-reset is loaded", "echo device_specific > "
	  "/sys/bus/pci/devices/0000:05:00.0/reset_method" },
	{ "nic-renamed", "nic-names", "enp2s0", DOCTOR_FAIL,
	  "/etc/network/interfaces configures enp1s0", "MACAddress=58:11:22:aa:bb:cc" },
	{ "nic-renamed-networkd", "nic-names", "enp2s0", DOCTOR_FAIL,
	  "20-wired.network configures enp1s0", "Name=enp1s0" },
	{ "secure-boot-no-mok", "secure-boot", NULL, DOCTOR_FAIL, "not an enrolled MOK",
	  "mokutil --import /var/lib/dkms/mok.pub" },
	{ "secure-boot-unsigned", "secure-boot", NULL, DOCTOR_FAIL, "has no signature",
	  "mokutil --import" },
	{ "unsigned-loaded", "secure-boot", NULL, DOCTOR_NA, "without a valid signature (taint E)",
	  "mokutil --import" },
	{ "secure-boot-enrolled", "secure-boot", NULL, DOCTOR_OK, "signature was accepted", NULL },
	{ "container-early", "container-ready", "0000:05:00.0", DOCTOR_WARN,
	  "docker container 3f9a1c2b7d4e (pid 2001, started 10 s after boot)",
	  "docker restart 3f9a1c2b7d4e" },
	{ "nvidia-usb4", "nvidia-external", "0000:05:00.0", DOCTOR_WARN,
	  "no bridge above 0000:05:00.0 has Intel's Thunderbolt capability", "egpuctl eject" },
	{ "d3cold-allowed", "d3cold", "0000:05:00.0", DOCTOR_WARN, "d3cold_allowed 1",
	  "egpuctl quirks add 10de:2684:no_d3cold" },
	{ "d3cold-fell-off", "d3cold", "0000:05:00.0", DOCTOR_FAIL, "from D3cold to D0",
	  "no_d3cold" },
	{ "rt", "rt-pciehp", NULL, DOCTOR_WARN, "PREEMPT_RT kernel 6.12.57+deb13-rt-amd64",
	  "pciehp.pciehp_poll_mode=1" },
	{ "rt-poll-mode", "rt-pciehp", NULL, DOCTOR_OK, "pciehp_poll_mode=1", NULL },
	{ "vfio-audio-host", "vfio-binding", "0000:05:00.0", DOCTOR_FAIL,
	  "0000:05:00.1 (snd_hda_intel)", "driver_override" },
	{ "vfio-rule-unbound", "vfio-binding", "0000:05:00.0", DOCTOR_FAIL,
	  "line 4 binds vfio-pci", "modprobe vfio-pci" },
	{ "vfio-whole-slot", "vfio-binding", "0000:05:00.0", DOCTOR_OK,
	  "every function of its slot are on vfio-pci", NULL },
	{ "link-degraded", "link", "0000:05:00.0", DOCTOR_WARN,
	  "2.5 GT/s x1; it and the port above (0000:04:01.0) can do 8.0 GT/s x4",
	  "--method link-retrain" },
	{ "no-daemon-no-module", "module", NULL, DOCTOR_WARN, "installed", "modprobe egpuhp" },
	{ "no-daemon-no-module", "egpud", NULL, DOCTOR_WARN, "not running",
	  "systemctl enable --now egpud" },
	{ "two-owners", "authorization-owner", NULL, DOCTOR_WARN, "both authorize",
	  "systemctl mask --now bolt" },
	{ "config-broken", "egpud", NULL, DOCTOR_FAIL, "egpud.conf:2:", "egpud.conf(5)" },
};

static void check_one(const struct expect *e)
{
	const struct doctor_finding *f, *b;
	struct doctor d, healthy;
	char root[64], broot[64];

	diagnose(&d, e->fixture, NULL, root, sizeof(root));
	f = finding(&d, e->check, e->subject);
	if (!f)
		fail_msg("%s: no %s finding for %s", e->fixture, e->check,
			 e->subject ? e->subject : "the system");
	if (f->verdict != e->verdict || !strstr(f->seen, e->seen) ||
	    (e->fix && !strstr(f->fix, e->fix)))
		fail_msg("%s: %s is %s: \"%s\", fix \"%s\"; expected %s with \"%s\", fix \"%s\"",
			 e->fixture, e->check, doctor_verdict_name(f->verdict), f->seen, f->fix,
			 doctor_verdict_name(e->verdict), e->seen, e->fix ? e->fix : "");
	/* the exit status: a failed check fails the run */
	assert_int_equal(doctor_worst(&d) == DOCTOR_FAIL, e->verdict == DOCTOR_FAIL ||
			 doctor_worst(&d) == DOCTOR_FAIL);
	if (e->verdict != DOCTOR_OK) {
		diagnose(&healthy, healthy_for(e->check), NULL, broot, sizeof(broot));
		/* per function there, or (nic-names) one for the system */
		b = finding(&healthy, e->check, e->subject);
		if (!b)
			b = finding(&healthy, e->check, "");
		if (!b || b->verdict != DOCTOR_OK)
			fail_msg("%s: %s is %s, not ok", healthy_for(e->check), e->check,
				 b ? doctor_verdict_name(b->verdict) : "missing");
		doctor_free(&healthy);
		drop(broot);
	}
	doctor_free(&d);
	drop(root);
}

static void test_failures(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		check_one(&expected[i]);
}

/* base: nothing to warn about, and every check had its say. */
static void test_healthy(void **state)
{
	struct doctor d;
	char root[64];
	size_t i, j;

	diagnose(&d, "base", NULL, root, sizeof(root));
	for (i = 0; i < d.n_findings; i++)
		if (d.findings[i].verdict == DOCTOR_WARN || d.findings[i].verdict == DOCTOR_FAIL)
			fail_msg("base: %s %s: %s", d.findings[i].check,
				 doctor_verdict_name(d.findings[i].verdict), d.findings[i].seen);
	for (i = 0; i < doctor_n_checks; i++) {
		for (j = 0; j < d.n_findings; j++)
			if (!strcmp(d.findings[j].check, doctor_checks[i]->name))
				break;
		if (j == d.n_findings)
			fail_msg("check %s said nothing", doctor_checks[i]->name);
	}
	assert_int_equal(doctor_worst(&d), DOCTOR_OK);
	doctor_free(&d);
	drop(root);
}

/* DEV: that function's slot only; ROUTER: that router; anything else: ENOENT. */
static void test_target(void **state)
{
	struct doctor d;
	char root[64], err[256];

	diagnose(&d, "base", "0000:05:00.1", root, sizeof(root));
	assert_int_equal(d.n_fns, 2);
	assert_string_equal(d.fns[0].name, "0000:05:00.0");
	assert_string_equal(d.fns[1].name, "0000:05:00.1");
	assert_string_equal(d.fns[1].parent, "0000:04:01.0");
	assert_string_equal(d.fns[1].driver, "snd_hda_intel");
	doctor_free(&d);
	assert_int_equal(doctor_init(&d, root, "0-1", err, sizeof(err)), 0);
	assert_true(d.target_router);
	assert_int_equal(d.n_routers, 1);
	assert_string_equal(d.routers[0].name, "0-1");
	doctor_free(&d);
	assert_int_equal(doctor_init(&d, root, "0000:09:00.0", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "0000:09:00.0"));
	doctor_free(&d);
	assert_int_equal(doctor_init(&d, root, "../../etc", err, sizeof(err)), -ENOENT);
	doctor_free(&d);
	assert_int_equal(doctor_init(&d, root, "..", err, sizeof(err)), -ENOENT);
	doctor_free(&d);
	drop(root);
}

/* doctor_opendir(), the checks' way into root's directories. */
static void test_opendir(void **state)
{
	struct doctor d;
	char root[64], rel[5000];
	DIR *dp;

	diagnose(&d, "base", NULL, root, sizeof(root));
	dp = doctor_opendir(&d, "sys/bus/pci/devices");
	assert_non_null(dp);
	closedir(dp);
	errno = 0;
	assert_null(doctor_opendir(&d, "sys/no-such-dir"));
	assert_int_equal(errno, ENOENT);
	/* past PATH_MAX with root: refused before opendir() */
	memset(rel, 'a', sizeof(rel) - 1);
	rel[sizeof(rel) - 1] = '\0';
	errno = 0;
	assert_null(doctor_opendir(&d, rel));
	assert_int_equal(errno, ENAMETOOLONG);
	doctor_free(&d);
	drop(root);
}

/* Without a readable kernel log it says what it checked without it. */
static void test_no_kernel_log(void **state)
{
	const struct doctor_finding *f;
	struct doctor d;
	char root[64], path[128], err[256];

	assemble("bar-unassigned", root, sizeof(root));
	snprintf(path, sizeof(path), "%s/dev/kmsg", root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(doctor_init(&d, root, NULL, err, sizeof(err)), 0);
	doctor_run(&d);
	f = finding(&d, "kernel-log", NULL);
	assert_non_null(f);
	assert_int_equal(f->verdict, DOCTOR_NA);
	/* the resource file alone still shows the unassigned BAR */
	f = finding(&d, "bar-space", "0000:05:00.0");
	assert_non_null(f);
	assert_int_equal(f->verdict, DOCTOR_FAIL);
	assert_non_null(strstr(f->seen, "BAR 1 has no address"));
	doctor_free(&d);
	drop(root);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healthy),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_target),
		cmocka_unit_test(test_no_kernel_log),
		cmocka_unit_test(test_opendir),
	};
	char here[512];

	snprintf(here, sizeof(here), "%s", __FILE__);
	snprintf(fixtures, sizeof(fixtures), "%s/../doctor/fixtures", dirname(here));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
