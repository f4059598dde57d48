// SPDX-License-Identifier: GPL-2.0 OR LGPL-2.1-or-later
/* egpud control socket: framing, quoting and the peer credential check. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "common/egpud_proto.h"
#include "common/fd_io.h"

const char *egpud_socket_path(const char *explicit_path)
{
	const char *env;

	if (explicit_path && explicit_path[0])
		return explicit_path;
	env = getenv(EGPUD_SOCKET_ENV);
	if (env && env[0])
		return env;
	return EGPUD_DEFAULT_SOCKET;
}

int egpud_connect(const char *path)
{
	/* egpud_read_reply() bounds the wait itself (poll with a deadline) */
	return egpu_unix_connect(path, 0);
}

int egpud_status_tail(char buf[EGPUD_STATUS_TAIL_LEN], int status)
{
	int n = snprintf(buf, EGPUD_STATUS_TAIL_LEN, "%c%d\n", '\0', status);

	return n > 0 && n < EGPUD_STATUS_TAIL_LEN ? n : 0;
}

int egpud_reply_end(FILE *out, int status)
{
	char tail[EGPUD_STATUS_TAIL_LEN];
	int n = egpud_status_tail(tail, status), ret = 0;

	if (fwrite(tail, 1, (size_t)n, out) != (size_t)n || fflush(out))
		ret = -errno;
	if (fclose(out) && !ret)
		ret = -errno;
	return ret;
}

static bool needs_quote(unsigned char c)
{
	return c <= ' ' || c == '%' || c == 0x7f;
}

int egpud_proto_quote(const char *word, char *buf, size_t len)
{
	size_t o = 0;

	for (; *word; word++) {
		unsigned char c = (unsigned char)*word;

		if (needs_quote(c)) {
			if (o + 3 >= len)
				return -ENOSPC;
			snprintf(buf + o, 4, "%%%02X", c);
			o += 3;
		} else {
			if (o + 1 >= len)
				return -ENOSPC;
			buf[o++] = (char)c;
		}
	}
	if (o >= len)
		return -ENOSPC;
	buf[o] = '\0';
	return 0;
}

int egpud_send_request(int fd, bool json, int argc, char *const argv[])
{
	char line[EGPUD_PROTO_MAX_LINE];
	size_t o = 0;
	int i;

	if (argc < 1 || argc > EGPUD_PROTO_MAX_ARGS)
		return -EINVAL;
	line[0] = '\0';
	if (json) {
		strcpy(line, "--json");
		o = strlen(line);
	}
	for (i = 0; i < argc; i++) {
		if (o) {
			if (o + 1 >= sizeof(line))
				return -E2BIG;
			line[o++] = ' ';
		}
		if (egpud_proto_quote(argv[i], line + o, sizeof(line) - o - 1) < 0)
			return -E2BIG;
		if (!argv[i][0])
			return -EINVAL;	/* an empty word cannot be sent */
		o += strlen(line + o);
	}
	line[o++] = '\n';
	/* never SIGPIPE: egpud may close first; libegpu must not kill its host */
	return egpu_write_all(fd, line, o);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int egpud_read_reply(int fd, FILE *out)
{
	return egpud_read_reply_timeout(fd, out, EGPUD_REPLY_TIMEOUT_MS);
}

int egpud_read_reply_timeout(int fd, FILE *out, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	char buf[4096];
	char status[16];
	size_t slen = 0;
	bool in_status = false;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n, i;
		int r, left = -1;

		if (deadline >= 0) {
			long long now = now_ms();

			left = now >= deadline ? 0 : (int)(deadline - now);
		}
		r = poll(&p, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0) {
			fflush(out);
			return -ETIMEDOUT;
		}
		n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		for (i = 0; i < n; i++) {
			if (in_status) {
				if (buf[i] == '\n')
					goto done;
				if (slen + 1 < sizeof(status))
					status[slen++] = buf[i];
			} else if (buf[i] == '\0') {
				in_status = true;
			} else {
				fputc(buf[i], out);
			}
		}
		fflush(out);
	}
	if (!in_status)
		return -ECONNRESET;
done:
	fflush(out);
	status[slen] = '\0';
	if (!slen)
		return -EPROTO;
	return atoi(status);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int unquote(char *w)
{
	char *o = w;

	while (*w) {
		if (*w == '%') {
			int hi = hexval(w[1]), lo = hi < 0 ? -1 : hexval(w[2]);

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			*o++ = (char)(hi * 16 + lo);
			w += 3;
		} else {
			*o++ = *w++;
		}
	}
	*o = '\0';
	return 0;
}

int egpud_proto_split(char *line, char **argv, int max)
{
	int argc = 0;
	char *p = line;

	line[strcspn(line, "\r\n")] = '\0';
	while (*p) {
		char *w = p;

		p += strcspn(p, " ");
		if (*p)
			*p++ = '\0';
		if (!*w)
			continue;	/* repeated spaces */
		if (argc >= max || unquote(w) < 0)
			return -EINVAL;
		argv[argc++] = w;
	}
	return argc ? argc : -EINVAL;
}

int egpud_peer_get(int fd, struct egpud_peer *peer)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	peer->fd = fd;
	peer->pid = cr.pid;
	peer->uid = cr.uid;
	peer->gid = cr.gid;
	/* The groups the peer process really holds (Linux 4.13+). */
	len = sizeof(peer->groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, peer->groups, &len) == 0)
		peer->ngroups = (int)(len / sizeof(gid_t));
	else if (errno == ERANGE)
		peer->ngroups = EGPUD_PEER_MORE_GROUPS;	/* len says how many */
	else
		peer->ngroups = 0;	/* unknown: its primary group only */
	return 0;
}

