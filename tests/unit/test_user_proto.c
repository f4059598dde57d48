// SPDX-License-Identifier: GPL-2.0
/*
 * egpud's socket protocol: quoting, framing, the peer credential check (a
 * real unprivileged peer over a real socket), and libegpu's side of the
 * watch stream.
 */
// unit-test-links: libegpu/egpu.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "helpers/unix_listener.h"
#include "common/egpud_proto.h"
#include "common/uevent.h"
#include "libegpu/egpu.h"

static void test_quote_split(void **state)
{
	char line[256], buf[64], *argv[8];
	char *words[] = { "authorize", "a b%c", "tab\there" };
	int fds[2], argc;
	ssize_t n;

	assert_int_equal(egpud_proto_quote("a b%c", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "a%20b%25c");
	assert_int_equal(egpud_proto_quote("abc", buf, 3), -ENOSPC);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(egpud_send_request(fds[0], true, 3, words), 0);
	n = read(fds[1], line, sizeof(line) - 1);
	assert_true(n > 0);
	line[n] = '\0';
	assert_string_equal(line, "--json authorize a%20b%25c tab%09here\n");
	argc = egpud_proto_split(line, argv, 8);
	assert_int_equal(argc, 4);
	assert_string_equal(argv[0], "--json");
	assert_string_equal(argv[2], "a b%c");
	assert_string_equal(argv[3], "tab\there");
	close(fds[0]);
	close(fds[1]);

	strcpy(line, "x %zz");
	assert_int_equal(egpud_proto_split(line, argv, 8), -EINVAL);
	strcpy(line, "x %00");
	assert_int_equal(egpud_proto_split(line, argv, 8), -EINVAL);
	strcpy(line, "   ");
	assert_int_equal(egpud_proto_split(line, argv, 8), -EINVAL);
	strcpy(line, "a b c d");
	assert_int_equal(egpud_proto_split(line, argv, 3), -EINVAL);
	{
		char *empty[] = { "forget", "" };

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
		assert_int_equal(egpud_send_request(fds[0], false, 2, empty), -EINVAL);
		close(fds[0]);
		close(fds[1]);
	}
}

static void test_reply_framing(void **state)
{
	static const char reply[] = "line one\nline two\n\0" "3\n";
	char *out = NULL;
	size_t len = 0;
	FILE *f;
	int fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(write(fds[1], reply, sizeof(reply) - 1), (ssize_t)sizeof(reply) - 1);
	close(fds[1]);
	f = open_memstream(&out, &len);
	assert_int_equal(egpud_read_reply(fds[0], f), 3);
	fclose(f);
	assert_string_equal(out, "line one\nline two\n");
	free(out);
	close(fds[0]);

	/* a connection that breaks before the status is an error, not success */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(write(fds[1], "partial", 7), 7);
	close(fds[1]);
	f = open_memstream(&out, &len);
	assert_int_equal(egpud_read_reply(fds[0], f), -ECONNRESET);
	fclose(f);
	free(out);
	close(fds[0]);
}

static void test_verbs(void **state)
{
	assert_false(egpud_verb_is_mutating("status"));
	assert_false(egpud_verb_is_mutating("watch"));
	assert_false(egpud_verb_is_mutating("workloads"));
	assert_true(egpud_verb_is_mutating("authorize"));
	assert_true(egpud_verb_is_mutating("deauthorize"));
	assert_true(egpud_verb_is_mutating("enroll"));
	assert_true(egpud_verb_is_mutating("forget"));
	assert_true(egpud_verb_is_mutating("import-bolt"));
	assert_true(egpud_verb_is_mutating("no-such-verb"));
}

/*
 * A child connected to path: as we are, or (drop) as "nobody" holding the
 * n supplementary groups (n 0: those it has).  Its accepted connection in
 * *cfd, that connection's credentials in *peer.
 */
static pid_t peer_child(int lfd, const char *path, bool drop, const gid_t *groups, size_t n,
			int *cfd, struct egpud_peer *peer)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;

		if (drop && ((n && setgroups(n, groups) < 0) || setgid(65534) < 0 ||
			     setuid(65534) < 0))
			_exit(2);
		fd = egpud_connect(path);
		if (fd >= 0)
			pause();
		_exit(1);
	}
	*cfd = accept(lfd, NULL, NULL);
	assert_int_equal(egpud_peer_get(*cfd, peer), 0);
	return pid;
}

static void peer_child_end(pid_t pid, int cfd)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(cfd);
}

