// SPDX-License-Identifier: GPL-2.0
/*
 * The two lookups of egpud that can block for as long as something outside
 * it likes, done off the loop as jobs (jobs.c: a forked child, a pipe back,
 * killed at its deadline):
 *
 * - the socket group's gid: getgrnam_r() goes through NSS, and the group
 *   database may be LDAP or sssd across a network that is down;
 * - whether boltd owns org.freedesktop.bolt: a D-Bus round trip, and a bus
 *   daemon that is stuck answers nothing (the client's timeout is per
 *   socket call, so a slow one can take several).
 *
 * Until a lookup answers, egpud fails closed or keeps what it knew: no
 * admin group (only root may act), boltd as last seen.  A boltd that came
 * or went re-applies the policy to the routers waiting on it.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "egpud/egpud.h"

static int nss_group_gid(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	char buf[16384];

	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return -ENOENT;
	*gid = gr.gr_gid;
	return 0;
}

static int bus_boltd_running(void)
{
	return egpud_boltd_running();
}

static int (*group_gid)(const char *name, gid_t *gid) = nss_group_gid;
static int (*boltd_check)(void) = bus_boltd_running;

#ifdef EGPUHP_UNIT_TEST
void egpud_lookups_set_ops(int (*group)(const char *name, gid_t *gid), int (*boltd)(void))
{
	group_gid = group ? group : nss_group_gid;
	boltd_check = boltd ? boltd : bus_boltd_running;
}
#endif

/* In the job's child: the gid in decimal, status 0; status 1 if none. */
static int group_work(void *arg, FILE *out)
{
	gid_t gid;

	if (group_gid(arg, &gid) < 0)
		return 1;
	fprintf(out, "%u", (unsigned int)gid);
	return 0;
}

static void group_done(struct egpud *d, struct egpud_job *j)
{
	const char *name = j->ctx;
	char *end;
	unsigned long gid;

	/* a reload since may have named another group: its own job answers */
	if (!name || !d->cfg->socket_group || strcmp(name, d->cfg->socket_group))
		return;
	gid = strtoul(j->text ? j->text : "", &end, 10);
	if (j->status != 0 || !j->text || end == j->text || *end || gid >= (gid_t)-1) {
		egpu_log("socket-group %s: not in the group database (or its lookup failed); "
			 "only root may act", name);
		return;
	}
	d->admin_gid = (gid_t)gid;
	egpu_dbg("socket-group %s is gid %lu", name, gid);
}

void egpud_admin_group_resolve(struct egpud *d)
{
	const char *name = d->cfg->socket_group;
	struct egpud_job *j;
	char key[48];

	d->admin_gid = (gid_t)-1;	/* until the lookup answers: only root */
	if (!name)
		return;
	snprintf(key, sizeof(key), "group %s", name);
	j = egpud_job_start(d, key, "group lookup", group_work, (void *)name, group_done);
	if (!j) {
		egpu_log("socket-group %s: cannot start its lookup (%s); only root may act "
			 "until the next reload", name, strerror(errno));
		return;
	}
	j->ctx = strdup(name);
}

/* In the job's child: "1" when boltd owns its bus name, "0" when not. */
static int boltd_work(void *arg, FILE *out)
{
	fputs(boltd_check() ? "1" : "0", out);
	return 0;
}

static void boltd_done(struct egpud *d, struct egpud_job *j)
{
	bool running;

	if (j->status != 0 || !j->text || !j->len) {
		egpu_log("boltd check did not answer (stuck bus?): keeping boltd %s",
			 d->boltd_running ? "running" : "not running");
		return;
	}
	running = j->text[0] == '1';
	if (running == d->boltd_running)
		return;
	d->boltd_running = running;
	egpu_log("boltd %s: policy re-applied to the routers waiting",
		 running ? "started" : "stopped");
	egpud_auth_reapply(d);
}

void egpud_boltd_refresh(struct egpud *d)
{
	if (egpud_job_for(d, "boltd"))
		return;		/* one check at a time answers for all */
	if (!egpud_job_start(d, "boltd", "boltd check", boltd_work, NULL, boltd_done))
		egpu_log("boltd check: cannot start it (%s)", strerror(errno));
}
