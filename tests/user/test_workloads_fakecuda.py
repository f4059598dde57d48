#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Workload protection driven by events, with the FAKE libcuda, in the dock.

egpud's own event -> decision -> action path, on every kernel, with
gpuwork's CUDA engine pointed at the fake driver library
(EGPUHP_LIBCUDA=libcuda-fake.so.1, tests/fakecuda/): its checkpoint calls
act on fake CUDA processes (egpuhp-fakecuda-proc) through a state file per
pid in $FAKECUDA_STATE_DIR, and append every call to its "calls" log,
which is how the order of the engine's calls is seen.  The guest has no
nvidia driver, so the fake stands in for it twice more:

  - its proc files: $EGPUHP_NVIDIA_PROC_DIR/gpus/<pci>/information, written
    from the fake library's own device list (egpuhp-fakecuda-proc --list),
    present while the GPU is bound, as nvidia's are;
  - its device node: /dev/nvidiaN is the test driver's node of GPU N
    (egpuhp_testdrv open_node=1, whose remove() waits for open files, as
    nvidia's does), so discovery finds the fake processes by their open
    files and a removal waits until they let go.

compute-drivers = egpuhp_testdrv makes the test driver's bind count as a
CUDA driver's (the re-plug trigger).  One boot per kernel (a GPU in rp1,
and an enclosure whose GPU falls off the bus for part 4), tests in order:

  - part 1: a parent and two children are one workload in `egpuctl
    workloads`; a checkpoint failure injected on one member leaves every
    member running (the undo restores the one already checkpointed);
    `egpuctl eject` locks all three before it checkpoints any, and the
    removal completes once they let go of the node;
  - part 2: re-plug (the dock re-adds the GPU; the test driver binds):
    egpud restores the waiting workload (restore-on-replug = same), all
    restores before any unlock, and `egpuctl workloads` shows it running
    again; with restore-on-replug = no it keeps waiting (log, workloads)
    and `egpuctl restore` by hand brings it back;
  - part 4: strategy = eager, evacuate-to = host on the enclosure's GPU:
    its switch port stops forwarding config cycles, the module's watchdog
    reports the GPU lost, egpud decides (one log line) and checkpoints the
    workload into host memory; a libegpu watcher hears LEAVING with the
    reason, then CHECKPOINTED to=host;
  - part 4, slow answers: strategy = eager on the first GPU too, the module's
    watchdog_slow_us set and the test driver's slow_config delaying that
    GPU's config reads: the module reports one PCI_SLOW, egpud's warning
    line says "slow answer: N us" and it checkpoints the workload into host
    memory; once the delay is cleared, the next answer in time ends the
    module's slow episode.
  - part 4, the other warnings, with strategy = preemptive allowing more
    warnings than come (one decision line each, nothing done): a
    correctable AER error on rp1's GPU's port (the kernel's aer_inject;
    the AER driver counts it in aer_dev_correctable); a tbsim router in
    rp2 de-authorized by someone else, then, authorized again, its link
    slows down (1 of 2) and loses a lane (2 of 2: evacuated to host).

Usage: test_workloads_fakecuda.py [--kernel 6.12] ...   (TAP on stdout)
"""

import os
import re
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "vm"))

from dock import vmtest, main, Skip  # noqa: E402

FAKE_PROC = "egpuhp-fakecuda-proc"
WATCHER = "egpuhp-lost-holder"      # prints every libegpu event with its detail
FAKE_LIB = os.path.join(TOP, "build", "user", "fakecuda", "libcuda-fake.so.1")
GUEST_LIB = "/usr/lib/egpuhp-test/libcuda-fake.so.1"
STATE = "/run/fakecuda"             # the fake driver's per-process state
NVPROC = "/run/fakecuda-nvidia"     # the fake nvidia proc files
CONF = """[daemon]
load-module = no

[authorization]
policy = manual
owner = egpud

[workloads]
compute-drivers = egpuhp_testdrv
restore-on-replug = %(replug)s

