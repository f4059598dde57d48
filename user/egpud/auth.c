// SPDX-License-Identifier: GPL-2.0
/*
 * Thunderbolt authorization policy.  A router is decided once per plug-in
 * (state keyed by name and unique_id); sysfs is read fresh before acting,
 * so repeated triggers (module event, uevent, start-up scan) are harmless.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/dbus_name.h"
#include "common/egpu_routers.h"
#include "common/log.h"
#include "common/store.h"
#include "common/sysfs.h"
#include "egpud/egpud.h"

/* One decision line: to the log always, and to the requesting client. */
static void say(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(FILE *out, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	egpu_log("%s", buf);
	if (out)
		fprintf(out, "%s\n", buf);
}

static struct egpud_router_state *state_for(struct egpud *d,
					    const struct egpuhp_router *r)
{
	struct egpud_router_state *st = NULL;
	size_t i;

	for (i = 0; i < d->n_routers; i++)
		if (!strcmp(d->routers[i].name, r->name))
			st = &d->routers[i];
	if (st && strcmp(st->unique_id, r->unique_id)) {
		/* a different device under the same name: a new plug-in */
		memset(st, 0, sizeof(*st));
	}
	if (!st) {
		if (d->n_routers == EGPUD_MAX_ROUTERS)
			return NULL;
		st = &d->routers[d->n_routers++];
		memset(st, 0, sizeof(*st));
	}
	snprintf(st->name, sizeof(st->name), "%s", r->name);
	snprintf(st->unique_id, sizeof(st->unique_id), "%s", r->unique_id);
	return st;
}

const struct egpud_router_state *egpud_auth_state(struct egpud *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->n_routers; i++)
		if (!strcmp(d->routers[i].name, name))
			return &d->routers[i];
	return NULL;
}

/* The router is gone: so is a decision kept for this plug-in of it. */
void egpud_auth_forget_router(struct egpud *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->n_routers; i++) {
		if (!strcmp(d->routers[i].name, name)) {
			if (d->routers[i].held_by[0] &&
			    egpu_store_drop_decision(d->cfg->store_dir,
						     d->routers[i].unique_id) == 0)
				egpu_log("%s (%s) unplugged: its de-authorization by %s is over",
					 name, d->routers[i].unique_id, d->routers[i].held_by);
			d->routers[i] = d->routers[--d->n_routers];
			return;
		}
	}
}

/*
 * Is r held de-authorized by a kept decision for this very plug-in?  One
 * made for an earlier plug-in (unplugged while egpud was not running) is
 * dropped.
 */
static bool held_by_decision(struct egpud *d, const struct egpuhp_router *r,
			     struct egpud_router_state *st)
{
	struct egpu_store_decision dec;
	char plug[96];

	if (egpu_store_get_decision(d->cfg->store_dir, r->unique_id, &dec) < 0)
		return false;
	if (egpu_tb_plug_id(r->name, plug, sizeof(plug)) < 0 || strcmp(plug, dec.plug_id)) {
		egpu_store_drop_decision(d->cfg->store_dir, r->unique_id);
		egpu_log("%s (%s): de-authorization by %s was for an earlier plug-in: dropped",
			 r->name, r->unique_id, dec.by);
		return false;
	}
	snprintf(st->held_by, sizeof(st->held_by), "%s", dec.by[0] ? dec.by : "user");
	return true;
}

/* st (router name) is held de-authorized by st->held_by: no policy decides it. */
static void hold(struct egpud_router_state *st, const char *name)
{
	st->decided = true;
	st->verdict = EGPU_AUTH_WAIT;
	snprintf(st->reason, sizeof(st->reason),
		 "de-authorized by %s; kept until unplugged (egpuctl authorize %s to undo)",
		 st->held_by, name);
}

void egpud_auth_note_deauthorized(struct egpud *d, const char *name, const char *by)
{
	struct egpud_router_state *st;
	struct egpuhp_router r;
	int ret;

	if (egpu_tb_read_router(name, &r) < 0)
		return;
	ret = egpu_store_note_deauthorized(d->cfg->store_dir, name, by);
	if (ret < 0)
		egpu_log("%s: cannot keep its de-authorization in %s: %s (a restart of egpud would apply the policy again)",
			 name, d->cfg->store_dir, strerror(-ret));
	st = state_for(d, &r);
	if (!st)
		return;
	snprintf(st->held_by, sizeof(st->held_by), "%s", by);
	hold(st, name);
}

