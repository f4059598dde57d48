// SPDX-License-Identifier: GPL-2.0
/*
 * The control socket (see common/egpud_proto.h for the protocol).  Quick
 * verbs are answered inside the loop; gpuwork verbs, which may take
 * seconds, are answered by a forked worker so events are never delayed.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/bolt_import.h"
#include "common/egpud_proto.h"
#include "common/json.h"
#include "common/log.h"
#include "common/store.h"
#include "common/sysfs.h"
#include "egpud/egpud.h"
#include "gpuwork/gw_internal.h"

static int mkdir_parent(const char *path)
{
	char tmp[4096], *dir;

	snprintf(tmp, sizeof(tmp), "%s", path);
	dir = dirname(tmp);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int egpud_server_open(struct egpud *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->cfg->socket_path;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		egpu_log("socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	mkdir_parent(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A stale socket of a previous run: only if nobody answers on it. */
	ret = egpud_connect(path);
	if (ret >= 0) {
		close(ret);
		egpu_log("another egpud is serving %s", path);
		close(fd);
		return -EADDRINUSE;
	}
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		ret = -errno;
		egpu_log("socket %s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	/* Anyone may connect and read; acting is checked per request. */
	chmod(path, 0666);
	d->listenfd = fd;
	return egpud_epoll_add(d, fd, EPOLLIN);
}

/* Take c out of the loop and free it; its socket is returned, still open. */
static int client_detach(struct egpud *d, struct egpud_client *c)
{
	int fd = c->fd;
	size_t i;

	egpud_eject_client_gone(d, c);
	egpud_strategy_client_ack(d, c);	/* gone: no final snapshot will come */
	egpud_jobs_client_gone(d, c);
	if (c->watching)
		egpud_metrics_changed(d);	/* one protected program fewer */
	for (i = 0; i < EGPUD_MAX_CLIENTS; i++) {
		if (d->clients[i] == c) {
			d->clients[i] = NULL;
			break;
		}
	}
	egpud_epoll_del(d, fd);
	free(c->out);
	free(c);
	return fd;
}

static void client_close(struct egpud *d, struct egpud_client *c)
{
	close(client_detach(d, c));
}

void egpud_server_close(struct egpud *d)
{
	size_t i;

	for (i = 0; i < EGPUD_MAX_CLIENTS; i++)
		if (d->clients[i])
			client_close(d, d->clients[i]);
	if (d->listenfd >= 0) {
		close(d->listenfd);
		unlink(d->cfg->socket_path);
		d->listenfd = -1;
	}
}

