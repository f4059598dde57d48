// SPDX-License-Identifier: GPL-2.0
/*
 * The Prometheus text exposition format of egpud's snapshot (metrics.h).
 *
 * Names follow Prometheus' conventions: the egpuhp_ prefix, base units in
 * the name (_seconds, _bytes_per_second, _transfers_per_second), counters
 * ending in _total, one "info" family carrying the descriptive labels so
 * that the numeric families are keyed by identity only (pci, unique_id)
 * and a driver change does not start new series of every one of them.
 * A family is written only when it has a sample; families of counters
 * with a fixed label set (removals by kind, resets by method and result)
 * are written in full, zeros included, so that rate() sees every series
 * from egpud's start.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/metrics.h"
#include "common/sysfs.h"

const char *egpu_removal_kind_name(enum egpu_removal_kind k)
{
	switch (k) {
	case EGPU_REMOVAL_SURPRISE: return "surprise";
	case EGPU_REMOVAL_ORDERLY: return "orderly";
	default: return "unknown";
	}
}

enum egpu_removal_kind egpu_removal_kind_of(uint32_t flags)
{
	if (flags & EGPUHP_F_SURPRISE)
		return EGPU_REMOVAL_SURPRISE;
	if (flags & EGPUHP_F_ORDERLY)
		return EGPU_REMOVAL_ORDERLY;
	return EGPU_REMOVAL_UNKNOWN;
}

void egpu_metrics_count_event(struct egpu_metrics_counters *c,
			      const struct egpuhp_nl_event *ev)
{
	c->events++;
	switch (ev->event) {
	case EGPUHP_EV_PCI_REMOVE:
		c->removals[egpu_removal_kind_of(ev->flags)]++;
		break;
	case EGPUHP_EV_PCI_LOST:
		c->lost++;
		break;
	case EGPUHP_EV_PCI_SLOW:
		c->slow++;
		break;
	case EGPUHP_EV_QUIRK_APPLIED:
		c->quirks_applied++;
		break;
	case EGPUHP_EV_RESET_END:
		if (ev->reset.valid && ev->reset.method <= EGPUHP_RESET_MAX)
			c->resets[ev->reset.method][ev->reset.result ? 1 : 0]++;
		break;
	default:
		break;
	}
}

int egpu_aer_parse_total(const char *text, uint64_t *total)
{
	static const char key[] = "TOTAL_ERR_COR";
	const char *s = text;

	while (s && *s) {
		if (!strncmp(s, key, sizeof(key) - 1) &&
		    (s[sizeof(key) - 1] == ' ' || s[sizeof(key) - 1] == '\t')) {
			char *end;
			unsigned long long v;

			s += sizeof(key) - 1;
			while (*s == ' ' || *s == '\t')
				s++;
			if (*s < '0' || *s > '9')
				return -EINVAL;
			errno = 0;
			v = strtoull(s, &end, 10);
			if (errno || (*end && *end != '\n'))
				return -EINVAL;
			*total = v;
			return 0;
		}
		s = strchr(s, '\n');
		if (s)
			s++;
	}
	return -EINVAL;
}

int egpu_aer_read_correctable(const char *pci, uint64_t *total)
{
	char rel[96], text[2048];

	if (snprintf(rel, sizeof(rel), "bus/pci/devices/%s/aer_dev_correctable", pci) >=
	    (int)sizeof(rel) || egpu_sysfs_read(rel, text, sizeof(text)) < 0)
		return -ENOENT;
	return egpu_aer_parse_total(text, total);
}

/*
 * A label value: valid UTF-8 (DROM names are arbitrary bytes: a byte that
 * is not part of a valid sequence becomes U+FFFD), with the three escapes
 * of the text format; other control characters become U+FFFD too, so a
 * value never splits a line.
 */
static void label_value(FILE *out, const char *s)
{
	fputc('"', out);
	while (s && *s) {
		size_t n = egpu_utf8_len(s);

		if (!n || (n == 1 && (unsigned char)*s < 0x20 && *s != '\n') || *s == 0x7f) {
			fputs("\xef\xbf\xbd", out);
			s++;
			continue;
		}
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '"')
			fputs("\\\"", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fwrite(s, 1, n, out);
		s += n;
	}
	fputc('"', out);
}

/* Up to four labels; a NULL name ends the list. */
struct label {
	const char *name;
	const char *value;
};

static void sample(FILE *out, const char *name, const struct label *labels,
		   size_t n_labels, const char *value)
{
	size_t i;

	fputs(name, out);
	if (n_labels) {
		fputc('{', out);
		for (i = 0; i < n_labels; i++) {
			fprintf(out, "%s%s=", i ? "," : "", labels[i].name);
			label_value(out, labels[i].value);
		}
		fputc('}', out);
	}
	fprintf(out, " %s\n", value);
}

static void sample_u64(FILE *out, const char *name, const struct label *labels,
		       size_t n_labels, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	sample(out, name, labels, n_labels, buf);
}

