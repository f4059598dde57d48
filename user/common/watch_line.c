// SPDX-License-Identifier: GPL-2.0
/*
 * The lines a libegpu watcher sends egpud on its watch connection
 * (egpud_proto.h): one line in, what it says out.  Pure, so that the
 * fuzzer (tests/fuzz-user/fuzz_watch.c) drives it on its own; egpud's
 * state for them is egpud/snapshots.c's.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/egpud_proto.h"

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
static enum egpud_watch_kind malformed(char *why, size_t len, const char *pre,
					   const char *word, size_t n, const char *post)
{
	snprintf(why, len, "%s%.*s%s", pre, (int)(n > 40 ? 40 : n), word, post);
	return EGPUD_WATCH_MALFORMED;
}

/* The words after "snapshot ": key=value, one space apart. */
static enum egpud_watch_kind parse_snapshot(const char *p, struct egpud_watch_line *m,
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
	return EGPUD_WATCH_SNAPSHOT;
}

enum egpud_watch_kind egpud_watch_parse(const char *line, struct egpud_watch_line *m,
					    char *why, size_t len)
{
	const char *p;

	memset(m, 0, sizeof(*m));
	snprintf(why, len, "?");
	for (p = line; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return malformed(why, len, "control character", "", 0, "");
	if (!strcmp(line, "ack"))
		return EGPUD_WATCH_ACK;
	if (!strcmp(line, "snapshot-off"))
		return EGPUD_WATCH_SNAPSHOT_OFF;
	if (!strncmp(line, "snapshot ", 9))
		return parse_snapshot(line + 9, m, why, len);
	/* "ack"/"snapshot" with something else after them: not a newer line */
	if (!strncmp(line, "ack", 3) || !strncmp(line, "snapshot", 8))
		return malformed(why, len, "\"", line, strlen(line), "\"");
	return EGPUD_WATCH_UNKNOWN;
}

