// SPDX-License-Identifier: GPL-2.0
/*
 * egpuctl: state straight from the egpuhp module (netlink) and sysfs;
 * actions through egpud's socket.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/egpud_proto.h"
#include "common/log.h"
#include "egpuctl/commands.h"

#define EGPUCTL_CMD_PTR(x) &egpuctl_cmd_##x,
static const struct egpuctl_cmd *const commands[] = {
	EGPUCTL_COMMANDS(EGPUCTL_CMD_PTR)
};
#undef EGPUCTL_CMD_PTR

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void help(FILE *f)
{
	size_t i;

	fprintf(f, "usage: egpuctl [--json] [--socket PATH] [COMMAND [ARGS]]\n"
		"(no command: list)\n\ncommands:\n");
	for (i = 0; i < N_COMMANDS; i++) {
		char syn[96];

		snprintf(syn, sizeof(syn), "%s %s", commands[i]->name, commands[i]->args);
		fprintf(f, "  %-40s %s\n", syn, commands[i]->help);
	}
	fprintf(f, "\n--json: every command prints one JSON envelope (monitor: one object per line).\n"
		"The socket defaults to $" EGPUD_SOCKET_ENV " or " EGPUD_DEFAULT_SOCKET ".\n");
}

/* help on stdout; under --json its lines are the envelope's messages */
static int print_help(bool json)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem;

	if (!json) {
		help(stdout);
		return EGPUCTL_OK;
	}
	mem = open_memstream(&text, &len);
	if (!mem)
		return egpuctl_error("help", EGPUCTL_FAIL, "failed", "egpuctl: out of memory");
	help(mem);
	fclose(mem);
	egpuctl_print_data("help", NULL, text);
	free(text);
	return EGPUCTL_OK;
}

int egpuctl_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct egpuctl_opts o = { 0 };
	const char *name;
	int c, i;
	size_t k;

	egpuctl_set_json(false);
	/* Options before the command only; the command parses its own. */
	while ((c = getopt_long(argc, argv, "+js:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': o.json = true; egpuctl_set_json(true); break;
		case 's': o.socket_path = optarg; break;
		case 'h': return print_help(o.json);
		default:
			/* "egpuctl --bad list --json" wants JSON too */
			for (i = optind; i < argc && !o.json; i++)
				o.json = !strcmp(argv[i], "--json");
			egpuctl_set_json(o.json);
			if (o.json)
				return egpuctl_error("", EGPUCTL_USAGE, "usage",
						     "egpuctl: unknown option (see egpuctl help)");
			help(stderr);
			return EGPUCTL_USAGE;
		}
	}
	if (optind >= argc) {
		/* like boltctl: no command lists */
		static char *list_argv[] = { (char *)"list", NULL };

		return egpuctl_cmd_list.run(1, list_argv, &o);
	}
	name = argv[optind];
	argc -= optind;
	argv += optind;
	/* --json may also follow the command ("egpuctl list --json"). */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j")) {
			o.json = true;
			egpuctl_set_json(true);
			memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
			argc--;
			i--;
		}
	}
	if (!strcmp(name, "help"))
		return print_help(o.json);
	for (k = 0; k < N_COMMANDS; k++)
		if (!strcmp(commands[k]->name, name))
			return commands[k]->run(argc, argv, &o);
	return egpuctl_error(name, EGPUCTL_USAGE, "usage",
			     "egpuctl: unknown command \"%s\" (see egpuctl help)", name);
}

#ifndef EGPUHP_UNIT_TEST
int main(int argc, char **argv)
{
	egpu_log_init("egpuctl", false);
	return egpuctl_main(argc, argv);
}
#endif