static void header(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one unlabelled sample. */
static void single(FILE *out, const char *name, const char *type, const char *help,
		   uint64_t v)
{
	header(out, name, type, help);
	sample_u64(out, name, NULL, 0, v);
}

static void hex4(char *buf, size_t len, unsigned int v)
{
	snprintf(buf, len, "%04x", v & 0xffff);
}

/* --- routers --- */

static void routers_write(FILE *out, const struct egpu_metrics *m)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{ "egpuhp_router_present", "gauge",
		  "1 while the Thunderbolt/USB4 router is connected, 0 for an enrolled one that is not." },
		{ "egpuhp_router_info", "gauge",
		  "A connected router's names (value 1)." },
		{ "egpuhp_router_authorized", "gauge",
		  "1 while the router is authorized (sysfs authorized 1 or 2), else 0." },
		{ "egpuhp_router_link_speed_bytes_per_second", "gauge",
		  "The router's link speed per lane, by direction (Gb/s as bytes)." },
		{ "egpuhp_router_link_lanes", "gauge",
		  "The router's link lanes, by direction." },
	};
	size_t f, i;

	for (f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		bool any = false;

		for (i = 0; i < m->n_routers; i++) {
			const struct egpu_metrics_router *x = &m->routers[i];
			const struct egpuhp_router *r = &x->r;
			struct label l[5] = { { "unique_id", r->unique_id } };
			char gen[12];
			int dir;

			if (f > 0 && !x->connected)
				continue;
			if (!any)
				header(out, fam[f].name, fam[f].type, fam[f].help);
			any = true;
			switch (f) {
			case 0:
				sample(out, fam[f].name, l, 1, x->connected ? "1" : "0");
				break;
			case 1:
				snprintf(gen, sizeof(gen), "%u", r->generation);
				l[1] = (struct label){ "router", r->name };
				l[2] = (struct label){ "vendor_name", r->vendor_name };
				l[3] = (struct label){ "device_name", r->device_name };
				l[4] = (struct label){ "generation", gen };
				sample(out, fam[f].name, l, 5, "1");
				break;
			case 2:
				sample(out, fam[f].name, l, 1, r->authorized ? "1" : "0");
				break;
			default:
				for (dir = 0; dir < 2; dir++) {
					uint32_t speed = dir ? r->tx_speed : r->rx_speed;
					uint32_t lanes = dir ? r->tx_lanes : r->rx_lanes;

					l[1] = (struct label){ "direction", dir ? "tx" : "rx" };
					sample_u64(out, fam[f].name, l, 2,
						   f == 3 ? (uint64_t)speed * 125000000ULL : lanes);
				}
				break;
			}
		}
	}
}

/* --- PCI functions --- */

enum fn_family {
	FN_INFO,
	FN_PRESENT,
	FN_SPEED,
	FN_MAX_SPEED,
	FN_WIDTH,
	FN_MAX_WIDTH,
	FN_AER,
	FN__COUNT,
};

static void fns_write(FILE *out, const struct egpu_metrics *m)
{
	static const struct {
		const char *name, *type, *help;
	} fam[FN__COUNT] = {
		[FN_INFO] = { "egpuhp_pci_function_info", "gauge",
			      "A PCI function egpuhp tracks: ids, driver, carrying router, quirks applied (value 1)." },
		[FN_PRESENT] = { "egpuhp_pci_present", "gauge",
				 "1 while the function's config space answers, 0 when the watchdog found it lost." },
		[FN_SPEED] = { "egpuhp_pci_link_speed_transfers_per_second", "gauge",
			       "Current PCIe link speed per lane of the function's upstream link." },
		[FN_MAX_SPEED] = { "egpuhp_pci_link_max_speed_transfers_per_second", "gauge",
				   "PCIe link speed per lane both ends of the link are capable of." },
		[FN_WIDTH] = { "egpuhp_pci_link_width_lanes", "gauge",
			       "Current PCIe link width of the function's upstream link." },
		[FN_MAX_WIDTH] = { "egpuhp_pci_link_max_width_lanes", "gauge",
				   "PCIe link width both ends of the link are capable of." },
		[FN_AER] = { "egpuhp_pci_aer_correctable_errors_total", "counter",
			     "Correctable PCIe errors AER counted on the function (aer_dev_correctable)." },
	};
	int f;
	size_t i;

	for (f = 0; f < FN__COUNT; f++) {
		bool any = false;

		for (i = 0; i < m->n_fns; i++) {
			const struct egpu_metrics_fn *x = &m->fns[i];
			const struct egpuhp_dev *d = &x->dev;
			const struct egpuhp_link *k = &d->link;
			struct label l[8] = { { "pci", d->name } };
			char ven[8], dev[8], cls[12], quirks[12];
			uint64_t v;

			if (f == FN_PRESENT && !d->has_present)
				continue;
			if (f >= FN_SPEED && f <= FN_MAX_WIDTH && !k->valid)
				continue;
			if (f == FN_AER && !x->has_aer)
				continue;
			if (!any)
				header(out, fam[f].name, fam[f].type, fam[f].help);
			any = true;
			switch (f) {
			case FN_INFO:
				hex4(ven, sizeof(ven), d->vendor);
				hex4(dev, sizeof(dev), d->device);
				snprintf(cls, sizeof(cls), "%06x", d->class_code & 0xffffff);
				snprintf(quirks, sizeof(quirks), "0x%x", d->quirks);
				l[1] = (struct label){ "vendor", ven };
				l[2] = (struct label){ "device", dev };
				l[3] = (struct label){ "class", cls };
				l[4] = (struct label){ "driver", d->driver };
				l[5] = (struct label){ "router_unique_id", d->router_uid };
				l[6] = (struct label){ "gpu", d->is_gpu ? "true" : "false" };
				l[7] = (struct label){ "quirks", quirks };
				sample(out, fam[f].name, l, 8, "1");
				continue;
			case FN_PRESENT: v = d->present ? 1 : 0; break;
			case FN_SPEED: v = (uint64_t)k->cur_speed * 1000000ULL; break;
			case FN_MAX_SPEED: v = (uint64_t)k->max_speed * 1000000ULL; break;
			case FN_WIDTH: v = k->cur_width; break;
			case FN_MAX_WIDTH: v = k->max_width; break;
			default: v = x->aer_correctable; break;
			}
			sample_u64(out, fam[f].name, l, 1, v);
		}
	}
}