[workload-rule]
slot = %(enc_gpu)s
strategy = eager
evacuate-to = host
"""

# 2 GiB: the engine asks for 512 MiB of host memory per member it checkpoints
BOOT = dict(boot="workloads_fakecuda", ports=2, enclosure="vga", timeout=240, mem_mb=2048,
            extra_files={GUEST_LIB: FAKE_LIB})


def need_helpers():
    for name in (FAKE_PROC, WATCHER):
        if not os.path.exists(os.path.join(TOP, "build", "guest", "bin", name)):
            raise Skip("build/guest/bin/%s missing (make -C tests/eject)" % name)
    if not os.path.exists(FAKE_LIB):
        raise Skip("%s missing (make -C user tests)" % FAKE_LIB)


def egpud_log(vm, since=0):
    return vm.run("cat /tmp/egpud.log")[1][since:]


def calls(vm, since=0):
    """The fake driver's calls after line SINCE: [(call, pid, result)]."""
    out = vm.run("cat %s/calls 2>/dev/null" % STATE)[1].splitlines()[since:]
    return [(c, int(p), int(r)) for c, p, r in (ln.split() for ln in out)]


def ncalls(vm):
    return len(vm.run("cat %s/calls 2>/dev/null" % STATE)[1].splitlines())


def state_of(vm, pid):
    m = re.search(r"state=(\S+)", vm.run("cat %s/%d" % (STATE, pid))[1])
    return m and m.group(1)


def node_alias(vm, minor, bdf):
    """/dev/nvidiaMINOR: the test driver's node of BDF (nvidia's /dev/nvidiaN)."""
    node = "/dev/egpuhp_testdrv/%s" % bdf
    vm.wait_for("test -c %s" % node, timeout=15)
    vm.sh("set -- $(stat -L -c '%%t %%T' %s) && "
          "[ \"$(stat -c '%%t %%T' /dev/nvidia%d 2>/dev/null)\" = \"$1 $2\" ] || "
          "{ rm -f /dev/nvidia%d && mknod /dev/nvidia%d c $((0x$1)) $((0x$2)); }" %
          (node, minor, minor, minor))


def write_info(vm, minor, bdf):
    """The fake nvidia proc file of BDF: the fake library's UUID for it."""
    uuid = None
    for ln in vm.sh("EGPUHP_LIBCUDA=%s FAKECUDA_DEVICES=$(cat /tmp/fake-devices) %s --list" %
                    (GUEST_LIB, FAKE_PROC)).splitlines():
        _, pci, u = ln.split()
        if pci.lower().endswith(bdf[5:]):
            uuid = u
    assert uuid, "the fake library does not list %s" % bdf
    vm.sh("mkdir -p %s/gpus/%s" % (NVPROC, bdf))
    vm.write_file("%s/gpus/%s/information" % (NVPROC, bdf),
                  "Model: \t\t FAKE CUDA GPU (egpuhp test)\nGPU UUID: \t %s\n"
                  "Device Minor: \t %d\nBus Location: \t %s\n" % (uuid, minor, bdf))
    return uuid


def env():
    return ("EGPUHP_LIBCUDA=%s FAKECUDA_DEVICES=$(cat /tmp/fake-devices) "
            "FAKECUDA_STATE_DIR=%s EGPUHP_NVIDIA_PROC_DIR=%s" % (GUEST_LIB, STATE, NVPROC))


def write_conf(vm, replug, eager_too=None):
    """egpud.conf; EAGER_TOO: a second GPU with strategy = eager."""
    conf = CONF % dict(replug=replug, enc_gpu=vm.sh("cat /tmp/enc-gpu").strip())
    if eager_too:
        conf += "\n[workload-rule]\nslot = %s\nstrategy = eager\nevacuate-to = host\n" % \
            eager_too
    vm.write_file("/etc/egpuhp/egpud.conf", conf)


