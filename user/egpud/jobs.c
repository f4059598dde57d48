// SPDX-License-Identifier: GPL-2.0
/*
 * Blocking work off the loop.  Writing a Thunderbolt router's "authorized"
 * sets up tunnels or runs the key challenge and may take seconds (or hang
 * on a broken device); done inline it would stall every other device's
 * events and every client.  A job is a forked child doing that work, with
 * a pipe back: the text it wrote, a NUL, its status.  The loop reads the
 * pipe like any other fd and finishes the job (hooks, the client's reply)
 * when it ends.  The child is also a tracked worker, so a job that never
 * ends is killed at its deadline (and then ends with status 1).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "common/egpud_proto.h"
#include "common/log.h"
#include "egpud/egpud.h"

#define JOB_TIMEOUT_S	120

struct egpud_job *egpud_job_for(struct egpud *d, const char *key)
{
	size_t i;

	for (i = 0; i < EGPUD_MAX_JOBS; i++)
		if (d->jobs[i] && !strcmp(d->jobs[i]->key, key))
			return d->jobs[i];
	return NULL;
}

struct egpud_job *egpud_job_start(struct egpud *d, const char *key, const char *what,
				  int (*work)(void *arg, FILE *out), void *arg,
				  void (*done)(struct egpud *d, struct egpud_job *j))
{
	struct egpud_job *j;
	int p[2];
	size_t i;
	pid_t pid;

	for (i = 0; i < EGPUD_MAX_JOBS && d->jobs[i]; i++)
		;
	if (i == EGPUD_MAX_JOBS)
		return NULL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	if (pipe2(p, O_CLOEXEC) < 0) {
		free(j);
		return NULL;
	}
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		free(j);
		return NULL;
	}
	if (pid == 0) {
		FILE *out;

		egpud_child_setup_signals();
		/* only the pipe (and stderr, the log): a job that hangs must not
		 * keep clients' sockets open after egpud closed them */
		if (dup2(p[1], 3) < 0)
			_exit(1);
		close_range(4, ~0U, 0);
		out = fdopen(3, "w");
		if (!out)
			_exit(1);
		_exit(egpud_reply_end(out, work(arg, out)) ? 1 : 0);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	j->pid = pid;
	j->fd = p[0];
	j->status = -1;
	j->done = done;
	snprintf(j->key, sizeof(j->key), "%s", key);
	d->jobs[i] = j;
	egpud_epoll_add(d, j->fd, EPOLLIN);
	egpud_child_add(d, pid, EGPUD_CHILD_WORKER, what, JOB_TIMEOUT_S);
	return j;
}

static void job_finish(struct egpud *d, struct egpud_job *j)
{
	const char *nul = j->text ? memchr(j->text, '\0', j->len) : NULL;
	size_t i;

	/* no status after the NUL: the child died (killed at its deadline) */
	j->status = nul ? atoi(nul + 1) : 1;
	if (nul)
		j->len = (size_t)(nul - j->text);
	egpud_epoll_del(d, j->fd);
	close(j->fd);
	for (i = 0; i < EGPUD_MAX_JOBS; i++)
		if (d->jobs[i] == j)
			d->jobs[i] = NULL;
	if (j->done)
		j->done(d, j);
	free(j->ctx);
	free(j->head);
	free(j->text);
	free(j);
}

/* Read what is there; 1 at EOF, 0 for more to come. */
static int job_read(struct egpud_job *j)
{
	for (;;) {
		ssize_t n;

		if (j->len + 512 > j->cap) {
			size_t cap = j->cap ? 2 * j->cap : 1024;
			char *t = realloc(j->text, cap + 1);

			if (!t)
				return 1;
			j->text = t;
			j->cap = cap;
		}
		n = read(j->fd, j->text + j->len, j->cap - j->len);
		if (n > 0) {
			j->len += (size_t)n;
			j->text[j->len] = '\0';
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (j->text)
			j->text[j->len] = '\0';
		return 1;
	}
}

void egpud_job_readable(struct egpud *d, struct egpud_job *j)
{
	if (job_read(j))
		job_finish(d, j);
}

bool egpud_jobs_running(struct egpud *d)
{
	size_t i;

	for (i = 0; i < EGPUD_MAX_JOBS; i++)
		if (d->jobs[i])
			return true;
	return false;
}

void egpud_job_wait(struct egpud *d, struct egpud_job *j)
{
	struct pollfd pfd = { .fd = j->fd, .events = POLLIN };

	while (!job_read(j))
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
	job_finish(d, j);
}

void egpud_jobs_wait(struct egpud *d)
{
	size_t i;

	for (i = 0; i < EGPUD_MAX_JOBS; i++)
		if (d->jobs[i])
			egpud_job_wait(d, d->jobs[i]);
}

void egpud_jobs_client_gone(struct egpud *d, const struct egpud_client *c)
{
	size_t i;

	for (i = 0; i < EGPUD_MAX_JOBS; i++)
		if (d->jobs[i] && d->jobs[i]->client == c)
			d->jobs[i]->client = NULL;
}
