// SPDX-License-Identifier: GPL-2.0
/*
 * tbsim - simulated Thunderbolt routers for the virtual eGPU dock (test only).
 *
 * With thunderbolt.ko loaded and no controller present, tbsim puts a domain
 * ("domain0", device type "thunderbolt_domain") with a host router ("0-0")
 * and any number of device routers ("0-1", "0-301", ..., device type
 * "thunderbolt_device") on the real Thunderbolt bus, so that they appear under
 * /sys/bus/thunderbolt/devices/ with the attributes and file formats of
 * drivers/thunderbolt/{domain,switch}.c, and honour the same authorization
 * semantics, including the key challenge and de-authorization, with the same
 * KOBJ_CHANGE "AUTHORIZED=" uevents.
 *
 * tb_bus_type is not exported: the bus is found through a service driver
 * with an empty id table (it never binds to anything).
 *
 * External-facing port.  On real machines firmware marks the PCIe root
 * ports that Thunderbolt tunnels lead to with the ACPI _DSD property
 * "ExternalFacingPort"; pci_acpi_setup() turns that into
 * pdev->external_facing, and the PCI core then marks everything
 * enumerated below such a root port untrusted and removable
 * (set_pcie_untrusted() and pci_set_removable() in drivers/pci/probe.c,
 * arch_pci_dev_is_removable() on x86, 6.1 and 6.12 alike).  QEMU's q35 has
 * no such property, so when the harness names the root port a router's
 * tunnel leads to ("port=0000:00:10.0" in "add"), tbsim sets the flag
 * itself: a test module may, because it stands in for the firmware that
 * would have set it at boot.  It is set when the router connects, before
 * its tunnel can open, so the functions that arrive afterwards get
 * untrusted/removable from the kernel's own code (visible in
 * /sys/bus/pci/devices/X/removable).  The previous value is restored when
 * the last router naming the port goes away (and so at module unload).
 *
 * The harness on the host watches the console for these lines:
 *   tbsim: 0-1: pcie tunnel up      (the router got authorized)
 *   tbsim: 0-1: pcie tunnel down    (it was de-authorized)
 *   tbsim: 0-1: removed
 *
 * Control (debugfs, /sys/kernel/debug/tbsim/):
 *   add      "route=1;vendor_name=Razer;device_name=Core X;unique_id=UUID;
 *             vendor=0x1532;device=0x1234;generation=3;speed=20;lanes=2;
 *             boot=0;nvm=20.1;device_key=HEX64;port=0000:00:10.0" (all
 *             but route optional; device_key: a key the device already
 *             holds from an earlier approval, for challenge tests; port:
 *             the PCIe root port its tunnel leads to, marked
 *             external-facing)
 *   remove   "0-1" or "1" (its children go first)
 *   link     "route=0-1;speed=10;lanes=1": a connected router's link
 *             re-trained (speed, lanes or both; as the Thunderbolt driver
 *             does, a KOBJ_CHANGE uevent follows)
 *   domain   "security=user;iommu=1;deauth=1;boot_acl=0" (only while no
 *             device routers exist; recreates domain0 and 0-0)
 *   routers  (read) one line per router
 */

#include <linux/version.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/fs.h>
/* hex2bin() moved from <linux/kernel.h> to its own header in 6.2. */
#if KERNEL_VERSION(6, 2, 0) <= LINUX_VERSION_CODE
#include <linux/hex.h>
#endif
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/thunderbolt.h>
#include <linux/uaccess.h>
#include <linux/uuid.h>

#define TBSIM_KEY_SIZE		32
#define TBSIM_CMD_MAX		1024

enum tbsim_security {
	TBSIM_SEC_NONE,
	TBSIM_SEC_USER,
	TBSIM_SEC_SECURE,
	TBSIM_SEC_DPONLY,
	TBSIM_SEC_USBONLY,
	TBSIM_SEC_NOPCIE,
	TBSIM_SEC_COUNT,
};

/* The names drivers/thunderbolt/domain.c shows in "security". */
static const char * const tbsim_security_names[TBSIM_SEC_COUNT] = {
	[TBSIM_SEC_NONE] = "none",
	[TBSIM_SEC_USER] = "user",
	[TBSIM_SEC_SECURE] = "secure",
	[TBSIM_SEC_DPONLY] = "dponly",
	[TBSIM_SEC_USBONLY] = "usbonly",
	[TBSIM_SEC_NOPCIE] = "nopcie",
};

struct tbsim_domain {
	struct device dev;
	enum tbsim_security security;
	bool iommu_dma_protection;
	bool deauthorization;
	unsigned int nboot_acl;
	uuid_t *boot_acl;
};