def setup(vm):
    """Module, test driver, the fake driver's files, egpud: once per boot."""
    if vm.run("test -s /tmp/egpud.pid && kill -0 $(cat /tmp/egpud.pid)")[0] == 0:
        return vm.sh("cat /tmp/gpu").strip()
    vm.load_egpuhp("track_hotplug=1 watchdog_ms=100")
    vm.load_module("egpuhp_testdrv", "open_node=1 open_wait_ms=60000")
    vm.sh("echo '1234 1111' > /sys/bus/pci/drivers/egpuhp_testdrv/new_id")
    dev = vm.plug("rp1", kind="vga")
    gpu, enc_gpu = dev.bdfs[0], vm.enclosure.bdfs[0]
    vm.sh("echo %s > /tmp/gpu; echo %s > /tmp/enc-gpu; echo %s,%s > /tmp/fake-devices; "
          "mkdir -p %s /etc/egpuhp" % (gpu, enc_gpu, gpu, enc_gpu, STATE))
    node_alias(vm, 0, gpu)
    node_alias(vm, 1, enc_gpu)
    write_info(vm, 0, gpu)
    write_info(vm, 1, enc_gpu)
    write_conf(vm, "same")
    vm.sh("%s egpud -d >> /tmp/egpud.log 2>&1 & echo $! > /tmp/egpud.pid" % env())
    vm.wait_for("egpuctl policy >/dev/null 2>&1", timeout=60)
    return gpu


def start_fake(vm, name, gpu_ordinal, children):
    """A fake CUDA process (and CHILDREN children) on GPU ordinal; their pids."""
    vm.sh("FAKECUDA_STATE_DIR=%s %s --children %d %d /dev/nvidia%%d > /tmp/%s.out 2>&1 & "
          "echo $! > /tmp/%s.pid" % (STATE, FAKE_PROC, children, gpu_ordinal, name, name))
    parent = int(vm.sh("cat /tmp/%s.pid" % name).strip())
    vm.wait_for("[ $(grep -c holding /tmp/%s.out) -ge %d ]" % (name, children + 1),
                timeout=20)
    pids = sorted(int(ln.split()[0]) for ln in
                  vm.sh("cat /tmp/%s.out" % name).splitlines() if " holding " in ln)
    assert parent in pids and len(pids) == children + 1, pids
    return parent, pids


def workload_of(out, root):
    """The member lines of workload tree:ROOT in `egpuctl workloads`."""
    m = re.search(r"^workload tree:%d:\n((?:  .*\n?)*)" % root, out, re.M)
    return m.group(1).splitlines() if m else None


def set_fail(vm, pid, what):
    """Give pid's registration a fail=WHAT word (None: none), atomically."""
    f = "%s/%d" % (STATE, pid)
    vm.sh("sed -e 's/ fail=[^ ]*//' %s%s > %s.t && mv %s.t %s" %
          (f, "" if what is None else " -e 's/$/ fail=%s/'" % what, f, f, f))


def assert_locks_before_checkpoints(seq, pids, out=""):
    locks = [i for i, (c, p, r) in enumerate(seq) if c == "lock" and p in pids]
    ckpts = [i for i, (c, p, r) in enumerate(seq) if c == "checkpoint" and p in pids]
    assert sorted(p for c, p, r in seq if c == "lock" and r == 0) == sorted(pids), (seq, out)
    assert ckpts and max(locks) < min(ckpts), (seq, out)


