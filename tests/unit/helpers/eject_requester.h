/* SPDX-License-Identifier: GPL-2.0 */
/*
 * For unit tests that drive egpud's eject verb (egpud/eject.c) the way
 * server.c does: prepare it from a request line, and read the worker's
 * whole reply on the requester's end of the connection.  Include after
 * <cmocka.h>.
 */
#ifndef EGPU_TEST_EJECT_REQUESTER_H
#define EGPU_TEST_EJECT_REQUESTER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "egpud/egpud.h"

/* egpud_eject_prepare() for "eject ARGS..." (split at spaces); its text into *text. */
static inline int eject_prepare_line(struct egpud *d, const char *line, char **text)
{
	char buf[256], *argv[16], *tok, *save = NULL;
	size_t len = 0;
	FILE *out = open_memstream(text, &len);
	int argc = 0, rc;

	snprintf(buf, sizeof(buf), "%s", line);
	for (tok = strtok_r(buf, " ", &save); tok && argc < 16; tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	rc = egpud_eject_prepare(d, argc, argv, false, out);
	fclose(out);
	return rc;
}

/* The whole reply on fd until EOF: text, NUL, status (static storage). */
static inline char *eject_reply_read(int fd, int *status)
{
	static char buf[16384];
	size_t len = 0;
	ssize_t n;
	char *nul;

	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	nul = memchr(buf, '\0', len);
	assert_non_null(nul);
	*status = atoi(nul + 1);
	return buf;
}

#endif /* EGPU_TEST_EJECT_REQUESTER_H */