struct tbsim_router {
	struct device dev;
	struct list_head node;
	u64 route;
	unsigned int authorized;
	bool boot;
	u8 *key;				/* written to the "key" file */
	u8 device_key[TBSIM_KEY_SIZE];		/* what the device itself stores */
	bool has_device_key;
	u16 vendor;
	u16 device;
	char *vendor_name;
	char *device_name;
	uuid_t uuid;
	unsigned int generation;
	unsigned int link_speed;		/* Gb/s per lane */
	unsigned int lanes;
	bool has_nvm;
	unsigned int nvm_major;
	unsigned int nvm_minor;
	struct pci_dev *port;			/* marked external-facing, or NULL */
	bool port_was_external;			/* its flag before tbsim set it */
};

static char *security = "user";
module_param(security, charp, 0444);
MODULE_PARM_DESC(security, "initial domain security level (none, user, secure, dponly, usbonly, nopcie)");
static bool iommu = true;
module_param(iommu, bool, 0444);
MODULE_PARM_DESC(iommu, "initial iommu_dma_protection");
static bool deauth = true;
module_param(deauth, bool, 0444);
MODULE_PARM_DESC(deauth, "initial support for de-authorization");
static uint boot_acl;
module_param(boot_acl, uint, 0444);
MODULE_PARM_DESC(boot_acl, "number of boot ACL entries (0: no boot_acl file)");

/* Plays the role of tb->lock; sysfs handlers only trylock it (see below). */
static DEFINE_MUTEX(tbsim_lock);
static LIST_HEAD(tbsim_routers);
static struct tbsim_domain *tbsim_domain;
static struct tbsim_router *tbsim_host;
/* const since 6.4 on both sides, so typeof keeps 6.1 and 6.12 happy */
static typeof(((struct device *)NULL)->bus) tbsim_bus;
static struct dentry *tbsim_debugfs;

static struct tbsim_router *to_router(struct device *dev)
{
	return container_of(dev, struct tbsim_router, dev);
}

static struct tbsim_domain *to_domain(struct device *dev)
{
	return container_of(dev, struct tbsim_domain, dev);
}

/*
 * sysfs handlers run while device_unregister() (called with tbsim_lock held)
 * waits for them to finish: like the real driver they must not block on the
 * lock, so they trylock and restart the system call.
 */
static bool tbsim_trylock(void)
{
	return mutex_trylock(&tbsim_lock);
}

static bool pcie_allowed(void)
{
	return tbsim_domain->security <= TBSIM_SEC_SECURE;
}

static bool deauthorization_supported(void)
{
	return tbsim_domain->deauthorization &&
	       (tbsim_domain->security == TBSIM_SEC_USER ||
		tbsim_domain->security == TBSIM_SEC_SECURE);
}

static u64 parent_route(u64 route)
{
	int shift;

	for (shift = 56; shift >= 0; shift -= 8) {
		if (route >> shift)
			return route & ~(0xffULL << shift);
	}
	return 0;
}

static struct tbsim_router *find_router(u64 route)
{
	struct tbsim_router *r;

	list_for_each_entry(r, &tbsim_routers, node) {
		if (r->route == route)
			return r;
	}
	return NULL;
}

static void tunnel_event(struct tbsim_router *r, bool up)
{
	if (pcie_allowed())
		pr_info("tbsim: %s: pcie tunnel %s\n", dev_name(&r->dev), up ? "up" : "down");
}

static void authorized_uevent(struct tbsim_router *r)
{
	char env_auth[16];
	char *envp[2] = { env_auth, NULL };

	snprintf(env_auth, sizeof(env_auth), "AUTHORIZED=%u", r->authorized);
	kobject_uevent_env(&r->dev.kobj, KOBJ_CHANGE, envp);
}

/* Children first, like disapprove_switch() in drivers/thunderbolt/switch.c. */
static void disapprove_router(struct tbsim_router *r)
{
	struct tbsim_router *child;

	list_for_each_entry_reverse(child, &tbsim_routers, node) {
		if (child->route && parent_route(child->route) == r->route && child->authorized)
			disapprove_router(child);
	}
	r->authorized = 0;
	tunnel_event(r, false);
	authorized_uevent(r);
}

static int set_authorized(struct tbsim_router *r, unsigned int val)
{
	struct tbsim_router *parent;
	int ret = -EINVAL;

	if (!!r->authorized == !!val)
		return -EINVAL;

	switch (val) {
	case 0:
		if (!r->route)
			return -EINVAL;
		if (!deauthorization_supported())
			return -EPERM;
		disapprove_router(r);
		return 0;
	case 1:
		parent = find_router(parent_route(r->route));
		if (!parent || !parent->authorized)
			return -EINVAL;
		if (r->key) {
			/* Approval with a key: the device stores it. */
			memcpy(r->device_key, r->key, TBSIM_KEY_SIZE);
			r->has_device_key = true;
		}
		ret = 0;
		break;
	case 2:
		if (r->key) {
			if (!r->has_device_key ||
			    memcmp(r->device_key, r->key, TBSIM_KEY_SIZE))
				return -EKEYREJECTED;
			ret = 0;
		}
		break;
	default:
		break;
	}

	if (!ret) {
		r->authorized = val;
		authorized_uevent(r);
		tunnel_event(r, true);
	}
	return ret;
}