@vmtest(**BOOT)
def test_fake_libcuda_tree_all_or_nothing_and_eject(vm):
    need_helpers()
    gpu = setup(vm)
    parent, pids = start_fake(vm, "tree", 0, 2)

    # one workload: the parent and its two children
    out = vm.sh("egpuctl workloads")
    members = workload_of(out, parent)
    assert members and len(members) == 3, out
    assert all("running on %s" % gpu in ln for ln in members), out
    assert sorted(int(ln.split()[0]) for ln in members) == pids, out

    # a checkpoint failure on one member: every member running again
    victim = pids[1]
    set_fail(vm, victim, "checkpoint:999")
    mark = ncalls(vm)
    rc, out = vm.run("egpuctl checkpoint %d" % parent, timeout=90)
    assert rc != 0, out
    seq = calls(vm, mark)
    assert_locks_before_checkpoints(seq, pids, out)
    assert ("checkpoint", victim, 999) in seq, seq
    assert [p for p in pids if state_of(vm, p) != "running"] == [], \
        [(p, state_of(vm, p)) for p in pids]
    # the member checkpointed before the failure was restored and unlocked
    first = pids[0]
    done = [(c, p) for c, p, r in seq if r == 0]
    assert done.index(("checkpoint", first)) < done.index(("restore", first)) < \
        done.index(("unlock", first)), seq
    assert all(("unlock", p) in done for p in pids), seq
    set_fail(vm, victim, None)

    # eject: lock all, then checkpoint all; the node is let go, removal completes
    mark = ncalls(vm)
    vm.sh("echo > /sys/kernel/debug/egpuhp_testdrv/events")
    rc, out = vm.run("egpuctl eject %s" % gpu, timeout=120)
    assert rc == 0, "eject failed (%d):\n%s\n%s" % (rc, out, egpud_log(vm))
    assert re.search(r"evacuate\s+ok .*3 CUDA processes checkpointed", out), out
    seq = calls(vm, mark)
    assert_locks_before_checkpoints(seq, pids, out)
    assert sorted(p for c, p, r in seq if c == "checkpoint" and r == 0) == pids, seq
    assert all(state_of(vm, p) == "checkpointed" for p in pids)
    vm.wait_gone([gpu], timeout=60)
    ev = vm.testdrv_events()
    assert any(ln.startswith("remove_done %s" % gpu) or
               re.match(r"remove %s .*present=1" % re.escape(gpu), ln) for ln in ev), ev
    assert not [ln for ln in ev if ln.startswith("remove_timeout")], ev
    out = vm.sh("egpuctl workloads")
    members = workload_of(out, parent)
    assert members and len(members) == 3, out
    assert all("checkpointed, waiting for FAKE CUDA GPU" in ln and gpu in ln
               for ln in members), out


def replug(vm, gpu):
    """The eGPU comes back into rp1: the dock re-adds it, the test driver binds."""
    # the ejected function is gone from the guest; QEMU lets go of it now
    vm.sh("rm -rf %s/gpus/%s" % (NVPROC, gpu))
    vm.yank("rp1")
    write_info(vm, 0, gpu)          # nvidia lists a GPU once it binds it
    dev = vm.plug("rp1", kind="vga")
    assert dev.bdfs[0] == gpu, dev.bdfs
    node_alias(vm, 0, gpu)
    return dev


