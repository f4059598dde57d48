// SPDX-License-Identifier: GPL-2.0
/*
 * What the control socket answers in JSON (docs/egpuctl-json.md): one
 * envelope for every verb, the "data" of status and info, and how a verb's
 * result maps to the exit status and the stable "code".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/store.h"
#include "common/sysfs.h"
#include "egpud/egpud.h"

int egpud_result_status(enum egpud_result r)
{
	switch (r) {
	case EGPUD_R_OK: return 0;
	case EGPUD_R_USAGE:
	case EGPUD_R_BAD_REQUEST: return 2;
	default: return 1;
	}
}

const char *egpud_result_code(enum egpud_result r)
{
	switch (r) {
	case EGPUD_R_OK: return NULL;
	case EGPUD_R_USAGE: return "usage";
	case EGPUD_R_BAD_REQUEST: return "bad-request";
	case EGPUD_R_NOT_FOUND: return "not-found";
	case EGPUD_R_POLICY: return "policy";
	case EGPUD_R_REFUSED: return "refused";
	case EGPUD_R_BUSY: return "busy";
	default: return "failed";
	}
}

void egpud_json_envelope(FILE *out, const char *verb, enum egpud_result r,
			 const char *data, const char *text)
{
	egpu_json_envelope(out, verb, egpud_result_status(r), egpud_result_code(r), NULL,
			   data, text);
}

static const char *owner_name(enum egpu_owner o)
{
	return o == EGPU_OWNER_EGPUD ? "egpud" : o == EGPU_OWNER_NONE ? "none" : "auto";
}

/* The decision keys of a router egpud has decided on. */
static void decision_kv(FILE *out, int *first, const struct egpud_router_state *st)
{
	if (st->policy != EGPU_POLICY_UNSET)	/* unknown: left out */
		egpu_json_kv_str(out, first, "policy", egpu_policy_name(st->policy));
	egpu_json_kv_str(out, first, "decision", egpu_auth_verdict_name(st->verdict));
	egpu_json_kv_str(out, first, "reason", st->reason);
	if (st->held_by[0]) {
		egpu_json_kv_str(out, first, "user_decision", "deauthorized");
		egpu_json_kv_str(out, first, "user_decision_by", st->held_by);
	}
}

/* The store keys of an enrolled device. */
static void enrolled_kv(FILE *out, int *first, const char *store,
			const struct egpu_store_dev *sd, const char *policy_key)
{
	egpu_json_kv_str(out, first, policy_key, egpu_policy_name(sd->policy));
	egpu_json_kv_int(out, first, "enrolled_time", sd->enrolled);
	egpu_json_kv_bool(out, first, "key", egpu_store_has_key(store, sd->unique_id));
}

void egpud_status_json(struct egpud *d, FILE *out)
{
	struct egpu_store_dev *sd = NULL;
	size_t i, n_sd = 0;
	int first = 1;

	fputc('{', out);
	egpu_json_kv_str(out, &first, "policy", egpu_policy_name(d->cfg->policy));
	egpu_json_kv_str(out, &first, "owner", owner_name(d->cfg->owner));
	egpu_json_kv_bool(out, &first, "boltd_running", d->boltd_running);
	egpu_json_kv_bool(out, &first, "module_connected", d->nl_ev != NULL);
	egpu_json_kv_str(out, &first, "config", d->config_path);
	egpu_json_kv_str(out, &first, "store", d->cfg->store_dir);
	egpu_json_kv_str(out, &first, "state_dir", d->cfg->store_dir);
	egpu_json_kv_uint(out, &first, "last_seq", d->tracker.last_seq);
	egpu_json_kv_uint(out, &first, "events_handled", d->tracker.handled);
	egpu_json_kv_uint(out, &first, "events_skipped", d->tracker.skipped);
	egpu_json_kv_uint(out, &first, "resyncs", d->tracker.resyncs);
	egpu_json_kv_uint(out, &first, "gaps", d->tracker.gaps);
	egpu_json_kv_uint(out, &first, "overruns", d->tracker.overruns);
	egpu_json_kv_uint(out, &first, "functions", d->tracker.n_devs);
	egpu_json_kv_uint(out, &first, "hooks_running", d->n_children);
	egpu_json_key(out, &first, "routers");
	fputc('[', out);
	for (i = 0; i < d->n_routers; i++) {
		int f = 1;

		fputs(i ? ",{" : "{", out);
		egpu_json_kv_str(out, &f, "name", d->routers[i].name);
		egpu_json_kv_str(out, &f, "unique_id", d->routers[i].unique_id);
		decision_kv(out, &f, &d->routers[i]);
		fputc('}', out);
	}
	fputc(']', out);
	/* every enrolled device, connected or not (egpuctl lists absent ones too) */
	egpu_json_key(out, &first, "enrolled");
	fputc('[', out);
	if (egpu_store_list(d->cfg->store_dir, &sd, &n_sd) < 0)
		n_sd = 0;
	for (i = 0; i < n_sd; i++) {
		char name[EGPUHP_ROUTER_NAME_LEN];
		bool connected = egpu_tb_find_by_uid(sd[i].unique_id, name, sizeof(name)) == 0;
		int f = 1;

		fputs(i ? ",{" : "{", out);
		egpu_json_kv_str(out, &f, "unique_id", sd[i].unique_id);
		egpu_json_kv_str(out, &f, "name", sd[i].name);
		egpu_json_kv_str(out, &f, "vendor_name", sd[i].vendor_name);
		egpu_json_kv_str(out, &f, "device_name", sd[i].device_name);
		egpu_json_kv_uint(out, &f, "generation", sd[i].generation);
		enrolled_kv(out, &f, d->cfg->store_dir, &sd[i], "policy");
		egpu_json_kv_bool(out, &f, "connected", connected);
		if (connected)
			egpu_json_kv_str(out, &f, "router", name);
		fputc('}', out);
	}
	free(sd);
	fputs("]}", out);
}

