// SPDX-License-Identifier: GPL-2.0
/*
 * egpud.conf parser.  Deliberately strict: an unknown key or a bad value is
 * an error with its exact position, because a silently ignored typo in a
 * security policy is worse than a daemon that refuses to start.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

#define EGPU_CONFIG_MAX_SIZE (1 << 20)

static const char *const hook_names[EGPU_HOOK__COUNT] = {
	[EGPU_HOOK_PCI_ADD] = "pci-add",
	[EGPU_HOOK_PCI_BOUND] = "pci-bound",
	[EGPU_HOOK_GPU_READY] = "gpu-ready",
	[EGPU_HOOK_PCI_UNBIND] = "pci-unbind",
	[EGPU_HOOK_PCI_REMOVE] = "pci-remove",
	[EGPU_HOOK_PCI_LOST] = "pci-lost",
	[EGPU_HOOK_LINK_CHANGE] = "link-change",
	[EGPU_HOOK_ROUTER_ADD] = "router-add",
	[EGPU_HOOK_ROUTER_REMOVE] = "router-remove",
	[EGPU_HOOK_ROUTER_CHANGE] = "router-change",
	[EGPU_HOOK_AUTHORIZED] = "authorized",
	[EGPU_HOOK_DENIED] = "denied",
	[EGPU_HOOK_DRIVER_SET] = "driver-set",
	[EGPU_HOOK_RESET] = "reset",
	[EGPU_HOOK_QUIRK] = "quirk",
	[EGPU_HOOK_WORKLOAD_LOST] = "workload-lost",
	[EGPU_HOOK_PCI_SLOW] = "pci-slow",
};

static const char *const on_lost_names[] = {
	[EGPU_ON_LOST_KEEP] = "keep",
	[EGPU_ON_LOST_TERM] = "term",
	[EGPU_ON_LOST_KILL] = "kill",
};

const char *egpu_on_lost_name(enum egpu_on_lost a)
{
	return (unsigned int)a <= EGPU_ON_LOST_KILL ? on_lost_names[a] : "keep";
}

const char *egpu_hook_event_name(enum egpu_hook_event ev)
{
	return (unsigned int)ev < EGPU_HOOK__COUNT ? hook_names[ev] : "unknown";
}

int egpu_hook_event_from_name(const char *name)
{
	int i;

	for (i = 0; i < EGPU_HOOK__COUNT; i++)
		if (!strcmp(name, hook_names[i]))
			return i;
	return -1;
}

static const char *const policy_names[] = {
	[EGPU_POLICY_UNSET] = "unset",
	[EGPU_POLICY_AUTO] = "auto",
	[EGPU_POLICY_IOMMU] = "iommu",
	[EGPU_POLICY_MANUAL] = "manual",
	[EGPU_POLICY_DENY] = "deny",
};

const char *egpu_policy_name(enum egpu_policy p)
{
	return (unsigned int)p <= EGPU_POLICY_DENY ? policy_names[p] : "unset";
}

enum egpu_policy egpu_policy_from_name(const char *name)
{
	int i;

	for (i = EGPU_POLICY_AUTO; i <= EGPU_POLICY_DENY; i++)
		if (!strcmp(name, policy_names[i]))
			return i;
	return EGPU_POLICY_UNSET;
}

struct egpu_config *egpu_config_new(void)
{
	struct egpu_config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->socket_path = strdup("/run/egpuhp/egpud.sock");
	c->store_dir = strdup(EGPU_DEFAULT_STORE);
	c->sysfs_root = strdup("/sys");
	c->hooks_dir = strdup(EGPU_DEFAULT_HOOKS);
	c->load_module = true;
	c->eject_grace_ms = 2000;
	c->lost_grace_ms = 5000;
	c->on_lost = EGPU_ON_LOST_TERM;
	c->metrics_refresh_s = 60;
	c->policy = EGPU_POLICY_IOMMU;
	c->owner = EGPU_OWNER_AUTO;
	c->hook_timeout_s = 30;
	c->hook_events = (1U << EGPU_HOOK__COUNT) - 1;
	c->workloads.replug = EGPU_REPLUG_SAME;
	c->workloads.strategy = EGPU_STRATEGY_LAZY;
	c->workloads.evacuate = EGPU_EVAC_HOST;
	c->workloads.warnings = 3;
	c->workloads.within_s = 600;
	snprintf(c->workloads.compute_drivers, sizeof(c->workloads.compute_drivers), "nvidia");
	if (!c->socket_path || !c->store_dir || !c->sysfs_root || !c->hooks_dir) {
		egpu_config_free(c);
		return NULL;
	}
	return c;
}

void egpu_config_free(struct egpu_config *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n_auth_rules; i++) {
		free(c->auth_rules[i].unique_id);
		free(c->auth_rules[i].vendor_name);
		free(c->auth_rules[i].device_name);
	}
	for (i = 0; i < c->n_driver_rules; i++) {
		free(c->driver_rules[i].router);
		free(c->driver_rules[i].slot);
		free(c->driver_rules[i].driver);
	}
	for (i = 0; i < c->n_workload_rules; i++) {
		free(c->workload_rules[i].router);
		free(c->workload_rules[i].slot);
	}
	free(c->auth_rules);
	free(c->driver_rules);
	free(c->workload_rules);
	free(c->path);
	free(c->socket_path);
	free(c->socket_group);
	free(c->metrics_textfile);
	free(c->store_dir);
	free(c->sysfs_root);
	free(c->hooks_dir);
	free(c);
}

/* --- parser --- */

