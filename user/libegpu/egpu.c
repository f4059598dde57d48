// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "common/egpud_proto.h"
#include "libegpu/egpu.h"
#include "libegpu/egpu_internal.h"

struct egpu {
	int fd;
	char buf[4096];
	size_t len;
	char detail[512];	/* "key=value ..." after the last event's fields */
	/* an attached snapshot set (egpu_snap_attach()), NULL */
	struct egpu_snap *snap;
	const struct egpu_snap_hooks *snap_hooks;
};

/* The longest "snapshot-interval" taken from egpud: a day. */
#define EGPU_SNAPSHOT_INTERVAL_MAX	(24UL * 3600 * 1000)

static const char *const kind_names[] = {
	[EGPU_EVENT_UNKNOWN] = "unknown",
	[EGPU_EVENT_ADDED] = "added",
	[EGPU_EVENT_READY] = "ready",
	[EGPU_EVENT_LEAVING] = "leaving",
	[EGPU_EVENT_REMOVED] = "removed",
	[EGPU_EVENT_LOST] = "lost",
	[EGPU_EVENT_RESET_BEGIN] = "reset-begin",
	[EGPU_EVENT_RESET_END] = "reset-end",
	[EGPU_EVENT_WORKLOAD_LOST] = "workload-lost",
	[EGPU_EVENT_MIGRATED] = "migrated",
	[EGPU_EVENT_CHECKPOINTED] = "checkpointed",
};

EGPU_EXPORT const char *egpu_event_kind_name(enum egpu_event_kind kind)
{
	if ((unsigned int)kind < sizeof(kind_names) / sizeof(kind_names[0]))
		return kind_names[kind];
	return "unknown";
}