void egpud_auth_saw_authorized(struct egpud *d, const char *name, int authorized)
{
	struct egpud_router_state *st;
	struct egpuhp_router r;
	char key[64];

	snprintf(key, sizeof(key), "router %s", name);
	if (egpud_job_for(d, key) || egpud_job_for(d, "deauthorize"))
		return;		/* our own write: its job's end records it */
	if (egpu_tb_read_router(name, &r) < 0 || r.depth == 0 ||
	    (int)r.authorized != authorized)
		return;		/* stale news */
	st = state_for(d, &r);
	if (!st)
		return;
	if (authorized && st->held_by[0]) {
		/* authorized again from outside (a tunnel reset, a person): over */
		egpu_store_drop_decision(d->cfg->store_dir, r.unique_id);
		egpu_log("%s authorized again (%s): its de-authorization by %s is over",
			 name, d->eject ? "eject" : "sysfs", st->held_by);
		st->held_by[0] = '\0';
		return;
	}
	if (authorized || st->held_by[0])
		return;
	/* de-authorized, not by egpud's policy: an eject, or a person */
	egpud_auth_note_deauthorized(d, name, d->eject ? "eject" : "sysfs");
	if (!d->eject)
		egpud_strategy_router_deauthorized(d, r.unique_id, name);
	egpu_log("%s de-authorized by %s: kept so until unplugged", name, st->held_by);
}

void egpud_auth_refresh_decisions(struct egpud *d)
{
	struct egpuhp_router *v;
	size_t n, i;

	if (egpu_tb_list_routers(&v, &n) < 0)
		return;
	for (i = 0; i < n; i++) {
		struct egpud_router_state *st;

		if (v[i].depth == 0 || !(st = state_for(d, &v[i])) || st->held_by[0])
			continue;
		if (held_by_decision(d, &v[i], st))
			hold(st, v[i].name);
	}
	free(v);
}

void egpud_auth_prune_decisions(struct egpud *d)
{
	char dir[4096], name[EGPUHP_ROUTER_NAME_LEN];
	struct dirent *e;
	DIR *dd;

	snprintf(dir, sizeof(dir), "%s/decisions", d->cfg->store_dir);
	dd = opendir(dir);
	if (!dd)
		return;
	while ((e = readdir(dd))) {
		struct egpud_router_state st = { 0 };
		struct egpuhp_router r;

		if (e->d_name[0] == '.' || !egpu_store_valid_uid(e->d_name))
			continue;
		if (egpu_tb_find_by_uid(e->d_name, name, sizeof(name)) < 0 ||
		    egpu_tb_read_router(name, &r) < 0) {
			egpu_store_drop_decision(d->cfg->store_dir, e->d_name);
			egpu_log("%s was unplugged while egpud was away: its de-authorization is over",
				 e->d_name);
			continue;
		}
		held_by_decision(d, &r, &st);
	}
	closedir(dd);
}

static void hook_auth(struct egpud *d, enum egpu_hook_event h, const char *name,
		      const struct egpuhp_router *r, const char *reason)
{
	struct egpud_hook_env env = { .event = name, .router = r, .reason = reason };

	egpud_hooks_run(d, h, &env);
}

/* What the job writes: decided in the loop, written by the child. */
struct auth_write {
	struct egpuhp_router r;
	char reason[160];
	char store_dir[4096];
	char key[EGPU_KEY_HEX_LEN + 1];	/* "" at level user */
	int value;			/* 1, or 2: challenge with key */
	bool store_key;			/* a new key (trust on first use) */
};

/* In the job's child: the sysfs writes (they may take seconds). */
static int auth_write_work(void *arg, FILE *out)
{
	const struct auth_write *w = arg;
	const struct egpuhp_router *r = &w->r;
	int ret = egpu_tb_authorize(r->name, w->key[0] ? w->key : NULL, w->value);

	if (ret < 0 && w->value == 2) {
		say(out, "challenge of %s (%s) failed: %s (key rejected: not the enrolled device?)",
		    r->name, r->unique_id, strerror(-ret));
		return 1;
	}
	if (ret < 0) {
		say(out, "authorize %s failed: %s", r->name, strerror(-ret));
		return 1;
	}
	if (w->value == 2) {
		say(out, "authorize %s (%s; secure: challenged with the stored key)",
		    r->name, w->reason);
		return 0;
	}
	if (w->store_key) {
		ret = egpu_store_put_key(w->store_dir, r->unique_id, w->key);
		if (ret < 0)
			say(out, "authorized %s but could not store its key: %s (next plug-in cannot be challenged)",
			    r->name, strerror(-ret));
		say(out, "authorize %s (%s; secure: new key stored)", r->name, w->reason);
		return 0;
	}
	say(out, "authorize %s (%s)", r->name, w->reason);
	return 0;
}

