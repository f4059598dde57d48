// SPDX-License-Identifier: GPL-2.0
/*
 * Commands that ask egpud to act: authorize, enroll, forget, import-bolt,
 * policy.  (deauthorize has its own file: it also works without egpud.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/bolt_import.h"
#include "common/config.h"
#include "common/egpud_proto.h"
#include "common/json.h"
#include "egpuctl/commands.h"

static int run_authorize(int argc, char **argv, const struct egpuctl_opts *o)
{
	if (argc != 2)
		return egpuctl_usage(&egpuctl_cmd_authorize);
	return egpuctl_daemon_call(o, argc, argv);
}

static int run_enroll(int argc, char **argv, const struct egpuctl_opts *o)
{
	if (argc != 2 && !(argc == 4 && !strcmp(argv[2], "--policy")))
		return egpuctl_usage(&egpuctl_cmd_enroll);
	return egpuctl_daemon_call(o, argc, argv);
}

static int run_forget(int argc, char **argv, const struct egpuctl_opts *o)
{
	if (argc != 2)
		return egpuctl_usage(&egpuctl_cmd_forget);
	return egpuctl_daemon_call(o, argc, argv);
}

/*
 * Without egpud (first install, before it ever ran): root imports directly.
 * Under --json: data {"via":"direct","imported":N,"store":DIR}, the
 * import's lines as messages.
 */
static int import_bolt_direct(const struct egpuctl_opts *o, const char *dir)
{
	char err[512], *text = NULL;
	struct egpu_config *c;
	size_t len = 0;
	FILE *out;
	int ret;

	c = egpu_config_load(EGPU_DEFAULT_CONFIG, true, err, sizeof(err));
	if (!c)
		return egpuctl_error("import-bolt", EGPUCTL_FAIL, "failed", "egpuctl: %s", err);
	out = o->json ? open_memstream(&text, &len) : stdout;
	if (!out) {
		egpu_config_free(c);
		return egpuctl_error("import-bolt", EGPUCTL_FAIL, "failed", "egpuctl: out of memory");
	}
	ret = egpu_bolt_import(dir, c->store_dir, out);
	if (ret >= 0)
		fprintf(out, "%d devices imported from %s into %s\n", ret, dir, c->store_dir);
	if (o->json)
		fclose(out);
	if (ret < 0) {
		egpuctl_error("import-bolt", EGPUCTL_FAIL, "failed", "egpuctl: import-bolt %s: %s",
			      dir, strerror(-ret));
	} else if (o->json) {
		struct egpuctl_data dd;
		int first = 1;

		if (egpuctl_data_open(&dd, "import-bolt")) {
			fputc('{', dd.f);
			egpu_json_kv_str(dd.f, &first, "via", "direct");
			egpu_json_kv_int(dd.f, &first, "imported", ret);
			egpu_json_kv_str(dd.f, &first, "store", c->store_dir);
			fputc('}', dd.f);
			egpuctl_data_close(&dd, EGPUCTL_OK, NULL, NULL, text);
		}
	}
	free(text);
	egpu_config_free(c);
	return ret < 0 ? EGPUCTL_FAIL : EGPUCTL_OK;
}

static int run_import_bolt(int argc, char **argv, const struct egpuctl_opts *o)
{
	char *args[2] = { "import-bolt", argc > 1 ? argv[1] : EGPU_BOLT_DEFAULT_DIR };
	int fd;

	if (argc > 2 || args[1][0] != '/')
		return egpuctl_usage(&egpuctl_cmd_import_bolt);
	fd = egpud_connect(egpud_socket_path(o->socket_path));
	if (fd < 0 && geteuid() == 0) {
		fprintf(stderr, "egpuctl: egpud not running: importing directly\n");
		return import_bolt_direct(o, args[1]);
	}
	if (fd >= 0)
		close(fd);
	return egpuctl_daemon_call(o, 2, args);
}

static int run_policy(int argc, char **argv, const struct egpuctl_opts *o)
{
	char *args[1] = { "policy" };

	if (argc != 1)
		return egpuctl_usage(&egpuctl_cmd_policy);
	return egpuctl_daemon_call(o, 1, args);
}

const struct egpuctl_cmd egpuctl_cmd_authorize = {
	.name = "authorize", .args = "ROUTER|UNIQUE_ID",
	.help = "authorize a Thunderbolt router now (policy permitting)",
	.run = run_authorize,
};

const struct egpuctl_cmd egpuctl_cmd_enroll = {
	.name = "enroll", .args = "ROUTER|UNIQUE_ID [--policy auto|iommu|manual|deny]",
	.help = "store a router (and its key) and authorize it",
	.run = run_enroll,
};

const struct egpuctl_cmd egpuctl_cmd_forget = {
	.name = "forget", .args = "UNIQUE_ID|ROUTER",
	.help = "remove an enrolled router and its key",
	.run = run_forget,
};

const struct egpuctl_cmd egpuctl_cmd_import_bolt = {
	.name = "import-bolt", .args = "[/BOLT/DIR]",
	.help = "enroll the devices of bolt's store (/var/lib/boltd)",
	.run = run_import_bolt,
};

const struct egpuctl_cmd egpuctl_cmd_policy = {
	.name = "policy", .args = "",
	.help = "egpud's policy and its decision for each router",
	.run = run_policy,
};
