// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp: the "quirks=" module parameter (usable from modprobe.d).
 *
 * Syntax: entries separated by ',':
 *
 *   VENDOR:DEVICE[:SUBVENDOR:SUBDEVICE[:CLASS:CLASSMASK]]:ACTIONS
 *
 * IDs are hexadecimal (1-4 digits; "*" or "ffff" = any); CLASS and
 * CLASSMASK are 24-bit hexadecimal (class code incl. prog-if).
 * ACTIONS are joined by '+':
 *   no_flr no_bus_reset no_pm_reset no_d3 no_d3cold aspm_l0s_off
 *   aspm_l1_off d3hot_delay=MS d3cold_delay=MS
 *   reset_order=M/M/...   (kernel method names: device_specific acpi flr
 *                          af_flr pm bus; the kernel tries them in order and
 *                          uses the first that works)
 *   egpuhp_reset[=STEP/STEP/...]
 *                         (the sequence egpuhp's reset runs, every step in
 *                          order: bus, link_retrain, pm, slot_power; at most
 *                          EGPUHP_RESET_MAX_STEPS; default bus)
 *
 * The word "external" among the actions is a match condition: the entry
 * then applies only to functions below a Thunderbolt/USB4 tunnel or an
 * external-facing port (EGPUHP_QUIRK_MATCH_EXTERNAL).
 *
 * Lists inside a value are joined by '/', the one separator no other level
 * of the syntax uses ('+' joins actions, ':' fields, ',' entries).
 *
 * Example (/etc/modprobe.d/egpuhp.conf):
 *   options egpuhp quirks=1002:687f:*:*:no_flr+no_d3cold,1af4:*:*:*:10000:ff0000:reset_order=bus/pm
 *   options egpuhp quirks=1234:11e8:egpuhp_reset=pm/bus
 *
 * An entry that does not parse is refused with a kernel log line naming
 * it and why; the other entries still apply.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>
#include <linux/kernel.h>
#include "egpuhp.h"
#include "quirks.h"

char egpuhp_quirks_param[EGPUHP_QUIRK_PARAM_LEN];
module_param_string(quirks, egpuhp_quirks_param, sizeof(egpuhp_quirks_param),
		    0444);
MODULE_PARM_DESC(quirks,
		 "Extra quirk entries: VENDOR:DEVICE[:SUBVENDOR:SUBDEVICE[:CLASS:CLASSMASK]]:ACTION[+ACTION...][,...]; actions no_flr no_bus_reset no_pm_reset no_d3 no_d3cold aspm_l0s_off aspm_l1_off d3hot_delay=MS d3cold_delay=MS reset_order=M/M egpuhp_reset[=STEP/STEP...] (steps bus link_retrain pm slot_power, run in order); the word external limits an entry to functions below a Thunderbolt tunnel or an external-facing port");

#define MAX_FIELDS	7

static int parse_id(const char *s, u16 *out)
{
	unsigned int v;

	if (!strcmp(s, "*")) {
		*out = EGPUHP_QUIRK_ANY_ID;
		return 0;
	}
	if (!*s || strlen(s) > 4 || kstrtouint(s, 16, &v))
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_class(const char *s, u32 *out)
{
	if (!*s || strlen(s) > 6 || kstrtou32(s, 16, out))
		return -EINVAL;
	return 0;
}

#define NAMED(value, text)	{ text, value },

static const struct {
	const char *name;
	u32 bit;
} action_names[] = {
	EGPUHP_QUIRK_ACTIONS(NAMED)
};

static const struct {
	const char *name;
	u32 method;
} method_names[] = {
	EGPUHP_QUIRK_RESET_METHODS(NAMED)
};

#undef NAMED

static int parse_method(const char *s, u32 *out)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(method_names); i++)
		if (!strcmp(s, method_names[i].name)) {
			*out = method_names[i].method;
			return 0;
		}
	return -EINVAL;
}

/**
 * egpuhp_quirk_is_step() - whether a method may be a step of an egpuhp reset sequence
 * @method: enum egpuhp_reset_method
 *
 * Return: true for the methods of EGPUHP_QUIRK_RESET_METHODS.
 */
bool egpuhp_quirk_is_step(u32 method)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(method_names); i++)
		if (method_names[i].method == method)
			return true;
	return false;
}

/* egpuhp_reset's value: "pm/bus", or none for the default "bus". */
static int parse_steps(char *val, struct egpuhp_reset_seq *seq,
		       const char **why)
{
	char *step;

	seq->n = 0;
	if (!val) {
		seq->step[seq->n++] = EGPUHP_RESET_BUS;
		return 0;
	}
	if (!*val) {
		*why = "egpuhp_reset needs =STEP[/STEP...]";
		return -EINVAL;
	}
	while ((step = strsep(&val, "/")) != NULL) {
		if (!*step) {
			*why = "empty step in egpuhp_reset";
			return -EINVAL;
		}
		if (seq->n == EGPUHP_RESET_MAX_STEPS) {
			*why = EGPUHP_WHY_STEPS_TOO_MANY;
			return -EINVAL;
		}
		if (parse_method(step, &seq->step[seq->n])) {
			*why = EGPUHP_WHY_STEP_UNKNOWN;
			return -EINVAL;
		}
		seq->n++;
	}
	return 0;
}

