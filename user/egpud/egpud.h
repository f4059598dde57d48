/* SPDX-License-Identifier: GPL-2.0 */
/*
 * egpud internals: one process, one epoll loop, no timers while idle.
 *
 *   main.c     options, start-up, the loop, signals
 *   events.c   module events -> tracker -> policies and hooks; resync
 *   auth.c     Thunderbolt authorization policy
 *   driver.c   driver binding policy
 *   hooks.c    hook processes (fork/exec, timeouts, reaping)
 *   server.c   the control socket and its verbs
 *   admit.c    who gets a slot on the control socket
 *   jobs.c     blocking work (sysfs writes that set up tunnels) in children
 *   lookups.c  NSS group and boltd lookups, as jobs
 *   records.c  checkpoint records: watched until their process exits
 *   replug.c   restoring checkpointed work when an eGPU comes back
 *   replies.c  JSON replies: the envelope, status and info data
 *   modload.c  loading modules with libkmod
 *   lost*.c    holders of a GPU lost to a cable pull (lost.h)
 *   metrics.c  the node_exporter textfile, the metrics and health verbs
 *   eject*.c   the requested eject (eject.h)
 *   snapshots.c what libegpu watchers send: acks, their snapshot sets
 */
#ifndef EGPUD_H
#define EGPUD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/egpuhp_nl.h"
#include "common/metrics.h"
#include "common/rules.h"
#include "common/tracker.h"
#include "egpud/eject.h"
#include "gpuwork/gpuwork.h"

struct gw_record;	/* gpuwork/gw_internal.h: a checkpointed process */

#define EGPUD_MAX_CLIENTS	128
#define EGPUD_PRIV_SLOTS	32	/* only root and socket-group members take these */
#define EGPUD_MAX_CLIENTS_PER_UID 16	/* per unprivileged uid */
#define EGPUD_MAX_CHILDREN	64
/*
 * Separate budgets in the child table, so that stuck gpuwork workers never
 * keep hooks from running nor the other way round (hooks.c).
 */
#define EGPUD_MAX_WORKERS	8
#define EGPUD_MAX_EJECTS	1
#define EGPUD_MAX_HOOKS		(EGPUD_MAX_CHILDREN - EGPUD_MAX_WORKERS - EGPUD_MAX_EJECTS)
/* Deadlines past which egpud kills a worker and answers its client itself. */
#define EGPUD_WORKER_TIMEOUT_S	(GW_CALL_TIMEOUT_MS / 1000 + 30)
#define EGPUD_EJECT_TIMEOUT_S	(3 * GW_CALL_TIMEOUT_MS / 1000)
#define EGPUD_MAX_ROUTERS	64

/* Per-router memory, so that one plug-in is decided once. */
struct egpud_router_state {
	char name[EGPUHP_ROUTER_NAME_LEN];
	char unique_id[EGPUHP_UNIQUE_ID_LEN];
	bool decided;
	enum egpu_auth_verdict verdict;
	enum egpu_policy policy;
	char reason[160];
	char held_by[16];	/* de-authorized by "user"/"eject"/...: kept so (store) */
	int write_error;	/* of the last authorization job: 0 or -EIO */
};

/* Per-function memory for the driver policy. */
struct egpud_dev_state {
	char name[EGPUHP_PCI_NAME_LEN];
	bool driver_applied;
	unsigned int driver_attempts;	/* failed tries; given up at 3 */
};

enum egpud_child_kind {
	EGPUD_CHILD_HOOK,
	EGPUD_CHILD_WORKER,	/* a gpuwork verb served in a child */
	EGPUD_CHILD_EJECT,	/* steps 2-4 of an eject (eject.c) */
};

struct egpud_child {
	pid_t pid;
	enum egpud_child_kind kind;
	char what[96];		/* for logs: "hook 10-foo (gpu-ready)" */
	uint64_t deadline_ms;	/* CLOCK_MONOTONIC; 0 = none */
	bool killed;
	int reply_fd;		/* a worker's client, answered if it is killed; -1 */
	char json_verb[24];	/* its client asked --json for this verb; "" = text */
};

/*
 * What a libegpu watcher said about the snapshot set it attached
 * (snapshots.c; the lines are in common/egpud_proto.h).  It describes the
 * watcher's own process only: the pid is the connection's SO_PEERCRED.
 */