/* A connection that gets no slot is told why, without blocking, and closed. */
static void refuse_connection(int fd, const char *why)
{
	char msg[160];
	int n = snprintf(msg, sizeof(msg), "egpud: %s%c1\n", why, '\0');

	if (send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		egpu_dbg("refusal lost");
	close(fd);
}

void egpud_server_accept(struct egpud *d)
{
	for (;;) {
		struct egpud_client *c;
		struct egpud_peer peer;
		char why[160];
		bool privileged;
		ssize_t evict;
		int fd = accept4(d->listenfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		int slot;

		if (fd < 0)
			return;
		if (egpud_peer_get(fd, &peer) < 0) {
			refuse_connection(fd, "refused: cannot read peer credentials");
			continue;
		}
		privileged = egpud_peer_may_act(&peer, d->admin_gid, d->cfg->socket_group,
						why, sizeof(why));
		slot = egpud_admit(d->clients, EGPUD_MAX_CLIENTS, peer.uid, privileged, &evict);
		if (slot < 0) {
			snprintf(why, sizeof(why), slot == -EUSERS ?
				 "too many connections from uid %u" : "too many clients",
				 (unsigned int)peer.uid);
			egpu_log("connection from uid %u pid %d refused: %s",
				 (unsigned int)peer.uid, (int)peer.pid, why);
			refuse_connection(fd, why);
			continue;
		}
		if (evict >= 0) {
			egpu_log("too many clients: dropping the oldest %s%s (uid %u) for uid %u",
				 d->clients[evict]->privileged ? "" : "unprivileged ",
				 d->clients[evict]->watching ? "watcher" : "request",
				 (unsigned int)d->clients[evict]->uid, (unsigned int)peer.uid);
			client_close(d, d->clients[evict]);
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			refuse_connection(fd, "out of memory");
			continue;
		}
		c->fd = fd;
		c->uid = peer.uid;
		c->pid = peer.pid;
		/* a watcher's snapshot lines protect this process, no later one of its pid */
		if (peer.pid <= 0 || gw_proc_starttime(peer.pid, &c->starttime))
			c->starttime = 0;
		c->privileged = privileged;
		c->serial = ++d->client_serial;
		d->clients[slot] = c;
		egpud_epoll_add(d, fd, EPOLLIN);
	}
}

/* Send what is left of a reply; the connection ends when all is out. */
static void flush_reply(struct egpud *d, struct egpud_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct epoll_event ev = { .events = EPOLLOUT, .data.fd = c->fd };

			/* the client reads slowly: wait for room, never block */
			epoll_ctl(d->ep, EPOLL_CTL_MOD, c->fd, &ev);
			return;
		}
		if (w <= 0) {
			egpu_dbg("client went away before the end of its reply");
			break;
		}
		c->out_off += (size_t)w;
	}
	client_close(d, c);
}

/* Queue the reply (body, NUL, status) and send it without blocking. */
static void reply_and_close(struct egpud *d, struct egpud_client *c,
			    const char *body, size_t len, int status)
{
	char tail[EGPUD_STATUS_TAIL_LEN];
	int n = egpud_status_tail(tail, status);

	free(c->out);
	c->out = malloc(len + (size_t)n);
	if (!c->out) {
		client_close(d, c);
		return;
	}
	memcpy(c->out, body, len);
	memcpy(c->out + len, tail, (size_t)n);
	c->out_len = len + (size_t)n;
	c->out_off = 0;
	flush_reply(d, c);
}

/* --- verbs --- */

static int resolve_router(const char *arg, char *name, size_t len)
{
	if (egpu_tb_is_router_name(arg)) {
		snprintf(name, len, "%s", arg);
		return 0;
	}
	return egpu_tb_find_by_uid(arg, name, len);
}

/* "enrolled UID (VENDOR DEVICE) policy P: connected as NAME|not connected" */
static void print_enrolled(struct egpud *d, FILE *out)
{
	struct egpu_store_dev *sd;
	size_t i, n;

	if (egpu_store_list(d->cfg->store_dir, &sd, &n) < 0)
		return;
	for (i = 0; i < n; i++) {
		char name[EGPUHP_ROUTER_NAME_LEN];
		bool connected = egpu_tb_find_by_uid(sd[i].unique_id, name, sizeof(name)) == 0;

		fprintf(out, "enrolled %s (%s %s) policy %s: %s%s\n", sd[i].unique_id,
			sd[i].vendor_name, sd[i].device_name, egpu_policy_name(sd[i].policy),
			connected ? "connected as " : "not connected", connected ? name : "");
	}
	free(sd);
}

/* status in text; in JSON its data is egpud_status_json() (replies.c) */
static enum egpud_result verb_status(struct egpud *d, FILE *out)
{
	size_t i;