static int parse_delay(const char *val, u32 *ms, const char **why)
{
	unsigned int v;

	if (!val || kstrtouint(val, 10, &v) || v > 10000) {
		*why = "delay needs =MS, 0..10000";
		return -EINVAL;
	}
	*ms = v;
	return 0;
}

static int parse_action(char *a, struct egpuhp_quirk *q, const char **why)
{
	char *val = strchr(a, '=');
	unsigned int i;

	if (val)
		*val++ = '\0';
	if (!strcmp(a, "external")) {
		/* a match condition (EGPUHP_QUIRK_MATCH_EXTERNAL), not an action */
		if (val) {
			*why = "external takes no value";
			return -EINVAL;
		}
		q->match_flags |= EGPUHP_QUIRK_MATCH_EXTERNAL;
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(action_names); i++)
		if (!strcmp(a, action_names[i].name))
			break;
	if (i == ARRAY_SIZE(action_names)) {
		*why = "unknown action";
		return -EINVAL;
	}
	switch (action_names[i].bit) {
	case EGPUHP_QUIRK_D3HOT_DELAY:
		if (parse_delay(val, &q->d3hot_delay_ms, why))
			return -EINVAL;
		break;
	case EGPUHP_QUIRK_D3COLD_DELAY:
		if (parse_delay(val, &q->d3cold_delay_ms, why))
			return -EINVAL;
		break;
	case EGPUHP_QUIRK_RESET_ORDER:
		if (!val || !*val || strlen(val) >= sizeof(q->reset_order)) {
			*why = "reset_order needs =METHOD/METHOD...";
			return -EINVAL;
		}
		strscpy(q->reset_order, val, sizeof(q->reset_order));
		break;
	case EGPUHP_QUIRK_EGPUHP_RESET:
		if (parse_steps(val, &q->reset, why))
			return -EINVAL;
		break;
	default:
		if (val) {
			*why = "this action takes no value";
			return -EINVAL;
		}
	}
	q->actions |= action_names[i].bit;
	return 0;
}

/**
 * egpuhp_quirk_parse_entry() - parse one entry of the "quirks=" parameter
 * @text: the entry, VENDOR:DEVICE[:SUBVENDOR:SUBDEVICE[:CLASS:CLASSMASK]]:ACTIONS
 * @q: the entry parsed (cleared first; source EGPUHP_QUIRK_SRC_PARAM)
 * @why: set to the reason where the entry is refused
 *
 * The syntax is at the top of this file.  The entry is not checked as a
 * whole: egpuhp_quirk_check() does that.
 *
 * Return: 0, or -EINVAL with *@why set.
 */
int egpuhp_quirk_parse_entry(const char *text, struct egpuhp_quirk *q,
			     const char **why)
{
	char buf[256], *cur = buf, *f[MAX_FIELDS], *a;
	int n = 0, ret = -EINVAL;

	memset(q, 0, sizeof(*q));
	q->vendor = EGPUHP_QUIRK_ANY_ID;
	q->device = EGPUHP_QUIRK_ANY_ID;
	q->subsys_vendor = EGPUHP_QUIRK_ANY_ID;
	q->subsys_device = EGPUHP_QUIRK_ANY_ID;
	q->source = EGPUHP_QUIRK_SRC_PARAM;
	strscpy(q->note, "module parameter quirks=", sizeof(q->note));

	if (strscpy(buf, text, sizeof(buf)) < 0) {
		*why = "entry too long";
		return -EINVAL;
	}
	while (cur && n < MAX_FIELDS)
		f[n++] = strsep(&cur, ":");
	if (cur || (n != 3 && n != 5 && n != 7)) {
		*why = "expected VENDOR:DEVICE[:SUBVENDOR:SUBDEVICE[:CLASS:CLASSMASK]]:ACTIONS";
		return -EINVAL;
	}
	*why = "bad hexadecimal ID (1-4 digits or *)";
	if (parse_id(f[0], &q->vendor) || parse_id(f[1], &q->device))
		return ret;
	if (n >= 5 && (parse_id(f[2], &q->subsys_vendor) ||
		       parse_id(f[3], &q->subsys_device)))
		return ret;
	if (n == 7 && (parse_class(f[4], &q->class) ||
		       parse_class(f[5], &q->class_mask))) {
		*why = "bad class or class mask (1-6 hexadecimal digits)";
		return ret;
	}
	cur = f[n - 1];
	if (!*cur) {
		*why = "no action";
		return ret;
	}
	while ((a = strsep(&cur, "+")) != NULL) {
		if (!*a) {
			*why = "empty action";
			return ret;
		}
		if (parse_action(a, q, why))
			return ret;
	}
	*why = NULL;
	return 0;
}
