/* SPDX-License-Identifier: GPL-2.0 */
/*
 * egpud's configuration: one INI-like file, see docs/egpud.conf.5.
 *
 *   [daemon]            socket, socket-group, store, sysfs, netlink-rcvbuf,
 *                       load-module, eject-grace-ms, lost-grace-ms, on-lost,
 *                       metrics-textfile, metrics-refresh
 *   [authorization]     policy, owner
 *   [authorize-rule]    unique-id, vendor-name, device-name, generation, policy
 *                       (repeatable; first match wins)
 *   [driver-rule]       ids, router, slot, driver (repeatable; first match wins)
 *   [hooks]             dir, timeout, events
 *   [workloads]         restore-on-replug, strategy, evacuate-to, warnings, within-s,
 *                       snapshot-interval-ms
 *                       compute-drivers
 *   [workload-rule]     ids, router, slot + the keys of [workloads] (repeatable;
 *                       first match wins; unset keys come from [workloads])
 *
 * Errors are reported as "FILE:LINE:COL: reason".
 */
#ifndef EGPU_CONFIG_H
#define EGPU_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define EGPU_DEFAULT_CONFIG	"/etc/egpuhp/egpud.conf"
#define EGPU_DEFAULT_STORE	"/var/lib/egpuhp"
#define EGPU_DEFAULT_HOOKS	"/etc/egpuhp/hooks.d"
/* snapshot-interval-ms: at most a day */
#define EGPU_SNAPSHOT_INTERVAL_MAX_MS	86400000u

enum egpu_policy {
	EGPU_POLICY_UNSET,	/* rule/store did not say */
	EGPU_POLICY_AUTO,	/* authorize automatically */
	EGPU_POLICY_IOMMU,	/* automatically while iommu_dma_protection=1 */
	EGPU_POLICY_MANUAL,	/* only on request (egpuctl authorize/enroll) */
	EGPU_POLICY_DENY,	/* never, not even on request */
};

enum egpu_owner {
	EGPU_OWNER_AUTO,	/* egpud authorizes unless boltd is running */
	EGPU_OWNER_EGPUD,	/* egpud authorizes even if boltd runs */
	EGPU_OWNER_NONE,	/* egpud never writes authorized */
};

/* What egpud does to processes still holding a lost GPU's device nodes. */
enum egpu_on_lost {
	EGPU_ON_LOST_KEEP,	/* nothing: log and tell */
	EGPU_ON_LOST_TERM,	/* SIGTERM */
	EGPU_ON_LOST_KILL,	/* SIGKILL */
};

const char *egpu_on_lost_name(enum egpu_on_lost a);

struct egpu_auth_rule {
	char *unique_id;	/* fnmatch globs; NULL matches anything */
	char *vendor_name;
	char *device_name;
	int generation;		/* -1: any */
	enum egpu_policy policy;
	unsigned int line;	/* where it was defined, for logs */
};

/*
 * Does r name one device by its exact unique_id?  Rules with policy auto
 * must (egpud.conf(5)): the DROM names are no identity.
 */
bool egpu_auth_rule_names_one_device(const struct egpu_auth_rule *r);

struct egpu_driver_rule {
	int vendor, device;	/* -1: any */
	char *router;		/* unique_id glob of the carrying router */
	char *slot;		/* glob on the GPU's PCI name, parent or port */
	char *driver;		/* e.g. "vfio-pci" */
	unsigned int line;
};

/* What egpud does with checkpointed work when an eGPU comes back. */
enum egpu_replug {
	EGPU_REPLUG_UNSET,
	EGPU_REPLUG_SAME,	/* only onto the same GPU (UUID) / router and chip */
	EGPU_REPLUG_SAME_CHIP,	/* onto any GPU of the chip it ran on */
	EGPU_REPLUG_NO,		/* never by itself (egpuctl restore by hand) */
};

/* What egpud does on warning signs of an eGPU (link, AER, watchdog, router). */
enum egpu_strategy {
	EGPU_STRATEGY_UNSET,
	EGPU_STRATEGY_LAZY,		/* nothing until it is lost */
	EGPU_STRATEGY_EAGER,		/* evacuate on the first warning */
	EGPU_STRATEGY_PREEMPTIVE,	/* evacuate when warnings recur (N within T) */
};

enum egpu_evacuate_to {
	EGPU_EVAC_UNSET,
	EGPU_EVAC_SAME_CHIP,	/* the GPU of that chip with the most free memory */
	EGPU_EVAC_GPU,		/* the GPU named by evacuate_gpu (PCI or UUID) */
	EGPU_EVAC_HOST,		/* checkpoint into host memory */
};

/* The workload policy of [workloads], or of one [workload-rule]. */
struct egpu_workload_policy {
	enum egpu_replug replug;
	enum egpu_strategy strategy;
	enum egpu_evacuate_to evacuate;
	char evacuate_gpu[48];		/* with EGPU_EVAC_GPU */
	unsigned int warnings;		/* preemptive: N warnings ... */
	unsigned int within_s;		/* ... within T seconds; 0: unset */
	/*
	 * snapshot-interval-ms: the period egpud asks libegpu programs that
	 * protect themselves by snapshots to use ("snapshot-interval" line);
	 * 0 leaves it to the program.  Unset in a rule: [workloads]'.
	 */
	bool snapshot_interval_set;
	unsigned int snapshot_interval_ms;
	/*
	 * The GPU drivers whose binding makes a GPU a target of the CUDA
	 * engine (re-plug restores): names separated by spaces; "" unset.
	 */
	char compute_drivers[128];
};

