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
 */

#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
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

struct testdrv_dev {
	void __iomem *bar0;
};

static DEFINE_MUTEX(events_lock);
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

	pci_set_drvdata(pdev, td);
	record_event("probe %s t=%llu vendor=0x%04x device=0x%04x io=%s",
		     pci_name(pdev), ktime_get_boottime_ns(), vendor,
		     pdev->device, io);
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

	/* A raw read: all-ones when the device no longer answers. */
	if (pci_read_config_word(pdev, PCI_VENDOR_ID, &vendor))
		vendor = 0xffff;
	if (td && td->bar0)
		mmio = ioread32(td->bar0 + (is_edu(pdev) ? EDU_REG_ID : 0));

	record_event("remove %s t=%llu present=%d vendor=0x%04x offline=%d mmio=0x%08x",
		     pci_name(pdev), now, present, vendor, offline, mmio);
}

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

static int __init testdrv_init(void)
{
	int ret;

	events_buf = kvzalloc(EVENTS_SIZE, GFP_KERNEL);
	if (!events_buf)
		return -ENOMEM;

	debug_dir = debugfs_create_dir(DRV_NAME, NULL);
	debugfs_create_file("events", 0600, debug_dir, NULL, &events_fops);
	debugfs_create_file("warn", 0200, debug_dir, NULL, &warn_fops);

	ret = pci_register_driver(&testdrv_driver);
	if (ret) {
		debugfs_remove_recursive(debug_dir);
		kvfree(events_buf);
	}
	return ret;
}

static void __exit testdrv_exit(void)
{
	pci_unregister_driver(&testdrv_driver);
	debugfs_remove_recursive(debug_dir);
	kvfree(events_buf);
}

module_init(testdrv_init);
module_exit(testdrv_exit);

MODULE_DESCRIPTION("egpuhp test driver: records device presence at remove()");
MODULE_LICENSE("GPL");
