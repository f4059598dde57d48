// SPDX-License-Identifier: GPL-2.0
/*
 * The workload keys of egpud.conf ([workloads], [workload-rule]): what
 * egpud does with GPU work when an eGPU shows warning signs and when it
 * comes back (egpud.conf(5)).  config.c finds the sections and the rule
 * matching keys; the values are read here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

static const char *const replug_names[] = {
	[EGPU_REPLUG_UNSET] = "unset",
	[EGPU_REPLUG_SAME] = "same",
	[EGPU_REPLUG_SAME_CHIP] = "same-chip",
	[EGPU_REPLUG_NO] = "no",
};

static const char *const strategy_names[] = {
	[EGPU_STRATEGY_UNSET] = "unset",
	[EGPU_STRATEGY_LAZY] = "lazy",
	[EGPU_STRATEGY_EAGER] = "eager",
	[EGPU_STRATEGY_PREEMPTIVE] = "preemptive",
};

const char *egpu_replug_name(enum egpu_replug r)
{
	return (unsigned int)r <= EGPU_REPLUG_NO ? replug_names[r] : "unset";
}

const char *egpu_strategy_name(enum egpu_strategy s)
{
	return (unsigned int)s <= EGPU_STRATEGY_PREEMPTIVE ? strategy_names[s] : "unset";
}

static int name_index(const char *const *names, int n, const char *v)
{
	int i;

	for (i = 1; i < n; i++)
		if (!strcmp(v, names[i]))
			return i;
	return 0;
}

/* A count 1..max (0 is no count: "unset" in a rule). */
static int read_count(const char *v, unsigned int max, unsigned int *out)
{
	unsigned long x;

	if (egpu_config_uint(v, max, &x) || !x)
		return -EINVAL;
	*out = (unsigned int)x;
	return 0;
}

/* A GPU named by a PCI address or a UUID ("GPU-" and hex digits, dashes). */
static bool gpu_name_ok(const char *v)
{
	size_t l = strlen(v);

	if (!l || l >= sizeof(((struct egpu_workload_policy *)0)->evacuate_gpu))
		return false;
	if (!strncmp(v, "GPU-", 4))
		return l > 4 && !v[4 + strspn(v + 4, "0123456789abcdefABCDEF-")];
	return !v[strspn(v, "0123456789abcdefABCDEF:.")] && strchr(v, ':');
}

int egpu_workload_policy_key(struct egpu_workload_policy *p, const char *key, const char *v,
			     char *why, size_t len)
{
	int i;

	if (!strcmp(key, "restore-on-replug")) {
		i = name_index(replug_names, EGPU_REPLUG_NO + 1, v);
		if (!i) {
			snprintf(why, len, "restore-on-replug: expected same, same-chip or no, "
				 "got \"%s\"", v);
			return -EINVAL;
		}
		p->replug = i;
		return 0;
	}
	if (!strcmp(key, "strategy")) {
		i = name_index(strategy_names, EGPU_STRATEGY_PREEMPTIVE + 1, v);
		if (!i) {
			snprintf(why, len, "strategy: expected lazy, eager or preemptive, got "
				 "\"%s\"", v);
			return -EINVAL;
		}
		p->strategy = i;
		return 0;
	}
	if (!strcmp(key, "evacuate-to")) {
		if (!strcmp(v, "same-chip")) {
			p->evacuate = EGPU_EVAC_SAME_CHIP;
		} else if (!strcmp(v, "host")) {
			p->evacuate = EGPU_EVAC_HOST;
		} else if (gpu_name_ok(v)) {
			p->evacuate = EGPU_EVAC_GPU;
			snprintf(p->evacuate_gpu, sizeof(p->evacuate_gpu), "%s", v);
		} else {
			snprintf(why, len, "evacuate-to: expected same-chip, host, a PCI address "
				 "or a GPU UUID, got \"%s\"", v);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(key, "compute-drivers")) {
		size_t l = strlen(v);

		if (!l || l >= sizeof(p->compute_drivers) ||
		    v[strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_- ")] ||
		    !v[strspn(v, " ")]) {
			snprintf(why, len, "compute-drivers: expected driver names (a-z, 0-9, "
				 "_ and -) separated by spaces, got \"%s\"", v);
			return -EINVAL;
		}
		memcpy(p->compute_drivers, v, l + 1);
		return 0;
	}
	if (!strcmp(key, "warnings")) {
		if (read_count(v, 1000, &p->warnings)) {
			snprintf(why, len, "warnings: expected a count 1..1000, got \"%s\"", v);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(key, "within-s")) {
		if (read_count(v, 86400, &p->within_s)) {
			snprintf(why, len, "within-s: expected seconds 1..86400, got \"%s\"", v);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(key, "snapshot-interval-ms")) {
		unsigned long x;

		if (egpu_config_uint(v, EGPU_SNAPSHOT_INTERVAL_MAX_MS, &x)) {
			snprintf(why, len, "snapshot-interval-ms: expected milliseconds 0..%u "
				 "(0: the program's own), got \"%s\"",
				 EGPU_SNAPSHOT_INTERVAL_MAX_MS, v);
			return -EINVAL;
		}
		p->snapshot_interval_ms = (unsigned int)x;
		p->snapshot_interval_set = true;
		return 0;
	}
	return -ENOENT;
}

void egpu_workload_policy_merge(struct egpu_workload_policy *p,
				const struct egpu_workload_policy *base)
{
	if (p->replug == EGPU_REPLUG_UNSET)
		p->replug = base->replug;
	if (p->strategy == EGPU_STRATEGY_UNSET)
		p->strategy = base->strategy;
	if (p->evacuate == EGPU_EVAC_UNSET) {
		p->evacuate = base->evacuate;
		memcpy(p->evacuate_gpu, base->evacuate_gpu, sizeof(p->evacuate_gpu));
	}
	if (!p->compute_drivers[0])
		memcpy(p->compute_drivers, base->compute_drivers, sizeof(p->compute_drivers));
	if (!p->warnings)
		p->warnings = base->warnings;
	if (!p->within_s)
		p->within_s = base->within_s;
	if (!p->snapshot_interval_set) {
		p->snapshot_interval_set = base->snapshot_interval_set;
		p->snapshot_interval_ms = base->snapshot_interval_ms;
	}
}

bool egpu_workload_compute_driver(const struct egpu_workload_policy *p, const char *driver)
{
	const char *s = p->compute_drivers;
	size_t dl = strlen(driver);

	while (dl && *s) {
		size_t n;

		s += strspn(s, " ");
		n = strcspn(s, " ");
		if (n == dl && !strncmp(s, driver, n))
			return true;
		s += n;
	}
	return false;
}
