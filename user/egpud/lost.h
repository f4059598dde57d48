/* SPDX-License-Identifier: GPL-2.0 */
/*
 * After a cable pull: the processes that still hold a lost GPU's device
 * nodes (egpud.conf(5): lost-grace-ms, on-lost).
 *
 *   lost_scan.c  which character devices belong to a PCI function (sysfs),
 *                which processes hold them (/proc), what to do to each:
 *                no daemon state, so unit tests run it on fake trees
 *   lost.c       the daemon's part: node cache, the grace timer, signals,
 *                log lines, events, hooks, the report when the eGPU returns
 */
#ifndef EGPUD_LOST_H
#define EGPUD_LOST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/config.h"

#define EGPUD_LOST_MAX_NODES	16

/* Character devices (st_rdev) of one PCI function. */
struct egpud_lost_nodes {
	size_t n;
	dev_t rdev[EGPUD_LOST_MAX_NODES];
};

/* Add rdev unless it is there already; false when full. */
bool egpud_lost_nodes_add(struct egpud_lost_nodes *nodes, dev_t rdev);
bool egpud_lost_nodes_has(const struct egpud_lost_nodes *nodes, dev_t rdev);

/*
 * The character devices of PCI function pci, read from sysfs and the
 * driver's own /proc files, none of them found by its /dev name:
 *   - every "dev" file in the class devices below the function's sysfs
 *     directory (DRM's card/render nodes, vfio's device cdev, the test
 *     driver's node) that /sys/dev/char knows as a character device;
 *   - the vfio group of its IOMMU group (/sys/class/vfio/<group>/dev);
 *   - with the nvidia driver, its per-GPU minor ("Device Minor" in
 *     /proc/driver/nvidia/gpus/<pci>/information) under the major the
 *     driver registered in /proc/devices.
 * Adds to *nodes; returns how many it added.
 */
int egpud_lost_find_nodes(const char *sysfs_root, const char *proc_root,
			  const char *pci, struct egpud_lost_nodes *nodes);

struct egpud_lost_holder {
	pid_t pid;
	uid_t uid;		/* owner of /proc/PID: who may hear about it */
	char comm[32];		/* /proc/PID/comm, with anything but [A-Za-z0-9._+-] as '_' */
	char node[96];		/* the path it has open (or mapped) */
};

/*
 * Does process pid hold one of nodes open, as a file descriptor or a
 * mapping?  Fills h (pid, comm, node) when it does.
 */
bool egpud_lost_pid_holds(const char *proc_root, pid_t pid,
			  const struct egpud_lost_nodes *nodes,
			  struct egpud_lost_holder *h);

/*
 * Every process in proc_root holding one of nodes: fn once per process.
 * Returns the number of holders, or -errno if proc_root cannot be read.
 */
int egpud_lost_scan(const char *proc_root, const struct egpud_lost_nodes *nodes,
		    void (*fn)(const struct egpud_lost_holder *h, void *arg), void *arg);

enum egpud_lost_action {
	EGPUD_LOST_KEEP,	/* policy keep */
	EGPUD_LOST_TERM,
	EGPUD_LOST_KILL,
	EGPUD_LOST_SPARE,	/* policy says act, but not on this one (why) */
};

/* What on_lost does to holder pid; self is egpud's own pid. */
enum egpud_lost_action egpud_lost_decide(enum egpu_on_lost on_lost, pid_t pid,
					 pid_t self, const char **why);
const char *egpud_lost_action_name(enum egpud_lost_action a);

#endif /* EGPUD_LOST_H */