static ssize_t authorized_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", to_router(dev)->authorized);
}

static ssize_t authorized_store(struct device *dev, struct device_attribute *attr,
				const char *buf, size_t count)
{
	unsigned int val;
	int ret;

	ret = kstrtouint(buf, 0, &val);
	if (ret)
		return ret;
	if (val > 2)
		return -EINVAL;
	if (!tbsim_trylock())
		return restart_syscall();
	ret = set_authorized(to_router(dev), val);
	mutex_unlock(&tbsim_lock);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(authorized);

static ssize_t boot_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", to_router(dev)->boot);
}
static DEVICE_ATTR_RO(boot);

static ssize_t device_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%#x\n", to_router(dev)->device);
}
static DEVICE_ATTR_RO(device);

static ssize_t device_name_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", to_router(dev)->device_name ?: "");
}
static DEVICE_ATTR_RO(device_name);

static ssize_t generation_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", to_router(dev)->generation);
}
static DEVICE_ATTR_RO(generation);

static ssize_t key_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct tbsim_router *r = to_router(dev);
	ssize_t ret;

	if (!tbsim_trylock())
		return restart_syscall();
	if (r->key)
		ret = sysfs_emit(buf, "%*phN\n", TBSIM_KEY_SIZE, r->key);
	else
		ret = sysfs_emit(buf, "\n");
	mutex_unlock(&tbsim_lock);
	return ret;
}

static ssize_t key_store(struct device *dev, struct device_attribute *attr,
			 const char *buf, size_t count)
{
	struct tbsim_router *r = to_router(dev);
	u8 key[TBSIM_KEY_SIZE];
	ssize_t ret = count;
	bool clear = false;

	if (!strcmp(buf, "\n"))
		clear = true;
	else if (hex2bin(key, buf, sizeof(key)))
		return -EINVAL;

	if (!tbsim_trylock())
		return restart_syscall();
	if (r->authorized) {
		ret = -EBUSY;
	} else {
		kfree(r->key);
		r->key = NULL;
		if (!clear) {
			r->key = kmemdup(key, sizeof(key), GFP_KERNEL);
			if (!r->key)
				ret = -ENOMEM;
		}
	}
	mutex_unlock(&tbsim_lock);
	return ret;
}

/* root only, like the real driver's key attribute */
static struct device_attribute dev_attr_key = __ATTR(key, 0600, key_show, key_store);

/* The simulated link is symmetric: rx and tx report the same values. */
static ssize_t speed_show(struct device *dev, char *buf)
{
	return sysfs_emit(buf, "%u.0 Gb/s\n", READ_ONCE(to_router(dev)->link_speed));
}

static ssize_t lanes_show(struct device *dev, char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(to_router(dev)->lanes));
}

static ssize_t rx_speed_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return speed_show(dev, buf);
}
static DEVICE_ATTR_RO(rx_speed);

static ssize_t tx_speed_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return speed_show(dev, buf);
}
static DEVICE_ATTR_RO(tx_speed);

static ssize_t rx_lanes_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return lanes_show(dev, buf);
}
static DEVICE_ATTR_RO(rx_lanes);

static ssize_t tx_lanes_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return lanes_show(dev, buf);
}
static DEVICE_ATTR_RO(tx_lanes);

static ssize_t nvm_version_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct tbsim_router *r = to_router(dev);

	return sysfs_emit(buf, "%x.%x\n", r->nvm_major, r->nvm_minor);
}
static DEVICE_ATTR_RO(nvm_version);

static ssize_t vendor_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%#x\n", to_router(dev)->vendor);
}
static DEVICE_ATTR_RO(vendor);

static ssize_t vendor_name_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", to_router(dev)->vendor_name ?: "");
}
static DEVICE_ATTR_RO(vendor_name);

static ssize_t unique_id_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%pUb\n", &to_router(dev)->uuid);
}
static DEVICE_ATTR_RO(unique_id);

static struct attribute *router_attrs[] = {
	&dev_attr_authorized.attr,
	&dev_attr_boot.attr,
	&dev_attr_device.attr,
	&dev_attr_device_name.attr,
	&dev_attr_generation.attr,
	&dev_attr_key.attr,
	&dev_attr_nvm_version.attr,
	&dev_attr_rx_speed.attr,
	&dev_attr_rx_lanes.attr,
	&dev_attr_tx_speed.attr,
	&dev_attr_tx_lanes.attr,
	&dev_attr_vendor.attr,
	&dev_attr_vendor_name.attr,
	&dev_attr_unique_id.attr,
	NULL,
};