/* In the loop, when the job ended. */
static void auth_write_done(struct egpud *d, struct egpud_job *j)
{
	struct egpud_router_state *st;
	struct egpuhp_router r;

	if (egpu_tb_read_router(j->router, &r) < 0)
		goto reply;
	st = state_for(d, &r);
	if (st)
		st->write_error = j->status ? -EIO : 0;
	if (j->status) {
		if (!j->len)	/* it said nothing: it did not finish */
			egpu_log("authorize %s did not finish (killed at its deadline)", j->router);
		goto reply;
	}
	if (st && st->held_by[0]) {
		/* a person authorized it again: that ends the kept decision */
		egpu_store_drop_decision(d->cfg->store_dir, r.unique_id);
		st->held_by[0] = '\0';
	}
	hook_auth(d, EGPU_HOOK_AUTHORIZED, "authorized", &r, j->reason);
reply:
	if (j->client)
		egpud_client_job_reply(d, j);
}

/*
 * Authorize r: the key is looked up (or made) here, the writes are done by
 * a job.  -EINPROGRESS when the job runs, -EBUSY if one already does for
 * r, or -errno (nothing written).
 */
static int authorize_now(struct egpud *d, const struct egpuhp_router *r,
			 const char *reason, FILE *out)
{
	struct auth_write w = { .r = *r, .value = 1 };
	struct egpud_job *j;
	char key[64];
	int ret;

	snprintf(key, sizeof(key), "router %s", r->name);
	if (egpud_job_for(d, key)) {
		say(out, "authorize %s: already in progress", r->name);
		return -EBUSY;
	}
	snprintf(w.reason, sizeof(w.reason), "%s", reason);
	snprintf(w.store_dir, sizeof(w.store_dir), "%s", d->cfg->store_dir);
	if (!strcmp(r->security, "secure")) {
		ret = egpu_store_get_key(d->cfg->store_dir, r->unique_id, w.key);
		if (ret == 0) {
			w.value = 2;
		} else if (ret != -ENOENT) {
			/*
			 * Only a key that does not exist may be created (trust on
			 * first use).  An unreadable or corrupt one must not turn
			 * into a new key: that would accept any device claiming
			 * this unique_id.
			 */
			say(out, "refuse %s (%s): its stored key %s/keys/%s cannot be used: %s; fix or remove that file (egpuctl forget %s, then enroll again) to authorize it",
			    r->name, r->unique_id, d->cfg->store_dir, r->unique_id,
			    ret == -EBADMSG ? "not 64 hex digits" : strerror(-ret),
			    r->unique_id);
			return ret;
		} else {
			ret = egpu_key_generate(w.key);
			if (ret < 0) {
				say(out, "cannot generate a key for %s: %s", r->name,
				    strerror(-ret));
				return ret;
			}
			w.store_key = true;
		}
	}
	j = egpud_job_start(d, key, key, auth_write_work, &w, auth_write_done);
	if (!j) {
		say(out, "authorize %s: cannot start the writer: %s", r->name, strerror(errno));
		return -EAGAIN;
	}
	snprintf(j->router, sizeof(j->router), "%s", r->name);
	snprintf(j->reason, sizeof(j->reason), "%s", reason);
	return -EINPROGRESS;
}

bool egpud_boltd_running(void)
{
	/* No bus, no boltd: it serves only over D-Bus.  1 s for a stuck bus. */
	return egpu_dbus_name_has_owner(NULL, EGPU_BOLT_BUS_NAME, 1000) == 1;
}