enum section {
	SEC_NONE,
	SEC_DAEMON,
	SEC_AUTHORIZATION,
	SEC_AUTH_RULE,
	SEC_DRIVER_RULE,
	SEC_HOOKS,
	SEC_WORKLOADS,
	SEC_WORKLOAD_RULE,
};
#define SEC_LAST	SEC_WORKLOAD_RULE

struct parser {
	const char *name;
	struct egpu_config *c;
	unsigned int line;
	enum section sec;
	unsigned int sec_line;
	uint64_t seen;		/* keys seen in this section (bit per key id) */
	unsigned int first_line[SEC_LAST + 1];	/* of each one-only section */
	char *err;
	size_t errlen;
};

static int perr(struct parser *p, unsigned int col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(struct parser *p, unsigned int col, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(p->err, p->errlen, "%s:%u:%u: ", p->name, p->line, col);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int set_str(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

int egpu_config_uint(const char *v, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long x;

	if (!isdigit((unsigned char)v[0]))
		return -EINVAL;
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || *end || x > max)
		return -EINVAL;
	*out = x;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

/* "vvvv:dddd" with "*" for either part; returns the column offset of an error. */
static int parse_ids(const char *v, int *vendor, int *device, unsigned int *bad)
{
	const char *colon = strchr(v, ':');
	int *dst[2] = { vendor, device };
	const char *part[2];
	size_t len[2];
	int i;

	if (!colon) {
		*bad = 0;
		return -EINVAL;
	}
	part[0] = v;
	len[0] = (size_t)(colon - v);
	part[1] = colon + 1;
	len[1] = strlen(colon + 1);
	for (i = 0; i < 2; i++) {
		size_t k;

		if (len[i] == 1 && part[i][0] == '*') {
			*dst[i] = -1;
			continue;
		}
		if (len[i] != 4) {
			*bad = (unsigned int)(part[i] - v);
			return -EINVAL;
		}
		for (k = 0; k < 4; k++) {
			if (!isxdigit((unsigned char)part[i][k])) {
				*bad = (unsigned int)(part[i] - v + k);
				return -EINVAL;
			}
		}
		*dst[i] = (int)strtol(part[i], NULL, 16);
	}
	return 0;
}

/* Hook event list, space or comma separated; "all" means every event. */
static int parse_events(struct parser *p, const char *v, unsigned int vcol,
			uint32_t *out)
{
	char buf[512];
	const char *s = v;
	uint32_t mask = 0;

	while (*s) {
		size_t n;
		int ev;

		while (*s == ' ' || *s == ',' || *s == '\t')
			s++;
		if (!*s)
			break;
		n = strcspn(s, " ,\t");
		if (n >= sizeof(buf))
			return perr(p, vcol + (unsigned int)(s - v), "event name too long");
		memcpy(buf, s, n);
		buf[n] = '\0';
		if (!strcmp(buf, "all")) {
			mask |= (1U << EGPU_HOOK__COUNT) - 1;
		} else if (!strcmp(buf, "none")) {
			/* explicit empty list */
		} else {
			ev = egpu_hook_event_from_name(buf);
			if (ev < 0)
				return perr(p, vcol + (unsigned int)(s - v),
					    "unknown hook event \"%s\"", buf);
			mask |= 1U << ev;
		}
		s += n;
	}
	*out = mask;
	return 0;
}

struct key_def {
	enum section sec;
	const char *key;
};

static const struct key_def keys[] = {
	{ SEC_DAEMON, "socket" },
	{ SEC_DAEMON, "socket-group" },
	{ SEC_DAEMON, "store" },
	{ SEC_DAEMON, "sysfs" },
	{ SEC_DAEMON, "netlink-rcvbuf" },
	{ SEC_DAEMON, "load-module" },
	{ SEC_DAEMON, "eject-grace-ms" },
	{ SEC_DAEMON, "lost-grace-ms" },
	{ SEC_DAEMON, "on-lost" },
	{ SEC_DAEMON, "metrics-textfile" },
	{ SEC_DAEMON, "metrics-refresh" },
	{ SEC_AUTHORIZATION, "policy" },
	{ SEC_AUTHORIZATION, "owner" },
	{ SEC_AUTH_RULE, "unique-id" },
	{ SEC_AUTH_RULE, "vendor-name" },
	{ SEC_AUTH_RULE, "device-name" },
	{ SEC_AUTH_RULE, "generation" },
	{ SEC_AUTH_RULE, "policy" },
	{ SEC_DRIVER_RULE, "ids" },
	{ SEC_DRIVER_RULE, "router" },
	{ SEC_DRIVER_RULE, "slot" },
	{ SEC_DRIVER_RULE, "driver" },
	{ SEC_HOOKS, "dir" },
	{ SEC_HOOKS, "timeout" },
	{ SEC_HOOKS, "events" },
	{ SEC_WORKLOADS, "restore-on-replug" },
	{ SEC_WORKLOADS, "strategy" },
	{ SEC_WORKLOADS, "evacuate-to" },
	{ SEC_WORKLOADS, "warnings" },
	{ SEC_WORKLOADS, "within-s" },
	{ SEC_WORKLOADS, "snapshot-interval-ms" },
	{ SEC_WORKLOADS, "compute-drivers" },
	{ SEC_WORKLOAD_RULE, "ids" },
	{ SEC_WORKLOAD_RULE, "router" },
	{ SEC_WORKLOAD_RULE, "slot" },
	{ SEC_WORKLOAD_RULE, "restore-on-replug" },
	{ SEC_WORKLOAD_RULE, "strategy" },
	{ SEC_WORKLOAD_RULE, "evacuate-to" },
	{ SEC_WORKLOAD_RULE, "warnings" },
	{ SEC_WORKLOAD_RULE, "within-s" },
	{ SEC_WORKLOAD_RULE, "snapshot-interval-ms" },
	{ SEC_WORKLOAD_RULE, "compute-drivers" },
};

static const char *section_name(enum section s)
{
	switch (s) {
	case SEC_DAEMON: return "daemon";
	case SEC_AUTHORIZATION: return "authorization";
	case SEC_AUTH_RULE: return "authorize-rule";
	case SEC_DRIVER_RULE: return "driver-rule";
	case SEC_HOOKS: return "hooks";
	case SEC_WORKLOADS: return "workloads";
	case SEC_WORKLOAD_RULE: return "workload-rule";
	default: return "";
	}
}

bool egpu_auth_rule_names_one_device(const struct egpu_auth_rule *r)
{
	return r->unique_id && r->unique_id[0] && !strpbrk(r->unique_id, "*?[]\\");
}

/* A rule section ended: check that it has what it needs. */
static int finish_section(struct parser *p)
{
	unsigned int line = p->line;
	int ret = 0;

	p->line = p->sec_line;
	if (p->sec == SEC_AUTH_RULE &&
	    p->c->auth_rules[p->c->n_auth_rules - 1].policy == EGPU_POLICY_UNSET)
		ret = perr(p, 1, "[authorize-rule] without a \"policy\" key");
	else if (p->sec == SEC_AUTH_RULE &&
		 p->c->auth_rules[p->c->n_auth_rules - 1].policy == EGPU_POLICY_AUTO &&
		 !egpu_auth_rule_names_one_device(&p->c->auth_rules[p->c->n_auth_rules - 1]))
		/*
		 * vendor-name, device-name and generation come from the DROM,
		 * which any device may fill with anything: a rule on them alone
		 * would authorize a forged device without asking.
		 */
		ret = perr(p, 1, "[authorize-rule] with policy auto needs a unique-id without globs (vendor-name, device-name and generation can be claimed by any device)");
	else if (p->sec == SEC_DRIVER_RULE &&
		 !p->c->driver_rules[p->c->n_driver_rules - 1].driver)
		ret = perr(p, 1, "[driver-rule] without a \"driver\" key");
	p->line = line;
	return ret;
}

/* One more zeroed element at the end of the array *v of *n; NULL: no memory. */
static void *grow(void **v, size_t *n, size_t size)
{
	char *t = realloc(*v, (*n + 1) * size);

	if (!t)
		return NULL;
	*v = t;
	memset(t + *n * size, 0, size);
	return t + (*n)++ * size;
}

static int start_section(struct parser *p, const char *name, unsigned int col)
{
	struct egpu_config *c = p->c;
	enum section s;

	for (s = SEC_DAEMON; s <= SEC_LAST; s++)
		if (!strcmp(name, section_name(s)))
			break;
	if (s > SEC_LAST)
		return perr(p, col, "unknown section [%s]", name);
	if (s != SEC_AUTH_RULE && s != SEC_DRIVER_RULE && s != SEC_WORKLOAD_RULE) {
		if (p->first_line[s])
			return perr(p, col, "section [%s] repeated (first at line %u)", name,
				    p->first_line[s]);
		p->first_line[s] = p->line;
	}
	if (s == SEC_AUTH_RULE) {
		struct egpu_auth_rule *r = grow((void **)&c->auth_rules, &c->n_auth_rules,
						sizeof(*r));

		if (!r)
			return -ENOMEM;
		r->generation = -1;
		r->line = p->line;
	} else if (s == SEC_DRIVER_RULE) {
		struct egpu_driver_rule *r = grow((void **)&c->driver_rules, &c->n_driver_rules,
						  sizeof(*r));

		if (!r)
			return -ENOMEM;
		r->vendor = -1;
		r->device = -1;
		r->line = p->line;
	} else if (s == SEC_WORKLOAD_RULE) {
		struct egpu_workload_rule *r = grow((void **)&c->workload_rules,
						    &c->n_workload_rules, sizeof(*r));

		if (!r)
			return -ENOMEM;
		r->vendor = -1;
		r->device = -1;
		r->line = p->line;
	}
	p->sec = s;
	p->sec_line = p->line;
	p->seen = 0;
	return 0;
}

static int workload_key(struct parser *p, struct egpu_workload_policy *pol, const char *key,
			const char *v, unsigned int vcol)
{
	char why[256];
	int ret = egpu_workload_policy_key(pol, key, v, why, sizeof(why));

	if (ret == -EINVAL)
		return perr(p, vcol, "%s", why);
	if (ret < 0)
		return perr(p, 1, "unknown key \"%s\" in [%s]", key, section_name(p->sec));
	return 0;
}

/*
 * ids, router, slot: how [driver-rule] and [workload-rule] match a GPU
 * function (rules.c).  0 set, < 0 a bad value (reported), 1 another key.
 */
static int function_match_key(struct parser *p, const char *key, const char *v,
			      unsigned int vcol, int *vendor, int *device, char **router,
			      char **slot)
{
	unsigned int bad;

	if (!strcmp(key, "ids")) {
		if (parse_ids(v, vendor, device, &bad) < 0)
			return perr(p, vcol + bad, "ids: expected VVVV:DDDD (hex, or * for any), got \"%s\"", v);
		return 0;
	}
	if (!strcmp(key, "router"))
		return set_str(router, v);
	if (!strcmp(key, "slot"))
		return set_str(slot, v);
	return 1;
}

static int set_key(struct parser *p, const char *key, const char *v, unsigned int vcol)
{
	struct egpu_config *c = p->c;
	unsigned long u;

	switch (p->sec) {
	case SEC_DAEMON:
		if (!strcmp(key, "socket")) {
			if (v[0] != '/')
				return perr(p, vcol, "socket must be an absolute path");
			return set_str(&c->socket_path, v);
		}
		if (!strcmp(key, "socket-group"))
			return set_str(&c->socket_group, v);
		if (!strcmp(key, "store")) {
			if (v[0] != '/')
				return perr(p, vcol, "store must be an absolute path");
			return set_str(&c->store_dir, v);
		}
		if (!strcmp(key, "sysfs")) {
			if (v[0] != '/')
				return perr(p, vcol, "sysfs must be an absolute path");
			return set_str(&c->sysfs_root, v);
		}
		if (!strcmp(key, "netlink-rcvbuf")) {
			if (egpu_config_uint(v, INT_MAX, &u) < 0)
				return perr(p, vcol, "netlink-rcvbuf: expected a byte count, got \"%s\"", v);
			c->netlink_rcvbuf = (int)u;
			return 0;
		}
		if (!strcmp(key, "eject-grace-ms")) {
			if (egpu_config_uint(v, 600000, &u) < 0)
				return perr(p, vcol, "eject-grace-ms: expected milliseconds 0..600000, got \"%s\"", v);
			c->eject_grace_ms = (unsigned int)u;
			return 0;
		}
		if (!strcmp(key, "lost-grace-ms")) {
			if (egpu_config_uint(v, 600000, &u) < 0)
				return perr(p, vcol, "lost-grace-ms: expected milliseconds 0..600000, got \"%s\"", v);
			c->lost_grace_ms = (unsigned int)u;
			return 0;
		}
		if (!strcmp(key, "on-lost")) {
			for (u = EGPU_ON_LOST_KEEP; u <= EGPU_ON_LOST_KILL; u++) {
				if (!strcmp(v, on_lost_names[u])) {
					c->on_lost = (enum egpu_on_lost)u;
					return 0;
				}
			}
			return perr(p, vcol, "on-lost: expected keep, term or kill, got \"%s\"", v);
		}
		if (!strcmp(key, "metrics-textfile")) {
			size_t n = strlen(v);
			const char *slash = strrchr(v, '/');

			/* node_exporter's textfile collector reads *.prom only */
			if (v[0] != '/' || n < 6 || strcmp(v + n - 5, ".prom") ||
			    !strcmp(slash, "/.prom"))
				return perr(p, vcol, "metrics-textfile: expected an absolute path of a file named *.prom, got \"%s\"", v);
			return set_str(&c->metrics_textfile, v);
		}
		if (!strcmp(key, "metrics-refresh")) {
			if (egpu_config_uint(v, 86400, &u) < 0)
				return perr(p, vcol, "metrics-refresh: expected seconds 0..86400, got \"%s\"", v);
			c->metrics_refresh_s = (unsigned int)u;
			return 0;
		}
		if (!strcmp(key, "load-module")) {
			if (parse_bool(v, &c->load_module) < 0)
				return perr(p, vcol, "load-module: expected yes or no, got \"%s\"", v);
			return 0;
		}
		break;
	case SEC_AUTHORIZATION:
		if (!strcmp(key, "policy")) {
			c->policy = egpu_policy_from_name(v);
			if (c->policy == EGPU_POLICY_UNSET)
				return perr(p, vcol, "policy: expected auto, iommu, manual or deny, got \"%s\"", v);
			return 0;
		}
		if (!strcmp(key, "owner")) {
			if (!strcmp(v, "auto"))
				c->owner = EGPU_OWNER_AUTO;
			else if (!strcmp(v, "egpud"))
				c->owner = EGPU_OWNER_EGPUD;
			else if (!strcmp(v, "none"))
				c->owner = EGPU_OWNER_NONE;
			else
				return perr(p, vcol, "owner: expected auto, egpud or none, got \"%s\"", v);
			return 0;
		}
		break;
	case SEC_AUTH_RULE: {
		struct egpu_auth_rule *r = &c->auth_rules[c->n_auth_rules - 1];

		if (!strcmp(key, "unique-id"))
			return set_str(&r->unique_id, v);
		if (!strcmp(key, "vendor-name"))
			return set_str(&r->vendor_name, v);
		if (!strcmp(key, "device-name"))
			return set_str(&r->device_name, v);
		if (!strcmp(key, "generation")) {
			if (egpu_config_uint(v, 10, &u) < 0)
				return perr(p, vcol, "generation: expected a number 0..10, got \"%s\"", v);
			r->generation = (int)u;
			return 0;
		}
		if (!strcmp(key, "policy")) {
			r->policy = egpu_policy_from_name(v);
			if (r->policy == EGPU_POLICY_UNSET)
				return perr(p, vcol, "policy: expected auto, iommu, manual or deny, got \"%s\"", v);
			return 0;
		}
		break;
	}
	case SEC_DRIVER_RULE: {
		struct egpu_driver_rule *r = &c->driver_rules[c->n_driver_rules - 1];
		int ret = function_match_key(p, key, v, vcol, &r->vendor, &r->device,
					     &r->router, &r->slot);

		if (ret <= 0)
			return ret;
		if (!strcmp(key, "driver")) {
			if (strchr(v, '/') || strchr(v, ' ') || strlen(v) >= 32)
				return perr(p, vcol, "driver: \"%s\" is not a driver name", v);
			return set_str(&r->driver, v);
		}
		break;
	}
	case SEC_HOOKS:
		if (!strcmp(key, "dir")) {
			if (v[0] != '/')
				return perr(p, vcol, "dir must be an absolute path");
			return set_str(&c->hooks_dir, v);
		}
		if (!strcmp(key, "timeout")) {
			if (egpu_config_uint(v, 3600, &u) < 0 || u == 0)
				return perr(p, vcol, "timeout: expected seconds 1..3600, got \"%s\"", v);
			c->hook_timeout_s = (unsigned int)u;
			return 0;
		}
		if (!strcmp(key, "events"))
			return parse_events(p, v, vcol, &c->hook_events);
		break;
	case SEC_WORKLOADS:
		return workload_key(p, &c->workloads, key, v, vcol);
	case SEC_WORKLOAD_RULE: {
		struct egpu_workload_rule *r = &c->workload_rules[c->n_workload_rules - 1];
		int ret = function_match_key(p, key, v, vcol, &r->vendor, &r->device,
					     &r->router, &r->slot);

		if (ret <= 0)
			return ret;
		return workload_key(p, &r->policy, key, v, vcol);
	}
	default:
		break;
	}
	return perr(p, 1, "unknown key \"%s\" in [%s]", key, section_name(p->sec));
}

static int key_id(enum section sec, const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].sec == sec && !strcmp(keys[i].key, key))
			return (int)i;
	return -1;
}

static int parse_line(struct parser *p, char *s)
{
	char *start = s, *end, *eq, *key, *val;
	unsigned int vcol;
	int id;

	/* trim */
	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	if (!*s || *s == '#' || *s == ';')
		return 0;

	if (*s == '[') {
		char *close = strchr(s, ']');
		int ret;

		if (!close)
			return perr(p, (unsigned int)(end - start) + 1, "missing ']'");
		if (close[1])
			return perr(p, (unsigned int)(close - start) + 2,
				    "unexpected text after ']'");
		*close = '\0';
		if (p->sec != SEC_NONE) {
			ret = finish_section(p);
			if (ret < 0)
				return ret;
		}
		if (!s[1])
			return perr(p, (unsigned int)(s - start) + 2, "empty section name");
		return start_section(p, s + 1, (unsigned int)(s - start) + 2);
	}

	eq = strchr(s, '=');
	if (!eq)
		return perr(p, (unsigned int)(s - start) + 1, "expected \"key = value\"");
	key = s;
	val = eq + 1;
	*eq = '\0';
	while (eq > key && (eq[-1] == ' ' || eq[-1] == '\t'))
		*--eq = '\0';
	while (*val == ' ' || *val == '\t')
		val++;
	if (!*key)
		return perr(p, (unsigned int)(s - start) + 1, "missing key before '='");
	vcol = (unsigned int)(val - start) + 1;
	if (p->sec == SEC_NONE)
		return perr(p, (unsigned int)(key - start) + 1,
			    "\"%s\" outside of any [section]", key);
	id = key_id(p->sec, key);
	if (id < 0)
		return perr(p, (unsigned int)(key - start) + 1,
			    "unknown key \"%s\" in [%s]", key, section_name(p->sec));
	if (p->seen & (1ULL << id))
		return perr(p, (unsigned int)(key - start) + 1,
			    "duplicate key \"%s\" in [%s]", key, section_name(p->sec));
	p->seen |= 1ULL << id;
	if (!*val)
		return perr(p, vcol, "empty value for \"%s\"", key);
	return set_key(p, key, val, vcol);
}

struct egpu_config *egpu_config_parse(const char *name, const char *text,
				      char *err, size_t errlen)
{
	struct parser p = { .name = name, .err = err, .errlen = errlen };
	const char *s = text;
	int ret = 0;

	err[0] = '\0';
	p.c = egpu_config_new();
	if (!p.c) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	p.c->path = strdup(name);
	while (*s) {
		size_t n = strcspn(s, "\n");
		char line[1024];

		p.line++;
		if (n >= sizeof(line)) {
			ret = perr(&p, sizeof(line), "line longer than %zu bytes",
				   sizeof(line) - 1);
			break;
		}
		memcpy(line, s, n);
		line[n] = '\0';
		ret = parse_line(&p, line);
		if (ret < 0)
			break;
		s += n;
		if (*s == '\n')
			s++;
	}
	if (ret == 0 && p.sec != SEC_NONE)
		ret = finish_section(&p);
	if (ret < 0) {
		if (ret == -ENOMEM)
			snprintf(err, errlen, "%s: out of memory", name);
		egpu_config_free(p.c);
		return NULL;
	}
	return p.c;
}

struct egpu_config *egpu_config_load(const char *path, bool missing_ok,
				     char *err, size_t errlen)
{
	struct egpu_config *c;
	FILE *f;
	char *text = NULL;
	size_t len = 0, cap = 0;
	char buf[4096];
	size_t n;

	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT && missing_ok) {
			c = egpu_config_new();
			if (c)
				c->path = strdup(path);
			return c;
		}
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (len + n > EGPU_CONFIG_MAX_SIZE) {
			snprintf(err, errlen, "%s: file too large (more than %d bytes)", path,
				 EGPU_CONFIG_MAX_SIZE);
			goto fail;
		}
		if (len + n + 1 > cap) {
			char *t;

			cap = (len + n + 1) * 2;
			t = realloc(text, cap);
			if (!t) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto fail;
			}
			text = t;
		}
		memcpy(text + len, buf, n);
		len += n;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto fail;
	}
	fclose(f);
	if (!text)
		text = strdup("");
	else
		text[len] = '\0';
	if (!text) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if (strlen(text) != len) {
		/* report the NUL byte's position */
		const char *z = text + strlen(text);
		unsigned int line = 1, col = 1;
		const char *q;

		for (q = text; q < z; q++, col++)
			if (*q == '\n') {
				line++;
				col = 0;
			}
		snprintf(err, errlen, "%s:%u:%u: NUL byte in file", path, line, col);
		free(text);
		return NULL;
	}
	c = egpu_config_parse(path, text, err, errlen);
	free(text);
	return c;
fail:
	fclose(f);
	free(text);
	return NULL;
}
