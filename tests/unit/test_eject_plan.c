// SPDX-License-Identifier: GPL-2.0
/*
 * Eject group resolution (egpud/eject_plan.c): which functions a requested
 * eject takes away, which ones are evacuated, what the module is asked to
 * remove and which router is de-authorized.
 */
// unit-test-links: egpud/eject_plan.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "egpud/eject.h"

#define UID_A	"c6030000-0060-6c0e-0301-8a8d7bd4120a"
#define UID_B	"d7030000-0060-6c0e-0301-8a8d7bd4120b"

/*
 * Two eGPUs and a lone NVMe:
 *  0000:05:00.0 GPU + .1 audio behind bridge 0000:04:01.0, router 0-1 (UID_A)
 *  0000:08:00.0 GPU + .1 audio + .2 USB, router 0-3 (UID_B); 0000:09:00.0
 *               below 0000:08:00.2 (a hub's function, say)
 *  0000:0a:00.0 NVMe on a plain hotplug port, no router
 */
static struct egpuhp_dev devs[8];
static struct egpuhp_router routers[3];
static size_t n_devs;

static void dev(const char *name, bool gpu, const char *group, const char *parent,
		const char *uid)
{
	struct egpuhp_dev *d = &devs[n_devs++];

	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->group, sizeof(d->group), "%s", group);
	snprintf(d->parent, sizeof(d->parent), "%s", parent);
	snprintf(d->router_uid, sizeof(d->router_uid), "%s", uid);
	d->is_gpu = gpu;
}

static int setup(void **state)
{
	n_devs = 0;
	dev("0000:04:01.0", false, "", "0000:00:1c.0", UID_A);
	dev("0000:05:00.0", true, "0000:05:00.0", "0000:04:01.0", UID_A);
	dev("0000:05:00.1", false, "0000:05:00.0", "0000:04:01.0", UID_A);
	dev("0000:08:00.0", true, "0000:08:00.0", "0000:07:00.0", UID_B);
	dev("0000:08:00.1", false, "0000:08:00.0", "0000:07:00.0", UID_B);
	dev("0000:08:00.2", false, "0000:08:00.0", "0000:07:00.0", UID_B);
	dev("0000:09:00.0", false, "", "0000:08:00.2", "");
	dev("0000:0a:00.0", false, "", "0000:00:1d.0", "");
	memset(routers, 0, sizeof(routers));
	snprintf(routers[0].name, sizeof(routers[0].name), "0-0");
	snprintf(routers[1].name, sizeof(routers[1].name), "0-1");
	snprintf(routers[1].unique_id, sizeof(routers[1].unique_id), UID_A);
	routers[1].depth = 1;
	snprintf(routers[2].name, sizeof(routers[2].name), "0-3");
	snprintf(routers[2].unique_id, sizeof(routers[2].unique_id), UID_B);
	routers[2].depth = 1;
	return 0;
}

static int plan(const char *target, const char *router, struct egpu_eject_plan *p,
		char *why, size_t len)
{
	why[0] = '\0';
	return egpu_eject_plan(devs, n_devs, routers, 3, target, router, p, why, len);
}

/* A target (and --router) the plan refuses: err, and why says part (NULL: unchecked). */
struct refusal {
	const char *target, *router;
	int err;
	const char *part;
};

static void refused(const struct refusal *r)
{
	struct egpu_eject_plan p;
	char why[256];

	assert_int_equal(plan(r->target, r->router, &p, why, sizeof(why)), r->err);
	if (r->part)
		assert_non_null(strstr(why, r->part));
}

static void gpu_brings_its_audio(void **state)
{
	struct egpu_eject_plan p;
	char why[256];

	assert_int_equal(plan("0000:05:00.0", NULL, &p, why, sizeof(why)), 0);
	assert_int_equal(p.n_fn, 2);
	assert_true(egpu_eject_plan_has(&p, "0000:05:00.0"));
	assert_true(egpu_eject_plan_has(&p, "0000:05:00.1"));
	assert_false(egpu_eject_plan_has(&p, "0000:04:01.0"));	/* the bridge stays */
	assert_int_equal(p.n_gpu, 1);
	assert_string_equal(p.gpu[0], "0000:05:00.0");
	assert_int_equal(p.n_head, 1);
	assert_string_equal(p.head[0], "0000:05:00.0");
	assert_string_equal(p.router, "0-1");
}

