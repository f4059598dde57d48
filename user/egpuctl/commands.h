/* SPDX-License-Identifier: GPL-2.0 */
/*
 * egpuctl command table.
 *
 * Every command lives in its own file user/egpuctl/cmd_<name>.c and defines
 * one "const struct egpuctl_cmd egpuctl_cmd_<name>".  The dispatcher in
 * main.c walks EGPUCTL_COMMANDS below, so adding a command means: write the
 * file, add one EGPUCTL_CMD(<name>) line to the list.
 *
 * run() gets argv with argv[0] == the command name; global options (--json,
 * --socket) are already removed and parsed into *o.  Exit codes:
 * EGPUCTL_OK (0), EGPUCTL_FAIL (1), EGPUCTL_USAGE (2).
 */
#ifndef EGPUCTL_COMMANDS_H
#define EGPUCTL_COMMANDS_H

#include <stdbool.h>

#define EGPUCTL_OK	0
#define EGPUCTL_FAIL	1
#define EGPUCTL_USAGE	2
#define EGPUCTL_UNKNOWN	2	/* health: cannot tell (node-problem-detector) */

struct egpuctl_opts {
	bool json;		/* --json: machine readable output */
	const char *socket_path; /* egpud's socket (--socket or default) */
	/*
	 * Exit status when egpud cannot be reached or its reply is not
	 * understood (0: EGPUCTL_FAIL).  health sets EGPUCTL_UNKNOWN, and
	 * then the message is on stdout too (node-problem-detector reads
	 * only stdout).
	 */
	int unreachable_status;
};

struct egpuctl_cmd {
	const char *name;
	const char *args;	/* usage synopsis of the arguments, "" if none */
	const char *help;	/* one line */
	int (*run)(int argc, char **argv, const struct egpuctl_opts *o);
};

/*
 * The one list of commands, in the order "egpuctl help" shows them.
 * EGPUCTL_CMD(x) names egpuctl_cmd_x from cmd_x.c.
 */
#define EGPUCTL_COMMANDS(EGPUCTL_CMD)					\
	EGPUCTL_CMD(list)						\
	EGPUCTL_CMD(info)						\
	EGPUCTL_CMD(status)						\
	EGPUCTL_CMD(monitor)						\
	EGPUCTL_CMD(authorize)						\
	EGPUCTL_CMD(deauthorize)					\
	EGPUCTL_CMD(enroll)						\
	EGPUCTL_CMD(forget)						\
	EGPUCTL_CMD(import_bolt)					\
	EGPUCTL_CMD(policy)						\
	/* --- fleets: metrics (Prometheus), health (node-problem-detector) --- */ \
	EGPUCTL_CMD(metrics)						\
	EGPUCTL_CMD(health)						\
	/* --- engineer "quirks": quirks, reset --- */			\
	EGPUCTL_CMD(quirks)						\
	EGPUCTL_CMD(reset)						\
	/* --- engineer "cuda": workloads, checkpoint, restore, migrate --- */ \
	EGPUCTL_CMD(workloads)						\
	EGPUCTL_CMD(gpus)						\
	EGPUCTL_CMD(checkpoint)						\
	EGPUCTL_CMD(restore)						\
	EGPUCTL_CMD(migrate)						\
	/* --- engineer "eject": eject --- */				\
	EGPUCTL_CMD(eject)						\
	/* --- end of list --- */

#define EGPUCTL_DECLARE_CMD(x) extern const struct egpuctl_cmd egpuctl_cmd_##x;
EGPUCTL_COMMANDS(EGPUCTL_DECLARE_CMD)
#undef EGPUCTL_DECLARE_CMD

/* Helpers shared by commands (main.c). */

/*
 * Send "verb args..." to egpud and copy its reply to stdout; returns the
 * daemon's exit status, or EGPUCTL_FAIL with a message on stderr if the
 * daemon cannot be reached.
 */
int egpuctl_daemon_call(const struct egpuctl_opts *o, int argc, char **argv);
/* The same, giving up on egpud's reply after timeout_ms (then EGPUCTL_FAIL). */
int egpuctl_daemon_call_timeout(const struct egpuctl_opts *o, int argc, char **argv,
				int timeout_ms);

/*
 * Print "usage: egpuctl <cmd> <args>" for cmd on stderr (under --json: an
 * envelope with code "usage" on stdout, docs/egpuctl-json.md); returns
 * EGPUCTL_USAGE.
 */
int egpuctl_usage(const struct egpuctl_cmd *cmd);

/*
 * An error found by egpuctl itself (before or instead of egpud's reply):
 * the message on stderr, and under --json also the envelope
 * {"version":1,"verb":VERB,"ok":false,"status":STATUS,"error":MSG,
 * "code":CODE,"messages":[]} on stdout.  Returns status.
 */
int egpuctl_error(const char *verb, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* EGPUCTL_COMMANDS_H */
