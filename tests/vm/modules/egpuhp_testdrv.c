// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp_testdrv - a test-only PCI driver for the virtual eGPU dock.
 *
 * It binds to QEMU's edu device (1234:11e8) and, through driver_override or
 * new_id, to any other function.  probe() does a real I/O round trip on edu
 * (ID + liveness registers) and on secondary-vga 1234:1111 (VRAM); remove()
 * records whether the device was still reachable at that moment, so the dock's
 * self-tests can prove "after a surprise removal the driver found the device
 * already gone; after an orderly removal it did not", and egpuhp's tests can
 * compare CLOCK_BOOTTIME stamps with their own events.
 *
 * Every probe/remove appends one line to /sys/kernel/debug/egpuhp_testdrv/events
 * and prints it to the kernel log:
 *   probe 0000:01:00.0 t=<boottime ns> vendor=0x1234 device=0x11e8 io=ok
 *   remove 0000:01:00.0 t=<boottime ns> present=0 vendor=0xffff offline=1 mmio=0x00000000
 * Writing anything to the file empties it.
 *
 * Writing to /sys/kernel/debug/egpuhp_testdrv/warn raises a kernel warning:
 * the dock's self-test proves with it that the harness catches WARNs.
 *
 * Runtime PM: bound functions may be runtime-suspended (write "auto" to their
 * power/control; the PCI core puts them into D3hot where they can go: a
 * function without a PM capability stays in D0, runtime-suspended), and
 * each transition appends "rpm_suspend BDF t=..." / "rpm_resume BDF t=...".
 *
 * remove_hold: while it reads 1, remove() waits (after recording its line)
 * until 0 is written, or 60 s: a removal that takes as long as the test
 * wants, as a GPU driver waiting for its clients does.
 *
 * open_node (module parameter, read at probe): each bound function gets a
 * character device, /dev/egpuhp_testdrv/<BDF> (a misc device whose parent
 * is the function, so sysfs shows it below the function as DRM's nodes
 * are), and remove() waits until every file opened on it is closed, as
 * nvidia's driver does for a GPU it takes for an internal one.  The wait is
 * bounded by open_wait_ms (clamped below the hung-task limit), so a test
 * can never hang the guest.  It appends "remove_wait BDF t=... open=N"
 * before waiting and then "remove_done BDF t=... open=0" or
 * "remove_timeout BDF t=... open=N".  Opening it appends "open BDF pid=N",
 * the last close "closed BDF".
 *
 * hold_lock: writing a function's name makes a thread take that function's
 * device lock, append "lock_held BDF t=...", and wait; writing anything to
 * release_lock makes it take the PCI rescan lock too (still inside the
 * device lock, as sriov_numvfs_store() does), drop both, and append
 * "lock_done BDF t=...".
 *
 * slow_config: writing "BDF MS" makes every config read of that bound
 * function take MS ms longer (0..SLOW_CONFIG_MAX_MS; 0 ends it), as a
 * struggling link answers late: the first write wraps the pci_ops of the
 * function's bus (pci_bus_set_ops(), as aer_inject does), and remove()
 * of the last slowed function on it restores them.  Reads may run under
 * the raw pci_lock with interrupts off (a raw spinlock on PREEMPT_RT too),
 * so the delay is a busy wait, capped.  It appends "slow_config BDF ms=N".
 */

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/kernel.h>
#include <linux/kref.h>
#include <linux/kthread.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/pm_runtime.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/wait.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>

#define DRV_NAME "egpuhp_testdrv"

#define EDU_VENDOR		0x1234
#define EDU_DEVICE		0x11e8
#define EDU_REG_ID		0x00	/* reads 0x010000ed */
#define EDU_REG_LIVENESS	0x04	/* reads back the bitwise inverse */
#define EDU_ID_MAGIC		0xed

/* QEMU's secondary-vga: BAR 0 is its VRAM. */
#define VGA_VENDOR		0x1234
#define VGA_DEVICE		0x1111

#define EVENTS_SIZE		(32 * 1024)

/* a busy wait, maybe with interrupts off: short */
#define SLOW_CONFIG_MAX_MS	100
#define SLOW_BUSES		4

/* below the kernel's default hung-task limit (120 s) */
#define OPEN_WAIT_MAX_MS	90000

