#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A cable pull never wedges the host (egpud/lost.c), in the virtual dock.

egpuhp_testdrv with open_node=1 gives the GPU function (display-class
secondary-vga) a character device whose remove() waits until every file
opened on it is closed, as nvidia's driver does for a Thunderbolt GPU it
takes for an internal one (bounded by open_wait_ms, so a test never hangs
the guest).  One boot per kernel, tests in order:

  - on-lost = keep: after the yank the driver's remove() waits while a
    plain holder (a shell's fd) lives; egpud decides "left running" while
    remove() is still waiting (order, not time), with one log line, one
    workload-lost hook run, one libegpu line and one `egpuctl monitor`
    line for that process; a libegpu program that closed the node on LOST
    is named nowhere and left running.  Once the test ends the holder,
    remove() completes and the functions go.
  - on-lost = term: re-plug into the same port; egpud reports what was lost
    with that GPU (log, gpu-ready hook's EGPUHP_LOST_WORKLOADS).  A yank
    with a holder: egpud sends SIGTERM, the holder exits, remove() finishes
    by itself.
  - on-lost = kill: a holder ignoring SIGTERM (and its child, holding the
    same node) are both killed, one line each; the removal completes; a
    last re-plug works.

Usage: test_lost.py [--kernel 6.12] ...   (TAP on stdout)
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "vm"))

from dock import vmtest, main, Skip  # noqa: E402

HOLDER = "egpuhp-lost-holder"
GRACE_MS = 300      # not asserted: every check waits for a state
CONF = """[daemon]
load-module = no
lost-grace-ms = %d
on-lost = %s

[authorization]
policy = manual
owner = egpud
"""
HOOK = """#!/bin/sh
echo "$EGPUHP_EVENT pci=$EGPUHP_PCI pid=$EGPUHP_PID action=$EGPUHP_ACTION \
node=$EGPUHP_NODE lost=$EGPUHP_LOST_WORKLOADS" >> /tmp/hooks.log
"""

BOOT = dict(boot="lost", ports=1, timeout=150)


def need_helper():
    if not os.path.exists(os.path.join(TOP, "build", "guest", "bin", HOLDER)):
        raise Skip("build/guest/bin/%s missing (make -C tests/eject)" % HOLDER)


def egpud_log(vm):
    return vm.run("cat /tmp/egpud.log")[1]


def set_policy(vm, on_lost):
    """Start egpud with on-lost = ON_LOST, or reload the running one."""
    if vm.run("test -d /sys/module/egpuhp")[0] != 0:
        vm.load_egpuhp("track_hotplug=1")
    if vm.run("test -d /sys/module/egpuhp_testdrv")[0] != 0:
        vm.load_module("egpuhp_testdrv", "open_node=1 open_wait_ms=60000")
        # secondary-vga, the display-class GPU of kind="vga"
        vm.sh("echo '1234 1111' > /sys/bus/pci/drivers/egpuhp_testdrv/new_id")
    vm.sh("mkdir -p /etc/egpuhp/hooks.d")
    vm.write_file("/etc/egpuhp/egpud.conf", CONF % (GRACE_MS, on_lost))
    if vm.run("test -s /tmp/egpud.pid && kill -0 $(cat /tmp/egpud.pid)")[0] == 0:
        mark = len(egpud_log(vm))
        vm.sh("kill -HUP $(cat /tmp/egpud.pid)")
        vm.wait_for("tail -c +%d /tmp/egpud.log | grep -q reloaded" % (mark + 1),
                    timeout=10)
        return
    vm.write_file("/etc/egpuhp/hooks.d/10-log", HOOK, mode=0o755)
    vm.sh("egpud -d >> /tmp/egpud.log 2>&1 & echo $! > /tmp/egpud.pid")
    vm.wait_for("egpuctl policy >/dev/null 2>&1", timeout=60)
    vm.sh("egpuctl monitor > /tmp/mon.txt 2>&1 & echo $! > /tmp/mon.pid")
    vm.wait_for("grep -q 'monitoring' /tmp/mon.txt", timeout=10)


def plug_gpu(vm):
    dev = vm.plug("rp1", kind="vga")
    gpu = dev.bdfs[0]
    node = "/dev/egpuhp_testdrv/%s" % gpu
    vm.wait_for("test -c %s" % node, timeout=10)
    return dev, gpu, node


def start_holder(vm, node, name, script="exec sleep 100000"):
    """A process with NODE open as fd 3; returns its pid."""
    vm.sh("sh -c 'exec 3<%s; %s' > /dev/null 2>&1 & echo $! > /tmp/%s.pid" %
          (node, script, name))
    pid = int(vm.sh("cat /tmp/%s.pid" % name).strip())
    vm.wait_for("ls -l /proc/%d/fd 2>/dev/null | grep -q %s" % (pid, node), timeout=10)
    return pid


def alive(vm, pid):
    return vm.run("test -d /proc/%d && ! grep -q '^State:.*Z' /proc/%d/status" %
                  (pid, pid))[0] == 0


def testdrv_lines(vm, what, gpu):
    return [ln for ln in vm.testdrv_events() if ln.startswith(what + " " + gpu + " ")]


def decision(vm, gpu, pid, timeout=30):
    """egpud's log line about PID holding GPU's node, once it is there."""
    pat = "workload-lost %s: pid %d " % (gpu, pid)
    vm.wait_for("grep -q '%s' /tmp/egpud.log" % pat, timeout=timeout)
    return [ln for ln in egpud_log(vm).splitlines() if pat in ln]


