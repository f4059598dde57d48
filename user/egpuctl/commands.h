/* SPDX-License-Identifier: GPL-2.0 */
/*
 * egpuctl command table.
 *
 * One file per command group (as iw does): user/egpuctl/cmd_<group>.c
 * defines one "const struct egpuctl_cmd egpuctl_cmd_<name>" for each of its
 * commands (cmd_list.c: list and status; cmd_actions.c: the verbs egpud
 * acts on; cmd_gpuwork.c: the GPU workload verbs; a command with a logic
 * of its own, like deauthorize or reset, has its own file).  main.c
 * dispatches by walking EGPUCTL_COMMANDS below, so adding a command means:
 * define its egpuctl_cmd, add one EGPUCTL_CMD(<name>) line to the list.
 *
 * run() gets argv with argv[0] == the command name; global options (--json,
 * --socket) are already removed and parsed into *o.  Exit codes:
 * EGPUCTL_OK (0), EGPUCTL_FAIL (1), EGPUCTL_USAGE (2).  Under --json a
 * command prints exactly one envelope (docs/egpuctl-json.md) on stdout,
 * whatever happens: its result through egpuctl_print_data() or
 * egpuctl_envelope(), an error through egpuctl_error() or
 * egpuctl_usage(), egpud's reply through egpuctl_daemon_call().
 */
#ifndef EGPUCTL_COMMANDS_H
#define EGPUCTL_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define EGPUCTL_OK	0
#define EGPUCTL_FAIL	1
#define EGPUCTL_USAGE	2

struct egpuctl_opts {
	bool json;		/* --json: machine readable output */
	const char *socket_path; /* egpud's socket (--socket or default) */
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
	/* --- engineer "doctor": doctor --- */				\
	EGPUCTL_CMD(doctor)						\
	/* --- end of list --- */

#define EGPUCTL_DECLARE_CMD(x) extern const struct egpuctl_cmd egpuctl_cmd_##x;
EGPUCTL_COMMANDS(EGPUCTL_DECLARE_CMD)
#undef EGPUCTL_DECLARE_CMD

/* Helpers shared by commands (reply.c). */

/* The dispatcher (main.c): egpuctl's main() without the log set-up. */
int egpuctl_main(int argc, char **argv);

/* --json was given: egpuctl_error() prints envelopes (main.c sets it). */
void egpuctl_set_json(bool json);

/*
 * Send "verb args..." to egpud and copy its reply to stdout; returns the
 * daemon's exit status.  Under --json the reply is egpud's envelope, or
 * one egpuctl makes around a reply that is none.  If egpud cannot be
 * reached or does not answer: egpuctl_error() (code "no-daemon" or
 * "protocol") and EGPUCTL_FAIL.
 */
int egpuctl_daemon_call(const struct egpuctl_opts *o, int argc, char **argv);
/* The same, giving up on egpud's reply after timeout_ms (then EGPUCTL_FAIL). */
int egpuctl_daemon_call_timeout(const struct egpuctl_opts *o, int argc, char **argv,
				int timeout_ms);
/*
 * The same, printing nothing: egpud's reply body goes to out and its exit
 * status is returned; when there is no reply, -EGPUCTL_FAIL or
 * -EGPUCTL_USAGE with the reason in err and its stable code in *code.
 */
int egpuctl_daemon_ask(const struct egpuctl_opts *o, int argc, char **argv, int timeout_ms,
		       FILE *out, char *err, size_t errlen, const char **code);

/* egpud's reply body (from egpuctl_daemon_ask()) as egpuctl_daemon_call() prints it. */
void egpuctl_print_reply(const struct egpuctl_opts *o, const char *verb, int status,
			 const char *text, size_t len);

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

/*
 * The envelope on stdout (common/json.h egpu_json_envelope()): data is a
 * JSON object's text or NULL, messages text lines or NULL; code and error
 * only when status != 0.
 */
void egpuctl_envelope(const char *verb, int status, const char *code, const char *error,
		      const char *data, const char *messages);
/* A listing's result: the envelope with status 0 around data; EGPUCTL_OK. */
int egpuctl_print_data(const char *verb, const char *data, const char *messages);

/*
 * A result's data object written as it is built: egpuctl_data_open() gives
 * the stream to write the object to (NULL: out of memory, after
 * egpuctl_error() under verb), egpuctl_data_close() prints the envelope
 * around it (as egpuctl_envelope()), frees it and returns status.
 */
struct egpuctl_data {
	const char *verb;
	FILE *f;
	char *buf;
	size_t len;
};
FILE *egpuctl_data_open(struct egpuctl_data *dd, const char *verb);
int egpuctl_data_close(struct egpuctl_data *dd, int status, const char *code,
		       const char *error, const char *messages);

#endif /* EGPUCTL_COMMANDS_H */
