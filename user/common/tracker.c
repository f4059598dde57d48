// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>

#include "common/tracker.h"

#define CALL(t, fn, ...) do { if ((t)->ops && (t)->ops->fn) (t)->ops->fn((t)->ctx, __VA_ARGS__); } while (0)

void egpu_tracker_init(struct egpu_tracker *t, const struct egpu_tracker_ops *ops,
		       void *ctx)
{
	memset(t, 0, sizeof(*t));
	t->ops = ops;
	t->ctx = ctx;
	/* Nothing is known until the first dump. */
	t->need_resync = true;
}

void egpu_tracker_free(struct egpu_tracker *t)
{
	free(t->devs);
	free(t->routers);
	t->devs = NULL;
	t->routers = NULL;
	t->n_devs = t->n_routers = 0;
}

static ssize_t find_dev(const struct egpu_tracker *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n_devs; i++)
		if (!strcmp(t->devs[i].name, name))
			return (ssize_t)i;
	return -1;
}

static ssize_t find_router(const struct egpu_tracker *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n_routers; i++)
		if (!strcmp(t->routers[i].name, name))
			return (ssize_t)i;
	return -1;
}

const struct egpuhp_dev *egpu_tracker_dev(const struct egpu_tracker *t,
					  const char *name)
{
	ssize_t i = find_dev(t, name);

	return i < 0 ? NULL : &t->devs[i];
}

const struct egpuhp_router *egpu_tracker_router(const struct egpu_tracker *t,
						const char *name)
{
	ssize_t i = find_router(t, name);

	return i < 0 ? NULL : &t->routers[i];
}

static struct egpuhp_dev *add_dev(struct egpu_tracker *t, const struct egpuhp_dev *d)
{
	if (t->n_devs == t->cap_devs) {
		size_t cap = t->cap_devs ? t->cap_devs * 2 : 16;
		struct egpuhp_dev *v = realloc(t->devs, cap * sizeof(*v));

		if (!v)
			return NULL;
		t->devs = v;
		t->cap_devs = cap;
	}
	t->devs[t->n_devs] = *d;
	return &t->devs[t->n_devs++];
}

static struct egpuhp_router *add_router(struct egpu_tracker *t,
					const struct egpuhp_router *r)
{
	if (t->n_routers == t->cap_routers) {
		size_t cap = t->cap_routers ? t->cap_routers * 2 : 8;
		struct egpuhp_router *v = realloc(t->routers, cap * sizeof(*v));

		if (!v)
			return NULL;
		t->routers = v;
		t->cap_routers = cap;
	}
	t->routers[t->n_routers] = *r;
	return &t->routers[t->n_routers++];
}

/* State transitions shared by events and resync. */
static void dev_present(struct egpu_tracker *t, const struct egpuhp_dev *d, bool resync)
{
	ssize_t i = find_dev(t, d->name);

	if (i < 0) {
		if (add_dev(t, d))
			CALL(t, dev_added, d, resync);
		return;
	}
	if (strcmp(t->devs[i].driver, d->driver)) {
		t->devs[i] = *d;
		CALL(t, dev_driver, d, resync);
		return;
	}
	t->devs[i] = *d;
}

static void dev_gone(struct egpu_tracker *t, const char *name, uint32_t flags, bool resync)
{
	ssize_t i = find_dev(t, name);
	struct egpuhp_dev d;

	if (i < 0)
		return;
	d = t->devs[i];
	t->devs[i] = t->devs[--t->n_devs];
	CALL(t, dev_removed, &d, flags, resync);
}

static void router_present(struct egpu_tracker *t, const struct egpuhp_router *r,
			   bool resync)
{
	ssize_t i = find_router(t, r->name);

	if (i < 0) {
		if (add_router(t, r))
			CALL(t, router_added, r, resync);
		return;
	}
	if (strcmp(t->routers[i].unique_id, r->unique_id)) {
		/* Another device now answers under this name: a re-plug. */
		struct egpuhp_router old = t->routers[i];

		t->routers[i] = *r;
		CALL(t, router_removed, &old, resync);
		CALL(t, router_added, r, resync);
		return;
	}
	if (t->routers[i].authorized != r->authorized) {
		t->routers[i] = *r;
		CALL(t, router_changed, r, resync);
		return;
	}
	t->routers[i] = *r;
}

