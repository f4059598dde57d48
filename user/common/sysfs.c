// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dir_list.h"
#include "common/file_read.h"
#include "common/sysfs.h"

#define TB_DEVICES "bus/thunderbolt/devices"

static char sysfs_root[1024] = "/sys";

void egpu_sysfs_set_root(const char *root)
{
	snprintf(sysfs_root, sizeof(sysfs_root), "%s", root && root[0] ? root : "/sys");
}

const char *egpu_sysfs_root(void)
{
	return sysfs_root;
}

static int full_path(const char *rel, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s", sysfs_root, rel) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int egpu_sysfs_read(const char *rel, char *buf, size_t len)
{
	char path[4096];
	ssize_t n;

	if (full_path(rel, path, sizeof(path)))
		return -ENAMETOOLONG;
	n = egpu_read_small_file(path, buf, len);
	if (n < 0)
		return (int)n;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

int egpu_sysfs_write(const char *rel, const char *val)
{
	char path[4096];
	size_t len = strlen(val);
	ssize_t n;
	int fd;

	if (full_path(rel, path, sizeof(path)))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, len);
	if (n < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	if (close(fd) < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static int read_attr(const char *dir, const char *attr, char *buf, size_t len)
{
	char rel[512];

	snprintf(rel, sizeof(rel), "%s/%s", dir, attr);
	return egpu_sysfs_read(rel, buf, len);
}

static unsigned int read_uint(const char *dir, const char *attr, unsigned int dflt)
{
	char buf[64];

	if (read_attr(dir, attr, buf, sizeof(buf)) < 0 || !buf[0])
		return dflt;
	return (unsigned int)strtoul(buf, NULL, 0);
}

bool egpu_all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

bool egpu_tb_is_router_name(const char *name)
{
	const char *dash = strchr(name, '-');
	const char *p;

	if (!dash || dash == name)
		return false;
	for (p = name; p < dash; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	if (!dash[1])
		return false;
	for (p = dash + 1; *p; p++)
		if (!isxdigit((unsigned char)*p))
			return false;
	return true;
}

/* Depth from the route string: one hex byte per hop. */
static unsigned int route_depth(const char *name)
{
	unsigned long long route = strtoull(strchr(name, '-') + 1, NULL, 16);
	unsigned int depth = 0;

	while (route) {
		depth++;
		route >>= 8;
	}
	return depth;
}

int egpu_tb_plug_id(const char *name, char *buf, size_t len)
{
	char rel[256], path[4096], boot[64];
	struct stat st;
	ssize_t n;

	if (!egpu_tb_is_router_name(name))
		return -EINVAL;
	snprintf(rel, sizeof(rel), TB_DEVICES "/%s", name);
	if (full_path(rel, path, sizeof(path)))
		return -ENAMETOOLONG;
	if (stat(path, &st) < 0)
		return -errno;
	n = egpu_read_small_file("/proc/sys/kernel/random/boot_id", boot, sizeof(boot));
	if (n < 0)
		return (int)n;
	boot[strcspn(boot, "\n")] = '\0';
	if ((size_t)snprintf(buf, len, "%s/%llu", boot, (unsigned long long)st.st_ino) >= len)
		return -ENOSPC;
	return 0;
}

int egpu_tb_read_router(const char *name, struct egpuhp_router *r)
{
	char dir[256], dom[256], buf[64];

	memset(r, 0, sizeof(*r));
	if (!egpu_tb_is_router_name(name))
		return -EINVAL;
	snprintf(dir, sizeof(dir), TB_DEVICES "/%s", name);
	if (read_attr(dir, "unique_id", r->unique_id, sizeof(r->unique_id)) < 0)
		return -ENOENT;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->vendor = read_uint(dir, "vendor", 0);
	r->device = read_uint(dir, "device", 0);
	read_attr(dir, "vendor_name", r->vendor_name, sizeof(r->vendor_name));
	read_attr(dir, "device_name", r->device_name, sizeof(r->device_name));
	r->generation = read_uint(dir, "generation", 0);
	r->rx_speed = read_uint(dir, "rx_speed", 0);
	r->rx_lanes = read_uint(dir, "rx_lanes", 0);
	r->tx_speed = read_uint(dir, "tx_speed", 0);
	r->tx_lanes = read_uint(dir, "tx_lanes", 0);
	r->authorized = read_uint(dir, "authorized", 0);
	r->boot = (uint8_t)read_uint(dir, "boot", 0);
	r->depth = route_depth(name);
	snprintf(r->domain, sizeof(r->domain), "domain%.*s",
		 (int)(strchr(name, '-') - name), name);
	snprintf(dom, sizeof(dom), TB_DEVICES "/%s", r->domain);
	if (read_attr(dom, "security", buf, sizeof(buf)) == 0)
		snprintf(r->security, sizeof(r->security), "%.31s", buf);
	r->iommu_prot = (uint8_t)read_uint(dom, "iommu_dma_protection", 0);
	return 0;
}

static int cmp_router(const void *a, const void *b)
{
	const struct egpuhp_router *x = a, *y = b;

	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* egpu_dir_list()'s load: the router called name, if it is one. */
static int load_router(const char *name, void *elem, void *ctx)
{
	return egpu_tb_read_router(name, elem);
}

int egpu_tb_list_routers(struct egpuhp_router **out, size_t *n)
{
	char path[4096];
	void *v;
	int ret;

	*out = NULL;
	*n = 0;
	full_path(TB_DEVICES, path, sizeof(path));
	ret = egpu_dir_list(path, sizeof(**out), load_router, NULL, &v, n);
	if (ret < 0)
		return ret;
	if (*n)
		qsort(v, *n, sizeof(**out), cmp_router);
	*out = v;
	return 0;
}

int egpu_tb_find_by_uid(const char *uid, char *buf, size_t len)
{
	struct egpuhp_router *v;
	size_t n, i;
	int ret = -ENOENT;

	if (egpu_tb_list_routers(&v, &n) < 0)
		return -ENOENT;
	for (i = 0; i < n; i++) {
		if (!strcasecmp(v[i].unique_id, uid)) {
			snprintf(buf, len, "%s", v[i].name);
			ret = 0;
			break;
		}
	}
	free(v);
	return ret;
}

int egpu_tb_authorize(const char *name, const char *hexkey, int value)
{
	char rel[256], val[8];
	int ret;

	if (hexkey) {
		snprintf(rel, sizeof(rel), TB_DEVICES "/%s/key", name);
		ret = egpu_sysfs_write(rel, hexkey);
		if (ret < 0)
			return ret;
	}
	snprintf(rel, sizeof(rel), TB_DEVICES "/%s/authorized", name);
	snprintf(val, sizeof(val), "%d", value);
	return egpu_sysfs_write(rel, val);
}

int egpu_tb_deauthorize(const char *name)
{
	char rel[256];

	snprintf(rel, sizeof(rel), TB_DEVICES "/%s/authorized", name);
	return egpu_sysfs_write(rel, "0");
}

int egpu_pci_driver(const char *pci, char *buf, size_t len)
{
	char path[4096], target[4096];
	ssize_t n;
	const char *base;

	buf[0] = '\0';
	if ((size_t)snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver",
			     sysfs_root, pci) >= sizeof(path))
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	snprintf(buf, len, "%s", base ? base + 1 : target);
	return 0;
}

bool egpu_pci_driver_registered(const char *driver)
{
	char rel[128], path[4096];

	if (strchr(driver, '/') ||
	    (size_t)snprintf(rel, sizeof(rel), "bus/pci/drivers/%s", driver) >= sizeof(rel))
		return false;
	return full_path(rel, path, sizeof(path)) == 0 && access(path, F_OK) == 0;
}

int egpu_pci_set_driver(const char *pci, const char *driver)
{
	char rel[512], cur[64];
	int ret;

	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver_override", pci);
	ret = egpu_sysfs_write(rel, driver);
	if (ret < 0)
		return ret;
	ret = egpu_pci_driver(pci, cur, sizeof(cur));
	if (ret < 0)
		return ret;
	if (!strcmp(cur, driver))
		return 0;
	if (cur[0]) {
		snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver/unbind", pci);
		ret = egpu_sysfs_write(rel, pci);
		if (ret < 0 && ret != -ENODEV)
			return ret;
	}
	ret = egpu_sysfs_write("bus/pci/drivers_probe", pci);
	/* drivers_probe fails with ENODEV/EINVAL if the driver is not loaded yet. */
	if (ret < 0)
		return ret;
	egpu_pci_driver(pci, cur, sizeof(cur));
	return strcmp(cur, driver) ? -ENXIO : 0;
}

int egpu_pci_slot_functions(const char *pci, char names[][EGPUHP_PCI_NAME_LEN],
			    size_t max)
{
	char path[4096];
	const char *dot = strrchr(pci, '.');
	size_t prefix, cnt = 0;
	struct dirent *e;
	DIR *d;

	if (!dot)
		return -EINVAL;
	prefix = (size_t)(dot - pci) + 1;	/* "0000:03:00." */
	full_path("bus/pci/devices", path, sizeof(path));
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d)) && cnt < max) {
		if (strlen(e->d_name) < EGPUHP_PCI_NAME_LEN &&
		    !strncmp(e->d_name, pci, prefix))
			snprintf(names[cnt++], EGPUHP_PCI_NAME_LEN, "%.15s", e->d_name);
	}
	closedir(d);
	return (int)cnt;
}