static bool open_node;
module_param(open_node, bool, 0644);
MODULE_PARM_DESC(open_node, "give each bound function a character device whose remove() waits for its open files");

static unsigned int open_wait_ms = 60000;
module_param(open_wait_ms, uint, 0644);
MODULE_PARM_DESC(open_wait_ms, "longest wait of remove() for open files, ms (at most 90000)");

/*
 * A function's character device.  Reference counted: an open file keeps
 * it after remove() gave up waiting and the function is gone.
 */
struct testdrv_node {
	struct kref ref;
	atomic_t open;
	wait_queue_head_t wq;
	struct miscdevice misc;
	char bdf[16];
	char name[48];
};

struct testdrv_dev {
	void __iomem *bar0;
	struct testdrv_node *node;
	bool slowed;		/* holds a slow_buses[] user reference */
};

/*
 * A bus whose config reads go through slow_read().  An entry is filled
 * before its ops are installed and cleared after the original ones are
 * back, so slow_read() always finds its bus.
 */
struct slow_bus {
	struct pci_bus *bus;
	struct pci_ops ops;
	struct pci_ops *orig;
	unsigned int users;
	u8 ms[256];		/* by devfn */
};

/* slow_mutex serialises changes; slow_lock guards what slow_read() reads */
static DEFINE_MUTEX(slow_mutex);
static DEFINE_RAW_SPINLOCK(slow_lock);
static struct slow_bus slow_buses[SLOW_BUSES];

static DEFINE_MUTEX(events_lock);
static bool remove_hold;
static DECLARE_WAIT_QUEUE_HEAD(remove_wq);

/* the hold_lock thread; lock_mutex guards starting and stopping it */
static DEFINE_MUTEX(lock_mutex);
static struct task_struct *lock_thread;
static DECLARE_COMPLETION(held_lock_released);
static char *events_buf;
static size_t events_len;
static struct dentry *debug_dir;

static __printf(1, 2) void record_event(const char *fmt, ...)
{
	char line[192];
	va_list args;
	int n;

	va_start(args, fmt);
	n = vscnprintf(line, sizeof(line), fmt, args);
	va_end(args);

	pr_info("%s\n", line);

	mutex_lock(&events_lock);
	/* When full, keep the newest half: tests read recent events. */
	if (events_len + n + 1 >= EVENTS_SIZE) {
		size_t keep = events_len / 2;

		memmove(events_buf, events_buf + events_len - keep, keep);
		events_len = keep;
	}
	memcpy(events_buf + events_len, line, n);
	events_len += n;
	events_buf[events_len++] = '\n';
	mutex_unlock(&events_lock);
}

static bool is_edu(struct pci_dev *pdev)
{
	return pdev->vendor == EDU_VENDOR && pdev->device == EDU_DEVICE;
}

static bool is_qemu_vga(struct pci_dev *pdev)
{
	return pdev->vendor == VGA_VENDOR && pdev->device == VGA_DEVICE;
}

/* Write a pattern into the last VRAM dword (off screen) and read it back. */
static int vga_io_check(struct pci_dev *pdev, struct testdrv_dev *td)
{
	resource_size_t off = pci_resource_len(pdev, 0) - 4;
	u32 pattern = 0xa5c3e10f;

	iowrite32(pattern, td->bar0 + off);
	return ioread32(td->bar0 + off) == pattern ? 0 : -EIO;
}

/* A write-then-read round trip through the edu liveness register. */
static int edu_io_check(struct testdrv_dev *td)
{
	u32 id, probe = 0x5a5aa5a5;

	id = ioread32(td->bar0 + EDU_REG_ID);
	if ((id & 0xff) != EDU_ID_MAGIC)
		return -ENODEV;
	iowrite32(probe, td->bar0 + EDU_REG_LIVENESS);
	if (ioread32(td->bar0 + EDU_REG_LIVENESS) != ~probe)
		return -EIO;
	return 0;
}

static void node_free(struct kref *ref)
{
	kfree(container_of(ref, struct testdrv_node, ref));
}

static int node_open(struct inode *inode, struct file *file)
{
	/* misc_open() put our miscdevice there */
	struct testdrv_node *node = container_of(file->private_data,
						 struct testdrv_node, misc);

	kref_get(&node->ref);
	atomic_inc(&node->open);
	file->private_data = node;
	record_event("open %s pid=%d", node->bdf, task_tgid_nr(current));
	return 0;
}

