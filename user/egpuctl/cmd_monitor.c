// SPDX-License-Identifier: GPL-2.0
/* monitor: the module's events as they happen (human or JSON lines). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

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
		if (flags[0])
			printf(" [%s]", flags);
		printf("\n");
	}
	fflush(stdout);
}

static int run(int argc, char **argv, const struct egpuctl_opts *o)
{
	struct egpuhp_nl_err err;
	struct egpuhp_nl *nl;
	struct sigaction sa = { .sa_handler = on_signal };
	int ret = EGPUCTL_OK;

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
	if (!o->json)
		fprintf(stderr, "monitoring egpuhp events (Ctrl-C to stop)\n");
	while (!stop) {
		struct pollfd p = { .fd = egpuhp_nl_fd(nl), .events = POLLIN };
		int r = poll(&p, 1, -1);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = EGPUCTL_FAIL;
			break;
		}
		r = egpuhp_nl_read_events(nl, print_event, (void *)o);
		if (r == -ENOBUFS) {
			fprintf(stderr, "egpuctl: events were lost (socket overrun)\n");
		} else if (r < 0) {
			fprintf(stderr, "egpuctl: %s\n", strerror(-r));
			ret = EGPUCTL_FAIL;
			break;
		}
	}
	egpuhp_nl_close(nl);
	return ret;
}

const struct egpuctl_cmd egpuctl_cmd_monitor = {
	.name = "monitor", .args = "",
	.help = "print events as they happen (--json: one object per line)",
	.run = run,
};
