// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp: the table of tracked PCI functions and Thunderbolt routers.
 *
 * One mutex protects both lists and the mutable fields of their entries.
 * It is taken by the bus notifiers (which may sleep), the watchdog work
 * and netlink requests (which run in parallel: the family has
 * parallel_ops); it is never held while waiting on userspace or while
 * calling into the PCI core's removal paths.  Events for a table
 * change are sent with the mutex held so that a dump's generation and
 * the event stream agree.
 */
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "egpuhp.h"

static DEFINE_MUTEX(devtab_mutex);
static LIST_HEAD(dev_list);
static LIST_HEAD(router_list);
static unsigned int dev_count, router_count;
/* starts at 1: a dump's cb->seq of 0 would disable the consistency check */
static unsigned int generation = 1;

void egpuhp_devtab_lock(void)
{
	mutex_lock(&devtab_mutex);
}

void egpuhp_devtab_unlock(void)
{
	mutex_unlock(&devtab_mutex);
}

unsigned int egpuhp_devtab_generation(void)
{
	return READ_ONCE(generation);
}

static void devtab_changed(void)
{
	lockdep_assert_held(&devtab_mutex);
	WRITE_ONCE(generation, generation + 1 ? generation + 1 : 1);
}

struct egpuhp_dev *egpuhp_dev_alloc(struct pci_dev *pdev)
{
	struct egpuhp_dev *d = kzalloc(sizeof(*d), GFP_KERNEL);

	if (!d)
		return NULL;
	INIT_LIST_HEAD(&d->node);
	kref_init(&d->ref);
	d->pdev = pci_dev_get(pdev);
	strscpy(d->name, pci_name(pdev), sizeof(d->name));
	return d;
}

static void dev_release(struct kref *ref)
{
	struct egpuhp_dev *d = container_of(ref, struct egpuhp_dev, ref);

	pci_dev_put(d->pdev);
	kfree(d);
}

void egpuhp_dev_put(struct egpuhp_dev *d)
{
	if (d)
		kref_put(&d->ref, dev_release);
}

struct list_head *egpuhp_devtab_list(void)
{
	lockdep_assert_held(&devtab_mutex);
	return &dev_list;
}

static struct egpuhp_dev *dev_find_locked(struct pci_dev *pdev)
{
	struct egpuhp_dev *d;

	list_for_each_entry(d, &dev_list, node)
		if (d->pdev == pdev)
			return d;
	return NULL;
}

/* Caller holds the lock; the table takes over the caller's reference. */
bool egpuhp_dev_insert(struct egpuhp_dev *d)
{
	lockdep_assert_held(&devtab_mutex);
	if (dev_find_locked(d->pdev))
		return false;
	list_add_tail(&d->node, &dev_list);
	dev_count++;
	devtab_changed();
	return true;
}

/* Caller holds the lock.  Returns a new reference. */
struct egpuhp_dev *egpuhp_dev_find(struct pci_dev *pdev)
{
	struct egpuhp_dev *d;

	lockdep_assert_held(&devtab_mutex);
	d = dev_find_locked(pdev);
	if (d)
		kref_get(&d->ref);
	return d;
}

struct egpuhp_dev *egpuhp_dev_find_name(const char *name)
{
	struct egpuhp_dev *d;

	lockdep_assert_held(&devtab_mutex);
	list_for_each_entry(d, &dev_list, node) {
		if (!strcmp(d->name, name)) {
			kref_get(&d->ref);
			return d;
		}
	}
	return NULL;
}

/* Caller holds the lock; drops the table's reference. */
void egpuhp_dev_unlink(struct egpuhp_dev *d)
{
	lockdep_assert_held(&devtab_mutex);
	if (list_empty(&d->node))
		return;
	list_del_init(&d->node);
	dev_count--;
	devtab_changed();
	egpuhp_dev_put(d);
}

unsigned int egpuhp_dev_count(void)
{
	return READ_ONCE(dev_count);
}

/* Caller holds the lock.  Returns a new reference. */
struct egpuhp_dev *egpuhp_dev_nth(unsigned int idx)
{
	struct egpuhp_dev *d;