struct egpud_snap_state {
	bool on;		/* a set is attached: "snapshot" seen, no "snapshot-off" since */
	uint64_t bytes;		/* of the last complete snapshot (what it holds) */
	uint32_t buffers;	/* registered buffers */
	uint64_t taken_ns;	/* CLOCK_MONOTONIC when it completed; 0: none yet */
	uint32_t interval_ms;	/* the program's period (0: none) */
	bool final;		/* a "final=1" line came since the last LEAVING it was told */
	uint64_t final_ms;	/* egpud_now_ms() when it came */
	bool interval_sent;	/* "snapshot-interval" sent, with this value: */
	unsigned int sent_interval_ms;
	bool logged;		/* its "protects itself" line was logged */
};

struct egpud_client {
	int fd;
	uint64_t serial;	/* accept order: the oldest idle one is evicted */
	bool watching;		/* libegpu watcher: gets event lines */
	bool monitor_only;	/* egpuctl monitor: only egpud's own event lines */
	uid_t uid;		/* of the peer, at connect time */
	bool privileged;	/* root or socket-group member (admit.c) */
	bool pending;		/* its reply comes when a job ends (jobs.c) */
	char *out;		/* reply not yet sent (the socket was full) */
	size_t out_len, out_off;
	char filter[EGPUHP_PCI_NAME_LEN]; /* watch only this function ("" = all) */
	char buf[4096];		/* a request; a watcher's input line (snapshots.c) */
	size_t len;
	size_t req_len;		/* bytes of buf the request line took, its newline too */
	pid_t pid;		/* SO_PEERCRED at connect time */
	unsigned long long starttime;	/* of pid then (0 unknown): pid reuse shows */
	bool bad_line_logged;	/* a malformed watcher line is logged once */
	bool discarding;	/* the rest of an overlong watcher line is dropped */
	struct egpud_snap_state snap;
};

#define EGPUD_MAX_JOBS		16
#define EGPUD_MAX_RECORD_WATCH	64
#define EGPUD_MAX_HEALTH	32
#define EGPUD_WARN_HISTORY	32
#define EGPUD_MAX_EVAC_WAIT	8

/* Warning signs of one eGPU function (strategy.c). */
struct egpud_health {
	char pci[EGPUHP_PCI_NAME_LEN];
	uint64_t at[EGPUD_WARN_HISTORY];	/* when its warnings came (monotonic ms) */
	size_t n;
	bool evacuated;			/* once per life of the GPU */
	bool aer_known;
	uint64_t aer;			/* TOTAL_ERR_COR last read */
	uint32_t router_speed, router_lanes;	/* the carrying router's, last seen */
};

/* A checkpointed process whose exit drops its record (records.c). */
struct egpud_record_watch {
	pid_t pid;
	int pidfd;
};

/* Blocking work done by a child, finished in the loop (jobs.c). */
struct egpud_job {
	pid_t pid;
	int fd;			/* the child's report: text, NUL, status */
	char key[48];		/* what it works on ("router 0-1"): one job per key */
	char *text;
	size_t len, cap;
	int status;		/* the child's, once finished */
	void (*done)(struct egpud *d, struct egpud_job *j);
	/* a client waiting for the outcome (server.c), or NULL */
	struct egpud_client *client;
	bool json;
	char verb[24];
	char *head;		/* reply text written before the job started */
	/* for the one who started it */
	void *ctx;		/* malloc'ed by it; freed with the job */
	char router[EGPUHP_ROUTER_NAME_LEN];
	char reason[160];
	bool requested;
};

struct egpud {
	struct egpu_config *cfg;
	const char *config_path;
	gid_t admin_gid;	/* the socket group; (gid_t)-1 none (yet) */
	int ep;			/* epoll */
	int sigfd;
	int uevfd;
	int listenfd;
	struct egpuhp_nl *nl_ev;	/* "events" subscription */
	struct egpuhp_nl *nl_req;	/* requests and dumps */
	struct egpu_tracker tracker;
	bool boltd_running;	/* as last seen (lookups.c) */
	bool quit;
	bool in_resync;
	struct egpud_router_state routers[EGPUD_MAX_ROUTERS];
	size_t n_routers;
	struct egpud_dev_state *devs;
	size_t n_devs;
	struct egpud_child children[EGPUD_MAX_CHILDREN];
	size_t n_children;
	struct egpud_client *clients[EGPUD_MAX_CLIENTS];
	uint64_t client_serial;
	uint64_t events_handled;
	struct egpud_eject *eject;	/* the eject in progress (eject.c) */
	struct egpud_job *jobs[EGPUD_MAX_JOBS];
	struct egpud_record_watch record_watch[EGPUD_MAX_RECORD_WATCH];
	size_t n_record_watch;
	struct egpud_health health[EGPUD_MAX_HEALTH];
	size_t n_health;
	uint64_t aer_next_ms;		/* next read of the AER counters; 0 none */
	/* evacuations waiting for final snapshots (strategy.c) */
	struct egpud_evac_wait *evac_wait[EGPUD_MAX_EVAC_WAIT];
	struct egpud_lost *lost;	/* lost.c */
	/* metrics.c */
	struct egpu_metrics_counters counters;
	bool metrics_dirty;		/* the textfile is behind */
	uint64_t metrics_next_ms;	/* periodic rewrite (AER); 0 = none */
	int metrics_error;		/* of the last write, logged once */
};

