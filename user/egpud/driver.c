// SPDX-License-Identifier: GPL-2.0
/*
 * Driver binding policy: a [driver-rule] matched against an eGPU's GPU
 * function chooses the driver for the GPU and every function of the same
 * slot (the HDMI audio function, USB-C controller, ...), all together.
 * Applied once per function per plug-in.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rules.h"
#include "common/sysfs.h"
#include "egpud/egpud.h"

static struct egpud_dev_state *dev_state(struct egpud *d, const char *name, bool create)
{
	struct egpud_dev_state *v;
	size_t i;

	for (i = 0; i < d->n_devs; i++)
		if (!strcmp(d->devs[i].name, name))
			return &d->devs[i];
	if (!create)
		return NULL;
	v = realloc(d->devs, (d->n_devs + 1) * sizeof(*v));
	if (!v)
		return NULL;
	d->devs = v;
	v = &d->devs[d->n_devs++];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", name);
	return v;
}

void egpud_driver_forget(struct egpud *d, const char *name)
{
	struct egpud_dev_state *st = dev_state(d, name, false);

	if (st)
		*st = d->devs[--d->n_devs];
}

/* The function of the same slot (bus:device) numbered fn, if tracked. */
static const struct egpuhp_dev *slot_function(struct egpud *d, const struct egpuhp_dev *dev,
					      bool want_gpu)
{
	const char *dot = strrchr(dev->name, '.');
	size_t k, pfx = dot ? (size_t)(dot - dev->name) + 1 : 0;

	for (k = 0; pfx && k < d->tracker.n_devs; k++) {
		const struct egpuhp_dev *g = &d->tracker.devs[k];

		if (strncmp(g->name, dev->name, pfx))
			continue;
		if (want_gpu ? g->is_gpu : !strcmp(g->name + pfx, "0"))
			return g;
	}
	return NULL;
}

/*
 * The function whose rule governs dev: the GPU of its eGPU (dev itself,
 * its group's GPU, or a GPU in the same slot); without a GPU, function 0
 * of the slot (a multi-function device is bound as one).
 */
static const struct egpuhp_dev *governing(struct egpud *d, const struct egpuhp_dev *dev)
{
	const struct egpuhp_dev *g;

	if (dev->is_gpu)
		return dev;
	if (dev->group[0] && strcmp(dev->group, dev->name)) {
		g = egpu_tracker_dev(&d->tracker, dev->group);
		if (g)
			return g;
	}
	g = slot_function(d, dev, true);
	if (g)
		return g;
	g = slot_function(d, dev, false);
	return g ? g : dev;
}

/* A binding being done by a job (jobs.c): modprobe and drivers_probe can block. */
struct binding {
	char pci[EGPUHP_PCI_NAME_LEN];
	char driver[EGPUHP_DRIVER_NAME_LEN];
	unsigned int line;
	struct egpuhp_dev gpu;
};

/* In the job's child. */
static int bind_work(void *arg, FILE *out)
{
	const struct binding *b = arg;
	char why[256];
	int ret;

	/*
	 * Make sure the driver exists (vfio-pci is a module).  Once it is
	 * registered, libkmod's lookup (it reads the module indexes) is time
	 * on the way to gpu-ready that buys nothing.
	 */
	if (!egpu_pci_driver_registered(b->driver) &&
	    egpud_modprobe(b->driver, why, sizeof(why)) < 0)
		egpu_dbg("modprobe %s: %s", b->driver, why);
	ret = egpu_pci_set_driver(b->pci, b->driver);
	if (ret < 0) {
		fprintf(out, "%s", strerror(-ret));
		return 1;
	}
	return 0;
}

