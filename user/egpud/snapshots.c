// SPDX-License-Identifier: GPL-2.0
/*
 * What libegpu watchers send egpud (common/egpud_proto.h, parsed by
 * common/watch_line.c): "ack" after a
 * LEAVING, and the state of the snapshot set a program attached to its
 * watch connection ("snapshot bytes=.. buffers=.. taken-ns=..
 * interval-ms=.. [final=1]", "snapshot-off").  egpud keeps that state per
 * watcher, shows it in `egpuctl workloads`, lets an eject wait for the
 * final snapshot instead of checkpointing the program (eject.c), and sends
 * the watcher the snapshot interval its configuration sets.
 *
 * Every local user may open a watch connection, so the input is parsed
 * strictly and bounded: whole lines only, at most EGPUD_WATCH_LINE_MAX
 * bytes; malformed or overlong lines are dropped with one log line per
 * client; reads and writes never block.  A watcher describes only its own
 * process: the pid is the connection's SO_PEERCRED, and its start time
 * read at connect time must still match (a pid the kernel gave to another
 * process since is protected by nothing).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include "common/egpud_proto.h"
#include "common/log.h"
#include "common/rules.h"
#include "egpud/egpud.h"
#include "gpuwork/gw_internal.h"

uint64_t egpud_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool egpud_snap_protects(const struct egpud_client *c)
{
	unsigned long long start;

	if (!c->watching || !c->snap.on || !c->snap.buffers || c->pid <= 0 || !c->starttime)
		return false;
	return !gw_proc_starttime(c->pid, &start) && start == c->starttime;
}

/* The interval egpud's configuration sets for c's GPU; false: none set. */
static bool configured_interval(struct egpud *d, const struct egpud_client *c,
				unsigned int *ms)
{
	const struct egpuhp_dev *dev = c->filter[0] ?
				       egpu_tracker_dev(&d->tracker, c->filter) : NULL;
	struct egpu_workload_policy pol;

	egpu_workload_policy_for(d->cfg, dev, &pol);
	*ms = pol.snapshot_interval_ms;
	return pol.snapshot_interval_set;
}

/* Send "snapshot-interval MS" if the configuration wants another than was sent. */
static int send_interval(struct egpud *d, struct egpud_client *c)
{
	char line[48];
	unsigned int ms;
	int n;

	if (!configured_interval(d, c, &ms))
		ms = 0;
	if (c->snap.interval_sent ? c->snap.sent_interval_ms == ms : !ms)
		return 0;	/* 0 never sent: the program's own already */
	n = snprintf(line, sizeof(line), "snapshot-interval %u\n", ms);
	if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
		egpu_log("watcher fd %d (pid %d) too slow or gone: dropped", c->fd, (int)c->pid);
		return -1;
	}
	c->snap.interval_sent = true;
	c->snap.sent_interval_ms = ms;
	egpu_dbg("watcher pid %d: snapshot interval %u ms sent", (int)c->pid, ms);
	return 0;
}

void egpud_snap_reconfigured(struct egpud *d)
{
	size_t i;

	for (i = 0; i < EGPUD_MAX_CLIENTS; i++) {
		struct egpud_client *c = d->clients[i];

		/* one that cannot take the line is dropped by the next event */
		if (c && c->watching && c->snap.on)
			send_interval(d, c);
	}
}

static void bad_line(struct egpud_client *c, const char *why)
{
	if (c->bad_line_logged)
		return;
	c->bad_line_logged = true;
	egpu_log("watcher pid %d (uid %u): malformed line ignored (%s); later ones are "
		 "ignored without a log line", (int)c->pid, (unsigned int)c->uid, why);
}

