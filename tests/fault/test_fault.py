#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Allocation failures injected into egpuhp.ko on the debug kernel.

failslab and fail_page_alloc fail one allocation of one task at a time
(/proc/thread-self/fail-nth, armed and read back by egpuhp-nlfuzz around
the one action), restricted by the return addresses on the allocation's
stack (require-start/require-end).  Two sweeps:

  - per site (the default; make check): every call in egpuhp's code that
    may allocate (tests/fuzz/kcov_lines.py alloc_call_sites(): the
    allocators, kernel interfaces that allocate inside, egpuhp's own
    allocating helpers) is made to fail once.  The range is that call's
    return address alone, so fail-nth 1 fails the first allocation made
    under that very call, whatever else the action allocates.  Each site
    is tried against the actions in turn until one reaches it: every
    netlink command (egpuhp-nlfuzz --one), the sysfs reset that egpuhp's
    reset hook serves, a router's arrival (tbsim, in the writer's task),
    the PCI function's removal and its hot-add (sysfs remove and rescan,
    so that egpuhp's bus notifier runs in the armed task), a bus reset with
    the cable pulled in the middle, the removal of a function while a quirk
    pass is held at another function's device lock, the first entry with
    the egpuhp reset (the ftrace hook is installed), the deletion of an
    entry that had taken the function's only reset method away (its sysfs
    reset file comes back), and module load (the next load lands where the
    last one did; the test checks that and learns the address again when
    not).  One boot; its time per phase is in the results (bench/RESULTS.md).
  - full (EGPUHP_FAULT_SWEEP=full, make fault-full; bench/RESULTS.md): the
    1st, 2nd, 3rd ... allocation of each action with the whole module area
    as the range (so also the allocations deep inside kernel interfaces
    egpuhp calls), then hot-add and surprise removal in pciehp's thread at
    random (probability 30%).

Each injected failure must end in a clean error: no WARN/BUG/KASAN/lockdep
report (dmesg is checked after each step, the console by the dock), a GET
either answers or fails, and the module still unloads afterwards; at the
end of the boot the dock's kmemleak scan must find no leak from egpuhp.
Results go to build/fault/<kernel>-fault.json: the sites failed (by the
innermost egpuhp frame of each injected failure's stack trace, and for the
per-site sweep by the targeted call), the allocation call sites found in
egpuhp.ko for comparison.

