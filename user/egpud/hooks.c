// SPDX-License-Identifier: GPL-2.0
/*
 * Hooks: every executable file in the hooks directory runs for each event
 * chosen in [hooks] events, with the event in EGPUHP_* environment
 * variables.  fork/exec only; the loop learns of exits through SIGCHLD on
 * its signalfd and kills (the process group of) hooks past their timeout.
 *
 * Hooks run as root: a hooks directory or file that someone other than
 * root could write is root's code in that someone's hands.  As udev and
 * NetworkManager-dispatcher do, the directory and each file must belong to
 * root (egpud's own uid) and not be writable by group or others; anything
 * else is refused with a log line saying why.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/json.h"
#include "common/log.h"
#include "egpud/egpud.h"

void egpud_child_setup_signals(void)
{
	sigset_t all;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
}

static size_t budget(enum egpud_child_kind kind)
{
	switch (kind) {
	case EGPUD_CHILD_HOOK: return EGPUD_MAX_HOOKS;
	case EGPUD_CHILD_WORKER: return EGPUD_MAX_WORKERS;
	case EGPUD_CHILD_EJECT: return EGPUD_MAX_EJECTS;
	}
	return 0;
}

bool egpud_child_room(const struct egpud *d, enum egpud_child_kind kind)
{
	size_t i, n = 0;

	for (i = 0; i < d->n_children; i++)
		if (d->children[i].kind == kind)
			n++;
	return n < budget(kind) && d->n_children < EGPUD_MAX_CHILDREN;
}

int egpud_child_add_worker(struct egpud *d, pid_t pid, enum egpud_child_kind kind,
			   const char *what, unsigned int timeout_s, int fd)
{
	struct egpud_child *c;

	if (!egpud_child_room(d, kind))
		return -EAGAIN;
	c = &d->children[d->n_children++];
	memset(c, 0, sizeof(*c));
	c->pid = pid;
	c->kind = kind;
	c->reply_fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
	snprintf(c->what, sizeof(c->what), "%s", what);
	c->deadline_ms = timeout_s ? egpud_now_ms() + timeout_s * 1000ULL : 0;
	return 0;
}

int egpud_child_add(struct egpud *d, pid_t pid, enum egpud_child_kind kind,
		    const char *what, unsigned int timeout_s)
{
	return egpud_child_add_worker(d, pid, kind, what, timeout_s, -1);
}

void egpud_child_reply_json(struct egpud *d, pid_t pid, const char *verb)
{
	size_t i;

	for (i = 0; i < d->n_children; i++)
		if (d->children[i].pid == pid)
			snprintf(d->children[i].json_verb, sizeof(d->children[i].json_verb),
				 "%s", verb);
}

/*
 * A worker egpud killed: its client still gets a reply (egpud_proto.h),
 * in the form it asked for.  A text reply starts on a line of its own
 * (the worker may have written part of a line); a JSON worker writes its
 * envelope only at its end, so nothing precedes this one.
 */
static void answer_for_killed(const struct egpud_child *c)
{
	static const char why[] = "killed after its deadline; state unknown, check it "
				  "with 'egpuctl workloads' / 'egpuctl list'";
	char *msg = NULL, error[160];
	size_t len = 0;
	FILE *f = open_memstream(&msg, &len);

	if (!f)
		return;
	if (c->json_verb[0]) {
		snprintf(error, sizeof(error), "%s: %s", c->what, why);
		egpu_json_envelope(f, c->json_verb, 1, "timeout", error, NULL, NULL);
	} else {
		fprintf(f, "\negpud: %s: %s", c->what, why);
	}
	fputc('\0', f);
	fputs("1\n", f);
	if (fclose(f) == 0 &&
	    send(c->reply_fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		egpu_dbg("%s: its client is gone", c->what);
	free(msg);
}

void egpud_children_reap(struct egpud *d)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		size_t i;

		if (pid <= 0)
			return;
		for (i = 0; i < d->n_children; i++) {
			struct egpud_child *c = &d->children[i];

			if (c->pid != pid)
				continue;
			if (c->kind != EGPUD_CHILD_HOOK && c->killed) {
				egpu_log("%s (pid %d) killed after its deadline", c->what, (int)pid);
				if (c->reply_fd >= 0)
					answer_for_killed(c);
			}
			if (c->reply_fd >= 0)
				close(c->reply_fd);
			if (c->kind == EGPUD_CHILD_EJECT)
				egpud_eject_reaped(d, pid, status);
			if (c->kind == EGPUD_CHILD_HOOK) {
				if (c->killed)
					egpu_log("%s killed after its timeout", c->what);
				else if (WIFEXITED(status) && WEXITSTATUS(status))
					egpu_log("%s exited with status %d", c->what,
						 WEXITSTATUS(status));
				else if (WIFSIGNALED(status))
					egpu_log("%s killed by signal %d", c->what,
						 WTERMSIG(status));
				else
					egpu_dbg("%s done", c->what);
			}
			d->children[i] = d->children[--d->n_children];
			break;
		}
	}
}