/* main.c */
uint64_t egpud_now_ms(void);
int egpud_epoll_add(struct egpud *d, int fd, uint32_t events);
void egpud_epoll_del(struct egpud *d, int fd);

/* events.c */
int egpud_nl_connect(struct egpud *d);	/* subscribe + first resync */
void egpud_nl_disconnect(struct egpud *d);
void egpud_nl_readable(struct egpud *d);
int egpud_resync(struct egpud *d);
void egpud_uevent_readable(struct egpud *d);
extern const struct egpu_tracker_ops egpud_tracker_ops;

/* auth.c */
/*
 * Apply the authorization policy to router name (sysfs is read fresh).
 * requested: a user asked (authorize/enroll).  Writes the decision line.
 * Returns 0 if there is nothing to write, -EINPROGRESS when a job writes
 * "authorized" (its end runs the hooks and answers a waiting client:
 * egpud_job_for(d, "router NAME")), -EPERM if refused by policy, another
 * -errno if nothing could be written.
 */
int egpud_auth_router(struct egpud *d, const char *name, bool requested,
		      FILE *out);
void egpud_auth_forget_router(struct egpud *d, const char *name);
void egpud_auth_scan(struct egpud *d);	/* every router present now */
/*
 * Does boltd own org.freedesktop.bolt on the system bus now?  Asks the bus:
 * may block (up to 1 s for each socket call); the loop uses
 * d->boltd_running, refreshed by egpud_boltd_refresh().
 */
bool egpud_boltd_running(void);

/*
 * lookups.c: blocking lookups as jobs.  egpud_admin_group_resolve() sets
 * d->admin_gid to (gid_t)-1 and starts the lookup of the socket group
 * (the gid is set when it answers); egpud_boltd_refresh() starts a check
 * of boltd unless one runs (when boltd came or went, the policy is
 * re-applied).
 */
void egpud_admin_group_resolve(struct egpud *d);
void egpud_boltd_refresh(struct egpud *d);
#ifdef EGPUHP_UNIT_TEST
/* Stand-ins for getgrnam_r() and the bus (NULL: the real ones). */
void egpud_lookups_set_ops(int (*group)(const char *name, gid_t *gid), int (*boltd)(void));
#endif
/*
 * After a reload: routers left waiting, deferred or refused are decided
 * again under the new configuration; a person's decision is never undone.
 */
void egpud_auth_reapply(struct egpud *d);
/*
 * name was de-authorized by by ("user", "deauthorize-all", "eject"): it
 * stays so, also across restarts of egpud, until it is unplugged.
 */
void egpud_auth_note_deauthorized(struct egpud *d, const char *name, const char *by);
/*
 * A uevent says router name is now authorized=authorized.  A
 * de-authorization egpud did not make (an eject's, a person's sysfs write)
 * is kept like egpuctl deauthorize; an authorization from outside ends a
 * kept one.
 */
void egpud_auth_saw_authorized(struct egpud *d, const char *name, int authorized);
/* Take the kept decisions of the routers present into memory (after a job made some). */
void egpud_auth_refresh_decisions(struct egpud *d);
/* At start: drop kept decisions of routers unplugged while egpud was away. */
void egpud_auth_prune_decisions(struct egpud *d);
/* De-authorize eGPU routers (deepest first); count or -errno. */
int egpud_deauthorize_all(struct egpud *d, FILE *out);
const struct egpud_router_state *egpud_auth_state(struct egpud *d, const char *name);

