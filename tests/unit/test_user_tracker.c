// SPDX-License-Identifier: GPL-2.0
/*
 * Resync logic: synthetic event streams with gaps, duplicates, overruns
 * and a module reload.  Every device must be acted on exactly once, and a
 * burst of losses must cost exactly one resync.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/tracker.h"

struct counts {
	int dev_added[16], dev_removed[16], dev_driver[16];
	int router_added, router_removed, router_changed;
	int events;
};

static int idx(const char *name)
{
	/* "0000:05:00.N" -> N, with bus 06 adding 8 */
	return (name[11] - '0') + (name[6] == '6' ? 8 : 0);
}

static void on_dev_added(void *ctx, const struct egpuhp_dev *d, bool resync)
{
	((struct counts *)ctx)->dev_added[idx(d->name)]++;
}

static void on_dev_driver(void *ctx, const struct egpuhp_dev *d, bool resync)
{
	((struct counts *)ctx)->dev_driver[idx(d->name)]++;
}

static void on_dev_removed(void *ctx, const struct egpuhp_dev *d, uint32_t flags, bool resync)
{
	((struct counts *)ctx)->dev_removed[idx(d->name)]++;
}

static void on_router_added(void *ctx, const struct egpuhp_router *r, bool resync)
{
	((struct counts *)ctx)->router_added++;
}

static void on_router_changed(void *ctx, const struct egpuhp_router *r, bool resync)
{
	((struct counts *)ctx)->router_changed++;
}

static void on_router_removed(void *ctx, const struct egpuhp_router *r, bool resync)
{
	((struct counts *)ctx)->router_removed++;
}

static void on_event(void *ctx, const struct egpuhp_nl_event *ev)
{
	((struct counts *)ctx)->events++;
}

static const struct egpu_tracker_ops ops = {
	.dev_added = on_dev_added,
	.dev_driver = on_dev_driver,
	.dev_removed = on_dev_removed,
	.router_added = on_router_added,
	.router_changed = on_router_changed,
	.router_removed = on_router_removed,
	.event = on_event,
};

static struct egpuhp_dev mkdev(const char *name, const char *driver)
{
	struct egpuhp_dev d = { 0 };

	snprintf(d.name, sizeof(d.name), "%s", name);
	snprintf(d.driver, sizeof(d.driver), "%s", driver);
	return d;
}

static struct egpuhp_nl_event ev_dev(uint64_t seq, uint32_t kind, const char *name,
				     const char *driver)
{
	struct egpuhp_nl_event ev = { .seq = seq, .event = kind, .has_dev = true };

	ev.dev = mkdev(name, driver);
	return ev;
}

static struct egpuhp_nl_event ev_router(uint64_t seq, uint32_t kind, const char *name,
					const char *uid, uint32_t authorized)
{
	struct egpuhp_nl_event ev = { .seq = seq, .event = kind, .has_router = true };

	snprintf(ev.router.name, sizeof(ev.router.name), "%s", name);
	snprintf(ev.router.unique_id, sizeof(ev.router.unique_id), "%s", uid);
	ev.router.authorized = authorized;
	ev.router.depth = 1;
	return ev;
}

