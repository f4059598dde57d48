// SPDX-License-Identifier: GPL-2.0
/*
 * Which functions an eject takes away, and which router carries them
 * (see eject.h).  Pure: works on the tracker's tables only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "egpud/eject.h"

bool egpu_eject_plan_has(const struct egpu_eject_plan *plan, const char *pci)
{
	size_t i;

	for (i = 0; i < plan->n_fn; i++)
		if (!strcmp(plan->fn[i], pci))
			return true;
	return false;
}

static int add_name(char (*list)[EGPUHP_PCI_NAME_LEN], size_t *n, const char *name)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (!strcmp(list[i], name))
			return 0;
	if (*n == EGPU_EJECT_MAX_FN)
		return -E2BIG;
	snprintf(list[(*n)++], EGPUHP_PCI_NAME_LEN, "%s", name);
	return 0;
}

/* "05:00.0" -> "0000:05:00.0"; a full name is kept.  -EINVAL if neither. */
static int pci_name(const char *s, char *out, size_t len)
{
	unsigned int dom, bus, dev, fn;
	char tail;

	if (sscanf(s, "%4x:%2x:%2x.%1x%c", &dom, &bus, &dev, &fn, &tail) == 4 &&
	    strlen(s) == 12) {
		snprintf(out, len, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
		return 0;
	}
	if (sscanf(s, "%2x:%2x.%1x%c", &bus, &dev, &fn, &tail) == 3 && strlen(s) == 7) {
		snprintf(out, len, "0000:%02x:%02x.%x", bus, dev, fn);
		return 0;
	}
	return -EINVAL;
}

static const struct egpuhp_dev *find_dev(const struct egpuhp_dev *devs, size_t n,
					 const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(devs[i].name, name))
			return &devs[i];
	return NULL;
}

static const struct egpuhp_router *find_router(const struct egpuhp_router *r, size_t n,
					       const char *name_or_uid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(r[i].name, name_or_uid) ||
		    (r[i].unique_id[0] && !strcmp(r[i].unique_id, name_or_uid)))
			return &r[i];
	return NULL;
}

static const char *group_of(const struct egpuhp_dev *d)
{
	return d->group[0] ? d->group : d->name;
}

/* d's group is in the plan, or an upstream bridge of d is. */
static bool joins(const struct egpu_eject_plan *p, const struct egpuhp_dev *devs,
		  size_t n, const struct egpuhp_dev *d)
{
	const struct egpuhp_dev *up;
	size_t hops;

	if (egpu_eject_plan_has(p, d->name))
		return false;
	if (egpu_eject_plan_has(p, group_of(d)))
		return true;
	for (up = d, hops = 0; up && up->parent[0] && hops < n; hops++) {
		if (egpu_eject_plan_has(p, up->parent))
			return true;
		up = find_dev(devs, n, up->parent);
	}
	return false;
}

/* Descending "DDDD:BB:DD.F" order: see the sort in egpu_eject_plan(). */
static int head_cmp(const void *a, const void *b)
{
	return -strcmp(a, b);
}

int egpu_eject_plan(const struct egpuhp_dev *devs, size_t n_devs,
		    const struct egpuhp_router *routers, size_t n_routers,
		    const char *target, const char *router_opt,
		    struct egpu_eject_plan *plan, char *why, size_t len)
{
	const struct egpuhp_router *r = NULL;
	const struct egpuhp_dev *t = NULL;
	char name[EGPUHP_PCI_NAME_LEN];
	bool grew;
	size_t i;
	int ret = 0;

	memset(plan, 0, sizeof(*plan));
	if (!target || !target[0]) {
		snprintf(why, len, "eject needs a PCI function or a Thunderbolt router");
		return -EINVAL;
	}
	snprintf(plan->target, sizeof(plan->target), "%s", target);
	if (pci_name(target, name, sizeof(name)) == 0) {
		t = find_dev(devs, n_devs, name);
		if (!t) {
			snprintf(why, len, "%s is not a PCI function egpuhp tracks "
				 "(see egpuctl list)", name);
			return -ENODEV;
		}
		ret = add_name(plan->fn, &plan->n_fn, t->name);
		if (!ret && strcmp(group_of(t), t->name) && find_dev(devs, n_devs, group_of(t)))
			ret = add_name(plan->fn, &plan->n_fn, group_of(t));
		if (t->router_uid[0])
			r = find_router(routers, n_routers, t->router_uid);
	} else {
		r = find_router(routers, n_routers, target);
		if (!r) {
			snprintf(why, len, "%s is neither a PCI function (0000:05:00.0) nor a "
				 "Thunderbolt router egpuhp knows (0-1 or its unique_id)", target);
			return -ENODEV;
		}
		if (r->depth == 0) {
			snprintf(why, len, "%s is a host router: it cannot be ejected", r->name);
			return -EINVAL;
		}
		for (i = 0; i < n_devs && !ret; i++)
			if (r->unique_id[0] && !strcmp(devs[i].router_uid, r->unique_id))
				ret = add_name(plan->fn, &plan->n_fn, devs[i].name);
		/* de-authorizing it would yank whatever is behind: never blind */
		if (!ret && !plan->n_fn) {
			snprintf(why, len, "router %s: egpuhp knows no PCI function it carries; "
				 "eject its GPU by PCI address with --router %s", r->name, r->name);
			return -ENODEV;
		}
	}
	/* the whole group, and everything below a member, to a fixed point */
	do {
		grew = false;
		for (i = 0; i < n_devs && !ret; i++) {
			if (joins(plan, devs, n_devs, &devs[i])) {
				ret = add_name(plan->fn, &plan->n_fn, devs[i].name);
				grew = true;
			}
		}
	} while (grew && !ret);
	if (ret) {
		snprintf(why, len, "%s: more than %d functions", target, EGPU_EJECT_MAX_FN);
		return ret;
	}
	for (i = 0; i < plan->n_fn && !ret; i++) {
		const struct egpuhp_dev *d = find_dev(devs, n_devs, plan->fn[i]);

		if (d->is_gpu)
			ret = add_name(plan->gpu, &plan->n_gpu, d->name);
		/* one EJECT per group: the module takes siblings and below */
		if (!ret && !egpu_eject_plan_has(plan, d->parent))
			ret = add_name(plan->head, &plan->n_head, group_of(d));
	}
	/* no display/accelerator class among them: look at the head(s) */
	for (i = 0; i < plan->n_head && !plan->n_gpu && !ret; i++)
		ret = add_name(plan->gpu, &plan->n_gpu, plan->head[i]);
	/*
	 * Only now (the fallback above wants the first head in plan order,
	 * the target's function 0): remove the groups the way pciehp does,
	 * in one slot the higher functions (HDMI audio, USB) before function
	 * 0 (the GPU they serve), and buses numbered later (deeper) first.
	 */
	qsort(plan->head, plan->n_head, sizeof(plan->head[0]), head_cmp);
	if (router_opt) {
		const struct egpuhp_router *o = find_router(routers, n_routers, router_opt);

		if (!o) {
			snprintf(why, len, "--router %s: no such Thunderbolt router", router_opt);
			return -ENODEV;
		}
		if (r && r != o) {
			snprintf(why, len, "--router %s: %s is carried by router %s", o->name,
				 target, r->name);
			return -EINVAL;
		}
		r = o;
	}
	if (r && r->depth > 0)
		snprintf(plan->router, sizeof(plan->router), "%s", r->name);
	return ret;
}