/* --- counters --- */

static void counters_write(FILE *out, const struct egpu_metrics_counters *c)
{
	static const char rem[] = "egpuhp_pci_removals_total";
	static const char rst[] = "egpuhp_resets_total";
	int k, meth, res;

	header(out, rem, "counter",
	       "PCI functions removed, by kind: surprise (cable pull), orderly, unknown (found gone by a resync).");
	for (k = 0; k < EGPU_REMOVAL__COUNT; k++) {
		struct label l[1] = { { "kind", egpu_removal_kind_name(k) } };

		sample_u64(out, rem, l, 1, c->removals[k]);
	}
	single(out, "egpuhp_pci_lost_total", "counter",
	       "Functions the module's watchdog found no longer answering while enumerated.",
	       c->lost);
	single(out, "egpuhp_pci_slow_total", "counter",
	       "Slow episodes: the module's watchdog found a function answering later than watchdog_slow_us.",
	       c->slow);
	header(out, rst, "counter", "Resets egpuhp ran, by method and result.");
	for (meth = 0; meth <= EGPUHP_RESET_MAX; meth++) {
		for (res = 0; res < 2; res++) {
			struct label l[2] = {
				{ "method", egpuhp_reset_method_name((uint32_t)meth) },
				{ "result", res ? "failed" : "ok" },
			};

			sample_u64(out, rst, l, 2, c->resets[meth][res]);
		}
	}
	single(out, "egpuhp_quirks_applied_total", "counter",
	       "Quirks the module applied to functions.", c->quirks_applied);
	single(out, "egpuhp_events_total", "counter",
	       "Module events egpud handled.", c->events);
	single(out, "egpuhp_resyncs_total", "counter",
	       "Full resyncs egpud made (start, after a gap or an overrun).", c->resyncs);
	single(out, "egpuhp_event_gaps_total", "counter",
	       "Gaps in the module's event sequence numbers egpud saw.", c->gaps);
	single(out, "egpuhp_event_overruns_total", "counter",
	       "Times egpud's event socket overran (ENOBUFS).", c->overruns);
}

void egpu_metrics_write(FILE *out, const struct egpu_metrics *m)
{
	single(out, "egpuhp_egpud_up", "gauge",
	       "1 while egpud runs; 0 is written by egpud as it stops.", m->egpud_up);
	if (!m->egpud_up)
		return;
	single(out, "egpuhp_module_connected", "gauge",
	       "1 while egpud is connected to the egpuhp module.", m->module_connected);
	if (m->watchdog_known) {
		header(out, "egpuhp_watchdog_period_seconds", "gauge",
		       "The module's presence-check period; 0 when the watchdog is off.");
		fprintf(out, "egpuhp_watchdog_period_seconds %u.%03u\n", m->watchdog_ms / 1000,
			m->watchdog_ms % 1000);
	}
	routers_write(out, m);
	fns_write(out, m);
	counters_write(out, &m->counters);
	single(out, "egpuhp_workloads_checkpointed", "gauge",
	       "Processes checkpointed off a GPU (an eject or egpuctl checkpoint) and not restored yet.",
	       m->checkpointed);
	single(out, "egpuhp_workloads_protected", "gauge",
	       "Programs watching their eGPU through libegpu (told before it leaves).",
	       m->protected_programs);
}