static int handle_line(struct egpud *d, struct egpud_client *c, const char *line)
{
	struct egpud_watch_line m;
	char why[96];
	bool was_on = c->snap.on;

	switch (egpud_watch_parse(line, &m, why, sizeof(why))) {
	case EGPUD_WATCH_ACK:
		egpud_eject_client_ack(d, c);
		egpud_strategy_client_ack(d, c);
		return 0;
	case EGPUD_WATCH_SNAPSHOT:
		c->snap.on = true;
		c->snap.bytes = m.bytes;
		c->snap.buffers = m.buffers;
		c->snap.taken_ns = m.taken_ns;
		c->snap.interval_ms = m.interval_ms;
		/* logged once per connection: toggling cannot flood the log */
		if (!was_on && !c->snap.logged) {
			c->snap.logged = true;
			egpu_log("watcher pid %d protects itself by snapshots: %" PRIu32
				 " buffers, %" PRIu64 " bytes", (int)c->pid, m.buffers, m.bytes);
		}
		if (m.final) {
			c->snap.final = true;
			c->snap.final_ms = egpud_now_ms();
			egpud_eject_client_final(d, c);
			egpud_strategy_client_final(d, c);
		}
		return was_on ? 0 : send_interval(d, c);
	case EGPUD_WATCH_SNAPSHOT_OFF:
		if (was_on)
			egpu_dbg("watcher pid %d: snapshot set detached", (int)c->pid);
		c->snap.on = false;
		c->snap.final = false;
		c->snap.interval_sent = false;
		return 0;
	case EGPUD_WATCH_UNKNOWN:
		return 0;
	case EGPUD_WATCH_MALFORMED:
		bad_line(c, why);
		return 0;
	}
	return 0;
}

int egpud_watcher_input(struct egpud *d, struct egpud_client *c, const char *data, size_t n)
{
	while (n) {
		const char *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) : n;

		if (c->discarding) {
			/* the tail of an overlong line */
		} else if (c->len + take > EGPUD_WATCH_LINE_MAX) {
			bad_line(c, "line too long");
			c->discarding = true;
			c->len = 0;
		} else {
			memcpy(c->buf + c->len, data, take);
			c->len += take;
		}
		if (!nl)
			return 0;
		data += take + 1;
		n -= take + 1;
		if (c->discarding) {
			c->discarding = false;
			continue;
		}
		c->buf[c->len] = '\0';
		c->len = 0;
		/* a NUL inside a line: the parser sees less, never more */
		if (handle_line(d, c, c->buf) < 0)
			return -1;
	}
	return 0;
}

int egpud_watcher_read(struct egpud *d, struct egpud_client *c)
{
	char chunk[512];
	ssize_t n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		return -1;	/* EOF: the program is gone */
	if (n < 0)
		return 0;
	return egpud_watcher_input(d, c, chunk, (size_t)n);
}

bool egpud_snap_table(struct egpud *d, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < EGPUD_MAX_CLIENTS; i++) {
		const struct egpud_client *c = d->clients[i];
		int n;

		if (!c || !egpud_snap_protects(c))
			continue;
		n = snprintf(buf + off, len - off, "%s%d:%" PRIu64 ":%" PRIu32 ":%" PRIu64 ":%s",
			     off ? "," : "", (int)c->pid, c->snap.bytes, c->snap.buffers,
			     c->snap.taken_ns, c->filter[0] ? c->filter : "-");
		if (n < 0 || (size_t)n >= len - off) {
			buf[off] = '\0';	/* full: the rest is not shown */
			break;
		}
		off += (size_t)n;
	}
	return off > 0;
}

const struct egpud_client *egpud_snap_client_of(struct egpud *d, pid_t pid)
{
	size_t i;

	for (i = 0; i < EGPUD_MAX_CLIENTS; i++)
		if (d->clients[i] && d->clients[i]->pid == pid && egpud_snap_protects(d->clients[i]))
			return d->clients[i];
	return NULL;
}

void egpud_snap_describe(const struct egpud_client *c, char *buf, size_t len)
{
	struct gw_snap s = { .pid = c->pid, .bytes = c->snap.bytes, .buffers = c->snap.buffers,
			     .taken_ns = c->snap.taken_ns };

	gw_snap_describe(&s, egpud_now_ns(), buf, len);
}
