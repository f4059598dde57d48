// SPDX-License-Identifier: GPL-2.0
/*
 * egpuctl quirks [--json]          the quirk table, what each device got, why
 * egpuctl quirks add ENTRY [--note TEXT]   add an entry (module syntax)
 * egpuctl quirks del ID            delete an entry
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <linux/egpuhp.h>

#include "common/egpuhp_nl.h"
#include "common/json.h"
#include "common/quirk_text.h"
#include "egpuctl/commands.h"

#define MAX_ENTRIES	256
#define MAX_APPLIED	32

struct qrow {
	struct egpu_quirk_entry q;
	char applied[MAX_APPLIED][EGPUHP_PCI_NAME_LEN];
	size_t napplied;
};

struct qlist {
	struct qrow *rows;
	size_t n;
};

struct hook_info {
	uint32_t state;
	bool valid;
	char msg[160];
};

static const char *hook_state_name(uint32_t s)
{
	switch (s) {
	case EGPUHP_RESET_HOOK_ACTIVE:
		return "active";
	case EGPUHP_RESET_HOOK_UNAVAILABLE:
		return "unavailable";
	case EGPUHP_RESET_HOOK_DISABLED:
		return "disabled";
	case EGPUHP_RESET_HOOK_IDLE:
		return "idle";
	}
	return "?";
}

static void get_str(struct nlattr *a, char *buf, size_t len)
{
	if (a)
		snprintf(buf, len, "%s", (const char *)nla_data(a));
}

static int quirk_reply(struct nlattr **tb, void *arg)
{
	struct qlist *l = arg;
	struct nlattr *t[EGPUHP_QUIRK_A_MAX + 1], *a;
	struct qrow *r;
	int rem;

	if (!tb[EGPUHP_A_QUIRK] || l->n >= MAX_ENTRIES)
		return 0;
	if (nla_parse_nested(t, EGPUHP_QUIRK_A_MAX, tb[EGPUHP_A_QUIRK], NULL) < 0)
		return -EINVAL;
	r = &l->rows[l->n++];
	memset(r, 0, sizeof(*r));
	if (t[EGPUHP_QUIRK_A_ID])
		r->q.id = nla_get_u32(t[EGPUHP_QUIRK_A_ID]);
	r->q.vendor = t[EGPUHP_QUIRK_A_VENDOR] ? nla_get_u16(t[EGPUHP_QUIRK_A_VENDOR]) : 0xffff;
	r->q.device = t[EGPUHP_QUIRK_A_DEVICE] ? nla_get_u16(t[EGPUHP_QUIRK_A_DEVICE]) : 0xffff;
	r->q.subsys_vendor = t[EGPUHP_QUIRK_A_SUBSYS_VENDOR] ?
		nla_get_u16(t[EGPUHP_QUIRK_A_SUBSYS_VENDOR]) : 0xffff;
	r->q.subsys_device = t[EGPUHP_QUIRK_A_SUBSYS_DEVICE] ?
		nla_get_u16(t[EGPUHP_QUIRK_A_SUBSYS_DEVICE]) : 0xffff;
	if (t[EGPUHP_QUIRK_A_CLASS])
		r->q.class_code = nla_get_u32(t[EGPUHP_QUIRK_A_CLASS]);
	if (t[EGPUHP_QUIRK_A_CLASS_MASK])
		r->q.class_mask = nla_get_u32(t[EGPUHP_QUIRK_A_CLASS_MASK]);
	if (t[EGPUHP_QUIRK_A_ACTIONS])
		r->q.actions = nla_get_u32(t[EGPUHP_QUIRK_A_ACTIONS]);
	if (t[EGPUHP_QUIRK_A_MATCH_FLAGS])
		r->q.match_flags = nla_get_u32(t[EGPUHP_QUIRK_A_MATCH_FLAGS]);
	if (t[EGPUHP_QUIRK_A_D3HOT_DELAY_MS])
		r->q.d3hot_delay_ms = nla_get_u32(t[EGPUHP_QUIRK_A_D3HOT_DELAY_MS]);
	if (t[EGPUHP_QUIRK_A_D3COLD_DELAY_MS])
		r->q.d3cold_delay_ms = nla_get_u32(t[EGPUHP_QUIRK_A_D3COLD_DELAY_MS]);
	if (t[EGPUHP_QUIRK_A_SOURCE])
		r->q.source = nla_get_u32(t[EGPUHP_QUIRK_A_SOURCE]);
	get_str(t[EGPUHP_QUIRK_A_RESET_ORDER], r->q.reset_order, sizeof(r->q.reset_order));
	get_str(t[EGPUHP_QUIRK_A_NOTE], r->q.note, sizeof(r->q.note));
	nla_for_each_nested(a, tb[EGPUHP_A_QUIRK], rem) {
		if (nla_type(a) == EGPUHP_QUIRK_A_RESET_STEP &&
		    r->q.nsteps < EGPUHP_RESET_MAX_STEPS)
			r->q.reset_steps[r->q.nsteps++] = nla_get_u32(a);
		if (nla_type(a) != EGPUHP_QUIRK_A_APPLIED_DEV || r->napplied >= MAX_APPLIED)
			continue;
		get_str(a, r->applied[r->napplied], EGPUHP_PCI_NAME_LEN);
		r->napplied++;
	}
	/* a module older than reset sequences sends the one method alone */
	if (!r->q.nsteps && t[EGPUHP_QUIRK_A_RESET_METHOD])
		r->q.reset_steps[r->q.nsteps++] = nla_get_u32(t[EGPUHP_QUIRK_A_RESET_METHOD]);
	return 0;
}