/* The visibility rules of switch_attr_is_visible(). */
static umode_t router_attr_is_visible(struct kobject *kobj, struct attribute *attr, int n)
{
	struct tbsim_router *r = to_router(kobj_to_dev(kobj));

	if (attr == &dev_attr_authorized.attr) {
		if (tbsim_domain->security == TBSIM_SEC_NOPCIE ||
		    tbsim_domain->security == TBSIM_SEC_DPONLY)
			return 0;
	} else if (attr == &dev_attr_device.attr) {
		if (!r->device)
			return 0;
	} else if (attr == &dev_attr_device_name.attr) {
		if (!r->device_name)
			return 0;
	} else if (attr == &dev_attr_vendor.attr) {
		if (!r->vendor)
			return 0;
	} else if (attr == &dev_attr_vendor_name.attr) {
		if (!r->vendor_name)
			return 0;
	} else if (attr == &dev_attr_key.attr) {
		if (r->route && tbsim_domain->security == TBSIM_SEC_SECURE)
			return attr->mode;
		return 0;
	} else if (attr == &dev_attr_rx_speed.attr || attr == &dev_attr_rx_lanes.attr ||
		   attr == &dev_attr_tx_speed.attr || attr == &dev_attr_tx_lanes.attr ||
		   attr == &dev_attr_boot.attr) {
		if (!r->route)
			return 0;
	} else if (attr == &dev_attr_nvm_version.attr) {
		if (!r->has_nvm)
			return 0;
	}
	return attr->mode;
}

static const struct attribute_group router_group = {
	.is_visible = router_attr_is_visible,
	.attrs = router_attrs,
};

static const struct attribute_group *router_groups[] = {
	&router_group,
	NULL,
};

#if KERNEL_VERSION(6, 3, 0) <= LINUX_VERSION_CODE
static int router_uevent(const struct device *dev, struct kobj_uevent_env *env)
#else
static int router_uevent(struct device *dev, struct kobj_uevent_env *env)
#endif
{
	const struct tbsim_router *r = container_of(dev, struct tbsim_router, dev);

	return add_uevent_var(env, "USB4_TYPE=%s", r->route ? "device" : "host");
}

static void router_release(struct device *dev)
{
	struct tbsim_router *r = to_router(dev);

	pci_dev_put(r->port);
	kfree(r->key);
	kfree(r->vendor_name);
	kfree(r->device_name);
	kfree(r);
}

/* The name matters: userspace tells Thunderbolt devices apart by DEVTYPE. */
static const struct device_type tbsim_router_type = {
	.name = "thunderbolt_device",
	.groups = router_groups,
	.uevent = router_uevent,
	.release = router_release,
};

/* Domain attributes. */

static ssize_t boot_acl_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct tbsim_domain *d = to_domain(dev);
	ssize_t ret = 0;
	unsigned int i;

	if (!tbsim_trylock())
		return restart_syscall();
	for (i = 0; i < d->nboot_acl; i++) {
		if (!uuid_is_null(&d->boot_acl[i]))
			ret += sysfs_emit_at(buf, ret, "%pUb", &d->boot_acl[i]);
		ret += sysfs_emit_at(buf, ret, "%s", i < d->nboot_acl - 1 ? "," : "\n");
	}
	mutex_unlock(&tbsim_lock);
	return ret;
}

static ssize_t boot_acl_store(struct device *dev, struct device_attribute *attr,
			      const char *buf, size_t count)
{
	struct tbsim_domain *d = to_domain(dev);
	char *str, *s, *uuid_str;
	unsigned int i = 0;
	uuid_t *acl;
	ssize_t ret = 0;

	if (count > (UUID_STRING_LEN + 1) * d->nboot_acl + 1 || count < d->nboot_acl - 1)
		return -EINVAL;

	str = kstrdup(buf, GFP_KERNEL);
	acl = kcalloc(d->nboot_acl, sizeof(uuid_t), GFP_KERNEL);
	if (!str || !acl) {
		ret = -ENOMEM;
		goto out;
	}

	uuid_str = strim(str);
	while ((s = strsep(&uuid_str, ",")) && i < d->nboot_acl) {
		size_t len = strlen(s);

		if (len) {
			if (len != UUID_STRING_LEN) {
				ret = -EINVAL;
				goto out;
			}
			ret = uuid_parse(s, &acl[i]);
			if (ret)
				goto out;
		}
		i++;
	}
	if (s || i < d->nboot_acl) {
		ret = -EINVAL;
		goto out;
	}

	if (!tbsim_trylock()) {
		ret = restart_syscall();
		goto out;
	}
	memcpy(d->boot_acl, acl, d->nboot_acl * sizeof(uuid_t));
	kobject_uevent(&d->dev.kobj, KOBJ_CHANGE);
	mutex_unlock(&tbsim_lock);
out:
	kfree(acl);
	kfree(str);
	return ret ?: count;
}
static DEVICE_ATTR_RW(boot_acl);

static ssize_t deauthorization_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", deauthorization_supported());
}
static DEVICE_ATTR_RO(deauthorization);

static ssize_t iommu_dma_protection_show(struct device *dev, struct device_attribute *attr,
					 char *buf)
{
	return sysfs_emit(buf, "%d\n", to_domain(dev)->iommu_dma_protection);
}
static DEVICE_ATTR_RO(iommu_dma_protection);