int egpud_auth_router(struct egpud *d, const char *name, bool requested, FILE *out)
{
	struct egpu_auth_input in = { .requested = requested };
	struct egpu_auth_decision dec;
	struct egpud_router_state *st;
	struct egpu_store_dev sd;
	struct egpuhp_router r;
	int ret;

	ret = egpu_tb_read_router(name, &r);
	if (ret < 0) {
		if (out)
			fprintf(out, "no Thunderbolt router %s\n", name);
		return -ENOENT;
	}
	st = state_for(d, &r);
	if (!st)
		return -ENOMEM;
	if (st->decided && !requested)
		return 0;	/* decided for this plug-in already */
	if (!requested && (st->held_by[0] || held_by_decision(d, &r, st))) {
		hold(st, r.name);
		egpu_log("leave %s unauthorized (%s)", r.name, st->reason);
		return 0;
	}

	in.router = &r;
	if (egpu_store_get_dev(d->cfg->store_dir, r.unique_id, &sd) == 0)
		in.stored_policy = sd.policy;
	/* as last seen: asking the bus here would stall the loop (lookups.c) */
	in.boltd_running = d->boltd_running;
	egpu_auth_decide(d->cfg, &in, &dec);
	st->decided = true;
	st->verdict = dec.verdict;
	st->policy = dec.policy;
	snprintf(st->reason, sizeof(st->reason), "%s", dec.reason);

	switch (dec.verdict) {
	case EGPU_AUTH_NOTHING:
		if (r.depth == 0)
			egpu_dbg("%s: host router", r.name);
		else if (requested)
			say(out, "%s: nothing to do (%s)", r.name, dec.reason);
		else
			egpu_log("%s: nothing to do (%s)", r.name, dec.reason);
		return 0;
	case EGPU_AUTH_DEFER:
		say(out, "defer %s (%s)", r.name, dec.reason);
		return 0;
	case EGPU_AUTH_WAIT:
		say(out, "leave %s unauthorized (%s)", r.name, dec.reason);
		hook_auth(d, EGPU_HOOK_DENIED, "denied", &r, dec.reason);
		return 0;
	case EGPU_AUTH_REFUSE:
		say(out, "deny %s (%s)", r.name, dec.reason);
		hook_auth(d, EGPU_HOOK_DENIED, "denied", &r, dec.reason);
		return -EPERM;
	case EGPU_AUTH_ALLOW:
		if (!requested && dec.rule && !strcmp(r.security, "secure") &&
		    !egpu_store_has_key(d->cfg->store_dir, r.unique_id)) {
			/*
			 * A rule's unique_id is claimed by the device; at level
			 * secure only the stored key proves it.  Without one, a
			 * person decides (enroll/authorize stores the key).
			 */
			st->verdict = EGPU_AUTH_WAIT;
			snprintf(st->reason, sizeof(st->reason),
				 "rule at line %u: policy auto at security level secure needs the device's stored key (egpuctl enroll %s)",
				 dec.rule->line, r.name);
			say(out, "leave %s unauthorized (%s)", r.name, st->reason);
			hook_auth(d, EGPU_HOOK_DENIED, "denied", &r, st->reason);
			return 0;
		}
		/* the writes may take seconds: a job does them (jobs.c) */
		return authorize_now(d, &r, dec.reason, out);
	}
	return 0;
}

void egpud_auth_reapply(struct egpud *d)
{
	size_t i;

	for (i = 0; i < d->n_routers; i++) {
		struct egpud_router_state *st = &d->routers[i];

		if (st->held_by[0])
			continue;	/* a person's decision */
		if (st->verdict == EGPU_AUTH_WAIT || st->verdict == EGPU_AUTH_DEFER ||
		    st->verdict == EGPU_AUTH_REFUSE)
			st->decided = false;
	}
	egpud_auth_scan(d);
}

void egpud_auth_scan(struct egpud *d)
{
	struct egpuhp_router *v;
	size_t n, i;

	if (egpu_tb_list_routers(&v, &n) < 0)
		return;
	/* Parents before children (sorted by depth): a child appears only
	 * once its parent is authorized, but may already be listed. */
	for (i = 0; i < n; i++)
		if (v[i].depth > 0)
			egpud_auth_router(d, v[i].name, false, NULL);
	free(v);
}

struct deauthorize_all_ctx {
	struct egpud *d;
	FILE *out;
};

static void deauthorized_one(const struct egpuhp_router *r, int err, void *arg)
{
	struct deauthorize_all_ctx *c = arg;

	if (err < 0) {
		say(c->out, "deauthorize %s failed: %s%s", r->name, strerror(-err),
		    err == -EINVAL || err == -EPERM ?
		    " (does the domain support deauthorization?)" : "");
		return;
	}
	/* kept so, across restarts too, until it is unplugged */
	egpud_auth_note_deauthorized(c->d, r->name, "deauthorize-all");
	say(c->out, "deauthorize %s (%s %s) carrying an eGPU", r->name,
	    r->vendor_name, r->device_name);
}

int egpud_deauthorize_all(struct egpud *d, FILE *out)
{
	struct deauthorize_all_ctx c = { .d = d, .out = out };
	char why[256];
	int count;

	/*
	 * Only routers that carry an eGPU (and what is below them): a dock or
	 * a Thunderbolt SSD may still hold mounted filesystems at shutdown.
	 * The module's view when egpud has it, else what sysfs can prove.
	 */
	count = egpu_deauthorize_egpu_routers(d->tracker.devs, d->tracker.n_devs,
					      deauthorized_one, &c, why, sizeof(why));
	if (why[0])
		say(out, "no eGPU router de-authorized: %s", why);
	return count;
}
