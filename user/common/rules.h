/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Policy decisions, kept free of I/O so that unit tests can drive them:
 * which authorization policy applies to a router, whether to authorize it
 * now, and which driver rule applies to a PCI function.
 */
#ifndef EGPU_RULES_H
#define EGPU_RULES_H

#include <stdbool.h>

#include "common/config.h"
#include "common/egpuhp_nl.h"

/* First [authorize-rule] matching r, or NULL. */
const struct egpu_auth_rule *egpu_match_auth_rule(const struct egpu_config *c,
						  const struct egpuhp_router *r);

/*
 * First [driver-rule] matching the function d (vendor/device of the GPU
 * of its group, router unique_id, slot globbed against d's name, parent
 * and port), or NULL.
 */
const struct egpu_driver_rule *egpu_match_driver_rule(const struct egpu_config *c,
						      const struct egpuhp_dev *d);

/*
 * The workload policy for the GPU function d: the first [workload-rule]
 * matching it (as driver rules match), its unset keys from [workloads];
 * or [workloads] alone.  Returns the rule, or NULL.
 */
const struct egpu_workload_rule *egpu_workload_policy_for(const struct egpu_config *c,
							  const struct egpuhp_dev *d,
							  struct egpu_workload_policy *out);

enum egpu_auth_verdict {
	EGPU_AUTH_ALLOW,	/* write authorized now */
	EGPU_AUTH_WAIT,		/* leave it; a user may authorize it */
	EGPU_AUTH_REFUSE,	/* leave it, and refuse requests too (deny) */
	EGPU_AUTH_DEFER,	/* someone else (boltd) owns authorization */
	EGPU_AUTH_NOTHING,	/* nothing to do (already authorized, host router, ...) */
};

struct egpu_auth_input {
	const struct egpuhp_router *router;
	enum egpu_policy stored_policy;	/* from the enrollment store, UNSET if not enrolled */
	bool boltd_running;
	bool requested;			/* a user asked (egpuctl authorize/enroll) */
};

struct egpu_auth_decision {
	enum egpu_auth_verdict verdict;
	enum egpu_policy policy;	/* the policy that decided */
	const struct egpu_auth_rule *rule;	/* the rule it came from, or NULL */
	char reason[160];		/* "policy iommu: domain iommu_dma_protection=1" */
};

void egpu_auth_decide(const struct egpu_config *c, const struct egpu_auth_input *in,
		      struct egpu_auth_decision *out);

const char *egpu_auth_verdict_name(enum egpu_auth_verdict v);

#endif /* EGPU_RULES_H */
