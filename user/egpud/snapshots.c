// SPDX-License-Identifier: GPL-2.0
/*
 * What libegpu watchers send egpud (common/egpud_proto.h): "ack" after a
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

/* A decimal number 0..max, digits only (no sign, no spaces, no overflow). */
static bool parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!n || n > 20)
		return false;
	for (i = 0; i < n; i++) {
		unsigned int digit = (unsigned char)s[i] - '0';

		if (digit > 9 || v > (max - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*out = v;
	return true;
}

enum snap_key { K_BYTES, K_BUFFERS, K_TAKEN, K_INTERVAL, K_FINAL, K__N };

static const char *const snap_keys[K__N] = {
	[K_BYTES] = "bytes", [K_BUFFERS] = "buffers", [K_TAKEN] = "taken-ns",
	[K_INTERVAL] = "interval-ms", [K_FINAL] = "final",
};

/* why = pre, the first n bytes of word (at most 40), post */
static enum egpud_watch_msg_kind malformed(char *why, size_t len, const char *pre,
					   const char *word, size_t n, const char *post)
{
	snprintf(why, len, "%s%.*s%s", pre, (int)(n > 40 ? 40 : n), word, post);
	return EGPUD_WMSG_MALFORMED;
}

/* The words after "snapshot ": key=value, one space apart. */
static enum egpud_watch_msg_kind parse_snapshot(const char *p, struct egpud_watch_msg *m,
						char *why, size_t len)
{
	static const uint64_t max[K__N] = {
		[K_BYTES] = UINT64_MAX, [K_BUFFERS] = UINT32_MAX, [K_TAKEN] = UINT64_MAX,
		[K_INTERVAL] = UINT32_MAX, [K_FINAL] = 1,
	};
	bool seen[K__N] = { false };
	uint64_t val[K__N] = { 0 };
	int k;

	while (*p) {
		size_t n = strcspn(p, " "), kl;
		const char *eq = memchr(p, '=', n);

		if (!n)
			return malformed(why, len, "empty word", "", 0, "");
		if (!eq || eq == p)
			return malformed(why, len, "\"", p, n, "\" is not key=value");
		kl = (size_t)(eq - p);
		for (k = 0; k < K__N; k++)
			if (strlen(snap_keys[k]) == kl && !memcmp(p, snap_keys[k], kl))
				break;
		if (k < K__N) {
			if (seen[k])
				return malformed(why, len, "", p, kl, " given twice");
			if (!parse_u64(eq + 1, n - kl - 1, max[k], &val[k]) ||
			    (k == K_FINAL && val[k] != 1))
				return malformed(why, len, "bad value in \"", p, n, "\"");
			seen[k] = true;
		}
		/* another key: a newer libegpu's, ignored */
		p += n;
		if (*p == ' ' && !*++p)
			return malformed(why, len, "trailing space", "", 0, "");
	}
	for (k = K_BYTES; k <= K_INTERVAL; k++)
		if (!seen[k])
			return malformed(why, len, "", snap_keys[k], strlen(snap_keys[k]), "= missing");
	m->bytes = val[K_BYTES];
	m->buffers = (uint32_t)val[K_BUFFERS];
	m->taken_ns = val[K_TAKEN];
	m->interval_ms = (uint32_t)val[K_INTERVAL];
	m->final = seen[K_FINAL];
	return EGPUD_WMSG_SNAPSHOT;
}

enum egpud_watch_msg_kind egpud_watch_parse(const char *line, struct egpud_watch_msg *m,
					    char *why, size_t len)
{
	const char *p;

	memset(m, 0, sizeof(*m));
	snprintf(why, len, "?");
	for (p = line; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return malformed(why, len, "control character", "", 0, "");
	if (!strcmp(line, "ack"))
		return EGPUD_WMSG_ACK;
	if (!strcmp(line, "snapshot-off"))
		return EGPUD_WMSG_SNAPSHOT_OFF;
	if (!strncmp(line, "snapshot ", 9))
		return parse_snapshot(line + 9, m, why, len);
	/* "ack"/"snapshot" with something else after them: not a newer line */
	if (!strncmp(line, "ack", 3) || !strncmp(line, "snapshot", 8))
		return malformed(why, len, "\"", line, strlen(line), "\"");
	return EGPUD_WMSG_UNKNOWN;
}

bool egpud_snap_protects(const struct egpud_client *c)
{
	unsigned long long start;

	if (!c->watching || !c->snap.on || !c->snap.buffers || c->pid <= 0 || !c->starttime)
		return false;
	return !gw_proc_starttime(c->pid, &start) && start == c->starttime;
}

int64_t egpud_snap_age_ms(const struct egpud_snap_state *s, uint64_t now_ns)
{
	if (!s->taken_ns)
		return -1;
	return now_ns > s->taken_ns ? (int64_t)((now_ns - s->taken_ns) / 1000000) : 0;
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
	struct egpud_watch_msg m;
	char why[96];
	bool was_on = c->snap.on;

	switch (egpud_watch_parse(line, &m, why, sizeof(why))) {
	case EGPUD_WMSG_ACK:
		egpud_eject_client_ack(d, c);
		egpud_strategy_client_ack(d, c);
		return 0;
	case EGPUD_WMSG_SNAPSHOT:
		c->snap.on = true;
		c->snap.bytes = m.bytes;
		c->snap.buffers = m.buffers;
		c->snap.taken_ns = m.taken_ns;
		c->snap.interval_ms = m.interval_ms;
		if (!was_on) {
			egpu_log("watcher pid %d protects itself by snapshots: %" PRIu32
				 " buffers, %" PRIu64 " bytes", (int)c->pid, m.buffers, m.bytes);
			egpud_metrics_changed(d);
		}
		if (m.final) {
			c->snap.final = true;
			c->snap.final_ms = egpud_now_ms();
			egpud_eject_client_final(d, c);
			egpud_strategy_client_final(d, c);
		}
		return was_on ? 0 : send_interval(d, c);
	case EGPUD_WMSG_SNAPSHOT_OFF:
		if (was_on)
			egpu_log("watcher pid %d: snapshot set detached", (int)c->pid);
		c->snap.on = false;
		c->snap.final = false;
		c->snap.interval_sent = false;
		return 0;
	case EGPUD_WMSG_UNKNOWN:
		return 0;
	case EGPUD_WMSG_MALFORMED:
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