static ssize_t security_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", tbsim_security_names[to_domain(dev)->security]);
}
static DEVICE_ATTR_RO(security);

static struct attribute *domain_attrs[] = {
	&dev_attr_boot_acl.attr,
	&dev_attr_deauthorization.attr,
	&dev_attr_iommu_dma_protection.attr,
	&dev_attr_security.attr,
	NULL,
};

static umode_t domain_attr_is_visible(struct kobject *kobj, struct attribute *attr, int n)
{
	struct tbsim_domain *d = to_domain(kobj_to_dev(kobj));

	if (attr == &dev_attr_boot_acl.attr && !d->nboot_acl)
		return 0;
	return attr->mode;
}

static const struct attribute_group domain_group = {
	.is_visible = domain_attr_is_visible,
	.attrs = domain_attrs,
};

static const struct attribute_group *domain_groups[] = {
	&domain_group,
	NULL,
};

static void domain_release(struct device *dev)
{
	struct tbsim_domain *d = to_domain(dev);

	kfree(d->boot_acl);
	kfree(d);
}

static const struct device_type tbsim_domain_type = {
	.name = "thunderbolt_domain",
	.groups = domain_groups,
	.release = domain_release,
};

/* Building and tearing down the topology (tbsim_lock held). */

/* Another connected router whose tunnel leads to @port. */
static struct tbsim_router *port_user(struct pci_dev *port, struct tbsim_router *except)
{
	struct tbsim_router *r;

	list_for_each_entry(r, &tbsim_routers, node) {
		if (r != except && r->port == port)
			return r;
	}
	return NULL;
}

/*
 * What firmware's "ExternalFacingPort" does (see the top of this file).
 * The rescan lock keeps pciehp from enumerating below the port meanwhile,
 * so every function behind it sees one value.  The flag shares a bit-field
 * word with others the PCI core writes without a common lock (state_saved
 * at a power transition of the port, say); in the dock the port is idle
 * here, which is as much as a test module can promise.
 */
static void mark_port_external(struct tbsim_router *r)
{
	struct tbsim_router *other;

	if (!r->port)
		return;
	other = port_user(r->port, r);
	pci_lock_rescan_remove();
	r->port_was_external = other ? other->port_was_external : r->port->external_facing;
	r->port->external_facing = 1;
	pci_unlock_rescan_remove();
	pr_info("tbsim: %s: %s marked external-facing\n", dev_name(&r->dev),
		pci_name(r->port));
}

/* @r has left tbsim_routers; the last router of a port restores its flag. */
static void unmark_port_external(struct tbsim_router *r)
{
	if (!r->port || port_user(r->port, r))
		return;
	pci_lock_rescan_remove();
	r->port->external_facing = r->port_was_external;
	pci_unlock_rescan_remove();
}

static int add_router(struct tbsim_router *r)
{
	struct tbsim_router *parent = NULL;
	int ret;

	if (r->route) {
		parent = find_router(parent_route(r->route));
		if (!parent) {
			put_device(&r->dev);
			return -ENODEV;
		}
	}
	r->dev.parent = parent ? &parent->dev : &tbsim_domain->dev;
	r->dev.bus = tbsim_bus;
	r->dev.type = &tbsim_router_type;
	ret = dev_set_name(&r->dev, "0-%llx", r->route);
	if (!ret)
		ret = device_add(&r->dev);
	if (ret) {
		put_device(&r->dev);
		return ret;
	}
	mark_port_external(r);		/* before any tunnel opens */
	list_add_tail(&r->node, &tbsim_routers);
	if (r->route && r->authorized)
		tunnel_event(r, true);
	return 0;
}

static struct tbsim_router *first_child(struct tbsim_router *r)
{
	struct tbsim_router *child;

	list_for_each_entry(child, &tbsim_routers, node) {
		if (child->route && child != r && parent_route(child->route) == r->route)
			return child;
	}
	return NULL;
}

/* Children first; a removal may free any other entry, so rescan each time. */
static void remove_router(struct tbsim_router *r)
{
	struct tbsim_router *child;

	while ((child = first_child(r)))
		remove_router(child);
	list_del(&r->node);
	unmark_port_external(r);
	if (r->route)
		pr_info("tbsim: %s: removed\n", dev_name(&r->dev));
	device_unregister(&r->dev);
}

static struct tbsim_router *alloc_router(u64 route)
{
	struct tbsim_router *r = kzalloc(sizeof(*r), GFP_KERNEL);

	if (!r)
		return NULL;
	device_initialize(&r->dev);
	r->dev.type = &tbsim_router_type;	/* so that put_device() frees it */
	r->route = route;
	r->generation = 3;
	r->link_speed = 20;
	r->lanes = 2;
	uuid_gen(&r->uuid);
	return r;
}