Runs on the -debug flavours only; other kernels report SKIP.
"""

import bisect
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
SWEEP = os.environ.get("EGPUHP_FAULT_SWEEP", "sites")    # "sites" or "full"
# module parameters: a reset quirk (egpuhp's reset hook and its sysfs
# attribute) and an ASPM one (the edu has no ASPM link state, so the quirk
# is retried from a work item: that path's allocation)
PARAMS = "track_hotplug=1 quirks=1234:11e8:egpuhp_reset=pm+aspm_l1_off"
PARAMS_NO_RESET = "track_hotplug=1 quirks=1234:11e8:aspm_l1_off"
FRAME = re.compile(r"\b([A-Za-z_][\w.]*\+0x[0-9a-f]+)/0x[0-9a-f]+ \[egpuhp\]")
OTHER_MODULE_FRAME = re.compile(r"\b([A-Za-z_][\w.]*\+0x[0-9a-f]+)/0x[0-9a-f]+ \[(\w+)\]")
INJECTED = "FAULT_INJECTION: forcing a failure"
CHURN_ROUTER = "0-3"     # the router the router-add sweep adds and removes
RESET_BUS = 1           # enum egpuhp_reset_method
QUIRK_NO_BUS_RESET = 1 << 1     # EGPUHP_QUIRK_NO_BUS_RESET
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


@vmtest(ports=2, timeout=1500 if SWEEP == "full" else 900, kernels=DEBUG_FLAVOURS)
def test_fault_injection(vm):
    if SWEEP == "full":
        full_sweep(vm)
    else:
        site_sweep(vm)


def full_sweep(vm):
    subprocess.run(["make", "-s", "-C", os.path.join(TOP, "tests", "fuzz")], check=True)
    ko = os.path.join(TOP, "build", "kernels", vm.kernel, "egpuhp.ko")
    text_size = kcov_lines.section_size(ko, ".text")
    init_size = kcov_lines.section_size(ko, ".init.text")
    params = PARAMS
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
    phases = debug_flavour.Phases()
    phase_done = phases.done

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
        "kernel": vm.kernel, "sweep": "full", "failures_injected": f.injected,
        "distinct_sites": len(hit), "sites": f.sites,
        "sites_per_phase": {p: sorted(s) for p, s in f.per_phase.items()},
        "static_alloc_sites": sorted(static),
        "static_alloc_sites_hit": sorted(static & hit),
        "static_alloc_sites_missed": sorted(static - hit),
        "load_allocations": load_n, "allocations_per_command": per_cmd,
        "random_cycles": RANDOM_CYCLES, "errnos": f.errnos, "seconds_per_phase": phases.seconds,
        "unloads_after": unload_ok and reload_ok, "problems": f.problems,
        "steps": f.log,
    }
    out = debug_flavour.write_result("fault", "%s-fault-full" % vm.kernel, result)
    print("# fault: %d failures injected at %d distinct egpuhp sites (%d of %d direct "
          "allocation call sites); load %d, per command %s; results %s" % (
              f.injected, len(hit), len(static & hit), len(static), load_n, per_cmd, out))
    if static - hit:
        print("# fault: allocation call sites never failed: %s" % sorted(static - hit))

    assert not f.problems, "injected failures did not end cleanly:\n  " + \
        "\n  ".join(f.problems[:30])
    assert unload_ok and reload_ok, "egpuhp.ko does not unload/reload after the faults"
    assert load_n > 1 and f.injected > 0, "(almost) no failure injected at load: %s" % f.log[:20]


def range_cmd(start, end):
    """Shell that restricts both fault types to return addresses in [START, END)."""
    return "; ".join("echo 0x%x > %s/require-start; echo 0x%x > %s/require-end" % (
        start, d, end, d) for d in (FS, FP))


class Sites:
    """The per-site sweep: which call sites are left, which action failed
    which, and the load address they are aimed at."""

    def __init__(self, vm, faults, ko):
        self.vm, self.f = vm, faults
        self.text_size = kcov_lines.section_size(ko, ".text")
        self.all = kcov_lines.alloc_call_sites(ko)
        # the basic block of each call: the KCOV PC that starts it (the
        # last one at or before the call), so that one run of an action
        # under KCOV says which call sites it reaches
        cov = sorted(kcov_lines.cov_sites(ko))
        self.block = {}
        for s in self.all:
            i = bisect.bisect_right(cov, s["offset"]) - 1
            self.block[s["site"]] = cov[i] if i >= 0 else None
        self.censuses = {}      # action -> call sites it reached
        self.left = [s for s in self.all if s["section"] == ".text"]
        self.unaimed = [s["site"] for s in self.all if s["section"] != ".text"]
        self.hit = {}           # site -> (action, errno, what the trace showed)
        self.tries = 0
        self.text = None        # .text of the module loaded (or last loaded)
        self.relearned = 0

    def learn(self):
        self.text = module_text(self.vm)[0]

    def step(self, label, action, s, setup="", cleanup=""):
        """Fails the first allocation under call site S during ACTION;
        returns (injected, errno, output)."""
        addr = self.text + s["offset"]
        script = ("%s; %s; out=$(egpuhp-nlfuzz --fail-nth 1 %s 2>&1); %s; "
                  "echo \"$out\"; echo '%s'; dmesg -c; %s" % (
                      range_cmd(addr, addr + 1), setup or ":", action,
                      range_cmd(MODULE_AREA[0], MODULE_AREA[0]), DMESG, cleanup or ":"))
        self.tries += 1
        out = self.vm.sh(script, timeout=300)
        res, _, text = out.partition(DMESG)
        m = re.search(r"fail_nth_left=(\d+)", res)
        e = re.search(r"errno=(-?\d+)", res)
        errno = int(e.group(1)) if e else None
        if not m:
            self.f.problems.append("%s at %s: no result: %s" % (label, s["site"], res[-300:]))
            return False, errno, res
        injected = m.group(1) == "0"
        if injected:
            self.f.collect("sites", "%s at %s" % (label, s["site"]), text)
            traced = re.search(re.escape(s["site"]) + r"/0x[0-9a-f]+ \[egpuhp\]", text)
            # a __GFP_NOWARN allocation fails without a trace
            self.hit[s["site"]] = {"action": label, "errno": errno,
                                   "trace": "site in trace" if traced else
                                   "no trace naming it" if INJECTED in text else "no trace"}
            self.f.errnos[errno] = self.f.errnos.get(errno, 0) + 1
        else:
            self.f.collect("sites", "%s at %s (not reached)" % (label, s["site"]), text)
        for line in text.splitlines():
            if line.startswith("@@problem "):
                self.f.problems.append(line[len("@@problem "):])
        return injected, errno, res

    def census(self, label, action, setup="", cleanup=""):
        """The call sites (of those left) that ACTION reaches, from one run
        of it under KCOV, or None when KCOV saw none of egpuhp's code."""
        out = self.vm.sh(
            "rm -f /tmp/census.txt; %s; egpuhp-nlfuzz --kcov %d --cover /tmp/census.txt %s "
            "> /tmp/census.out 2>&1; out=$(cat /tmp/census.out); %s; "
            "cat /tmp/census.txt 2>/dev/null; echo '%s'; dmesg -c" % (
                setup or ":", self.text_size, action, cleanup or ":", DMESG), timeout=300)
        pcs, _, text = out.partition(DMESG)
        self.f.collect("census", "%s (census)" % label, text)
        full = "kcov_full=1" in self.vm.sh("cat /tmp/census.out")
        reached = set(int(x, 16) for x in pcs.split() if x.startswith("0x"))
        sites = [s["site"] for s in self.all if self.block[s["site"]] in reached]
        self.censuses[label] = sites + (["(KCOV buffer full: partial)"] if full else [])
        # a partial trace does not say what the action does not reach
        return sites if reached and not full else None

    def action(self, label, action, setup="", cleanup="", only=None, after=None):
        """Tries ACTION on every site left (or those whose name matches the
        regex ONLY) that one run of it under KCOV reached; AFTER(site,
        injected, errno, out) runs on the host after each try."""
        cands = [s for s in self.left if not only or re.match(only, s["site"])]
        if not cands:
            return
        reached = self.census(label, action, setup, cleanup)
        if after:
            after(None, False, None, "")
        for s in cands:
            if reached is not None and s["site"] not in reached:
                continue
            injected, errno, out = self.step(label, action, s, setup, cleanup)
            if after:
                after(s, injected, errno, out)
            if injected:
                self.left.remove(s)