/* driver.c */
void egpud_driver_consider(struct egpud *d, const struct egpuhp_dev *dev);
void egpud_driver_forget(struct egpud *d, const char *name);

/* hooks.c */
struct egpud_hook_env {
	const char *event;	/* hook event name */
	const struct egpuhp_nl_event *ev;	/* or NULL */
	const struct egpuhp_dev *dev;		/* or NULL */
	const struct egpuhp_router *router;	/* or NULL */
	bool resync;
	const char *reason;	/* decision text, or NULL */
	const char *const *vars;	/* more "KEY=value", NULL-terminated, or NULL */
};
void egpud_hooks_run(struct egpud *d, enum egpu_hook_event ev,
		     const struct egpud_hook_env *env);
int egpud_child_add(struct egpud *d, pid_t pid, enum egpud_child_kind kind,
		    const char *what, unsigned int timeout_s);
/* A worker serving client socket fd (dup'ed): answered by egpud if killed. */
int egpud_child_add_worker(struct egpud *d, pid_t pid, enum egpud_child_kind kind,
			   const char *what, unsigned int timeout_s, int fd);
/* The worker pid's client asked --json: a killed worker's answer is an envelope. */
void egpud_child_reply_json(struct egpud *d, pid_t pid, const char *verb);
bool egpud_child_room(const struct egpud *d, enum egpud_child_kind kind);
void egpud_children_reap(struct egpud *d);
void egpud_children_expire(struct egpud *d);
int egpud_children_timeout_ms(struct egpud *d);	/* -1: no deadline */
void egpud_child_setup_signals(void);		/* in a forked child */

/* server.c */
int egpud_server_open(struct egpud *d);
void egpud_server_close(struct egpud *d);
void egpud_server_accept(struct egpud *d);
void egpud_client_readable(struct egpud *d, struct egpud_client *c);
void egpud_watchers_notify(struct egpud *d, const struct egpuhp_nl_event *ev);
/*
 * One event line about function pci of eGPU group to the watchers of
 * either, and to egpuctl monitor's connections if monitors.  With owner
 * (a line about a process), only privileged clients and that uid get it.
 */
void egpud_watchers_send(struct egpud *d, const char *pci, const char *group,
			 const char *line, bool monitors, const uid_t *owner);
struct egpud_client *egpud_client_by_fd(struct egpud *d, int fd);
/* The job a client waited for ended: reply with j->head, j->text, j->status. */
void egpud_client_job_reply(struct egpud *d, struct egpud_job *j);

/* snapshots.c: what libegpu watchers send (common/egpud_proto.h) */
/*
 * A watcher's socket is readable: read what it sent and act on each whole
 * line (acks, snapshot state).  Never blocks.  Returns 0, or -1 when the
 * watcher is gone or cannot be written to (the caller closes it).
 */
int egpud_watcher_read(struct egpud *d, struct egpud_client *c);
/* Feed n bytes a watcher sent (a test entry point of the same parser). */
int egpud_watcher_input(struct egpud *d, struct egpud_client *c, const char *data, size_t n);
/* c protects itself: a set with buffers is attached and its pid is still the peer's. */
bool egpud_snap_protects(const struct egpud_client *c);
uint64_t egpud_now_ns(void);
/*
 * The "--snapshots" word egpud adds to a workloads request for gpuwork:
 * "PID:BYTES:BUFFERS:TAKEN_NS:GPU,..." of each protecting watcher (GPU its
 * watch filter, "-" for all) into buf; false when none protects.
 */
bool egpud_snap_table(struct egpud *d, char *buf, size_t len);
/* After a reload: send watchers the interval the new configuration sets. */
void egpud_snap_reconfigured(struct egpud *d);
/* The watcher through which process pid protects itself, or NULL. */
const struct egpud_client *egpud_snap_client_of(struct egpud *d, pid_t pid);
/* "snapshot 3.2 s old, 9.5 GB" of c's set (gw_snap_describe()). */
void egpud_snap_describe(const struct egpud_client *c, char *buf, size_t len);

/* jobs.c */
/*
 * Run work(arg, out) in a child; done(d, job) in the loop when it ended
 * (job->status, job->text).  NULL if no job could be started.
 */
struct egpud_job *egpud_job_start(struct egpud *d, const char *key, const char *what,
				  int (*work)(void *arg, FILE *out), void *arg,
				  void (*done)(struct egpud *d, struct egpud_job *j));