static void destroy_domain(void)
{
	if (tbsim_host)
		remove_router(tbsim_host);	/* and every device router below */
	tbsim_host = NULL;
	if (tbsim_domain)
		device_unregister(&tbsim_domain->dev);
	tbsim_domain = NULL;
}

static int create_domain(enum tbsim_security level, bool iommu_prot, bool deauth_ok,
			 unsigned int nacl)
{
	struct tbsim_domain *d;
	struct tbsim_router *host;
	int ret;

	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	device_initialize(&d->dev);
	d->dev.type = &tbsim_domain_type;
	d->dev.bus = tbsim_bus;
	d->security = level;
	d->iommu_dma_protection = iommu_prot;
	d->deauthorization = deauth_ok;
	d->nboot_acl = nacl;
	if (nacl) {
		d->boot_acl = kcalloc(nacl, sizeof(uuid_t), GFP_KERNEL);
		if (!d->boot_acl) {
			put_device(&d->dev);
			return -ENOMEM;
		}
	}
	ret = dev_set_name(&d->dev, "domain0");
	if (!ret)
		ret = device_add(&d->dev);
	if (ret) {
		put_device(&d->dev);
		return ret;
	}
	tbsim_domain = d;

	host = alloc_router(0);
	if (!host) {
		destroy_domain();
		return -ENOMEM;
	}
	host->authorized = 1;
	host->vendor = 0x8086;
	host->device = 0x15ef;
	host->vendor_name = kstrdup("Intel", GFP_KERNEL);
	host->device_name = kstrdup("tbsim host router", GFP_KERNEL);
	ret = add_router(host);
	if (ret) {
		destroy_domain();
		return ret;
	}
	tbsim_host = host;
	return 0;
}

/* debugfs control interface. */

static int parse_route(const char *s, u64 *route)
{
	if (!strncmp(s, "0-", 2))
		s += 2;
	return kstrtou64(s, 16, route);
}

/* "0000:00:10.0": a PCIe root port, the only kind firmware marks. */
static int parse_port(const char *s, struct pci_dev **port)
{
	unsigned int domain, bus, slot, fn;
	struct pci_dev *pdev;
	char end;

	if (sscanf(s, "%x:%x:%x.%x%c", &domain, &bus, &slot, &fn, &end) != 4 ||
	    bus > 0xff || slot > 0x1f || fn > 7)
		return -EINVAL;
	pdev = pci_get_domain_bus_and_slot(domain, bus, PCI_DEVFN(slot, fn));
	if (!pdev)
		return -ENODEV;
	if (!pci_is_pcie(pdev) || pci_pcie_type(pdev) != PCI_EXP_TYPE_ROOT_PORT) {
		pci_dev_put(pdev);
		return -EINVAL;
	}
	pci_dev_put(*port);
	*port = pdev;
	return 0;
}

static int set_router_field(struct tbsim_router *r, const char *key, const char *val)
{
	unsigned int u;
	int ret = 0;

	if (!strcmp(key, "route")) {
		ret = parse_route(val, &r->route);
	} else if (!strcmp(key, "vendor_name")) {
		kfree(r->vendor_name);
		r->vendor_name = kstrdup(val, GFP_KERNEL);
		ret = r->vendor_name ? 0 : -ENOMEM;
	} else if (!strcmp(key, "device_name")) {
		kfree(r->device_name);
		r->device_name = kstrdup(val, GFP_KERNEL);
		ret = r->device_name ? 0 : -ENOMEM;
	} else if (!strcmp(key, "unique_id")) {
		ret = uuid_parse(val, &r->uuid);
	} else if (!strcmp(key, "vendor")) {
		ret = kstrtou16(val, 0, &r->vendor);
	} else if (!strcmp(key, "device")) {
		ret = kstrtou16(val, 0, &r->device);
	} else if (!strcmp(key, "generation")) {
		ret = kstrtouint(val, 0, &r->generation);
	} else if (!strcmp(key, "speed")) {
		ret = kstrtouint(val, 0, &r->link_speed);
	} else if (!strcmp(key, "lanes")) {
		ret = kstrtouint(val, 0, &u);
		if (!ret && (u < 1 || u > 2))
			ret = -EINVAL;
		r->lanes = u;
	} else if (!strcmp(key, "boot")) {
		ret = kstrtobool(val, &r->boot);
	} else if (!strcmp(key, "nvm")) {
		r->has_nvm = sscanf(val, "%x.%x", &r->nvm_major, &r->nvm_minor) == 2;
		ret = r->has_nvm ? 0 : -EINVAL;
	} else if (!strcmp(key, "device_key")) {
		ret = hex2bin(r->device_key, val, TBSIM_KEY_SIZE);
		r->has_device_key = !ret;
	} else if (!strcmp(key, "port")) {
		ret = parse_port(val, &r->port);
	} else {
		ret = -EINVAL;
	}
	return ret;
}

