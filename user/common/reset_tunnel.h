/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tunnel cycle: the eGPU reset nobody else offers.  De-authorize the
 * Thunderbolt/USB4 router that carries a PCI function (its PCIe tunnel
 * goes down, the enclosure's functions are removed), authorize it again
 * (with the stored key at security level "secure"), wait until the same
 * functions are enumerated again and put their driver binding back
 * (driver_override and the bound driver).  This resets the enclosure's
 * whole PCIe link, which no function-level reset reaches.
 */
#ifndef EGPU_RESET_TUNNEL_H
#define EGPU_RESET_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/egpuhp.h>

#define EGPU_TUNNEL_MAX_FNS	8

struct egpu_tunnel_fn {
	char name[EGPUHP_PCI_NAME_LEN];
	char driver[EGPUHP_DRIVER_NAME_LEN];	/* bound before, "" if none */
	char override[EGPUHP_DRIVER_NAME_LEN];	/* driver_override before */
	bool back;				/* enumerated again */
	char driver_after[EGPUHP_DRIVER_NAME_LEN];
};

struct egpu_tunnel_cycle {
	/* in */
	const char *dev;		/* a PCI function of the eGPU */
	const char *router;		/* router name, or NULL */
	const char *router_uid;		/* or its unique_id (from the kernel), or NULL */
	const char *store_root;		/* enrollment store (keys), NULL = default */
	unsigned int timeout_ms;	/* per wait; 0 = 30000 */
	/* out */
	char router_name[EGPUHP_ROUTER_NAME_LEN];
	char security[EGPUHP_ROUTER_NAME_LEN];
	struct egpu_tunnel_fn fn[EGPU_TUNNEL_MAX_FNS];
	size_t nfn;
	uint64_t gone_ns;		/* de-authorize until the functions left */
	uint64_t back_ns;		/* authorize until they were back */
	uint64_t rebind_ns;		/* restoring the binding */
	uint64_t total_ns;
	char err[256];
};

/* Run the cycle; 0 or -errno with tc->err describing the failure. */
int egpu_tunnel_cycle(struct egpu_tunnel_cycle *tc);

#endif /* EGPU_RESET_TUNNEL_H */