	fprintf(out, "policy: %s\nowner: %s\nboltd: %s\nmodule: %s\n",
		egpu_policy_name(d->cfg->policy),
		d->cfg->owner == EGPU_OWNER_EGPUD ? "egpud" :
		d->cfg->owner == EGPU_OWNER_NONE ? "none" : "auto",
		d->boltd_running ? "running" : "not running",
		d->nl_ev ? "connected" : "not connected");
	fprintf(out, "events: last seq %llu, handled %llu, skipped %llu, resyncs %llu, gaps %llu, overruns %llu\n",
		(unsigned long long)d->tracker.last_seq,
		(unsigned long long)d->tracker.handled,
		(unsigned long long)d->tracker.skipped,
		(unsigned long long)d->tracker.resyncs,
		(unsigned long long)d->tracker.gaps,
		(unsigned long long)d->tracker.overruns);
	for (i = 0; i < d->n_routers; i++)
		fprintf(out, "router %s %s: %s (%s)\n", d->routers[i].name,
			d->routers[i].unique_id,
			egpu_auth_verdict_name(d->routers[i].verdict), d->routers[i].reason);
	print_enrolled(d, out);
	return EGPUD_R_OK;
}

/* egpud_auth_router()'s result for a requesting client (a job may answer it). */
static enum egpud_result auth_result(struct egpud *d, const char *name, int ret,
				     struct egpud_job **pending)
{
	char key[64];

	if (ret == -EINPROGRESS) {
		snprintf(key, sizeof(key), "router %s", name);
		*pending = egpud_job_for(d, key);
		return *pending ? EGPUD_R_PENDING : EGPUD_R_FAILED;
	}
	return ret == -EPERM ? EGPUD_R_POLICY : ret == -EBUSY ? EGPUD_R_BUSY :
	       ret < 0 ? EGPUD_R_FAILED : EGPUD_R_OK;
}

static enum egpud_result verb_authorize(struct egpud *d, int argc, char **argv, FILE *out,
					struct egpud_job **pending)
{
	char name[EGPUHP_ROUTER_NAME_LEN];
	int ret;

	if (argc != 2) {
		fprintf(out, "usage: authorize ROUTER|UNIQUE_ID\n");
		return EGPUD_R_USAGE;
	}
	if (resolve_router(argv[1], name, sizeof(name)) < 0) {
		fprintf(out, "no Thunderbolt router %s\n", argv[1]);
		return EGPUD_R_NOT_FOUND;
	}
	ret = egpud_auth_router(d, name, true, out);
	return auth_result(d, name, ret, pending);
}

/* What a de-authorization job does; name "" for --all. */
struct deauth_work {
	struct egpud *d;
	char name[EGPUHP_ROUTER_NAME_LEN];
};

/* In the job's child: the writes tear tunnels down and may take long. */
static int deauth_work(void *arg, FILE *out)
{
	const struct deauth_work *w = arg;
	int ret;

	if (!w->name[0]) {
		ret = egpud_deauthorize_all(w->d, out);
		if (ret < 0) {
			fprintf(out, "deauthorize --all: %s\n", strerror(-ret));
			return 1;
		}
		if (ret == 0)
			fprintf(out, "no authorized eGPU router\n");
		return 0;
	}
	ret = egpu_tb_deauthorize(w->name);
	if (ret < 0) {
		fprintf(out, "deauthorize %s failed: %s\n", w->name, strerror(-ret));
		egpu_log("deauthorize %s failed: %s", w->name, strerror(-ret));
		return 1;
	}
	egpud_auth_note_deauthorized(w->d, w->name, "user");
	egpu_log("deauthorize %s (requested)", w->name);
	fprintf(out, "deauthorize %s\n", w->name);
	return 0;
}

/* In the loop: the child kept its decisions in the store; so does memory now. */
static void deauth_done(struct egpud *d, struct egpud_job *j)
{
	egpud_auth_refresh_decisions(d);
	if (j->client)
		egpud_client_job_reply(d, j);
}

static enum egpud_result verb_deauthorize(struct egpud *d, int argc, char **argv, FILE *out,
					  struct egpud_job **pending)
{
	struct deauth_work w = { .d = d };

