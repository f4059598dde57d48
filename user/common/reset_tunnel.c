// SPDX-License-Identifier: GPL-2.0
/* Tunnel cycle of a Thunderbolt/USB4 router (see reset_tunnel.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/reset_tunnel.h"
#include "common/store.h"
#include "common/sysfs.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fail(struct egpu_tunnel_cycle *tc, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct egpu_tunnel_cycle *tc, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tc->err, sizeof(tc->err), fmt, ap);
	va_end(ap);
	return ret;
}

static bool pci_exists(const char *name)
{
	char rel[128], buf[16];

	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/vendor", name);
	return egpu_sysfs_read(rel, buf, sizeof(buf)) == 0;
}

/* Wait until every function is present (want) or absent (!want). */
static bool wait_fns(struct egpu_tunnel_cycle *tc, bool want, unsigned int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;
	size_t i;

	for (;;) {
		for (i = 0; i < tc->nfn; i++)
			if (pci_exists(tc->fn[i].name) != want)
				break;
		if (i == tc->nfn)
			return true;
		if (now_ns() >= end)
			return false;
		usleep(10000);
	}
}

/* The router carrying the device: named, by unique_id, or the only one. */
static int find_router(struct egpu_tunnel_cycle *tc)
{
	struct egpuhp_router *r = NULL;
	size_t n = 0, i, found = 0;
	int ret;

	if (tc->router && tc->router[0]) {
		snprintf(tc->router_name, sizeof(tc->router_name), "%s", tc->router);
		return 0;
	}
	if (tc->router_uid && tc->router_uid[0]) {
		ret = egpu_tb_find_by_uid(tc->router_uid, tc->router_name,
					  sizeof(tc->router_name));
		if (ret == 0)
			return 0;
		return fail(tc, ret, "no router with unique_id %s", tc->router_uid);
	}
	ret = egpu_tb_list_routers(&r, &n);
	if (ret < 0)
		return fail(tc, ret, "cannot list Thunderbolt routers: %s", strerror(-ret));
	for (i = 0; i < n; i++) {
		if (r[i].depth == 0 || !r[i].authorized)
			continue;
		snprintf(tc->router_name, sizeof(tc->router_name), "%s", r[i].name);
		found++;
	}
	free(r);
	if (found == 1)
		return 0;
	return fail(tc, -ENOENT, found ?
		    "several authorized routers; name one with --router" :
		    "no authorized Thunderbolt router carries %s", tc->dev);
}

static void read_binding(struct egpu_tunnel_fn *f)
{
	char rel[128];

	egpu_pci_driver(f->name, f->driver, sizeof(f->driver));
	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver_override", f->name);
	if (egpu_sysfs_read(rel, f->override, sizeof(f->override)) < 0 ||
	    !strcmp(f->override, "(null)"))
		f->override[0] = '\0';
}

/* Put the function back on the driver it had (and its driver_override). */
static int restore_binding(struct egpu_tunnel_fn *f, unsigned int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;
	char rel[160], cur[EGPUHP_DRIVER_NAME_LEN];
	int ret;

	if (f->override[0]) {
		snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver_override", f->name);
		ret = egpu_sysfs_write(rel, f->override);
		if (ret < 0)
			return ret;
	}
	if (!f->driver[0]) {
		egpu_pci_driver(f->name, f->driver_after, sizeof(f->driver_after));
		return 0;
	}
	/* the kernel probes drivers as the device is added: give it time */
	for (;;) {
		egpu_pci_driver(f->name, cur, sizeof(cur));
		if (!strcmp(cur, f->driver) || now_ns() >= end)
			break;
		if (cur[0])
			break;	/* bound to another driver: move it */
		usleep(20000);
	}
	if (strcmp(cur, f->driver)) {
		if (cur[0]) {
			snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver/unbind", f->name);
			egpu_sysfs_write(rel, f->name);
		}
		snprintf(rel, sizeof(rel), "bus/pci/drivers/%s/bind", f->driver);
		ret = egpu_sysfs_write(rel, f->name);
		if (ret < 0)
			return ret;
	}
	egpu_pci_driver(f->name, f->driver_after, sizeof(f->driver_after));
	return strcmp(f->driver_after, f->driver) ? -EIO : 0;
}