def site_sweep(vm):
    subprocess.run(["make", "-s", "-C", os.path.join(TOP, "tests", "fuzz")], check=True)
    ko = os.path.join(TOP, "build", "kernels", vm.kernel, "egpuhp.ko")
    t0 = time.monotonic()
    vm.load_testdrv()
    # the tbsim router on rp1 makes the edu plugged there removable
    # (tracked for that, which re-reads the routers: egpuhp_tb_refresh())
    vm.tb_load()
    vm.tb_add_router("0-1", port="rp1")
    edu = vm.plug("rp1", kind="fn").bdfs[0]
    f = Faults(vm)
    vm.sh("dmesg -c > /dev/null; dmesg -n 4")   # traces go to dmesg, not the slow console
    f.configure(MODULE_AREA[0], MODULE_AREA[0])     # nothing fails until a step aims
    vm.load_egpuhp(PARAMS)
    sw = Sites(vm, f, ko)
    sw.learn()
    f.collect("setup", "load")
    phases = debug_flavour.Phases()
    phase_done = phases.done

    def answered(label):
        def check(s, injected, errno, out):
            if s and injected and errno is None:
                f.problems.append("%s at %s: no answer: %s" % (label, s["site"], out[-300:]))
        return check

    # -- netlink commands (the cheap actions first: a site they do not
    #    reach costs one request) ------------------------------------------------
    del_added = ("id=$(echo \"$out\" | sed -n 's/.*errno=0 replies=[0-9]* id=\\([1-9][0-9]*\\).*/\\1/p'); "
                 "[ -z \"$id\" ] || egpuhp-nlfuzz --one DEL_QUIRK --id $id > /dev/null")
    for label, args, setup, cleanup in [
            ("GET_INFO", "GET_INFO", "", ""),
            ("GET_DEV", "GET_DEV --dev %s" % edu, "", ""),
            ("GET_DEV dump", "GET_DEV --dump", "", ""),
            ("GET_ROUTER", "GET_ROUTER --dev 0-1", "", ""),
            ("GET_ROUTER dump", "GET_ROUTER --dump", "", ""),
            ("GET_STATS", "GET_STATS", "", ""),
            ("GET_QUIRK dump", "GET_QUIRK --dump", "", ""),
            ("SET_CONFIG", "SET_CONFIG --id 2000", "", ""),
            ("DEL_QUIRK", "DEL_QUIRK --id $qid",
             "qid=$(egpuhp-nlfuzz --one ADD_QUIRK | sed -n 's/.* id=\\([0-9]*\\).*/\\1/p')",
             "egpuhp-nlfuzz --one DEL_QUIRK --id $qid > /dev/null"),
            ("RESET pm", "RESET --dev %s --id 3" % edu, "", ""),
            ("RESET bus", "RESET --dev %s --id %d" % (edu, RESET_BUS), "", ""),
            ("RESET egpuhp", "RESET --dev %s --id 6" % edu, "", "")]:
        sw.action(label, "--one " + args, setup, cleanup, after=answered(label))
    # a failed ADD_QUIRK added nothing: a caller's retry cannot add it twice
    entries = nl(vm, "GET_QUIRK --dump")[1]

    def add_failed_added_nothing(s, injected, errno, out):
        answered("ADD_QUIRK")(s, injected, errno, out)
        if s and injected and errno not in (None, 0):
            now = nl(vm, "GET_QUIRK --dump")[1]
            if now != entries:
                f.problems.append("ADD_QUIRK at %s failed (errno %s) but the quirk table "
                                  "went from %d to %d entries" % (s["site"], errno, entries, now))
    sw.action("ADD_QUIRK", "--one ADD_QUIRK", "", del_added, after=add_failed_added_nothing)
    phase_done("netlink")

    # -- the kernel's reset path through egpuhp's hook ---------------------------
    sw.action("sysfs reset", "--write /sys/bus/pci/devices/%s/reset 1" % edu)
    phase_done("sysfs reset")

    # -- EJECT (only where it can fail: a successful one costs a re-plug) -------
    def after_eject(s, injected, errno, out):
        if not vm.guest_has(edu) and vm.port("rp1").devices:
            vm.yank("rp1")          # the guest let go; QEMU holds it until power-off
        if not vm.port("rp1").devices:
            vm.plug("rp1", kind="fn")
    sw.action("EJECT", "--one EJECT --dev %s" % edu, only=r"egpuhp_pci_eject\+|event_begin\+",
              after=after_eject)
    phase_done("eject")

    # -- a router arrives (egpuhp's bus notifier in the writer's task) -----------
    sw.action("router add",
              "--write /sys/kernel/debug/tbsim/add 'route=%s;vendor_name=tbsim;device_name=fault'"
              % CHURN_ROUTER,
              cleanup="printf %s > /sys/kernel/debug/tbsim/remove 2>/dev/null; dmesg -c > /dev/null"
              % CHURN_ROUTER,
              only=r"router_add\+|egpuhp_tb_|event_begin\+|track_add\+|egpuhp_dev_alloc\+")
    phase_done("router add")

    # -- removal and hot-add of the function, both in the armed task ---------------
    pdir = "/sys/bus/pci/devices/%s" % edu
    back = ("echo 1 > /sys/bus/pci/rescan; n=0; while [ ! -e %s ] && [ $n -lt 100 ]; do "
            "sleep 0.1; n=$((n+1)); done; dmesg -c > /dev/null" % pdir)
    sw.action("PCI remove (sysfs)", "--write %s/remove 1" % pdir, cleanup=back,
              only=r"egpuhp_quirks_device_removed\+|event_begin\+|reset_attr_refresh\+")
    sw.action("PCI hot-add (sysfs rescan)", "--write /sys/bus/pci/rescan 1",
              setup="echo 1 > %s/remove; dmesg -c > /dev/null" % pdir,
              only=r"track_add\+|egpuhp_dev_alloc\+|egpuhp_tb_refresh\+|quirks_update_device\+|"
                   r"event_begin\+|egpuhp_reset_hook_add\+|reset_attr_refresh\+")
    # whatever the last step left untracked is tracked again
    vm.sh("echo 1 > %s/remove; %s" % (pdir, back), timeout=120)
    phase_done("remove/hot-add")

    # -- a bus reset with the cable pulled in the middle -------------------------
    # reset_settle_ms holds the bus step in msleep() after the reset long
    # enough for the pull; the test waits for the resetting task to be there
    pulled = [s for s in sw.left if s["site"].startswith("egpuhp_reset_run+")]
    pull_log = []
    for s in pulled:
        addr = sw.text + s["offset"]
        vm.sh("echo 6000 > /sys/module/egpuhp/parameters/reset_settle_ms; %s; rm -f /tmp/pull.out; "
              "egpuhp-nlfuzz --fail-nth 1 --one RESET --dev %s --id %d > /tmp/pull.out 2>&1 & "
              "echo $! > /tmp/pull.pid"
              % (range_cmd(addr, addr + 1), edu, RESET_BUS))
        vm.wait_reset_settle("$(cat /tmp/pull.pid)")
        vm.yank("rp1", wait=False)
        vm.wait_for("! kill -0 $(cat /tmp/pull.pid) 2>/dev/null", timeout=120)
        out = vm.sh("cat /tmp/pull.out; %s; echo 100 > /sys/module/egpuhp/parameters/reset_settle_ms; "
                    "echo '%s'; dmesg -c" % (range_cmd(MODULE_AREA[0], MODULE_AREA[0]), DMESG))
        res, _, text = out.partition(DMESG)
        sw.tries += 1
        f.collect("sites", "RESET bus, cable pulled, at %s" % s["site"], text)
        pull_log.append(res.strip().splitlines()[-3:] + [
            ln for ln in text.splitlines() if re.search(r"reset|slot|emptied|pciehp", ln)][:20])
        if "fail_nth_left=0" in res:
            sw.hit[s["site"]] = {"action": "RESET bus, cable pulled",
                                 "errno": int(re.search(r"errno=(-?\d+)", res).group(1)),
                                 "trace": "site in trace" if s["site"] + "/" in text else "no trace"}
            sw.left.remove(s)
            if "removal not queued" not in text:
                f.problems.append("pull during a reset at %s: no 'removal not queued' note"
                                  % s["site"])
        # the removal was not queued: the functions are still there; remove
        # them, as the user would have to
        vm.sh("test ! -e %s || echo 1 > %s/remove" % (pdir, pdir), timeout=120)
        vm.wait_gone([edu], timeout=60)
        vm.plug("rp1", kind="fn")
    phase_done("pulled reset")

    # -- a function removed while a quirk pass runs ------------------------------
    # egpuhp keeps a removed function referenced for the passes still running
    # (quirk_removed).  A pass is held at the device lock of rp2 (the test
    # driver's hold_lock thread) while the armed task removes the edu.
    td = "/sys/kernel/debug/egpuhp_testdrv"
    for s in [s for s in sw.left if s["site"].startswith("egpuhp_quirks_device_removed+")]:
        vm.sh("echo %s > %s/hold_lock" % (vm.bdf_of("rp2"), td))
        vm.wait_for("grep -q lock_held %s/events" % td, timeout=60)
        vm.sh("egpuhp-nlfuzz --one ADD_QUIRK > /tmp/walk.out 2>&1 & echo $! > /tmp/walk.pid")
        vm.wait_for("grep -q 'quirks_update\\|egpuhp_quirk_add' /proc/$(cat /tmp/walk.pid)/stack",
                    timeout=60)
        sw.step("PCI remove during a quirk pass", "--write %s/remove 1" % pdir, s)
        if s["site"] in sw.hit:
            sw.left.remove(s)
        vm.sh("echo 1 > %s/release_lock" % td)
        vm.wait_for("! kill -0 $(cat /tmp/walk.pid) 2>/dev/null", timeout=120)
        vm.sh("out=$(cat /tmp/walk.out); %s; %s" % (del_added, back), timeout=120)
    phase_done("remove during a pass")

    # -- the first entry with the egpuhp reset: the hook is installed ----------------
    vm.sh("rmmod egpuhp")
    vm.load_egpuhp(PARAMS_NO_RESET)
    sw.learn()
    f.collect("setup", "reload without a reset quirk")
    sw.action("ADD_QUIRK, first egpuhp reset entry", "--one ADD_QUIRK", cleanup=del_added,
              after=answered("ADD_QUIRK"))
    # no_bus_reset takes the edu's only reset method away and its sysfs reset
    # file goes; deleting the entry brings the file back (reset_attr_refresh():
    # sysfs_update_group() allocates only for a file that appears)
    sw.action("DEL_QUIRK of a no_bus_reset entry", "--one DEL_QUIRK --id $qid",
              setup="qid=$(egpuhp-nlfuzz --one ADD_QUIRK --id %d | "
                    "sed -n 's/.* id=\\([0-9]*\\).*/\\1/p')" % QUIRK_NO_BUS_RESET,
              after=answered("DEL_QUIRK"))
    phase_done("first reset entry")

    # -- module load: aimed at where the last load put .text -----------------------
    vm.sh("rmmod egpuhp")
    after_load = (
        "if grep -q '^egpuhp ' /proc/modules; then "
        "cat /sys/module/egpuhp/sections/.text > /tmp/text.now; "
        "rmmod egpuhp || echo \"@@problem load: loaded but does not unload\"; "
        "else case \"$out\" in *errno=0*) "
        "echo \"@@problem load: finit_module said 0 but no module\";; esac; fi")
    load = "--insmod %s '%s'" % (vm.module_path("egpuhp"), PARAMS)

    def relearn():
        vm.sh("insmod %s %s" % (vm.module_path("egpuhp"), PARAMS), timeout=120)
        before = sw.text
        sw.learn()
        vm.sh("rmmod egpuhp; dmesg -c > /dev/null")
        sw.relearned += 1
        return sw.text != before

    # (should KCOV's buffer run over during a load, as it did while the whole
    # kernel was instrumented, every site left is tried)
    load_census = sw.census("module load", load, cleanup=(
        "cat /sys/module/egpuhp/sections/.text > /tmp/text.census; rmmod egpuhp"))
    sw.text = int(vm.sh("cat /tmp/text.census").strip(), 16)
    for s in list(sw.left):
        if load_census is not None and s["site"] not in load_census:
            continue
        for _ in range(2):
            vm.sh("rm -f /tmp/text.now")
            injected, errno, out = sw.step("module load", load, s, cleanup=after_load)
            if injected:
                sw.left.remove(s)
                break
            rc, now = vm.run("cat /tmp/text.now")
            if rc == 0 and int(now.strip(), 16) == sw.text:
                break           # it loaded where aimed: load does not reach the site
            # the load went elsewhere (or failed): look where it goes now
            if not relearn():
                break
    phase_done("load")

    # -- the module still loads and unloads -----------------------------------------
    vm.load_egpuhp(PARAMS)
    unload_ok = vm.run("rmmod egpuhp")[0] == 0
    f.collect("end", "final unload")
    vm.sh("dmesg -n 7")

    targets = [s["site"] for s in sw.all]
    by_kind = {}
    for s in sw.all:
        k = by_kind.setdefault(s["kind"], {"sites": 0, "failed": 0})
        k["sites"] += 1
        k["failed"] += s["site"] in sw.hit
    missed = [s["site"] for s in sw.all if s["site"] not in sw.hit]
    result = {
        "kernel": vm.kernel, "sweep": "sites", "call_sites": len(targets),
        "reached_per_action": sw.censuses, "pulled_reset": pull_log,
        "call_sites_failed": len(sw.hit), "per_kind": by_kind,
        "failed": sw.hit, "never_failed": missed, "steps": sw.tries,
        "load_address_relearned": sw.relearned,
        "failures_injected": f.injected,
        "innermost_frames": f.sites, "errnos": f.errnos,
        "seconds_per_phase": phases.seconds, "seconds": round(time.monotonic() - t0, 1),
        "unloads_after": unload_ok, "problems": f.problems,
    }
    out = debug_flavour.write_result("fault", "%s-fault" % vm.kernel, result)
    print("# fault: %d of %d call sites that may allocate failed (%s) in %d steps, "
          "%d failures injected; results %s" % (
              len(sw.hit), len(targets), ", ".join(
                  "%s %d/%d" % (k, v["failed"], v["sites"]) for k, v in sorted(by_kind.items())),
              sw.tries, f.injected, out))
    if missed:
        print("# fault: never failed: %s" % missed)
    print("# fault: seconds per phase %s" % phases.seconds)
    assert not f.problems, "injected failures did not end cleanly:\n  " + \
        "\n  ".join(f.problems[:30])
    assert unload_ok, "egpuhp.ko does not unload after the faults"
    assert not missed, "call sites never failed: %s" % missed


if __name__ == "__main__":
    sys.exit(debug_flavour.main("test_fault_injection", SKIP_REASON))
