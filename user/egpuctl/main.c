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

	fprintf(f, "usage: egpuctl [--json] [--socket PATH] COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < N_COMMANDS; i++) {
		char syn[96];

		snprintf(syn, sizeof(syn), "%s %s", commands[i]->name, commands[i]->args);
		fprintf(f, "  %-40s %s\n", syn, commands[i]->help);
	}
	fprintf(f, "\n--json works with every listing (monitor: one object per line).\n"
		"The socket defaults to $" EGPUD_SOCKET_ENV " or " EGPUD_DEFAULT_SOCKET ".\n");
}

int egpuctl_usage(const struct egpuctl_cmd *cmd)
{
	fprintf(stderr, "usage: egpuctl %s %s\n", cmd->name, cmd->args);
	return EGPUCTL_USAGE;
}

int egpuctl_daemon_call(const struct egpuctl_opts *o, int argc, char **argv)
{
	return egpuctl_daemon_call_timeout(o, argc, argv, EGPUD_REPLY_TIMEOUT_MS);
}

int egpuctl_daemon_call_timeout(const struct egpuctl_opts *o, int argc, char **argv,
				int timeout_ms)
{
	const char *path = egpud_socket_path(o->socket_path);
	int fd, ret;

	fd = egpud_connect(path);
	if (fd < 0) {
		fprintf(stderr, "egpuctl: cannot reach egpud at %s: %s (is egpud running?)\n",
			path, strerror(-fd));
		return EGPUCTL_FAIL;
	}
	ret = egpud_send_request(fd, o->json, argc, argv);
	if (ret < 0) {
		fprintf(stderr, "egpuctl: sending to egpud: %s\n", strerror(-ret));
		close(fd);
		return EGPUCTL_FAIL;
	}
	ret = egpud_read_reply_timeout(fd, stdout, timeout_ms);
	close(fd);
	if (ret == -ETIMEDOUT) {
		fprintf(stderr, "egpuctl: egpud did not answer within %d s\n", timeout_ms / 1000);
		return EGPUCTL_FAIL;
	}
	if (ret < 0) {
		fprintf(stderr, "egpuctl: egpud closed the connection: %s\n", strerror(-ret));
		return EGPUCTL_FAIL;
	}
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct egpuctl_opts o = { 0 };
	const char *name;
	int c, i;
	size_t k;

	egpu_log_init("egpuctl", false);
	/* Options before the command only; the command parses its own. */
	while ((c = getopt_long(argc, argv, "+js:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': o.json = true; break;
		case 's': o.socket_path = optarg; break;
		case 'v': o.verbose = true; break;
		case 'h': help(stdout); return EGPUCTL_OK;
		default: help(stderr); return EGPUCTL_USAGE;
		}
	}
	if (optind >= argc) {
		help(stderr);
		return EGPUCTL_USAGE;
	}
	name = argv[optind];
	if (!strcmp(name, "help")) {
		help(stdout);
		return EGPUCTL_OK;
	}
	argc -= optind;
	argv += optind;
	/* --json may also follow the command ("egpuctl list --json"). */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j")) {
			o.json = true;
			memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
			argc--;
			i--;
		}
	}
	for (k = 0; k < N_COMMANDS; k++)
		if (!strcmp(commands[k]->name, name))
			return commands[k]->run(argc, argv, &o);
	fprintf(stderr, "egpuctl: unknown command \"%s\" (see egpuctl help)\n", name);
	return EGPUCTL_USAGE;
}