int egpu_tunnel_cycle(struct egpu_tunnel_cycle *tc)
{
	char names[EGPU_TUNNEL_MAX_FNS][EGPUHP_PCI_NAME_LEN];
	char rel[160], key[EGPU_KEY_HEX_LEN + 1], uid[EGPUHP_UNIQUE_ID_LEN];
	unsigned int ms = tc->timeout_ms ? tc->timeout_ms : 30000;
	const char *store = tc->store_root ? tc->store_root : EGPU_DEFAULT_STORE;
	struct egpuhp_router r;
	uint64_t t0, t1;
	bool secure;
	int n, ret;
	size_t i;

	tc->err[0] = '\0';
	tc->nfn = 0;
	if (!pci_exists(tc->dev))
		return fail(tc, -ENODEV, "no PCI function %s", tc->dev);
	ret = find_router(tc);
	if (ret < 0)
		return ret;
	ret = egpu_tb_read_router(tc->router_name, &r);
	if (ret < 0)
		return fail(tc, ret, "cannot read router %s: %s", tc->router_name,
			    strerror(-ret));
	snprintf(tc->security, sizeof(tc->security), "%s", r.security);
	if (r.depth == 0)
		return fail(tc, -EINVAL, "%s is a host router", tc->router_name);
	if (r.authorized != 1 && r.authorized != 2)
		return fail(tc, -EINVAL, "router %s is not authorized", tc->router_name);
	snprintf(rel, sizeof(rel), "bus/thunderbolt/devices/%s/deauthorization", r.domain);
	{
		char v[8] = "";

		if (egpu_sysfs_read(rel, v, sizeof(v)) == 0 && strcmp(v, "1"))
			return fail(tc, -EOPNOTSUPP,
				    "domain %s does not support de-authorization", r.domain);
	}
	secure = !strcmp(r.security, "secure");
	key[0] = '\0';
	snprintf(uid, sizeof(uid), "%s", r.unique_id);
	if (secure) {
		ret = egpu_store_get_key(store, uid, key);
		if (ret < 0)
			return fail(tc, ret,
				    "security level secure and no stored key for %s in %s",
				    uid, store);
	}

	n = egpu_pci_slot_functions(tc->dev, names, EGPU_TUNNEL_MAX_FNS);
	if (n < 0)
		return fail(tc, n, "cannot list functions of %s", tc->dev);
	for (i = 0; i < (size_t)n; i++) {
		memcpy(tc->fn[i].name, names[i], sizeof(tc->fn[i].name));
		tc->fn[i].name[sizeof(tc->fn[i].name) - 1] = '\0';
		read_binding(&tc->fn[i]);
	}
	tc->nfn = (size_t)n;

	t0 = now_ns();
	ret = egpu_tb_deauthorize(tc->router_name);
	if (ret < 0)
		return fail(tc, ret, "de-authorizing %s: %s", tc->router_name, strerror(-ret));
	if (!wait_fns(tc, false, ms))
		return fail(tc, -ETIMEDOUT,
			    "functions of %s still present %u ms after de-authorizing %s",
			    tc->dev, ms, tc->router_name);
	t1 = now_ns();
	tc->gone_ns = t1 - t0;

	ret = egpu_tb_authorize(tc->router_name, secure ? key : NULL, secure ? 2 : 1);
	if (ret < 0)
		return fail(tc, ret, "re-authorizing %s: %s (router left de-authorized)",
			    tc->router_name, strerror(-ret));
	if (!wait_fns(tc, true, ms))
		return fail(tc, -ETIMEDOUT, "functions of %s not back %u ms after authorizing %s",
			    tc->dev, ms, tc->router_name);
	tc->back_ns = now_ns() - t1;
	for (i = 0; i < tc->nfn; i++)
		tc->fn[i].back = true;

	t1 = now_ns();
	ret = 0;
	for (i = 0; i < tc->nfn; i++) {
		int r2 = restore_binding(&tc->fn[i], 2000);

		if (r2 < 0 && !ret) {
			ret = r2;
			fail(tc, r2, "%s: driver %s not restored (now \"%s\")",
			     tc->fn[i].name, tc->fn[i].driver, tc->fn[i].driver_after);
		}
	}
	tc->rebind_ns = now_ns() - t1;
	tc->total_ns = now_ns() - t0;
	return ret;
}