struct egpud_job *egpud_job_for(struct egpud *d, const char *key);
void egpud_job_readable(struct egpud *d, struct egpud_job *j);
/* Block until j (or every job: at exit) has ended, and finish it. */
void egpud_job_wait(struct egpud *d, struct egpud_job *j);
void egpud_jobs_wait(struct egpud *d);
bool egpud_jobs_running(struct egpud *d);
void egpud_jobs_client_gone(struct egpud *d, const struct egpud_client *c);

/* admit.c */
/*
 * Slot in clients[0..n-1] for a new connection from uid: its index, after
 * the caller closed clients[*evict] when *evict >= 0; or -EUSERS (uid holds
 * its share) or -EBUSY (no slot it may take).
 */
int egpud_admit(struct egpud_client *const clients[], size_t n, uid_t uid,
		bool privileged, ssize_t *evict);

/* records.c */
/*
 * Drop the checkpoint records (gpuwork/state.c: <run dir>/gpuwork/<pid>) of
 * processes that no longer exist.  run_dir NULL: $EGPUHP_RUN_DIR, else
 * /run/egpuhp (kept across restarts of egpud: RuntimeDirectoryPreserve=).
 * Returns how many were dropped.
 */
int egpud_checkpoint_records_prune(const char *run_dir);
/* How many records of live processes there are (run_dir as above). */
int egpud_checkpoint_records_live(const char *run_dir);
/*
 * Watch every record's process (a pidfd in the loop) so that its record is
 * dropped, with a log line, the moment it exits; call after anything that
 * may have written records (a worker, an eject, a job ended) and at start.
 */
void egpud_records_watch(struct egpud *d);
/* fd was a record's pidfd: handled (true), or not one (false). */
bool egpud_records_readable(struct egpud *d, int fd);
void egpud_records_unwatch_all(struct egpud *d);
/*
 * In a child that just checkpointed processes (worker, eject): add to
 * their records what egpud knows and gpuwork does not, the unique_id of
 * the router carrying the GPU they ran on.
 */
void egpud_records_annotate(struct egpud *d);

/* replug.c */
/*
 * Can the work of rec go onto the GPU function dev (uuid: its UUID, "" if
 * unknown) under policy?  why says why or why not (one log line's worth).
 */
bool egpud_replug_allows(enum egpu_replug policy, const struct gw_record *rec,
			 const struct egpuhp_dev *dev, const char *uuid, char *why, size_t len);
/*
 * A GPU function's driver bound (event or resync): restore the workloads
 * waiting for a GPU that policy lets them have, each in a job; one log
 * line per workload decided.
 */
void egpud_replug_gpu_bound(struct egpud *d, const struct egpuhp_dev *dev);

/* strategy.c */
enum egpud_warning {
	EGPUD_WARN_LINK,		/* trained below capability (speed or width) */
	EGPUD_WARN_AER,			/* correctable AER errors rising */
	EGPUD_WARN_WATCHDOG,		/* the module's watchdog: lost, or slow answers */
	EGPUD_WARN_ROUTER_LINK,		/* the carrying router's link slowed down */
	EGPUD_WARN_ROUTER_DEAUTH,	/* router de-authorized by someone else */
};
const char *egpud_warning_name(enum egpud_warning w);
int egpud_warning_from_name(const char *name);	/* -1 unknown */

enum egpud_decision { EGPUD_DECIDE_NOTHING, EGPUD_DECIDE_EVACUATE };
/*
 * One more warning for the GPU of h at now_ms: what policy p does about
 * it (why: the log line's reason).  Counts it in h.
 */
enum egpud_decision egpud_strategy_decide(const struct egpu_workload_policy *p,
					  struct egpud_health *h, uint64_t now_ms,
					  char *why, size_t len);
/* A warning what of kind w for the GPU function gpu: decide, log, act. */
void egpud_strategy_warn(struct egpud *d, const struct egpuhp_dev *gpu, enum egpud_warning w,
			 const char *what);
/* Module events that are (or end) warnings: link, watchdog, router, removal. */
void egpud_strategy_event(struct egpud *d, const struct egpuhp_nl_event *ev);
/* A router carrying unique_id was de-authorized, not by egpud. */
void egpud_strategy_router_deauthorized(struct egpud *d, const char *unique_id,
					const char *name);
void egpud_strategy_forget(struct egpud *d, const char *pci);
/*
 * The timers: the AER poll and the evacuations waiting for final
 * snapshots; ms until the first is due (-1: none), and what is due.
 */
