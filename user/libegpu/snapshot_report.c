// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libegpu snapshots and egpud: the lines a set attached to a watch
 * connection sends (egpud shows them in "egpuctl workloads" and waits for
 * the final one on an eject), egpud's "snapshot-interval", and the final
 * snapshot egpu_next() takes on LEAVING before the program hears of it.
 *
 * Client -> egpud:
 *   snapshot bytes=<u64> buffers=<n> taken-ns=<u64> interval-ms=<u32> [final=1]
 *   snapshot-off
 * egpud -> client:
 *   snapshot-interval <ms>
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "libegpu/snap_internal.h"

/* At most one ordinary report a second (final ones always go). */
#define SNAP_REPORT_GAP_NS	1000000000ull

static int send_report(struct egpu_snap *s, bool final)
{
	struct egpu_snap_info info;
	char line[160];
	int r;

	egpu_snap_info(s, &info);
	snprintf(line, sizeof(line),
		 "snapshot bytes=%llu buffers=%u taken-ns=%llu interval-ms=%u%s\n",
		 (unsigned long long)info.bytes, info.buffers,
		 (unsigned long long)info.taken_ns, info.interval_ms, final ? " final=1" : "");
	r = egpu_send_line(s->egpu, line);
	if (r == 0) {
		s->report_pending = false;
		s->last_report_ns = snap_now_ns();
	} else {
		/* tried again at the next poll, maybe or egpu_next() */
		s->report_pending = true;
	}
	return r;
}

void snap_report_completed(struct egpu_snap *s)
{
	if (s->egpu)
		s->report_pending = true;
	snap_report_flush(s);
}

void snap_report_flush(struct egpu_snap *s)
{
	if (s->egpu && s->report_pending && !s->taking_final && snap_now_ns() - s->last_report_ns >= SNAP_REPORT_GAP_NS)
		send_report(s, false);
}

/* Do two PCI addresses name the same function ("0000:05:00.0", "00000000:05:00.0")? */
static bool same_pci(const char *a, const char *b)
{
	unsigned int d1, b1, s1, f1, d2, b2, s2, f2;

	if (sscanf(a, "%x:%x:%x.%x", &d1, &b1, &s1, &f1) == 4 &&
	    sscanf(b, "%x:%x:%x.%x", &d2, &b2, &s2, &f2) == 4)
		return d1 == d2 && b1 == b2 && s1 == s2 && f1 == f2;
	return !strcasecmp(a, b);
}

static void hook_interval(struct egpu_snap *s, unsigned int ms)
{
	s->egpud_interval_ms = ms;
}

/*
 * LEAVING of the set's GPU (or of any, if its address is unknown): the
 * final snapshot, after cuCtxSynchronize -- egpu_next() does not know the
 * program's streams, and everything the program enqueued before it called
 * egpu_next() belongs in the copy.  "final=1" only for a snapshot that
 * completed: without it egpud falls back to the driver's checkpoint.
 */
static void hook_event(struct egpu_snap *s, const struct egpu_event *ev)
{
	if (ev->kind != EGPU_EVENT_LEAVING || !s->nbufs)
		return;
	if (s->pci[0] && !same_pci(s->pci, ev->pci) && !(ev->group[0] && same_pci(s->pci, ev->group)))
		return;
	s->taking_final = true;
	if (s->busy)
		egpu_snap_wait(s, -1);
	if (egpu_snap_take_quiesced(s) == 0)
		send_report(s, true);
	s->taking_final = false;
}

static void hook_tick(struct egpu_snap *s)
{
	snap_report_flush(s);
}

static void hook_closing(struct egpu_snap *s)
{
	s->egpu = NULL;
	s->egpud_interval_ms = 0;
	s->report_pending = false;
}

static const struct egpu_snap_hooks hooks = {
	.interval = hook_interval,
	.event = hook_event,
	.tick = hook_tick,
	.closing = hook_closing,
};

EGPU_EXPORT int egpu_snap_attach(struct egpu_snap *s, struct egpu *e)
{
	int r;

	if (s->egpu == e)
		return 0;
	if (s->egpu) {
		/* best effort: egpud also forgets the set when the connection closes */
		egpu_send_line(s->egpu, "snapshot-off\n");
		egpu_set_snap(s->egpu, NULL, NULL);
		hook_closing(s);
	}
	if (!e)
		return 0;
	r = egpu_set_snap(e, s, &hooks);
	if (r)
		return snap_fail(s, r, "that connection has another snapshot set attached");
	s->egpu = e;
	s->last_report_ns = 0;
	r = send_report(s, false);
	if (r && r != -EAGAIN) {
		egpu_set_snap(e, NULL, NULL);
		hook_closing(s);
		return snap_fail(s, r, "sending to egpud: %s", strerror(-r));
	}
	return 0;
}
