// SPDX-License-Identifier: GPL-2.0
/*
 * Printing engine reports, human readable or as one JSON object.
 */
#include <inttypes.h>
#include <string.h>

#include "common/json.h"
#include "gpuwork/gw_internal.h"

/* GB/s (1e9 bytes per second) moved by a step, 0 if unknown. */
static double gbps(uint64_t bytes, const struct gw_step_result *s)
{
	if (!bytes || !s->ran || !s->ok || s->ms <= 0)
		return 0;
	return bytes / (s->ms * 1e6);
}

static void json_gpu(FILE *out, const char *key, const char *pci, const char *uuid)
{
	fprintf(out, ",\"%s\":{\"pci\":", key);
	egpu_json_str(out, pci);
	fputs(",\"uuid\":", out);
	egpu_json_str(out, uuid);
	fputc('}', out);
}

static void print_json(const struct gw_report *r, FILE *out)
{
	bool first = true;
	int s;

	fprintf(out, "{\"op\":\"%s\",\"pid\":%d,\"ok\":%s,\"refused\":%s,\"reason\":",
		r->op, (int)r->pid, r->ok ? "true" : "false", r->refused ? "true" : "false");
	egpu_json_str(out, r->reason);
	fprintf(out, ",\"state_before\":\"%s\",\"state_after\":\"%s\"",
		gw_state_name(r->state_before), gw_state_name(r->state_after));
	json_gpu(out, "from", r->from_pci, r->from_uuid);
	json_gpu(out, "to", r->to_pci, r->to_uuid);
	fprintf(out, ",\"gpu_bytes\":%" PRIu64 ",\"gpu_pairs\":%d,\"steps\":{",
		r->gpu_bytes, r->pairs);
	for (s = 0; s < GW_STEP_NR; s++) {
		const struct gw_step_result *st = &r->step[s];

		if (!st->ran)
			continue;
		fprintf(out, "%s\"%s\":{\"ms\":%.3f,\"ok\":%s,\"cuda_error\":%d}",
			first ? "" : ",", gw_step_name(s), st->ms, st->ok ? "true" : "false",
			st->cu_err);
		first = false;
	}
	fprintf(out, "},\"checkpoint_gbps\":%.3f,\"restore_gbps\":%.3f}\n",
		gbps(r->gpu_bytes, &r->step[GW_STEP_CHECKPOINT]),
		gbps(r->gpu_bytes, &r->step[GW_STEP_RESTORE]));
}

static void print_human(const struct gw_report *r, FILE *out)
{
	int s;

	fprintf(out, "%s pid %d: %s", r->op, (int)r->pid,
		r->ok ? "ok" : r->refused ? "refused" : "FAILED");
	if (r->state_before >= 0)
		fprintf(out, " (%s -> %s)", gw_state_name(r->state_before),
			gw_state_name(r->state_after));
	fputc('\n', out);
	if (r->reason[0])
		fprintf(out, "  reason: %s\n", r->reason);
	if (r->from_pci[0])
		fprintf(out, "  from: %s %s\n", r->from_pci, r->from_uuid);
	if (r->to_pci[0])
		fprintf(out, "  to:   %s %s%s\n", r->to_pci, r->to_uuid,
			r->pairs ? " (UUID map of all GPUs)" : "");
	if (r->gpu_bytes)
		fprintf(out, "  device memory: %" PRIu64 " MiB\n", r->gpu_bytes >> 20);
	for (s = 0; s < GW_STEP_NR; s++) {
		const struct gw_step_result *st = &r->step[s];
		double rate = (s == GW_STEP_CHECKPOINT || s == GW_STEP_RESTORE) ?
			gbps(r->gpu_bytes, st) : 0;

		if (!st->ran)
			continue;
		fprintf(out, "  %-10s %10.1f ms %s", gw_step_name(s), st->ms,
			st->ok ? "ok" : "failed");
		if (rate > 0)
			fprintf(out, "  %.2f GB/s", rate);
		fputc('\n', out);
	}
}

void gw_report_print(const struct gw_report *r, FILE *out, bool json)
{
	if (json)
		print_json(r, out);
	else
		print_human(r, out);
}