int egpud_children_timeout_ms(struct egpud *d)
{
	uint64_t now = egpud_now_ms(), next = 0;
	size_t i;

	for (i = 0; i < d->n_children; i++) {
		const struct egpud_child *c = &d->children[i];

		if (!c->deadline_ms || c->killed)
			continue;
		if (!next || c->deadline_ms < next)
			next = c->deadline_ms;
	}
	if (!next)
		return -1;	/* idle: no timer at all */
	return next <= now ? 0 : (int)(next - now);
}

void egpud_children_expire(struct egpud *d)
{
	uint64_t now = egpud_now_ms();
	size_t i;

	for (i = 0; i < d->n_children; i++) {
		struct egpud_child *c = &d->children[i];

		if (c->deadline_ms && !c->killed && c->deadline_ms <= now) {
			/* the hook and whatever it started */
			kill(-c->pid, SIGKILL);
			kill(c->pid, SIGKILL);
			c->killed = true;
		}
	}
}

static void put_env(const char *k, const char *v)
{
	if (v && v[0])
		setenv(k, v, 1);
}

static void put_env_fmt(const char *k, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put_env_fmt(const char *k, const char *fmt, ...)
{
	char buf[32];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	setenv(k, buf, 1);
}

/* In the child, before exec. */
static void hook_environment(const struct egpud_hook_env *env)
{
	char flags[64];
	size_t i;

	clearenv();
	setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
	setenv("EGPUHP_EVENT", env->event, 1);
	setenv("EGPUHP_RESYNC", env->resync ? "1" : "0", 1);
	if (env->ev) {
		put_env_fmt("EGPUHP_SEQ", "%llu", (unsigned long long)env->ev->seq);
		put_env_fmt("EGPUHP_TIMESTAMP_NS", "%llu", (unsigned long long)env->ev->timestamp_ns);
		put_env("EGPUHP_FLAGS", egpuhp_flags_str(env->ev->flags, flags, sizeof(flags)));
		put_env("EGPUHP_KERNEL_EVENT", egpuhp_event_name(env->ev->event));
		if (env->ev->reset.valid) {
			put_env("EGPUHP_RESET_METHOD",
				egpuhp_reset_method_name(env->ev->reset.method));
			put_env_fmt("EGPUHP_RESET_RESULT", "%d", (int)env->ev->reset.result);
		}
		if (env->ev->event == EGPUHP_EV_PCI_SLOW)
			put_env_fmt("EGPUHP_ANSWER_US", "%u", env->ev->answer_us);
	}
	if (env->dev) {
		const struct egpuhp_dev *d = env->dev;

		put_env("EGPUHP_PCI", d->name);
		put_env_fmt("EGPUHP_VENDOR", "%04x", d->vendor);
		put_env_fmt("EGPUHP_DEVICE", "%04x", d->device);
		put_env_fmt("EGPUHP_CLASS", "%06x", d->class_code);
		put_env("EGPUHP_DRIVER", d->driver);
		put_env("EGPUHP_GROUP", d->group);
		put_env("EGPUHP_PORT", d->port);
		put_env("EGPUHP_ROUTER_UID", d->router_uid);
		setenv("EGPUHP_IS_GPU", d->is_gpu ? "1" : "0", 1);
	}
	if (env->router) {
		const struct egpuhp_router *r = env->router;

		put_env("EGPUHP_ROUTER", r->name);
		put_env("EGPUHP_ROUTER_UID", r->unique_id);
		put_env("EGPUHP_ROUTER_VENDOR_NAME", r->vendor_name);
		put_env("EGPUHP_ROUTER_DEVICE_NAME", r->device_name);
		put_env_fmt("EGPUHP_AUTHORIZED", "%u", r->authorized);
		put_env("EGPUHP_SECURITY", r->security);
	}
	if (env->reason)
		put_env("EGPUHP_REASON", env->reason);
	for (i = 0; env->vars && env->vars[i]; i++) {
		const char *eq = strchr(env->vars[i], '=');
		char key[64];

		if (!eq || eq == env->vars[i] || (size_t)(eq - env->vars[i]) >= sizeof(key))
			continue;
		memcpy(key, env->vars[i], (size_t)(eq - env->vars[i]));
		key[eq - env->vars[i]] = '\0';
		put_env(key, eq + 1);
	}
}

/* Root's and only root's to change?  (egpud's uid: root, but for unit tests.) */
static bool trusted_file(const struct stat *st, char *why, size_t len)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(why, len, "owned by uid %u, not root", (unsigned int)st->st_uid);
		return false;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, len, "writable by %s (mode %04o)",
			 st->st_mode & S_IWOTH ? "others" : "its group",
			 (unsigned int)(st->st_mode & 07777));
		return false;
	}
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void egpud_hooks_run(struct egpud *d, enum egpu_hook_event ev,
		     const struct egpud_hook_env *env)
{
	const char *dir = d->cfg->hooks_dir;
	char *names[64];
	size_t n = 0, i;
	struct dirent *e;
	DIR *dp;

	if (!(d->cfg->hook_events & (1U << ev)) || !dir)
		return;
	dp = opendir(dir);
	if (!dp)
		return;
	{
		struct stat st;
		char why[96] = "";

		if (fstat(dirfd(dp), &st) < 0)
			snprintf(why, sizeof(why), "%s", strerror(errno));
		if (why[0] || !trusted_file(&st, why, sizeof(why))) {
			egpu_log("hooks dir %s refused: %s; no hook runs for %s", dir, why,
				 env->event);
			closedir(dp);
			return;
		}
	}
	while ((e = readdir(dp)) && n < 64) {
		char path[4096], why[96];
		struct stat st;

		if (e->d_name[0] == '.' || e->d_name[strlen(e->d_name) - 1] == '~')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, X_OK) < 0)
			continue;
		if (!trusted_file(&st, why, sizeof(why))) {
			egpu_log("hook %s refused: %s", path, why);
			continue;
		}
		names[n] = strdup(e->d_name);
		if (names[n])
			n++;
	}
	closedir(dp);
	qsort(names, n, sizeof(names[0]), cmp_str);	/* 10-foo before 20-bar */

	for (i = 0; i < n; i++) {
		char path[4096], what[96];
		pid_t pid;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		snprintf(what, sizeof(what), "hook %.40s (%s)", names[i], env->event);
		if (!egpud_child_room(d, EGPUD_CHILD_HOOK)) {
			egpu_log("%s not run: too many hooks running", what);
			continue;
		}
		pid = fork();
		if (pid < 0) {
			egpu_log("%s: fork: %s", what, strerror(errno));
			continue;
		}
		if (pid == 0) {
			int null = open("/dev/null", O_RDWR | O_CLOEXEC);

			setpgid(0, 0);
			egpud_child_setup_signals();
			if (null >= 0)
				dup2(null, 0);
			dup2(2, 1);	/* its output goes to our log */
			hook_environment(env);
			execl(path, path, env->event, (char *)NULL);
			_exit(127);
		}
		setpgid(pid, pid);
		egpud_child_add(d, pid, EGPUD_CHILD_HOOK, what, d->cfg->hook_timeout_s);
		egpu_log("run %s for %s%s", what,
			 env->dev ? env->dev->name : env->router ? env->router->name : "-",
			 env->resync ? " (found by resync)" : "");
	}
	for (i = 0; i < n; i++)
		free(names[i]);
}