static void test_in_order(void **state)
{
	struct counts c = { 0 };
	struct egpu_tracker t;
	struct egpuhp_nl_event ev;

	egpu_tracker_init(&t, &ops, &c);
	assert_true(t.need_resync);
	egpu_tracker_resync(&t, 0, NULL, 0, NULL, 0);
	assert_false(t.need_resync);

	ev = ev_router(1, EGPUHP_EV_ROUTER_ADD, "0-1", "uid-1", 0);
	assert_true(egpu_tracker_event(&t, &ev));
	ev = ev_router(2, EGPUHP_EV_ROUTER_CHANGE, "0-1", "uid-1", 1);
	assert_true(egpu_tracker_event(&t, &ev));
	ev = ev_dev(3, EGPUHP_EV_PCI_ADD, "0000:05:00.0", "");
	assert_true(egpu_tracker_event(&t, &ev));
	ev = ev_dev(4, EGPUHP_EV_PCI_ADD, "0000:05:00.1", "");
	assert_true(egpu_tracker_event(&t, &ev));
	ev = ev_dev(5, EGPUHP_EV_PCI_BOUND, "0000:05:00.0", "vfio-pci");
	assert_true(egpu_tracker_event(&t, &ev));
	/* the same message delivered twice is not handled twice */
	assert_false(egpu_tracker_event(&t, &ev));
	ev = ev_dev(6, EGPUHP_EV_PCI_REMOVE, "0000:05:00.1", "");
	assert_true(egpu_tracker_event(&t, &ev));

	assert_int_equal(c.router_added, 1);
	assert_int_equal(c.router_changed, 1);
	assert_int_equal(c.dev_added[0], 1);
	assert_int_equal(c.dev_added[1], 1);
	assert_int_equal(c.dev_driver[0], 1);
	assert_int_equal(c.dev_removed[1], 1);
	assert_int_equal(c.events, 6);
	assert_int_equal(t.resyncs, 1);
	assert_int_equal(t.gaps, 0);
	assert_int_equal(t.n_devs, 1);
	egpu_tracker_free(&t);
}

static void test_gap_then_one_resync(void **state)
{
	struct counts c = { 0 };
	struct egpu_tracker t;
	struct egpuhp_nl_event ev;
	struct egpuhp_dev snap[3];
	struct egpuhp_router rsnap = { .name = "0-1", .unique_id = "uid-1", .authorized = 1,
				       .depth = 1 };

	egpu_tracker_init(&t, &ops, &c);
	egpu_tracker_resync(&t, 0, NULL, 0, NULL, 0);

	ev = ev_router(1, EGPUHP_EV_ROUTER_ADD, "0-1", "uid-1", 1);
	egpu_tracker_event(&t, &ev);
	ev = ev_dev(2, EGPUHP_EV_PCI_ADD, "0000:05:00.0", "");
	egpu_tracker_event(&t, &ev);
	/* 3..5 lost: 6 shows the gap, and everything after waits for the dump */
	ev = ev_dev(6, EGPUHP_EV_PCI_ADD, "0000:05:00.3", "");
	assert_false(egpu_tracker_event(&t, &ev));
	assert_true(t.need_resync);
	ev = ev_dev(7, EGPUHP_EV_PCI_ADD, "0000:05:00.4", "");
	assert_false(egpu_tracker_event(&t, &ev));
	/* and an overrun on top of it: still one resync */
	egpu_tracker_overrun(&t);
	assert_int_equal(t.gaps, 1);

	/* The dump (counter read first = 7) shows 00.0 bound, 00.1, 00.3, 00.4 */
	snap[0] = mkdev("0000:05:00.0", "amdgpu");
	snap[1] = mkdev("0000:05:00.1", "");
	snap[2] = mkdev("0000:05:00.3", "");
	egpu_tracker_resync(&t, 7, snap, 3, &rsnap, 1);
	assert_false(t.need_resync);
	assert_int_equal(t.resyncs, 2);	/* the initial one + exactly one */

	/* late copies of 3..7 are already in the dump: skipped */
	ev = ev_dev(3, EGPUHP_EV_PCI_ADD, "0000:05:00.1", "");
	assert_false(egpu_tracker_event(&t, &ev));
	ev = ev_dev(7, EGPUHP_EV_PCI_ADD, "0000:05:00.4", "");
	assert_false(egpu_tracker_event(&t, &ev));
	/* 8 continues the stream */
	ev = ev_dev(8, EGPUHP_EV_PCI_ADD, "0000:05:00.4", "");
	assert_true(egpu_tracker_event(&t, &ev));
	/* and 9 repeats an add the tracker already knows: no second action */
	ev = ev_dev(9, EGPUHP_EV_PCI_ADD, "0000:05:00.3", "");
	assert_true(egpu_tracker_event(&t, &ev));

	assert_int_equal(c.router_added, 1);
	assert_int_equal(c.dev_added[0], 1);
	assert_int_equal(c.dev_added[1], 1);
	assert_int_equal(c.dev_added[3], 1);
	assert_int_equal(c.dev_added[4], 1);
	assert_int_equal(c.dev_driver[0], 1);	/* "" -> amdgpu seen in the dump */
	assert_int_equal(t.resyncs, 2);
	egpu_tracker_free(&t);
}

