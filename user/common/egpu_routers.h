/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which Thunderbolt routers carry an eGPU: the ones the shutdown command
 * (egpuctl deauthorize --all) de-authorizes.  Docks, Thunderbolt SSDs and
 * NICs must be left alone: their filesystems may still be mounted.
 */
#ifndef EGPU_ROUTERS_H
#define EGPU_ROUTERS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/egpuhp_nl.h"

/* Is r below top, or top itself?  (Route strings: each hop adds a byte.) */
bool egpu_tb_router_below(const struct egpuhp_router *top, const struct egpuhp_router *r);

/*
 * Mark in pick[i] the authorized device routers of v[0..n-1] that carry an
 * eGPU, and the routers below them (de-authorizing a router cuts them off
 * anyway; deepest first is the caller's order).
 *
 * With the module's view (devs != NULL): a router whose unique_id is the
 * router_uid of a GPU function (display or accelerator class).  Without it,
 * or where the module could not link a GPU to a router: sysfs, where a
 * function of display/3D class behind an external-facing port (removable)
 * proves an eGPU is connected but not which router carries it; only a sole
 * authorized device router is then picked.  Returns how many routers were
 * picked; 0 with why filled when none is.
 */
size_t egpu_pick_egpu_routers(const struct egpuhp_router *v, size_t n,
			      const struct egpuhp_dev *devs, size_t n_devs, bool *pick,
			      char *why, size_t len);

/*
 * De-authorize, deepest first, the routers egpu_pick_egpu_routers() picks
 * from sysfs's list; done(r, err, ctx) is told each one's result (0 or
 * -errno).  Returns how many were de-authorized, or -errno if the routers
 * could not be listed.  why is filled when none was picked.
 */
int egpu_deauthorize_egpu_routers(const struct egpuhp_dev *devs, size_t n_devs,
				  void (*done)(const struct egpuhp_router *r, int err, void *ctx),
				  void *ctx, char *why, size_t len);

#endif /* EGPU_ROUTERS_H */
