/* SPDX-License-Identifier: GPL-2.0 */
/*
 * For unit tests that link egpud's policy code (auth.c, jobs.c) without
 * its loop: epoll registration, the child table and the client replies of
 * main.c, hooks.c and server.c, reduced to what the tests look at.  Jobs
 * still fork for real; a test finishes them with egpud_job_wait().
 * Include once, after <cmocka.h>.
 */
#ifndef EGPU_TEST_EGPUD_LOOP_STUBS_H
#define EGPU_TEST_EGPUD_LOOP_STUBS_H

#include <stdio.h>

#include "egpud/egpud.h"

int stub_hooks_authorized, stub_hooks_denied, stub_job_replies;

void egpud_hooks_run(struct egpud *d, enum egpu_hook_event ev,
		     const struct egpud_hook_env *env)
{
	if (ev == EGPU_HOOK_AUTHORIZED)
		stub_hooks_authorized++;
	else if (ev == EGPU_HOOK_DENIED)
		stub_hooks_denied++;
}

int egpud_epoll_add(struct egpud *d, int fd, uint32_t events)
{
	return 0;
}

void egpud_epoll_del(struct egpud *d, int fd)
{
}

int egpud_child_add(struct egpud *d, pid_t pid, enum egpud_child_kind kind,
		    const char *what, unsigned int timeout_s)
{
	return 0;
}

void egpud_child_setup_signals(void)
{
}

/* The text of the last job that had a (stand-in) client waiting. */
char stub_job_text[1024];

void egpud_client_job_reply(struct egpud *d, struct egpud_job *j)
{
	stub_job_replies++;
	snprintf(stub_job_text, sizeof(stub_job_text), "%.*s", (int)j->len,
		 j->text ? j->text : "");
	j->client = NULL;
}

#ifndef EGPU_TEST_LINKS_STRATEGY
/* auth.c tells strategy.c of an outside de-authorization: counted here */
int stub_router_deauthorized;

void egpud_strategy_router_deauthorized(struct egpud *d, const char *unique_id,
					const char *name)
{
	stub_router_deauthorized++;
}
#endif

#endif /* EGPU_TEST_EGPUD_LOOP_STUBS_H */