/*
 * More groups than peer->groups holds: ask the socket again with room for
 * all of them (at most NGROUPS_MAX).  Never the group database: NSS may
 * block on the network, and this runs on egpud's loop for every
 * connection and request.
 */
static bool peer_in_more_groups(const struct egpud_peer *peer, gid_t want)
{
	socklen_t len = 0;
	gid_t *all;
	bool in = false;
	size_t i;

	if (getsockopt(peer->fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) < 0 && errno != ERANGE)
		return false;
	if (!len || len > NGROUPS_MAX * sizeof(gid_t))
		return false;
	all = malloc(len);
	if (!all)
		return false;
	if (getsockopt(peer->fd, SOL_SOCKET, SO_PEERGROUPS, all, &len) == 0)
		for (i = 0; i < len / sizeof(gid_t) && !in; i++)
			in = all[i] == want;
	free(all);
	return in;
}

static bool peer_in_group(const struct egpud_peer *peer, gid_t want)
{
	int i;

	if (peer->gid == want)
		return true;
	if (peer->ngroups == EGPUD_PEER_MORE_GROUPS)
		return peer_in_more_groups(peer, want);
	for (i = 0; i < peer->ngroups; i++)
		if (peer->groups[i] == want)
			return true;
	return false;
}

bool egpud_peer_may_act(const struct egpud_peer *peer, gid_t admin_gid,
			const char *admin_group_name, char *why, size_t len)
{
	if (peer->uid == 0)
		return true;
	if (admin_gid != (gid_t)-1 && peer_in_group(peer, admin_gid))
		return true;
	if (admin_gid != (gid_t)-1)
		snprintf(why, len, "uid %u is neither root nor in group %s",
			 (unsigned int)peer->uid,
			 admin_group_name ? admin_group_name : "(socket-group)");
	else
		snprintf(why, len, "uid %u is not root (no socket-group configured)",
			 (unsigned int)peer->uid);
	return false;
}

bool egpud_verb_is_mutating(const char *verb)
{
	static const char *const ro[] = {
		"status", "list", "watch", "workloads", "ping", "policy", "info", "metrics",
		"health", NULL,
	};
	int i;

	for (i = 0; ro[i]; i++)
		if (!strcmp(verb, ro[i]))
			return false;
	/* Unknown verbs count as mutating: refusing is the safe default. */
	return true;
}