static void audio_brings_its_gpu(void **state)
{
	struct egpu_eject_plan p;
	char why[256];

	/* short form without the PCI domain */
	assert_int_equal(plan("05:00.1", NULL, &p, why, sizeof(why)), 0);
	assert_int_equal(p.n_fn, 2);
	assert_string_equal(p.target, "05:00.1");
	assert_true(egpu_eject_plan_has(&p, "0000:05:00.0"));
	assert_int_equal(p.n_gpu, 1);
	assert_string_equal(p.gpu[0], "0000:05:00.0");
	assert_string_equal(p.head[0], "0000:05:00.0");
}

static void below_a_member_goes_too(void **state)
{
	struct egpu_eject_plan p;
	char why[256];

	assert_int_equal(plan("0000:08:00.0", NULL, &p, why, sizeof(why)), 0);
	assert_int_equal(p.n_fn, 4);
	assert_true(egpu_eject_plan_has(&p, "0000:08:00.2"));
	assert_true(egpu_eject_plan_has(&p, "0000:09:00.0"));
	assert_false(egpu_eject_plan_has(&p, "0000:0a:00.0"));
	/* one EJECT: 0000:09:00.0 is below a member, the module takes it */
	assert_int_equal(p.n_head, 1);
	assert_string_equal(p.router, "0-3");
}

static void bridge_brings_everything_below(void **state)
{
	struct egpu_eject_plan p;
	char why[256];

	assert_int_equal(plan("0000:04:01.0", NULL, &p, why, sizeof(why)), 0);
	assert_int_equal(p.n_fn, 3);
	assert_int_equal(p.n_head, 1);
	assert_string_equal(p.head[0], "0000:04:01.0");
	assert_int_equal(p.n_gpu, 1);
	assert_string_equal(p.gpu[0], "0000:05:00.0");
}

static void router_by_name_and_uid(void **state)
{
	struct egpu_eject_plan p;
	char why[256];

	assert_int_equal(plan("0-3", NULL, &p, why, sizeof(why)), 0);
	assert_int_equal(p.n_fn, 4);
	assert_string_equal(p.router, "0-3");
	assert_int_equal(plan(UID_A, NULL, &p, why, sizeof(why)), 0);
	assert_int_equal(p.n_fn, 3);
	assert_true(egpu_eject_plan_has(&p, "0000:05:00.1"));
	assert_string_equal(p.router, "0-1");
	assert_int_equal(p.n_head, 1);	/* the bridge takes the GPU and audio */
}

static void no_gpu_class_evacuates_the_head(void **state)
{
	struct egpu_eject_plan p;
	char why[256];

	assert_int_equal(plan("0000:0a:00.0", NULL, &p, why, sizeof(why)), 0);
	assert_int_equal(p.n_fn, 1);
	assert_int_equal(p.n_gpu, 1);
	assert_string_equal(p.gpu[0], "0000:0a:00.0");
	assert_string_equal(p.router, "");
}

/*
 * An enclosure whose function 0 is not display class (the dock's edu
 * stand-in): no groups, so each function is its own head.  Function 0 is
 * the one evacuated; the heads are removed highest function first, like
 * pciehp removes a slot.
 */
static void ungrouped_slot_removed_highest_function_first(void **state)
{
	struct egpu_eject_plan p;
	char why[256];

	n_devs = 0;
	dev("0000:01:00.0", false, "", "0000:00:10.0", UID_A);
	dev("0000:01:00.1", false, "", "0000:00:10.0", UID_A);
	assert_int_equal(plan("0-1", NULL, &p, why, sizeof(why)), 0);
	assert_int_equal(p.n_head, 2);
	assert_string_equal(p.head[0], "0000:01:00.1");
	assert_string_equal(p.head[1], "0000:01:00.0");
	assert_int_equal(p.n_gpu, 1);
	assert_string_equal(p.gpu[0], "0000:01:00.0");
	assert_string_equal(p.router, "0-1");
}