static int info_reply(struct nlattr **tb, void *arg)
{
	struct hook_info *h = arg;

	if (tb[EGPUHP_A_RESET_HOOK]) {
		h->valid = true;
		h->state = nla_get_u32(tb[EGPUHP_A_RESET_HOOK]);
	}
	get_str(tb[EGPUHP_A_RESET_HOOK_MSG], h->msg, sizeof(h->msg));
	return 0;
}

/* Devices in the order first seen, each with the entries applied to it. */
struct qdevrow {
	char name[EGPUHP_PCI_NAME_LEN];
	struct egpu_quirk_entry sum;
	uint32_t ids[MAX_APPLIED];
	size_t nids;
};

static size_t collect_devices(const struct qlist *l, struct qdevrow *d, size_t max)
{
	size_t n = 0, i, j, k;

	for (i = 0; i < l->n; i++) {
		const struct qrow *r = &l->rows[i];

		for (j = 0; j < r->napplied; j++) {
			for (k = 0; k < n; k++)
				if (!strcmp(d[k].name, r->applied[j]))
					break;
			if (k == n) {
				if (n == max)
					continue;
				memset(&d[n], 0, sizeof(d[n]));
				snprintf(d[n].name, sizeof(d[n].name), "%s", r->applied[j]);
				n++;
			}
			if (!d[k].sum.reset_order[0] && r->q.reset_order[0])
				snprintf(d[k].sum.reset_order, sizeof(d[k].sum.reset_order),
					 "%s", r->q.reset_order);
			/* the module runs the first entry's sequence */
			if (!(d[k].sum.actions & EGPUHP_QUIRK_EGPUHP_RESET)) {
				memcpy(d[k].sum.reset_steps, r->q.reset_steps,
				       sizeof(r->q.reset_steps));
				d[k].sum.nsteps = r->q.nsteps;
			}
			d[k].sum.actions |= r->q.actions;
			if (r->q.d3hot_delay_ms > d[k].sum.d3hot_delay_ms)
				d[k].sum.d3hot_delay_ms = r->q.d3hot_delay_ms;
			if (r->q.d3cold_delay_ms > d[k].sum.d3cold_delay_ms)
				d[k].sum.d3cold_delay_ms = r->q.d3cold_delay_ms;
			if (d[k].nids < MAX_APPLIED)
				d[k].ids[d[k].nids++] = r->q.id;
		}
	}
	return n;
}

/* "reset_steps": ["pm","bus"], for entries and devices with egpuhp_reset */
static void json_steps(FILE *out, int *first, const struct egpu_quirk_entry *q)
{
	uint32_t i;

	if (!(q->actions & EGPUHP_QUIRK_EGPUHP_RESET))
		return;
	egpu_json_key(out, first, "reset_steps");
	fputc('[', out);
	for (i = 0; i < q->nsteps; i++) {
		if (i)
			fputc(',', out);
		egpu_json_str(out, egpu_reset_step_name(q->reset_steps[i]));
	}
	fputc(']', out);
}

