/* SPDX-License-Identifier: GPL-2.0 */
/*
 * For unit tests that run egpud's eject (egpud/eject.c and its worker)
 * without egpud's loop: the clock, the child table and strategy.c's
 * watcher hooks of main.c, records.c and strategy.c, reduced to what the
 * tests look at, and the reaping of the worker.  A header, not a .c in
 * helpers/: every helper object links into every unit test, and these
 * definitions would clash with the tests that link the real ones.
 * Include once, after <cmocka.h>, where "d" is the test's struct egpud.
 */
#ifndef EGPU_TEST_EJECT_WORKER_STUBS_H
#define EGPU_TEST_EJECT_WORKER_STUBS_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "egpud/egpud.h"

/* egpud_now_ms(): a test moves it by hand */
static uint64_t clock_ms = 1000;
/* the last worker egpud was told of (0: none yet) */
static pid_t child_pid;
static enum egpud_child_kind child_kind;
static unsigned int child_timeout_s;
/* records.c's, tested in test_replug.c: here only that the worker calls it */
static int records_annotated;

uint64_t egpud_now_ms(void)
{
	return clock_ms;
}

void egpud_records_annotate(struct egpud *d)
{
	records_annotated++;
}

int egpud_child_add_worker(struct egpud *d, pid_t pid, enum egpud_child_kind kind,
			   const char *what, unsigned int timeout_s, int fd)
{
	child_pid = pid;
	child_kind = kind;
	child_timeout_s = timeout_s;
	/* egpud keeps the requester, to answer it if it must kill the worker */
	assert_true(fd >= 0);
	return 0;
}

void egpud_child_reply_json(struct egpud *d, pid_t pid, const char *verb)
{
	assert_int_equal(pid, child_pid);
	assert_string_equal(verb, "eject");
}

void egpud_child_setup_signals(void)
{
}

/* strategy.c's, tested in test_strategy.c */
void egpud_strategy_client_final(struct egpud *dd, const struct egpud_client *c)
{
}

void egpud_strategy_client_ack(struct egpud *dd, const struct egpud_client *c)
{
}

/* Waits for the eject worker egpud was told of and reaps it as main.c does. */
static inline void eject_worker_finish(struct egpud *d)
{
	int st;

	assert_true(child_pid > 0);
	assert_int_equal(child_kind, EGPUD_CHILD_EJECT);
	assert_true(child_timeout_s > 0);	/* every child has a deadline */
	assert_int_equal(waitpid(child_pid, &st, 0), child_pid);
	egpud_eject_reaped(d, child_pid, st);
	assert_null(d->eject);
}

#endif /* EGPU_TEST_EJECT_WORKER_STUBS_H */
