// SPDX-License-Identifier: GPL-2.0
/*
 * Who still holds a lost GPU: the function's character devices from sysfs,
 * then every process's open files and mappings compared with them by
 * device number (st_rdev), never by /dev name: a node may be named
 * anything, live in a container's /dev, or belong to a driver egpud has
 * never heard of.  gpuwork's discovery (gpuwork/discover.c) goes the other
 * way, from a /dev name to a GPU, for the drivers whose names it knows.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/file_read.h"
#include "common/sysfs.h"
#include "egpud/lost.h"

/* How deep class devices sit below a function: BDF/drm/card0/dev. */
#define NODE_WALK_DEPTH		3

bool egpud_lost_nodes_has(const struct egpud_lost_nodes *nodes, dev_t rdev)
{
	size_t i;

	for (i = 0; i < nodes->n; i++)
		if (nodes->rdev[i] == rdev)
			return true;
	return false;
}

bool egpud_lost_nodes_add(struct egpud_lost_nodes *nodes, dev_t rdev)
{
	if (egpud_lost_nodes_has(nodes, rdev))
		return true;
	if (nodes->n == EGPUD_LOST_MAX_NODES)
		return false;
	nodes->rdev[nodes->n++] = rdev;
	return true;
}

/* "MAJOR:MINOR" (a sysfs dev file) into *rdev. */
static int parse_devnum(const char *s, dev_t *rdev)
{
	unsigned int maj, min;
	char tail;

	if (sscanf(s, "%u:%u%c", &maj, &min, &tail) != 2)
		return -EINVAL;
	*rdev = makedev(maj, min);
	return 0;
}

/* Is rdev a character device the kernel knows (/sys/dev/char/M:m)? */
static bool is_char_dev(const char *sysfs_root, dev_t rdev)
{
	char path[512];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/dev/char/%u:%u", sysfs_root,
		     major(rdev), minor(rdev)) >= (int)sizeof(path))
		return false;
	return lstat(path, &st) == 0;
}

static int add_dev_file(const char *sysfs_root, const char *path,
			struct egpud_lost_nodes *nodes)
{
	char text[32];
	dev_t rdev;

	if (egpu_read_small_file(path, text, sizeof(text)) <= 0)
		return 0;
	text[strcspn(text, "\n")] = '\0';
	if (parse_devnum(text, &rdev) || !is_char_dev(sysfs_root, rdev))
		return 0;
	if (egpud_lost_nodes_has(nodes, rdev))
		return 0;
	return egpud_lost_nodes_add(nodes, rdev) ? 1 : 0;
}

/* A PCI function's name ("0000:01:00.0"): a bridge's children are no nodes of it. */
static bool looks_like_pci_name(const char *s)
{
	unsigned int dom, bus, dev, fn;
	char tail;

	return sscanf(s, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail) == 4;
}

/* The "dev" files of class devices below dir (real directories only, no links). */
static int walk_dev_files(const char *sysfs_root, const char *dir, int depth,
			  struct egpud_lost_nodes *nodes)
{
	struct dirent *de;
	int added = 0;
	DIR *d;

	if (depth > NODE_WALK_DEPTH)
		return 0;
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[1024];
		struct stat st;

		if (de->d_name[0] == '.' || looks_like_pci_name(de->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			added += walk_dev_files(sysfs_root, path, depth + 1, nodes);
		else if (S_ISREG(st.st_mode) && depth > 0 && !strcmp(de->d_name, "dev"))
			added += add_dev_file(sysfs_root, path, nodes);
	}
	closedir(d);
	return added;
}

/* The legacy vfio group node of the function's IOMMU group. */
static int add_vfio_group(const char *sysfs_root, const char *fn_dir,
			  struct egpud_lost_nodes *nodes)
{
	char path[1024], target[512];
	const char *group;
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s/iommu_group", fn_dir) >= (int)sizeof(path))
		return 0;
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	group = strrchr(target, '/');
	group = group ? group + 1 : target;
	if (!egpu_all_digits(group))
		return 0;
	if (snprintf(path, sizeof(path), "%s/class/vfio/%s/dev", sysfs_root, group) >=
	    (int)sizeof(path))
		return 0;
	return add_dev_file(sysfs_root, path, nodes);
}

/* The major a driver registered under name, from /proc/devices; -1 if none. */
static int char_major(const char *proc_root, const char *const names[])
{
	char path[512], line[128];
	bool in_char = false;
	int found = -1;
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/devices", proc_root) >= (int)sizeof(path))
		return -1;
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (found < 0 && fgets(line, sizeof(line), f)) {
		char name[64];
		int maj;
		size_t i;

		if (!strncmp(line, "Character devices:", 18)) {
			in_char = true;
			continue;
		}
		if (!strncmp(line, "Block devices:", 14))
			in_char = false;
		if (!in_char || sscanf(line, "%d %63s", &maj, name) != 2)
			continue;
		for (i = 0; names[i]; i++)
			if (!strcmp(name, names[i]))
				found = maj;
	}
	fclose(f);
	return found;
}

/* nvidia's per-GPU node: no class device in sysfs, its minor in /proc. */
static int add_nvidia(const char *proc_root, const char *pci,
		      struct egpud_lost_nodes *nodes)
{
	static const char *const names[] = { "nvidia-frontend", "nvidia", NULL };
	char path[512], text[4096];
	const char *p;
	int maj;
	unsigned int minor_nr;