	if (argc != 2) {
		fprintf(out, "usage: deauthorize ROUTER|UNIQUE_ID|--all\n");
		return EGPUD_R_USAGE;
	}
	if (strcmp(argv[1], "--all") &&
	    resolve_router(argv[1], w.name, sizeof(w.name)) < 0) {
		fprintf(out, "no Thunderbolt router %s\n", argv[1]);
		return EGPUD_R_NOT_FOUND;
	}
	if (egpud_job_for(d, "deauthorize")) {
		fprintf(out, "a de-authorization is in progress; try again when it is done\n");
		return EGPUD_R_BUSY;
	}
	*pending = egpud_job_start(d, "deauthorize", "deauthorize", deauth_work, &w, deauth_done);
	if (*pending)
		return EGPUD_R_PENDING;
	/* no job (fork failed, table full): the shutdown path must still work */
	return deauth_work(&w, out) ? EGPUD_R_FAILED :
	       (egpud_auth_refresh_decisions(d), EGPUD_R_OK);
}

static enum egpud_result verb_enroll(struct egpud *d, int argc, char **argv, FILE *out,
				     struct egpud_job **pending)
{
	enum egpu_policy policy = EGPU_POLICY_AUTO;
	struct egpu_store_dev sd = { 0 };
	struct egpuhp_router r;
	char name[EGPUHP_ROUTER_NAME_LEN];
	int ret;

	if (argc == 4 && !strcmp(argv[2], "--policy")) {
		policy = egpu_policy_from_name(argv[3]);
		if (policy == EGPU_POLICY_UNSET) {
			fprintf(out, "unknown policy %s (auto, iommu, manual, deny)\n", argv[3]);
			return EGPUD_R_USAGE;
		}
	} else if (argc != 2) {
		fprintf(out, "usage: enroll ROUTER|UNIQUE_ID [--policy auto|iommu|manual|deny]\n");
		return EGPUD_R_USAGE;
	}
	if (resolve_router(argv[1], name, sizeof(name)) < 0 ||
	    egpu_tb_read_router(name, &r) < 0) {
		fprintf(out, "no Thunderbolt router %s\n", argv[1]);
		return EGPUD_R_NOT_FOUND;
	}
	if (!egpu_store_valid_uid(r.unique_id)) {
		fprintf(out, "%s: unique_id \"%s\" cannot be stored\n", name, r.unique_id);
		return EGPUD_R_FAILED;
	}
	snprintf(sd.unique_id, sizeof(sd.unique_id), "%s", r.unique_id);
	snprintf(sd.name, sizeof(sd.name), "%s", r.name);
	snprintf(sd.vendor_name, sizeof(sd.vendor_name), "%s", r.vendor_name);
	snprintf(sd.device_name, sizeof(sd.device_name), "%s", r.device_name);
	sd.generation = r.generation;
	sd.policy = policy;
	sd.enrolled = (int64_t)time(NULL);
	ret = egpu_store_init(d->cfg->store_dir);
	if (ret == 0)
		ret = egpu_store_put_dev(d->cfg->store_dir, &sd);
	if (ret < 0) {
		fprintf(out, "enroll %s: store %s: %s\n", name, d->cfg->store_dir,
			strerror(-ret));
		return EGPUD_R_FAILED;
	}
	egpu_log("enroll %s (%s %s, %s) policy %s", name, r.vendor_name, r.device_name,
		 r.unique_id, egpu_policy_name(policy));
	fprintf(out, "enrolled %s (%s) policy %s\n", name, r.unique_id,
		egpu_policy_name(policy));
	if (policy == EGPU_POLICY_DENY || r.authorized)
		return EGPUD_R_OK;
	ret = egpud_auth_router(d, name, true, out);
	return auth_result(d, name, ret, pending);
}

static enum egpud_result verb_forget(struct egpud *d, int argc, char **argv, FILE *out)
{
	char name[EGPUHP_ROUTER_NAME_LEN];
	struct egpuhp_router r;
	const char *uid = argc == 2 ? argv[1] : NULL;
	int ret;

