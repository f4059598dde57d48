/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libegpu, inside: what egpu.c (the watch connection) and the snapshot
 * code share.  egpu.c calls the snapshot code only through the hooks a set
 * installs when it is attached, so a program (or test) using egpu.c alone
 * needs none of it.
 */
#ifndef EGPU_INTERNAL_H
#define EGPU_INTERNAL_H

#include "libegpu/egpu.h"

#define EGPU_EXPORT	__attribute__((visibility("default")))
#define EGPU_INTERNAL	__attribute__((visibility("hidden")))

struct egpu_snap;

/* What egpu_next() and egpu_close() tell an attached snapshot set. */
struct egpu_snap_hooks {
	/* egpud sent "snapshot-interval <ms>". */
	void (*interval)(struct egpu_snap *s, unsigned int ms);
	/* An event is about to be returned (LEAVING: take the final snapshot). */
	void (*event)(struct egpu_snap *s, const struct egpu_event *ev);
	/* egpu_next() was called: send a report that is due. */
	void (*tick)(struct egpu_snap *s);
	/* egpu_close(): the connection goes away. */
	void (*closing)(struct egpu_snap *s);
};

/*
 * Attach s (hooks) to e, or detach (s NULL).  -EBUSY if another set is
 * attached.
 */
EGPU_INTERNAL int egpu_set_snap(struct egpu *e, struct egpu_snap *s,
				const struct egpu_snap_hooks *hooks);

/*
 * Send one line (with its "\n") to egpud without blocking.  0, -EAGAIN
 * (the socket is full: try later), or -errno.
 */
EGPU_INTERNAL int egpu_send_line(struct egpu *e, const char *line);

/* egpud's "snapshot-interval" value of a line, -1 if it is not a valid one. */
EGPU_INTERNAL long egpu_parse_snapshot_interval(const char *line);

#endif /* EGPU_INTERNAL_H */