/* A real peer: a child that drops to "nobody" and connects. */
static void test_peer_credentials(void **state)
{
	char dir[] = "/tmp/egpu-sock-XXXXXX", path[128], why[200];
	const gid_t one = 4242;
	gid_t many[100];
	struct egpud_peer peer;
	int lfd, cfd, i;
	pid_t pid;

	lfd = unix_listener(dir, path, sizeof(path));
	/* the child that drops to "nobody" must reach the socket */
	chmod(dir, 0755);
	chmod(path, 0666);

	/* ourselves */
	pid = peer_child(lfd, path, false, NULL, 0, &cfd, &peer);
	assert_int_equal(peer.uid, getuid());
	assert_int_equal(peer.pid, pid);
	if (getuid() == 0)
		assert_true(egpud_peer_may_act(&peer, (gid_t)-1, NULL, why, sizeof(why)));
	peer_child_end(pid, cfd);

	if (getuid() != 0) {
		print_message("# not root: unprivileged peer part skipped\n");
		goto out;
	}
	pid = peer_child(lfd, path, true, NULL, 0, &cfd, &peer);
	assert_int_equal(peer.uid, 65534);
	assert_int_equal(peer.gid, 65534);
	assert_false(egpud_peer_may_act(&peer, (gid_t)-1, NULL, why, sizeof(why)));
	assert_string_equal(why, "uid 65534 is not root (no socket-group configured)");
	assert_false(egpud_peer_may_act(&peer, 4242, "egpu", why, sizeof(why)));
	assert_string_equal(why, "uid 65534 is neither root nor in group egpu");
	/* the configured group (here its primary group) may act */
	assert_true(egpud_peer_may_act(&peer, 65534, "nogroup", why, sizeof(why)));
	peer_child_end(pid, cfd);

	/* a supplementary group the peer process holds (SO_PEERGROUPS) */
	pid = peer_child(lfd, path, true, &one, 1, &cfd, &peer);
	assert_int_equal(peer.ngroups, 1);
	assert_int_equal(peer.groups[0], 4242);
	assert_true(egpud_peer_may_act(&peer, 4242, "egpu", why, sizeof(why)));
	assert_false(egpud_peer_may_act(&peer, 4343, "other", why, sizeof(why)));
	peer_child_end(pid, cfd);

	/*
	 * More supplementary groups than struct egpud_peer holds: the socket
	 * is asked again (never the group database, which may block and
	 * does not know the groups a process was given: nobody is in none)
	 */
	for (i = 0; i < 100; i++)
		many[i] = 5000 + (gid_t)i;
	many[99] = 4242;
	pid = peer_child(lfd, path, true, many, 100, &cfd, &peer);
	assert_int_equal(peer.ngroups, EGPUD_PEER_MORE_GROUPS);
	assert_true(egpud_peer_may_act(&peer, 4242, "egpu", why, sizeof(why)));
	assert_true(egpud_peer_may_act(&peer, 5000, "first", why, sizeof(why)));
	assert_false(egpud_peer_may_act(&peer, 4343, "other", why, sizeof(why)));
	peer_child_end(pid, cfd);
out:
	close(lfd);
	unlink(path);
	rmdir(dir);
}

static void test_libegpu_parse(void **state)
{
	struct egpu_event ev;

	assert_int_equal(egpu_parse_line("event lost 0000:05:00.1 42 surprise 0000:05:00.0", &ev), 0);
	assert_int_equal(ev.kind, EGPU_EVENT_LOST);
	assert_string_equal(ev.pci, "0000:05:00.1");
	assert_string_equal(ev.group, "0000:05:00.0");
	assert_int_equal(ev.seq, 42);
	assert_true(ev.surprise);
	assert_false(ev.orderly);
	assert_int_equal(egpu_parse_line("event ready 0000:05:00.0 7 - -", &ev), 0);
	assert_int_equal(ev.kind, EGPU_EVENT_READY);
	assert_string_equal(ev.group, "");
	assert_string_equal(egpu_event_kind_name(ev.kind), "ready");
	assert_int_equal(egpu_parse_line("event ready", &ev), -EINVAL);
	assert_int_equal(egpu_parse_line("event ready 0000:05:00.0000000000000 7 - -", &ev), -EINVAL);
	assert_int_equal(egpu_parse_line("garbage", &ev), -EINVAL);
}

