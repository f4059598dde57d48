// SPDX-License-Identifier: GPL-2.0
/*
 * egpuctl: state straight from the egpuhp module (netlink) and sysfs;
 * actions through egpud's socket.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/egpud_proto.h"
#include "common/json.h"
#include "common/log.h"
#include "egpuctl/commands.h"

#define EGPUCTL_CMD_PTR(x) &egpuctl_cmd_##x,
static const struct egpuctl_cmd *const commands[] = {
	EGPUCTL_COMMANDS(EGPUCTL_CMD_PTR)
};
#undef EGPUCTL_CMD_PTR

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static bool json_out;	/* --json: errors are envelopes on stdout too */

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
	fprintf(f, "\n--json works with every listing (monitor: one object per line).\n"
		"The socket defaults to $" EGPUD_SOCKET_ENV " or " EGPUD_DEFAULT_SOCKET ".\n");
}

int egpuctl_error(const char *verb, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int first = 1;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", msg);
	if (!json_out)
		return status;
	fputc('{', stdout);
	egpu_json_kv_int(stdout, &first, "version", 1);
	egpu_json_kv_str(stdout, &first, "verb", verb);
	egpu_json_kv_bool(stdout, &first, "ok", 0);
	egpu_json_kv_int(stdout, &first, "status", status);
	egpu_json_kv_str(stdout, &first, "error", msg);
	egpu_json_kv_str(stdout, &first, "code", code);
	egpu_json_key(stdout, &first, "messages");
	fputs("[]}\n", stdout);
	fflush(stdout);
	return status;
}

int egpuctl_usage(const struct egpuctl_cmd *cmd)
{
	return egpuctl_error(cmd->name, EGPUCTL_USAGE, "usage", "usage: egpuctl %s %s",
			     cmd->name, cmd->args);
}

int egpuctl_daemon_call(const struct egpuctl_opts *o, int argc, char **argv)
{
	return egpuctl_daemon_call_timeout(o, argc, argv, EGPUD_REPLY_TIMEOUT_MS);
}

/* egpud unreachable or not understood: o->unreachable_status says how to exit */
static int unreachable(const struct egpuctl_opts *o, const char *verb, const char *code,
		       const char *msg)
{
	if (!o->unreachable_status)
		return egpuctl_error(verb, EGPUCTL_FAIL, code, "%s", msg);
	if (!o->json)
		printf("unknown: %s\n", msg);
	return egpuctl_error(verb, o->unreachable_status, code, "%s", msg);
}

int egpuctl_daemon_call_timeout(const struct egpuctl_opts *o, int argc, char **argv,
				int timeout_ms)
{
	const char *path = egpud_socket_path(o->socket_path);
	char msg[512];
	int fd, ret;

	fd = egpud_connect(path);
	if (fd < 0) {
		snprintf(msg, sizeof(msg),
			 "egpuctl: cannot reach egpud at %s: %s (is egpud running?)",
			 path, strerror(-fd));
		return unreachable(o, argv[0], "no-daemon", msg);
	}
	ret = egpud_send_request(fd, o->json, argc, argv);
	if (ret < 0) {
		close(fd);
		return egpuctl_error(argv[0], ret == -E2BIG || ret == -EINVAL ? EGPUCTL_USAGE :
				     EGPUCTL_FAIL, ret == -E2BIG || ret == -EINVAL ? "usage" :
				     "no-daemon", "egpuctl: sending to egpud: %s", strerror(-ret));
	}
	ret = egpud_read_reply_timeout(fd, stdout, timeout_ms);
	close(fd);
	if (ret == -ETIMEDOUT) {
		snprintf(msg, sizeof(msg), "egpuctl: egpud did not answer within %d s",
			 timeout_ms / 1000);
		return unreachable(o, argv[0], "protocol", msg);
	}
	if (ret < 0) {
		snprintf(msg, sizeof(msg), "egpuctl: egpud closed the connection: %s",
			 strerror(-ret));
		return unreachable(o, argv[0], "protocol", msg);
	}
	return ret;
}

int main(int argc, char **argv)
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

	egpu_log_init("egpuctl", false);
	/* Options before the command only; the command parses its own. */
	while ((c = getopt_long(argc, argv, "+js:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': o.json = json_out = true; break;
		case 's': o.socket_path = optarg; break;
		case 'h': help(stdout); return EGPUCTL_OK;
		default:
			if (json_out)
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
	if (!strcmp(name, "help")) {
		help(stdout);
		return EGPUCTL_OK;
	}
	argc -= optind;
	argv += optind;
	/* --json may also follow the command ("egpuctl list --json"). */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j")) {
			o.json = json_out = true;
			memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
			argc--;
			i--;
		}
	}
	for (k = 0; k < N_COMMANDS; k++)
		if (!strcmp(commands[k]->name, name))
			return commands[k]->run(argc, argv, &o);
	return egpuctl_error(name, EGPUCTL_USAGE, "usage",
			     "egpuctl: unknown command \"%s\" (see egpuctl help)", name);
}