/* In the loop, when the job ended. */
static void bind_done(struct egpud *d, struct egpud_job *j)
{
	const struct binding *b = j->ctx;
	struct egpud_dev_state *st = dev_state(d, b->pci, false);

	if (!st)
		return;		/* removed meanwhile */
	if (j->status) {
		/* e.g. the kernel bound its own driver meanwhile: its bound
		 * event brings us back here, a few times at most */
		st->driver_attempts++;
		egpu_log("driver %s for %s failed: %s (rule at line %u%s)", b->driver,
			 b->pci, j->len ? j->text : "did not finish", b->line,
			 st->driver_attempts >= 3 ? ", giving up" : "");
		return;
	}
	st->driver_applied = true;
	egpu_log("driver %s for %s (rule at line %u, eGPU %s %04x:%04x)", b->driver,
		 b->pci, b->line, b->gpu.name, b->gpu.vendor, b->gpu.device);
	{
		struct egpuhp_dev dev = b->gpu;
		struct egpud_hook_env env = { .event = "driver-set", .dev = &dev };

		snprintf(dev.name, sizeof(dev.name), "%s", b->pci);
		snprintf(dev.driver, sizeof(dev.driver), "%s", b->driver);
		egpud_hooks_run(d, EGPU_HOOK_DRIVER_SET, &env);
	}
}

static void apply(struct egpud *d, const char *pci, const char *cur_driver,
		  const struct egpu_driver_rule *rule, const struct egpuhp_dev *gpu)
{
	struct egpud_dev_state *st = dev_state(d, pci, true);
	struct egpud_job *j;
	struct binding *b;
	char key[48];

	if (!st || st->driver_applied || st->driver_attempts >= 3)
		return;
	if (cur_driver && !strcmp(cur_driver, rule->driver)) {
		st->driver_applied = true;
		return;
	}
	snprintf(key, sizeof(key), "driver %s", pci);
	if (egpud_job_for(d, key))
		return;		/* being bound; its end decides */
	b = calloc(1, sizeof(*b));
	if (!b)
		return;
	snprintf(b->pci, sizeof(b->pci), "%s", pci);
	snprintf(b->driver, sizeof(b->driver), "%s", rule->driver);
	b->line = rule->line;
	b->gpu = *gpu;
	j = egpud_job_start(d, key, key, bind_work, b, bind_done);
	if (!j) {
		st->driver_attempts++;
		egpu_log("driver %s for %s: cannot start the job: %s", rule->driver, pci,
			 strerror(errno));
		free(b);
		return;
	}
	j->ctx = b;
}

void egpud_driver_consider(struct egpud *d, const struct egpuhp_dev *dev)
{
	const struct egpu_driver_rule *rule;
	const struct egpuhp_dev *gpu;
	char names[8][EGPUHP_PCI_NAME_LEN];
	int n, i;
	size_t k;

	if (!d->cfg->n_driver_rules)
		return;
	gpu = governing(d, dev);
	rule = egpu_match_driver_rule(d->cfg, gpu);
	if (!rule)
		return;
	if (!strcmp(gpu->name, dev->name)) {
		/* The GPU and its siblings: same slot in sysfs, same group in the module. */
		n = egpu_pci_slot_functions(dev->name, names, 8);
		for (i = 0; i < n; i++) {
			char cur[EGPUHP_DRIVER_NAME_LEN];

			egpu_pci_driver(names[i], cur, sizeof(cur));
			apply(d, names[i], cur, rule, gpu);
		}
		for (k = 0; k < d->tracker.n_devs; k++) {
			const struct egpuhp_dev *s = &d->tracker.devs[k];

			if (!strcmp(s->group, gpu->name) && strcmp(s->name, gpu->name)) {
				char cur[EGPUHP_DRIVER_NAME_LEN];

				egpu_pci_driver(s->name, cur, sizeof(cur));
				apply(d, s->name, cur, rule, gpu);
			}
		}
		apply(d, dev->name, dev->driver, rule, gpu);
	} else {
		char cur[EGPUHP_DRIVER_NAME_LEN];

		egpu_pci_driver(dev->name, cur, sizeof(cur));
		apply(d, dev->name, cur, rule, gpu);
	}
}
