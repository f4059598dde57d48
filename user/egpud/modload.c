// SPDX-License-Identifier: GPL-2.0
/* Loading kernel modules through libkmod (what modprobe does). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <libkmod.h>

#include "egpud/egpud.h"

int egpud_modprobe(const char *name, char *why, size_t len)
{
	struct kmod_list *list = NULL, *it;
	struct kmod_ctx *ctx;
	int ret, loaded = 0;

	ctx = kmod_new(NULL, NULL);
	if (!ctx) {
		snprintf(why, len, "libkmod: cannot open the module directory");
		return -ENOENT;
	}
	ret = kmod_module_new_from_lookup(ctx, name, &list);
	if (ret < 0 || !list) {
		snprintf(why, len, "no module named %s for kernel %s", name,
			 kmod_get_dirname(ctx));
		kmod_unref(ctx);
		return -ENOENT;
	}
	kmod_list_foreach(it, list) {
		struct kmod_module *mod = kmod_module_get_module(it);

		ret = kmod_module_probe_insert_module(mod, KMOD_PROBE_APPLY_BLACKLIST,
						      NULL, NULL, NULL, NULL);
		if (ret == 0 || ret == -EEXIST) {
			loaded = 1;
		} else {
			snprintf(why, len, "%s: %s", kmod_module_get_name(mod),
				 ret == KMOD_PROBE_APPLY_BLACKLIST ? "blacklisted" :
				 strerror(-ret));
		}
		kmod_module_unref(mod);
		if (loaded)
			break;
	}
	kmod_module_unref_list(list);
	kmod_unref(ctx);
	return loaded ? 0 : -EIO;
}