int egpud_strategy_timeout_ms(struct egpud *d);
void egpud_strategy_tick(struct egpud *d);
/*
 * A watcher told LEAVING by an evacuation sent its final snapshot (its
 * process is left to it), or acked or closed without one (checkpointed).
 */
void egpud_strategy_client_final(struct egpud *d, const struct egpud_client *c);
void egpud_strategy_client_ack(struct egpud *d, const struct egpud_client *c);
void egpud_strategy_free(struct egpud *d);	/* at exit */

/* replies.c: JSON replies (docs/egpuctl-json.md) */
enum egpud_result {
	EGPUD_R_OK,
	EGPUD_R_FAILED,		/* the operation itself failed */
	EGPUD_R_USAGE,
	EGPUD_R_BAD_REQUEST,
	EGPUD_R_NOT_FOUND,
	EGPUD_R_POLICY,		/* refused by policy (deny) */
	EGPUD_R_REFUSED,	/* the caller may not */
	EGPUD_R_BUSY,
	EGPUD_R_PENDING,	/* a job answers when it ends (server.c only) */
};
int egpud_result_status(enum egpud_result r);	/* 0, 1 or 2 on the wire */
const char *egpud_result_code(enum egpud_result r);	/* NULL for OK */
/* The envelope around data (a JSON object, or NULL) and the text lines. */
void egpud_json_envelope(FILE *out, const char *verb, enum egpud_result r,
			 const char *data, const char *text);
void egpud_status_json(struct egpud *d, FILE *out);	/* status's data */
/* info ROUTER|UNIQUE_ID: text to text, or (data != NULL) its data object. */
enum egpud_result egpud_info(struct egpud *d, int argc, char **argv, FILE *text,
			     FILE *data);

/* lost.c */
/* A GPU function is bound: note its device nodes (they may be gone at removal). */
void egpud_lost_note_bound(struct egpud *d, const struct egpuhp_dev *dev);
/* A surprise REMOVE of a GPU function: check its holders lost-grace-ms later. */
void egpud_lost_removed(struct egpud *d, const struct egpuhp_nl_event *ev);
/* Its driver went (unbind, removal): the node numbers it had are void. */
void egpud_lost_forget(struct egpud *d, const char *pci);
int egpud_lost_timeout_ms(struct egpud *d);	/* -1: nothing waiting */
void egpud_lost_tick(struct egpud *d);		/* act on what is due */
/*
 * dev (a GPU) is bound again: what was lost with the GPU of that identity
 * (its router's unique_id, else its PCI name), "PID:COMM:ACTION ..." into
 * buf and logged, and forgotten; NULL if nothing was.
 */
const char *egpud_lost_report(struct egpud *d, const struct egpuhp_dev *dev,
			      char *buf, size_t len);
void egpud_lost_free(struct egpud *d);
/* metrics.c: the node_exporter textfile and the metrics/health verbs */
/* Something the snapshot shows changed: the textfile is rewritten at the
 * end of this wake-up of the loop. */
static inline void egpud_metrics_changed(struct egpud *d)
{
	d->metrics_dirty = true;
}
/* Count one handled module event (removals, resets, ...). */
void egpud_metrics_count(struct egpud *d, const struct egpuhp_nl_event *ev);
/* Write the textfile if it is behind or its periodic rewrite is due. */
void egpud_metrics_flush(struct egpud *d);
int egpud_metrics_timeout_ms(struct egpud *d);	/* -1: no rewrite pending */
/* At exit: the textfile says egpuhp_egpud_up 0 and nothing else. */
void egpud_metrics_stop(struct egpud *d);
/* The metrics verb: the same text the textfile holds. */
void egpud_metrics_render(struct egpud *d, FILE *out);
/* The health verb: a line to text, (data != NULL) its data object. */
enum egpud_result egpud_health(struct egpud *d, FILE *text, FILE *data);

/* modload.c */
/* Load a module by name or alias; 0, or -errno with why filled. */
int egpud_modprobe(const char *name, char *why, size_t len);

#ifdef EGPUD_TEST_HOOKS
/* TEST-ONLY (egpud/test/inject.c, in egpud-test alone): the test-inject verb. */
enum egpud_result egpud_test_inject(struct egpud *d, uid_t uid, int argc, char **argv,
				    FILE *out);
#endif

#endif /* EGPUD_H */