	if (!uid) {
		fprintf(out, "usage: forget UNIQUE_ID|ROUTER\n");
		return EGPUD_R_USAGE;
	}
	if (egpu_tb_is_router_name(uid) && egpu_tb_read_router(uid, &r) == 0) {
		snprintf(name, sizeof(name), "%s", r.name);
		uid = r.unique_id;
	}
	ret = egpu_store_forget(d->cfg->store_dir, uid);
	if (ret < 0) {
		fprintf(out, "forget %s: %s\n", uid,
			ret == -ENOENT ? "not enrolled" : strerror(-ret));
		return ret == -ENOENT ? EGPUD_R_NOT_FOUND : EGPUD_R_FAILED;
	}
	egpu_log("forget %s", uid);
	fprintf(out, "forgot %s\n", uid);
	return EGPUD_R_OK;
}

static enum egpud_result verb_import_bolt(struct egpud *d, int argc, char **argv, FILE *out)
{
	const char *dir = argc >= 2 ? argv[1] : EGPU_BOLT_DEFAULT_DIR;
	int ret;

	if (argc > 2 || dir[0] != '/') {
		fprintf(out, "usage: import-bolt [/ABSOLUTE/BOLT/DIR]\n");
		return EGPUD_R_USAGE;
	}
	ret = egpu_bolt_import(dir, d->cfg->store_dir, out);
	if (ret < 0) {
		fprintf(out, "import-bolt %s: %s\n", dir, strerror(-ret));
		return EGPUD_R_FAILED;
	}
	egpu_log("import-bolt %s: %d devices", dir, ret);
	fprintf(out, "%d devices imported from %s\n", ret, dir);
	return EGPUD_R_OK;
}

static int verb_watch(struct egpud *d, struct egpud_client *c, int argc, char **argv)
{
	static const char ok[] = "ok\n";

	if (argc > 2)
		return -EINVAL;
	c->watching = true;
	egpud_metrics_changed(d);
	if (argc == 2 && !strcmp(argv[1], "--monitor"))
		c->monitor_only = true;	/* egpuctl monitor: egpud's own events */
	else if (argc == 2)
		snprintf(c->filter, sizeof(c->filter), "%s", argv[1]);
	if (send(c->fd, ok, sizeof(ok) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		return -errno;
	return 0;
}

/* gpuwork verbs in a child: they may block for seconds. */
static void run_worker(struct egpud *d, struct egpud_client *c, int argc, char **argv,
		       bool json, const struct egpud_peer *peer)
{
	static const char own[] = "egpud: " GW_SNAPSHOTS_ARG " is egpud's own argument\n";
	char *args[EGPUD_PROTO_MAX_ARGS + 2], snaps[16384], flag[] = GW_SNAPSHOTS_ARG;
	pid_t pid;
	int i;

	/* workloads: what protecting watchers said, which only egpud knows */
	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], GW_SNAPSHOTS_ARG)) {
			reply_and_close(d, c, own, sizeof(own) - 1, 2);
			return;
		}
	}
	memcpy(args, argv, (size_t)argc * sizeof(args[0]));
	if (!strcmp(argv[0], "workloads") && egpud_snap_table(d, snaps, sizeof(snaps))) {
		args[argc++] = flag;
		args[argc++] = snaps;
	}
	argv = args;

	if (!egpud_child_room(d, EGPUD_CHILD_WORKER)) {
		static const char msg[] = "egpud: busy: too many gpuwork requests running\n";

		reply_and_close(d, c, msg, sizeof(msg) - 1, 1);
		return;
	}
	pid = fork();
	if (pid < 0) {
		static const char msg[] = "egpud: cannot fork a worker\n";

		reply_and_close(d, c, msg, sizeof(msg) - 1, 1);
		return;
	}
	if (pid == 0) {
		FILE *out;
		int status;

		egpud_child_setup_signals();
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
		out = fdopen(dup(c->fd), "w");
		if (!out)
			_exit(1);
		/*
		 * The engine's helper stays for the next request (gpuwork.h).
		 * It acts only on processes the peer owns, unless it is root.
		 */
		status = json ? gw_dispatch_envelope(peer->uid, argv[0], argc - 1, argv + 1, out) :
			 gw_dispatch_as(peer->uid, argv[0], argc - 1, argv + 1, out, false);
		if (gw_verb_is_mutating(argv[0]))
			egpud_records_annotate(d);
		_exit(egpud_reply_end(out, status) ? 1 : 0);
	}
	/* the worker's deadline: egpud kills it and answers in its place */
	if (egpud_child_add_worker(d, pid, EGPUD_CHILD_WORKER, argv[0], EGPUD_WORKER_TIMEOUT_S,
				   c->fd) < 0) {
		kill(pid, SIGKILL);
		egpu_log("%s: worker %d killed: too many workers running", argv[0], (int)pid);
	} else {
		if (json)
			egpud_child_reply_json(d, pid, argv[0]);
		egpu_log("%s: served by worker %d", argv[0], (int)pid);
	}
	client_close(d, c);
}

