#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Allocation failures injected into egpuhp.ko on the debug kernel.

failslab and fail_page_alloc are restricted to egpuhp's code: an allocation
fails only when a return address within the stack-trace depth lies in the
module's code (require-start/require-end: for the per-task sweeps below the
whole module area, where egpuhp is the only module on the task's stack; for
the random phase the loaded egpuhp's .text and .init.text).  Two ways of choosing what fails:
  - per task, every allocation in turn (/proc/thread-self/fail-nth = 1, 2,
    3, ... until the operation runs out of allocations to fail; it is armed
    and read back by egpuhp-nlfuzz around the one action): module load, every
    netlink command (through egpuhp-nlfuzz --one), the sysfs reset that
    egpuhp's reset hook serves, and the netlink RESET;
  - at random (probability 30%) where the work runs in kernel threads:
    hot-add and surprise removal (pciehp's thread, egpuhp's notifiers).
Each injected failure must end in a clean error: no WARN/BUG/KASAN/lockdep
report (dmesg is checked after each step, the console by the dock), a GET
either answers or fails, and the module still unloads afterwards; at the
end of the boot the dock's kmemleak scan must find no leak from egpuhp.
The distinct failure sites (egpuhp's innermost frame in each injected
failure's stack trace) go to build/fault/<kernel>-fault.json, with the
allocation call sites found in egpuhp.ko for comparison.

Runs on the -debug flavours only; other kernels report SKIP.
"""

import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "vm"))
sys.path.insert(0, os.path.join(HERE, "..", "fuzz"))
import dock  # noqa: E402
from dock import vmtest  # noqa: E402
import debug_flavour  # noqa: E402
import kcov_lines  # noqa: E402

TOP = dock.TOP
DEBUG_FLAVOURS = debug_flavour.DEBUG_FLAVOURS
SKIP_REASON = "needs a -debug kernel (fault injection, kmemleak); try --kernel 6.12-debug"
FS = "/sys/kernel/debug/failslab"
FP = "/sys/kernel/debug/fail_page_alloc"
# x86-64's module area (MODULES_VADDR with or without KASLR .. MODULES_END).
# Per-task sweeps use all of it: the only module code on such a task's stack
# is egpuhp's (and, for a sysfs reset, the test driver's reset callbacks), so
# the range needs no knowing where the next load lands -- after a failed
# load the module's old memory is not reused at once.
MODULE_AREA = (0xffffffffa0000000, 0xffffffffff000000)
MAX_NTH = 400           # an operation with more egpuhp allocations than this is a finding
RANDOM_CYCLES = int(os.environ.get("EGPUHP_FAULT_CYCLES", "8"))
FRAME = re.compile(r"\b([A-Za-z_][\w.]*\+0x[0-9a-f]+)/0x[0-9a-f]+ \[egpuhp\]")
OTHER_MODULE_FRAME = re.compile(r"\b([A-Za-z_][\w.]*\+0x[0-9a-f]+)/0x[0-9a-f]+ \[(\w+)\]")
INJECTED = "FAULT_INJECTION: forcing a failure"
CHURN_ROUTER = "0-3"     # the router the router-add sweep adds and removes
# Lines an injected allocation failure prints on purpose.
EXPECTED = re.compile(r"page allocation failure|FAULT_INJECTION|Mem-Info|warn_alloc")


class Faults:
    """Fault-injection set-up in the guest and what it injected."""

    def __init__(self, vm):
        self.vm = vm
        self.sites = {}             # site -> count
        self.per_phase = {}         # phase -> set of sites
        self.injected = 0
        self.problems = []
        self.errnos = {}
        self.log = []               # (phase, step, failures injected)

    def configure(self, start, end):
        cmds = []
        for d in (FS, FP):
            cmds += ["echo 0 > %s/probability" % d, "echo 1 > %s/interval" % d,
                     "echo -1 > %s/times" % d, "echo 0 > %s/space" % d,
                     "echo 2 > %s/verbose" % d, "echo 0 > %s/verbose_ratelimit_burst" % d,
                     "echo N > %s/task-filter" % d, "echo 32 > %s/stacktrace-depth" % d,
                     "echo 0x%x > %s/require-start" % (start, d),
                     "echo 0x%x > %s/require-end" % (end, d),
                     "echo N > %s/ignore-gfp-wait" % d]
        cmds += ["echo 0 > %s/min-order" % FP, "echo N > %s/ignore-gfp-highmem" % FP]
        self.vm.sh("; ".join(cmds))

    def random(self, percent):
        self.vm.sh("for d in %s %s; do echo %d > $d/probability; done" % (FS, FP, percent))

    def collect(self, phase, what, text=None):
        """Reads and clears dmesg (or takes TEXT, dmesg read in the guest);
        returns the number of failures injected."""
        if text is None:
            text = self.vm.sh("dmesg -c", timeout=120)
        chunks = text.split(INJECTED)
        n = len(chunks) - 1
        for chunk in chunks[1:]:
            m = FRAME.search(chunk)
            o = OTHER_MODULE_FRAME.search(chunk)
            site = m.group(1) if m else "(%s [%s])" % (o.group(1), o.group(2)) if o else \
                "(no module frame in the trace)"
            self.sites[site] = self.sites.get(site, 0) + 1
            self.per_phase.setdefault(phase, set()).add(site)
        for line in text.splitlines():
            if dock.BAD_CONSOLE.search(line) and not EXPECTED.search(line):
                self.problems.append("%s: %s" % (what, line.strip()))
        self.injected += n
        self.log.append((phase, what, n))
        return n


def module_text(vm):
    """(.text, .init.text) load addresses of egpuhp."""
    t = int(vm.sh("cat /sys/module/egpuhp/sections/.text"), 16)
    rc, out = vm.run("cat /sys/module/egpuhp/sections/.init.text")
    return t, (int(out, 16) if rc == 0 and out.strip() else t)


def sweep(vm, faults, phase, what, action, after=None, guest_after="", check=None):
    """Fails the 1st, 2nd, ... allocation of ACTION (egpuhp-nlfuzz --one ...,
    --insmod or --write, which arm /proc/thread-self/fail-nth around that one
    action and say whether it was used up); AFTER(nth, rc, out, n) checks
    each outcome on the host.  Without AFTER the whole sweep runs as one
    guest loop (one agent round trip instead of two per step: the steps are
    what makes this test long); GUEST_AFTER is shell run after each step
    there, with the step's output in $out and its number in $n (a line
    "@@problem WHY" it prints is a problem), and CHECK(nth, out) looks at
    each step's output on the host afterwards.  Returns how many
    allocations it failed."""
    if after is None:
        return guest_sweep(vm, faults, phase, what, action, guest_after, check)
    for nth in range(1, MAX_NTH + 1):
        rc, out = vm.run("egpuhp-nlfuzz --fail-nth %d %s 2>&1" % (nth, action), timeout=120)
        faults.collect(phase, "%s (fail-nth %d)" % (what, nth))
        m = re.search(r"fail_nth_left=(\d+)", out)
        if not m:
            faults.problems.append("%s (fail-nth %d): no result: %s" % (what, nth, out[-300:]))
            return nth - 1
        injected = m.group(1) == "0"
        after(nth, rc, out, injected)
        if not injected:
            return nth - 1
    faults.problems.append("%s: still allocating after %d failures" % (what, MAX_NTH))
    return MAX_NTH


STEP = "@@fault-step"           # "@@fault-step N": a step's output follows
DMESG = "@@fault-dmesg"         # the step's dmesg (and GUEST_AFTER's) follows


def guest_sweep(vm, faults, phase, what, action, guest_after="", check=None):
    script = (
        "n=1; while [ $n -le %d ]; do "
        "out=$(egpuhp-nlfuzz --fail-nth $n %s 2>&1); "
        "echo \"%s $n\"; echo \"$out\"; echo '%s'; dmesg -c; %s "
        "case \"$out\" in *fail_nth_left=0*) ;; *) break;; esac; "
        "n=$((n+1)); done" % (MAX_NTH, action, STEP, DMESG, guest_after))
    out = vm.sh(script, timeout=1400)     # the test's own limit ends it first
    steps = out.split(STEP + " ")[1:]
    failed = 0
    for step in steps:
        head, _, rest = step.partition("\n")
        nth = int(head.strip()) if head.strip().isdigit() else -1
        res, _, text = rest.partition(DMESG)
        faults.collect(phase, "%s (fail-nth %d)" % (what, nth), text)
        faults.problems += [line[len("@@problem "):] for line in text.splitlines()
                            if line.startswith("@@problem ")]
        if check:
            check(nth, res)
        m = re.search(r"fail_nth_left=(\d+)", res)
        if not m:
            faults.problems.append("%s (fail-nth %d): no result: %s" % (what, nth, res[-300:]))
            return failed
        if m.group(1) != "0":
            return failed
        failed += 1
    if failed >= MAX_NTH:
        faults.problems.append("%s: still allocating after %d failures" % (what, MAX_NTH))
    elif not steps:
        faults.problems.append("%s: the sweep printed nothing: %s" % (what, out[-300:]))
    return failed


def nl(vm, args):
    """One well-formed request; returns (errno, replies, id)."""
    out = vm.sh("egpuhp-nlfuzz --one %s" % args)
    m = re.search(r"errno=(-?\d+) replies=(\d+) id=(\d+)", out)
    assert m, "egpuhp-nlfuzz --one %s: %s" % (args, out)
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


@vmtest(ports=2, timeout=1500, kernels=DEBUG_FLAVOURS)
def test_fault_injection(vm):
    subprocess.run(["make", "-s", "-C", os.path.join(TOP, "tests", "fuzz")], check=True)
    ko = os.path.join(TOP, "build", "kernels", vm.kernel, "egpuhp.ko")
    text_size = kcov_lines.section_size(ko, ".text")
    init_size = kcov_lines.section_size(ko, ".init.text")
    params = "track_hotplug=1 quirks=1234:11e8:egpuhp_reset=pm"
    vm.load_testdrv()
    # A Thunderbolt router (tbsim's; never authorized, so no tunnel) for the
    # router paths.  It names rp1, so tbsim marks that port external-facing:
    # the function plugged there is removable and egpuhp tracks it as such,
    # which re-reads the routers (egpuhp_tb_refresh()) at load and hot-add.
    vm.tb_load()
    vm.tb_add_router("0-1", port="rp1")
    router = vm.sh("ls /sys/bus/thunderbolt/devices | grep -x '0-1' || true").strip() or "0-1"
    dev = vm.plug("rp1", kind="fn")
    edu = dev.bdfs[0]
    f = Faults(vm)
    vm.sh("dmesg -c > /dev/null; dmesg -n 4")   # traces go to dmesg, not the slow console
    f.configure(*MODULE_AREA)
    seconds = {}
    t_phase = [time.monotonic()]

    def phase_done(name):
        now = time.monotonic()
        seconds[name] = round(now - t_phase[0], 1)
        t_phase[0] = now

    # -- module load -----------------------------------------------------------
    # a load that succeeded despite the failure must unload; one that
    # failed must have left no module behind
    after_load = (
        "if grep -q '^egpuhp ' /proc/modules; then "
        "rmmod egpuhp || echo \"@@problem load fail-nth $n: loaded but does not unload\"; "
        "else case \"$out\" in *errno=0*) "
        "echo \"@@problem load fail-nth $n: finit_module said 0 but no module\";; esac; fi; "
        "dmesg -c;")
    load_n = sweep(vm, f, "load", "insmod", "--insmod %s '%s'" % (vm.module_path("egpuhp"),
                                                                   params),
                   guest_after=after_load)
    phase_done("load")

    # -- netlink commands ----------------------------------------------------------
    vm.load_egpuhp(params)
    f.collect("setup", "reload")
    ok_id = nl(vm, "ADD_QUIRK")[2]

    def after_get(nth, out):
        m = re.search(r"errno=(-?\d+) replies=(\d+)", out)
        if not m:
            f.problems.append("GET fail-nth %d: no answer: %s" % (nth, out.strip()[-300:]))
            return
        e = int(m.group(1))
        f.errnos[e] = f.errnos.get(e, 0) + 1
        if e == 0 and int(m.group(2)) == 0 and "--dump" not in out:
            f.problems.append("GET fail-nth %d: success without an answer" % nth)

    # an entry added despite the failure is deleted again
    after_add = (
        "id=$(echo \"$out\" | sed -n 's/.*errno=0 replies=[0-9]* id=\\([0-9]*\\).*/\\1/p'); "
        "if [ -n \"$id\" ] && [ \"$id\" != 0 ]; then "
        "egpuhp-nlfuzz --one DEL_QUIRK --id $id > /dev/null; dmesg -c; fi;")

    per_cmd = {}
    for label, args, check in [
            ("GET_INFO", "GET_INFO", after_get),
            ("GET_DEV", "GET_DEV --dev %s" % edu, after_get),
            ("GET_DEV dump", "GET_DEV --dump", None),
            ("GET_ROUTER dump", "GET_ROUTER --dump", None),
            ("GET_ROUTER", "GET_ROUTER --dev %s" % router, after_get),
            ("GET_STATS", "GET_STATS", after_get),
            ("SET_CONFIG", "SET_CONFIG --id 2000", None),
            ("GET_QUIRK dump", "GET_QUIRK --dump", None),
            ("ADD_QUIRK", "ADD_QUIRK", after_add),
            ("RESET pm", "RESET --dev %s --id 3" % edu, None),
            ("RESET egpuhp", "RESET --dev %s --id 6" % edu, None)]:
        if check is after_add:
            per_cmd[label] = sweep(vm, f, "netlink", label, "--one " + args,
                                   guest_after=check)
        else:
            per_cmd[label] = sweep(vm, f, "netlink", label, "--one " + args, check=check)

    # DEL_QUIRK: a fresh entry to delete each time
    n_del = 0
    for nth in range(1, MAX_NTH + 1):
        out = vm.sh("egpuhp-nlfuzz --fail-nth %d --one DEL_QUIRK --id %d"
                    % (nth, nl(vm, "ADD_QUIRK")[2]))
        f.collect("netlink", "DEL_QUIRK fail-nth %d" % nth)
        if "fail_nth_left=0" not in out:
            break
        n_del += 1
    per_cmd["DEL_QUIRK"] = n_del
    nl(vm, "DEL_QUIRK --id %d" % ok_id)
    f.collect("netlink", "cleanup")
    phase_done("netlink")

    # -- the kernel's reset path through egpuhp's hook (sysfs reset) ----------------
    per_cmd["sysfs reset"] = sweep(vm, f, "reset", "sysfs reset",
                                   "--write /sys/bus/pci/devices/%s/reset 1" % edu)
    phase_done("sysfs reset")

    # -- EJECT: the device goes; plug it back after each try ------------------------
    def after_eject(nth, rc, out, n):
        if "errno=0 " in out:
            vm.wait_gone([edu], timeout=60)
        if not vm.guest_has(edu):
            # the guest let go of it; QEMU still holds it until the slot powers off
            vm.yank("rp1")
            vm.plug("rp1", kind="fn")
        f.collect("netlink", "after EJECT %d" % nth)

    per_cmd["EJECT"] = sweep(vm, f, "netlink", "EJECT", "--one EJECT --dev %s" % edu,
                             after_eject)
    phase_done("eject")

    # Other tasks' stacks hold other modules (the test driver's probe, tbsim
    # adding a router): from here on only egpuhp's own code, where it is
    # loaded now.
    text, init = module_text(vm)
    f.configure(min(text, init), max(text + text_size, init + init_size))

    # -- a router arrives: egpuhp's bus notifier in the writer's task -------------
    per_cmd["router add"] = sweep(
        vm, f, "thunderbolt", "router add",
        "--write /sys/kernel/debug/tbsim/add 'route=%s;vendor_name=tbsim;device_name=fault'"
        % CHURN_ROUTER,
        guest_after="printf %s > /sys/kernel/debug/tbsim/remove 2>/dev/null; dmesg -c;"
        % CHURN_ROUTER)
    phase_done("router add")

    # -- hot-add and surprise removal, at random ----------------------------------
    f.random(30)
    for _ in range(RANDOM_CYCLES):
        if vm.port("rp1").devices:
            vm.yank("rp1")
        vm.plug("rp1", kind="fn")
        f.collect("hotplug", "hot-add/yank under random failures")
    vm.yank("rp1")
    f.random(0)
    f.collect("hotplug", "yank under random failures")
    phase_done("hotplug")

    # -- the module still unloads, loads and unloads --------------------------------
    unload_ok = vm.run("rmmod egpuhp")[0] == 0
    reload_ok = False
    if unload_ok:
        vm.load_egpuhp("track_hotplug=1")
        reload_ok = vm.run("rmmod egpuhp")[0] == 0
    f.collect("end", "final unload")
    vm.sh("dmesg -n 7")

    static = kcov_lines.alloc_sites(ko)
    hit = set(s for s in f.sites if not s.startswith("("))
    result = {
        "kernel": vm.kernel, "failures_injected": f.injected,
        "distinct_sites": len(hit), "sites": f.sites,
        "sites_per_phase": {p: sorted(s) for p, s in f.per_phase.items()},
        "static_alloc_sites": sorted(static),
        "static_alloc_sites_hit": sorted(static & hit),
        "static_alloc_sites_missed": sorted(static - hit),
        "load_allocations": load_n, "allocations_per_command": per_cmd,
        "random_cycles": RANDOM_CYCLES, "errnos": f.errnos, "seconds_per_phase": seconds,
        "unloads_after": unload_ok and reload_ok, "problems": f.problems,
        "steps": f.log,
    }
    out = os.path.join(TOP, "build", "fault", "%s-fault.json" % vm.kernel)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1, sort_keys=True)
    print("# fault: %d failures injected at %d distinct egpuhp sites (%d of %d direct "
          "allocation call sites); load %d, per command %s; results %s" % (
              f.injected, len(hit), len(static & hit), len(static), load_n, per_cmd, out))
    if static - hit:
        print("# fault: allocation call sites never failed: %s" % sorted(static - hit))

    assert not f.problems, "injected failures did not end cleanly:\n  " + \
        "\n  ".join(f.problems[:30])
    assert unload_ok and reload_ok, "egpuhp.ko does not unload/reload after the faults"
    assert load_n > 1 and f.injected > 0, "(almost) no failure injected at load: %s" % f.log[:20]


if __name__ == "__main__":
    sys.exit(debug_flavour.main("test_fault_injection", SKIP_REASON))