static int node_release(struct inode *inode, struct file *file)
{
	struct testdrv_node *node = file->private_data;

	if (atomic_dec_and_test(&node->open)) {
		record_event("closed %s", node->bdf);
		wake_up_all(&node->wq);
	}
	kref_put(&node->ref, node_free);
	return 0;
}

static const struct file_operations node_fops = {
	.owner = THIS_MODULE,
	.open = node_open,
	.release = node_release,
	.llseek = noop_llseek,
};

static int node_create(struct pci_dev *pdev, struct testdrv_dev *td)
{
	struct testdrv_node *node = kzalloc(sizeof(*node), GFP_KERNEL);
	int ret;

	if (!node)
		return -ENOMEM;
	kref_init(&node->ref);
	atomic_set(&node->open, 0);
	init_waitqueue_head(&node->wq);
	strscpy(node->bdf, pci_name(pdev), sizeof(node->bdf));
	/* "!" becomes "/" in the devtmpfs name */
	snprintf(node->name, sizeof(node->name), DRV_NAME "!%s", pci_name(pdev));
	node->misc.minor = MISC_DYNAMIC_MINOR;
	node->misc.name = node->name;
	node->misc.fops = &node_fops;
	node->misc.parent = &pdev->dev;
	ret = misc_register(&node->misc);
	if (ret) {
		kfree(node);
		return ret;
	}
	td->node = node;
	return 0;
}

/* remove(): wait (bounded) until nobody has the node open, then drop it. */
static void node_remove(struct testdrv_node *node)
{
	unsigned int wait_ms = min_t(unsigned int, READ_ONCE(open_wait_ms),
				     OPEN_WAIT_MAX_MS);
	int open = atomic_read(&node->open);

	if (open) {
		record_event("remove_wait %s t=%llu open=%d", node->bdf,
			     ktime_get_boottime_ns(), open);
		wait_event_timeout(node->wq, !atomic_read(&node->open),
				   msecs_to_jiffies(wait_ms));
		open = atomic_read(&node->open);
		record_event("%s %s t=%llu open=%d",
			     open ? "remove_timeout" : "remove_done", node->bdf,
			     ktime_get_boottime_ns(), open);
	}
	misc_deregister(&node->misc);
	kref_put(&node->ref, node_free);
}

static struct slow_bus *slow_bus_find(struct pci_bus *bus)
{
	int i;

	for (i = 0; i < SLOW_BUSES; i++)
		if (slow_buses[i].bus == bus)
			return &slow_buses[i];
	return NULL;
}

static int slow_read(struct pci_bus *bus, unsigned int devfn, int where,
		     int size, u32 *val)
{
	struct pci_ops *orig = NULL;
	struct slow_bus *sb;
	unsigned long flags;
	unsigned int ms = 0;

	raw_spin_lock_irqsave(&slow_lock, flags);
	sb = slow_bus_find(bus);
	if (sb) {
		orig = sb->orig;
		ms = sb->ms[devfn & 0xff];
	}
	raw_spin_unlock_irqrestore(&slow_lock, flags);
	if (!orig)	/* not reached: see struct slow_bus */
		return PCIBIOS_DEVICE_NOT_FOUND;
	if (ms)
		mdelay(ms);
	return orig->read(bus, devfn, where, size, val);
}

static int slow_write(struct pci_bus *bus, unsigned int devfn, int where,
		      int size, u32 val)
{
	struct pci_ops *orig = NULL;
	struct slow_bus *sb;
	unsigned long flags;

	raw_spin_lock_irqsave(&slow_lock, flags);
	sb = slow_bus_find(bus);
	if (sb)
		orig = sb->orig;
	raw_spin_unlock_irqrestore(&slow_lock, flags);
	if (!orig)
		return PCIBIOS_DEVICE_NOT_FOUND;
	return orig->write(bus, devfn, where, size, val);
}

