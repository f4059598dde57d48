// SPDX-License-Identifier: GPL-2.0
/*
 * Slots on egpud's control socket (egpud/admit.c): 200 watchers of one
 * unprivileged uid get EGPUD_MAX_CLIENTS_PER_UID slots; many uids together
 * never take the slots kept for root; root is served even when every slot
 * is taken (idle unprivileged clients, then watchers, make room).
 */
// unit-test-links: egpud/admit.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "egpud/egpud.h"

static struct egpud_client *clients[EGPUD_MAX_CLIENTS];
static uint64_t serial;

/* What egpud_server_accept() does with the answer; the slot or -errno. */
static int connect_as(uid_t uid, bool privileged, bool watching)
{
	ssize_t evict;
	int slot = egpud_admit(clients, EGPUD_MAX_CLIENTS, uid, privileged, &evict);

	if (slot < 0)
		return slot;
	if (evict >= 0) {
		assert_int_equal(evict, slot);
		free(clients[evict]);
		clients[evict] = NULL;
	}
	assert_null(clients[slot]);
	clients[slot] = calloc(1, sizeof(*clients[slot]));
	assert_non_null(clients[slot]);
	clients[slot]->uid = uid;
	clients[slot]->privileged = privileged;
	clients[slot]->watching = watching;
	clients[slot]->serial = ++serial;
	return slot;
}

static size_t count(bool privileged, bool watching)
{
	size_t i, n = 0;

	for (i = 0; i < EGPUD_MAX_CLIENTS; i++)
		if (clients[i] && clients[i]->privileged == privileged &&
		    clients[i]->watching == watching)
			n++;
	return n;
}

static int teardown(void **state)
{
	size_t i;

	for (i = 0; i < EGPUD_MAX_CLIENTS; i++) {
		free(clients[i]);
		clients[i] = NULL;
	}
	return 0;
}

static void test_one_uid_floods(void **state)
{
	int i, ok = 0, refused = 0;

	for (i = 0; i < 200; i++) {
		int r = connect_as(65534, false, true);

		if (r >= 0)
			ok++;
		else if (r == -EUSERS)
			refused++;
	}
	assert_int_equal(ok, EGPUD_MAX_CLIENTS_PER_UID);
	assert_int_equal(refused, 200 - EGPUD_MAX_CLIENTS_PER_UID);
	/* another user and root are still served */
	assert_true(connect_as(1000, false, false) >= 0);
	assert_true(connect_as(0, true, false) >= 0);
	assert_int_equal(count(false, true), EGPUD_MAX_CLIENTS_PER_UID);
}

/* Its own unfinished requests make room for a uid's new connection. */
static void test_uid_replaces_own_request(void **state)
{
	int i;

	for (i = 0; i < EGPUD_MAX_CLIENTS_PER_UID; i++)
		assert_true(connect_as(65534, false, false) >= 0);
	assert_true(connect_as(65534, false, true) >= 0);
	assert_int_equal(count(false, false), EGPUD_MAX_CLIENTS_PER_UID - 1);
}

/* Many uids together: the privileged slots stay free; root gets them all. */
static void test_many_uids_leave_root_slots(void **state)
{
	int uid, i, unpriv = 0, priv = 0;

	for (uid = 1000; uid < 1100; uid++)
		for (i = 0; i < EGPUD_MAX_CLIENTS_PER_UID; i++)
			if (connect_as((uid_t)uid, false, true) >= 0)
				unpriv++;
	assert_int_equal(unpriv, EGPUD_MAX_CLIENTS - EGPUD_PRIV_SLOTS);
	assert_int_equal(connect_as(2000, false, true), -EBUSY);
	for (i = 0; i < EGPUD_PRIV_SLOTS; i++)
		if (connect_as(0, true, false) >= 0)
			priv++;
	assert_int_equal(priv, EGPUD_PRIV_SLOTS);
	/* all taken: root still gets in, an unprivileged watcher makes room */
	assert_true(connect_as(0, true, false) >= 0);
	assert_int_equal(count(false, true), EGPUD_MAX_CLIENTS - EGPUD_PRIV_SLOTS - 1);
}

/* Full: an unprivileged idle request goes before any watcher. */
static void test_requests_evicted_before_watchers(void **state)
{
	int uid, i;

	for (uid = 1000; count(false, true) + EGPUD_MAX_CLIENTS_PER_UID <
			 EGPUD_MAX_CLIENTS - EGPUD_PRIV_SLOTS; uid++)
		for (i = 0; i < EGPUD_MAX_CLIENTS_PER_UID; i++)
			assert_true(connect_as((uid_t)uid, false, true) >= 0);
	while (count(false, false) + count(false, true) < EGPUD_MAX_CLIENTS - EGPUD_PRIV_SLOTS)
		assert_true(connect_as(999, false, false) >= 0);
	while (connect_as(0, true, true) >= 0 && count(true, true) < EGPUD_PRIV_SLOTS)
		;
	assert_int_equal(count(false, false) + count(false, true) + count(true, true),
			 EGPUD_MAX_CLIENTS);
	i = (int)count(false, false);
	assert_true(i > 0);
	assert_true(connect_as(0, true, false) >= 0);
	assert_int_equal(count(false, false), i - 1);	/* a request went */
	assert_int_equal(count(false, true) + i, EGPUD_MAX_CLIENTS - EGPUD_PRIV_SLOTS);
	assert_int_equal(count(true, true), EGPUD_PRIV_SLOTS);
}

/* Only root's own watchers everywhere: requests evicted, watchers never. */
static void test_privileged_watchers_kept(void **state)
{
	int i;

	for (i = 0; i < EGPUD_MAX_CLIENTS; i++)
		assert_true(connect_as(0, true, true) >= 0);
	assert_int_equal(connect_as(0, true, false), -EBUSY);
	assert_int_equal(connect_as(65534, false, false), -EBUSY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_one_uid_floods, teardown),
		cmocka_unit_test_teardown(test_uid_replaces_own_request, teardown),
		cmocka_unit_test_teardown(test_many_uids_leave_root_slots, teardown),
		cmocka_unit_test_teardown(test_requests_evicted_before_watchers, teardown),
		cmocka_unit_test_teardown(test_privileged_watchers_kept, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
