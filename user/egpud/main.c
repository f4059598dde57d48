// SPDX-License-Identifier: GPL-2.0
/*
 * egpud: applies egpuhp's policies (Thunderbolt authorization, driver
 * binding, hooks) as eGPUs come and go, and serves egpuctl and libegpu.
 *
 * The loop blocks in epoll_wait() with no timeout unless a hook process has
 * a deadline, so an idle daemon never wakes up.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/sd_notify.h"
#include "common/store.h"
#include "common/sysfs.h"
#include "common/uevent.h"
#include "egpud/egpud.h"

uint64_t egpud_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int egpud_epoll_add(struct egpud *d, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (epoll_ctl(d->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

void egpud_epoll_del(struct egpud *d, int fd)
{
	epoll_ctl(d->ep, EPOLL_CTL_DEL, fd, NULL);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: egpud [options]\n"
		"  -c, --config FILE     configuration (default " EGPU_DEFAULT_CONFIG ")\n"
		"  -s, --socket PATH     control socket (overrides the config)\n"
		"  -t, --check-config    parse the configuration, report, exit\n"
		"  -d, --debug           debug log lines\n"
		"  -h, --help            this text\n"
		"egpud runs in the foreground and logs to stderr (the journal).\n");
}

static void reload(struct egpud *d)
{
	char err[512];
	struct egpu_config *c;

	c = egpu_config_load(d->config_path, true, err, sizeof(err));
	if (!c) {
		egpu_log("reload refused, keeping the running configuration: %s", err);
		return;
	}
	if (strcmp(c->socket_path, d->cfg->socket_path))
		egpu_log("reload: socket path change needs a restart, keeping %s",
			 d->cfg->socket_path);
	free(c->socket_path);
	c->socket_path = strdup(d->cfg->socket_path);
	egpu_config_free(d->cfg);
	d->cfg = c;
	egpud_admin_group_resolve(d);
	egpud_boltd_refresh(d);
	egpu_sysfs_set_root(c->sysfs_root);
	egpu_sd_notify("RELOADING=1");
	egpud_metrics_changed(d);	/* maybe a new textfile path */
	egpu_log("reloaded %s (%zu authorize rules, %zu driver rules, policy %s)",
		 d->config_path, c->n_auth_rules, c->n_driver_rules,
		 egpu_policy_name(c->policy));
	/* New rules apply to what is connected and waiting, as at start. */
	egpud_auth_reapply(d);
	egpud_snap_reconfigured(d);	/* snapshot-interval-ms may have changed */
	egpu_sd_notify("READY=1\nSTATUS=running (configuration reloaded)");
}

/*
 * The entry of table[0..n-1] (clients, jobs: pointers to structs with an
 * fd) that an epoll event's fd belongs to, or NULL: one lookup for every
 * table of the loop.
 */
#define BY_FD(table, n, want) ({					\
	__typeof__((table)[0]) found_ = NULL;				\
	size_t i_;							\
									\
	for (i_ = 0; i_ < (n) && !found_; i_++)				\
		if ((table)[i_] && (table)[i_]->fd == (want))		\
			found_ = (table)[i_];				\
	found_;								\
})

static void signals_readable(struct egpud *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			reload(d);
			break;
		case SIGCHLD:
			egpud_children_reap(d);
			/* a worker or an eject may have checkpointed processes */
			egpud_records_watch(d);
			break;
		case SIGTERM:
		case SIGINT:
			egpu_log("exiting on signal %u", si.ssi_signo);
			d->quit = true;
			break;
		default:
			break;
		}
	}
}

