/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libegpu: for programs that use an external GPU and want to be told,
 * through egpud, when it is about to leave or has been lost -- so they can
 * stop submitting work, save state, or close the device in time.
 *
 *   struct egpu *e = egpu_open(NULL, "0000:05:00.0");
 *   struct egpu_event ev;
 *   while (egpu_next(e, &ev, -1) > 0)
 *           if (ev.kind == EGPU_EVENT_LEAVING || ev.kind == EGPU_EVENT_LOST)
 *                   stop_using_gpu(), egpu_ack(e);
 *   egpu_close(e);
 *
 * egpu_fd() can go into the program's own poll loop; call egpu_next()
 * with timeout 0 when it is readable.  Link with -legpu.
 */
#ifndef EGPU_H
#define EGPU_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum egpu_event_kind {
	EGPU_EVENT_UNKNOWN,
	EGPU_EVENT_ADDED,	/* a function of the eGPU appeared */
	EGPU_EVENT_READY,	/* a driver bound: usable */
	EGPU_EVENT_LEAVING,	/* orderly: the driver is about to be unbound */
	EGPU_EVENT_REMOVED,	/* it is gone (orderly removal) */
	EGPU_EVENT_LOST,	/* surprise removal or stopped answering */
	EGPU_EVENT_RESET_BEGIN,
	EGPU_EVENT_RESET_END,
	/*
	 * After a LOST: egpud found a process still holding the lost GPU's
	 * device nodes and applied its on-lost policy (egpud.conf(5)).
	 * egpu_event_detail() says "pid=N action=kept|sigterm|sigkill|spared
	 * node=PATH comm=NAME".  A program that closed its nodes on LOST is
	 * never named.
	 */
	EGPU_EVENT_WORKLOAD_LOST,
	/*
	 * After a LEAVING for a warning (egpud's strategies; the detail says
	 * "reason=..."): the work was moved, the detail says "to=PCI", or
	 * checkpointed into host memory, "to=host" (with "reason=no GPU
	 * target: fall back to CPU" when no other GPU could take it).
	 */
	EGPU_EVENT_MIGRATED,
	EGPU_EVENT_CHECKPOINTED,
};

struct egpu_event {
	enum egpu_event_kind kind;
	char pci[16];		/* "0000:05:00.0" */
	char group[16];		/* the GPU function of its eGPU, "" if unknown */
	unsigned long long seq;	/* the module's event number */
	bool surprise;		/* it was already unreachable */
	bool orderly;
};

struct egpu;

/*
 * Connect to egpud (socket_path NULL: $EGPUD_SOCKET or the default) and
 * watch one function or eGPU group (pci, "" or NULL for all).  Returns
 * NULL with errno set on failure.
 */
struct egpu *egpu_open(const char *socket_path, const char *pci);

/* File descriptor to poll for readability. */
int egpu_fd(const struct egpu *e);

/*
 * Next event: 1 with *ev filled, 0 if none came within timeout_ms
 * (-1: wait forever), -ECONNRESET if egpud went away, other -errno.
 */
int egpu_next(struct egpu *e, struct egpu_event *ev, int timeout_ms);

/*
 * After EGPU_EVENT_LEAVING: tell egpud this program has let go of the
 * device, so a requested eject need not wait out its grace period for it.
 * (Closing with egpu_close() says the same.)  0 or -errno.
 */
int egpu_ack(struct egpu *e);

/*
 * The "key=value ..." words that followed the last event egpu_next()
 * returned ("" if none), valid until the next call of egpu_next().
 */
const char *egpu_event_detail(const struct egpu *e);

void egpu_close(struct egpu *e);

const char *egpu_event_kind_name(enum egpu_event_kind kind);

/* Parse one line of egpud's watch stream (exposed for tests). 0 or -EINVAL. */
int egpu_parse_line(const char *line, struct egpu_event *ev);

/* egpu_event_detail() of one line (exposed for tests). */
void egpu_parse_detail(const char *line, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* EGPU_H */
