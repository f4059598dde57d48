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

/**
 * egpuhp_devtab_lock() - take the lock of the device and router tables
 *
 * Every table function but egpuhp_dev_alloc(), egpuhp_dev_put(), the
 * counts and the *_clear() functions expects the caller to hold it.
 *
 * Context: process context; may sleep.
 */
void egpuhp_devtab_lock(void)
{
	mutex_lock(&devtab_mutex);
}

/**
 * egpuhp_devtab_unlock() - release the lock egpuhp_devtab_lock() took
 */
void egpuhp_devtab_unlock(void)
{
	mutex_unlock(&devtab_mutex);
}

/**
 * egpuhp_devtab_generation() - the tables' generation, for dump consistency
 *
 * Return: a number that changes whenever an entry is added, removed or
 * changed, and is never 0 (a dump's cb->seq of 0 disables the check).
 */
unsigned int egpuhp_devtab_generation(void)
{
	return READ_ONCE(generation);
}

static void devtab_changed(void)
{
	lockdep_assert_held(&devtab_mutex);
	WRITE_ONCE(generation, generation + 1 ? generation + 1 : 1);
}

/**
 * egpuhp_dev_alloc() - allocate a device table entry for a PCI function
 * @pdev: the function; the entry holds a reference to it
 *
 * The caller fills the entry and gives it to egpuhp_dev_insert(), or drops
 * it with egpuhp_dev_put().
 *
 * Context: process context; may sleep.
 * Return: the entry with one reference, or NULL without memory.
 */
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

/**
 * egpuhp_dev_put() - drop a reference to a device table entry
 * @d: the entry, or NULL
 *
 * The last reference frees the entry and its reference to the pci_dev.
 */
void egpuhp_dev_put(struct egpuhp_dev *d)
{
	if (d)
		kref_put(&d->ref, dev_release);
}

/**
 * egpuhp_devtab_list() - the list of tracked functions
 *
 * For egpuhp_for_each_dev(); the caller holds the table lock.
 *
 * Return: the list head.
 */
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

/**
 * egpuhp_dev_insert() - add an entry to the device table
 * @d: the entry from egpuhp_dev_alloc(); on success the table takes over
 *     the caller's reference
 *
 * The caller holds the table lock.
 *
 * Return: true if added, false if the function is tracked already.
 */
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

/**
 * egpuhp_dev_find() - look up the entry of a PCI function
 * @pdev: the function
 *
 * The caller holds the table lock.
 *
 * Return: the entry with a new reference, or NULL if @pdev is not tracked.
 */
struct egpuhp_dev *egpuhp_dev_find(struct pci_dev *pdev)
{
	struct egpuhp_dev *d;

	lockdep_assert_held(&devtab_mutex);
	d = dev_find_locked(pdev);
	if (d)
		kref_get(&d->ref);
	return d;
}

/**
 * egpuhp_dev_find_name() - look up an entry by its PCI name
 * @name: the function's name, "DDDD:BB:DD.F"
 *
 * The caller holds the table lock.
 *
 * Return: the entry with a new reference, or NULL.
 */
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

/**
 * egpuhp_dev_unlink() - remove an entry from the device table
 * @d: the entry; nothing happens if it is no longer in the table
 *
 * Drops the table's reference.  The caller holds the table lock and a
 * reference of its own.
 */
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

/**
 * egpuhp_dev_count() - how many functions are tracked
 *
 * Return: the number of entries in the device table (read without the
 * lock).
 */
unsigned int egpuhp_dev_count(void)
{
	return READ_ONCE(dev_count);
}

/**
 * egpuhp_dev_nth() - the entry at a position of the device table, for dumps
 * @idx: the position, from 0
 *
 * The caller holds the table lock.
 *
 * Return: the entry with a new reference, or NULL past the end.
 */
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

/**
 * egpuhp_devtab_clear() - remove every entry of the device table
 *
 * Takes the table lock.  Used at unload (or a failed load), once the PCI
 * notifier that adds entries is gone.
 */
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

/**
 * egpuhp_router_insert() - add a router to the router table
 * @r: the entry, kmalloc'ed; its @dev gets a device reference
 *
 * The caller holds the table lock.  On success the table owns @r.
 *
 * Return: true if added, false if the router is known already.
 */
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

/**
 * egpuhp_router_take() - remove a router from the router table
 * @dev: the router's device
 *
 * The caller holds the table lock; the table's device reference is
 * dropped and the entry's @dev cleared.
 *
 * Return: the entry, which the caller frees, or NULL if @dev is unknown.
 */
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

/**
 * egpuhp_router_copy_nth() - copy the router at a position of the table
 * @idx: the position, from 0
 * @out: where the copy goes
 *
 * The caller holds the table lock.  No device reference is taken:
 * @out->dev stays valid only while the lock is held.
 *
 * Return: true if copied, false past the end.
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

/**
 * egpuhp_router_copy_name() - copy the router of a name
 * @name: the router's device name, e.g. "0-1"
 * @out: where the copy goes
 *
 * The caller holds the table lock.  No device reference is taken:
 * @out->dev stays valid only while the lock is held.
 *
 * Return: true if copied, false if no router has that name.
 */
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

/**
 * egpuhp_router_update() - store a fresh snapshot of a known router
 * @r: the snapshot; @r->dev names the entry
 *
 * The caller holds the table lock.
 *
 * Return: true if anything changed (the generation moves on), false if
 * nothing did or the router is not in the table.
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

/**
 * egpuhp_router_count() - how many routers are known
 *
 * Return: the number of entries in the router table (read without the
 * lock).
 */
unsigned int egpuhp_router_count(void)
{
	return READ_ONCE(router_count);
}

/**
 * egpuhp_router_sole_uid() - the unique_id of the only authorized device router
 * @uid: buffer for the unique_id, "" if there is none or several
 * @len: size of @uid
 *
 * A PCI function below a tunnel can be linked to a router only where that
 * is unambiguous: exactly one authorized device router (not a host
 * router) exists.  Chains of several routers, or two docks, leave the link
 * unknown rather than guess.  The caller holds the table lock.
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

/**
 * egpuhp_router_clear() - remove and free every entry of the router table
 *
 * Takes the table lock.  Used once the Thunderbolt notifier that adds
 * entries is gone: when egpuhp stops watching the Thunderbolt bus, and at
 * unload.
 */
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