@vmtest(**BOOT)
def test_fake_libcuda_replug_restores_waiting_workload(vm):
    need_helpers()
    gpu = setup(vm)
    parent = int(vm.sh("cat /tmp/tree.pid").strip())
    pids = sorted(int(p) for p in vm.sh("ls %s | grep -v calls" % STATE).split()
                  if state_of(vm, int(p)) == "checkpointed")
    assert len(pids) == 3, pids
    mark, logmark = ncalls(vm), len(egpud_log(vm))
    replug(vm, gpu)
    vm.wait_for("tail -c +%d /tmp/egpud.log | grep -q 'replug: workload tree:%d .*restored "
                "onto %s'" % (logmark + 1, parent, gpu), timeout=90)
    log = egpud_log(vm, logmark)
    decided = [ln for ln in log.splitlines() if "%s bound: restoring workload tree:%d" %
               (gpu, parent) in ln]
    assert len(decided) == 1 and "the same GPU GPU-" in decided[0], log
    seq = calls(vm, mark)
    restores = [i for i, (c, p, r) in enumerate(seq) if c == "restore" and r == 0]
    unlocks = [i for i, (c, p, r) in enumerate(seq) if c == "unlock" and r == 0]
    assert sorted(seq[i][1] for i in restores) == pids, seq
    assert sorted(seq[i][1] for i in unlocks) == pids and max(restores) < min(unlocks), seq
    assert all(state_of(vm, p) == "running" for p in pids)
    # running again: holding the GPU's node, listed as running on it
    vm.wait_for("[ $(egpuctl workloads | grep -c ' running on %s') -eq 3 ]" % gpu, timeout=30)
    out = vm.sh("egpuctl workloads")
    members = workload_of(out, parent)
    assert members and all("running on %s" % gpu in ln for ln in members) and \
        len(members) == 3, out

    # restore-on-replug = no: the work keeps waiting; egpuctl restore still works
    write_conf(vm, "no")
    logmark = len(egpud_log(vm))
    vm.sh("kill -HUP $(cat /tmp/egpud.pid)")
    vm.wait_for("tail -c +%d /tmp/egpud.log | grep -q reloaded" % (logmark + 1), timeout=10)
    rc, out = vm.run("egpuctl eject %s" % gpu, timeout=120)
    assert rc == 0, "eject failed (%d):\n%s\n%s" % (rc, out, egpud_log(vm))
    vm.wait_gone([gpu], timeout=60)
    logmark = len(egpud_log(vm))
    replug(vm, gpu)
    vm.wait_for("tail -c +%d /tmp/egpud.log | grep -q 'workload tree:%d .*keeps waiting'" %
                (logmark + 1, parent), timeout=60)
    log = egpud_log(vm, logmark)
    assert "keeps waiting: restore-on-replug = no" in log, log
    assert "restoring workload tree:%d" % parent not in log, log
    out = vm.sh("egpuctl workloads")
    members = workload_of(out, parent)
    assert members and len(members) == 3 and \
        all("checkpointed, waiting for" in ln for ln in members), out
    rc, out = vm.run("egpuctl restore %d" % parent, timeout=90)
    assert rc == 0, out
    assert all(state_of(vm, p) == "running" for p in pids)
    write_conf(vm, "same")
    vm.sh("kill -HUP $(cat /tmp/egpud.pid)")


def assert_watcher_leaving_then_host(vm, out, pci, reason):
    """The libegpu watcher's output OUT: LEAVING of PCI with REASON, then
    CHECKPOINTED to=host, once each."""
    vm.wait_for("grep -q '^checkpointed ' %s" % out, timeout=20)
    lines = vm.sh("cat %s" % out).splitlines()
    leaving = [i for i, ln in enumerate(lines) if ln.startswith("leaving %s " % pci)]
    ckpt = [i for i, ln in enumerate(lines) if ln.startswith("checkpointed %s " % pci)]
    assert len(leaving) == 1 and "reason=%s:" % reason in lines[leaving[0]], lines
    assert len(ckpt) == 1 and "to=host" in lines[ckpt[0]] and leaving[0] < ckpt[0], lines


@vmtest(**BOOT)
def test_fake_libcuda_eager_warning_evacuates_to_host(vm):
    need_helpers()
    setup(vm)
    enc_gpu = vm.sh("cat /tmp/enc-gpu").strip()
    parent, pids = start_fake(vm, "enc", 1, 1)
    vm.sh("%s %s /dev/null keep > /tmp/watch.out 2>&1 & echo $! > /tmp/watch.pid" %
          (WATCHER, enc_gpu))
    vm.wait_for("grep -q watching /tmp/watch.out", timeout=10)
    mark, logmark = ncalls(vm), len(egpud_log(vm))

    # the enclosure's GPU falls off the bus: its switch port stops forwarding
    # config cycles; the module's watchdog finds it not answering
    enc_dp = vm.bdf_of("enc-dp")
    sec = vm.sh("setpci -s %s SECONDARY_BUS" % enc_dp).strip()
    sub = vm.sh("setpci -s %s SUBORDINATE_BUS" % enc_dp).strip()
    vm.sh("setpci -s %s SUBORDINATE_BUS=fe SECONDARY_BUS=fe" % enc_dp)
    try:
        vm.wait_for("tail -c +%d /tmp/egpud.log | grep -q 'strategy: %s: evacuated'" %
                    (logmark + 1, enc_gpu), timeout=90)
    finally:
        vm.sh("setpci -s %s SECONDARY_BUS=%s SUBORDINATE_BUS=%s" % (enc_dp, sec, sub))
    log = egpud_log(vm, logmark)
    decisions = [ln for ln in log.splitlines() if "strategy: %s: warning" % enc_gpu in ln]
    assert len(decisions) == 1, log
    assert "warning watchdog" in decisions[0] and "strategy eager: first warning" in \
        decisions[0] and "evacuating to host" in decisions[0], decisions
    assert "strategy: %s: evacuated: checkpointed to host memory" % enc_gpu in log, log
    seq = calls(vm, mark)
    assert_locks_before_checkpoints(seq, pids)
    assert all(state_of(vm, p) == "checkpointed" for p in pids)

    assert_watcher_leaving_then_host(vm, "/tmp/watch.out", enc_gpu, "watchdog")
    vm.sh("kill $(cat /tmp/watch.pid) $(cat /tmp/enc.pid)")