@vmtest(**BOOT)
def test_lost_keep_removal_waits_for_holder(vm):
    need_helper()
    set_policy(vm, "keep")
    dev, gpu, node = plug_gpu(vm)
    vm.sh("echo > /sys/kernel/debug/egpuhp_testdrv/events")
    holder = start_holder(vm, node, "keep")
    vm.sh("%s %s %s close > /tmp/lib.out 2>&1 & echo $! > /tmp/lib.pid" %
          (HOLDER, gpu, node))
    libpid = int(vm.sh("cat /tmp/lib.pid").strip())
    vm.wait_for("grep -q watching /tmp/lib.out", timeout=10)

    bdfs = vm.yank("rp1", wait=False)
    lines = decision(vm, gpu, holder)
    assert len(lines) == 1, lines
    assert "left running (on-lost = keep)" in lines[0] and node in lines[0], lines
    # decided while the driver's remove() still waits for the holder
    assert testdrv_lines(vm, "remove_wait", gpu), vm.testdrv_events()
    assert not testdrv_lines(vm, "remove_done", gpu), vm.testdrv_events()
    assert not testdrv_lines(vm, "remove_timeout", gpu), vm.testdrv_events()
    assert vm.guest_has(gpu), "the function went although its node is held"
    assert alive(vm, holder)

    # the libegpu program got LOST, closed its node, and is left alone
    out = vm.sh("cat /tmp/lib.out")
    assert re.search(r"^lost %s \d+ -$" % gpu, out, re.M), out
    assert "closed %s" % node in out, out
    assert alive(vm, libpid), "the libegpu program that let go was signalled"
    log = egpud_log(vm)
    assert "pid %d " % libpid not in log, log
    # one event per process: libegpu, egpuctl monitor, the hook
    vm.wait_for("grep -q 'workload-lost %s .*pid=%d action=kept' /tmp/lib.out" %
                (gpu, holder), timeout=10)
    vm.wait_for("grep -q 'workload-lost %s pid=%d action=kept node=%s' /tmp/mon.txt" %
                (gpu, holder, node), timeout=10)
    vm.wait_for("grep -q 'workload-lost pci=%s pid=%d action=kept node=%s' /tmp/hooks.log" %
                (gpu, holder, node), timeout=10)
    assert "pid=%d" % libpid not in vm.sh("cat /tmp/mon.txt /tmp/hooks.log")

    # the holder ends: remove() completes, the functions go
    vm.sh("kill %d" % holder)
    vm.wait_gone(bdfs, timeout=30)
    assert testdrv_lines(vm, "remove_done", gpu), vm.testdrv_events()
    assert not testdrv_lines(vm, "remove_timeout", gpu), vm.testdrv_events()
    vm.sh("kill %d" % libpid)


@vmtest(**BOOT)
def test_lost_term_ends_holder_and_removal(vm):
    need_helper()
    set_policy(vm, "term")
    mark = len(egpud_log(vm))
    vm.sh("rm -f /tmp/hooks.log")
    dev, gpu, node = plug_gpu(vm)     # the same port again
    # what was lost with this GPU before: logged and given to gpu-ready
    keep_pid = int(vm.sh("cat /tmp/keep.pid").strip())
    vm.wait_for("tail -c +%d /tmp/egpud.log | grep -q '%s is back'" % (mark + 1, gpu),
                timeout=10)
    back = [ln for ln in egpud_log(vm)[mark:].splitlines() if "is back" in ln]
    assert len(back) == 1 and "%d:sleep:kept" % keep_pid in back[0], back
    vm.wait_for("grep -q 'gpu-ready pci=%s .*lost=%d:sleep:kept' /tmp/hooks.log" %
                (gpu, keep_pid), timeout=10)

    vm.sh("echo > /sys/kernel/debug/egpuhp_testdrv/events")
    holder = start_holder(vm, node, "term")
    vm.yank("rp1")                    # returns once the guest dropped them
    lines = decision(vm, gpu, holder)
    assert len(lines) == 1 and "sent SIGTERM (on-lost = term)" in lines[0], lines
    vm.wait_for("! test -d /proc/%d" % holder, timeout=10)
    assert testdrv_lines(vm, "remove_done", gpu), vm.testdrv_events()
    assert not testdrv_lines(vm, "remove_timeout", gpu), vm.testdrv_events()
    vm.wait_for("grep -q 'workload-lost %s pid=%d action=sigterm' /tmp/mon.txt" %
                (gpu, holder), timeout=10)


@vmtest(**BOOT)
def test_lost_kill_ends_sigterm_ignoring_holders(vm):
    need_helper()
    set_policy(vm, "kill")
    dev, gpu, node = plug_gpu(vm)
    vm.sh("echo > /sys/kernel/debug/egpuhp_testdrv/events")
    # ignores SIGTERM; its child inherits the node and the ignoring
    shell = start_holder(vm, node, "kill",
                         "trap \"\" TERM; sh -c \"exec sleep 100000\" & "
                         "echo $! > /tmp/kill-child.pid; wait")
    vm.wait_for("test -s /tmp/kill-child.pid", timeout=10)
    child = int(vm.sh("cat /tmp/kill-child.pid").strip())
    vm.wait_for("ls -l /proc/%d/fd 2>/dev/null | grep -q %s" % (child, node), timeout=10)
    vm.yank("rp1")
    for pid in (shell, child):
        lines = decision(vm, gpu, pid)
        assert len(lines) == 1 and "sent SIGKILL (on-lost = kill)" in lines[0], lines
    vm.wait_for("! test -d /proc/%d && ! test -d /proc/%d" % (shell, child), timeout=10)
    assert testdrv_lines(vm, "remove_done", gpu), vm.testdrv_events()
    # re-plug into the same port works afterwards
    dev, gpu, node = plug_gpu(vm)
    assert vm.guest_has(gpu)


if __name__ == "__main__":
    main()
