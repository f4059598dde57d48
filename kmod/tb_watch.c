// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp: Thunderbolt/USB4 routers.
 *
 * tb_bus_type is not exported.  Registering a tb_service_driver with an
 * empty id table (it never binds to anything) gives us the bus pointer
 * through driver.bus, and bus_register_notifier() is exported.
 *
 * thunderbolt.ko may load after egpuhp.ko, or never.  A direct reference
 * to tb_register_service_driver() would make modprobe load thunderbolt.ko
 * with us and make our load fail without it, so the two functions are
 * looked up with symbol_get() instead: at our load if thunderbolt.ko is
 * live already, else from a module notifier when it becomes live.
 * symbol_get() pins thunderbolt.ko while egpuhp.ko is loaded; that is
 * required, not incidental: thunderbolt.ko's exit unregisters the bus
 * before any GOING notification could let us unregister from it.
 *
 * Routers are the bus's devices of type "thunderbolt_device".  Their
 * attributes are read through the devices' own sysfs show() methods (no
 * private structures); only show() methods that take no locks are used
 * (not nvm_version, not boot_acl), so reading them from the bus notifier
 * cannot deadlock with the Thunderbolt driver.  Authorization changes
 * are only announced by uevents, never on the bus notifier, so routers
 * are re-read whenever a PCI function appears below a tunnel and on each
 * watchdog tick (EGPUHP_EV_ROUTER_CHANGE if something changed); a
 * request reads them afresh into its reply only.  egpud watches the
 * uevents itself.
 *
 * A router is read only while it is in the table and the table lock is
 * held: its removal (router_del(), first thing in device_del()) waits for
 * the lock, so the device and the parents device_add() pinned are alive
 * meanwhile.  Its domain and depth, which need the parents, are read once
 * at add time.
 *
 * tb_mutex only serialises attaching to and detaching from the bus.  It
 * is never taken inside a bus notifier (all of which share one lockdep
 * class), so holding it across bus_register_notifier() orders nothing
 * against the notifiers' own locks.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#define dev_fmt pr_fmt

#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/thunderbolt.h>

#include "egpuhp.h"
#include "compat.h"

static const struct tb_service_id no_services[] = {
	{ }
};

static struct tb_service_driver bus_finder = {
	.driver = {
		.name = "egpuhp",
	},
	.id_table = no_services,
};

static DEFINE_MUTEX(tb_mutex);
/* protected by tb_mutex */
static typeof(bus_finder.driver.bus) tb_bus;	/* const from 6.4 on */
static void (*tb_unregister)(struct tb_service_driver *drv);

static bool type_is(struct device *dev, const char *name)
{
	return dev->type && dev->type->name && !strcmp(dev->type->name, name);
}

static bool is_router(struct device *dev)
{
	return type_is(dev, "thunderbolt_device");
}

/*
 * Run the show() of @dev's attribute @name into @buf (one page, as
 * sysfs_emit() insists).  Only attributes of unnamed groups (the device's
 * own directory) that are visible on this device are considered.
 */
static int read_attr(struct device *dev, const char *name, char *buf)
{
	const struct attribute_group *const *lists[2] = {
		dev->type ? dev->type->groups : NULL, dev->groups,
	};
	const struct attribute_group *const *grp;
	struct device_attribute *da;
	struct attribute *a;
	unsigned int l, i;
	ssize_t len;

	for (l = 0; l < ARRAY_SIZE(lists); l++) {
		for (grp = lists[l]; grp && *grp; grp++) {
			if ((*grp)->name || !(*grp)->attrs)
				continue;
			for (i = 0; (a = (*grp)->attrs[i]); i++) {
				if (strcmp(a->name, name))
					continue;
				if ((*grp)->is_visible &&
				    !(*grp)->is_visible(&dev->kobj, a, i))
					return -ENOENT;
				da = container_of(a, struct device_attribute,
						  attr);
				if (!da->show)
					return -EIO;
				len = da->show(dev, da, buf);
				if (len < 0)
					return len;
				buf[min_t(size_t, len, PAGE_SIZE - 1)] = '\0';
				strim(buf);
				return 0;
			}
		}
	}
	return -ENOENT;
}

static void attr_str(struct device *dev, const char *name, char *buf,
		     char *out, size_t len)
{
	if (!read_attr(dev, name, buf))
		strscpy(out, buf, len);
}

