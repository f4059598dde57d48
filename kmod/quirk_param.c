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
 *                          af_flr pm bus)
 *   egpuhp_reset[=METHOD] (bus, link_retrain, pm, slot_power; default bus)
 *
 * Example (/etc/modprobe.d/egpuhp.conf):
 *   options egpuhp quirks=1002:687f:*:*:no_flr+no_d3cold,1af4:*:*:*:10000:ff0000:reset_order=bus/pm
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
		 "Extra quirk entries: VENDOR:DEVICE[:SUBVENDOR:SUBDEVICE[:CLASS:CLASSMASK]]:ACTION[+ACTION...][,...]; actions no_flr no_bus_reset no_pm_reset no_d3 no_d3cold aspm_l0s_off aspm_l1_off d3hot_delay=MS d3cold_delay=MS reset_order=M/M egpuhp_reset[=bus|link_retrain|pm|slot_power]");

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

static const struct {
	const char *name;
	u32 bit;
} simple_actions[] = {
	{ "no_flr", EGPUHP_QUIRK_NO_FLR },
	{ "no_bus_reset", EGPUHP_QUIRK_NO_BUS_RESET },
	{ "no_pm_reset", EGPUHP_QUIRK_NO_PM_RESET },
	{ "no_d3", EGPUHP_QUIRK_NO_D3 },
	{ "no_d3cold", EGPUHP_QUIRK_NO_D3COLD },
	{ "aspm_l0s_off", EGPUHP_QUIRK_ASPM_L0S_OFF },
	{ "aspm_l1_off", EGPUHP_QUIRK_ASPM_L1_OFF },
};

static int parse_method(const char *s, u32 *out)
{
	static const struct { const char *n; u32 m; } tab[] = {
		{ "bus", EGPUHP_RESET_BUS },
		{ "link_retrain", EGPUHP_RESET_LINK_RETRAIN },
		{ "pm", EGPUHP_RESET_PM },
		{ "slot_power", EGPUHP_RESET_SLOT_POWER },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(tab); i++)
		if (!strcmp(s, tab[i].n)) {
			*out = tab[i].m;
			return 0;
		}
	return -EINVAL;
}

static int parse_action(char *a, struct egpuhp_quirk *q, const char **why)
{
	char *val = strchr(a, '=');
	unsigned int i, ms;

	if (val)
		*val++ = '\0';
	for (i = 0; i < ARRAY_SIZE(simple_actions); i++) {
		if (strcmp(a, simple_actions[i].name))
			continue;
		if (val) {
			*why = "this action takes no value";
			return -EINVAL;
		}
		q->actions |= simple_actions[i].bit;
		return 0;
	}
	if (!strcmp(a, "d3hot_delay") || !strcmp(a, "d3cold_delay")) {
		bool hot = a[2] == 'h';

		if (!val || kstrtouint(val, 10, &ms) || ms > 10000) {
			*why = "delay needs =MS, 0..10000";
			return -EINVAL;
		}
		if (hot) {
			q->actions |= EGPUHP_QUIRK_D3HOT_DELAY;
			q->d3hot_delay_ms = ms;
		} else {
			q->actions |= EGPUHP_QUIRK_D3COLD_DELAY;
			q->d3cold_delay_ms = ms;
		}
		return 0;
	}
	if (!strcmp(a, "reset_order")) {
		if (!val || !*val || strlen(val) >= sizeof(q->reset_order)) {
			*why = "reset_order needs =METHOD/METHOD...";
			return -EINVAL;
		}
		strscpy(q->reset_order, val, sizeof(q->reset_order));
		q->actions |= EGPUHP_QUIRK_RESET_ORDER;
		return 0;
	}
	if (!strcmp(a, "egpuhp_reset")) {
		q->reset_method = EGPUHP_RESET_BUS;
		if (val && parse_method(val, &q->reset_method)) {
			*why = "egpuhp_reset method must be bus, link_retrain, pm or slot_power";
			return -EINVAL;
		}
		q->actions |= EGPUHP_QUIRK_EGPUHP_RESET;
		return 0;
	}
	*why = "unknown action";
	return -EINVAL;
}

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
	q->reset_method = EGPUHP_RESET_AUTO;
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
