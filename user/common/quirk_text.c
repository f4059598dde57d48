// SPDX-License-Identifier: GPL-2.0
/* Text form of quirk entries (see quirk_text.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/egpuhp.h>

#include "common/quirk_text.h"

#define STR_(x)	#x
#define STR(x)	STR_(x)

#define NAMED(value, text)	{ text, value },

static const struct {
	const char *name;
	uint32_t bit;
} action_names[] = {
	EGPUHP_QUIRK_ACTIONS(NAMED)
};

static const struct {
	const char *name;
	uint32_t method;
} methods[] = {
	EGPUHP_QUIRK_RESET_METHODS(NAMED)
};

#undef NAMED

#define N_ACTIONS (sizeof(action_names) / sizeof(action_names[0]))
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

const char *egpu_quirk_action_name(uint32_t bit)
{
	size_t i;

	for (i = 0; i < N_ACTIONS; i++)
		if (action_names[i].bit == bit)
			return action_names[i].name;
	return NULL;
}

const char *egpu_quirk_source_name(uint32_t source)
{
	switch (source) {
	case EGPUHP_QUIRK_SRC_BUILTIN:
		return "builtin";
	case EGPUHP_QUIRK_SRC_PARAM:
		return "param";
	case EGPUHP_QUIRK_SRC_NETLINK:
		return "netlink";
	}
	return "?";
}

/* name, or name spelt with '-' for every '_' ("link-retrain") */
static bool method_name_matches(const char *s, const char *name)
{
	if (!strcmp(s, name))
		return true;
	for (; *s && *name; s++, name++)
		if (*s != (*name == '_' ? '-' : *name))
			return false;
	return !*s && !*name;
}

/* @dashes: also the '-' spellings (egpuctl reset --method link-retrain) */
static int method_lookup(const char *s, bool dashes, uint32_t *method)
{
	size_t i;

	for (i = 0; i < N_METHODS; i++)
		if (dashes ? method_name_matches(s, methods[i].name) :
			     !strcmp(s, methods[i].name)) {
			*method = methods[i].method;
			return 0;
		}
	return -EINVAL;
}

int egpu_reset_method_parse(const char *s, uint32_t *method)
{
	return method_lookup(s, true, method);
}

const char *egpu_reset_step_name(uint32_t m)
{
	size_t i;

	for (i = 0; i < N_METHODS; i++)
		if (methods[i].method == m)
			return methods[i].name;
	return "?";
}

/*
 * egpuhp_reset's value, "pm/bus" (NULL: the default "bus"); the same rules
 * and messages as parse_steps() in kmod/quirk_param.c.
 */
static int parse_steps(char *val, struct egpu_quirk_entry *q, const char **why)
{
	char *step;

	q->nsteps = 0;
	if (!val) {
		q->reset_steps[q->nsteps++] = EGPUHP_RESET_BUS;
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
		if (q->nsteps == EGPUHP_RESET_MAX_STEPS) {
			*why = "more than " STR(EGPUHP_RESET_MAX_STEPS) " egpuhp_reset steps";
			return -EINVAL;
		}
		/* exactly the module's names: no '-' spellings in quirk text */
		if (method_lookup(step, false, &q->reset_steps[q->nsteps])) {
			*why = "egpuhp_reset step must be bus, link_retrain, pm or slot_power";
			return -EINVAL;
		}
		q->nsteps++;
	}
	return 0;
}