# --- the other warning kinds (part 4), cheap: strategy = preemptive with a
# warnings count above what is sent, so each warning gives its one decision
# line and nothing else; the router's recurrence then evacuates.
WARN_CONF = CONF + """
[workload-rule]
slot = %(gpu)s
strategy = preemptive
warnings = 50
within-s = 3600
evacuate-to = host

[workload-rule]
slot = %(tb_port)s
strategy = preemptive
warnings = 2
within-s = 3600
evacuate-to = host
"""
TB_ROUTER = "0-1"


def write_warn_conf(vm):
    logmark = len(egpud_log(vm))
    vm.write_file("/etc/egpuhp/egpud.conf", WARN_CONF % dict(
        replug="same", enc_gpu=vm.sh("cat /tmp/enc-gpu").strip(),
        gpu=vm.sh("cat /tmp/gpu").strip(), tb_port=vm.bdf_of("rp2")))
    vm.sh("kill -HUP $(cat /tmp/egpud.pid)")
    vm.wait_for("tail -c +%d /tmp/egpud.log | grep -q reloaded" % (logmark + 1), timeout=10)


def wait_log(vm, logmark, text, timeout=30):
    """The egpud log after LOGMARK has a line with TEXT: that line."""
    try:
        vm.wait_for("tail -c +%d /tmp/egpud.log | grep -qF %s" %
                    (logmark + 1, shlex.quote(text)), timeout=timeout)
    except Exception:
        raise AssertionError("no %r in the egpud log:\n%s\n%s" % (
            text, egpud_log(vm, logmark), vm.run("egpuctl status")[1]))
    return [ln for ln in egpud_log(vm, logmark).splitlines() if text in ln]


def decisions(vm, logmark, pci):
    return [ln for ln in egpud_log(vm, logmark).splitlines()
            if ln.split("strategy: %s: warning " % pci, 1)[1:]]


def aer_total(vm, bdf):
    out = vm.sh("cat /sys/bus/pci/devices/%s/aer_dev_correctable" % bdf)
    return int(re.search(r"^TOTAL_ERR_COR (\d+)", out, re.M).group(1))


def aer_inject_correctable(vm, bdf, status=0x1):
    """A correctable error (STATUS: 0x1 Receiver Error) reported by BDF, through
    the kernel's aer_inject (/dev/aer_inject takes struct aer_error_inj: bus,
    dev, fn, a pad byte, then u32 uncor_status, cor_status, 4 header words,
    domain), which the AER driver handles as a real ERR_COR from BDF.

    QEMU's own pcie_aer_inject_error cannot do this on QEMU 7.2: it sets the
    port's status bits, but its pcie_aer_msg_alldev() passes only
    uncorrectable messages with SERR# enabled, so no ERR_COR reaches the root
    port (RootSta CERcvd- in the guest, the counter stays 0)."""
    dom, bus, devfn = bdf.split(":")
    slot, fn = devfn.split(".")
    raw = bytes([int(bus, 16), int(slot, 16), int(fn, 16), 0]) + \
        b"".join(v.to_bytes(4, "little") for v in (0, status, 0, 0, 0, 0, int(dom, 16)))
    vm.sh("modprobe aer_inject")
    vm.sh("printf '%s' > /dev/aer_inject" % "".join("\\%03o" % b for b in raw))


