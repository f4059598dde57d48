// SPDX-License-Identifier: GPL-2.0
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "common/rules.h"

static bool glob_ok(const char *pattern, const char *s)
{
	return !pattern || fnmatch(pattern, s, 0) == 0;
}

const struct egpu_auth_rule *egpu_match_auth_rule(const struct egpu_config *c,
						  const struct egpuhp_router *r)
{
	size_t i;

	for (i = 0; i < c->n_auth_rules; i++) {
		const struct egpu_auth_rule *rule = &c->auth_rules[i];

		if (glob_ok(rule->unique_id, r->unique_id) &&
		    glob_ok(rule->vendor_name, r->vendor_name) &&
		    glob_ok(rule->device_name, r->device_name) &&
		    (rule->generation < 0 || (unsigned int)rule->generation == r->generation))
			return rule;
	}
	return NULL;
}

/* A rule's ids, router and slot against the function d (driver and workload rules). */
static bool dev_matches(int vendor, int device, const char *router, const char *slot,
			const struct egpuhp_dev *d)
{
	if (vendor >= 0 && vendor != d->vendor)
		return false;
	if (device >= 0 && device != d->device)
		return false;
	if (router && (!d->router_uid[0] || fnmatch(router, d->router_uid, 0)))
		return false;
	if (slot && fnmatch(slot, d->name, 0) &&
	    (!d->parent[0] || fnmatch(slot, d->parent, 0)) &&
	    (!d->port[0] || fnmatch(slot, d->port, 0)))
		return false;
	return true;
}

const struct egpu_driver_rule *egpu_match_driver_rule(const struct egpu_config *c,
						      const struct egpuhp_dev *d)
{
	size_t i;

	for (i = 0; i < c->n_driver_rules; i++) {
		const struct egpu_driver_rule *rule = &c->driver_rules[i];

		if (dev_matches(rule->vendor, rule->device, rule->router, rule->slot, d))
			return rule;
	}
	return NULL;
}

const struct egpu_workload_rule *egpu_workload_policy_for(const struct egpu_config *c,
							  const struct egpuhp_dev *d,
							  struct egpu_workload_policy *out)
{
	const struct egpu_workload_rule *rule = NULL;
	size_t i;

	for (i = 0; d && i < c->n_workload_rules && !rule; i++)
		if (dev_matches(c->workload_rules[i].vendor, c->workload_rules[i].device,
				c->workload_rules[i].router, c->workload_rules[i].slot, d))
			rule = &c->workload_rules[i];
	if (rule) {
		*out = rule->policy;
		egpu_workload_policy_merge(out, &c->workloads);
	} else {
		*out = c->workloads;
	}
	return rule;
}

const char *egpu_auth_verdict_name(enum egpu_auth_verdict v)
{
	switch (v) {
	case EGPU_AUTH_ALLOW: return "authorize";
	case EGPU_AUTH_WAIT: return "wait";
	case EGPU_AUTH_REFUSE: return "deny";
	case EGPU_AUTH_DEFER: return "defer";
	default: return "nothing";
	}
}

void egpu_auth_decide(const struct egpu_config *c, const struct egpu_auth_input *in,
		      struct egpu_auth_decision *out)
{
	const struct egpuhp_router *r = in->router;
	const struct egpu_auth_rule *rule;
	const char *src;

	memset(out, 0, sizeof(*out));
	if (r->depth == 0) {
		out->verdict = EGPU_AUTH_NOTHING;
		snprintf(out->reason, sizeof(out->reason), "host router");
		return;
	}
	if (r->authorized) {
		out->verdict = EGPU_AUTH_NOTHING;
		snprintf(out->reason, sizeof(out->reason), "already authorized=%u",
			 r->authorized);
		return;
	}
	if (r->security[0] && strcmp(r->security, "user") && strcmp(r->security, "secure")) {
		out->verdict = EGPU_AUTH_NOTHING;
		snprintf(out->reason, sizeof(out->reason),
			 "domain security level %s needs no authorization", r->security);
		return;
	}

	/* Which policy: an explicit rule, else the enrollment, else the default. */
	rule = egpu_match_auth_rule(c, r);
	if (rule) {
		out->rule = rule;
		out->policy = rule->policy;
		src = "rule";
	} else if (in->stored_policy != EGPU_POLICY_UNSET) {
		out->policy = in->stored_policy;
		src = "enrolled";
	} else {
		out->policy = c->policy;
		src = "default";
	}

	if (out->policy == EGPU_POLICY_DENY) {
		out->verdict = EGPU_AUTH_REFUSE;
		if (rule)
			snprintf(out->reason, sizeof(out->reason),
				 "policy deny (rule at line %u)", rule->line);
		else
			snprintf(out->reason, sizeof(out->reason), "policy deny (%s)", src);
		return;
	}
	if (in->requested) {
		out->verdict = EGPU_AUTH_ALLOW;
		snprintf(out->reason, sizeof(out->reason), "requested by user, policy %s (%s)",
			 egpu_policy_name(out->policy), src);
		return;
	}
	if (c->owner == EGPU_OWNER_NONE) {
		out->verdict = EGPU_AUTH_DEFER;
		snprintf(out->reason, sizeof(out->reason), "authorization owner is none");
		return;
	}
	if (in->boltd_running && c->owner != EGPU_OWNER_EGPUD) {
		out->verdict = EGPU_AUTH_DEFER;
		snprintf(out->reason, sizeof(out->reason),
			 "boltd is running and owns authorization (set owner = egpud to override)");
		return;
	}
	switch (out->policy) {
	case EGPU_POLICY_AUTO:
		out->verdict = EGPU_AUTH_ALLOW;
		snprintf(out->reason, sizeof(out->reason), "policy auto (%s)", src);
		break;
	case EGPU_POLICY_IOMMU:
		out->verdict = r->iommu_prot ? EGPU_AUTH_ALLOW : EGPU_AUTH_WAIT;
		snprintf(out->reason, sizeof(out->reason),
			 "policy iommu (%s): domain iommu_dma_protection=%u", src,
			 r->iommu_prot);
		break;
	default:
		out->verdict = EGPU_AUTH_WAIT;
		snprintf(out->reason, sizeof(out->reason),
			 "policy manual (%s): waiting for egpuctl authorize", src);
		break;
	}
}