struct egpu_workload_rule {
	int vendor, device;	/* -1: any */
	char *router;		/* unique_id glob of the carrying router */
	char *slot;		/* glob on the GPU's PCI name, parent or port */
	struct egpu_workload_policy policy;
	unsigned int line;
};

struct egpu_config {
	char *path;
	/* [daemon] */
	char *socket_path;
	char *socket_group;	/* NULL: only root may act */
	char *store_dir;
	char *sysfs_root;	/* "/sys", or a fake tree in tests */
	int netlink_rcvbuf;	/* 0: kernel default */
	bool load_module;
	unsigned int eject_grace_ms;	/* libegpu watchers' time to let go */
	/* after a surprise removal: the holders' time to let go, then on_lost */
	unsigned int lost_grace_ms;
	enum egpu_on_lost on_lost;
	char *metrics_textfile;	/* node_exporter textfile (*.prom); NULL: none */
	unsigned int metrics_refresh_s;	/* rewrite period while functions are tracked */
	/* [authorization] */
	enum egpu_policy policy;
	enum egpu_owner owner;
	/* [hooks] */
	char *hooks_dir;
	unsigned int hook_timeout_s;
	uint32_t hook_events;	/* bit (1 << enum egpu_hook_event) */
	struct egpu_auth_rule *auth_rules;
	size_t n_auth_rules;
	struct egpu_driver_rule *driver_rules;
	size_t n_driver_rules;
	/* [workloads] and [workload-rule] (config_workloads.c) */
	struct egpu_workload_policy workloads;
	struct egpu_workload_rule *workload_rules;
	size_t n_workload_rules;
};

/*
 * One key of [workloads] (rule false) or [workload-rule] (rule true, but
 * not ids/router/slot) into p.  Returns 0, -ENOENT for a key it does not
 * know, -EINVAL with why filled for a bad value.
 */
int egpu_workload_policy_key(struct egpu_workload_policy *p, const char *key, const char *v,
			     char *why, size_t len);
/* p with every unset field taken from base (rule over [workloads]). */
void egpu_workload_policy_merge(struct egpu_workload_policy *p,
				const struct egpu_workload_policy *base);
/* A decimal number 0..max of the file ("0x", signs, spaces refused): 0 or -EINVAL. */
int egpu_config_uint(const char *v, unsigned long max, unsigned long *out);
/* Is driver among p's compute-drivers? */
bool egpu_workload_compute_driver(const struct egpu_workload_policy *p, const char *driver);
const char *egpu_replug_name(enum egpu_replug r);
const char *egpu_strategy_name(enum egpu_strategy s);

/* Events hooks can be run for; names in egpu_hook_event_name(). */
enum egpu_hook_event {
	EGPU_HOOK_PCI_ADD,
	EGPU_HOOK_PCI_BOUND,
	EGPU_HOOK_GPU_READY,	/* driver bound to a GPU function */
	EGPU_HOOK_PCI_UNBIND,
	EGPU_HOOK_PCI_REMOVE,
	EGPU_HOOK_PCI_LOST,
	EGPU_HOOK_LINK_CHANGE,
	EGPU_HOOK_ROUTER_ADD,
	EGPU_HOOK_ROUTER_REMOVE,
	EGPU_HOOK_ROUTER_CHANGE,
	EGPU_HOOK_AUTHORIZED,	/* egpud authorized a router */
	EGPU_HOOK_DENIED,	/* egpud left a router unauthorized */
	EGPU_HOOK_DRIVER_SET,	/* egpud applied a driver rule */
	EGPU_HOOK_RESET,
	EGPU_HOOK_QUIRK,
	EGPU_HOOK_WORKLOAD_LOST,	/* a process held a lost GPU (egpud/lost.c) */
	EGPU_HOOK_PCI_SLOW,	/* the watchdog found a function answering late */
	EGPU_HOOK__COUNT,
};

const char *egpu_hook_event_name(enum egpu_hook_event ev);
int egpu_hook_event_from_name(const char *name);	/* -1 if unknown */

const char *egpu_policy_name(enum egpu_policy p);
enum egpu_policy egpu_policy_from_name(const char *name); /* UNSET if unknown */

/* Defaults as documented; returns NULL only on ENOMEM. */
struct egpu_config *egpu_config_new(void);

/*
 * Load a config file (all of it or nothing).  On error returns NULL and
 * writes "FILE:LINE:COL: reason" into err.  A missing file is an error
 * unless missing_ok, in which case the defaults are returned.
 */
struct egpu_config *egpu_config_load(const char *path, bool missing_ok,
				     char *err, size_t errlen);

/* Same, from a string (name is used in messages). */
struct egpu_config *egpu_config_parse(const char *name, const char *text,
				      char *err, size_t errlen);

void egpu_config_free(struct egpu_config *c);

#endif /* EGPU_CONFIG_H */