	if (snprintf(path, sizeof(path), "%s/driver/nvidia/gpus/%s/information",
		     proc_root, pci) >= (int)sizeof(path))
		return 0;
	if (egpu_read_small_file(path, text, sizeof(text)) <= 0)
		return 0;
	p = strstr(text, "Device Minor:");
	if (!p || sscanf(p + 13, "%u", &minor_nr) != 1)
		return 0;
	maj = char_major(proc_root, names);
	if (maj < 0 || egpud_lost_nodes_has(nodes, makedev((unsigned int)maj, minor_nr)))
		return 0;
	return egpud_lost_nodes_add(nodes, makedev((unsigned int)maj, minor_nr)) ? 1 : 0;
}

int egpud_lost_find_nodes(const char *sysfs_root, const char *proc_root,
			  const char *pci, struct egpud_lost_nodes *nodes)
{
	char dir[512];
	int added;

	if (!looks_like_pci_name(pci) ||
	    snprintf(dir, sizeof(dir), "%s/bus/pci/devices/%s", sysfs_root, pci) >=
	    (int)sizeof(dir))
		return 0;
	added = walk_dev_files(sysfs_root, dir, 0, nodes);
	added += add_vfio_group(sysfs_root, dir, nodes);
	added += add_nvidia(proc_root, pci, nodes);
	return added;
}

static void read_comm(const char *proc_root, pid_t pid, char *buf, size_t len)
{
	char path[512];
	size_t i;

	buf[0] = '\0';
	if (snprintf(path, sizeof(path), "%s/%d/comm", proc_root, (int)pid) < (int)sizeof(path))
		egpu_read_small_file(path, buf, len);
	buf[strcspn(buf, "\n")] = '\0';
	/* the process names itself: it goes into log lines and event lines */
	for (i = 0; buf[i]; i++) {
		char ch = buf[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' ||
		      ch == '+'))
			buf[i] = '_';
	}
	if (!buf[0])
		snprintf(buf, len, "?");
}

/* An entry of dir (fd/ or map_files/) that resolves to one of nodes. */
static bool dir_holds(const char *dir, const struct egpud_lost_nodes *nodes,
		      char *node, size_t len)
{
	struct dirent *de;
	bool found = false;
	DIR *d = opendir(dir);

	if (!d)
		return false;	/* gone, or not ours to read */
	while (!found && (de = readdir(d))) {
		struct stat st;
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		/* follows the link to the open file itself: no open(), no name */
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISCHR(st.st_mode) ||
		    !egpud_lost_nodes_has(nodes, st.st_rdev))
			continue;
		found = true;
		n = readlinkat(dirfd(d), de->d_name, node, len - 1);
		node[n > 0 ? n : 0] = '\0';
		if (n <= 0)
			snprintf(node, len, "char %u:%u", major(st.st_rdev), minor(st.st_rdev));
	}
	closedir(d);
	return found;
}

bool egpud_lost_pid_holds(const char *proc_root, pid_t pid,
			  const struct egpud_lost_nodes *nodes,
			  struct egpud_lost_holder *h)
{
	static const char *const dirs[] = { "fd", "map_files" };
	char dir[512];
	size_t i;

	memset(h, 0, sizeof(*h));
	if (!nodes->n)
		return false;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (snprintf(dir, sizeof(dir), "%s/%d/%s", proc_root, (int)pid, dirs[i]) >=
		    (int)sizeof(dir))
			return false;
		if (dir_holds(dir, nodes, h->node, sizeof(h->node))) {
			struct stat st;

			snprintf(dir, sizeof(dir), "%s/%d", proc_root, (int)pid);
			h->pid = pid;
			h->uid = stat(dir, &st) == 0 ? st.st_uid : 0;
			read_comm(proc_root, pid, h->comm, sizeof(h->comm));
			return true;
		}
	}
	return false;
}

int egpud_lost_scan(const char *proc_root, const struct egpud_lost_nodes *nodes,
		    void (*fn)(const struct egpud_lost_holder *h, void *arg), void *arg)
{
	struct dirent *de;
	int found = 0;
	DIR *d = opendir(proc_root);

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct egpud_lost_holder h;
		long pid;

		if (!egpu_all_digits(de->d_name))
			continue;
		pid = strtol(de->d_name, NULL, 10);
		if (pid <= 0 || !egpud_lost_pid_holds(proc_root, (pid_t)pid, nodes, &h))
			continue;
		found++;
		fn(&h, arg);
	}
	closedir(d);
	return found;
}

enum egpud_lost_action egpud_lost_decide(enum egpu_on_lost on_lost, pid_t pid,
					 pid_t self, const char **why)
{
	*why = NULL;
	if (on_lost == EGPU_ON_LOST_KEEP) {
		*why = "on-lost = keep";
		return EGPUD_LOST_KEEP;
	}
	if (pid == 1) {
		*why = "init is never signalled";
		return EGPUD_LOST_SPARE;
	}
	if (pid == self) {
		*why = "egpud itself";
		return EGPUD_LOST_SPARE;
	}
	return on_lost == EGPU_ON_LOST_KILL ? EGPUD_LOST_KILL : EGPUD_LOST_TERM;
}

const char *egpud_lost_action_name(enum egpud_lost_action a)
{
	switch (a) {
	case EGPUD_LOST_KEEP: return "kept";
	case EGPUD_LOST_TERM: return "sigterm";
	case EGPUD_LOST_KILL: return "sigkill";
	case EGPUD_LOST_SPARE: return "spared";
	}
	return "?";
}
