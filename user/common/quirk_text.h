/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Text form of egpuhp quirk entries, the same syntax as the module's
 * "quirks=" parameter (kmod/quirk_param.c):
 *
 *   VENDOR:DEVICE[:SUBVENDOR:SUBDEVICE[:CLASS:CLASSMASK]]:ACTION[+ACTION...]
 *
 * IDs hexadecimal, "*" = any; actions no_flr no_bus_reset no_pm_reset no_d3
 * no_d3cold aspm_l0s_off aspm_l1_off d3hot_delay=MS d3cold_delay=MS
 * reset_order=M/M egpuhp_reset[=STEP/STEP...] (steps bus link_retrain pm
 * slot_power, run in order; default bus).  The word "external" among the
 * actions is a match condition (EGPUHP_QUIRK_MATCH_EXTERNAL): the entry then
 * applies only below a Thunderbolt/USB4 tunnel or an external-facing port.
 */
#ifndef EGPU_QUIRK_TEXT_H
#define EGPU_QUIRK_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <linux/egpuhp.h>

struct egpu_quirk_entry {
	uint32_t id;
	uint16_t vendor, device, subsys_vendor, subsys_device;
	uint32_t class_code, class_mask;
	uint32_t actions;		/* EGPUHP_QUIRK_* */
	uint32_t match_flags;		/* EGPUHP_QUIRK_MATCH_* ("external") */
	uint32_t d3hot_delay_ms, d3cold_delay_ms;
	/* egpuhp_reset: the steps in order (enum egpuhp_reset_method) */
	uint32_t reset_steps[EGPUHP_RESET_MAX_STEPS];
	uint32_t nsteps;
	uint32_t source;		/* enum egpuhp_quirk_source */
	char reset_order[64];
	char note[128];
};

/* Parse one entry; on error returns -EINVAL with *why set. */
int egpu_quirk_parse(const char *text, struct egpu_quirk_entry *q, const char **why);

/* "no_flr+egpuhp_reset=pm/bus" (with values) into buf. */
const char *egpu_quirk_actions_str(const struct egpu_quirk_entry *q, char *buf,
				   size_t len);
/* "1002:687f:*:*" or with ":030000:ffff00" when a class is matched. */
const char *egpu_quirk_match_str(const struct egpu_quirk_entry *q, char *buf,
				 size_t len);
/* Name of one EGPUHP_QUIRK_* bit ("no_flr"), NULL if unknown. */
const char *egpu_quirk_action_name(uint32_t bit);
const char *egpu_quirk_source_name(uint32_t source);
/* "bus", "link_retrain", "pm", "slot_power" (also "-" spellings) -> method. */
int egpu_reset_method_parse(const char *s, uint32_t *method);
/* Name of a step in the quirk syntax ("link_retrain"), "?" if none. */
const char *egpu_reset_step_name(uint32_t method);

#endif /* EGPU_QUIRK_TEXT_H */