/* "0x8086", "3", "20.0 Gb/s": the leading number */
static void attr_u32(struct device *dev, const char *name, char *buf, u32 *out)
{
	unsigned int v;

	if (read_attr(dev, name, buf))
		return;
	buf[strcspn(buf, ". ")] = '\0';	/* "20.0 Gb/s" -> "20" */
	if (!kstrtouint(buf, 0, &v))
		*out = v;
}

static struct device *router_domain(struct device *dev, u32 *depth)
{
	*depth = 0;
	for (dev = dev->parent; dev; dev = dev->parent) {
		if (type_is(dev, "thunderbolt_domain"))
			return dev;
		if (is_router(dev))
			(*depth)++;
	}
	return NULL;
}

/* The router's own attributes into @r (r->dev set); @buf is one page. */
static void read_attrs(struct egpuhp_router *r, char *buf)
{
	struct device *dev = r->dev;
	u32 v = 0;

	attr_str(dev, "unique_id", buf, r->unique_id, sizeof(r->unique_id));
	attr_str(dev, "vendor_name", buf, r->vendor_name,
		 sizeof(r->vendor_name));
	attr_str(dev, "device_name", buf, r->device_name,
		 sizeof(r->device_name));
	attr_u32(dev, "vendor", buf, &r->vendor);
	attr_u32(dev, "device", buf, &r->device);
	attr_u32(dev, "generation", buf, &r->generation);
	attr_u32(dev, "rx_speed", buf, &r->rx_speed);
	attr_u32(dev, "rx_lanes", buf, &r->rx_lanes);
	attr_u32(dev, "tx_speed", buf, &r->tx_speed);
	attr_u32(dev, "tx_lanes", buf, &r->tx_lanes);
	attr_u32(dev, "authorized", buf, &r->authorized);
	attr_u32(dev, "boot", buf, &v);
	r->boot = !!v;
}

/*
 * Fill a zeroed @r from @dev at add time, while its parents are pinned:
 * the caller holds the devtab lock and @dev is registered.
 */
static void read_router(struct device *dev, struct egpuhp_router *r,
			char *buf)
{
	struct device *domain;
	u32 v = 0;

	r->dev = dev;
	strscpy(r->name, dev_name(dev), sizeof(r->name));
	read_attrs(r, buf);
	domain = router_domain(dev, &r->depth);
	if (domain) {
		strscpy(r->domain, dev_name(domain), sizeof(r->domain));
		attr_str(domain, "security", buf, r->security,
			 sizeof(r->security));
		attr_u32(domain, "iommu_dma_protection", buf, &v);
		r->iommu_prot = !!v;
	}
}

/**
 * egpuhp_tb_read_now() - re-read a router's own attributes
 * @r: a copy of a table entry, made under the devtab lock still held
 *
 * The domain's attributes and the depth stay as read at add time.  Nothing
 * in the table changes.  On an allocation failure @r keeps its values.
 */
void egpuhp_tb_read_now(struct egpuhp_router *r)
{
	char *buf = (char *)__get_free_page(GFP_KERNEL);

	if (!buf)
		return;
	read_attrs(r, buf);
	free_page((unsigned long)buf);
}

static void router_add(struct device *dev, u64 ts, u32 flags)
{
	struct egpuhp_router *r = kzalloc(sizeof(*r), GFP_KERNEL);
	char *buf = (char *)__get_free_page(GFP_KERNEL);

	if (!r || !buf) {
		dev_warn(dev, "out of memory, router not tracked\n");
		goto out;
	}
	egpuhp_devtab_lock();
	/* a router found at attach may be on its way out already */
	if (device_is_registered(dev)) {
		read_router(dev, r, buf);
		if (egpuhp_router_insert(r)) {
			egpuhp_event_router(EGPUHP_EV_ROUTER_ADD, r, flags, ts);
			r = NULL;
		}
	}
	egpuhp_devtab_unlock();
out:
	free_page((unsigned long)buf);
	kfree(r);
}

static void router_del(struct device *dev, u64 ts)
{
	struct egpuhp_router *r;

	egpuhp_devtab_lock();
	r = egpuhp_router_take(dev);
	if (r)
		egpuhp_event_router(EGPUHP_EV_ROUTER_REMOVE, r, 0, ts);
	egpuhp_devtab_unlock();
	kfree(r);
}

static int tb_notify(struct notifier_block *nb, unsigned long action,
		     void *data)
{
	struct device *dev = data;
	u64 ts = egpuhp_now_ns();

	if (!is_router(dev))
		return NOTIFY_DONE;
	if (action == BUS_NOTIFY_ADD_DEVICE)
		router_add(dev, ts, 0);
	else if (action == BUS_NOTIFY_DEL_DEVICE)
		router_del(dev, ts);
	return NOTIFY_DONE;
}