static int setup_signals(struct egpud *d)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	/* A watcher that went away must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	return d->sigfd < 0 ? -errno : 0;
}

static void ensure_module(struct egpud *d)
{
	char why[256];

	if (!d->cfg->load_module)
		return;
	if (access("/sys/module/egpuhp", F_OK) == 0)
		return;
	if (egpud_modprobe("egpuhp", why, sizeof(why)) < 0)
		egpu_log("cannot load the egpuhp module: %s; running on uevents and sysfs only until it appears",
			 why);
	else
		egpu_log("loaded the egpuhp module");
}

static int run(struct egpud *d)
{
	struct epoll_event evs[16];

	while (!d->quit) {
		int timeout = egpud_children_timeout_ms(d);
		int grace = egpud_eject_timeout_ms(d);
		int aer = egpud_strategy_timeout_ms(d);	/* -1 unless a GPU is guarded */
		int lost = egpud_lost_timeout_ms(d);
		int refresh = egpud_metrics_timeout_ms(d);
		int n, i;

		if (grace >= 0 && (timeout < 0 || grace < timeout))
			timeout = grace;
		if (aer >= 0 && (timeout < 0 || aer < timeout))
			timeout = aer;
		if (lost >= 0 && (timeout < 0 || lost < timeout))
			timeout = lost;
		if (refresh >= 0 && (timeout < 0 || refresh < timeout))
			timeout = refresh;

		n = epoll_wait(d->ep, evs, 16, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			egpu_log("epoll_wait: %s", strerror(errno));
			return 1;
		}
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			struct egpud_client *c;
			struct egpud_job *j;

			if (fd == d->sigfd)
				signals_readable(d);
			else if (d->nl_ev && fd == egpuhp_nl_fd(d->nl_ev))
				egpud_nl_readable(d);
			else if (fd == d->uevfd)
				egpud_uevent_readable(d);
			else if (fd == d->listenfd)
				egpud_server_accept(d);
			else if ((c = BY_FD(d->clients, EGPUD_MAX_CLIENTS, fd)))
				egpud_client_readable(d, c);
			else if ((j = BY_FD(d->jobs, EGPUD_MAX_JOBS, fd)))
				egpud_job_readable(d, j);
			else
				egpud_records_readable(d, fd);
		}
		if (d->tracker.need_resync && d->nl_req)
			egpud_resync(d);
		egpud_children_expire(d);
		egpud_eject_tick(d);
		egpud_strategy_tick(d);
		egpud_lost_tick(d);
		egpud_metrics_flush(d);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "check-config", no_argument, NULL, 't' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct egpud d = { .config_path = EGPU_DEFAULT_CONFIG, .sigfd = -1,
			   .uevfd = -1, .listenfd = -1, .ep = -1 };
	const char *socket_opt = NULL;
	bool check = false, debug = false;
	char err[512];
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:s:tdh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d.config_path = optarg; break;
		case 's': socket_opt = optarg; break;
		case 't': check = true; break;
		case 'd': debug = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	egpu_log_init("egpud", debug);

	/* An explicitly named config must exist; the default one may not. */
	d.cfg = egpu_config_load(d.config_path,
				 !strcmp(d.config_path, EGPU_DEFAULT_CONFIG),
				 err, sizeof(err));
	if (!d.cfg) {
		egpu_log("%s", err);
		return 1;
	}
	if (check) {
		printf("%s: ok (%zu authorize rules, %zu driver rules, policy %s)\n",
		       d.config_path, d.cfg->n_auth_rules, d.cfg->n_driver_rules,
		       egpu_policy_name(d.cfg->policy));
		egpu_config_free(d.cfg);
		return 0;
	}
	if (socket_opt) {
		free(d.cfg->socket_path);
		d.cfg->socket_path = strdup(socket_opt);
	}
	egpu_sysfs_set_root(d.cfg->sysfs_root);
	umask(022);

	d.ep = epoll_create1(EPOLL_CLOEXEC);
	if (d.ep < 0 || setup_signals(&d) < 0 ||
	    egpud_epoll_add(&d, d.sigfd, EPOLLIN) < 0) {
		egpu_log("set-up failed: %s", strerror(errno));
		return 1;
	}
	ret = egpu_store_init(d.cfg->store_dir);
	if (ret < 0)
		egpu_log("store %s: %s (enrolling will fail)", d.cfg->store_dir,
			 strerror(-ret));

	d.uevfd = egpu_uevent_open(d.cfg->netlink_rcvbuf);
	if (d.uevfd < 0)
		egpu_log("uevent socket: %s (authorization changes will be missed)",
			 strerror(-d.uevfd));
	else
		egpud_epoll_add(&d, d.uevfd, EPOLLIN);

	egpu_tracker_init(&d.tracker, &egpud_tracker_ops, &d);
	ensure_module(&d);
	egpud_nl_connect(&d);

	if (egpud_server_open(&d) < 0) {
		ret = 1;
		goto out;
	}

	/* jobs from here on: the socket group answers when NSS does */
	egpud_admin_group_resolve(&d);
	/*
	 * The first scan needs boltd's state; the loop does not run yet, so
	 * asking here stalls no event handling (the bus client's timeouts
	 * bound it); later checks are jobs.
	 */
	d.boltd_running = egpud_boltd_running();
	egpu_log("started: policy %s, owner %s%s, store %s, socket %s",
		 egpu_policy_name(d.cfg->policy),
		 d.cfg->owner == EGPU_OWNER_EGPUD ? "egpud" :
		 d.cfg->owner == EGPU_OWNER_NONE ? "none" : "auto",
		 d.boltd_running ? " (boltd is running)" : "",
		 d.cfg->store_dir, d.cfg->socket_path);
	/* Routers connected before we started (boot with the eGPU plugged in);
	 * what a person de-authorized stays so. */
	egpud_auth_prune_decisions(&d);
	egpud_auth_scan(&d);
	egpud_checkpoint_records_prune(NULL);
	egpud_metrics_changed(&d);
	egpud_metrics_flush(&d);
	egpud_records_watch(&d);
	/* Type=notify: ready once the first scan decided what is connected */
	ret = egpu_sd_notify("READY=1\nSTATUS=running");
	if (ret < 0)
		egpu_log("cannot tell systemd we are ready: %s", strerror(-ret));

	ret = run(&d);
	egpu_sd_notify("STOPPING=1");
	/* an authorization being written finishes (hooks, replies) first */
	egpud_jobs_wait(&d);
	egpud_metrics_stop(&d);
out:
	egpud_strategy_free(&d);	/* before the watchers go: no evacuation at exit */
	egpud_server_close(&d);
	egpud_nl_disconnect(&d);
	egpu_tracker_free(&d.tracker);
	egpud_lost_free(&d);
	free(d.devs);
	egpu_config_free(d.cfg);
	return ret;
}