/* Splits "k=v;k=v" (newlines count as separators) and calls FN for each. */
static int parse_fields(char *cmd, int (*fn)(void *ctx, const char *k, const char *v), void *ctx)
{
	char *field, *val;
	int ret;

	while ((field = strsep(&cmd, ";\n"))) {
		field = strim(field);
		if (!*field)
			continue;
		val = strchr(field, '=');
		if (!val)
			return -EINVAL;
		*val++ = '\0';
		ret = fn(ctx, strim(field), strim(val));
		if (ret)
			return ret;
	}
	return 0;
}

static int router_field_cb(void *ctx, const char *k, const char *v)
{
	return set_router_field(ctx, k, v);
}

static char *copy_cmd(const char __user *ubuf, size_t count)
{
	if (count >= TBSIM_CMD_MAX)
		return ERR_PTR(-E2BIG);
	return memdup_user_nul(ubuf, count);
}

static ssize_t add_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	struct tbsim_router *r;
	char *cmd;
	int ret;

	cmd = copy_cmd(ubuf, count);
	if (IS_ERR(cmd))
		return PTR_ERR(cmd);
	r = alloc_router(0);
	if (!r) {
		kfree(cmd);
		return -ENOMEM;
	}
	ret = parse_fields(cmd, router_field_cb, r);
	kfree(cmd);
	if (!ret && !r->route)
		ret = -EINVAL;
	if (ret) {
		put_device(&r->dev);
		return ret;
	}

	mutex_lock(&tbsim_lock);
	if (find_router(r->route)) {
		put_device(&r->dev);
		ret = -EEXIST;
		goto unlock;
	}
	/* Authorized on arrival: preboot (boot=1) or a domain without security. */
	if (r->boot || tbsim_domain->security == TBSIM_SEC_NONE)
		r->authorized = 1;
	ret = add_router(r);
unlock:
	mutex_unlock(&tbsim_lock);
	return ret ? ret : count;
}

static ssize_t remove_write(struct file *file, const char __user *ubuf, size_t count,
			    loff_t *ppos)
{
	struct tbsim_router *r;
	char *cmd;
	u64 route;
	int ret;

	cmd = copy_cmd(ubuf, count);
	if (IS_ERR(cmd))
		return PTR_ERR(cmd);
	ret = parse_route(strim(cmd), &route);
	kfree(cmd);
	if (ret)
		return ret;
	if (!route)
		return -EINVAL;

	mutex_lock(&tbsim_lock);
	r = find_router(route);
	if (r)
		remove_router(r);
	mutex_unlock(&tbsim_lock);
	return r ? count : -ENODEV;
}

struct link_cmd {
	u64 route;
	unsigned int speed;		/* 0: unchanged */
	unsigned int lanes;		/* 0: unchanged */
};

static int link_field_cb(void *ctx, const char *k, const char *v)
{
	struct link_cmd *lc = ctx;
	int ret;

	if (!strcmp(k, "route"))
		return parse_route(v, &lc->route);
	if (!strcmp(k, "speed")) {
		ret = kstrtouint(v, 0, &lc->speed);
		return ret ? ret : (lc->speed ? 0 : -EINVAL);
	}
	if (!strcmp(k, "lanes")) {
		ret = kstrtouint(v, 0, &lc->lanes);
		return ret ? ret : (lc->lanes >= 1 && lc->lanes <= 2 ? 0 : -EINVAL);
	}
	return -EINVAL;
}

/* A router's link re-trained: new speed and/or lanes, then KOBJ_CHANGE. */
static ssize_t link_write(struct file *file, const char __user *ubuf, size_t count,
			  loff_t *ppos)
{
	struct link_cmd lc = { };
	struct tbsim_router *r;
	char *cmd;
	int ret;

	cmd = copy_cmd(ubuf, count);
	if (IS_ERR(cmd))
		return PTR_ERR(cmd);
	ret = parse_fields(cmd, link_field_cb, &lc);
	kfree(cmd);
	if (!ret && (!lc.route || (!lc.speed && !lc.lanes)))
		ret = -EINVAL;
	if (ret)
		return ret;

	mutex_lock(&tbsim_lock);
	r = find_router(lc.route);
	if (r) {
		if (lc.speed)
			WRITE_ONCE(r->link_speed, lc.speed);
		if (lc.lanes)
			WRITE_ONCE(r->lanes, lc.lanes);
		kobject_uevent(&r->dev.kobj, KOBJ_CHANGE);
	}
	mutex_unlock(&tbsim_lock);
	return r ? count : -ENODEV;
}

struct domain_cmd {
	enum tbsim_security security;
	bool iommu;
	bool deauth;
	unsigned int nboot_acl;
};

static int parse_security(const char *name, enum tbsim_security *level)
{
	int i = match_string(tbsim_security_names, TBSIM_SEC_COUNT, name);

	if (i < 0)
		return -EINVAL;
	*level = i;
	return 0;
}