/* Set @pdev's delay; the first one wraps its bus.  Under its device lock. */
static int slow_set(struct pci_dev *pdev, struct testdrv_dev *td,
		    unsigned int ms)
{
	struct pci_bus *bus = pdev->bus;
	struct slow_bus *sb;
	unsigned long flags;

	mutex_lock(&slow_mutex);
	sb = slow_bus_find(bus);
	if (!sb && !td->slowed) {
		sb = slow_bus_find(NULL);
		if (!sb) {
			mutex_unlock(&slow_mutex);
			return -ENOSPC;
		}
		memset(sb, 0, sizeof(*sb));
		sb->orig = bus->ops;
		/* the rest as they were: generic reads call bus->ops->map_bus */
		sb->ops = *sb->orig;
		sb->ops.read = slow_read;
		sb->ops.write = slow_write;
		raw_spin_lock_irqsave(&slow_lock, flags);
		sb->bus = bus;
		raw_spin_unlock_irqrestore(&slow_lock, flags);
		pci_bus_set_ops(bus, &sb->ops);
	}
	if (!td->slowed) {
		td->slowed = true;
		sb->users++;
	}
	raw_spin_lock_irqsave(&slow_lock, flags);
	sb->ms[pdev->devfn] = ms;
	raw_spin_unlock_irqrestore(&slow_lock, flags);
	mutex_unlock(&slow_mutex);
	record_event("slow_config %s ms=%u", pci_name(pdev), ms);
	return 0;
}

/* remove(): the last slowed function of a bus gives it its ops back */
static void slow_clear(struct pci_dev *pdev, struct testdrv_dev *td)
{
	struct slow_bus *sb;
	unsigned long flags;

	if (!td->slowed)
		return;
	mutex_lock(&slow_mutex);
	sb = slow_bus_find(pdev->bus);
	raw_spin_lock_irqsave(&slow_lock, flags);
	sb->ms[pdev->devfn] = 0;
	raw_spin_unlock_irqrestore(&slow_lock, flags);
	td->slowed = false;
	if (!--sb->users) {
		pci_bus_set_ops(pdev->bus, sb->orig);
		raw_spin_lock_irqsave(&slow_lock, flags);
		sb->bus = NULL;
		raw_spin_unlock_irqrestore(&slow_lock, flags);
	}
	mutex_unlock(&slow_mutex);
}

static int testdrv_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct testdrv_dev *td;
	u16 vendor = 0xffff;
	const char *io = "none";
	int ret;

	td = devm_kzalloc(&pdev->dev, sizeof(*td), GFP_KERNEL);
	if (!td)
		return -ENOMEM;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;

	/* Config space round trip for every device. */
	pci_read_config_word(pdev, PCI_VENDOR_ID, &vendor);
	if (vendor != pdev->vendor)
		return -ENODEV;

	if (pci_resource_len(pdev, 0) && (pci_resource_flags(pdev, 0) & IORESOURCE_MEM)) {
		td->bar0 = pcim_iomap(pdev, 0, 0);
		if (!td->bar0)
			return -ENOMEM;
	}

	if (is_edu(pdev)) {
		if (!td->bar0)
			return -ENODEV;
		ret = edu_io_check(td);
		if (ret) {
			dev_err(&pdev->dev, "edu I/O round trip failed: %d\n", ret);
			return ret;
		}
		io = "ok";
	} else if (is_qemu_vga(pdev) && td->bar0) {
		ret = vga_io_check(pdev, td);
		if (ret) {
			dev_err(&pdev->dev, "VRAM round trip failed: %d\n", ret);
			return ret;
		}
		io = "ok";
	}

	if (READ_ONCE(open_node)) {
		ret = node_create(pdev, td);
		if (ret)
			return ret;
	}
	pci_set_drvdata(pdev, td);
	record_event("probe %s t=%llu vendor=0x%04x device=0x%04x io=%s",
		     pci_name(pdev), ktime_get_boottime_ns(), vendor,
		     pdev->device, io);
	/* drop the PCI core's probe reference: runtime PM is up to sysfs */
	pm_runtime_put_noidle(&pdev->dev);
	return 0;
}