/* Reply with text (status line after it), or the JSON envelope around it. */
static void reply_result(struct egpud *d, struct egpud_client *c, bool json,
			 const char *verb, enum egpud_result r, const char *data,
			 const char *text, size_t len)
{
	char *wrapped = NULL;
	size_t wlen = 0;
	FILE *out;

	if (json) {
		out = open_memstream(&wrapped, &wlen);
		if (out) {
			egpud_json_envelope(out, verb, r, data, text);
			fclose(out);
			reply_and_close(d, c, wrapped, wlen, egpud_result_status(r));
			free(wrapped);
			return;
		}
	}
	reply_and_close(d, c, text, len, egpud_result_status(r));
}

static void reply_msg(struct egpud *d, struct egpud_client *c, bool json,
		      const char *verb, enum egpud_result r, const char *msg)
{
	reply_result(d, c, json, verb, r, NULL, msg, strlen(msg));
}

static void handle_request(struct egpud *d, struct egpud_client *c, char *line)
{
	char *argv[EGPUD_PROTO_MAX_ARGS];
	struct egpud_peer peer;
	bool json = false, mutating;
	char *text = NULL, *data = NULL;
	size_t len = 0, dlen = 0;
	enum egpud_result r = EGPUD_R_OK;
	struct egpud_job *pending = NULL;
	FILE *out, *dout = NULL;
	int argc;

	json = !strncmp(line, "--json", 6) && (line[6] == ' ' || line[6] == '\0');
	argc = egpud_proto_split(line, argv, EGPUD_PROTO_MAX_ARGS);
	if (argc > 0 && !strcmp(argv[0], "--json")) {
		memmove(argv, argv + 1, (size_t)(argc - 1) * sizeof(argv[0]));
		argc--;
	}
	if (argc <= 0) {
		reply_msg(d, c, json, "", EGPUD_R_BAD_REQUEST, "egpud: bad request\n");
		return;
	}
	if (egpud_peer_get(c->fd, &peer) < 0) {
		reply_msg(d, c, json, argv[0], EGPUD_R_REFUSED,
			  "egpud: refused: cannot read peer credentials\n");
		return;
	}
	mutating = gw_is_verb(argv[0]) ? gw_verb_is_mutating(argv[0]) :
		   egpud_verb_is_mutating(argv[0]);
	if (mutating) {
		char why[160], msg[320];

		/* enrolled routers, decisions: the snapshot may change */
		egpud_metrics_changed(d);

		if (!egpud_peer_may_act(&peer, d->admin_gid, d->cfg->socket_group,
					why, sizeof(why))) {
			/* the verb is the client's: up to a whole line long */
			snprintf(msg, sizeof(msg),
				 "egpud: refused: \"%.64s\" changes state and needs root%s%s: %s\n",
				 argv[0], d->cfg->socket_group ? " or group " : "",
				 d->cfg->socket_group ? d->cfg->socket_group : "", why);
			egpu_log("refused %.64s from uid %u pid %d: %s", argv[0],
				 (unsigned int)peer.uid, (int)peer.pid, why);
			reply_msg(d, c, json, argv[0], EGPUD_R_REFUSED, msg);
			return;
		}
	}
	if (!strcmp(argv[0], "watch")) {
		char rest[sizeof(c->buf)];
		size_t n = c->len - c->req_len;

		/* what came after the request line is the watcher's first input */
		memcpy(rest, c->buf + c->req_len, n);
		c->len = 0;
		if (verb_watch(d, c, argc, argv) < 0 || egpud_watcher_input(d, c, rest, n) < 0)
			client_close(d, c);
		return;
	}
	if (gw_is_verb(argv[0])) {
		run_worker(d, c, argc, argv, json, &peer);
		return;
	}

	out = open_memstream(&text, &len);
	if (json)
		dout = open_memstream(&data, &dlen);
	if (!out || (json && !dout)) {
		if (out)
			fclose(out);
		free(text);
		client_close(d, c);
		return;
	}
	if (!strcmp(argv[0], "ping")) {
		fprintf(out, "pong\n");
	} else if (!strcmp(argv[0], "status") || !strcmp(argv[0], "policy")) {
		if (json)
			egpud_status_json(d, dout);
		else
			r = verb_status(d, out);
	} else if (!strcmp(argv[0], "metrics")) {
		if (argc != 1) {
			fprintf(out, "usage: metrics\n");
			r = EGPUD_R_USAGE;
		} else {
			egpud_metrics_render(d, out);
		}
	} else if (!strcmp(argv[0], "health")) {
		if (argc != 1) {
			fprintf(out, "usage: health\n");
			r = EGPUD_R_USAGE;
		} else {
			r = egpud_health(d, out, dout);
		}
	} else if (!strcmp(argv[0], "info")) {
		r = egpud_info(d, argc, argv, out, dout);
	} else if (!strcmp(argv[0], "authorize")) {
		r = verb_authorize(d, argc, argv, out, &pending);
	} else if (!strcmp(argv[0], "deauthorize")) {
		r = verb_deauthorize(d, argc, argv, out, &pending);
	} else if (!strcmp(argv[0], "enroll")) {
		r = verb_enroll(d, argc, argv, out, &pending);
	} else if (!strcmp(argv[0], "forget")) {
		r = verb_forget(d, argc, argv, out);
	} else if (!strcmp(argv[0], "import-bolt")) {
		r = verb_import_bolt(d, argc, argv, out);
	} else if (!strcmp(argv[0], "eject")) {
		int status = egpud_eject_prepare(d, argc, argv, json, out);

		if (status == 0) {
			/* the eject answers when it is done (eject.c) */
			fclose(out);
			free(text);
			if (dout)
				fclose(dout);
			free(data);
			egpud_eject_begin(d, client_detach(d, c));
			return;
		}
		r = status == 2 ? EGPUD_R_USAGE : EGPUD_R_FAILED;
	} else if (!strcmp(argv[0], "reload")) {
		kill(getpid(), SIGHUP);
		fprintf(out, "reload requested\n");
	} else if (!strcmp(argv[0], "resync")) {
		egpu_tracker_overrun(&d->tracker);
		fprintf(out, "resync requested\n");
#ifdef EGPUD_TEST_HOOKS
	} else if (!strcmp(argv[0], "test-inject")) {
		r = egpud_test_inject(d, peer.uid, argc, argv, out);
#endif
	} else {
		fprintf(out, "unknown verb \"%s\"\n", argv[0]);
		r = EGPUD_R_USAGE;
	}
	fclose(out);
	if (dout)
		fclose(dout);
	if (r == EGPUD_R_PENDING) {
		/* a job writes to sysfs; its end answers (egpud_client_job_reply) */
		pending->client = c;
		pending->json = json;
		snprintf(pending->verb, sizeof(pending->verb), "%s", argv[0]);
		pending->head = text;
		c->pending = true;
		free(data);
		return;
	}
	reply_result(d, c, json, argv[0], r, data, text ? text : "", len);
	free(text);
	free(data);
}