	lockdep_assert_held(&devtab_mutex);
	list_for_each_entry(d, &dev_list, node) {
		if (!idx--) {
			kref_get(&d->ref);
			return d;
		}
	}
	return NULL;
}

void egpuhp_devtab_clear(void)
{
	struct egpuhp_dev *d, *tmp;

	mutex_lock(&devtab_mutex);
	list_for_each_entry_safe(d, tmp, &dev_list, node)
		egpuhp_dev_unlink(d);
	mutex_unlock(&devtab_mutex);
}

/* ---- routers ---- */

static struct egpuhp_router *router_find_locked(struct device *dev)
{
	struct egpuhp_router *r;

	list_for_each_entry(r, &router_list, node)
		if (r->dev == dev)
			return r;
	return NULL;
}

/* Caller holds the lock; the table takes @r (kmalloc'ed) on success. */
bool egpuhp_router_insert(struct egpuhp_router *r)
{
	lockdep_assert_held(&devtab_mutex);
	if (router_find_locked(r->dev))
		return false;
	get_device(r->dev);
	list_add_tail(&r->node, &router_list);
	router_count++;
	devtab_changed();
	return true;
}

/* Caller holds the lock.  Unlinks and returns the entry (caller frees). */
struct egpuhp_router *egpuhp_router_take(struct device *dev)
{
	struct egpuhp_router *r;

	lockdep_assert_held(&devtab_mutex);
	r = router_find_locked(dev);
	if (!r)
		return NULL;
	list_del(&r->node);
	router_count--;
	devtab_changed();
	put_device(r->dev);
	r->dev = NULL;
	return r;
}

/*
 * Caller holds the lock.  Copies the idx'th entry; no device reference is
 * taken: @out->dev stays valid only while the lock is held.
 */
bool egpuhp_router_copy_nth(unsigned int idx, struct egpuhp_router *out)
{
	struct egpuhp_router *r;

	lockdep_assert_held(&devtab_mutex);
	list_for_each_entry(r, &router_list, node) {
		if (!idx--) {
			*out = *r;
			INIT_LIST_HEAD(&out->node);
			return true;
		}
	}
	return false;
}

bool egpuhp_router_copy_name(const char *name, struct egpuhp_router *out)
{
	struct egpuhp_router *r;

	lockdep_assert_held(&devtab_mutex);
	list_for_each_entry(r, &router_list, node) {
		if (!strcmp(r->name, name)) {
			*out = *r;
			INIT_LIST_HEAD(&out->node);
			return true;
		}
	}
	return false;
}

/*
 * Caller holds the lock.  Store a fresh snapshot @r of a known router;
 * returns true if anything changed.
 */
bool egpuhp_router_update(struct egpuhp_router *r)
{
	struct egpuhp_router *cur;
	struct list_head node;

	lockdep_assert_held(&devtab_mutex);
	cur = router_find_locked(r->dev);
	if (!cur)
		return false;
	node = cur->node;
	r->node = node;
	if (!memcmp(cur, r, sizeof(*r)))
		return false;
	*cur = *r;
	devtab_changed();
	return true;
}

unsigned int egpuhp_router_count(void)
{
	return READ_ONCE(router_count);
}

/*
 * Caller holds the lock.  A PCI function below a tunnel can be linked to
 * a router only where that is unambiguous: exactly one authorized device
 * router (not a host router) exists.  Chains of several routers, or two
 * docks, leave the link unknown rather than guess.
 */
void egpuhp_router_sole_uid(char *uid, size_t len)
{
	struct egpuhp_router *r, *found = NULL;

	lockdep_assert_held(&devtab_mutex);
	uid[0] = '\0';
	list_for_each_entry(r, &router_list, node) {
		if (!r->depth || r->authorized == 0)
			continue;
		if (found)
			return;
		found = r;
	}
	if (found)
		strscpy(uid, found->unique_id, len);
}

void egpuhp_router_clear(void)
{
	struct egpuhp_router *r;

	mutex_lock(&devtab_mutex);
	while (!list_empty(&router_list)) {
		r = list_first_entry(&router_list, struct egpuhp_router, node);
		r = egpuhp_router_take(r->dev);
		kfree(r);
	}
	mutex_unlock(&devtab_mutex);
}
