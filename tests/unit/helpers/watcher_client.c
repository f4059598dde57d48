// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "helpers/watcher_client.h"

struct egpud_client *watcher_client(struct egpud *d, pid_t pid, uid_t uid, const char *filter,
				    int *peer)
{
	struct egpud_client *c = calloc(1, sizeof(*c));
	int sv[2];
	size_t i;

	assert_non_null(c);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	c->fd = sv[0];
	*peer = sv[1];
	c->watching = true;
	c->uid = uid;
	c->pid = pid;
	if (pid)
		c->starttime = 4242;	/* gwt_fake_proc's */
	c->serial = ++d->client_serial;
	snprintf(c->filter, sizeof(c->filter), "%s", filter);
	for (i = 0; i < EGPUD_MAX_CLIENTS && d->clients[i]; i++)
		;
	assert_true(i < EGPUD_MAX_CLIENTS);
	d->clients[i] = c;
	return c;
}