void egpud_client_job_reply(struct egpud *d, struct egpud_job *j)
{
	struct egpud_client *c = j->client;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	j->client = NULL;
	c->pending = false;
	if (!out) {
		client_close(d, c);
		return;
	}
	fputs(j->head ? j->head : "", out);
	fwrite(j->text ? j->text : "", 1, j->len, out);
	fclose(out);
	reply_result(d, c, j->json, j->verb, j->status ? EGPUD_R_FAILED : EGPUD_R_OK,
		     NULL, text ? text : "", len);
	free(text);
}

void egpud_client_readable(struct egpud *d, struct egpud_client *c)
{
	char *nl;
	ssize_t n;

	if (c->out) {
		flush_reply(d, c);
		return;
	}
	if (c->pending) {
		char junk[256];

		/* waiting for its job: anything more it sends is not a request */
		n = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			client_close(d, c);
		return;
	}
	if (c->watching) {
		/* acks and snapshot lines (snapshots.c); EOF: the program is gone */
		if (egpud_watcher_read(d, c) < 0)
			client_close(d, c);
		return;
	}
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(d, c);
		return;
	}
	if (n < 0)
		return;
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	nl = memchr(c->buf, '\n', c->len);
	if (!nl) {
		if (c->len == sizeof(c->buf) - 1) {
			static const char msg[] = "egpud: request too long\n";

			reply_and_close(d, c, msg, sizeof(msg) - 1, 2);
		}
		return;
	}
	*nl = '\0';
	c->req_len = (size_t)(nl - c->buf) + 1;
	handle_request(d, c, c->buf);
}

