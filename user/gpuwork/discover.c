// SPDX-License-Identifier: GPL-2.0
/*
 * Discovery: which processes hold which GPU.
 *
 * Every /proc/PID/fd/N link is read; the device nodes that tie a process
 * to one GPU are mapped to that GPU's PCI address:
 *   /dev/nvidiaN           minor N -> /proc/driver/nvidia/gpus/ * /information
 *   /dev/dri/cardN, renderDN -> /sys/class/drm/<node>/device
 *   /dev/kfd               -> every GPU node of /sys/class/kfd/kfd/topology
 *   /dev/vfio/N            -> /sys/kernel/iommu_groups/N/devices/ *
 *   /dev/vfio/devices/vfioN -> /sys/class/vfio-dev/vfioN/device
 * /dev/nvidiactl and /dev/nvidia-uvm name no GPU and are not counted.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "common/file_read.h"
#include "common/sysfs.h"
#include "gpuwork/gw_internal.h"

const char *gw_node_kind_name(enum gw_node_kind kind)
{
	switch (kind) {
	case GW_NODE_NVIDIA: return "nvidia";
	case GW_NODE_DRM_CARD: return "drm-card";
	case GW_NODE_DRM_RENDER: return "drm-render";
	case GW_NODE_KFD: return "kfd";
	case GW_NODE_VFIO: return "vfio";
	}
	return "?";
}

/* Which kind wins when a process holds several nodes of one GPU. */
static int kind_rank(enum gw_node_kind kind)
{
	switch (kind) {
	case GW_NODE_VFIO: return 5;
	case GW_NODE_NVIDIA: return 4;
	case GW_NODE_KFD: return 3;
	case GW_NODE_DRM_RENDER: return 2;
	case GW_NODE_DRM_CARD: return 1;
	}
	return 0;
}

void gw_users_free(struct gw_users *u)
{
	free(u->v);
	u->v = NULL;
	u->n = u->cap = 0;
}

static int users_add(struct gw_users *u, pid_t pid, const char *comm, const char *pci,
		     enum gw_node_kind kind, const char *node)
{
	struct gw_user *e;
	size_t i;

	for (i = 0; i < u->n; i++) {
		e = &u->v[i];
		if (e->pid != pid || strcmp(e->pci, pci))
			continue;
		if (kind_rank(kind) > kind_rank(e->kind)) {
			e->kind = kind;
			gw_copy(e->node, sizeof(e->node), node);
		}
		e->checkpointable = e->kind == GW_NODE_NVIDIA;
		return 0;
	}
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 16;
		struct gw_user *v = realloc(u->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		u->v = v;
		u->cap = cap;
	}
	e = &u->v[u->n++];
	memset(e, 0, sizeof(*e));
	e->pid = pid;
	gw_copy(e->comm, sizeof(e->comm), comm);
	gw_copy(e->pci, sizeof(e->pci), pci);
	e->kind = kind;
	gw_copy(e->node, sizeof(e->node), node);
	e->checkpointable = kind == GW_NODE_NVIDIA;
	return 0;
}

/* PCI address that a sysfs "device" link (or directory name) points to. */
static int link_pci(const char *path, char *pci, size_t len)
{
	char target[512];
	const char *base;
	ssize_t n;

	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	return gw_pci_normalise(base, pci, len);
}

/* Callback target for one GPU a node leads to. */
struct scan_ctx {
	struct gw_users *out;
	const char *want;	/* normalised PCI filter or NULL */
	const struct gw_gpus *gpus;
	pid_t pid;
	char comm[GW_COMM_LEN];
	int err;
};

static void hit(struct scan_ctx *c, const char *pci, enum gw_node_kind kind, const char *node)
{
	if (c->want && strcmp(c->want, pci))
		return;
	if (users_add(c->out, c->pid, c->comm, pci, kind, node))
		c->err = -ENOMEM;
}

static void node_kfd(struct scan_ctx *c, const char *node)
{
	char dir[256], path[512], text[4096];
	struct dirent *de;
	DIR *d;

	if (gw_path(dir, sizeof(dir), GW_ROOT_SYS, "class/kfd/kfd/topology/nodes"))
		return;
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		unsigned long long domain = 0, loc = 0, simd = 0;
		char pci[GW_PCI_LEN];
		const char *p;

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s/properties", dir, de->d_name) >=
		    (int)sizeof(path))
			continue;
		if (egpu_read_small_file(path, text, sizeof(text)) <= 0)
			continue;
		p = strstr(text, "simd_count ");
		if (p)
			simd = strtoull(p + 11, NULL, 10);
		p = strstr(text, "location_id ");
		if (p)
			loc = strtoull(p + 12, NULL, 10);
		p = strstr(text, "domain ");
		if (p)
			domain = strtoull(p + 7, NULL, 10);
		if (!simd)	/* a CPU node */
			continue;
		snprintf(pci, sizeof(pci), "%04llx:%02llx:%02llx.%llx", domain & 0xffff,
			 (loc >> 8) & 0xff, (loc >> 3) & 0x1f, loc & 7);
		hit(c, pci, GW_NODE_KFD, node);
	}
	closedir(d);
}

static void node_vfio_group(struct scan_ctx *c, const char *group, const char *node)
{
	char dir[256];
	struct dirent *de;
	DIR *d;

	if (gw_path(dir, sizeof(dir), GW_ROOT_SYS, "kernel/iommu_groups/%s/devices", group))
		return;
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char pci[GW_PCI_LEN];

		if (de->d_name[0] == '.' || gw_pci_normalise(de->d_name, pci, sizeof(pci)))
			continue;
		hit(c, pci, GW_NODE_VFIO, node);
	}
	closedir(d);
}