static struct notifier_block tb_nb = {
	.notifier_call = tb_notify,
};

static int add_present(struct device *dev, void *unused)
{
	if (is_router(dev))
		router_add(dev, egpuhp_now_ns(), EGPUHP_F_PRELOAD);
	return 0;
}

/* Caller holds tb_mutex. */
static void tb_attach(void)
{
	int (*reg)(struct tb_service_driver *drv);
	int ret = -ENOENT;

	if (tb_bus)
		return;
	reg = symbol_get(tb_register_service_driver);
	if (!reg)
		return;
	tb_unregister = symbol_get(tb_unregister_service_driver);
	if (!tb_unregister)
		goto put_reg;
	ret = reg(&bus_finder);
	if (ret)
		goto put_unreg;
	ret = bus_register_notifier(bus_finder.driver.bus, &tb_nb);
	if (ret)
		goto unregister;
	tb_bus = bus_finder.driver.bus;
	bus_for_each_dev(tb_bus, NULL, NULL, add_present);
	symbol_put(tb_register_service_driver);
	pr_info("watching the Thunderbolt bus\n");
	return;

unregister:
	tb_unregister(&bus_finder);
put_unreg:
	symbol_put(tb_unregister_service_driver);
	tb_unregister = NULL;
put_reg:
	symbol_put(tb_register_service_driver);
	pr_warn("cannot watch the Thunderbolt bus (%d)\n", ret);
}

/* Caller holds tb_mutex. */
static void tb_detach(void)
{
	if (!tb_bus)
		return;
	bus_unregister_notifier(tb_bus, &tb_nb);
	tb_unregister(&bus_finder);
	tb_bus = NULL;
	tb_unregister = NULL;
	/* drops our pin on thunderbolt.ko */
	symbol_put(tb_unregister_service_driver);
	egpuhp_router_clear();
}

static int module_notify(struct notifier_block *nb, unsigned long action,
			 void *data)
{
	struct module *mod = data;

	if (action != MODULE_STATE_LIVE || strcmp(mod->name, "thunderbolt"))
		return NOTIFY_DONE;
	mutex_lock(&tb_mutex);
	tb_attach();
	mutex_unlock(&tb_mutex);
	return NOTIFY_DONE;
}

static struct notifier_block module_nb = {
	.notifier_call = module_notify,
};

/**
 * egpuhp_tb_refresh() - re-read every known router, report the changed ones
 *
 * Authorization changes have no bus notification.  Each router is read
 * under the devtab lock (see the top of the file); no other lock is
 * taken, so this may run from the PCI bus notifier.  thunderbolt.ko, whose
 * show() methods run here, is pinned while any router is in the table.
 */
void egpuhp_tb_refresh(void)
{
	struct egpuhp_router *snap;
	unsigned int idx;
	char *buf;

	snap = kzalloc(sizeof(*snap), GFP_KERNEL);
	buf = (char *)__get_free_page(GFP_KERNEL);
	if (!snap || !buf)
		goto out;
	for (idx = 0; ; idx++) {
		egpuhp_devtab_lock();
		if (!egpuhp_router_copy_nth(idx, snap)) {
			egpuhp_devtab_unlock();
			break;
		}
		read_attrs(snap, buf);
		if (egpuhp_router_update(snap))
			egpuhp_event_router(EGPUHP_EV_ROUTER_CHANGE, snap, 0,
					    egpuhp_now_ns());
		egpuhp_devtab_unlock();
	}
out:
	free_page((unsigned long)buf);
	kfree(snap);
}

/**
 * egpuhp_tb_watch_init() - watch the Thunderbolt bus, now or once thunderbolt.ko loads
 *
 * Routers present when the bus is found are added to the table; a module
 * notifier finds the bus of a thunderbolt.ko loaded later.
 *
 * Return: 0, or the error of register_module_notifier().
 */
int egpuhp_tb_watch_init(void)
{
	int ret = register_module_notifier(&module_nb);

	if (ret)
		return ret;
	mutex_lock(&tb_mutex);
	tb_attach();
	mutex_unlock(&tb_mutex);
	return 0;
}

/**
 * egpuhp_tb_watch_exit() - stop watching the Thunderbolt bus and forget its routers
 */
void egpuhp_tb_watch_exit(void)
{
	unregister_module_notifier(&module_nb);
	mutex_lock(&tb_mutex);
	tb_detach();
	mutex_unlock(&tb_mutex);
}