/* data of "quirks" (docs/egpuctl-json.md) */
static void print_json(FILE *out, const struct qlist *l, const struct hook_info *h,
		       const struct qdevrow *d, size_t nd)
{
	char buf[256];
	size_t i, j;
	int first = 1;

	fputc('{', out);
	egpu_json_kv_str(out, &first, "reset_hook", h->valid ? hook_state_name(h->state) : "unknown");
	if (h->msg[0])
		egpu_json_kv_str(out, &first, "reset_hook_message", h->msg);
	egpu_json_key(out, &first, "entries");
	fputc('[', out);
	for (i = 0; i < l->n; i++) {
		const struct qrow *r = &l->rows[i];
		int f = 1;

		fputs(i ? ",{" : "{", out);
		egpu_json_kv_uint(out, &f, "id", r->q.id);
		egpu_json_kv_str(out, &f, "source", egpu_quirk_source_name(r->q.source));
		egpu_json_kv_str(out, &f, "match", egpu_quirk_match_str(&r->q, buf, sizeof(buf)));
		egpu_json_kv_hex(out, &f, "vendor", 4, r->q.vendor);
		egpu_json_kv_hex(out, &f, "device", 4, r->q.device);
		egpu_json_kv_hex(out, &f, "subsys_vendor", 4, r->q.subsys_vendor);
		egpu_json_kv_hex(out, &f, "subsys_device", 4, r->q.subsys_device);
		egpu_json_kv_hex(out, &f, "class", 6, r->q.class_code);
		egpu_json_kv_mask(out, &f, "class_mask", r->q.class_mask);
		egpu_json_kv_mask(out, &f, "action_bits", r->q.actions);
		egpu_json_kv_str(out, &f, "actions", egpu_quirk_actions_str(&r->q, buf, sizeof(buf)));
		json_steps(out, &f, &r->q);
		egpu_json_kv_str(out, &f, "note", r->q.note);
		egpu_json_key(out, &f, "applied_to");
		fputc('[', out);
		for (j = 0; j < r->napplied; j++) {
			if (j)
				fputc(',', out);
			egpu_json_str(out, r->applied[j]);
		}
		fputs("]}", out);
	}
	fputc(']', out);
	egpu_json_key(out, &first, "devices");
	fputc('[', out);
	for (i = 0; i < nd; i++) {
		int f = 1;

		fputs(i ? ",{" : "{", out);
		egpu_json_kv_str(out, &f, "name", d[i].name);
		egpu_json_kv_mask(out, &f, "action_bits", d[i].sum.actions);
		egpu_json_kv_str(out, &f, "actions",
				 egpu_quirk_actions_str(&d[i].sum, buf, sizeof(buf)));
		json_steps(out, &f, &d[i].sum);
		egpu_json_key(out, &f, "entries");
		fputc('[', out);
		for (j = 0; j < d[i].nids; j++)
			fprintf(out, "%s%u", j ? "," : "", d[i].ids[j]);
		fputs("]}", out);
	}
	fputs("]}", out);
}

static void print_text(const struct qlist *l, const struct hook_info *h,
		       const struct qdevrow *d, size_t nd)
{
	char m[64], a[256];
	size_t i, j;

	printf("reset hook: %s%s%s\n", h->valid ? hook_state_name(h->state) : "unknown",
	       h->msg[0] ? " - " : "", h->msg);
	if (h->valid && h->state != EGPUHP_RESET_HOOK_ACTIVE)
		printf("  egpuhp resets are reachable only through \"egpuctl reset DEV --method egpuhp\"\n");
	printf("\n%-4s %-8s %-28s %-32s %s\n", "ID", "SOURCE", "MATCH", "ACTIONS", "NOTE");
	for (i = 0; i < l->n; i++) {
		const struct qrow *r = &l->rows[i];

		printf("%-4u %-8s %-28s %-32s %s\n", r->q.id,
		       egpu_quirk_source_name(r->q.source),
		       egpu_quirk_match_str(&r->q, m, sizeof(m)),
		       egpu_quirk_actions_str(&r->q, a, sizeof(a)), r->q.note);
	}
	printf("\ndevices with quirks:%s\n", nd ? "" : " none");
	for (i = 0; i < nd; i++) {
		printf("  %s  %s  (entr%s", d[i].name,
		       egpu_quirk_actions_str(&d[i].sum, a, sizeof(a)),
		       d[i].nids == 1 ? "y" : "ies");
		for (j = 0; j < d[i].nids; j++)
			printf(" %u", d[i].ids[j]);
		printf(")\n");
		for (j = 0; j < d[i].nids; j++) {
			size_t k;

			for (k = 0; k < l->n; k++)
				if (l->rows[k].q.id == d[i].ids[j])
					printf("      #%u: %s\n", d[i].ids[j], l->rows[k].q.note);
		}
	}
}

