/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's view of the module's state, fed by events and by dumps.
 *
 * Every notification carries a sequence number (1, 2, ...).  The tracker
 * handles each number at most once; a gap or a socket overrun sets
 * need_resync, and the next egpu_tracker_resync() with a full dump brings
 * the table up to date, calling the "added"/"removed" callbacks only for
 * what changed.  Because callbacks fire on state transitions (unknown ->
 * present -> gone), the same device is never acted on twice however the
 * events and dumps overlap.
 */
#ifndef EGPU_TRACKER_H
#define EGPU_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/egpuhp_nl.h"

struct egpu_tracker_ops {
	/* a function/router became known (resync: found by a dump) */
	void (*dev_added)(void *ctx, const struct egpuhp_dev *d, bool resync);
	/* a known function's driver changed to d->driver ("" = unbound) */
	void (*dev_driver)(void *ctx, const struct egpuhp_dev *d, bool resync);
	void (*dev_removed)(void *ctx, const struct egpuhp_dev *d, uint32_t flags,
			    bool resync);
	void (*router_added)(void *ctx, const struct egpuhp_router *r, bool resync);
	void (*router_changed)(void *ctx, const struct egpuhp_router *r, bool resync);
	void (*router_removed)(void *ctx, const struct egpuhp_router *r, bool resync);
	/* every event handled (not skipped), after the table was updated */
	void (*event)(void *ctx, const struct egpuhp_nl_event *ev);
};

struct egpu_tracker {
	const struct egpu_tracker_ops *ops;
	void *ctx;
	uint64_t last_seq;	/* highest sequence number accounted for */
	bool need_resync;
	bool synced;		/* a resync has happened at least once */
	uint64_t resyncs, gaps, overruns, handled, skipped;
	struct egpuhp_dev *devs;
	size_t n_devs, cap_devs;
	struct egpuhp_router *routers;
	size_t n_routers, cap_routers;
};

void egpu_tracker_init(struct egpu_tracker *t, const struct egpu_tracker_ops *ops,
		       void *ctx);
void egpu_tracker_free(struct egpu_tracker *t);

/*
 * One notification.  Returns true if it was handled, false if it was a
 * duplicate/old one or arrived while a resync is pending.
 */
bool egpu_tracker_event(struct egpu_tracker *t, const struct egpuhp_nl_event *ev);

/* The socket overran (ENOBUFS): a resync is needed. */
void egpu_tracker_overrun(struct egpu_tracker *t);

/*
 * Apply a full snapshot: events_seq is the module's event counter read
 * BEFORE the dumps (EGPUHP_STATS_A_EVENTS), so every later event is still
 * handled, and earlier ones are already reflected in the dump.
 */
void egpu_tracker_resync(struct egpu_tracker *t, uint64_t events_seq,
			 const struct egpuhp_dev *devs, size_t n_devs,
			 const struct egpuhp_router *routers, size_t n_routers);

const struct egpuhp_dev *egpu_tracker_dev(const struct egpu_tracker *t,
					  const char *name);
const struct egpuhp_router *egpu_tracker_router(const struct egpu_tracker *t,
						const char *name);

#endif /* EGPU_TRACKER_H */