static int parse_hex(const char *s, size_t maxdigits, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!*s || strlen(s) > maxdigits || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 16);
	if (errno || *end)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_id(const char *s, uint16_t *out)
{
	uint32_t v;

	if (!strcmp(s, "*")) {
		*out = EGPUHP_QUIRK_ANY_ID;
		return 0;
	}
	if (parse_hex(s, 4, &v))
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static int parse_ms(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 10000)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_action(char *a, struct egpu_quirk_entry *q, const char **why)
{
	char *val = strchr(a, '=');
	size_t i;

	if (val)
		*val++ = '\0';
	if (!strcmp(a, "external")) {
		/* a match condition, written among the actions */
		if (val) {
			*why = "external takes no value";
			return -EINVAL;
		}
		q->match_flags |= EGPUHP_QUIRK_MATCH_EXTERNAL;
		return 0;
	}
	for (i = 0; i < N_ACTIONS; i++)
		if (!strcmp(a, action_names[i].name))
			break;
	if (i == N_ACTIONS) {
		*why = "unknown action";
		return -EINVAL;
	}
	switch (action_names[i].bit) {
	case EGPUHP_QUIRK_D3HOT_DELAY:
		if (parse_ms(val, &q->d3hot_delay_ms)) {
			*why = "delay needs =MS, 0..10000";
			return -EINVAL;
		}
		break;
	case EGPUHP_QUIRK_D3COLD_DELAY:
		if (parse_ms(val, &q->d3cold_delay_ms)) {
			*why = "delay needs =MS, 0..10000";
			return -EINVAL;
		}
		break;
	case EGPUHP_QUIRK_RESET_ORDER:
		if (!val || !*val || strlen(val) >= sizeof(q->reset_order)) {
			*why = "reset_order needs =METHOD/METHOD...";
			return -EINVAL;
		}
		snprintf(q->reset_order, sizeof(q->reset_order), "%s", val);
		break;
	case EGPUHP_QUIRK_EGPUHP_RESET:
		if (parse_steps(val, q, why))
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

int egpu_quirk_parse(const char *text, struct egpu_quirk_entry *q, const char **why)
{
	char buf[256], *f[8], *cur, *a;
	int n = 0;

	memset(q, 0, sizeof(*q));
	q->vendor = q->device = EGPUHP_QUIRK_ANY_ID;
	q->subsys_vendor = q->subsys_device = EGPUHP_QUIRK_ANY_ID;
	if (strlen(text) >= sizeof(buf)) {
		*why = "entry too long";
		return -EINVAL;
	}
	strcpy(buf, text);
	cur = buf;
	while (cur && n < 8)
		f[n++] = strsep(&cur, ":");
	if (cur || (n != 3 && n != 5 && n != 7)) {
		*why = "expected VENDOR:DEVICE[:SUBVENDOR:SUBDEVICE[:CLASS:CLASSMASK]]:ACTIONS";
		return -EINVAL;
	}
	*why = "bad hexadecimal ID (1-4 digits or *)";
	if (parse_id(f[0], &q->vendor) || parse_id(f[1], &q->device))
		return -EINVAL;
	if (n >= 5 && (parse_id(f[2], &q->subsys_vendor) ||
		       parse_id(f[3], &q->subsys_device)))
		return -EINVAL;
	if (n == 7 && (parse_hex(f[4], 6, &q->class_code) ||
		       parse_hex(f[5], 6, &q->class_mask))) {
		*why = "bad class or class mask (1-6 hexadecimal digits)";
		return -EINVAL;
	}
	cur = f[n - 1];
	if (!*cur) {
		*why = "no action";
		return -EINVAL;
	}
	while ((a = strsep(&cur, "+")) != NULL) {
		if (!*a) {
			*why = "empty action";
			return -EINVAL;
		}
		if (parse_action(a, q, why))
			return -EINVAL;
	}
	*why = NULL;
	return 0;
}

/* "=pm/bus" into buf; snprintf's return value. */
static int steps_str(const struct egpu_quirk_entry *q, char *buf, size_t len)
{
	size_t off = 0;
	uint32_t i;
	int w;

	for (i = 0; i < q->nsteps; i++) {
		w = snprintf(buf + off, len - off, "%c%s", i ? '/' : '=',
			     egpu_reset_step_name(q->reset_steps[i]));
		if (w < 0)
			return w;
		off += (size_t)w;
		if (off >= len)
			break;
	}
	return (int)off;
}

const char *egpu_quirk_actions_str(const struct egpu_quirk_entry *q, char *buf,
				   size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	/* the match condition first, where the parser takes it too */
	if ((q->match_flags & EGPUHP_QUIRK_MATCH_EXTERNAL) && len)
		off = (size_t)snprintf(buf, len, "external");
	for (i = 0; i < N_ACTIONS && off < len; i++) {
		uint32_t bit = action_names[i].bit;
		int w;

		if (!(q->actions & bit))
			continue;
		w = snprintf(buf + off, len - off, "%s%s", off ? "+" : "",
			     action_names[i].name);
		if (w < 0)
			break;
		off += (size_t)w;
		if (off >= len)
			break;
		if (bit == EGPUHP_QUIRK_D3HOT_DELAY)
			w = snprintf(buf + off, len - off, "=%u", q->d3hot_delay_ms);
		else if (bit == EGPUHP_QUIRK_D3COLD_DELAY)
			w = snprintf(buf + off, len - off, "=%u", q->d3cold_delay_ms);
		else if (bit == EGPUHP_QUIRK_RESET_ORDER)
			w = snprintf(buf + off, len - off, "=%s", q->reset_order);
		else if (bit == EGPUHP_QUIRK_EGPUHP_RESET)
			w = steps_str(q, buf + off, len - off);
		else
			w = 0;
		if (w < 0)
			break;
		off += (size_t)w;
	}
	if (off >= len && len)
		buf[len - 1] = '\0';
	return buf;
}

static void id_str(uint16_t id, char out[8])
{
	if (id == EGPUHP_QUIRK_ANY_ID)
		strcpy(out, "*");
	else
		snprintf(out, 8, "%04x", id);
}

const char *egpu_quirk_match_str(const struct egpu_quirk_entry *q, char *buf,
				 size_t len)
{
	char v[8], d[8], sv[8], sd[8];

	id_str(q->vendor, v);
	id_str(q->device, d);
	id_str(q->subsys_vendor, sv);
	id_str(q->subsys_device, sd);
	if (q->class_mask)
		snprintf(buf, len, "%s:%s:%s:%s:%06x:%06x", v, d, sv, sd,
			 q->class_code, q->class_mask);
	else
		snprintf(buf, len, "%s:%s:%s:%s", v, d, sv, sd);
	return buf;
}