enum egpud_result egpud_info(struct egpud *d, int argc, char **argv, FILE *text, FILE *data)
{
	const struct egpud_router_state *st;
	struct egpu_store_dev sd;
	struct egpuhp_router r;
	char name[EGPUHP_ROUTER_NAME_LEN];
	bool connected, enrolled;
	const char *uid;
	int f = 1;

	if (argc != 2) {
		fprintf(text, "usage: info ROUTER|UNIQUE_ID\n");
		return EGPUD_R_USAGE;
	}
	connected = (egpu_tb_is_router_name(argv[1]) ?
		     snprintf(name, sizeof(name), "%s", argv[1]) >= 0 :
		     egpu_tb_find_by_uid(argv[1], name, sizeof(name)) == 0) &&
		    egpu_tb_read_router(name, &r) == 0;
	uid = connected ? r.unique_id : argv[1];
	enrolled = egpu_store_valid_uid(uid) &&
		   egpu_store_get_dev(d->cfg->store_dir, uid, &sd) == 0;
	if (!connected && !enrolled) {
		fprintf(text, "no Thunderbolt router or enrolled device %s\n", argv[1]);
		return EGPUD_R_NOT_FOUND;
	}
	st = connected ? egpud_auth_state(d, r.name) : NULL;
	if (!data) {
		if (connected)
			fprintf(text, "router: %s\nunique_id: %s\nvendor: %04x %s\ndevice: %04x %s\n"
				"generation: %u\nauthorized: %u\nsecurity: %s\n"
				"iommu_dma_protection: %u\ndepth: %u\n",
				r.name, r.unique_id, r.vendor, r.vendor_name, r.device,
				r.device_name, r.generation, r.authorized, r.security,
				r.iommu_prot, r.depth);
		else
			fprintf(text, "unique_id: %s\nconnected: no\nvendor: %s\ndevice: %s\n",
				sd.unique_id, sd.vendor_name, sd.device_name);
		if (st)
			fprintf(text, "decision: %s (%s)\n", egpu_auth_verdict_name(st->verdict),
				st->reason);
		if (enrolled)
			fprintf(text, "enrolled: policy %s, since %lld%s\n",
				egpu_policy_name(sd.policy), (long long)sd.enrolled,
				egpu_store_has_key(d->cfg->store_dir, sd.unique_id) ?
				", key stored" : "");
		else
			fprintf(text, "enrolled: no\n");
		return EGPUD_R_OK;
	}
	fputc('{', data);
	egpu_json_kv_str(data, &f, "unique_id", uid);
	egpu_json_kv_bool(data, &f, "connected", connected);
	if (connected) {
		egpu_json_kv_str(data, &f, "name", r.name);
		egpu_json_kv_str(data, &f, "vendor_name", r.vendor_name);
		egpu_json_kv_str(data, &f, "device_name", r.device_name);
		egpu_json_kv_hex(data, &f, "vendor", 4, r.vendor);
		egpu_json_kv_hex(data, &f, "device", 4, r.device);
		egpu_json_kv_uint(data, &f, "generation", r.generation);
		egpu_json_kv_uint(data, &f, "authorized", r.authorized);
		egpu_json_kv_str(data, &f, "security", r.security);
		egpu_json_kv_bool(data, &f, "iommu_dma_protection", r.iommu_prot);
		egpu_json_kv_uint(data, &f, "depth", r.depth);
	} else {
		egpu_json_kv_str(data, &f, "vendor_name", sd.vendor_name);
		egpu_json_kv_str(data, &f, "device_name", sd.device_name);
		egpu_json_kv_uint(data, &f, "generation", sd.generation);
	}
	if (st)
		decision_kv(data, &f, st);
	egpu_json_kv_bool(data, &f, "enrolled", enrolled);
	/* "policy" is the one in force (the decision's); the store's is apart */
	if (enrolled)
		enrolled_kv(data, &f, d->cfg->store_dir, &sd, "enrolled_policy");
	fputc('}', data);
	return EGPUD_R_OK;
}