static int domain_field_cb(void *ctx, const char *k, const char *v)
{
	struct domain_cmd *dc = ctx;

	if (!strcmp(k, "security"))
		return parse_security(v, &dc->security);
	if (!strcmp(k, "iommu"))
		return kstrtobool(v, &dc->iommu);
	if (!strcmp(k, "deauth"))
		return kstrtobool(v, &dc->deauth);
	if (!strcmp(k, "boot_acl"))
		return kstrtouint(v, 0, &dc->nboot_acl);
	return -EINVAL;
}

static ssize_t domain_write(struct file *file, const char __user *ubuf, size_t count,
			    loff_t *ppos)
{
	struct domain_cmd dc;
	char *cmd;
	int ret;

	cmd = copy_cmd(ubuf, count);
	if (IS_ERR(cmd))
		return PTR_ERR(cmd);

	mutex_lock(&tbsim_lock);
	dc.security = tbsim_domain->security;
	dc.iommu = tbsim_domain->iommu_dma_protection;
	dc.deauth = tbsim_domain->deauthorization;
	dc.nboot_acl = tbsim_domain->nboot_acl;
	ret = parse_fields(cmd, domain_field_cb, &dc);
	if (!ret && !list_is_singular(&tbsim_routers))
		ret = -EBUSY;		/* device routers still connected */
	if (!ret) {
		destroy_domain();
		ret = create_domain(dc.security, dc.iommu, dc.deauth, dc.nboot_acl);
	}
	mutex_unlock(&tbsim_lock);
	kfree(cmd);
	return ret ? ret : count;
}

static int routers_show(struct seq_file *m, void *unused)
{
	struct tbsim_router *r;

	mutex_lock(&tbsim_lock);
	if (tbsim_domain)
		seq_printf(m, "domain0 security=%s iommu=%d deauth=%d\n",
			   tbsim_security_names[tbsim_domain->security],
			   tbsim_domain->iommu_dma_protection, deauthorization_supported());
	list_for_each_entry(r, &tbsim_routers, node) {
		seq_printf(m, "%s authorized=%u key=%d device_key=%d", dev_name(&r->dev),
			   r->authorized, !!r->key, r->has_device_key);
		if (r->port)
			seq_printf(m, " port=%s", pci_name(r->port));
		seq_putc(m, '\n');
	}
	mutex_unlock(&tbsim_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(routers);

static const struct file_operations add_fops = {
	.owner = THIS_MODULE,
	.write = add_write,
};

static const struct file_operations remove_fops = {
	.owner = THIS_MODULE,
	.write = remove_write,
};

static const struct file_operations link_fops = {
	.owner = THIS_MODULE,
	.write = link_write,
};

static const struct file_operations domain_fops = {
	.owner = THIS_MODULE,
	.write = domain_write,
};

/* A service driver that never binds: only its driver.bus is wanted. */
static const struct tb_service_id tbsim_no_ids[] = {
	{ },
};

static int tbsim_probe(struct tb_service *svc, const struct tb_service_id *id)
{
	return -ENODEV;
}

static void tbsim_remove(struct tb_service *svc)
{
}

static struct tb_service_driver tbsim_driver = {
	.driver = {
		.owner = THIS_MODULE,
		.name = "tbsim",
	},
	.probe = tbsim_probe,
	.remove = tbsim_remove,
	.id_table = tbsim_no_ids,
};

static int __init tbsim_init(void)
{
	enum tbsim_security level;
	int ret;

	ret = parse_security(security, &level);
	if (ret) {
		pr_err("tbsim: unknown security level '%s'\n", security);
		return ret;
	}
	ret = tb_register_service_driver(&tbsim_driver);
	if (ret)
		return ret;
	tbsim_bus = tbsim_driver.driver.bus;

	mutex_lock(&tbsim_lock);
	ret = create_domain(level, iommu, deauth, boot_acl);
	mutex_unlock(&tbsim_lock);
	if (ret) {
		tb_unregister_service_driver(&tbsim_driver);
		return ret;
	}

	tbsim_debugfs = debugfs_create_dir("tbsim", NULL);
	debugfs_create_file("add", 0200, tbsim_debugfs, NULL, &add_fops);
	debugfs_create_file("remove", 0200, tbsim_debugfs, NULL, &remove_fops);
	debugfs_create_file("link", 0200, tbsim_debugfs, NULL, &link_fops);
	debugfs_create_file("domain", 0200, tbsim_debugfs, NULL, &domain_fops);
	debugfs_create_file("routers", 0400, tbsim_debugfs, NULL, &routers_fops);
	pr_info("tbsim: domain0 ready (security %s)\n", tbsim_security_names[level]);
	return 0;
}

static void __exit tbsim_exit(void)
{
	debugfs_remove_recursive(tbsim_debugfs);
	mutex_lock(&tbsim_lock);
	destroy_domain();
	mutex_unlock(&tbsim_lock);
	tb_unregister_service_driver(&tbsim_driver);
}

module_init(tbsim_init);
module_exit(tbsim_exit);

MODULE_DESCRIPTION("Simulated Thunderbolt routers for the egpuhp virtual dock (test only)");
MODULE_LICENSE("GPL");