/* --- libegpu watchers --- */

static const char *watch_kind(const struct egpuhp_nl_event *ev)
{
	switch (ev->event) {
	case EGPUHP_EV_PCI_ADD: return "added";
	case EGPUHP_EV_PCI_BOUND: return "ready";
	case EGPUHP_EV_PCI_UNBIND: return "leaving";
	case EGPUHP_EV_PCI_REMOVE:
		return ev->flags & EGPUHP_F_SURPRISE ? "lost" : "removed";
	case EGPUHP_EV_PCI_LOST: return "lost";
	case EGPUHP_EV_RESET_BEGIN: return "reset-begin";
	case EGPUHP_EV_RESET_END: return "reset-end";
	default: return NULL;
	}
}

void egpud_watchers_send(struct egpud *d, const char *pci, const char *group,
			 const char *line, bool monitors, const uid_t *owner)
{
	size_t i, n = strlen(line);

	for (i = 0; i < EGPUD_MAX_CLIENTS; i++) {
		struct egpud_client *c = d->clients[i];

		if (!c || !c->watching || (c->monitor_only && !monitors))
			continue;
		if (owner && !c->privileged && c->uid != *owner)
			continue;	/* another user's process */
		if (c->filter[0] && strcmp(c->filter, pci) && strcmp(c->filter, group))
			continue;
		if (send(c->fd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n) {
			egpu_log("watcher fd %d too slow or gone: dropped", c->fd);
			client_close(d, c);
		}
	}
}

void egpud_watchers_notify(struct egpud *d, const struct egpuhp_nl_event *ev)
{
	char line[256], flags[64];
	const char *kind;

	if (!ev->has_dev)
		return;
	kind = watch_kind(ev);
	if (!kind)
		return;
	/* "event KIND PCI SEQ FLAGS GROUP" -- see libegpu/egpu.h */
	snprintf(line, sizeof(line), "event %s %s %llu %s %s\n", kind, ev->dev.name,
		 (unsigned long long)ev->seq,
		 egpuhp_flags_str(ev->flags, flags, sizeof(flags))[0] ? flags : "-",
		 ev->dev.group[0] ? ev->dev.group : "-");
	/* the module's events reach egpuctl monitor straight from the module */
	egpud_watchers_send(d, ev->dev.name, ev->dev.group, line, false, NULL);
}