static void test_overrun_burst(void **state)
{
	struct counts c = { 0 };
	struct egpu_tracker t;
	struct egpuhp_nl_event ev;
	struct egpuhp_dev snap[8];
	int i;

	egpu_tracker_init(&t, &ops, &c);
	egpu_tracker_resync(&t, 100, NULL, 0, NULL, 0);
	/* a burst: the socket overflows three times before we get to dump */
	for (i = 0; i < 3; i++)
		egpu_tracker_overrun(&t);
	ev = ev_dev(150, EGPUHP_EV_PCI_ADD, "0000:06:00.0", "");
	assert_false(egpu_tracker_event(&t, &ev));
	for (i = 0; i < 8; i++) {
		char name[16];

		snprintf(name, sizeof(name), "0000:06:00.%d", i);
		snap[i] = mkdev(name, "");
	}
	egpu_tracker_resync(&t, 180, snap, 8, NULL, 0);
	assert_int_equal(t.resyncs, 2);
	for (i = 0; i < 8; i++)
		assert_int_equal(c.dev_added[8 + i], 1);

	/* the burst ends with everything gone; the dump says so */
	egpu_tracker_overrun(&t);
	egpu_tracker_resync(&t, 200, NULL, 0, NULL, 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(c.dev_removed[8 + i], 1);
	/* late remove events for them do nothing more */
	ev = ev_dev(201, EGPUHP_EV_PCI_REMOVE, "0000:06:00.0", "");
	assert_true(egpu_tracker_event(&t, &ev));
	assert_int_equal(c.dev_removed[8], 1);
	assert_int_equal(t.resyncs, 3);
	egpu_tracker_free(&t);
}

static void test_module_reload_and_replug(void **state)
{
	struct counts c = { 0 };
	struct egpu_tracker t;
	struct egpuhp_nl_event ev;

	egpu_tracker_init(&t, &ops, &c);
	egpu_tracker_resync(&t, 40, NULL, 0, NULL, 0);
	ev = ev_router(41, EGPUHP_EV_ROUTER_ADD, "0-1", "uid-1", 0);
	assert_true(egpu_tracker_event(&t, &ev));
	/* a different device under the same name is a new plug-in */
	ev = ev_router(42, EGPUHP_EV_ROUTER_ADD, "0-1", "uid-2", 0);
	assert_true(egpu_tracker_event(&t, &ev));
	assert_int_equal(c.router_added, 2);
	assert_int_equal(c.router_removed, 1);
	/* numbering restarts at 1: the module was reloaded -> resync */
	ev = ev_router(1, EGPUHP_EV_ROUTER_ADD, "0-1", "uid-2", 0);
	assert_false(egpu_tracker_event(&t, &ev));
	assert_true(t.need_resync);
	egpu_tracker_resync(&t, 1, NULL, 0, &ev.router, 1);
	assert_int_equal(c.router_added, 2);	/* still known: nothing new */
	ev = ev_router(2, EGPUHP_EV_ROUTER_REMOVE, "0-1", "uid-2", 0);
	assert_true(egpu_tracker_event(&t, &ev));
	assert_int_equal(c.router_removed, 2);
	egpu_tracker_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_gap_then_one_resync),
		cmocka_unit_test(test_overrun_burst),
		cmocka_unit_test(test_module_reload_and_replug),
	};

	return cmocka_run_group_tests_name("user_tracker", tests, NULL, NULL);
}
