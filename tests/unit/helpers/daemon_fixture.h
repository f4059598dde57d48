/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A struct egpud for unit tests of egpud's policy code: only its
 * configuration, parsed from text as egpud.conf would be (a parse error
 * fails the test with its message).
 */
#ifndef EGPU_TEST_DAEMON_FIXTURE_H
#define EGPU_TEST_DAEMON_FIXTURE_H

#include "egpud/egpud.h"

struct egpud *daemon_fixture_new(const char *conf_text);
/* Frees what daemon_fixture_new() and the code under test left in it. */
void daemon_fixture_free(struct egpud *d);

#endif /* EGPU_TEST_DAEMON_FIXTURE_H */
