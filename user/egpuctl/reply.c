// SPDX-License-Identifier: GPL-2.0
/*
 * What egpuctl prints for every command: text, or under --json exactly one
 * envelope (docs/egpuctl-json.md), also for its own errors and for egpud
 * replies it has to wrap; and the one way commands ask egpud.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/egpud_proto.h"
#include "common/json.h"
#include "egpuctl/commands.h"

static bool json_out;	/* --json: errors are envelopes on stdout too */

void egpuctl_set_json(bool json)
{
	json_out = json;
}

void egpuctl_envelope(const char *verb, int status, const char *code, const char *error,
		      const char *data, const char *messages)
{
	egpu_json_envelope(stdout, verb, status, code, error, data, messages);
	fflush(stdout);
}

int egpuctl_error(const char *verb, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", msg);
	if (json_out)
		egpuctl_envelope(verb, status, code, msg, NULL, NULL);
	return status;
}

int egpuctl_usage(const struct egpuctl_cmd *cmd)
{
	return egpuctl_error(cmd->name, EGPUCTL_USAGE, "usage", "usage: egpuctl %s %s",
			     cmd->name, cmd->args);
}

int egpuctl_print_data(const char *verb, const char *data, const char *messages)
{
	egpuctl_envelope(verb, EGPUCTL_OK, NULL, NULL, data, messages);
	return EGPUCTL_OK;
}

FILE *egpuctl_data_open(struct egpuctl_data *dd, const char *verb)
{
	memset(dd, 0, sizeof(*dd));
	dd->verb = verb;
	dd->f = open_memstream(&dd->buf, &dd->len);
	if (!dd->f)
		egpuctl_error(verb, EGPUCTL_FAIL, "failed", "egpuctl: out of memory");
	return dd->f;
}

int egpuctl_data_close(struct egpuctl_data *dd, int status, const char *code,
		       const char *error, const char *messages)
{
	fclose(dd->f);
	egpuctl_envelope(dd->verb, status, code, error, dd->buf, messages);
	free(dd->buf);
	return status;
}

int egpuctl_daemon_ask(const struct egpuctl_opts *o, int argc, char **argv, int timeout_ms,
		       FILE *out, char *err, size_t errlen, const char **code)
{
	const char *path = egpud_socket_path(o->socket_path);
	int fd, ret;

	fd = egpud_connect(path);
	if (fd < 0) {
		snprintf(err, errlen, "egpuctl: cannot reach egpud at %s: %s (is egpud running?)",
			 path, strerror(-fd));
		*code = "no-daemon";
		return -EGPUCTL_FAIL;
	}
	ret = egpud_send_request(fd, o->json, argc, argv);
	if (ret < 0) {
		close(fd);
		snprintf(err, errlen, "egpuctl: sending to egpud: %s", strerror(-ret));
		if (ret == -E2BIG || ret == -EINVAL) {
			*code = "usage";
			return -EGPUCTL_USAGE;
		}
		*code = "no-daemon";
		return -EGPUCTL_FAIL;
	}
	ret = egpud_read_reply_timeout(fd, out, timeout_ms);
	close(fd);
	if (ret >= 0)
		return ret;
	*code = "protocol";
	if (ret == -ETIMEDOUT)
		snprintf(err, errlen, "egpuctl: egpud did not answer within %d s",
			 timeout_ms / 1000);
	else
		snprintf(err, errlen, "egpuctl: egpud closed the connection: %s",
			 strerror(-ret));
	return -EGPUCTL_FAIL;
}

/*
 * Under --json: egpud's reply as it came when it is the envelope, else the
 * envelope around its text: the refusals egpud sends before it has read
 * the request ("egpud: too many clients", "egpud: refused: ...",
 * server.c's refuse_connection()), or an egpud that does not know JSON.
 */
static void print_reply_json(const char *verb, int status, const char *text, size_t len)
{
	struct egpu_jval *doc = egpu_json_parse(text, len);
	const char *code = status ? "protocol" : NULL;

	if (doc && egpu_json_get(doc, "version") && egpu_json_get(doc, "ok")) {
		fwrite(text, 1, len, stdout);
		fflush(stdout);
		egpu_json_free(doc);
		return;
	}
	egpu_json_free(doc);
	if (status && !strncmp(text, "egpud: too many ", 16))
		code = "busy";
	else if (status && !strncmp(text, "egpud: refused", 14))
		code = "refused";
	egpuctl_envelope(verb, status, code, NULL, NULL, text);
}

void egpuctl_print_reply(const struct egpuctl_opts *o, const char *verb, int status,
			 const char *text, size_t len)
{
	if (o->json) {
		print_reply_json(verb, status, text ? text : "", len);
		return;
	}
	fwrite(text ? text : "", 1, len, stdout);
	fflush(stdout);
}

int egpuctl_daemon_call_timeout(const struct egpuctl_opts *o, int argc, char **argv,
				int timeout_ms)
{
	const char *code = NULL;
	char err[512], *text = NULL;
	size_t len = 0;
	FILE *out = o->json ? open_memstream(&text, &len) : stdout;
	int ret;

	if (!out)
		return egpuctl_error(argv[0], EGPUCTL_FAIL, "failed", "egpuctl: out of memory");
	/* text streams as it comes (an eject's steps); JSON is one document */
	ret = egpuctl_daemon_ask(o, argc, argv, timeout_ms, out, err, sizeof(err), &code);
	if (o->json)
		fclose(out);
	if (ret < 0) {
		free(text);
		return egpuctl_error(argv[0], -ret, code, "%s", err);
	}
	if (o->json)
		egpuctl_print_reply(o, argv[0], ret, text, len);
	free(text);
	return ret;
}

int egpuctl_daemon_call(const struct egpuctl_opts *o, int argc, char **argv)
{
	return egpuctl_daemon_call_timeout(o, argc, argv, EGPUD_REPLY_TIMEOUT_MS);
}