/* egpud's strategies: LEAVING with a reason, then MIGRATED / CHECKPOINTED with the target. */
static void test_libegpu_strategy_events(void **state)
{
	struct egpu_event ev;
	char detail[128];

	assert_int_equal(egpu_parse_line("event leaving 0000:05:00.0 0 warning 0000:05:00.0 "
					 "reason=aer: 3 new correctable AER errors", &ev), 0);
	assert_int_equal(ev.kind, EGPU_EVENT_LEAVING);
	egpu_parse_detail("event leaving 0000:05:00.0 0 warning 0000:05:00.0 "
			  "reason=aer: 3 new correctable AER errors", detail, sizeof(detail));
	assert_string_equal(detail, "reason=aer: 3 new correctable AER errors");
	assert_int_equal(egpu_parse_line("event migrated 0000:05:00.0 0 warning 0000:05:00.0 "
					 "to=0000:41:00.0", &ev), 0);
	assert_int_equal(ev.kind, EGPU_EVENT_MIGRATED);
	assert_string_equal(egpu_event_kind_name(ev.kind), "migrated");
	assert_int_equal(egpu_parse_line("event checkpointed 0000:05:00.0 0 warning - to=host "
					 "reason=no GPU target: fall back to CPU", &ev), 0);
	assert_int_equal(ev.kind, EGPU_EVENT_CHECKPOINTED);
	egpu_parse_detail("event checkpointed 0000:05:00.0 0 warning - to=host reason=no GPU "
			  "target: fall back to CPU", detail, sizeof(detail));
	assert_string_equal(detail, "to=host reason=no GPU target: fall back to CPU");
	/* the events of before carry no detail */
	egpu_parse_detail("event ready 0000:05:00.0 7 - -", detail, sizeof(detail));
	assert_string_equal(detail, "");
}

/* libegpu against a minimal stand-in for egpud's watch verb. */
static void test_libegpu_stream(void **state)
{
	char dir[] = "/tmp/egpu-lib-XXXXXX", path[128];
	struct egpu_event ev;
	struct egpu *e;
	int lfd;
	pid_t pid;

	lfd = unix_listener(dir, path, sizeof(path));
	pid = fork();
	if (pid == 0) {
		static const char out[] = "ok\nevent leaving 0000:05:00.0 9 orderly 0000:05:00.0\n"
					  "event removed 0000:05:00.0 10 orderly 0000:05:00.0\n";
		char req[128] = "";
		int fd = accept(lfd, NULL, NULL);
		ssize_t n = read(fd, req, sizeof(req) - 1);

		if (n <= 0 || strcmp(req, "watch 0000:05:00.0\n"))
			_exit(3);
		if (write(fd, out, sizeof(out) - 1) < 0)
			_exit(4);
		sleep(1);
		_exit(0);
	}
	e = egpu_open(path, "0000:05:00.0");
	assert_non_null(e);
	assert_true(egpu_fd(e) >= 0);
	assert_int_equal(egpu_next(e, &ev, 2000), 1);
	assert_int_equal(ev.kind, EGPU_EVENT_LEAVING);
	assert_true(ev.orderly);
	assert_int_equal(egpu_next(e, &ev, 2000), 1);
	assert_int_equal(ev.kind, EGPU_EVENT_REMOVED);
	assert_int_equal(ev.seq, 10);
	/* then the server goes away */
	assert_int_equal(egpu_next(e, &ev, 5000), -ECONNRESET);
	egpu_close(e);
	{
		int status;

		waitpid(pid, &status, 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* nobody listening: a clear errno */
	close(lfd);
	unlink(path);
	assert_null(egpu_open(path, NULL));
	assert_int_equal(errno, ENOENT);
	rmdir(dir);
}

/* Kernel uevents as NETLINK_KOBJECT_UEVENT delivers them. */
static void test_uevent_parse(void **state)
{
	static const char change[] =
		"change@/devices/tbsim/domain0/0-0/0-1\0ACTION=change\0"
		"DEVPATH=/devices/tbsim/domain0/0-0/0-1\0SUBSYSTEM=thunderbolt\0"
		"DEVTYPE=thunderbolt_device\0AUTHORIZED=1\0SEQNUM=1234\0";
	static const char udev[] = "libudev\0\xfe\xed\xca\xfe";
	static const char trunc[] = "add@/module/egpuhp\0ACTION=add\0SUBSYSTEM=mod";
	struct egpu_uevent ev;

	assert_int_equal(egpu_uevent_parse(change, sizeof(change) - 1, &ev), 0);
	assert_string_equal(ev.action, "change");
	assert_string_equal(ev.subsystem, "thunderbolt");
	assert_string_equal(ev.devtype, "thunderbolt_device");
	assert_string_equal(ev.name, "0-1");
	assert_int_equal(ev.authorized, 1);
	/* udev's re-broadcasts are not kernel uevents */
	assert_int_equal(egpu_uevent_parse(udev, sizeof(udev) - 1, &ev), -EINVAL);
	/* an unterminated last field is not read past the end */
	assert_int_equal(egpu_uevent_parse(trunc, sizeof(trunc) - 1, &ev), -EINVAL);
	assert_string_equal(ev.action, "add");
	assert_int_equal(ev.authorized, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_split),
		cmocka_unit_test(test_reply_framing),
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_peer_credentials),
		cmocka_unit_test(test_libegpu_parse),
		cmocka_unit_test(test_libegpu_strategy_events),
		cmocka_unit_test(test_libegpu_stream),
		cmocka_unit_test(test_uevent_parse),
	};

	return cmocka_run_group_tests_name("user_proto", tests, NULL, NULL);
}
