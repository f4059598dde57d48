// SPDX-License-Identifier: GPL-2.0
/*
 * TEST-ONLY: "test-inject", a control-socket verb that feeds a made-up
 * event into egpud's decision code, for machines that cannot produce the
 * real one (the lent GPU machine has no hot-plug, no Thunderbolt):
 *
 *   test-inject bind PCI [--router UID]      as if the module had reported
 *                                            PCI's driver bound: the whole
 *                                            event path (a new life for the
 *                                            strategies, gpu-ready hooks,
 *                                            re-plug restores)
 *   test-inject warning PCI KIND TEXT...     as if a warning had come
 *                                            (KIND: link, aer, watchdog,
 *                                            router-link, router-deauthorized)
 *   test-inject lost PCI                     as if the module had reported
 *                                            PCI's surprise removal: the
 *                                            whole event path (watchers get
 *                                            LOST, hooks, on-lost), while the
 *                                            function in fact stays
 *
 * Root only.  This file is built into build/user/egpud-test alone (user/
 * Makefile, EGPUD_TEST_HOOKS); the installed egpud has no such verb, and
 * tests/user/test_inject_build.sh checks that it does not.
 */
#ifndef EGPUD_TEST_HOOKS
#error "test-only code: built into egpud-test alone (user/Makefile)"
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/sysfs.h"
#include "egpud/egpud.h"

/* The tracker's function, or one read from sysfs (no module on the machine). */
static int dev_for(struct egpud *d, const char *pci, const char *router, struct egpuhp_dev *dev)
{
	const struct egpuhp_dev *t = egpu_tracker_dev(&d->tracker, pci);
	char path[128], buf[64];

	if (t) {
		*dev = *t;
	} else {
		memset(dev, 0, sizeof(*dev));
		snprintf(dev->name, sizeof(dev->name), "%s", pci);
		snprintf(path, sizeof(path), "bus/pci/devices/%s/vendor", pci);
		if (egpu_sysfs_read(path, buf, sizeof(buf)) < 0)
			return -1;
		dev->vendor = (uint16_t)strtoul(buf, NULL, 16);
		snprintf(path, sizeof(path), "bus/pci/devices/%s/device", pci);
		if (egpu_sysfs_read(path, buf, sizeof(buf)) < 0)
			return -1;
		dev->device = (uint16_t)strtoul(buf, NULL, 16);
		snprintf(path, sizeof(path), "bus/pci/devices/%s/class", pci);
		if (egpu_sysfs_read(path, buf, sizeof(buf)) == 0)
			dev->class_code = (uint32_t)strtoul(buf, NULL, 16);
		dev->is_gpu = (dev->class_code >> 16) == 0x03 || (dev->class_code >> 16) == 0x12;
		egpu_pci_driver(pci, dev->driver, sizeof(dev->driver));
	}
	if (router)
		snprintf(dev->router_uid, sizeof(dev->router_uid), "%s", router);
	return 0;
}

enum egpud_result egpud_test_inject(struct egpud *d, uid_t uid, int argc, char **argv,
				    FILE *out)
{
	struct egpuhp_dev dev;
	char text[256] = "";
	int i, w;

	if (uid != 0) {
		fprintf(out, "test-inject: root only\n");
		return EGPUD_R_REFUSED;
	}
	if (argc < 3) {
		fprintf(out, "usage: test-inject bind PCI [--router UID] | warning PCI KIND TEXT... | "
			     "lost PCI\n");
		return EGPUD_R_USAGE;
	}
	if (!strcmp(argv[1], "bind")) {
		const char *router = argc == 5 && !strcmp(argv[3], "--router") ? argv[4] : NULL;
		struct egpuhp_nl_event ev = {
			.seq = d->tracker.last_seq,	/* not a module event: no new number */
			.event = EGPUHP_EV_PCI_BOUND,
			.has_dev = true,
		};

		if ((argc != 3 && !router) || dev_for(d, argv[2], router, &dev)) {
			fprintf(out, "test-inject bind: no function %s\n", argv[2]);
			return EGPUD_R_NOT_FOUND;
		}
		ev.dev = dev;
		egpu_log("TEST-INJECT bind %s (driver %s)", dev.name, dev.driver);
		egpud_tracker_ops.event(d, &ev);
		fprintf(out, "injected: bind %s\n", dev.name);
		return EGPUD_R_OK;
	}
	if (!strcmp(argv[1], "warning") && argc >= 5) {
		w = egpud_warning_from_name(argv[3]);
		if (w < 0 || dev_for(d, argv[2], NULL, &dev)) {
			fprintf(out, "test-inject warning: unknown kind %s or function %s\n",
				argv[3], argv[2]);
			return EGPUD_R_USAGE;
		}
		for (i = 4; i < argc; i++)
			snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%s",
				 i > 4 ? " " : "", argv[i]);
		egpu_log("TEST-INJECT warning %s %s: %s", dev.name, argv[3], text);
		egpud_strategy_warn(d, &dev, (enum egpud_warning)w, text);
		fprintf(out, "injected: warning %s %s\n", dev.name, argv[3]);
		return EGPUD_R_OK;
	}
	if (!strcmp(argv[1], "lost") && argc == 3) {
		struct egpuhp_nl_event ev = {
			.seq = d->tracker.last_seq,	/* not a module event: no new number */
			.event = EGPUHP_EV_PCI_REMOVE,
			.flags = EGPUHP_F_SURPRISE,
			.has_dev = true,
		};

		if (dev_for(d, argv[2], NULL, &ev.dev)) {
			fprintf(out, "test-inject lost: no function %s\n", argv[2]);
			return EGPUD_R_NOT_FOUND;
		}
		egpu_log("TEST-INJECT lost %s (surprise removal)", ev.dev.name);
		egpud_tracker_ops.event(d, &ev);
		fprintf(out, "injected: lost %s\n", ev.dev.name);
		return EGPUD_R_OK;
	}
	fprintf(out, "test-inject: unknown event \"%s\"\n", argv[1]);
	return EGPUD_R_USAGE;
}