static void testdrv_remove(struct pci_dev *pdev)
{
	struct testdrv_dev *td = pci_get_drvdata(pdev);
	u64 now = ktime_get_boottime_ns();
	bool offline = pci_channel_offline(pdev);
	bool present = pci_device_is_present(pdev);
	u32 mmio = 0xffffffff;
	u16 vendor = 0xffff;

	/* the reference probe() dropped, which the PCI core drops after us */
	pm_runtime_get_noresume(&pdev->dev);
	/* A raw read: all-ones when the device no longer answers. */
	if (pci_read_config_word(pdev, PCI_VENDOR_ID, &vendor))
		vendor = 0xffff;
	if (td && td->bar0)
		mmio = ioread32(td->bar0 + (is_edu(pdev) ? EDU_REG_ID : 0));

	record_event("remove %s t=%llu present=%d vendor=0x%04x offline=%d mmio=0x%08x",
		     pci_name(pdev), now, present, vendor, offline, mmio);
	if (td && td->node)
		node_remove(td->node);
	if (td)
		slow_clear(pdev, td);
	wait_event_timeout(remove_wq, !READ_ONCE(remove_hold), 60 * HZ);
}

static int testdrv_runtime_suspend(struct device *dev)
{
	record_event("rpm_suspend %s t=%llu", dev_name(dev),
		     ktime_get_boottime_ns());
	return 0;
}

static int testdrv_runtime_resume(struct device *dev)
{
	record_event("rpm_resume %s t=%llu", dev_name(dev),
		     ktime_get_boottime_ns());
	return 0;
}

static const struct dev_pm_ops testdrv_pm = {
	RUNTIME_PM_OPS(testdrv_runtime_suspend, testdrv_runtime_resume, NULL)
};

static const struct pci_device_id testdrv_ids[] = {
	{ PCI_DEVICE(EDU_VENDOR, EDU_DEVICE) },
	{ }
};
MODULE_DEVICE_TABLE(pci, testdrv_ids);

static struct pci_driver testdrv_driver = {
	.name = DRV_NAME,
	.id_table = testdrv_ids,
	.probe = testdrv_probe,
	.remove = testdrv_remove,
	.driver.pm = &testdrv_pm,
};

static ssize_t events_read(struct file *file, char __user *ubuf, size_t count,
			   loff_t *ppos)
{
	ssize_t ret;

	mutex_lock(&events_lock);
	ret = simple_read_from_buffer(ubuf, count, ppos, events_buf, events_len);
	mutex_unlock(&events_lock);
	return ret;
}

static ssize_t events_write(struct file *file, const char __user *ubuf,
			    size_t count, loff_t *ppos)
{
	mutex_lock(&events_lock);
	events_len = 0;
	mutex_unlock(&events_lock);
	return count;
}

static const struct file_operations events_fops = {
	.owner = THIS_MODULE,
	.read = events_read,
	.write = events_write,
	.llseek = default_llseek,
};

static ssize_t warn_write(struct file *file, const char __user *ubuf,
			  size_t count, loff_t *ppos)
{
	WARN(1, "egpuhp_testdrv: warning requested through debugfs\n");
	return count;
}

static const struct file_operations warn_fops = {
	.owner = THIS_MODULE,
	.write = warn_write,
};

static ssize_t remove_hold_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	bool on;
	int ret = kstrtobool_from_user(ubuf, count, &on);

	if (ret)
		return ret;
	WRITE_ONCE(remove_hold, on);
	wake_up_all(&remove_wq);
	return count;
}

static const struct file_operations remove_hold_fops = {
	.owner = THIS_MODULE,
	.write = remove_hold_write,
};

static int lock_fn(void *data)
{
	struct pci_dev *pdev = data;

	device_lock(&pdev->dev);
	record_event("lock_held %s t=%llu", pci_name(pdev),
		     ktime_get_boottime_ns());
	/* interruptible: a long wait here is the test's intent, not a hang */
	while (wait_for_completion_interruptible(&held_lock_released))
		;
	pci_lock_rescan_remove();
	pci_unlock_rescan_remove();
	device_unlock(&pdev->dev);
	record_event("lock_done %s t=%llu", pci_name(pdev),
		     ktime_get_boottime_ns());
	pci_dev_put(pdev);
	while (!kthread_should_stop()) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (!kthread_should_stop())
			schedule();
		__set_current_state(TASK_RUNNING);
	}
	return 0;
}

/* Caller holds lock_mutex. */
static void lock_stop(void)
{
	if (!lock_thread)
		return;
	complete(&held_lock_released);
	kthread_stop(lock_thread);
	lock_thread = NULL;
}