static void router_gone(struct egpu_tracker *t, const char *name, bool resync)
{
	ssize_t i = find_router(t, name);
	struct egpuhp_router r;

	if (i < 0)
		return;
	r = t->routers[i];
	t->routers[i] = t->routers[--t->n_routers];
	CALL(t, router_removed, &r, resync);
}

bool egpu_tracker_event(struct egpu_tracker *t, const struct egpuhp_nl_event *ev)
{
	if (t->need_resync) {
		/* The coming dump covers it (or a later event will). */
		t->skipped++;
		return false;
	}
	if (ev->seq == 1 && t->last_seq > 1) {
		/* The numbering restarted: the module was reloaded. */
		t->gaps++;
		t->need_resync = true;
		t->skipped++;
		return false;
	}
	if (ev->seq && ev->seq <= t->last_seq) {
		t->skipped++;
		return false;
	}
	if (ev->seq && ev->seq != t->last_seq + 1) {
		t->gaps++;
		t->need_resync = true;
		t->skipped++;
		return false;
	}
	if (ev->seq)
		t->last_seq = ev->seq;
	t->handled++;

	switch (ev->event) {
	case EGPUHP_EV_PCI_ADD:
	case EGPUHP_EV_PCI_BOUND:
	case EGPUHP_EV_PCI_LOST:	/* still enumerated, present 0 */
	case EGPUHP_EV_PCI_SLOW:	/* answering, late */
	case EGPUHP_EV_LINK_CHANGE:
	case EGPUHP_EV_QUIRK_APPLIED:
	case EGPUHP_EV_RESET_END:
		if (ev->has_dev)
			dev_present(t, &ev->dev, false);
		break;
	case EGPUHP_EV_PCI_UNBIND:
		if (ev->has_dev) {
			struct egpuhp_dev d = ev->dev;

			/* the driver is leaving; the function is still there */
			d.driver[0] = '\0';
			dev_present(t, &d, false);
		}
		break;
	case EGPUHP_EV_PCI_REMOVE:
		if (ev->has_dev)
			dev_gone(t, ev->dev.name, ev->flags, false);
		break;
	case EGPUHP_EV_ROUTER_ADD:
	case EGPUHP_EV_ROUTER_CHANGE:
		if (ev->has_router)
			router_present(t, &ev->router, false);
		break;
	case EGPUHP_EV_ROUTER_REMOVE:
		if (ev->has_router)
			router_gone(t, ev->router.name, false);
		break;
	default:
		break;
	}
	CALL(t, event, ev);
	return true;
}

void egpu_tracker_overrun(struct egpu_tracker *t)
{
	t->overruns++;
	t->need_resync = true;
}

void egpu_tracker_resync(struct egpu_tracker *t, uint64_t events_seq,
			 const struct egpuhp_dev *devs, size_t n_devs,
			 const struct egpuhp_router *routers, size_t n_routers)
{
	size_t i, j;

	/* Gone: known but not in the dump (walk backwards: removal swaps). */
	for (i = t->n_devs; i-- > 0;) {
		for (j = 0; j < n_devs; j++)
			if (!strcmp(devs[j].name, t->devs[i].name))
				break;
		if (j == n_devs)
			dev_gone(t, t->devs[i].name, 0, true);
	}
	for (i = t->n_routers; i-- > 0;) {
		for (j = 0; j < n_routers; j++)
			if (!strcmp(routers[j].name, t->routers[i].name))
				break;
		if (j == n_routers)
			router_gone(t, t->routers[i].name, true);
	}
	/* Routers first: functions appear below authorized routers. */
	for (i = 0; i < n_routers; i++)
		router_present(t, &routers[i], true);
	for (i = 0; i < n_devs; i++)
		dev_present(t, &devs[i], true);
	t->last_seq = events_seq;
	t->need_resync = false;
	t->synced = true;
	t->resyncs++;
}
