// SPDX-License-Identifier: GPL-2.0
/*
 * Who gets a slot on the control socket.  Any local user may connect, so
 * one user must not be able to take every slot and lock root out:
 *   - an unprivileged uid holds at most EGPUD_MAX_CLIENTS_PER_UID slots;
 *   - EGPUD_PRIV_SLOTS slots are only for root and socket-group members;
 *   - a privileged connection that finds no free slot takes the one of the
 *     oldest unprivileged client (a request first, then a watcher) before
 *     it is refused; privileged watchers are never evicted.
 * So root's requests, "deauthorize --all" at shutdown among them, are
 * always served.
 */
#include <errno.h>
#include <stddef.h>

#include "egpud/egpud.h"

/* The oldest client for which pick(c) holds, or -1. */
static ssize_t oldest(struct egpud_client *const clients[], size_t n,
		      bool (*pick)(const struct egpud_client *c, uid_t uid), uid_t uid)
{
	ssize_t best = -1;
	size_t i;

	for (i = 0; i < n; i++)
		if (clients[i] && pick(clients[i], uid) &&
		    (best < 0 || clients[i]->serial < clients[best]->serial))
			best = (ssize_t)i;
	return best;
}

static bool unpriv_request_of(const struct egpud_client *c, uid_t uid)
{
	return !c->privileged && !c->watching && c->uid == uid;
}

static bool unpriv_request(const struct egpud_client *c, uid_t uid)
{
	return !c->privileged && !c->watching;
}

static bool unpriv_any(const struct egpud_client *c, uid_t uid)
{
	return !c->privileged;
}

static bool priv_request(const struct egpud_client *c, uid_t uid)
{
	return c->privileged && !c->watching;
}

int egpud_admit(struct egpud_client *const clients[], size_t n, uid_t uid,
		bool privileged, ssize_t *evict)
{
	size_t i, n_unpriv = 0, n_uid = 0;
	ssize_t free_slot = -1;

	*evict = -1;
	for (i = 0; i < n; i++) {
		if (!clients[i]) {
			if (free_slot < 0)
				free_slot = (ssize_t)i;
		} else if (!clients[i]->privileged) {
			n_unpriv++;
			if (clients[i]->uid == uid)
				n_uid++;
		}
	}
	if (!privileged) {
		if (n_uid >= EGPUD_MAX_CLIENTS_PER_UID) {
			/* its own request that never finished makes room */
			*evict = oldest(clients, n, unpriv_request_of, uid);
			return *evict >= 0 ? (int)*evict : -EUSERS;
		}
		if (n_unpriv + EGPUD_PRIV_SLOTS >= n || free_slot < 0) {
			*evict = oldest(clients, n, unpriv_request, uid);
			return *evict >= 0 ? (int)*evict : -EBUSY;
		}
		return (int)free_slot;
	}
	if (free_slot >= 0)
		return (int)free_slot;
	*evict = oldest(clients, n, unpriv_request, uid);
	if (*evict < 0)
		*evict = oldest(clients, n, unpriv_any, uid);
	if (*evict < 0)
		*evict = oldest(clients, n, priv_request, uid);
	return *evict >= 0 ? (int)*evict : -EBUSY;
}
