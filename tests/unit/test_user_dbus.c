// SPDX-License-Identifier: GPL-2.0
/*
 * boltd is detected by its bus name, not by a process name: against a
 * private dbus-daemon (the real one, from Debian's dbus package), the name
 * org.freedesktop.bolt is unowned, owned while a client holds it, unowned
 * again when it leaves; a process that merely calls itself "boltd" changes
 * nothing; no bus at all means no boltd.
 */
// unit-test-links: egpud/auth.c egpud/jobs.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "common/dbus_name.h"
#include "egpud/egpud.h"
#include "helpers/egpud_loop_stubs.h"

static char dir[64], bus[128];
static pid_t daemon_pid;

static void nap(void)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

static int setup(void **state)
{
	char conf[128];
	struct stat st;
	FILE *f;
	int i;

	snprintf(dir, sizeof(dir), "/tmp/egpu-dbus-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(bus, sizeof(bus), "%s/bus", dir);
	snprintf(conf, sizeof(conf), "%s/bus.conf", dir);
	f = fopen(conf, "w");
	if (!f)
		return -1;
	fprintf(f, "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
		   " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
		   "<busconfig><type>custom</type><listen>unix:path=%s</listen>"
		   "<auth>EXTERNAL</auth><policy context=\"default\">"
		   "<allow send_destination=\"*\"/><allow receive_sender=\"*\"/>"
		   "<allow own=\"*\"/></policy></busconfig>\n", bus);
	fclose(f);
	daemon_pid = fork();
	if (daemon_pid == 0) {
		execlp("dbus-daemon", "dbus-daemon", "--nofork", "--nopidfile",
		       "--config-file", conf, (char *)NULL);
		_exit(127);
	}
	/* until it listens (a deadline for a broken install, not a measurement) */
	for (i = 0; i < 1500 && stat(bus, &st) < 0; i++)
		nap();
	return stat(bus, &st);
}

static int teardown(void **state)
{
	char cmd[128];

	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_bolt_name_owner(void **state)
{
	uint32_t flags = 4, reply = 0;	/* DBUS_NAME_FLAG_DO_NOT_QUEUE */
	int fd, i;

	assert_int_equal(egpu_dbus_name_has_owner(bus, EGPU_BOLT_BUS_NAME, 5000), 0);
	fd = egpu_dbus_open(bus, 5000);
	assert_true(fd >= 0);
	assert_int_equal(egpu_dbus_call_bus(fd, "RequestName", EGPU_BOLT_BUS_NAME, &flags,
					    &reply), 0);
	assert_int_equal(reply, 1);	/* PRIMARY_OWNER */
	assert_int_equal(egpu_dbus_name_has_owner(bus, EGPU_BOLT_BUS_NAME, 5000), 1);
	/* the bus daemon itself answers errors as errors */
	assert_int_equal(egpu_dbus_call_bus(fd, "NoSuchMethod", NULL, NULL, &reply),
			 -EREMOTEIO);
	close(fd);
	/* released when its owner leaves (the bus notices the close) */
	for (i = 0; i < 1500 && egpu_dbus_name_has_owner(bus, EGPU_BOLT_BUS_NAME, 5000); i++)
		nap();
	assert_int_equal(egpu_dbus_name_has_owner(bus, EGPU_BOLT_BUS_NAME, 5000), 0);
}

/* What egpud asks: a process named boltd is not boltd. */
static void test_process_name_is_not_boltd(void **state)
{
	char addr[160], old[16] = "";
	uint32_t flags = 4, reply = 0;
	int fd;

	snprintf(addr, sizeof(addr), "unix:path=%s", bus);
	setenv("DBUS_SYSTEM_BUS_ADDRESS", addr, 1);
	prctl(PR_GET_NAME, old, 0, 0, 0);
	prctl(PR_SET_NAME, "boltd", 0, 0, 0);
	assert_false(egpud_boltd_running());
	fd = egpu_dbus_open(NULL, 5000);
	assert_true(fd >= 0);
	assert_int_equal(egpu_dbus_call_bus(fd, "RequestName", EGPU_BOLT_BUS_NAME, &flags,
					    &reply), 0);
	assert_true(egpud_boltd_running());
	close(fd);
	prctl(PR_SET_NAME, old, 0, 0, 0);

	/* no bus: no boltd */
	setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus", 1);
	assert_false(egpud_boltd_running());
	assert_int_equal(egpu_dbus_name_has_owner(NULL, EGPU_BOLT_BUS_NAME, 1000), -ENOENT);
	unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bolt_name_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process_name_is_not_boltd, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
