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
 *   modload.c  loading modules with libkmod
 *   eject*.c   the requested eject (eject.h)
 */
#ifndef EGPUD_H
#define EGPUD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/egpuhp_nl.h"
#include "common/rules.h"
#include "common/tracker.h"
#include "egpud/eject.h"
#include "gpuwork/gpuwork.h"

#define EGPUD_MAX_CLIENTS	64
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
};

struct egpud_client {
	int fd;
	uint64_t serial;	/* accept order: the oldest idle one is evicted */
	bool watching;		/* libegpu watcher: gets event lines */
	char *out;		/* reply not yet sent (the socket was full) */
	size_t out_len, out_off;
	char filter[EGPUHP_PCI_NAME_LEN]; /* watch only this function ("" = all) */
	char buf[4096];
	size_t len;
};

struct egpud {
	struct egpu_config *cfg;
	const char *config_path;
	gid_t admin_gid;
	int ep;			/* epoll */
	int sigfd;
	int uevfd;
	int listenfd;
	struct egpuhp_nl *nl_ev;	/* "events" subscription */
	struct egpuhp_nl *nl_req;	/* requests and dumps */
	struct egpu_tracker tracker;
	bool boltd_running;
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
 * Returns 0 if authorized (or nothing to do), -EPERM if refused by policy,
 * another -errno if the write failed.
 */
int egpud_auth_router(struct egpud *d, const char *name, bool requested,
		      FILE *out);
void egpud_auth_forget_router(struct egpud *d, const char *name);
void egpud_auth_scan(struct egpud *d);	/* every router present now */
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
};
void egpud_hooks_run(struct egpud *d, enum egpu_hook_event ev,
		     const struct egpud_hook_env *env);
int egpud_child_add(struct egpud *d, pid_t pid, enum egpud_child_kind kind,
		    const char *what, unsigned int timeout_s);
/* A worker serving client socket fd (dup'ed): answered by egpud if killed. */
int egpud_child_add_worker(struct egpud *d, pid_t pid, enum egpud_child_kind kind,
			   const char *what, unsigned int timeout_s, int fd);
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
struct egpud_client *egpud_client_by_fd(struct egpud *d, int fd);

/* modload.c */
/* Load a module by name or alias; 0, or -errno with why filled. */
int egpud_modprobe(const char *name, char *why, size_t len);

#endif /* EGPUD_H */