static int do_list(const struct egpuctl_opts *o)
{
	struct egpuhp_nl_err err = { 0 };
	struct hook_info h = { 0 };
	struct qlist l = { 0 };
	struct qdevrow *d;
	struct egpuhp_nl *nl;
	size_t nd;
	int ret;

	nl = egpuhp_nl_open(&err);
	if (!nl) {
		return egpuctl_error("quirks", EGPUCTL_FAIL, "failed", "egpuctl: %s",
				     err.msg[0] ? err.msg : "egpuhp module not loaded");
	}
	l.rows = calloc(MAX_ENTRIES, sizeof(*l.rows));
	d = calloc(MAX_ENTRIES, sizeof(*d));
	if (!l.rows || !d) {
		egpuhp_nl_close(nl);
		free(l.rows);
		free(d);
		return egpuctl_error("quirks", EGPUCTL_FAIL, "failed", "egpuctl: out of memory");
	}
	ret = egpuhp_nl_request(nl, EGPUHP_CMD_GET_INFO, false, NULL, NULL, info_reply, &h, &err);
	if (ret >= 0)
		ret = egpuhp_nl_request(nl, EGPUHP_CMD_GET_QUIRK, true, NULL, NULL,
					quirk_reply, &l, &err);
	egpuhp_nl_close(nl);
	if (ret < 0) {
		free(l.rows);
		free(d);
		return egpuctl_error("quirks", EGPUCTL_FAIL, ret == -EPERM ? "refused" : "failed",
				     "egpuctl: quirks: %s", err.msg[0] ? err.msg : strerror(-ret));
	}
	nd = collect_devices(&l, d, MAX_ENTRIES);
	if (o->json) {
		struct egpuctl_data dd;

		ret = EGPUCTL_FAIL;
		if (egpuctl_data_open(&dd, "quirks")) {
			print_json(dd.f, &l, &h, d, nd);
			ret = egpuctl_data_close(&dd, EGPUCTL_OK, NULL, NULL, NULL);
		}
	} else {
		print_text(&l, &h, d, nd);
		ret = EGPUCTL_OK;
	}
	free(l.rows);
	free(d);
	return ret;
}

struct add_req {
	const struct egpu_quirk_entry *q;
	const char *note;
};

static int build_add(struct nl_msg *msg, void *arg)
{
	const struct add_req *r = arg;
	const struct egpu_quirk_entry *q = r->q;
	struct nlattr *nest = nla_nest_start(msg, EGPUHP_A_QUIRK);

	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u16(msg, EGPUHP_QUIRK_A_VENDOR, q->vendor) < 0 ||
	    nla_put_u16(msg, EGPUHP_QUIRK_A_DEVICE, q->device) < 0 ||
	    nla_put_u16(msg, EGPUHP_QUIRK_A_SUBSYS_VENDOR, q->subsys_vendor) < 0 ||
	    nla_put_u16(msg, EGPUHP_QUIRK_A_SUBSYS_DEVICE, q->subsys_device) < 0 ||
	    nla_put_u32(msg, EGPUHP_QUIRK_A_CLASS, q->class_code) < 0 ||
	    nla_put_u32(msg, EGPUHP_QUIRK_A_CLASS_MASK, q->class_mask) < 0 ||
	    nla_put_u32(msg, EGPUHP_QUIRK_A_ACTIONS, q->actions) < 0)
		return -EMSGSIZE;
	if ((q->actions & EGPUHP_QUIRK_D3HOT_DELAY) &&
	    nla_put_u32(msg, EGPUHP_QUIRK_A_D3HOT_DELAY_MS, q->d3hot_delay_ms) < 0)
		return -EMSGSIZE;
	if ((q->actions & EGPUHP_QUIRK_D3COLD_DELAY) &&
	    nla_put_u32(msg, EGPUHP_QUIRK_A_D3COLD_DELAY_MS, q->d3cold_delay_ms) < 0)
		return -EMSGSIZE;
	if (q->reset_order[0] &&
	    nla_put_string(msg, EGPUHP_QUIRK_A_RESET_ORDER, q->reset_order) < 0)
		return -EMSGSIZE;
	if (q->actions & EGPUHP_QUIRK_EGPUHP_RESET) {
		uint32_t i;

		/*
		 * The first step as METHOD; the steps only for a longer
		 * sequence, so that a one-step one still reaches a module
		 * older than sequences (which refuses the unknown attribute).
		 */
		if (nla_put_u32(msg, EGPUHP_QUIRK_A_RESET_METHOD, q->reset_steps[0]) < 0)
			return -EMSGSIZE;
		for (i = 0; q->nsteps > 1 && i < q->nsteps; i++)
			if (nla_put_u32(msg, EGPUHP_QUIRK_A_RESET_STEP, q->reset_steps[i]) < 0)
				return -EMSGSIZE;
	}
	/* only when set: a module older than match flags refuses it */
	if (q->match_flags &&
	    nla_put_u32(msg, EGPUHP_QUIRK_A_MATCH_FLAGS, q->match_flags) < 0)
		return -EMSGSIZE;
	if (r->note && nla_put_string(msg, EGPUHP_QUIRK_A_NOTE, r->note) < 0)
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