@vmtest(**BOOT)
def test_fake_libcuda_preemptive_aer_correctable_warning(vm):
    """A correctable AER error on the eGPU's port: the kernel's AER driver counts
    it in the port's aer_dev_correctable, egpud's poll sees the count rise and
    decides (preemptive, 1 of 50: nothing done)."""
    need_helpers()
    gpu = setup(vm)
    write_warn_conf(vm)
    port = vm.bdf_of("rp1")
    before = aer_total(vm, port)
    logmark = len(egpud_log(vm))
    aer_inject_correctable(vm, port)
    vm.wait_for("[ $(sed -n 's/^TOTAL_ERR_COR //p' /sys/bus/pci/devices/%s/"
                "aer_dev_correctable) -gt %d ]" % (port, before), timeout=20)
    after = aer_total(vm, port)
    # egpud reads the counters every 10 s while a policy acts on warnings
    line = wait_log(vm, logmark, "strategy: %s: warning aer" % gpu, timeout=40)
    assert len(line) == 1, egpud_log(vm, logmark)
    assert ("%d new correctable AER errors on %s (%d in all)" % (after - before, port, after)
            in line[0]) and "strategy preemptive: 1 of 50 warnings within 3600 s" in \
        line[0] and line[0].endswith("nothing done"), line
    assert "evacuat" not in egpud_log(vm, logmark), egpud_log(vm, logmark)


@vmtest(**BOOT)
def test_fake_libcuda_preemptive_tbsim_router_warnings_then_evacuation(vm):
    """tbsim: the eGPU's router de-authorized from outside (one decision,
    nothing done), then, authorized again, its link slows (1 of 2) and
    loses a lane (2 of 2: evacuate to host)."""
    need_helpers()
    setup(vm)
    write_warn_conf(vm)
    vm.tb_load(security="user", deauth=1)
    vm.tb_add_router(TB_ROUTER, port="rp2", functions="vga", speed=20, lanes=2)
    rc, out = vm.tb_authorize(TB_ROUTER, 1)
    assert rc == 0, out
    tbgpu = vm.tb_wait_tunnel(TB_ROUTER).bdfs[0]
    bound = "egpuctl status | grep -q '%s .* gpu driver egpuhp_testdrv'" % tbgpu
    vm.wait_for(bound, timeout=20)

    # de-authorized by someone else: one decision, the count starts.  The
    # functions stay until egpud has seen it (the order where the uevent
    # wins its race with pciehp's removal; the other order is a lost GPU)
    logmark = len(egpud_log(vm))
    vm.tb_hold_down(TB_ROUTER)
    try:
        rc, out = vm.tb_authorize(TB_ROUTER, 0)
        assert rc == 0, out
        line = wait_log(vm, logmark, "strategy: %s: warning router-deauthorized" % tbgpu)
    finally:
        vm.tb_hold_down(TB_ROUTER, False)
    assert len(line) == 1 and "router %s de-authorized by someone else" % TB_ROUTER in \
        line[0] and "strategy preemptive: 1 of 2 warnings" in line[0] and \
        line[0].endswith("nothing done"), egpud_log(vm, logmark)
    vm.tb_wait_tunnel(TB_ROUTER, up=False)

    # authorized again: a new life of the eGPU, its warnings start over
    rc, out = vm.tb_authorize(TB_ROUTER, 1)
    assert rc == 0, out
    assert vm.tb_wait_tunnel(TB_ROUTER).bdfs[0] == tbgpu
    vm.wait_for(bound, timeout=20)
    vm.sh("%s %s /dev/null keep > /tmp/tbwatch.out 2>&1 & echo $! > /tmp/tbwatch.pid" %
          (WATCHER, tbgpu))
    vm.wait_for("grep -q watching /tmp/tbwatch.out", timeout=10)

    logmark = len(egpud_log(vm))
    vm.tb_set_link(TB_ROUTER, speed=10)
    line = wait_log(vm, logmark, "strategy: %s: warning router-link" % tbgpu)
    assert len(line) == 1 and "router %s link 10 Gb/s x2, was 20 Gb/s x2" % TB_ROUTER in \
        line[0] and "strategy preemptive: 1 of 2 warnings" in line[0] and \
        line[0].endswith("nothing done"), egpud_log(vm, logmark)
    vm.tb_set_link(TB_ROUTER, lanes=1)
    wait_log(vm, logmark, "strategy: %s: evacuated" % tbgpu)
    log = egpud_log(vm, logmark)
    lines = decisions(vm, logmark, tbgpu)
    assert len(lines) == 2 and "router %s link 10 Gb/s x1, was 10 Gb/s x2" % TB_ROUTER in \
        lines[1] and "strategy preemptive: 2 warnings within 3600 s (limit 2)" in lines[1] \
        and lines[1].endswith("evacuating to host"), log
    assert "strategy: %s: evacuated: checkpointed to host memory" % tbgpu in log, log
    assert_watcher_leaving_then_host(vm, "/tmp/tbwatch.out", tbgpu, "router-link")
    vm.sh("kill $(cat /tmp/tbwatch.pid)")
    write_conf(vm, "same")
    vm.sh("kill -HUP $(cat /tmp/egpud.pid)")


