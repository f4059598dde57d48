/* SPDX-License-Identifier: GPL-2.0 */
/*
 * egpud's state for fleets: one snapshot, two readers.
 *
 *   egpu_metrics_write()  the Prometheus text exposition format (what
 *                         node_exporter's textfile collector reads and what
 *                         "egpuctl metrics" prints), docs/egpud.8;
 *   egpu_health_eval()    one verdict for the node ("egpuctl health", a
 *                         node-problem-detector plugin), common/health.c.
 *
 * The snapshot holds what is connected now and counters since egpud
 * started; it is filled by egpud (egpud/metrics.c) and by unit tests.
 * Nothing here reads the system, so both readers are pure functions of it.
 */
#ifndef EGPU_METRICS_H
#define EGPU_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/egpuhp_nl.h"

/* How a PCI function went away (EGPUHP_EV_PCI_REMOVE's flags). */
enum egpu_removal_kind {
	EGPU_REMOVAL_SURPRISE,	/* EGPUHP_F_SURPRISE: the device was already gone */
	EGPU_REMOVAL_ORDERLY,	/* EGPUHP_F_ORDERLY */
	EGPU_REMOVAL_UNKNOWN,	/* neither flag, or found gone by a resync */
	EGPU_REMOVAL__COUNT,
};

const char *egpu_removal_kind_name(enum egpu_removal_kind k);
enum egpu_removal_kind egpu_removal_kind_of(uint32_t flags);

/* Counters since egpud started (Prometheus handles the reset at a restart). */
struct egpu_metrics_counters {
	uint64_t removals[EGPU_REMOVAL__COUNT];
	uint64_t lost;			/* EGPUHP_EV_PCI_LOST: the watchdog */
	uint64_t slow;			/* EGPUHP_EV_PCI_SLOW: the watchdog */
	uint64_t quirks_applied;	/* EGPUHP_EV_QUIRK_APPLIED */
	/* EGPUHP_EV_RESET_END by method; [1] when result != 0 */
	uint64_t resets[EGPUHP_RESET_MAX + 1][2];
	uint64_t events, resyncs, gaps, overruns;
};

/* Count one module event (the tracker handled it). */
void egpu_metrics_count_event(struct egpu_metrics_counters *c,
			      const struct egpuhp_nl_event *ev);

/* A tracked PCI function, with what sysfs adds to the module's view. */
struct egpu_metrics_fn {
	struct egpuhp_dev dev;
	bool has_aer;			/* the function reports AER counters */
	uint64_t aer_correctable;	/* aer_dev_correctable TOTAL_ERR_COR */
};

/* A router connected now, or an enrolled device that is not. */
struct egpu_metrics_router {
	struct egpuhp_router r;		/* name "" when not connected */
	bool connected;
	bool enrolled;
};

struct egpu_metrics {
	bool egpud_up;			/* false: written by egpud on its way out */
	bool module_connected;
	bool watchdog_known;
	uint32_t watchdog_ms;		/* the module's presence-check period, 0 = off */
	const struct egpu_metrics_fn *fns;
	size_t n_fns;
	const struct egpu_metrics_router *routers;
	size_t n_routers;
	struct egpu_metrics_counters counters;
	unsigned int checkpointed;	/* processes checkpointed, not restored */
	unsigned int protected_programs;	/* libegpu watchers connected */
};

/* The text exposition format (version 0.0.4), every family with HELP/TYPE. */
void egpu_metrics_write(FILE *out, const struct egpu_metrics *m);

/*
 * TOTAL_ERR_COR out of a PCI function's aer_dev_correctable file (lines
 * "NAME COUNT").  0, or -EINVAL when the text has no such line.
 */
int egpu_aer_parse_total(const char *text, uint64_t *total);
/*
 * The same count read from sysfs for the PCI function pci: 0, -ENOENT
 * when it has no aer_dev_correctable file, -EINVAL when that has no total.
 */
int egpu_aer_read_correctable(const char *pci, uint64_t *total);

/* --- health (common/health.c) --- */

enum egpu_health_status {
	EGPU_HEALTH_OK,		/* every eGPU ready, or none connected */
	EGPU_HEALTH_PROBLEM,	/* one is lost, not ready or degraded */
	EGPU_HEALTH_UNKNOWN,	/* cannot tell (no module) */
};

/* The verdict on one GPU function. */
enum egpu_gpu_state {
	EGPU_GPU_READY,		/* driver bound, answering, link at its capability */
	EGPU_GPU_NO_DRIVER,	/* enumerated, no driver bound (not ready) */
	EGPU_GPU_LOST,		/* enumerated but not answering (watchdog) */
	EGPU_GPU_DEGRADED,	/* link below its capability */
};

const char *egpu_gpu_state_name(enum egpu_gpu_state s);
/* The link trained below what both ends can do (speed or width)? */
bool egpu_link_below_capability(const struct egpuhp_link *l);
enum egpu_gpu_state egpu_gpu_state_of(const struct egpuhp_dev *d);

/*
 * The node's verdict; msg gets one line for a human (and for
 * node-problem-detector, which shows the first max_output_length bytes).
 */
enum egpu_health_status egpu_health_eval(const struct egpu_metrics *m, char *msg,
					 size_t len);

/* "data" of the health verb's JSON envelope (docs/egpuctl-json.md). */
void egpu_health_json(FILE *out, const struct egpu_metrics *m,
		      enum egpu_health_status st, const char *msg);

#endif /* EGPU_METRICS_H */
