// SPDX-License-Identifier: GPL-2.0
/*
 * monitor: the module's events as they happen (human or JSON lines), and
 * egpud's own (workload-lost: what egpud did to a process that held a lost
 * GPU) through its socket while egpud runs.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "common/egpud_proto.h"
#include "common/egpuhp_nl.h"
#include "common/json.h"
#include "egpuctl/commands.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void print_event(const struct egpuhp_nl_event *ev, void *arg)
{
	const struct egpuctl_opts *o = arg;
	char flags[64];

	egpuhp_flags_str(ev->flags, flags, sizeof(flags));
	if (o->json) {
		int f = 1;

		fputc('{', stdout);
		egpu_json_kv_uint(stdout, &f, "seq", ev->seq);
		egpu_json_kv_uint(stdout, &f, "timestamp_ns", ev->timestamp_ns);
		egpu_json_kv_str(stdout, &f, "event", egpuhp_event_name(ev->event));
		egpu_json_kv_str(stdout, &f, "flags", flags);
		if (ev->has_dev) {
			int g = 1;
			char buf[8];

			egpu_json_key(stdout, &f, "dev");
			fputc('{', stdout);
			egpu_json_kv_str(stdout, &g, "name", ev->dev.name);
			snprintf(buf, sizeof(buf), "%04x", ev->dev.vendor);
			egpu_json_kv_str(stdout, &g, "vendor", buf);
			snprintf(buf, sizeof(buf), "%04x", ev->dev.device);
			egpu_json_kv_str(stdout, &g, "device", buf);
			egpu_json_kv_bool(stdout, &g, "is_gpu", ev->dev.is_gpu);
			egpu_json_kv_str(stdout, &g, "driver", ev->dev.driver);
			egpu_json_kv_str(stdout, &g, "group", ev->dev.group);
			egpu_json_kv_str(stdout, &g, "router_uid", ev->dev.router_uid);
			if (ev->dev.link.valid) {
				egpu_json_kv_uint(stdout, &g, "cur_speed_mbps", ev->dev.link.cur_speed);
				egpu_json_kv_uint(stdout, &g, "cur_width", ev->dev.link.cur_width);
			}
			fputc('}', stdout);
		}
		if (ev->has_router) {
			int g = 1;

			egpu_json_key(stdout, &f, "router");
			fputc('{', stdout);
			egpu_json_kv_str(stdout, &g, "name", ev->router.name);
			egpu_json_kv_str(stdout, &g, "unique_id", ev->router.unique_id);
			egpu_json_kv_str(stdout, &g, "vendor_name", ev->router.vendor_name);
			egpu_json_kv_str(stdout, &g, "device_name", ev->router.device_name);
			egpu_json_kv_uint(stdout, &g, "authorized", ev->router.authorized);
			fputc('}', stdout);
		}
		if (ev->event == EGPUHP_EV_PCI_SLOW)
			egpu_json_kv_uint(stdout, &f, "answer_us", ev->answer_us);
		if (ev->reset.valid) {
			int g = 1;

			egpu_json_key(stdout, &f, "reset");
			fputc('{', stdout);
			egpu_json_kv_str(stdout, &g, "method",
					 egpuhp_reset_method_name(ev->reset.method));
			if (ev->reset.step)
				egpu_json_kv_uint(stdout, &g, "step", ev->reset.step);
			egpu_json_kv_uint(stdout, &g, "duration_ns", ev->reset.duration_ns);
			egpu_json_kv_int(stdout, &g, "result", ev->reset.result);
			fputc('}', stdout);
		}
		fputs("}\n", stdout);
	} else {
		printf("%llu %s", (unsigned long long)ev->seq, egpuhp_event_name(ev->event));
		if (ev->has_dev)
			printf(" %s %04x:%04x%s driver=%s", ev->dev.name, ev->dev.vendor,
			       ev->dev.device, ev->dev.is_gpu ? " gpu" : "",
			       ev->dev.driver[0] ? ev->dev.driver : "-");
		if (ev->has_router)
			printf(" router %s %s %s authorized=%u", ev->router.name,
			       ev->router.vendor_name, ev->router.device_name,
			       ev->router.authorized);
		if (ev->reset.valid && ev->reset.step)
			printf(" reset step %u %s result %d", ev->reset.step,
			       egpuhp_reset_method_name(ev->reset.method), ev->reset.result);
		else if (ev->reset.valid)
			printf(" reset %s result %d", egpuhp_reset_method_name(ev->reset.method),
			       ev->reset.result);
		if (ev->event == EGPUHP_EV_PCI_SLOW)
			printf(" answer %u us", ev->answer_us);
		if (flags[0])
			printf(" [%s]", flags);
		printf("\n");
	}
	fflush(stdout);
}

/* egpud's event stream for monitors ("watch --monitor"); -1 if egpud is not there. */
static int egpud_open(const struct egpuctl_opts *o)
{
	char *argv[] = { "watch", "--monitor" };
	char ok[4] = "";
	struct pollfd p;
	int fd = egpud_connect(egpud_socket_path(o->socket_path));
	ssize_t n;

	if (fd < 0)
		return -1;
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (egpud_send_request(fd, false, 2, argv) < 0 || poll(&p, 1, 5000) != 1 ||
	    (n = recv(fd, ok, 3, 0)) != 3 || memcmp(ok, "ok\n", 3)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* "event workload-lost PCI SEQ FLAGS GROUP pid=N action=A node=P comm=C" */
static void print_egpud_line(const char *line, const struct egpuctl_opts *o)
{
	char kind[32], pci[32], flags[64], group[32], rest[512];
	const char *keys[] = { "pid", "action", "node", "comm" };
	char vals[4][160] = { "", "", "", "" };
	unsigned long long seq;
	char *tok, *save = NULL;
	size_t i;

	if (sscanf(line, "event %31s %31s %llu %63s %31s %511[^\n]", kind, pci, &seq, flags,
		   group, rest) != 6 || strcmp(kind, "workload-lost"))
		return;
	for (tok = strtok_r(rest, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		for (i = 0; i < 4; i++)
			if (!strncmp(tok, keys[i], strlen(keys[i])) && tok[strlen(keys[i])] == '=')
				snprintf(vals[i], sizeof(vals[i]), "%s", tok + strlen(keys[i]) + 1);
	if (o->json) {
		int f = 1, g = 1;

		fputc('{', stdout);
		egpu_json_kv_uint(stdout, &f, "seq", seq);
		egpu_json_kv_str(stdout, &f, "event", kind);
		egpu_json_kv_str(stdout, &f, "source", "egpud");
		egpu_json_kv_str(stdout, &f, "flags", flags);
		egpu_json_key(stdout, &f, "dev");
		fputc('{', stdout);
		egpu_json_kv_str(stdout, &g, "name", pci);
		egpu_json_kv_str(stdout, &g, "group", strcmp(group, "-") ? group : "");
		fputc('}', stdout);
		egpu_json_kv_uint(stdout, &f, "pid", strtoull(vals[0], NULL, 10));
		for (i = 1; i < 4; i++)
			egpu_json_kv_str(stdout, &f, keys[i], vals[i]);
		fputs("}\n", stdout);
	} else {
		printf("%llu %s %s pid=%s action=%s node=%s comm=%s\n", seq, kind, pci,
		       vals[0], vals[1], vals[2], vals[3]);
	}
	fflush(stdout);
}

/* Lines from egpud; false when it went away. */
static bool egpud_readable(int fd, char *buf, size_t *len, size_t cap,
			   const struct egpuctl_opts *o)
{
	ssize_t n = recv(fd, buf + *len, cap - 1 - *len, MSG_DONTWAIT);
	char *nl;

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return false;
	if (n < 0)
		return true;
	*len += (size_t)n;
	buf[*len] = '\0';
	while ((nl = strchr(buf, '\n'))) {
		*nl = '\0';
		print_egpud_line(buf, o);
		*len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *len + 1);
	}
	if (*len == cap - 1)
		*len = 0;	/* no line is that long: drop it */
	return true;
}

static int run(int argc, char **argv, const struct egpuctl_opts *o)
{
	struct egpuhp_nl_err err;
	struct egpuhp_nl *nl;
	struct sigaction sa = { .sa_handler = on_signal };
	int ret = EGPUCTL_OK;
	char ebuf[1024];
	size_t elen = 0;
	int efd;

	if (argc != 1)
		return egpuctl_usage(&egpuctl_cmd_monitor);
	nl = egpuhp_nl_open(&err);
	if (!nl || egpuhp_nl_subscribe(nl, &err) < 0) {
		egpuhp_nl_close(nl);
		/* no stream began: under --json the envelope says why */
		return egpuctl_error("monitor", EGPUCTL_FAIL, "failed", "egpuctl: %s", err.msg);
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	efd = egpud_open(o);
	if (efd < 0)
		fprintf(stderr, "egpuctl: egpud is not running: its own events (workload-lost) are not shown\n");
	if (!o->json)
		fprintf(stderr, "monitoring egpuhp events (Ctrl-C to stop)\n");
	while (!stop) {
		struct pollfd p[2] = { { .fd = egpuhp_nl_fd(nl), .events = POLLIN },
				       { .fd = efd, .events = POLLIN } };
		int r = poll(p, efd >= 0 ? 2 : 1, -1);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = EGPUCTL_FAIL;
			break;
		}
		if (efd >= 0 && p[1].revents &&
		    !egpud_readable(efd, ebuf, &elen, sizeof(ebuf), o)) {
			fprintf(stderr, "egpuctl: egpud went away: only the module's events from now on\n");
			close(efd);
			efd = -1;
		}
		if (!p[0].revents)
			continue;
		r = egpuhp_nl_read_events(nl, print_event, (void *)o);
		if (r == -ENOBUFS) {
			fprintf(stderr, "egpuctl: events were lost (socket overrun)\n");
		} else if (r < 0) {
			fprintf(stderr, "egpuctl: %s\n", strerror(-r));
			ret = EGPUCTL_FAIL;
			break;
		}
	}
	if (efd >= 0)
		close(efd);
	egpuhp_nl_close(nl);
	return ret;
}

const struct egpuctl_cmd egpuctl_cmd_monitor = {
	.name = "monitor", .args = "",
	.help = "print events as they happen (--json: one object per line)",
	.run = run,
};
