#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fuzzing the egpuhp generic netlink family on the debug kernel.

egpuhp-nlfuzz (tests/fuzz/nlfuzz.c) runs twice at once in the guest: as
root with KCOV on, and as uid 65534.  Meanwhile the host hot-adds and yanks
a device again and again, resets it through sysfs (egpuhp's reset hook
with the reset quirk the module is loaded with), adds and removes a tbsim
Thunderbolt router and flips another one's authorization, and unloads and
reloads egpuhp.ko under both.  Those churn actions run in
egpuhp-nlfuzz --kcov too, so the coverage counts the egpuhp code they ran
(module load and unload, the notifiers, the reset paths).
Checks: at least EGPUHP_FUZZ_MESSAGES messages (1,000,000 by default) in
all; the unprivileged fuzzer never got a mutating command through and saw
each of them refused with EPERM; both fuzzers followed the family across the
reloads; the module still unloads at the end; and, through the dock's health
check, no WARN/BUG/lockdep/KASAN report, lockdep still on, no kmemleak leak
from egpuhp.  The kmod/ line coverage KCOV saw goes to
build/fuzz/<kernel>-nlfuzz.json (bench/RESULTS.md quotes it).

Runs on the -debug flavours only (KCOV, lockdep, KASAN, kmemleak); other
kernels report SKIP.
"""

import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vm"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dock  # noqa: E402
from dock import vmtest  # noqa: E402
import debug_flavour  # noqa: E402
import kcov_lines  # noqa: E402

TOP = dock.TOP
MESSAGES = int(os.environ.get("EGPUHP_FUZZ_MESSAGES", "1000000"))
# The long run (make fuzz-long, bench/RESULTS.md) gives the guest a vCPU for
# each fuzzer (QEMU runs one TCG thread per vCPU) and the time it needs.
SMP = int(os.environ.get("EGPUHP_FUZZ_SMP", "1"))
TIMEOUT = int(os.environ.get("EGPUHP_FUZZ_TIMEOUT", "1500"))
# A bench run on a shared machine may have to end by a time (Unix seconds):
# then the fuzzers are told to stop and the run reports what it got (and
# fails the message count if it fell short).
DEADLINE = float(os.environ.get("EGPUHP_FUZZ_DEADLINE", "0"))
# The unprivileged fuzzer's requests are cheap (refused early): it takes 40%.
USER_SHARE = 0.4
RELOAD_EVERY = 3        # churn cycles between module reloads
# The reset quirk of QEMU's edu (the plugged function): PM cycle, then a
# bus reset, so that egpuhp's own sequence runs for RESET and sysfs resets.
PARAMS = "track_hotplug=1 quirks=1234:11e8:egpuhp_reset=pm/bus"
CHURN_COVER = "/tmp/cover-churn.txt"
CHURN_ROUTER = "0-3"
DEBUG_FLAVOURS = debug_flavour.DEBUG_FLAVOURS
SKIP_REASON = "needs a -debug kernel (KCOV, lockdep, KASAN, kmemleak); try --kernel 6.12-debug"


def guest_json(vm, path):
    out = vm.sh("cat %s" % path).strip().splitlines()
    for line in reversed(out):
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError("%s holds no JSON result:\n%s" % (path, "\n".join(out[-20:])))


class Churn:
    """The host's actions under the fuzzers, each run by egpuhp-nlfuzz with
    KCOV on (its egpuhp PCs go to CHURN_COVER); every one reports errno."""

    def __init__(self, vm, text_size):
        self.vm = vm
        self.pre = "egpuhp-nlfuzz --kcov %d --cover %s" % (text_size, CHURN_COVER)
        self.counts = {}

    def _do(self, what, args):
        rc, out = self.vm.run("%s %s" % (self.pre, args), timeout=180)
        m = re.search(r"^errno=(\d+)", out, re.M)
        errno = int(m.group(1)) if m else None
        assert rc == 0 and errno is not None, "churn %s: %s" % (what, out[-500:])
        key = "%s %s" % (what, "ok" if errno == 0 else "errno %d" % errno)
        self.counts[key] = self.counts.get(key, 0) + 1
        return errno

    def load(self):
        return self._do("insmod", "--insmod %s '%s'" % (self.vm.module_path("egpuhp"), PARAMS))

    def unload(self, tries=50):
        """rmmod; a dump in progress pins the module for a moment (EBUSY)."""
        for _ in range(tries):
            if self._do("rmmod", "--rmmod egpuhp") == 0:
                return True
            time.sleep(0.1)
        return False

    def write(self, what, path, value):
        return self._do(what, "--write %s '%s'" % (path, value))


@vmtest(ports=2, timeout=TIMEOUT, kernels=DEBUG_FLAVOURS, smp=SMP)
def test_nlfuzz(vm):
    subprocess.run(["make", "-s", "-C", os.path.join(TOP, "tests", "fuzz")], check=True)
    ko = os.path.join(TOP, "build", "kernels", vm.kernel, "egpuhp.ko")
    text_size = kcov_lines.section_size(ko, ".text")
    assert text_size > 0, "egpuhp.ko has no .text"
    vm.load_testdrv()
    # routers for the Thunderbolt paths: 0-1 stays (its authorization is
    # flipped), CHURN_ROUTER comes and goes; neither has a PCIe tunnel
    vm.tb_load()
    vm.tb_add_router("0-1")
    vm.load_egpuhp(PARAMS)
    vm.plug("rp1", kind="fn")

    # The check below must be able to fail: as root, the same accounting
    # sees mutating commands go through.
    control = json.loads(vm.sh("egpuhp-nlfuzz --user --keep-root --messages 5000 --seed 3 "
                               "| tail -n 1", timeout=900))
    assert control["unpriv_mutating_ok"] > 0, \
        "control run as root saw no mutating command succeed: %s" % control
    vm.sh("rmmod egpuhp")   # forget the control run's settings and quirks
    vm.sh("rm -f %s" % CHURN_COVER)
    churn = Churn(vm, text_size)
    assert churn.load() == 0, "egpuhp.ko does not load: %s" % churn.counts

    n_user = int(MESSAGES * USER_SHARE)
    n_root = MESSAGES - n_user
    vm.sh("rm -f /tmp/fuzz.stop; "
          "egpuhp-nlfuzz --messages %d --seed 1 --kcov %d --cover /tmp/cover.txt "
          "--stop /tmp/fuzz.stop > /tmp/fuzz-root.json 2>&1 & echo $! > /tmp/fuzz-root.pid; "
          "egpuhp-nlfuzz --user --messages %d --seed 2 --stop /tmp/fuzz.stop "
          "> /tmp/fuzz-user.json 2>&1 & echo $! > /tmp/fuzz-user.pid"
          % (n_root, text_size, n_user))

    t0 = time.monotonic()
    cycles = reloads = reload_failures = 0
    plugged = True
    edu = vm.port("rp1").devices[0].bdf
    tb = "/sys/bus/thunderbolt/devices"
    stopped_at_deadline = False
    while True:
        rc, _ = vm.run("kill -0 $(cat /tmp/fuzz-root.pid) 2>/dev/null || "
                       "kill -0 $(cat /tmp/fuzz-user.pid) 2>/dev/null")
        if rc != 0:
            break
        if DEADLINE and not stopped_at_deadline and time.time() > DEADLINE:
            vm.sh("touch /tmp/fuzz.stop")
            stopped_at_deadline = True
        if plugged:
            # the kernel's reset path, served by egpuhp's hook when loaded
            churn.write("sysfs reset", "/sys/bus/pci/devices/%s/reset" % edu, "1")
            vm.yank("rp1", timeout=dock.PULL_IN_RESET_TIMEOUT)
        else:
            vm.plug("rp1", kind="fn")
            edu = vm.port("rp1").devices[0].bdf
            cycles += 1
        plugged = not plugged
        if plugged:     # just plugged: a router arrives, 0-1 is approved
            churn.write("router add", "/sys/kernel/debug/tbsim/add",
                        "route=%s;vendor_name=tbsim;device_name=nlfuzz churn" % CHURN_ROUTER)
            churn.write("authorize", "%s/0-1/authorized" % tb, "1")
        else:           # just yanked: the router leaves, 0-1 is de-authorized
            churn.write("router remove", "/sys/kernel/debug/tbsim/remove", CHURN_ROUTER)
            churn.write("deauthorize", "%s/0-1/authorized" % tb, "0")
        if cycles and cycles % RELOAD_EVERY == 0 and not plugged:
            if churn.unload():
                assert churn.load() == 0, "egpuhp.ko does not load again: %s" % churn.counts
                reloads += 1
            else:
                reload_failures += 1
    elapsed = time.monotonic() - t0
    root = guest_json(vm, "/tmp/fuzz-root.json")
    user = guest_json(vm, "/tmp/fuzz-user.json")
    unloads = churn.unload()
    covered = [int(x, 16) for x in vm.sh("cat /tmp/cover.txt").split()]
    churn_covered = [int(x, 16) for x in vm.sh("cat %s 2>/dev/null || true"
                                                % CHURN_COVER).split()]

    cov = cov_fuzz = {}
    both = sorted(set(covered) | set(churn_covered))
    try:
        cov_fuzz = kcov_lines.coverage(vm.kernel, covered)
        cov = kcov_lines.coverage(vm.kernel, both)
    except kcov_lines.CoverageError as e:
        cov = {"error": str(e)}
    total = root["messages"] + user["messages"]
    mutating = ("SET_CONFIG", "ADD_QUIRK", "DEL_QUIRK", "RESET", "EJECT")
    result = {
        "kernel": vm.kernel, "vcpus": SMP, "messages": total, "messages_root": root["messages"],
        "messages_user": user["messages"], "seconds": round(elapsed, 1),
        "messages_per_second": round(total / max(elapsed, 1e-3)),
        "churn_cycles": cycles, "reloads": reloads, "reload_failures": reload_failures,
        "stopped_at_deadline": stopped_at_deadline,
        "family_resolves_root": root["resolves"], "family_resolves_user": user["resolves"],
        "abandoned_dumps": root["abandoned_dumps"] + user["abandoned_dumps"],
        "unpriv_mutating_ok": user["unpriv_mutating_ok"],
        "unpriv_eperm": {c: user["cmds"][c]["eperm"] for c in mutating},
        "unpriv_wellformed_not_eperm": user["unpriv_wellformed_not_eperm"],
        "kcov_pcs": root["cover_pcs"], "kcov_pcs_churn": len(set(churn_covered)),
        "coverage": cov, "coverage_netlink_only": {k: v for k, v in cov_fuzz.items()
                                                   if k != "per_file"},
        "churn_actions": churn.counts,
        "cmds_root": root["cmds"], "cmds_user": user["cmds"],
        "module_unloads_at_end": unloads,
        "control_root_mutating_ok": control["unpriv_mutating_ok"],
    }
    out = debug_flavour.write_result("fuzz", "%s-nlfuzz" % vm.kernel, result)
    print("# nlfuzz: %d messages (%d root, %d uid 65534) in %.0f s (%d/s), %d churn cycles, "
          "%d reloads; kmod/ line coverage %s%% (netlink alone %s%%); results %s" % (
              total, root["messages"], user["messages"], elapsed, result["messages_per_second"],
              cycles, reloads, cov.get("percent", "?"), cov_fuzz.get("percent", "?"), out))
    print("# churn: %s" % churn.counts)
    if "per_file" in cov:
        print("# coverage per file: " + ", ".join(
            "%s %d/%d" % (f, d["hit"], d["lines"]) for f, d in sorted(cov["per_file"].items())))

    assert total >= MESSAGES, "only %d of %d messages sent" % (total, MESSAGES)
    assert user["unpriv_mutating_ok"] == 0, \
        "uid 65534 got %d mutating commands through: %s" % (
            user["unpriv_mutating_ok"], {c: user["cmds"][c] for c in mutating})
    missing = [c for c in mutating if user["cmds"][c]["eperm"] == 0]
    assert not missing, "uid 65534 never saw EPERM for %s: %s" % (
        missing, {c: user["cmds"][c] for c in missing})
    assert cycles >= 1 and reloads >= 1, \
        "no churn under the fuzzers (cycles %d, reloads %d)" % (cycles, reloads)
    assert root["resolves"] >= 2 and user["resolves"] >= 2, \
        "a fuzzer did not follow the family across reloads (root %d, user %d)" % (
            root["resolves"], user["resolves"])
    assert unloads, "egpuhp.ko does not unload after the fuzzing"
    # A batch that straddles a reload maps some PCs with the other load's
    # base (30 of 1000-odd in a 60,000-message run): a few, not a mapping off.
    assert "error" not in cov and cov.get("stray_pcs", 1) * 10 <= len(both), \
        "KCOV PCs do not map onto egpuhp.ko: %s" % cov
    assert root["cover_pcs"] > 0, "KCOV saw no egpuhp code"


if __name__ == "__main__":
    sys.exit(debug_flavour.main("test_nlfuzz", SKIP_REASON))