EGPU_EXPORT int egpu_parse_line(const char *line, struct egpu_event *ev)
{
	char kind[24], pci[32], flags[64], group[32];
	unsigned long long seq;
	size_t i;

	memset(ev, 0, sizeof(*ev));
	if (sscanf(line, "event %23s %31s %llu %63s %31s", kind, pci, &seq, flags,
		   group) != 5)
		return -EINVAL;
	if (strlen(pci) >= sizeof(ev->pci) || strlen(group) >= sizeof(ev->group))
		return -EINVAL;
	for (i = 1; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (!strcmp(kind, kind_names[i]))
			ev->kind = (enum egpu_event_kind)i;
	memcpy(ev->pci, pci, strlen(pci) + 1);
	if (strcmp(group, "-"))
		memcpy(ev->group, group, strlen(group) + 1);
	ev->seq = seq;
	ev->surprise = strstr(flags, "surprise") != NULL;
	ev->orderly = strstr(flags, "orderly") != NULL;
	return 0;
}

/* One line out of the buffer, if a whole one is there. */
static int take_line(struct egpu *e, char *line, size_t len)
{
	char *nl = memchr(e->buf, '\n', e->len);
	size_t n;

	if (!nl)
		return 0;
	n = (size_t)(nl - e->buf);
	if (n >= len)
		n = len - 1;
	memcpy(line, e->buf, n);
	line[n] = '\0';
	n = (size_t)(nl - e->buf) + 1;
	memmove(e->buf, e->buf + n, e->len - n);
	e->len -= n;
	return 1;
}

static int fill(struct egpu *e, int timeout_ms)
{
	struct pollfd p = { .fd = e->fd, .events = POLLIN };
	ssize_t n;
	int r;

	if (e->len == sizeof(e->buf))
		return -EPROTO;	/* a line longer than any egpud sends */
	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return 0;
	n = read(e->fd, e->buf + e->len, sizeof(e->buf) - e->len);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -ECONNRESET;
	e->len += (size_t)n;
	return 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

EGPU_EXPORT struct egpu *egpu_open(const char *socket_path, const char *pci)
{
	char *argv[2] = { "watch", (char *)pci };
	char line[256];
	struct egpu *e;
	int r;

	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->fd = egpud_connect(egpud_socket_path(socket_path));
	if (e->fd < 0) {
		errno = -e->fd;
		free(e);
		return NULL;
	}
	r = egpud_send_request(e->fd, false, pci && pci[0] ? 2 : 1, argv);
	/* egpud answers "ok"; anything else is a refusal with a status. */
	while (r == 0 && !take_line(e, line, sizeof(line))) {
		r = fill(e, 5000);
		if (r == 0)
			r = -ETIMEDOUT;
		else if (r > 0)
			r = memchr(e->buf, '\0', e->len) ? -EPROTO : 0;
	}
	if (r < 0 || strcmp(line, "ok")) {
		close(e->fd);
		free(e);
		errno = r < 0 ? -r : EPROTO;
		return NULL;
	}
	return e;
}

EGPU_EXPORT int egpu_fd(const struct egpu *e)
{
	return e->fd;
}

/* What follows the six fields of an event line, into e->detail. */
EGPU_EXPORT void egpu_parse_detail(const char *line, char *buf, size_t len)
{
	const char *p = line;
	int field;

	for (field = 0; field < 6 && *p; field++) {
		p += strcspn(p, " ");
		p += strspn(p, " ");
	}
	snprintf(buf, len, "%s", p);
}

static void keep_detail(struct egpu *e, const char *line)
{
	egpu_parse_detail(line, e->detail, sizeof(e->detail));
}

/*
 * "snapshot-interval <ms>": exactly one decimal number, at most
 * EGPU_SNAPSHOT_INTERVAL_MAX; anything else is not one (and is ignored
 * like every line egpu_next() does not know).
 */
long egpu_parse_snapshot_interval(const char *line)
{
	static const char key[] = "snapshot-interval ";
	unsigned long v = 0;
	const char *p;

	if (strncmp(line, key, sizeof(key) - 1))
		return -1;
	p = line + sizeof(key) - 1;
	if (!*p || strlen(p) > 9)
		return -1;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return v <= EGPU_SNAPSHOT_INTERVAL_MAX ? (long)v : -1;
}

int egpu_set_snap(struct egpu *e, struct egpu_snap *s, const struct egpu_snap_hooks *hooks)
{
	if (s && e->snap && e->snap != s)
		return -EBUSY;
	e->snap = s;
	e->snap_hooks = s ? hooks : NULL;
	return 0;
}

int egpu_send_line(struct egpu *e, const char *line)
{
	size_t len = strlen(line);
	ssize_t n;

	do {
		n = send(e->fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	/* A short write of a line this small: the socket is all but full. */
	return (size_t)n == len ? 0 : -EIO;
}

EGPU_EXPORT int egpu_next(struct egpu *e, struct egpu_event *ev, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	char line[512];

	if (e->snap_hooks)
		e->snap_hooks->tick(e->snap);
	for (;;) {
		int r;

		while (take_line(e, line, sizeof(line))) {
			long interval = egpu_parse_snapshot_interval(line);

			if (interval >= 0) {
				/* not an event: the attached set's periodic interval */
				if (e->snap_hooks)
					e->snap_hooks->interval(e->snap, (unsigned int)interval);
				continue;
			}
			if (egpu_parse_line(line, ev) == 0) {
				keep_detail(e, line);
				/* LEAVING: the final snapshot is taken before the program hears it */
				if (e->snap_hooks)
					e->snap_hooks->event(e->snap, ev);
				return 1;
			}
		}
		r = fill(e, deadline < 0 ? -1 : (int)(deadline > now_ms() ? deadline - now_ms() : 0));
		if (r < 0)
			return r;
		if (r == 0 && deadline >= 0 && now_ms() >= deadline)
			return 0;
	}
}

EGPU_EXPORT const char *egpu_event_detail(const struct egpu *e)
{
	return e->detail;
}

EGPU_EXPORT int egpu_ack(struct egpu *e)
{
	static const char ack[] = "ack\n";
	ssize_t n;

	do {
		n = send(e->fd, ack, sizeof(ack) - 1, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(ack) - 1 ? 0 : -EIO;
}

EGPU_EXPORT void egpu_close(struct egpu *e)
{
	if (!e)
		return;
	if (e->snap_hooks)
		e->snap_hooks->closing(e->snap);
	close(e->fd);
	free(e);
}
