// SPDX-License-Identifier: GPL-2.0
/*
 * egpuctl doctor [--root DIR] [DEV|ROUTER]
 *   Check what makes eGPUs fail (user/doctor/): each check ok / warn /
 *   fail / n/a, what it saw, and the fix.  Reads files only, so it works
 *   without egpud and without the module.  DIR (or $EGPUHP_DOCTOR_ROOT)
 *   roots every path: a copy of /sys, /proc, /dev/kmsg and /etc in tests.
 *   Exit status 1 when a check failed (or DEV|ROUTER does not exist).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "doctor/doctor.h"
#include "egpuctl/commands.h"

#define DOCTOR_ROOT_ENV	"EGPUHP_DOCTOR_ROOT"

static void count(const struct doctor *d, size_t n[4])
{
	size_t i;

	memset(n, 0, 4 * sizeof(*n));
	for (i = 0; i < d->n_findings; i++)
		n[d->findings[i].verdict]++;
}

static void print_text(const struct doctor *d)
{
	size_t i, n[4];

	for (i = 0; i < d->n_findings; i++) {
		const struct doctor_finding *f = &d->findings[i];
		const char *v = f->verdict == DOCTOR_FAIL ? "FAIL" :
				f->verdict == DOCTOR_WARN ? "WARN" : doctor_verdict_name(f->verdict);

		/* the subject is named in what was seen; JSON has it apart */
		printf("%-4s  %-20s %s\n", v, f->check, f->seen);
		if (f->fix[0])
			printf("      fix: %s\n", f->fix);
	}
	count(d, n);
	printf("%zu ok, %zu warn, %zu fail, %zu n/a\n", n[DOCTOR_OK], n[DOCTOR_WARN],
	       n[DOCTOR_FAIL], n[DOCTOR_NA]);
}

static void print_json(const struct doctor *d, int status)
{
	int first = 1, ffirst, dfirst = 1;
	size_t i, n[4];

	count(d, n);
	fputc('{', stdout);
	egpu_json_kv_int(stdout, &first, "version", 1);
	egpu_json_kv_str(stdout, &first, "verb", "doctor");
	egpu_json_kv_bool(stdout, &first, "ok", status == EGPUCTL_OK);
	egpu_json_kv_int(stdout, &first, "status", status);
	if (status != EGPUCTL_OK) {
		char msg[64];

		snprintf(msg, sizeof(msg), "%zu check(s) failed", n[DOCTOR_FAIL]);
		egpu_json_kv_str(stdout, &first, "error", msg);
		egpu_json_kv_str(stdout, &first, "code", "failed");
	}
	egpu_json_key(stdout, &first, "data");
	fputc('{', stdout);
	egpu_json_kv_str(stdout, &dfirst, "root", d->root[0] ? d->root : "/");
	if (d->target)
		egpu_json_kv_str(stdout, &dfirst, "target", d->target);
	egpu_json_kv_uint(stdout, &dfirst, "ok", n[DOCTOR_OK]);
	egpu_json_kv_uint(stdout, &dfirst, "warn", n[DOCTOR_WARN]);
	egpu_json_kv_uint(stdout, &dfirst, "fail", n[DOCTOR_FAIL]);
	egpu_json_kv_uint(stdout, &dfirst, "na", n[DOCTOR_NA]);
	egpu_json_key(stdout, &dfirst, "checks");
	fputc('[', stdout);
	for (i = 0; i < d->n_findings; i++) {
		const struct doctor_finding *f = &d->findings[i];

		ffirst = 1;
		fputs(i ? ",{" : "{", stdout);
		egpu_json_kv_str(stdout, &ffirst, "check", f->check);
		egpu_json_kv_str(stdout, &ffirst, "verdict", doctor_verdict_name(f->verdict));
		if (f->subject[0])
			egpu_json_kv_str(stdout, &ffirst, "subject", f->subject);
		egpu_json_kv_str(stdout, &ffirst, "seen", f->seen);
		if (f->fix[0])
			egpu_json_kv_str(stdout, &ffirst, "fix", f->fix);
		fputc('}', stdout);
	}
	fputs("]}", stdout);
	egpu_json_key(stdout, &first, "messages");
	fputs("[]}\n", stdout);
}

static int run(int argc, char **argv, const struct egpuctl_opts *o)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *root = getenv(DOCTOR_ROOT_ENV);
	struct doctor d;
	char err[256];
	int c, status;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+r:", opts, NULL)) != -1) {
		if (c != 'r')
			return egpuctl_usage(&egpuctl_cmd_doctor);
		root = optarg;
	}
	if (argc - optind > 1)
		return egpuctl_usage(&egpuctl_cmd_doctor);
	if (doctor_init(&d, root, optind < argc ? argv[optind] : NULL, err, sizeof(err))) {
		doctor_free(&d);
		return egpuctl_error("doctor", EGPUCTL_FAIL, "not-found", "egpuctl doctor: %s", err);
	}
	doctor_run(&d);
	status = doctor_worst(&d) == DOCTOR_FAIL ? EGPUCTL_FAIL : EGPUCTL_OK;
	if (o->json)
		print_json(&d, status);
	else
		print_text(&d);
	doctor_free(&d);
	return status;
}

const struct egpuctl_cmd egpuctl_cmd_doctor = {
	.name = "doctor",
	.args = "[--root DIR] [DEV|ROUTER]",
	.help = "check what makes eGPUs fail, with the fix for each (reads only)",
	.run = run,
};