/* One open file of the process: target is what /proc/PID/fd/N points at. */
static void scan_node(struct scan_ctx *c, const char *target)
{
	char path[512], pci[GW_PCI_LEN];
	const char *name;

	if (!strncmp(target, "/dev/nvidia", 11) && egpu_all_digits(target + 11)) {
		const struct gw_gpu *g = gw_gpus_by_minor(c->gpus, atoi(target + 11));

		if (g)
			hit(c, g->pci, GW_NODE_NVIDIA, target);
		return;
	}
	if (!strncmp(target, "/dev/dri/", 9)) {
		name = target + 9;
		if (strncmp(name, "card", 4) && strncmp(name, "renderD", 7))
			return;
		if (gw_path(path, sizeof(path), GW_ROOT_SYS, "class/drm/%s/device", name))
			return;
		if (!link_pci(path, pci, sizeof(pci)))
			hit(c, pci, name[0] == 'c' ? GW_NODE_DRM_CARD : GW_NODE_DRM_RENDER,
			    target);
		return;
	}
	if (!strcmp(target, "/dev/kfd")) {
		node_kfd(c, target);
		return;
	}
	if (!strncmp(target, "/dev/vfio/devices/", 18)) {
		name = target + 18;
		if (gw_path(path, sizeof(path), GW_ROOT_SYS, "class/vfio-dev/%s/device", name))
			return;
		if (!link_pci(path, pci, sizeof(pci)))
			hit(c, pci, GW_NODE_VFIO, target);
		return;
	}
	if (!strncmp(target, "/dev/vfio/", 10) && egpu_all_digits(target + 10))
		node_vfio_group(c, target + 10, target);
}

static void scan_pid(struct scan_ctx *c)
{
	char dir[256], path[512], target[256];
	struct dirent *de;
	DIR *d;

	if (gw_path(dir, sizeof(dir), GW_ROOT_PROC, "%d/fd", (int)c->pid))
		return;
	d = opendir(dir);
	if (!d)
		return;		/* gone, or not ours to read */
	if (gw_proc_comm(c->pid, c->comm, sizeof(c->comm)))
		snprintf(c->comm, sizeof(c->comm), "?");
	while ((de = readdir(d))) {
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, "/dev/", 5))
			continue;
		scan_node(c, target);
	}
	closedir(d);
}

static int user_cmp(const void *a, const void *b)
{
	const struct gw_user *x = a, *y = b;
	int r = strcmp(x->pci, y->pci);

	if (r)
		return r;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

int gw_find_users_of_pid(pid_t pid, struct gw_users *out)
{
	struct scan_ctx c = { .out = out, .pid = pid };
	struct gw_gpus *gpus;
	int err;

	memset(out, 0, sizeof(*out));
	gpus = calloc(1, sizeof(*gpus));
	if (!gpus)
		return -ENOMEM;
	err = gw_gpus_load(gpus);
	if (!err) {
		c.gpus = gpus;
		scan_pid(&c);
		err = c.err;
	}
	free(gpus);
	if (err)
		gw_users_free(out);
	return err;
}

/*
 * Another engine helper (one left by an egpud that was killed holds the
 * GPUs it opened): not a workload.  Only a process of our own uid counts,
 * so a user cannot hide a process of someone else's by naming it so.
 */
static bool engine_helper(const char *proc, const char *pid)
{
	char path[PATH_MAX], comm[32];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/%s", proc, pid) >= (int)sizeof(path) ||
	    stat(path, &st) || st.st_uid != geteuid())
		return false;
	strncat(path, "/comm", sizeof(path) - strlen(path) - 1);
	if (egpu_read_small_file(path, comm, sizeof(comm)) <= 0)
		return false;
	comm[strcspn(comm, "\n")] = '\0';
	return !strcmp(comm, GW_HELPER_COMM);
}

int gw_find_users(const char *pci, struct gw_users *out)
{
	struct scan_ctx c = { .out = out };
	char want[GW_PCI_LEN], dir[256];
	struct gw_gpus *gpus;
	struct dirent *de;
	pid_t self = getpid();
	size_t i;
	DIR *d;
	int err;

	memset(out, 0, sizeof(*out));
	if (pci) {
		if (gw_pci_normalise(pci, want, sizeof(want)))
			return -EINVAL;
		c.want = want;
	}
	gpus = calloc(1, sizeof(*gpus));
	if (!gpus)
		return -ENOMEM;
	err = gw_gpus_load(gpus);
	if (err) {
		free(gpus);
		return err;
	}
	c.gpus = gpus;
	if (gw_path(dir, sizeof(dir), GW_ROOT_PROC, "%s", "")) {
		free(gpus);
		return -ENAMETOOLONG;
	}
	d = opendir(dir);
	if (!d) {
		err = -errno;
		free(gpus);
		return err;
	}
	while ((de = readdir(d)) && !c.err) {
		if (!egpu_all_digits(de->d_name))
			continue;
		c.pid = (pid_t)atoi(de->d_name);
		if (c.pid == self)	/* the engine itself holds every GPU */
			continue;
		if (engine_helper(dir, de->d_name))
			continue;
		scan_pid(&c);
	}
	closedir(d);
	free(gpus);
	if (c.err) {
		gw_users_free(out);
		return c.err;
	}
	for (i = 0; i < out->n; i++) {
		struct gw_user *e = &out->v[i];

		if (e->kind == GW_NODE_NVIDIA && !gw_nvml_proc_mem(e->pci, e->pid, &e->gpu_bytes))
			e->gpu_bytes_known = true;
	}
	if (out->n)
		qsort(out->v, out->n, sizeof(out->v[0]), user_cmp);
	return 0;
}