static int id_reply(struct nlattr **tb, void *arg)
{
	struct nlattr *t[EGPUHP_QUIRK_A_MAX + 1];

	if (tb[EGPUHP_A_QUIRK] &&
	    nla_parse_nested(t, EGPUHP_QUIRK_A_MAX, tb[EGPUHP_A_QUIRK], NULL) >= 0 &&
	    t[EGPUHP_QUIRK_A_ID])
		*(uint32_t *)arg = nla_get_u32(t[EGPUHP_QUIRK_A_ID]);
	return 0;
}

static int build_del(struct nl_msg *msg, void *arg)
{
	struct nlattr *nest = nla_nest_start(msg, EGPUHP_A_QUIRK);

	if (!nest || nla_put_u32(msg, EGPUHP_QUIRK_A_ID, *(uint32_t *)arg) < 0)
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

static int do_change(const struct egpuctl_opts *o, uint8_t cmd,
		     egpuhp_nl_build_cb build, void *barg, uint32_t *id)
{
	struct egpuhp_nl_err err = { 0 };
	struct egpuhp_nl *nl = egpuhp_nl_open(&err);
	int ret;

	if (!nl) {
		return egpuctl_error("quirks", EGPUCTL_FAIL, "failed", "egpuctl: %s",
				     err.msg[0] ? err.msg : "egpuhp module not loaded");
	}
	ret = egpuhp_nl_request(nl, cmd, false, build, barg, id ? id_reply : NULL, id, &err);
	egpuhp_nl_close(nl);
	if (ret < 0) {
		return egpuctl_error("quirks", EGPUCTL_FAIL,
				     ret == -EPERM ? "refused" : ret == -ENOENT ? "not-found" :
				     ret == -EINVAL ? "bad-request" : "failed",
				     "egpuctl: quirks: %s%s%s", strerror(-ret),
				     err.msg[0] ? ": " : "", err.msg);
	}
	if (o->json) {
		char data[32];

		snprintf(data, sizeof(data), "{\"id\":%u}", id ? *id : 0);
		egpuctl_print_data("quirks", id ? data : NULL, NULL);
	} else if (id) {
		printf("added quirk entry %u\n", *id);
	}
	return EGPUCTL_OK;
}

static int run_quirks(int argc, char **argv, const struct egpuctl_opts *o)
{
	if (argc == 1 || (argc == 2 && !strcmp(argv[1], "list")))
		return do_list(o);
	if (!strcmp(argv[1], "add")) {
		struct egpu_quirk_entry q;
		struct add_req req = { .q = &q };
		const char *why = NULL;
		uint32_t id = 0;

		if (argc == 5 && !strcmp(argv[3], "--note"))
			req.note = argv[4];
		else if (argc != 3)
			return egpuctl_usage(&egpuctl_cmd_quirks);
		if (egpu_quirk_parse(argv[2], &q, &why)) {
			return egpuctl_error("quirks", EGPUCTL_USAGE, "usage",
					     "egpuctl: quirks add: \"%s\": %s", argv[2], why);
		}
		return do_change(o, EGPUHP_CMD_ADD_QUIRK, build_add, &req, &id);
	}
	if (!strcmp(argv[1], "del") && argc == 3) {
		char *end;
		unsigned long v = strtoul(argv[2], &end, 10);
		uint32_t id;

		if (!argv[2][0] || *end || v == 0 || v > UINT32_MAX) {
			return egpuctl_error("quirks", EGPUCTL_USAGE, "usage",
					     "egpuctl: quirks del: bad id \"%s\"", argv[2]);
		}
		id = (uint32_t)v;
		return do_change(o, EGPUHP_CMD_DEL_QUIRK, build_del, &id, NULL);
	}
	return egpuctl_usage(&egpuctl_cmd_quirks);
}

const struct egpuctl_cmd egpuctl_cmd_quirks = {
	.name = "quirks",
	.args = "[add ENTRY [--note TEXT] | del ID]",
	.help = "quirk table, what each device got and why; ENTRY as modinfo egpuhp quirks=",
	.run = run_quirks,
};