static ssize_t hold_lock_write(struct file *file, const char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	unsigned int domain, bus, slot, fn;
	struct task_struct *t;
	struct pci_dev *pdev;
	char name[32];

	if (count >= sizeof(name) || copy_from_user(name, ubuf, count))
		return -EINVAL;
	name[count] = '\0';
	if (sscanf(name, "%x:%x:%x.%x", &domain, &bus, &slot, &fn) != 4)
		return -EINVAL;
	pdev = pci_get_domain_bus_and_slot(domain, bus, PCI_DEVFN(slot, fn));
	if (!pdev)
		return -ENODEV;
	mutex_lock(&lock_mutex);
	lock_stop();
	reinit_completion(&held_lock_released);
	t = kthread_run(lock_fn, pdev, "egpuhp_testdrv_lock");
	if (IS_ERR(t)) {
		mutex_unlock(&lock_mutex);
		pci_dev_put(pdev);
		return PTR_ERR(t);
	}
	lock_thread = t;
	mutex_unlock(&lock_mutex);
	return count;
}

static const struct file_operations hold_lock_fops = {
	.owner = THIS_MODULE,
	.write = hold_lock_write,
};

static ssize_t release_lock_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	complete(&held_lock_released);
	return count;
}

static const struct file_operations release_lock_fops = {
	.owner = THIS_MODULE,
	.write = release_lock_write,
};

static ssize_t slow_config_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	unsigned int domain, bus, slot, fn, ms;
	struct testdrv_dev *td;
	struct pci_dev *pdev;
	char buf[48];
	int ret;

	if (count >= sizeof(buf) || copy_from_user(buf, ubuf, count))
		return -EINVAL;
	buf[count] = '\0';
	if (sscanf(buf, "%x:%x:%x.%x %u", &domain, &bus, &slot, &fn, &ms) != 5 ||
	    ms > SLOW_CONFIG_MAX_MS)
		return -EINVAL;
	pdev = pci_get_domain_bus_and_slot(domain, bus, PCI_DEVFN(slot, fn));
	if (!pdev)
		return -ENODEV;
	device_lock(&pdev->dev);
	td = pci_get_drvdata(pdev);
	if (pdev->dev.driver == &testdrv_driver.driver && td)
		ret = slow_set(pdev, td, ms);
	else
		ret = -ENODEV;	/* not bound to this driver */
	device_unlock(&pdev->dev);
	pci_dev_put(pdev);
	return ret ? ret : count;
}

static const struct file_operations slow_config_fops = {
	.owner = THIS_MODULE,
	.write = slow_config_write,
};

static int __init testdrv_init(void)
{
	int ret;

	events_buf = kvzalloc(EVENTS_SIZE, GFP_KERNEL);
	if (!events_buf)
		return -ENOMEM;

	debug_dir = debugfs_create_dir(DRV_NAME, NULL);
	debugfs_create_file("events", 0600, debug_dir, NULL, &events_fops);
	debugfs_create_file("warn", 0200, debug_dir, NULL, &warn_fops);
	debugfs_create_file("remove_hold", 0200, debug_dir, NULL,
			    &remove_hold_fops);
	debugfs_create_file("hold_lock", 0200, debug_dir, NULL,
			    &hold_lock_fops);
	debugfs_create_file("release_lock", 0200, debug_dir, NULL,
			    &release_lock_fops);
	debugfs_create_file("slow_config", 0200, debug_dir, NULL,
			    &slow_config_fops);

	ret = pci_register_driver(&testdrv_driver);
	if (ret) {
		debugfs_remove_recursive(debug_dir);
		kvfree(events_buf);
	}
	return ret;
}

static void __exit testdrv_exit(void)
{
	WRITE_ONCE(remove_hold, false);
	wake_up_all(&remove_wq);
	pci_unregister_driver(&testdrv_driver);
	debugfs_remove_recursive(debug_dir);
	mutex_lock(&lock_mutex);
	lock_stop();
	mutex_unlock(&lock_mutex);
	kvfree(events_buf);
}

module_init(testdrv_init);
module_exit(testdrv_exit);

MODULE_DESCRIPTION("egpuhp test driver: records device presence at remove()");
MODULE_LICENSE("GPL");
