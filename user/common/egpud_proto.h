/* SPDX-License-Identifier: GPL-2.0 OR LGPL-2.1-or-later */
/*
 * egpud's control socket protocol (SOCK_STREAM, AF_UNIX).
 *
 * Request: one line, "verb arg1 arg2...\n".  Words are separated by one
 * space; a word containing a space, '%' or a control character has those
 * bytes written as %XX (see egpud_proto_quote).  A leading word "--json"
 * asks for JSON output.  At most EGPUD_PROTO_MAX_LINE bytes.
 *
 * Reply: text (or JSON) streamed as it is produced, never containing a NUL
 * byte, then one NUL byte, then the exit status as decimal and "\n"
 * (0 ok, 1 failure, 2 usage); then the server closes the connection.
 * Refusals are replies like any other: "egpud: refused: ...", status 1.
 *
 * The "watch" verb never ends: after "ok\n" the server sends one line per
 * device event (see libegpu/egpu.h) until the client closes.  On a watch
 * connection the client may send lines too (egpud/snapshots.c):
 *
 *   ack\n
 *     after a LEAVING: the program let go of the GPU (egpu_ack()).
 *   snapshot bytes=<u64> buffers=<n> taken-ns=<u64> interval-ms=<u32> [final=1]\n
 *     a snapshot set is attached (taken-ns=0: none complete yet), after
 *     each completed snapshot (at most one line a second, final=1 lines
 *     always), and after the final snapshot taken because of LEAVING;
 *     taken-ns is CLOCK_MONOTONIC of the same host.  It describes the
 *     client's own process: egpud takes the pid from SO_PEERCRED (checked
 *     against the process' start time), never from the line.
 *   snapshot-off\n
 *     the program stopped protecting itself (detached or freed the set).
 *
 * and egpud sends, besides event lines:
 *
 *   snapshot-interval <ms>\n
 *     the configured snapshot-interval-ms for this watcher (0: the
 *     program's own); libegpu applies it, egpu_next() never returns it.
 *
 * Unknown lines in either direction are ignored (forward compatibility);
 * malformed or overlong ones (over 256 bytes) are ignored too, logged once
 * per client, and never block or end the connection.
 *
 * Verbs: read-only ones anyone may use; mutating ones need uid 0 or
 * membership (primary or supplementary) in the configured socket-group.
 */
#ifndef EGPUD_PROTO_H
#define EGPUD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define EGPUD_DEFAULT_SOCKET	"/run/egpuhp/egpud.sock"
#define EGPUD_SOCKET_ENV	"EGPUD_SOCKET"	/* overrides the default */
#define EGPUD_PROTO_MAX_LINE	4096
#define EGPUD_PROTO_MAX_ARGS	32

/* The socket path a client should use: explicit, else $EGPUD_SOCKET, else default. */
const char *egpud_socket_path(const char *explicit_path);

/* Connect; returns an fd or -errno. */
int egpud_connect(const char *path);

/*
 * The end of every reply: a NUL, the exit status in decimal, "\n" (what
 * egpud_read_reply() reads), written into buf; returns its length.
 */
#define EGPUD_STATUS_TAIL_LEN	16
int egpud_status_tail(char buf[EGPUD_STATUS_TAIL_LEN], int status);

/*
 * End a reply written to out (a child answering for egpud): the status
 * tail, then fclose(out).  0, or -errno if the reply could not be sent.
 */
int egpud_reply_end(FILE *out, int status);

/* Write one request line for argv[0..argc-1] (json adds "--json"). */
int egpud_send_request(int fd, bool json, int argc, char *const argv[]);

/*
 * The longest a client waits for a whole reply by default: longer than
 * any deadline egpud gives a worker (an eject, EGPUD_EJECT_TIMEOUT_S), so
 * a client only gives up on an egpud that is itself stuck.
 */
#define EGPUD_REPLY_TIMEOUT_MS	(20 * 60 * 1000)

/*
 * Read a reply: copy the body to out as it arrives, return the exit
 * status (>= 0), -ETIMEDOUT if the whole reply did not come within
 * timeout_ms (< 0: no deadline), or -errno if the connection broke
 * before the status.  egpud_read_reply() waits EGPUD_REPLY_TIMEOUT_MS.
 */
int egpud_read_reply(int fd, FILE *out);
int egpud_read_reply_timeout(int fd, FILE *out, int timeout_ms);

/* Quote one word into buf (%XX for ' ', '%', control bytes); -ENOSPC if too long. */
int egpud_proto_quote(const char *word, char *buf, size_t len);

/*
 * Split a request line in place into argv (unquoting each word).
 * Returns argc, or -EINVAL (empty, too many words, bad %XX).
 */
int egpud_proto_split(char *line, char **argv, int max);

/* --- what a watcher sends (watch_line.c) --- */
#define EGPUD_WATCH_LINE_MAX	256	/* longer watcher lines are malformed */

enum egpud_watch_kind {
	EGPUD_WATCH_ACK,
	EGPUD_WATCH_SNAPSHOT,
	EGPUD_WATCH_SNAPSHOT_OFF,
	EGPUD_WATCH_UNKNOWN,	/* a line of a newer libegpu: ignored */
	EGPUD_WATCH_MALFORMED,	/* ignored, logged once per client */
};

struct egpud_watch_line {
	uint64_t bytes;
	uint32_t buffers;
	uint64_t taken_ns;
	uint32_t interval_ms;
	bool final;
};

/*
 * Parse one watcher line (without its newline) into m.  Strict: decimal
 * numbers without signs or overflow, each key once, bytes= buffers=
 * taken-ns= interval-ms= all present, final only as final=1, one space
 * between words, no control characters; other key=value words are
 * ignored (a newer libegpu's).  why says what is malformed.
 */
enum egpud_watch_kind egpud_watch_parse(const char *line, struct egpud_watch_line *m,
					char *why, size_t len);

#define EGPUD_PEER_MAX_GROUPS	64
#define EGPUD_PEER_MORE_GROUPS	(-1)	/* ngroups: more than groups[] holds */

/* Who is asking: SO_PEERCRED, and SO_PEERGROUPS for its supplementary groups. */
struct egpud_peer {
	int fd;			/* the socket asked (again, for more groups) */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int ngroups;		/* in groups[], or EGPUD_PEER_MORE_GROUPS */
	gid_t groups[EGPUD_PEER_MAX_GROUPS];
};

/*
 * Fill peer from the connected socket fd (SO_PEERCRED, SO_PEERGROUPS);
 * fd must stay open while peer is used.
 */
int egpud_peer_get(int fd, struct egpud_peer *peer);

/*
 * May peer run a mutating verb?  Root may; so may a member of admin_gid
 * (when not (gid_t)-1): its primary gid, or one of the supplementary groups
 * the peer process holds (SO_PEERGROUPS; the group database is never
 * asked: it may block).  Returns true/false; on false, why holds the reason.
 */
bool egpud_peer_may_act(const struct egpud_peer *peer, gid_t admin_gid,
			const char *admin_group_name, char *why, size_t len);

/* True for verbs that change state (authorize, enroll, ...). */
bool egpud_verb_is_mutating(const char *verb);

#endif /* EGPUD_PROTO_H */