# Last in the boot: its eager evacuation leaves rp1's GPU evacuated for the
# rest of this life ("evacuated already"), which the tests above must not see.
@vmtest(**BOOT)
def test_fake_libcuda_slow_answers_warn_and_evacuate(vm):
    need_helpers()
    gpu = setup(vm)
    slow_cfg = "/sys/kernel/debug/egpuhp_testdrv/slow_config"
    parent = int(vm.sh("cat /tmp/tree.pid").strip())
    pids = sorted(int(p) for p in vm.sh("ls %s | grep -v calls" % STATE).split()
                  if state_of(vm, int(p)) == "running")
    write_conf(vm, "same", eager_too=gpu)
    logmark = len(egpud_log(vm))
    vm.sh("kill -HUP $(cat /tmp/egpud.pid)")
    vm.wait_for("tail -c +%d /tmp/egpud.log | grep -q reloaded" % (logmark + 1), timeout=10)
    mark, logmark = ncalls(vm), len(egpud_log(vm))
    vm.sh("dmesg -c >/dev/null; echo 20000 > /sys/module/egpuhp/parameters/watchdog_slow_us")
    vm.sh("echo '%s 50' > %s" % (gpu, slow_cfg))
    try:
        vm.wait_for("tail -c +%d /tmp/egpud.log | grep -q 'strategy: %s: evacuated'" %
                    (logmark + 1, gpu), timeout=90)
    finally:
        vm.sh("echo '%s 0' > %s" % (gpu, slow_cfg))
    vm.wait_for("dmesg | grep -q '%s: presence check answered in time again'" % gpu,
                timeout=30)
    vm.sh("echo 0 > /sys/module/egpuhp/parameters/watchdog_slow_us")
    log = egpud_log(vm, logmark)
    decisions = [ln for ln in log.splitlines() if "strategy: %s: warning" % gpu in ln]
    assert len(decisions) == 1, log
    m = re.search(r"warning watchdog \(slow answer: (\d+) us\): strategy eager: first "
                  r"warning: evacuating to host", decisions[0])
    assert m and int(m.group(1)) > 20000, decisions
    assert "strategy: %s: evacuated: checkpointed to host memory" % gpu in log, log
    seq = calls(vm, mark)
    assert_locks_before_checkpoints(seq, pids)
    assert pids and all(state_of(vm, p) == "checkpointed" for p in pids), pids
    dmesg = vm.sh("dmesg")
    assert dmesg.count("%s: presence check answered slowly" % gpu) == 1 and \
        dmesg.index("answered slowly") < dmesg.index("answered in time again"), dmesg
    assert parent in pids


if __name__ == "__main__":
    main()