static void explicit_router(void **state)
{
	struct egpu_eject_plan p;
	char why[256];

	/* the NVMe's router is unknown to egpuhp: --router names it */
	assert_int_equal(plan("0000:0a:00.0", "0-3", &p, why, sizeof(why)), 0);
	assert_string_equal(p.router, "0-3");
	/* contradicting what egpuhp knows */
	refused(&(struct refusal){ "0000:05:00.0", "0-3", -EINVAL, "carried by router 0-1" });
	refused(&(struct refusal){ "0000:05:00.0", "0-9", -ENODEV, "no such Thunderbolt router" });
	assert_int_equal(plan("0000:05:00.0", UID_A, &p, why, sizeof(why)), 0);
	assert_string_equal(p.router, "0-1");
}

static void refusals(void **state)
{
	static const struct refusal cases[] = {
		{ "0000:77:00.0", NULL, -ENODEV, "0000:77:00.0 is not a PCI function egpuhp tracks" },
		{ "0-7", NULL, -ENODEV, "neither a PCI function" },
		{ "gpu0", NULL, -ENODEV, NULL },
		{ "0-0", NULL, -EINVAL, "host router" },
		{ "", NULL, -EINVAL, NULL },
		{ NULL, NULL, -EINVAL, NULL },
		{ "0000:05:00.0 ", NULL, -ENODEV, NULL },
		{ "0000:05:00.00", NULL, -ENODEV, NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		refused(&cases[i]);
}

static void router_without_known_functions(void **state)
{
	struct egpu_eject_plan p;
	char why[256];
	size_t i;

	for (i = 0; i < n_devs; i++)
		devs[i].router_uid[0] = '\0';
	refused(&(struct refusal){ "0-1", NULL, -ENODEV, "--router 0-1" });
	/* not even with --router: de-authorizing would yank what is behind it */
	refused(&(struct refusal){ "0-1", "0-1", -ENODEV, NULL });
	/* by PCI address with --router: the way to go */
	assert_int_equal(plan("0000:05:00.0", "0-1", &p, why, sizeof(why)), 0);
	assert_int_equal(p.n_fn, 2);
	assert_string_equal(p.router, "0-1");
}

static void too_many_functions(void **state)
{
	static struct egpuhp_dev many[EGPU_EJECT_MAX_FN + 4];
	struct egpu_eject_plan p;
	char why[256];
	size_t i;

	for (i = 0; i < EGPU_EJECT_MAX_FN + 4; i++) {
		memset(&many[i], 0, sizeof(many[i]));
		snprintf(many[i].name, sizeof(many[i].name), "0000:10:%02zx.0", i);
		snprintf(many[i].parent, sizeof(many[i].parent), "%s",
			 i ? "0000:10:00.0" : "0000:00:01.0");
	}
	assert_int_equal(egpu_eject_plan(many, EGPU_EJECT_MAX_FN + 4, NULL, 0,
					 "0000:10:00.0", NULL, &p, why, sizeof(why)), -E2BIG);
	assert_non_null(strstr(why, "more than"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(gpu_brings_its_audio, setup),
		cmocka_unit_test_setup(audio_brings_its_gpu, setup),
		cmocka_unit_test_setup(below_a_member_goes_too, setup),
		cmocka_unit_test_setup(bridge_brings_everything_below, setup),
		cmocka_unit_test_setup(router_by_name_and_uid, setup),
		cmocka_unit_test_setup(no_gpu_class_evacuates_the_head, setup),
		cmocka_unit_test_setup(ungrouped_slot_removed_highest_function_first, setup),
		cmocka_unit_test_setup(explicit_router, setup),
		cmocka_unit_test_setup(refusals, setup),
		cmocka_unit_test_setup(router_without_known_functions, setup),
		cmocka_unit_test(too_many_functions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
